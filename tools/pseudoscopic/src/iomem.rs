// SPDX-License-Identifier: GPL-2.0

//! `/proc/iomem`: which physical ranges are claimed by whom.

/// One line of `/proc/iomem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Nesting level: two spaces of indentation per level.
    pub depth: usize,
    /// First byte of the range.
    pub start: u64,
    /// Last byte of the range (inclusive).
    pub end: u64,
    /// The claimant: a driver name, a PCI address, "System RAM", ...
    pub name: String,
}

impl Entry {
    /// Size of the range in bytes.
    pub fn size(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// Parses the text of `/proc/iomem`, skipping lines that do not parse.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Entry> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let (range, name) = line.trim_start().split_once(" : ")?;
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    if end < start {
        return None;
    }
    Some(Entry {
        depth: indent / 2,
        start,
        end,
        name: name.to_string(),
    })
}

/// Ranges named `claimant` together with the name of the range each is nested in.
pub fn claims<'a>(entries: &'a [Entry], claimant: &str) -> Vec<(&'a Entry, Option<&'a str>)> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.name != claimant {
            continue;
        }
        let parent = entries[..i]
            .iter()
            .rev()
            .find(|p| p.depth + 1 == e.depth)
            .map(|p| p.name.as_str());
        out.push((e, parent));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
00000000-00000fff : Reserved
00100000-3ffdffff : System RAM
  01000000-01ffffff : Kernel code
e0000000-efffffff : PCI Bus 0000:00
  e0000000-efffffff : 0000:00:02.0
    e0000000-efffffff : pseudoscopic
100000000-8ffffffff : PCI Bus 0000:00
  100000000-17fffffff : 0000:00:03.0
    100000000-17fffffff : pseudoscopic
  180000000-1800000ff : 0000:00:04.0
";

    #[test]
    fn parses_depth_range_and_name() {
        let e = parse(SAMPLE);
        assert_eq!(e.len(), 10);
        assert_eq!(
            e[2],
            Entry {
                depth: 1,
                start: 0x0100_0000,
                end: 0x01ff_ffff,
                name: "Kernel code".into()
            }
        );
        assert_eq!(e[5].depth, 2);
        assert_eq!(e[5].size(), 256 << 20);
    }

    #[test]
    fn claims_know_their_device() {
        let e = parse(SAMPLE);
        let c = claims(&e, "pseudoscopic");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].1, Some("0000:00:02.0"));
        assert_eq!(c[1].0.start, 0x1_0000_0000);
        assert_eq!(c[1].0.size(), 2 << 30);
        assert_eq!(c[1].1, Some("0000:00:03.0"));
    }

    #[test]
    fn garbage_is_skipped() {
        let e = parse("zz-10 : x\n10-0 : backwards\nno colon here\n10-1f : ok\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].name, "ok");
    }
}
