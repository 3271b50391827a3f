// SPDX-License-Identifier: GPL-2.0

//! DAMON through its sysfs interface (`/sys/kernel/mm/damon/admin`,
//! Documentation/admin-guide/mm/damon/usage.rst): one kdamond per monitored process (DAMON's
//! tried regions do not say which target they belong to), each with one `vaddr` context, one
//! target and one `stat` scheme for regions with no access (`nr_accesses` 0) for at least the
//! cold age. `update_schemes_tried_regions` then lists those regions.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// A region DAMON found cold: `[start, end)`, idle for `age` aggregation intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub age: u64,
}

/// DAMON's sysfs interface under a root directory. ps-tierd owns it while it runs: it sets the
/// number of kdamonds and rewrites their settings.
#[derive(Debug)]
pub struct Damon {
    admin: PathBuf,
    /// The pid each kdamond monitors, if any.
    slots: Vec<Option<i32>>,
    /// kdamonds started so far.
    starts: u64,
}

/// The monitoring settings every kdamond gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    pub sample_us: u64,
    pub aggr_us: u64,
    /// How often DAMON fits its regions to the process's mappings as they are now (its "ops
    /// update" interval, 60 s unless set): memory mapped since is not monitored before that.
    pub update_us: u64,
    /// Cold age, in aggregation intervals.
    pub min_age: u64,
    pub min_regions: u64,
    pub max_regions: u64,
}

fn write(path: &Path, value: impl ToString) -> io::Result<()> {
    fs::write(path, value.to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The regions of a scheme's `tried_regions` directory, in region order.
pub fn parse_tried_regions(dir: &Path) -> Vec<Region> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut regions: Vec<(u64, Region)> = entries
        .flatten()
        .filter_map(|e| {
            let index: u64 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path();
            let region = Region {
                start: read_u64(&p.join("start"))?,
                end: read_u64(&p.join("end"))?,
                age: read_u64(&p.join("age"))?,
            };
            (region.start < region.end).then_some((index, region))
        })
        .collect();
    regions.sort_by_key(|(i, _)| *i);
    regions.into_iter().map(|(_, r)| r).collect()
}

impl Damon {
    /// DAMON under `root` (`/` normally), or why it cannot be used.
    pub fn open(root: &Path) -> Result<Self, String> {
        let admin = root.join("sys/kernel/mm/damon/admin");
        if !admin.join("kdamonds/nr_kdamonds").exists() {
            return Err(format!(
                "no DAMON sysfs interface at {} (a kernel with CONFIG_DAMON_SYSFS and CONFIG_DAMON_VADDR)",
                admin.display()
            ));
        }
        Ok(Self {
            admin,
            slots: Vec::new(),
            starts: 0,
        })
    }

    fn kdamond(&self, slot: usize) -> PathBuf {
        self.admin.join(format!("kdamonds/{slot}"))
    }

    fn context(&self, slot: usize) -> PathBuf {
        self.kdamond(slot).join("contexts/0")
    }

    fn scheme(&self, slot: usize) -> PathBuf {
        self.context(slot).join("schemes/0")
    }

    fn state(&self, slot: usize) -> PathBuf {
        self.kdamond(slot).join("state")
    }

    /// Stops every kdamond there is, ignoring errors (one may be off already).
    fn stop_all(&self) {
        let n = read_u64(&self.admin.join("kdamonds/nr_kdamonds")).unwrap_or(0);
        for slot in 0..n as usize {
            let _ = write(&self.state(slot), "off");
        }
    }

    /// Sets up `n` kdamonds with `attrs`, none monitoring anything yet.
    pub fn setup(&mut self, n: usize, attrs: Attrs) -> io::Result<()> {
        self.stop_all();
        write(&self.admin.join("kdamonds/nr_kdamonds"), n)?;
        for slot in 0..n {
            write(&self.kdamond(slot).join("contexts/nr_contexts"), 1)?;
            let ctx = self.context(slot);
            write(&ctx.join("operations"), "vaddr")?;
            let intervals = ctx.join("monitoring_attrs/intervals");
            write(&intervals.join("sample_us"), attrs.sample_us)?;
            write(&intervals.join("aggr_us"), attrs.aggr_us)?;
            write(&intervals.join("update_us"), attrs.update_us)?;
            let regions = ctx.join("monitoring_attrs/nr_regions");
            write(&regions.join("min"), attrs.min_regions)?;
            write(&regions.join("max"), attrs.max_regions)?;
            write(&ctx.join("targets/nr_targets"), 1)?;
            write(&ctx.join("schemes/nr_schemes"), 1)?;
            let scheme = self.scheme(slot);
            write(&scheme.join("action"), "stat")?;
            let pattern = scheme.join("access_pattern");
            write(&pattern.join("sz/min"), 0)?;
            write(&pattern.join("sz/max"), u64::MAX)?;
            write(&pattern.join("nr_accesses/min"), 0)?;
            write(&pattern.join("nr_accesses/max"), 0)?;
            write(&pattern.join("age/min"), attrs.min_age)?;
            write(&pattern.join("age/max"), u32::MAX)?;
        }
        self.slots = vec![None; n];
        Ok(())
    }

    /// Whether kdamond `slot` runs.
    fn running(&self, slot: usize) -> bool {
        fs::read_to_string(self.state(slot)).is_ok_and(|s| s.trim() == "on")
    }

    /// The pids being monitored, by slot; a kdamond that stopped by itself (its process exited)
    /// frees its slot.
    pub fn monitored(&mut self) -> Vec<(usize, i32)> {
        for slot in 0..self.slots.len() {
            if self.slots[slot].is_some() && !self.running(slot) {
                self.slots[slot] = None;
            }
        }
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, pid)| pid.map(|pid| (slot, pid)))
            .collect()
    }

    /// Monitors exactly `pids` (as far as slots go): stops the kdamonds of processes no longer
    /// wanted and starts one for each new process. Returns the pids that could not be started.
    pub fn assign(&mut self, pids: &[i32]) -> Vec<(i32, io::Error)> {
        for slot in 0..self.slots.len() {
            if let Some(pid) = self.slots[slot] {
                if !pids.contains(&pid) {
                    let _ = write(&self.state(slot), "off");
                    self.slots[slot] = None;
                }
            }
        }
        let mut failed = Vec::new();
        for &pid in pids {
            if self.slots.contains(&Some(pid)) {
                continue;
            }
            let Some(slot) = self.slots.iter().position(Option::is_none) else {
                break;
            };
            let start = || -> io::Result<()> {
                let _ = write(&self.state(slot), "off");
                write(&self.context(slot).join("targets/0/pid_target"), pid)?;
                write(&self.state(slot), "on")
            };
            match start() {
                Ok(()) => {
                    self.slots[slot] = Some(pid);
                    self.starts += 1;
                }
                Err(e) => failed.push((pid, e)),
            }
        }
        failed
    }

    /// How many kdamonds were started (one per process it began to watch).
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// Sets the cold age (aggregation intervals) of every kdamond, running ones included.
    pub fn set_min_age(&self, min_age: u64) -> io::Result<()> {
        for slot in 0..self.slots.len() {
            write(&self.scheme(slot).join("access_pattern/age/min"), min_age)?;
            if self.slots[slot].is_some() && self.running(slot) {
                write(&self.state(slot), "commit")?;
            }
        }
        Ok(())
    }

    /// The cold regions kdamond `slot` found, as of now.
    pub fn cold_regions(&self, slot: usize) -> io::Result<Vec<Region>> {
        write(&self.state(slot), "update_schemes_tried_regions")?;
        Ok(parse_tried_regions(
            &self.scheme(slot).join("tried_regions"),
        ))
    }

    /// Stops every kdamond and releases them.
    pub fn shutdown(&mut self) {
        self.stop_all();
        let _ = write(&self.admin.join("kdamonds/nr_kdamonds"), 0);
        self.slots.clear();
    }
}

