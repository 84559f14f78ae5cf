//! JSON exactly as Ansible's CLI tools print it: Python's `json.dumps(..., sort_keys=True,
//! indent=4)` without ASCII escaping, with vaulted and unsafe values as Ansible's legacy
//! encoder writes them (`{"__ansible_vault": ...}`, `{"__ansible_unsafe": ...}`).

use crate::yaml::{Value, python_float_repr, python_str};

/// Renders `value` with `indent` spaces per level (`None` for one line, Python's separators).
pub fn to_string(value: &Value, indent: Option<usize>) -> String {
    let mut out = String::new();
    write(value, indent, 0, &mut out);
    out
}

fn newline(indent: Option<usize>, level: usize, out: &mut String) {
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * level));
    }
}

fn write(value: &Value, indent: Option<usize>, level: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => {
            out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(f) => out.push_str(&python_float_repr(*f)),
        Value::Str(s) | Value::Date(s) | Value::DateTime(s) => write_str(s, out),
        Value::Bytes(b) => write_str(&String::from_utf8_lossy(b), out),
        Value::Unsafe(s) => write_tagged("__ansible_unsafe", s, indent, level, out),
        Value::Vault(s) => write_tagged("__ansible_vault", s, indent, level, out),
        Value::Seq(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if indent.is_none() {
                        out.push(' ');
                    }
                }
                newline(indent, level + 1, out);
                write(item, indent, level + 1, out);
            }
            newline(indent, level, out);
            out.push(']');
        }
        Value::Map(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(String, &Value)> =
                map.iter().map(|(k, v)| (key_text(k), v)).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if indent.is_none() {
                        out.push(' ');
                    }
                }
                newline(indent, level + 1, out);
                write_str(&k, out);
                out.push_str(": ");
                write(v, indent, level + 1, out);
            }
            newline(indent, level, out);
            out.push('}');
        }
    }
}

fn write_tagged(tag: &str, s: &str, indent: Option<usize>, level: usize, out: &mut String) {
    out.push('{');
    newline(indent, level + 1, out);
    write_str(tag, out);
    out.push_str(": ");
    write_str(s, out);
    newline(indent, level, out);
    out.push('}');
}

/// Dict keys as Python's `json` converts them: strings as-is, `True` as `true`, numbers
/// in their repr.
fn key_text(key: &Value) -> String {
    match key {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        other => python_str(other),
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Map;

    #[test]
    fn python_layout() {
        let mut m = Map::new();
        m.insert(
            Value::str("b"),
            Value::Seq(vec![Value::Int(1), Value::Float(1.5e20)]),
        );
        m.insert(Value::str("a"), Value::Map(Map::new()));
        m.insert(Value::str("u"), Value::Unsafe("{{ x }}".into()));
        let want = "{\n    \"a\": {},\n    \"b\": [\n        1,\n        1.5e+20\n    ],\n    \"u\": {\n        \"__ansible_unsafe\": \"{{ x }}\"\n    }\n}";
        assert_eq!(to_string(&Value::Map(m), Some(4)), want);
    }
}
