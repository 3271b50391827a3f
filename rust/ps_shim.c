// SPDX-License-Identifier: GPL-2.0
/*
 * C side of pseudoscopic: kernel APIs the Rust `kernel` crate does not wrap in 7.3.
 *
 * Each function here is a thin, behaviour-free forwarder (static inlines and macros have no symbol
 * Rust could call) or a declaration Rust cannot make itself (module parameters visible in sysfs).
 * The Rust side declares every function in src/shim.rs; keep the two in step.
 */

#include <asm/cpufeature.h>
#include <asm/fpu/api.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/magic.h>
#include <linux/memcontrol.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/pid.h>
#include <linux/ratelimit.h>
#include <linux/sched/exec_state.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sysfs.h>

#include "ps_shim.h"

/*
 * Module parameters.  The Rust `module!` macro registers parameters with permission 0, which hides
 * them from /sys/module/pseudoscopic/parameters/; users read them there, so they are declared here.
 * Rust validates them at module load (src/params.rs).
 */
static int bar_index = -1;
module_param(bar_index, int, 0444);
MODULE_PARM_DESC(bar_index,
		 "PCI BAR that exposes VRAM, 0-5; -1 (default) picks the largest 64-bit prefetchable memory BAR");

static unsigned int pool_size_mb;
module_param(pool_size_mb, uint, 0444);
MODULE_PARM_DESC(pool_size_mb,
		 "VRAM each GPU lends as device-private memory, in MiB; 0 (default) lends all usable VRAM");

static unsigned int migration_threshold = 16;
module_param(migration_threshold, uint, 0444);
MODULE_PARM_DESC(migration_threshold,
		 "Smallest batch, in pages, to hand to the GPU copy engine, 1-512 (default 16); smaller batches are copied by the CPU");

static bool enable_dma = true;
module_param(enable_dma, bool, 0444);
MODULE_PARM_DESC(enable_dma,
		 "Use the GPU copy engine for migration where the board has one (default Y); N: the CPU copies everything");

static bool scrub = true;
module_param(scrub, bool, 0444);
MODULE_PARM_DESC(scrub,
		 "Zero the VRAM that held data when a GPU is released (unbind, rmmod), by the copy engine where it runs (default Y)");

static char *cpu_copy = "auto";
module_param(cpu_copy, charp, 0444);
MODULE_PARM_DESC(cpu_copy,
		 "CPU copy routine between RAM and VRAM: auto (default: the fastest this CPU has), avx2, sse4.1 or io (memcpy_toio/fromio)");

static unsigned int early_refault_secs = 60;
module_param(early_refault_secs, uint, 0444);
MODULE_PARM_DESC(early_refault_secs,
		 "A CPU fault that brings a page back within this many seconds of the last park into its 2 MiB VRAM chunk counts in early_refaults, 1-3600 (default 60)");

/* For tests only: widens the window in which a RESIDENCY snapshot is used (see below). */
static unsigned int test_residency_delay_ms;
module_param(test_residency_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_residency_delay_ms,
		 "For tests: sleep this long between a RESIDENCY snapshot and its use (default 0)");

const char *ps_param_cpu_copy(void)
{
	return cpu_copy;
}

int ps_param_bar_index(void)
{
	return bar_index;
}

unsigned int ps_param_pool_size_mb(void)
{
	return pool_size_mb;
}

unsigned int ps_param_migration_threshold(void)
{
	return migration_threshold;
}

bool ps_param_enable_dma(void)
{
	return enable_dma;
}

bool ps_param_scrub(void)
{
	return scrub;
}

unsigned int ps_param_early_refault_secs(void)
{
	return early_refault_secs;
}

/* pci_resource_flags() is a macro. */
unsigned long ps_pci_resource_flags(struct pci_dev *pdev, int bar)
{
	return pci_resource_flags(pdev, bar);
}

/* ---- Pages (static inlines and macros) ---- */

unsigned long ps_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

struct page *ps_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

unsigned long ps_folio_pfn(struct folio *folio)
{
	return folio_pfn(folio);
}

struct dev_pagemap *ps_folio_pgmap(struct folio *folio)
{
	return page_pgmap(&folio->page);
}

/* The pagemap of a device-private page, or NULL for any other page. */
struct dev_pagemap *ps_device_private_pgmap(struct page *page)
{
	return is_device_private_page(page) ? page_pgmap(page) : NULL;
}

bool ps_page_is_anon(struct page *page)
{
	return folio_test_anon(page_folio(page));
}

