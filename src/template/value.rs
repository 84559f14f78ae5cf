//! Conversion between kiln's data model ([`crate::yaml::Value`]) and minijinja values.
//!
//! Going in, [`to_mj`] is eager and never templates anything: it is for data that is already
//! final (lookup results, parsed JSON). Variables go through the lazy objects of
//! [`super::vars`] instead, so that only what a template reads gets templated.
//!
//! Coming out, [`from_mj`] "finalizes" a result as Ansible 2.19 does: containers are copied,
//! omitted values drop out of lists and dicts, an undefined value anywhere is an error, and
//! strings that look like templates come back as [`Value::Unsafe`] because a template's
//! output is never trusted to be templated again.

use super::{Plugin, fail_plain};
use crate::yaml::{Map, Value};
use minijinja::value::ValueKind;
use minijinja::{Error, Value as Mj};

/// The text Ansible used for `omit` before 2.19; kiln keeps it as a plain string so callers
/// can recognise it with [`super::is_omit`].
pub const OMIT: &str = "__omit_place_holder__2d2b07b0d3f35b0abb3b3a0e8a2ff1d5d6c74f47";

/// Whether `s` holds something Jinja would treat as a template.
pub fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#") || s.starts_with("#jinja2:")
}

/// Eager conversion of final data into a minijinja value.
pub fn to_mj(v: &Value) -> Mj {
    match v {
        Value::Null => Mj::from(()),
        Value::Bool(b) => Mj::from(*b),
        Value::Int(i) => int(*i),
        Value::Float(f) => Mj::from(*f),
        Value::Str(s) | Value::Unsafe(s) | Value::Date(s) => Mj::from(s.as_str()),
        Value::DateTime(s) => Mj::from(s.replacen('T', " ", 1)),
        Value::Vault(c) => decrypted(c),
        Value::Bytes(b) => Mj::from_bytes(b.clone()),
        Value::Seq(items) => Mj::from(items.iter().map(to_mj).collect::<Vec<_>>()),
        Value::Map(m) => Mj::from_pairs(m.iter().map(|(k, v)| (to_mj(k), to_mj(v)))),
    }
}

/// An integer as the smallest minijinja representation (keeps `i64` fast paths working).
pub fn int(i: i128) -> Mj {
    match i64::try_from(i) {
        Ok(small) => Mj::from(small),
        Err(_) => Mj::from(i),
    }
}

/// A `!vault` value's plaintext, or (when it cannot be decrypted) an error value that fails
/// whatever uses it with Ansible's message.
pub fn decrypted(ciphertext: &str) -> Mj {
    match crate::vault::decrypt_value(ciphertext) {
        Ok(plain) => Mj::from(plain),
        Err(e) => Mj::from(vault_failure(&e)),
    }
}

/// Ansible's message for a value whose secret is missing or wrong.
pub fn vault_failure(e: &crate::vault::VaultError) -> Error {
    fail_plain(
        Plugin::Vault,
        "vault",
        &format!("Attempt to use undecryptable variable: {e}"),
    )
}

/// Finalizes a template result into kiln's data model.
pub fn from_mj(v: &Mj) -> Result<Value, Error> {
    Ok(from_mj_inner(v)?.unwrap_or_else(|| Value::str(OMIT)))
}

/// `None` means "omitted": the value drops out of its container.
fn from_mj_inner(v: &Mj) -> Result<Option<Value>, Error> {
    Ok(Some(match v.kind() {
        ValueKind::Undefined => return Err(undefined_error(v)),
        ValueKind::Invalid => return Err(invalid_error(v)),
        ValueKind::None => Value::Null,
        ValueKind::Bool => Value::Bool(v.is_true()),
        ValueKind::Number => number(v)?,
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            if s == OMIT {
                return Ok(None);
            }
            if has_template(s) {
                Value::Unsafe(s.to_string())
            } else {
                Value::Str(s.to_string())
            }
        }
        ValueKind::Bytes => Value::Bytes(v.as_bytes().unwrap_or_default().to_vec()),
        ValueKind::Map => {
            if let Some(fast) = super::vars::untemplated_subtree(v) {
                return Ok(Some(fast));
            }
            let mut out = Map::new();
            for key in v.try_iter()? {
                let item = v.get_item(&key)?;
                let Some(item) = from_mj_inner(&item)? else {
                    continue;
                };
                let Some(key) = from_mj_inner(&key)? else {
                    continue;
                };
                out.insert(key, item);
            }
            Value::Map(out)
        }
        ValueKind::Seq | ValueKind::Iterable => {
            if let Some(fast) = super::vars::untemplated_subtree(v) {
                return Ok(Some(fast));
            }
            let mut out = Vec::new();
            for item in v.try_iter()? {
                if let Some(item) = from_mj_inner(&item)? {
                    out.push(item);
                }
            }
            Value::Seq(out)
        }
        ValueKind::Plain => Value::Str(v.to_string()),
        _ => Value::Str(v.to_string()),
    }))
}

