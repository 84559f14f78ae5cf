//! `tempfile`: a new file (0600) or directory (0700) with a random name, as Python's
//! `mkstemp`/`mkdtemp` make them (prefix, 8 characters of `[a-z0-9_]`, suffix) in `path` or
//! the host's temp directory. The name is drawn on the controller and created exclusively by
//! the host's shell (noclobber, `mkdir`), retried on a clash. Like Ansible's module it does
//! not run in check mode.

use super::filecommon;
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::template::filters::path::normpath;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct TempFile;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("state", Kind::Str)
            .default("file")
            .choices(&["file", "directory"]),
        Opt::new("path", Kind::Path),
        Opt::new("prefix", Kind::Str).default("ansible."),
        Opt::new("suffix", Kind::Str).default(""),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// Eight characters from Python's `_RandomNameSequence` alphabet.
fn random_name() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
    let mut seed = u64::from_str_radix(&crate::connection::random_tag(), 16).unwrap_or(0x9e37);
    (0..8)
        .map(|_| {
            // xorshift: enough to spread one random seed over eight picks.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            CHARS[(seed % CHARS.len() as u64) as usize] as char
        })
        .collect()
}

/// Python's `os.path.basename`.
fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

#[async_trait]
impl Module for TempFile {
    fn name(&self) -> &'static str {
        "tempfile"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if cx.check_mode {
            return TaskResult::skipped("remote module (tempfile) does not support check mode");
        }
        let prefix = args.str("prefix").unwrap_or_default();
        let suffix = args.str("suffix").unwrap_or_default();
        for (what, v) in [("prefix", &prefix), ("suffix", &suffix)] {
            if !v.is_empty() && v != basename(v) {
                return TaskResult::failed(format!(
                    "{what} must be a valid file name component, got {}",
                    crate::yaml::python_str_repr(v)
                ));
            }
        }
        let dir = match args.str("path") {
            Some(p) => format!("d={}", quote::quote(&p)),
            None => "d=${TMPDIR:-${TEMP:-${TMP:-/tmp}}}".to_string(),
        };
        let make = if args.str("state").as_deref() == Some("directory") {
            "mkdir -m 0700 \"$p\" 2>/dev/null"
        } else {
            "(umask 077; set -C; : > \"$p\") 2>/dev/null"
        };
        // Python tries 10000 names; a clash among 37^8 is rare enough that a hundred do.
        let names: Vec<String> = (0..100)
            .map(|_| quote::quote(&format!("{prefix}{}{suffix}", random_name())))
            .collect();
        let script = format!(
            "{dir}; case $d in /*) ;; *) d=$PWD/$d ;; esac; \
             if [ ! -d \"$d\" ]; then echo \"__kiln_nodir__\"; exit 2; fi; \
             for n in {}; do p=$d/$n; if {make}; then printf '%s\\n' \"$p\"; {}; exit 0; fi; \
             [ -e \"$p\" ] || {{ echo __kiln_denied__; exit 13; }}; done; exit 17",
            names.join(" "),
            filecommon::path_info_script("$p").replace("'$p'", "\"$p\"")
        );
        let out = try_conn!(cx.sh(script).await);
        let text = out.stdout_text();
        match out.rc {
            0 => {}
            2 => {
                return TaskResult::failed(
                    "[Errno 2] No such file or directory: the temporary directory does not exist",
                );
            }
            13 => return TaskResult::failed("[Errno 13] Permission denied"),
            _ => {
                return TaskResult::failed(format!(
                    "No usable temporary file name found: {}",
                    out.stderr_text().trim()
                ));
            }
        }
        let mut lines = text.lines();
        let path = normpath(lines.next().unwrap_or_default());
        let mut r = TaskResult::changed(true);
        filecommon::add_path_info(&mut r, lines.next().unwrap_or("absent"));
        r.data.insert(Value::str("path"), Value::str(path));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_python() {
        let n = random_name();
        assert_eq!(n.len(), 8);
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        assert_ne!(random_name(), random_name());
    }
}
