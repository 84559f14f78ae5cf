//! Defaults, types and numbers: `default`, `mandatory`, `ternary`, `bool`, `int`,
//! `float`, `string`, `length`, `first`, `last`, `list`, `abs`, `round`, `sum`, `min`,
//! `max`, `random`, `shuffle`, `human_readable`, `human_to_bytes`, `type_debug`, `log`,
//! `pow`, `root`.

use super::{
    Call, add, attr_path, float_of, get_path, ignore_case, int_arg, kiln, mj, py_cmp, text, truthy,
};
use crate::template::format::py_str;
use crate::template::random::{PyRandom, Seed};
use crate::template::value::{int, items, undefined_error};
use crate::yaml::Value;
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, State, Value as Mj};

pub fn register(env: &mut Environment<'static>) {
    add(env, "default", default, true);
    add(env, "d", default, true);
    add(env, "mandatory", mandatory, true);
    add(env, "ternary", ternary, true);
    add(env, "type_debug", type_debug, true);
    add(env, "bool", to_bool, false);
    add(env, "int", to_int, false);
    add(env, "float", to_float, false);
    add(env, "string", string, false);
    add(env, "length", length, false);
    add(env, "count", length, false);
    add(env, "first", first, false);
    add(env, "last", last, false);
    add(env, "list", list, false);
    add(env, "abs", abs, false);
    add(env, "round", round, false);
    add(env, "sum", sum, false);
    add(env, "min", min, false);
    add(env, "max", max, false);
    add(env, "random", random, false);
    add(env, "shuffle", shuffle, false);
    add(env, "human_readable", human_readable, false);
    add(env, "human_to_bytes", human_to_bytes, false);
    add(env, "log", log, false);
    add(env, "pow", pow, false);
    add(env, "root", root, false);
}

fn default(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "default_value", "boolean"])?;
    let default_value = a[1].clone().unwrap_or_else(|| Mj::from(""));
    let boolean = match &a[2] {
        None => false,
        Some(b) if b.kind() == ValueKind::Bool => b.is_true(),
        Some(b) => {
            return Err(c.fail(&format!(
                "the `boolean` argument must be a bool, not {}",
                type_name(b)
            )));
        }
    };
    let value = a[0].clone().unwrap_or(Mj::UNDEFINED);
    if value.is_undefined() || (boolean && !value.is_true()) {
        return Ok(default_value);
    }
    Ok(value)
}

fn mandatory(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["a", "msg"])?;
    let value = a[0].clone().unwrap_or(Mj::UNDEFINED);
    if value.is_undefined() {
        if let Some(msg) = &a[1]
            && !msg.is_none()
        {
            return Err(c.fail(&text(msg)?));
        }
        let e = undefined_error(&value);
        return Err(c.fail(&format!("mandatory variable not defined ({e})")));
    }
    Ok(value)
}

fn ternary(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "true_val", "false_val", "none_val"])?;
    let value = a[0].clone().unwrap_or(Mj::UNDEFINED);
    if value.is_undefined() {
        return Err(undefined_error(&value));
    }
    let none_val = a[3].clone().filter(|v| !v.is_none());
    if value.is_none()
        && let Some(n) = none_val
    {
        return Ok(n);
    }
    let pick = if value.is_true() { &a[1] } else { &a[2] };
    pick.clone()
        .ok_or_else(|| c.fail("missing a required argument"))
}

/// Python's type name of a template value (`native_type_name`).
pub fn type_name(v: &Mj) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "UndefinedMarker",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

fn type_debug(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["obj"])?;
    Ok(Mj::from(type_name(a[0].as_ref().unwrap_or(&Mj::UNDEFINED))))
}

/// Ansible's `bool` filter.
pub fn bool_of(v: &Mj) -> bool {
    let check = match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_lowercase(),
        ValueKind::Bool => if v.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::Number if v.is_integer() => v.to_string(),
        // Anything else is compared with 1 (a deprecated fallback in 2.19).
        ValueKind::Number => return float_of(v) == Some(1.0),
        _ => return false,
    };
    match check.as_str() {
        "yes" | "on" | "true" | "1" => true,
        "no" | "off" | "false" | "0" => false,
        _ => false,
    }
}

