// SPDX-License-Identifier: GPL-2.0

//! What the module must answer to a request, worked out from what the fuzzer knows about the
//! request's arguments, in the order the module checks them (README, "the ioctl ABI"): the
//! struct is read; flags and reserved field; device; pidfd; range; mapping. When the fuzzer
//! cannot know (a range leaving its own memory, a GPU that may be unbinding), every answer the
//! README allows at that point is accepted.

use rustix::io::Errno;

/// The page size the ABI works in.
pub const PAGE: u64 = 4096;
/// The top of user space with 4-level page tables; with 5 levels it is `TOP_57`.
pub const TOP_48: u64 = (1 << 47) - PAGE;
pub const TOP_57: u64 = (1 << 56) - PAGE;

/// Which ioctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    ToDevice,
    ToRam,
    Residency,
    /// A command number the module does not know.
    Unknown,
}

/// Where the argument struct lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgPlace {
    /// In writable memory.
    Valid,
    /// Not (wholly) readable: null, unmapped, or running into an unmapped page.
    Unreadable,
    /// Readable but not writable: the answer cannot be written back.
    ReadOnly,
}

/// The process `pidfd` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `PS_PIDFD_SELF`.
    Caller,
    /// A pidfd of a live child (root may move its memory).
    Child,
    /// A pidfd of a child that has exited and been reaped.
    Dead,
    /// A negative number other than -1, a closed descriptor or one that is not a pidfd.
    NotPidfd,
}

/// What a page of the target's address space is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    Readable,
    NoAccess,
    Unmapped,
}

/// A mapping of the target that the fuzzer knows: `[start, end)` is all `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub kind: PageKind,
}

/// One request as sent.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub cmd: Cmd,
    pub place: ArgPlace,
    pub addr: u64,
    pub length: u64,
    pub target: Target,
    pub device: u32,
    pub flags: u32,
    pub reserved: u32,
}

/// What else the fuzzer knows about the system.
pub struct World<'a> {
    /// The GPU indices bound when no unbind races the request.
    pub gpus: &'a [u32],
    /// A GPU may be unbound or rebound at any moment.
    pub unbinding: bool,
    /// Allocations may fail (fault injection): `ENOMEM` is a clean answer.
    pub enomem: bool,
}

/// `PS_DEVICE_ANY`.
pub const DEVICE_ANY: u32 = u32::MAX;

/// Every answer the module may give: `None` is success, `Some(errno)` a failure.
pub fn expect(req: &Request, regions: &[Region], world: &World<'_>) -> Vec<Option<i32>> {
    let mut allowed = Vec::new();
    if req.cmd == Cmd::Unknown {
        allowed.push(Some(Errno::NOTTY.raw_os_error()));
        return allowed;
    }
    if req.place == ArgPlace::Unreadable {
        allowed.push(Some(Errno::FAULT.raw_os_error()));
        return allowed;
    }
    if world.enomem {
        // Bookkeeping without memory, or the argument's own page parked and no RAM to fault it
        // back into: the kernel's copy to or from user space then fails.
        allowed.push(Some(Errno::NOMEM.raw_os_error()));
        allowed.push(Some(Errno::FAULT.raw_os_error()));
    }
    let checked = |allowed: &mut Vec<Option<i32>>| -> Option<()> {
        if req.flags != 0 || req.reserved != 0 {
            allowed.push(Some(Errno::INVAL.raw_os_error()));
            return None;
        }
        let bound = if req.device == DEVICE_ANY {
            !world.gpus.is_empty()
        } else {
            world.gpus.contains(&req.device)
        };
        if world.unbinding || !bound {
            allowed.push(Some(Errno::NODEV.raw_os_error()));
        }
        // Without an unbind in the way, a GPU that is not bound ends the request here; with
        // one, a GPU that was never bound does too (indices stay as they were at start).
        if !bound {
            return None;
        }
        match req.target {
            Target::NotPidfd => {
                allowed.push(Some(Errno::BADF.raw_os_error()));
                return None;
            }
            Target::Dead => {
                allowed.push(Some(Errno::SRCH.raw_os_error()));
                return None;
            }
            Target::Caller | Target::Child => {}
        }
        if req.addr % PAGE != 0 || req.length % PAGE != 0 || req.length == 0 {
            allowed.push(Some(Errno::INVAL.raw_os_error()));
            return None;
        }
        let Some(end) = req.addr.checked_add(req.length) else {
            allowed.push(Some(Errno::INVAL.raw_os_error()));
            return None;
        };
        if end > TOP_57 {
            allowed.push(Some(Errno::INVAL.raw_os_error()));
            return None;
        }
        if end > TOP_48 {
            // Beyond 47 bits: EINVAL with 4-level page tables. With 5 levels the mapping check
            // runs, and fails at the latest where the range goes above 47 bits, where the
            // fuzzer never maps anything.
            allowed.push(Some(Errno::INVAL.raw_os_error()));
            match first_problem(regions, req.addr, end) {
                Walk::Fails(errno) => allowed.push(Some(errno)),
                Walk::Unknown | Walk::Readable => {
                    allowed.push(Some(Errno::FAULT.raw_os_error()));
                    allowed.push(Some(Errno::ACCESS.raw_os_error()));
                }
            }
            return None;
        }
        match first_problem(regions, req.addr, end) {
            Walk::Fails(errno) => {
                allowed.push(Some(errno));
                return None;
            }
            Walk::Unknown => {
                allowed.push(Some(Errno::FAULT.raw_os_error()));
                allowed.push(Some(Errno::ACCESS.raw_os_error()));
            }
            Walk::Readable => {}
        }
        Some(())
    };
    if checked(&mut allowed).is_none() {
        return allowed;
    }
    // Checks passed: the request runs, and its answer is written back.
    let ran: &[Option<i32>] = match req.cmd {
        Cmd::ToDevice => &[None, Some(Errno::NOSPC.raw_os_error())],
        _ => &[None],
    };
    for answer in ran {
        allowed.push(match req.place {
            ArgPlace::ReadOnly => Some(Errno::FAULT.raw_os_error()),
            _ => *answer,
        });
    }
    allowed
}

