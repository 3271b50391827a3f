// SPDX-License-Identifier: GPL-2.0

//! The tools' `--json` output: a small JSON value with a compact, one-line rendering.

use std::fmt::{self, Write as _};

/// A JSON value. Objects keep their keys in insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An empty object, to fill with [`Json::with`].
    pub fn object() -> Self {
        Json::Object(Vec::new())
    }

    /// The object with `key` set to `value` appended.
    ///
    /// # Panics
    ///
    /// When `self` is not an object: a programming error.
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Self {
        match &mut self {
            Json::Object(fields) => fields.push((key.to_string(), value.into())),
            other => panic!("Json::with on a non-object {other:?}"),
        }
        self
    }
}

impl From<bool> for Json {
    fn from(v: bool) -> Self {
        Json::Bool(v)
    }
}

impl From<u64> for Json {
    fn from(v: u64) -> Self {
        Json::Uint(v)
    }
}

impl From<u32> for Json {
    fn from(v: u32) -> Self {
        Json::Uint(v.into())
    }
}

impl From<usize> for Json {
    fn from(v: usize) -> Self {
        Json::Uint(v as u64)
    }
}

impl From<i32> for Json {
    fn from(v: i32) -> Self {
        Json::Int(v.into())
    }
}

impl From<f64> for Json {
    fn from(v: f64) -> Self {
        Json::Float(v)
    }
}

impl From<&str> for Json {
    fn from(v: &str) -> Self {
        Json::Str(v.to_string())
    }
}

impl From<String> for Json {
    fn from(v: String) -> Self {
        Json::Str(v)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Self {
        v.map_or(Json::Null, Into::into)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Self {
        Json::Array(v.into_iter().map(Into::into).collect())
    }
}

fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(v) => write!(f, "{v}"),
            Json::Int(v) => write!(f, "{v}"),
            Json::Uint(v) => write!(f, "{v}"),
            // JSON has no NaN or infinity.
            Json::Float(v) if !v.is_finite() => f.write_str("null"),
            Json::Float(v) => write!(f, "{v}"),
            Json::Str(s) => write_str(f, s),
            Json::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Object(fields) => {
                f.write_char('{')?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_str(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_compact_json() {
        let v = Json::object()
            .with("loaded", true)
            .with("pages", 65536u64)
            .with("bar_index", -1)
            .with("rate", 1.5)
            .with("copy_path", None::<String>)
            .with("names", vec!["a", "b"])
            .with("nested", Json::object().with("x", 0u32));
        assert_eq!(
            v.to_string(),
            r#"{"loaded":true,"pages":65536,"bar_index":-1,"rate":1.5,"copy_path":null,"names":["a","b"],"nested":{"x":0}}"#
        );
    }

    #[test]
    fn escapes_strings() {
        let v = Json::from("a\"b\\c\nd\u{1}é");
        assert_eq!(v.to_string(), r#""a\"b\\c\nd\u0001é""#);
        assert_eq!(Json::Float(f64::NAN).to_string(), "null");
        assert_eq!(Json::Array(vec![]).to_string(), "[]");
        assert_eq!(Json::object().to_string(), "{}");
    }
}
