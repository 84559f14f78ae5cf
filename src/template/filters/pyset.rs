//! CPython's `set` iteration order, for the set filters (`union`, `intersect`,
//! `difference`, `symmetric_difference`), which Ansible implements as
//! `list(set(a) | set(b))`.
//!
//! For integers (and bools, and floats with integral values) the order is deterministic
//! in Python, so kiln reproduces the hash table exactly. Strings are hashed with SipHash-1-3
//! and a zero key, which is what Python does with `PYTHONHASHSEED=0`; with Ansible's
//! default random seed the order of strings changes from run to run anyway.

use crate::yaml::Value;

const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;
const MODULUS: u64 = (1 << 61) - 1;

/// Python's `hash()` for the hashable values kiln holds; `None` for unhashable ones.
pub fn py_hash(v: &Value) -> Option<i64> {
    let h = match v {
        Value::Bool(b) => *b as i64,
        Value::Int(i) => int_hash(*i),
        Value::Float(f) => float_hash(*f),
        Value::Str(s) | Value::Unsafe(s) => str_hash(s),
        Value::Null => 0x5f5e1,
        _ => return None,
    };
    Some(if h == -1 { -2 } else { h })
}

fn int_hash(i: i128) -> i64 {
    let m = (i.unsigned_abs() % MODULUS as u128) as i64;
    if i < 0 { -m } else { m }
}

fn float_hash(f: f64) -> i64 {
    if f.is_nan() {
        return 0;
    }
    if f.is_infinite() {
        return if f > 0.0 { 314159 } else { -314159 };
    }
    if f.fract() == 0.0 && f.abs() < 1e30 {
        return int_hash(f as i128);
    }
    let bits = f.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let (mut m, mut e) = if exp == 0 {
        let scaled = f.abs() * 2f64.powi(54);
        let b = scaled.to_bits();
        let ex = ((b >> 52) & 0x7ff) as i32;
        (
            f64::from_bits((b & !(0x7ffu64 << 52)) | (1022u64 << 52)),
            ex - 1022 - 54,
        )
    } else {
        (
            f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52)),
            exp - 1022,
        )
    };
    let mut x: u64 = 0;
    while m != 0.0 {
        x = ((x << 28) & MODULUS) | (x >> (61 - 28));
        m *= 268435456.0;
        e -= 28;
        let y = m as u64;
        m -= y as f64;
        x += y;
        if x >= MODULUS {
            x -= MODULUS;
        }
    }
    let e = if e >= 0 {
        e % 61
    } else {
        61 - 1 - ((-1 - e) % 61)
    } as u32;
    x = ((x << e) & MODULUS) | (x >> (61 - e));
    let x = x as i64;
    if f < 0.0 { -x } else { x }
}

/// CPython's str hash with a zero SipHash key, over the string's PEP 393 storage.
fn str_hash(s: &str) -> i64 {
    if s.is_empty() {
        return 0;
    }
    let max = s.chars().map(|c| c as u32).max().unwrap_or(0);
    let mut bytes = Vec::with_capacity(s.len() * 2);
    for c in s.chars() {
        let c = c as u32;
        if max < 0x100 {
            bytes.push(c as u8);
        } else if max < 0x10000 {
            bytes.extend_from_slice(&(c as u16).to_le_bytes());
        } else {
            bytes.extend_from_slice(&c.to_le_bytes());
        }
    }
    siphash13(0, 0, &bytes) as i64
}

