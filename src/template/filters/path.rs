//! Path filters with Python's `posixpath` semantics: `basename`, `dirname`, `realpath`,
//! `expanduser`, `expandvars`, `splitext`, `path_join`, `normpath`, `relpath`,
//! `commonpath`, and `fileglob` (controller-side).

use super::{Call, add, text};
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, State, Value as Mj};
use std::path::Path;

pub fn register(env: &mut Environment<'static>) {
    add(
        env,
        "basename",
        |_, c| Ok(Mj::from(basename(&arg(c)?))),
        false,
    );
    add(
        env,
        "dirname",
        |_, c| Ok(Mj::from(dirname(&arg(c)?))),
        false,
    );
    add(
        env,
        "realpath",
        |_, c| Ok(Mj::from(realpath(&arg(c)?))),
        false,
    );
    add(
        env,
        "expanduser",
        |_, c| Ok(Mj::from(expanduser(&arg(c)?))),
        false,
    );
    add(
        env,
        "expandvars",
        |_, c| Ok(Mj::from(expandvars(&arg(c)?))),
        false,
    );
    add(
        env,
        "normpath",
        |_, c| Ok(Mj::from(normpath(&arg(c)?))),
        false,
    );
    add(env, "splitext", splitext, false);
    add(env, "path_join", path_join, false);
    add(env, "relpath", relpath, false);
    add(env, "commonpath", commonpath, false);
    add(env, "fileglob", fileglob, false);
}

fn arg(c: &Call) -> Result<String, Error> {
    c.bind(&["path"])?;
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    if v.kind() != ValueKind::String {
        return Err(c.fail(&format!(
            "expected str, bytes or os.PathLike object, not {}",
            super::core::type_name(&v)
        )));
    }
    text(&v)
}

pub fn basename(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => p[i + 1..].to_string(),
        None => p.to_string(),
    }
}

pub fn dirname(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let head = &p[..i];
    if !head.is_empty() && !head.chars().all(|c| c == '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `posixpath.normpath`.
pub fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let initial = if p.starts_with("//") && !p.starts_with("///") {
        2
    } else if p.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") {
            parts.push(comp);
        } else {
            parts.pop();
        }
    }
    let out = format!("{}{}", "/".repeat(initial), parts.join("/"));
    if out.is_empty() { ".".into() } else { out }
}

fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/".into())
}

pub fn expanduser(p: &str) -> String {
    if !p.starts_with('~') {
        return p.to_string();
    }
    let end = p.find('/').unwrap_or(p.len());
    if end != 1 {
        // `~user` needs the password database; leave it as Python does when unknown.
        return p.to_string();
    }
    let h = home();
    let h = h.trim_end_matches('/');
    let rest = &p[end..];
    let out = format!("{h}{rest}");
    if out.is_empty() { "/".into() } else { out }
}

pub fn expandvars(p: &str) -> String {
    if !p.contains('$') {
        return p.to_string();
    }
    let mut out = String::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let (name, end) = if chars.get(i + 1) == Some(&'{') {
                match chars[i + 2..].iter().position(|c| *c == '}') {
                    Some(j) => (
                        chars[i + 2..i + 2 + j].iter().collect::<String>(),
                        i + 3 + j,
                    ),
                    None => (String::new(), i + 1),
                }
            } else {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                (chars[i + 1..j].iter().collect::<String>(), j)
            };
            if !name.is_empty()
                && let Ok(v) = std::env::var(&name)
            {
                out.push_str(&v);
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `os.path.realpath` (non-strict): absolute, symlinks resolved where they exist.
pub fn realpath(p: &str) -> String {
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
        format!("{cwd}/{p}")
    };
    let mut resolved = String::from("/");
    let mut pending: Vec<String> = abs.split('/').rev().map(str::to_string).collect();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp == ".." {
            resolved = dirname(&resolved);
            if resolved.is_empty() {
                resolved = "/".into();
            }
            continue;
        }
        let next = if resolved == "/" {
            format!("/{comp}")
        } else {
            format!("{resolved}/{comp}")
        };
        match std::fs::read_link(&next) {
            Ok(target) if links < 40 => {
                links += 1;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved = "/".into();
                }
                for part in target.split('/').rev() {
                    pending.push(part.to_string());
                }
            }
            _ => resolved = next,
        }
    }
    resolved
}

fn splitext(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let p = arg(c)?;
    let base_start = p.rfind('/').map_or(0, |i| i + 1);
    let base = &p[base_start..];
    let leading_dots = base.chars().take_while(|c| *c == '.').count();
    let (root, ext) = match base[leading_dots..].rfind('.') {
        Some(i) => {
            let at = base_start + leading_dots + i;
            (p[..at].to_string(), p[at..].to_string())
        }
        None => (p.clone(), String::new()),
    };
    Ok(Mj::from(vec![Mj::from(root), Mj::from(ext)]))
}

/// `os.path.join(*parts)`.
pub fn join(parts: &[String]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if p.starts_with('/') || i == 0 {
            out = p.clone();
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(p);
        } else {
            out.push('/');
            out.push_str(p);
        }
    }
    out
}

fn path_join(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["paths"])?;
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    if let Some(s) = v.as_str() {
        return Ok(Mj::from(s));
    }
    if !matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Err(c.fail(&format!(
            "|path_join expects string or sequence, got {} instead.",
            super::core::type_name(&v)
        )));
    }
    let parts: Vec<String> = super::core::iterate(c, &v)?
        .iter()
        .map(text)
        .collect::<Result<_, _>>()?;
    Ok(Mj::from(join(&parts)))
}

