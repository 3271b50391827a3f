// SPDX-License-Identifier: GPL-2.0

//! The tools' `--json` output: serde_json's rendering of their report structs, compact and on
//! one line unless written to a file as a document.

use serde::Serialize;

/// `value` as one line of JSON.
///
/// # Panics
///
/// When `value` cannot be JSON (a map with keys that are not strings): a programming error, which
/// the tools' tests of every report would show.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("a report serializes to JSON")
}

/// `value` as indented JSON, for a document written to a file.
///
/// # Panics
///
/// As [`to_string`].
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("a report serializes to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Report<'a> {
        loaded: bool,
        pages: u64,
        bar_index: i32,
        rate: f64,
        copy_path: Option<&'a str>,
        names: Vec<&'a str>,
    }

    #[test]
    fn renders_compact_json_in_field_order() {
        let r = Report {
            loaded: true,
            pages: 65536,
            bar_index: -1,
            rate: 1.5,
            copy_path: None,
            names: vec!["a", "b\"\n"],
        };
        assert_eq!(
            to_string(&r),
            r#"{"loaded":true,"pages":65536,"bar_index":-1,"rate":1.5,"copy_path":null,"names":["a","b\"\n"]}"#
        );
        // JSON has no NaN or infinity.
        assert_eq!(to_string(&f64::NAN), "null");
    }
}
