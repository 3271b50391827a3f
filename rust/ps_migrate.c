// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: migrate_vma_*() and migrate_device_*() for the typestate in src/mm.rs.
 *
 * C because <linux/migrate.h> is not among the headers the kernel crate's bindings cover: its
 * constants are mirrored in ps_shim.h and struct migrate_vma by struct ps_migrate_vma, both checked
 * here at compile time against the real ones, and each function forwards one call.
 */

#include <linux/mm.h>
#include <linux/migrate.h>

#include "ps_shim.h"

static_assert(MIGRATE_PFN_VALID == PS_MIGRATE_PFN_VALID);
static_assert(MIGRATE_PFN_MIGRATE == PS_MIGRATE_PFN_MIGRATE);
static_assert(MIGRATE_PFN_WRITE == PS_MIGRATE_PFN_WRITE);
static_assert(MIGRATE_PFN_SHIFT == PS_MIGRATE_PFN_SHIFT);
static_assert(MIGRATE_VMA_SELECT_SYSTEM == PS_SELECT_SYSTEM);
static_assert(MIGRATE_PFN_COMPOUND == PS_MIGRATE_PFN_COMPOUND);
static_assert(MIGRATE_VMA_SELECT_COMPOUND == PS_SELECT_COMPOUND);
static_assert(HPAGE_PMD_NR == 512);
static_assert(MIGRATE_VMA_SELECT_DEVICE_PRIVATE == PS_SELECT_DEVICE_PRIVATE);

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
