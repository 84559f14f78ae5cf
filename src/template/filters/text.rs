//! String filters with Python's `str` semantics: `lower`, `upper`, `capitalize`, `title`,
//! `trim`, `replace`, `split`, `join`, `center`, `indent`, `wordcount`, `truncate`,
//! `format`, `comment`, `quote`, `b64encode`, `b64decode`, `reverse`, `wordwrap`,
//! `filesizeformat`, `attr`, `urlencode`.

use super::{Call, add, attr_path, get_path, int_arg, opt_text, text, truthy};
use crate::template::format::{py_repr, py_str};
use crate::template::value::{map_pairs, undefined_error};
use base64::Engine as _;
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, State, Value as Mj};

pub fn register(env: &mut Environment<'static>) {
    add(env, "lower", lower, false);
    add(env, "upper", upper, false);
    add(env, "capitalize", capitalize, false);
    add(env, "title", title, false);
    add(env, "trim", trim, false);
    add(env, "replace", replace, false);
    add(env, "split", split, false);
    add(env, "join", join, false);
    add(env, "center", center, false);
    add(env, "indent", indent, false);
    add(env, "wordcount", wordcount, false);
    add(env, "truncate", truncate, false);
    add(env, "format", format, false);
    add(env, "comment", comment, false);
    add(env, "quote", quote, false);
    add(env, "b64encode", b64encode, false);
    add(env, "b64decode", b64decode, false);
    add(env, "reverse", reverse, false);
    add(env, "wordwrap", wordwrap, false);
    add(env, "filesizeformat", filesizeformat, false);
    add(env, "attr", attr, false);
    add(env, "urlencode", urlencode, false);
    add(env, "urldecode", urldecode, false);
}

/// The input as a string, or an error for non-strings where Python would fail.
fn input_text(c: &Call) -> Result<String, Error> {
    text(c.pos.first().unwrap_or(&Mj::from(())))
}

fn lower(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["s"])?;
    Ok(Mj::from(input_text(c)?.to_lowercase()))
}

fn upper(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["s"])?;
    Ok(Mj::from(input_text(c)?.to_uppercase()))
}

/// Python's `str.capitalize()`.
pub fn capitalize_str(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(&chars.as_str().to_lowercase());
            out
        }
        None => String::new(),
    }
}

fn capitalize(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["s"])?;
    Ok(Mj::from(capitalize_str(&input_text(c)?)))
}

fn title(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["s"])?;
    let s = input_text(c)?;
    // Jinja splits on runs of `-`, whitespace and opening brackets, keeping them.
    let is_sep = |ch: char| ch == '-' || ch.is_whitespace() || "({[<".contains(ch);
    let mut out = String::with_capacity(s.len());
    let mut word_start = true;
    for ch in s.chars() {
        if is_sep(ch) {
            out.push(ch);
            word_start = true;
        } else if word_start {
            out.extend(ch.to_uppercase());
            word_start = false;
        } else {
            out.extend(ch.to_lowercase());
        }
    }
    Ok(Mj::from(out))
}

/// Python's `str.strip(chars)`.
pub fn py_strip<'a>(s: &'a str, chars: Option<&str>) -> &'a str {
    match chars {
        None => s.trim_matches(is_py_space),
        Some(set) => s.trim_matches(|c: char| set.contains(c)),
    }
}

/// Python's `str.isspace()` for one character.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

fn trim(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "chars"])?;
    let s = input_text(c)?;
    let chars = opt_text(&a[1])?;
    Ok(Mj::from(py_strip(&s, chars.as_deref())))
}

fn replace(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["s", "old", "new", "count"])?;
    let s = input_text(c)?;
    let old = text(
        a[1].as_ref()
            .ok_or_else(|| c.fail("missing argument `old`"))?,
    )?;
    let new = text(
        a[2].as_ref()
            .ok_or_else(|| c.fail("missing argument `new`"))?,
    )?;
    let count = match &a[3] {
        Some(n) if !n.is_none() => int_arg(c, n)?,
        _ => -1,
    };
    Ok(Mj::from(if count < 0 {
        s.replace(&old, &new)
    } else {
        s.replacen(&old, &new, count as usize)
    }))
}