/*
 * Whether a device folio that eviction collected (locked) still holds a process's data.  Such a
 * folio carries the memory cgroup charge that migration moved over from RAM; one without it has
 * already moved back (a fault finished with it but has not dropped its last reference) or never
 * received data (a failed move to VRAM releasing it).  Moving it again would break
 * mem_cgroup_migrate()'s rule that the old folio is charged, and count its pages twice.  Without
 * memory cgroups nothing tells the two apart, and moving a dead folio again is harmless.
 */
bool ps_device_folio_holds_data(struct page *page)
{
	return mem_cgroup_disabled() || folio_memcg_charged(page_folio(page));
}

/*
 * Free device pages become one allocated folio: refcount 1, a pgmap ref per page, locked.  `page`
 * itself becomes the head: a page that was a tail of an earlier huge folio still points at that
 * folio's head, so page_folio() would name the wrong page (zone_device_page_init clears it).
 */
void ps_device_folio_init(struct page *page, struct dev_pagemap *pgmap, unsigned int order)
{
	zone_device_folio_init((struct folio *)page, pgmap, order);
}

/* The direct-map address of a RAM page (x86-64 has no highmem). */
void *ps_page_address(struct page *page)
{
	return page_address(page);
}

/*
 * A 2 MiB folio for the aligned `addr` of `vma`, or NULL when none is free without reclaim or
 * compaction (the caller falls back to single pages).  May sleep.
 */
struct page *ps_alloc_user_huge_page(struct vm_area_struct *vma, unsigned long addr)
{
	struct folio *folio = vma_alloc_folio(GFP_TRANSHUGE_LIGHT, HPAGE_PMD_ORDER, vma, addr);

	return folio ? &folio->page : NULL;
}

/*
 * A 2 MiB folio for the aligned `addr` of `vma`, reclaiming and compacting for it (a fault on a
 * parked huge page, which can only come back whole); NULL on failure.
 */
struct page *ps_alloc_user_huge_page_reclaim(struct vm_area_struct *vma, unsigned long addr)
{
	struct folio *folio = vma_alloc_folio(GFP_TRANSHUGE | __GFP_RETRY_MAYFAIL, HPAGE_PMD_ORDER,
					      vma, addr);

	return folio ? &folio->page : NULL;
}

/* A 2 MiB folio with no VMA (eviction), reclaiming and compacting for it; NULL on failure. */
struct page *ps_alloc_huge_page_retry(void)
{
	struct folio *folio = folio_alloc(GFP_TRANSHUGE | __GFP_RETRY_MAYFAIL, HPAGE_PMD_ORDER);

	return folio ? &folio->page : NULL;
}

/* A page of RAM for `addr` of `vma`, or NULL; may sleep. */
struct page *ps_alloc_user_page(struct vm_area_struct *vma, unsigned long addr)
{
	return alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr);
}

/* A page of RAM when there is no VMA to place it (eviction); never fails. */
struct page *ps_alloc_user_page_nofail(void)
{
	return alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
}

void ps_lock_page(struct page *page)
{
	folio_lock(page_folio(page));
}

void ps_unlock_and_put_page(struct page *page)
{
	struct folio *folio = page_folio(page);

	folio_unlock(folio);
	folio_put(folio);
}

unsigned int ps_folio_order(struct folio *folio)
{
	return folio_order(folio);
}

/*
 * The core split a huge device folio (a partial munmap or mremap, or a move that needed single
 * pages): each new folio keeps the pagemap and mapping, as the core does without this callback.
 * No per-page data lives in zone_device_data, so nothing else moves.  Called once per new folio,
 * then once with `tail` NULL.
 */
void ps_folio_split_copy(struct folio *head, struct folio *tail)
{
	tail->pgmap = head->pgmap;
	tail->page.mapping = head->page.mapping;
}

/* ---- Copies between RAM and the write-combined VRAM mapping (src/copy.rs) ---- */

/* A streaming mapping of `len` bytes of the kernel's linear map for the device's copy engine. */
int ps_dma_map(struct pci_dev *pdev, void *cpu, size_t len, bool to_device, dma_addr_t *out)
{
	dma_addr_t addr =
		dma_map_single(&pdev->dev, cpu, len, to_device ? DMA_TO_DEVICE : DMA_FROM_DEVICE);

	if (dma_mapping_error(&pdev->dev, addr))
		return -ENOMEM;
	*out = addr;
	return 0;
}

void ps_dma_unmap(struct pci_dev *pdev, dma_addr_t addr, size_t len, bool to_device)
{
	dma_unmap_single(&pdev->dev, addr, len, to_device ? DMA_TO_DEVICE : DMA_FROM_DEVICE);
}

