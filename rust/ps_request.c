// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: the process an ioctl request acts on (src/chardev.rs, src/migrate.rs): a pidfd
 * (or the caller) to its mm, with the ptrace-style access check; the top of that mm's user
 * address space; whether the caller was killed meanwhile; and the rate limit of the dmesg line a
 * refused request logs.
 *
 * C because the access check reads credentials and exec state under RCU with the kernel's own
 * barriers and helpers (none of them bound by the kernel crate, and ptrace_may_access() is not
 * exported), a pidfd's pid is reached through pidfs internals, mm->task_size sits in a union
 * bindgen hides, and fatal_signal_pending() and DEFINE_RATELIMIT_STATE() are an inline and a macro.
 */

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/pid.h>
#include <linux/ratelimit.h>
#include <linux/rcupdate.h>
#include <linux/sched/exec_state.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>

#include "ps_shim.h"

/*
 * Whether the caller may move `task`'s memory: __ptrace_may_access() with
 * PTRACE_MODE_READ_REALCREDS, both parts: the same thread group; or (matching real credentials OR
 * CAP_SYS_PTRACE over the target's credentials' user namespace) AND (a dumpable target OR
 * CAP_SYS_PTRACE over the user namespace of its exec state, what the mm's was before 7.3). A
 * capability over a child namespace therefore does not skip the dumpability check. The kernel does
 * not export ptrace_may_access() or its LSM hook to modules, so security modules are not
 * consulted.
 */
static bool ps_may_access(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	const struct task_exec_state *exec_state;
	bool allowed;

	if (same_thread_group(task, current))
		return true;
	rcu_read_lock();
	tcred = __task_cred(task);
	allowed = (uid_eq(cred->uid, tcred->euid) && uid_eq(cred->uid, tcred->suid) &&
		   uid_eq(cred->uid, tcred->uid) && gid_eq(cred->gid, tcred->egid) &&
		   gid_eq(cred->gid, tcred->sgid) && gid_eq(cred->gid, tcred->gid)) ||
		  ns_capable_noaudit(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	if (!allowed)
		return false;
	/* Dumpability is read after the credentials (pairs with commit_creds()), as the kernel does. */
	smp_rmb();
	rcu_read_lock();
	exec_state = rcu_dereference(task->exec_state);
	allowed = READ_ONCE(exec_state->dumpable) == TASK_DUMPABLE_OWNER ||
		  ns_capable_noaudit(exec_state->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	return allowed;
}

/*
 * The mm of the process `pidfd` names (PS_PIDFD_SELF: the caller), with a reference the caller
 * drops with mmput(); or an errno: EBADF (not a pidfd), ESRCH (exited, or a kernel thread),
 * EPERM (no access), EINTR.
 */
int ps_target_mm(int pidfd, struct mm_struct **mm_out)
{
	struct task_struct *task;
	struct mm_struct *mm;
	struct file *file;
	struct pid *pid;
	int ret;

	if (pidfd == PS_PIDFD_SELF) {
		mm = get_task_mm(current);
		if (!mm)
			return -ESRCH;
		*mm_out = mm;
		return 0;
	}
	if (pidfd < 0)
		return -EBADF;
	file = fget(pidfd);
	if (!file)
		return -EBADF;
	/* pidfd_pid() is not exported: a pidfd is a pidfs file whose inode holds the pid. */
	if (file_inode(file)->i_sb->s_magic != PID_FS_MAGIC) {
		fput(file);
		return -EBADF;
	}
	pid = get_pid(file_inode(file)->i_private);
	fput(file);
	task = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	if (!task)
		return -ESRCH;

	/* As mm_access(): no exec may swap credentials and mm between the check and the get. */
	ret = down_read_killable(&task->signal->exec_update_lock);
	if (ret)
		goto out_task;
	mm = get_task_mm(task);
	if (!mm)
		ret = -ESRCH;
	else if (!ps_may_access(task)) {
		mmput(mm);
		ret = -EPERM;
	} else
		*mm_out = mm;
	up_read(&task->signal->exec_update_lock);
out_task:
	put_task_struct(task);
	return ret;
}

/* The top of the user address space of `mm` (an anonymous-union field bindgen hides). */
unsigned long ps_mm_task_size(struct mm_struct *mm)
{
	return mm->task_size;
}

/* Whether a refused request may log its dmesg line (printk's default rate limit). */
bool ps_refusal_ratelimit(void)
{
	static DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);

	return __ratelimit(&rs);
}

bool ps_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}
