//! Ansible's `AES256` vault cipher.
//!
//! PBKDF2-HMAC-SHA256 (10,000 iterations) stretches the password and a 32-byte salt into 80
//! bytes: the AES-256 key, the HMAC-SHA256 key and the 16-byte initial counter block. The
//! plaintext is padded to whole AES blocks with PKCS#7 (although CTR mode does not need it,
//! Ansible pads, so the length must match) and encrypted with AES-256 in CTR mode with a
//! 128-bit big-endian counter; the HMAC authenticates the ciphertext. The payload is
//! `hex(hex(salt) "\n" hex(hmac) "\n" hex(ciphertext))`: hexadecimal twice, as Ansible
//! writes it.

use super::envelope::{hexlify, unhexlify};
use super::error::VaultError;
use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const ITERATIONS: u32 = 10_000;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const BLOCK: usize = 16;

/// The salt length Ansible draws for each encryption.
pub const SALT_LEN: usize = 32;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The three values PBKDF2 derives; wiped when dropped.
struct Keys(Zeroizing<[u8; 2 * KEY_LEN + IV_LEN]>);

impl Keys {
    fn derive(password: &[u8], salt: &[u8]) -> Keys {
        let mut out = Zeroizing::new([0u8; 2 * KEY_LEN + IV_LEN]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ITERATIONS, out.as_mut());
        Keys(out)
    }
    fn cipher_key(&self) -> &[u8] {
        &self.0[..KEY_LEN]
    }
    fn hmac_key(&self) -> &[u8] {
        &self.0[KEY_LEN..2 * KEY_LEN]
    }
    fn iv(&self) -> &[u8] {
        &self.0[2 * KEY_LEN..]
    }
    fn apply_ctr(&self, data: &mut [u8]) {
        // Both lengths are fixed above, so construction cannot fail.
        if let Ok(mut c) = Aes256Ctr::new_from_slices(self.cipher_key(), self.iv()) {
            c.apply_keystream(data);
        }
    }
    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256> as KeyInit>::new_from_slice(self.hmac_key())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }
}

/// Encrypts `plaintext`; returns the payload (before it is wrapped into the envelope).
pub fn encrypt(plaintext: &[u8], password: &[u8], salt: &[u8]) -> Vec<u8> {
    let keys = Keys::derive(password, salt);
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut data = Vec::with_capacity(plaintext.len() + pad);
    data.extend_from_slice(plaintext);
    data.extend(std::iter::repeat_n(pad as u8, pad));
    keys.apply_ctr(&mut data);
    let mut mac = keys.mac();
    mac.update(&data);
    let tag = mac.finalize().into_bytes();
    let mut inner = hexlify(salt);
    inner.push(b'\n');
    inner.extend(hexlify(&tag));
    inner.push(b'\n');
    inner.extend(hexlify(&data));
    hexlify(&inner)
}

/// A payload taken apart, ready to try secrets on.
pub struct Parsed {
    salt: Vec<u8>,
    tag: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Takes a payload apart; format errors here are final (no secret can fix them).
pub fn parse(payload: &[u8]) -> Result<Parsed, VaultError> {
    let inner = unhexlify(payload)?;
    let parts: Vec<&[u8]> = inner.splitn(3, |&b| b == b'\n').collect();
    let [salt, tag, ciphertext] = parts[..] else {
        return Err(VaultError::Vaulttext(format!(
            "not enough values to unpack (expected 3, got {})",
            parts.len()
        )));
    };
    Ok(Parsed {
        salt: unhexlify(salt)?,
        ciphertext: unhexlify(ciphertext)?,
        tag: unhexlify(tag)?,
    })
}

impl Parsed {
    /// Decrypts with one password: `None` when the HMAC does not match (a wrong password or
    /// a tampered file). The comparison is constant-time.
    pub fn decrypt(&self, password: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
        let keys = Keys::derive(password, &self.salt);
        let mut mac = keys.mac();
        mac.update(&self.ciphertext);
        if mac.verify_slice(&self.tag).is_err() {
            return Ok(None);
        }
        let mut data = self.ciphertext.clone();
        keys.apply_ctr(&mut data);
        let pad = usize::from(data.last().copied().unwrap_or(0));
        let valid = data.len().is_multiple_of(BLOCK)
            && (1..=BLOCK).contains(&pad)
            && data[data.len() - pad..]
                .iter()
                .all(|&b| usize::from(b) == pad);
        if !valid {
            return Err(VaultError::Padding);
        }
        data.truncate(data.len() - pad);
        Ok(Some(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_padding_of_every_length() {
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let payload = encrypt(&plain, b"pw", &[7u8; SALT_LEN]);
            let parsed = parse(&payload).expect("parse");
            assert_eq!(parsed.ciphertext.len() % BLOCK, 0);
            assert!(parsed.ciphertext.len() > plain.len());
            assert_eq!(parsed.decrypt(b"pw").expect("decrypt"), Some(plain));
            assert_eq!(parsed.decrypt(b"other").expect("no error"), None);
        }
    }

    #[test]
    fn a_changed_byte_fails_the_hmac() {
        let payload = encrypt(b"secret", b"pw", &[1u8; SALT_LEN]);
        let mut parsed = parse(&payload).expect("parse");
        parsed.ciphertext[0] ^= 1;
        assert_eq!(parsed.decrypt(b"pw").expect("no error"), None);
    }

    #[test]
    fn payload_errors_are_ansibles() {
        let inner = hexlify(b"00\n11");
        assert_eq!(
            parse(&inner).err().map(|e| e.to_string()).as_deref(),
            Some("Vault vaulttext format error: not enough values to unpack (expected 3, got 2)")
        );
        assert!(matches!(parse(b"0g"), Err(VaultError::Unhexlify(_))));
    }
}