/// DAMON_STAT's switch (`/sys/module/damon_stat/parameters/enabled`, Y or N): it monitors all of
/// physical memory and starts its kdamond as DAMON's exclusive user, so that while it runs no
/// kdamond of the sysfs interface starts (`EBUSY`).
///
/// A pause is recorded in a file under `/run` (gone at the next boot) until DAMON_STAT runs again,
/// so that a ps-tierd that died without starting it again (SIGKILL, a crash) leaves the next one
/// to do it.
#[derive(Debug)]
pub struct DamonStat {
    enabled: PathBuf,
    record: PathBuf,
    /// Whether ps-tierd stopped it, and so starts it again.
    paused: bool,
}

impl DamonStat {
    /// DAMON_STAT's switch under `root` (`/` normally); a kernel without it has no file.
    pub fn new(root: &Path) -> Self {
        Self {
            enabled: root.join("sys/module/damon_stat/parameters/enabled"),
            record: root.join("run/ps-tierd/damon_stat-paused"),
            paused: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.enabled
    }

    /// Whether DAMON_STAT runs.
    pub fn running(&self) -> bool {
        fs::read_to_string(&self.enabled).is_ok_and(|s| s.trim() == "Y")
    }

    /// Takes over the pause of an earlier ps-tierd that did not start DAMON_STAT again; returns
    /// whether there was one.
    pub fn adopt(&mut self) -> bool {
        self.paused = !self.running() && self.record.exists();
        self.paused
    }

    /// Stops it until [`Self::resume`]. Returns the error that kept the pause from being
    /// recorded, if one did (DAMON_STAT is paused all the same).
    pub fn pause(&mut self) -> io::Result<Option<io::Error>> {
        write(&self.enabled, "N")?;
        self.paused = true;
        let recorded = self
            .record
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| write(&self.record, std::process::id()));
        Ok(recorded.err())
    }

