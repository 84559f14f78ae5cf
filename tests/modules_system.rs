//! The system modules on real Debian bookworm hosts with systemd (lab 4: tests/lab/lab, one
//! systemd-nspawn container per network namespace): sysctl, mount, alternatives, ufw,
//! wait_for, wait_for_connection, setup/gather_facts, modprobe and reboot. Each module's
//! outcome is read on the host itself (`sysctl -n` in its namespace, /proc/mounts and
//! /etc/fstab, `update-alternatives --query`, `ufw status`, iptables, the boot id ...), with
//! `changed` on the first run, nothing on the second, check mode predicting the first run
//! without changing anything, and diffs where Ansible gives them. Bad arguments fail at load
//! time naming file:line, before any host is touched.
//!
//! The hosts share the machine's kernel: only per-namespace settings (net.*) are changed, and
//! the test checks the machine's own values stay as they were. The machine's kernel may have
//! no loadable module support (no /proc/modules; these machines' has none): modprobe is
//! tested there for the failure Ansible gives, and for real on a host with a kernel of its
//! own, the lab's root booted under User Mode Linux (tests/lab/uml), whose modules live in
//! that process and never in the machine's kernel.
//!
//! The lab needs root, systemd-nspawn, debootstrap, apt-cacher-ng and user-mode-linux
//! (`tests/setup`);
//! `KILN_LAB=skip` skips on a machine that cannot run it.

mod common;

use common::lab::{Lab, changed_per_host};
use common::*;
use std::path::PathBuf;
use std::process::Output;

fn pb(name: &str) -> PathBuf {
    fixtures().join("modules_system").join(name)
}

/// Runs a playbook; the changed count of its one host, the run having succeeded.
fn changed(lab: &Lab, playbook: &str, extra: &[&str]) -> u32 {
    let out = lab.kiln_run(&pb(playbook), extra);
    let per_host = changed_per_host(&out);
    assert_eq!(per_host.len(), 1, "{playbook}: {per_host:?}");
    per_host[0].1
}

fn run(lab: &Lab, playbook: &str, extra: &[&str]) -> Output {
    lab.kiln_run(&pb(playbook), extra)
}

fn read(lab: &Lab, host: &str, path: &str) -> String {
    std::fs::read_to_string(lab.root_of(host).join(path.trim_start_matches('/')))
        .unwrap_or_default()
}

#[test]
fn system_modules_on_lab_hosts() {
    let Some(lab) = Lab::up(4, 2) else { return };
    sysctl(&lab);
    mount(&lab);
    alternatives(&lab);
    ufw(&lab);
    wait_for(&lab);
    setup(&lab);
    modprobe(&lab);
    modprobe_on_a_kernel_of_its_own(&lab);
    reboot(&lab);
}

fn sysctl(lab: &Lab) {
    let sh = |cmd: &str| lab.on_host("lab1", cmd);
    sh("printf '# keep\\nnet.ipv4.tcp_fin_timeout = 30\\n' > /etc/sysctl.d/60-kiln.conf");
    let machine_ttl = std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").expect("ttl");
    let conf = read(lab, "lab1", "/etc/sysctl.conf");
    let values =
        || sh("sysctl -n net.ipv4.ip_default_ttl net.ipv4.tcp_syncookies net.ipv4.tcp_fin_timeout");
    let before = values();
    assert_ne!(before.lines().next(), Some("77"), "{before}");

    assert_eq!(changed(lab, "sysctl.yml", &["-C"]), 3, "check mode");
    assert_eq!(values(), before, "check mode changed the kernel");
    assert_eq!(
        read(lab, "lab1", "/etc/sysctl.d/60-kiln.conf"),
        "# keep\nnet.ipv4.tcp_fin_timeout = 30\n"
    );
    assert_eq!(read(lab, "lab1", "/etc/sysctl.conf"), conf);

    assert_eq!(changed(lab, "sysctl.yml", &[]), 3, "first run");
    // The drop-in file as the module writes it; the value reloaded from it; the other key
    // set directly and appended to /etc/sysctl.conf; the removed key's value left alone.
    assert_eq!(
        read(lab, "lab1", "/etc/sysctl.d/60-kiln.conf"),
        "# keep\nnet.ipv4.ip_default_ttl=77\n"
    );
    let after = values();
    let fin = before.lines().nth(2).unwrap_or_default().to_string();
    assert_eq!(
        after,
        format!("77\n0\n30"),
        "fin_timeout came from the reload: {fin}"
    );
    let new_conf = read(lab, "lab1", "/etc/sysctl.conf");
    assert!(
        new_conf.ends_with("net.ipv4.tcp_syncookies=0\n"),
        "{new_conf}"
    );
    // Only the host's namespace changed.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").expect("ttl"),
        machine_ttl
    );
    assert_eq!(changed(lab, "sysctl.yml", &[]), 0, "second run");
}

