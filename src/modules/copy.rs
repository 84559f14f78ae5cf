//! `copy`: put content (inline or from a controller file found in `files/`) at a path on the
//! host. The transfer is skipped when the host's file already has the same checksum; writes
//! are atomic (temp file beside the destination, then `mv`).

use super::fileattrs::{
    PathKind, PathState, attr_changes, mode_str, parse_stat, resolve_mode, stat_script,
};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::{BACKUP_MARKER, Input, PutOptions, VALIDATE_MARKER, quote};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

pub struct Copy;

/// Options every file-writing module shares (`copy`, `template`).
pub const FILE_COMMON: [Opt; 7] = [
    Opt::new("dest", Kind::Path).required(),
    Opt::new("mode", Kind::Mode),
    Opt::new("owner", Kind::Str),
    Opt::new("group", Kind::Str),
    Opt::new("backup", Kind::Bool).default("false"),
    Opt::new("force", Kind::Bool)
        .default("true")
        .aliases(&["thirsty"]),
    Opt::new("validate", Kind::Str),
];

static SPEC: ArgSpec = ArgSpec {
    options: &[
        FILE_COMMON[0],
        FILE_COMMON[1],
        FILE_COMMON[2],
        FILE_COMMON[3],
        FILE_COMMON[4],
        FILE_COMMON[5],
        FILE_COMMON[6],
        Opt::new("src", Kind::Path),
        Opt::new("content", Kind::Raw),
        Opt::new("remote_src", Kind::Bool).default("false"),
        Opt::new("directory_mode", Kind::Mode),
        Opt::new("follow", Kind::Bool).default("false"),
        Opt::new("local_follow", Kind::Bool).default("true"),
        Opt::new("decrypt", Kind::Bool).default("true"),
        Opt::new("unsafe_writes", Kind::Bool).default("false"),
        Opt::new("checksum", Kind::Str),
    ],
    mutually_exclusive: &[&["content", "src"]],
    required_one_of: &[&["content", "src"]],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Copy {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let dest = args.str("dest").unwrap_or_default();
        if args.bool("remote_src") {
            return TaskResult::failed("`remote_src: true` is not supported by kiln yet");
        }
        if let Some(content) = args.get("content") {
            let bytes = match content {
                Value::Str(s) | Value::Unsafe(s) => s.clone().into_bytes(),
                // Ansible writes non-string content as JSON.
                other => crate::output::json::to_string(other, None).into_bytes(),
            };
            return write_content(
                cx,
                &args,
                Source::Bytes(bytes),
                &dest,
                None,
                DiffAfter::Dest,
            )
            .await;
        }
        let src = args.str("src").unwrap_or_default();
        let Some(path) = cx.search.find("files", &src) else {
            return TaskResult::failed(format!(
                "could not find or access `{src}` in files/ or the playbook directory"
            ));
        };
        if path.is_dir() {
            return copy_dir(cx, &args, &path, &src, &dest).await;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let source = match Source::controller_file(&path, args.bool("decrypt")) {
            Ok(s) => s,
            Err(e) => return TaskResult::failed(e),
        };
        let mut r = write_content(
            cx,
            &args,
            source,
            &dest,
            name.as_deref(),
            DiffAfter::File(&path),
        )
        .await;
        r.data
            .insert(Value::str("src"), Value::str(path.display().to_string()));
        r
    }
}

/// Copies a controller directory: with a trailing `/` its contents, otherwise the directory
/// itself, into `dest`.
async fn copy_dir(cx: &TaskCx<'_>, args: &Args, dir: &Path, src: &str, dest: &str) -> TaskResult {
    let base = if src.ends_with('/') {
        PathBuf::from(dest)
    } else {
        Path::new(dest).join(dir.file_name().unwrap_or_default())
    };
    let mut files = Vec::new();
    walk(dir, Path::new(""), &mut files);
    let mut changed = false;
    for rel in files {
        let target = base.join(&rel);
        let parent = target
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !cx.check_mode {
            let dmode = args
                .get("directory_mode")
                .and_then(|m| resolve_mode(m, 0o755, true).ok());
            let mkdir = match dmode {
                Some(m) => format!("mkdir -p -m {m:04o} {}", quote::quote(&parent)),
                None => format!("mkdir -p {}", quote::quote(&parent)),
            };
            try_conn!(cx.sh(mkdir).await);
        }
        let file = dir.join(&rel);
        let source = match Source::controller_file(&file, args.bool("decrypt")) {
            Ok(s) => s,
            Err(e) => return TaskResult::failed(e),
        };
        let r = write_content(
            cx,
            args,
            source,
            &target.display().to_string(),
            None,
            DiffAfter::File(&file),
        )
        .await;
        if r.failed || r.unreachable {
            return r;
        }
        changed |= r.changed;
    }
    TaskResult::changed(changed).with("dest", Value::str(dest.to_string()))
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        let r = rel.join(&n);
        if root.join(&r).is_dir() {
            walk(root, &r, out);
        } else {
            out.push(r);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Content larger than this is not shown in diffs (Ansible's limit is similar in spirit).
const DIFF_MAX: u64 = 1_048_576;

/// New content for a file: made on the controller (`content`, templates) or a controller
/// file, which is read in chunks and streamed, never loaded whole.
pub enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// What is known of a source before writing: its size and checksums.
#[derive(Clone, Debug, PartialEq)]
struct Summary {
    size: u64,
    /// SHA-1, which Ansible reports as `checksum`.
    sha1: String,
    /// SHA-256, compared with the host's file to skip a transfer.
    sha256: String,
}

impl Source {
    /// A controller file to send. With `decrypt` (copy's default), a vault-encrypted file
    /// is decrypted in memory and its plaintext sent: it is never written to the
    /// controller's disk (Ansible writes it to a temporary file).
    pub fn controller_file(path: &Path, decrypt: bool) -> Result<Source, String> {
        use std::io::Read;
        let mut head = [0u8; 14];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| format!("could not read `{}`: {e}", path.display()))?;
        if !decrypt || !crate::vault::is_encrypted(&head[..n]) {
            return Ok(Source::File(path.to_path_buf()));
        }
        let data =
            std::fs::read(path).map_err(|e| format!("could not read `{}`: {e}", path.display()))?;
        crate::vault::decrypt_if_encrypted(data)
            .map(Source::Bytes)
            .map_err(|e| format!("Task failed: {e}"))
    }

    fn summarize(&self) -> std::io::Result<Summary> {
        match self {
            Source::Bytes(b) => {
                let mut sha1 = Sha1::new();
                let mut sha256 = sha2::Sha256::new();
                sha1.update(b);
                sha256.update(b);
                Ok(Summary {
                    size: b.len() as u64,
                    sha1: hex(&sha1.finalize()),
                    sha256: hex(&sha256.finalize()),
                })
            }
            Source::File(path) => summarize_file(path),
        }
    }

    /// The content as text for a diff, when it is small enough to show.
    fn diff_text(&self, size: u64) -> Option<String> {
        if size > DIFF_MAX {
            return None;
        }
        match self {
            Source::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Source::File(p) => std::fs::read(p)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
        }
    }

    fn into_input(self) -> Input {
        match self {
            Source::Bytes(b) => Input::Bytes(b),
            Source::File(p) => Input::File(p),
        }
    }
}

/// A controller file as it was summarized: the summary holds while the file's identity, size
/// and modification time are the same.
type FileStamp = (PathBuf, u64, u64, u64, std::time::SystemTime);

/// Summaries of controller files, made once per run: a file copied to many hosts is read and
/// hashed once, not once per host (the profile of a 100 MB copy to 5 hosts showed kiln
/// spending a quarter of its CPU hashing the same file again for every host). Hosts asking at
/// the same time wait for the one computing it. A read error is handed to those waiting, then
/// forgotten, so a later task reads the file again.
type SummaryCell = Arc<OnceLock<Result<Summary, (std::io::ErrorKind, String)>>>;
static FILE_SUMMARIES: LazyLock<Mutex<HashMap<FileStamp, SummaryCell>>> =
    LazyLock::new(Default::default);

fn summarize_file(path: &Path) -> std::io::Result<Summary> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    let stamp = (
        path.to_path_buf(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.modified()?,
    );
    let cell: SummaryCell = match FILE_SUMMARIES.lock() {
        Ok(mut m) => m.entry(stamp).or_default().clone(),
        Err(_) => Arc::default(),
    };
    let summary = cell.get_or_init(|| {
        let mut sha1 = Sha1::new();
        let mut sha256 = sha2::Sha256::new();
        let mut buf = vec![0u8; crate::connection::CHUNK];
        let mut size = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    sha1.update(&buf[..n]);
                    sha256.update(&buf[..n]);
                    size += n as u64;
                }
                Err(e) => return Err((e.kind(), e.to_string())),
            }
        }
        Ok(Summary {
            size,
            sha1: hex(&sha1.finalize()),
            sha256: hex(&sha256.finalize()),
        })
    });
    match summary {
        Ok(s) => Ok(s.clone()),
        Err((kind, msg)) => {
            if let Ok(mut m) = FILE_SUMMARIES.lock() {
                m.retain(|_, c| !Arc::ptr_eq(c, &cell));
            }
            Err(std::io::Error::new(*kind, msg.clone()))
        }
    }
}

