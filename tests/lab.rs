//! The lab suite: three real Debian bookworm hosts with systemd and sshd (tests/lab/lab: one
//! systemd-nspawn container per network namespace), reached by kiln over SSH with sudo (lab2
//! asks for a password). Outcomes are read on the hosts themselves: their files (the hosts'
//! root directories are on this machine) and systemd's answers through OpenSSH's own client.
//!
//! The lab needs root, systemd-nspawn, debootstrap and apt-cacher-ng (`tests/setup` installs
//! them). On a machine that lacks something the test fails saying what; `KILN_LAB=skip` turns
//! that failure into a skip with the same message, for machines that cannot run it at all.
//! This suite is lab 0 (tests/common/lab.rs lists every test binary's lab).

mod common;

use common::lab::{Lab, changed_per_host, lab_cmd};
use common::*;

const HOSTS: [&str; 3] = ["lab1", "lab2", "lab3"];

fn site(playbook: &str) -> std::path::PathBuf {
    fixtures().join("lab").join(playbook)
}

#[test]
fn three_debian_hosts_with_systemd() {
    let Some(lab) = Lab::up(0, 3) else { return };
    // `up` again finds them running and changes nothing.
    let again = lab_cmd(0, &["up", "3"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!stderr(&again).contains("booted"), "{}", stderr(&again));
    // Every host has cgroups of its own (its wrapper's, which nspawn splits for the host's
    // systemd): in shared ones each host's service manager would act on the others' processes.
    for h in HOSTS {
        let pid = std::fs::read_to_string(lab.root_of(h).with_file_name("pid")).expect("pid");
        let cgroups =
            std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).expect("cgroups");
        let own = format!("/kiln-lab/kiln-{h}");
        assert!(
            cgroups
                .lines()
                .filter(|l| !l.contains(":name=") || l.contains(":name=systemd:"))
                .all(|l| l.ends_with(&own)),
            "{h}: {cgroups}"
        );
    }
    let root_of = |h: &str| lab.root_of(h);
    let ip_of = |h: &str| lab.ip_of(h);
    let on_host = |h: &str, cmd: &str| lab.on_host(h, cmd);
    let run_kiln = |playbook: &str, extra: &[&str]| lab.kiln_run(&site(playbook), extra);

    let first = changed_per_host(&run_kiln("site.yml", &[]));
    // package, group, user, conf, unit, enable+start, file, and the handler's restart.
    assert_eq!(
        first,
        HOSTS.map(|h| (h.to_string(), 8)).to_vec(),
        "first run"
    );
    for h in HOSTS {
        assert_eq!(
            on_host(h, "dpkg-query -W -f '${db:Status-Abbrev}' hello"),
            "ii",
            "{h}: hello installed"
        );
        assert_eq!(on_host(h, "hello"), "Hello, world!", "{h}");
        let user = on_host(h, "getent passwd kiln-echo");
        let fields: Vec<&str> = user.split(':').collect();
        assert_eq!(
            (fields.get(5), fields.get(6)),
            (Some(&"/var/lib/kiln-echo"), Some(&"/usr/sbin/nologin")),
            "{h}: {user}"
        );
        let group = on_host(h, "getent group kiln-echo");
        let gid = group.split(':').nth(2).unwrap_or_default().to_string();
        assert_eq!(fields.get(3), Some(&gid.as_str()), "{h}: the user's group");
        assert!(
            gid.parse::<u32>().is_ok_and(|g| g < 1000),
            "{h}: a system group: {group}"
        );
        assert!(
            !root_of(h).join("var/lib/kiln-echo").exists(),
            "{h}: no home made"
        );
        let conf = std::fs::read_to_string(root_of(h).join("etc/kiln-echo.conf")).expect("conf");
        assert_eq!(
            conf,
            format!(
                "greeting=hello\nhost={h}\naddress={}\nservice_mgr=systemd\n",
                ip_of(h)
            )
        );
        let host_file = root_of(h).join("etc/kiln-lab-host");
        assert_eq!(
            std::fs::read_to_string(&host_file).expect("host file"),
            format!("{h} runs Debian 12\n")
        );
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&host_file).expect("stat");
        assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o600, 0));
        assert_eq!(on_host(h, "systemctl is-active kiln-echo"), "active", "{h}");
        assert_eq!(
            on_host(h, "systemctl is-enabled kiln-echo"),
            "enabled",
            "{h}"
        );
        assert_eq!(
            std::fs::read_to_string(root_of(h).join("var/lib/kiln-echo.seen")).expect("seen"),
            conf,
            "{h}: the service started with its configuration"
        );
    }

    let second = changed_per_host(&run_kiln("site.yml", &[]));
    assert_eq!(second, HOSTS.map(|h| (h.to_string(), 0)).to_vec(), "rerun");

    // A changed configuration: check mode predicts the template and the handler, and the
    // service keeps running as it was. (On fresh hosts check mode cannot get past the unit
    // that is not written yet: systemd_service fails there in ansible-core too.)
    let pids: Vec<String> = HOSTS
        .iter()
        .map(|h| on_host(h, "systemctl show -p MainPID --value kiln-echo"))
        .collect();
    let change = ["-e", "greeting=bonjour"];
    let check = changed_per_host(&run_kiln("site.yml", &["-C", change[0], change[1]]));
    assert_eq!(check, HOSTS.map(|h| (h.to_string(), 2)).to_vec());
    for (h, pid) in HOSTS.iter().zip(&pids) {
        assert_eq!(
            &on_host(h, "systemctl show -p MainPID --value kiln-echo"),
            pid
        );
        let conf = std::fs::read_to_string(root_of(h).join("etc/kiln-echo.conf")).expect("conf");
        assert!(
            conf.starts_with("greeting=hello\n"),
            "{h}: check mode wrote {conf}"
        );
    }
    let applied = changed_per_host(&run_kiln("site.yml", &change));
    assert_eq!(applied, check, "the run the check predicted");
    for (h, pid) in HOSTS.iter().zip(&pids) {
        let seen =
            std::fs::read_to_string(root_of(h).join("var/lib/kiln-echo.seen")).expect("seen");
        assert!(seen.starts_with("greeting=bonjour\n"), "{h}: {seen}");
        let now = on_host(h, "systemctl show -p MainPID --value kiln-echo");
        assert_ne!(&now, pid, "{h}: the handler restarted the service");
        assert_ne!(now, "0", "{h}: the service runs");
    }

    // The package removed: check mode predicts it and leaves it installed.
    let absent = ["-e", "greeting=bonjour", "-e", "hello_state=absent"];
    let check = changed_per_host(&run_kiln("site.yml", &[&["-C"][..], &absent].concat()));
    assert_eq!(
        check,
        HOSTS.map(|h| (h.to_string(), 1)).to_vec(),
        "-C absent"
    );
    for h in HOSTS {
        assert_eq!(
            on_host(h, "dpkg-query -W -f '${db:Status-Abbrev}' hello"),
            "ii"
        );
    }
    let removed = changed_per_host(&run_kiln("site.yml", &absent));
    assert_eq!(removed, check, "the removal the check predicted");
    for h in HOSTS {
        assert_eq!(
            on_host(
                h,
                "dpkg-query -W -f '${db:Status-Abbrev}' hello 2>/dev/null | grep -q '^ii' || echo gone"
            ),
            "gone",
            "{h}: hello removed"
        );
    }

    // Docker in a lab host: docker.io from Debian through the lab's package proxy, an image
    // imported from busybox, and a container that prints.
    let docker = changed_per_host(&run_kiln("docker.yml", &[]));
    assert_eq!(docker, vec![("lab1".to_string(), 2)], "docker first run");
    assert_eq!(
        on_host(
            "lab1",
            "docker run --rm kiln-lab/busybox /bin/busybox echo hello from a container"
        ),
        "hello from a container"
    );
    let docker_again = changed_per_host(&run_kiln("docker.yml", &[]));
    assert_eq!(docker_again, vec![("lab1".to_string(), 0)], "docker rerun");

    // A host that reboots comes back with a new boot, its files kept.
    let boot = on_host("lab3", "cat /proc/sys/kernel/random/boot_id");
    let _ = lab.on_host_output("lab3", "systemctl reboot");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let rebooted = loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = on_host("lab3", "cat /proc/sys/kernel/random/boot_id");
        if !now.is_empty() && now != boot {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
    };
    assert!(rebooted, "lab3 did not come back from a reboot");
    assert_eq!(on_host("lab3", "systemctl is-active kiln-echo"), "active");

    // A second lab beside this one (test suites run their labs in parallel): its own
    // addresses, and its `down` leaves this lab's hosts, bridge and proxy alone.
    {
        let Some(other) = Lab::up(9, 1) else { return };
        assert_eq!(other.ip_of("lab1"), "10.99.9.11");
        assert_eq!(other.on_host("lab1", "hostname"), "lab1");
        let ping = other.kiln_run(&site("site.yml"), &["--list-hosts"]);
        assert!(stdout(&ping).contains("lab1"), "{}", stdout(&ping));
        assert_eq!(
            other.on_host("lab1", "apt-get -q update >/dev/null 2>&1 && echo ok"),
            "ok",
            "packages through the shared proxy"
        );
    }
    assert_eq!(on_host("lab1", "hostname"), "lab1", "lab 0 outlives lab 9");
    let rerun = changed_per_host(&run_kiln("site.yml", &absent));
    assert_eq!(rerun, HOSTS.map(|h| (h.to_string(), 0)).to_vec());

    // `down` leaves nothing of either lab behind (other labs, of other test binaries, may
    // be running; the bridge and the proxy go with the last lab).
    drop(lab);
    let sh = |cmd: &str| {
        stdout(
            &std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .output()
                .expect("sh"),
        )
    };
    assert_eq!(sh("ip netns list | grep -E '^kiln-(9-)?lab' || true"), "");
    assert_eq!(
        sh("ip -o link show | grep -E 'kl-(9-)?lab[0-9]' || true"),
        ""
    );
    assert_eq!(
        sh("grep -E '/var/lib/kiln-lab(-9)?/' /proc/mounts || true"),
        ""
    );
    assert_eq!(
        sh("pgrep -af 'systemd-nspawn .*-M kiln-(9-)?lab[0-9]' || true")
            .lines()
            .filter(|l| !l.contains("pgrep"))
            .count(),
        0
    );
    assert_eq!(
        sh(
            "find /sys/fs/cgroup -maxdepth 6 -regextype posix-extended -type d \
            -regex '.*/kiln-lab/kiln-(9-)?lab[0-9]+'"
        ),
        ""
    );
    let others = sh(
        "ls -d /var/lib/kiln-lab-*/hosts/lab* 2>/dev/null | grep -v '^/var/lib/kiln-lab-9/' || true",
    );
    if others.trim().is_empty() {
        assert_eq!(sh("ip -o link show | grep kilnlab0 || true"), "");
        assert_eq!(sh("pgrep -a apt-cacher-ng || true"), "");
    }
}
