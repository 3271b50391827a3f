// SPDX-License-Identifier: GPL-2.0

//! The module's state as sysfs and procfs show it.

use crate::{iomem, MODULE_NAME};
use serde::{Serialize, Serializer};
use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// A view of the system's `/sys` and `/proc`, rooted at `root` (`/` normally).
#[derive(Clone, Debug)]
pub struct System {
    root: PathBuf,
}

/// A PCI device bound to pseudoscopic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// PCI address, `DDDD:BB:DD.F`.
    pub address: String,
    /// PCI vendor ID.
    pub vendor: u16,
    /// PCI device ID.
    pub device: u16,
    /// The VRAM BAR range pseudoscopic claimed, when `/proc/iomem` shows it (root only).
    pub vram: Option<(u64, u64)>,
    /// The GPU's index in the ioctl ABI.
    pub index: Option<u32>,
    /// Pool size and free pages.
    pub pool: Option<Pool>,
    /// The GPU's copy engine (`<gpu>/copy_engine`: `running ...`, `failed ...` or `none`).
    pub copy_engine: Option<String>,
    /// 2 MiB slots of BAR1 the CPU reaches VRAM through in BAR1 virtual mode, 0 in physical mode
    /// (`<gpu>/bar1_slots`).
    pub bar1_slots: Option<u64>,
}

/// A VRAM pool's size, in pages, and its whole free 2 MiB chunks (room for huge pages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    pub total_pages: u64,
    pub free_pages: u64,
    pub free_chunks: u64,
}

// The sysfs items, generated from their one list in the module, `rust/ps_items.h`
// (`scripts/gen-items.sh`), shared with the module.
#[allow(dead_code)]
#[path = "../../../src/stats/items.rs"]
mod items;

/// The statistics files, by name, in directory order of the kernel.
pub const STAT_NAMES: [&str; items::COUNTERS] = items::COUNTER_NAMES;

/// One reading of the statistics counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    values: Vec<(String, u64)>,
}

impl Stats {
    /// The counter `name` (0 if absent).
    pub fn get(&self, name: &str) -> u64 {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// Every counter as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// `self - earlier`, counter by counter.
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            values: self
                .values
                .iter()
                .map(|(n, v)| (n.clone(), v.wrapping_sub(earlier.get(n))))
                .collect(),
        }
    }

    fn read(dir: &Path) -> io::Result<Self> {
        let mut values = Vec::new();
        for name in STAT_NAMES {
            values.push((name.to_string(), read_u64(&dir.join(name))?));
        }
        Ok(Self { values })
    }
}

/// The counters as one JSON object, in the kernel's order.
impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl Default for System {
    fn default() -> Self {
        Self::new("/")
    }
}

impl System {
    /// A view rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// `/sys/module/pseudoscopic`.
    pub fn module_dir(&self) -> PathBuf {
        self.path("sys/module").join(MODULE_NAME)
    }

    /// Whether the module is loaded.
    pub fn module_loaded(&self) -> bool {
        self.module_dir().is_dir()
    }

    /// Every module parameter as `(name, value)`, sorted by name.
    pub fn parameters(&self) -> io::Result<Vec<(String, String)>> {
        read_dir_values(&self.module_dir().join("parameters"))
    }

    /// The module-wide statistics (`/sys/module/pseudoscopic/stats/`).
    pub fn stats(&self) -> io::Result<Stats> {
        Stats::read(&self.module_dir().join("stats"))
    }

    /// How the module copies pages between RAM and VRAM (`stats/copy_path`), when it says.
    pub fn copy_path(&self) -> Option<String> {
        let text = fs::read_to_string(self.module_dir().join("stats/copy_path")).ok()?;
        Some(text.trim().to_string()).filter(|t| !t.is_empty())
    }

    /// The module-wide pool sizes, summed over GPUs (`/sys/module/pseudoscopic/pool/`).
    pub fn pool(&self) -> io::Result<Pool> {
        read_pool(&self.module_dir().join("pool"))
    }

