// SPDX-License-Identifier: GPL-2.0

//! The layout of the memory Host reads for a channel: the instance block (`NV_RAMIN`), the RAMFC
//! inside it (`NV_RAMFC`), USERD (`NV_RAMUSERD`) and the version-2 page-table entries
//! (`NV_MMU_VER2`), as byte offsets and field values, declared once. Sources: open-gpu-doc
//! `manuals/volta/gv100/dev_ram.ref.txt` (word N of a structure is byte `4 * N`) and
//! `dev_mmu.ref.txt`; words the manuals leave unnamed are named after nouveau
//! (`nvkm/engine/fifo/gk104.c` `gk104_chan_ramfc_write`, `gv100.c` `gv100_chan_ramfc_write`).
//! docs/hardware-fidelity.md lists each with its source.

/// `NV_RAMFC_USERD` (word 2): USERD's address, its `TARGET` in bits 1:0 (Volta and later).
pub(super) const RAMFC_USERD: usize = 0x08;
/// `NV_RAMFC_USERD_HI` (word 3).
pub(super) const RAMFC_USERD_HI: usize = 0x0c;
/// `NV_RAMFC_SIGNATURE` (word 4).
pub(super) const RAMFC_SIGNATURE: usize = 0x10;
/// The value Host checks `NV_RAMFC_SIGNATURE` against (nouveau writes 0x0000face).
pub(super) const RAMFC_SIGNATURE_VALUE: u32 = 0x0000_face;
/// `NV_RAMFC_GP_BASE` (word 18): the GPFIFO's VA, bits 31:3.
pub(super) const RAMFC_GP_BASE: usize = 0x48;
/// `NV_RAMFC_GP_BASE_HI` (word 19): VA bits 39:32, and the log2 of the entries at bit 16
/// (`LIMIT2`).
pub(super) const RAMFC_GP_BASE_HI: usize = 0x4c;
/// `NV_RAMFC_GP_BASE_HI_LIMIT2`'s shift.
pub(super) const RAMFC_GP_BASE_HI_LIMIT2_SHIFT: u32 = 16;
/// `NV_RAMFC_ACQUIRE` (word 12).
const RAMFC_ACQUIRE: usize = 0x30;
/// `NV_RAMFC_PB_HEADER` (word 33).
const RAMFC_PB_HEADER: usize = 0x84;
/// `NV_RAMFC_SUBDEVICE` (word 37).
const RAMFC_SUBDEVICE: usize = 0x94;
/// `NV_RAMFC_SEM_PAYLOAD_HI` (word 39; nouveau's gk104 set writes 0x100 there).
const RAMFC_SEM_PAYLOAD_HI: usize = 0x9c;
/// `NV_RAMFC_TARGET` (word 43).
pub(super) const RAMFC_TARGET: usize = 0xac;
/// `NV_RAMFC_TARGET` bit 17: the engine's method buffer is valid (nouveau
/// `gv100_ectx_ce_bind`).
pub(super) const RAMFC_METHOD_BUFFER_VALID: u32 = 1 << 17;
/// `NV_RAMFC_HCE_CTRL` (word 57).
const RAMFC_HCE_CTRL: usize = 0xe4;
/// Word 58, the channel ID (nouveau writes `chan->id` there; unnamed in the published manual).
const RAMFC_CHID: usize = 0xe8;
/// `NV_RAMFC_CONFIG` (word 61).
const RAMFC_CONFIG: usize = 0xf4;
/// Word 62 (nouveau writes 0x10003080 there; unnamed in the published manual).
const RAMFC_WORD_62: usize = 0xf8;
/// `NV_RAMIN_ENGINE_WFI_VEID` (word 134).
const RAMIN_ENGINE_WFI_VEID: usize = 0x218;

/// nouveau's `gk104_chan_ramfc_write` constants (Pascal), as (offset, value).
pub(super) fn gk104_ramfc(chid: u32) -> [(usize, u32); 8] {
    [
        (RAMFC_ACQUIRE, 0xffff_f902),
        (RAMFC_PB_HEADER, 0x2040_0000),
        (RAMFC_SUBDEVICE, 0x3000_0fff),
        (RAMFC_SEM_PAYLOAD_HI, 0x0000_0100),
        (RAMFC_TARGET, 0x0000_001f),
        (RAMFC_HCE_CTRL, 0x0000_0020),
        (RAMFC_CHID, chid),
        (RAMFC_WORD_62, 0x1000_3080),
    ]
}

/// nouveau's `gv100_chan_ramfc_write` constants (Volta, Turing), as (offset, value).
pub(super) fn gv100_ramfc(chid: u32) -> [(usize, u32); 8] {
    [
        (RAMFC_ACQUIRE, 0x7fff_f902),
        (RAMFC_PB_HEADER, 0x2040_0000),
        (RAMFC_SUBDEVICE, 0x3000_0fff),
        (RAMFC_HCE_CTRL, 0x0000_0020),
        (RAMFC_CHID, chid),
        (RAMFC_CONFIG, 0x0000_1100),
        (RAMFC_WORD_62, 0x1000_3080),
        (RAMIN_ENGINE_WFI_VEID, 0),
    ]
}

