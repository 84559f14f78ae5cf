//! The stack kiln ships (playbooks/, roles/, inventories/): Docker, the private registry, the
//! app behind HAProxy with rolling deploys, PostgreSQL backups, and the base (`common`) through
//! site.yml, run by kiln on lab 8 (tests/common/lab.rs): four Debian hosts, the repository's
//! own lab inventory (inventories/lab, written for lab 0) moved to lab 8's addresses.
//!
//! The lab reaches Debian packages only, so this runs the stack's offline paths: Debian's
//! docker.io and docker-registry, images built on a host from its own busybox
//! (busybox-static) and pushed to the registry. Everything asserted is read back on the hosts
//! (through OpenSSH) or over HTTP from this machine.
//!
//! Every playbook in playbooks/ also passes `kiln validate` and ansible-core's
//! `ansible-playbook --syntax-check`, which needs the collections the roles name
//! (community.docker, community.general, ansible.posix: `tests/setup` unpacks them into
//! `.venv-oracle/collections`, or set `KILN_ORACLE_COLLECTIONS`).

mod common;

use common::lab::{Lab, changed_per_host, lab_cmd};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const LAB: u32 = 8;
const REGISTRY: &str = "10.99.8.11:5000";
const REGISTRY_PASSWORD: &str = "lab-registry-Pa55";
const LB: &str = "10.99.8.11:80";
const APP_HOSTS: [&str; 3] = ["lab2", "lab3", "lab4"];

fn collections() -> PathBuf {
    let dir = std::env::var_os("KILN_ORACLE_COLLECTIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-oracle/collections"));
    for c in ["community/docker", "community/general", "ansible/posix"] {
        assert!(
            dir.join("ansible_collections")
                .join(c)
                .join("MANIFEST.json")
                .exists(),
            "{c} is missing in `{}`: run `tests/setup` (or set KILN_ORACLE_COLLECTIONS)",
            dir.display()
        );
    }
    dir
}

fn playbooks() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(repo().join("playbooks"))
        .expect("playbooks/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    found.sort();
    found
}

/// Every shipped playbook loads in kiln and in ansible-core: the content is real Ansible.
#[test]
fn every_playbook_passes_validate_and_ansible_syntax_check() {
    let coll = collections();
    let books = playbooks();
    for want in ["site", "docker", "registry", "app", "backup", "restore"] {
        assert!(
            books.iter().any(|p| p.ends_with(format!("{want}.yml"))),
            "playbooks/{want}.yml is missing"
        );
    }
    for book in &books {
        let out = kiln().arg("validate").arg(book).output().expect("kiln");
        assert!(
            out.status.success(),
            "kiln validate {}:\n{}{}",
            book.display(),
            stdout(&out),
            stderr(&out)
        );
        let out = oracle_bin("ansible-playbook")
            .arg("--syntax-check")
            .arg("-i")
            .arg(repo().join("inventories/lab"))
            .arg(book)
            .env("ANSIBLE_COLLECTIONS_PATH", &coll)
            .output()
            .expect("ansible-playbook");
        assert!(
            out.status.success() && !stderr(&out).contains("[ERROR]"),
            "ansible-playbook --syntax-check {}:\n{}{}",
            book.display(),
            stdout(&out),
            stderr(&out)
        );
    }
}

