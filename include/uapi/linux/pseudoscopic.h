/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pseudoscopic: user-space ABI of /dev/pseudoscopic.
 *
 * Every ioctl takes one struct, read and written back in place.  Addresses and lengths are bytes
 * and must be page aligned.  Counts are pages.  Reserved fields and unknown flags must be zero.
 * The Rust mirror, src/uapi/bindings.rs, is generated from this file (scripts/gen-abi.sh).
 */
#ifndef _UAPI_LINUX_PSEUDOSCOPIC_H
#define _UAPI_LINUX_PSEUDOSCOPIC_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PS_IOC_MAGIC 0xB9

/* `pidfd` naming the calling process itself. */
#define PS_PIDFD_SELF (-1)
/* `device` for "any GPU" (the one with the most free VRAM first). */
#define PS_DEVICE_ANY 0xffffffffu

/*
 * PS_IOC_MIGRATE_TO_DEVICE / PS_IOC_MIGRATE_TO_RAM: move [addr, addr + length) of a process.
 *
 * To the device, private anonymous pages in RAM move into the VRAM of `device`.  To RAM, pages in
 * VRAM (of `device`, or of any GPU) come back.  The outcome of every page of the range lands in
 * exactly one counter, so the counters add up to length / page size.  A page that is locked,
 * referenced or isolated elsewhere for a moment (DAMON's page sampling, reclaim, another
 * migration) is tried twice more in the same call before it counts as skipped.
 *
 * Returns 0, or -1 with errno:
 *   EINVAL  addr or length not page aligned, length 0, the range wraps or leaves user space,
 *           a reserved field or unknown flag is set;
 *   EFAULT  part of the range is not mapped, or the struct cannot be read or written;
 *   ENOTTY  not one of the ioctls below;
 *   EACCES  part of the range is mapped PROT_NONE (not readable);
 *   ENODEV  `device` names no bound GPU (or no GPU is bound); or, to the device, every GPU the
 *           request could use began to go away or paused lending during it: the counters say
 *           what had moved, and the pages not reached count as skipped_no_space;
 *   EBADF   `pidfd` is neither PS_PIDFD_SELF nor a pidfd;
 *   ESRCH   the process is gone (or has no address space);
 *   EPERM   the caller may not move that process's memory: that takes ptrace-style access (the
 *           same real user and group as the target and a dumpable target, or CAP_SYS_PTRACE);
 *   ENOSPC  to the device: pages could move but the VRAM pool had no free page for any of them
 *           (the counters are still written back);
 *   EINTR   a fatal signal arrived; the counters say what had moved;
 *   ENOMEM  the kernel could not allocate memory for the request's bookkeeping; counters
 *           written back say what had moved, otherwise nothing had.
 * Validation happens before anything moves: a call that fails with EINVAL, EFAULT (unmapped),
 * EACCES, EBADF, ESRCH or EPERM, or with ENODEV and all counters zero, has moved nothing.
 */
struct ps_migrate {
	__u64 addr;		/* in: start of the range */
	__u64 length;		/* in: bytes */
	__s32 pidfd;		/* in: PS_PIDFD_SELF or a pidfd of the target process */
	__u32 device;		/* in: GPU index (sysfs .../pseudoscopic/index) or PS_DEVICE_ANY */
	__u32 flags;		/* in: none defined, must be 0 */
	__u32 reserved;		/* in: must be 0 */
	__u64 moved;		/* out: pages moved */
	__u64 skipped_resident;	/* out: already where asked (to RAM: not in VRAM of `device`) */
	__u64 skipped_empty;	/* out: nothing to move: never touched, zero page, swapped out */
	__u64 skipped_unmovable;/* out: shared or file-backed page, or a mapping that cannot migrate */
	__u64 skipped_busy;	/* out: pinned, locked or raced with another migration; retry */
	__u64 skipped_no_space;	/* out: to the device: VRAM pool full; to RAM: out of memory */
};

/*
 * PS_IOC_RESIDENCY: how many pages of [addr, addr + length) are in VRAM now.
 * Same input rules and errors as the migrations (ENOSPC and EINTR aside); never moves anything.
 */
struct ps_residency {
	__u64 addr;		/* in */
	__u64 length;		/* in */
	__s32 pidfd;		/* in: PS_PIDFD_SELF or a pidfd */
	__u32 device;		/* in: GPU index or PS_DEVICE_ANY (count pages in any GPU) */
	__u32 flags;		/* in: must be 0 */
	__u32 reserved;		/* in: must be 0 */
	__u64 pages;		/* out: pages in the range */
	__u64 resident;		/* out: of those, pages in VRAM of `device` */
};

#define PS_IOC_MIGRATE_TO_DEVICE _IOWR(PS_IOC_MAGIC, 1, struct ps_migrate)
#define PS_IOC_MIGRATE_TO_RAM	 _IOWR(PS_IOC_MAGIC, 2, struct ps_migrate)
#define PS_IOC_RESIDENCY	 _IOWR(PS_IOC_MAGIC, 3, struct ps_residency)

#endif /* _UAPI_LINUX_PSEUDOSCOPIC_H */
