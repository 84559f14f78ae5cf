//! Python's `random.Random`: the MT19937 Mersenne Twister with CPython's seeding, so that
//! `shuffle(seed=...)` and `random(seed=...)` give exactly the results Ansible gives (a
//! different order would make a rerun report a spurious change).

use sha2::{Digest, Sha512};

const N: usize = 624;
const M: usize = 397;

/// A Python-compatible random generator.
#[derive(Clone)]
pub struct PyRandom {
    mt: [u32; N],
    index: usize,
}

/// A seed as Python accepts it.
pub enum Seed<'a> {
    Int(i128),
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyRandom")
    }
}

impl PyRandom {
    /// `random.Random(seed)`.
    pub fn new(seed: Seed<'_>) -> PyRandom {
        let key = match seed {
            Seed::Int(i) => int_words(&i.unsigned_abs().to_be_bytes()),
            Seed::Str(s) => str_seed_words(s.as_bytes()),
            Seed::Bytes(b) => str_seed_words(b),
        };
        let mut r = PyRandom {
            mt: [0; N],
            index: N + 1,
        };
        r.init_by_array(&key);
        r
    }

    /// A generator seeded from the operating system (Python's `SystemRandom` stand-in).
    pub fn from_entropy() -> PyRandom {
        let bytes = read_urandom(32).unwrap_or_else(|_| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.finish().to_be_bytes().to_vec()
        });
        PyRandom::new(Seed::Bytes(&bytes))
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..N {
            let prev = self.mt[i - 1];
            self.mt[i] = 1812433253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19650218);
        let mut i = 1usize;
        let mut j = 0usize;
        let len = key.len().max(1);
        for _ in 0..N.max(len) {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1664525))
                .wrapping_add(*key.get(j).unwrap_or(&0))
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1566083941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
        }
        self.mt[0] = 0x8000_0000;
        self.index = N;
    }

    fn genrand(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `random()`: a float in [0, 1) with 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = (self.genrand() >> 5) as f64;
        let b = (self.genrand() >> 6) as f64;
        (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)
    }

    /// `getrandbits(k)` for k up to 128.
    pub fn getrandbits(&mut self, k: u32) -> u128 {
        if k == 0 {
            return 0;
        }
        if k <= 32 {
            return (self.genrand() >> (32 - k)) as u128;
        }
        let mut out: u128 = 0;
        let mut left = k;
        let mut shift = 0;
        while left > 0 {
            let mut r = self.genrand();
            if left < 32 {
                r >>= 32 - left;
            }
            out |= (r as u128) << shift;
            shift += 32;
            left = left.saturating_sub(32);
        }
        out
    }

    /// `_randbelow(n)`: uniform in [0, n).
    pub fn randbelow(&mut self, n: u128) -> u128 {
        if n == 0 {
            return 0;
        }
        let k = 128 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `randrange(start, stop, step)`.
    pub fn randrange(&mut self, start: i128, stop: i128, step: i128) -> Result<i128, String> {
        let width = stop - start;
        if step == 1 {
            if width > 0 {
                return Ok(start + self.randbelow(width as u128) as i128);
            }
            return Err(format!("empty range in randrange({start}, {stop})"));
        }
        let n = if step > 0 {
            (width + step - 1).div_euclid(step)
        } else if step < 0 {
            (width + step + 1).div_euclid(step)
        } else {
            return Err("zero step for randrange()".into());
        };
        if n <= 0 {
            return Err(format!("empty range in randrange({start}, {stop}, {step})"));
        }
        Ok(start + step * self.randbelow(n as u128) as i128)
    }

    /// `shuffle(x)` in place.
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.randbelow(i as u128 + 1) as usize;
            x.swap(i, j);
        }
    }

    /// `choice(seq)`: the index chosen for a sequence of `len` items.
    pub fn choice_index(&mut self, len: usize) -> Option<usize> {
        if len == 0 {
            None
        } else {
            Some(self.randbelow(len as u128) as usize)
        }
    }
}

fn read_urandom(n: usize) -> Result<Vec<u8>, ()> {
    use std::io::Read;
    let mut f = std::fs::File::open("/dev/urandom").map_err(|_| ())?;
    let mut buf = vec![0u8; n];
    f.read_exact(&mut buf).map_err(|_| ())?;
    Ok(buf)
}

/// The 32-bit little-endian words of a big-endian unsigned integer, as CPython's
/// `init_by_array` key (at least one word).
fn int_words(be: &[u8]) -> Vec<u32> {
    let first = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let digits = &be[first..];
    let mut words = Vec::new();
    let mut end = digits.len();
    while end > 0 {
        let start = end.saturating_sub(4);
        let mut w = 0u32;
        for &b in &digits[start..end] {
            w = (w << 8) | b as u32;
        }
        words.push(w);
        end = start;
    }
    if words.is_empty() {
        words.push(0);
    }
    words
}

/// Version 2 seeding of str/bytes: the integer of `a + sha512(a)`.
fn str_seed_words(a: &[u8]) -> Vec<u32> {
    let mut bytes = a.to_vec();
    bytes.extend_from_slice(&Sha512::digest(a));
    int_words(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values come from CPython 3.11:
    //   random.Random(42).random(), random.Random('abc').random(), shuffle orders.
    #[test]
    fn matches_python_random() {
        let mut r = PyRandom::new(Seed::Int(42));
        assert_eq!(r.random(), 0.6394267984578837);
        assert_eq!(r.random(), 0.025010755222666936);
        assert_eq!(PyRandom::new(Seed::Int(0)).random(), 0.8444218515250481);
        assert_eq!(PyRandom::new(Seed::Int(-5)).random(), 0.6229016948897019);
        assert_eq!(PyRandom::new(Seed::Str("abc")).random(), 0.7720246314157545);
        assert_eq!(
            PyRandom::new(Seed::Int(1 << 40)).random(),
            0.1036394562812375
        );
        assert_eq!(PyRandom::new(Seed::Str("x")).getrandbits(40), 346306596307);
    }

    #[test]
    fn shuffle_and_randrange_match_python() {
        let mut l: Vec<i32> = (0..10).collect();
        PyRandom::new(Seed::Str("host1")).shuffle(&mut l);
        assert_eq!(l, vec![0, 9, 4, 8, 1, 6, 5, 2, 3, 7]);
        assert_eq!(PyRandom::new(Seed::Int(1)).randrange(0, 100, 1), Ok(17));
        assert_eq!(PyRandom::new(Seed::Int(7)).randrange(10, 100, 7), Ok(45));
        assert_eq!(PyRandom::new(Seed::Int(7)).randrange(100, 10, -3), Ok(70));
    }
}
