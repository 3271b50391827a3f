// SPDX-License-Identifier: GPL-2.0

//! `ps-bench tier-report`: the tiering table of issue 14 from the JSON lines of every
//! configuration's `ps-bench tier` run, with pseudoscopic's throughput as a multiple of each.

use crate::tier::Data;
use pseudoscopic::json;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

/// The configurations, in the table's order: the label `ps-bench tier` was given, and what it is.
pub const CONFIGS: [(&str, &str); 6] = [
    ("ram", "(1) all in RAM"),
    ("pseudoscopic", "(2) pseudoscopic+ps-tierd"),
    ("zram", "(3) zram swap"),
    ("phram", "(4) phram+mtdblock swap"),
    ("virtio", "(5) virtio disk swap"),
    ("none", "(6) nothing"),
];
const SUBJECT: &str = "pseudoscopic";
const DATA: [Data; 2] = [Data::Random, Data::Compressible];

/// Every record, checked complete: one per configuration and kind of data.
pub fn load(texts: &[String]) -> Result<Vec<Value>, String> {
    let mut records = Vec::new();
    for text in texts {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let record: Value =
                serde_json::from_str(line).map_err(|e| format!("{e} in {line:?}"))?;
            if !record.is_object() {
                return Err(format!("not a JSON object in {line:?}"));
            }
            records.push(record);
        }
    }
    for data in DATA {
        for (label, name) in CONFIGS {
            let n = records
                .iter()
                .filter(|r| {
                    r["label"].as_str() == Some(label) && r["data"].as_str() == Some(data.name())
                })
                .count();
            if n != 1 {
                return Err(format!(
                    "{name} on {} data: {n} results, expected one",
                    data.name()
                ));
            }
        }
    }
    Ok(records)
}

fn find<'a>(records: &'a [Value], label: &str, data: Data) -> &'a Value {
    records
        .iter()
        .find(|r| r["label"].as_str() == Some(label) && r["data"].as_str() == Some(data.name()))
        .unwrap_or(&Value::Null)
}

/// Operations per second; None for a run OOM-killed or stopped at its time limit.
fn ops(r: &Value) -> Option<f64> {
    match (r["oom_killed"] == true) || r.get("timed_out").is_some() {
        true => None,
        false => r["ops_per_s"].as_f64(),
    }
}

/// pseudoscopic's operations per second as a multiple of configuration `label`'s (None when
/// either was OOM-killed).
fn ratio(records: &[Value], label: &str, data: Data) -> Option<f64> {
    Some(ops(find(records, SUBJECT, data))? / ops(find(records, label, data))?)
}

pub fn table(records: &[Value]) -> String {
    let mut out = String::new();
    for data in DATA {
        let any = find(records, SUBJECT, data);
        let _ = writeln!(
            out,
            "{} data: {} MiB written, hot set {} MiB, 1 operation in {} elsewhere; guest MemTotal {} MiB ({} MiB for (1)); {:.0} s measured",
            data.name(),
            any["mib"].as_u64().unwrap_or(0),
            any["hot_mib"].as_u64().unwrap_or(0),
            any["cold_every"].as_u64().unwrap_or(0),
            any["mem_total_mib"].as_u64().unwrap_or(0),
            find(records, "ram", data)["mem_total_mib"].as_u64().unwrap_or(0),
            any["seconds"].as_f64().unwrap_or(0.0),
        );
        let _ = writeln!(
            out,
            "{:<27}{:>10}{:>9}{:>9}{:>11}{:>11}{:>10}{:>9}{:>15}",
            "configuration",
            "ops/s",
            "p50 us",
            "p99 us",
            "freed MiB",
            "pages out",
            "pages in",
            "early",
            "pseudoscopic x"
        );
        for (label, name) in CONFIGS {
            let r = find(records, label, data);
            let _ = write!(out, "{name:<27}");
            match ops(r) {
                None => {
                    let what = match r["timed_out"].as_u64().unwrap_or(0) {
                        0 => "OOM-killed".to_string(),
                        s => format!("did not finish in {s} s"),
                    };
                    let _ = write!(
                        out,
                        "{:<82}",
                        format!(
                            "   {what} after writing {} of {} MiB",
                            r["filled_mib"].as_u64().unwrap_or(0),
                            r["mib"].as_u64().unwrap_or(0)
                        )
                    );
                }
                Some(o) => {
                    let _ = write!(
                        out,
                        "{:>10.0}{:>9.2}{:>9.2}{:>11.0}{:>11}{:>10}{:>9}",
                        o,
                        r["p50_us"].as_f64().unwrap_or(0.0),
                        r["p99_us"].as_f64().unwrap_or(0.0),
                        r["ram_freed_mib"].as_f64().unwrap_or(0.0),
                        r["pages_out"].as_u64().unwrap_or(0),
                        r["pages_in"].as_u64().unwrap_or(0),
                        r["early_refaults"].as_u64().unwrap_or(0),
                    );
                }
            }
            let cell = match ratio(records, label, data) {
                Some(x) => format!("{x:.2}"),
                None => "-".into(),
            };
            let _ = writeln!(out, "{cell:>15}");
        }
        out.push('\n');
    }
    out
}

