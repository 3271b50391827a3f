// SPDX-License-Identifier: GPL-2.0

//! The copy engine's methods (`classes/dma-copy/clc0b5.h`, `clc1b5.h`, `clc3b5.h`, `clc5b5.h`):
//! pitch-linear copies and constant fills between physical or virtual addresses, then a semaphore
//! release. Methods outside that subset, and values with bits the class does not define, are
//! errors: the caller faults the channel.

use crate::mmu::{Aperture, Mem, Phys, Vm};
use std::fmt;

/// The method state one channel has set on its copy engine object.
#[derive(Clone, Debug, Default)]
pub struct CeState {
    sem_upper: u32,
    sem_lower: u32,
    payload: u32,
    src_phys: u32,
    dst_phys: u32,
    in_upper: u32,
    in_lower: u32,
    out_upper: u32,
    out_lower: u32,
    pitch_in: u32,
    pitch_out: u32,
    line_length: u32,
    line_count: u32,
    const_a: u32,
    const_b: u32,
    components: u32,
}

/// `LAUNCH_DMA`'s byte offset.
pub const LAUNCH_DMA: u32 = 0x300;

/// One end of a transfer.
#[derive(Clone, Copy, Debug)]
enum Loc {
    Phys(Phys),
    Virt(u64),
}

impl Loc {
    fn at(self, off: u64) -> Self {
        match self {
            Self::Phys(p) => Self::Phys(Phys(p.0, p.1 + off)),
            Self::Virt(va) => Self::Virt(va + off),
        }
    }

    fn read(self, mem: &mut Mem, vm: &Vm, data: &mut [u8]) -> Result<(), String> {
        match self {
            Self::Phys(p) => mem.read(p, data),
            Self::Virt(va) => vm.read(mem, va, data),
        }
    }

    fn write(self, mem: &mut Mem, vm: &Vm, data: &[u8]) -> Result<(), String> {
        match self {
            Self::Phys(p) => mem.write(p, data),
            Self::Virt(va) => vm.write(mem, va, data),
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Phys(p) => p.fmt(f),
            Self::Virt(va) => write!(f, "va:{va:#x}"),
        }
    }
}

/// A semaphore the launch releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Semaphore {
    pub va: u64,
    pub payload: u32,
    pub four_word: bool,
}

/// What one `LAUNCH_DMA` did, for the log and the totals.
#[derive(Debug, Default)]
pub struct Done {
    pub copied: u64,
    pub filled: u64,
    pub line: Option<String>,
    pub semaphore: Option<Semaphore>,
}

/// The `LAUNCH_DMA` bits each class defines.
fn launch_bits(class: u32) -> u32 {
    let common = 0x000f_ffff;
    match class {
        0xc0b5 => common,
        0xc1b5 => common | (3 << 22) | (1 << 24),
        0xc3b5 => common | (3 << 20) | (3 << 22) | (1 << 24) | (1 << 25),
        _ => common | (3 << 20) | (3 << 22) | (1 << 24) | (1 << 25) | (1 << 26),
    }
}

fn phys_mode_bits(class: u32) -> u32 {
    // TARGET 1:0; BASIC_KIND 5:2 from Volta on.
    if class == 0xc0b5 || class == 0xc1b5 {
        0x3
    } else {
        0x3f
    }
}

fn check_bits(name: &str, value: u32, allowed: u32) -> Result<(), String> {
    if value & !allowed != 0 {
        return Err(format!(
            "{name} {value:#x}: undefined bits {:#x}",
            value & !allowed
        ));
    }
    Ok(())
}