/// Inventory variables are templated where they are read, so one that names `hostvars` (the
/// lab inventory's `registry_host`) must find it even when no task of the play names it.
#[test]
fn hostvars_named_only_by_inventory_variables() {
    let dir = fixtures().join("stack/hostvars");
    let out = kiln()
        .arg("run")
        .arg(dir.join("play.yml"))
        .arg("-i")
        .arg(dir.join("inventory"))
        .env("NO_COLOR", "1")
        .output()
        .expect("kiln");
    assert!(
        out.status.success() && stdout(&out).contains("peer is 192.0.2.7"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The registry role makes sure its htpasswd file exists with `state: touch` and both times
/// preserved: made on the first run, left alone (`changed=0`, same mtime) on the next.
#[test]
fn touch_with_preserved_times_changes_nothing_the_second_time() {
    let dir = std::env::temp_dir().join(format!("kiln-stack-touch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let run = || {
        let out = kiln()
            .arg("run")
            .arg(fixtures().join("stack/touch.yml"))
            .arg("-e")
            .arg(format!("dir={}", dir.display()))
            .env("NO_COLOR", "1")
            .output()
            .expect("kiln");
        changed_per_host(&out)[0].1
    };
    assert_eq!(run(), 1, "the file is made");
    let file = dir.join("kept");
    let old = filetime(&file);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(run(), 0, "a second touch that preserves both times");
    assert_eq!(filetime(&file), old, "the times were kept");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).expect("kept").permissions().mode() & 0o777,
        0o640
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn filetime(p: &Path) -> (std::time::SystemTime, std::time::SystemTime) {
    let m = std::fs::metadata(p).expect("metadata");
    (m.modified().expect("mtime"), m.accessed().expect("atime"))
}

struct Stack {
    lab: Lab,
    /// inventories/lab with lab 8's addresses and state directory.
    inv: PathBuf,
}

impl Stack {
    /// The registry's CA on the controller.
    fn pki(&self) -> PathBuf {
        self.inv.with_file_name(".pki").join("inventory")
    }

    fn run(&self, playbook: &str, extra: &[&str]) -> Output {
        kiln()
            .arg("run")
            .arg(repo().join("playbooks").join(playbook))
            .arg("-i")
            .arg(&self.inv)
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .expect("run kiln")
    }

    /// A run that must succeed; its changed count per host.
    fn changed(&self, playbook: &str, extra: &[&str]) -> Vec<(String, u32)> {
        let out = self.run(playbook, extra);
        assert!(
            out.status.success(),
            "{playbook} {extra:?} failed:\n{}\n{}{}",
            stdout(&out),
            stderr(&out),
            self.journals_of_unreachable(&out)
        );
        changed_per_host(&out)
    }

    /// The recent journal of every host a run found unreachable: why its session ended is
    /// often only there (sshd, logind, systemd).
    fn journals_of_unreachable(&self, out: &Output) -> String {
        let text = stdout(out);
        let mut hosts: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("UNREACHABLE!"))
            .filter_map(|l| l.split_once('[')?.1.split_once(']').map(|(h, _)| h))
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
            .iter()
            .map(|h| {
                let journal = self.lab.on_host_output(
                    h,
                    "journalctl -q --no-pager -o short-precise --since -5min | tail -n 120",
                );
                format!(
                    "\n--- the journal of {h} ---\n{}{}",
                    stdout(&journal),
                    stderr(&journal)
                )
            })
            .collect()
    }

    /// A rerun: nothing changes on any host.
    fn unchanged(&self, playbook: &str, extra: &[&str]) {
        let changed = self.changed(playbook, extra);
        assert!(
            changed.iter().all(|(_, c)| *c == 0),
            "rerun of {playbook} {extra:?} changed something: {changed:?}"
        );
    }

    fn on(&self, host: &str, cmd: &str) -> String {
        self.lab.on_host(host, cmd)
    }

    /// A root command on a host that must succeed; its output.
    fn must(&self, host: &str, cmd: &str) -> String {
        let out = self.lab.on_host_output(host, cmd);
        assert!(
            out.status.success(),
            "{host}: {cmd}:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out).trim().to_string()
    }
}

/// Copies inventories/lab (written for lab 0) to a directory of its own with lab `id`'s
/// addresses and state directory: `TMP/kiln-stack-ID/inventory`, whose registry CA goes to
/// `TMP/kiln-stack-ID/.pki/inventory` (made anew with each run).
fn lab_inventory(id: u32) -> PathBuf {
    let src = repo().join("inventories/lab");
    let top = std::env::temp_dir().join(format!("kiln-stack-{id}"));
    let _ = std::fs::remove_dir_all(&top);
    let dst = top.join("inventory");
    copy_rewritten(&src, &dst, id);
    dst
}

fn copy_rewritten(src: &Path, dst: &Path, id: u32) {
    std::fs::create_dir_all(dst).expect("inventory dir");
    for e in std::fs::read_dir(src).expect("inventories/lab") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name");
        if p.is_dir() {
            copy_rewritten(&p, &dst.join(name), id);
        } else {
            let text = std::fs::read_to_string(&p).expect("inventory file");
            let text = text
                .replace("10.99.0.", &format!("10.99.{id}."))
                .replace("/var/lib/kiln-lab/", &format!("/var/lib/kiln-lab-{id}/"));
            std::fs::write(dst.join(name), text).expect("write inventory file");
        }
    }
}

/// One HTTP GET through a new connection: the status code (0 when it failed) and the body.
fn http_get(addr: &str, path: &str) -> (u32, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &addr.parse().expect("address"),
        Duration::from_secs(3),
    ) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: app\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_stack_on_the_lab() {
    // Fresh hosts: the check-mode run below must meet hosts without Docker.
    let _ = lab_cmd(LAB, &["down"]);
    if !lab_cmd(LAB, &["up", "4"]).status.success() {
        // A first `up` just after another lab went down can fail on the shared bridge.
        let _ = lab_cmd(LAB, &["up", "4"]);
    }
    let Some(lab) = Lab::up(LAB, 4) else { return };
    let s = Stack {
        lab,
        inv: lab_inventory(LAB),
    };
    let started = std::time::Instant::now();
    docker(&s);
    registry(&s);
    app(&s);
    backup_and_restore(&s);
    site(&s);
    eprintln!("the stack on the lab took {:?}", started.elapsed());
}

fn docker(s: &Stack) {
    let two = ["-l", "lab2,lab3"];
    // Check mode on fresh hosts predicts the install and makes nothing.
    let out = s.run("docker.yml", &["-C", "-l", "lab2,lab3"]);
    let changed = changed_per_host(&out);
    assert!(
        changed.len() == 2 && changed.iter().all(|(_, c)| *c > 0),
        "check mode: {changed:?}\n{}",
        stdout(&out)
    );
    for h in ["lab2", "lab3"] {
        assert_eq!(
            s.on(
                h,
                "test -e /usr/sbin/dockerd || test -e /etc/docker/daemon.json || echo none"
            ),
            "none",
            "check mode installed Docker on {h}"
        );
    }

    s.changed("docker.yml", &two);
    for h in ["lab2", "lab3"] {
        assert_eq!(s.on(h, "systemctl is-active docker"), "active", "{h}");
        let daemon = s.must(h, "cat /etc/docker/daemon.json");
        assert!(
            daemon.contains("\"max-size\": \"10m\"") && daemon.contains("json-file"),
            "{h}: {daemon}"
        );
        s.must(
            h,
            "docker info --format '{{.LoggingDriver}}' | grep -qx json-file",
        );
    }
    s.unchanged("docker.yml", &two);

    // An image imported from the host's own busybox runs.
    s.must(
        "lab2",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null && \
         d=$(mktemp -d) && mkdir \"$d/bin\" && cp /bin/busybox \"$d/bin/\" && ln -s busybox \"$d/bin/sh\" && \
         tar -C \"$d\" -c . | docker import - kiln/busybox:1 >/dev/null && rm -rf \"$d\"",
    );
    assert_eq!(
        s.must(
            "lab2",
            "docker run --rm kiln/busybox:1 /bin/busybox echo imported runs"
        ),
        "imported runs"
    );

    // The offline option for images: an archive on the controller, loaded by the docker role.
    s.must("lab2", "docker save -o /root/busybox.tar kiln/busybox:1");
    let archive = s.inv.with_file_name("busybox.tar");
    std::fs::copy(s.lab.root_of("lab2").join("root/busybox.tar"), &archive)
        .expect("copy the image archive");
    let archives = format!(
        r#"{{"docker_image_archives": [{{"src": "{}", "name": "kiln/busybox:1"}}]}}"#,
        archive.display()
    );
    let changed = s.changed("docker.yml", &["-l", "lab3", "-e", &archives]);
    assert!(changed[0].1 > 0, "{changed:?}");
    assert_eq!(
        s.must(
            "lab3",
            "docker run --rm kiln/busybox:1 /bin/busybox echo loaded runs"
        ),
        "loaded runs"
    );
    s.unchanged("docker.yml", &["-l", "lab3", "-e", &archives]);
}

fn registry(s: &Stack) {
    s.changed("registry.yml", &[]);
    assert_eq!(
        s.on("lab1", "systemctl is-active docker-registry"),
        "active"
    );
    assert_eq!(
        s.on("lab1", "systemctl is-enabled registry-gc.timer"),
        "enabled"
    );
    // The CA was made on the controller; its key never leaves it.
    assert!(s.pki().join("ca.crt").exists() && s.pki().join("ca.key").exists());
    assert_eq!(
        s.on("lab1", "grep -rl 'PRIVATE KEY' /etc/docker/registry/"),
        "/etc/docker/registry/key.pem"
    );
    let htpasswd = s.must("lab1", "cat /etc/docker/registry/htpasswd");
    assert!(htpasswd.starts_with("kiln:$2y$"), "bcrypt: {htpasswd}");

    // Docker on every Docker host (lab4 is new), each trusting the registry's CA.
    s.changed("docker.yml", &[]);
    let ca = std::fs::read_to_string(s.pki().join("ca.crt")).expect("ca.crt");
    for h in APP_HOSTS {
        let on_host = std::fs::read_to_string(
            s.lab
                .root_of(h)
                .join(format!("etc/docker/certs.d/{REGISTRY}/ca.crt")),
        )
        .unwrap_or_default();
        assert_eq!(on_host, ca, "{h}: the registry's CA");
    }
    for h in ["lab1", "lab2", "lab3"] {
        let reg = s.must(h, "cat /etc/rancher/k3s/registries.yaml");
        assert!(
            reg.contains(&format!("\"{REGISTRY}\":")) && reg.contains("ca_file"),
            "{h}: {reg}"
        );
    }

    let login = |h: &str, password: &str| {
        s.lab.on_host_output(
            h,
            &format!(
                "printf %s '{password}' | docker login {REGISTRY} -u kiln --password-stdin 2>&1"
            ),
        )
    };
    // lab2 logs in and pushes over TLS; lab3 logs in and pulls.
    let out = login("lab2", REGISTRY_PASSWORD);
    assert!(out.status.success(), "login: {}", stdout(&out));
    s.must(
        "lab2",
        &format!("docker tag kiln/busybox:1 {REGISTRY}/kiln/busybox:1 && docker push {REGISTRY}/kiln/busybox:1"),
    );
    let out = login("lab3", REGISTRY_PASSWORD);
    assert!(out.status.success(), "login: {}", stdout(&out));
    s.must("lab3", &format!("docker pull {REGISTRY}/kiln/busybox:1"));
    assert_eq!(
        s.must(
            "lab3",
            &format!("docker run --rm {REGISTRY}/kiln/busybox:1 /bin/busybox echo pulled runs")
        ),
        "pulled runs"
    );
    // A wrong password is refused, and so is a pull without credentials.
    let out = login("lab4", "wrong-password");
    assert!(
        !out.status.success() && stdout(&out).contains("401"),
        "a wrong password: {}",
        stdout(&out)
    );
    let out = s.lab.on_host_output(
        "lab4",
        &format!("docker pull {REGISTRY}/kiln/busybox:1 2>&1"),
    );
    assert!(
        !out.status.success() && stdout(&out).contains("no basic auth credentials"),
        "a pull without credentials: {}",
        stdout(&out)
    );

    s.unchanged("registry.yml", &[]);
    s.unchanged("docker.yml", &[]);
}

/// The app's releases, built on lab2 from the busybox image and pushed: each serves its
/// version at `/` and `ok` at `/health`, except release 3, which has no `/health`.
fn build_releases(s: &Stack) {
    for v in 1..=3 {
        let health = if v == 3 {
            ""
        } else {
            "echo ok > /srv/app/www/health;"
        };
        s.must(
            "lab2",
            &format!(
                "rm -rf /srv/app && mkdir -p /srv/app/www && echo v{v} > /srv/app/www/index.html && {health} \
                 printf '%s\\n' 'FROM kiln/busybox:1' 'COPY www /www' 'EXPOSE 8080' \
                 'CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]' > /srv/app/Dockerfile && \
                 DOCKER_BUILDKIT=0 docker build -q -t {REGISTRY}/kiln/app:{v} /srv/app >/dev/null && \
                 docker push -q {REGISTRY}/kiln/app:{v} >/dev/null && docker rmi {REGISTRY}/kiln/app:{v} >/dev/null"
            ),
        );
    }
}

fn image_and_id(s: &Stack, host: &str) -> (String, String) {
    let out = s.on(
        host,
        "docker container inspect --format '{{.Config.Image}} {{.Id}}' app",
    );
    let (image, id) = out.split_once(' ').unwrap_or((&out, ""));
    (image.to_string(), id.to_string())
}

fn app(s: &Stack) {
    build_releases(s);
    s.changed("app.yml", &["-e", "app_version=1"]);
    for h in APP_HOSTS {
        assert_eq!(
            image_and_id(s, h).0,
            format!("{REGISTRY}/kiln/app:1"),
            "{h}"
        );
    }
    assert_eq!(http_get(LB, "/"), (200, "v1".to_string()));
    s.unchanged("app.yml", &["-e", "app_version=1"]);

    // Requests from this machine all through the rollouts.
    let stop = Arc::new(AtomicBool::new(false));
    let requests = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(http_get(LB, "/"));
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        })
    };

    let changed = s.changed("app.yml", &["-e", "app_version=2"]);
    for h in APP_HOSTS {
        assert!(
            changed.iter().any(|(n, c)| n == h && *c > 0),
            "{h} deployed: {changed:?}"
        );
        assert_eq!(
            image_and_id(s, h).0,
            format!("{REGISTRY}/kiln/app:2"),
            "{h}"
        );
    }

    // A broken release: the first host fails its health check, is rolled back, and the
    // rollout stops there.
    let before: Vec<_> = APP_HOSTS.iter().map(|h| image_and_id(s, h)).collect();
    let out = s.run("app.yml", &["-e", "app_version=3"]);
    let text = stdout(&out);
    assert!(!out.status.success(), "a broken release succeeded:\n{text}");
    assert!(
        text.contains(&format!(
            "release 3 failed on lab2 (Release healthy); rolled back to {REGISTRY}/kiln/app:2"
        )),
        "{text}"
    );
    let (image, id) = image_and_id(s, "lab2");
    assert_eq!(image, format!("{REGISTRY}/kiln/app:2"), "lab2 rolled back");
    assert_ne!(id, before[0].1, "lab2's container was replaced twice");
    for (h, b) in APP_HOSTS.iter().zip(&before).skip(1) {
        assert_eq!(&image_and_id(s, h), b, "{h} was not touched");
    }
    let recap = recap(&out);
    assert_eq!(
        recap.get("lab2").map(|c| c[3]),
        Some(1),
        "lab2 failed: {recap:?}"
    );
    // lab2 is back in the balancer, serving.
    s.must(
        "lab1",
        "echo 'show stat' | socat stdio unix-connect:/run/haproxy/admin.sock | grep -q '^app,lab2,.*,UP,'",
    );
    std::thread::sleep(Duration::from_millis(500));

    stop.store(true, Ordering::Relaxed);
    let seen = requests.join().expect("request loop");
    let failed: Vec<_> = seen.iter().filter(|(c, _)| *c != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the rollouts: {:?}",
        failed.len(),
        seen.len(),
        &failed[..failed.len().min(5)]
    );
    let bodies: std::collections::BTreeSet<&str> = seen.iter().map(|(_, b)| b.as_str()).collect();
    assert!(seen.len() > 50, "only {} requests", seen.len());
    assert!(
        bodies.contains("v1") && bodies.contains("v2") && !bodies.contains("v3"),
        "served during the rollouts: {bodies:?}"
    );
    assert_eq!(http_get(LB, "/"), (200, "v2".to_string()));
}

