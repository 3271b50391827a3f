// SPDX-License-Identifier: GPL-2.0
/*
 * PCIe Resizable BAR: BAR1 grown to cover all of a board's VRAM, so that it keeps physical mode.
 * C because the size encoding (pci_rebar_size_to_bytes) is a static inline, and the resize needs
 * memory decoding off around it and the bus's resources assigned after it, as xe's
 * xe_pci_rebar_resize() does; the `kernel` crate wraps none of it.
 */

#include <linux/pci.h>

#include "ps_shim.h"

/*
 * Resizes BAR `bar` of `pdev` to the smallest size it supports that is at least `bytes` (else the
 * largest it supports, if larger than now). Must run before the BAR is requested or mapped.
 * Returns 0 with *len the BAR's length after (which may be unchanged), -EOPNOTSUPP when the
 * device has no Resizable BAR capability for it, or the PCI core's error (the BAR keeps its size).
 */
int ps_pci_rebar_cover(struct pci_dev *pdev, int bar, u64 bytes, u64 *len)
{
	u64 sizes = pci_rebar_get_possible_sizes(pdev, bar);
	resource_size_t now = pci_resource_len(pdev, bar);
	int size = -1, i, ret;
	u16 cmd;

	*len = now;
	if (!sizes)
		return -EOPNOTSUPP;
	for (i = 0; i < 64; i++) {
		if (!(sizes & BIT_ULL(i)))
			continue;
		size = i;
		if (pci_rebar_size_to_bytes(i) >= bytes)
			break;
	}
	if (size < 0 || pci_rebar_size_to_bytes(size) <= now)
		return 0;

	pci_read_config_word(pdev, PCI_COMMAND, &cmd);
	pci_write_config_word(pdev, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	ret = pci_resize_resource(pdev, bar, size, 0);
	pci_assign_unassigned_bus_resources(pdev->bus);
	pci_write_config_word(pdev, PCI_COMMAND, cmd);
	*len = pci_resource_len(pdev, bar);
	return ret;
}
