//! `authorized_key` (ansible.posix): SSH public keys present in or absent from a user's
//! authorized_keys file, parsed, matched, ordered and written back as ansible.posix's module
//! does (options, comments, `exclusive`), with the file 0600 and its directory 0700, both
//! owned by the user. Keys may come from a URL (fetched by the host's curl or wget) or
//! from a file on the host (`file://`).

use super::sections::{Sections, section, section_raw};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::quote::quote;
use crate::connection::{Input, PutOptions, parent_dir};
use crate::template::filters::text::py_splitlines;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct AuthorizedKey;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("user", Kind::Str).required(),
    Opt::new("key", Kind::Str).required(),
    Opt::new("path", Kind::Path),
    Opt::new("manage_dir", Kind::Bool).default("true"),
    Opt::new("state", Kind::Str)
        .default("present")
        .choices(&["absent", "present"]),
    Opt::new("key_options", Kind::Str),
    Opt::new("exclusive", Kind::Bool).default("false"),
    Opt::new("comment", Kind::Str),
    Opt::new("validate_certs", Kind::Bool).default("true"),
    Opt::new("follow", Kind::Bool).default("false"),
]);

const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// Key options in order, a name possibly repeated; compared as a mapping from each name to
/// its values in order (the module's `keydict`).
#[derive(Debug, Clone, Default)]
struct Options(Vec<(String, Option<String>)>);

impl PartialEq for Options {
    fn eq(&self, other: &Options) -> bool {
        let values = |o: &Options, k: &str| -> Vec<Option<String>> {
            o.0.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .collect()
        };
        self.0
            .iter()
            .all(|(k, _)| values(self, k) == values(other, k))
            && other
                .0
                .iter()
                .all(|(k, _)| values(self, k) == values(other, k))
    }
}

/// Splits options on commas outside quotes, as the module's regular expression does
/// (a run of commas between options is itself taken as an option).
fn parse_options(options: &str) -> Options {
    let mut out = Options::default();
    if options.is_empty() {
        return out;
    }
    let re = regex::Regex::new(r#"(?:[^,"']|"[^"]*"|'[^']*')+"#).ok();
    let Some(re) = re else { return out };
    // `re.split` with a group: the text between matches and the matches in turn; the first
    // and last in-between pieces are dropped.
    let mut pieces: Vec<&str> = Vec::new();
    let mut last = 0;
    for m in re.find_iter(options) {
        pieces.push(&options[last..m.start()]);
        pieces.push(m.as_str());
        last = m.end();
    }
    pieces.push(&options[last..]);
    let inner = if pieces.len() >= 2 {
        &pieces[1..pieces.len() - 1]
    } else {
        &[][..]
    };
    for part in inner {
        if let Some((k, v)) = part.split_once('=') {
            out.0.push((k.to_string(), Some(v.to_string())));
        } else if *part != "," {
            out.0.push((part.to_string(), None));
        }
    }
    out
}

/// One line of an authorized_keys file, or one requested key.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// The key's base64 blob; for lines that are not keys, the line itself.
    id: String,
    /// `None` for lines kept as they are (comments, unparsable lines).
    kind: Option<String>,
    options: Options,
    comment: String,
    rank: usize,
}

impl Entry {
    fn same(&self, other: &Entry) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.options == other.options
            && self.comment == other.comment
    }

    fn verbatim(line: &str, rank: usize) -> Entry {
        Entry {
            id: line.to_string(),
            kind: None,
            options: Options::default(),
            comment: String::new(),
            rank,
        }
    }

    fn render(&self) -> String {
        let Some(kind) = &self.kind else {
            return self.id.clone();
        };
        let mut opts: Vec<String> = Vec::new();
        for (k, v) in &self.options.0 {
            opts.push(match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            });
        }
        let prefix = if opts.is_empty() {
            String::new()
        } else {
            format!("{} ", opts.join(","))
        };
        format!("{prefix}{kind} {} {}\n", self.id, self.comment)
    }
}

