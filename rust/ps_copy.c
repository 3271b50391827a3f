// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: what copies between RAM and the write-combined VRAM mapping need from C
 * (src/copy.rs, src/vram.rs, and the copy engine's doorbell in src/nvidia/channel.rs): streaming
 * DMA mappings for the copy engine, the CPU's vector extensions for the SIMD routines, the write
 * barrier that publishes write-combined stores, and a reschedule point between long runs.
 *
 * C because each is a static inline or a macro (dma_map_single(), dma_mapping_error(),
 * boot_cpu_has(), wmb(), cond_resched()), which leave no symbol Rust could call.  The copies
 * themselves (memcpy_toio() and friends) and the kernel FPU section are exported functions that
 * src/copy.rs calls through the kernel crate's bindings.
 */

#include <asm/cpufeature.h>
#include <linux/dma-mapping.h>
#include <linux/pci.h>
#include <linux/sched.h>

#include "ps_shim.h"

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
