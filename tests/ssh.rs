//! The SSH transport against real OpenSSH sshd processes on 127.0.0.x (see common/sshd.rs):
//! logins by key, agent and password; host key verification; ProxyJump; become; unreachable
//! and dropped hosts; and the playbook-run acceptance playbook over SSH.

mod common;

use common::sshd::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn kiln_in(home: &Home) -> Command {
    let mut c = kiln();
    c.env("HOME", &home.dir)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("ANSIBLE_HOST_KEY_CHECKING")
        .env("NO_COLOR", "1");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Who each host runs as, written to `<dir>/<host>.who` by the host itself.
fn whoami_playbook(dir: &Path) -> PathBuf {
    write(
        dir,
        "whoami.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: who\n      command: id -un\n      register: who\n      changed_when: false\n    - name: mark\n      copy:\n        content: \"{{{{ who.stdout }}}}\\n\"\n        dest: \"{}/{{{{ inventory_hostname }}}}.who\"\n",
            dir.display()
        ),
    )
}

fn run(home: &Home, inv: &Path, playbook: &Path, extra: &[&str]) -> Output {
    kiln_in(home)
        .args(["run", "-i"])
        .arg(inv)
        .arg(playbook)
        .args(extra)
        .output()
        .expect("kiln")
}

fn who(dir: &Path, host: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(format!("{host}.who")))
        .ok()
        .map(|s| s.trim().to_string())
}

fn show(out: &Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}

