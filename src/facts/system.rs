//! Small system collectors: selinux, apparmor, chroot, fips, caps, cmdline, loadavg,
//! ssh_pub_keys, systemd and local facts.

use super::probe::Probe;
use super::{int, put, s, str_list};
use crate::yaml::{Map, Value};

/// SELinux from selinuxfs and /etc/selinux/config (Ansible asks the Python bindings, which
/// read the same places).
pub(crate) fn selinux(p: &Probe) -> Map {
    let mut se = Map::new();
    match p
        .content("/sys/fs/selinux/enforce")
        .filter(|_| p.exists("/sys/fs/selinux/enforce"))
    {
        None => put(&mut se, "status", s("disabled")),
        Some(enforce) => {
            put(&mut se, "status", s("enabled"));
            match p
                .content("/sys/fs/selinux/policyvers")
                .and_then(|v| v.parse::<i64>().ok())
            {
                Some(v) => put(&mut se, "policyvers", int(v)),
                None => put(&mut se, "policyvers", s("unknown")),
            }
            let config = p.file("/etc/selinux/config").unwrap_or("");
            let setting = |key: &str| {
                config.lines().find_map(|l| {
                    let (k, v) = l.trim().split_once('=')?;
                    (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
                })
            };
            let config_mode = match setting("SELINUX").as_deref() {
                Some("enforcing") => "enforcing",
                Some("permissive") => "permissive",
                Some("disabled") => "disabled",
                _ => "unknown",
            };
            put(&mut se, "config_mode", s(config_mode));
            let mode = match enforce {
                "1" => "enforcing",
                "0" => "permissive",
                _ => "unknown",
            };
            put(&mut se, "mode", s(mode));
            put(
                &mut se,
                "type",
                s(setting("SELINUXTYPE").unwrap_or_else(|| "unknown".into())),
            );
        }
    }
    let mut m = Map::new();
    put(&mut m, "selinux", Value::Map(se));
    m
}

pub(crate) fn apparmor(p: &Probe) -> Map {
    let status = if p.exists("/sys/kernel/security/apparmor") {
        "enabled"
    } else {
        "disabled"
    };
    let mut a = Map::new();
    put(&mut a, "status", s(status));
    let mut m = Map::new();
    put(&mut m, "apparmor", Value::Map(a));
    m
}

/// Root differs from pid 1's root; without access to that, Ansible compares the inode of `/`
/// with the one its filesystem gives the root directory.
pub(crate) fn chroot(p: &Probe) -> Map {
    let is_chroot = match p.var("chroot") {
        Some(v) => v == "1",
        None => {
            let root_fs = root_fstype(p);
            let expected = match root_fs.as_deref() {
                Some(t) if t.contains("btrfs") => 256,
                Some(t) if t.contains("xfs") => 128,
                _ => 2,
            };
            p.var("root_ino")
                .and_then(|i| i.split_whitespace().next()?.parse::<i64>().ok())
                != Some(expected)
        }
    };
    let mut m = Map::new();
    put(&mut m, "is_chroot", Value::Bool(is_chroot));
    m
}

/// The type of the filesystem mounted last on `/`.
fn root_fstype(p: &Probe) -> Option<String> {
    let mtab = p.var("mtab")?;
    p.file(mtab)?.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 3 && f[1] == "/").then(|| f[2].to_string())
    })
}

pub(crate) fn fips(p: &Probe) -> Map {
    let mut m = Map::new();
    put(
        &mut m,
        "fips",
        Value::Bool(p.content("/proc/sys/crypto/fips_enabled") == Some("1")),
    );
    m
}

/// `capsh --print`'s `Current:` line.
pub(crate) fn caps(p: &Probe) -> Map {
    let mut m = Map::new();
    let Some(out) = p.cmd("capsh") else {
        put(&mut m, "system_capabilities_enforced", s("N/A"));
        put(&mut m, "system_capabilities", s("N/A"));
        return m;
    };
    let mut enforced = "NA";
    let mut caps: Vec<String> = Vec::new();
    for line in out.lines() {
        if !line.starts_with("Current:") {
            continue;
        }
        if line.split(':').nth(1).map(str::trim) == Some("=ep") {
            enforced = "False";
        } else {
            enforced = "True";
            caps = line
                .split('=')
                .nth(1)
                .unwrap_or("")
                .split(',')
                .map(|c| c.trim().to_string())
                .collect();
        }
    }
    put(&mut m, "system_capabilities_enforced", s(enforced));
    put(&mut m, "system_capabilities", str_list(caps));
    m
}