fn siphash13(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v0 = k0 ^ 0x736f6d6570736575;
    let mut v1 = k1 ^ 0x646f72616e646f6d;
    let mut v2 = k0 ^ 0x6c7967656e657261;
    let mut v3 = k1 ^ 0x7465646279746573;
    let round = |v0: &mut u64, v1: &mut u64, v2: &mut u64, v3: &mut u64| {
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13);
        *v1 ^= *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16);
        *v3 ^= *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21);
        *v3 ^= *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17);
        *v1 ^= *v2;
        *v2 = v2.rotate_left(32);
    };
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let m = u64::from_le_bytes(w);
        v3 ^= m;
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        v0 ^= m;
    }
    let mut last = (data.len() as u64) << 56;
    for (i, &b) in tail.iter().enumerate() {
        last |= (b as u64) << (8 * i);
    }
    v3 ^= last;
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    v0 ^= last;
    v2 ^= 0xff;
    for _ in 0..3 {
        round(&mut v0, &mut v1, &mut v2, &mut v3);
    }
    v0 ^ v1 ^ v2 ^ v3
}

#[derive(Clone)]
enum Slot {
    Empty,
    Dummy,
    Active(i64, Value),
}

/// A model of CPython's set hash table.
#[derive(Clone)]
pub struct PySet {
    table: Vec<Slot>,
    fill: usize,
    used: usize,
}

