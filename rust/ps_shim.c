// SPDX-License-Identifier: GPL-2.0
/*
 * C side of pseudoscopic: kernel APIs the Rust `kernel` crate does not wrap in 7.3.
 *
 * Each function here is a thin, behaviour-free forwarder (static inlines and macros have no symbol
 * Rust could call) or a declaration Rust cannot make itself (module parameters visible in sysfs).
 * The Rust side declares every function in src/shim.rs; keep the two in step.
 */

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>

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
		 "Smallest batch, in pages, handed to the GPU copy engine; smaller batches are copied by the CPU, 1-512 (default 16)");

static bool enable_dma = true;
module_param(enable_dma, bool, 0444);
MODULE_PARM_DESC(enable_dma, "Use the GPU copy engine for migration where the board has one (default Y)");

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

/* pci_resource_flags() is a macro. */
unsigned long ps_pci_resource_flags(struct pci_dev *pdev, int bar)
{
	return pci_resource_flags(pdev, bar);
}
