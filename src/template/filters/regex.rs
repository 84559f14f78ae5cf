//! Python `re` semantics on fancy-regex: `regex_replace`, `regex_search`, `regex_findall`,
//! `regex_escape`, and the compiled patterns the `match`/`search`/`regex` tests use.
//!
//! Python patterns are translated where the dialects differ: `$` without MULTILINE also
//! matches before a final newline, `\Z` is `\z`, `(?P=name)` is `\k<name>`, `{,n}` is
//! `{0,n}`, and a `[` inside a class is literal. Replacement templates are parsed the way
//! `re.sub` does (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`).

use super::{Call, add, int_arg, text, truthy};
use fancy_regex::{Captures, Regex};
use minijinja::{Environment, Error, State, Value as Mj};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub fn register(env: &mut Environment<'static>) {
    add(env, "regex_replace", regex_replace, false);
    add(env, "regex_search", regex_search, false);
    add(env, "regex_findall", regex_findall, false);
    add(env, "regex_escape", regex_escape, false);
}

/// A compiled Python pattern.
pub struct PyRegex {
    pub re: Regex,
}

/// How a pattern is applied (`re.search`, `re.match`, `re.fullmatch`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Anchor {
    Search,
    Match,
    Full,
}

type Cache = Mutex<HashMap<(String, bool, bool, Anchor), Arc<PyRegex>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl PyRegex {
    /// Compiles (and caches) a Python pattern with the `re.I`/`re.M` flags.
    pub fn new(
        pattern: &str,
        ignorecase: bool,
        multiline: bool,
        anchor: Anchor,
    ) -> Result<Arc<PyRegex>, String> {
        let key = (pattern.to_string(), ignorecase, multiline, anchor);
        if let Ok(c) = cache().lock()
            && let Some(r) = c.get(&key)
        {
            return Ok(r.clone());
        }
        let mut flags = String::new();
        if ignorecase {
            flags.push('i');
        }
        if multiline {
            flags.push('m');
        }
        let body = translate(pattern, multiline);
        let mut full = String::new();
        if !flags.is_empty() {
            full.push_str(&format!("(?{flags})"));
        }
        match anchor {
            Anchor::Search => full.push_str(&body),
            Anchor::Match => full.push_str(&format!("\\A(?:{body})")),
            Anchor::Full => full.push_str(&format!("\\A(?:{body})\\z")),
        }
        let re = Regex::new(&full)
            .map_err(|e| format!("invalid regular expression `{pattern}`: {e}"))?;
        let r = Arc::new(PyRegex { re });
        if let Ok(mut c) = cache().lock() {
            if c.len() > 512 {
                c.clear();
            }
            c.insert(key, r.clone());
        }
        Ok(r)
    }

    /// `bool(re.search(...))` (or match/fullmatch per the anchor).
    pub fn is_match(&self, text: &str) -> Result<bool, String> {
        self.re.is_match(text).map_err(|e| e.to_string())
    }
}

/// Compiles a Python pattern with `re.M` and `re.S` (uncached: modules compile a pattern
/// once per task).
pub fn compile_flags(pattern: &str, multiline: bool, dotall: bool) -> Result<Regex, String> {
    let mut flags = String::new();
    if multiline {
        flags.push('m');
    }
    if dotall {
        flags.push('s');
    }
    let body = translate(pattern, multiline);
    let full = if flags.is_empty() {
        body
    } else {
        format!("(?{flags}){body}")
    };
    Regex::new(&full).map_err(|e| format!("invalid regular expression `{pattern}`: {e}"))
}

/// The matches `re.finditer` (and so `re.sub`) finds: like Python 3.7+, an empty match may
/// follow a non-empty one at the position where it ended, but never an empty one.
pub fn py_captures<'t>(re: &Regex, text: &'t str) -> Result<Vec<Captures<'t>>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut after_empty = false;
    while pos <= text.len() {
        let Some(caps) = re.captures_from_pos(text, pos).map_err(|e| e.to_string())? else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        if m.start() == m.end() && after_empty && m.start() == pos {
            // Python would look for a non-empty match here; the next position is the
            // closest fancy-regex can do.
            match text[pos..].chars().next() {
                Some(c) => {
                    pos += c.len_utf8();
                    after_empty = false;
                    continue;
                }
                None => break,
            }
        }
        after_empty = m.start() == m.end();
        pos = m.end();
        out.push(caps);
    }
    Ok(out)
}

