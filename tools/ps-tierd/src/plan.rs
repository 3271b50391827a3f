// SPDX-License-Identifier: GPL-2.0

//! From cold regions to park requests: only the parts inside mappings pseudoscopic can park
//! (DAMON's regions span gaps and file mappings too), cut at 2 MiB boundaries so that each
//! request is at most 2 MiB and a whole aligned 2 MiB moves a huge page whole; then each piece cut
//! down to the pages it has in RAM (`/proc/PID/pagemap`), because DAMON reports memory that was
//! mapped but never written as cold too (it has no page table entry to find accessed), and a park
//! request for it moves nothing at the cost of a whole request.

use crate::damon::Region;
use pseudoscopic::maps::Mapping;

/// Largest request: an aligned 2 MiB.
pub const PIECE: u64 = 2 << 20;

/// A range to park: `[start, end)`, page aligned, inside one 2 MiB-aligned block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub start: u64,
    pub end: u64,
}

impl Piece {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// The pieces of `regions` inside candidate mappings of `maps`, oldest regions first (ties in
/// address order), each at most [`PIECE`] and never across a 2 MiB boundary.
pub fn pieces(regions: &[Region], maps: &[Mapping], page: u64) -> Vec<Piece> {
    let mut regions = regions.to_vec();
    regions.sort_by(|a, b| b.age.cmp(&a.age).then(a.start.cmp(&b.start)));
    let mut out = Vec::new();
    for r in &regions {
        for m in maps.iter().filter(|m| m.is_candidate()) {
            let start = r.start.max(m.start).next_multiple_of(page);
            let end = r.end.min(m.end) / page * page;
            let mut at = start;
            while at < end {
                let boundary = (at / PIECE + 1) * PIECE;
                let piece_end = boundary.min(end);
                out.push(Piece {
                    start: at,
                    end: piece_end,
                });
                at = piece_end;
            }
        }
    }
    out
}

/// `/proc/PID/pagemap`'s "present" bit: the page is in RAM. A parked page is a device-private
/// swap entry there and a page never written has no entry: neither can be parked.
pub const PM_PRESENT: u64 = 1 << 63;

/// `piece` cut down to its pages in RAM, from the first to the last, and how many pages in RAM it
/// holds; `entries` are the piece's pagemap entries, one per page. `None` when none is in RAM.
pub fn in_ram(piece: Piece, entries: &[u64], page: u64) -> Option<(Piece, u64)> {
    let present = |e: &u64| e & PM_PRESENT != 0;
    let first = entries.iter().position(present)? as u64;
    let last = entries.iter().rposition(present)? as u64;
    let count = entries.iter().filter(|e| present(e)).count() as u64;
    let start = piece.start + first * page;
    let end = (piece.start + (last + 1) * page).min(piece.end);
    Some((Piece { start, end }, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn map(start: u64, end: u64, perms: &str, name: &str) -> Mapping {
        let p = perms.as_bytes();
        Mapping {
            start,
            end,
            readable: p[0] == b'r',
            writable: p[1] == b'w',
            private: p[3] == b'p',
            name: name.to_string(),
        }
    }

    fn region(start: u64, end: u64, age: u64) -> Region {
        Region { start, end, age }
    }

    #[test]
    fn cuts_at_2mib_boundaries_inside_candidate_mappings() {
        let maps = vec![
            map(0x40_0000, 0x60_0000, "r-xp", "/bin/app"),
            map(MIB * 10, MIB * 15, "rw-p", ""),
            map(MIB * 15, MIB * 16, "rw-s", "/dev/shm/x"),
            map(MIB * 20, MIB * 21, "rw-p", "[vvar]"),
        ];
        // One region over everything, one unaligned at the edges.
        let got = pieces(
            &[
                region(0, MIB * 32, 5),
                region(MIB * 11 + 100, MIB * 12 - 100, 9),
            ],
            &maps,
            4096,
        );
        let want = vec![
            // The older region first, trimmed to whole pages.
            Piece {
                start: MIB * 11 + 4096,
                end: MIB * 12 - 4096,
            },
            Piece {
                start: MIB * 10,
                end: MIB * 12,
            },
            Piece {
                start: MIB * 12,
                end: MIB * 14,
            },
            Piece {
                start: MIB * 14,
                end: MIB * 15,
            },
        ];
        assert_eq!(got, want);
        assert!(got.iter().all(|p| p.len() <= PIECE && p.len() > 0));
    }

    #[test]
    fn nothing_outside_mappings() {
        let maps = vec![map(MIB * 10, MIB * 11, "rw-p", "")];
        assert!(pieces(&[region(0, MIB * 10, 1)], &maps, 4096).is_empty());
        assert!(pieces(&[region(MIB * 10, MIB * 10 + 100, 1)], &maps, 4096).is_empty());
        assert!(pieces(&[], &maps, 4096).is_empty());
    }

    #[test]
    fn in_ram_trims_to_present_pages_and_drops_empty_pieces() {
        let piece = Piece {
            start: MIB * 4,
            end: MIB * 4 + 8 * 4096,
        };
        // Never written (no entry) and parked (a swap entry, bit 62): nothing in RAM.
        let swapped = 1u64 << 62;
        assert_eq!(in_ram(piece, &[0; 8], 4096), None);
        assert_eq!(in_ram(piece, &[swapped; 8], 4096), None);
        assert_eq!(in_ram(piece, &[], 4096), None);
        let mut e = [0u64; 8];
        e[2] = PM_PRESENT | 1234;
        e[3] = swapped;
        e[5] = PM_PRESENT;
        assert_eq!(
            in_ram(piece, &e, 4096),
            Some((
                Piece {
                    start: MIB * 4 + 2 * 4096,
                    end: MIB * 4 + 6 * 4096,
                },
                2
            ))
        );
        assert_eq!(in_ram(piece, &[PM_PRESENT; 8], 4096), Some((piece, 8)));
    }
}