fn to_bool(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value"])?;
    Ok(Mj::from(bool_of(a[0].as_ref().unwrap_or(&Mj::from(())))))
}

/// Python's `int(str, base)` for an integer literal.
fn parse_int_literal(s: &str, base: u32) -> Option<i128> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = body.to_ascii_lowercase();
    let (base, digits) = match base {
        0 | 16 if lower.starts_with("0x") => (16, &body[2..]),
        0 | 8 if lower.starts_with("0o") => (8, &body[2..]),
        0 | 2 if lower.starts_with("0b") => (2, &body[2..]),
        0 => (10, body),
        b => (b, body),
    };
    let digits = digits.strip_prefix('_').unwrap_or(digits);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n = i128::from_str_radix(&clean, base).ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `float(str)`.
pub fn parse_float_literal(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        let neg = lower.starts_with('-');
        let v = if unsigned == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if neg { -v } else { v });
    }
    if t.is_empty() || t.contains("__") || t.starts_with('_') || t.ends_with('_') {
        return None;
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    if !clean
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    clean.parse::<f64>().ok()
}

fn to_int(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "default", "base"])?;
    let value = a[0].clone().unwrap_or(Mj::from(()));
    let default = a[1].clone().unwrap_or(Mj::from(0));
    let base = match &a[2] {
        Some(b) => int_arg(c, b)? as u32,
        None => 10,
    };
    let parsed = match value.kind() {
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            parse_int_literal(s, base).or_else(|| {
                parse_float_literal(s)
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i128)
            })
        }
        ValueKind::Bool => Some(value.is_true() as i128),
        ValueKind::Number if value.is_integer() => i128::try_from(value.clone()).ok(),
        ValueKind::Number => float_of(&value)
            .filter(|f| f.is_finite())
            .map(|f| f.trunc() as i128),
        _ => None,
    };
    Ok(parsed.map(int).unwrap_or(default))
}

fn to_float(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "default"])?;
    let value = a[0].clone().unwrap_or(Mj::from(()));
    let default = a[1].clone().unwrap_or(Mj::from(0.0));
    let parsed = match value.kind() {
        ValueKind::String => parse_float_literal(value.as_str().unwrap_or_default()),
        ValueKind::Bool | ValueKind::Number => float_of(&value),
        _ => None,
    };
    Ok(parsed.map(Mj::from).unwrap_or(default))
}

fn string(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value"])?;
    Ok(Mj::from(py_str(a[0].as_ref().unwrap_or(&Mj::from(())))?))
}

/// Python's `len()`.
pub fn len_of(c: &Call, v: &Mj) -> Result<usize, Error> {
    match v.kind() {
        ValueKind::String => Ok(v.as_str().unwrap_or_default().chars().count()),
        ValueKind::Bytes => Ok(v.as_bytes().map_or(0, <[u8]>::len)),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => match v.len() {
            Some(n) => Ok(n),
            None => Ok(items(v)?.len()),
        },
        _ => Err(c.fail(&format!("object of type '{}' has no len()", type_name(v)))),
    }
}

fn length(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["obj"])?;
    Ok(Mj::from(len_of(c, a[0].as_ref().unwrap_or(&Mj::from(())))?))
}

/// Python's `list(value)` of an iterable: a string gives characters, a dict its keys.
pub fn iterate(c: &Call, v: &Mj) -> Result<Vec<Mj>, Error> {
    match v.kind() {
        ValueKind::String => Ok(v
            .as_str()
            .unwrap_or_default()
            .chars()
            .map(Mj::from)
            .collect()),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => items(v),
        _ => Err(c.fail(&format!("'{}' object is not iterable", type_name(v)))),
    }
}

fn first(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["seq"])?;
    let all = iterate(c, a[0].as_ref().unwrap_or(&Mj::from(())))?;
    Ok(all.into_iter().next().unwrap_or(Mj::UNDEFINED))
}

fn last(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["seq"])?;
    let all = iterate(c, a[0].as_ref().unwrap_or(&Mj::from(())))?;
    Ok(all.into_iter().next_back().unwrap_or(Mj::UNDEFINED))
}

fn list(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value"])?;
    Ok(Mj::from(iterate(
        c,
        a[0].as_ref().unwrap_or(&Mj::from(())),
    )?))
}

