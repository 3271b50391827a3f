// SPDX-License-Identifier: GPL-2.0

//! The system's transparent huge page (THP) mode, and a guard for tests that need 2 MiB pages.
//!
//! Distributions differ: Debian's kernels default to `always`, others to `madvise`, and users may
//! choose `never`. Test memory therefore asks for what it needs instead of assuming the mode:
//! [`crate::mem::Buf::anon`] advises `MADV_NOHUGEPAGE`, [`crate::mem::Buf::anon_huge`]
//! `MADV_HUGEPAGE`, and a test that needs huge pages under `never` holds a [`HugePages`].

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// The system-wide mode, `always`, `madvise` or `never`.
pub const ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";
/// The mode of 2 MiB pages alone (Linux 6.8 and later): one of the above or `inherit`.
pub const PMD_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled";

/// The selected word of a sysfs choice file: `madvise` of `always [madvise] never`.
pub fn selected(text: &str) -> Option<&str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
}

fn read_selected(path: &Path) -> io::Result<String> {
    let text = fs::read_to_string(path)?;
    selected(&text).map(str::to_string).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no [selected] word in {text:?}"),
        )
    })
}

/// The mode that applies to 2 MiB pages of an anonymous mapping, and the file that sets it.
fn pmd_mode() -> Result<(String, PathBuf), String> {
    let pmd = Path::new(PMD_ENABLED);
    if pmd.exists() {
        let mode = read_selected(pmd).map_err(|e| format!("{PMD_ENABLED}: {e}"))?;
        if mode != "inherit" {
            return Ok((mode, pmd.to_path_buf()));
        }
    }
    let mode = read_selected(Path::new(ENABLED)).map_err(|e| format!("{ENABLED}: {e}"))?;
    // With a per-size file, setting it leaves the other sizes' `inherit` alone.
    let file = if pmd.exists() {
        pmd
    } else {
        Path::new(ENABLED)
    };
    Ok((mode, file.to_path_buf()))
}

/// While alive, `MADV_HUGEPAGE` mappings may get 2 MiB pages: under `never` the 2 MiB mode is
/// set to `madvise` (root only), and set back when the guard drops. Under `always` or `madvise`
/// nothing changes.
pub struct HugePages {
    restore: Option<(PathBuf, String)>,
}

impl HugePages {
    pub fn allow() -> Result<Self, String> {
        let (mode, file) = pmd_mode()?;
        if mode != "never" {
            return Ok(Self { restore: None });
        }
        // The file's own selection ("inherit" for a per-size file) is what comes back.
        let previous = read_selected(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        fs::write(&file, "madvise").map_err(|e| {
            format!(
                "needs transparent huge pages, which are off ({} is [never]) and could not be \
                 set to madvise: {e}",
                file.display()
            )
        })?;
        Ok(Self {
            restore: Some((file, previous)),
        })
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        if let Some((file, mode)) = &self.restore {
            if let Err(e) = fs::write(file, mode) {
                eprintln!("could not set {} back to {mode}: {e}", file.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::selected;

    #[test]
    fn reads_the_selected_mode() {
        assert_eq!(selected("always [madvise] never\n"), Some("madvise"));
        assert_eq!(selected("[always] madvise never"), Some("always"));
        assert_eq!(selected("always inherit madvise [never]\n"), Some("never"));
        assert_eq!(selected("always madvise never"), None);
    }
}