fn mount(lab: &Lab) {
    let sh = |cmd: &str| lab.on_host("lab1", cmd);
    sh("mkdir -p /srv/kiln-src && echo hi > /srv/kiln-src/file");
    let fstab = read(lab, "lab1", "/etc/fstab");
    let mounts = || sh("cat /proc/mounts");

    assert_eq!(changed(lab, "mount.yml", &["-C"]), 3, "check mode");
    assert_eq!(read(lab, "lab1", "/etc/fstab"), fstab);
    assert!(!mounts().contains("kiln"), "{}", mounts());
    assert!(!lab.root_of("lab1").join("mnt/kiln-tmp").exists());

    assert_eq!(changed(lab, "mount.yml", &[]), 3, "first run");
    assert_eq!(
        read(lab, "lab1", "/etc/fstab"),
        format!(
            "{fstab}tmpfs /mnt/kiln-tmp tmpfs size=1m,mode=0755 0 0\n\
             /srv/kiln-src /mnt/kiln-bind none bind 0 0\n\
             tmpfs /mnt/kiln-later tmpfs defaults,noauto 0 0\n"
        )
    );
    let m = mounts();
    assert!(
        m.contains("tmpfs /mnt/kiln-tmp tmpfs rw,relatime,size=1024k,mode=755"),
        "{m}"
    );
    assert!(m.contains(" /mnt/kiln-bind "), "{m}");
    assert!(!m.contains("kiln-later"), "{m}");
    assert_eq!(sh("cat /mnt/kiln-bind/file"), "hi");
    assert_eq!(
        sh("ls /etc/fstab.*~ | wc -l"),
        "1",
        "one backup, of the first change"
    );
    assert_eq!(changed(lab, "mount.yml", &[]), 0, "second run");

    assert_eq!(
        changed(lab, "mount_undo.yml", &["-C"]),
        3,
        "undo, check mode"
    );
    assert!(mounts().contains(" /mnt/kiln-bind "));
    assert_eq!(changed(lab, "mount_undo.yml", &[]), 3, "undo");
    let m = mounts();
    assert!(!m.contains("kiln-tmp") && !m.contains("kiln-bind"), "{m}");
    assert_eq!(
        read(lab, "lab1", "/etc/fstab"),
        format!("{fstab}tmpfs /mnt/kiln-tmp tmpfs size=1m,mode=0755 0 0\n")
    );
    assert!(!lab.root_of("lab1").join("mnt/kiln-bind").exists());
    assert!(lab.root_of("lab1").join("mnt/kiln-tmp").is_dir());
    assert_eq!(changed(lab, "mount_undo.yml", &[]), 0, "undo again");

    // Always a change, as in Ansible; the remount's options are live, fstab untouched.
    assert_eq!(changed(lab, "mount_always.yml", &[]), 2);
    assert!(
        mounts().contains("/mnt/kiln-eph tmpfs rw,relatime,size=3072k"),
        "{}",
        mounts()
    );
    assert_eq!(changed(lab, "mount_always.yml", &[]), 2);
    assert!(!read(lab, "lab1", "/etc/fstab").contains("kiln-eph"));
}

