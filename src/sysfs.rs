// SPDX-License-Identifier: GPL-2.0

//! The module's sysfs files: `/sys/module/pseudoscopic/{stats,pool}/` (module-wide) and
//! `<pci device>/pseudoscopic/` (per GPU, owned by the driver's GPU object). `rust/ps_sysfs.c`
//! builds them from the list in `rust/ps_items.h`; what they show comes from the callbacks here.

use crate::{
    copy,
    registry,
    shim,
    stats::{
        Counter,
        ITEM_BAR1_SLOTS,
        ITEM_FREE_CHUNKS,
        ITEM_FREE_PAGES,
        ITEM_INDEX,
        ITEM_TOTAL_PAGES,
        MODULE_STATS, //
    },
    vram::Vram, //
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*, //
};

/// `/sys/module/pseudoscopic/{stats,pool}/`, removed on drop.
pub(crate) struct ModuleDir;

impl ModuleDir {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Called once at module init; the files read module-wide state only.
        kernel::error::to_result(unsafe { shim::ps_sysfs_module_create() })?;
        Ok(Self)
    }
}

impl Drop for ModuleDir {
    fn drop(&mut self) {
        // SAFETY: Created in `new`; removal waits for readers.
        unsafe { shim::ps_sysfs_module_remove() };
    }
}

/// The per-GPU sysfs directory (`<pci device>/pseudoscopic/`), removed on drop.
pub(crate) struct GpuDir(NonNull<c_void>);

// SAFETY: The kobject is only removed, once, from whichever thread drops this.
unsafe impl Send for GpuDir {}
// SAFETY: Shared references give no access to the kobject.
unsafe impl Sync for GpuDir {}

impl GpuDir {
    /// Creates `<pci device>/pseudoscopic/` for `vram`. The GPU object holds the result next to
    /// its reference to `vram`, and drops it first: removal drains the readers, so none sees
    /// `vram` go.
    pub(crate) fn new(vram: &Vram) -> Result<Self> {
        let dev: &kernel::device::Device = vram.pdev().as_ref();
        // SAFETY: `dev` is a live device; `vram` outlives the directory (see above).
        let kobj = unsafe {
            shim::ps_sysfs_gpu_create(
                core::ptr::from_ref(dev).cast_mut().cast(),
                core::ptr::from_ref(vram).cast(),
            )
        };
        kernel::error::from_err_ptr(kobj)?;
        Ok(Self(NonNull::new(kobj).ok_or(ENOMEM)?))
    }
}

impl Drop for GpuDir {
    fn drop(&mut self) {
        // SAFETY: The kobject came from `ps_sysfs_gpu_create`; removal waits for readers.
        unsafe { shim::ps_sysfs_gpu_remove(self.0.as_ptr()) };
    }
}

/// What one sysfs file shows: `item` (an `enum ps_item`) of `gpu`, or module-wide when null.
///
/// # Safety
///
/// `gpu` is null or the `Vram` a [`GpuDir`] was made for, which outlives its files.
#[no_mangle]
unsafe extern "C" fn ps_rust_stat(gpu: *const c_void, item: u32) -> u64 {
    // SAFETY: By the function's contract `gpu` is null or a live `Vram`.
    let gpu = unsafe { gpu.cast::<Vram>().as_ref() };
    match (gpu, Counter::from_item(item)) {
        (Some(gpu), Some(counter)) => gpu.stats.get(counter),
        (None, Some(counter)) => MODULE_STATS.get(counter),
        (Some(gpu), None) => match item {
            ITEM_TOTAL_PAGES => gpu.total_pages() as u64,
            ITEM_FREE_PAGES => gpu.free_pages() as u64,
            ITEM_FREE_CHUNKS => gpu.free_chunks() as u64,
            ITEM_INDEX => u64::from(gpu.index),
            ITEM_BAR1_SLOTS => gpu.bar1_slots() as u64,
            _ => 0,
        },
        (None, None) => match item {
            ITEM_TOTAL_PAGES => registry::sum(|gpu| gpu.total_pages() as u64),
            ITEM_FREE_PAGES => registry::sum(|gpu| gpu.free_pages() as u64),
            ITEM_FREE_CHUNKS => registry::sum(|gpu| gpu.free_chunks() as u64),
            _ => 0,
        },
    }
}

/// What `<gpu>/copy_engine` shows: `PS_CE_NONE`, `PS_CE_RUNNING` or `PS_CE_FAILED`, and the
/// engine in `out` unless none.
///
/// # Safety
///
/// `gpu` is the `Vram` a [`GpuDir`] was made for, which outlives its files; `out` is valid
/// for writes.
#[no_mangle]
unsafe extern "C" fn ps_rust_gpu_copy_engine(gpu: *const c_void, out: *mut CopyEngineRaw) -> i32 {
    // SAFETY: By the function's contract.
    let Some(gpu) = (unsafe { gpu.cast::<Vram>().as_ref() }) else {
        return CE_NONE;
    };
    let Some((engine, class, failed)) = gpu.copy_engine() else {
        return CE_NONE;
    };
    let raw = CopyEngineRaw {
        lce: engine.is_lce(),
        instance: engine.number(),
        runlist: engine.runlist,
        class_id: class,
    };
    // SAFETY: By the function's contract `out` is valid for writes.
    unsafe { out.write(raw) };
    if failed {
        CE_FAILED
    } else {
        CE_RUNNING
    }
}

/// `enum ps_ce_state`.
const CE_NONE: i32 = 0;
const CE_RUNNING: i32 = 1;
const CE_FAILED: i32 = 2;

/// `struct ps_copy_engine`.
#[repr(C)]
struct CopyEngineRaw {
    lce: bool,
    instance: u32,
    runlist: u32,
    class_id: u32,
}

/// What `stats/copy_path` shows: the CPU copy routine in use.
#[no_mangle]
extern "C" fn ps_rust_copy_path() -> *const kernel::ffi::c_char {
    copy::routine().c_name().as_char_ptr()
}
