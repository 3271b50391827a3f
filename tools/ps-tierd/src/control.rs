// SPDX-License-Identifier: GPL-2.0

//! The two control loops, as pure functions of what they read.
//!
//! - The pressure loop (after TMO's senpai) decides how much to park in a step: nothing while
//!   MemAvailable is above the reserve plus the headroom; while it is below, a rate that starts at
//!   `min_rate_mib` and grows by half each step (doubles while MemAvailable is under the reserve
//!   itself or the "some" memory stall is above `stall_us_per_sec`) up to `max_rate_mib`, never
//!   more than the shortfall. It looks one step ahead: MemAvailable is judged as it will be if it
//!   falls as much as it fell in the last step, and a step parks at least that fall, so that a
//!   workload growing faster than the rate is met before it is short rather than after.
//! - The quality loop (after Google's far memory) tunes the cold age: over each
//!   `quality_window_secs` it compares early refaults (pages the module saw faulted back soon
//!   after they were parked) with the working set; above `refault_target` per minute it doubles
//!   the cold age (up to `max_cold_age_secs`), below a quarter of it the age decays by a fifth
//!   back towards `cold_age_secs`.

use crate::config::Config;

const MIB: u64 = 1 << 20;
/// Parks are whole 2 MiB requests at most, so a shortfall is rounded up to one.
const PARK_UNIT: u64 = 2 * MIB;

/// Why a step parks, or does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// MemAvailable above reserve + headroom: nothing to do.
    Headroom,
    /// Below reserve + headroom: parking at a growing rate.
    Short,
    /// Below the reserve itself, or stalling: parking at a rate that doubles.
    Urgent,
}

impl Need {
    pub fn name(self) -> &'static str {
        match self {
            Need::Headroom => "headroom",
            Need::Short => "short",
            Need::Urgent => "urgent",
        }
    }
}

/// The pressure loop's state: the current parking rate.
#[derive(Clone, Debug, Default)]
pub struct Pressure {
    /// Bytes per second.
    rate: u64,
    last_stall_us: Option<u64>,
    last_available: Option<u64>,
}

/// What one pressure step decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub need: Need,
    /// Bytes to park in this step, at most.
    pub bytes: u64,
    /// The rate behind it, bytes per second.
    pub rate: u64,
}

impl Pressure {
    /// One step of `dt` seconds with MemAvailable `available` on a machine with `total` bytes of
    /// RAM and a total "some" memory stall of `stall_us` so far. MemAvailable counts as what it
    /// will be after one more step falling as fast as in the last one.
    pub fn step(
        &mut self,
        config: &Config,
        total: u64,
        available: u64,
        stall_us: u64,
        dt: f64,
    ) -> Budget {
        let stall_rate = match self.last_stall_us {
            Some(last) if dt > 0.0 => stall_us.saturating_sub(last) as f64 / dt,
            _ => 0.0,
        };
        self.last_stall_us = Some(stall_us);
        // How far MemAvailable fell since the last step, and so may fall again by the next.
        let fall = self
            .last_available
            .map_or(0, |last| last.saturating_sub(available));
        self.last_available = Some(available);
        let available = available.saturating_sub(fall);
        let reserve = config.reserve(total);
        let high = reserve + config.headroom(total);
        if available >= high {
            self.rate = 0;
            return Budget {
                need: Need::Headroom,
                bytes: 0,
                rate: 0,
            };
        }
        let urgent = available < reserve || stall_rate >= config.stall_us_per_sec as f64;
        let (min, max) = (config.min_rate_mib * MIB, config.max_rate_mib * MIB);
        self.rate = match (self.rate, urgent) {
            (0, _) => min,
            (r, true) => r.saturating_mul(2),
            (r, false) => r.saturating_add(r / 2),
        }
        .clamp(min, max);
        let shortfall = (high - available).div_ceil(PARK_UNIT) * PARK_UNIT;
        Budget {
            need: if urgent { Need::Urgent } else { Need::Short },
            bytes: ((self.rate as f64 * dt) as u64).max(fall).min(shortfall),
            rate: self.rate,
        }
    }
}

/// Seconds to wait after a step that began `took` seconds ago, so that steps begin every
/// `interval` seconds (at once after a step that parked for longer).
pub fn pause(interval: f64, took: f64) -> f64 {
    (interval - took).max(0.0)
}

