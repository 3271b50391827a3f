// SPDX-License-Identifier: GPL-2.0

//! The machine's processes and memory, from procfs under a root directory (`/` normally, a fake
//! tree in tests).

use crate::config::{Config, Identity};
use std::{
    fs::{self, File},
    io,
    os::unix::fs::FileExt as _,
    path::{Path, PathBuf},
};

/// `PF_KTHREAD` in the flags of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// A user process that could be tiered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    pub comm: String,
    pub uid: u32,
    pub cgroup: String,
    /// Resident pages (`/proc/PID/statm`), parked pages included.
    pub rss_pages: u64,
}

/// `/proc/meminfo` and `/proc/pressure/memory`, as far as the control loops need them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
    /// Total "some" memory stall so far, microseconds (0 without PSI).
    pub some_stall_us: u64,
}

/// procfs under `root`.
#[derive(Clone, Debug)]
pub struct Procfs {
    root: PathBuf,
}

/// The flags field (the 9th) of the text of `/proc/PID/stat`.
fn stat_flags(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(6)?.parse().ok()
}

/// The real user ID from the text of `/proc/PID/status`.
fn status_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The cgroup v2 path from the text of `/proc/PID/cgroup` ("/" when it has none).
fn cgroup_path(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_string()
}

/// A `/proc/meminfo` field, in bytes.
fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The "some" line's `total=` from the text of `/proc/pressure/memory`.
fn psi_some_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("some "))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// The pagemap entries (one `u64` per page) of `[start, end)` from an open `/proc/PID/pagemap`.
pub fn pagemap_entries(pagemap: &File, start: u64, end: u64, page: u64) -> io::Result<Vec<u64>> {
    let pages = ((end - start) / page) as usize;
    let mut bytes = vec![0u8; pages * 8];
    pagemap.read_exact_at(&mut bytes, start / page * 8)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect())
}