/// `cmdline` (last value wins) and `proc_cmdline` (repeats become lists).
pub(crate) fn cmdline(p: &Probe) -> Map {
    let mut m = Map::new();
    let Some(data) = p.content("/proc/cmdline") else {
        return m;
    };
    let mut flat = Map::new();
    let mut multi = Map::new();
    if let Some(words) = shlex_non_posix(data) {
        for piece in words {
            match piece.split_once('=') {
                None => {
                    flat.insert(s(piece.clone()), Value::Bool(true));
                    multi.insert(s(piece), Value::Bool(true));
                }
                Some((k, v)) => {
                    flat.insert(s(k), s(v));
                    let key = s(k);
                    match multi.get_mut(&key) {
                        Some(Value::Seq(items)) => items.push(s(v)),
                        Some(old) => {
                            let first = std::mem::take(old);
                            *old = Value::Seq(vec![first, s(v)]);
                        }
                        None => {
                            multi.insert(key, s(v));
                        }
                    }
                }
            }
        }
    }
    put(&mut m, "cmdline", Value::Map(flat));
    put(&mut m, "proc_cmdline", Value::Map(multi));
    m
}

/// Python's `shlex.split(data, posix=False)`: whitespace splits, a word starting with a quote
/// runs to the closing quote (kept), an unclosed quote fails the whole split.
fn shlex_non_posix(data: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = data.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let Some(first) = chars.next() else { break };
        let mut word = String::from(first);
        if first == '"' || first == '\'' {
            loop {
                let c = chars.next()?;
                word.push(c);
                if c == first {
                    break;
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_ascii_whitespace()) {
                word.push(c);
            }
        }
        words.push(word);
    }
    Some(words)
}

pub(crate) fn loadavg(p: &Probe) -> Map {
    let mut m = Map::new();
    let Some(text) = p.content("/proc/loadavg") else {
        return m;
    };
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    if let [one, five, fifteen] = v.as_slice() {
        let mut l = Map::new();
        put(&mut l, "1m", Value::Float(*one));
        put(&mut l, "5m", Value::Float(*five));
        put(&mut l, "15m", Value::Float(*fifteen));
        put(&mut m, "loadavg", Value::Map(l));
    }
    m
}

/// Host public keys, from the first directory that has each type.
pub(crate) fn ssh_pub_keys(p: &Probe) -> Map {
    let mut m = Map::new();
    for dir in ["/etc/ssh", "/etc/openssh", "/etc"] {
        for algo in ["dsa", "rsa", "ecdsa", "ed25519"] {
            let name = format!("ssh_host_key_{algo}_public");
            // Ansible stops at the first key type already found in an earlier directory.
            if m.contains_key(&Value::str(name.clone())) {
                return m;
            }
            let Some(data) = p.content(&format!("{dir}/ssh_host_{algo}_key.pub")) else {
                continue;
            };
            let mut words = data.split_whitespace();
            if let (Some(keytype), Some(key)) = (words.next(), words.next()) {
                put(&mut m, &name, s(key));
                put(&mut m, &format!("{name}_keytype"), s(keytype));
            }
        }
    }
    m
}

pub(crate) fn systemd(p: &Probe) -> Map {
    let mut m = Map::new();
    let Some(out) = p.cmd("systemctl-version") else {
        return m;
    };
    let features = out.split('\n').nth(1).unwrap_or("").to_string();
    let Some(version) = out
        .split(' ')
        .nth(1)
        .and_then(|v| v.trim().parse::<i64>().ok())
    else {
        return m;
    };
    let mut d = Map::new();
    put(&mut d, "features", s(features));
    put(&mut d, "version", int(version));
    put(&mut m, "systemd", Value::Map(d));
    m
}

/// `ansible_local`: every `*.fact` in the facts directory, JSON or INI, run when executable.
pub(crate) fn local(p: &Probe) -> Map {
    let mut local = Map::new();
    let mut entries: Vec<(String, Value)> = Vec::new();
    for path in p.vars("local.file") {
        let text = p.file(path).unwrap_or("");
        entries.push((path.to_string(), load_fact(path, text)));
    }
    for (path, out, rc) in &p.local_exec {
        let value = if *rc != 0 {
            s(format!(
                "Failure executing fact script ({path}), rc: {rc}, err: "
            ))
        } else {
            load_fact(path, out)
        };
        entries.push((path.clone(), value));
    }
    // Ansible walks the sorted file names.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, value) in entries {
        let base = path
            .rsplit('/')
            .next()
            .unwrap_or(&path)
            .replace(".fact", "");
        local.insert(s(base), value);
    }
    let mut m = Map::new();
    put(&mut m, "local", Value::Map(local));
    m
}

/// A fact file's content: JSON if it parses, else INI sections, else an error message.
fn load_fact(path: &str, text: &str) -> Value {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        return from_json(json);
    }
    match parse_ini(text) {
        Ok(sections) => Value::Map(sections),
        Err(IniError::Syntax) => s(format!(
            "error loading facts as JSON or ini - please check content: {path}"
        )),
        Err(IniError::Interpolation(msg)) => s(format!(
            "error loading facts as ini - please check content: {path} ({msg})"
        )),
    }
}

