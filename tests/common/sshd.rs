//! Real OpenSSH sshd processes for the SSH tests: each `Sshd` listens on its own port on a
//! few 127.0.0.x addresses (each address is a separate "host" to kiln), runs as root so it can
//! log in the test users, and is killed when dropped. A `Home` is a controller-side HOME with
//! its own `~/.ssh` (key, known_hosts, config), so tests never touch the real user's files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The unprivileged account kiln logs in as; its shell rc files are empty.
pub const USER: &str = "kilntest";
/// Its password (password login and sudo).
pub const PASSWORD: &str = "kiln-test-pw";
/// A second account, for `become_user` and `su` (same password).
pub const OTHER_USER: &str = "kilntest2";
/// An account whose sudoers entry says `requiretty`, password `PASSWORD`.
pub const TTY_USER: &str = "kilntest3";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the SSH tests need from the machine, or why they cannot run (with the fix).
pub fn require() {
    assert!(
        Path::new("/usr/sbin/sshd").exists(),
        "the SSH tests need OpenSSH's sshd: run `tests/setup` as root (it installs openssh-server)"
    );
    assert!(
        nix_is_root(),
        "the SSH tests start sshd and create test users, which needs root (CI runs as root)"
    );
    static USERS: Once = Once::new();
    USERS.call_once(|| {
        for user in [USER, OTHER_USER, TTY_USER] {
            if Command::new("id").arg(user).output().is_ok_and(|o| o.status.success()) {
                continue;
            }
            run(Command::new("useradd").args(["-m", "-s", "/bin/sh", user]));
        }
        // A new account is locked (`!`), which sshd refuses even for keys.
        run(Command::new("sh").arg("-c").arg(format!(
            "printf '%s\n' '{USER}:{PASSWORD}' '{OTHER_USER}:{PASSWORD}' '{TTY_USER}:{PASSWORD}' | chpasswd && \
             : > /home/{USER}/.profile && : > /home/{USER}/.bashrc && \
             printf '%s\n' '{USER} ALL=(ALL:ALL) ALL' 'Defaults:{TTY_USER} requiretty' '{TTY_USER} ALL=(ALL:ALL) ALL' \
               > /etc/sudoers.d/kiln-test && chmod 0440 /etc/sudoers.d/kiln-test && \
             mkdir -p /run/sshd && chmod 0755 /run/sshd"
        )));
    });
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("kiln-ssh-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        // The test user writes below it over SSH (like /tmp).
        run(Command::new("chmod").arg("1777").arg(&d));
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One sshd.
pub struct Sshd {
    pub port: u16,
    pub addrs: Vec<String>,
    pub host_key_pub: String,
    children: Vec<Child>,
    dir: PathBuf,
}

/// A free TCP port on loopback (the OS picks it; sshd binds it right after).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Sshd {
    /// Starts sshd on `addrs` (e.g. 127.0.0.2, 127.0.0.3), accepting the public keys in
    /// `authorized` for both test users, and passwords when `passwords` is true.
    pub fn start(dir: &Path, addrs: &[&str], authorized: &[&str], passwords: bool) -> Sshd {
        let dir = dir.join(format!("sshd-{}", free_port()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let host_key = dir.join("host_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key));
        let auth = dir.join("authorized_keys");
        std::fs::write(&auth, authorized.join("\n") + "\n").expect("write");
        run(Command::new("chmod").arg("0644").arg(&auth));
        let port = free_port();
        // sshd listens on at most 16 sockets: more addresses get more sshd processes, all
        // with the same host key and port, as one "machine".
        let mut children = Vec::new();
        for (n, chunk) in addrs.chunks(16).enumerate() {
            let listen: String = chunk
                .iter()
                .map(|a| format!("ListenAddress {a}:{port}\n"))
                .collect();
            let config = dir.join(format!("sshd_config.{n}"));
            std::fs::write(
                &config,
                format!(
                    "{listen}HostKey {}\nAuthorizedKeysFile {}\nPasswordAuthentication {}\n\
                     KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {}\n\
                     MaxStartups 200:30:400\nMaxSessions 100\nAllowTcpForwarding yes\n\
                     PermitRootLogin no\nLogLevel ERROR\n",
                    host_key.display(),
                    auth.display(),
                    if passwords { "yes" } else { "no" },
                    dir.join(format!("sshd.{n}.pid")).display()
                ),
            )
            .expect("write");
            children.push(
                Command::new("/usr/sbin/sshd")
                    .args(["-D", "-e", "-f"])
                    .arg(&config)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::from(
                        std::fs::File::create(dir.join(format!("sshd.{n}.log"))).expect("log"),
                    ))
                    .spawn()
                    .expect("start sshd"),
            );
        }
        let host_key_pub = std::fs::read_to_string(host_key.with_extension("pub"))
            .expect("host key")
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let sshd = Sshd {
            port,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
            host_key_pub,
            children,
            dir,
        };
        sshd.wait_ready();
        sshd
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for a in &self.addrs {
            while std::net::TcpStream::connect((a.as_str(), self.port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "sshd did not start: {}",
                    std::fs::read_to_string(self.dir.join("sshd.0.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// known_hosts lines for every address of this sshd.
    pub fn known_hosts_lines(&self) -> String {
        self.addrs
            .iter()
            .map(|a| format!("[{a}]:{} {}\n", self.port, self.host_key_pub))
            .collect()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A controller-side HOME with `~/.ssh/id_ed25519` (no passphrase), `known_hosts`, `config`.
pub struct Home {
    pub dir: PathBuf,
    pub public_key: String,
}

impl Home {
    pub fn new(dir: &Path) -> Home {
        let dir = dir.join("home");
        let ssh = dir.join(".ssh");
        std::fs::create_dir_all(&ssh).expect("mkdir");
        let key = ssh.join("id_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "kiln-test", "-f"])
            .arg(&key));
        let public_key = std::fs::read_to_string(key.with_extension("pub"))
            .expect("pub")
            .trim()
            .to_string();
        Home { dir, public_key }
    }

    pub fn ssh(&self) -> PathBuf {
        self.dir.join(".ssh")
    }

    pub fn trust(&self, sshd: &Sshd) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ssh().join("known_hosts"))
            .expect("known_hosts");
        f.write_all(sshd.known_hosts_lines().as_bytes())
            .expect("write");
    }

    pub fn known_hosts(&self) -> String {
        std::fs::read_to_string(self.ssh().join("known_hosts")).unwrap_or_default()
    }
}

/// An inventory of `hosts` (name → address) on `port`, connecting as the test user.
pub fn inventory(dir: &Path, hosts: &[(&str, &str)], port: u16, extra: &str) -> PathBuf {
    let mut text = String::from("[all]\n");
    for (name, addr) in hosts {
        text.push_str(&format!(
            "{name} ansible_host={addr} ansible_port={port} ansible_user={USER} {extra}\n"
        ));
    }
    let path = dir.join(format!("inventory-{port}.ini"));
    std::fs::write(&path, text).expect("write");
    path
}