fn backup_and_restore(s: &Stack) {
    s.changed("backup.yml", &[]);
    assert_eq!(s.on("lab1", "systemctl is-active postgresql"), "active");
    assert_eq!(
        s.on("lab1", "systemctl is-enabled kiln-pg-backup.timer"),
        "enabled"
    );
    s.must(
        "lab1",
        "runuser -u postgres -- createdb shop && runuser -u postgres -- psql -q -d shop \
         -c 'CREATE TABLE orders (id int PRIMARY KEY, item text)' \
         -c \"INSERT INTO orders SELECT i, 'item ' || i FROM generate_series(1, 42) i\"",
    );
    s.unchanged("backup.yml", &[]);
    s.changed("backup.yml", &["-e", "postgres_backup_now=true"]);
    let dumps = s.must("lab1", "ls /var/backups/postgresql/");
    assert!(
        dumps
            .lines()
            .any(|l| l.starts_with("shop-") && l.ends_with(".dump")),
        "{dumps}"
    );

    // The data is lost; the restore brings it back from the dump.
    s.must("lab1", "runuser -u postgres -- dropdb shop");
    let changed = s.changed("restore.yml", &["-e", "restore_database=shop"]);
    assert_eq!(changed, vec![("lab1".to_string(), 1)]);
    assert_eq!(
        s.must(
            "lab1",
            "runuser -u postgres -- psql -Atd shop -c \"SELECT count(*), max(item) FROM orders\""
        ),
        "42|item 9"
    );
    s.unchanged("restore.yml", &["-e", "restore_database=shop"]);
}