void ps_cond_resched(void)
{
	cond_resched();
}

void ps_memset_io(void __iomem *dst, int value, size_t len)
{
	memset_io(dst, value, len);
}

void ps_memcpy_toio(void __iomem *dst, const void *src, size_t len)
{
	memcpy_toio(dst, src, len);
}

void ps_memcpy_fromio(void *dst, const void __iomem *src, size_t len)
{
	memcpy_fromio(dst, src, len);
}

/*
 * Write-combined stores may linger in this CPU's WC buffers; this makes them globally visible
 * before a page is published, as another CPU may fault it back at once.
 */
void ps_wmb(void)
{
	wmb();
}

bool ps_cpu_has_sse41(void)
{
	return boot_cpu_has(X86_FEATURE_XMM4_1);
}

bool ps_cpu_has_avx2(void)
{
	return boot_cpu_has(X86_FEATURE_AVX) && boot_cpu_has(X86_FEATURE_AVX2);
}

/*
 * Saves the user's vector registers so the kernel may use them; false where that is not allowed.
 * The copy loops need neither the x87 control word nor MXCSR, so neither is reset.
 */
bool ps_fpu_begin(void)
{
	if (!irq_fpu_usable())
		return false;
	kernel_fpu_begin_mask(0);
	return true;
}

void ps_fpu_end(void)
{
	kernel_fpu_end();
}

/* ---- Device-private pagemap ---- */

static_assert(MIGRATE_PFN_VALID == PS_MIGRATE_PFN_VALID);
static_assert(MIGRATE_PFN_MIGRATE == PS_MIGRATE_PFN_MIGRATE);
static_assert(MIGRATE_PFN_WRITE == PS_MIGRATE_PFN_WRITE);
static_assert(MIGRATE_PFN_SHIFT == PS_MIGRATE_PFN_SHIFT);
static_assert(MIGRATE_VMA_SELECT_SYSTEM == PS_SELECT_SYSTEM);
static_assert(MIGRATE_PFN_COMPOUND == PS_MIGRATE_PFN_COMPOUND);
static_assert(MIGRATE_VMA_SELECT_COMPOUND == PS_SELECT_COMPOUND);
static_assert(HPAGE_PMD_NR == 512);
static_assert(MIGRATE_VMA_SELECT_DEVICE_PRIVATE == PS_SELECT_DEVICE_PRIVATE);

/*
 * Claims a free physical range of `size` bytes (never the BAR's own addresses: device-private
 * pages must not alias anything the CPU can reach) and creates struct pages for it.  `pgmap`
 * must stay at this address until ps_pagemap_remove().  The range is rounded up to whole memory
 * sections so that two pagemaps never share one.
 */
int ps_pagemap_create(struct dev_pagemap *pgmap, const struct dev_pagemap_ops *ops, void *owner,
		      u64 size, const char *name, struct resource **res_out)
{
	struct resource *res;
	void *addr;

	size = ALIGN(size, 1UL << SECTION_SIZE_BITS);
	res = request_free_mem_region(&iomem_resource, size, name);
	if (IS_ERR(res))
		return PTR_ERR(res);

	memset(pgmap, 0, sizeof(*pgmap));
	pgmap->type = MEMORY_DEVICE_PRIVATE;
	pgmap->range.start = res->start;
	pgmap->range.end = res->end;
	pgmap->nr_range = 1;
	pgmap->ops = ops;
	pgmap->owner = owner;

	addr = memremap_pages(pgmap, numa_node_id());
	if (IS_ERR(addr)) {
		release_mem_region(res->start, resource_size(res));
		return PTR_ERR(addr);
	}
	*res_out = res;
	return 0;
}

/* Waits until every page of the pagemap is free, then releases it and its range. */
void ps_pagemap_remove(struct dev_pagemap *pgmap, struct resource *res)
{
	memunmap_pages(pgmap);
	release_mem_region(res->start, resource_size(res));
}

unsigned long ps_pagemap_first_pfn(const struct dev_pagemap *pgmap)
{
	return PHYS_PFN(pgmap->range.start);
}

/* ---- struct vm_fault accessors ---- */

struct vm_area_struct *ps_vmf_vma(const struct vm_fault *vmf)
{
	return vmf->vma;
}

unsigned long ps_vmf_address(const struct vm_fault *vmf)
{
	return vmf->address;
}

struct page *ps_vmf_page(const struct vm_fault *vmf)
{
	return vmf->page;
}

/* A device-private PMD fault leaves no PTE (do_huge_pmd_device_private). */
bool ps_vmf_on_pmd(const struct vm_fault *vmf)
{
	return !vmf->pte;
}

