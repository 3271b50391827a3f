// SPDX-License-Identifier: GPL-2.0

//! gpu-model: an NVIDIA board at register level, served to QEMU's `vfio-user-pci` device, for
//! pseudoscopic's VM tests. Written from NVIDIA's manuals, not from the driver, so that it checks the
//! driver instead of echoing it.
//!
//!   gpu-model serve --socket PATH --board KEY --vram-file PATH --vram-mib N --log PATH
//!                   [--not-posted] [--bar1-virtual] [--bind-stuck] [--wpr2 START_MIB:END_MIB]
//!                   [--bar1-mib N] [--ce-fault hang|error|semaphore|misdirect|link[:N]]
//!                   [--leftovers] [--pri-error OFFSET] [--vpr START_MIB:END_MIB]
//!                   [--vram-wraps] [--locked-hidden START_MIB:END_MIB] [--bar1-block-ignored]
//!                   [--dead-after-reset] [--pcie] [--bar1-emulated] [--board-vram-mib N]
//!   gpu-model check-vram --vram-file PATH --seed S --pages N
//!   gpu-model check-untouched --vram-file PATH --start BYTES --end BYTES
//!   gpu-model boards
//!
//! `--dead-after-reset`: a reset after the driver used the board leaves it dead (BAR0 reads all
//! ones, writes are ignored), as a board that does not come back.
//!
//! `--bar1-emulated`: QEMU gets no mapping of BAR1, so every guest access to it is a vfio-user
//! message to the model, which then emulates BAR1's virtual mode (bar1.rs: the BAR1 block binds
//! an instance block, BAR1 offsets are translated through its page tables and a TLB that only an
//! MMU invalidate refreshes; faults read 0xbadfba51 and drop writes, logged `BAR1 FAULT`). Without
//! it BAR1 maps the VRAM file (fast, physical mode only: a driver's switch to virtual mode is
//! logged as `REJECT`). vfio-user fixes a region's mappable areas when QEMU connects, so the
//! choice is made per board at start.
//!
//! `--board-vram-mib N`: the board has N MiB of VRAM (its size registers say so) instead of the
//! real board's, so that a VM can emulate all of it (`--vram-mib N`). With `--bar1-mib` equal to
//! it, the board is one whose firmware resized BAR1 to cover VRAM (Resizable BAR): QEMU's vfio
//! client cannot resize a BAR for the guest (hw/vfio/pci.c `vfio_setup_rebar_ecap` offers only the
//! current size, read-only), so that is the resizable-BAR board the VM tests can have.
//!
//! `--pcie`: the board is a PCI Express endpoint with Advanced Error Reporting (config.rs), for a
//! VM that places it behind a PCI Express root port.
//!
//! `SIGUSR1` (the test host's `PSHOST linkdown`): the board's link goes down, as when a board falls
//! off the bus: configuration space, BAR0 and BAR1 read all ones, writes are lost, the engines
//! stop, until a reset (the root port's secondary bus reset) retrains the link (`LINK` log lines).
//! `SIGUSR2` (`PSHOST mmuhang`): the MMU hangs: no invalidate completes (TRIGGER stays set,
//! `NV_PFB_PRI_MMU_CTRL` never reads PRI_FIFO_EMPTY) or drops a translation, until a reset
//! (`MMU hung` log line).
//!
//! `--ce-fault KIND[:N]` (N defaults to 0): after N good `LAUNCH_DMA`s the copy engine `hang`s
//! (executes and releases nothing more; `NV_PCCSR_CHANNEL` reads BUSY, STATUS ON_ENG, and a
//! preempt of the channel stays pending until the engine's `NV_PMC_ENABLE` bit is cleared), the
//! channel faults with PBDMA_FAULTED (`error`), or every later semaphore is released with the
//! payload XOR 0xdead0000 (`semaphore`), or the board's link goes down as launch N+1 starts, as on
//! `SIGUSR1`, once (`link`).
//!
//! The log has one line per access (`R4 OFFSET = VALUE NAME`, `W4 ...`, `REJECT ...` for what the
//! manuals do not allow) and, for the engines (docs/copy-engine.md, "Model log"):
//!
//!   DMA map ADDR+SIZE | DMA unmap ADDR+SIZE (guest RAM the engines can reach)
//!   FIFO runlist ID engine enabled | engine stopped (NV_PMC_ENABLE)
//!   FIFO runlist ID submitted: APERTURE:ADDR N entries, channels [CHID ...]
//!   FIFO channel CHID bound: instance APERTURE:ADDR | unbound | enabled | disabled
//!   FIFO channel CHID method buffer va:ADDR (N bytes) through BAR2 (Volta/Turing, once per bind)
//!   FIFO doorbell channel CHID | FIFO doorbell runlist ID channel CHID
//!   FIFO preempt channel|TSG ID done | pending: the engine is hung
//!   PBDMA channel CHID GPFIFO INDEX: va:ADDR N words
//!   CE copy SRC -> DST LINE_BYTESxLINES (TOTAL bytes)
//!   CE fill DST LINE_BYTESxLINES (TOTAL bytes) value CONST_A
//!   CE semaphore va:ADDR = PAYLOAD[ four-word]
//!   REJECT PBDMA channel CHID: WHY / REJECT CE channel CHID: WHY, then
//!   FIFO channel CHID PBDMA_FAULTED | ENG_FAULTED
//!   FAULT hang|error|semaphore: ...
//!   BAR1 physical: ... | BAR1 virtual: instance block APERTURE:ADDR, page directory ... (a bind)
//!   BAR1 FAULT R|WLEN OFFSET: WHY (an access through virtual BAR1 that faulted)
//!   MMU invalidate: BAR1 TLB dropped N translations and N directory entries
//!   END BAR1 MODE (N accesses translated, N faults), N rejected, CE N launches, N bytes copied, N filled, N semaphores, N faults

