//! The digests and crypt schemes the filters need that sha2 does not provide: MD5, SHA-1,
//! UUID version 5, and the SHA-crypt (`$5$`, `$6$`) and MD5-crypt (`$1$`) password hashes,
//! written from their public specifications.

use sha2::{Digest, Sha256, Sha512};

/// MD5 (RFC 1321).
pub fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let mut h: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (h[0], h[1], h[2], h[3]);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, w) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// SHA-1 (FIPS 180-4).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i / 20 {
                0 => ((b & c) | (!b & d), 0x5A827999),
                1 => (b ^ c ^ d, 0x6ED9EBA1),
                2 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    let mut out = [0u8; 20];
    for (i, w) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a UUID as Python's `uuid.UUID(str)` accepts it.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let t = s
        .trim()
        .trim_start_matches("urn:")
        .trim_start_matches("uuid:");
    let t = t.trim_matches(|c| c == '{' || c == '}');
    let hexits: String = t.chars().filter(|c| *c != '-').collect();
    if hexits.len() != 32 || !hexits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hexits[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `uuid.uuid5(namespace, name)` as text.
pub fn uuid5(namespace: &[u8; 16], name: &str) -> String {
    let mut data = namespace.to_vec();
    data.extend_from_slice(name.as_bytes());
    let d = sha1(&data);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn b64_24(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
    for _ in 0..n {
        out.push(ITOA64[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

/// Characters allowed in crypt salts.
pub fn valid_salt(s: &str) -> bool {
    s.bytes().all(|b| ITOA64.contains(&b))
}

fn sha_crypt_rounds<D: Digest + Clone>(pw: &[u8], salt: &[u8], rounds: u32) -> Vec<u8> {
    let hash_len = <D as Digest>::output_size();
    let mut b = D::new();
    b.update(pw);
    b.update(salt);
    b.update(pw);
    let b = b.finalize().to_vec();

    let mut a = D::new();
    a.update(pw);
    a.update(salt);
    let mut left = pw.len();
    while left > hash_len {
        a.update(&b);
        left -= hash_len;
    }
    a.update(&b[..left]);
    let mut n = pw.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(&b);
        } else {
            a.update(pw);
        }
        n >>= 1;
    }
    let a = a.finalize().to_vec();

    let mut dp = D::new();
    for _ in 0..pw.len() {
        dp.update(pw);
    }
    let dp = dp.finalize().to_vec();
    let p_seq: Vec<u8> = dp.iter().cycle().take(pw.len()).copied().collect();

    let mut ds = D::new();
    for _ in 0..16 + a[0] as usize {
        ds.update(salt);
    }
    let ds = ds.finalize().to_vec();
    let s_seq: Vec<u8> = ds.iter().cycle().take(salt.len()).copied().collect();

    let mut c = a;
    for i in 0..rounds {
        let mut h = D::new();
        if i & 1 == 1 {
            h.update(&p_seq);
        } else {
            h.update(&c);
        }
        if i % 3 != 0 {
            h.update(&s_seq);
        }
        if i % 7 != 0 {
            h.update(&p_seq);
        }
        if i & 1 == 1 {
            h.update(&c);
        } else {
            h.update(&p_seq);
        }
        c = h.finalize().to_vec();
    }
    c
}

/// `sha512_crypt` / `sha256_crypt` as passlib writes them (rounds 5000 is implicit).
pub fn sha_crypt(bits: u32, pw: &str, salt: &str, rounds: u32) -> String {
    let salt: String = salt.chars().take(16).collect();
    let (ident, c) = if bits == 512 {
        (
            "6",
            sha_crypt_rounds::<Sha512>(pw.as_bytes(), salt.as_bytes(), rounds),
        )
    } else {
        (
            "5",
            sha_crypt_rounds::<Sha256>(pw.as_bytes(), salt.as_bytes(), rounds),
        )
    };
    let mut out = format!("${ident}$");
    if rounds != 5000 {
        out.push_str(&format!("rounds={rounds}$"));
    }
    out.push_str(&salt);
    out.push('$');
    if bits == 512 {
        for k in 0..21 {
            let (a, b, cc) = (c[k], c[k + 21], c[k + 42]);
            match k % 3 {
                0 => b64_24(&mut out, a, b, cc, 4),
                1 => b64_24(&mut out, b, cc, a, 4),
                _ => b64_24(&mut out, cc, a, b, 4),
            }
        }
        b64_24(&mut out, 0, 0, c[63], 2);
    } else {
        const ORDER: [(usize, usize, usize); 10] = [
            (0, 10, 20),
            (21, 1, 11),
            (12, 22, 2),
            (3, 13, 23),
            (24, 4, 14),
            (15, 25, 5),
            (6, 16, 26),
            (27, 7, 17),
            (18, 28, 8),
            (9, 19, 29),
        ];
        for (x, y, z) in ORDER {
            b64_24(&mut out, c[x], c[y], c[z], 4);
        }
        b64_24(&mut out, 0, c[31], c[30], 3);
    }
    out
}

/// `md5_crypt` (`$1$`).
pub fn md5_crypt(pw: &str, salt: &str) -> String {
    let pw = pw.as_bytes();
    let salt: String = salt.chars().take(8).collect();
    let s = salt.as_bytes();
    let mut alt = pw.to_vec();
    alt.extend_from_slice(s);
    alt.extend_from_slice(pw);
    let alt = md5(&alt);
    let mut ctx = pw.to_vec();
    ctx.extend_from_slice(b"$1$");
    ctx.extend_from_slice(s);
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.extend_from_slice(&alt[..n]);
        left -= n;
    }
    let mut n = pw.len();
    while n > 0 {
        if n & 1 == 1 {
            ctx.push(0);
        } else {
            ctx.push(pw.first().copied().unwrap_or(0));
        }
        n >>= 1;
    }
    let mut fin = md5(&ctx);
    for i in 0..1000 {
        let mut c = Vec::new();
        if i & 1 == 1 {
            c.extend_from_slice(pw);
        } else {
            c.extend_from_slice(&fin);
        }
        if i % 3 != 0 {
            c.extend_from_slice(s);
        }
        if i % 7 != 0 {
            c.extend_from_slice(pw);
        }
        if i & 1 == 1 {
            c.extend_from_slice(&fin);
        } else {
            c.extend_from_slice(pw);
        }
        fin = md5(&c);
    }
    let mut out = format!("$1${salt}$");
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        b64_24(&mut out, fin[a], fin[b], fin[c], 4);
    }
    b64_24(&mut out, 0, 0, fin[11], 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(hex(&md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            hex(&sha1(&long)),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
    }

    #[test]
    fn uuid5_with_ansible_namespace() {
        // uuid.uuid5(uuid.UUID('361E6D51-FAEC-444A-9079-341386DA8E2E'), 'example.com')
        let ns = parse_uuid("361E6D51-FAEC-444A-9079-341386DA8E2E").expect("uuid");
        assert_eq!(
            uuid5(&ns, "example.com"),
            "ae780c3a-a3ab-53c2-bfb4-098da300b3fe"
        );
    }

    // Vectors from Python's crypt.crypt (glibc), which passlib matches.
    #[test]
    fn crypt_vectors() {
        assert_eq!(
            sha_crypt(512, "secret", "mysalt", 656000),
            "$6$rounds=656000$mysalt$cDA0t8lm/qt.LT6DzpoHxJ.NwTpx.WTkOPwhseSva8pRixDSH2./ffedCjAMbTX1Uo1QNT7jJPJ6FIzU2i59K/"
        );
        assert_eq!(
            sha_crypt(256, "secret", "mysalt", 5000),
            "$5$mysalt$I2SNajjJ3Gc5gIR/tkrLOGngF8wqv59buJCqxh.o9s8"
        );
        assert_eq!(
            sha_crypt(
                512,
                "a much longer password with spaces and ünicode",
                "0123456789abcdef",
                5000
            ),
            "$6$0123456789abcdef$t4Gu6i5WiTlHnH0zQG5gB9W/KLnKWCbKrEn9L1bpn7VnWm5vARQZpN88HxgZncce.80s03WgD6R6JPP8dE4rz0"
        );
        assert_eq!(
            sha_crypt(256, "pw", "abc", 535000),
            "$5$rounds=535000$abc$VkvFDYvCXDbn.mLQPbERuTqlMbmmguUm.VCJ.rKwVT9"
        );
        assert_eq!(
            md5_crypt("secret", "mysalt"),
            "$1$mysalt$n/EfEiV74OYgBdqhKQzSW/"
        );
    }
}