fn abs(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["x"])?;
    let v = a[0].clone().unwrap_or(Mj::from(()));
    match kiln(&v)? {
        Value::Int(i) => Ok(int(i.abs())),
        Value::Bool(b) => Ok(Mj::from(b as i64)),
        Value::Float(f) => Ok(Mj::from(f.abs())),
        other => Err(c.fail(&format!(
            "bad operand type for abs(): '{}'",
            other.type_name()
        ))),
    }
}

/// Python's `round(x, ndigits)` for floats: correctly rounded, ties to even.
pub fn py_round(x: f64, ndigits: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    if ndigits >= 0 {
        let s = format!("{:.*}", ndigits as usize, x);
        s.parse().unwrap_or(x)
    } else {
        let p = 10f64.powi(-ndigits);
        let q = x / p;
        let r = q.round();
        let r = if (q - q.trunc()).abs() == 0.5 {
            2.0 * (q / 2.0).round()
        } else {
            r
        };
        r * p
    }
}

fn round(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "precision", "method"])?;
    let value = kiln(a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let precision = match &a[1] {
        Some(p) => int_arg(c, p)? as i32,
        None => 0,
    };
    let method = match &a[2] {
        Some(m) => text(m)?,
        None => "common".into(),
    };
    let x = match value {
        Value::Int(i) if method == "common" => return Ok(int(i)),
        Value::Bool(b) if method == "common" => return Ok(Mj::from(b as i64)),
        Value::Int(i) => i as f64,
        Value::Bool(b) => b as i64 as f64,
        Value::Float(f) => f,
        other => {
            return Err(c.fail(&format!(
                "type {} doesn't define __round__ method",
                other.type_name()
            )));
        }
    };
    let p = 10f64.powi(precision);
    Ok(Mj::from(match method.as_str() {
        "common" => py_round(x, precision),
        "ceil" => (x * p).ceil() / p,
        "floor" => (x * p).floor() / p,
        _ => return Err(c.fail("method must be common, ceil or floor")),
    }))
}

/// Python's `a + b` for numbers and lists.
pub fn py_add(c: &Call, a: Value, b: Value) -> Result<Value, Error> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x + y),
        (Value::Bool(x), Value::Int(y)) | (Value::Int(y), Value::Bool(x)) => {
            Value::Int(y + x as i128)
        }
        (Value::Bool(x), Value::Bool(y)) => Value::Int(x as i128 + y as i128),
        (Value::Seq(mut x), Value::Seq(y)) => {
            x.extend(y);
            Value::Seq(x)
        }
        (a, b) => match (num(&a), num(&b)) {
            (Some(x), Some(y)) => Value::Float(x + y),
            _ => {
                return Err(c.fail(&format!(
                    "unsupported operand type(s) for +: '{}' and '{}'",
                    a.type_name(),
                    b.type_name()
                )));
            }
        },
    })
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(*b as i64 as f64),
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn sum(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["iterable", "attribute", "start"])?;
    let all = iterate(c, a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let mut total = match &a[2] {
        Some(s) => kiln(s)?,
        None => Value::Int(0),
    };
    let path = a[1].as_ref().filter(|v| !v.is_none()).map(attr_path);
    for item in all {
        let item = match &path {
            Some(p) => get_path(&item, p),
            None => item,
        };
        if item.is_undefined() {
            return Err(undefined_error(&item));
        }
        total = py_add(c, total, kiln(&item)?)?;
    }
    Ok(mj(&total))
}