/// The quality loop's state: the cold age and the measurement window under way.
#[derive(Clone, Debug)]
pub struct Quality {
    age_secs: f64,
    window: Option<(f64, u64)>,
    /// The last window's early refaults per minute, as a fraction of the working set.
    last_rate: Option<f64>,
}

impl Quality {
    pub fn new(config: &Config) -> Self {
        Self {
            age_secs: config.cold_age_secs,
            window: None,
            last_rate: None,
        }
    }

    /// The cold age, in seconds.
    pub fn age_secs(&self) -> f64 {
        self.age_secs
    }

    pub fn last_rate(&self) -> Option<f64> {
        self.last_rate
    }

    /// One step at time `now` (seconds) with the module's early-refault counter at `refaults` and
    /// a working set of `working_set` pages. Returns the new cold age when it changed.
    pub fn step(
        &mut self,
        config: &Config,
        now: f64,
        refaults: u64,
        working_set: u64,
    ) -> Option<f64> {
        let Some((start, start_refaults)) = self.window else {
            self.window = Some((now, refaults));
            return None;
        };
        let elapsed = now - start;
        if elapsed < config.quality_window_secs {
            return None;
        }
        self.window = Some((now, refaults));
        // Nothing watched (the processes exited): no working set to judge refaults against.
        if working_set == 0 {
            return None;
        }
        let early = refaults.saturating_sub(start_refaults) as f64;
        let rate = early / working_set.max(1) as f64 / (elapsed / 60.0);
        self.last_rate = Some(rate);
        let old = self.age_secs;
        if rate > config.refault_target {
            self.age_secs = (old * 2.0).min(config.max_cold_age_secs);
        } else if rate < config.refault_target / 4.0 {
            self.age_secs = (old * 0.8).max(config.cold_age_secs);
        }
        (self.age_secs != old).then_some(self.age_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn config() -> Config {
        Config {
            reserve_mib: 100,
            headroom_mib: 100,
            min_rate_mib: 10,
            max_rate_mib: 80,
            stall_us_per_sec: 1000,
            cold_age_secs: 10.0,
            max_cold_age_secs: 100.0,
            refault_target: 0.002,
            quality_window_secs: 60.0,
            ..Config::default()
        }
    }

    #[test]
    fn no_parking_with_headroom() {
        let c = config();
        let mut p = Pressure::default();
        let b = p.step(&c, 4 * GIB, 300 * MIB, 0, 1.0);
        assert_eq!(b.need, Need::Headroom);
        assert_eq!(b.bytes, 0);
    }

    #[test]
    fn rate_grows_while_short_and_resets_with_headroom() {
        let c = config();
        let mut p = Pressure::default();
        // 150 MiB available: below 200, above the 100 reserve.
        let rates: Vec<u64> = (0..6)
            .map(|_| p.step(&c, 4 * GIB, 150 * MIB, 0, 1.0).rate / MIB)
            .collect();
        assert_eq!(rates, vec![10, 15, 22, 33, 50, 75]);
        let b = p.step(&c, 4 * GIB, 150 * MIB, 0, 1.0);
        assert_eq!((b.need, b.rate), (Need::Short, 80 * MIB));
        // Never more than the shortfall, rounded up to 2 MiB.
        assert_eq!(b.bytes, 50 * MIB);
        let b = p.step(&c, 4 * GIB, 199 * MIB + 1, 0, 1.0);
        assert_eq!(b.bytes, 2 * MIB);
        assert_eq!(p.step(&c, 4 * GIB, 250 * MIB, 0, 1.0).need, Need::Headroom);
        assert_eq!(p.step(&c, 4 * GIB, 150 * MIB, 0, 1.0).rate, 10 * MIB);
    }

    #[test]
    fn under_the_reserve_or_stalling_the_rate_doubles() {
        let c = config();
        let mut p = Pressure::default();
        let b = p.step(&c, 4 * GIB, 50 * MIB, 0, 1.0);
        assert_eq!((b.need, b.rate), (Need::Urgent, 10 * MIB));
        assert_eq!(p.step(&c, 4 * GIB, 50 * MIB, 0, 1.0).rate, 20 * MIB);
        assert_eq!(p.step(&c, 4 * GIB, 50 * MIB, 0, 0.5).bytes, 20 * MIB);
        // Above the reserve but stalling 2 ms per second.
        let mut p = Pressure::default();
        p.step(&c, 4 * GIB, 150 * MIB, 1_000_000, 2.0);
        let b = p.step(&c, 4 * GIB, 150 * MIB, 1_004_000, 2.0);
        assert_eq!((b.need, b.rate), (Need::Urgent, 20 * MIB));
        let b = p.step(&c, 4 * GIB, 150 * MIB, 1_004_100, 2.0);
        assert_eq!((b.need, b.rate), (Need::Short, 30 * MIB));
    }

    #[test]
    fn a_falling_mem_available_is_met_a_step_ahead() {
        let c = config();
        let mut p = Pressure::default();
        // Above reserve + headroom (200 MiB), and 300 after another fall of 100: nothing yet.
        assert_eq!(p.step(&c, 4 * GIB, 500 * MIB, 0, 1.0).need, Need::Headroom);
        assert_eq!(p.step(&c, 4 * GIB, 400 * MIB, 0, 1.0).need, Need::Headroom);
        // 280 now, 160 after the next fall of 120: short already, by the 40 MiB it foresees
        // (more than the 10 MiB/s rate).
        let b = p.step(&c, 4 * GIB, 280 * MIB, 0, 1.0);
        assert_eq!((b.need, b.rate, b.bytes), (Need::Short, 10 * MIB, 40 * MIB));
        // 200 now, 120 after a fall of 80: the whole fall, not the 15 MiB/s rate.
        let b = p.step(&c, 4 * GIB, 200 * MIB, 0, 1.0);
        assert_eq!((b.need, b.rate, b.bytes), (Need::Short, 15 * MIB, 80 * MIB));
        // Heading under the 100 MiB reserve: urgent before it is there.
        let b = p.step(&c, 4 * GIB, 140 * MIB, 0, 1.0);
        assert_eq!(
            (b.need, b.rate, b.bytes),
            (Need::Urgent, 30 * MIB, 60 * MIB)
        );
        // Steady: the level and the rate alone again.
        let b = p.step(&c, 4 * GIB, 140 * MIB, 0, 1.0);
        assert_eq!((b.need, b.rate, b.bytes), (Need::Short, 45 * MIB, 45 * MIB));
    }

    #[test]
    fn steps_keep_their_cadence() {
        assert_eq!(pause(5.0, 0.5), 4.5);
        assert_eq!(pause(1.0, 3.0), 0.0, "a long step: the next at once");
    }

    #[test]
    fn quality_raises_the_age_on_early_refaults_and_decays_it_back() {
        let c = config();
        let mut q = Quality::new(&c);
        assert_eq!(q.age_secs(), 10.0);
        // Working set 100000 pages: 0.2% per minute is 200 pages per minute.
        assert_eq!(q.step(&c, 0.0, 1000, 100_000), None);
        assert_eq!(q.step(&c, 30.0, 5000, 100_000), None, "window not over");
        assert_eq!(q.step(&c, 60.0, 1300, 100_000), Some(20.0), "300 > 200");
        assert_eq!(q.last_rate(), Some(0.003));
        assert_eq!(q.step(&c, 120.0, 1600, 100_000), Some(40.0));
        assert_eq!(q.step(&c, 180.0, 1900, 100_000), Some(80.0));
        assert_eq!(q.step(&c, 240.0, 2200, 100_000), Some(100.0), "capped");
        assert_eq!(q.step(&c, 300.0, 2500, 100_000), None, "at the cap");
        // Between a quarter of the target and the target: unchanged.
        assert_eq!(q.step(&c, 360.0, 2600, 100_000), None);
        // Below a quarter: decays towards the floor.
        assert_eq!(q.step(&c, 420.0, 2600, 100_000), Some(80.0));
        let mut age = 80.0;
        let mut t = 420.0;
        while age > 10.0 {
            t += 60.0;
            age = q.step(&c, t, 2600, 100_000).unwrap();
        }
        assert_eq!(age, 10.0);
        assert_eq!(q.step(&c, t + 60.0, 2600, 100_000), None);
        // With nothing watched, a window passes without a judgement.
        assert_eq!(q.step(&c, t + 120.0, 9_999_999, 0), None);
        assert_eq!(q.age_secs(), 10.0);
    }
}