/* ---- migrate_vma and migrate_device ---- */

#define PS_CHECK_FIELD(f) \
	static_assert(offsetof(struct ps_migrate_vma, f) == offsetof(struct migrate_vma, f))
PS_CHECK_FIELD(vma);
PS_CHECK_FIELD(dst);
PS_CHECK_FIELD(src);
PS_CHECK_FIELD(cpages);
PS_CHECK_FIELD(npages);
PS_CHECK_FIELD(start);
PS_CHECK_FIELD(end);
PS_CHECK_FIELD(pgmap_owner);
PS_CHECK_FIELD(flags);
PS_CHECK_FIELD(fault_page);
static_assert(sizeof(struct ps_migrate_vma) == sizeof(struct migrate_vma));

int ps_migrate_vma_setup(struct ps_migrate_vma *args)
{
	return migrate_vma_setup((struct migrate_vma *)args);
}

void ps_migrate_vma_pages(struct ps_migrate_vma *args)
{
	migrate_vma_pages((struct migrate_vma *)args);
}

void ps_migrate_vma_finalize(struct ps_migrate_vma *args)
{
	migrate_vma_finalize((struct migrate_vma *)args);
}

int ps_migrate_device_range(unsigned long *src, unsigned long start_pfn, unsigned long npages)
{
	return migrate_device_range(src, start_pfn, npages);
}

void ps_migrate_device_pages(unsigned long *src, unsigned long *dst, unsigned long npages)
{
	migrate_device_pages(src, dst, npages);
}

void ps_migrate_device_finalize(unsigned long *src, unsigned long *dst, unsigned long npages)
{
	migrate_device_finalize(src, dst, npages);
}

/* ---- Residency: a read-only page-table snapshot (hmm_range_fault without faulting) ---- */

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
	if (test_residency_delay_ms)
		msleep(test_residency_delay_ms);
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

/* ---- Target process: a pidfd (or the caller) to an mm, with the access check ---- */

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

/* ---- sysfs: statistics and pool sizes, read by Rust through ps_rust_stat() ---- */

struct ps_item_attr {
	struct kobj_attribute attr;
	unsigned int item;
};

struct ps_module_item_attr {
	struct module_attribute attr;
	unsigned int item;
};

static ssize_t ps_item_show(const void *gpu, unsigned int item, char *buf)
{
	return sysfs_emit(buf, "%llu\n", ps_rust_stat(gpu, item));
}

/* Module-wide files live on the module's kobject, whose sysfs_ops expect module_attribute. */
static ssize_t ps_module_item_show(const struct module_attribute *attr, struct module_kobject *mk,
				   char *buf)
{
	return ps_item_show(NULL, container_of(attr, struct ps_module_item_attr, attr)->item, buf);
}

#define PS_MODULE_ITEM(_name, _item)                                                \
	static struct ps_module_item_attr ps_module_attr_##_name = {               \
		.attr = __ATTR(_name, 0444, ps_module_item_show, NULL), .item = _item \
	}

/* One file per entry of the lists in rust/ps_items.h, X(name, doc). */
#define PS_DEFINE_MODULE_ITEM(name, doc) PS_MODULE_ITEM(name, PS_ITEM_##name);
PS_STAT_ITEMS(PS_DEFINE_MODULE_ITEM)
PS_POOL_ITEMS(PS_DEFINE_MODULE_ITEM)

static ssize_t ps_copy_path_show(const struct module_attribute *attr, struct module_kobject *mk,
				 char *buf)
{
	return sysfs_emit(buf, "%s\n", ps_rust_copy_path());
}

static struct module_attribute ps_module_attr_copy_path = __ATTR(copy_path, 0444, ps_copy_path_show, NULL);

#define PS_MODULE_ATTR_PTR(name, doc) &ps_module_attr_##name.attr.attr,
static struct attribute *ps_module_stat_attrs[] = {
	PS_STAT_ITEMS(PS_MODULE_ATTR_PTR) &ps_module_attr_copy_path.attr, NULL
};
static struct attribute *ps_module_pool_attrs[] = { PS_POOL_ITEMS(PS_MODULE_ATTR_PTR) NULL };

static const struct attribute_group ps_module_stat_group = {
	.name = "stats",
	.attrs = ps_module_stat_attrs,
};

static const struct attribute_group ps_module_pool_group = {
	.name = "pool",
	.attrs = ps_module_pool_attrs,
};

static const struct attribute_group *ps_module_groups[] = {
	&ps_module_stat_group,
	&ps_module_pool_group,
	NULL,
};