/// Python's `str.split(sep, maxsplit)`.
pub fn py_split(s: &str, sep: Option<&str>, maxsplit: i128) -> Result<Vec<String>, String> {
    let max = if maxsplit < 0 {
        usize::MAX
    } else {
        maxsplit as usize
    };
    match sep {
        Some("") => Err("empty separator".into()),
        Some(sep) => Ok(if max == usize::MAX {
            s.split(sep).map(str::to_string).collect()
        } else {
            s.splitn(max + 1, sep).map(str::to_string).collect()
        }),
        None => {
            let mut out = Vec::new();
            let mut rest = s.trim_start_matches(is_py_space);
            while !rest.is_empty() {
                if out.len() >= max {
                    out.push(rest.to_string());
                    break;
                }
                match rest.find(is_py_space) {
                    Some(i) => {
                        out.push(rest[..i].to_string());
                        rest = rest[i..].trim_start_matches(is_py_space);
                    }
                    None => {
                        out.push(rest.to_string());
                        break;
                    }
                }
            }
            Ok(out)
        }
    }
}

fn split(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "sep", "maxsplit"])?;
    let value = a[0].clone().unwrap_or(Mj::from(()));
    let Some(s) = value.as_str() else {
        return Err(c.fail(&format!(
            "descriptor 'split' requires a 'str' object but received a '{}'",
            super::core::type_name(&value)
        )));
    };
    let sep = opt_text(&a[1])?;
    let max = match &a[2] {
        Some(m) => int_arg(c, m)?,
        None => -1,
    };
    let parts = py_split(s, sep.as_deref(), max).map_err(|e| c.fail(&e))?;
    Ok(Mj::from(
        parts.into_iter().map(Mj::from).collect::<Vec<_>>(),
    ))
}

fn join(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "d", "attribute"])?;
    let value = a[0].clone().unwrap_or(Mj::from(()));
    let sep = match &a[1] {
        Some(d) => text(d)?,
        None => String::new(),
    };
    let path = a[2].as_ref().filter(|v| !v.is_none()).map(attr_path);
    let all = super::core::iterate(c, &value)?;
    let mut parts = Vec::with_capacity(all.len());
    for item in all {
        let item = match &path {
            Some(p) => get_path(&item, p),
            None => item,
        };
        if item.is_undefined() {
            return Err(undefined_error(&item));
        }
        parts.push(py_str(&item)?);
    }
    Ok(Mj::from(parts.join(&sep)))
}

/// Python's `str.center(width)`.
pub fn py_center(s: &str, width: usize, fill: char) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    let f = |n: usize| fill.to_string().repeat(n);
    format!("{}{s}{}", f(left), f(marg - left))
}

fn center(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "width"])?;
    let width = match &a[1] {
        Some(w) => int_arg(c, w)?.max(0) as usize,
        None => 80,
    };
    Ok(Mj::from(py_center(&input_text(c)?, width, ' ')))
}

/// Python's `str.splitlines()`.
pub fn py_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        let is_break = matches!(
            ch,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        out.push(&s[start..i]);
        let mut end = i + ch.len_utf8();
        if ch == '\r'
            && let Some(&(j, '\n')) = chars.peek()
        {
            chars.next();
            end = j + 1;
        }
        start = end;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

fn indent(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["s", "width", "first", "blank"])?;
    let s = input_text(c)?;
    let indention = match &a[1] {
        Some(w) if w.kind() == ValueKind::String => text(w)?,
        Some(w) => " ".repeat(int_arg(c, w)?.max(0) as usize),
        None => "    ".to_string(),
    };
    let first = truthy(&a[2]);
    let blank = truthy(&a[3]);
    let s = format!("{s}\n");
    let lines = py_splitlines(&s);
    let mut rv = if blank {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut it = lines.into_iter();
        let mut rv = it.next().unwrap_or_default().to_string();
        let rest: Vec<String> = it
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{indention}{l}")
                }
            })
            .collect();
        if !rest.is_empty() {
            rv.push('\n');
            rv.push_str(&rest.join("\n"));
        }
        rv
    };
    if first {
        rv = format!("{indention}{rv}");
    }
    Ok(Mj::from(rv))
}

fn wordcount(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["s"])?;
    let s = input_text(c)?;
    let mut count = 0;
    let mut in_word = false;
    for ch in s.chars() {
        let w = ch.is_alphanumeric() || ch == '_';
        if w && !in_word {
            count += 1;
        }
        in_word = w;
    }
    Ok(Mj::from(count))
}

