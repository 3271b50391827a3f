// SPDX-License-Identifier: GPL-2.0

//! The CPU's way to a GPU's VRAM: straight through BAR1 in physical mode, or, in virtual mode
//! (BAR1 smaller than VRAM), through a slot of BAR1 pointed at the VRAM's 2 MiB chunk first. The
//! window's lock is held from the remap to the end of the access, so no other copy can point the
//! slot elsewhere meanwhile.

use super::Vram;
use crate::{
    copy::{
        copy,
        Direction,
        Span, //
    },
    nvidia::Bar1Window,
    stats::Counter, //
};
use kernel::prelude::*;

impl Vram {
    /// Copies `spans` with the CPU; the data has reached its destination when this returns.
    /// Returns whether every span was copied: at the first whose chunk cannot be shown (the MMU
    /// did not confirm the remap), said in one line, it stops, and the caller leaves the pages of
    /// all of `spans` where they were.
    #[must_use]
    pub(crate) fn cpu_copy(&self, dir: Direction, spans: &[Span<'_>]) -> bool {
        let bytes: usize = spans.iter().map(Span::len).sum();
        self.count(Counter::CpuCopyBytes, bytes as u64);
        let mut guard = self.window.lock();
        let slot: &mut Option<Bar1Window> = &mut guard;
        let Some(window) = slot.as_mut() else {
            drop(guard);
            copy(dir, spans);
            return true;
        };
        for span in spans {
            let Some(io) = self.through_window(window, span.vram(), span.len()) else {
                return false;
            };
            // SAFETY: `io` maps this span's VRAM through the slot `through_window` just pointed
            // at it, which stays so while the window's lock is held, past this copy.
            let span = unsafe { span.through(io) };
            copy(dir, core::slice::from_ref(&span));
        }
        true
    }

    /// Zeroes `len` bytes of VRAM at `vram` (inside one 2 MiB chunk, free pages of a closed pool)
    /// with the CPU and makes the stores visible; fails, zeroing nothing, when BAR1's window
    /// cannot be pointed there.
    pub(super) fn cpu_zero(&self, vram: u64, len: usize) -> Result {
        self.with_bar1(vram, len as u64, |offset| self.bar.zero(offset, len))
    }

    /// Runs `f` on the BAR1 offset showing the `len` bytes of VRAM at `vram` (one chunk at most),
    /// with the window's lock held: the offset shows that VRAM for as long as `f` runs.
    pub(super) fn with_bar1<R>(&self, vram: u64, len: u64, f: impl FnOnce(u64) -> R) -> Result<R> {
        let mut guard = self.window.lock();
        let slot: &mut Option<Bar1Window> = &mut guard;
        let offset = match slot.as_mut() {
            None => vram,
            Some(window) => self.window_offset(window, vram, len)?,
        };
        Ok(f(offset))
    }

    /// The mapping of the `len` bytes of VRAM at `vram` through a slot of `window`, or `None`
    /// when the slot could not be pointed there ([`Self::window_offset`] said why).
    fn through_window(&self, window: &mut Bar1Window, vram: u64, len: usize) -> Option<*mut u8> {
        let offset = self.window_offset(window, vram, len as u64).ok()?;
        self.bar
            .offset_ptr(offset, len as u64)
            .inspect_err(|e| {
                dev_err!(
                    self.pdev.as_ref(),
                    "BAR1 offset {offset:#x} of VRAM {vram:#x} is outside BAR1 ({e:?})\n"
                )
            })
            .ok()
    }

    /// [`Bar1Window::offset`], counting the remaps (`bar1_remaps`). A remap whose page-table
    /// entries did not read back, or whose invalidate did not complete, is tried again (twice);
    /// if it still fails, the MMU is not trusted: remapping stops until a reset rebuilds the
    /// tables ([`Bar1Window::stop_remapping`]), said in one line, and only what the slots show
    /// stays within the CPU's reach.
    fn window_offset(&self, window: &mut Bar1Window, vram: u64, len: u64) -> Result<u64> {
        let stopped = window.remaps_stopped();
        let before = window.remaps();
        let mut offset = window.offset(vram, len);
        for _ in 0..2 {
            if stopped || !matches!(offset, Err(e) if e == EIO || e == ETIMEDOUT) {
                break;
            }
            offset = window.offset(vram, len);
        }
        self.count(Counter::Bar1Remaps, window.remaps() - before);
        match offset {
            Err(e) if !stopped && (e == EIO || e == ETIMEDOUT) => {
                window.stop_remapping();
                dev_err!(
                    self.pdev.as_ref(),
                    "BAR1's window could not be pointed at VRAM {vram:#x} ({e:?}), tried three times: remapping stops until a reset; the CPU reaches only the chunks its slots show now, and pages elsewhere stay where they are\n"
                );
            }
            Err(e) if e != EIO => {
                dev_err!(
                    self.pdev.as_ref(),
                    "BAR1's window cannot show VRAM {vram:#x}+{len:#x} ({e:?})\n"
                );
            }
            _ => {}
        }
        offset
    }

    /// Slots of BAR1 the CPU reaches VRAM through (virtual mode), 0 in physical mode.
    pub(crate) fn bar1_slots(&self) -> usize {
        self.window.lock().as_ref().map_or(0, Bar1Window::slots)
    }

    /// After a reset or power loss: BAR1's page tables written again and BAR1 bound to them.
    pub(super) fn restore_window(&self) -> Result {
        let mut guard = self.window.lock();
        let slot: &mut Option<Bar1Window> = &mut guard;
        match slot.as_mut() {
            Some(window) => window.restore(),
            None => Ok(()),
        }
    }
}
