//! Shared by the integration tests: where the repository, the `kiln` binary and the
//! ansible-core oracle are, and running commands in parallel on two cores.
#![allow(dead_code)]

pub mod lab;
pub mod sshd;
pub mod terminal;

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

/// One of ansible-core's commands (`ansible-playbook`, `ansible-vault`, ...) from the
/// oracle's virtualenv, without colour and with a HOME of its own, so nothing of the
/// machine's Ansible setup leaks in. Runs against this machine add
/// `ANSIBLE_PYTHON_INTERPRETER` (see `oracle_python`).
pub fn oracle_bin(name: &str) -> Command {
    let mut cmd = Command::new(oracle_python().with_file_name(name));
    oracle_home(&mut cmd);
    cmd
}

/// No colour and a HOME of the oracle's own: what every ansible-core command here runs with.
fn oracle_home(cmd: &mut Command) -> &mut Command {
    cmd.env("ANSIBLE_NOCOLOR", "1").env(
        "ANSIBLE_HOME",
        std::env::temp_dir().join("kiln-oracle-home"),
    )
}

pub fn oracle(script: &str) -> Command {
    let mut cmd = Command::new(oracle_python());
    cmd.arg(repo().join("tests/oracle").join(script));
    oracle_env(&mut cmd);
    cmd
}

/// The environment the oracle's scripts run in (`oracle`): no colour, a HOME of its own, no
/// localhost warning, a fixed hash seed. Also for commands whose environment must match it.
pub fn oracle_env(cmd: &mut Command) -> &mut Command {
    oracle_home(cmd)
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .env("PYTHONHASHSEED", "0")
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

/// Groups each host's report (its status line and the indented result below it; an error
/// block on its own) and sorts the reports within a task, since hosts finish in any order; sorts `--list-hosts` lists (ansible-playbook prints a Python
/// set there, in no fixed order); blanks out a command's timings.
pub fn normalise_report(text: &str) -> String {
    let time = regex::Regex::new(r#""(delta|start|end)": "[^"]*""#).expect("regex");
    let text = time.replace_all(text, "\"$1\": \"-\"");
    let status = regex::Regex::new(r"^(ok|changed|skipping|fatal|failed): \[").expect("regex");
    // `included: FILE for h1, h2`: the hosts in the order they finished, and one line per
    // file and item; sorted like the reports.
    let included = regex::Regex::new(r"^(included: .* for )([^=]*?)( => .*)?$").expect("regex");
    let sorted_hosts = |line: &str| -> String {
        match included.captures(line) {
            Some(c) => {
                let mut hosts: Vec<&str> = c[2].split(", ").collect();
                hosts.sort();
                format!(
                    "{}{}{}",
                    &c[1],
                    hosts.join(", "),
                    c.get(3).map_or("", |m| m.as_str())
                )
            }
            None => line.to_string(),
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    // An `[ERROR]:` block (message, origin, snippet) belongs to the report after it.
    let mut error: Option<String> = None;
    // Inside a `--list-hosts` listing, after its `hosts (N):` line.
    let mut in_host_list = false;
    // A diff printed before the report it belongs to.
    let mut diff: Option<String> = None;
    for line in text.split('\n') {
        let listed_host = in_host_list
            && line.starts_with("      ")
            && !line.trim().is_empty()
            && !line.contains('\t');
        in_host_list = listed_host || (line.starts_with("    hosts (") && line.ends_with("):"));
        if line.starts_with("--- before") && error.is_none() {
            diff = Some(line.to_string());
        } else if let (Some(d), false) = (&mut diff, status.is_match(line)) {
            d.push('\n');
            d.push_str(line);
        } else if line.starts_with("[ERROR]: ") {
            error = Some(line.to_string());
        } else if line.starts_with("included: ") {
            block.push(sorted_hosts(line));
        } else if status.is_match(line) || listed_host || line.starts_with("FAILED - RETRYING: ") {
            // An error block is printed once for the same error of several hosts, before
            // whichever finished first: it is an entry of its own.
            if let Some(e) = error.take() {
                block.push(e);
            }
            match diff.take() {
                Some(d) => block.push(format!("{d}\n{line}")),
                None => block.push(line.to_string()),
            }
        } else if let Some(e) = &mut error {
            e.push('\n');
            e.push_str(line);
        } else if let (true, Some(last)) = (
            line.starts_with("    ") || line.starts_with('}') || line == "...ignoring",
            block.last_mut(),
        ) {
            last.push('\n');
            last.push_str(line);
        } else {
            block.sort();
            out.append(&mut block);
            out.push(line.to_string());
        }
    }
    block.sort();
    out.append(&mut block);
    out.extend(error);
    out.join("\n")
}