#[test]
fn key_login_and_strict_host_key_checking() {
    require();
    let s = Scratch::new("key");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(
        &s.0,
        &["127.0.0.2", "127.0.0.3"],
        &[home.public_key.as_str()],
        false,
    );
    let inv = inventory(
        &s.0,
        &[("h2", "127.0.0.2"), ("h3", "127.0.0.3")],
        sshd.port,
        "",
    );
    let pb = whoami_playbook(&s.0);
    // Unknown host keys under strict checking (the default): unreachable, nothing ran.
    let out = run(&home, &inv, &pb, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(
        stdout(&out).contains("host key verification failed"),
        "{}",
        show(&out)
    );
    assert!(stdout(&out).contains("not in"), "{}", show(&out));
    assert_eq!(who(&s.0, "h2"), None);
    // Known: both hosts run both tasks as the test user.
    home.trust(&sshd);
    let out = run(&home, &inv, &pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(who(&s.0, "h2").as_deref(), Some(USER));
    assert_eq!(who(&s.0, "h3").as_deref(), Some(USER));
    assert_eq!(recap(&out).values().map(|c| c[1]).sum::<u32>(), 2);
}

#[test]
fn changed_host_key_is_refused_with_the_old_line() {
    require();
    let s = Scratch::new("changed");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(&s.0, &["127.0.0.5"], &[home.public_key.as_str()], false);
    // A different ed25519 key recorded for the host, on line 2.
    let other = Scratch::new("changed-other");
    let fake = Sshd::start(&other.0, &["127.0.0.6"], &[], false);
    std::fs::write(
        home.ssh().join("known_hosts"),
        format!(
            "# kiln test\n[127.0.0.5]:{} {}\n",
            sshd.port, fake.host_key_pub
        ),
    )
    .expect("write");
    drop(fake);
    let inv = inventory(&s.0, &[("h5", "127.0.0.5")], sshd.port, "");
    let pb = whoami_playbook(&s.0);
    let out = run(&home, &inv, &pb, &["--host-key-checking", "accept-new"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let text = stdout(&out);
    assert!(text.contains("CHANGED"), "{text}");
    assert!(text.contains("known_hosts:2"), "{text}");
    assert!(text.contains("SHA256:"), "{text}");
    assert_eq!(
        who(&s.0, "h5"),
        None,
        "a task ran on a host with a changed key"
    );
}

#[test]
fn accept_new_records_each_key_once_under_parallel_first_connections() {
    require();
    let s = Scratch::new("acceptnew");
    let home = Home::new(&s.0);
    let addrs: Vec<String> = (10..110).map(|i| format!("127.0.1.{i}")).collect();
    let addr_refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let sshd = Sshd::start(&s.0, &addr_refs, &[home.public_key.as_str()], false);
    let hosts: Vec<(String, &str)> = addrs
        .iter()
        .map(|a| {
            (
                format!("n{}", a.rsplit('.').next().unwrap_or("0")),
                a.as_str(),
            )
        })
        .collect();
    let host_refs: Vec<(&str, &str)> = hosts.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let inv = inventory(&s.0, &host_refs, sshd.port, "");
    let pb = whoami_playbook(&s.0);
    let out = run(
        &home,
        &inv,
        &pb,
        &["--host-key-checking", "accept-new", "-f", "100"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let known = home.known_hosts();
    let lines: Vec<&str> = known.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 100, "{known}");
    for a in &addrs {
        let entry = format!("[{a}]:{}", sshd.port);
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.split_whitespace().next() == Some(entry.as_str()))
                .count(),
            1,
            "{entry} recorded other than once:\n{known}"
        );
    }
    // The recorded keys now verify under strict checking.
    let out = run(&home, &inv, &pb, &["-f", "100"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(home.known_hosts(), known);
}

#[test]
fn hashed_known_hosts_entries_verify() {
    require();
    let s = Scratch::new("hashed");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(&s.0, &["127.0.0.7"], &[home.public_key.as_str()], false);
    home.trust(&sshd);
    let kh = home.ssh().join("known_hosts");
    let out = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&kh)
        .output()
        .expect("ssh-keygen -H");
    assert!(out.status.success());
    assert!(
        home.known_hosts().starts_with("|1|"),
        "{}",
        home.known_hosts()
    );
    let inv = inventory(&s.0, &[("h7", "127.0.0.7")], sshd.port, "");
    let out = run(&home, &inv, &whoami_playbook(&s.0), &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(who(&s.0, "h7").as_deref(), Some(USER));
}

#[test]
fn agent_password_and_wrong_key_logins() {
    require();
    let s = Scratch::new("auth");
    let home = Home::new(&s.0);
    // The authorised key is one only the agent holds; ~/.ssh/id_ed25519 is not authorised.
    let agent_key = s.0.join("agent_key");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-N", "", "-f"])
        .arg(&agent_key)
        .status()
        .expect("keygen");
    assert!(ok.success());
    let agent_pub = std::fs::read_to_string(agent_key.with_extension("pub")).expect("pub");
    let sshd = Sshd::start(&s.0, &["127.0.0.8"], &[agent_pub.trim()], true);
    home.trust(&sshd);
    let inv = inventory(&s.0, &[("h8", "127.0.0.8")], sshd.port, "");
    let pb = whoami_playbook(&s.0);

    // No agent, no password: the failure lists what was tried.
    let out = run(&home, &inv, &pb, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let text = stdout(&out);
    assert!(text.contains("authentication failed"), "{text}");
    assert!(
        text.contains("publickey") && text.contains("id_ed25519"),
        "{text}"
    );

    // A real ssh-agent holding the key.
    let sock = s.0.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .spawn()
        .expect("ssh-agent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(&agent_key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("ssh-add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let out = kiln_in(&home)
        .env("SSH_AUTH_SOCK", &sock)
        .args(["run", "-i"])
        .arg(&inv)
        .arg(&pb)
        .output()
        .expect("kiln");
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(out.status.success(), "agent login: {}", show(&out));
    assert_eq!(who(&s.0, "h8").as_deref(), Some(USER));

    // Password from the inventory.
    let _ = std::fs::remove_file(s.0.join("h8.who"));
    let inv_pw = inventory(
        &s.0,
        &[("h8", "127.0.0.8")],
        sshd.port,
        &format!("ansible_password={PASSWORD}"),
    );
    let out = run(&home, &inv_pw, &pb, &[]);
    assert!(out.status.success(), "password login: {}", show(&out));
    assert_eq!(who(&s.0, "h8").as_deref(), Some(USER));
    assert!(!show(&out).contains(PASSWORD), "the password was printed");
}

#[test]
fn become_with_password_wrong_password_and_other_user() {
    require();
    let s = Scratch::new("become");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(&s.0, &["127.0.0.9"], &[home.public_key.as_str()], false);
    home.trust(&sshd);
    let pb = whoami_playbook(&s.0);
    let inv = inventory(
        &s.0,
        &[("h9", "127.0.0.9")],
        sshd.port,
        &format!("ansible_become_password={PASSWORD}"),
    );
    let out = run(&home, &inv, &pb, &["-b"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(who(&s.0, "h9").as_deref(), Some("root"));
    assert!(
        !show(&out).contains(PASSWORD),
        "the become password was printed"
    );

    // The sticky scratch directory only lets a file's owner replace it.
    std::fs::remove_file(s.0.join("h9.who")).expect("rm");
    let out = run(&home, &inv, &pb, &["-b", "--become-user", OTHER_USER]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(who(&s.0, "h9").as_deref(), Some(OTHER_USER));

    std::fs::remove_file(s.0.join("h9.who")).expect("rm");
    let bad = inventory(
        &s.0,
        &[("h9", "127.0.0.9")],
        sshd.port,
        "ansible_become_password=not-the-password",
    );
    let started = Instant::now();
    let out = run(&home, &bad, &pb, &["-b"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a wrong become password took {:?}",
        started.elapsed()
    );
    assert!(
        stdout(&out).to_lowercase().contains("incorrect"),
        "{}",
        show(&out)
    );
    assert!(!show(&out).contains("not-the-password"));
}

#[test]
fn proxy_jump_and_ssh_config_aliases() {
    require();
    let s = Scratch::new("jump");
    let home = Home::new(&s.0);
    let bastion = Sshd::start(&s.0, &["127.0.0.11"], &[home.public_key.as_str()], false);
    let inner = Sshd::start(&s.0, &["127.0.0.12"], &[home.public_key.as_str()], false);
    home.trust(&bastion);
    home.trust(&inner);
    std::fs::write(
        home.ssh().join("config"),
        format!(
            "Host bastion\n  HostName 127.0.0.11\n  Port {}\n  User {USER}\n\nHost inner-*\n  HostName 127.0.0.12\n  Port {}\n  User {USER}\n  ProxyJump bastion\n",
            bastion.port, inner.port
        ),
    )
    .expect("config");
    // The inventory names only the alias; everything else comes from ssh_config.
    let inv = write(&s.0, "jump.ini", "inner-1\n");
    let out = run(&home, &inv, &whoami_playbook(&s.0), &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(who(&s.0, "inner-1").as_deref(), Some(USER));
}

#[test]
fn unreachable_and_dropped_hosts_do_not_stop_the_others() {
    require();
    let s = Scratch::new("unreach");
    let home = Home::new(&s.0);
    let addrs: Vec<String> = (20..30).map(|i| format!("127.0.0.{i}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let sshd = Sshd::start(&s.0, &refs, &[home.public_key.as_str()], false);
    home.trust(&sshd);
    let mut text = String::from("[all]\n");
    for a in &addrs {
        text.push_str(&format!(
            "r{} ansible_host={a} ansible_port={} ansible_user={USER}\n",
            &a[10..],
            sshd.port
        ));
    }
    // Nothing listens on this port.
    text.push_str(&format!(
        "down ansible_host=127.0.0.30 ansible_port={} ansible_user={USER}\n",
        free_port()
    ));
    let inv = write(&s.0, "ten.ini", &text);
    let retry = s.0.join("whoami.retry");
    let out = run(
        &home,
        &inv,
        &whoami_playbook(&s.0),
        &["--retry-file", &retry.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    // The retry file lists just the unreachable host, and `--limit @file` reruns just it.
    assert_eq!(
        std::fs::read_to_string(&retry).ok().as_deref(),
        Some("down\n"),
        "{}",
        show(&out)
    );
    let again = run(
        &home,
        &inv,
        &whoami_playbook(&s.0),
        &["--limit", &format!("@{}", retry.display())],
    );
    assert_eq!(
        recap(&again).keys().collect::<Vec<_>>(),
        ["down"],
        "{}",
        show(&again)
    );
    let counts = recap(&out);
    assert_eq!(counts.get("down").map(|c| c[2]), Some(1), "{}", show(&out));
    assert!(
        stdout(&out).contains("connection refused"),
        "{}",
        show(&out)
    );
    for a in &addrs {
        let name = format!("r{}", &a[10..]);
        assert_eq!(
            who(&s.0, &name).as_deref(),
            Some(USER),
            "{name} did not finish: {}",
            show(&out)
        );
    }

    // A session killed mid-task: that host is unreachable with a reason; the other finishes.
    let out = signal_mid_task(&s, &home, &sshd, "KILL", "");
    // The reason the session ended, as its handler heard it (not russh's "Disconnected").
    assert!(
        stdout(&out).contains("the connection to k1 dropped: the host closed the connection"),
        "{}",
        show(&out)
    );
    // A host that stops answering (its sshd frozen, TCP still up) is found by keepalives.
    let out = signal_mid_task(
        &s,
        &home,
        &sshd,
        "STOP",
        "ansible_ssh_common_args='-o ServerAliveInterval=1'",
    );
    assert!(
        stdout(&out).contains(
            "the connection to k1 dropped: the host answered none of 3 keepalives sent 1s apart"
        ),
        "{}",
        show(&out)
    );
}

/// Runs a 3 s task on k1 and k2 (`extra`: their inventory variables) and, while it runs,
/// sends `signal` to every sshd process serving k1's session (its monitor and unprivileged
/// child), as a host that dies or hangs would; the processes are killed afterwards. k1 must
/// end unreachable and k2 finish. Returns kiln's output.
fn signal_mid_task(s: &Scratch, home: &Home, sshd: &Sshd, signal: &str, extra: &str) -> Output {
    let pb = write(
        &s.0,
        "slow.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: sleep 3\n    - copy: {{content: done, dest: '{}/{{{{ inventory_hostname }}}}.done'}}\n",
            s.0.display()
        ),
    );
    for h in ["k1", "k2"] {
        let _ = std::fs::remove_file(s.0.join(format!("{h}.done")));
    }
    let two = inventory(
        &s.0,
        &[("k1", "127.0.0.20"), ("k2", "127.0.0.21")],
        sshd.port,
        extra,
    );
    let child = kiln_in(home)
        .args(["run", "-i"])
        .arg(&two)
        .arg(&pb)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kiln");
    std::thread::sleep(Duration::from_millis(1500));
    let ss = Command::new("ss")
        .args(["-tnpH", "state", "established", "src", "127.0.0.20"])
        .arg(format!("sport = :{}", sshd.port))
        .output()
        .expect("ss");
    let pids: Vec<String> = regex::Regex::new(r"pid=(\d+)")
        .expect("regex")
        .captures_iter(&String::from_utf8_lossy(&ss.stdout))
        .map(|c| c[1].to_string())
        .collect();
    assert!(!pids.is_empty(), "no sshd session for 127.0.0.20");
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .args(&pids)
        .status();
    let out = child.wait_with_output().expect("kiln");
    let _ = Command::new("kill").arg("-KILL").args(&pids).status();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let counts = recap(&out);
    assert_eq!(counts.get("k1").map(|c| c[2]), Some(1), "{}", show(&out));
    assert!(s.0.join("k2.done").exists(), "{}", show(&out));
    assert!(!s.0.join("k1.done").exists());
    out
}

#[test]
fn the_core_module_playbook_over_ssh_matches_the_local_run() {
    require();
    let s = Scratch::new("site");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(
        &s.0,
        &["127.0.0.2", "127.0.0.3", "127.0.0.4"],
        &[home.public_key.as_str()],
        false,
    );
    home.trust(&sshd);
    let fixture = fixtures().join("run");
    let inv = write(
        &s.0,
        "site.ini",
        &format!(
            "[web]\nh1 tier=front ansible_host=127.0.0.2\nh2 tier=front ansible_host=127.0.0.3\n\n[db]\nh3 tier=back ansible_host=127.0.0.4\n\n[all:vars]\nansible_port={}\nansible_user={USER}\n",
            sshd.port
        ),
    );
    let (local_root, ssh_root) = (s.0.join("local"), s.0.join("ssh"));
    for d in [&local_root, &ssh_root] {
        std::fs::create_dir_all(d).expect("mkdir");
        let ok = Command::new("chmod")
            .arg("0777")
            .arg(d)
            .status()
            .expect("chmod");
        assert!(ok.success());
    }
    let site = fixture.join("site.yml");
    let local = kiln_in(&home)
        .args(["run", "-i"])
        .arg(fixture.join("inventory.ini"))
        .arg(&site)
        .args(["-e", &format!("root={}", local_root.display())])
        .output()
        .expect("kiln");
    assert!(local.status.success(), "{}", show(&local));
    let over_ssh = |extra: &[&str]| {
        kiln_in(&home)
            .args(["run", "-i"])
            .arg(&inv)
            .arg(&site)
            .args(["-e", &format!("root={}", ssh_root.display())])
            .args(extra)
            .output()
            .expect("kiln")
    };
    let first = over_ssh(&[]);
    assert!(first.status.success(), "{}", show(&first));
    assert_eq!(recap(&first), recap(&local), "{}", stdout(&first));
    let strip = |t: std::collections::BTreeMap<String, String>| -> std::collections::BTreeMap<String, String> {
        let uid = regex::Regex::new(r" uid=\d+").expect("regex");
        t.into_iter()
            .map(|(k, v)| (k, uid.replace(&v.replace(&ssh_root.display().to_string(), "ROOT").replace(&local_root.display().to_string(), "ROOT"), "").into_owned()))
            .collect()
    };
    assert_eq!(strip(tree(&ssh_root)), strip(tree(&local_root)));
    let second = over_ssh(&[]);
    assert!(second.status.success(), "{}", show(&second));
    for (host, c) in recap(&second) {
        assert_eq!(
            c[1],
            0,
            "{host} changed on the second run over SSH:\n{}",
            stdout(&second)
        );
    }
}

/// kiln in `home` on a pseudo-terminal (see `common::terminal`).
fn on_terminal(home: &Home, args: &[String], answers: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.args(args)
        .env("HOME", &home.dir)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("ANSIBLE_HOST_KEY_CHECKING")
        .env("NO_COLOR", "1");
    common::terminal::on_terminal(&c, answers)
}

#[test]
fn terminal_prompts_for_key_passphrase_and_passwords() {
    require();
    let s = Scratch::new("tty");
    let home = Home::new(&s.0);
    // A passphrase-protected ECDSA key in ~/.ssh, the only key the server accepts.
    let key = home.dir.join(".ssh/id_ecdsa");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-N", "secret phrase", "-f"])
        .arg(&key)
        .status()
        .expect("keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    let sshd = Sshd::start(&s.0, &["127.0.0.13"], &[public.trim()], true);
    home.trust(&sshd);
    let inv = inventory(&s.0, &[("h13", "127.0.0.13")], sshd.port, "");
    let pb = whoami_playbook(&s.0);
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = vec![
            "run".to_string(),
            "-i".into(),
            inv.display().to_string(),
            pb.display().to_string(),
        ];
        a.extend(extra.iter().map(|e| e.to_string()));
        a
    };

    // Without a terminal the key is skipped with the reason, never a hang.
    let out = run(&home, &inv, &pb, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(
        stdout(&out).contains("passphrase-protected and there is no terminal"),
        "{}",
        show(&out)
    );

    // On a terminal the passphrase is asked once and the key logs in.
    let (rc, text) = on_terminal(
        &home,
        &args(&[]),
        &[("Enter passphrase for key", "secret phrase")],
    );
    assert_eq!(rc, 0, "{text}");
    assert_eq!(text.matches("Enter passphrase").count(), 1, "{text}");
    assert_eq!(who(&s.0, "h13").as_deref(), Some(USER));

    // -k asks for the login password (the key is moved away); -K for sudo's, and an empty
    // answer to -K reuses the SSH password, as in Ansible.
    std::fs::rename(&key, s.0.join("parked_key")).expect("park key");
    let _ = std::fs::remove_file(s.0.join("h13.who"));
    let (rc, text) = on_terminal(
        &home,
        &args(&["-k", "-b", "-K"]),
        &[("SSH password:", PASSWORD), ("BECOME password", "")],
    );
    assert_eq!(rc, 0, "{text}");
    assert_eq!(who(&s.0, "h13").as_deref(), Some("root"));
    assert!(!text.contains(PASSWORD), "a password was echoed: {text}");

    // -k without a terminal is an options error before anything runs.
    let out = run(&home, &inv, &pb, &["-k"]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert!(
        stderr(&out).contains("-k needs a terminal"),
        "{}",
        show(&out)
    );
}

/// kiln's exit status and its peak resident memory in KiB, measured by the kernel
/// (`getrusage` of the child, through Python so no extra tool is needed).
fn run_measured(home: &Home, args: &[&str]) -> (Output, u64) {
    let mut c = Command::new("python3");
    c.args([
        "-c",
        "import resource, subprocess, sys\n\
         r = subprocess.run(sys.argv[1:], capture_output=True)\n\
         sys.stdout.buffer.write(r.stdout)\n\
         sys.stderr.buffer.write(r.stderr)\n\
         sys.stderr.write('\\nmaxrss=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
         sys.exit(r.returncode)",
        env!("CARGO_BIN_EXE_kiln"),
    ])
    .args(args)
    .env("HOME", &home.dir)
    .env_remove("SSH_AUTH_SOCK")
    .env_remove("ANSIBLE_HOST_KEY_CHECKING")
    .env("NO_COLOR", "1");
    let out = c.output().expect("python3");
    let rss = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX);
    (out, rss)
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    stdout(&out).chars().take(64).collect()
}

fn inode_of(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

#[test]
fn large_files_stream_both_ways_and_unchanged_files_are_not_sent() {
    require();
    let s = Scratch::new("files");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(&s.0, &["127.0.0.14"], &[home.public_key.as_str()], false);
    home.trust(&sshd);
    let inv = inventory(&s.0, &[("h14", "127.0.0.14")], sshd.port, "");

    // 192 MiB of varied bytes: far more than kiln may hold in memory.
    let big = s.0.join("big.bin");
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 201326592 /dev/urandom > {}",
            big.display()
        ))
        .status()
        .expect("make big file");
    assert!(made.success());
    let want = sha256_of(&big);
    let remote = s.0.join("remote");
    std::fs::create_dir(&remote).expect("mkdir");
    std::fs::set_permissions(&remote, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let fetched = s.0.join("fetched");
    let pb = write(
        &s.0,
        "files.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - copy: {{src: '{big}', dest: '{remote}/big.bin', mode: '0640'}}\n\
             \x20   - fetch: {{src: '{remote}/big.bin', dest: '{fetched}'}}\n\
             \x20   - fetch: {{src: '{remote}/big.bin', dest: '{fetched}/flat/', flat: true}}\n\
             \x20   - copy: {{content: \"small\\n\", dest: '{remote}/small.txt'}}\n\
             \x20   - slurp: {{src: '{remote}/small.txt'}}\n\
             \x20     register: slurped\n\
             \x20   - copy: {{content: \"{{{{ slurped.content | b64decode }}}}\", dest: '{remote}/slurped.txt'}}\n\
             \x20   - fetch: {{src: '{remote}/nothing-here', dest: '{fetched}', fail_on_missing: false}}\n",
            big = big.display(),
            remote = remote.display(),
            fetched = fetched.display(),
        ),
    );
    let inv_s = inv.display().to_string();
    let pb_s = pb.display().to_string();
    let (out, rss) = run_measured(&home, &["run", "-i", &inv_s, &pb_s]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(sha256_of(&remote.join("big.bin")), want);
    assert_eq!(
        sha256_of(
            &fetched
                .join("h14")
                .join(remote.strip_prefix("/").unwrap_or(&remote))
                .join("big.bin")
        ),
        want
    );
    assert_eq!(sha256_of(&fetched.join("flat/big.bin")), want);
    assert_eq!(
        std::fs::read_to_string(remote.join("slurped.txt"))
            .ok()
            .as_deref(),
        Some("small\n")
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(remote.join("big.bin"))
            .expect("stat")
            .permissions(),
    );
    assert_eq!(mode & 0o7777, 0o640);
    // Streamed, not buffered: well under the file's 192 MiB.
    assert!(rss < 64 * 1024, "kiln peaked at {rss} KiB moving 192 MiB");
    // No temp file is left beside either destination.
    let leftovers = |d: &Path| {
        std::fs::read_dir(d)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".kiln"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(leftovers(&remote), 0);
    assert_eq!(leftovers(&fetched.join("flat")), 0);
    assert_eq!(recap(&out)["h14"][1], 5, "{}", show(&out));

    // The rerun sends and fetches nothing: checksums match, the files are the same inodes.
    let before = (
        inode_of(&remote.join("big.bin")),
        inode_of(&fetched.join("flat/big.bin")),
    );
    let (out, _) = run_measured(&home, &["run", "-i", &inv_s, &pb_s]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(recap(&out)["h14"][1], 0, "{}", show(&out));
    assert_eq!(
        before,
        (
            inode_of(&remote.join("big.bin")),
            inode_of(&fetched.join("flat/big.bin"))
        )
    );

    // A missing file fails the task when fail_on_missing is left at true.
    let missing = write(
        &s.0,
        "missing.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - fetch: {{src: /nonexistent/x, dest: '{}'}}\n",
            fetched.display()
        ),
    );
    let out = run(&home, &inv, &missing, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stdout(&out).contains("the remote file does not exist"),
        "{}",
        show(&out)
    );
}

#[test]
fn one_connection_per_host_until_reset_connection() {
    require();
    let s = Scratch::new("reuse");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(&s.0, &["127.0.0.15"], &[home.public_key.as_str()], false);
    home.trust(&sshd);
    let inv = inventory(&s.0, &[("h15", "127.0.0.15")], sshd.port, "");
    // Each command's shell is a child of the sshd process serving its connection: the
    // same parent means the same connection.
    let out_file = s.0.join("parents");
    let pb = write(
        &s.0,
        "reuse.yml",
        &format!(
            "- hosts: all\n  gather_facts: true\n  tasks:\n\
             \x20   - shell: echo $PPID >> {out}\n\
             \x20   - copy: {{content: x, dest: '{dir}/x'}}\n\
             \x20   - shell: echo $PPID >> {out}\n\
             \x20   - meta: reset_connection\n\
             \x20   - shell: echo $PPID >> {out}\n\
             \x20   - meta: noop\n\
             \x20   - shell: echo $PPID >> {out}\n",
            out = out_file.display(),
            dir = s.0.display()
        ),
    );
    let out = run(&home, &inv, &pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let text = std::fs::read_to_string(&out_file).expect("parents");
    let p: Vec<&str> = text.lines().collect();
    assert_eq!(p.len(), 4, "{text}");
    assert_eq!(p[0], p[1], "facts, copy and commands share one connection");
    assert_ne!(p[1], p[2], "reset_connection opens a new one");
    assert_eq!(p[2], p[3]);
    // Meta tasks count for nothing in the recap: facts + 4 shells + copy.
    assert_eq!(recap(&out)["h15"][0], 6, "{}", show(&out));
}

#[test]
fn become_on_a_terminal_for_requiretty_and_su() {
    require();
    let s = Scratch::new("tty-become");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(&s.0, &["127.0.0.16"], &[home.public_key.as_str()], false);
    home.trust(&sshd);
    // 3 MiB of varied bytes, to pass binary content through the terminal unchanged.
    let blob = s.0.join("blob.bin");
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!("head -c 3145728 /dev/urandom > {}", blob.display()))
        .status()
        .expect("make blob");
    assert!(made.success());
    let pb = write(
        &s.0,
        "tty.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  become: true\n  tasks:\n\
             \x20   - command: id -un\n      register: who\n      changed_when: false\n\
             \x20   - copy: {{content: \"{{{{ who.stdout }}}}\\n\", dest: '{dir}/{{{{ inventory_hostname }}}}.who'}}\n\
             \x20   - copy: {{src: '{blob}', dest: '{dir}/{{{{ inventory_hostname }}}}.blob', owner: root}}\n\
             \x20   - shell: echo out; echo err >&2; exit 3\n      register: split\n      failed_when: false\n      changed_when: false\n\
             \x20   - copy: {{content: \"{{{{ split.stdout }}}}|{{{{ split.stderr }}}}|{{{{ split.rc }}}}\", dest: '{dir}/{{{{ inventory_hostname }}}}.split'}}\n",
            dir = s.0.display(),
            blob = blob.display()
        ),
    );
    let read = |name: &str| std::fs::read_to_string(s.0.join(name)).ok();

    // sudoers says `requiretty` for this user: kiln retries on a terminal and remembers.
    let inv = write(
        &s.0,
        "tty.ini",
        &format!(
            "t16 ansible_host=127.0.0.16 ansible_port={} ansible_user={TTY_USER} ansible_become_password={PASSWORD}\n",
            sshd.port
        ),
    );
    let out = run(&home, &inv, &pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(read("t16.who").as_deref(), Some("root\n"));
    assert_eq!(read("t16.split").as_deref(), Some("out|err|3"));
    assert_eq!(sha256_of(&s.0.join("t16.blob")), sha256_of(&blob));
    assert!(!show(&out).contains(PASSWORD));
    let again = run(&home, &inv, &pb, &[]);
    assert_eq!(recap(&again)["t16"][1], 0, "{}", show(&again));

    // A wrong password on the terminal: a clear failure, quickly.
    let bad = write(
        &s.0,
        "tty-bad.ini",
        &format!(
            "t16 ansible_host=127.0.0.16 ansible_port={} ansible_user={TTY_USER} ansible_become_password=wrong\n",
            sshd.port
        ),
    );
    let started = Instant::now();
    let out = run(&home, &bad, &pb, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stdout(&out).contains("Incorrect sudo password"),
        "{}",
        show(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // su reads the target user's password from a terminal only.
    let su = |pw: &str| {
        write(
            &s.0,
            "su.ini",
            &format!(
                "s16 ansible_host=127.0.0.16 ansible_port={} ansible_user={USER} ansible_become_method=su ansible_become_user={OTHER_USER} ansible_become_password={pw}\n",
                sshd.port
            ),
        )
    };
    let only_who = write(
        &s.0,
        "su.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  become: true\n  tasks:\n\
             \x20   - command: id -un\n      register: who\n      changed_when: false\n\
             \x20   - copy: {{content: \"{{{{ who.stdout }}}}\\n\", dest: '{dir}/{{{{ inventory_hostname }}}}.who'}}\n",
            dir = s.0.display()
        ),
    );
    let out = run(&home, &su(PASSWORD), &only_who, &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        read("s16.who").as_deref(),
        Some(&*format!("{OTHER_USER}\n"))
    );
    let out = run(&home, &su("wrong"), &only_who, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stdout(&out).contains("Incorrect su password"),
        "{}",
        show(&out)
    );
}
