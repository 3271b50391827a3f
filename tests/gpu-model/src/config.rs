// SPDX-License-Identifier: GPL-2.0

//! PCI configuration space of a board: NVIDIA's IDs, class 0x0302 (3D controller), BAR0 (16 MiB
//! registers), BAR1 (64-bit prefetchable VRAM aperture), BAR3 (64-bit prefetchable, 32 MiB), an
//! interrupt pin, a power management capability (D0 and D3hot; `No_Soft_Reset` clear, so that going
//! from D3hot to D0 resets the board, as the PCI Bus Power Management spec says and Linux's PM
//! reset relies on) and an MSI capability (64-bit, one vector). QEMU sizes the BARs from the regions
//! and emulates the BAR registers itself; the model keeps what the guest writes.
//!
//! With `--pcie` the board is a PCI Express endpoint, as the real boards are: 4 KiB of
//! configuration space, a PCI Express capability (version 2, endpoint; Device Capabilities as a
//! V100's `lspci -vv` shows them: MaxPayload 256 bytes, ExtTag+, RBE+, FLReset-, so no function
//! level reset) and, at 0x100, the Advanced Error Reporting extended capability with the PCIe
//! Base Specification's defaults (Uncorrectable Error Severity 0x00462030, Advisory Non-Fatal
//! masked). Status bits are write-one-to-clear; a conventional reset (the secondary bus reset
//! of the port above it) puts every register back to its default.

use crate::board::Board;

pub const BAR0_LEN: u64 = 16 << 20;
pub const BAR3_LEN: u64 = 32 << 20;
const PM_CAP: usize = 0x60;
/// `PMCSR`: the power state in bits 1:0.
const PMCSR: usize = PM_CAP + 4;
const D3HOT: u8 = 3;
const MSI_CAP: usize = 0x68;
/// The PCI Express capability (`--pcie`), after MSI's 14 bytes.
const EXP_CAP: usize = 0x78;
/// Its registers written by software: Device Control, Link Control, Device Control 2, Link
/// Control 2 (offsets in the capability, lengths).
const EXP_WRITABLE: [(usize, usize); 4] = [(0x08, 2), (0x10, 2), (0x28, 2), (0x30, 2)];
/// Device Status: the four error-detected bits are write-one-to-clear.
const EXP_DEVSTA: usize = EXP_CAP + 0x0a;
/// The Advanced Error Reporting extended capability (`--pcie`).
const AER_CAP: usize = 0x100;
/// Uncorrectable Error Status and Correctable Error Status: write-one-to-clear.
const AER_UNCOR_STATUS: usize = AER_CAP + 0x04;
const AER_UNCOR_MASK: usize = AER_CAP + 0x08;
const AER_UNCOR_SEVER: usize = AER_CAP + 0x0c;
const AER_COR_STATUS: usize = AER_CAP + 0x10;
const AER_COR_MASK: usize = AER_CAP + 0x14;
/// PCIe Base Specification 7.8.4.4: Data Link Protocol, Surprise Down, Flow Control Protocol,
/// Receiver Overflow, Malformed TLP and Uncorrectable Internal errors are fatal by default.
const AER_UNCOR_SEVER_DEFAULT: u32 = 0x0046_2030;
/// 7.8.4.6: Advisory Non-Fatal Error Mask (bit 13) is set by default.
const AER_COR_MASK_DEFAULT: u32 = 0x0000_2000;

pub struct Config {
    bytes: [u8; 4096],
    /// 256, or 4096 for a PCI Express endpoint (`--pcie`).
    size: usize,
    /// The guest took the board from D3hot to D0 since [`Config::take_reset`] last looked.
    reset_due: bool,
}

impl Config {
    pub fn new(board: &Board, pcie: bool) -> Self {
        let mut c = Self {
            bytes: [0; 4096],
            size: if pcie { 4096 } else { 256 },
            reset_due: false,
        };
        c.put32(0x00, 0x10de | (u32::from(board.device_id) << 16));
        // Status: capabilities list.
        c.put32(0x04, 1 << 20);
        // Revision A1, class 03 (display) subclass 02 (3D controller), interface 0.
        c.put32(0x08, 0x0302_0000 | 0xa1);
        // BAR0: 32-bit memory, not prefetchable.
        c.put32(0x10, 0);
        // BAR1 (+BAR2) and BAR3 (+BAR4): 64-bit prefetchable memory.
        c.put32(0x14, 0xc);
        c.put32(0x1c, 0xc);
        c.put32(0x2c, 0x10de | (u32::from(board.device_id) << 16));
        c.bytes[0x34] = PM_CAP as u8;
        // Power management: capability 01, next MSI, version 3 (PCI PM 1.2), no D1/D2, no PME;
        // PMCSR in D0 with No_Soft_Reset clear.
        c.put32(PM_CAP, 0x01 | ((MSI_CAP as u32) << 8) | (3 << 16));
        // Interrupt pin INTA.
        c.bytes[0x3d] = 1;
        // MSI: capability 05, end of list, 64-bit address, one vector.
        c.put32(MSI_CAP, 0x05 | (1 << 23));
        if pcie {
            c.bytes[MSI_CAP + 1] = EXP_CAP as u8;
            c.pcie_defaults();
        }
        c
    }

