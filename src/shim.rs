// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C files in `rust/`, one job each, as `rust/ps_shim.h` declares them (in the
//! same order, one section per file; `tests/host/shim.sh` checks the two against each other).
//!
//! Only the thin wrappers (`params`, `bus`, `vram`, `mm`, `sysfs`, `chardev`) call these; the
//! migration logic above them is safe Rust.

use kernel::{
    bindings,
    ffi::{
        c_int,
        c_uint,
        c_ulong,
        c_void, //
    },
};

pub(crate) const MIGRATE_PFN_VALID: usize = 1 << 0;
pub(crate) const MIGRATE_PFN_MIGRATE: usize = 1 << 1;
pub(crate) const MIGRATE_PFN_WRITE: usize = 1 << 3;
pub(crate) const MIGRATE_PFN_COMPOUND: usize = 1 << 4;
pub(crate) const MIGRATE_PFN_SHIFT: u32 = 6;
pub(crate) const SELECT_SYSTEM: c_ulong = 1 << 0;
pub(crate) const SELECT_DEVICE_PRIVATE: c_ulong = 1 << 1;
pub(crate) const SELECT_COMPOUND: c_ulong = 1 << 3;

/// `struct ps_migrate_vma`, itself checked field by field against `struct migrate_vma`.
#[repr(C)]
pub(crate) struct MigrateVmaRaw {
    pub(crate) vma: *mut bindings::vm_area_struct,
    pub(crate) dst: *mut c_ulong,
    pub(crate) src: *mut c_ulong,
    pub(crate) cpages: c_ulong,
    pub(crate) npages: c_ulong,
    pub(crate) start: c_ulong,
    pub(crate) end: c_ulong,
    pub(crate) pgmap_owner: *mut c_void,
    pub(crate) flags: c_ulong,
    pub(crate) fault_page: *mut bindings::page,
}

// Only pointers to kernel structs cross this boundary, never the structs themselves, so bindgen
// modelling some of their fields as zero-sized types (which the lint objects to) is harmless.