/// What the issue hopes the table shows, each with its verdict.
pub fn claims(records: &[Value]) -> Vec<(String, Option<bool>)> {
    let data = Data::Random;
    let mut claims = vec![(
        "random data: (2) at least 0.8x the throughput of (1)".to_string(),
        ratio(records, "ram", data).map(|x| x >= 0.8),
    )];
    for (label, name) in &CONFIGS[2..5] {
        let subject = ops(find(records, SUBJECT, data));
        let verdict = match (subject, ops(find(records, label, data))) {
            (Some(a), Some(b)) => Some(a > b),
            // It ran where the other was OOM-killed.
            (Some(_), None) => Some(true),
            (None, _) => None,
        };
        claims.push((format!("random data: (2) ahead of {name}"), verdict));
    }
    claims
}

pub fn claims_text(claims: &[(String, Option<bool>)]) -> String {
    let mut out = String::new();
    for (text, verdict) in claims {
        let v = match verdict {
            Some(true) => "holds",
            Some(false) => "DOES NOT HOLD",
            None => "not measured ((2) did not finish)",
        };
        let _ = writeln!(out, "  {text:<60} {v}");
    }
    out
}

#[derive(Serialize)]
struct RatioJson {
    data: &'static str,
    label: &'static str,
    pseudoscopic_ops_ratio: Option<f64>,
}

#[derive(Serialize)]
struct ClaimJson {
    claim: String,
    holds: Option<bool>,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    results: &'a [Value],
    ratios: Vec<RatioJson>,
    claims: Vec<ClaimJson>,
}

/// Every record, the ratios and the claims as one JSON document.
pub fn json(records: &[Value]) -> String {
    let mut ratios = Vec::new();
    for data in DATA {
        for (label, _) in CONFIGS {
            ratios.push(RatioJson {
                data: data.name(),
                label,
                pseudoscopic_ops_ratio: ratio(records, label, data),
            });
        }
    }
    let claims = claims(records)
        .into_iter()
        .map(|(claim, holds)| ClaimJson { claim, holds })
        .collect();
    json::to_string(&ReportJson {
        results: records,
        ratios,
        claims,
    }) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(label: &str, data: &str, ops: f64) -> String {
        serde_json::json!({
            "label": label,
            "data": data,
            "oom_killed": false,
            "mib": 1280,
            "ops_per_s": ops,
            "p50_us": 1.5,
            "pages_out": 10,
        })
        .to_string()
    }

    fn all() -> String {
        let mut text = String::new();
        for data in ["random", "compressible"] {
            for (label, ops) in [
                ("ram", 1000.0),
                ("pseudoscopic", 900.0),
                ("zram", 300.0),
                ("phram", 450.0),
                ("virtio", 100.0),
            ] {
                text += &line(label, data, ops);
                text.push('\n');
            }
            text += &format!(
                "{{\"label\": \"none\", \"data\": \"{data}\", \"oom_killed\": true, \"mib\": 1280, \"filled_mib\": 480}}\n"
            );
        }
        text
    }

    #[test]
    fn table_has_every_configuration_and_ratio() {
        let records = load(&[all()]).unwrap();
        let t = table(&records);
        assert!(t.contains("(2) pseudoscopic+ps-tierd"));
        assert!(t.contains("OOM-killed after writing 480 of 1280 MiB"));
        // 900 / 450 and 900 / 1000.
        assert!(t.contains("2.00"));
        assert!(t.contains("0.90"));
        let c = claims(&records);
        assert_eq!(c[0].1, Some(true));
        assert!(c[1..].iter().all(|(_, v)| *v == Some(true)));
        let j = json(&records);
        assert!(j.contains("\"pseudoscopic_ops_ratio\":2"));
        assert!(j.contains("\"label\":\"none\",\"pseudoscopic_ops_ratio\":null"));
    }

    #[test]
    fn a_missing_or_doubled_configuration_is_named() {
        let text = all().replace(&line("virtio", "compressible", 100.0), "");
        let e = load(&[text]).unwrap_err();
        assert!(
            e.contains("(5) virtio disk swap on compressible data: 0 results"),
            "{e}"
        );
        let e = load(&[all(), line("zram", "random", 1.0)]).unwrap_err();
        assert!(e.contains("(3) zram swap on random data: 2 results"), "{e}");
    }

    #[test]
    fn junk_lines_are_refused_by_line() {
        for junk in [
            "[1]",
            r#"{"a" 1}"#,
            r#"{"a": x}"#,
            r#"{"a": "b}"#,
            r#"{"a": 1 "b": 2}"#,
        ] {
            let e = load(&[format!("{}{junk}\n", all())]).unwrap_err();
            assert!(e.contains(&format!("{junk:?}")), "{e}");
        }
    }

    #[test]
    fn a_run_stopped_at_its_time_limit_is_a_result() {
        let text = all().replace(
            &line("zram", "random", 300.0),
            r#"{"label":"zram","data":"random","timed_out":445,"mib":1280,"filled_mib":1104}"#,
        );
        let records = load(&[text]).unwrap();
        assert!(table(&records).contains("did not finish in 445 s after writing 1104 of 1280 MiB"));
        assert_eq!(ratio(&records, "zram", Data::Random), None);
        assert_eq!(claims(&records)[1].1, Some(true));
    }

    #[test]
    fn claims_fail_when_slower() {
        let text = all().replace(
            &line("pseudoscopic", "random", 900.0),
            &line("pseudoscopic", "random", 200.0),
        );
        let c = claims(&load(&[text]).unwrap());
        assert_eq!(c[0].1, Some(false));
        assert_eq!(c[1].1, Some(false));
        assert_eq!(c[2].1, Some(false));
        assert_eq!(c[3].1, Some(true));
    }
}
