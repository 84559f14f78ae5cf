//! Python methods on values (`x.split()`, `d.items()`, `s.startswith('a')`), which real
//! playbooks call directly. minijinja-contrib's pycompat covers most; the rest are here.

use super::format::py_str;
use super::value::{items, map_pairs};
use minijinja::value::{ValueKind, from_args};
use minijinja::{Error, ErrorKind, State, Value as Mj};

pub fn callback(state: &mut State, value: &Mj, method: &str, args: &[Mj]) -> Result<Mj, Error> {
    if value.is_undefined() {
        return Err(super::value::undefined_error(value));
    }
    match (value.kind(), method) {
        (ValueKind::String, _) => {
            let s = value.as_str().unwrap_or_default();
            if let Some(v) = string_method(s, method, args)? {
                return Ok(v);
            }
        }
        (ValueKind::Map, "copy") => {
            let () = from_args(args)?;
            return Ok(Mj::from_pairs(map_pairs(value)?));
        }
        (ValueKind::Map, "items") => {
            let () = from_args(args)?;
            let pairs = map_pairs(value)?;
            return Ok(Mj::from(
                pairs
                    .into_iter()
                    .map(|(k, v)| Mj::from(vec![k, v]))
                    .collect::<Vec<_>>(),
            ));
        }
        (ValueKind::Map, "values") => {
            let () = from_args(args)?;
            let pairs = map_pairs(value)?;
            return Ok(Mj::from(
                pairs.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            ));
        }
        (ValueKind::Map, "keys") => {
            let () = from_args(args)?;
            let pairs = map_pairs(value)?;
            return Ok(Mj::from(
                pairs.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ));
        }
        (ValueKind::Map, "get") => {
            let (key, default): (&Mj, Option<Mj>) = from_args(args)?;
            let found = value.get_item(key)?;
            return Ok(if found.is_undefined() {
                default.unwrap_or_else(|| Mj::from(()))
            } else {
                found
            });
        }
        (ValueKind::Seq, "index") => {
            let (what,): (&Mj,) = from_args(args)?;
            for (i, item) in items(value)?.iter().enumerate() {
                if item == what {
                    return Ok(Mj::from(i));
                }
            }
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{} is not in list", py_str(what)?),
            ));
        }
        (ValueKind::Seq, "copy") => {
            let () = from_args(args)?;
            return Ok(Mj::from(items(value)?));
        }
        _ => {}
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

fn string_method(s: &str, method: &str, args: &[Mj]) -> Result<Option<Mj>, Error> {
    Ok(Some(match method {
        "zfill" => {
            let (width,): (usize,) = from_args(args)?;
            let len = s.chars().count();
            if len >= width {
                Mj::from(s)
            } else {
                let (sign, rest) = match s.strip_prefix(['+', '-']) {
                    Some(rest) => (&s[..1], rest),
                    None => ("", s),
                };
                Mj::from(format!("{sign}{}{rest}", "0".repeat(width - len)))
            }
        }
        "ljust" | "rjust" | "center" => {
            let (width, fill): (usize, Option<String>) = from_args(args)?;
            let fill = fill.and_then(|f| f.chars().next()).unwrap_or(' ');
            let len = s.chars().count();
            if len >= width {
                Mj::from(s)
            } else {
                let pad = width - len;
                let (left, right) = match method {
                    "ljust" => (0, pad),
                    "rjust" => (pad, 0),
                    _ => {
                        let left = pad / 2 + (pad & width & 1);
                        (left, pad - left)
                    }
                };
                let f = |n: usize| fill.to_string().repeat(n);
                Mj::from(format!("{}{s}{}", f(left), f(right)))
            }
        }
        "casefold" => Mj::from(s.to_lowercase()),
        "swapcase" => Mj::from(
            s.chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect::<String>()
                    }
                })
                .collect::<String>(),
        ),
        "partition" | "rpartition" => {
            let (sep,): (String,) = from_args(args)?;
            let found = if method == "partition" {
                s.split_once(sep.as_str())
            } else {
                s.rsplit_once(sep.as_str())
            };
            let parts = match found {
                Some((a, b)) => [a.to_string(), sep.clone(), b.to_string()],
                None if method == "partition" => [s.to_string(), String::new(), String::new()],
                None => [String::new(), String::new(), s.to_string()],
            };
            Mj::from(
                parts
                    .iter()
                    .map(|p| Mj::from(p.as_str()))
                    .collect::<Vec<_>>(),
            )
        }
        "rsplit" => {
            let (sep, maxsplit): (Option<String>, Option<i64>) = from_args(args)?;
            let max = maxsplit.filter(|m| *m >= 0).map(|m| m as usize);
            let mut parts: Vec<String> = match &sep {
                Some(sep) => match max {
                    Some(m) => s.rsplitn(m + 1, sep.as_str()).map(str::to_string).collect(),
                    None => s.rsplit(sep.as_str()).map(str::to_string).collect(),
                },
                None => {
                    // Python: split on whitespace runs from the right, at most `max` times;
                    // the remaining head keeps its leading whitespace.
                    let mut out = Vec::new();
                    let mut rest = s.trim_end();
                    while !rest.is_empty() {
                        if max.is_some_and(|m| out.len() >= m) {
                            out.push(rest.to_string());
                            rest = "";
                            break;
                        }
                        let cut = rest.rfind(char::is_whitespace).map_or(0, |i| {
                            i + rest[i..].chars().next().map_or(1, char::len_utf8)
                        });
                        out.push(rest[cut..].to_string());
                        rest = rest[..cut].trim_end();
                    }
                    let _ = rest;
                    out
                }
            };
            parts.reverse();
            Mj::from(
                parts
                    .iter()
                    .map(|p| Mj::from(p.as_str()))
                    .collect::<Vec<_>>(),
            )
        }
        "index" => {
            let (sub,): (String,) = from_args(args)?;
            match s.find(sub.as_str()) {
                Some(i) => Mj::from(s[..i].chars().count()),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "substring not found",
                    ));
                }
            }
        }
        _ => return Ok(None),
    }))
}
