// SPDX-License-Identifier: GPL-2.0

//! `/proc/PID/maps`: a process's mappings.

/// One mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    pub private: bool,
    /// The file or `[heap]`-style name, empty for anonymous memory.
    pub name: String,
}

impl Mapping {
    /// Whether pseudoscopic could park pages of it: private, readable and writable, and not one
    /// of the kernel's special mappings.
    pub fn is_candidate(&self) -> bool {
        self.private
            && self.readable
            && self.writable
            && !matches!(
                self.name.as_str(),
                "[vsyscall]" | "[vvar]" | "[vvar_vclock]" | "[vdso]"
            )
    }
}

/// Parses the text of `/proc/PID/maps`, skipping lines that do not parse.
pub fn parse(text: &str) -> Vec<Mapping> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mapping> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?.as_bytes();
    if perms.len() != 4 {
        return None;
    }
    let name = fields.nth(3).unwrap_or("").to_string();
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        readable: perms[0] == b'r',
        writable: perms[1] == b'w',
        private: perms[3] == b'p',
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_selects() {
        let text = "\
55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000100000 rw-p 00000000 00:00 0 
7f0000100000-7f0000200000 rw-s 00000000 00:01 1234                       /memfd:x (deleted)
7f0000200000-7f0000201000 r--p 00000000 08:01 42                         /usr/lib/libc.so.6
7f0000300000-7f0000301000 ---p 00000000 00:00 0 
7ffd00000000-7ffd00002000 r--p 00000000 00:00 0                          [vvar]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
garbage
";
        let maps = parse(text);
        assert_eq!(maps.len(), 7);
        assert_eq!(maps[0].name, "[heap]");
        assert_eq!(maps[1].name, "");
        assert_eq!(maps[1].end - maps[1].start, 1 << 20);
        let picked: Vec<bool> = maps.iter().map(Mapping::is_candidate).collect();
        assert_eq!(picked, [true, true, false, false, false, false, false]);
    }
}