mod bar0;
mod bar1;
mod board;
#[cfg(test)]
mod bringup;
mod ce;
mod config;
mod dma;
mod fifo;
mod mmu;
mod top;
mod vram;

use bar0::{Bar0, Knobs};
use config::{Config, BAR0_LEN, BAR3_LEN};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, LineWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use vfio_bindings::bindings::vfio::{
    vfio_region_info, vfio_region_sparse_mmap_area, VFIO_IRQ_INFO_EVENTFD,
    VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR1_REGION_INDEX, VFIO_PCI_BAR3_REGION_INDEX,
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX,
    VFIO_PCI_NUM_IRQS, VFIO_PCI_NUM_REGIONS, VFIO_REGION_INFO_FLAG_MMAP,
    VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};
use vfio_user::{IrqInfo, Server, ServerBackend, ServerRegion, SparseArea};

/// The board's state, shared between the vfio-user server (register accesses) and the worker
/// that runs the engines; `wake` tells the worker that a register write may have given it work.
struct Shared {
    bar0: Mutex<Bar0>,
    wake: Condvar,
}

/// Set by `SIGUSR1`: the link goes down at the next access or engine step.
static LINK_DROP: AtomicBool = AtomicBool::new(false);
/// Set by `SIGUSR2`: the MMU hangs at the next access or engine step.
static MMU_HANG: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    LINK_DROP.store(true, Ordering::SeqCst);
}

extern "C" fn on_sigusr2(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    MMU_HANG.store(true, Ordering::SeqCst);
}

