// SPDX-License-Identifier: GPL-2.0

//! `/etc/pseudoscopic/tierd.toml`: the control loops' settings and which processes are tiered.

use serde::Deserialize;
use std::{fs, io, path::Path};

/// Where the configuration lives unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/pseudoscopic/tierd.toml";

const MIB: u64 = 1 << 20;

/// The whole file. Every key is optional; unknown keys are refused, so a typo is not silently
/// ignored.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seconds between control steps (also the longest wait for a PSI event).
    pub interval_secs: f64,
    /// Free RAM (MemAvailable) to keep, in MiB; 0: 2% of MemTotal, at least 64 MiB.
    pub reserve_mib: u64,
    /// Parking stops once MemAvailable exceeds reserve + headroom, in MiB; 0: the reserve again.
    pub headroom_mib: u64,
    /// Parking rate, MiB/s, at the first step of a shortage.
    pub min_rate_mib: u64,
    /// Highest parking rate, MiB/s (the rate quota).
    pub max_rate_mib: u64,
    /// "some" memory stall, in microseconds per second, that counts as urgent (senpai's default
    /// is about 10 ms per 6 s).
    pub stall_us_per_sec: u64,
    /// Starting (and lowest) cold age: seconds without access before a range may be parked.
    pub cold_age_secs: f64,
    /// Highest cold age the quality loop may raise it to.
    pub max_cold_age_secs: f64,
    /// Early refaults per minute, as a fraction of the working set, the quality loop keeps below.
    pub refault_target: f64,
    /// Seconds over which the quality loop measures early refaults before it acts.
    pub quality_window_secs: f64,
    /// Free VRAM, in MiB, below which nothing more is parked.
    pub vram_reserve_mib: u64,
    /// Processes monitored at once (one DAMON kdamond each), largest first.
    pub max_processes: usize,
    /// Processes with less resident memory, in MiB, are not monitored.
    pub min_rss_mib: u64,
    /// DAMON's sampling interval, milliseconds.
    pub damon_sample_ms: u64,
    /// DAMON's aggregation interval, milliseconds (the unit of region ages).
    pub damon_aggr_ms: u64,
    /// Fewest and most regions DAMON splits a process into (DAMON's defaults): more regions find
    /// smaller cold ranges, at more cost in `update_schemes_tried_regions`.
    pub damon_min_regions: u64,
    pub damon_max_regions: u64,
    /// What to do when DAMON_STAT runs, which holds DAMON for itself (no other kdamond starts).
    pub damon_stat: DamonStatPolicy,
    /// Processes that may be tiered: every non-empty list must match.
    pub include: Selector,
    /// Processes never tiered: any match excludes.
    pub exclude: Selector,
}

/// What ps-tierd does about DAMON_STAT (`CONFIG_DAMON_STAT`, on from boot where
/// `CONFIG_DAMON_STAT_ENABLED_DEFAULT=y`, as in Debian's kernels): it monitors all of physical
/// memory for statistics and starts its kdamond as DAMON's exclusive user, so no other kdamond
/// starts while it runs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DamonStatPolicy {
    /// Stop it while ps-tierd runs (`enabled` to N) and start it again when ps-tierd exits.
    #[default]
    Pause,
    /// Leave it alone: ps-tierd refuses to start while it runs.
    Leave,
}

/// Processes by command name (`/proc/PID/comm`), real user ID, or cgroup (v2 path, a prefix
/// matches its sub-groups).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Selector {
    pub comm: Vec<String>,
    pub uid: Vec<u32>,
    pub cgroup: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            interval_secs: 5.0,
            reserve_mib: 0,
            headroom_mib: 0,
            min_rate_mib: 16,
            max_rate_mib: 512,
            stall_us_per_sec: 2000,
            cold_age_secs: 120.0,
            max_cold_age_secs: 1800.0,
            refault_target: 0.002,
            quality_window_secs: 60.0,
            vram_reserve_mib: 16,
            max_processes: 16,
            min_rss_mib: 16,
            damon_sample_ms: 5,
            damon_aggr_ms: 100,
            damon_min_regions: 10,
            damon_max_regions: 1000,
            damon_stat: DamonStatPolicy::Pause,
            include: Selector::default(),
            exclude: Selector::default(),
        }
    }
}

