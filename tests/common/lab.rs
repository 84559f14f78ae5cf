//! The lab (tests/lab/lab) for tests: real Debian bookworm hosts with systemd and sshd, one
//! systemd-nspawn container per network namespace. `Lab::up(id, n)` boots lab `id`'s hosts
//! lab1..labN (or finds them running) and takes them down when dropped, passed or not.
//!
//! Several labs run at once, one per test binary, so test binaries can run in parallel:
//! each binary uses its own id, listed here so no two collide.
//!
//! | id | test binary |
//! |----|-------------|
//! | 0  | tests/lab.rs (the lab suite) |
//! | 1  | tests/modules_packages.rs |
//! | 2  | tests/modules_accounts.rs |
//! | 3  | tests/modules_docker.rs |
//! | 4  | tests/modules_system.rs |
//! | 5  | tests/modules_files.rs |
//! | 6  | tests/language.rs |
//! | 7  | tests/vault.rs |
//! | 8  | tests/stack.rs (Docker, registry, app) |
//! | 9  | tests/lab.rs (its second lab) |
//! | 10 | tests/stack_monitoring.rs (monitoring, k3s plans) |
//! | 11-19 | (free) |
//!
//! The lab needs root, systemd-nspawn, debootstrap and apt-cacher-ng (`tests/setup` installs
//! them). On a machine that lacks something, `Lab::up` fails saying what; `KILN_LAB=skip`
//! turns that failure into a skip (`None`) with the same message.

use super::*;
use kiln::connection::quote::quote;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// sudo's password on lab2 (the other hosts need none).
pub const SUDO_PASSWORD: &str = "kiln-lab";

pub struct Lab {
    pub id: u32,
    pub hosts: Vec<String>,
    /// The inventory `tests/lab/lab inventory` printed, written to a file.
    pub inventory: PathBuf,
}

/// Runs `tests/lab/lab ARGS` for lab `id`.
pub fn lab_cmd(id: u32, args: &[&str]) -> Output {
    Command::new(repo().join("tests/lab/lab"))
        .args(args)
        .env("KILN_LAB_ID", id.to_string())
        .output()
        .expect("run tests/lab/lab")
}

impl Lab {
    /// Boots lab `id` with `n` hosts; `None` only when the machine cannot run the lab and
    /// `KILN_LAB=skip` says to skip.
    pub fn up(id: u32, n: usize) -> Option<Lab> {
        let check = lab_cmd(id, &["check"]);
        if !check.status.success() {
            if std::env::var("KILN_LAB").as_deref() == Ok("skip") {
                eprintln!("lab suite skipped (KILN_LAB=skip): {}", stderr(&check));
                return None;
            }
            panic!(
                "{}(set KILN_LAB=skip to skip the lab suites on such a machine)",
                stderr(&check)
            );
        }
        let up = lab_cmd(id, &["up", &n.to_string()]);
        let lab = Lab {
            id,
            hosts: (1..=n).map(|k| format!("lab{k}")).collect(),
            inventory: Path::new(&Lab::state_dir(id)).join("inventory.yml"),
        };
        assert!(up.status.success(), "lab up failed: {}", stderr(&up));
        let text = stdout(&lab_cmd(id, &["inventory"]));
        std::fs::write(&lab.inventory, text).expect("write the lab inventory");
        Some(lab)
    }

    pub fn state_dir(id: u32) -> String {
        if id == 0 {
            "/var/lib/kiln-lab".to_string()
        } else {
            format!("/var/lib/kiln-lab-{id}")
        }
    }

    pub fn state(&self) -> PathBuf {
        PathBuf::from(Lab::state_dir(self.id))
    }

    /// The host's root directory, on this machine.
    pub fn root_of(&self, host: &str) -> PathBuf {
        self.state().join("hosts").join(host).join("root")
    }

    pub fn ip_of(&self, host: &str) -> String {
        let k: u32 = host
            .trim_start_matches("lab")
            .parse()
            .expect("lab host number");
        format!("10.99.{}.{}", self.id, 10 + k)
    }

    /// A command on a host as root, through OpenSSH's own client and sudo (lab2's password on
    /// stdin); its output, trimmed.
    pub fn on_host(&self, host: &str, cmd: &str) -> String {
        let out = self.on_host_output(host, cmd);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// As `on_host`, the whole output and exit status.
    pub fn on_host_output(&self, host: &str, cmd: &str) -> Output {
        let state = self.state();
        Command::new("ssh")
            .arg("-i")
            .arg(state.join("id_ed25519"))
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                state.join("known_hosts").display()
            ))
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
            .arg(format!("kiln@{}", self.ip_of(host)))
            .arg(format!("sudo -S -p '' sh -c {}", quote(cmd)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = writeln!(stdin, "{SUDO_PASSWORD}");
                }
                child.wait_with_output()
            })
            .expect("run ssh")
    }

    /// `kiln run PLAYBOOK -i <the lab's inventory> EXTRA...`.
    pub fn kiln_run(&self, playbook: &Path, extra: &[&str]) -> Output {
        kiln()
            .arg("run")
            .arg(playbook)
            .arg("-i")
            .arg(&self.inventory)
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .expect("run kiln")
    }

    /// `ansible-playbook PLAYBOOK -i <the lab's inventory> EXTRA...` (the oracle; the lab
    /// hosts have python3 for it).
    pub fn ansible_run(&self, playbook: &Path, extra: &[&str]) -> Output {
        self.ansible_run_env(playbook, extra, &[])
    }

    /// As `ansible_run`, with more environment (`ANSIBLE_COLLECTIONS_PATH`, ...).
    pub fn ansible_run_env(
        &self,
        playbook: &Path,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> Output {
        oracle_bin("ansible-playbook")
            .envs(env.iter().copied())
            .arg(playbook)
            .arg("-i")
            .arg(&self.inventory)
            .args(extra)
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
            .output()
            .expect("run ansible-playbook")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = lab_cmd(self.id, &["down"]);
        if !out.status.success() && !std::thread::panicking() {
            panic!("lab down failed: {}", stderr(&out));
        }
    }
}

/// Host → changed count from a successful run's recap.
pub fn changed_per_host(out: &Output) -> Vec<(String, u32)> {
    assert!(
        out.status.success(),
        "the run failed:\n{}\n{}",
        stdout(out),
        stderr(out)
    );
    recap(out).into_iter().map(|(h, c)| (h, c[1])).collect()
}
