//! What `file`, `copy` and `template` share: reading a path's state in one command, file
//! modes (octal or symbolic, as Ansible takes them), and owner/group/mode changes.

use crate::connection::quote;
use crate::yaml::Value;

/// A path's state on the host, from one `stat` call.
#[derive(Debug, Clone, PartialEq)]
pub struct PathState {
    pub kind: PathKind,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub uid: String,
    pub gid: String,
    /// For links: where it points.
    pub target: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Absent,
    File,
    Directory,
    Link,
    Other,
}

impl PathKind {
    pub fn as_state(self) -> &'static str {
        match self {
            PathKind::Absent => "absent",
            PathKind::File => "file",
            PathKind::Directory => "directory",
            PathKind::Link => "link",
            PathKind::Other => "file",
        }
    }
}

/// A script printing one line describing `path` (without following a final symlink).
pub fn stat_script(path: &str) -> String {
    let q = quote::quote(path);
    format!(
        "if [ -e {q} ] || [ -L {q} ]; then stat -c '%F|%a|%U|%G|%s|%u|%g' {q}; \
         if [ -L {q} ]; then readlink {q}; else echo; fi; else echo absent; echo; fi"
    )
}

/// Parses two lines printed by `stat_script`.
pub fn parse_stat(out: &str) -> PathState {
    let mut lines = out.lines();
    let first = lines.next().unwrap_or("absent");
    let target = lines.next().unwrap_or("").to_string();
    if first.trim() == "absent" {
        return PathState {
            kind: PathKind::Absent,
            mode: 0,
            owner: String::new(),
            group: String::new(),
            size: 0,
            uid: String::new(),
            gid: String::new(),
            target,
        };
    }
    let parts: Vec<&str> = first.split('|').collect();
    let kind = match parts.first().copied().unwrap_or("") {
        "regular file" | "regular empty file" => PathKind::File,
        "directory" => PathKind::Directory,
        "symbolic link" => PathKind::Link,
        _ => PathKind::Other,
    };
    PathState {
        kind,
        mode: parts
            .get(1)
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0),
        owner: parts.get(2).unwrap_or(&"").to_string(),
        group: parts.get(3).unwrap_or(&"").to_string(),
        size: parts.get(4).and_then(|s| s.parse().ok()).unwrap_or(0),
        uid: parts.get(5).unwrap_or(&"").to_string(),
        gid: parts.get(6).unwrap_or(&"").to_string(),
        target,
    }
}

/// The numeric mode a `mode:` argument asks for, given the current mode (for symbolic modes).
pub fn resolve_mode(v: &Value, current: u32, is_dir: bool) -> Result<u32, String> {
    match v {
        // YAML `0644` is already the int 420; Ansible takes ints as the mode's value.
        Value::Int(i) => u32::try_from(*i).map_err(|_| format!("invalid mode `{i}`")),
        Value::Str(s) | Value::Unsafe(s) => {
            let s = s.trim();
            if !s.is_empty() && s.chars().all(|c| c.is_digit(8)) {
                return u32::from_str_radix(s, 8).map_err(|_| format!("invalid mode `{s}`"));
            }
            symbolic(s, current, is_dir)
        }
        other => Err(format!(
            "mode must be an octal string or a number, got {}",
            other.type_name()
        )),
    }
}

/// Applies a symbolic mode (`u+rwx,g-w,o=r`, `a+X`) to `current`.
fn symbolic(spec: &str, current: u32, is_dir: bool) -> Result<u32, String> {
    let bad = || format!("bad symbolic permission for mode: {spec}");
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let op_at = clause.find(['+', '-', '=']).ok_or_else(bad)?;
        let (who, rest) = clause.split_at(op_at);
        let who = if who.is_empty() { "a" } else { who };
        let mut mask = 0u32;
        for c in who.chars() {
            mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return Err(bad()),
            };
        }
        let op = rest.chars().next().ok_or_else(bad)?;
        let mut bits = 0u32;
        for c in rest[1..].chars() {
            bits |= match c {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                'X' if is_dir || mode & 0o111 != 0 => 0o111,
                'X' => 0,
                's' => 0o6000,
                't' => 0o1000,
                _ => return Err(bad()),
            };
        }
        let bits = bits & mask;
        mode = match op {
            '+' => mode | bits,
            '-' => mode & !bits,
            _ => (mode & !mask) | bits,
        };
    }
    Ok(mode)
}

/// The commands that bring `state` to the requested owner, group and mode, and what changed.
pub fn attr_changes(
    path: &str,
    state: &PathState,
    mode: Option<&Value>,
    owner: Option<&str>,
    group: Option<&str>,
    follow: bool,
) -> Result<(Vec<String>, Vec<&'static str>), String> {
    let q = quote::quote(path);
    let h = if follow { "" } else { "-h " };
    let mut cmds = Vec::new();
    let mut what = Vec::new();
    if let Some(o) = owner.filter(|o| *o != state.owner && *o != state.uid) {
        cmds.push(format!("chown {h}{} {q}", quote::quote(o)));
        what.push("owner");
    }
    if let Some(g) = group.filter(|g| *g != state.group && *g != state.gid) {
        cmds.push(format!("chgrp {h}{} {q}", quote::quote(g)));
        what.push("group");
    }
    if let Some(m) = mode
        && (state.kind != PathKind::Link || follow)
    {
        let want = resolve_mode(m, state.mode, state.kind == PathKind::Directory)?;
        if want != state.mode {
            cmds.push(format!("chmod {:04o} {q}", want));
            what.push("mode");
        }
    }
    Ok((cmds, what))
}

/// A mode as Ansible returns it: a zero-padded octal string (`"0644"`).
pub fn mode_str(mode: u32) -> String {
    format!("{mode:04o}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(resolve_mode(&Value::Int(420), 0, false), Ok(0o644));
        assert_eq!(resolve_mode(&Value::str("0755"), 0, false), Ok(0o755));
        assert_eq!(resolve_mode(&Value::str("u+x"), 0o644, false), Ok(0o744));
        assert_eq!(
            resolve_mode(&Value::str("u=rw,g=r,o="), 0o777, false),
            Ok(0o640)
        );
        assert_eq!(resolve_mode(&Value::str("a+X"), 0o644, true), Ok(0o755));
        assert_eq!(resolve_mode(&Value::str("go-w"), 0o666, false), Ok(0o644));
    }

    #[test]
    fn stat_lines() {
        let s = parse_stat("regular file|644|root|root|12\n\n");
        assert_eq!(s.kind, PathKind::File);
        assert_eq!(s.mode, 0o644);
        assert_eq!(parse_stat("absent\n\n").kind, PathKind::Absent);
    }
}
