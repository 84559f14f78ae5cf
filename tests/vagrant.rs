//! The Vagrant lab for users: `vagrant/Vagrantfile` validates with Vagrant itself, and kiln
//! takes its machines from `vagrant ssh-config` output (`-i vagrant:DIR` runs it in the
//! project, `-i vagrant:FILE` reads it saved). The outputs in tests/fixtures/vagrant are
//! recorded for both providers; one is also pointed at real sshd processes to show kiln
//! connects the way `vagrant ssh` would (Vagrant's host key settings included).

mod common;

use common::sshd::*;
use common::*;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn inventory_list(sources: &[&str], path_env: Option<&Path>) -> Output {
    let mut cmd = kiln();
    cmd.arg("inventory");
    for s in sources {
        cmd.arg("-i").arg(s);
    }
    cmd.arg("--list").current_dir(repo());
    if let Some(dir) = path_env {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    cmd.output().expect("run kiln inventory")
}

fn listed(out: &Output) -> Json {
    assert!(
        out.status.success(),
        "kiln inventory failed:\n{}",
        stderr(out)
    );
    serde_json::from_slice(&out.stdout).expect("inventory JSON")
}

fn fixture(name: &str) -> String {
    format!(
        "vagrant:{}",
        fixtures().join("vagrant").join(name).display()
    )
}

#[test]
fn vagrantfile_validates() {
    assert!(
        Command::new("vagrant").arg("--version").output().is_ok(),
        "Vagrant is missing: run `tests/setup` as root (it installs Debian's vagrant)"
    );
    let out = Command::new("vagrant")
        .arg("validate")
        .current_dir(repo().join("vagrant"))
        .env(
            "VAGRANT_HOME",
            std::env::temp_dir().join("kiln-vagrant-home"),
        )
        .output()
        .expect("run vagrant validate");
    assert!(
        out.status.success() && stdout(&out).contains("validated successfully"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn virtualbox_machines_join_the_stack_groups() {
    let inv = listed(&inventory_list(
        &[&fixture("virtualbox.ssh-config"), "inventories/vagrant"],
        None,
    ));
    assert_eq!(inv["k3s_server"]["hosts"], serde_json::json!(["server1"]));
    assert_eq!(
        inv["k3s_agents"]["hosts"],
        serde_json::json!(["agent1", "agent2"])
    );
    assert_eq!(
        inv["k3s_cluster"]["children"],
        serde_json::json!(["k3s_server", "k3s_agents"])
    );
    assert!(inv.get("ungrouped").and_then(|g| g.get("hosts")).is_none());
    // The connection settings from `vagrant ssh-config`, beside the inventory's group_vars.
    let server = &inv["_meta"]["hostvars"]["server1"];
    let connection: serde_json::Map<String, serde_json::Value> = server
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("ansible_") || *k == "private_ip")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(server["k3s_api_address"], "192.168.56.10", "group_vars");
    assert_eq!(
        serde_json::Value::Object(connection),
        serde_json::json!({
            "ansible_host": "127.0.0.1",
            "ansible_port": 2222,
            "ansible_user": "vagrant",
            "ansible_ssh_private_key_file": "/home/dev/stack/vagrant/.vagrant/machines/server1/virtualbox/private_key",
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o IdentitiesOnly=yes",
            "private_ip": "192.168.56.10",
        })
    );
    assert_eq!(inv["_meta"]["hostvars"]["agent2"]["ansible_port"], 2201);
}

#[test]
fn libvirt_machines_with_quoted_key_paths() {
    let inv = listed(&inventory_list(&[&fixture("libvirt.ssh-config")], None));
    assert_eq!(
        inv["ungrouped"]["hosts"],
        serde_json::json!(["server1", "agent1", "agent2"])
    );
    let agent = &inv["_meta"]["hostvars"]["agent1"];
    assert_eq!(agent["ansible_host"], "192.168.121.46");
    assert_eq!(agent["ansible_port"], 22);
    assert_eq!(
        agent["ansible_ssh_private_key_file"],
        "/home/dev/my stack/vagrant/.vagrant/machines/agent1/libvirt/private_key"
    );
}

/// A Vagrant project directory whose `vagrant` prints `output` (or fails with `fail`).
fn project(name: &str, output: &str, fail: Option<&str>) -> (PathBuf, PathBuf) {
    let d = std::env::temp_dir().join(format!("kiln-vagrant-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let bin = d.join("bin");
    let proj = d.join("project");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(&proj).expect("mkdir");
    std::fs::copy(repo().join("vagrant/Vagrantfile"), proj.join("Vagrantfile")).expect("copy");
    std::fs::write(proj.join("ssh-config.out"), output).expect("write");
    // Stands in for the `vagrant` binary (no machines can boot here); it checks that kiln
    // runs it in the project directory with `ssh-config`.
    let script = match fail {
        Some(msg) => format!("#!/bin/sh\necho '{msg}' >&2\nexit 1\n"),
        None => "#!/bin/sh\n[ \"$1\" = ssh-config ] && [ -f Vagrantfile ] || exit 3\ncat ssh-config.out\n".to_string(),
    };
    let stub = bin.join("vagrant");
    std::fs::write(&stub, script).expect("write");
    Command::new("chmod")
        .arg("0755")
        .arg(&stub)
        .status()
        .expect("chmod");
    (proj, bin)
}

#[test]
fn a_project_directory_runs_vagrant_ssh_config() {
    let recorded =
        std::fs::read_to_string(fixtures().join("vagrant/virtualbox.ssh-config")).expect("fixture");
    let (proj, bin) = project("ok", &recorded, None);
    let source = format!("vagrant:{}", proj.display());
    let inv = listed(&inventory_list(&[&source], Some(&bin)));
    assert_eq!(inv["_meta"]["hostvars"]["agent1"]["ansible_port"], 2200);

    let (proj, bin) = project(
        "down",
        "",
        Some(
            "The provider for this Vagrant-managed machine is reporting that it is not yet ready for SSH.",
        ),
    );
    let out = inventory_list(&[&format!("vagrant:{}", proj.display())], Some(&bin));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("`vagrant ssh-config` failed")
            && err.contains("not yet ready for SSH")
            && err.contains("vagrant up"),
        "{err}"
    );

    let out = inventory_list(&["vagrant:/nonexistent/project"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the path does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kiln_connects_as_vagrant_ssh_would() {
    require();
    let s = Scratch::new("vagrant-ssh");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(
        &s.0,
        &["127.0.0.61", "127.0.0.62", "127.0.0.63"],
        &[home.public_key.as_str()],
        false,
    );
    // What Vagrant would print for machines on these addresses: its own key, and no host
    // key checking (Vagrant regenerates host keys with every machine).
    let key = home.ssh().join("id_ed25519");
    let config: String = [("server1", 61), ("agent1", 62), ("agent2", 63)]
        .iter()
        .map(|(name, n)| {
            format!(
                "Host {name}\n  HostName 127.0.0.{n}\n  User {USER}\n  Port {}\n  UserKnownHostsFile /dev/null\n  \
                 StrictHostKeyChecking no\n  PasswordAuthentication no\n  IdentityFile {}\n  IdentitiesOnly yes\n  LogLevel FATAL\n\n",
                sshd.port,
                key.display()
            )
        })
        .collect();
    let saved = s.0.join("ssh-config");
    std::fs::write(&saved, config).expect("write");
    let out_dir = s.0.join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    Command::new("chmod")
        .arg("1777")
        .arg(&out_dir)
        .status()
        .expect("chmod");
    let playbook = s.0.join("site.yml");
    std::fs::write(
        &playbook,
        format!(
            "- hosts: k3s_cluster\n  gather_facts: false\n  tasks:\n    - copy:\n        \
             content: \"{{{{ inventory_hostname }}}} {{{{ private_ip }}}}\\n\"\n        dest: {}/{{{{ inventory_hostname }}}}\n",
            out_dir.display()
        ),
    )
    .expect("write");
    let run = |extra: &[&str]| {
        kiln()
            .env("HOME", &home.dir)
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("ANSIBLE_HOST_KEY_CHECKING")
            .env("NO_COLOR", "1")
            .current_dir(repo())
            .arg("run")
            .arg(&playbook)
            .arg("-i")
            .arg(format!("vagrant:{}", saved.display()))
            .args(["-i", "inventories/vagrant"])
            .args(extra)
            .output()
            .expect("run kiln")
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}\n{}",
        stdout(&first),
        stderr(&first)
    );
    let counts = recap(&first);
    for (host, ip) in [
        ("server1", "192.168.56.10"),
        ("agent1", "192.168.56.11"),
        ("agent2", "192.168.56.12"),
    ] {
        assert_eq!(counts[host][1], 1, "{host} changed once");
        assert_eq!(
            std::fs::read_to_string(out_dir.join(host)).expect("written by the host"),
            format!("{host} {ip}\n")
        );
    }
    // Vagrant's settings said not to record host keys, and none were.
    assert_eq!(home.known_hosts(), "");
    let second = run(&[]);
    assert!(
        recap(&second).values().all(|c| c[1] == 0),
        "{}",
        stdout(&second)
    );
}
