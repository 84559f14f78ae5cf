//! Jinja tests as Ansible provides them: type tests, comparisons, regex tests, task result
//! tests, set tests, path tests and `version` with Ansible's loose, strict, semantic and
//! PEP 440 version classes.

use super::Plugin;
use super::filters::regex::{Anchor, PyRegex};
use super::filters::{Call, float_of, kiln, py_cmp, text, truthy};
use super::value::{items, map_pairs, undefined_error};
use crate::yaml::Value;
use minijinja::value::{Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value as Mj};
use std::cmp::Ordering;

type TestFn = fn(&mut State, &Call) -> Result<bool, Error>;

fn add(env: &mut Environment<'static>, name: &'static str, f: TestFn, markers: bool) {
    env.add_test(
        name,
        move |state: &mut State, args: Rest<ValueOrKwargs>| -> Result<bool, Error> {
            let call = Call::new(name, Plugin::Test, args.into_values())?;
            if !markers && let Some(u) = call.first_undefined() {
                return Err(undefined_error(u));
            }
            f(state, &call)
        },
    );
}

pub fn register(env: &mut Environment<'static>) {
    add(env, "defined", |_, c| Ok(!arg(c, 0).is_undefined()), true);
    add(env, "undefined", |_, c| Ok(arg(c, 0).is_undefined()), true);
    add(env, "none", |_, c| Ok(arg(c, 0).is_none()), false);
    add(
        env,
        "boolean",
        |_, c| Ok(arg(c, 0).kind() == ValueKind::Bool),
        false,
    );
    add(
        env,
        "true",
        |_, c| Ok(arg(c, 0).kind() == ValueKind::Bool && arg(c, 0).is_true()),
        false,
    );
    add(
        env,
        "false",
        |_, c| Ok(arg(c, 0).kind() == ValueKind::Bool && !arg(c, 0).is_true()),
        false,
    );
    add(env, "integer", |_, c| Ok(arg(c, 0).is_integer()), false);
    add(
        env,
        "float",
        |_, c| {
            let v = arg(c, 0);
            Ok(v.kind() == ValueKind::Number && !v.is_integer())
        },
        false,
    );
    add(
        env,
        "number",
        |_, c| {
            Ok(matches!(
                arg(c, 0).kind(),
                ValueKind::Number | ValueKind::Bool
            ))
        },
        false,
    );
    add(
        env,
        "string",
        |_, c| Ok(arg(c, 0).kind() == ValueKind::String),
        false,
    );
    add(
        env,
        "mapping",
        |_, c| Ok(arg(c, 0).kind() == ValueKind::Map),
        false,
    );
    add(
        env,
        "iterable",
        |_, c| {
            Ok(matches!(
                arg(c, 0).kind(),
                ValueKind::String
                    | ValueKind::Seq
                    | ValueKind::Map
                    | ValueKind::Iterable
                    | ValueKind::Bytes
            ))
        },
        false,
    );
    add(
        env,
        "sequence",
        |_, c| {
            Ok(matches!(
                arg(c, 0).kind(),
                ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Bytes
            ))
        },
        false,
    );
    add(
        env,
        "callable",
        |_, c| Ok(arg(c, 0).kind() == ValueKind::Plain),
        false,
    );
    add(env, "escaped", |_, c| Ok(arg(c, 0).is_safe()), false);
    add(
        env,
        "lower",
        |_, c| Ok(is_cased(&text(&arg(c, 0))?, false)),
        false,
    );
    add(
        env,
        "upper",
        |_, c| Ok(is_cased(&text(&arg(c, 0))?, true)),
        false,
    );
    add(
        env,
        "odd",
        |_, c| Ok(int_of(c, &arg(c, 0))?.rem_euclid(2) == 1),
        false,
    );
    add(
        env,
        "even",
        |_, c| Ok(int_of(c, &arg(c, 0))?.rem_euclid(2) == 0),
        false,
    );
    add(env, "divisibleby", divisibleby, false);
    add(env, "sameas", sameas, false);
    add(env, "filter", |s, c| Ok(has_callable(s, c, true)), false);
    add(env, "test", |s, c| Ok(has_callable(s, c, false)), false);

    for name in ["eq", "equalto", "=="] {
        add(
            env,
            name,
            |_, c| Ok(kiln(&arg(c, 0))? == kiln(&arg(c, 1))?),
            false,
        );
    }
    for name in ["ne", "!="] {
        add(
            env,
            name,
            |_, c| Ok(kiln(&arg(c, 0))? != kiln(&arg(c, 1))?),
            false,
        );
    }
    for name in ["lt", "<", "lessthan"] {
        add(env, name, |_, c| Ok(compare(c)? == Ordering::Less), false);
    }
    for name in ["le", "<="] {
        add(
            env,
            name,
            |_, c| Ok(compare(c)? != Ordering::Greater),
            false,
        );
    }
    for name in ["gt", ">", "greaterthan"] {
        add(
            env,
            name,
            |_, c| Ok(compare(c)? == Ordering::Greater),
            false,
        );
    }
    for name in ["ge", ">="] {
        add(env, name, |_, c| Ok(compare(c)? != Ordering::Less), false);
    }
    add(env, "in", |_, c| contains(c, &arg(c, 1), &arg(c, 0)), false);
    add(
        env,
        "contains",
        |_, c| contains(c, &arg(c, 0), &arg(c, 1)),
        false,
    );
    add(env, "truthy", truthy_test, false);
    add(env, "falsy", |s, c| truthy_test(s, c).map(|b| !b), false);
    add(
        env,
        "any",
        |_, c| Ok(items(&arg(c, 0))?.iter().any(Mj::is_true)),
        false,
    );
    add(
        env,
        "all",
        |_, c| Ok(items(&arg(c, 0))?.iter().all(Mj::is_true)),
        false,
    );
    add(
        env,
        "nan",
        |_, c| Ok(float_of(&arg(c, 0)).is_some_and(f64::is_nan)),
        false,
    );
    add(
        env,
        "isnan",
        |_, c| Ok(float_of(&arg(c, 0)).is_some_and(f64::is_nan)),
        false,
    );
    for name in ["subset", "issubset"] {
        add(env, name, |_, c| set_test(c, false), false);
    }
    for name in ["superset", "issuperset"] {
        add(env, name, |_, c| set_test(c, true), false);
    }

    add(env, "match", |_, c| regex_test(c, Anchor::Match), false);
    add(env, "search", |_, c| regex_test(c, Anchor::Search), false);
    add(env, "regex", regex_generic, false);

    add(env, "version", version_compare, false);
    add(env, "version_compare", version_compare, false);

    for name in ["failed", "failure"] {
        add(env, name, |_, c| result_flag(c, "failed"), false);
    }
    for name in ["succeeded", "success", "successful"] {
        add(
            env,
            name,
            |_, c| result_flag(c, "failed").map(|f| !f),
            false,
        );
    }
    for name in ["changed", "change"] {
        add(env, name, changed, false);
    }
    for name in ["skipped", "skip"] {
        add(env, name, |_, c| result_flag(c, "skipped"), false);
    }
    add(
        env,
        "unreachable",
        |_, c| result_flag(c, "unreachable"),
        false,
    );
    add(
        env,
        "reachable",
        |_, c| result_flag(c, "unreachable").map(|f| !f),
        false,
    );
    add(
        env,
        "finished",
        |_, c| result_flag_default(c, "finished"),
        false,
    );
    add(
        env,
        "started",
        |_, c| result_flag_default(c, "started"),
        false,
    );
    add(env, "timedout", timedout, false);

    for (name, f) in [
        ("directory", path_is_dir as TestFn),
        ("is_dir", path_is_dir),
        ("file", path_is_file),
        ("is_file", path_is_file),
        ("link", path_is_link),
        ("is_link", path_is_link),
        ("exists", path_exists),
        ("link_exists", path_link_exists),
        ("abs", path_is_abs),
        ("is_abs", path_is_abs),
        ("same_file", path_same_file),
        ("is_same_file", path_same_file),
        ("mount", path_is_mount),
        ("is_mount", path_is_mount),
    ] {
        add(env, name, f, false);
    }
    add(env, "uri", |_, c| uri_test(c, false), false);
    add(env, "url", |_, c| uri_test(c, true), false);
    add(
        env,
        "urn",
        |_, c| {
            let s = text(&arg(c, 0))?;
            Ok(super::filters::net::url_parts(&s).scheme == "urn")
        },
        false,
    );
    add(
        env,
        "vault_encrypted",
        // 2.19: true for a vault value (kept or decrypted), false for any other string,
        // even one holding vault text.
        |_, c| {
            Ok(arg(c, 0)
                .as_str()
                .is_some_and(|s| crate::vault::ciphertext_of(s).is_some()))
        },
        true,
    );
}