/// A number as an `Int` or a `Float`.
pub fn number(v: &Mj) -> Result<Value, Error> {
    if v.is_integer() {
        match i128::try_from(v.clone()) {
            Ok(i) => Ok(Value::Int(i)),
            // u128 beyond i128: keep the magnitude as a float rather than fail.
            Err(_) => Ok(Value::Float(f64::try_from(v.clone()).unwrap_or(f64::NAN))),
        }
    } else {
        Ok(Value::Float(f64::try_from(v.clone())?))
    }
}

/// The error minijinja raises for an undefined value, which names the expression it came
/// from once it reaches the engine (debug mode resolves the origin).
pub fn undefined_error(v: &Mj) -> Error {
    match v.get_attr("__kiln_undefined__") {
        Err(e) => e,
        Ok(_) => Error::new(minijinja::ErrorKind::UndefinedError, "value is undefined"),
    }
}

/// Extracts the error an invalid value carries.
pub fn invalid_error(v: &Mj) -> Error {
    // Checked iteration is the public way to surface the error an invalid value holds.
    let wrapped = Mj::from(vec![v.clone()]);
    if let Ok(iter) = wrapped.try_iter()
        && let Some(Err(e)) = iter.checked().next()
    {
        return e;
    }
    Error::new(minijinja::ErrorKind::InvalidOperation, v.to_string())
}

/// A key as kiln's data model sees it (for lookups in kiln maps).
pub fn key_from_mj(v: &Mj) -> Option<Value> {
    match v.kind() {
        ValueKind::String => Some(Value::Str(v.as_str().unwrap_or_default().to_string())),
        ValueKind::Number => number(v).ok(),
        ValueKind::Bool => Some(Value::Bool(v.is_true())),
        ValueKind::None => Some(Value::Null),
        _ => None,
    }
}

/// Key/value pairs of a mapping value, in order.
pub fn map_pairs(v: &Mj) -> Result<Vec<(Mj, Mj)>, Error> {
    let mut out = Vec::new();
    if let Some(obj) = v.as_object()
        && let Some(pairs) = obj.try_iter_pairs()
    {
        for (k, item) in pairs {
            if item.kind() == ValueKind::Invalid {
                return Err(invalid_error(&item));
            }
            out.push((k, item));
        }
        return Ok(out);
    }
    for key in v.try_iter()? {
        let item = v.get_item(&key)?;
        out.push((key, item));
    }
    Ok(out)
}

/// Items of a sequence-like value (lists, tuples, iterables; a map yields its keys, a string
/// its characters, as Python's iteration does).
pub fn items(v: &Mj) -> Result<Vec<Mj>, Error> {
    if v.is_undefined() {
        return Err(undefined_error(v));
    }
    if v.kind() == ValueKind::Invalid {
        return Err(invalid_error(v));
    }
    let mut out = Vec::new();
    for item in v.try_iter()? {
        if item.kind() == ValueKind::Invalid {
            return Err(invalid_error(&item));
        }
        out.push(item);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_types() {
        let mut m = Map::new();
        m.insert(
            Value::str("a"),
            Value::Seq(vec![Value::Int(1), Value::Float(1.5)]),
        );
        m.insert(Value::Int(2), Value::Null);
        m.insert(Value::str("big"), Value::Int(1 << 100));
        let v = Value::Map(m);
        assert_eq!(from_mj(&to_mj(&v)).ok(), Some(v));
    }

    #[test]
    fn omit_drops_out_of_containers() {
        let v = Mj::from(vec![Mj::from(1), Mj::from(OMIT)]);
        assert_eq!(from_mj(&v).ok(), Some(Value::Seq(vec![Value::Int(1)])));
    }

    #[test]
    fn template_looking_output_is_unsafe() {
        let v = from_mj(&Mj::from("{{ x }}")).ok();
        assert!(matches!(v, Some(Value::Unsafe(_))));
    }
}