fn site(s: &Stack) {
    // k3s needs its upstream binary; monitoring has its own test binary (stack_monitoring).
    let release = ["-e", "app_version=2", "--skip-tags", "k3s,monitoring"];
    s.changed("site.yml", &release);
    s.unchanged("site.yml", &release);
    for h in ["lab1", "lab2", "lab3", "lab4"] {
        let ufw = s.must(h, "ufw status verbose");
        assert!(
            ufw.contains("Status: active") && ufw.contains("deny (incoming)"),
            "{h}: {ufw}"
        );
        let sshd = s.must(h, "sshd -T");
        assert!(
            sshd.contains("passwordauthentication no") && sshd.contains("permitrootlogin no"),
            "{h}"
        );
        assert_eq!(
            s.on(
                h,
                "sysctl -n net.ipv4.ip_forward; grep -c . /etc/modules-load.d/kiln.conf"
            ),
            "1\n3",
            "{h}"
        );
    }
    // The rules follow the inventory: the app port is open to the balancer only.
    let ufw = s.must("lab3", "ufw status");
    assert!(
        ufw.lines()
            .any(|l| l.starts_with("8080/tcp") && l.contains("ALLOW") && l.contains("10.99.8.11")),
        "{ufw}"
    );
    // Behind the firewall: the deploy user logs in with the lab's key, the balancer serves,
    // and the registry answers a Docker host.
    let key = s.lab.state().join("id_ed25519");
    let out = Command::new("ssh")
        .arg("-i")
        .arg(&key)
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            s.lab.state().join("known_hosts").display()
        ))
        .args(["-o", "BatchMode=yes", "deploy@10.99.8.13", "sudo -n id -u"])
        .output()
        .expect("ssh");
    assert_eq!(stdout(&out).trim(), "0", "deploy user: {}", stderr(&out));
    assert_eq!(http_get(LB, "/"), (200, "v2".to_string()));
    s.must(
        "lab4",
        &format!(
            "printf %s '{REGISTRY_PASSWORD}' | docker login {REGISTRY} -u kiln --password-stdin"
        ),
    );
    s.must("lab4", &format!("docker pull -q {REGISTRY}/kiln/app:1"));
}