/// Translates a Python pattern into fancy-regex syntax.
pub fn translate(p: &str, multiline: bool) -> String {
    let inline_multiline =
        multiline || p.contains("(?m") || p.contains("(?sm") || p.contains("(?im");
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                out.push_str("\\\\");
                break;
            };
            if !in_class && n == 'Z' {
                out.push_str("\\z");
            } else if n == ' ' {
                out.push(' ');
            } else {
                out.push('\\');
                out.push(n);
            }
            i += 2;
            class_start = false;
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' => out.push_str("\\["),
                '&' | '~' if chars.get(i + 1) == Some(&c) => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
                _ => out.push(c),
            }
            class_start = c == '^' && class_start;
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` right after the opening is literal in Python.
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                class_start = false;
                continue;
            }
            '$' if !inline_multiline => out.push_str("(?:(?=\\n\\z)|\\z)"),
            '(' if chars.get(i + 1) == Some(&'?')
                && chars.get(i + 2) == Some(&'P')
                && chars.get(i + 3) == Some(&'=') =>
            {
                let mut j = i + 4;
                let mut name = String::new();
                while j < chars.len() && chars[j] != ')' {
                    name.push(chars[j]);
                    j += 1;
                }
                out.push_str(&format!("\\k<{name}>"));
                i = j + 1;
                continue;
            }
            '{' if chars.get(i + 1) == Some(&',') => out.push_str("{0"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// One piece of a `re.sub` replacement template.
enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

fn parse_replacement(repl: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    let flush = |lit: &mut String, out: &mut Vec<Piece>| {
        if !lit.is_empty() {
            out.push(Piece::Text(std::mem::take(lit)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            lit.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            return Err("bad escape (end of pattern)".into());
        };
        i += 2;
        match n {
            'g' => {
                if chars.get(i) != Some(&'<') {
                    return Err("missing <".into());
                }
                let mut name = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '>' {
                    name.push(chars[i]);
                    i += 1;
                }
                i += 1;
                flush(&mut lit, &mut out);
                match name.parse::<usize>() {
                    Ok(n) => out.push(Piece::Group(n)),
                    Err(_) => out.push(Piece::Named(name)),
                }
            }
            '0'..='9' => {
                let mut digits = n.to_string();
                if let Some(&d) = chars.get(i)
                    && d.is_ascii_digit()
                    && n != '0'
                {
                    digits.push(d);
                    i += 1;
                }
                if n == '0' {
                    // An octal escape.
                    let mut oct = String::new();
                    while oct.len() < 2 && chars.get(i).is_some_and(|c| ('0'..='7').contains(c)) {
                        oct.push(chars[i]);
                        i += 1;
                    }
                    let v = u32::from_str_radix(&format!("0{oct}"), 8).unwrap_or(0);
                    lit.push(char::from_u32(v).unwrap_or('\0'));
                } else {
                    flush(&mut lit, &mut out);
                    out.push(Piece::Group(digits.parse().unwrap_or(0)));
                }
            }
            'n' => lit.push('\n'),
            't' => lit.push('\t'),
            'r' => lit.push('\r'),
            'a' => lit.push('\x07'),
            'b' => lit.push('\x08'),
            'f' => lit.push('\x0c'),
            'v' => lit.push('\x0b'),
            '\\' => lit.push('\\'),
            c if c.is_ascii_alphabetic() => return Err(format!("bad escape \\{c}")),
            c => {
                lit.push('\\');
                lit.push(c);
            }
        }
    }
    flush(&mut lit, &mut out);
    Ok(out)
}

fn expand(pieces: &[Piece], caps: &Captures, out: &mut String) -> Result<(), String> {
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Group(n) => {
                if *n >= caps.len() {
                    return Err(format!("invalid group reference {n}"));
                }
                if let Some(m) = caps.get(*n) {
                    out.push_str(m.as_str());
                }
            }
            Piece::Named(name) => match caps.name(name) {
                Some(m) => out.push_str(m.as_str()),
                None => return Err(format!("unknown group name '{name}'")),
            },
        }
    }
    Ok(())
}

/// `re.subn(pattern, repl, text, count)`.
pub fn py_subn(
    re: &Regex,
    repl: &str,
    text: &str,
    count: usize,
) -> Result<(String, usize), String> {
    let pieces = parse_replacement(repl)?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut n = 0;
    for caps in py_captures(re, text)? {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&text[last..m.start()]);
        expand(&pieces, &caps, &mut out)?;
        last = m.end();
        n += 1;
        if count > 0 && n >= count {
            break;
        }
    }
    out.push_str(&text[last..]);
    Ok((out, n))
}

fn flags(a: &[Option<Mj>], i_ignore: usize, i_multi: usize) -> (bool, bool) {
    (truthy(&a[i_ignore]), truthy(&a[i_multi]))
}

fn regex_replace(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&[
        "value",
        "pattern",
        "replacement",
        "ignorecase",
        "multiline",
        "count",
        "mandatory_count",
    ])?;
    let value = text(a[0].as_ref().unwrap_or(&Mj::from("")))?;
    let pattern = text(a[1].as_ref().unwrap_or(&Mj::from("")))?;
    let replacement = text(a[2].as_ref().unwrap_or(&Mj::from("")))?;
    let (ic, ml) = flags(&a, 3, 4);
    let count = match &a[5] {
        Some(n) => int_arg(c, n)?.max(0) as usize,
        None => 0,
    };
    let mandatory = match &a[6] {
        Some(n) => int_arg(c, n)?,
        None => 0,
    };
    let re = PyRegex::new(&pattern, ic, ml, Anchor::Search).map_err(|e| c.fail(&e))?;
    let (out, subs) = py_subn(&re.re, &replacement, &value, count).map_err(|e| c.fail(&e))?;
    if mandatory != 0 && mandatory != subs as i128 {
        return Err(c.fail(&format!(
            "'{pattern}' should match {mandatory} times, but matches {subs} times in '{value}'"
        )));
    }
    Ok(Mj::from(out))
}

fn regex_search(_: &mut State, c: &Call) -> Result<Mj, Error> {
    if c.pos.len() < 2 {
        return Err(c.fail("missing the regular expression"));
    }
    let value = text(&c.pos[0])?;
    let pattern = text(&c.pos[1])?;
    let mut groups: Vec<Result<usize, String>> = Vec::new();
    for arg in &c.pos[2..] {
        let arg = text(arg)?;
        if let Some(rest) = arg.strip_prefix("\\g") {
            let name = rest
                .strip_prefix('<')
                .and_then(|r| r.split_once('>'))
                .map(|(n, _)| n.to_string())
                .filter(|n| !n.is_empty() && !n.chars().any(char::is_whitespace))
                .ok_or_else(|| c.fail("Unknown argument"))?;
            groups.push(match name.parse::<usize>() {
                Ok(n) => Ok(n),
                Err(_) => Err(name),
            });
        } else if let Some(rest) = arg.strip_prefix('\\') {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let n = digits
                .parse::<usize>()
                .map_err(|_| c.fail("Unknown argument"))?;
            groups.push(Ok(n));
        } else {
            return Err(c.fail("Unknown argument"));
        }
    }
    let ic = c.kwarg("ignorecase").is_some_and(Mj::is_true);
    let ml = c.kwarg("multiline").is_some_and(Mj::is_true);
    let re = PyRegex::new(&pattern, ic, ml, Anchor::Search).map_err(|e| c.fail(&e))?;
    let caps = re.re.captures(&value).map_err(|e| c.fail(&e.to_string()))?;
    let Some(caps) = caps else {
        return Ok(Mj::from(()));
    };
    let text_of = |m: Option<fancy_regex::Match>| match m {
        Some(m) => Mj::from(m.as_str()),
        None => Mj::from(()),
    };
    if groups.is_empty() {
        return Ok(text_of(caps.get(0)));
    }
    let mut out = Vec::new();
    for g in groups {
        out.push(match g {
            Ok(n) if n < caps.len() => text_of(caps.get(n)),
            Ok(n) => return Err(c.fail(&format!("no such group: {n}"))),
            Err(name) => {
                if !re.re.capture_names().flatten().any(|x| x == name) {
                    return Err(c.fail(&format!("no such group: {name}")));
                }
                text_of(caps.name(&name))
            }
        });
    }
    Ok(Mj::from(out))
}

fn regex_findall(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "regex", "multiline", "ignorecase"])?;
    let value = text(a[0].as_ref().unwrap_or(&Mj::from("")))?;
    let pattern = text(
        a[1].as_ref()
            .ok_or_else(|| c.fail("missing the regular expression"))?,
    )?;
    let re = PyRegex::new(&pattern, truthy(&a[3]), truthy(&a[2]), Anchor::Search)
        .map_err(|e| c.fail(&e))?;
    let groups = re.re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in py_captures(&re.re, &value).map_err(|e| c.fail(&e))? {
        let g = |i: usize| Mj::from(caps.get(i).map_or("", |m| m.as_str()));
        out.push(match groups {
            0 => g(0),
            1 => g(1),
            n => Mj::from((1..=n).map(g).collect::<Vec<_>>()),
        });
    }
    Ok(Mj::from(out))
}

/// Python's `re.escape`.
pub fn py_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn regex_escape(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["string", "re_type"])?;
    let s = text(a[0].as_ref().unwrap_or(&Mj::from("")))?;
    let re_type = match &a[1] {
        Some(t) => text(t)?,
        None => "python".into(),
    };
    match re_type.as_str() {
        "python" => Ok(Mj::from(py_escape(&s))),
        "posix_basic" => {
            let mut out = String::new();
            for ch in s.chars() {
                if "].[^$*\\".contains(ch) {
                    out.push('\\');
                }
                out.push(ch);
            }
            Ok(Mj::from(out))
        }
        "posix_extended" => Err(c.fail("Regex type (posix_extended) not yet implemented")),
        other => Err(c.fail(&format!("Invalid regex type ({other})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_matches_as_python() {
        // re.sub('x*', '-', 'abxd') and re.subn(r'\s*$', 'X', 'a  \nb', flags=re.M)
        let r = compile_flags("x*", false, false).expect("compiles");
        assert_eq!(py_subn(&r, "-", "abxd", 0), Ok(("-a-b--d-".to_string(), 5)));
        let r = compile_flags(r"\s*$", true, false).expect("compiles");
        assert_eq!(
            py_subn(&r, "X", "a  \nb", 0),
            Ok(("aXX\nbX".to_string(), 3))
        );
        let r = compile_flags("^", true, false).expect("compiles");
        assert_eq!(
            py_subn(&r, ">", "a\nb\n", 0),
            Ok((">a\n>b\n>".to_string(), 3))
        );
    }

    #[test]
    fn python_dollar_matches_before_final_newline() {
        let r = PyRegex::new("a$", false, false, Anchor::Search).expect("compiles");
        assert_eq!(r.is_match("a\n"), Ok(true));
        assert_eq!(r.is_match("a\nb"), Ok(false));
    }

    #[test]
    fn sub_with_backrefs() {
        let r = PyRegex::new("(a)(?P<x>b)", false, false, Anchor::Search).expect("compiles");
        assert_eq!(
            py_subn(&r.re, r"\2\1\g<x>\n", "ab-ab", 1),
            Ok(("bab\n-ab".to_string(), 1))
        );
    }

    #[test]
    fn python_escapes_compile() {
        for p in [
            r"\/", r"\'", r"\-", r"\ ", r"\:", r"\=", r"\@", r"[\w.-]+", r"\d{,3}", r"[[]",
        ] {
            assert!(PyRegex::new(p, false, false, Anchor::Search).is_ok(), "{p}");
        }
    }

    #[test]
    fn lookahead_works() {
        let r = PyRegex::new(r"^(?!#)server", false, true, Anchor::Search).expect("compiles");
        assert_eq!(r.is_match("#x\nserver 1"), Ok(true));
    }
}