fn alternatives(lab: &Lab) {
    let sh = |cmd: &str| lab.on_host("lab1", cmd);
    sh(
        "mkdir -p /opt/kiln && for x in a b; do printf '#!/bin/sh\\necho %s\\n' $x > /opt/kiln/hello-$x; chmod 755 /opt/kiln/hello-$x; done; echo doc > /opt/kiln/hello-b.txt",
    );
    let query = || sh("update-alternatives --query kiln-hello 2>&1");

    assert_eq!(changed(lab, "alternatives.yml", &["-C"]), 2, "check mode");
    assert!(
        query().contains("no alternatives for kiln-hello"),
        "{}",
        query()
    );

    let out = run(lab, "alternatives.yml", &["-D"]);
    assert_eq!(changed_per_host(&out), vec![("lab1".to_string(), 2)]);
    let text = stdout(&out);
    assert!(
        text.contains("-    \"state\": \"absent\"\n")
            && text.contains("+    \"state\": \"selected\",\n"),
        "{text}"
    );
    let q = query();
    for want in [
        "Status: manual",
        "Value: /opt/kiln/hello-b",
        "Alternative: /opt/kiln/hello-a\nPriority: 10",
        "Alternative: /opt/kiln/hello-b\nPriority: 20\nSlaves:\n kiln-hello-doc /opt/kiln/hello-b.txt",
    ] {
        assert!(q.contains(want), "{want} in {q}");
    }
    assert_eq!(
        sh("kiln-hello; cat /usr/local/share/kiln-hello.txt"),
        "b\ndoc"
    );
    assert_eq!(changed(lab, "alternatives.yml", &[]), 0, "second run");

    assert_eq!(changed(lab, "alternatives_undo.yml", &[]), 2);
    let q = query();
    assert!(
        q.contains("Status: auto") && q.contains("Value: /opt/kiln/hello-a"),
        "{q}"
    );
    assert!(!q.contains("hello-b"), "{q}");
    assert_eq!(sh("kiln-hello"), "a");
    assert_eq!(changed(lab, "alternatives_undo.yml", &[]), 0);
}

fn ufw(lab: &Lab) {
    let sh = |cmd: &str| lab.on_host("lab2", cmd);
    sh(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null 2>&1)",
    );
    assert_eq!(sh("ufw status"), "Status: inactive");
    let rules = || sh("grep -h '^### tuple' /etc/ufw/user.rules /etc/ufw/user6.rules");

    assert_eq!(changed(lab, "ufw.yml", &["-C"]), 4, "check mode");
    assert_eq!(sh("ufw status"), "Status: inactive");
    assert_eq!(rules(), "");

    assert_eq!(changed(lab, "ufw.yml", &[]), 4, "first run");
    let status = sh("ufw status verbose");
    for want in [
        "Status: active",
        "Logging: on (medium)",
        "Default: deny (incoming), allow (outgoing)",
        "22/tcp                     ALLOW IN    Anywhere                   # ssh from anywhere",
        "8080/tcp                   ALLOW IN    10.99.4.11",
    ] {
        assert!(status.contains(want), "{want} in {status}");
    }
    // The rules are in the host's own netfilter tables.
    let ipt = sh("iptables -S ufw-user-input");
    assert!(
        ipt.contains("-A ufw-user-input -s 10.99.4.11/32 -p tcp -m tcp --dport 8080 -j ACCEPT"),
        "{ipt}"
    );
    assert_eq!(changed(lab, "ufw.yml", &[]), 0, "second run");

    assert_eq!(changed(lab, "ufw_more.yml", &["-C"]), 3, "more, check mode");
    assert!(sh("ufw status verbose").contains("Default: deny (incoming)"));
    assert_eq!(changed(lab, "ufw_more.yml", &[]), 3, "more");
    let status = sh("ufw status verbose");
    assert!(status.contains("Default: reject (incoming)"), "{status}");
    assert!(!status.contains("8080"), "{status}");
    let numbered = sh("ufw status numbered");
    assert!(
        numbered.contains("[ 1] Anywhere                   DENY IN     10.99.4.99"),
        "{numbered}"
    );
    assert_eq!(changed(lab, "ufw_more.yml", &[]), 0, "more again");
}

fn wait_for(lab: &Lab) {
    // Its assertions are in the playbook; only the shell task changes anything.
    assert_eq!(changed(lab, "wait_for.yml", &[]), 1);
    assert_eq!(changed(lab, "wait_for_connection.yml", &[]), 0);
    let check = run(lab, "wait_for_connection.yml", &["-C"]);
    let recap = recap(&check);
    assert_eq!(
        recap["lab1"][4],
        2,
        "skipped in check mode: {}",
        stdout(&check)
    );
}

fn setup(lab: &Lab) {
    lab.on_host(
        "lab1",
        "mkdir -p /srv/kiln-facts && printf '[lab]\\ncolour=blue\\n' > /srv/kiln-facts/kiln.fact",
    );
    assert_eq!(changed(lab, "setup.yml", &[]), 0);
    assert_eq!(changed(lab, "setup.yml", &["-C"]), 0);
}