/* /sys/module/pseudoscopic/{stats,pool}/ */
int ps_sysfs_module_create(void)
{
	return sysfs_create_groups(&THIS_MODULE->mkobj.kobj, ps_module_groups);
}

void ps_sysfs_module_remove(void)
{
	sysfs_remove_groups(&THIS_MODULE->mkobj.kobj, ps_module_groups);
}

/* Per GPU: <pci device>/pseudoscopic/{index,stats/,pool/}, on a kobject that knows its GPU. */
struct ps_gpu_kobj {
	struct kobject kobj;
	const void *gpu;
};

static ssize_t ps_gpu_item_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return ps_item_show(container_of(kobj, struct ps_gpu_kobj, kobj)->gpu,
			    container_of(attr, struct ps_item_attr, attr)->item, buf);
}

#define PS_DEFINE_GPU_ITEM(_name, _doc)                                                 \
	static struct ps_item_attr ps_gpu_attr_##_name = {                              \
		.attr = __ATTR(_name, 0444, ps_gpu_item_show, NULL), .item = PS_ITEM_##_name \
	};
PS_STAT_ITEMS(PS_DEFINE_GPU_ITEM)
PS_POOL_ITEMS(PS_DEFINE_GPU_ITEM)
PS_GPU_ITEMS(PS_DEFINE_GPU_ITEM)

/* <gpu>/copy_engine: "running LCE1 runlist 1 class 0xc3b5", "failed LCE1 runlist 1" or "none". */
static ssize_t ps_gpu_copy_engine_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct ps_copy_engine ce;
	const char *kind;

	switch (ps_rust_gpu_copy_engine(container_of(kobj, struct ps_gpu_kobj, kobj)->gpu, &ce)) {
	case PS_CE_RUNNING:
		kind = "running";
		break;
	case PS_CE_FAILED:
		kind = "failed";
		break;
	default:
		return sysfs_emit(buf, "none\n");
	}
	return sysfs_emit(buf, "%s %s%u runlist %u class %#x\n", kind, ce.lce ? "LCE" : "CE", ce.instance,
			  ce.runlist, ce.class_id);
}

static struct kobj_attribute ps_gpu_attr_copy_engine = __ATTR(copy_engine, 0444, ps_gpu_copy_engine_show, NULL);

#define PS_GPU_ATTR_PTR(name, doc) &ps_gpu_attr_##name.attr.attr,
static struct attribute *ps_gpu_stat_attrs[] = { PS_STAT_ITEMS(PS_GPU_ATTR_PTR) NULL };
static struct attribute *ps_gpu_pool_attrs[] = { PS_POOL_ITEMS(PS_GPU_ATTR_PTR) NULL };
static struct attribute *ps_gpu_top_attrs[] = { PS_GPU_ITEMS(PS_GPU_ATTR_PTR) &ps_gpu_attr_copy_engine.attr, NULL };

static const struct attribute_group ps_gpu_stat_group = {
	.name = "stats",
	.attrs = ps_gpu_stat_attrs,
};

static const struct attribute_group ps_gpu_pool_group = {
	.name = "pool",
	.attrs = ps_gpu_pool_attrs,
};

static const struct attribute_group ps_gpu_top_group = {
	.attrs = ps_gpu_top_attrs,
};

static const struct attribute_group *ps_gpu_groups[] = {
	&ps_gpu_top_group,
	&ps_gpu_stat_group,
	&ps_gpu_pool_group,
	NULL,
};

static void ps_gpu_kobj_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct ps_gpu_kobj, kobj));
}

static const struct kobj_type ps_gpu_ktype = {
	.release = ps_gpu_kobj_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = ps_gpu_groups,
};

/*
 * Creates the GPU's directory under `dev`.  `gpu` is handed back to ps_rust_stat() and must stay
 * valid until ps_sysfs_gpu_remove() returns (which waits for readers).
 */
struct kobject *ps_sysfs_gpu_create(struct device *dev, const void *gpu)
{
	struct ps_gpu_kobj *g = kzalloc(sizeof(*g), GFP_KERNEL);
	int ret;

	if (!g)
		return ERR_PTR(-ENOMEM);
	g->gpu = gpu;
	ret = kobject_init_and_add(&g->kobj, &ps_gpu_ktype, &dev->kobj, "pseudoscopic");
	if (ret) {
		kobject_put(&g->kobj);
		return ERR_PTR(ret);
	}
	return &g->kobj;
}

void ps_sysfs_gpu_remove(struct kobject *kobj)
{
	kobject_del(kobj);
	kobject_put(kobj);
}