pub(crate) fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i as i128)
            } else if let Some(u) = n.as_u64() {
                Value::Int(u as i128)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(x) => Value::Str(x),
        serde_json::Value::Array(items) => Value::Seq(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Map(
            o.into_iter()
                .map(|(k, v)| (Value::Str(k), from_json(v)))
                .collect(),
        ),
    }
}

enum IniError {
    Syntax,
    Interpolation(String),
}

/// Python's `configparser` as the local facts collector uses it: sections, lowercased option
/// names, `=` or `:`, indented continuation lines, `#`/`;` comments, DEFAULT inherited, and
/// `%(name)s` / `%%` interpolation.
fn parse_ini(text: &str) -> Result<Map, IniError> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut defaults: Vec<(String, String)> = Vec::new();
    let mut current: Option<usize> = None; // None before any header; usize::MAX = DEFAULT
    let mut in_default = false;
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            last_key = None;
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented && let Some(key) = &last_key {
            let opts = if in_default {
                &mut defaults
            } else {
                current
                    .and_then(|i| sections.get_mut(i))
                    .map(|s| &mut s.1)
                    .ok_or(IniError::Syntax)?
            };
            if let Some(entry) = opts.iter_mut().find(|(k, _)| k == key) {
                entry.1.push('\n');
                entry.1.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            last_key = None;
            if name == "DEFAULT" {
                in_default = true;
                continue;
            }
            if sections.iter().any(|(n, _)| n == name) {
                return Err(IniError::Syntax);
            }
            in_default = false;
            sections.push((name.to_string(), Vec::new()));
            current = Some(sections.len() - 1);
            continue;
        }
        let pos = trimmed.find(['=', ':']).ok_or(IniError::Syntax)?;
        let key = trimmed[..pos].trim().to_lowercase();
        let value = trimmed[pos + 1..].trim().to_string();
        let opts = if in_default {
            &mut defaults
        } else {
            current
                .and_then(|i| sections.get_mut(i))
                .map(|s| &mut s.1)
                .ok_or(IniError::Syntax)?
        };
        if opts.iter().any(|(k, _)| *k == key) {
            return Err(IniError::Syntax);
        }
        opts.push((key.clone(), value));
        last_key = Some(key);
    }
    let mut out = Map::new();
    for (name, opts) in &sections {
        let mut merged: Vec<(String, String)> = opts.clone();
        for (k, v) in &defaults {
            if !merged.iter().any(|(mk, _)| mk == k) {
                merged.push((k.clone(), v.clone()));
            }
        }
        let mut sec = Map::new();
        for (k, v) in &merged {
            sec.insert(s(k.clone()), s(interpolate(v, &merged, 0)?));
        }
        out.insert(s(name.clone()), Value::Map(sec));
    }
    Ok(out)
}

fn interpolate(value: &str, opts: &[(String, String)], depth: usize) -> Result<String, IniError> {
    if depth > 10 {
        return Err(IniError::Interpolation(
            "interpolation depth exceeded".into(),
        ));
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("%%") {
            out.push('%');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("%(") {
            let end = r.find(")s").ok_or_else(|| {
                IniError::Interpolation(format!("bad interpolation variable reference {rest:?}"))
            })?;
            let name = r[..end].to_lowercase();
            let v = opts
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    IniError::Interpolation(format!(
                        "bad interpolation variable reference {name:?}"
                    ))
                })?;
            out.push_str(&interpolate(&v, opts, depth + 1)?);
            rest = &r[end + 2..];
        } else {
            return Err(IniError::Interpolation(format!(
                "'%' must be followed by '%' or '(', found: {rest:?}"
            )));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_words() {
        assert_eq!(
            shlex_non_posix("a=1 \"b c\" d").expect("closed quotes"),
            vec!["a=1".to_string(), "\"b c\"".into(), "d".into()]
        );
        assert_eq!(shlex_non_posix("a \"b"), None);
    }

    #[test]
    fn ini_facts() {
        let m = parse_ini("[general]\nName = x\nb: %(name)s-y\n[DEFAULT]\nd = 1\n")
            .ok()
            .expect("valid ini");
        let g = m
            .get(&s("general"))
            .and_then(Value::as_map)
            .expect("section");
        assert_eq!(g.get(&s("name")), Some(&s("x")));
        assert_eq!(g.get(&s("b")), Some(&s("x-y")));
        assert_eq!(g.get(&s("d")), Some(&s("1")));
        assert!(parse_ini("no header\n").is_err());
    }
}
