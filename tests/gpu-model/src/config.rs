// SPDX-License-Identifier: GPL-2.0

//! PCI configuration space of a board: NVIDIA's IDs, class 0x0302 (3D controller), BAR0 (16 MiB
//! registers), BAR1 (64-bit prefetchable VRAM aperture), BAR3 (64-bit prefetchable, 32 MiB), an
//! interrupt pin and an MSI capability (64-bit, one vector). QEMU sizes the BARs from the regions and
//! emulates the BAR registers itself; the model keeps what the guest writes.

use crate::board::Board;

pub const BAR0_LEN: u64 = 16 << 20;
pub const BAR3_LEN: u64 = 32 << 20;
const MSI_CAP: usize = 0x68;

pub struct Config {
    bytes: [u8; 256],
}

impl Config {
    pub fn new(board: &Board) -> Self {
        let mut c = Self { bytes: [0; 256] };
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
        c.bytes[0x34] = MSI_CAP as u8;
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

    /// Keeps writes to the command register, the BARs, the interrupt line and the MSI registers;
    /// identity, class and capability layout are read-only.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        let start = offset as usize;
        let Some(end) = start.checked_add(data.len()).filter(|&e| e <= 256) else {
            return false;
        };
        for (i, &byte) in (start..end).zip(data) {
            let writable = matches!(i, 0x04..=0x05 | 0x10..=0x27 | 0x3c)
                || (MSI_CAP + 2..MSI_CAP + 14).contains(&i);
            if writable {
                self.bytes[i] = byte;
            }
        }
        true
    }
}
