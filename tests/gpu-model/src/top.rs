// SPDX-License-Identifier: GPL-2.0

//! The engines a board has and how `NV_PTOP_DEVICE_INFO` (`dev_top.ref.txt`) lists them: a
//! graphics engine on runlist 0, a copy engine attached to it (Volta/Turing, sharing its runlist)
//! and three asynchronous copy engines on runlists of their own.

use crate::board::{Board, Generation};

/// `NV_PTOP_DEVICE_INFO_TYPE_ENUM_*`.
pub const TYPE_GRAPHICS: u32 = 0;
pub const TYPE_COPY0: u32 = 1;
pub const TYPE_LCE: u32 = 19;

/// One host engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Engine {
    pub type_enum: u32,
    pub inst: u32,
    /// Host engine ID (`ENGINE_ENUM`).
    pub engine: u32,
    pub runlist: u32,
    /// Bit of `NV_PMC_ENABLE` (`RESET_ENUM`).
    pub reset: u32,
    pub intr: u32,
    pub pri_base: u32,
}

impl Engine {
    pub fn is_copy(&self) -> bool {
        matches!(self.type_enum, TYPE_COPY0..=3 | TYPE_LCE)
    }
}

/// The board's engines, in table order.
pub fn engines(board: &Board) -> Vec<Engine> {
    let gr = Engine {
        type_enum: TYPE_GRAPHICS,
        inst: 0,
        engine: 0,
        runlist: 0,
        reset: 12,
        intr: 12,
        pri_base: 0x0040_0000,
    };
    // Reset bits as the Kepler-to-Volta NV_PMC_ENABLE has them for CE0-2 (6, 7, 21), then 22.
    let ce = |type_enum: u32, inst: u32, engine: u32, runlist: u32, reset: u32| Engine {
        type_enum,
        inst,
        engine,
        runlist,
        reset,
        intr: 5 + engine,
        pri_base: 0x0010_4000,
    };
    match board.generation() {
        Generation::Pascal => vec![
            gr,
            ce(TYPE_COPY0, 0, 1, 1, 6),
            ce(TYPE_COPY0 + 1, 0, 2, 2, 7),
            ce(TYPE_COPY0 + 2, 0, 3, 3, 21),
        ],
        Generation::Ampere => Vec::new(),
        Generation::Volta | Generation::Turing => vec![
            gr,
            ce(TYPE_LCE, 0, 1, 0, 6),
            ce(TYPE_LCE, 1, 2, 1, 7),
            ce(TYPE_LCE, 2, 3, 2, 21),
            ce(TYPE_LCE, 3, 4, 3, 22),
        ],
    }
}

const CHAIN: u32 = 1 << 31;

/// The 64 `NV_PTOP_DEVICE_INFO` words: per engine a DATA, an ENUM and an ENGINE_TYPE entry
/// chained together (CHAIN set on all but the last), then NOT_VALID entries.
pub fn device_info(board: &Board) -> [u32; 64] {
    let mut table = [0; 64];
    let mut i = 0;
    for e in engines(board) {
        let data = CHAIN | (e.inst << 26) | (e.pri_base & 0x00ff_f000) | 1;
        let enum_ = CHAIN
            | (e.engine << 26)
            | (e.runlist << 21)
            | (e.intr << 15)
            | (e.reset << 9)
            | (1 << 5)
            | (1 << 4)
            | (1 << 3)
            | (1 << 2)
            | 2;
        let type_ = (e.type_enum << 2) | 3;
        table[i..i + 3].copy_from_slice(&[data, enum_, type_]);
        i += 3;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BOARDS;

    /// Reads the table back as the manual describes it: entries chain until CHAIN is clear.
    fn parse(table: &[u32; 64]) -> Vec<Engine> {
        let mut out = Vec::new();
        let mut cur = Engine {
            type_enum: u32::MAX,
            inst: 0,
            engine: 0,
            runlist: 0,
            reset: 0,
            intr: 0,
            pri_base: 0,
        };
        for &w in table {
            match w & 3 {
                0 => continue,
                1 => {
                    cur.inst = (w >> 26) & 0xf;
                    cur.pri_base = w & 0x00ff_f000;
                }
                2 => {
                    assert_eq!(w & 0x3c, 0x3c, "all ENUMs valid");
                    cur.engine = (w >> 26) & 0xf;
                    cur.runlist = (w >> 21) & 0xf;
                    cur.intr = (w >> 15) & 0x1f;
                    cur.reset = (w >> 9) & 0x1f;
                }
                _ => cur.type_enum = (w >> 2) & 0x1fff_ffff,
            }
            if w & CHAIN == 0 {
                out.push(cur);
            }
        }
        out
    }

    #[test]
    fn device_info_round_trips() {
        for b in BOARDS
            .iter()
            .filter(|b| b.generation() != Generation::Ampere)
        {
            let engines = engines(b);
            assert_eq!(parse(&device_info(b)), engines, "{}", b.key);
            // What the driver looks for: a copy engine sharing neither runlist nor reset with GR.
            let gr = engines[0];
            let ce = engines
                .iter()
                .find(|e| e.is_copy() && e.runlist != gr.runlist && e.reset != gr.reset)
                .unwrap();
            assert_eq!(ce.runlist, 1);
        }
    }
}
