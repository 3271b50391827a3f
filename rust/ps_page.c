// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: pages and folios for src/mm.rs and src/vram/pagemap.rs.
 *
 * C because each is a static inline or a macro of <linux/mm.h> and friends (pfn conversions, folio
 * locks and references, the GFP combinations of user-page allocations), which leave no symbol
 * Rust could call; each function forwards to one of them and decides nothing.
 */

#include <linux/highmem.h>
#include <linux/memcontrol.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/pagemap.h>

#include "ps_shim.h"

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