/// `SIGUSR1` drops the link ([`LINK_DROP`]), `SIGUSR2` hangs the MMU ([`MMU_HANG`]).
fn handle_fault_signals() -> Result<(), String> {
    let handlers: [(libc::c_int, &str, extern "C" fn(libc::c_int)); 2] = [
        (libc::SIGUSR1, "SIGUSR1", on_sigusr1),
        (libc::SIGUSR2, "SIGUSR2", on_sigusr2),
    ];
    for (signal, name, handler) in handlers {
        // SAFETY: The handler only stores to an atomic; SA_RESTART keeps the server's reads going.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(format!("{name} handler: {}", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Applies the faults the signals asked for.
fn take_signalled_faults(bar0: &mut Bar0) {
    if LINK_DROP.swap(false, Ordering::SeqCst) {
        bar0.drop_link();
    }
    if MMU_HANG.swap(false, Ordering::SeqCst) {
        bar0.hang_mmu();
    }
}

/// How often a polling host (Pascal) looks at USERD GP_PUT.
const POLL: Duration = Duration::from_micros(200);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Bar0> {
        let mut bar0 = self.bar0.lock().unwrap_or_else(|e| e.into_inner());
        take_signalled_faults(&mut bar0);
        bar0
    }

    /// The worker: one engine step per lock, so register writes get in between.
    fn work(&self, stop: &Mutex<bool>) {
        let mut bar0 = self.lock();
        while !*stop.lock().unwrap_or_else(|e| e.into_inner()) {
            take_signalled_faults(&mut bar0);
            if bar0.service() {
                drop(bar0);
                // Lets a waiting register access in between two GPFIFO entries.
                std::thread::yield_now();
                bar0 = self.lock();
                continue;
            }
            bar0 = if bar0.polls() {
                self.wake.wait_timeout(bar0, POLL)
            } else {
                self.wake.wait_timeout(bar0, Duration::from_millis(100))
            }
            .unwrap_or_else(|e| e.into_inner())
            .0;
        }
    }
}

struct Device {
    config: Config,
    shared: Arc<Shared>,
    bar1_len: u64,
}

impl Device {
    fn region_name(region: u32) -> &'static str {
        match region {
            VFIO_PCI_BAR1_REGION_INDEX => "BAR1",
            VFIO_PCI_BAR3_REGION_INDEX => "BAR3",
            _ => "region",
        }
    }

    /// BAR1 accesses reach the model only beyond the emulated VRAM (the rest is mapped into the
    /// guest); beyond the board's VRAM, or past the few pages the model keeps there, they are
    /// refused, as is BAR3 (the instance-memory aperture, not modelled).
    fn refuse(&mut self, region: u32, offset: u64, len: usize, what: &str) -> io::Error {
        let mut bar0 = self.shared.lock();
        bar0.rejected += 1;
        let why = if region == VFIO_PCI_BAR1_REGION_INDEX && offset < self.bar1_len {
            "beyond the emulated VRAM"
        } else {
            "not modelled"
        };
        bar0.log_line(&format!(
            "REJECT {what}{len} {} {offset:#x}: {why}",
            Self::region_name(region)
        ));
        io::Error::new(io::ErrorKind::InvalidInput, why)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

impl ServerBackend for Device {
    fn region_read(&mut self, region: u32, offset: u64, data: &mut [u8]) -> io::Result<()> {
        match region {
            VFIO_PCI_CONFIG_REGION_INDEX if self.shared.lock().link_down() => {
                // A configuration read across a link that is down completes with all ones.
                data.fill(0xff);
                Ok(())
            }
            VFIO_PCI_CONFIG_REGION_INDEX => {
                if self.config.read(offset, data) {
                    Ok(())
                } else {
                    Err(invalid("config read beyond the configuration space"))
                }
            }
            VFIO_PCI_BAR0_REGION_INDEX => self.shared.lock().read(offset, data),
            VFIO_PCI_BAR1_REGION_INDEX
                if offset < self.bar1_len
                    && self.shared.lock().bar1_access(offset, Some(data), &[]) =>
            {
                Ok(())
            }
            _ => Err(self.refuse(region, offset, data.len(), "R")),
        }
    }

    fn region_write(&mut self, region: u32, offset: u64, data: &[u8]) -> io::Result<()> {
        match region {
            VFIO_PCI_CONFIG_REGION_INDEX if self.shared.lock().link_down() => Ok(()),
            VFIO_PCI_CONFIG_REGION_INDEX => {
                if !self.config.write(offset, data) {
                    return Err(invalid("config write beyond the configuration space"));
                }
                self.shared.lock().set_bus_master(self.config.bus_master());
                if self.config.take_reset() {
                    // D3hot to D0 with No_Soft_Reset clear: the board resets (Linux's PM reset).
                    self.shared.lock().reset();
                }
                Ok(())
            }
            VFIO_PCI_BAR0_REGION_INDEX => {
                let result = self.shared.lock().write(offset, data);
                self.shared.wake.notify_one();
                result
            }
            VFIO_PCI_BAR1_REGION_INDEX
                if offset < self.bar1_len && self.shared.lock().bar1_access(offset, None, data) =>
            {
                Ok(())
            }
            _ => Err(self.refuse(region, offset, data.len(), "W")),
        }
    }

    fn dma_map(
        &mut self,
        _flags: vfio_user::DmaMapFlags,
        offset: u64,
        address: u64,
        size: u64,
        fd: Option<File>,
    ) -> io::Result<()> {
        let mut bar0 = self.shared.lock();
        let Some(fd) = fd else {
            // Memory QEMU cannot share (no fd) stays out of the engines' reach.
            bar0.log_line(&format!(
                "DMA map {address:#x}+{size:#x} without a file: not reachable"
            ));
            return Ok(());
        };
        // A region the model cannot map stays out of the engines' reach (their accesses there are
        // refused); QEMU is not told, so the VM still starts.
        match bar0.guest.map(address, size, &fd, offset) {
            Ok(()) => bar0.log_line(&format!("DMA map {address:#x}+{size:#x}")),
            Err(e) => bar0.log_line(&format!("DMA map {address:#x}+{size:#x} failed: {e}")),
        }
        Ok(())
    }

    fn dma_unmap(
        &mut self,
        _flags: vfio_user::DmaUnmapFlags,
        address: u64,
        size: u64,
    ) -> io::Result<()> {
        let mut bar0 = self.shared.lock();
        // Unmapping what was never mapped (a region without a file) is not an error.
        if bar0.guest.unmap(address, size).is_ok() {
            bar0.log_line(&format!("DMA unmap {address:#x}+{size:#x}"));
        }
        Ok(())
    }

    /// QEMU resets the device with the machine: at start (the board is as it started anyway)
    /// and when the machine wakes from suspend to RAM, when a real board has lost power.
    fn reset(&mut self) -> io::Result<()> {
        self.config.reset();
        let mut shared = self.shared.lock();
        shared.reset();
        // The command register is cleared: no DMA until the driver sets Bus Master Enable again.
        shared.set_bus_master(self.config.bus_master());
        Ok(())
    }

    fn set_irqs(
        &mut self,
        _index: u32,
        _flags: u32,
        _start: u32,
        _count: u32,
        _fds: Vec<File>,
    ) -> io::Result<()> {
        // The model raises no interrupts; QEMU wires them up all the same.
        Ok(())
    }
}

fn region(index: u32, size: u64, flags: u32) -> ServerRegion {
    ServerRegion {
        region_info: vfio_region_info {
            argsz: std::mem::size_of::<vfio_region_info>() as u32,
            flags,
            index,
            cap_offset: 0,
            size,
            offset: 0,
        },
        sparse_areas: Vec::new(),
        mmap_fd: None,
    }
}

/// The device's regions. BAR1 is the VRAM file mapped by QEMU for the emulated VRAM when
/// `vram_fd` is given; without it (`--bar1-emulated`) every BAR1 access is a vfio-user message to
/// the model. vfio-user fixes the mappable areas when QEMU connects (`VFIO_USER_DEVICE_GET_REGION_INFO`
/// sparse areas; QEMU's client maps them once at realize), so a mapping cannot follow BAR1's mode.
fn regions(
    bar1_len: u64,
    vram_fd: Option<i32>,
    vram_len: u64,
    config_len: u64,
) -> Vec<ServerRegion> {
    let rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    (0..VFIO_PCI_NUM_REGIONS)
        .map(|index| match (index, vram_fd) {
            (VFIO_PCI_BAR0_REGION_INDEX, _) => region(index, BAR0_LEN, rw),
            (VFIO_PCI_BAR1_REGION_INDEX, None) => region(index, bar1_len, rw),
            (VFIO_PCI_BAR1_REGION_INDEX, Some(vram_fd)) => {
                // Physical mode: BAR1 offset N is VRAM address N; QEMU maps the emulated part.
                let mut r = region(index, bar1_len, rw | VFIO_REGION_INFO_FLAG_MMAP);
                r.sparse_areas.push(SparseArea {
                    area: vfio_region_sparse_mmap_area {
                        offset: 0,
                        size: vram_len.min(bar1_len),
                    },
                });
                r.mmap_fd = Some(vram_fd);
                r
            }
            (VFIO_PCI_BAR3_REGION_INDEX, _) => region(index, BAR3_LEN, rw),
            (VFIO_PCI_CONFIG_REGION_INDEX, _) => region(index, config_len, rw),
            _ => region(index, 0, 0),
        })
        .collect()
}

fn irqs() -> Vec<IrqInfo> {
    (0..VFIO_PCI_NUM_IRQS)
        .map(|index| IrqInfo {
            index,
            flags: VFIO_IRQ_INFO_EVENTFD,
            count: u32::from(index == VFIO_PCI_INTX_IRQ_INDEX || index == VFIO_PCI_MSI_IRQ_INDEX),
        })
        .collect()
}

struct ServeArgs {
    socket: PathBuf,
    board: &'static board::Board,
    vram_file: PathBuf,
    vram_mib: u64,
    log: PathBuf,
    knobs: Knobs,
    /// BAR1 size in bytes: the board's, unless `--bar1-mib` says otherwise.
    bar1: u64,
    /// A PCI Express endpoint with AER (`--pcie`).
    pcie: bool,
}

fn parse_serve(args: &[String]) -> Result<ServeArgs, String> {
    let mut socket = None;
    let mut board = None;
    let mut vram_file = None;
    let mut vram_mib = None;
    let mut log = None;
    let mut knobs = Knobs::default();
    let mut bar1_mib = None;
    let mut board_vram_mib = None;
    let mut pcie = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--socket" => socket = Some(PathBuf::from(value()?)),
            "--board" => {
                let key = value()?;
                board = Some(board::find(&key).ok_or(format!("unknown board {key}"))?);
            }
            "--vram-file" => vram_file = Some(PathBuf::from(value()?)),
            "--vram-mib" => {
                vram_mib = Some(
                    value()?
                        .parse::<u64>()
                        .map_err(|e| format!("--vram-mib: {e}"))?,
                )
            }
            "--log" => log = Some(PathBuf::from(value()?)),
            "--not-posted" => knobs.not_posted = true,
            "--bar1-virtual" => knobs.bar1_virtual = true,
            "--bind-stuck" => knobs.bind_stuck = true,
            "--dead-after-reset" => knobs.dead_after_reset = true,
            "--pcie" => pcie = true,
            "--ce-fault" => knobs.ce_fault = Some(fifo::CeFault::parse(&value()?)?),
            "--leftovers" => knobs.leftovers = true,
            "--bar1-block-ignored" => knobs.bar1_block_ignored = true,
            "--bar1-emulated" => knobs.bar1_emulated = true,
            "--board-vram-mib" => {
                board_vram_mib = Some(
                    value()?
                        .parse::<u64>()
                        .map_err(|e| format!("--board-vram-mib: {e}"))?,
                )
            }
            "--vram-wraps" => knobs.vram_wraps = true,
            "--pri-error" => {
                let v = value()?;
                let hex = v.trim_start_matches("0x");
                knobs.pri_error = Some(
                    u32::from_str_radix(hex, 16).map_err(|e| format!("--pri-error {v}: {e}"))?,
                );
            }
            "--vpr" => knobs.vpr = Some(mib_range("--vpr", &value()?)?),
            "--locked-hidden" => {
                knobs.locked_hidden = Some(mib_range("--locked-hidden", &value()?)?)
            }
            "--bar1-mib" => {
                let mib = value()?
                    .parse::<u64>()
                    .map_err(|e| format!("--bar1-mib: {e}"))?;
                if !mib.is_power_of_two() {
                    return Err("--bar1-mib must be a power of two".into());
                }
                bar1_mib = Some(mib);
            }
            "--wpr2" => knobs.wpr2 = Some(mib_range("--wpr2", &value()?)?),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let mut board = board.ok_or("--board is required")?;
    if let Some(mib) = board_vram_mib {
        board = board.with_vram(mib << 20)?;
    }
    let vram_mib = vram_mib.ok_or("--vram-mib is required")?;
    if vram_mib == 0 || vram_mib << 20 > board.vram {
        return Err(format!(
            "--vram-mib must be 1-{} for {}",
            board.vram >> 20,
            board.key
        ));
    }
    Ok(ServeArgs {
        socket: socket.ok_or("--socket is required")?,
        board,
        vram_file: vram_file.ok_or("--vram-file is required")?,
        vram_mib,
        log: log.ok_or("--log is required")?,
        knobs,
        bar1: bar1_mib.map_or(board.bar1, |mib| mib << 20),
        pcie,
    })
}

/// `START_MIB:END_MIB` as a byte range.
fn mib_range(knob: &str, v: &str) -> Result<(u64, u64), String> {
    let (s, e) = v
        .split_once(':')
        .ok_or(format!("{knob} START_MIB:END_MIB"))?;
    let mib = |x: &str| {
        x.parse::<u64>()
            .map(|m| m << 20)
            .map_err(|e| format!("{knob}: {e}"))
    };
    Ok((mib(s)?, mib(e)?))
}

fn serve(args: ServeArgs) -> Result<(), String> {
    handle_fault_signals()?;
    let vram = vram::Vram::create(&args.vram_file, args.vram_mib << 20)
        .map_err(|e| format!("{}: {e}", args.vram_file.display()))?;
    let log = File::create(&args.log).map_err(|e| format!("{}: {e}", args.log.display()))?;
    let config = Config::new(args.board, args.pcie);
    let regions = regions(
        args.bar1,
        (!args.knobs.bar1_emulated).then_some(vram.fd()),
        vram.len(),
        config.size() as u64,
    );
    let shared = Arc::new(Shared {
        bar0: Mutex::new(Bar0::new(
            args.board,
            args.knobs,
            vram,
            Box::new(LineWriter::new(log)),
        )),
        wake: Condvar::new(),
    });
    let mut device = Device {
        config,
        shared: shared.clone(),
        bar1_len: args.bar1,
    };
    shared.lock().log_line(&format!(
        "MODEL {} ({}) VRAM {} MiB, {} MiB emulated, BAR1 {} MiB",
        args.board.name,
        args.board.chipset_name(),
        args.board.vram >> 20,
        args.vram_mib,
        args.bar1 >> 20
    ));
    let server = Server::new(&args.socket, true, irqs(), regions)
        .map_err(|e| format!("{}: {e}", args.socket.display()))?;
    let stop = Arc::new(Mutex::new(false));
    let worker = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || shared.work(&stop))
    };
    let result = server.run(&mut device);
    *stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
    shared.wake.notify_one();
    let _ = worker.join();
    let mut bar0 = shared.lock();
    let summary = bar0.summary();
    bar0.log_line(&format!("END {summary}"));
    result.map_err(|e| format!("vfio-user: {e}"))
}

