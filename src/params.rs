// SPDX-License-Identifier: GPL-2.0

//! Module parameters, validated.
//!
//! The parameters are declared in the C shim (so that they show up, read-only, under
//! `/sys/module/pseudoscopic/parameters/`); this module reads and checks them. They cannot change
//! after load (permission 0444), so every reader sees the values [`Params::load`] checked.

use crate::{
    copy,
    shim, //
};
use kernel::{
    prelude::*,
    time::Delta, //
};

/// Largest `migration_threshold`: one migration batch is at most this many pages.
pub(crate) const MAX_BATCH_PAGES: u32 = 512;
/// Largest `early_refault_secs`: an hour.
const MAX_EARLY_REFAULT_SECS: u32 = 3600;

/// The module parameters after validation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    /// The BAR that exposes VRAM, or `None` to pick one automatically.
    pub(crate) bar_index: Option<u32>,
    /// Most VRAM, in bytes, each GPU lends; `None` lends all of it.
    pub(crate) pool_size: Option<u64>,
    /// Smallest batch, in pages, handed to the copy engine.
    pub(crate) migration_threshold: u32,
    /// Whether the copy engine may be used at all.
    pub(crate) enable_dma: bool,
    /// Whether VRAM that held data is zeroed when its GPU is released.
    pub(crate) scrub: bool,
    /// The CPU copy routine chosen from `cpu_copy`.
    pub(crate) cpu_copy: copy::Routine,
}

impl Params {
    /// Reads the parameters and checks them, logging one clear line for each bad value.
    pub(crate) fn load() -> Result<Self> {
        // SAFETY: The shim's parameter getters only read `static` variables that the module loader
        // set before `init` and that nothing writes afterwards (permission 0444).
        let (bar_index, pool_size_mb, migration_threshold, enable_dma, scrub, cpu_copy) = unsafe {
            (
                shim::ps_param_bar_index(),
                shim::ps_param_pool_size_mb(),
                shim::ps_param_migration_threshold(),
                shim::ps_param_enable_dma(),
                shim::ps_param_scrub(),
                shim::ps_param_cpu_copy(),
            )
        };
        // SAFETY: As above.
        let early_refault_secs = unsafe { shim::ps_param_early_refault_secs() };
        // SAFETY: A `charp` parameter is never null (the loader refuses one without a value); it
        // is a NUL-terminated string that lives, unchanged (0444), as long as the module.
        let cpu_copy = unsafe { CStr::from_char_ptr(cpu_copy) };
        // Not UTF-8 cannot name a routine: `select` refuses it like any other unknown name.
        let cpu_copy = copy::select(cpu_copy.to_str().unwrap_or("?"))?;

        let Numbers {
            bar_index,
            pool_size,
            migration_threshold,
        } = Numbers::check(
            bar_index,
            pool_size_mb,
            migration_threshold,
            early_refault_secs,
        )?;

        Ok(Self {
            bar_index,
            pool_size,
            migration_threshold,
            enable_dma,
            scrub,
            cpu_copy,
        })
    }

    /// One `dmesg` line with the settings in force.
    pub(crate) fn log(&self) {
        pr_info!(
            "VRAM BAR: {}; pool: {}; CPU copies: {}; copy engine: {} (batches of {}+ pages); VRAM zeroed on release: {}\n",
            BarChoice(self.bar_index),
            PoolSize(self.pool_size),
            self.cpu_copy.name(),
            if self.enable_dma {
                "allowed"
            } else {
                "disabled"
            },
            self.migration_threshold,
            if self.scrub { "yes" } else { "no" }
        );
    }
}

/// The numeric parameters, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Numbers {
    bar_index: Option<u32>,
    pool_size: Option<u64>,
    migration_threshold: u32,
}

