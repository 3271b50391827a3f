// SPDX-License-Identifier: GPL-2.0

//! `/dev/pseudoscopic`: the ioctls that move memory and report residency.
//!
//! Root-only by default (mode 0600). Every refused request gets its errno and one `dmesg` line.

use crate::{
    migrate::{
        self,
        Outcome,
        Placement,
        UserRange, //
    },
    mm,
    registry,
    shim,
    uapi::{
        self,
        Migrate,
        Residency, //
    },
    vram::ActiveVram, //
};
use core::ptr::NonNull;
use kernel::{
    ffi::c_void,
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    mm::MmWithUser,
    page::PAGE_SIZE,
    prelude::*,
    sync::aref::ARef,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// An open `/dev/pseudoscopic`; it holds no state.
pub(crate) struct Control;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToDevice,
    ToRam,
}

/// Logs why a request was refused (rate-limited, as a busy caller could flood the log) and
/// passes the error on.
fn refuse(what: &str, err: Error, why: kernel::fmt::Arguments<'_>) -> Error {
    // SAFETY: No precondition.
    if unsafe { shim::ps_refusal_ratelimit() } {
        pr_warn!(
            "{what} from pid {}: {why} ({err:?})\n",
            kernel::current!().pid()
        );
    }
    err
}

/// The address space of the process `pidfd` names, checked for access.
fn target_mm(what: &str, pidfd: i32) -> Result<ARef<MmWithUser>> {
    let mut raw = core::ptr::null_mut();
    // SAFETY: `raw` is a valid out-pointer.
    let ret = unsafe { shim::ps_target_mm(pidfd, &mut raw) };
    if ret != 0 {
        let err = Error::from_errno(ret);
        return Err(refuse(
            what,
            err,
            fmt!("no access to the memory of pidfd {pidfd}"),
        ));
    }
    let mm = NonNull::new(raw.cast::<MmWithUser>()).ok_or(ESRCH)?;
    // SAFETY: `ps_target_mm` returned an mm with an `mm_users` reference, which we now own;
    // `MmWithUser` is a transparent wrapper of `mm_struct`.
    Ok(unsafe { ARef::from_raw(mm) })
}

fn check_reserved(what: &str, flags: u32, reserved: u32) -> Result {
    if flags != 0 || reserved != 0 {
        return Err(refuse(
            what,
            EINVAL,
            fmt!("unknown flags {flags:#x} or reserved field {reserved:#x} set"),
        ));
    }
    Ok(())
}

fn user_range(what: &str, mm: &MmWithUser, addr: u64, length: u64) -> Result<UserRange> {
    UserRange::new(mm, addr, length).map_err(|err| {
        refuse(
            what,
            err,
            fmt!("range {addr:#x}+{length:#x} is not a page-aligned, non-empty user range"),
        )
    })
}

fn check_mapped(what: &str, mm: &MmWithUser, range: UserRange) -> Result {
    range.check_mapped(&mm.mmap_read_lock()).map_err(|err| {
        refuse(
            what,
            err,
            fmt!(
                "range {:#x}-{:#x} is not wholly mapped and readable",
                range.start,
                range.end
            ),
        )
    })
}

/// A request that passed every check, in the order the ABI documents them.
struct Request {
    /// The GPUs it names, entered: unbind waits for the request to finish.
    gpus: KVec<ActiveVram>,
    /// `device` as a filter (`None`: any GPU).
    filter: Option<u32>,
    mm: ARef<MmWithUser>,
    range: UserRange,
}

impl Request {
    /// Checks the fields every ioctl shares; a refusal logs why.
    fn check(
        what: &str,
        flags: u32,
        reserved: u32,
        device: u32,
        pidfd: i32,
        addr: u64,
        length: u64,
    ) -> Result<Self> {
        check_reserved(what, flags, reserved)?;
        let filter = (device != uapi::DEVICE_ANY).then_some(device);
        let gpus = registry::enter(filter)
            .map_err(|err| refuse(what, err, fmt!("device {device} is not a bound GPU")))?;
        let mm = target_mm(what, pidfd)?;
        let range = user_range(what, &mm, addr, length)?;
        check_mapped(what, &mm, range)?;
        Ok(Self {
            gpus,
            filter,
            mm,
            range,
        })
    }
}