/// `NV_RAMIN_PAGE_DIR_BASE_LO` (word 128): `TARGET` 1:0, `VOL` 2, `USE_VER2_PT_FORMAT` 10,
/// `BIG_PAGE_SIZE` 11, address bits 31:12.
pub(super) const PAGE_DIR_BASE_LO: usize = 0x200;
/// `NV_RAMIN_PAGE_DIR_BASE_HI` (word 129).
pub(super) const PAGE_DIR_BASE_HI: usize = 0x204;
/// `NV_RAMIN_PAGE_DIR_BASE_VOL`.
const PAGE_DIR_BASE_VOL: u32 = 1 << 2;
/// `NV_RAMIN_USE_VER2_PT_FORMAT_TRUE`.
const USE_VER2_PT_FORMAT: u32 = 1 << 10;
/// `NV_RAMIN_BIG_PAGE_SIZE_64KB`.
const BIG_PAGE_SIZE_64KB: u32 = 1 << 11;
/// The flags of the page directory word: TARGET sys coherent, VOL, version-2 format, 64 KiB big
/// pages.
pub(super) const PAGE_DIR_BASE_FLAGS: u32 =
    super::fifo::TARGET_SYS_COHERENT | PAGE_DIR_BASE_VOL | USE_VER2_PT_FORMAT | BIG_PAGE_SIZE_64KB;
/// `NV_RAMIN_ADR_LIMIT_LO` (word 130): the last valid VA, bits 31:12 (low bits read as ones;
/// gp100 `dev_ram.h`, OpenRM `kgmmuInstBlkVaLimitGet_GP100`).
pub(super) const ADR_LIMIT_LO: usize = 0x208;
/// `NV_RAMIN_ADR_LIMIT_HI` (word 131): VA bits 39:32.
pub(super) const ADR_LIMIT_HI: usize = 0x20c;
/// `NV_RAMIN_ENG_METHOD_BUFFER_ADDR_LO` (word 136).
pub(super) const ENG_METHOD_BUFFER_ADDR_LO: usize = 0x220;
/// `NV_RAMIN_ENG_METHOD_BUFFER_ADDR_HI` (word 137).
pub(super) const ENG_METHOD_BUFFER_ADDR_HI: usize = 0x224;
/// `NV_RAMIN_SC_PDB_VALID` (word 166): bit `i` for subcontext `i`.
pub(super) const SC_PDB_VALID: usize = 0x298;
/// `NV_RAMIN_SC_PAGE_DIR_BASE_*(0)` (words 168-169): subcontext 0's page directory, as
/// `NV_RAMIN_PAGE_DIR_BASE`.
pub(super) const SC_PAGE_DIR_BASE_LO: usize = 0x2a0;
pub(super) const SC_PAGE_DIR_BASE_HI: usize = 0x2a4;

/// `NV_RAMUSERD_GP_PUT` (word 35): the GPFIFO entry Host may fetch up to.
pub(super) const USERD_GP_PUT: usize = 0x8c;
/// Bytes of one channel's USERD (`NV_RAMUSERD_CHAN_SIZE`).
pub(super) const USERD_BYTES: usize = 512;

/// The offset of USERD in VRAM on Pascal (reserved by [`super::probe`]), in the first chunk.
pub(crate) const PASCAL_USERD_VRAM: u64 = 256 << 10;
/// Channels whose USERD Host snoops through `NV_PFIFO_BAR1_BASE`: `NV_PFIFO_CFG1_NUM_CHANNELS`
/// (4096 on GV100's manual; nouveau reads it on GM200 and Pascal), 512 bytes each (nvgpu sizes
/// the window so). Host treats a write anywhere in it as a channel's GP_PUT, so the whole window
/// is kept out of the pool.
pub(crate) const PASCAL_CHANNELS: u64 = 4096;
/// VRAM Pascal's USERD snoop window takes: 2 MiB.
pub(crate) const PASCAL_USERD_BYTES: u64 = USERD_BYTES as u64 * PASCAL_CHANNELS;

/// `NV_MMU_VER2_PDE`: `APERTURE_SMALL` 2:1 system coherent (2), `VOL_SMALL` 3; the address
/// >> 12 from bit 8.
pub(super) const PDE_SYS: u64 = (2 << 1) | (1 << 3);
/// `NV_MMU_VER2_PTE`: `VALID` 0, `APERTURE` 2:1 system coherent (2), `VOL` 3; the address >> 12
/// from bit 8.
pub(super) const PTE_SYS: u64 = 1 | (2 << 1) | (1 << 3);
/// `NV_MMU_VER2_PDE` (and a dual PDE's small half) pointing into video memory: `APERTURE` 2:1
/// video memory (1), not volatile (nouveau `gp100_vmm_pde` for VRAM page tables).
pub(super) const PDE_VID: u64 = 1 << 1;
/// `NV_MMU_VER2_PTE` of a video-memory page: `VALID` 0, `APERTURE` 2:1 video memory (0), `VOL`
/// clear, `KIND` 0 (pitch), as nouveau's `gp100_vmm_valid` maps VRAM.
pub(super) const PTE_VID: u64 = 1;
/// `NV_RAMIN_PAGE_DIR_BASE` flags for page tables in video memory: `TARGET` 0, version-2 format,
/// 64 KiB big pages (nouveau `gf100_vmm_join_`: no `VOL` for VRAM).
pub(super) const PAGE_DIR_BASE_VID_FLAGS: u32 = USE_VER2_PT_FORMAT | BIG_PAGE_SIZE_64KB;
/// Where a PDE's or PTE's address (>> 12) starts.
pub(super) const ENTRY_ADDRESS_SHIFT: u32 = 8;
