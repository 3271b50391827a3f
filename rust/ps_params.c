// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: the module parameters, declared and read.
 *
 * C because the Rust `module!` macro registers parameters with permission 0, which hides them from
 * /sys/module/pseudoscopic/parameters/; users read them there.  Rust reads each value through the
 * ps_param_*() functions below and validates it at module load (src/params.rs).
 */

#include <linux/module.h>
#include <linux/moduleparam.h>

#include "ps_shim.h"

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

/*
 * For tests only: widens the window in which a RESIDENCY snapshot is used (rust/ps_residency.c),
 * read there through ps_param_test_residency_delay_ms().
 */
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

unsigned int ps_param_test_residency_delay_ms(void)
{
	return test_residency_delay_ms;
}