/// What the mapping check finds over `[start, end)`.
#[derive(Debug, PartialEq, Eq)]
enum Walk {
    Readable,
    Fails(i32),
    /// The range leaves the regions the fuzzer knows.
    Unknown,
}

fn first_problem(regions: &[Region], start: u64, end: u64) -> Walk {
    let mut addr = start;
    while addr < end {
        let Some(r) = regions.iter().find(|r| r.start <= addr && addr < r.end) else {
            return Walk::Unknown;
        };
        match r.kind {
            PageKind::Unmapped => return Walk::Fails(Errno::FAULT.raw_os_error()),
            PageKind::NoAccess => return Walk::Fails(Errno::ACCESS.raw_os_error()),
            PageKind::Readable => addr = r.end,
        }
    }
    Walk::Readable
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x7000_0000_0000;

    fn regions() -> Vec<Region> {
        let r = |start: u64, end: u64, kind| Region {
            start: BASE + start * PAGE,
            end: BASE + end * PAGE,
            kind,
        };
        vec![
            r(0, 8, PageKind::Readable),
            r(8, 9, PageKind::NoAccess),
            r(9, 10, PageKind::Unmapped),
            r(10, 12, PageKind::Readable),
        ]
    }

    fn req(cmd: Cmd, first: u64, pages: u64) -> Request {
        Request {
            cmd,
            place: ArgPlace::Valid,
            addr: BASE + first * PAGE,
            length: pages * PAGE,
            target: Target::Caller,
            device: DEVICE_ANY,
            flags: 0,
            reserved: 0,
        }
    }

    const ONE_GPU: World<'static> = World {
        gpus: &[0],
        unbinding: false,
        enomem: false,
    };

    fn errnos(v: &[Option<i32>]) -> Vec<i32> {
        v.iter().map(|e| e.unwrap_or(0)).collect()
    }

    #[test]
    fn valid_ranges_succeed() {
        let rs = regions();
        assert_eq!(expect(&req(Cmd::ToRam, 0, 8), &rs, &ONE_GPU), vec![None]);
        assert_eq!(
            expect(&req(Cmd::ToDevice, 2, 3), &rs, &ONE_GPU),
            vec![None, Some(Errno::NOSPC.raw_os_error())]
        );
    }

    #[test]
    fn the_first_bad_page_decides() {
        let rs = regions();
        assert_eq!(
            errnos(&expect(&req(Cmd::Residency, 0, 12), &rs, &ONE_GPU)),
            vec![Errno::ACCESS.raw_os_error()]
        );
        assert_eq!(
            errnos(&expect(&req(Cmd::Residency, 9, 3), &rs, &ONE_GPU)),
            vec![Errno::FAULT.raw_os_error()]
        );
        // Leaving the known regions: anything the mapping check may say, or success.
        assert_eq!(
            expect(&req(Cmd::ToRam, 10, 4), &rs, &ONE_GPU),
            vec![
                Some(Errno::FAULT.raw_os_error()),
                Some(Errno::ACCESS.raw_os_error()),
                None
            ]
        );
    }

    #[test]
    fn checks_come_in_the_documented_order() {
        let rs = regions();
        // Reserved field before device, device before pidfd, pidfd before range.
        let bad_all = Request {
            flags: 1,
            device: 5,
            target: Target::NotPidfd,
            addr: BASE + 1,
            ..req(Cmd::ToDevice, 0, 1)
        };
        assert_eq!(
            errnos(&expect(&bad_all, &rs, &ONE_GPU)),
            vec![Errno::INVAL.raw_os_error()]
        );
        let bad_device = Request {
            flags: 0,
            ..bad_all
        };
        assert_eq!(
            errnos(&expect(&bad_device, &rs, &ONE_GPU)),
            vec![Errno::NODEV.raw_os_error()]
        );
        let bad_pidfd = Request {
            device: 0,
            ..bad_device
        };
        assert_eq!(
            errnos(&expect(&bad_pidfd, &rs, &ONE_GPU)),
            vec![Errno::BADF.raw_os_error()]
        );
        let dead = Request {
            target: Target::Dead,
            ..bad_pidfd
        };
        assert_eq!(
            errnos(&expect(&dead, &rs, &ONE_GPU)),
            vec![Errno::SRCH.raw_os_error()]
        );
        let bad_addr = Request {
            target: Target::Caller,
            ..bad_pidfd
        };
        assert_eq!(
            errnos(&expect(&bad_addr, &rs, &ONE_GPU)),
            vec![Errno::INVAL.raw_os_error()]
        );
    }

    #[test]
    fn ranges_at_the_top_of_user_space() {
        let rs = regions();
        let wraps = Request {
            addr: u64::MAX - PAGE + 1,
            length: 2 * PAGE,
            ..req(Cmd::ToRam, 0, 1)
        };
        assert_eq!(
            errnos(&expect(&wraps, &rs, &ONE_GPU)),
            vec![Errno::INVAL.raw_os_error()]
        );
        let past_57 = Request {
            addr: 1 << 56,
            length: PAGE,
            ..wraps
        };
        assert_eq!(
            errnos(&expect(&past_57, &rs, &ONE_GPU)),
            vec![Errno::INVAL.raw_os_error()]
        );
        let past_48 = Request {
            addr: 1 << 47,
            ..past_57
        };
        assert_eq!(
            errnos(&expect(&past_48, &rs, &ONE_GPU)),
            vec![
                Errno::INVAL.raw_os_error(),
                Errno::FAULT.raw_os_error(),
                Errno::ACCESS.raw_os_error()
            ]
        );
        // From a known region up past 47 bits: with 5-level page tables, the mapping check
        // finds the first problem in the known regions.
        let from_sandbox = Request {
            length: 1 << 47,
            ..req(Cmd::Residency, 0, 1)
        };
        assert_eq!(
            errnos(&expect(&from_sandbox, &rs, &ONE_GPU)),
            vec![Errno::INVAL.raw_os_error(), Errno::ACCESS.raw_os_error()]
        );
    }

    #[test]
    fn unreadable_and_read_only_arguments() {
        let rs = regions();
        let unreadable = Request {
            place: ArgPlace::Unreadable,
            flags: 3,
            ..req(Cmd::ToRam, 0, 1)
        };
        assert_eq!(
            errnos(&expect(&unreadable, &rs, &ONE_GPU)),
            vec![Errno::FAULT.raw_os_error()]
        );
        // Read-only: a refusal is still reported; a request that ran cannot write back.
        let ro = Request {
            place: ArgPlace::ReadOnly,
            ..req(Cmd::ToDevice, 0, 1)
        };
        assert_eq!(
            errnos(&expect(&ro, &rs, &ONE_GPU)),
            vec![Errno::FAULT.raw_os_error(), Errno::FAULT.raw_os_error()]
        );
        let ro_refused = Request { flags: 1, ..ro };
        assert_eq!(
            errnos(&expect(&ro_refused, &rs, &ONE_GPU)),
            vec![Errno::INVAL.raw_os_error()]
        );
    }

    #[test]
    fn unknown_commands_and_unbinding() {
        let rs = regions();
        let unknown = Request {
            place: ArgPlace::Unreadable,
            ..req(Cmd::Unknown, 0, 1)
        };
        assert_eq!(
            errnos(&expect(&unknown, &rs, &ONE_GPU)),
            vec![Errno::NOTTY.raw_os_error()]
        );
        let racing = World {
            gpus: &[0],
            unbinding: true,
            enomem: true,
        };
        assert_eq!(
            expect(&req(Cmd::ToRam, 0, 1), &rs, &racing),
            vec![
                Some(Errno::NOMEM.raw_os_error()),
                Some(Errno::FAULT.raw_os_error()),
                Some(Errno::NODEV.raw_os_error()),
                None
            ]
        );
        let none_bound = World {
            gpus: &[],
            unbinding: false,
            enomem: false,
        };
        assert_eq!(
            errnos(&expect(&req(Cmd::Residency, 0, 1), &rs, &none_bound)),
            vec![Errno::NODEV.raw_os_error()]
        );
    }
}
