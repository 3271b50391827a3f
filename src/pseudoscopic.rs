// SPDX-License-Identifier: GPL-2.0

//! pseudoscopic: the VRAM of NVIDIA datacenter GPUs as memory the CPU can use.
//!
//! The PCI driver maps the GPU's VRAM BAR write-combined; see `README.md` for the whole picture.

use kernel::{driver::Registration, pci, prelude::*, InPlaceModule};

mod bus;
mod driver;
mod hw;
mod params;
mod shim;
mod vram;

pub(crate) const MODULE_NAME: &core::ffi::CStr = <LocalModule as kernel::ModuleMetadata>::NAME;

#[pin_data]
struct PseudoscopicModule {
    #[pin]
    _driver: Registration<pci::Adapter<driver::PseudoscopicDriver>>,
}

impl InPlaceModule for PseudoscopicModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _driver <- {
                // Refuse to load with bad parameters rather than fail every probe later.
                let params = params::Params::load()?;
                params.log();
                Registration::new(MODULE_NAME, module)
            },
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
