// SPDX-License-Identifier: GPL-2.0
/*
 * pseudoscopic: the sysfs files, /sys/module/pseudoscopic/{stats,pool}/ and, per GPU,
 * <pci device>/pseudoscopic/{index,copy_engine,stats/,pool/}, built from the lists in
 * rust/ps_items.h; what each file shows comes from Rust (ps_rust_*(), src/sysfs.rs).
 *
 * C because the files are static attribute tables generated from those lists by the
 * preprocessor, module-wide ones must be struct module_attribute on the module's kobject, and the
 * per-GPU directory is a kobject with its own ktype; the kernel crate binds none of these.
 */

#include <linux/device.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "ps_shim.h"

struct ps_item_attr {
	struct kobj_attribute attr;
	unsigned int item;
};

struct ps_module_item_attr {
	struct module_attribute attr;
	unsigned int item;
};

static ssize_t ps_item_show(const void *gpu, unsigned int item, char *buf)
{
	return sysfs_emit(buf, "%llu\n", ps_rust_stat(gpu, item));
}

/* Module-wide files live on the module's kobject, whose sysfs_ops expect module_attribute. */
static ssize_t ps_module_item_show(const struct module_attribute *attr, struct module_kobject *mk,
				   char *buf)
{
	return ps_item_show(NULL, container_of(attr, struct ps_module_item_attr, attr)->item, buf);
}

#define PS_MODULE_ITEM(_name, _item)                                                \
	static struct ps_module_item_attr ps_module_attr_##_name = {               \
		.attr = __ATTR(_name, 0444, ps_module_item_show, NULL), .item = _item \
	}

/* One file per entry of the lists in rust/ps_items.h, X(name, doc). */
#define PS_DEFINE_MODULE_ITEM(name, doc) PS_MODULE_ITEM(name, PS_ITEM_##name);
PS_STAT_ITEMS(PS_DEFINE_MODULE_ITEM)
PS_POOL_ITEMS(PS_DEFINE_MODULE_ITEM)

static ssize_t ps_copy_path_show(const struct module_attribute *attr, struct module_kobject *mk,
				 char *buf)
{
	return sysfs_emit(buf, "%s\n", ps_rust_copy_path());
}

static struct module_attribute ps_module_attr_copy_path = __ATTR(copy_path, 0444, ps_copy_path_show, NULL);

#define PS_MODULE_ATTR_PTR(name, doc) &ps_module_attr_##name.attr.attr,
static struct attribute *ps_module_stat_attrs[] = {
	PS_STAT_ITEMS(PS_MODULE_ATTR_PTR) &ps_module_attr_copy_path.attr, NULL
};
static struct attribute *ps_module_pool_attrs[] = { PS_POOL_ITEMS(PS_MODULE_ATTR_PTR) NULL };

static const struct attribute_group ps_module_stat_group = {
	.name = "stats",
	.attrs = ps_module_stat_attrs,
};

static const struct attribute_group ps_module_pool_group = {
	.name = "pool",
	.attrs = ps_module_pool_attrs,
};

static const struct attribute_group *ps_module_groups[] = {
	&ps_module_stat_group,
	&ps_module_pool_group,
	NULL,
};

/* /sys/module/pseudoscopic/{stats,pool}/ */
int ps_sysfs_module_create(void)
{
	return sysfs_create_groups(&THIS_MODULE->mkobj.kobj, ps_module_groups);
}

void ps_sysfs_module_remove(void)
{
	sysfs_remove_groups(&THIS_MODULE->mkobj.kobj, ps_module_groups);
}

/* Per GPU: <pci device>/pseudoscopic/{index,stats/,pool/}, on a kobject that knows its GPU. */
struct ps_gpu_kobj {
	struct kobject kobj;
	const void *gpu;
};

static ssize_t ps_gpu_item_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return ps_item_show(container_of(kobj, struct ps_gpu_kobj, kobj)->gpu,
			    container_of(attr, struct ps_item_attr, attr)->item, buf);
}

