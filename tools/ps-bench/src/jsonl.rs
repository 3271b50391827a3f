// SPDX-License-Identifier: GPL-2.0

//! Reading back the flat JSON objects `ps-bench tier` (and the guest script, for an OOM kill)
//! write, one per line: string, number, boolean and null values, no nesting.

use pseudoscopic::json::Json;

/// Parses one line holding a flat JSON object.
pub fn parse_object(line: &str) -> Result<Json, String> {
    let bad = |what: &str| format!("{what} in {line:?}");
    let mut rest = line
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| bad("not a JSON object"))?
        .trim();
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (key, after) = string(rest).ok_or_else(|| bad("bad key"))?;
        let after = after
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| bad("no ':'"))?
            .trim_start();
        let (value, after) = match after.strip_prefix('"') {
            Some(_) => {
                let (s, after) = string(after).ok_or_else(|| bad("bad string"))?;
                (Json::Str(s), after)
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                let token = after[..end].trim();
                let value = match token {
                    "true" => Json::Bool(true),
                    "false" => Json::Bool(false),
                    "null" => Json::Null,
                    t => match (t.parse::<u64>(), t.parse::<i64>(), t.parse::<f64>()) {
                        (Ok(u), _, _) => Json::Uint(u),
                        (_, Ok(i), _) => Json::Int(i),
                        (_, _, Ok(f)) => Json::Float(f),
                        _ => return Err(bad("bad value")),
                    },
                };
                (value, &after[end..])
            }
        };
        fields.push((key, value));
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if after.is_empty() => after,
            None => return Err(bad("no ','")),
        };
    }
    Ok(Json::Object(fields))
}

/// A JSON string at the start of `text`: its value and what follows it.
fn string(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                c @ ('"' | '\\' | '/') => out.push(c),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

pub fn field<'a>(object: &'a Json, key: &str) -> Option<&'a Json> {
    match object {
        Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

pub fn field_f64(object: &Json, key: &str) -> Option<f64> {
    match field(object, key)? {
        Json::Uint(u) => Some(*u as f64),
        Json::Int(i) => Some(*i as f64),
        Json::Float(f) => Some(*f),
        _ => None,
    }
}

pub fn field_u64(object: &Json, key: &str) -> u64 {
    match field(object, key) {
        Some(Json::Uint(u)) => *u,
        _ => 0,
    }
}

pub fn field_str<'a>(object: &'a Json, key: &str) -> Option<&'a str> {
    match field(object, key)? {
        Json::Str(s) => Some(s),
        _ => None,
    }
}

pub fn field_bool(object: &Json, key: &str) -> bool {
    matches!(field(object, key), Some(Json::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_json_writes() {
        let v = Json::object()
            .with("label", "zr\"am")
            .with("oom_killed", false)
            .with("ops", 12u64)
            .with("delta", -3)
            .with("p50_us", 1.25)
            .with("zram_ratio", None::<f64>);
        let back = parse_object(&v.to_string()).unwrap();
        assert_eq!(back, v);
        assert_eq!(field_str(&back, "label"), Some("zr\"am"));
        assert_eq!(field_u64(&back, "ops"), 12);
        assert_eq!(field_f64(&back, "p50_us"), Some(1.25));
        assert!(!field_bool(&back, "oom_killed"));
        assert_eq!(field(&back, "zram_ratio"), Some(&Json::Null));
        assert_eq!(field(&back, "missing"), None);
    }

    #[test]
    fn reads_hand_written_lines_and_refuses_junk() {
        let v = parse_object(
            r#"{"label": "none", "data": "random", "oom_killed": true, "filled_mib": 480}"#,
        )
        .unwrap();
        assert!(field_bool(&v, "oom_killed"));
        assert_eq!(field_u64(&v, "filled_mib"), 480);
        assert_eq!(parse_object("{}").unwrap(), Json::object());
        for junk in [
            "",
            "[1]",
            r#"{"a" 1}"#,
            r#"{"a": x}"#,
            r#"{"a": "b}"#,
            r#"{"a": 1 "b": 2}"#,
        ] {
            assert!(parse_object(junk).is_err(), "{junk}");
        }
    }
}
