// SPDX-License-Identifier: GPL-2.0

//! xorshift64*, the tools' one pseudo-random generator: fast, and the same sequence for the same
//! state, so a `--seed` (or a benchmark's fixed state) reproduces a run.

/// The generator; its field is the state, which must not be 0.
pub struct Rng(pub u64);

impl Rng {
    /// A generator from a user's seed: mixed, so that nearby seeds give unrelated sequences, and
    /// never the all-zero state.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Below `n` (which is not 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A random `[first, first + len)` inside `pages` pages, at least one page long.
    pub fn span(&mut self, pages: usize) -> (usize, usize) {
        let first = (self.next_u64() % pages as u64) as usize;
        let len = 1 + (self.next_u64() % (pages - first) as u64) as usize;
        (first, len)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_state_same_sequence_and_spans_inside() {
        let (mut a, mut b) = (Rng(42), Rng(42));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut r = Rng::new(0);
        assert_ne!(r.0, 0);
        for _ in 0..1000 {
            let (first, len) = r.span(10);
            assert!(len >= 1 && first + len <= 10);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