fn migrate(arg: usize, dir: Direction) -> Result<isize> {
    let what = match dir {
        Direction::ToDevice => "MIGRATE_TO_DEVICE",
        Direction::ToRam => "MIGRATE_TO_RAM",
    };
    let (mut reader, mut writer) =
        UserSlice::new(UserPtr::from_addr(arg), size_of::<Migrate>()).reader_writer();
    let mut req: Migrate = reader.read()?;
    let Request {
        gpus,
        filter,
        mm,
        range,
    } = Request::check(
        what,
        req.flags,
        req.reserved,
        req.device,
        req.pidfd,
        req.addr,
        req.length,
    )?;

    let (out, res) = match dir {
        Direction::ToDevice => migrate::to_device(&mm, range, &Placement::new(gpus))?,
        // The GPUs stay entered until the request ends, as for the other ioctls.
        Direction::ToRam => migrate::to_ram(&mm, range, filter)?,
    };
    write_outcome(&mut req, &out);
    writer.write(&req)?;
    res?;
    if dir == Direction::ToDevice && out.moved == 0 && out.no_space != 0 {
        return Err(refuse(
            what,
            ENOSPC,
            fmt!("no free VRAM for any of {} movable pages", out.no_space),
        ));
    }
    Ok(0)
}

fn write_outcome(req: &mut Migrate, out: &Outcome) {
    req.moved = out.moved;
    req.skipped_resident = out.resident;
    req.skipped_empty = out.empty;
    req.skipped_unmovable = out.unmovable;
    req.skipped_busy = out.busy;
    req.skipped_no_space = out.no_space;
}

fn residency(arg: usize) -> Result<isize> {
    let what = "RESIDENCY";
    let (mut reader, mut writer) =
        UserSlice::new(UserPtr::from_addr(arg), size_of::<Residency>()).reader_writer();
    let mut req: Residency = reader.read()?;
    let Request {
        gpus, mm, range, ..
    } = Request::check(
        what,
        req.flags,
        req.reserved,
        req.device,
        req.pidfd,
        req.addr,
        req.length,
    )?;

    let pagemaps = registry::pagemaps(&gpus)?;
    let mut pfns = KVec::with_capacity(migrate::WINDOW_PAGES, GFP_KERNEL)?;
    pfns.resize(migrate::WINDOW_PAGES, 0usize, GFP_KERNEL)?;
    let mut found: KVec<*mut c_void> = KVec::with_capacity(migrate::WINDOW_PAGES, GFP_KERNEL)?;
    found.resize(migrate::WINDOW_PAGES, core::ptr::null_mut(), GFP_KERNEL)?;

    let mut resident = 0u64;
    let mut addr = range.start;
    while addr < range.end {
        let end = range.end.min(addr + migrate::WINDOW_PAGES * PAGE_SIZE);
        let n = (end - addr) / PAGE_SIZE;
        // SAFETY: `mm` is a live mm we hold a user reference on; the arrays have room for `n`
        // entries; the shim takes the mmap lock itself.
        kernel::error::to_result(unsafe {
            shim::ps_snapshot_device_pages(
                mm.as_raw(),
                addr,
                end,
                mm::owner(),
                pfns.as_mut_ptr().cast(),
                found.as_mut_ptr(),
            )
        })?;
        // Only compare pointers: a page found here may be freed (and its GPU gone) by now.
        resident += found[..n]
            .iter()
            .filter(|p| pagemaps.iter().any(|pgmap| pgmap.as_ptr() == **p))
            .count() as u64;
        addr = end;
    }
    drop(gpus);
    req.pages = range.pages();
    req.resident = resident;
    writer.write(&req)?;
    Ok(0)
}

#[vtable]
impl MiscDevice for Control {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::pin(Control, GFP_KERNEL).map_err(Into::into)
    }

    fn ioctl(_me: Pin<&Control>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::IOC_MIGRATE_TO_DEVICE => migrate(arg, Direction::ToDevice),
            uapi::IOC_MIGRATE_TO_RAM => migrate(arg, Direction::ToRam),
            uapi::IOC_RESIDENCY => residency(arg),
            _ => Err(ENOTTY),
        }
    }
}
