//! What the modules that edit or create files share (`replace`, `blockinfile`, `ini_file`,
//! `get_url`, `unarchive`, `tempfile`): the file attribute options, reading a text file with
//! its state in one command, writing it back atomically with attributes, backup and validate,
//! fixing attributes of an unchanged file, and the path details Ansible adds to a result that
//! names a `path` or `dest`.

use super::TaskCx;
use super::TaskResult;
use super::fileattrs::{PathKind, PathState, attr_changes, parse_stat, resolve_mode};
use super::spec::{Args, Kind, Opt};
use crate::connection::{BACKUP_MARKER, Input, PutOptions, VALIDATE_MARKER, quote};
use crate::yaml::Value;

/// A result, or the task's failure (boxed: a `TaskResult` is large).
pub type Fallible<T> = Result<T, Box<TaskResult>>;

/// A failed task as a `Fallible` error.
pub fn fail(msg: impl Into<String>) -> Box<TaskResult> {
    Box::new(TaskResult::failed(msg))
}

/// The file attribute options these modules take (Ansible's `add_file_common_args`, the
/// parts kiln acts on; SELinux contexts and `chattr` attributes are not among them).
pub const FILE_ATTRS: [Opt; 4] = [
    Opt::new("mode", Kind::Mode),
    Opt::new("owner", Kind::Str),
    Opt::new("group", Kind::Str),
    Opt::new("unsafe_writes", Kind::Bool).default("false"),
];

/// The requested owner, group and mode of a file.
pub struct Attrs<'a> {
    pub mode: Option<&'a Value>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl<'a> Attrs<'a> {
    pub fn from_args(args: &'a Args) -> Attrs<'a> {
        Attrs {
            mode: args.get("mode"),
            owner: args.str("owner"),
            group: args.str("group"),
        }
    }

    pub fn any(&self) -> bool {
        self.mode.is_some() || self.owner.is_some() || self.group.is_some()
    }
}

/// A file on the host as a text-editing module finds it.
pub struct Current {
    /// Where symlinks lead (`readlink -f`), or the path itself.
    pub real: String,
    /// The state of `real`.
    pub state: PathState,
    /// Its content when it is a regular file.
    pub content: Option<Vec<u8>>,
}

const CONTENT_MARK: &str = "__kiln_content__";

/// One command: the resolved path, its state and, for a regular file, its content.
pub async fn read(cx: &TaskCx<'_>, path: &str) -> Fallible<Current> {
    let q = quote::quote(path);
    let script = format!(
        "r=$(readlink -f {q} 2>/dev/null) && [ -n \"$r\" ] || r={q}; printf '%s\\n' \"$r\"; \
         if [ -e \"$r\" ] || [ -L \"$r\" ]; then stat -c '%F|%a|%U|%G|%s|%u|%g' \"$r\"; else echo absent; fi; \
         echo; echo {CONTENT_MARK}; if [ -f \"$r\" ]; then cat \"$r\"; fi"
    );
    let out = cx
        .sh(script)
        .await
        .map_err(|e| Box::new(super::conn_failure(e)))?;
    let marker = format!("{CONTENT_MARK}\n");
    let pos = out
        .stdout
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .ok_or_else(|| {
            fail(format!(
                "could not read `{path}`: {}",
                out.stderr_text().trim()
            ))
        })?;
    let head = String::from_utf8_lossy(&out.stdout[..pos]).into_owned();
    let body = out.stdout[pos + marker.len()..].to_vec();
    let (real, stat) = head.split_once('\n').unwrap_or((path, "absent\n"));
    let state = parse_stat(stat);
    let content = (state.kind == PathKind::File).then_some(body);
    Ok(Current {
        real: if real.is_empty() {
            path.to_string()
        } else {
            real.to_string()
        },
        state,
        content,
    })
}