impl Procfs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join("proc").join(rel)
    }

    /// `/proc/pressure/memory`.
    pub fn psi_path(&self) -> PathBuf {
        self.path("pressure/memory")
    }

    /// Whether process `pid` exists.
    pub fn alive(&self, pid: i32) -> bool {
        self.path(&pid.to_string()).exists()
    }

    /// `/proc/PID/maps`.
    pub fn maps(&self, pid: i32) -> Option<String> {
        fs::read_to_string(self.path(&format!("{pid}/maps"))).ok()
    }

    /// `/proc/PID/pagemap`, opened for [`pagemap_entries`].
    pub fn pagemap(&self, pid: i32) -> Option<File> {
        File::open(self.path(&format!("{pid}/pagemap"))).ok()
    }

    pub fn memory(&self) -> Result<Memory, String> {
        let path = self.path("meminfo");
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let field = |name| {
            meminfo_field(&text, name).ok_or_else(|| format!("{} has no {name}", path.display()))
        };
        let some_stall_us = fs::read_to_string(self.psi_path())
            .ok()
            .and_then(|t| psi_some_total(&t))
            .unwrap_or(0);
        Ok(Memory {
            total: field("MemTotal")?,
            available: field("MemAvailable")?,
            some_stall_us,
        })
    }

    /// One process, or `None` for a kernel thread or one that is gone or unreadable.
    fn process(&self, dir: &Path, pid: i32) -> Option<Process> {
        let read = |name: &str| fs::read_to_string(dir.join(name)).ok();
        if stat_flags(&read("stat")?)? & PF_KTHREAD != 0 {
            return None;
        }
        let rss_pages = read("statm")?.split_whitespace().nth(1)?.parse().ok()?;
        Some(Process {
            pid,
            comm: read("comm")?.trim_end_matches('\n').to_string(),
            uid: status_uid(&read("status")?)?,
            cgroup: read("cgroup").map_or_else(|| "/".to_string(), |t| cgroup_path(&t)),
            rss_pages,
        })
    }

    /// The processes `config` selects, other than `own_pid`, with at least `min_pages` resident,
    /// largest first, at most `limit` of them.
    pub fn candidates(
        &self,
        config: &Config,
        own_pid: i32,
        min_pages: u64,
        limit: usize,
    ) -> Vec<Process> {
        let Ok(entries) = fs::read_dir(self.root.join("proc")) else {
            return Vec::new();
        };
        let mut out: Vec<Process> = entries
            .flatten()
            .filter_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                (pid != own_pid).then_some(())?;
                self.process(&e.path(), pid)
            })
            .filter(|p| p.rss_pages >= min_pages)
            .filter(|p| {
                config.selects(&Identity {
                    comm: &p.comm,
                    uid: p.uid,
                    cgroup: &p.cgroup,
                })
            })
            .collect();
        out.sort_by(|a, b| b.rss_pages.cmp(&a.rss_pages).then(a.pid.cmp(&b.pid)));
        out.truncate(limit);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testtree::Tree;

    fn add(t: &Tree, pid: i32, comm: &str, flags: u64, uid: u32, cgroup: &str, rss: u64) {
        t.write(
            &format!("proc/{pid}/stat"),
            &format!("{pid} ({comm} (x)) S 1 1 1 0 -1 {flags} 0 0 0 0\n"),
        );
        t.write(
            &format!("proc/{pid}/statm"),
            &format!("9999 {rss} 0 0 0 0 0\n"),
        );
        t.write(&format!("proc/{pid}/comm"), &format!("{comm}\n"));
        t.write(
            &format!("proc/{pid}/status"),
            &format!("Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        );
        t.write(&format!("proc/{pid}/cgroup"), &format!("0::{cgroup}\n"));
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            stat_flags("12 (a) b) c) S 1 1 1 0 -1 4194560 0 0"),
            Some(4194560)
        );
        assert_eq!(status_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(1000));
        assert_eq!(cgroup_path("0::/user.slice/x\n"), "/user.slice/x");
        assert_eq!(cgroup_path(""), "/");
        let meminfo = "MemTotal:        2000 kB\nMemFree: 10 kB\nMemAvailable:     1000 kB\n";
        assert_eq!(meminfo_field(meminfo, "MemTotal"), Some(2_048_000));
        assert_eq!(meminfo_field(meminfo, "MemAvailable"), Some(1_024_000));
        assert_eq!(meminfo_field(meminfo, "Mem"), None);
        let psi = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=99\n";
        assert_eq!(psi_some_total(psi), Some(1234));
    }

    #[test]
    fn reads_pagemap_entries_of_a_range() {
        let t = Tree::new("pagemap");
        // Pages 0..16 of a fake pagemap: entry i is i, page 10 present.
        let mut bytes = Vec::new();
        for i in 0..16u64 {
            let e = if i == 10 {
                i | crate::plan::PM_PRESENT
            } else {
                i
            };
            bytes.extend_from_slice(&e.to_ne_bytes());
        }
        t.mkdir("proc/7");
        fs::write(t.0.join("proc/7/pagemap"), &bytes).unwrap();
        let f = Procfs::new(&t.0).pagemap(7).unwrap();
        let got = pagemap_entries(&f, 8 * 4096, 12 * 4096, 4096).unwrap();
        assert_eq!(got, vec![8, 9, 10 | crate::plan::PM_PRESENT, 11]);
        assert!(
            pagemap_entries(&f, 14 * 4096, 18 * 4096, 4096).is_err(),
            "past the end"
        );
        assert!(Procfs::new(&t.0).pagemap(8).is_none());
    }

    #[test]
    fn selects_user_processes_largest_first() {
        let t = Tree::new("procs");
        add(&t, 1, "init", 0x100, 0, "/", 300);
        add(&t, 2, "kthreadd", PF_KTHREAD | 0x40, 0, "/", 0);
        add(&t, 3, "kworker", PF_KTHREAD, 0, "/", 5000);
        add(&t, 10, "big", 0, 1000, "/user.slice/a", 5000);
        add(&t, 11, "small", 0, 1000, "/user.slice/a", 10);
        add(&t, 12, "sshd", 0, 0, "/system.slice/sshd.service", 4000);
        add(&t, 13, "tierd", 0, 0, "/", 9000);
        add(&t, 14, "mid", 0, 0, "/", 2000);
        t.write("proc/meminfo", "MemTotal: 4 kB\nMemAvailable: 2 kB\n");
        t.write("proc/self/stat", "not a pid directory");
        let procfs = Procfs::new(&t.0);
        let mut config = Config::default();
        config.exclude.cgroup = vec!["/system.slice".into()];
        let got: Vec<i32> = procfs
            .candidates(&config, 13, 100, 10)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(got, vec![10, 14, 1]);
        let got = procfs.candidates(&config, 13, 100, 2);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].comm, "big");
        assert_eq!(got[0].uid, 1000);
        assert_eq!(got[0].cgroup, "/user.slice/a");
        config.exclude.comm = vec!["big".into()];
        let got: Vec<i32> = procfs
            .candidates(&config, 13, 100, 10)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(got, vec![14, 1]);
        let m = procfs.memory().unwrap();
        assert_eq!((m.total, m.available, m.some_stall_us), (4096, 2048, 0));
    }
}
