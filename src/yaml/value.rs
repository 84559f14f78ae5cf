//! The data model every loaded document turns into: YAML, JSON, INI values and, later, variables.
//!
//! It mirrors what Ansible holds in Python after loading, so that `kiln` can print the same
//! JSON and compare values the same way: ints are unbounded in Python, so `Int` is `i128`;
//! dates stay dates; `!vault` and `!unsafe` keep their meaning instead of becoming plain strings.

use indexmap::IndexMap;
use std::hash::{Hash, Hasher};

/// An ordered mapping, as Python 3.7+ dicts are.
pub type Map = IndexMap<Value, Value>;

#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    /// A string Ansible must never template (`!unsafe`, or anything below it).
    Unsafe(String),
    /// `!vault`: the ciphertext exactly as written.
    Vault(String),
    /// A `YYYY-MM-DD` date, kept as its ISO form.
    Date(String),
    /// A timestamp, kept as Python's `datetime.isoformat()`.
    DateTime(String),
    /// `!!binary` content.
    Bytes(Vec<u8>),
    Seq(Vec<Value>),
    Map(Map),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Unsafe(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Python's truthiness: empty containers, zero, `None` and `""` are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Unsafe(s) | Value::Vault(s) => !s.is_empty(),
            Value::Date(_) | Value::DateTime(_) => true,
            Value::Bytes(b) => !b.is_empty(),
            Value::Seq(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// The Python type name, for messages that mirror Ansible's.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) | Value::Unsafe(_) | Value::Vault(_) => "str",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
            Value::Bytes(_) => "bytes",
            Value::Seq(_) => "list",
            Value::Map(_) => "dict",
        }
    }

    /// Marks every string in the value as unsafe, as `!unsafe` does for everything below it.
    pub fn into_unsafe(self) -> Value {
        match self {
            Value::Str(s) => Value::Unsafe(s),
            Value::Seq(items) => Value::Seq(items.into_iter().map(Value::into_unsafe).collect()),
            // Keys stay as they are: Ansible only untrusts values.
            Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, v.into_unsafe())).collect()),
            other => other,
        }
    }
}

/// Equality as Python sees it for the types kiln holds: `1 == 1.0 == True`, and unsafe
/// strings equal their plain text.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Str(a) | Unsafe(a), Str(b) | Unsafe(b)) => a == b,
            (Vault(a), Vault(b)) => a == b,
            (Date(a), Date(b)) | (DateTime(a), DateTime(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Seq(a), Seq(b)) => a == b,
            (Map(a), Map(b)) => a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v)),
            _ => match (self.as_number(), other.as_number()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl Eq for Value {}

impl Value {
    fn as_number(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => 0u8.hash(state),
            // Numbers that compare equal must hash equal: hash integral values as ints.
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                let f = self.as_number().unwrap_or(0.0);
                if f.fract() == 0.0 && f.is_finite() {
                    1u8.hash(state);
                    (f as i128).hash(state);
                } else {
                    2u8.hash(state);
                    f.to_bits().hash(state);
                }
            }
            Value::Str(s) | Value::Unsafe(s) => {
                3u8.hash(state);
                s.hash(state);
            }
            Value::Vault(s) => {
                4u8.hash(state);
                s.hash(state);
            }
            Value::Date(s) | Value::DateTime(s) => {
                5u8.hash(state);
                s.hash(state);
            }
            Value::Bytes(b) => {
                6u8.hash(state);
                b.hash(state);
            }
            Value::Seq(items) => {
                7u8.hash(state);
                items.len().hash(state);
            }
            Value::Map(m) => {
                8u8.hash(state);
                m.len().hash(state);
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i as i128)
    }
}

/// Python's `repr(float)`: the shortest text that reads back the same, in Python's layout
/// (`1.0`, `1e+16`, `1e-05`, `inf`, `nan`).
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e3".
    let sci = format!("{:e}", f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{}{}.0", digits, "0".repeat((int_len - n) as usize))
            } else {
                format!(
                    "{}.{}",
                    &digits[..int_len as usize],
                    &digits[int_len as usize..]
                )
            }
        } else {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        };
        format!("{sign}{body}")
    } else {
        let frac = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{frac}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123.456, "123.456"),
            (-2.5e-7, "-2.5e-07"),
            (1e100, "1e+100"),
            (1.5e300, "1.5e+300"),
            (f64::INFINITY, "inf"),
            (-0.0, "-0.0"),
            (3.0e3, "3000.0"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn python_equality_of_numbers() {
        assert_eq!(Value::Int(1), Value::Float(1.0));
        assert_eq!(Value::Bool(true), Value::Int(1));
        assert_ne!(Value::str("1"), Value::Int(1));
        assert_eq!(Value::str("a"), Value::Unsafe("a".into()));
    }
}
