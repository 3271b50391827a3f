/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's functions, as src/shim.rs declares them to Rust.
 */
#ifndef PS_SHIM_H
#define PS_SHIM_H

#include <linux/types.h>

struct pci_dev;

int ps_param_bar_index(void);
unsigned int ps_param_pool_size_mb(void);
unsigned int ps_param_migration_threshold(void);
bool ps_param_enable_dma(void);

unsigned long ps_pci_resource_flags(struct pci_dev *pdev, int bar);

#endif /* PS_SHIM_H */
