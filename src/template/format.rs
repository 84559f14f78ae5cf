//! Python's `str()` and `repr()` of template values, which is how Jinja in Ansible prints a
//! non-string value inside text: `[1, 'a']`, `{'k': 1}`, `True`, `None`.

use super::value::{OMIT, invalid_error, map_pairs, undefined_error};
use crate::yaml::{python_float_repr, python_str_repr};
use minijinja::value::ValueKind;
use minijinja::{Error, Value as Mj};

/// Python's `str(value)`.
pub fn py_str(v: &Mj) -> Result<String, Error> {
    match v.kind() {
        ValueKind::String => Ok(v.as_str().unwrap_or_default().to_string()),
        _ => {
            let mut out = String::new();
            write_repr(v, &mut out)?;
            Ok(out)
        }
    }
}

/// Python's `repr(value)`.
pub fn py_repr(v: &Mj) -> Result<String, Error> {
    let mut out = String::new();
    write_repr(v, &mut out)?;
    Ok(out)
}

/// What one `{{ }}` block contributes to a text result: `str()`, except that `None` and an
/// omitted value print nothing, as Ansible 2.19's concatenation does.
pub fn emit_text(v: &Mj) -> Result<String, Error> {
    match v.kind() {
        ValueKind::None => Ok(String::new()),
        ValueKind::Undefined => Err(undefined_error(v)),
        ValueKind::String if v.as_str() == Some(OMIT) => Ok(String::new()),
        _ => py_str(v),
    }
}

/// The text of a number as Python prints it.
pub fn number_text(v: &Mj) -> String {
    if v.is_integer() {
        v.to_string()
    } else {
        match f64::try_from(v.clone()) {
            Ok(f) => python_float_repr(f),
            Err(_) => v.to_string(),
        }
    }
}

fn write_repr(v: &Mj, out: &mut String) -> Result<(), Error> {
    match v.kind() {
        ValueKind::Undefined => return Err(undefined_error(v)),
        ValueKind::Invalid => return Err(invalid_error(v)),
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&number_text(v)),
        ValueKind::String => out.push_str(&python_str_repr(v.as_str().unwrap_or_default())),
        ValueKind::Bytes => {
            out.push('b');
            out.push_str(&bytes_repr(v.as_bytes().unwrap_or_default()));
        }
        ValueKind::Map => {
            out.push('{');
            for (i, (k, item)) in map_pairs(v)?.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(k, out)?;
                out.push_str(": ");
                write_repr(item, out)?;
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(&item, out)?;
            }
            out.push(']');
        }
        _ => out.push_str(&v.to_string()),
    }
    Ok(())
}

fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c as char == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_str_of_containers() {
        let v = Mj::from(vec![
            Mj::from(1),
            Mj::from("a"),
            Mj::from(()),
            Mj::from(true),
        ]);
        assert_eq!(py_str(&v).ok().as_deref(), Some("[1, 'a', None, True]"));
        let m = Mj::from_pairs([(Mj::from("k"), Mj::from(1.0))]);
        assert_eq!(py_str(&m).ok().as_deref(), Some("{'k': 1.0}"));
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("a\u{85}"), "'a\\x85'");
    }
}