impl CeState {
    /// Takes one method (byte offset `method`) other than `LAUNCH_DMA`.
    pub fn set(&mut self, class: u32, method: u32, v: u32) -> Result<(), String> {
        let upper17 = (1 << 17) - 1;
        match method {
            0x100 => {}
            0x240 => {
                check_bits("SET_SEMAPHORE_A", v, upper17)?;
                self.sem_upper = v;
            }
            0x244 => self.sem_lower = v,
            0x248 => self.payload = v,
            0x260 | 0x264 => {
                let name = if method == 0x260 {
                    "SET_SRC_PHYS_MODE"
                } else {
                    "SET_DST_PHYS_MODE"
                };
                check_bits(name, v, phys_mode_bits(class))?;
                if v & 3 == 3 {
                    return Err(format!("{name} {v:#x}: TARGET 3 is not defined"));
                }
                if method == 0x260 {
                    self.src_phys = v;
                } else {
                    self.dst_phys = v;
                }
            }
            0x400 => {
                check_bits("OFFSET_IN_UPPER", v, upper17)?;
                self.in_upper = v;
            }
            0x404 => self.in_lower = v,
            0x408 => {
                check_bits("OFFSET_OUT_UPPER", v, upper17)?;
                self.out_upper = v;
            }
            0x40c => self.out_lower = v,
            0x410 => self.pitch_in = v,
            0x414 => self.pitch_out = v,
            0x418 => self.line_length = v,
            0x41c => self.line_count = v,
            0x700 => self.const_a = v,
            0x704 => self.const_b = v,
            0x708 => {
                check_bits("SET_REMAP_COMPONENTS", v, 0x0333_7777)?;
                for c in 0..4 {
                    if (v >> (4 * c)) & 7 == 7 {
                        return Err(format!("SET_REMAP_COMPONENTS {v:#x}: component select 7"));
                    }
                }
                self.components = v;
            }
            _ => {
                return Err(format!(
                    "method {method:#x} of class {class:#x} is not modelled"
                ))
            }
        }
        Ok(())
    }

    fn phys(mode: u32, addr: u64) -> Loc {
        let aperture = match mode & 3 {
            0 => Aperture::Vid,
            1 => Aperture::SysCoherent,
            _ => Aperture::SysNoncoherent,
        };
        Loc::Phys(Phys(aperture, addr))
    }

    /// The semaphore a launch with value `v` releases, checked.
    fn semaphore(&self, v: u32) -> Result<Option<Semaphore>, String> {
        let four_word = match (v >> 3) & 3 {
            0 => return Ok(None),
            1 => false,
            2 => true,
            _ => {
                return Err(format!(
                    "LAUNCH_DMA {v:#x}: SEMAPHORE_TYPE 3 is not defined"
                ))
            }
        };
        let va = (u64::from(self.sem_upper) << 32) | u64::from(self.sem_lower);
        let align = if four_word { 16 } else { 4 };
        if va % align != 0 {
            return Err(format!("semaphore va:{va:#x} is not {align}-byte aligned"));
        }
        Ok(Some(Semaphore {
            va,
            payload: self.payload,
            four_word,
        }))
    }

    /// The same state with the destination one page further (`--ce-fault misdirect`).
    pub fn misdirected(&self) -> Self {
        let out = ((u64::from(self.out_upper) << 32) | u64::from(self.out_lower)) + 4096;
        Self {
            out_upper: (out >> 32) as u32,
            out_lower: out as u32,
            ..self.clone()
        }
    }

