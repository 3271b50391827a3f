// SPDX-License-Identifier: GPL-2.0

//! pseudoscopic: the VRAM of NVIDIA datacenter GPUs as memory the CPU can use.
//!
//! The PCI driver maps the GPU's VRAM BAR write-combined; see `README.md` for the whole picture.

use kernel::{
    driver::Registration,
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    pci,
    prelude::*,
    InPlaceModule, //
};

mod bus;
mod chardev;
mod compat;
mod copy;
mod driver;
mod hw;
mod migrate;
mod mm;
mod nvidia;
mod params;
mod power;
mod registry;
mod shim;
mod stats;
mod sysfs;
mod uapi;
mod vram;

pub(crate) const MODULE_NAME: &core::ffi::CStr = <LocalModule as kernel::ModuleMetadata>::NAME;

/// The module: fields are dropped in order, so every GPU is unbound (its pages back in RAM)
/// before the device node and the module-wide sysfs files go.
#[pin_data]
struct PseudoscopicModule {
    #[pin]
    _driver: Registration<pci::Adapter<driver::PseudoscopicDriver>>,
    #[pin]
    _control: MiscDeviceRegistration<chardev::Control>,
    _sysfs: sysfs::ModuleDir,
    /// Last: its unbind work may run until the driver is gone.
    _power: power::PowerHooks,
}

impl InPlaceModule for PseudoscopicModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        pin_init::pin_init_scope(move || {
            // Refuse to load with bad parameters rather than fail every probe later.
            let params = params::Params::load()?;
            params.log();
            registry::init();
            Ok(try_pin_init!(Self {
                _power: power::PowerHooks::new()?,
                _sysfs: sysfs::ModuleDir::new()?,
                _control <- MiscDeviceRegistration::register(MiscDeviceOptions {
                    name: c"pseudoscopic",
                }),
                _driver <- Registration::new(MODULE_NAME, module),
            }))
        })
    }
}

module! {
    type: PseudoscopicModule,
    name: "pseudoscopic",
    authors: ["The pseudoscopic developers"],
    description: "NVIDIA datacenter GPU VRAM as device-private memory for the CPU",
    license: "GPL v2",
}