/// What a process looks like to the selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    pub comm: &'a str,
    pub uid: u32,
    pub cgroup: &'a str,
}

fn cgroup_matches(pattern: &str, cgroup: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    pattern.is_empty()
        || cgroup == pattern
        || cgroup
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Selector {
    fn is_empty(&self) -> bool {
        self.comm.is_empty() && self.uid.is_empty() && self.cgroup.is_empty()
    }

    fn comm_matches(&self, id: &Identity<'_>) -> bool {
        self.comm.iter().any(|c| c == id.comm)
    }

    fn uid_matches(&self, id: &Identity<'_>) -> bool {
        self.uid.contains(&id.uid)
    }

    fn cgroup_matches(&self, id: &Identity<'_>) -> bool {
        self.cgroup.iter().any(|c| cgroup_matches(c, id.cgroup))
    }
}

impl Config {
    /// Reads `path`; a missing file at the default path means the defaults.
    pub fn load(path: &Path, explicit: bool) -> Result<Self, String> {
        match fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !explicit => Ok(Self::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Parses and checks the text of a configuration file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.message().to_string())?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let positive = [
            ("interval_secs", self.interval_secs),
            ("cold_age_secs", self.cold_age_secs),
            ("quality_window_secs", self.quality_window_secs),
            ("refault_target", self.refault_target),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{name} = {value}: must be a positive number"));
            }
        }
        if self.max_cold_age_secs < self.cold_age_secs {
            return Err(format!(
                "max_cold_age_secs = {} is below cold_age_secs = {}",
                self.max_cold_age_secs, self.cold_age_secs
            ));
        }
        if self.min_rate_mib == 0 || self.max_rate_mib < self.min_rate_mib {
            return Err(format!(
                "min_rate_mib = {} and max_rate_mib = {}: need 0 < min_rate_mib <= max_rate_mib",
                self.min_rate_mib, self.max_rate_mib
            ));
        }
        if self.max_processes == 0 {
            return Err("max_processes = 0: nothing could be monitored".into());
        }
        if self.damon_sample_ms == 0 || self.damon_aggr_ms < self.damon_sample_ms {
            return Err(format!(
                "damon_sample_ms = {} and damon_aggr_ms = {}: need 0 < sample <= aggregation",
                self.damon_sample_ms, self.damon_aggr_ms
            ));
        }
        if self.damon_min_regions < 3 || self.damon_max_regions < self.damon_min_regions {
            return Err(format!(
                "damon_min_regions = {} and damon_max_regions = {}: need 3 <= min <= max",
                self.damon_min_regions, self.damon_max_regions
            ));
        }
        Ok(())
    }

    /// The free-RAM reserve, in bytes, on a machine with `mem_total` bytes.
    pub fn reserve(&self, mem_total: u64) -> u64 {
        match self.reserve_mib {
            0 => (mem_total / 50).max(64 * MIB),
            mib => mib * MIB,
        }
    }

    /// How far above the reserve MemAvailable must be for parking to stop, in bytes.
    pub fn headroom(&self, mem_total: u64) -> u64 {
        match self.headroom_mib {
            0 => self.reserve(mem_total),
            mib => mib * MIB,
        }
    }

    /// Whether a process may be tiered: no exclude list matches it and every non-empty include
    /// list does.
    pub fn selects(&self, id: &Identity<'_>) -> bool {
        let ex = &self.exclude;
        if ex.comm_matches(id) || ex.uid_matches(id) || ex.cgroup_matches(id) {
            return false;
        }
        let inc = &self.include;
        if inc.is_empty() {
            return true;
        }
        (inc.comm.is_empty() || inc.comm_matches(id))
            && (inc.uid.is_empty() || inc.uid_matches(id))
            && (inc.cgroup.is_empty() || inc.cgroup_matches(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<'a>(comm: &'a str, uid: u32, cgroup: &'a str) -> Identity<'a> {
        Identity { comm, uid, cgroup }
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn shipped_file_is_the_defaults() {
        let shipped = include_str!("../../../packaging/tierd.toml");
        assert_eq!(Config::parse(shipped).unwrap(), Config::default());
    }

    #[test]
    fn parses_every_key() {
        let c = Config::parse(
            r#"
            interval_secs = 1
            reserve_mib = 64
            headroom_mib = 128
            min_rate_mib = 8
            max_rate_mib = 64
            stall_us_per_sec = 1000
            cold_age_secs = 3
            max_cold_age_secs = 60
            refault_target = 0.01
            quality_window_secs = 10
            vram_reserve_mib = 4
            max_processes = 4
            min_rss_mib = 1
            damon_sample_ms = 5
            damon_aggr_ms = 50
            damon_min_regions = 10
            damon_max_regions = 20
            damon_stat = "leave"
            [include]
            uid = [0, 1000]
            [exclude]
            comm = ["sshd"]
            cgroup = ["/system.slice"]
            "#,
        )
        .unwrap();
        assert_eq!(c.interval_secs, 1.0);
        assert_eq!(c.reserve(8 << 30), 64 * MIB);
        assert_eq!(c.headroom(8 << 30), 128 * MIB);
        assert_eq!(c.cold_age_secs, 3.0);
        assert_eq!(c.include.uid, vec![0, 1000]);
        assert_eq!(c.exclude.comm, vec!["sshd".to_string()]);
        assert_eq!(c.damon_aggr_ms, 50);
        assert_eq!((c.damon_min_regions, c.damon_max_regions), (10, 20));
        assert_eq!(c.damon_stat, DamonStatPolicy::Leave);
    }

    #[test]
    fn refuses_typos_and_bad_values() {
        let e = Config::parse("reserve_mb = 64").unwrap_err();
        assert!(e.contains("reserve_mb"), "{e}");
        let e = Config::parse("damon_stat = \"stop\"").unwrap_err();
        assert!(e.contains("pause") && e.contains("leave"), "{e}");
        assert!(Config::parse("[exclude]\ncomms = []").is_err());
        assert!(Config::parse("interval_secs = 0").is_err());
        assert!(Config::parse("cold_age_secs = -1").is_err());
        assert!(Config::parse("cold_age_secs = 100\nmax_cold_age_secs = 10").is_err());
        assert!(Config::parse("min_rate_mib = 0").is_err());
        assert!(Config::parse("max_processes = 0").is_err());
        assert!(Config::parse("damon_min_regions = 2").is_err());
        assert!(Config::parse("damon_min_regions = 50\ndamon_max_regions = 40").is_err());
        assert!(Config::parse("reserve_mib = \"64\"").is_err());
    }

    #[test]
    fn default_reserve_scales_with_ram() {
        let c = Config::default();
        assert_eq!(c.reserve(1 << 30), 64 * MIB);
        assert_eq!(c.reserve(100 << 30), 2 << 30);
        assert_eq!(c.headroom(100 << 30), 2 << 30);
    }

    #[test]
    fn missing_default_file_is_fine_but_a_named_one_is_not() {
        let p = Path::new("/nonexistent/tierd.toml");
        assert_eq!(Config::load(p, false).unwrap(), Config::default());
        assert!(Config::load(p, true).is_err());
    }

    #[test]
    fn selectors() {
        let mut c = Config::default();
        assert!(c.selects(&id("app", 1000, "/user.slice/a")));
        c.exclude.comm = vec!["sshd".into()];
        c.exclude.cgroup = vec!["/system.slice".into()];
        c.exclude.uid = vec![7];
        assert!(!c.selects(&id("sshd", 1000, "/")));
        assert!(!c.selects(&id("app", 1000, "/system.slice")));
        assert!(!c.selects(&id("app", 1000, "/system.slice/x.service")));
        assert!(c.selects(&id("app", 1000, "/system.slicer")));
        assert!(!c.selects(&id("app", 7, "/")));
        c.include.uid = vec![1000];
        c.include.cgroup = vec!["/user.slice/".into()];
        assert!(c.selects(&id("app", 1000, "/user.slice/a")));
        assert!(!c.selects(&id("app", 1001, "/user.slice/a")));
        assert!(!c.selects(&id("app", 1000, "/other")));
        // An exclusion wins over an inclusion.
        c.exclude.comm.push("app".into());
        assert!(!c.selects(&id("app", 1000, "/user.slice/a")));
    }
}