fn min_max(c: &Call, want: std::cmp::Ordering) -> Result<Mj, Error> {
    let a = c.bind(&["value", "case_sensitive", "attribute"])?;
    let all = iterate(c, a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let case_sensitive = truthy(&a[1]);
    let path = a[2].as_ref().filter(|v| !v.is_none()).map(attr_path);
    let mut best: Option<(Value, Mj)> = None;
    for item in all {
        let key = match &path {
            Some(p) => get_path(&item, p),
            None => item.clone(),
        };
        let mut key = kiln(&key)?;
        if !case_sensitive {
            key = ignore_case(key);
        }
        match &best {
            None => best = Some((key, item)),
            Some((bk, _)) => {
                if py_cmp(&key, bk).map_err(|e| c.fail(&e))? == want {
                    best = Some((key, item));
                }
            }
        }
    }
    Ok(best.map(|(_, v)| v).unwrap_or(Mj::UNDEFINED))
}

fn min(_: &mut State, c: &Call) -> Result<Mj, Error> {
    min_max(c, std::cmp::Ordering::Less)
}

fn max(_: &mut State, c: &Call) -> Result<Mj, Error> {
    min_max(c, std::cmp::Ordering::Greater)
}

/// A generator seeded as Python's `Random(seed)` would be.
pub fn seeded(c: &Call, seed: &Mj) -> Result<PyRandom, Error> {
    Ok(match kiln(seed)? {
        Value::Int(i) => PyRandom::new(Seed::Int(i)),
        Value::Bool(b) => PyRandom::new(Seed::Int(b as i128)),
        Value::Str(s) | Value::Unsafe(s) => PyRandom::new(Seed::Str(&s)),
        Value::Bytes(b) => PyRandom::new(Seed::Bytes(&b)),
        Value::Float(f) => PyRandom::new(Seed::Int(float_hash(f))),
        Value::Null => PyRandom::from_entropy(),
        other => {
            return Err(c.fail(&format!(
                "the only supported seed types are: None, int, float, str, bytes, and bytearray, not {}",
                other.type_name()
            )));
        }
    })
}

/// Python's `hash(float)` (what `Random(1.5)` seeds with).
fn float_hash(f: f64) -> i128 {
    const MODULUS: i128 = (1 << 61) - 1;
    if f.is_nan() {
        return 0;
    }
    if f.is_infinite() {
        return if f > 0.0 { 314159 } else { -314159 };
    }
    let (mut m, mut e) = frexp(f.abs());
    let mut x: i128 = 0;
    while m != 0.0 {
        x = ((x << 28) & MODULUS) | (x >> (61 - 28));
        m *= 268435456.0;
        e -= 28;
        let y = m as i128;
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
    };
    x = ((x << e) & MODULUS) | (x >> (61 - e));
    if f < 0.0 {
        x = -x;
    }
    if x == -1 { -2 } else { x }
}

fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 {
        return (0.0, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        let (m, e) = frexp(x * 2f64.powi(54));
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, exp - 1022)
}

fn random(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["end", "start", "step", "seed"])?;
    let end = a[0].clone().unwrap_or(Mj::from(()));
    let mut r = match &a[3] {
        Some(s) if !s.is_none() => seeded(c, s)?,
        _ => PyRandom::from_entropy(),
    };
    if end.is_integer() || end.kind() == ValueKind::Bool {
        let start = match &a[1] {
            Some(s) if s.is_true() => int_arg(c, s)?,
            _ => 0,
        };
        let step = match &a[2] {
            Some(s) if s.is_true() => int_arg(c, s)?,
            _ => 1,
        };
        let stop = int_arg(c, &end)?;
        return r
            .randrange(start, stop, step)
            .map(int)
            .map_err(|e| c.fail(&e));
    }
    if matches!(
        end.kind(),
        ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    ) {
        if truthy(&a[1]) || truthy(&a[2]) {
            return Err(c.fail("start and step can only be used with integer values"));
        }
        let all = iterate(c, &end)?;
        return match r.choice_index(all.len()) {
            Some(i) => Ok(all[i].clone()),
            None => Err(c.fail("cannot choose from an empty sequence")),
        };
    }
    Err(c.fail("random can only be used on sequences and integers"))
}

fn shuffle(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["mylist", "seed"])?;
    let value = a[0].clone().unwrap_or(Mj::from(()));
    let Ok(mut all) = iterate(c, &value) else {
        // Ansible returns the input unchanged when it cannot be listed.
        return Ok(value);
    };
    let mut r = match &a[1] {
        Some(s) if s.is_true() => seeded(c, s)?,
        _ => PyRandom::from_entropy(),
    };
    r.shuffle(&mut all);
    Ok(Mj::from(all))
}

const SIZES: [(char, u32); 9] = [
    ('Y', 80),
    ('Z', 70),
    ('E', 60),
    ('P', 50),
    ('T', 40),
    ('G', 30),
    ('M', 20),
    ('K', 10),
    ('B', 0),
];