impl Numbers {
    /// Checks the numeric parameters as the loader set them, logging one clear line for the first
    /// bad value. `early_refault_secs` is only checked: [`early_refault_window`] reads it.
    fn check(
        bar_index: i32,
        pool_size_mb: u32,
        migration_threshold: u32,
        early_refault_secs: u32,
    ) -> Result<Self> {
        let bar_index = match bar_index {
            -1 => None,
            0..=5 => Some(bar_index.unsigned_abs()),
            _ => {
                pr_err!("bar_index={bar_index} is invalid: a PCI BAR is 0-5, or -1 to choose one automatically\n");
                return Err(EINVAL);
            }
        };

        if migration_threshold == 0 || migration_threshold > MAX_BATCH_PAGES {
            pr_err!(
                "migration_threshold={migration_threshold} is invalid: it counts pages per batch, 1-{MAX_BATCH_PAGES}\n"
            );
            return Err(EINVAL);
        }

        if early_refault_secs == 0 || early_refault_secs > MAX_EARLY_REFAULT_SECS {
            pr_err!(
                "early_refault_secs={early_refault_secs} is invalid: it is 1-{MAX_EARLY_REFAULT_SECS} seconds\n"
            );
            return Err(EINVAL);
        }

        let pool_size = match pool_size_mb {
            0 => None,
            mb => Some(u64::from(mb) << 20),
        };

        Ok(Self {
            bar_index,
            pool_size,
            migration_threshold,
        })
    }
}

/// How soon after a park a CPU fault counts as an early refault (`early_refault_secs`, checked
/// by [`Params::load`] at module load).
pub(crate) fn early_refault_window() -> Delta {
    // SAFETY: As in `Params::load`.
    let secs = unsafe { shim::ps_param_early_refault_secs() };
    Delta::from_secs(i64::from(secs))
}

/// `bar_index` as a user reads it.
struct BarChoice(Option<u32>);

impl kernel::fmt::Display for BarChoice {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        match self.0 {
            Some(index) => write!(f, "BAR{index}"),
            None => f.write_str("largest 64-bit prefetchable"),
        }
    }
}

/// `pool_size_mb` as a user reads it.
struct PoolSize(Option<u64>);

impl kernel::fmt::Display for PoolSize {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        match self.0 {
            None => f.write_str("all usable VRAM"),
            Some(bytes) => write!(f, "up to {} MiB per GPU", bytes >> 20),
        }
    }
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_params)]
mod tests {
    use super::*;

    /// `Numbers::check` of the defaults but for the values given.
    fn check(bar_index: i32, pool_size_mb: u32, threshold: u32, refault: u32) -> Result<Numbers> {
        Numbers::check(bar_index, pool_size_mb, threshold, refault)
    }

    #[test]
    fn defaults_and_limits_are_accepted() {
        let defaults = check(-1, 0, 16, 60);
        assert!(
            defaults
                == Ok(Numbers {
                    bar_index: None,
                    pool_size: None,
                    migration_threshold: 16,
                })
        );
        assert!(check(0, 0, 1, 1).map(|n| n.bar_index) == Ok(Some(0)));
        assert!(
            check(5, 0, MAX_BATCH_PAGES, MAX_EARLY_REFAULT_SECS).map(|n| n.bar_index)
                == Ok(Some(5))
        );
    }

    #[test]
    fn pool_size_is_in_mib() {
        assert!(check(-1, 1, 64, 60).map(|n| n.pool_size) == Ok(Some(1 << 20)));
        assert!(check(-1, 4096, 64, 60).map(|n| n.pool_size) == Ok(Some(4 << 30)));
        // The largest value does not overflow.
        assert!(
            check(-1, u32::MAX, 64, 60).map(|n| n.pool_size) == Ok(Some(u64::from(u32::MAX) << 20))
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(check(-2, 0, 64, 60) == Err(EINVAL));
        assert!(check(6, 0, 64, 60) == Err(EINVAL));
        assert!(check(i32::MIN, 0, 64, 60) == Err(EINVAL));
        assert!(check(-1, 0, 0, 60) == Err(EINVAL));
        assert!(check(-1, 0, MAX_BATCH_PAGES + 1, 60) == Err(EINVAL));
        assert!(check(-1, 0, 64, 0) == Err(EINVAL));
        assert!(check(-1, 0, 64, MAX_EARLY_REFAULT_SECS + 1) == Err(EINVAL));
    }
}