fn relpath(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["path", "start"])?;
    let path = text(a[0].as_ref().unwrap_or(&Mj::from("")))?;
    if path.is_empty() {
        return Err(c.fail("no path specified"));
    }
    let start = match &a[1] {
        Some(s) => text(s)?,
        None => ".".into(),
    };
    let abs = |p: &str| -> String {
        if p.starts_with('/') {
            normpath(p)
        } else {
            let cwd = std::env::current_dir()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/".into());
            normpath(&format!("{cwd}/{p}"))
        }
    };
    let (p, s) = (abs(&path), abs(&start));
    let pl: Vec<&str> = p.split('/').filter(|x| !x.is_empty()).collect();
    let sl: Vec<&str> = s.split('/').filter(|x| !x.is_empty()).collect();
    let common = pl.iter().zip(sl.iter()).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; sl.len() - common];
    parts.extend(&pl[common..]);
    Ok(Mj::from(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }))
}

fn commonpath(_: &mut State, c: &Call) -> Result<Mj, Error> {
    c.bind(&["paths"])?;
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    if !matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return Err(c.fail(&format!(
            "|commonpath expects sequence, got {} instead.",
            super::core::type_name(&v)
        )));
    }
    let paths: Vec<String> = super::core::iterate(c, &v)?
        .iter()
        .map(text)
        .collect::<Result<_, _>>()?;
    if paths.is_empty() {
        return Err(c.fail("commonpath() arg is an empty sequence"));
    }
    let absolute = paths[0].starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != absolute) {
        return Err(c.fail("Can't mix absolute and relative paths"));
    }
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .filter(|x| !x.is_empty() && *x != ".")
                .collect()
        })
        .collect();
    let mut common: Vec<&str> = split[0].clone();
    for s in &split[1..] {
        let n = common
            .iter()
            .zip(s.iter())
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(n);
    }
    let prefix = if absolute { "/" } else { "" };
    Ok(Mj::from(format!("{prefix}{}", common.join("/"))))
}

/// `fnmatch` of one path component (`*`, `?`, `[...]`), without the hidden-file rule.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    fn go(n: &[char], p: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&n[i..], &p[1..])),
            Some('?') => !n.is_empty() && go(&n[1..], &p[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                    return n.first() == Some(&'[') && go(&n[1..], &p[1..]);
                };
                let Some(&ch) = n.first() else { return false };
                let class = &p[1..close];
                let (neg, class) = match class.first() {
                    Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        if class[i] <= ch && ch <= class[i + 2] {
                            hit = true;
                        }
                        i += 3;
                    } else {
                        if class[i] == ch {
                            hit = true;
                        }
                        i += 1;
                    }
                }
                hit != neg && go(&n[1..], &p[close + 1..])
            }
            Some(c) => n.first() == Some(c) && go(&n[1..], &p[1..]),
        }
    }
    go(&n, &p)
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Python's `glob.glob(pattern)`, in directory listing order.
pub fn glob(pattern: &str) -> Vec<String> {
    let (dir, base) = match pattern.rfind('/') {
        Some(i) => (&pattern[..i], &pattern[i + 1..]),
        None => ("", pattern),
    };
    let dirs: Vec<String> = if dir.is_empty() {
        vec![String::new()]
    } else if has_magic(dir) && dir != pattern {
        glob(dir)
            .into_iter()
            .filter(|d| Path::new(d).is_dir())
            .collect()
    } else {
        vec![dir.to_string()]
    };
    let mut out = Vec::new();
    for d in dirs {
        if !has_magic(base) {
            let full = if d.is_empty() {
                base.to_string()
            } else {
                format!("{d}/{base}")
            };
            if base.is_empty() {
                if Path::new(&d).is_dir() {
                    out.push(format!("{d}/"));
                }
            } else if std::fs::symlink_metadata(&full).is_ok() {
                out.push(full);
            }
            continue;
        }
        let listing = if d.is_empty() { "." } else { d.as_str() };
        let Ok(entries) = std::fs::read_dir(listing) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && !base.starts_with('.') {
                continue;
            }
            if fnmatch(&name, base) {
                out.push(if d.is_empty() {
                    name
                } else {
                    format!("{d}/{name}")
                });
            }
        }
    }
    out
}

fn fileglob(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let p = arg(c)?;
    Ok(Mj::from(
        glob(&p)
            .into_iter()
            .filter(|f| Path::new(f).is_file())
            .map(Mj::from)
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posixpath_semantics() {
        assert_eq!(basename("/etc/hosts"), "hosts");
        assert_eq!(basename("/etc/"), "");
        assert_eq!(dirname("/etc/hosts"), "/etc");
        assert_eq!(dirname("//x"), "//");
        assert_eq!(dirname("a//b"), "a");
        assert_eq!(normpath("/a/./b/../c//d/"), "/a/c/d");
        assert_eq!(normpath("../x/.."), "..");
        assert_eq!(
            join(&["/a".into(), "b".into(), "/c".into(), "d".into()]),
            "/c/d"
        );
        assert!(fnmatch("main.yml", "*.yml"));
        assert!(fnmatch("a1", "a[0-9]"));
        assert!(!fnmatch("ab", "a[!b]"));
    }
}