/// Counts how many of the `pages` pages that `ps-test` fills with `seed` VRAM holds, each whole
/// and page-aligned somewhere.
fn check_vram(args: &[String]) -> Result<(), String> {
    let [flag_file, file, flag_seed, seed, flag_pages, pages] = args else {
        return Err("usage: check-vram --vram-file PATH --seed S --pages N".into());
    };
    if flag_file != "--vram-file" || flag_seed != "--seed" || flag_pages != "--pages" {
        return Err("usage: check-vram --vram-file PATH --seed S --pages N".into());
    }
    let seed: u64 = seed.parse().map_err(|e| format!("--seed: {e}"))?;
    let pages: usize = pages.parse().map_err(|e| format!("--pages: {e}"))?;
    let vram = vram::Vram::open(Path::new(file)).map_err(|e| format!("{file}: {e}"))?;
    const PAGE: usize = 4096;
    const WORDS: usize = PAGE / 8;
    let first_words: HashMap<u64, usize> = (0..pages)
        .map(|p| (pseudoscopic::mem::pattern(seed, p * WORDS), p))
        .collect();
    let mut found = vec![false; pages];
    for chunk in vram.bytes().chunks_exact(PAGE) {
        let word = |i: usize| u64::from_le_bytes(chunk[i * 8..i * 8 + 8].try_into().unwrap());
        let Some(&p) = first_words.get(&word(0)) else {
            continue;
        };
        if (0..WORDS).all(|i| word(i) == pseudoscopic::mem::pattern(seed, p * WORDS + i)) {
            found[p] = true;
        }
    }
    let n = found.iter().filter(|&&f| f).count();
    println!("found {n} of {pages} pages");
    if n == pages {
        Ok(())
    } else {
        Err(format!(
            "page {} is not in VRAM",
            found.iter().position(|&f| !f).unwrap_or(0)
        ))
    }
}

