// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: the power-management and PCI reset/error hooks the kernel crate does not offer.
 *
 * A PM notifier (suspend to RAM, hibernation) and the driver's struct pci_error_handlers
 * (function resets, AER/DPC recovery), each forwarding to Rust (src/power.rs), which moves every
 * parked page back to RAM before the board loses its state and lends again once it is back; and
 * the unbind of a board that did not come back, from a work item (the reset hooks run under the
 * device lock).
 */

#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/suspend.h>
#include <linux/workqueue.h>

#include "ps_shim.h"

static int ps_pm_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	switch (action) {
	case PM_SUSPEND_PREPARE:
		return notifier_from_errno(ps_rust_pm_prepare(false));
	case PM_HIBERNATION_PREPARE:
	case PM_RESTORE_PREPARE:
		return notifier_from_errno(ps_rust_pm_prepare(true));
	case PM_POST_SUSPEND:
		ps_rust_pm_resume(false);
		return NOTIFY_OK;
	case PM_POST_HIBERNATION:
	case PM_POST_RESTORE:
		ps_rust_pm_resume(true);
		return NOTIFY_OK;
	}
	return NOTIFY_DONE;
}

static struct notifier_block ps_pm_nb = {
	.notifier_call = ps_pm_notify,
};

/* Unbinds of boards that did not come back; drained before the module goes. */
static struct workqueue_struct *ps_pm_wq;

struct ps_unbind {
	struct work_struct work;
	struct pci_dev *pdev;
};

static void ps_unbind_fn(struct work_struct *work)
{
	struct ps_unbind *u = container_of(work, struct ps_unbind, work);

	device_release_driver(&u->pdev->dev);
	pci_dev_put(u->pdev);
	kfree(u);
}

void ps_pm_unbind_later(struct pci_dev *pdev)
{
	struct ps_unbind *u = kzalloc(sizeof(*u), GFP_KERNEL);

	if (!u) {
		pci_err(pdev, "cannot queue the unbind of a board that did not come back\n");
		return;
	}
	u->pdev = pci_dev_get(pdev);
	INIT_WORK(&u->work, ps_unbind_fn);
	queue_work(ps_pm_wq, &u->work);
}

static pci_ers_result_t ps_error_detected(struct pci_dev *pdev, pci_channel_state_t state)
{
	if (state == pci_channel_io_perm_failure) {
		ps_rust_gpu_lost(pdev);
		return PCI_ERS_RESULT_DISCONNECT;
	}
	/* Normal or frozen: pages come back while the board answers, before the link reset. */
	ps_rust_gpu_quiesce(pdev, PS_EVENT_PCI_ERROR);
	return PCI_ERS_RESULT_NEED_RESET;
}

static pci_ers_result_t ps_slot_reset(struct pci_dev *pdev)
{
	/*
	 * The recovery's bus reset (pci_bus_error_reset) does not restore configuration space:
	 * the BARs and the command register come back from the state the PCI core saved.
	 */
	pci_restore_state(pdev);
	return ps_rust_gpu_restart(pdev, PS_EVENT_PCI_ERROR) ? PCI_ERS_RESULT_RECOVERED :
							       PCI_ERS_RESULT_DISCONNECT;
}

static void ps_reset_prepare(struct pci_dev *pdev)
{
	ps_rust_gpu_quiesce(pdev, PS_EVENT_FUNCTION_RESET);
}

static void ps_reset_done(struct pci_dev *pdev)
{
	if (!ps_rust_gpu_restart(pdev, PS_EVENT_FUNCTION_RESET))
		ps_pm_unbind_later(pdev);
}

static const struct pci_error_handlers ps_err_handlers = {
	.error_detected = ps_error_detected,
	.slot_reset = ps_slot_reset,
	.reset_prepare = ps_reset_prepare,
	.reset_done = ps_reset_done,
};

/*
 * The kernel crate's pci::Adapter fills only probe, remove and the ID table of the struct
 * pci_driver it registers; the error handlers are set here, from probe, where the device's driver
 * is that struct (the PCI core reads err_handler only for a bound device). The configuration
 * space is saved as the enabled device has it (memory decoding on), for slot_reset to restore.
 */
void ps_pm_set_error_handlers(struct pci_dev *pdev)
{
	struct pci_driver *drv = to_pci_driver(pdev->dev.driver);

	pci_save_state(pdev);
	WRITE_ONCE(drv->err_handler, &ps_err_handlers);
}

bool ps_pci_device_present(struct pci_dev *pdev)
{
	return pci_device_is_present(pdev);
}

bool ps_pci_channel_offline(struct pci_dev *pdev)
{
	return pci_channel_offline(pdev);
}

unsigned long ps_ram_available_pages(void)
{
	return si_mem_available();
}

int ps_pm_register(void)
{
	int ret;

	ps_pm_wq = alloc_workqueue("pseudoscopic_pm", WQ_UNBOUND, 0);
	if (!ps_pm_wq)
		return -ENOMEM;
	ret = register_pm_notifier(&ps_pm_nb);
	if (ret)
		destroy_workqueue(ps_pm_wq);
	return ret;
}

void ps_pm_unregister(void)
{
	unregister_pm_notifier(&ps_pm_nb);
	destroy_workqueue(ps_pm_wq);
}