/// A path's state (one `stat`).
pub async fn stat(cx: &TaskCx<'_>, path: &str) -> Fallible<PathState> {
    let out = cx
        .sh(super::fileattrs::stat_script(path))
        .await
        .map_err(|e| Box::new(super::conn_failure(e)))?;
    Ok(parse_stat(&out.stdout_text()))
}

/// What `write` is asked to do besides writing.
pub struct WriteOpts<'a> {
    pub attrs: &'a Attrs<'a>,
    pub validate: Option<String>,
    pub backup: bool,
    /// Make the parent directories first (a file that is created).
    pub make_parent: bool,
}

/// Writes `bytes` to `dest` atomically with the requested attributes; returns the backup's
/// path when one was made. `current` is what `dest` is now. A refused validation fails with
/// Ansible's `failed to validate: rc:N error:...`.
pub async fn write(
    cx: &TaskCx<'_>,
    dest: &str,
    current: &PathState,
    bytes: Vec<u8>,
    opts: &WriteOpts<'_>,
) -> Fallible<Option<String>> {
    let exists = current.kind != PathKind::Absent;
    if let Some(v) = &opts.validate
        && !v.contains("%s")
    {
        return Err(fail(format!("validate must contain %s: {v}")));
    }
    if opts.make_parent && !exists {
        let parent = crate::connection::parent_dir(dest);
        let out = cx
            .sh(format!("mkdir -p {}", quote::quote(&parent)))
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))?;
        if out.rc != 0 {
            return Err(fail(format!(
                "Error creating {parent}: {}",
                out.stderr_text().trim()
            )));
        }
    }
    let mut on_temp = Vec::new();
    if let Some(m) = opts.attrs.mode {
        let mode =
            resolve_mode(m, if exists { current.mode } else { 0o644 }, false).map_err(fail)?;
        on_temp.push(format!("chmod {mode:04o} \"$t\""));
    }
    if let Some(o) = &opts.attrs.owner {
        on_temp.push(format!("chown {} \"$t\"", quote::quote(o)));
    }
    if let Some(g) = &opts.attrs.group {
        on_temp.push(format!("chgrp {} \"$t\"", quote::quote(g)));
    }
    let put = PutOptions {
        validate: opts.validate.clone(),
        on_temp,
        backup: opts.backup && exists,
    };
    let out = cx
        .put(Input::Bytes(bytes), dest, &put)
        .await
        .map_err(|e| Box::new(super::conn_failure(e)))?;
    let stdout = out.stdout_text();
    if let Some(rc) = stdout.lines().find_map(|l| l.strip_prefix(VALIDATE_MARKER)) {
        return Err(fail(format!(
            "failed to validate: rc:{rc} error:{}",
            out.stderr_text()
        )));
    }
    if out.rc != 0 {
        return Err(fail(format!(
            "could not write `{dest}`: {}",
            out.stderr_text().trim()
        )));
    }
    Ok(stdout
        .lines()
        .find_map(|l| l.strip_prefix(BACKUP_MARKER))
        .map(str::to_string))
}

/// The commands that bring an existing file's owner, group and mode to the requested
/// ones (none when they already match).
pub fn attr_cmds(path: &str, state: &PathState, attrs: &Attrs<'_>) -> Fallible<Vec<String>> {
    if state.kind == PathKind::Absent || !attrs.any() {
        return Ok(Vec::new());
    }
    let (cmds, _) = attr_changes(
        path,
        state,
        attrs.mode,
        attrs.owner.as_deref(),
        attrs.group.as_deref(),
        true,
    )
    .map_err(fail)?;
    Ok(cmds)
}

/// Runs `attr_cmds` on the host, unless in check mode.
pub async fn apply_attrs(cx: &TaskCx<'_>, cmds: &[String]) -> Fallible<()> {
    if cmds.is_empty() || cx.check_mode {
        return Ok(());
    }
    let out = cx
        .sh(cmds.join(" && "))
        .await
        .map_err(|e| Box::new(super::conn_failure(e)))?;
    if out.rc != 0 {
        return Err(fail(out.stderr_text().trim().to_string()));
    }
    Ok(())
}

