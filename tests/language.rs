//! The playbook language against ansible-core: every case in tests/fixtures/language is a
//! playbook (with its roles, task files, vars files and sometimes an ansible.cfg) that
//! ansible-playbook and kiln run against the same loopback hosts — three aliases of a real
//! OpenSSH sshd, plus one address where nothing listens. Both must print the same report
//! (task banners, host results in each task, `included:` lines, the recap; hosts within a
//! task may report in any order), exit with the same code, and leave the same files.
//!
//! A case directory holds `site.yml` and optionally `runs`: one line of extra arguments per
//! run (default: one run without any), each run compared on its own, in order, against the
//! files the runs leave behind. A `runs` line starting with `free:` compares each host's
//! sequence of events instead of the report text (the free strategy interleaves hosts).

mod common;

use common::sshd::*;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    scratch: Scratch,
    home: Home,
    sshd: Sshd,
    inventory: PathBuf,
}

fn env() -> Env {
    require();
    let scratch = Scratch::new("language");
    let home = Home::new(&scratch.0);
    let sshd = Sshd::start(
        &scratch.0,
        &["127.0.0.71", "127.0.0.72", "127.0.0.73"],
        &[home.public_key.as_str()],
        false,
    );
    home.trust(&sshd);
    let inventory = scratch.0.join("inventory.ini");
    let host = |name: &str, n: u8| {
        format!(
            "{name} ansible_host=127.0.0.{n} ansible_port={} ansible_user={USER}\n",
            sshd.port
        )
    };
    let text = format!(
        "[web]\n{}{}\n[db]\n{}\n[servers:children]\nweb\ndb\n\n[down]\ndown1 ansible_host=127.0.0.1 ansible_port=1 ansible_user={USER}\n\n\
         [all:vars]\nansible_become_password={PASSWORD}\nansible_python_interpreter=/usr/bin/python3\ncolor=blue\n\n[web:vars]\ncolor=green\ntier=front\n",
        host("h1", 71),
        host("h2", 72),
        host("h3", 73)
    );
    std::fs::write(&inventory, text).expect("write inventory");
    Env {
        scratch,
        home,
        sshd,
        inventory,
    }
}

fn run_tool(env: &Env, ansible: bool, case: &Path, out: &Path, args: &[String]) -> Output {
    let mut cmd = if ansible {
        let python = oracle_python();
        let mut c = Command::new(python.with_file_name("ansible-playbook"));
        // OpenSSH finds ~/.ssh through the password database, not $HOME: point it at the
        // test's key and known_hosts.
        let ssh = env.home.ssh();
        c.env("ANSIBLE_NOCOLOR", "1")
            .env(
                "ANSIBLE_SSH_ARGS",
                format!(
                    "-o UserKnownHostsFile={} -o IdentityFile={} -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s",
                    ssh.join("known_hosts").display(),
                    ssh.join("id_ed25519").display()
                ),
            )
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", env.scratch.0.join("cp"))
            .env("ANSIBLE_HOME", env.scratch.0.join("ansible-home"))
            .env("ANSIBLE_LOCAL_TEMP", env.scratch.0.join("ansible-tmp"))
            .env("ANSIBLE_PIPELINING", "True");
        c
    } else {
        let mut c = kiln();
        c.arg("run").env("NO_COLOR", "1");
        c
    };
    cmd.current_dir(case)
        .env("HOME", &env.home.dir)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("ANSIBLE_HOST_KEY_CHECKING")
        .arg("site.yml")
        .arg("-i")
        .arg(&env.inventory)
        .arg("-e")
        .arg(format!("out={}", out.display()))
        .args(args)
        .stdin(std::process::Stdio::null());
    cmd.output().expect("run the playbook")
}

/// The runs of a case: extra arguments per line, and whether to compare events only.
fn runs(case: &Path) -> Vec<(bool, Vec<String>)> {
    let Ok(text) = std::fs::read_to_string(case.join("runs")) else {
        return vec![(false, Vec::new())];
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (events, rest) = match l.strip_prefix("free:") {
                Some(r) => (true, r),
                None => (false, l),
            };
            let words = shell_words(rest.trim());
            (events, words)
        })
        .collect()
}

/// Splits a line into words, honouring single and double quotes.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, ' ') => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Each host's statuses in order (the free strategy prints a task's banner when its first
/// host reaches it, so a result may print under another task's banner).
fn events(text: &str) -> BTreeMap<String, Vec<String>> {
    let status = regex::Regex::new(
        r"^(ok|changed|skipping|fatal|failed): \[([^\]]+)\]( => \(item=[^)]*\))?",
    )
    .expect("regex");
    let mut banner = String::new();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("TASK [")
            || line.starts_with("RUNNING HANDLER [")
            || line.starts_with("PLAY [")
        {
            banner = line.trim_end_matches(['*', ' ']).to_string();
        } else if let Some(c) = status.captures(line) {
            let host = c[2].split(" -> ").next().unwrap_or_default().to_string();
            let play = if banner.starts_with("PLAY [") {
                banner.as_str()
            } else {
                ""
            };
            out.entry(host).or_default().push(format!(
                "{play}{} {}",
                &c[1],
                c.get(3).map_or("", |m| m.as_str())
            ));
        }
    }
    out
}