/// Checks that VRAM `[start, end)` is still all zero: the driver never wrote there (reserved VRAM,
/// a locked WPR2 region).
fn check_untouched(args: &[String]) -> Result<(), String> {
    let usage = "usage: check-untouched --vram-file PATH --start BYTES --end BYTES";
    let [flag_file, file, flag_start, start, flag_end, end] = args else {
        return Err(usage.into());
    };
    if flag_file != "--vram-file" || flag_start != "--start" || flag_end != "--end" {
        return Err(usage.into());
    }
    let start: usize = start.parse().map_err(|e| format!("--start: {e}"))?;
    let end: usize = end.parse().map_err(|e| format!("--end: {e}"))?;
    let vram = vram::Vram::open(Path::new(file)).map_err(|e| format!("{file}: {e}"))?;
    let range = vram.bytes().get(start..end).ok_or(format!(
        "[{start:#x}, {end:#x}) is beyond the emulated VRAM"
    ))?;
    match range.iter().position(|&b| b != 0) {
        None => {
            println!("[{start:#x}, {end:#x}) untouched");
            Ok(())
        }
        Some(i) => Err(format!("VRAM byte {:#x} was written", start + i)),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => parse_serve(&args[1..]).and_then(serve),
        Some("check-vram") => check_vram(&args[1..]),
        Some("check-untouched") => check_untouched(&args[1..]),
        Some("boards") => {
            for b in board::BOARDS {
                println!(
                    "{:8} {} [10de:{:04x}] {} {} MiB, BAR1 {} MiB",
                    b.key,
                    b.name,
                    b.device_id,
                    b.chipset_name(),
                    b.vram >> 20,
                    b.bar1 >> 20
                );
            }
            Ok(())
        }
        _ => {
            Err("usage: gpu-model serve ... | check-vram ... | check-untouched ... | boards".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu-model: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;

    /// A board served on a fresh socket with `vram_mib` MiB of VRAM, and QEMU's side of it.
    fn serve_test_board(
        tag: &str,
        board: &'static board::Board,
        knobs: Knobs,
        vram_mib: u64,
    ) -> (Arc<Shared>, vfio_user::Client, PathBuf) {
        let dir = std::env::temp_dir();
        let tag = format!("gpu-model-main-{tag}-{}", std::process::id());
        let sock = dir.join(format!("{tag}.sock"));
        let vram_path = dir.join(format!("{tag}.vram"));
        let vram = vram::Vram::create(&vram_path, vram_mib << 20).unwrap();
        std::fs::remove_file(&vram_path).unwrap();
        let fd = (!knobs.bar1_emulated).then_some(vram.fd());
        let regions = regions(board.bar1, fd, vram.len(), 256);
        let shared = Arc::new(Shared {
            bar0: Mutex::new(Bar0::new(board, knobs, vram, Box::new(io::sink()))),
            wake: Condvar::new(),
        });
        let server = Server::new(&sock, false, irqs(), regions).unwrap();
        let mut device = Device {
            config: Config::new(board, false),
            shared: shared.clone(),
            bar1_len: board.bar1,
        };
        std::thread::spawn(move || server.run(&mut device));
        let client = vfio_user::Client::new(&sock).unwrap();
        (shared, client, sock)
    }

    /// `--bar1-emulated`: QEMU is offered no mapping of BAR1, so its accesses reach the model as
    /// messages, in physical mode as VRAM by address; without it BAR1 maps the VRAM file.
    #[test]
    fn bar1_emulated_offers_no_mapping_and_serves_messages() {
        let board = board::find("rtx8000").unwrap().with_vram(64 << 20).unwrap();
        let knobs = Knobs {
            bar1_emulated: true,
            ..Knobs::default()
        };
        let (shared, mut client, sock) = serve_test_board("emulated", board, knobs, 64);
        let bar1 = client.region(VFIO_PCI_BAR1_REGION_INDEX).unwrap();
        assert_eq!(bar1.flags & VFIO_REGION_INFO_FLAG_MMAP, 0);
        assert!(bar1.sparse_areas.is_empty());
        assert_eq!(bar1.size, 256 << 20);
        client
            .region_write(VFIO_PCI_BAR1_REGION_INDEX, 0x3f_f000, b"vram")
            .unwrap();
        let mut b = [0; 4];
        assert!(shared.lock().vram_mut().read(0x3f_f000, &mut b));
        assert_eq!(&b, b"vram");
        client
            .region_read(VFIO_PCI_BAR1_REGION_INDEX, 0x3f_f000, &mut b)
            .unwrap();
        assert_eq!(&b, b"vram");
        let _ = std::fs::remove_file(&sock);

        let (_, client, sock) = serve_test_board("mapped", board, Knobs::default(), 64);
        let bar1 = client.region(VFIO_PCI_BAR1_REGION_INDEX).unwrap();
        assert_ne!(bar1.flags & VFIO_REGION_INFO_FLAG_MMAP, 0);
        assert_eq!(bar1.sparse_areas[0].size, 64 << 20);
        let _ = std::fs::remove_file(&sock);
    }

    /// QEMU's side of DMA_MAP/DMA_UNMAP over a real vfio-user socket: the model sees guest RAM at
    /// the given address from the given file offset, and stops seeing it when it is unmapped.
    #[test]
    fn dma_map_over_vfio_user_reaches_guest_memory() {
        let board = board::find("v100").unwrap();
        let (shared, mut client, sock) = serve_test_board("dma", board, Knobs::default(), 1);
        let ram = dma::tests::memfd(0x4000);
        ram.write_all_at(b"guest", 0x1000).unwrap();
        client
            .dma_map(0x1000, 0x8000_0000, 0x2000, ram.as_raw_fd())
            .unwrap();
        let mut b = [0; 5];
        assert!(shared.lock().guest.read(0x8000_0000, &mut b));
        assert_eq!(&b, b"guest");
        let mut boot0 = [0; 4];
        client
            .region_read(VFIO_PCI_BAR0_REGION_INDEX, 0, &mut boot0)
            .unwrap();
        assert_eq!(u32::from_le_bytes(boot0), board.boot0());
        client.dma_unmap(0x8000_0000, 0x2000).unwrap();
        assert!(!shared.lock().guest.read(0x8000_0000, &mut b));
        let _ = std::fs::remove_file(&sock);
    }
}
