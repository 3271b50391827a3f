// SPDX-License-Identifier: GPL-2.0

//! The pagemap's `migrate_to_ram`: a CPU touched a page in VRAM.

use super::{
    back::{
        bring_back,
        Back,
        Return, //
    },
    Outcome,
    Plan,
    Unsettled,
    Window,
    FAULT_AROUND_PAGES,
    WINDOW_BYTES, //
};
use crate::{
    mm::{
        Fault,
        Huge,
        MemStall,
        Select,
        VmaMigration, //
    },
    stats::Counter,
    vram::vram_of, //
};
use kernel::{
    bindings,
    page::PAGE_SIZE,
    prelude::*, //
};

/// `migrate_to_ram`: the CPU touched a page in VRAM. Brings back its whole 2 MiB huge page, or the
/// page with its aligned neighbours.
pub(crate) fn fault(fault: &Fault<'_>) -> bindings::vm_fault_t {
    let vma = fault.vma();
    let addr = fault.address() & !(PAGE_SIZE - 1);
    // The core always passes a device-private page: anything else is a kernel bug.
    let Some((page, pagemap)) = fault.page().and_then(|p| {
        let pagemap = p.pagemap()?;
        Some((p, pagemap))
    }) else {
        kernel::warn_on!(true);
        return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
    };
    // SAFETY: The faulting page is one of ours (the kernel only calls our `migrate_to_ram` for
    // pages of our pagemaps), locked and referenced for the fault.
    let vram = unsafe { vram_of(pagemap) };
    vram.count(Counter::PageFaults, 1);
    if vram.is_lost(page.pfn()) {
        // The board stopped answering before this page could come back: what VRAM holds now is
        // not the process's data, and zeros or all-ones in its place would be silent corruption.
        vram.count(Counter::LostPageFaults, 1);
        return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
    }
    let (span, huge) = if fault.on_huge_entry() {
        (WINDOW_BYTES, Huge::Whole)
    } else {
        (FAULT_AROUND_PAGES * PAGE_SIZE, Huge::Split)
    };
    let aligned = addr & !(span - 1);
    let start = aligned.max(vma.start());
    let end = (aligned + span).min(vma.end());
    let pages = (end - start) / PAGE_SIZE;
    let why = Return::Fault((addr - start) / PAGE_SIZE);

    // Arrays on the stack for the common small fault; a huge page needs a window's worth.
    let mut small = ([0usize; FAULT_AROUND_PAGES], [0usize; FAULT_AROUND_PAGES]);
    let mut large;
    let (src, dst) = match huge {
        Huge::Split => (&mut small.0[..pages], &mut small.1[..pages]),
        Huge::Whole => {
            large = match Window::new() {
                Ok(window) => window,
                Err(_) => return bindings::vm_fault_reason_VM_FAULT_OOM,
            };
            (&mut large.src[..pages], &mut large.dst[..pages])
        }
    };
    let Ok(mut plan) = Plan::with_capacity(pages, GFP_KERNEL) else {
        return bindings::vm_fault_reason_VM_FAULT_OOM;
    };
    let mig = match VmaMigration::collect(vma, start, src, dst, Select::Device, huge, Some(&page)) {
        Ok(mig) => mig,
        Err(_) => return bindings::vm_fault_reason_VM_FAULT_SIGBUS,
    };
    let mut out = Outcome::default();
    // The faulting task waits for its data as for a swap-in: PSI counts it as a memory stall.
    let _stall = MemStall::begin();
    let back = Back {
        mig,
        vma,
        start,
        only: None,
        why,
    };
    match bring_back(back, &mut out, &mut Unsettled::Count, &mut plan) {
        Ok(_) => 0,
        // PCI error recovery, and the board stopped answering before the copy was taken: as for a
        // page already marked lost.
        Err(e) if e == EIO => {
            vram.count(Counter::LostPageFaults, 1);
            bindings::vm_fault_reason_VM_FAULT_SIGBUS
        }
        Err(_) => bindings::vm_fault_reason_VM_FAULT_OOM,
    }
}
