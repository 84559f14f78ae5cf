//! `fetch`: copies a file from the host to the controller, streamed into a temp file beside
//! the destination, checked against the host's SHA-1 and renamed into place. As Ansible, the
//! transfer is skipped when the controller's copy already has the host's checksum.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use sha1::{Digest, Sha1};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

pub struct Fetch;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("src", Kind::Str).required(),
    Opt::new("dest", Kind::Str).required(),
    Opt::new("flat", Kind::Bool).default("false"),
    Opt::new("fail_on_missing", Kind::Bool).default("true"),
    Opt::new("validate_checksum", Kind::Bool).default("true"),
]);

/// The host's view of `src`: a kind line, then the SHA-1 of a readable regular file
/// (following symlinks, as fetch does).
fn probe_script(src: &str) -> String {
    let q = quote::quote(src);
    format!(
        "if [ -d {q} ]; then echo directory; elif [ ! -e {q} ]; then echo missing; \
         elif [ ! -r {q} ]; then echo unreadable; else echo file; \
         {{ sha1sum {q} 2>/dev/null || shasum -a 1 {q} 2>/dev/null || openssl dgst -sha1 -r {q}; }} | cut -c1-40; fi"
    )
}

/// A controller file's digests, read in chunks: `(sha1, md5)`, or `None` when it is absent.
fn local_sums(path: &Path) -> Option<(String, String)> {
    let mut f = std::fs::File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut sha1 = Sha1::new();
    let mut md5 = md5::Context::new();
    let mut buf = vec![0u8; crate::connection::CHUNK];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        sha1.update(&buf[..n]);
        md5.consume(&buf[..n]);
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Some((hex(&sha1.finalize()), format!("{:x}", md5.finalize())))
}

/// A download in progress beside its destination; removed unless renamed into place.
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `normpath` as Python's: `.` and repeated separators dropped, `..` folded lexically.
fn normpath(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[async_trait]
impl Module for Fetch {
    fn name(&self) -> &'static str {
        "fetch"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if cx.check_mode {
            return TaskResult::skipped("check mode not (yet) supported for this module");
        }
        let src = args.str("src").unwrap_or_default();
        let dest_arg = args.str("dest").unwrap_or_default();
        let fail_on_missing = args.bool("fail_on_missing");
        let base = cx
            .vars
            .get(&Value::str("playbook_dir"))
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .unwrap_or_default();
        let out = try_conn!(cx.sh(probe_script(&src)).await);
        let text = out.stdout_text();
        let mut lines = text.lines();
        let kind = lines.next().unwrap_or("");
        let remote_sum = lines.next().unwrap_or("").trim().to_string();
        let refuse = |msg: &str| {
            let r = TaskResult::changed(false).with("file", Value::str(src.clone()));
            if fail_on_missing {
                TaskResult {
                    failed: true,
                    ..r.msg(msg)
                }
            } else {
                r.msg(format!("{msg}, not transferring, ignored"))
            }
        };
        match kind {
            "file" => {}
            "directory" => {
                return refuse("remote file is a directory, fetch cannot work on directories");
            }
            "missing" => return refuse("the remote file does not exist"),
            "unreadable" => return refuse("the remote file is not readable"),
            _ => {
                return TaskResult::failed(format!(
                    "could not examine {src} on the host: {}",
                    out.stderr_text().trim()
                ));
            }
        }
        let dest = if args.bool("flat") {
            let mut d = dest_arg.clone();
            if Path::new(&d).is_dir() && !d.ends_with('/') {
                return TaskResult::failed(
                    "dest is an existing directory, use a trailing slash if you want to fetch src into that directory",
                );
            }
            if d.ends_with('/') {
                let name = Path::new(&src)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                d.push_str(&name);
            }
            if d.starts_with('/') {
                normpath(&d)
            } else {
                normpath(&base.join(d).display().to_string())
            }
        } else {
            let root = if dest_arg.starts_with('/') {
                PathBuf::from(&dest_arg)
            } else {
                base.join(&dest_arg)
            };
            normpath(&format!("{}/{}/{}", root.display(), cx.host, src))
        };
        let dest_text = dest.display().to_string();
        if let Some((sum, md5)) = local_sums(&dest)
            && sum == remote_sum
        {
            return TaskResult::changed(false)
                .with("md5sum", Value::str(md5))
                .with("file", Value::str(src))
                .with("dest", Value::str(dest_text))
                .with("checksum", Value::str(sum));
        }
        let Some(dir) = dest.parent() else {
            return TaskResult::failed(format!("invalid dest {dest_text}"));
        };
        if let Err(e) = std::fs::create_dir_all(dir) {
            return TaskResult::failed(format!("could not create {}: {e}", dir.display()));
        }
        let temp = Partial(dir.join(format!(
            ".kiln.{}.{}.{}",
            std::process::id(),
            cx.host,
            dest.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        )));
        let got = try_conn!(cx.download(&src, &temp.0).await);
        if got.rc != 0 {
            return TaskResult::failed(format!(
                "could not read {src}: {}",
                got.stderr_text().trim()
            ));
        }
        let (new_sum, new_md5) = local_sums(&temp.0).unwrap_or_default();
        if args.bool("validate_checksum") && new_sum != remote_sum {
            return TaskResult::failed("checksum mismatch")
                .with("md5sum", Value::str(new_md5))
                .with("file", Value::str(src))
                .with("dest", Value::str(dest_text))
                .with("remote_md5sum", Value::Null)
                .with("checksum", Value::str(new_sum))
                .with("remote_checksum", Value::str(remote_sum));
        }
        if let Err(e) = std::fs::rename(&temp.0, &dest) {
            return TaskResult::failed(format!("could not write {dest_text}: {e}"));
        }
        TaskResult::changed(true)
            .with("md5sum", Value::str(new_md5))
            .with("dest", Value::str(dest_text))
            .with("remote_md5sum", Value::Null)
            .with("checksum", Value::str(new_sum))
            .with("remote_checksum", Value::str(remote_sum))
    }
}
