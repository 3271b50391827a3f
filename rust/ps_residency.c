// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: the RESIDENCY ioctl's read-only snapshot of a range's page tables
 * (src/chardev.rs): which device-private page, of which pagemap, each address maps.
 *
 * C because it is the retry loop of Documentation/mm/hmm.rst around hmm_range_fault() (without
 * faulting), with an mmu_interval_notifier whose callback takes the update lock, and the kernel
 * crate binds neither HMM nor interval notifiers.
 */

#include <linux/delay.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>

#include "ps_shim.h"

/*
 * A RESIDENCY snapshot's interval notifier and its update lock (Documentation/mm/hmm.rst): the
 * invalidate callback takes the lock, and the snapshot is read under it once
 * mmu_interval_read_retry() passed, so no page it names can be unmapped, freed or have its
 * pagemap unregistered (another GPU's unbind) while it is looked at.
 */
struct ps_snapshot {
	struct mmu_interval_notifier notifier;
	struct mutex lock;
};

static bool ps_snapshot_invalidate(struct mmu_interval_notifier *mni,
				   const struct mmu_notifier_range *range, unsigned long cur_seq)
{
	struct ps_snapshot *snap = container_of(mni, struct ps_snapshot, notifier);

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&snap->lock);
	else if (!mutex_trylock(&snap->lock))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	mutex_unlock(&snap->lock);
	return true;
}

static const struct mmu_interval_notifier_ops ps_snapshot_ops = {
	.invalidate = ps_snapshot_invalidate,
};

/*
 * For each page of [start, end) of `mm`, stores in `pgmaps` the pagemap of the device-private
 * page owned by `owner` mapped there, or NULL.  Takes the mmap lock itself; `pfns` is scratch
 * space for (end - start) >> PAGE_SHIFT entries.
 */
int ps_snapshot_device_pages(struct mm_struct *mm, unsigned long start, unsigned long end,
			     void *owner, unsigned long *pfns, struct dev_pagemap **pgmaps)
{
	struct ps_snapshot snap;
	struct hmm_range range = {
		.notifier = &snap.notifier,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.dev_private_owner = owner,
	};
	unsigned long i, n = (end - start) >> PAGE_SHIFT;
	unsigned int delay_ms;
	int ret;

	mutex_init(&snap.lock);
	ret = mmu_interval_notifier_insert(&snap.notifier, mm, start, end - start, &ps_snapshot_ops);
	if (ret)
		goto out_lock;
	for (;;) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out;
		}
		range.notifier_seq = mmu_interval_read_begin(&snap.notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			goto out;
		mutex_lock(&snap.lock);
		if (!mmu_interval_read_retry(&snap.notifier, range.notifier_seq))
			break;
		mutex_unlock(&snap.lock);
	}

	/* Under the update lock: the pages below stay mapped, so their pagemaps stay registered. */
	delay_ms = ps_param_test_residency_delay_ms();
	if (delay_ms)
		msleep(delay_ms);
	for (i = 0; i < n; i++) {
		struct page *page;

		pgmaps[i] = NULL;
		if (!(pfns[i] & HMM_PFN_VALID))
			continue;
		page = hmm_pfn_to_page(pfns[i]);
		if (is_device_private_page(page) && page_pgmap(page)->owner == owner)
			pgmaps[i] = page_pgmap(page);
	}
	mutex_unlock(&snap.lock);
out:
	mmu_interval_notifier_remove(&snap.notifier);
out_lock:
	mutex_destroy(&snap.lock);
	return ret;
}