    /// Executes `LAUNCH_DMA` = `v`: the transfer, not the semaphore (the caller releases it, so
    /// that a fault knob can corrupt it).
    pub fn launch(&self, class: u32, v: u32, mem: &mut Mem, vm: &Vm) -> Result<Done, String> {
        check_bits("LAUNCH_DMA", v, launch_bits(class))?;
        let refuse = |why: &str| Err(format!("LAUNCH_DMA {v:#x}: {why}"));
        if (v >> 5) & 3 != 0 {
            return refuse("interrupts are not modelled");
        }
        if (v >> 7) & 1 == 0 || (v >> 8) & 1 == 0 {
            return refuse("block-linear layouts are not modelled");
        }
        if (v >> 19) & 1 != 0 {
            return refuse("semaphore reductions are not modelled");
        }
        if (v >> 22) & 3 != 0 {
            return refuse("VPR modes are not modelled");
        }
        let semaphore = self.semaphore(v)?;
        let transfer = v & 3;
        if transfer == 3 {
            return refuse("DATA_TRANSFER_TYPE 3 is not defined");
        }
        let mut done = Done {
            semaphore,
            ..Done::default()
        };
        if transfer == 0 {
            return Ok(done);
        }
        let multi = (v >> 9) & 1 != 0;
        let remap = (v >> 10) & 1 != 0;
        let src_addr = (u64::from(self.in_upper) << 32) | u64::from(self.in_lower);
        let dst_addr = (u64::from(self.out_upper) << 32) | u64::from(self.out_lower);
        let src = if (v >> 12) & 1 != 0 {
            Self::phys(self.src_phys, src_addr)
        } else {
            Loc::Virt(src_addr)
        };
        let dst = if (v >> 13) & 1 != 0 {
            Self::phys(self.dst_phys, dst_addr)
        } else {
            Loc::Virt(dst_addr)
        };
        if self.line_length == 0 {
            return refuse("LINE_LENGTH_IN is 0");
        }
        let lines = if multi { self.line_count } else { 1 };
        if lines == 0 {
            return refuse("LINE_COUNT is 0");
        }
        let fill = if remap {
            Some(self.fill_element()?)
        } else {
            None
        };
        // With remapping, LINE_LENGTH_IN counts elements of the destination components.
        let line_bytes = match &fill {
            Some(element) => u64::from(self.line_length) * element.len() as u64,
            None => u64::from(self.line_length),
        };
        if multi
            && (line_bytes > u64::from(self.pitch_out)
                || (fill.is_none() && line_bytes > u64::from(self.pitch_in)))
        {
            return refuse("lines are longer than the pitch (they would overlap)");
        }
        let len = usize::try_from(line_bytes).map_err(|_| "line too long".to_string())?;
        let mut buf = vec![0u8; len];
        if let Some(element) = &fill {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = element[i % element.len()].unwrap_or(0);
            }
        }
        for line in 0..u64::from(lines) {
            let out = dst.at(line * u64::from(self.pitch_out));
            match &fill {
                None => {
                    src.at(line * u64::from(self.pitch_in))
                        .read(mem, vm, &mut buf)?;
                    out.write(mem, vm, &buf)?;
                }
                Some(element) if element.iter().all(Option::is_some) => {
                    out.write(mem, vm, &buf)?;
                }
                Some(element) => {
                    // NO_WRITE components keep what the destination holds.
                    let mut cur = vec![0u8; len];
                    out.read(mem, vm, &mut cur)?;
                    for (i, b) in cur.iter_mut().enumerate() {
                        if let Some(x) = element[i % element.len()] {
                            *b = x;
                        }
                    }
                    out.write(mem, vm, &cur)?;
                }
            }
        }
        let total = line_bytes * u64::from(lines);
        done.line = Some(match fill {
            None => {
                done.copied = total;
                format!("CE copy {src} -> {dst} {line_bytes}x{lines} ({total} bytes)")
            }
            Some(_) => {
                done.filled = total;
                format!(
                    "CE fill {dst} {line_bytes}x{lines} ({total} bytes) value {:#x}",
                    self.const_a
                )
            }
        });
        Ok(done)
    }

    /// The bytes one remapped destination element is made of (`None`: NO_WRITE), for fills: every
    /// destination component must be CONST_A, CONST_B or NO_WRITE.
    fn fill_element(&self) -> Result<Vec<Option<u8>>, String> {
        let c = self.components;
        let size = ((c >> 16) & 3) as usize + 1;
        let count = ((c >> 24) & 3) as usize + 1;
        let mut element = Vec::with_capacity(size * count);
        for i in 0..count {
            let value = match (c >> (4 * i)) & 7 {
                4 => Some(self.const_a),
                5 => Some(self.const_b),
                6 => None,
                _ => {
                    return Err(format!(
                        "SET_REMAP_COMPONENTS {c:#x}: remapping source components is not modelled"
                    ))
                }
            };
            for byte in 0..size {
                element.push(value.map(|v| v.to_le_bytes().get(byte).copied().unwrap_or(0)));
            }
        }
        Ok(element)
    }
}

/// Writes a released semaphore: ONE_WORD the payload; FOUR_WORD the payload, a zero word and a
/// 64-bit nanosecond timestamp.
pub fn release(mem: &mut Mem, vm: &Vm, sem: Semaphore, payload: u32) -> Result<(), String> {
    if sem.four_word {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&payload.to_le_bytes());
        b[8..].copy_from_slice(&ns.to_le_bytes());
        vm.write(mem, sem.va, &b)
    } else {
        vm.write(mem, sem.va, &payload.to_le_bytes())
    }
}
