//! Shared by the integration tests: where the repository, the `kiln` binary and the
//! ansible-core oracle are, and running commands in parallel on two cores.
#![allow(dead_code)]

pub mod lab;
pub mod sshd;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("tests/fixtures")
}

pub fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

/// The Python that has ansible-core installed (made by `tests/setup`). The differential
/// tests cannot mean anything without it, so its absence fails them with the fix.
pub fn oracle_python() -> PathBuf {
    let python = std::env::var_os("KILN_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-oracle/bin/python"));
    assert!(
        python.exists(),
        "the ansible-core oracle is missing at `{}`: run `tests/setup` first (or set KILN_ORACLE_PYTHON)",
        python.display()
    );
    python
}

pub fn oracle(script: &str) -> Command {
    let mut cmd = Command::new(oracle_python());
    cmd.arg(repo().join("tests/oracle").join(script));
    cmd.env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .env(
            "ANSIBLE_HOME",
            std::env::temp_dir().join("kiln-oracle-home"),
        )
        .env("PYTHONHASHSEED", "0");
    cmd
}

/// Runs jobs on a small pool of threads (the machine has two cores) and returns results
/// in the jobs' order.
pub fn parallel<T: Send, R: Send>(jobs: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = 3;
    let jobs: Vec<(usize, T)> = jobs.into_iter().enumerate().collect();
    let queue = std::sync::Mutex::new(jobs);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let job = queue.lock().expect("queue").pop();
                    let Some((i, job)) = job else { break };
                    let r = f(job);
                    results.lock().expect("results").push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Case directories below `dir`, sorted by name.
pub fn case_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The `-i` sources and optional `--playbook-dir` of an inventory case.
pub fn case_args(case: &Path) -> Vec<String> {
    let sources = std::fs::read_to_string(case.join("sources"))
        .unwrap_or_else(|e| panic!("{}/sources: {e}", case.display()));
    let mut args = Vec::new();
    for line in sources.lines().map(str::trim).filter(|l| !l.is_empty()) {
        args.push("-i".to_string());
        args.push(line.to_string());
    }
    if let Ok(dir) = std::fs::read_to_string(case.join("playbook_dir")) {
        args.push("--playbook-dir".to_string());
        args.push(dir.trim().to_string());
    }
    args
}

/// Host → (ok, changed, unreachable, failed, skipped, rescued, ignored) from `PLAY RECAP`.
pub fn recap(out: &Output) -> BTreeMap<String, Vec<u32>> {
    let text = stdout(out);
    let Some((_, tail)) = text.split_once("PLAY RECAP") else {
        panic!("no PLAY RECAP in:\n{text}\n{}", stderr(out));
    };
    tail.lines()
        .filter_map(|l| {
            let (host, counts) = l.split_once(" : ")?;
            let nums = counts
                .split_whitespace()
                .filter_map(|kv| kv.split_once('=').and_then(|(_, v)| v.parse().ok()))
                .collect();
            Some((host.trim().to_string(), nums))
        })
        .collect()
}

/// Every path below `root` with its type, mode and content (links: their target, with the
/// root replaced so two trees compare).
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            let desc = if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p)
                    .expect("readlink")
                    .display()
                    .to_string();
                format!("link -> {}", t.replace(&root.display().to_string(), "ROOT"))
            } else if meta.is_dir() {
                walk(root, &p, out);
                format!("dir {:o}", meta.permissions().mode() & 0o7777)
            } else {
                let content = std::fs::read_to_string(&p).unwrap_or_default();
                format!(
                    "file {:o} uid={} {content:?}",
                    meta.permissions().mode() & 0o7777,
                    meta.uid()
                )
            };
            out.insert(rel, desc);
        }
    }
    walk(root, root, &mut out);
    out
}
