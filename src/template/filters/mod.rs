//! Ansible's filters (and the Jinja built-ins it relies on), with Python's semantics.
//!
//! Every filter takes its arguments Python-style (positional, then keywords) through
//! [`Call`]. Unless a filter is registered as understanding undefined values, an undefined
//! input or argument makes the filter return that undefined value unchanged, as 2.19's
//! marker propagation does: `undef | upper | default('x')` is `x`.

mod collections;
pub(crate) mod core;
pub use collections::dict_global;
mod crypto;
mod data;
mod hash;
pub(crate) mod net;
pub(crate) mod path;
pub(crate) mod pyset;
pub(crate) mod regex;
pub(crate) mod text;

use super::format::py_str;
use super::value::{from_mj, to_mj};
use super::{Plugin, fail_plain};
use crate::yaml::Value;
use minijinja::value::{Kwargs, Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value as Mj};
use std::cmp::Ordering;

/// One invocation of a filter, test or lookup: the input, then positional and keyword
/// arguments.
pub struct Call {
    pub name: &'static str,
    pub pos: Vec<Mj>,
    pub kw: Vec<(String, Mj)>,
    plugin: Plugin,
}

impl Call {
    pub fn new(name: &'static str, plugin: Plugin, values: Vec<Mj>) -> Result<Call, Error> {
        let mut pos = values;
        let mut kw = Vec::new();
        if pos.last().is_some_and(Mj::is_kwargs)
            && let Some(last) = pos.pop()
        {
            let kwargs = Kwargs::try_from(last)?;
            for key in kwargs.args().map(str::to_string).collect::<Vec<_>>() {
                let v: Mj = kwargs.get(&key)?;
                kw.push((key, v));
            }
        }
        Ok(Call {
            name,
            pos,
            kw,
            plugin,
        })
    }

    /// The first undefined value among the arguments.
    pub fn first_undefined(&self) -> Option<&Mj> {
        self.pos
            .iter()
            .chain(self.kw.iter().map(|(_, v)| v))
            .find(|v| v.is_undefined())
    }

    /// Binds arguments to Python parameter names (the first names the input), rejecting
    /// unknown keywords and extra positionals.
    pub fn bind(&self, params: &[&str]) -> Result<Vec<Option<Mj>>, Error> {
        if self.pos.len() > params.len() {
            return Err(self.fail(&format!(
                "takes at most {} positional arguments but {} were given",
                params.len(),
                self.pos.len()
            )));
        }
        let mut out: Vec<Option<Mj>> = self.pos.iter().cloned().map(Some).collect();
        out.resize(params.len(), None);
        for (k, v) in &self.kw {
            let Some(i) = params.iter().position(|p| p == k) else {
                return Err(self.fail(&format!("unexpected keyword argument `{k}`")));
            };
            if out[i].is_some() {
                return Err(self.fail(&format!("got multiple values for argument `{k}`")));
            }
            out[i] = Some(v.clone());
        }
        Ok(out)
    }

    /// A keyword argument, if given.
    pub fn kwarg(&self, name: &str) -> Option<&Mj> {
        self.kw.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// An error attributed to this plugin.
    pub fn fail(&self, message: &str) -> Error {
        fail_plain(self.plugin, self.name, message)
    }
}

type FilterFn = fn(&mut State, &Call) -> Result<Mj, Error>;

/// Registers a filter; `markers` filters see undefined arguments instead of passing them on.
fn add(env: &mut Environment<'static>, name: &'static str, f: FilterFn, markers: bool) {
    env.add_filter(
        name,
        move |state: &mut State, args: Rest<ValueOrKwargs>| -> Result<Mj, Error> {
            let call = Call::new(name, Plugin::Filter, args.into_values())?;
            if !markers && let Some(u) = call.first_undefined() {
                return Ok(u.clone());
            }
            f(state, &call)
        },
    );
}

pub fn register(env: &mut Environment<'static>) {
    core::register(env);
    text::register(env);
    regex::register(env);
    path::register(env);
    collections::register(env);
    data::register(env);
    hash::register(env);
    net::register(env);
}

// ---- helpers shared by the filter groups ----

/// The value in kiln's data model (templating whatever lazy parts it reaches).
pub fn kiln(v: &Mj) -> Result<Value, Error> {
    from_mj(v)
}

/// Python's `to_text(value)`: strings as they are, anything else through `str()`.
pub fn text(v: &Mj) -> Result<String, Error> {
    match v.as_str() {
        Some(s) => Ok(s.to_string()),
        None => py_str(v),
    }
}

/// An optional string argument.
pub fn opt_text(v: &Option<Mj>) -> Result<Option<String>, Error> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => text(v).map(Some),
    }
}

