// SPDX-License-Identifier: GPL-2.0
/*
 * PSI accounting of fault-back copies: psi_memstall_enter() and psi_memstall_leave() for Rust,
 * whose `kernel` crate has no binding for <linux/psi.h>.  A CPU fault that waits for its page to
 * come back from VRAM is a memory stall like a swap-in, so parking too much shows in
 * /proc/pressure/memory (and the cgroup's memory.pressure) as it would with swap.
 */

/* psi_types.h uses workqueue and timer types without including their headers. */
#include <linux/workqueue.h>
#include <linux/psi.h>

#include "ps_shim.h"

void ps_memstall_enter(unsigned long *flags)
{
	psi_memstall_enter(flags);
}

void ps_memstall_leave(unsigned long *flags)
{
	psi_memstall_leave(flags);
}
