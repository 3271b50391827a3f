// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: a GPU's MEMORY_DEVICE_PRIVATE pagemap, created and removed (src/vram/pagemap.rs).
 *
 * C because creating one fills struct dev_pagemap's anonymous range union and calls
 * request_free_mem_region(), memremap_pages() and release_mem_region() (a macro) in the order
 * the core expects, and the folio_split callback writes struct folio fields that live in unions
 * bindgen cannot name.
 */

#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/pfn.h>
#include <linux/string.h>

#include "ps_shim.h"

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