/// Ansible's message when only attributes changed, joined to the content message.
pub fn attrs_message(msg: &str, content_changed: bool) -> String {
    let note = "ownership, perms or SE linux context changed";
    if content_changed {
        format!("{msg} and {note}")
    } else {
        format!("{msg}{note}")
    }
}

/// A script printing `path`'s details for `add_path_info` (one line, or `absent`).
pub fn path_info_script(path: &str) -> String {
    let q = quote::quote(path);
    format!(
        "if [ -e {q} ] || [ -L {q} ]; then stat -c '%F|%a|%U|%G|%s|%u|%g|%h' {q}; else echo absent; fi"
    )
}

/// Adds what Ansible's `add_path_info` puts in a result naming a path: `uid`, `gid`,
/// `owner`, `group`, `mode`, `state`, `size` (or only `state: absent`), from a line of
/// `path_info_script`.
pub fn add_path_info(r: &mut TaskResult, line: &str) {
    let line = line.trim();
    if line == "absent" || line.is_empty() {
        r.data.insert(Value::str("state"), Value::str("absent"));
        return;
    }
    let f: Vec<&str> = line.split('|').collect();
    let get = |i: usize| f.get(i).copied().unwrap_or("");
    let int = |i: usize| Value::Int(get(i).parse().unwrap_or(0));
    let name = |i: usize, id: usize| {
        if get(i) == "UNKNOWN" {
            get(id).to_string()
        } else {
            get(i).to_string()
        }
    };
    let state = match get(0) {
        "symbolic link" => "link",
        "directory" => "directory",
        _ if get(7).parse::<u64>().unwrap_or(1) > 1 => "hard",
        _ => "file",
    };
    let mode = u32::from_str_radix(get(1), 8).unwrap_or(0);
    for (k, v) in [
        ("uid", int(5)),
        ("gid", int(6)),
        ("owner", Value::str(name(2, 5))),
        ("group", Value::str(name(3, 6))),
        ("mode", Value::str(format!("0{mode:03o}"))),
        ("state", Value::str(state)),
        ("size", int(4)),
    ] {
        r.data.insert(Value::str(k), v);
    }
}

/// Python's `bytes.decode('utf-8', 'surrogateescape')` for text that must round-trip: a
/// byte that is not UTF-8 becomes a character of plane 16's private use area (Rust strings
/// cannot hold surrogates) and `encode_escaped` turns it back into the byte.
pub fn decode_escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push(char::from_u32(ESCAPE_BASE + u32::from(*b)).unwrap_or('\u{fffd}'));
        }
    }
    out
}

/// The inverse of `decode_escaped`.
pub fn encode_escaped(text: &str, escaped: bool) -> Vec<u8> {
    if !escaped {
        return text.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let v = c as u32;
        if (ESCAPE_BASE..ESCAPE_BASE + 0x100).contains(&v) {
            out.push((v - ESCAPE_BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

const ESCAPE_BASE: u32 = 0x10_FF00;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_bytes_round_trip() {
        let raw = b"caf\xc3\xa9 \xff\xfe end\n";
        let text = decode_escaped(raw);
        assert!(text.starts_with("café "));
        assert_eq!(encode_escaped(&text, true), raw.to_vec());
    }

    #[test]
    fn path_info_like_ansible() {
        let mut r = TaskResult::ok();
        add_path_info(&mut r, "regular file|600|kiln|UNKNOWN|12|1000|4242|1");
        let get = |k: &str| r.data.get(&Value::str(k)).cloned();
        assert_eq!(get("mode"), Some(Value::str("0600")));
        assert_eq!(get("group"), Some(Value::str("4242")));
        assert_eq!(get("state"), Some(Value::str("file")));
        assert_eq!(get("size"), Some(Value::Int(12)));
        let mut r = TaskResult::ok();
        add_path_info(&mut r, "absent");
        assert_eq!(r.data.len(), 1);
    }
}
