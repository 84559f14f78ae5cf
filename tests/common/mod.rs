//! Shared by the integration tests: where the repository, the `kiln` binary and the
//! ansible-core oracle are, and running commands in parallel on two cores.
#![allow(dead_code)]

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
