// SPDX-License-Identifier: GPL-2.0

//! The BAR0 registers pseudoscopic uses, declared once. Sources: open-gpu-doc
//! `manuals/{volta/gv100,turing/tu104}/dev_master.ref.txt`, `dev_bus.ref.txt`,
//! `pascal/gp100-fbpa.txt`; registers the published manuals leave out are named after the facts
//! collected in the project's `nvidia-hardware.md` (nouveau and OpenRM agree on them).

use kernel::io::register;

register! {
    /// `NV_PMC_BOOT_0` (dev_master.ref.txt): which chip this is.
    pub(crate) NV_PMC_BOOT_0(u32) @ 0x0000_0000 {
        /// `ARCHITECTURE`: 0x13 Pascal, 0x14 Volta, 0x16 Turing, 0x17 Ampere.
        28:24 architecture;
        /// `IMPLEMENTATION`: with `ARCHITECTURE`, the chip ID (0x130 is GP100).
        23:20 implementation;
        /// `MAJOR_REVISION` (0xA is "A").
        7:4 major_revision;
        /// `MINOR_REVISION`.
        3:0 minor_revision;
    }

    /// `NV_PMC_BOOT_42` (turing/tu104 dev_master.ref.txt): the chip ID where `NV_PMC_BOOT_0` no
    /// longer carries it reliably (Turing and later, as nova-core reads it).
    pub(crate) NV_PMC_BOOT_42(u32) @ 0x0000_0a00 {
        /// `CHIP_ID`.
        28:20 chip_id;
        /// `MAJOR_REVISION`.
        19:16 major_revision;
        /// `MINOR_REVISION`.
        15:12 minor_revision;
    }

    /// `NV_PBUS_BAR1_BLOCK` (dev_bus.ref.txt): how BAR1 reaches VRAM.
    pub(crate) NV_PBUS_BAR1_BLOCK(u32) @ 0x0000_1704 {
        /// `MODE`: 0 `PHYSICAL` (BAR1 offset N is VRAM address N), 1 `VIRTUAL` (through the page
        /// tables of the instance block at `PTR`).
        31:31 mode_virtual => bool;
        /// `TARGET` of the instance block: 0 video memory, 2/3 system memory.
        29:28 target;
        /// `PTR`: instance block address >> 12.
        27:0 ptr;
    }

    /// `NV_PBUS_BAR0_WINDOW` (nvidia-hardware.md; envytools): where the 1 MiB PRAMIN window at
    /// BAR0 0x700000 looks, `BASE` in 64 KiB units, `TARGET` 0 video memory.
    pub(crate) NV_PBUS_BAR0_WINDOW(u32) @ 0x0000_1700 {
        25:24 target;
        23:0 base;
    }

    /// `NV_PBUS_BIND_STATUS` (dev_bus.ref.txt): a BAR1 or BAR2 bind still in flight.
    pub(crate) NV_PBUS_BIND_STATUS(u32) @ 0x0000_1710 {
        /// `BAR2_OUTSTANDING`.
        3:3 bar2_outstanding => bool;
        /// `BAR2_PENDING`.
        2:2 bar2_pending => bool;
        /// `BAR1_OUTSTANDING`.
        1:1 bar1_outstanding => bool;
        /// `BAR1_PENDING`.
        0:0 bar1_pending => bool;
    }

    /// `NV_PBUS_BAR2_BLOCK` (dev_bus.ref.txt): the instance block whose page tables BAR2 (the
    /// engines' privileged virtual space) uses.
    pub(crate) NV_PBUS_BAR2_BLOCK(u32) @ 0x0000_1714 {
        /// `MODE`: 0 `PHYSICAL`, 1 `VIRTUAL`.
        31:31 mode_virtual => bool;
        /// `TARGET` of the instance block: 0 video memory, 2/3 system memory.
        29:28 target;
        /// `PTR`: instance block address >> 12.
        27:0 ptr;
    }

    /// `NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK` (Turing; turing/tu104 dev_vm.ref.txt, 0xB80000 +
    /// 0xF40): BAR1's block on Turing (nouveau `bar/tu102.c`, OpenRM `kern_bus_tu102.c`).
    pub(crate) NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK(u32) @ 0x00b8_0f40 {
        31:31 mode_virtual => bool;
        29:28 target;
        27:0 ptr;
    }

    /// `NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK` (Turing; dev_vm.ref.txt, 0xB80000 + 0xF48).
    pub(crate) NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK(u32) @ 0x00b8_0f48 {
        31:31 mode_virtual => bool;
        29:28 target;
        27:0 ptr;
    }

    /// `NV_VIRTUAL_FUNCTION_PRIV_BIND_STATUS` (Turing; dev_vm.ref.txt, 0xB80000 + 0xF50).
    pub(crate) NV_VIRTUAL_FUNCTION_PRIV_BIND_STATUS(u32) @ 0x00b8_0f50 {
        3:3 bar2_outstanding => bool;
        2:2 bar2_pending => bool;
        1:1 bar1_outstanding => bool;
        0:0 bar1_pending => bool;
    }

    /// `NV_PFB_PRI_MMU_WPR_INFO` (nouveau `acr/gm200.c` `gm200_acr_wpr_check`; nvgpu names the
    /// indexes): write `index`, read the value back. Indexes 2/3 are WPR1's first and last 128 KiB
    /// granule, 4/5 WPR2's; the address is `(value & 0xffffff00) << 8`.
    pub(crate) NV_PFB_PRI_MMU_WPR_INFO(u32) @ 0x0010_0cd4 {
        31:0 value;
    }

    /// `NV_PFB_PRI_MMU_VPR_INFO` (Pascal, Volta; nouveau `fb/gp102.c`, nvgpu index names): index
    /// 0/1 the VPR's first and last granule (encoded as in `NV_PFB_PRI_MMU_WPR_INFO`), index 2
    /// (`CYA_LO`) bit 4 set while a VPR is in use.
    pub(crate) NV_PFB_PRI_MMU_VPR_INFO(u32) @ 0x0010_0cd0 {
        31:0 value;
    }

    /// `NV_PFB_PRI_MMU_VPR_CYA_LO` (Turing; nouveau `fb/tu102.c`): bit 4 set while a VPR is in use.
    pub(crate) NV_PFB_PRI_MMU_VPR_CYA_LO(u32) @ 0x001f_a80c {
        4:4 in_use => bool;
    }

    /// `NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE` (nvidia-hardware.md): VRAM size on GP102 and later.
    pub(crate) NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE(u32) @ 0x0010_0ce0 {
        /// ECC is on: 1/16 of VRAM holds check bits.
        30:30 ecc_mode => bool;
        /// Size is `lower_mag << (lower_scale + 20)` bytes.
        9:4 lower_mag;
        3:0 lower_scale;
    }

    /// Pascal/Volta VBIOS scratch (nvidia-hardware.md): bit 1 set once devinit ran (POST).
    pub(crate) NV_PGC6_SCRATCH_POST(u32) @ 0x0002_240c {
        1:1 posted => bool;
    }

    /// Turing GFW boot scratch (nvidia-hardware.md): bit 0 set while GFW boot progress is valid.
    pub(crate) NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_PRIV_LEVEL_MASK(u32) @ 0x0011_8128 {
        0:0 read_protection_level0 => bool;
    }

    /// Turing GFW boot progress (nvidia-hardware.md): 0xff once the VBIOS completed.
    pub(crate) NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_0_GFW_BOOT(u32) @ 0x0011_8234 {
        7:0 progress;
    }

    /// `NV_PFB_PRI_MMU_WPR2_ADDR_LO` (nvidia-hardware.md): start of the locked write-protected
    /// region 2, in 128 KiB-aligned units of `val << 12`.
    pub(crate) NV_PFB_PRI_MMU_WPR2_ADDR_LO(u32) @ 0x001f_a824 {
        31:4 val;
    }

    /// `NV_PFB_PRI_MMU_WPR2_ADDR_HI` (nvidia-hardware.md): the last 128 KiB granule of WPR2; zero
    /// when no WPR2 is set.
    pub(crate) NV_PFB_PRI_MMU_WPR2_ADDR_HI(u32) @ 0x001f_a828 {
        31:4 val;
    }

    /// `NV_PTOP_SCAL_NUM_FBPAS` (gp100-fbpa.txt): how many FBPAs the chip may have.
    pub(crate) NV_PTOP_SCAL_NUM_FBPAS(u32) @ 0x0002_243c {
        4:0 value;
    }

    /// `NV_FUSE_STATUS_OPT_FBIO` (gp100-fbpa.txt): a set bit disables that FBPA.
    pub(crate) NV_FUSE_STATUS_OPT_FBIO(u32) @ 0x0002_1c14 {
        15:0 data;
    }

    /// `NV_PFB_FBPA_CSTATUS_RAMAMOUNT` of `NV_PFB_FBPA[i]` (gp100-fbpa.txt, `0x900000 + i *
    /// 0x4000 + 0x20c`): MiB of memory on partition `i`.
    pub(crate) NV_PFB_FBPA_CSTATUS_RAMAMOUNT(u32)[16, stride = 0x4000] @ 0x0090_020c {
        31:0 mib;
    }
}