fn truncate(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["s", "length", "killwords", "end", "leeway"])?;
    let s = input_text(c)?;
    let length = match &a[1] {
        Some(l) => int_arg(c, l)?,
        None => 255,
    };
    let killwords = truthy(&a[2]);
    let end = match &a[3] {
        Some(e) => text(e)?,
        None => "...".to_string(),
    };
    let leeway = match &a[4] {
        Some(l) if !l.is_none() => int_arg(c, l)?,
        _ => 5,
    };
    let end_len = end.chars().count() as i128;
    if length < end_len {
        return Err(c.fail(&format!("expected length >= {end_len}, got {length}")));
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() as i128 <= length + leeway {
        return Ok(Mj::from(s));
    }
    let keep: String = chars[..(length - end_len) as usize].iter().collect();
    if killwords {
        return Ok(Mj::from(format!("{keep}{end}")));
    }
    let head = match keep.rsplit_once(' ') {
        Some((h, _)) => h.to_string(),
        None => keep,
    };
    Ok(Mj::from(format!("{head}{end}")))
}

/// Python's printf-style `fmt % args`.
pub fn percent_format(fmt: &str, args: &[Mj], named: Option<&Mj>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next = 0;
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let mut key = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let mut k = String::new();
            for c in chars.by_ref() {
                if c == ')' {
                    break;
                }
                k.push(c);
            }
            key = Some(k);
        }
        let mut flags = String::new();
        while let Some(&c) = chars.peek() {
            if "-+ #0".contains(c) {
                flags.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() {
                width.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_digit() {
                    p.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let Some(conv) = chars.next() else {
            return Err("incomplete format".into());
        };
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = match &key {
            Some(k) => named
                .and_then(|m| m.get_item(&Mj::from(k.as_str())).ok())
                .filter(|v| !v.is_undefined())
                .ok_or_else(|| format!("'{k}'"))?,
            None => {
                let a = args
                    .get(next)
                    .cloned()
                    .ok_or("not enough arguments for format string")?;
                next += 1;
                a
            }
        };
        let body = format_one(conv, &arg, precision, &flags)?;
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && "dioxXeEfFgG".contains(conv) {
                let (sign, digits) = match body.strip_prefix(['-', '+']) {
                    Some(d) => (&body[..1], d),
                    None => ("", body.as_str()),
                };
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if key_free_extra(args, next) {
        return Err("not all arguments converted during string formatting".into());
    }
    Ok(out)
}

fn key_free_extra(args: &[Mj], used: usize) -> bool {
    used < args.len() && used > 0
}

fn format_one(
    conv: char,
    arg: &Mj,
    precision: Option<usize>,
    flags: &str,
) -> Result<String, String> {
    let num = |v: &Mj| -> Result<f64, String> {
        super::float_of(v).ok_or_else(|| {
            format!(
                "%{conv} format: a real number is required, not {}",
                super::core::type_name(v)
            )
        })
    };
    let sign = |s: String, neg: bool| {
        if neg {
            s
        } else if flags.contains('+') {
            format!("+{s}")
        } else if flags.contains(' ') {
            format!(" {s}")
        } else {
            s
        }
    };
    Ok(match conv {
        's' => {
            let s = py_str(arg).map_err(|e| e.to_string())?;
            match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'r' | 'a' => py_repr(arg).map_err(|e| e.to_string())?,
        'd' | 'i' | 'u' => {
            let v = if arg.is_integer() {
                i128::try_from(arg.clone()).map_err(|e| e.to_string())?
            } else if arg.kind() == ValueKind::Bool {
                arg.is_true() as i128
            } else {
                num(arg)?.trunc() as i128
            };
            sign(v.to_string(), v < 0)
        }
        'x' | 'X' | 'o' => {
            let v = if arg.is_integer() || arg.kind() == ValueKind::Bool {
                i128::try_from(arg.clone()).unwrap_or(arg.is_true() as i128)
            } else {
                return Err(format!("%{conv} format: an integer is required"));
            };
            let body = match conv {
                'x' => format!("{:x}", v.unsigned_abs()),
                'X' => format!("{:X}", v.unsigned_abs()),
                _ => format!("{:o}", v.unsigned_abs()),
            };
            let body = if flags.contains('#') {
                format!("0{}{body}", if conv == 'o' { 'o' } else { conv })
            } else {
                body
            };
            sign(if v < 0 { format!("-{body}") } else { body }, v < 0)
        }
        'f' | 'F' => {
            let f = num(arg)?;
            sign(
                format!("{:.*}", precision.unwrap_or(6), f),
                f.is_sign_negative(),
            )
        }
        'e' | 'E' => {
            let f = num(arg)?;
            let s = py_exp(f, precision.unwrap_or(6));
            let s = if conv == 'E' { s.to_uppercase() } else { s };
            sign(s, f.is_sign_negative())
        }
        'g' | 'G' => {
            let f = num(arg)?;
            let p = precision.unwrap_or(6).max(1);
            let exp = if f == 0.0 {
                0
            } else {
                f.abs().log10().floor() as i32
            };
            let s = if exp < -4 || exp >= p as i32 {
                let s = py_exp(f, p - 1);
                let (m, e) = s.split_once('e').unwrap_or((&s, "+00"));
                let m = if m.contains('.') {
                    m.trim_end_matches('0').trim_end_matches('.')
                } else {
                    m
                };
                format!("{m}e{e}")
            } else {
                let s = format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, f);
                if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    s
                }
            };
            let s = if conv == 'G' { s.to_uppercase() } else { s };
            sign(s, f.is_sign_negative())
        }
        'c' => match arg.as_str() {
            Some(s) => s.to_string(),
            None => {
                let i = i128::try_from(arg.clone()).map_err(|e| e.to_string())?;
                char::from_u32(i as u32)
                    .map(String::from)
                    .unwrap_or_default()
            }
        },
        other => return Err(format!("unsupported format character '{other}'")),
    })
}

/// C's `%.*e` layout as Python prints it (`1.500000e+00`).
fn py_exp(f: f64, precision: usize) -> String {
    let s = format!("{:.*e}", precision, f);
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

fn format(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let fmt = input_text(c)?;
    if c.pos.len() > 1 && !c.kw.is_empty() {
        return Err(c.fail("can't handle positional and keyword arguments at the same time"));
    }
    let named = if c.kw.is_empty() {
        None
    } else {
        Some(Mj::from_pairs(
            c.kw.iter().map(|(k, v)| (Mj::from(k.as_str()), v.clone())),
        ))
    };
    let args: Vec<Mj> = c.pos.iter().skip(1).cloned().collect();
    // A single mapping argument supplies named fields, as `fmt % dict` does.
    let named = named
        .or_else(|| (args.len() == 1 && args[0].kind() == ValueKind::Map).then(|| args[0].clone()));
    percent_format(&fmt, &args, named.as_ref())
        .map(Mj::from)
        .map_err(|e| c.fail(&e))
}

fn comment(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let text_in = input_text(c)?;
    let style = match c.pos.get(1).or_else(|| c.kwarg("style")) {
        Some(s) => text(s)?,
        None => "plain".to_string(),
    };
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        _ => return Err(c.fail(&format!("invalid style `{style}`"))),
    };
    let kw = |name: &str| -> Result<Option<String>, Error> {
        match c.kwarg(name) {
            Some(v) => text(v).map(Some),
            None => Ok(None),
        }
    };
    let prepostfix = kw("decoration")?.unwrap_or_else(|| decoration.to_string());
    let newline = kw("newline")?.unwrap_or_else(|| "\n".to_string());
    let beginning = kw("beginning")?.unwrap_or_else(|| beginning.to_string());
    let prefix = kw("prefix")?.unwrap_or_else(|| prepostfix.trim_end().to_string());
    let postfix = kw("postfix")?.unwrap_or_else(|| prepostfix.trim_end().to_string());
    let decoration = prepostfix.clone();
    let end = kw("end")?.unwrap_or_else(|| end.to_string());
    let count = |name: &str| -> Result<usize, Error> {
        match c.kwarg(name) {
            Some(v) => Ok(int_arg(c, v)?.max(0) as usize),
            None => Ok(1),
        }
    };
    let prefix_count = count("prefix_count")?;
    let postfix_count = count("postfix_count")?;

    let str_beginning = if beginning.is_empty() {
        String::new()
    } else {
        format!("{beginning}{newline}")
    };
    let str_prefix = if prefix.is_empty() {
        String::new()
    } else if prefix != newline {
        format!("{prefix}{newline}").repeat(prefix_count)
    } else {
        newline.repeat(prefix_count)
    };
    let body = format!(
        "{decoration}{}",
        text_in.replace(&newline, &format!("{newline}{decoration}"))
    )
    .replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    let mut str_postfix = String::new();
    for _ in 0..postfix_count {
        str_postfix.push_str(&newline);
        str_postfix.push_str(&postfix);
    }
    let str_end = if end.is_empty() {
        String::new()
    } else {
        format!("{newline}{end}")
    };
    Ok(Mj::from(format!(
        "{str_beginning}{str_prefix}{body}{str_postfix}{str_end}"
    )))
}

/// Python's `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn quote(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["a"])?;
    Ok(Mj::from(shell_quote(&input_text(c)?)))
}

/// Encodes text in one of the encodings playbooks use with the base64 filters.
fn encode(c: &Call, s: &str, encoding: &str) -> Result<Vec<u8>, Error> {
    match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(s.as_bytes().to_vec()),
        "ascii" | "us-ascii" if s.is_ascii() => Ok(s.as_bytes().to_vec()),
        "latin-1" | "latin1" | "iso-8859-1" => s
            .chars()
            .map(|ch| u8::try_from(ch as u32).map_err(|_| c.fail("cannot encode character")))
            .collect(),
        "utf-16-le" | "utf-16le" => Ok(s.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        "utf-16-be" | "utf-16be" => Ok(s.encode_utf16().flat_map(u16::to_be_bytes).collect()),
        "utf-16" | "utf16" => {
            let mut out = vec![0xff, 0xfe];
            out.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
            Ok(out)
        }
        other => Err(c.fail(&format!("unsupported encoding `{other}`"))),
    }
}

fn decode(c: &Call, b: &[u8], encoding: &str) -> Result<String, Error> {
    let utf16 = |le: bool, b: &[u8]| -> Result<String, Error> {
        let units: Vec<u16> = b
            .chunks(2)
            .map(|p| {
                let pair = [p[0], *p.get(1).unwrap_or(&0)];
                if le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| c.fail("'utf-16' codec can't decode bytes"))
    };
    match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => {
            String::from_utf8(b.to_vec()).map_err(|_| c.fail("'utf-8' codec can't decode bytes"))
        }
        "ascii" | "us-ascii" if b.is_ascii() => Ok(String::from_utf8_lossy(b).into_owned()),
        "latin-1" | "latin1" | "iso-8859-1" => Ok(b.iter().map(|&x| x as char).collect()),
        "utf-16-le" | "utf-16le" => utf16(true, b),
        "utf-16-be" | "utf-16be" => utf16(false, b),
        "utf-16" | "utf16" => match b {
            [0xff, 0xfe, rest @ ..] => utf16(true, rest),
            [0xfe, 0xff, rest @ ..] => utf16(false, rest),
            _ => utf16(true, b),
        },
        other => Err(c.fail(&format!("unsupported encoding `{other}`"))),
    }
}

fn b64encode(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["string", "encoding", "urlsafe"])?;
    let s = input_text(c)?;
    let encoding = opt_text(&a[1])?.unwrap_or_else(|| "utf-8".into());
    let bytes = encode(c, &s, &encoding)?;
    let out = if truthy(&a[2]) {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    Ok(Mj::from(out))
}

/// Python's lenient `base64.b64decode`: characters outside the alphabet are skipped,
/// padding must be complete.
pub fn b64decode_bytes(s: &str, urlsafe: bool) -> Result<Vec<u8>, String> {
    let (plus, slash) = if urlsafe { ('-', '_') } else { ('+', '/') };
    let mut data = String::new();
    let mut pads = 0;
    for ch in s.chars() {
        if ch == '=' {
            if data.len() % 4 >= 2 {
                pads += 1;
                if (data.len() + pads).is_multiple_of(4) {
                    break;
                }
            }
            continue;
        }
        if ch.is_ascii_alphanumeric() || ch == plus || ch == slash {
            if pads > 0 {
                // Data after incomplete padding: Python treats it as more data.
                pads = 0;
            }
            data.push(match ch {
                c if c == plus => '+',
                c if c == slash => '/',
                c => c,
            });
        }
    }
    let rem = data.len() % 4;
    if rem == 1 {
        return Err(format!(
            "Invalid base64-encoded string: number of data characters ({}) cannot be 1 more than a multiple of 4",
            data.len()
        ));
    }
    if rem != 0 && rem + pads < 4 {
        return Err("Incorrect padding".into());
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(data.as_bytes())
        .map_err(|e| e.to_string())
}

fn b64decode(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["string", "encoding", "urlsafe"])?;
    let s = input_text(c)?;
    let encoding = opt_text(&a[1])?.unwrap_or_else(|| "utf-8".into());
    let bytes = b64decode_bytes(&s, truthy(&a[2])).map_err(|e| c.fail(&e))?;
    Ok(Mj::from(decode(c, &bytes, &encoding)?))
}

fn reverse(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["value"])?;
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    if let Some(s) = v.as_str() {
        return Ok(Mj::from(s.chars().rev().collect::<String>()));
    }
    let mut all = super::core::iterate(c, &v).map_err(|_| c.fail("argument must be iterable"))?;
    all.reverse();
    Ok(Mj::from(all))
}

fn wordwrap(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&[
        "s",
        "width",
        "break_long_words",
        "wrapstring",
        "break_on_hyphens",
    ])?;
    let s = input_text(c)?;
    let width = match &a[1] {
        Some(w) => int_arg(c, w)?.max(1) as usize,
        None => 79,
    };
    let break_long = a[2].as_ref().is_none_or(Mj::is_true);
    let wrapstring = opt_text(&a[3])?.unwrap_or_else(|| "\n".into());
    let mut paragraphs = Vec::new();
    for line in py_splitlines(&s) {
        let mut lines: Vec<String> = Vec::new();
        let mut cur = String::new();
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let mut word = word.to_string();
            loop {
                let cur_len = cur.chars().count();
                let wlen = word.chars().count();
                let need = if cur.is_empty() {
                    wlen
                } else {
                    cur_len + 1 + wlen
                };
                if need <= width {
                    if !cur.is_empty() {
                        cur.push(' ');
                    }
                    cur.push_str(&word);
                    break;
                }
                if !cur.is_empty() {
                    lines.push(std::mem::take(&mut cur));
                    continue;
                }
                if break_long && wlen > width {
                    let head: String = word.chars().take(width).collect();
                    lines.push(head);
                    word = word.chars().skip(width).collect();
                    continue;
                }
                cur = word;
                break;
            }
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        paragraphs.push(lines.join(&wrapstring));
    }
    Ok(Mj::from(paragraphs.join(&wrapstring)))
}