/// The report with the output directories made one, and the reasons a host is unreachable
/// (OpenSSH's words for Ansible, kiln's own client's for kiln) made one.
fn clean(text: &str, out: &Path) -> String {
    let text = text.replace(&out.display().to_string(), "OUT");
    let reason = regex::Regex::new(
        r#"(Data could not be sent to remote host \\?"[^"\\]*\\?"\. Make sure this host can be reached over ssh: [^"\n]*|cannot connect to [^"\n]*)"#,
    )
    .expect("regex");
    let text = reason.replace_all(&text, "<unreachable>").into_owned();
    // A role's argument validation task is one Ansible inserts: it names no origin there
    // (`<unknown>` and the task's data), kiln names the role's entry. Both are left out.
    let mut out = Vec::new();
    let mut validating = false;
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("[ERROR]: ") {
            validating = line.contains("Validation of arguments failed");
        }
        if validating && line.starts_with("Origin: ") {
            skipping = true;
        }
        if skipping && (line.starts_with("fatal: ") || line.starts_with("failed: ")) {
            skipping = false;
            validating = false;
        }
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n")
}

#[test]
fn playbooks_run_as_ansible_playbook_runs_them() {
    let env = env();
    let cases = case_dirs(&fixtures().join("language"));
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let only = std::env::var("KILN_LANGUAGE_CASE").ok();
    let cases: Vec<PathBuf> = cases
        .into_iter()
        .filter(|c| only.as_deref().is_none_or(|o| c.ends_with(o)))
        .collect();
    let results = parallel(cases, |case| {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let a_out = env.scratch.0.join("ansible").join(&name);
        let k_out = env.scratch.0.join("kiln").join(&name);
        for d in [&a_out, &k_out] {
            std::fs::create_dir_all(d).expect("mkdir");
            Command::new("chmod")
                .arg("1777")
                .arg(d)
                .status()
                .expect("chmod");
        }
        let mut problems = Vec::new();
        for (n, (by_events, args)) in runs(&case).into_iter().enumerate() {
            let a = run_tool(&env, true, &case, &a_out, &args);
            let k = run_tool(&env, false, &case, &k_out, &args);
            let (at, kt) = (clean(&stdout(&a), &a_out), clean(&stdout(&k), &k_out));
            let same = if by_events {
                events(&at) == events(&kt) && recap(&a) == recap(&k)
            } else {
                normalise_report(&at) == normalise_report(&kt)
            };
            if std::env::var_os("KILN_LANGUAGE_DUMP").is_some() {
                let dump = env.scratch.0.join(format!("{name}-{n}"));
                let show = |t: &str| {
                    if by_events {
                        format!("{:#?}\n{}", events(t), normalise_report(t))
                    } else {
                        normalise_report(t)
                    }
                };
                let _ = std::fs::write(dump.with_extension("ansible"), show(&at));
                let _ = std::fs::write(dump.with_extension("kiln"), show(&kt));
            }
            if !same || a.status.code() != k.status.code() {
                problems.push(format!(
                    "run {n} {args:?}: exit {:?} (ansible) vs {:?} (kiln)\n--- ansible-playbook\n{}\n--- kiln\n{}\n--- ansible stderr\n{}\n--- kiln stderr\n{}",
                    a.status.code(),
                    k.status.code(),
                    normalise_report(&at),
                    normalise_report(&kt),
                    stderr(&a),
                    stderr(&k)
                ));
            }
        }
        let (ta, tk) = (tree(&a_out), tree(&k_out));
        if ta != tk {
            problems.push(format!(
                "files differ:\n--- ansible\n{ta:#?}\n--- kiln\n{tk:#?}"
            ));
        }
        (name, problems)
    });
    let failed: Vec<String> = results
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(n, p)| format!("=== {n}\n{}", p.join("\n")))
        .collect();
    drop(env.sshd);
    if std::env::var_os("KILN_LANGUAGE_DUMP").is_some() {
        // Keep the reports for a look: the scratch directory is removed on drop.
        let keep = std::env::temp_dir().join("kiln-language-reports");
        let _ = std::fs::create_dir_all(&keep);
        for e in std::fs::read_dir(&env.scratch.0)
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = e.path();
            if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("ansible" | "kiln")
            ) {
                let _ = std::fs::copy(&p, keep.join(e.file_name()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) differ:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}