    /// Size of the configuration space, for the region QEMU reads it through.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The PCI Express and AER registers as at power-on.
    fn pcie_defaults(&mut self) {
        self.bytes[EXP_CAP..EXP_CAP + 0x3c].fill(0);
        self.bytes[AER_CAP..AER_CAP + 0x2c].fill(0);
        // Capability 10, end of list; PCI Express Capabilities: version 2, PCI Express Endpoint.
        self.put32(EXP_CAP, 0x10 | (0x0002 << 16));
        // Device Capabilities: MaxPayload 256 bytes, ExtTag+, L0s unlimited, L1 <64us, RBE+,
        // FLReset- (bit 28 clear).
        self.put32(
            EXP_CAP + 0x04,
            0x1 | (1 << 5) | (7 << 6) | (6 << 9) | (1 << 15),
        );
        // Device Control: Relaxed Ordering, No Snoop, MaxReadReq 512 bytes.
        self.put32(EXP_CAP + 0x08, (1 << 4) | (1 << 11) | (2 << 12));
        // Link Capabilities: 8 GT/s, x16, ASPM not supported; Link Status: 8 GT/s x16.
        self.put32(EXP_CAP + 0x0c, 3 | (16 << 4));
        self.put32(EXP_CAP + 0x10, (3 | (16 << 4)) << 16);
        // Device Capabilities 2: completion timeout ranges A-D, disable supported.
        self.put32(EXP_CAP + 0x24, 0xf | (1 << 4));
        // Link Capabilities 2: 2.5, 5 and 8 GT/s; Link Control 2: target 8 GT/s.
        self.put32(EXP_CAP + 0x2c, 0xe);
        self.put32(EXP_CAP + 0x30, 3);
        // AER: capability 0001, version 2, end of list.
        self.put32(AER_CAP, 0x0001 | (2 << 16));
        self.put32(AER_UNCOR_SEVER, AER_UNCOR_SEVER_DEFAULT);
        self.put32(AER_COR_MASK, AER_COR_MASK_DEFAULT);
    }

    fn pcie(&self) -> bool {
        self.size == 4096
    }

    fn put32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn read(&self, offset: u64, data: &mut [u8]) -> bool {
        let start = offset as usize;
        let Some(src) = start
            .checked_add(data.len())
            .filter(|&end| end <= self.size)
            .and_then(|end| self.bytes.get(start..end))
        else {
            return false;
        };
        data.copy_from_slice(src);
        true
    }

    /// `PCI_COMMAND` Bus Master Enable (bit 2).
    pub fn bus_master(&self) -> bool {
        self.bytes[0x04] & 4 != 0
    }

    /// Keeps writes to the command register, the BARs, the interrupt line, the power state and
    /// the MSI registers, and (`--pcie`) the PCI Express control registers and the AER masks and
    /// severities, and clears the status bits written as ones; identity, class, capabilities and
    /// capability layout are read-only.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        let start = offset as usize;
        let Some(end) = start.checked_add(data.len()).filter(|&e| e <= self.size) else {
            return false;
        };
        let state_before = self.bytes[PMCSR] & 3;
        for (i, &byte) in (start..end).zip(data) {
            if i == PMCSR {
                // Only D0 and D3hot are supported; a write of D1 or D2 is ignored.
                if byte & 3 == 0 || byte & 3 == D3HOT {
                    self.bytes[i] = (self.bytes[i] & !3) | (byte & 3);
                }
                continue;
            }
            if self.pcie() && write_one_to_clear(i) {
                self.bytes[i] &= !byte;
                continue;
            }
            let writable = matches!(i, 0x04..=0x05 | 0x10..=0x27 | 0x3c)
                || (MSI_CAP + 2..MSI_CAP + 14).contains(&i)
                || (self.pcie() && pcie_writable(i));
            if writable {
                self.bytes[i] = byte;
            }
        }
        if state_before == D3HOT && self.bytes[PMCSR] & 3 == 0 {
            self.reset_due = true;
        }
        true
    }

    /// Whether the guest took the board from D3hot to D0 (a reset, No_Soft_Reset being clear)
    /// since the last call.
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset_due)
    }

    /// The configuration registers a reset clears: memory and bus-master decoding, the power
    /// state (D0), MSI enable, and (`--pcie`) every PCI Express and AER register.
    pub fn reset(&mut self) {
        self.bytes[0x04] = 0;
        self.bytes[0x05] = 0;
        self.bytes[PMCSR] &= !3;
        self.bytes[MSI_CAP + 2] &= !1;
        if self.pcie() {
            self.pcie_defaults();
        }
    }
}

/// Device Status bits 0-3 and the two AER error status registers.
fn write_one_to_clear(i: usize) -> bool {
    i == EXP_DEVSTA
        || (AER_UNCOR_STATUS..AER_UNCOR_STATUS + 4).contains(&i)
        || (AER_COR_STATUS..AER_COR_STATUS + 4).contains(&i)
}

