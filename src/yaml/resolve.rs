//! Scalar resolution as PyYAML's YAML 1.1 resolver and SafeConstructor do it, which is what
//! Ansible uses: `yes`/`on` are booleans, `0755` is octal, `12:30` is base 60, `1e3` is a string.

use super::value::Value;
use regex::Regex;
use std::sync::LazyLock;

static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("static regex")
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .expect("static regex")
});
static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
    .expect("static regex")
});
static NULL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:~|null|Null|NULL|)$").expect("static regex"));
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
    )
    .expect("static regex")
});
static TIMESTAMP_PARTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<year>[0-9][0-9][0-9][0-9])-(?P<month>[0-9][0-9]?)-(?P<day>[0-9][0-9]?)(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9][0-9]?):(?P<minute>[0-9][0-9]):(?P<second>[0-9][0-9])(?:\.(?P<fraction>[0-9]*))?(?:[ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)(?::(?P<tz_minute>[0-9][0-9]))?))?)?$",
    )
    .expect("static regex")
});

/// The YAML 1.1 type a tag or an implicit resolution names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    Str,
    Bool,
    Int,
    Float,
    Null,
    Timestamp,
    Binary,
    Merge,
    /// `=`: PyYAML resolves it to `tag:yaml.org,2002:value`, which has no constructor.
    ValueTag,
}

/// Which type a plain (unquoted, untagged) scalar has.
pub fn implicit_kind(text: &str) -> ScalarKind {
    let first = text.chars().next();
    match first {
        None => ScalarKind::Null,
        Some('y' | 'Y' | 'n' | 'N' | 't' | 'T' | 'f' | 'F' | 'o' | 'O') if BOOL.is_match(text) => {
            ScalarKind::Bool
        }
        Some(c) if "-+0123456789.".contains(c) && FLOAT.is_match(text) => ScalarKind::Float,
        Some(c) if "-+0123456789".contains(c) && INT.is_match(text) => ScalarKind::Int,
        Some('<') if text == "<<" => ScalarKind::Merge,
        Some('~' | 'n' | 'N') if NULL.is_match(text) => ScalarKind::Null,
        Some(c) if c.is_ascii_digit() && TIMESTAMP.is_match(text) => ScalarKind::Timestamp,
        Some('=') if text == "=" => ScalarKind::ValueTag,
        _ => ScalarKind::Str,
    }
}

/// The kind an explicit core-schema tag (`!!int`, `tag:yaml.org,2002:int`) asks for.
pub fn tag_kind(suffix: &str) -> Option<ScalarKind> {
    Some(match suffix {
        "str" => ScalarKind::Str,
        "bool" => ScalarKind::Bool,
        "int" => ScalarKind::Int,
        "float" => ScalarKind::Float,
        "null" => ScalarKind::Null,
        "timestamp" => ScalarKind::Timestamp,
        "binary" => ScalarKind::Binary,
        "merge" => ScalarKind::Merge,
        "value" => ScalarKind::ValueTag,
        _ => return None,
    })
}

/// Builds the value of a scalar of a known kind, failing where PyYAML's constructor fails.
pub fn construct(kind: ScalarKind, text: &str) -> Result<Value, String> {
    match kind {
        ScalarKind::Str => Ok(Value::Str(text.to_string())),
        ScalarKind::Null => Ok(Value::Null),
        ScalarKind::Bool => match text.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" => Ok(Value::Bool(true)),
            "no" | "false" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not a boolean")),
        },
        ScalarKind::Int => construct_int(text)
            .map(Value::Int)
            .ok_or_else(|| format!("invalid literal for int(): `{text}`")),
        ScalarKind::Float => construct_float(text)
            .map(Value::Float)
            .ok_or_else(|| format!("could not convert string to float: `{text}`")),
        ScalarKind::Timestamp => construct_timestamp(text),
        ScalarKind::Binary => decode_base64(text)
            .map(Value::Bytes)
            .ok_or_else(|| "failed to decode base64 data".to_string()),
        ScalarKind::Merge | ScalarKind::ValueTag => Err(format!(
            "could not determine a constructor for the tag 'tag:yaml.org,2002:{}'",
            if kind == ScalarKind::Merge {
                "merge"
            } else {
                "value"
            }
        )),
    }
}