    /// Whether ps-tierd stopped it.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Starts it again if [`Self::pause`] stopped it (or [`Self::adopt`] took the pause over).
    pub fn resume(&mut self) -> io::Result<()> {
        if self.paused {
            write(&self.enabled, "Y")?;
            self.paused = false;
            let _ = fs::remove_file(&self.record);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testtree::Tree;

    const ADMIN: &str = "sys/kernel/mm/damon/admin";

    fn read(t: &Tree, rel: &str) -> String {
        fs::read_to_string(t.0.join(ADMIN).join(rel)).unwrap()
    }

    /// A fake tree with the directories DAMON's sysfs would create for `n` kdamonds.
    fn fake(name: &str, n: usize) -> Tree {
        let t = Tree::new(name);
        t.write(&format!("{ADMIN}/kdamonds/nr_kdamonds"), "0\n");
        for k in 0..n {
            t.write(&format!("{ADMIN}/kdamonds/{k}/state"), "off\n");
            for d in ["intervals", "nr_regions"] {
                t.mkdir(&format!(
                    "{ADMIN}/kdamonds/{k}/contexts/0/monitoring_attrs/{d}"
                ));
            }
            t.mkdir(&format!("{ADMIN}/kdamonds/{k}/contexts/0/targets/0"));
            for d in ["sz", "nr_accesses", "age"] {
                t.mkdir(&format!(
                    "{ADMIN}/kdamonds/{k}/contexts/0/schemes/0/access_pattern/{d}"
                ));
            }
        }
        t
    }

    #[test]
    fn missing_damon_is_a_clear_error() {
        let t = Tree::new("damon-missing");
        let e = Damon::open(&t.0).unwrap_err();
        assert!(e.contains("CONFIG_DAMON_SYSFS"), "{e}");
    }

    #[test]
    fn sets_up_kdamonds_with_a_stat_scheme() {
        let t = fake("damon-setup", 2);
        let mut d = Damon::open(&t.0).unwrap();
        let attrs = Attrs {
            sample_us: 5000,
            aggr_us: 100_000,
            update_us: 1_000_000,
            min_age: 30,
            min_regions: 100,
            max_regions: 1000,
        };
        d.setup(2, attrs).unwrap();
        assert_eq!(read(&t, "kdamonds/nr_kdamonds"), "2");
        for k in 0..2 {
            let ctx = format!("kdamonds/{k}/contexts/0");
            assert_eq!(read(&t, &format!("kdamonds/{k}/contexts/nr_contexts")), "1");
            assert_eq!(read(&t, &format!("{ctx}/operations")), "vaddr");
            assert_eq!(
                read(&t, &format!("{ctx}/monitoring_attrs/intervals/aggr_us")),
                "100000"
            );
            assert_eq!(
                read(&t, &format!("{ctx}/monitoring_attrs/intervals/update_us")),
                "1000000"
            );
            assert_eq!(
                read(&t, &format!("{ctx}/monitoring_attrs/nr_regions/min")),
                "100"
            );
            let s = format!("{ctx}/schemes/0");
            assert_eq!(read(&t, &format!("{s}/action")), "stat");
            assert_eq!(
                read(&t, &format!("{s}/access_pattern/nr_accesses/min")),
                "0"
            );
            assert_eq!(
                read(&t, &format!("{s}/access_pattern/nr_accesses/max")),
                "0"
            );
            assert_eq!(read(&t, &format!("{s}/access_pattern/age/min")), "30");
        }
        d.set_min_age(60).unwrap();
        assert_eq!(
            read(&t, "kdamonds/1/contexts/0/schemes/0/access_pattern/age/min"),
            "60"
        );
    }

    #[test]
    fn assigns_pids_to_free_slots_and_frees_finished_ones() {
        let t = fake("damon-assign", 2);
        let mut d = Damon::open(&t.0).unwrap();
        d.setup(
            2,
            Attrs {
                sample_us: 1,
                aggr_us: 1,
                update_us: 1,
                min_age: 1,
                min_regions: 10,
                max_regions: 20,
            },
        )
        .unwrap();
        assert!(d.assign(&[100, 200, 300]).is_empty());
        assert_eq!(
            read(&t, "kdamonds/0/contexts/0/targets/0/pid_target"),
            "100"
        );
        assert_eq!(
            read(&t, "kdamonds/1/contexts/0/targets/0/pid_target"),
            "200"
        );
        assert_eq!(read(&t, "kdamonds/0/state"), "on");
        assert_eq!(d.monitored(), vec![(0, 100), (1, 200)]);
        // Process 100 exited: its kdamond stopped by itself.
        t.write(&format!("{ADMIN}/kdamonds/0/state"), "off\n");
        assert_eq!(d.monitored(), vec![(1, 200)]);
        // 200 is no longer wanted, 300 gets a slot.
        assert!(d.assign(&[300]).is_empty());
        assert_eq!(read(&t, "kdamonds/1/state"), "off");
        assert_eq!(d.monitored(), vec![(0, 300)]);
        assert_eq!(d.starts(), 3);
        d.shutdown();
        assert_eq!(read(&t, "kdamonds/nr_kdamonds"), "0");
        assert_eq!(read(&t, "kdamonds/0/state"), "off");
    }

    #[test]
    fn parses_tried_regions_in_order() {
        let t = fake("damon-regions", 1);
        let dir = format!("{ADMIN}/kdamonds/0/contexts/0/schemes/0/tried_regions");
        let region = |i: usize, start: u64, end: u64, age: u64| {
            t.write(&format!("{dir}/{i}/start"), &format!("{start}\n"));
            t.write(&format!("{dir}/{i}/end"), &format!("{end}\n"));
            t.write(&format!("{dir}/{i}/nr_accesses"), "0\n");
            t.write(&format!("{dir}/{i}/age"), &format!("{age}\n"));
        };
        region(10, 0x9000, 0xa000, 7);
        region(2, 0x1000, 0x3000, 50);
        region(1, 0x5000, 0x5000, 1); // empty: ignored
        t.write(&format!("{dir}/total_bytes"), "12288\n");
        t.mkdir(&format!("{dir}/3")); // incomplete: ignored
        let mut d = Damon::open(&t.0).unwrap();
        d.setup(
            1,
            Attrs {
                sample_us: 1,
                aggr_us: 1,
                update_us: 1,
                min_age: 1,
                min_regions: 10,
                max_regions: 20,
            },
        )
        .unwrap();
        let got = d.cold_regions(0).unwrap();
        assert_eq!(read(&t, "kdamonds/0/state"), "update_schemes_tried_regions");
        assert_eq!(
            got,
            vec![
                Region {
                    start: 0x1000,
                    end: 0x3000,
                    age: 50
                },
                Region {
                    start: 0x9000,
                    end: 0xa000,
                    age: 7
                },
            ]
        );
    }

    const DAMON_STAT: &str = "sys/module/damon_stat/parameters/enabled";
    const RECORD: &str = "run/ps-tierd/damon_stat-paused";

    #[test]
    fn a_pause_left_by_a_dead_ps_tierd_is_taken_over() {
        let t = Tree::new("damon-stat-adopt");
        t.write(DAMON_STAT, "Y\n");
        let mut first = DamonStat::new(&t.0);
        assert!(first.pause().unwrap().is_none());
        assert!(t.0.join(RECORD).exists());
        // The first one dies without resuming; the next one finds DAMON_STAT off and the record.
        let mut next = DamonStat::new(&t.0);
        assert!(!next.running());
        assert!(next.adopt());
        next.resume().unwrap();
        assert!(next.running());
        assert!(!t.0.join(RECORD).exists());
        // DAMON_STAT off without a record is an administrator's choice: not taken over.
        t.write(DAMON_STAT, "N\n");
        let mut third = DamonStat::new(&t.0);
        assert!(!third.adopt());
        third.resume().unwrap();
        assert!(!third.running());
    }

    #[test]
    fn damon_stat_paused_is_started_again_and_only_then() {
        let t = Tree::new("damon-stat");
        let mut stat = DamonStat::new(&t.0);
        assert!(!stat.running(), "a kernel without DAMON_STAT");
        stat.resume().unwrap();
        assert!(
            !t.0.join(DAMON_STAT).exists(),
            "resume wrote without a pause"
        );
        t.write(DAMON_STAT, "Y\n");
        assert!(stat.running());
        assert!(stat.pause().unwrap().is_none());
        assert_eq!(fs::read_to_string(t.0.join(DAMON_STAT)).unwrap(), "N");
        assert!(!stat.running());
        stat.resume().unwrap();
        assert_eq!(fs::read_to_string(t.0.join(DAMON_STAT)).unwrap(), "Y");
        // Resumed once: an administrator who stops it later is not overruled.
        t.write(DAMON_STAT, "N\n");
        stat.resume().unwrap();
        assert!(!stat.running());
    }
}
