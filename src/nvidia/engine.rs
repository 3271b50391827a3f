// SPDX-License-Identifier: GPL-2.0

//! Engine discovery: the copy engine a channel is brought up on, found in `NV_PTOP_DEVICE_INFO`
//! (dev_top.ref.txt), whose chained entries describe each engine's type, instance, runlist, reset
//! bit and host engine ID.

use super::{
    hal::{
        checked,
        ReadError, //
    },
    regs,
    Bar0, //
};
use kernel::{
    io::{
        register::Array,
        Io, //
    },
    prelude::*, //
};

/// `NV_PTOP_DEVICE_INFO_ENTRY` values (dev_top.ref.txt).
const ENTRY_DATA: u32 = 1;
const ENTRY_ENUM: u32 = 2;
const ENTRY_ENGINE_TYPE: u32 = 3;

/// `NV_PTOP_DEVICE_INFO_TYPE_ENUM` values (dev_top.ref.txt).
const TYPE_GRAPHICS: u32 = 0;
const TYPE_COPY0: u32 = 1;
const TYPE_COPY2: u32 = 3;
const TYPE_LCE: u32 = 19;

/// The copy engine found in `NV_PTOP_DEVICE_INFO`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Engine {
    /// `NV_PTOP_DEVICE_INFO_TYPE_ENUM`: COPY0-2 (1-3) or LCE (19).
    pub(crate) kind: u32,
    /// Which instance of its type.
    pub(crate) instance: u32,
    pub(crate) runlist: u32,
    /// Its bit in `NV_PMC_ENABLE`.
    pub(crate) reset: u32,
    /// Its host engine ID (`ENGINE_ENUM`), for `NV_PFIFO_ENGINE_STATUS`.
    pub(crate) id: Option<u32>,
}

impl Engine {
    /// A logical copy engine (Volta and later) rather than COPY0-2.
    pub(crate) fn is_lce(&self) -> bool {
        self.kind == TYPE_LCE
    }

    /// The engine's number: LCE instance, or N of COPYN.
    pub(crate) fn number(&self) -> u32 {
        match self.is_lce() {
            true => self.instance,
            false => self.kind - TYPE_COPY0,
        }
    }
}

impl core::fmt::Display for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = if self.is_lce() { "LCE" } else { "CE" };
        write!(f, "{name}{} (runlist {})", self.number(), self.runlist)
    }
}

impl kernel::fmt::Display for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

/// Walks `NV_PTOP_DEVICE_INFO` for the first copy engine on a runlist of its own, with a reset
/// bit.
pub(crate) fn find_engine(bar0: &Bar0<'_>) -> Result<Option<Engine>, ReadError> {
    let mut found: KVec<Engine> = KVec::new();
    let mut graphics_runlist = None;
    let (mut kind, mut instance, mut runlist, mut reset, mut id) = (None, 0, None, None, None);
    for i in 0..64 {
        let raw = checked(
            "NV_PTOP_DEVICE_INFO",
            u32::from(bar0.read(regs::NV_PTOP_DEVICE_INFO::at(i))),
        )?;
        let entry = regs::NV_PTOP_DEVICE_INFO::from(raw);
        match entry.entry().get() {
            // Engine, runlist, interrupt and reset numbers with their valid bits.
            ENTRY_ENUM => {
                if entry.runlist_valid() {
                    runlist = Some(entry.runlist_enum().get());
                }
                if entry.reset_valid() {
                    reset = Some(entry.reset_enum().get());
                }
                if entry.engine_valid() {
                    id = Some(entry.engine_enum().get());
                }
            }
            // The instance number of the engine's type.
            ENTRY_DATA => instance = entry.data_inst_id().get(),
            ENTRY_ENGINE_TYPE => kind = Some(entry.type_enum().get()),
            _ => {}
        }
        if entry.chain() {
            continue;
        }
        // The chain ends: one engine described.
        if let (Some(k), Some(r)) = (kind, runlist) {
            if k == TYPE_GRAPHICS {
                graphics_runlist = Some(r);
            } else if matches!(k, TYPE_COPY0..=TYPE_COPY2 | TYPE_LCE) {
                if let Some(reset) = reset {
                    let engine = Engine {
                        kind: k,
                        instance,
                        runlist: r,
                        reset,
                        id,
                    };
                    if found.push(engine, GFP_KERNEL).is_err() {
                        return Ok(None);
                    }
                }
            }
        }
        (kind, instance, runlist, reset, id) = (None, 0, None, None, None);
    }
    Ok(found
        .into_iter()
        .find(|e| Some(e.runlist) != graphics_runlist))
}