#define PS_DEFINE_GPU_ITEM(_name, _doc)                                                 \
	static struct ps_item_attr ps_gpu_attr_##_name = {                              \
		.attr = __ATTR(_name, 0444, ps_gpu_item_show, NULL), .item = PS_ITEM_##_name \
	};
PS_STAT_ITEMS(PS_DEFINE_GPU_ITEM)
PS_POOL_ITEMS(PS_DEFINE_GPU_ITEM)
PS_GPU_ITEMS(PS_DEFINE_GPU_ITEM)

/* <gpu>/copy_engine: "running LCE1 runlist 1 class 0xc3b5", "failed LCE1 runlist 1" or "none". */
static ssize_t ps_gpu_copy_engine_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct ps_copy_engine ce;
	const char *kind;

	switch (ps_rust_gpu_copy_engine(container_of(kobj, struct ps_gpu_kobj, kobj)->gpu, &ce)) {
	case PS_CE_RUNNING:
		kind = "running";
		break;
	case PS_CE_FAILED:
		kind = "failed";
		break;
	default:
		return sysfs_emit(buf, "none\n");
	}
	return sysfs_emit(buf, "%s %s%u runlist %u class %#x\n", kind, ce.lce ? "LCE" : "CE", ce.instance,
			  ce.runlist, ce.class_id);
}

static struct kobj_attribute ps_gpu_attr_copy_engine = __ATTR(copy_engine, 0444, ps_gpu_copy_engine_show, NULL);

#define PS_GPU_ATTR_PTR(name, doc) &ps_gpu_attr_##name.attr.attr,
static struct attribute *ps_gpu_stat_attrs[] = { PS_STAT_ITEMS(PS_GPU_ATTR_PTR) NULL };
static struct attribute *ps_gpu_pool_attrs[] = { PS_POOL_ITEMS(PS_GPU_ATTR_PTR) NULL };
static struct attribute *ps_gpu_top_attrs[] = { PS_GPU_ITEMS(PS_GPU_ATTR_PTR) &ps_gpu_attr_copy_engine.attr, NULL };

static const struct attribute_group ps_gpu_stat_group = {
	.name = "stats",
	.attrs = ps_gpu_stat_attrs,
};

static const struct attribute_group ps_gpu_pool_group = {
	.name = "pool",
	.attrs = ps_gpu_pool_attrs,
};

static const struct attribute_group ps_gpu_top_group = {
	.attrs = ps_gpu_top_attrs,
};

static const struct attribute_group *ps_gpu_groups[] = {
	&ps_gpu_top_group,
	&ps_gpu_stat_group,
	&ps_gpu_pool_group,
	NULL,
};

static void ps_gpu_kobj_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct ps_gpu_kobj, kobj));
}

static const struct kobj_type ps_gpu_ktype = {
	.release = ps_gpu_kobj_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = ps_gpu_groups,
};

/*
 * Creates the GPU's directory under `dev`.  `gpu` is handed back to ps_rust_stat() and must stay
 * valid until ps_sysfs_gpu_remove() returns (which waits for readers).
 */
struct kobject *ps_sysfs_gpu_create(struct device *dev, const void *gpu)
{
	struct ps_gpu_kobj *g = kzalloc(sizeof(*g), GFP_KERNEL);
	int ret;

	if (!g)
		return ERR_PTR(-ENOMEM);
	g->gpu = gpu;
	ret = kobject_init_and_add(&g->kobj, &ps_gpu_ktype, &dev->kobj, "pseudoscopic");
	if (ret) {
		kobject_put(&g->kobj);
		return ERR_PTR(ret);
	}
	return &g->kobj;
}

void ps_sysfs_gpu_remove(struct kobject *kobj)
{
	kobject_del(kobj);
	kobject_put(kobj);
}
