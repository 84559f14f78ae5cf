//! Hashing filters: `hash`, `checksum`, `sha1`, `md5`, `password_hash`, `to_uuid`.

use super::crypto::{hex, md5, md5_crypt, parse_uuid, sha_crypt, sha1, uuid5, valid_salt};
use super::{Call, add, int_arg, opt_text, text};
use crate::template::random::PyRandom;
use minijinja::{Environment, Error, State, Value as Mj};
use sha2::Digest;

pub fn register(env: &mut Environment<'static>) {
    add(env, "hash", hash, false);
    add(env, "checksum", |_, c| digest_filter(c, "sha1"), false);
    add(env, "sha1", |_, c| digest_filter(c, "sha1"), false);
    add(env, "md5", |_, c| digest_filter(c, "md5"), false);
    add(env, "password_hash", password_hash, false);
    add(env, "to_uuid", to_uuid, false);
}

/// The namespace Ansible uses for `to_uuid`.
pub const ANSIBLE_NAMESPACE: &str = "361E6D51-FAEC-444A-9079-341386DA8E2E";

/// `hashlib.new(name, data).hexdigest()` for the algorithms kiln supports.
pub fn hexdigest(name: &str, data: &[u8]) -> Option<String> {
    Some(match name.to_ascii_lowercase().as_str() {
        "md5" => hex(&md5(data)),
        "sha1" => hex(&sha1(data)),
        "sha224" => hex(&sha2::Sha224::digest(data)),
        "sha256" => hex(&sha2::Sha256::digest(data)),
        "sha384" => hex(&sha2::Sha384::digest(data)),
        "sha512" => hex(&sha2::Sha512::digest(data)),
        "sha512_224" => hex(&sha2::Sha512_224::digest(data)),
        "sha512_256" => hex(&sha2::Sha512_256::digest(data)),
        _ => return None,
    })
}

fn digest_filter(c: &Call, algo: &str) -> Result<Mj, Error> {
    let a = c.bind(&["data"])?;
    let data = text(a[0].as_ref().unwrap_or(&Mj::from(())))?;
    hexdigest(algo, data.as_bytes())
        .map(Mj::from)
        .ok_or_else(|| c.fail(&format!("unsupported hash type {algo}")))
}

fn hash(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["data", "hashtype"])?;
    let data = text(a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let algo = opt_text(&a[1])?.unwrap_or_else(|| "sha1".into());
    hexdigest(&algo, data.as_bytes())
        .map(Mj::from)
        .ok_or_else(|| c.fail(&format!("unsupported hash type {algo}")))
}

fn random_salt(len: usize) -> String {
    let chars: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./"
        .chars()
        .collect();
    let mut r = PyRandom::from_entropy();
    (0..len)
        .map(|_| chars[r.choice_index(chars.len()).unwrap_or(0)])
        .collect()
}

/// `password_hash` as ansible-core 2.19 does it through passlib, with crypt's default
/// rounds (656000 for sha512, 535000 for sha256) when none are given.
fn password_hash(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&[
        "password",
        "hashtype",
        "salt",
        "salt_size",
        "rounds",
        "ident",
    ])?;
    let password = text(a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let hashtype = opt_text(&a[1])?.unwrap_or_else(|| "sha512".into());
    let algo = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => "sha512_crypt",
        "sha256" | "sha256_crypt" => "sha256_crypt",
        "md5" | "md5_crypt" => "md5_crypt",
        "blowfish" | "bcrypt" => {
            return Err(c.fail("bcrypt is not supported by kiln yet"));
        }
        other => {
            return Err(c.fail(&format!(
                "{other} is not in the list of supported passlib algorithms: md5, blowfish, sha256, sha512"
            )));
        }
    };
    let salt = match &a[2] {
        Some(s) if s.is_true() => text(s)?,
        _ => {
            let size = match &a[3] {
                Some(n) if n.is_true() => int_arg(c, n)?.max(1) as usize,
                _ if algo == "md5_crypt" => 8,
                _ => 16,
            };
            random_salt(size)
        }
    };
    let max_salt = if algo == "md5_crypt" { 8 } else { 16 };
    if !valid_salt(&salt) || salt.chars().count() > max_salt {
        return Err(c.fail("Could not hash the secret."));
    }
    let rounds = match &a[4] {
        Some(r) if r.is_true() => int_arg(c, r)?,
        _ => match algo {
            "sha512_crypt" => 656000,
            "sha256_crypt" => 535000,
            _ => 0,
        },
    };
    let out = match algo {
        "md5_crypt" => md5_crypt(&password, &salt),
        _ => {
            if !(1000..=999_999_999).contains(&rounds) {
                return Err(c.fail("Could not hash the secret."));
            }
            let bits = if algo == "sha512_crypt" { 512 } else { 256 };
            sha_crypt(bits, &password, &salt, rounds as u32)
        }
    };
    Ok(Mj::from(out))
}

fn to_uuid(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["string", "namespace"])?;
    let name = text(a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let ns_text = match &a[1] {
        Some(n) => text(n)?,
        None => ANSIBLE_NAMESPACE.into(),
    };
    let ns = parse_uuid(&ns_text).ok_or_else(|| {
        c.fail(&format!(
            "Invalid value '{ns_text}' for 'namespace': badly formed hexadecimal UUID string"
        ))
    })?;
    Ok(Mj::from(uuid5(&ns, &name)))
}