// The copy engine's registers (docs/copy-engine.md). Fields are decoded where they are used.
register! {
    /// `NV_PMC_ENABLE` (dev_master.ref.txt): one bit per engine taken out of reset; bit 8 is
    /// PFIFO, the others come from `NV_PTOP_DEVICE_INFO`'s `RESET_ENUM`.
    pub(crate) NV_PMC_ENABLE(u32) @ 0x0000_0200 {
        31:0 devices;
    }

    /// `NV_PTOP_DEVICE_INFO(i)` (volta/gv100 dev_top.ref.txt:185-239): the chained table of
    /// engines, their runlists and reset bits. Each entry is of one kind (`ENTRY`); a field is
    /// read only in the kind that has it, so some share bits.
    pub(crate) NV_PTOP_DEVICE_INFO(u32)[64] @ 0x0002_2700 {
        /// `CHAIN`: the next entry describes the same engine.
        31:31 chain => bool;
        /// `TYPE_ENUM` (ENGINE_TYPE entries): 0 graphics, 1-3 COPY0-2, 19 LCE.
        30:2 type_enum;
        /// `ENGINE_ENUM` (ENUM entries): the host engine ID.
        29:26 engine_enum;
        /// `DATA_INST_ID` (DATA entries): which instance of its type the engine is.
        29:26 data_inst_id;
        /// `RUNLIST_ENUM` (ENUM entries).
        24:21 runlist_enum;
        /// `RESET_ENUM` (ENUM entries): the engine's bit in `NV_PMC_ENABLE`.
        13:9 reset_enum;
        /// `ENGINE` (ENUM entries): `ENGINE_ENUM` is valid.
        5:5 engine_valid => bool;
        /// `RUNLIST` (ENUM entries): `RUNLIST_ENUM` is valid.
        4:4 runlist_valid => bool;
        /// `RESET` (ENUM entries): `RESET_ENUM` is valid.
        2:2 reset_valid => bool;
        /// `ENTRY`: 0 not valid, 1 DATA, 2 ENUM, 3 ENGINE_TYPE.
        1:0 entry;
    }

    /// `NV_PFB_NISO_FLUSH_SYSMEM_ADDR` (nvidia-hardware.md): the system page the GPU flushes its
    /// writes to, address >> 8.
    pub(crate) NV_PFB_NISO_FLUSH_SYSMEM_ADDR(u32) @ 0x0010_0c10 {
        31:0 adr_39_08;
    }

    /// `NV_PFIFO_BAR1_BASE` (Pascal; nouveau `gk104_fifo_init`): where in BAR1 the channels' USERD
    /// lives, so that Host sees `GP_PUT` writes.
    pub(crate) NV_PFIFO_BAR1_BASE(u32) @ 0x0000_2254 {
        28:28 valid => bool;
        27:0 ptr;
    }

    /// `NV_PFIFO_RUNLIST_BASE` (Pascal, Volta; dev_fifo.ref.txt): the runlist to submit next.
    pub(crate) NV_PFIFO_RUNLIST_BASE(u32) @ 0x0000_2270 {
        29:28 target;
        27:0 ptr;
    }

    /// `NV_PFIFO_RUNLIST` (Pascal, Volta): writing it submits `LENGTH` entries to runlist `ID`.
    pub(crate) NV_PFIFO_RUNLIST(u32) @ 0x0000_2274 {
        23:20 id;
        15:0 length;
    }

    /// `NV_PFIFO_ENG_RUNLIST(i)` (Pascal, Volta): the runlist `i` Host runs.
    pub(crate) NV_PFIFO_ENG_RUNLIST(u32)[16, stride = 8] @ 0x0000_2284 {
        20:20 pending => bool;
        15:0 length;
    }

    /// `NV_PFIFO_RUNLIST_BASE_LO(i)` (Turing).
    pub(crate) NV_PFIFO_RUNLIST_BASE_LO(u32)[11, stride = 16] @ 0x0000_2b00 {
        31:12 ptr_lo;
        1:0 target;
    }

    /// `NV_PFIFO_RUNLIST_BASE_HI(i)` (Turing).
    pub(crate) NV_PFIFO_RUNLIST_BASE_HI(u32)[11, stride = 16] @ 0x0000_2b04 {
        7:0 ptr_hi;
    }

    /// `NV_PFIFO_RUNLIST_SUBMIT(i)` (Turing): writing it submits `LENGTH` entries.
    pub(crate) NV_PFIFO_RUNLIST_SUBMIT(u32)[11, stride = 16] @ 0x0000_2b08 {
        15:0 length;
    }

    /// `NV_PFIFO_RUNLIST_SUBMIT_INFO(i)` (Turing).
    pub(crate) NV_PFIFO_RUNLIST_SUBMIT_INFO(u32)[11, stride = 16] @ 0x0000_2b0c {
        15:15 pending => bool;
    }

    /// `NV_PFIFO_PREEMPT` (dev_fifo.ref.txt): asks Host to take a channel off its engine.
    pub(crate) NV_PFIFO_PREEMPT(u32) @ 0x0000_2634 {
        25:24 kind;
        20:20 pending => bool;
        11:0 id;
    }

    /// `NV_PCCSR_CHANNEL_INST(i)` (dev_fifo.ref.txt): channel `i`'s instance block.
    pub(crate) NV_PCCSR_CHANNEL_INST(u32)[512, stride = 8] @ 0x0080_0000 {
        31:31 bind => bool;
        29:28 target;
        27:0 ptr;
    }

    /// `NV_PCCSR_CHANNEL(i)` (dev_fifo.ref.txt): channel `i`'s state and enable.
    pub(crate) NV_PCCSR_CHANNEL(u32)[512, stride = 8] @ 0x0080_0004 {
        28:28 busy => bool;
        27:24 status;
        23:23 eng_faulted => bool;
        22:22 pbdma_faulted => bool;
        11:11 enable_clr => bool;
        10:10 enable_set => bool;
        0:0 enable => bool;
    }

    /// `NV_PFIFO_CFG0` (Volta, Turing; dev_fifo.ref.txt): how many PBDMAs the chip has.
    pub(crate) NV_PFIFO_CFG0(u32) @ 0x0000_2004 {
        7:0 num_pbdma;
    }

    /// `NV_PFIFO_PBDMA_MAP(i)` (dev_fifo.ref.txt): the runlists PBDMA `i` serves, one bit each.
    pub(crate) NV_PFIFO_PBDMA_MAP(u32)[14, stride = 4] @ 0x0000_2390 {
        15:0 runlists;
    }

    /// `NV_PPBDMA_TIMEOUT(i)` (dev_pbdma.ref.txt): how long PBDMA `i` waits on memory before it
    /// reports an error; nouveau (`gk208_runq_init`) sets 0xf4240.
    pub(crate) NV_PPBDMA_TIMEOUT(u32)[14, stride = 0x2000] @ 0x0004_012c {
        31:0 period;
    }

    /// `NV_PPBDMA_INTR_0(i)` (dev_pbdma.ref.txt): PBDMA `i`'s pending errors, for the failure line.
    pub(crate) NV_PPBDMA_INTR_0(u32)[14, stride = 0x2000] @ 0x0004_0108 {
        31:0 pending;
    }

    /// `NV_PFIFO_ENGINE_STATUS(i)` (dev_fifo.ref.txt): host engine `i`'s state, for the failure
    /// line.
    pub(crate) NV_PFIFO_ENGINE_STATUS(u32)[15, stride = 8] @ 0x0000_2640 {
        31:0 value;
    }

    /// `NV_PFB_PRI_MMU_FAULT_STATUS` (Volta, Turing; pri_mmu_hub.ref.txt): pending MMU faults, for
    /// the failure line.
    pub(crate) NV_PFB_PRI_MMU_FAULT_STATUS(u32) @ 0x0010_0e60 {
        31:0 value;
    }

    /// `NV_PFB_PRI_MMU_CTRL` (pri_mmu_hub.ref.txt): `PRI_FIFO_SPACE` 23:16 (room for an invalidate)
    /// and `PRI_FIFO_EMPTY` 15 (all done), as nouveau's `gf100_vmm_invalidate` waits on them.
    pub(crate) NV_PFB_PRI_MMU_CTRL(u32) @ 0x0010_0c80 {
        23:16 pri_fifo_space;
        15:15 pri_fifo_empty => bool;
    }

    /// `NV_PFB_PRI_MMU_INVALIDATE` (Pascal, Volta; pri_mmu_hub.ref.txt): TRIGGER with ALL_VA and
    /// ALL_PDB drops every cached translation.
    pub(crate) NV_PFB_PRI_MMU_INVALIDATE(u32) @ 0x0010_0cbc {
        31:31 trigger => bool;
        1:1 all_pdb => bool;
        0:0 all_va => bool;
    }

    /// `NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE` (Turing; dev_vm.ref.txt, nouveau
    /// `tu102_vmm_flush`): as above; TRIGGER reads 1 until the invalidate is done.
    pub(crate) NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE(u32) @ 0x00b8_30b0 {
        31:31 trigger => bool;
        1:1 all_pdb => bool;
        0:0 all_va => bool;
    }

    /// `NV_CE_PCE_MAP` (Volta, Turing; turing/tu104 dev_ce.ref.txt): one bit per physical copy
    /// engine; sizes the fault method buffer.
    pub(crate) NV_CE_PCE_MAP(u32) @ 0x0010_4028 {
        31:0 map;
    }

    /// `NV_USERMODE_NOTIFY_CHANNEL_PENDING` (Volta; dev_usermode.ref.txt): the doorbell.
    pub(crate) NV_USERMODE_NOTIFY_CHANNEL_PENDING(u32) @ 0x0081_0090 {
        31:0 id;
    }

    /// `NV_VIRTUAL_FUNCTION_DOORBELL` (Turing; dev_vm.ref.txt, at `NV_VIRTUAL_FUNCTION_FULL_PHYS_OFFSET`
    /// 0xB80000): the doorbell, runlist << 16 | channel.
    pub(crate) NV_VIRTUAL_FUNCTION_DOORBELL(u32) @ 0x00bb_0090 {
        31:0 handle;
    }

    /// `NV_CTRL_VIRTUAL_CHANNEL_CFG(0)` (Turing; dev_ctrl.ref.txt): doorbells reach Host only
    /// with `PENDING_ENABLE` set (clear at reset; nouveau sets it too).
    pub(crate) NV_CTRL_VIRTUAL_CHANNEL_CFG(u32) @ 0x00b6_5000 {
        31:31 pending_enable => bool;
    }
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kernel::macros::kunit_tests(pseudoscopic_nvidia_regs)]
mod tests {
    use super::*;