    /// The statistics of the GPU at PCI `address`.
    pub fn device_stats(&self, address: &str) -> io::Result<Stats> {
        Stats::read(&self.device_dir(address).join("stats"))
    }

    fn device_dir(&self, address: &str) -> PathBuf {
        self.path("sys/bus/pci/devices")
            .join(address)
            .join(MODULE_NAME)
    }

    /// The devices bound to the driver, sorted by PCI address.
    pub fn devices(&self) -> io::Result<Vec<Device>> {
        let driver = self.path("sys/bus/pci/drivers").join(MODULE_NAME);
        let iomem = fs::read_to_string(self.path("proc/iomem")).unwrap_or_default();
        let iomem = iomem::parse(&iomem);
        let claims = iomem::claims(&iomem, MODULE_NAME);
        let mut out = Vec::new();
        let entries = match fs::read_dir(&driver) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let address = entry.file_name().to_string_lossy().into_owned();
            if !is_pci_address(&address) {
                continue;
            }
            let dir = entry.path();
            let vram = claims
                .iter()
                .find(|(_, parent)| *parent == Some(address.as_str()))
                .map(|(e, _)| (e.start, e.end));
            let gpu_dir = dir.join(MODULE_NAME);
            out.push(Device {
                vendor: read_hex(&dir.join("vendor"))?,
                device: read_hex(&dir.join("device"))?,
                index: read_u64(&gpu_dir.join("index"))
                    .ok()
                    .and_then(|i| u32::try_from(i).ok()),
                pool: read_pool(&gpu_dir.join("pool")).ok(),
                copy_engine: fs::read_to_string(gpu_dir.join("copy_engine"))
                    .ok()
                    .map(|t| t.trim().to_string()),
                bar1_slots: read_u64(&gpu_dir.join("bar1_slots")).ok(),
                address,
                vram,
            });
        }
        out.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(out)
    }
}

/// Whether `s` looks like `DDDD:BB:DD.F`.
pub fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

fn read_hex(path: &Path) -> io::Result<u16> {
    let text = fs::read_to_string(path)?;
    let t = text.trim();
    u16::from_str_radix(t.trim_start_matches("0x"), 16).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a hex ID: {t:?}", path.display()),
        )
    })
}

fn read_u64(path: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a number: {:?}", path.display(), text.trim()),
        )
    })
}

fn read_pool(dir: &Path) -> io::Result<Pool> {
    Ok(Pool {
        total_pages: read_u64(&dir.join("total_pages"))?,
        free_pages: read_u64(&dir.join("free_pages"))?,
        free_chunks: read_u64(&dir.join("free_chunks"))?,
    })
}