fn arg(c: &Call, i: usize) -> Mj {
    c.pos.get(i).cloned().unwrap_or(Mj::UNDEFINED)
}

fn int_of(c: &Call, v: &Mj) -> Result<i128, Error> {
    super::filters::int_arg(c, v)
}

fn is_cased(s: &str, upper: bool) -> bool {
    let mut cased = false;
    for ch in s.chars() {
        if ch.is_uppercase() {
            if !upper {
                return false;
            }
            cased = true;
        } else if ch.is_lowercase() {
            if upper {
                return false;
            }
            cased = true;
        }
    }
    cased
}

fn divisibleby(_: &mut State, c: &Call) -> Result<bool, Error> {
    let n = int_of(c, &arg(c, 1))?;
    if n == 0 {
        return Err(c.fail("integer division or modulo by zero"));
    }
    Ok(int_of(c, &arg(c, 0))?.rem_euclid(n) == 0)
}

fn sameas(_: &mut State, c: &Call) -> Result<bool, Error> {
    let (a, b) = (arg(c, 0), arg(c, 1));
    // `is` identity: singletons (None, True, False) and the same object.
    Ok(match (a.kind(), b.kind()) {
        (ValueKind::None, ValueKind::None) => true,
        (ValueKind::Bool, ValueKind::Bool) => a.is_true() == b.is_true(),
        (ValueKind::Number, ValueKind::Number) => a.is_integer() && b.is_integer() && a == b,
        (ValueKind::String, ValueKind::String) => a == b,
        _ => false,
    })
}