    #[test]
    fn boot_0_names_a_pascal_chip() {
        // A GP100 (Tesla P100) revision A1.
        let boot0 = NV_PMC_BOOT_0::from(0x1300_00a1);
        assert_eq!(boot0.architecture().get(), 0x13);
        assert_eq!(boot0.implementation().get(), 0x0);
        assert_eq!(boot0.major_revision().get(), 0xa);
        assert_eq!(boot0.minor_revision().get(), 0x1);
        // A GV100 (Tesla V100).
        let boot0 = NV_PMC_BOOT_0::from(0x1400_00a1);
        assert_eq!(boot0.architecture().get(), 0x14);
        // A GP102 (Tesla P40): implementation 2.
        assert_eq!(NV_PMC_BOOT_0::from(0x1320_00a1).implementation().get(), 0x2);
    }

    #[test]
    fn boot_42_names_a_turing_chip() {
        // A TU102 (Quadro RTX 8000) revision A1.
        let boot42 = NV_PMC_BOOT_42::from(0x162a_1000);
        assert_eq!(boot42.chip_id().get(), 0x162);
        assert_eq!(boot42.major_revision().get(), 0xa);
        assert_eq!(boot42.minor_revision().get(), 0x1);
    }

    #[test]
    fn device_info_decodes_each_entry_kind() {
        // ENUM, chained: host engine 4, runlist 3, reset bit 21, all three valid.
        let e = NV_PTOP_DEVICE_INFO::from(
            (1 << 31) | (4 << 26) | (3 << 21) | (21 << 9) | (1 << 5) | (1 << 4) | (1 << 2) | 2,
        );
        assert!(e.chain());
        assert_eq!(e.entry().get(), 2);
        assert_eq!(e.engine_enum().get(), 4);
        assert_eq!(e.runlist_enum().get(), 3);
        assert_eq!(e.reset_enum().get(), 21);
        assert!(e.engine_valid() && e.runlist_valid() && e.reset_valid());
        // ENUM with no valid numbers.
        let e = NV_PTOP_DEVICE_INFO::from((1 << 31) | (0xf << 21) | 2);
        assert!(!e.engine_valid() && !e.runlist_valid() && !e.reset_valid());
        // DATA: instance 2.
        let d = NV_PTOP_DEVICE_INFO::from((1 << 31) | (2 << 26) | 1);
        assert_eq!(d.entry().get(), 1);
        assert_eq!(d.data_inst_id().get(), 2);
        // ENGINE_TYPE, the end of its chain: LCE (19).
        let t = NV_PTOP_DEVICE_INFO::from((19 << 2) | 3);
        assert!(!t.chain());
        assert_eq!(t.entry().get(), 3);
        assert_eq!(t.type_enum().get(), 19);
    }

    #[test]
    fn bar1_block_decodes_mode_target_and_pointer() {
        let block = NV_PBUS_BAR1_BLOCK::from(0xa012_3456);
        assert!(block.mode_virtual());
        assert_eq!(block.target().get(), 2);
        assert_eq!(block.ptr().get(), 0x012_3456);
        let block = NV_PBUS_BAR1_BLOCK::from(0x0000_0001);
        assert!(!block.mode_virtual());
        assert_eq!(block.target().get(), 0);
        assert_eq!(block.ptr().get(), 1);
    }
}