fn split_sign(text: &str) -> (i128, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    }
}

fn construct_int(text: &str) -> Option<i128> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (sign, body) = split_sign(&cleaned);
    let magnitude = if body == "0" {
        0
    } else if let Some(bin) = body.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = body.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8).ok()?
    } else if body.contains(':') {
        let mut value: i128 = 0;
        for part in body.split(':') {
            value = value
                .checked_mul(60)?
                .checked_add(part.parse::<i128>().ok()?)?;
        }
        value
    } else {
        body.parse::<i128>().ok()?
    };
    Some(sign * magnitude)
}

fn construct_float(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let (sign, body) = split_sign(&cleaned);
    let sign = sign as f64;
    if body == ".inf" {
        return Some(sign * f64::INFINITY);
    }
    if body == ".nan" {
        return Some(f64::NAN);
    }
    if body.contains(':') {
        let mut value = 0.0;
        let mut base = 1.0;
        for part in body.split(':').rev() {
            value += part.parse::<f64>().ok()? * base;
            base *= 60.0;
        }
        return Some(sign * value);
    }
    // Python's float() accepts "1.", ".5" and "1.5e+3", as does Rust's parser.
    body.parse::<f64>().ok().map(|f| sign * f)
}

fn construct_timestamp(text: &str) -> Result<Value, String> {
    let caps = TIMESTAMP_PARTS
        .captures(text)
        .ok_or_else(|| format!("`{text}` is not a timestamp"))?;
    let num = |name: &str| -> u32 {
        caps.name(name)
            .map_or(0, |m| m.as_str().parse().unwrap_or(0))
    };
    let (year, month, day) = (num("year"), num("month"), num("day"));
    if !valid_date(year, month, day) {
        return Err(format!("day is out of range for month in `{text}`"));
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if caps.name("hour").is_none() {
        return Ok(Value::Date(date));
    }
    let (hour, minute, second) = (num("hour"), num("minute"), num("second"));
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("time is out of range in `{text}`"));
    }
    let mut out = format!("{date}T{hour:02}:{minute:02}:{second:02}");
    if let Some(fraction) = caps.name("fraction") {
        let mut digits: String = fraction.as_str().chars().take(6).collect();
        while digits.len() < 6 {
            digits.push('0');
        }
        if digits != "000000" {
            out.push('.');
            out.push_str(&digits);
        }
    }
    if let Some(sign) = caps.name("tz_sign") {
        let minutes = num("tz_hour") * 60 + num("tz_minute");
        // Python normalises the offset through timedelta, so `-0` prints as `+00:00`.
        let sign = if minutes == 0 { "+" } else { sign.as_str() };
        out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    } else if caps.name("tz").is_some() {
        out.push_str("+00:00");
    }
    Ok(Value::DateTime(out))
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && day >= 1 && day <= days
}

/// Lenient base64 as Python's `base64.decodebytes`: characters outside the alphabet are skipped.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        bits = (bits << 6) | v as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Value {
        construct(implicit_kind(text), text).expect("constructs")
    }

    #[test]
    fn yaml11_scalars() {
        assert_eq!(plain("yes"), Value::Bool(true));
        assert_eq!(plain("Off"), Value::Bool(false));
        assert_eq!(plain("yEs"), Value::str("yEs"));
        assert_eq!(plain("0755"), Value::Int(493));
        assert_eq!(plain("0o755"), Value::str("0o755"));
        assert_eq!(plain("0x1F"), Value::Int(31));
        assert_eq!(plain("1_000"), Value::Int(1000));
        assert_eq!(plain("12:30"), Value::Int(750));
        assert_eq!(plain("1e3"), Value::str("1e3"));
        assert_eq!(plain("1.0e+3"), Value::Float(1000.0));
        assert_eq!(plain("08"), Value::str("08"));
        assert_eq!(plain("~"), Value::Null);
        assert_eq!(plain("2001-12-14"), Value::Date("2001-12-14".into()));
        assert_eq!(
            plain("2001-12-14t21:59:43.10-05:00"),
            Value::DateTime("2001-12-14T21:59:43.100000-05:00".into())
        );
        assert!(matches!(plain("-.inf"), Value::Float(f) if f == f64::NEG_INFINITY));
    }
}