fn read_dir_values(dir: &Path) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let value = fs::read_to_string(entry.path())?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            value.trim_end().to_string(),
        ));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("ps-sysfs-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn unloaded_module_has_no_devices() {
        let t = Tree::new("unloaded");
        let sys = System::new(&t.0);
        assert!(!sys.module_loaded());
        assert!(sys.devices().unwrap().is_empty());
        assert!(sys.parameters().is_err());
    }

    #[test]
    fn reads_parameters_and_devices() {
        let t = Tree::new("loaded");
        t.write("sys/module/pseudoscopic/parameters/bar_index", "2\n");
        t.write("sys/module/pseudoscopic/parameters/enable_dma", "N\n");
        t.write("sys/devices/pci0000:00/0000:00:03.0/vendor", "0x1af4\n");
        t.write("sys/devices/pci0000:00/0000:00:03.0/device", "0x1110\n");
        let gpu = "sys/devices/pci0000:00/0000:00:03.0/pseudoscopic";
        t.write(&format!("{gpu}/index"), "1\n");
        t.write(&format!("{gpu}/copy_engine"), "none\n");
        t.write(&format!("{gpu}/bar1_slots"), "128\n");
        t.write(&format!("{gpu}/pool/total_pages"), "524288\n");
        t.write(&format!("{gpu}/pool/free_pages"), "524000\n");
        t.write(&format!("{gpu}/pool/free_chunks"), "1023\n");
        t.write("sys/module/pseudoscopic/pool/total_pages", "524288\n");
        t.write("sys/module/pseudoscopic/pool/free_pages", "524000\n");
        t.write("sys/module/pseudoscopic/pool/free_chunks", "1023\n");
        for name in STAT_NAMES {
            let v = if name == "migrations_to_device" {
                "288"
            } else {
                "0"
            };
            t.write(
                &format!("sys/module/pseudoscopic/stats/{name}"),
                &format!("{v}\n"),
            );
            let v = if name == "page_faults" { "7" } else { "0" };
            t.write(&format!("{gpu}/stats/{name}"), &format!("{v}\n"));
        }
        fs::create_dir_all(t.0.join("sys/bus/pci/devices")).unwrap();
        symlink(
            t.0.join("sys/devices/pci0000:00/0000:00:03.0"),
            t.0.join("sys/bus/pci/devices/0000:00:03.0"),
        )
        .unwrap();
        t.write(
            "proc/iomem",
            "100000000-8ffffffff : PCI Bus 0000:00\n  100000000-17fffffff : 0000:00:03.0\n    100000000-17fffffff : pseudoscopic\n",
        );
        let drv = t.0.join("sys/bus/pci/drivers/pseudoscopic");
        fs::create_dir_all(&drv).unwrap();
        symlink(
            t.0.join("sys/devices/pci0000:00/0000:00:03.0"),
            drv.join("0000:00:03.0"),
        )
        .unwrap();
        fs::write(drv.join("new_id"), "").unwrap();

        let sys = System::new(&t.0);
        assert!(sys.module_loaded());
        assert_eq!(sys.copy_path(), None);
        t.write("sys/module/pseudoscopic/stats/copy_path", "avx2-nt\n");
        assert_eq!(sys.copy_path().as_deref(), Some("avx2-nt"));
        assert_eq!(
            sys.parameters().unwrap(),
            vec![
                ("bar_index".to_string(), "2".to_string()),
                ("enable_dma".to_string(), "N".to_string())
            ]
        );
        assert_eq!(
            sys.devices().unwrap(),
            vec![Device {
                address: "0000:00:03.0".into(),
                vendor: 0x1af4,
                device: 0x1110,
                vram: Some((0x1_0000_0000, 0x1_7fff_ffff)),
                index: Some(1),
                pool: Some(Pool {
                    total_pages: 524288,
                    free_pages: 524000,
                    free_chunks: 1023,
                }),
                copy_engine: Some("none".into()),
                bar1_slots: Some(128),
            }]
        );
        assert_eq!(
            sys.pool().unwrap(),
            Pool {
                total_pages: 524288,
                free_pages: 524000,
                free_chunks: 1023,
            }
        );
        let stats = sys.stats().unwrap();
        assert_eq!(stats.get("migrations_to_device"), 288);
        assert_eq!(stats.get("evictions"), 0);
        let later = Stats {
            values: vec![
                ("migrations_to_device".into(), 300),
                ("evictions".into(), 2),
            ],
        };
        assert_eq!(later.since(&stats).get("migrations_to_device"), 12);
        assert_eq!(later.since(&stats).get("evictions"), 2);
        assert_eq!(
            sys.device_stats("0000:00:03.0").unwrap().get("page_faults"),
            7
        );
    }

    #[test]
    fn missing_counter_is_an_error() {
        let t = Tree::new("nostats");
        t.write("sys/module/pseudoscopic/stats/page_faults", "1\n");
        assert!(System::new(&t.0).stats().is_err());
    }

    #[test]
    fn pci_addresses() {
        assert!(is_pci_address("0000:00:03.0"));
        assert!(is_pci_address("abcd:ef:1f.7"));
        assert!(!is_pci_address("new_id"));
        assert!(!is_pci_address("0000:00:03"));
        assert!(!is_pci_address("0000-00:03.0"));
    }
}
