//! The playbook-run acceptance: tests/fixtures/run/site.yml (every core module) on three
//! hosts with the local connection. kiln and `ansible-playbook` must leave identical files
//! and identical recaps; kiln's second run changes nothing; `-C` on a fresh tree changes
//! nothing and predicts the first run's changes; `-D` shows the changes.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture() -> PathBuf {
    fixtures().join("run")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn kiln_run(root: &Path, extra: &[&str]) -> Output {
    kiln()
        .arg("run")
        .arg(fixture().join("site.yml"))
        .arg("-i")
        .arg(fixture().join("inventory.ini"))
        .arg("-e")
        .arg(format!("root={}", root.display()))
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run kiln")
}

fn ansible_run(root: &Path) -> Output {
    let python = oracle_python();
    oracle_bin("ansible-playbook")
        .arg(fixture().join("site.yml"))
        .arg("-i")
        .arg(fixture().join("inventory.ini"))
        .arg("-e")
        .arg(format!("root={}", root.display()))
        .env("ANSIBLE_PYTHON_INTERPRETER", &python)
        .output()
        .expect("run ansible-playbook")
}

#[test]
fn same_files_and_recap_as_ansible() {
    let a = scratch("ansible");
    let k = scratch("kiln");
    let ao = ansible_run(&a);
    let ko = kiln_run(&k, &[]);
    assert!(
        ao.status.success(),
        "ansible-playbook failed:\n{}\n{}",
        stdout(&ao),
        stderr(&ao)
    );
    assert!(
        ko.status.success(),
        "kiln failed:\n{}\n{}",
        stdout(&ko),
        stderr(&ko)
    );
    assert_eq!(
        recap(&ko),
        recap(&ao),
        "recaps differ\n--- kiln\n{}",
        stdout(&ko)
    );
    let (ta, tk) = (tree(&a), tree(&k));
    assert!(!tk.is_empty());
    assert_eq!(tk, ta, "kiln left different files than ansible-playbook");
    // Spot checks that do not depend on the oracle.
    let conf = std::fs::read_to_string(k.join("h1/app.conf")).expect("app.conf");
    assert_eq!(conf, "port=9090\nname=h1\ntier=front\ndebug=false\n");
    assert!(k.join("h3/db.flag").exists() && !k.join("h1/db.flag").exists());
    assert_eq!(
        std::fs::read_to_string(k.join("h2/handler.txt")).expect("handler ran"),
        "handler ran\n"
    );
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&k);
}

#[test]
fn second_run_changes_nothing() {
    let k = scratch("idem");
    let first = kiln_run(&k, &[]);
    assert!(
        first.status.success(),
        "{}\n{}",
        stdout(&first),
        stderr(&first)
    );
    let before = tree(&k);
    let second = kiln_run(&k, &[]);
    assert!(second.status.success(), "{}", stdout(&second));
    for (host, counts) in recap(&second) {
        assert_eq!(
            counts[1],
            0,
            "{host} changed on the second run:\n{}",
            stdout(&second)
        );
    }
    assert_eq!(tree(&k), before);
    let _ = std::fs::remove_dir_all(&k);
}

#[test]
fn check_mode_predicts_the_first_run_and_changes_nothing() {
    let c = scratch("check");
    let checked = kiln_run(&c, &["-C"]);
    assert!(
        checked.status.success(),
        "{}\n{}",
        stdout(&checked),
        stderr(&checked)
    );
    assert!(
        tree(&c).is_empty(),
        "check mode created files: {:?}",
        tree(&c)
    );
    let k = scratch("check-real");
    let real = kiln_run(&k, &[]);
    let predicted: BTreeMap<_, _> = recap(&checked)
        .into_iter()
        .map(|(h, c)| (h, c[1]))
        .collect();
    let happened: BTreeMap<_, _> = recap(&real).into_iter().map(|(h, c)| (h, c[1])).collect();
    assert_eq!(
        predicted,
        happened,
        "check mode predicted other changes\n{}",
        stdout(&checked)
    );
    assert!(happened.values().all(|&c| c > 0));
    let _ = std::fs::remove_dir_all(&c);
    let _ = std::fs::remove_dir_all(&k);
}

#[test]
fn diff_mode_shows_the_changes() {
    let k = scratch("diff");
    let out = kiln_run(&k, &["-D", "-l", "h1"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let conf = k.join("h1/app.conf").display().to_string();
    assert!(
        text.contains(&format!("--- before: {conf} (content)")),
        "{text}"
    );
    assert!(text.contains("-port=8080\n+port=9090\n"), "{text}");
    assert!(text.contains("+debug=false\n"), "{text}");
    assert!(text.contains("+server_name h1.example.test;\n"), "{text}");
    // A second run with -D has nothing to show.
    let again = kiln_run(&k, &["-D", "-l", "h1"]);
    assert!(
        !stdout(&again).contains("--- before:"),
        "{}",
        stdout(&again)
    );
    let _ = std::fs::remove_dir_all(&k);
}

#[test]
fn hosts_creating_directories_under_one_new_parent_do_not_collide() {
    // 40 hosts in parallel make `<root>/shared/deep/<host>`: each finds `shared` and `deep`
    // missing and creates them; a directory another host made meanwhile is no failure.
    let k = scratch("mkdir-race");
    let inv = k.join("inventory.ini");
    let hosts: String = (1..=40)
        .map(|i| format!("m{i} ansible_connection=local\n"))
        .collect();
    std::fs::write(&inv, format!("[race]\n{hosts}")).expect("write inventory");
    let play = k.join("mkdir.yml");
    std::fs::write(
        &play,
        "- hosts: race\n  gather_facts: false\n  tasks:\n    - file:\n        path: \"{{ root }}/shared/deep/{{ inventory_hostname }}\"\n        state: directory\n        mode: \"0750\"\n",
    )
    .expect("write playbook");
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(k.join("shared"));
        let out = kiln()
            .arg("run")
            .arg(&play)
            .arg("-i")
            .arg(&inv)
            .args(["-f", "40", "-e"])
            .arg(format!("root={}", k.display()))
            .env("NO_COLOR", "1")
            .output()
            .expect("run kiln");
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        let recap = recap(&out);
        assert_eq!(recap.len(), 40, "{}", stdout(&out));
        assert!(recap.values().all(|c| c[1] == 1), "{recap:?}");
        for i in 1..=40 {
            assert!(k.join(format!("shared/deep/m{i}")).is_dir());
        }
    }
    let _ = std::fs::remove_dir_all(&k);
}
