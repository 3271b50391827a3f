// SPDX-License-Identifier: GPL-2.0

//! User-space side of pseudoscopic: where the module publishes its state, and how to read it.
//!
//! Every path is taken relative to a [`System`] root, so tests can point the tools at a fake tree.

pub mod abi;
pub mod cli;
pub mod iomem;
pub mod json;
pub mod maps;
pub mod mem;
pub mod rng;
pub mod smaps;
pub mod sysfs;
pub mod thp;

pub use sysfs::System;

/// The module's name, as in `/sys/module/` and `/proc/iomem`.
pub const MODULE_NAME: &str = "pseudoscopic";

/// The size of a page, in bytes.
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// Parses a number given as decimal or `0x` hexadecimal, with an optional `K`/`M`/`G` suffix
/// (binary units).
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    value.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("0x1000"), Some(4096));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("0x"), None);
        assert_eq!(parse_size("12q"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
        assert_eq!(parse_size("17179869184G"), None);
    }

    #[test]
    fn page_size_is_a_power_of_two() {
        assert!(page_size().is_power_of_two());
    }
}