/// Python's truthiness of an optional argument (absent is false).
pub fn truthy(v: &Option<Mj>) -> bool {
    v.as_ref().is_some_and(Mj::is_true)
}

/// An integer argument (Python `int()` of a number or numeric string).
pub fn int_arg(call: &Call, v: &Mj) -> Result<i128, Error> {
    match v.kind() {
        ValueKind::Bool => Ok(v.is_true() as i128),
        ValueKind::Number if v.is_integer() => {
            i128::try_from(v.clone()).map_err(|_| call.fail("integer out of range"))
        }
        ValueKind::Number => {
            Ok(f64::try_from(v.clone()).map_err(|e| call.fail(&e.to_string()))? as i128)
        }
        ValueKind::String => v
            .as_str()
            .unwrap_or_default()
            .trim()
            .parse::<i128>()
            .map_err(|_| {
                call.fail(&format!(
                    "invalid literal for int(): `{}`",
                    text(v).unwrap_or_default()
                ))
            }),
        _ => Err(call.fail(&format!("expected an integer, got {}", v.kind()))),
    }
}

/// A float from a number.
pub fn float_of(v: &Mj) -> Option<f64> {
    match v.kind() {
        ValueKind::Number | ValueKind::Bool => f64::try_from(v.clone())
            .ok()
            .or_else(|| i128::try_from(v.clone()).ok().map(|i| i as f64)),
        _ => None,
    }
}

/// Python's comparison for sorting, min and max: numbers with numbers, strings with
/// strings, lists element-wise; anything else is a `TypeError`.
pub fn py_cmp(a: &Value, b: &Value) -> Result<Ordering, String> {
    use Value::*;
    let num = |v: &Value| match v {
        Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Int(i) => Some(*i as f64),
        Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (Int(x), Int(y)) => Ok(x.cmp(y)),
        (Str(x) | Unsafe(x), Str(y) | Unsafe(y)) => Ok(cmp_code_points(x, y)),
        (Seq(x), Seq(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                if p != q {
                    return py_cmp(p, q);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal)),
            _ => Err(format!(
                "'<' not supported between instances of '{}' and '{}'",
                a.type_name(),
                b.type_name()
            )),
        },
    }
}

/// Python compares strings by code point, which is also UTF-8 byte order.
fn cmp_code_points(a: &str, b: &str) -> Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

/// Python's `str.lower()` for sort keys (`ignore_case`): other values unchanged.
pub fn ignore_case(v: Value) -> Value {
    match v {
        Value::Str(s) | Value::Unsafe(s) => Value::Str(s.to_lowercase()),
        other => other,
    }
}

/// Jinja's `make_attrgetter`: dotted attribute paths, digits as list indexes.
pub fn attr_path(attribute: &Mj) -> Vec<Mj> {
    match attribute.as_str() {
        Some(s) => s
            .split('.')
            .map(|part| match part.parse::<i64>() {
                Ok(i) if part.chars().all(|c| c.is_ascii_digit()) => Mj::from(i),
                _ => Mj::from(part),
            })
            .collect(),
        None => vec![attribute.clone()],
    }
}

/// Looks up a path of attributes/items the way Jinja's `environment.getitem` does.
pub fn get_path(item: &Mj, path: &[Mj]) -> Mj {
    let mut v = item.clone();
    for part in path {
        v = getitem(&v, part);
    }
    v
}

/// `obj[key]`, falling back to the attribute: undefined when missing.
pub fn getitem(obj: &Mj, key: &Mj) -> Mj {
    if obj.is_undefined() {
        return Mj::UNDEFINED;
    }
    match obj.get_item(key) {
        Ok(v) if !v.is_undefined() => v,
        _ => match key.as_str() {
            Some(name) => obj.get_attr(name).unwrap_or(Mj::UNDEFINED),
            None => Mj::UNDEFINED,
        },
    }
}

/// A kiln value back into a template value.
pub fn mj(v: &Value) -> Mj {
    to_mj(v)
}
