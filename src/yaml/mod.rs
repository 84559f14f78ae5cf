//! YAML (and JSON) loading with PyYAML's YAML 1.1 semantics, as Ansible reads its files.

mod error;
mod json;
mod loader;
mod resolve;
mod value;

pub use error::YamlError;
pub use loader::{Loaded, Node, NodeKind, Warning, load_str};
pub use value::{Map, Value, python_float_repr};

use std::path::Path;
use std::sync::Arc;

/// Loads a vars or inventory file as Ansible's data loader does: decrypted when it is
/// vault-encrypted, then JSON first, then YAML.
pub fn load_file(path: &Path) -> Result<Loaded, YamlError> {
    let text = read_file(path)?;
    let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    load_text(&text, &name)
}

/// A data file's text as Ansible's loader reads it: decrypted with the run's vault secrets
/// when it is vault-encrypted.
pub fn read_file(path: &Path) -> Result<String, YamlError> {
    let data = std::fs::read(path).map_err(|source| YamlError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let data = crate::vault::decrypt_if_encrypted(data).map_err(|source| YamlError::Vault {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(data).map_err(|e| YamlError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// Loads text as JSON when it is JSON, otherwise as one YAML document.
pub fn load_text(text: &str, name: &Arc<str>) -> Result<Loaded, YamlError> {
    if let Some(node) = json::parse(text, name) {
        return Ok(Loaded {
            node: Some(node),
            warnings: Vec::new(),
        });
    }
    load_str(text, name)
}

/// Python's `repr()` of a value, as Ansible's messages and `--graph --vars` print values.
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out, true);
    out
}

/// Python's `str()`: like `repr()` but a top-level string prints bare.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::Str(s) | Value::Unsafe(s) | Value::Vault(s) => s.clone(),
        Value::Date(s) => s.clone(),
        Value::DateTime(s) => s.replacen('T', " ", 1),
        other => repr(other),
    }
}

fn write_repr(value: &Value, out: &mut String, _top: bool) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&python_float_repr(*f)),
        Value::Str(s) | Value::Unsafe(s) | Value::Vault(s) => out.push_str(&python_str_repr(s)),
        Value::Date(s) => {
            let parts: Vec<&str> = s.split('-').map(|p| p.trim_start_matches('0')).collect();
            out.push_str(&format!("datetime.date({})", parts.join(", ")));
        }
        Value::DateTime(s) => out.push_str(&format!(
            "datetime.datetime.fromisoformat({})",
            python_str_repr(s)
        )),
        Value::Bytes(b) => out.push_str(&format!(
            "b{}",
            python_str_repr(&String::from_utf8_lossy(b))
        )),
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, out, false);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(k, out, false);
                out.push_str(": ");
                write_repr(v, out, false);
            }
            out.push('}');
        }
    }
}

/// An approximation of Python's `str.isprintable()` for the characters that matter in
/// practice: controls, format characters, line/paragraph separators and non-ASCII spaces.
fn is_printable(c: char) -> bool {
    let n = c as u32;
    if n < 0x20 || (0x7f..0xa0).contains(&n) {
        return false;
    }
    !matches!(
        n,
        0xa0 | 0xad
            | 0x1680
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x206f
            | 0x3000
            | 0xfeff
            | 0xd800..=0xdfff
            | 0xe000..=0xf8ff
            | 0xfff9..=0xfffb
    )
}

/// Python's `repr()` of a `str`: single quotes unless the text has a single quote and no
/// double, and escapes for what Python does not print.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
