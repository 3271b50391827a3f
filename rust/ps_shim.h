/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of pseudoscopic, one section per file of rust/: what Rust calls (declared again in
 * src/shim.rs, which tests/host/shim.sh checks against this header) and what C calls in Rust
 * (ps_rust_*(), defined with #[no_mangle] in src/).
 */
#ifndef PS_SHIM_H
#define PS_SHIM_H

#include <linux/types.h>

#include "ps_items.h"

struct dev_pagemap;
struct dev_pagemap_ops;
struct device;
struct folio;
struct kobject;
struct mm_struct;
struct page;
struct pci_dev;
struct resource;
struct vm_area_struct;

/* rust/ps_params.c: the module parameters (validated by src/params.rs). */
int ps_param_bar_index(void);
unsigned int ps_param_pool_size_mb(void);
unsigned int ps_param_migration_threshold(void);
bool ps_param_enable_dma(void);
bool ps_param_scrub(void);
unsigned int ps_param_early_refault_secs(void);
const char *ps_param_cpu_copy(void);
/* Read by rust/ps_residency.c only. */
unsigned int ps_param_test_residency_delay_ms(void);

/* rust/ps_page.c: pages and folios. */
unsigned long ps_page_to_pfn(struct page *page);
struct page *ps_pfn_to_page(unsigned long pfn);
unsigned long ps_folio_pfn(struct folio *folio);
struct dev_pagemap *ps_folio_pgmap(struct folio *folio);
struct dev_pagemap *ps_device_private_pgmap(struct page *page);
bool ps_page_is_anon(struct page *page);
bool ps_device_folio_holds_data(struct page *page);
void ps_device_folio_init(struct page *page, struct dev_pagemap *pgmap, unsigned int order);
void *ps_page_address(struct page *page);
struct page *ps_alloc_user_page(struct vm_area_struct *vma, unsigned long addr);
struct page *ps_alloc_user_huge_page(struct vm_area_struct *vma, unsigned long addr);
struct page *ps_alloc_user_huge_page_reclaim(struct vm_area_struct *vma, unsigned long addr);
struct page *ps_alloc_user_page_nofail(void);
struct page *ps_alloc_huge_page_retry(void);
void ps_lock_page(struct page *page);
void ps_unlock_and_put_page(struct page *page);
unsigned int ps_folio_order(struct folio *folio);

/* rust/ps_pagemap.c: a GPU's device-private pagemap. */
int ps_pagemap_create(struct dev_pagemap *pgmap, const struct dev_pagemap_ops *ops, void *owner,
		      u64 size, const char *name, struct resource **res_out);
void ps_pagemap_remove(struct dev_pagemap *pgmap, struct resource *res);
unsigned long ps_pagemap_first_pfn(const struct dev_pagemap *pgmap);
void ps_folio_split_copy(struct folio *head, struct folio *tail);

/* rust/ps_copy.c: what copies between RAM and VRAM need. */
int ps_dma_map(struct pci_dev *pdev, void *cpu, size_t len, bool to_device, dma_addr_t *out);
void ps_dma_unmap(struct pci_dev *pdev, dma_addr_t addr, size_t len, bool to_device);
void ps_cond_resched(void);
void ps_wmb(void);
bool ps_cpu_has_sse41(void);
bool ps_cpu_has_avx2(void);

/* rust/ps_migrate.c: migrate_vma and migrate_device; migrate.h's constants, checked there. */
#define PS_MIGRATE_PFN_VALID (1UL << 0)
#define PS_MIGRATE_PFN_MIGRATE (1UL << 1)
#define PS_MIGRATE_PFN_WRITE (1UL << 3)
#define PS_MIGRATE_PFN_COMPOUND (1UL << 4)
#define PS_MIGRATE_PFN_SHIFT 6
#define PS_SELECT_SYSTEM (1UL << 0)
#define PS_SELECT_DEVICE_PRIVATE (1UL << 1)
#define PS_SELECT_COMPOUND (1UL << 3)

/* struct migrate_vma, field for field (checked in ps_migrate.c); Rust mirrors this one. */
struct ps_migrate_vma {
	struct vm_area_struct *vma;
	unsigned long *dst;
	unsigned long *src;
	unsigned long cpages;
	unsigned long npages;
	unsigned long start;
	unsigned long end;
	void *pgmap_owner;
	unsigned long flags;
	struct page *fault_page;
};

int ps_migrate_vma_setup(struct ps_migrate_vma *args);
void ps_migrate_vma_pages(struct ps_migrate_vma *args);
void ps_migrate_vma_finalize(struct ps_migrate_vma *args);
int ps_migrate_device_range(unsigned long *src, unsigned long start_pfn, unsigned long npages);
void ps_migrate_device_pages(unsigned long *src, unsigned long *dst, unsigned long npages);
void ps_migrate_device_finalize(unsigned long *src, unsigned long *dst, unsigned long npages);

/* rust/ps_residency.c: the RESIDENCY snapshot. */
int ps_snapshot_device_pages(struct mm_struct *mm, unsigned long start, unsigned long end,
			     void *owner, unsigned long *pfns, struct dev_pagemap **pgmaps);

/* rust/ps_request.c: the process a request acts on. */
#define PS_PIDFD_SELF (-1)
int ps_target_mm(int pidfd, struct mm_struct **mm_out);
unsigned long ps_mm_task_size(struct mm_struct *mm);
bool ps_fatal_signal_pending(void);
bool ps_refusal_ratelimit(void);

/* rust/ps_sysfs.c: the sysfs files (Rust side: src/sysfs.rs). */
int ps_sysfs_module_create(void);
void ps_sysfs_module_remove(void);
struct kobject *ps_sysfs_gpu_create(struct device *dev, const void *gpu);
void ps_sysfs_gpu_remove(struct kobject *kobj);
/*
 * Implemented in Rust (src/sysfs.rs, as the two below): the value of `item` (enum ps_item of
 * ps_items.h) for `gpu`, or summed over all GPUs when NULL.
 */
u64 ps_rust_stat(const void *gpu, unsigned int item);
/* A GPU's copy engine, as ps_rust_gpu_copy_engine() reports it. */
enum ps_ce_state { PS_CE_NONE, PS_CE_RUNNING, PS_CE_FAILED };
struct ps_copy_engine {
	bool lce;
	unsigned int instance;
	unsigned int runlist;
	unsigned int class_id;
};
/* Implemented in Rust: the state of `gpu`'s copy engine, and which one it is unless none. */
int ps_rust_gpu_copy_engine(const void *gpu, struct ps_copy_engine *out);
/* Implemented in Rust: the name of the CPU copy routine in use. */
const char *ps_rust_copy_path(void);

/* rust/ps_psi.c: PSI accounting of fault-back copies. */
void ps_memstall_enter(unsigned long *flags);
void ps_memstall_leave(unsigned long *flags);

/* rust/ps_mms.c: where a huge device folio is mapped, for eviction. */
struct mm_struct *ps_next_process_mm(int *nr);
bool ps_vma_anon_pgoff(struct vm_area_struct *vma, unsigned long *pgoff);
unsigned long ps_folio_index(struct page *page);

/* rust/ps_rebar.c: BAR1 resized to cover VRAM (PCIe Resizable BAR). */
int ps_pci_rebar_cover(struct pci_dev *pdev, int bar, u64 bytes, u64 *len);

/* rust/ps_pm.c: suspend, hibernation, resets and PCI errors (Rust side: src/power.rs). */
enum ps_pm_event { PS_EVENT_FUNCTION_RESET, PS_EVENT_PCI_ERROR };
int ps_pm_register(void);
void ps_pm_unregister(void);
void ps_pm_set_error_handlers(struct pci_dev *pdev);
void ps_pm_unbind_later(struct pci_dev *pdev);
bool ps_pci_device_present(struct pci_dev *pdev);
bool ps_pci_channel_offline(struct pci_dev *pdev);
unsigned long ps_ram_available_pages(void);
/* Implemented in Rust: 0 or a negative errno refusing the suspend or hibernation. */
int ps_rust_pm_prepare(bool hibernation);
void ps_rust_pm_resume(bool hibernation);
void ps_rust_gpu_quiesce(struct pci_dev *pdev, unsigned int why);
bool ps_rust_gpu_restart(struct pci_dev *pdev, unsigned int why);
void ps_rust_gpu_lost(struct pci_dev *pdev);

#endif /* PS_SHIM_H */
