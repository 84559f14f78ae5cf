//! `kiln run`'s options against `ansible-playbook`'s: tags, skip-tags, extra vars in all three
//! forms, start-at-task, limit, the listing options, and failures. Both run the same
//! playbooks on local hosts; their standard output must be the same text, apart from the
//! order in which concurrent hosts report within one task (Ansible prints them as they
//! finish) and the timings a command result carries. Exit codes must be equal.

mod common;

use common::*;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    fixtures().join("run")
}

/// Each case: playbook, then arguments (after `-i cli_inventory.ini`).
const CASES: &[(&str, &[&str])] = &[
    ("cli.yml", &[]),
    ("cli.yml", &["-t", "web"]),
    ("cli.yml", &["--tags", "db,web"]),
    ("cli.yml", &["--skip-tags", "web,always"]),
    ("cli.yml", &["-t", "debug"]),
    ("cli.yml", &["-t", "second"]),
    ("cli.yml", &["-t", "untagged"]),
    ("cli.yml", &["-e", "extra=1"]),
    ("cli.yml", &["-e", "@cli_vars.yml"]),
    ("cli.yml", &["-e", "{\"extra\": [1, 2]}"]),
    ("cli.yml", &["--start-at-task", "Untagged"]),
    ("cli.yml", &["-l", "db"]),
    ("cli.yml", &["--limit", "w*:!w2"]),
    ("cli.yml", &["--list-hosts"]),
    ("cli.yml", &["--list-hosts", "-l", "w1"]),
    ("cli.yml", &["--list-tasks"]),
    ("cli.yml", &["--list-tasks", "-t", "db"]),
    ("cli.yml", &["--list-tasks", "--skip-tags", "always"]),
    ("cli.yml", &["--list-tags"]),
    ("cli.yml", &["--syntax-check"]),
    ("failing.yml", &[]),
    ("meta.yml", &[]),
];

#[test]
fn options_behave_as_ansible_playbook() {
    let python = oracle_python();
    let results = parallel(CASES.to_vec(), |(playbook, args)| {
        let ansible = oracle_bin("ansible-playbook")
            .current_dir(fixture())
            .args(["-i", "cli_inventory.ini", playbook])
            .args(args)
            .env("ANSIBLE_PYTHON_INTERPRETER", &python)
            .output()
            .expect("ansible-playbook");
        let kiln = kiln()
            .current_dir(fixture())
            .args(["run", "-i", "cli_inventory.ini", playbook])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("kiln");
        (playbook, args, ansible, kiln)
    });
    let mut failures = Vec::new();
    for (playbook, args, ansible, kiln) in results {
        let (want, got) = (
            normalise_report(&stdout(&ansible)),
            normalise_report(&stdout(&kiln)),
        );
        let codes = (ansible.status.code(), kiln.status.code());
        if want != got || codes.0 != codes.1 {
            failures.push(format!(
                "{playbook} {args:?}: exit {:?} (ansible) vs {:?} (kiln)\n--- ansible-playbook\n{want}\n--- kiln\n{got}\n--- kiln stderr\n{}",
                codes.0,
                codes.1,
                stderr(&kiln)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