fn filesizeformat(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "binary"])?;
    let v = a[0].clone().unwrap_or(Mj::from(()));
    let bytes = super::float_of(&v)
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| c.fail("could not convert value to float"))?;
    let binary = truthy(&a[1]);
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let prefixes = if binary {
        ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    } else {
        ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    };
    if bytes == 1.0 {
        return Ok(Mj::from("1 Byte"));
    }
    if bytes < base {
        return Ok(Mj::from(format!("{} Bytes", bytes.trunc() as i128)));
    }
    let mut out = String::new();
    for (i, prefix) in prefixes.iter().enumerate() {
        let unit = base.powi(i as i32 + 2);
        out = format!("{:.1} {prefix}", base * bytes / unit);
        if bytes < unit {
            break;
        }
    }
    Ok(Mj::from(out))
}

fn attr(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["obj", "name"])?;
    let obj = a[0].clone().unwrap_or(Mj::from(()));
    let name = text(
        a[1].as_ref()
            .ok_or_else(|| c.fail("missing attribute name"))?,
    )?;
    // Jinja's `attr` reads Python attributes, never items; template values only have
    // items, so this is undefined except for objects exposing attributes.
    if obj.kind() == ValueKind::Map || obj.kind() == ValueKind::Seq {
        return Ok(Mj::UNDEFINED);
    }
    Ok(obj.get_attr(&name).unwrap_or(Mj::UNDEFINED))
}