/// The host's SHA-256 of `"$p"` (empty when it is no regular file or no tool computes it):
/// GNU and busybox `sha256sum`, then BSD and macOS tools.
const REMOTE_SHA256: &str = "if [ -f \"$p\" ]; then { sha256sum \"$p\" 2>/dev/null || shasum -a 256 \"$p\" 2>/dev/null ||      openssl dgst -sha256 -r \"$p\" 2>/dev/null || echo; }; else echo; fi";

/// What a diff names as the new content, as Ansible's actions do: the destination for
/// `content`, the controller file for `src`, "dynamically generated" for a template.
#[derive(Clone, Copy)]
pub enum DiffAfter<'a> {
    Dest,
    File(&'a Path),
    Generated,
}

/// The shared write path of `copy` and `template`: compare, then write atomically with the
/// requested attributes, honouring force, backup, validate, check and diff mode.
pub async fn write_content(
    cx: &TaskCx<'_>,
    args: &Args,
    content: Source,
    dest: &str,
    src_name: Option<&str>,
    after: DiffAfter<'_>,
) -> TaskResult {
    let summary = match content.summarize() {
        Ok(s) => s,
        Err(e) => return TaskResult::failed(format!("could not read the source: {e}")),
    };
    let qd = quote::quote(dest);
    // One round trip: is dest a directory, the state of the real target, and its checksum.
    let target_expr = match src_name {
        Some(name) => format!(
            "if [ -d {qd} ]; then p={qd}/{}; else p={qd}; fi",
            quote::quote(name)
        ),
        None => format!("p={qd}"),
    };
    // The parent of the real target is dest itself when dest is a directory, else dest's
    // parent.
    let parent = crate::connection::parent_dir(dest);
    let query = format!(
        "{target_expr}; echo \"$p\"; {}; {REMOTE_SHA256}; \
         {{ [ -d {qd} ] || [ -d {} ]; }} && echo parent || echo noparent",
        stat_script("$p").replace("'$p'", "\"$p\""),
        quote::quote(&parent)
    );
    let out = try_conn!(cx.sh(query).await);
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    let target = lines.first().copied().unwrap_or(dest).to_string();
    let state = parse_stat(&format!(
        "{}\n{}",
        lines.get(1).unwrap_or(&"absent"),
        lines.get(2).unwrap_or(&"")
    ));
    // The checksum tools print "<hex> <name>": the hex is the first word (GNU's tools put a
    // backslash before it when the name has one).
    let remote_sum = lines
        .get(3)
        .and_then(|l| l.split_whitespace().next())
        .map(|w| w.trim_start_matches('\\'))
        .unwrap_or("")
        .to_string();
    let has_parent = lines.get(4).copied() == Some("parent");
    if state.kind == PathKind::Directory {
        return TaskResult::failed(format!(
            "`{target}` is a directory; give a file path or a source file name"
        ));
    }
    // In check mode Ansible's copy and template actions report a change for any content
    // that differs without asking the module, so a directory an earlier task would have
    // created is not an error there.
    if !has_parent && !cx.check_mode {
        return TaskResult::failed(format!(
            "Destination directory {} does not exist",
            parent_of(&target)
        ));
    }
    let exists = state.kind != PathKind::Absent;
    // A missing file is always written; an existing one only when it differs and `force`.
    let content_changes = !exists || (remote_sum != summary.sha256 && args.bool("force"));
    let owner = args.str("owner");
    let group = args.str("group");
    let mode = args.get("mode").filter(|m| m.as_str() != Some("preserve"));
    let mut result = TaskResult::changed(false);
    let final_mode;
    if content_changes {
        let base_mode = if exists { state.mode } else { 0o644 };
        let mut on_temp = Vec::new();
        if let Some(m) = mode {
            match resolve_mode(m, base_mode, false) {
                Ok(mv) => {
                    on_temp.push(format!("chmod {mv:04o} \"$t\""));
                    final_mode = mv;
                }
                Err(e) => return TaskResult::failed(e),
            }
        } else {
            final_mode = base_mode;
        }
        if let Some(o) = &owner {
            on_temp.push(format!("chown {} \"$t\"", quote::quote(o)));
        }
        if let Some(g) = &group {
            on_temp.push(format!("chgrp {} \"$t\"", quote::quote(g)));
        }
        if cx.diff_mode {
            let before = if exists && state.size < 1_048_576 {
                try_conn!(cx.sh(format!("cat {}", quote::quote(&target))).await).stdout_text()
            } else {
                String::new()
            };
            result.diff.push(Diff {
                // A new file has no "before" name.
                before_header: if exists {
                    target.clone()
                } else {
                    String::new()
                },
                after_header: match after {
                    DiffAfter::Dest => target.clone(),
                    DiffAfter::File(p) => p.display().to_string(),
                    DiffAfter::Generated => "dynamically generated".to_string(),
                },
                before,
                after: content.diff_text(summary.size).unwrap_or_default(),
            });
        }
        if !cx.check_mode {
            let opts = PutOptions {
                validate: args.str("validate"),
                on_temp,
                backup: args.bool("backup"),
            };
            let out = try_conn!(cx.put(content.into_input(), &target, &opts).await);
            let stdout = out.stdout_text();
            if stdout.contains(VALIDATE_MARKER) {
                return TaskResult::failed(format!(
                    "failed to validate: {}",
                    out.stderr_text().trim()
                ))
                .with("exit_status", Value::Int(out.rc as i128));
            }
            if out.rc != 0 {
                return TaskResult::failed(format!(
                    "could not write `{target}`: {}",
                    out.stderr_text().trim()
                ));
            }
            if let Some(b) = stdout.lines().find_map(|l| l.strip_prefix(BACKUP_MARKER)) {
                result
                    .data
                    .insert(Value::str("backup_file"), Value::str(b.to_string()));
            }
        }
        result.changed = true;
    } else {
        let (cmds, _) = match attr_changes(
            &target,
            &state,
            mode,
            owner.as_deref(),
            group.as_deref(),
            true,
        ) {
            Ok(c) => c,
            Err(e) => return TaskResult::failed(e),
        };
        final_mode = match mode {
            Some(m) => resolve_mode(m, state.mode, false).unwrap_or(state.mode),
            None => state.mode,
        };
        if !cmds.is_empty() {
            if !cx.check_mode {
                let out = try_conn!(cx.sh(cmds.join(" && ")).await);
                if out.rc != 0 {
                    return TaskResult::failed(out.stderr_text().trim().to_string());
                }
            }
            result.changed = true;
        }
    }
    finish(
        result,
        &target,
        &state,
        &summary.sha1,
        summary.size,
        final_mode,
        owner,
        group,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    mut r: TaskResult,
    target: &str,
    state: &PathState,
    sum: &str,
    size: u64,
    mode: u32,
    owner: Option<String>,
    group: Option<String>,
) -> TaskResult {
    r.data
        .insert(Value::str("dest"), Value::str(target.to_string()));
    r.data
        .insert(Value::str("checksum"), Value::str(sum.to_string()));
    r.data.insert(Value::str("size"), Value::Int(size as i128));
    r.data
        .insert(Value::str("mode"), Value::str(mode_str(mode)));
    r.data.insert(Value::str("state"), Value::str("file"));
    r.data.insert(
        Value::str("owner"),
        Value::str(owner.unwrap_or_else(|| state.owner.clone())),
    );
    r.data.insert(
        Value::str("group"),
        Value::str(group.unwrap_or_else(|| state.group.clone())),
    );
    r
}

fn parent_of(p: &str) -> String {
    Path::new(p)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_summary_is_reused_until_the_file_changes() {
        let dir = std::env::temp_dir().join(format!("kiln-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"one\n").unwrap();
        let bytes = Source::Bytes(b"one\n".to_vec()).summarize().unwrap();
        let first = Source::File(path.clone()).summarize().unwrap();
        assert_eq!(first, bytes);
        assert_eq!(Source::File(path.clone()).summarize().unwrap(), first);
        // Same size, new content: the changed mtime (or inode, through the rename) makes a
        // new summary.
        let tmp = dir.join("g");
        std::fs::write(&tmp, b"two\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let second = Source::File(path.clone()).summarize().unwrap();
        assert_eq!(
            second,
            Source::Bytes(b"two\n".to_vec()).summarize().unwrap()
        );
        assert_ne!(second, first);
        std::fs::remove_file(&path).unwrap();
        assert!(Source::File(path).summarize().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