fn modprobe(lab: &Lab) {
    lab.on_host(
        "lab1",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q kmod >/dev/null 2>&1",
    );
    // The machine's kernel has no loadable modules at all: Ansible's module fails reading
    // /proc/modules there, and so does kiln's, before touching any file.
    let out = run(lab, "modprobe.yml", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("[Errno 2] No such file or directory: '/proc/modules'"),
        "{}",
        stdout(&out)
    );
    assert!(
        !lab.root_of("lab1")
            .join("etc/modules-load.d/dummy.conf")
            .exists()
    );
    assert!(
        !lab.root_of("lab1")
            .join("etc/modprobe.d/dummy.conf")
            .exists()
    );
}

/// The UML host (tests/lab/uml) beside a lab: booted by `up`, stopped when dropped.
struct Uml {
    id: u32,
    inventory: PathBuf,
}

fn uml_cmd(id: u32, arg: &str) -> Output {
    std::process::Command::new(repo().join("tests/lab/uml"))
        .arg(arg)
        .env("KILN_LAB_ID", id.to_string())
        .output()
        .expect("run tests/lab/uml")
}

impl Uml {
    fn up(lab: &Lab) -> Uml {
        let check = uml_cmd(lab.id, "check");
        assert!(check.status.success(), "{}", stderr(&check));
        let uml = Uml {
            id: lab.id,
            inventory: lab.state().join("uml-inventory.yml"),
        };
        let up = uml_cmd(lab.id, "up");
        assert!(up.status.success(), "uml up failed: {}", stderr(&up));
        std::fs::write(&uml.inventory, stdout(&uml_cmd(lab.id, "inventory"))).expect("inventory");
        uml
    }

    fn run(&self, playbook: &str, extra: &[&str]) -> u32 {
        let out = kiln()
            .arg("run")
            .arg(pb(playbook))
            .arg("-i")
            .arg(&self.inventory)
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .expect("run kiln");
        let per_host = changed_per_host(&out);
        assert_eq!(per_host.len(), 1, "{playbook}: {per_host:?}");
        per_host[0].1
    }

    fn on_host(&self, cmd: &str) -> String {
        let state = PathBuf::from(Lab::state_dir(self.id));
        let out = std::process::Command::new("ssh")
            .arg("-i")
            .arg(state.join("id_ed25519"))
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                state.join("uml/known_hosts").display()
            ))
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
            .arg(format!("kiln@10.99.{}.30", self.id))
            .arg(format!(
                "sudo sh -c {}",
                kiln::connection::quote::quote(cmd)
            ))
            .output()
            .expect("run ssh");
        stdout(&out).trim().to_string()
    }
}

impl Drop for Uml {
    fn drop(&mut self) {
        let out = uml_cmd(self.id, "down");
        if !out.status.success() && !std::thread::panicking() {
            panic!("uml down failed: {}", stderr(&out));
        }
    }
}

/// modprobe for real: loading and unloading in the UML host's own kernel, and the files
/// that keep a module across reboots, as the module writes them.
fn modprobe_on_a_kernel_of_its_own(lab: &Lab) {
    let uml = Uml::up(lab);
    let loaded = || uml.on_host("grep -oE '^(dummy|8021q) ' /proc/modules | sort | xargs");
    let files = || {
        uml.on_host("for f in /etc/modules-load.d/dummy.conf /etc/modprobe.d/dummy.conf; do [ -f $f ] && cat $f; done")
    };
    assert_eq!(uml.on_host("uname -r"), uml.on_host("ls /lib/modules"));

    assert_eq!(uml.run("modprobe_uml.yml", &["-C"]), 2, "check mode");
    assert_eq!((loaded(), files()), (String::new(), String::new()));
    assert_eq!(uml.run("modprobe_uml.yml", &[]), 2, "first run");
    assert_eq!(loaded(), "8021q dummy");
    assert_eq!(
        uml.on_host("ip -o link show type dummy | wc -l"),
        "2",
        "numdummies=2"
    );
    assert_eq!(files(), "dummy\noptions dummy numdummies=2");
    assert_eq!(uml.run("modprobe_uml.yml", &[]), 0, "second run");

    assert_eq!(uml.run("modprobe_uml_params.yml", &[]), 1, "new parameters");
    assert_eq!(files(), "dummy\noptions dummy numdummies=3");
    assert_eq!(uml.run("modprobe_uml_params.yml", &[]), 0);

    assert_eq!(
        uml.run("modprobe_uml_undo.yml", &["-C"]),
        2,
        "undo, check mode"
    );
    assert_eq!(loaded(), "8021q dummy");
    assert_eq!(uml.run("modprobe_uml_undo.yml", &[]), 2, "undo");
    assert_eq!(loaded(), "");
    assert_eq!(files(), "#dummy\n#options dummy numdummies=3");
    assert_eq!(uml.run("modprobe_uml_undo.yml", &[]), 0, "undo again");
}

