// SPDX-License-Identifier: GPL-2.0

//! `/proc/self/smaps`: how this process's mappings are backed.

/// `AnonHugePages` of this process's mapping that contains `addr`, from `/proc/self/smaps`: the
/// bytes of 2 MiB huge pages mapped whole there, device-private ones included.
pub fn anon_huge_kb(addr: u64) -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/self/smaps").map_err(|e| format!("smaps: {e}"))?;
    let mut inside = false;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (u64::from_str_radix(lo, 16), u64::from_str_radix(hi, 16)) {
                inside = (lo..hi).contains(&addr);
                continue;
            }
        }
        if let (true, Some(rest)) = (inside, line.strip_prefix("AnonHugePages:")) {
            let kb = rest.trim().trim_end_matches("kB").trim();
            return kb
                .parse()
                .map_err(|_| format!("smaps: bad AnonHugePages line {line:?}"));
        }
    }
    Err(format!("smaps: no mapping contains {addr:#x}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_huge_pages_of_a_mapping() {
        // A fresh anonymous mapping has no huge page; an address outside any mapping is an error.
        let buf = crate::mem::Buf::anon(16).unwrap();
        assert_eq!(super::anon_huge_kb(buf.addr()).unwrap(), 0);
        assert!(super::anon_huge_kb(8).is_err());
    }
}
