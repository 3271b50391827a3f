// SPDX-License-Identifier: GPL-2.0

//! The bound GPUs, by index, for the ioctls and the module-wide sysfs files.

use crate::vram::{
    ActiveVram,
    Vram, //
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    prelude::*,
    sync::Arc, //
};

kernel::sync::global_lock! {
    // SAFETY: `init` runs in module init, before the driver (the only writer) registers.
    unsafe(uninit) static GPUS: Mutex<KVec<Arc<Vram>>> = KVec::new();
}

/// Sets the registry up; module init calls this once, first.
pub(crate) fn init() {
    // SAFETY: Called once, from module init, before any other use.
    unsafe { GPUS.init() };
}

/// Creates a GPU with the lowest free index and publishes it.
pub(crate) fn add(create: impl FnOnce(u32) -> Result<Arc<Vram>>) -> Result<Arc<Vram>> {
    let mut gpus = GPUS.lock();
    let index = (0u32..)
        .find(|i| gpus.iter().all(|g| g.index != *i))
        .ok_or(ENOSPC)?;
    let vram = create(index)?;
    gpus.push(vram.clone(), GFP_KERNEL)?;
    Ok(vram)
}

/// Unpublishes a GPU: no new ioctl can find it.
pub(crate) fn remove(vram: &Vram) {
    let mut gpus = GPUS.lock();
    if let Some(pos) = gpus.iter().position(|g| g.index == vram.index) {
        drop(gpus.remove(pos));
    }
    // A static is never dropped: the list's storage goes with the last GPU (module exit unbinds
    // every GPU), or unloading would leak it.
    if gpus.is_empty() {
        *gpus = KVec::new();
    }
}

/// Every bound GPU.
pub(crate) fn all() -> Result<KVec<Arc<Vram>>> {
    let gpus = GPUS.lock();
    let mut out = KVec::with_capacity(gpus.len(), GFP_KERNEL)?;
    for gpu in gpus.iter() {
        out.push(gpu.clone(), GFP_KERNEL)?;
    }
    Ok(out)
}

/// The bound GPU for which `is` holds, if any.
pub(crate) fn find(is: impl Fn(&Vram) -> bool) -> Option<Arc<Vram>> {
    GPUS.lock().iter().find(|g| is(g)).cloned()
}

/// Sum of `f` over the bound GPUs.
pub(crate) fn sum(f: impl Fn(&Vram) -> u64) -> u64 {
    GPUS.lock().iter().map(|g| f(g)).sum()
}

/// The GPUs a request names, entered (so unbind waits for the request): GPU `index`, or every
/// GPU, most free VRAM first. `ENODEV` when there is none.
pub(crate) fn enter(index: Option<u32>) -> Result<KVec<ActiveVram>> {
    let gpus = GPUS.lock();
    let mut out = KVec::new();
    for gpu in gpus.iter().filter(|g| index.is_none_or(|i| g.index == i)) {
        if let Some(active) = gpu.enter() {
            out.push(active, GFP_KERNEL)?;
            // Most free VRAM first: the new GPU moves up past those with less. (Not
            // `sort_unstable_by_key`: with rustc 1.85 its code trips objtool, "falls through to
            // next function".)
            let mut i = out.len() - 1;
            while i > 0 && out[i - 1].free_pages() < out[i].free_pages() {
                out.swap(i - 1, i);
                i -= 1;
            }
        }
    }
    drop(gpus);
    if out.is_empty() {
        return Err(ENODEV);
    }
    Ok(out)
}

/// The pagemap pointer of every GPU in `gpus`, to recognise pages without touching them.
pub(crate) fn pagemaps(gpus: &[ActiveVram]) -> Result<KVec<NonNull<c_void>>> {
    let mut out = KVec::with_capacity(gpus.len(), GFP_KERNEL)?;
    for gpu in gpus {
        out.push(gpu.pagemap_ptr(), GFP_KERNEL)?;
    }
    Ok(out)
}