fn pcie_writable(i: usize) -> bool {
    EXP_WRITABLE
        .iter()
        .any(|&(at, len)| (EXP_CAP + at..EXP_CAP + at + len).contains(&i))
        || (AER_UNCOR_MASK..AER_UNCOR_SEVER + 4).contains(&i)
        || (AER_COR_MASK..AER_COR_MASK + 4).contains(&i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::find;

    fn word(c: &Config, at: u64) -> u16 {
        let mut d = [0; 2];
        assert!(c.read(at, &mut d));
        u16::from_le_bytes(d)
    }

    #[test]
    fn capability_list_reaches_power_management_then_msi() {
        let c = Config::new(find("v100").unwrap(), false);
        let pm = u64::from(c.bytes[0x34]);
        assert_eq!(word(&c, pm) & 0xff, 0x01);
        assert_eq!(u64::from(word(&c, pm) >> 8), MSI_CAP as u64);
        assert_eq!(word(&c, MSI_CAP as u64) & 0xff, 0x05);
        // No_Soft_Reset clear: D3hot to D0 resets.
        assert_eq!(word(&c, PMCSR as u64) & (1 << 3), 0);
    }

    #[test]
    fn d3hot_to_d0_is_a_reset_and_d0_writes_are_not() {
        let mut c = Config::new(find("p100").unwrap(), false);
        assert!(c.write(PMCSR as u64, &0u16.to_le_bytes()));
        assert!(!c.take_reset());
        assert!(c.write(PMCSR as u64, &3u16.to_le_bytes()));
        assert_eq!(word(&c, PMCSR as u64) & 3, 3);
        assert!(!c.take_reset());
        assert!(c.write(0x04, &6u16.to_le_bytes()));
        assert!(c.write(PMCSR as u64, &0u16.to_le_bytes()));
        assert!(c.take_reset());
        assert!(!c.take_reset());
        c.reset();
        assert_eq!(word(&c, 0x04), 0);
        // D1 and D2 are not supported.
        assert!(c.write(PMCSR as u64, &1u16.to_le_bytes()));
        assert_eq!(word(&c, PMCSR as u64) & 3, 0);
    }

    #[test]
    fn pcie_endpoint_has_express_then_aer_without_flr() {
        let c = Config::new(find("v100").unwrap(), true);
        assert_eq!(c.size(), 4096);
        assert_eq!(u64::from(word(&c, MSI_CAP as u64) >> 8), EXP_CAP as u64);
        assert_eq!(word(&c, EXP_CAP as u64), 0x0010);
        // Version 2, endpoint (type 0).
        assert_eq!(word(&c, EXP_CAP as u64 + 2), 0x0002);
        let mut devcap = [0; 4];
        assert!(c.read(EXP_CAP as u64 + 4, &mut devcap));
        assert_eq!(u32::from_le_bytes(devcap) & (1 << 28), 0, "FLReset-");
        let mut d = [0; 4];
        assert!(c.read(AER_CAP as u64, &mut d));
        assert_eq!(u32::from_le_bytes(d), 0x0002_0001);
        assert!(c.read(AER_UNCOR_SEVER as u64, &mut d));
        assert_eq!(u32::from_le_bytes(d), 0x0046_2030);
        let plain = Config::new(find("v100").unwrap(), false);
        assert!(
            !plain.read(AER_CAP as u64, &mut d),
            "no extended space without --pcie"
        );
    }

    #[test]
    fn aer_status_is_write_one_to_clear_and_reset_restores_defaults() {
        let mut c = Config::new(find("v100").unwrap(), true);
        c.bytes[AER_UNCOR_STATUS] = 0x10;
        c.bytes[AER_UNCOR_STATUS + 2] = 0x04;
        assert!(c.write(AER_UNCOR_STATUS as u64, &0x10u32.to_le_bytes()));
        let mut d = [0; 4];
        assert!(c.read(AER_UNCOR_STATUS as u64, &mut d));
        assert_eq!(u32::from_le_bytes(d), 0x0004_0000);
        // Capability and identity stay; masks, severities and controls take writes.
        assert!(c.write(AER_CAP as u64, &0u32.to_le_bytes()));
        assert!(c.write(AER_UNCOR_SEVER as u64, &0u32.to_le_bytes()));
        assert!(c.write(EXP_CAP as u64 + 8, &0x000fu16.to_le_bytes()));
        assert!(c.read(AER_CAP as u64, &mut d));
        assert_eq!(u32::from_le_bytes(d), 0x0002_0001);
        assert_eq!(word(&c, EXP_CAP as u64 + 8), 0x000f);
        c.reset();
        assert!(c.read(AER_UNCOR_SEVER as u64, &mut d));
        assert_eq!(u32::from_le_bytes(d), 0x0046_2030);
        assert!(c.read(AER_UNCOR_STATUS as u64, &mut d));
        assert_eq!(u32::from_le_bytes(d), 0);
        assert_eq!(word(&c, EXP_CAP as u64 + 8) & 0xf, 0);
    }
}
