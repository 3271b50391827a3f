// SPDX-License-Identifier: GPL-2.0

//! PCI configuration space of a board: NVIDIA's IDs, class 0x0302 (3D controller), BAR0 (16 MiB
//! registers), BAR1 (64-bit prefetchable VRAM aperture), BAR3 (64-bit prefetchable, 32 MiB), an
//! interrupt pin, a power management capability (D0 and D3hot; `No_Soft_Reset` clear, so that going
//! from D3hot to D0 resets the board, as the PCI Bus Power Management spec says and Linux's PM
//! reset relies on) and an MSI capability (64-bit, one vector). QEMU sizes the BARs from the regions
//! and emulates the BAR registers itself; the model keeps what the guest writes.

use crate::board::Board;

pub const BAR0_LEN: u64 = 16 << 20;
pub const BAR3_LEN: u64 = 32 << 20;
const PM_CAP: usize = 0x60;
/// `PMCSR`: the power state in bits 1:0.
const PMCSR: usize = PM_CAP + 4;
const D3HOT: u8 = 3;
const MSI_CAP: usize = 0x68;

pub struct Config {
    bytes: [u8; 256],
    /// The guest took the board from D3hot to D0 since [`Config::take_reset`] last looked.
    reset_due: bool,
}

impl Config {
    pub fn new(board: &Board) -> Self {
        let mut c = Self {
            bytes: [0; 256],
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
        c
    }

    fn put32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn read(&self, offset: u64, data: &mut [u8]) -> bool {
        let Some(src) = self
            .bytes
            .get(offset as usize..offset as usize + data.len())
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
    /// the MSI registers; identity, class and capability layout are read-only.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        let start = offset as usize;
        let Some(end) = start.checked_add(data.len()).filter(|&e| e <= 256) else {
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
            let writable = matches!(i, 0x04..=0x05 | 0x10..=0x27 | 0x3c)
                || (MSI_CAP + 2..MSI_CAP + 14).contains(&i);
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
    /// state (D0), MSI enable.
    pub fn reset(&mut self) {
        self.bytes[0x04] = 0;
        self.bytes[0x05] = 0;
        self.bytes[PMCSR] &= !3;
        self.bytes[MSI_CAP + 2] &= !1;
    }
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
        let c = Config::new(find("v100").unwrap());
        let pm = u64::from(c.bytes[0x34]);
        assert_eq!(word(&c, pm) & 0xff, 0x01);
        assert_eq!(u64::from(word(&c, pm) >> 8), MSI_CAP as u64);
        assert_eq!(word(&c, MSI_CAP as u64) & 0xff, 0x05);
        // No_Soft_Reset clear: D3hot to D0 resets.
        assert_eq!(word(&c, PMCSR as u64) & (1 << 3), 0);
    }

    #[test]
    fn d3hot_to_d0_is_a_reset_and_d0_writes_are_not() {
        let mut c = Config::new(find("p100").unwrap());
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
}