fn has_callable(state: &mut State, c: &Call, filter: bool) -> bool {
    let name = arg(c, 0);
    let Some(name) = name.as_str() else {
        return false;
    };
    // minijinja has no registry query; try it.
    let env = state.env();
    let src = if filter {
        format!("{{{{ none | {name} }}}}")
    } else {
        format!("{{{{ none is {name} }}}}")
    };
    match env.template_from_str(&src) {
        Ok(t) => !matches!(
            t.render(()).map_err(|e| e.kind()),
            Err(minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest)
        ),
        Err(_) => false,
    }
}

fn compare(c: &Call) -> Result<Ordering, Error> {
    let a = kiln(&arg(c, 0))?;
    let b = kiln(&arg(c, 1))?;
    py_cmp(&a, &b).map_err(|e| c.fail(&e))
}

/// Python's `needle in haystack`.
pub fn contains(c: &Call, haystack: &Mj, needle: &Mj) -> Result<bool, Error> {
    match haystack.kind() {
        ValueKind::String => {
            let Some(n) = needle.as_str() else {
                return Err(c.fail(&format!(
                    "'in <string>' requires string as left operand, not {}",
                    super::filters::core::type_name(needle)
                )));
            };
            Ok(haystack.as_str().unwrap_or_default().contains(n))
        }
        ValueKind::Map => {
            let key = kiln(needle)?;
            for (k, _) in map_pairs(haystack)? {
                if kiln(&k)? == key {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let n = kiln(needle)?;
            for item in items(haystack)? {
                if kiln(&item)? == n {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        _ => Err(c.fail(&format!(
            "argument of type '{}' is not iterable",
            super::filters::core::type_name(haystack)
        ))),
    }
}

fn truthy_test(_: &mut State, c: &Call) -> Result<bool, Error> {
    let a = c.bind(&["value", "convert_bool"])?;
    let v = a[0].clone().unwrap_or(Mj::from(()));
    if truthy(&a[1])
        && let Some(b) = boolean_strict(&v)
    {
        return Ok(b);
    }
    Ok(v.is_true())
}

/// Ansible's `boolean()` conversion (strict=False): known spellings, else `None`.
fn boolean_strict(v: &Mj) -> Option<bool> {
    if v.kind() == ValueKind::Bool {
        return Some(v.is_true());
    }
    let s = match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().trim().to_lowercase(),
        ValueKind::Number => super::format::number_text(v),
        _ => return None,
    };
    match s.as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
        "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Some(false),
        _ => None,
    }
}

fn hashable_set(c: &Call, v: &Mj) -> Result<Vec<Value>, Error> {
    let mut out: Vec<Value> = Vec::new();
    for item in super::filters::core::iterate(c, v)? {
        let k = kiln(&item)?;
        if matches!(k, Value::Seq(_) | Value::Map(_)) {
            return Err(c.fail(&format!("unhashable type: '{}'", k.type_name())));
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
}

fn set_test(c: &Call, superset: bool) -> Result<bool, Error> {
    let a = hashable_set(c, &arg(c, 0))?;
    let b = hashable_set(c, &arg(c, 1))?;
    Ok(if superset {
        b.iter().all(|x| a.contains(x))
    } else {
        a.iter().all(|x| b.contains(x))
    })
}

fn regex_test(c: &Call, anchor: Anchor) -> Result<bool, Error> {
    let a = c.bind(&["value", "pattern", "ignorecase", "multiline"])?;
    let value = text(a[0].as_ref().unwrap_or(&Mj::from("")))?;
    let pattern = text(a[1].as_ref().unwrap_or(&Mj::from("")))?;
    let re =
        PyRegex::new(&pattern, truthy(&a[2]), truthy(&a[3]), anchor).map_err(|e| c.fail(&e))?;
    re.is_match(&value).map_err(|e| c.fail(&e))
}

fn regex_generic(_: &mut State, c: &Call) -> Result<bool, Error> {
    let a = c.bind(&["value", "pattern", "ignorecase", "multiline", "match_type"])?;
    let anchor = match a[4].as_ref().map(text).transpose()?.as_deref() {
        Some("match") => Anchor::Match,
        Some("fullmatch") => Anchor::Full,
        _ => Anchor::Search,
    };
    let value = text(a[0].as_ref().unwrap_or(&Mj::from("")))?;
    let pattern = text(a[1].as_ref().unwrap_or(&Mj::from("")))?;
    let re =
        PyRegex::new(&pattern, truthy(&a[2]), truthy(&a[3]), anchor).map_err(|e| c.fail(&e))?;
    re.is_match(&value).map_err(|e| c.fail(&e))
}

fn result_map(c: &Call) -> Result<Mj, Error> {
    let v = arg(c, 0);
    if v.kind() != ValueKind::Map {
        return Err(c.fail(&format!("The '{}' test expects a dictionary", c.name)));
    }
    Ok(v)
}

fn field(v: &Mj, name: &str) -> Mj {
    v.get_item(&Mj::from(name)).unwrap_or(Mj::UNDEFINED)
}

fn result_flag(c: &Call, name: &str) -> Result<bool, Error> {
    let v = result_map(c)?;
    let f = field(&v, name);
    Ok(!f.is_undefined() && f.is_true())
}

fn result_flag_default(c: &Call, name: &str) -> Result<bool, Error> {
    let v = result_map(c)?;
    let f = field(&v, name);
    Ok(f.is_undefined() || f.is_true())
}

fn changed(_: &mut State, c: &Call) -> Result<bool, Error> {
    let v = result_map(c)?;
    let f = field(&v, "changed");
    if !f.is_undefined() {
        return Ok(f.is_true());
    }
    let results = field(&v, "results");
    if results.kind() == ValueKind::Seq {
        let all = items(&results)?;
        if all.first().is_some_and(|r| r.kind() == ValueKind::Map) {
            for r in all {
                let ch = field(&r, "changed");
                if !ch.is_undefined() && ch.is_true() {
                    return Ok(true);
                }
            }
        } else if all.is_empty() {
            return Err(c.fail("list index out of range"));
        }
    }
    Ok(false)
}

fn timedout(_: &mut State, c: &Call) -> Result<bool, Error> {
    let v = result_map(c)?;
    let t = field(&v, "timedout");
    if t.is_undefined() || !t.is_true() {
        return Ok(false);
    }
    let p = field(&t, "period");
    Ok(!p.is_undefined() && p.is_true())
}

// ---- version comparison ----

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Num(i128),
    Str(String),
}

fn loose_parts(s: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut other = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let flush = |other: &mut String, out: &mut Vec<Part>| {
        if !other.is_empty() {
            out.push(Part::Str(std::mem::take(other)));
        }
    };
    while i < chars.len() {
        let ch = chars[i];
        if ch.is_ascii_digit() {
            flush(&mut other, &mut out);
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            out.push(match digits.parse::<i128>() {
                Ok(n) => Part::Num(n),
                Err(_) => Part::Str(digits),
            });
        } else if ch.is_ascii_lowercase() {
            flush(&mut other, &mut out);
            let start = i;
            while i < chars.len() && chars[i].is_ascii_lowercase() {
                i += 1;
            }
            out.push(Part::Str(chars[start..i].iter().collect()));
        } else if ch == '.' {
            flush(&mut other, &mut out);
            i += 1;
        } else {
            other.push(ch);
            i += 1;
        }
    }
    flush(&mut other, &mut out);
    out
}

fn loose_cmp(a: &str, b: &str) -> Result<Ordering, String> {
    let (x, y) = (loose_parts(a), loose_parts(b));
    for (p, q) in x.iter().zip(y.iter()) {
        if p == q {
            continue;
        }
        return match (p, q) {
            (Part::Num(m), Part::Num(n)) => Ok(m.cmp(n)),
            (Part::Str(m), Part::Str(n)) => Ok(m.as_bytes().cmp(n.as_bytes())),
            _ => Err("'<' not supported between instances of 'int' and 'str'".into()),
        };
    }
    Ok(x.len().cmp(&y.len()))
}

/// A `StrictVersion`: (major, minor, patch) and an optional (`a`|`b`, number) pre-release.
type Strict = ([i128; 3], Option<(char, i128)>);

fn strict_parse(s: &str) -> Result<Strict, String> {
    let re = regex::Regex::new(r"^([0-9]+)\.([0-9]+)(\.([0-9]+))?([ab]([0-9]+))?$")
        .map_err(|e| e.to_string())?;
    let caps = re
        .captures(s)
        .ok_or_else(|| format!("invalid version number '{s}'"))?;
    let n = |i: usize| -> i128 {
        caps.get(i)
            .and_then(|m| m.as_str().parse().ok())
            .unwrap_or(0)
    };
    let pre = caps
        .get(5)
        .and_then(|m| m.as_str().chars().next())
        .map(|c| (c, n(6)));
    Ok(([n(1), n(2), n(4)], pre))
}

fn strict_cmp(a: &str, b: &str) -> Result<Ordering, String> {
    let (va, pa) = strict_parse(a)?;
    let (vb, pb) = strict_parse(b)?;
    if va != vb {
        return Ok(va.cmp(&vb));
    }
    Ok(match (pa, pb) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(&y),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SemPart {
    Num(i128),
    Alpha(String),
}

impl PartialOrd for SemPart {
    fn partial_cmp(&self, other: &SemPart) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SemPart {
    fn cmp(&self, other: &SemPart) -> Ordering {
        match (self, other) {
            (SemPart::Num(a), SemPart::Num(b)) => a.cmp(b),
            (SemPart::Alpha(a), SemPart::Alpha(b)) => a.as_bytes().cmp(b.as_bytes()),
            (SemPart::Num(_), SemPart::Alpha(_)) => Ordering::Less,
            (SemPart::Alpha(_), SemPart::Num(_)) => Ordering::Greater,
        }
    }
}

fn semver_parse(s: &str) -> Result<([i128; 3], Vec<SemPart>), String> {
    let re = regex::Regex::new(
        r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
    )
    .map_err(|e| e.to_string())?;
    let caps = re
        .captures(s)
        .ok_or_else(|| format!("invalid semantic version '{s}'"))?;
    let n = |i: usize| -> i128 {
        caps.get(i)
            .and_then(|m| m.as_str().parse().ok())
            .unwrap_or(0)
    };
    let pre = caps
        .get(4)
        .map(|m| {
            m.as_str()
                .split('.')
                .map(|p| {
                    if p.chars().all(|c| c.is_ascii_digit()) {
                        SemPart::Num(p.parse().unwrap_or(0))
                    } else {
                        SemPart::Alpha(p.to_string())
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(([n(1), n(2), n(3)], pre))
}

fn semver_cmp(a: &str, b: &str) -> Result<Ordering, String> {
    let (ca, pa) = semver_parse(a)?;
    let (cb, pb) = semver_parse(b)?;
    if ca != cb {
        return Ok(ca.cmp(&cb));
    }
    Ok(match (pa.is_empty(), pb.is_empty()) {
        (true, true) => Ordering::Equal,
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, false) => pa.cmp(&pb),
    })
}

/// A PEP 440 version's comparison key (as `packaging.version.Version` orders them).
#[derive(Debug, PartialEq, PartialOrd)]
struct Pep440Key {
    epoch: i128,
    release: Vec<i128>,
    pre: (i128, i128, i128),
    post: (i128, i128),
    dev: (i128, i128),
    local: Vec<(i128, i128, String)>,
}

fn pep440_key(s: &str) -> Result<Pep440Key, String> {
    let re = regex::Regex::new(
        r"(?ix)^\s*v?
        (?:(?P<epoch>[0-9]+)!)?
        (?P<release>[0-9]+(?:\.[0-9]+)*)
        (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
        (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
        (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
        (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
        \s*$",
    )
    .map_err(|e| e.to_string())?;
    let caps = re
        .captures(s)
        .ok_or_else(|| format!("Invalid version: '{s}'"))?;
    let num =
        |name: &str| -> Option<i128> { caps.name(name).and_then(|m| m.as_str().parse().ok()) };
    let mut release: Vec<i128> = caps
        .name("release")
        .map(|m| {
            m.as_str()
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    const NEG_INF: i128 = i128::MIN;
    const POS_INF: i128 = i128::MAX;
    let has_pre = caps.name("pre").is_some();
    let has_post = caps.name("post").is_some();
    let has_dev = caps.name("dev").is_some();
    let pre = if has_pre {
        let l = caps
            .name("pre_l")
            .map(|m| m.as_str().to_lowercase())
            .unwrap_or_default();
        let rank = match l.as_str() {
            "a" | "alpha" => 0,
            "b" | "beta" => 1,
            _ => 2,
        };
        (0, rank, num("pre_n").unwrap_or(0))
    } else if !has_post && has_dev {
        (NEG_INF, 0, 0)
    } else {
        (POS_INF, 0, 0)
    };
    let post = if has_post {
        (0, num("post_n1").or_else(|| num("post_n2")).unwrap_or(0))
    } else {
        (NEG_INF, 0)
    };
    let dev = if has_dev {
        (0, num("dev_n").unwrap_or(0))
    } else {
        (POS_INF, 0)
    };
    let local = caps
        .name("local")
        .map(|m| {
            m.as_str()
                .split(['-', '_', '.'])
                .map(|p| match p.parse::<i128>() {
                    Ok(n) => (1, n, String::new()),
                    Err(_) => (0, 0, p.to_lowercase()),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Pep440Key {
        epoch: num("epoch").unwrap_or(0),
        release,
        pre,
        post,
        dev,
        local,
    })
}

fn pep440_cmp(a: &str, b: &str) -> Result<Ordering, String> {
    let (x, y) = (pep440_key(a)?, pep440_key(b)?);
    Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal))
}

fn version_compare(_: &mut State, c: &Call) -> Result<bool, Error> {
    let a = c.bind(&["value", "version", "operator", "strict", "version_type"])?;
    let value = a[0].clone().unwrap_or(Mj::from(()));
    let version = a[1].clone().unwrap_or(Mj::from(()));
    let strict = a[3].clone().filter(|v| !v.is_none());
    let version_type = a[4].clone().filter(|v| !v.is_none());
    if strict.is_some() && version_type.is_some() {
        return Err(c.fail("Cannot specify both 'strict' and 'version_type'"));
    }
    if !value.is_true() {
        return Err(c.fail("Input version value cannot be empty"));
    }
    if !version.is_true() {
        return Err(c.fail("Version parameter to compare against cannot be empty"));
    }
    let kind = if strict.as_ref().is_some_and(Mj::is_true) {
        "strict".to_string()
    } else if let Some(t) = &version_type {
        let t = text(t)?;
        if !matches!(
            t.as_str(),
            "loose" | "strict" | "semver" | "semantic" | "pep440"
        ) {
            return Err(c.fail(&format!(
                "Invalid version type ({t}). Must be one of 'loose', 'strict', 'semver', 'semantic', 'pep440'"
            )));
        }
        t
    } else {
        "loose".to_string()
    };
    let op = match &a[2] {
        Some(o) => text(o)?,
        None => "eq".to_string(),
    };
    let op = match op.as_str() {
        "==" | "=" | "eq" => "eq",
        "<" | "lt" => "lt",
        "<=" | "le" => "le",
        ">" | "gt" => "gt",
        ">=" | "ge" => "ge",
        "!=" | "<>" | "ne" => "ne",
        other => {
            return Err(c.fail(&format!(
                "Invalid operator type ({other}). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'"
            )));
        }
    };
    let (x, y) = (text(&value)?, text(&version)?);
    let ord = match kind.as_str() {
        "strict" => strict_cmp(&x, &y),
        "semver" | "semantic" => semver_cmp(&x, &y),
        "pep440" => pep440_cmp(&x, &y),
        _ => loose_cmp(&x, &y),
    }
    .map_err(|e| c.fail(&format!("Version comparison failed: {e}")))?;
    Ok(match op {
        "eq" => ord == Ordering::Equal,
        "ne" => ord != Ordering::Equal,
        "lt" => ord == Ordering::Less,
        "le" => ord != Ordering::Greater,
        "gt" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

// ---- paths (controller side) ----

fn path_arg(c: &Call) -> Result<String, Error> {
    text(&arg(c, 0))
}

fn path_is_dir(_: &mut State, c: &Call) -> Result<bool, Error> {
    Ok(std::path::Path::new(&path_arg(c)?).is_dir())
}

fn path_is_file(_: &mut State, c: &Call) -> Result<bool, Error> {
    Ok(std::path::Path::new(&path_arg(c)?).is_file())
}

fn path_is_link(_: &mut State, c: &Call) -> Result<bool, Error> {
    Ok(std::path::Path::new(&path_arg(c)?).is_symlink())
}

fn path_exists(_: &mut State, c: &Call) -> Result<bool, Error> {
    Ok(std::path::Path::new(&path_arg(c)?).exists())
}

fn path_link_exists(_: &mut State, c: &Call) -> Result<bool, Error> {
    Ok(std::fs::symlink_metadata(path_arg(c)?).is_ok())
}

fn path_is_abs(_: &mut State, c: &Call) -> Result<bool, Error> {
    Ok(path_arg(c)?.starts_with('/'))
}

fn path_same_file(_: &mut State, c: &Call) -> Result<bool, Error> {
    let a = std::fs::canonicalize(path_arg(c)?).map_err(|e| c.fail(&e.to_string()))?;
    let b = std::fs::canonicalize(text(&arg(c, 1))?).map_err(|e| c.fail(&e.to_string()))?;
    Ok(a == b)
}

fn path_is_mount(_: &mut State, c: &Call) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;
    let p = path_arg(c)?;
    let path = std::path::Path::new(&p);
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(false);
    };
    if meta.file_type().is_symlink() {
        return Ok(false);
    }
    let parent = path.join("..");
    let Ok(pmeta) = std::fs::metadata(&parent) else {
        return Ok(false);
    };
    Ok(meta.dev() != pmeta.dev() || meta.ino() == pmeta.ino())
}

fn uri_test(c: &Call, url: bool) -> Result<bool, Error> {
    let a = c.bind(&["value", "schemes"])?;
    let value = a[0].clone().unwrap_or(Mj::from(()));
    let Some(s) = value.as_str() else {
        return Ok(false);
    };
    let parts = super::filters::net::url_parts(s);
    if let Some(schemes) = &a[1]
        && schemes.is_true()
    {
        let allowed: Vec<String> = items(schemes)?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if !allowed.contains(&parts.scheme) {
            return Ok(false);
        }
    }
    if url {
        return Ok(!parts.netloc.is_empty() || parts.scheme == "file");
    }
    Ok(true)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn loose_versions() {
        assert_eq!(loose_cmp("1.30.2", "1.29"), Ok(Ordering::Greater));
        assert_eq!(loose_cmp("v1.30.2+k3s2", "v1.29"), Ok(Ordering::Greater));
        assert!(loose_cmp("v1.30.2+k3s2", "1.29").is_err());
        assert_eq!(loose_cmp("2.10", "2.9"), Ok(Ordering::Greater));
    }

    #[test]
    fn semver_and_pep440() {
        assert_eq!(semver_cmp("1.0.0-alpha", "1.0.0"), Ok(Ordering::Less));
        assert_eq!(
            semver_cmp("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            Ok(Ordering::Less)
        );
        assert_eq!(pep440_cmp("1.0rc1", "1.0"), Ok(Ordering::Less));
        assert_eq!(pep440_cmp("1.0.post1", "1.0"), Ok(Ordering::Greater));
        assert_eq!(pep440_cmp("1.0.dev1", "1.0a1"), Ok(Ordering::Less));
    }
}
