// SPDX-License-Identifier: GPL-2.0

//! Suspend, hibernation, function resets and PCI error recovery: the board loses what VRAM and
//! its registers hold, so every parked page goes back to RAM first (as at unbind) and the board
//! lends again once it is back. `rust/ps_pm.c` registers the hooks and calls in here.

use crate::{
    bus,
    registry,
    shim,
    vram::Vram, //
};
use kernel::{
    bindings,
    device::Bound,
    ffi::{
        c_int,
        c_uint, //
    },
    page::PAGE_SIZE,
    pci,
    prelude::*,
    sync::Arc, //
};

/// The PM notifier and the unbind work queue, unregistered on drop.
pub(crate) struct PowerHooks;

impl PowerHooks {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Called once, at module init.
        kernel::error::to_result(unsafe { shim::ps_pm_register() })?;
        Ok(Self)
    }
}

impl Drop for PowerHooks {
    fn drop(&mut self) {
        // SAFETY: Registered in `new`; this waits for queued unbinds.
        unsafe { shim::ps_pm_unregister() };
    }
}

/// Has the PCI core call this module's reset and error hooks for `pdev`, which is being probed.
pub(crate) fn hook_errors(pdev: &pci::Device<Bound>) {
    // SAFETY: `pdev` is being probed, so its driver is ours.
    unsafe { shim::ps_pm_set_error_handlers(bus::raw(pdev)) };
}

/// What the `dmesg` lines call a suspend (`false`) or a hibernation (`true`).
fn event_name(hibernation: bool) -> &'static str {
    match hibernation {
        true => "hibernation",
        false => "suspend",
    }
}

/// Ahead of a suspend to RAM (or hibernation): stops lending on every GPU, and moves every parked
/// page back to RAM, unless RAM cannot hold them all: then nothing moves, lending goes on, and
/// the suspend is refused with `ENOMEM` and one `dmesg` line.
fn prepare(hibernation: bool) -> Result {
    let what = event_name(hibernation);
    let gpus = registry::all().inspect_err(|_| {
        pr_err!("refusing {what}: no memory to list the GPUs whose pages must come back\n");
    })?;
    for gpu in gpus.iter() {
        gpu.pause_lending();
    }
    let parked: usize = gpus.iter().map(|g| g.used_pages()).sum();
    // SAFETY: No precondition.
    let room = unsafe { shim::ps_ram_available_pages() } as usize;
    if parked > room {
        for gpu in gpus.iter() {
            // Lending was only paused: nothing to bring back.
            let _ = gpu.resume(what);
        }
        pr_err!(
            "refusing {what}: {parked} pages ({} MiB) are parked in VRAM and RAM has room for {room} ({} MiB); move some back (ps-migrate --to ram) or free memory first\n",
            (parked * PAGE_SIZE) >> 20,
            (room * PAGE_SIZE) >> 20
        );
        return Err(ENOMEM);
    }
    for gpu in gpus.iter() {
        gpu.quiesce(what);
    }
    Ok(())
}

/// After a suspend or hibernation (or a refused one): every GPU lends again; one that does not
/// answer is unbound.
fn resume(hibernation: bool) {
    let what = event_name(hibernation);
    let Ok(gpus) = registry::all() else {
        pr_err!("cannot list the GPUs to resume after {what}; they lend nothing until rebound\n");
        return;
    };
    for gpu in gpus.iter() {
        if gpu.resume(what).is_err() {
            unbind_later(gpu);
        }
    }
}

fn unbind_later(gpu: &Vram) {
    // SAFETY: The device is live (the GPU holds a reference).
    unsafe { shim::ps_pm_unbind_later(bus::raw(gpu.pdev())) };
}

/// The GPU bound to `pdev`, if any.
fn gpu_of(pdev: *mut bindings::pci_dev) -> Option<Arc<Vram>> {
    registry::find(|g| bus::raw(g.pdev()) == pdev)
}

/// What `ps_pm.c` reports a reset hook for (`enum ps_pm_event`).
fn event(why: c_uint) -> &'static str {
    match why {
        shim::PS_EVENT_FUNCTION_RESET => "function reset",
        _ => "PCI error recovery",
    }
}

#[no_mangle]
extern "C" fn ps_rust_pm_prepare(hibernation: bool) -> c_int {
    match prepare(hibernation) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

#[no_mangle]
extern "C" fn ps_rust_pm_resume(hibernation: bool) {
    resume(hibernation);
}

/// Before a function reset, or when PCI error recovery begins (the link may be down): stops
/// lending and moves every page back to RAM. During error recovery a page comes back only while
/// the board answers (checked after each window's copy, before the processes take it); what is
/// left when it stops answering is lost, and a fault on it gets `SIGBUS`, never what a dead link
/// or a reset board reads.
///
/// # Safety
///
/// `pdev` is a live PCI device.
#[no_mangle]
unsafe extern "C" fn ps_rust_gpu_quiesce(pdev: *mut bindings::pci_dev, why: c_uint) {
    let Some(gpu) = gpu_of(pdev) else {
        return;
    };
    match why {
        shim::PS_EVENT_FUNCTION_RESET => gpu.quiesce(event(why)),
        _ => gpu.quiesce_answering(event(why)),
    };
}

/// After a reset or a link reset: brings the board up again and lends again; `false` when the
/// board does not come back (it then lends nothing). Nothing is copied from VRAM here: it was
/// reset, so any page not brought back before is lost.
///
/// # Safety
///
/// As for [`ps_rust_gpu_quiesce`].
#[no_mangle]
unsafe extern "C" fn ps_rust_gpu_restart(pdev: *mut bindings::pci_dev, why: c_uint) -> bool {
    let why = event(why);
    let Some(gpu) = gpu_of(pdev) else {
        return true;
    };
    gpu.reset_without_quiesce(why);
    gpu.resume(why).is_ok()
}

/// The device failed for good: VRAM cannot be read any more.
///
/// # Safety
///
/// `pdev` is a live PCI device.
#[no_mangle]
unsafe extern "C" fn ps_rust_gpu_lost(pdev: *mut bindings::pci_dev) {
    let Some(gpu) = gpu_of(pdev) else {
        return;
    };
    gpu.pause_lending();
    dev_err!(
        gpu.pdev().as_ref(),
        "the device failed permanently; the {} pages parked in its VRAM cannot be read back\n",
        gpu.used_pages()
    );
}