/// Parses one key line: `Ok(None)` for a line with no known key type, `Err` for a key type
/// with no key after it (the module crashes there).
fn parse_key(raw: &str, rank: usize) -> Result<Option<Entry>, String> {
    let raw = raw.replace("\\#", "#");
    let parts: Vec<&str> = raw
        .split([' ', '\t', '\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.first() == Some(&"#") {
        return Ok(Some(Entry::verbatim(&raw, rank)));
    }
    let Some(at) = parts.iter().position(|p| KEY_TYPES.contains(p)) else {
        return Ok(None);
    };
    let options = if at > 0 {
        parse_options(&parts[..at].join(" "))
    } else {
        Options::default()
    };
    let Some(id) = parts.get(at + 1) else {
        return Err(format!("invalid key line (no key after its type): {raw}"));
    };
    Ok(Some(Entry {
        id: id.to_string(),
        kind: Some(parts[at].to_string()),
        options,
        comment: parts[at + 2..].join(" "),
        rank,
    }))
}

/// The file's entries in a dict keyed by id, with Python's dict order (a repeated key keeps
/// its first place and its last value).
#[derive(Default)]
struct Keys(Vec<Entry>);

impl Keys {
    fn parse(text: &str) -> Result<Keys, String> {
        let mut keys = Keys::default();
        for (rank, line) in text.split_inclusive('\n').enumerate() {
            let entry = parse_key(line, rank)?.unwrap_or_else(|| Entry::verbatim(line, rank));
            keys.set(entry);
        }
        Ok(keys)
    }

    fn get(&self, id: &str) -> Option<&Entry> {
        self.0.iter().find(|e| e.id == id)
    }

    fn set(&mut self, entry: Entry) {
        match self.0.iter_mut().find(|e| e.id == entry.id) {
            Some(e) => *e = entry,
            None => self.0.push(entry),
        }
    }

    fn remove(&mut self, id: &str) {
        self.0.retain(|e| e.id != id);
    }

    fn serialize(&self) -> String {
        let mut sorted: Vec<&Entry> = self.0.iter().collect();
        sorted.sort_by_key(|e| e.rank);
        sorted.iter().map(|e| e.render()).collect()
    }
}

/// What the module decides: the new content, and whether it differs.
fn enforce(
    existing: &str,
    key: &str,
    present: bool,
    key_options: Option<&str>,
    comment: Option<&str>,
    exclusive: bool,
) -> Result<(String, bool), String> {
    let mut keys = Keys::parse(existing)?;
    let new_keys: Vec<&str> = py_splitlines(key)
        .into_iter()
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .collect();
    let max_rank = keys.0.len();
    let mut keep: Vec<String> = Vec::new();
    let mut write = false;
    for (rank, text) in new_keys.iter().enumerate() {
        let Some(mut parsed) = parse_key(text, rank)? else {
            return Err(format!("invalid key specified: {text}"));
        };
        if let Some(o) = key_options {
            parsed.options = parse_options(o);
        }
        if let Some(c) = comment {
            parsed.comment = c.to_string();
        }
        let mut matched = false;
        let mut stale = false;
        if let Some(old) = keys.get(&parsed.id) {
            if !parsed.same(old) && present {
                stale = true;
            } else {
                matched = true;
            }
        }
        if present {
            keep.push(parsed.id.clone());
            if stale {
                keys.remove(&parsed.id);
                write = true;
            }
            if !matched {
                parsed.rank += max_rank;
                keys.set(parsed);
                write = true;
            }
        } else if matched {
            keys.remove(&parsed.id);
            write = true;
        }
    }
    if present && exclusive {
        let before = keys.0.len();
        keys.0.retain(|e| keep.contains(&e.id));
        write |= keys.0.len() != before;
    }
    Ok((keys.serialize(), write))
}

/// `urlparse(key).path` for a `file:` key.
fn file_url_path(key: &str) -> String {
    let rest = key.split_once(':').map_or("", |(_, r)| r);
    match rest.strip_prefix("//") {
        Some(after) => after.find('/').map_or("", |i| &after[i..]).to_string(),
        None => rest.split(['?', '#']).next().unwrap_or("").to_string(),
    }
}

#[async_trait]
impl Module for AuthorizedKey {
    fn name(&self) -> &'static str {
        "authorized_key"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix"]
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let user = args.str("user").unwrap_or_default();
        let key_arg = args.str("key").unwrap_or_default();
        let path = args.str("path");
        let manage_dir = args.bool("manage_dir");
        let present = args.str("state").as_deref() != Some("absent");
        let follow = args.bool("follow");
        let error_msg = format!("Error getting key from: {key_arg}");

        let s = Sections::new();
        let mut script = String::new();
        if key_arg.starts_with("http") {
            let k = if args.bool("validate_certs") {
                ""
            } else {
                "-k "
            };
            let w = if args.bool("validate_certs") {
                ""
            } else {
                "--no-check-certificate "
            };
            script.push_str(&format!(
                "{}; if command -v curl >/dev/null; then curl -sSL {k}-w '\\n%{{http_code}}' {u}; \
                 elif command -v wget >/dev/null; then wget -q {w}-O - {u} && printf '\\n200'; \
                 else printf '\\nnone'; fi; echo; ",
                s.start("fetched"),
                u = quote(&key_arg),
            ));
        } else if key_arg.starts_with("file") {
            let p = quote(&file_url_path(&key_arg));
            script.push_str(&format!(
                "{}; if [ ! -e {p} ]; then echo missing; elif [ ! -f {p} ]; then echo dir; \
                 elif [ ! -r {p} ]; then echo unreadable; else echo ok; {}; cat {p}; echo; fi; ",
                s.start("keyfile_state"),
                s.start("keyfile"),
            ));
        }
        // The user's entry, unless check mode with a path does not need it (as Ansible).
        let need_user = !(cx.check_mode && path.is_some());
        if need_user {
            script.push_str(&format!(
                "{}; getent passwd {}; ",
                s.start("passwd"),
                quote(&user)
            ));
        }
        let file_expr = match &path {
            Some(p) => quote(p),
            None => format!(
                "\"$(getent passwd {} | cut -d: -f6)/.ssh/authorized_keys\"",
                quote(&user)
            ),
        };
        script.push_str(&format!("f={file_expr}; "));
        if follow {
            script.push_str("f=$(realpath -m \"$f\"); ");
        }
        script.push_str(&format!(
            "{}; printf '%s\\n' \"$f\"; {}; if [ -d \"$f\" ]; then echo dir; elif [ -e \"$f\" ] && [ ! -r \"$f\" ]; then echo denied; \
             elif [ -e \"$f\" ]; then echo file; else echo absent; fi; \
             {}; [ -f \"$f\" ] && [ -r \"$f\" ] && cat \"$f\"; echo",
            s.start("path"),
            s.start("state"),
            s.start("content"),
        ));
        let out = try_conn!(cx.sh(script).await);
        let parts = s.split(&out);

        let mut key = key_arg.clone();
        if key_arg.starts_with("http") {
            let body = section_raw(&parts, "fetched").unwrap_or("");
            let (content, status) = body.rsplit_once('\n').unwrap_or(("", body));
            match status.trim() {
                "none" => {
                    return TaskResult::failed(format!(
                        "{error_msg} (the host has neither curl nor wget to fetch it)"
                    ));
                }
                "200" => key = content.to_string(),
                _ => return TaskResult::failed(error_msg),
            }
        }
        if key_arg.starts_with("file") {
            let kp = file_url_path(&key_arg);
            match section(&parts, "keyfile_state").map(str::trim) {
                Some("ok") => key = section_raw(&parts, "keyfile").unwrap_or("").to_string(),
                Some("dir") => {
                    return TaskResult::failed(format!(
                        "Path to a key is a directory and must be a file: {kp}"
                    ));
                }
                Some("unreadable") => {
                    return TaskResult::failed(format!(
                        "Failed to read key file {kp} : permission denied"
                    ));
                }
                _ => return TaskResult::failed(format!("Path to a key file not found: {kp}")),
            }
        }
        let passwd = section(&parts, "passwd")
            .and_then(|t| t.lines().next())
            .and_then(super::accountdb::parse_passwd);
        if need_user && passwd.is_none() {
            if cx.check_mode && path.is_none() {
                return TaskResult::failed(
                    "Either user must exist or you must provide full path to key file in check mode",
                );
            }
            return TaskResult::failed(format!(
                "Failed to lookup user {user}: \"getpwnam(): name not found: '{user}'\""
            ));
        }
        let keyfile = section(&parts, "path")
            .unwrap_or("")
            .trim_end_matches('\n')
            .to_string();
        let file_state = section(&parts, "state").unwrap_or("");
        if file_state.lines().next() == Some("denied") {
            return TaskResult::failed(format!(
                "Permission denied on file or path for authorized keys file: {keyfile}"
            ));
        }
        if file_state.lines().next() == Some("dir") {
            return TaskResult::failed(format!("[Errno 21] Is a directory: '{keyfile}'"));
        }
        let existing = section_raw(&parts, "content").unwrap_or("").to_string();

        let (new_content, write) = match enforce(
            &existing,
            &key,
            present,
            args.str("key_options").as_deref(),
            args.str("comment").as_deref(),
            args.bool("exclusive"),
        ) {
            Ok(v) => v,
            Err(e) => return TaskResult::failed(e),
        };

        let mut r = TaskResult::changed(write);
        for k in [
            "user",
            "key",
            "path",
            "manage_dir",
            "state",
            "key_options",
            "exclusive",
            "comment",
            "validate_certs",
            "follow",
        ] {
            r = r.with(
                k,
                args.0.get(&Value::str(k)).cloned().unwrap_or(Value::Null),
            );
        }
        r = r.with("keyfile", Value::str(&keyfile));
        if !write {
            return r;
        }
        if cx.diff_mode {
            r.diff.push(Diff {
                before_header: keyfile.clone(),
                after_header: keyfile.clone(),
                before: existing.clone(),
                after: new_content.clone(),
            });
        }
        if cx.check_mode {
            return r;
        }
        let Some(pw) = passwd else {
            return TaskResult::failed(format!("Failed to lookup user {user}"));
        };
        let owner = quote(&format!("{}:{}", pw.uid, pw.gid));
        // The directory (with manage_dir) and an empty file first, then the content.
        let sshdir = match &path {
            Some(p) => parent_dir(p),
            None => format!("{}/.ssh", pw.home.trim_end_matches('/')),
        };
        let h = if follow { "" } else { "-h " };
        let mut prep = String::from("set -e; ");
        if manage_dir {
            let d = quote(&sshdir);
            prep.push_str(&format!(
                "if [ ! -e {d} ]; then mkdir -m 0700 {d} || exit 3; fi; chown {h}{owner} {d}; chmod 0700 {d}; ",
            ));
        }
        let q = quote(&keyfile);
        prep.push_str(&format!(
            "if [ ! -e {q} ]; then mkdir -p {base}; (umask 077; : > {q}); fi; chown {h}{owner} {q} 2>/dev/null || true; \
             chmod 0600 {q} 2>/dev/null || true",
            base = quote(&parent_dir(&keyfile)),
        ));
        let out = try_conn!(cx.sh(prep).await);
        if out.rc == 3 {
            return TaskResult::failed(format!(
                "Failed to create directory {sshdir} : {}",
                out.stderr_text().trim()
            ));
        }
        if out.rc != 0 {
            return TaskResult::failed(out.stderr_text().trim().to_string());
        }
        let opts = PutOptions {
            on_temp: vec![
                format!("chown {owner} \"$t\""),
                "chmod 0600 \"$t\"".to_string(),
            ],
            ..PutOptions::default()
        };
        let out = try_conn!(
            cx.put(Input::Bytes(new_content.into_bytes()), &keyfile, &opts)
                .await
        );
        if out.rc != 0 {
            return TaskResult::failed(format!(
                "could not write `{keyfile}`: {}",
                out.stderr_text().trim()
            ));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne one@x";
    const K2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQTwo";

    #[test]
    fn added_after_existing_and_idempotent() {
        let existing = "# keep me\nssh-rsa AAAAold old@x\n";
        let (after, write) = enforce(existing, K1, true, None, None, false).unwrap();
        assert!(write);
        assert_eq!(after, format!("{existing}{K1}\n"));
        let (again, write) = enforce(&after, K1, true, None, None, false).unwrap();
        assert!(!write);
        assert_eq!(again, after);
    }

    #[test]
    fn options_comment_and_exclusive() {
        let (after, _) = enforce(
            "",
            K2,
            true,
            Some("no-port-forwarding,from=\"10.0.1.1,10.0.1.2\""),
            None,
            false,
        )
        .unwrap();
        // No comment: Ansible writes the trailing space.
        assert_eq!(
            after,
            "no-port-forwarding,from=\"10.0.1.1,10.0.1.2\" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQTwo \n"
        );
        let (after, write) = enforce(
            &after,
            K2,
            true,
            Some("from=\"10.0.1.1,10.0.1.2\",no-port-forwarding"),
            None,
            false,
        )
        .unwrap();
        assert!(!write, "option order does not matter: {after}");
        let both = format!("{K1}\n{K2}\n# note\n");
        let (after, write) = enforce(&both, K2, true, None, Some("mine"), true).unwrap();
        assert!(write);
        assert_eq!(after, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQTwo mine\n");
        let (after, write) = enforce(&both, K1, false, None, None, false).unwrap();
        assert!(write);
        // A key written back without a comment keeps Ansible's trailing space.
        assert_eq!(after, format!("{K2} \n# note\n"));
    }

    #[test]
    fn invalid_keys_and_urls() {
        assert_eq!(
            enforce("", "not a key", true, None, None, false).unwrap_err(),
            "invalid key specified: not a key"
        );
        assert_eq!(file_url_path("file:///home/x/id.pub"), "/home/x/id.pub");
        assert_eq!(file_url_path("file:/tmp/k"), "/tmp/k");
    }
}
