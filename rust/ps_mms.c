// SPDX-License-Identifier: GPL-2.0
/*
 * Where a huge device folio is mapped, for eviction when RAM has no 2 MiB free for it
 * (src/migrate.rs, split_through_mappings): only a VMA's migration can split a device folio, and
 * the reverse map that would name that VMA is not available to modules.  So eviction goes through
 * every process's mm, and in each through the VMAs whose linear page offsets (vm_pgoff onwards)
 * hold the folio's index, as the reverse map itself does (vma_address()).
 */

#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>

#include "ps_shim.h"

/*
 * The mm of the first process whose thread-group id is at least *nr, with a user reference (the
 * caller mmput()s it), and *nr moved past that process; NULL once no process is left.  Kernel
 * threads have no mm of their own and are skipped.
 */
struct mm_struct *ps_next_process_mm(int *nr)
{
	struct mm_struct *mm = NULL;
	struct task_struct *task;
	struct pid *pid;

	rcu_read_lock();
	while (!mm) {
		pid = find_ge_pid(*nr, &init_pid_ns);
		if (!pid)
			break;
		*nr = pid_nr(pid) + 1;
		task = pid_task(pid, PIDTYPE_TGID);
		if (task)
			mm = get_task_mm(task);
	}
	rcu_read_unlock();
	return mm;
}

/*
 * The linear page offset of the first page of `vma` (its anonymous folio at page k of the VMA has
 * index vm_pgoff + k), or false when the VMA has no anonymous folios (no anon_vma).  Under the
 * mmap lock.
 */
bool ps_vma_anon_pgoff(struct vm_area_struct *vma, unsigned long *pgoff)
{
	if (!vma->anon_vma)
		return false;
	*pgoff = vma->vm_pgoff;
	return true;
}

/* The linear page index of an anonymous folio (folio->index), locked by the caller. */
unsigned long ps_folio_index(struct page *page)
{
	return page_folio(page)->index;
}