fn reboot(lab: &Lab) {
    let boot_id = || lab.on_host("lab1", "cat /proc/sys/kernel/random/boot_id");
    let first = boot_id();
    assert_eq!(changed(lab, "reboot.yml", &["-C"]), 1, "check mode");
    assert_eq!(boot_id(), first, "check mode rebooted");
    let started = std::time::Instant::now();
    let out = run(lab, "reboot.yml", &["-v"]);
    assert_eq!(changed_per_host(&out), vec![("lab1".to_string(), 1)]);
    let now = boot_id();
    assert!(
        !now.is_empty() && now != first,
        "a new boot: {first} -> {now}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(90),
        "the reboot took {:?}",
        started.elapsed()
    );
    assert!(
        stdout(&out).contains("\"rebooted\": true"),
        "{}",
        stdout(&out)
    );
    // Spelled out: the command found in search_paths, our boot-time and test commands, and
    // sudo with a password on every new connection.
    let lab2 = lab.on_host("lab2", "cat /proc/sys/kernel/random/boot_id");
    let out = run(lab, "reboot_custom.yml", &[]);
    assert_eq!(changed_per_host(&out), vec![("lab2".to_string(), 1)]);
    assert_ne!(
        lab.on_host("lab2", "cat /proc/sys/kernel/random/boot_id"),
        lab2
    );
    // What the host had is still there after the boot.
    assert_eq!(
        lab.on_host(
            "lab1",
            "systemctl is-system-running --wait 2>/dev/null; sysctl -n net.ipv4.ip_default_ttl"
        ),
        "running\n77"
    );
}

/// Load-time argument errors name the task's file and line and stop the run before any host
/// is touched (the inventory's host does not even exist).
#[test]
fn bad_arguments_fail_at_load_time() {
    let dir = std::env::temp_dir().join(format!("kiln-system-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let inventory = dir.join("hosts.ini");
    std::fs::write(&inventory, "lab1 ansible_host=192.0.2.1\n").expect("inventory");
    let cases = [
        (
            "sysctl_required_if",
            "state is present but all of the following are missing: value",
        ),
        (
            "mount_choice",
            "value of `state` must be one of: absent, absent_from_fstab, mounted",
        ),
        (
            "mount_required_if",
            "state is mounted but all of the following are missing: fstype",
        ),
        (
            "alternatives_one_of",
            "one of the following is required: path, family",
        ),
        ("modprobe_required", "missing required arguments: name"),
        (
            "ufw_exclusive",
            "parameters are mutually exclusive: name|proto|logging",
        ),
        (
            "ufw_required_by",
            "missing parameter(s) required by 'interface': direction",
        ),
        (
            "wait_for_type",
            "argument `port` is of type str and we were unable to convert to int",
        ),
        (
            "wait_for_connection_unknown",
            "unsupported parameters for (wait_for_connection) module: retries",
        ),
        (
            "reboot_type",
            "argument `reboot_timeout` is of type str and we were unable to convert to int",
        ),
        (
            "setup_unknown",
            "unsupported parameters for (setup) module: filters",
        ),
    ];
    let outs = parallel(cases.to_vec(), |(name, _)| {
        kiln()
            .arg("run")
            .arg(pb(&format!("bad/{name}.yml")))
            .arg("-i")
            .arg(&inventory)
            .env("NO_COLOR", "1")
            .output()
            .expect("run kiln")
    });
    for ((name, says), out) in cases.iter().zip(outs) {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{name}: {err}");
        assert!(err.contains(&format!("{name}.yml:7:")), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(
            !stdout(&out).contains("TASK"),
            "{name} ran: {}",
            stdout(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