fn human_readable(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["size", "isbits", "unit"])?;
    let size = a[0].clone().unwrap_or(Mj::from(()));
    let Some(size) =
        float_of(&size).or_else(|| size.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
    else {
        return Err(c.fail("human_readable() failed on bad input"));
    };
    let isbits = truthy(&a[1]);
    let unit = super::opt_text(&a[2])?;
    let base = if isbits { "bits" } else { "Bytes" };
    let mut chosen = ('B', 0u32);
    for (suffix, shift) in SIZES {
        chosen = (suffix, shift);
        let limit = 2f64.powi(shift as i32);
        let matches = match &unit {
            None => size >= limit,
            Some(u) => u.chars().next().map(|c| c.to_ascii_uppercase()) == Some(suffix),
        };
        if matches {
            break;
        }
    }
    let (suffix, shift) = chosen;
    let limit = 2f64.powi(shift as i32);
    let suffix = if shift != 0 {
        format!("{suffix}{}", &base[..1])
    } else {
        base.to_string()
    };
    Ok(Mj::from(format!("{:.2} {}", size / limit, suffix)))
}

fn human_to_bytes(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["size", "default_unit", "isbits"])?;
    let input = text(a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let default_unit = super::opt_text(&a[1])?;
    let isbits = truthy(&a[2]);
    let bad = || c.fail("human_to_bytes() can't interpret the input");
    let re = regex::Regex::new(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$").map_err(|_| bad())?;
    let caps = re.captures(&input).ok_or_else(bad)?;
    let number: f64 = caps
        .get(1)
        .map_or("", |m| m.as_str())
        .parse()
        .map_err(|_| bad())?;
    let unit = caps.get(2).map(|m| m.as_str().to_string()).or(default_unit);
    let Some(unit) = unit else {
        return Ok(int(py_round(number, 0) as i128));
    };
    let range_key = unit
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or('?');
    let Some(&(_, shift)) = SIZES.iter().find(|(s, _)| *s == range_key) else {
        return Err(bad());
    };
    if unit.chars().count() > 1 {
        let names = [
            ('B', "byte", "bit"),
            ('K', "kilobyte", "kilobit"),
            ('M', "megabyte", "megabit"),
            ('G', "gigabyte", "gigabit"),
            ('T', "terabyte", "terabit"),
            ('P', "petabyte", "petabit"),
            ('E', "exabyte", "exabit"),
            ('Z', "zetabyte", "zetabit"),
            ('Y', "yottabyte", "yottabit"),
        ];
        let (_, byte_name, bit_name) = names
            .iter()
            .find(|(k, _, _)| *k == range_key)
            .copied()
            .unwrap_or(('B', "byte", "bit"));
        let (long, short) = if isbits {
            (bit_name.to_string(), format!("{range_key}b"))
        } else {
            (byte_name.to_string(), format!("{range_key}B"))
        };
        if unit.to_lowercase() != long && unit != short {
            return Err(bad());
        }
    }
    let value = number * 2f64.powi(shift as i32);
    Ok(int(py_round(value, 0) as i128))
}

fn log(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["x", "base"])?;
    let x = a[0]
        .as_ref()
        .and_then(float_of)
        .ok_or_else(|| c.fail("log() can only be used on numbers"))?;
    let r = match a[1].as_ref().and_then(float_of) {
        None => x.ln(),
        Some(10.0) => x.log10(),
        Some(b) => x.ln() / b.ln(),
    };
    Ok(Mj::from(r))
}

fn pow(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["x", "y"])?;
    let x = a[0].as_ref().and_then(float_of);
    let y = a[1].as_ref().and_then(float_of);
    match (x, y) {
        (Some(x), Some(y)) => Ok(Mj::from(x.powf(y))),
        _ => Err(c.fail("pow() can only be used on numbers")),
    }
}

fn root(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["x", "base"])?;
    let x = a[0]
        .as_ref()
        .and_then(float_of)
        .ok_or_else(|| c.fail("root() can only be used on numbers"))?;
    let base = a[1].as_ref().and_then(float_of).unwrap_or(2.0);
    Ok(Mj::from(if base == 2.0 {
        x.sqrt()
    } else {
        x.powf(1.0 / base)
    }))
}