impl PySet {
    pub fn new() -> PySet {
        PySet {
            table: vec![Slot::Empty; 8],
            fill: 0,
            used: 0,
        }
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    pub fn len(&self) -> usize {
        self.used
    }

    /// `set(items)`; `None` when an item is unhashable.
    pub fn from_items(items: &[Value]) -> Option<PySet> {
        let mut s = PySet::new();
        for item in items {
            s.add(item.clone(), py_hash(item)?);
        }
        Some(s)
    }

    /// Items in iteration order.
    pub fn items(&self) -> Vec<Value> {
        self.entries().into_iter().map(|(_, v)| v).collect()
    }

    fn entries(&self) -> Vec<(i64, Value)> {
        self.table
            .iter()
            .filter_map(|s| match s {
                Slot::Active(h, v) => Some((*h, v.clone())),
                _ => None,
            })
            .collect()
    }

    fn lookup(&self, v: &Value, hash: i64) -> Option<usize> {
        let mask = self.mask();
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in 0..=probes {
                match &self.table[i + j] {
                    Slot::Empty => return None,
                    Slot::Active(h, k) if *h == hash && k == v => return Some(i + j),
                    _ => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    pub fn contains(&self, v: &Value, hash: i64) -> bool {
        self.lookup(v, hash).is_some()
    }

    /// `set_add_entry`.
    pub fn add(&mut self, v: Value, hash: i64) {
        let mask = self.mask();
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        let mut freeslot: Option<usize> = None;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in 0..=probes {
                let at = i + j;
                match &self.table[at] {
                    Slot::Empty => {
                        if let Some(f) = freeslot {
                            self.table[f] = Slot::Active(hash, v);
                            self.used += 1;
                            return;
                        }
                        self.table[at] = Slot::Active(hash, v);
                        self.fill += 1;
                        self.used += 1;
                        if self.fill * 5 >= mask * 3 {
                            let minused = if self.used > 50000 {
                                self.used * 2
                            } else {
                                self.used * 4
                            };
                            self.resize(minused);
                        }
                        return;
                    }
                    Slot::Active(h, k) if *h == hash && *k == v => return,
                    Slot::Dummy if freeslot.is_none() => freeslot = Some(at),
                    _ => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    fn insert_clean(table: &mut [Slot], v: Value, hash: i64) {
        let mask = table.len() - 1;
        let mut perturb = hash as u64;
        let mut i = (hash as u64 as usize) & mask;
        loop {
            if matches!(table[i], Slot::Empty) {
                table[i] = Slot::Active(hash, v);
                return;
            }
            if i + LINEAR_PROBES <= mask {
                for j in 1..=LINEAR_PROBES {
                    if matches!(table[i + j], Slot::Empty) {
                        table[i + j] = Slot::Active(hash, v);
                        return;
                    }
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    fn resize(&mut self, minused: usize) {
        let mut size = 8;
        while size <= minused {
            size <<= 1;
        }
        let old = std::mem::replace(&mut self.table, vec![Slot::Empty; size]);
        for slot in old {
            if let Slot::Active(h, v) = slot {
                PySet::insert_clean(&mut self.table, v, h);
            }
        }
        self.fill = self.used;
    }

    /// `set_discard_entry`.
    pub fn discard(&mut self, v: &Value, hash: i64) -> bool {
        match self.lookup(v, hash) {
            Some(at) => {
                self.table[at] = Slot::Dummy;
                self.used -= 1;
                true
            }
            None => false,
        }
    }

    /// `set_merge(self, other)`.
    fn merge(&mut self, other: &PySet) {
        if other.used == 0 {
            return;
        }
        if (self.fill + other.used) * 5 >= self.mask() * 3 {
            self.resize((self.used + other.used) * 2);
        }
        if self.fill == 0 && self.mask() == other.mask() && other.fill == other.used {
            self.table = other.table.clone();
            self.fill = other.fill;
            self.used = other.used;
            return;
        }
        if self.fill == 0 {
            self.fill = other.used;
            self.used = other.used;
            for (h, v) in other.entries() {
                PySet::insert_clean(&mut self.table, v, h);
            }
            return;
        }
        for (h, v) in other.entries() {
            self.add(v, h);
        }
    }

    /// `set(self)` copied.
    pub fn copy(&self) -> PySet {
        let mut s = PySet::new();
        s.merge(self);
        s
    }

    /// `self | other`.
    pub fn union(&self, other: &PySet) -> PySet {
        let mut s = self.copy();
        s.merge(other);
        s
    }

    /// `self & other`.
    pub fn intersection(&self, other: &PySet) -> PySet {
        let (big, small) = if other.len() > self.len() {
            (other, self)
        } else {
            (self, other)
        };
        let mut s = PySet::new();
        for (h, v) in small.entries() {
            if big.contains(&v, h) {
                s.add(v, h);
            }
        }
        s
    }

    /// `self - other`.
    pub fn difference(&self, other: &PySet) -> PySet {
        if (self.len() >> 2) > other.len() {
            let mut s = self.copy();
            for (h, v) in other.entries() {
                s.discard(&v, h);
            }
            return s;
        }
        let mut s = PySet::new();
        for (h, v) in self.entries() {
            if !other.contains(&v, h) {
                s.add(v, h);
            }
        }
        s
    }

    /// `self ^ other`.
    pub fn symmetric_difference(&self, other: &PySet) -> PySet {
        let mut s = PySet::new();
        s.merge(other);
        for (h, v) in self.entries() {
            if !s.discard(&v, h) {
                s.add(v, h);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i128]) -> Vec<Value> {
        v.iter().map(|i| Value::Int(*i)).collect()
    }

    fn strs(v: &[&str]) -> Vec<Value> {
        v.iter().map(|s| Value::str(*s)).collect()
    }

    // Expected orders come from CPython 3.11 with PYTHONHASHSEED=0.
    #[test]
    fn set_order_matches_cpython() {
        let a = PySet::from_items(&ints(&[10, 3, 7, 100, 42, 8])).expect("hashable");
        let b = PySet::from_items(&ints(&[3, 9, 1000])).expect("hashable");
        assert_eq!(a.union(&b).items(), ints(&[3, 100, 7, 8, 1000, 42, 10, 9]));
        assert_eq!(a.difference(&b).items(), ints(&[100, 7, 8, 10, 42]));
        assert_eq!(a.intersection(&b).items(), ints(&[3]));
        assert_eq!(
            a.symmetric_difference(&b).items(),
            ints(&[100, 7, 1000, 9, 8, 10, 42])
        );
    }

    #[test]
    fn str_hash_matches_cpython() {
        assert_eq!(py_hash(&Value::str("a")), Some(4644417185603328019));
        assert_eq!(py_hash(&Value::str("héllo")), Some(6395329678795984700));
        let s = PySet::from_items(&strs(&["a", "b", "c", "d"])).expect("hashable");
        assert_eq!(s.items(), strs(&["d", "c", "a", "b"]));
    }
}