/// `urllib.parse.quote(s, safe)` on UTF-8 bytes.
pub fn url_quote(s: &str, safe: &str, plus: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        let c = b as char;
        if b.is_ascii_alphanumeric() || "_.-~".contains(c) || safe.contains(c) {
            out.push(c);
        } else if plus && c == ' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn urlencode(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["value"])?;
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    let q = |v: &Mj, qs: bool| -> Result<String, Error> {
        let s = text(v)?;
        Ok(if qs {
            url_quote(&s, "", true)
        } else {
            url_quote(&s, "/", false)
        })
    };
    match v.kind() {
        ValueKind::Map => {
            let parts: Result<Vec<String>, Error> = map_pairs(&v)?
                .iter()
                .map(|(k, x)| Ok(format!("{}={}", q(k, true)?, q(x, true)?)))
                .collect();
            Ok(Mj::from(parts?.join("&")))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut parts = Vec::new();
            for pair in super::core::iterate(c, &v)? {
                let kv = super::core::iterate(c, &pair)?;
                if kv.len() != 2 {
                    return Err(c.fail("expected (key, value) pairs"));
                }
                parts.push(format!("{}={}", q(&kv[0], true)?, q(&kv[1], true)?));
            }
            Ok(Mj::from(parts.join("&")))
        }
        _ => Ok(Mj::from(q(&v, false)?)),
    }
}

fn urldecode(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["string"])?;
    let s = input_text(c)?.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Ok(Mj::from(String::from_utf8_lossy(&out).into_owned()))
}
