// SPDX-License-Identifier: GPL-2.0

//! The module's state as sysfs and procfs show it.

use crate::{iomem, MODULE_NAME};
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
            out.push(Device {
                vendor: read_hex(&dir.join("vendor"))?,
                device: read_hex(&dir.join("device"))?,
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
            }]
        );
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