#[expect(improper_ctypes)]
extern "C" {
    // rust/ps_params.c
    pub(crate) fn ps_param_bar_index() -> c_int;
    pub(crate) fn ps_param_pool_size_mb() -> c_uint;
    pub(crate) fn ps_param_migration_threshold() -> c_uint;
    pub(crate) fn ps_param_enable_dma() -> bool;
    pub(crate) fn ps_param_scrub() -> bool;
    pub(crate) fn ps_param_early_refault_secs() -> c_uint;
    pub(crate) fn ps_param_cpu_copy() -> *const kernel::ffi::c_char;

    // rust/ps_page.c
    pub(crate) fn ps_page_to_pfn(page: *mut bindings::page) -> c_ulong;
    pub(crate) fn ps_pfn_to_page(pfn: c_ulong) -> *mut bindings::page;
    pub(crate) fn ps_folio_pfn(folio: *mut bindings::folio) -> c_ulong;
    pub(crate) fn ps_folio_pgmap(folio: *mut bindings::folio) -> *mut c_void;
    pub(crate) fn ps_device_private_pgmap(page: *mut bindings::page) -> *mut c_void;
    pub(crate) fn ps_page_is_anon(page: *mut bindings::page) -> bool;
    pub(crate) fn ps_device_folio_holds_data(page: *mut bindings::page) -> bool;
    pub(crate) fn ps_device_folio_init(page: *mut bindings::page, pgmap: *mut c_void, order: u32);
    pub(crate) fn ps_page_address(page: *mut bindings::page) -> *mut c_void;
    pub(crate) fn ps_alloc_user_page(
        vma: *mut bindings::vm_area_struct,
        addr: c_ulong,
    ) -> *mut bindings::page;
    pub(crate) fn ps_alloc_user_huge_page(
        vma: *mut bindings::vm_area_struct,
        addr: c_ulong,
    ) -> *mut bindings::page;
    pub(crate) fn ps_alloc_user_huge_page_reclaim(
        vma: *mut bindings::vm_area_struct,
        addr: c_ulong,
    ) -> *mut bindings::page;
    pub(crate) fn ps_alloc_user_page_nofail() -> *mut bindings::page;
    pub(crate) fn ps_alloc_huge_page_retry() -> *mut bindings::page;
    pub(crate) fn ps_lock_page(page: *mut bindings::page);
    pub(crate) fn ps_unlock_and_put_page(page: *mut bindings::page);
    pub(crate) fn ps_folio_order(folio: *mut bindings::folio) -> u32;

    // rust/ps_pagemap.c
    pub(crate) fn ps_pagemap_create(
        pgmap: *mut c_void,
        ops: *const bindings::dev_pagemap_ops,
        owner: *mut c_void,
        size: u64,
        name: *const kernel::ffi::c_char,
        res_out: *mut *mut c_void,
    ) -> c_int;
    pub(crate) fn ps_pagemap_remove(pgmap: *mut c_void, res: *mut c_void);
    pub(crate) fn ps_pagemap_first_pfn(pgmap: *const c_void) -> c_ulong;
    pub(crate) fn ps_folio_split_copy(head: *mut bindings::folio, tail: *mut bindings::folio);

    // rust/ps_copy.c
    pub(crate) fn ps_dma_map(
        pdev: *mut bindings::pci_dev,
        cpu: *mut c_void,
        len: usize,
        to_device: bool,
        out: *mut bindings::dma_addr_t,
    ) -> c_int;
    pub(crate) fn ps_dma_unmap(
        pdev: *mut bindings::pci_dev,
        addr: bindings::dma_addr_t,
        len: usize,
        to_device: bool,
    );
    pub(crate) fn ps_cond_resched();
    pub(crate) fn ps_wmb();
    pub(crate) fn ps_cpu_has_sse41() -> bool;
    pub(crate) fn ps_cpu_has_avx2() -> bool;

    // rust/ps_migrate.c
    pub(crate) fn ps_migrate_vma_setup(args: *mut MigrateVmaRaw) -> c_int;
    pub(crate) fn ps_migrate_vma_pages(args: *mut MigrateVmaRaw);
    pub(crate) fn ps_migrate_vma_finalize(args: *mut MigrateVmaRaw);
    pub(crate) fn ps_migrate_device_range(
        src: *mut c_ulong,
        start_pfn: c_ulong,
        npages: c_ulong,
    ) -> c_int;
    pub(crate) fn ps_migrate_device_pages(src: *mut c_ulong, dst: *mut c_ulong, npages: c_ulong);
    pub(crate) fn ps_migrate_device_finalize(src: *mut c_ulong, dst: *mut c_ulong, npages: c_ulong);

    // rust/ps_residency.c
    pub(crate) fn ps_snapshot_device_pages(
        mm: *mut bindings::mm_struct,
        start: c_ulong,
        end: c_ulong,
        owner: *mut c_void,
        pfns: *mut c_ulong,
        pgmaps: *mut *mut c_void,
    ) -> c_int;

    // rust/ps_request.c
    pub(crate) fn ps_target_mm(pidfd: c_int, mm_out: *mut *mut bindings::mm_struct) -> c_int;
    pub(crate) fn ps_mm_task_size(mm: *mut bindings::mm_struct) -> c_ulong;
    pub(crate) fn ps_fatal_signal_pending() -> bool;
    pub(crate) fn ps_refusal_ratelimit() -> bool;

    // rust/ps_sysfs.c
    pub(crate) fn ps_sysfs_module_create() -> c_int;
    pub(crate) fn ps_sysfs_module_remove();
    pub(crate) fn ps_sysfs_gpu_create(dev: *mut c_void, gpu: *const c_void) -> *mut c_void;
    pub(crate) fn ps_sysfs_gpu_remove(kobj: *mut c_void);

    // rust/ps_psi.c
    pub(crate) fn ps_memstall_enter(flags: *mut c_ulong);
    pub(crate) fn ps_memstall_leave(flags: *mut c_ulong);

    // rust/ps_mms.c
    pub(crate) fn ps_next_process_mm(nr: *mut c_int) -> *mut bindings::mm_struct;
    pub(crate) fn ps_vma_anon_pgoff(
        vma: *mut bindings::vm_area_struct,
        pgoff: *mut c_ulong,
    ) -> bool;
    pub(crate) fn ps_folio_index(page: *mut bindings::page) -> c_ulong;

    // rust/ps_rebar.c
    pub(crate) fn ps_pci_rebar_cover(
        pdev: *mut bindings::pci_dev,
        bar: c_int,
        bytes: u64,
        len: *mut u64,
    ) -> c_int;

    // rust/ps_pm.c
    pub(crate) fn ps_pm_register() -> c_int;
    pub(crate) fn ps_pm_unregister();
    pub(crate) fn ps_pm_set_error_handlers(pdev: *mut bindings::pci_dev);
    pub(crate) fn ps_pm_unbind_later(pdev: *mut bindings::pci_dev);
    pub(crate) fn ps_pci_device_present(pdev: *mut bindings::pci_dev) -> bool;
    pub(crate) fn ps_pci_channel_offline(pdev: *mut bindings::pci_dev) -> bool;
    pub(crate) fn ps_ram_available_pages() -> c_ulong;
}

/// `enum ps_pm_event` of `rust/ps_shim.h` (`rust/ps_pm.c`): what a reset hook runs for.
pub(crate) const PS_EVENT_FUNCTION_RESET: c_uint = 0;
