//! The community.docker modules kiln implements with the target's `docker` CLI, on lab 3
//! (tests/common/lab.rs): two real Debian hosts with Debian's docker.io, images imported from
//! busybox (no outside registry is reachable), Compose v2 from Debian trixie on lab1, and a
//! registry of its own (Debian's docker-registry, TLS and htpasswd) on lab2.
//!
//! What Docker did is read back with `docker inspect` on the hosts (through OpenSSH). For
//! docker_network, docker_volume and docker_container the same task files also run with
//! ansible-core and community.docker (from the `ansible` package on PyPI; `tests/setup`
//! unpacks it into `.venv-oracle/collections`, or set `KILN_ORACLE_COLLECTIONS`) against
//! lab2, and each run's changed count, diff and the containers' state must be the same.

mod common;

use common::lab::{Lab, changed_per_host};
use common::*;
use kiln::connection::quote::quote;
use std::path::PathBuf;
use std::process::Output;

fn fx(name: &str) -> PathBuf {
    fixtures().join("modules_docker").join(name)
}

/// community.docker for the oracle: the collections directory to point ansible at.
fn oracle_collections() -> PathBuf {
    let dir = std::env::var_os("KILN_ORACLE_COLLECTIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-oracle/collections"));
    assert!(
        dir.join("ansible_collections/community/docker/MANIFEST.json")
            .exists(),
        "community.docker is missing in `{}`: run `tests/setup` (or set KILN_ORACLE_COLLECTIONS)",
        dir.display()
    );
    dir
}

struct T<'a> {
    lab: &'a Lab,
    collections: PathBuf,
}

impl T<'_> {
    fn kiln(&self, playbook: &str, extra: &[&str]) -> Output {
        self.lab.kiln_run(&fx(playbook), extra)
    }

    /// kiln on lab1: the changed count of a run that must succeed.
    fn changed(&self, playbook: &str, extra: &[&str]) -> u32 {
        let mut args = vec!["-l", "lab1"];
        args.extend_from_slice(extra);
        let out = self.kiln(playbook, &args);
        changed_per_host(&out)[0].1
    }

    /// The same run with kiln on lab1 and ansible-core on lab2: both changed counts, and
    /// both outputs.
    fn both(&self, playbook: &str, extra: &[&str]) -> ((u32, String), (u32, String)) {
        let mut k = vec!["-l", "lab1"];
        k.extend_from_slice(extra);
        let mut a = vec!["-l", "lab2"];
        a.extend_from_slice(extra);
        let (kout, aout) = std::thread::scope(|s| {
            let kh = s.spawn(|| self.kiln(playbook, &k));
            let ah = s.spawn(|| {
                self.lab.ansible_run_env(
                    &fx(playbook),
                    &a,
                    &[("ANSIBLE_COLLECTIONS_PATH", self.collections.as_path())],
                )
            });
            (kh.join().expect("kiln"), ah.join().expect("ansible"))
        });
        (
            (changed_per_host(&kout)[0].1, stdout(&kout)),
            (changed_per_host(&aout)[0].1, stdout(&aout)),
        )
    }

    fn on(&self, host: &str, cmd: &str) -> String {
        self.lab.on_host(host, cmd)
    }

    /// `docker WHAT inspect --format FORMAT NAME` on a host (its error text when missing).
    fn inspect(&self, host: &str, what: &str, name: &str, format: &str) -> String {
        self.on(
            host,
            &format!(
                "docker {what} inspect --format {} {} 2>&1",
                quote(format),
                quote(name)
            ),
        )
    }
}

/// The diff hunks of a run's output (from `--- before` to the host's result line).
fn diffs(out: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cur: Option<String> = None;
    for line in out.lines() {
        if line.starts_with("--- before") {
            cur = Some(String::new());
        }
        if let Some(c) = &mut cur {
            if line.starts_with("changed: [") || line.starts_with("ok: [") {
                // ansible-playbook prints a blank line after a diff; kiln does not.
                let hunk = std::mem::take(c);
                found.push(format!("{}\n", hunk.trim_end()));
                cur = None;
                continue;
            }
            c.push_str(line);
            c.push('\n');
        }
    }
    found
}

/// An HTTP GET from this machine; the body.
fn http_get(addr: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &addr.parse().expect("address"),
        std::time::Duration::from_secs(5),
    ) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let _ = write!(s, "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

#[test]
fn docker_modules_on_the_lab() {
    let Some(lab) = Lab::up(3, 2) else { return };
    let t = T {
        lab: &lab,
        collections: oracle_collections(),
    };
    setup(&t);
    networks_and_volumes(&t);
    containers(&t);
    run_to_completion(&t);
    login_build_push_pull(&t);
    compose(&t);
}

fn setup(t: &T) {
    let out = t.kiln("setup.yml", &[]);
    assert!(
        out.status.success(),
        "setup:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // lab1 trusts lab2's registry certificate (a self-signed CA of its own).
    let cert = std::fs::read(t.lab.root_of("lab2").join("etc/docker/registry/cert.pem"))
        .expect("the registry's certificate");
    let dir = t
        .lab
        .root_of("lab1")
        .join("etc/docker/certs.d/10.99.3.12:5000");
    std::fs::create_dir_all(&dir).expect("certs.d");
    std::fs::write(dir.join("ca.crt"), cert).expect("ca.crt");
    // What an earlier run on a lab left behind.
    for h in ["lab1", "lab2"] {
        t.on(
            h,
            "docker rm -f kiln-web kiln-once >/dev/null 2>&1; docker network rm kiln-net >/dev/null 2>&1; \
             docker volume rm kiln-data >/dev/null 2>&1; rm -f /root/.docker/config.json; \
             docker rmi kiln/app:1 kiln/app:2 10.99.3.12:5000/kiln/app:1 >/dev/null 2>&1; \
             [ -d /srv/kiln-compose ] && docker compose -p kiln --project-directory /srv/kiln-compose down >/dev/null 2>&1; \
             rm -rf /srv/kiln-compose /srv/kiln-build /srv/kiln-app.tar; true",
        );
    }
}

fn networks_and_volumes(t: &T) {
    // Check mode predicts both, creates nothing, and shows what it would create; kiln and
    // ansible-core agree at each step.
    let ((k, kout), (a, aout)) = t.both("network.yml", &["-C", "-D"]);
    assert_eq!((k, a), (2, 2), "check mode on fresh hosts");
    assert_eq!(
        diffs(&kout),
        diffs(&aout),
        "check-mode diffs:\n{kout}\n{aout}"
    );
    assert_eq!(diffs(&kout).len(), 2, "{kout}");
    for h in ["lab1", "lab2"] {
        assert!(
            t.inspect(h, "network", "kiln-net", "{{.Name}}")
                .contains("No such network")
        );
        assert!(
            t.inspect(h, "volume", "kiln-data", "{{.Name}}")
                .contains("No such volume")
        );
    }
    let ((k, kout), (a, aout)) = t.both("network.yml", &["-D"]);
    assert_eq!((k, a), (2, 2), "first run");
    assert_eq!(diffs(&kout), diffs(&aout), "diffs:\n{kout}\n{aout}");
    assert!(
        diffs(&kout)
            .concat()
            .contains("-    \"exists\": false\n+    \"exists\": true"),
        "{kout}"
    );
    for h in ["lab1", "lab2"] {
        assert_eq!(
            t.inspect(
                h,
                "network",
                "kiln-net",
                "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.purpose}} {{.Driver}}"
            ),
            "172.30.7.0/24 kiln bridge",
            "{h}"
        );
        assert_eq!(
            t.inspect(h, "volume", "kiln-data", "{{.Labels.purpose}} {{.Driver}}"),
            "one local"
        );
    }
    let ((k, _), (a, _)) = t.both("network.yml", &[]);
    assert_eq!((k, a), (0, 0), "rerun");
    // A changed label: the volume is recreated (recreate: options-changed), with a diff.
    let ((k, kout), (a, aout)) = t.both("network.yml", &["-C", "-D", "-e", "volume_label=two"]);
    assert_eq!((k, a), (1, 1));
    assert_eq!(
        t.inspect("lab1", "volume", "kiln-data", "{{.Labels.purpose}}"),
        "one"
    );
    assert_eq!(
        diffs(&kout),
        diffs(&aout),
        "check-mode diffs:\n{kout}\n{aout}"
    );
    assert!(
        diffs(&kout)
            .concat()
            .contains("+    \"labels.purpose\": \"two\""),
        "{kout}"
    );
    let ((k, kout), (a, aout)) = t.both("network.yml", &["-D", "-e", "volume_label=two"]);
    assert_eq!((k, a), (1, 1));
    assert_eq!(diffs(&kout), diffs(&aout), "diffs:\n{kout}\n{aout}");
    assert_eq!(
        t.inspect("lab1", "volume", "kiln-data", "{{.Labels.purpose}}"),
        "two"
    );
}

/// The parts of `docker inspect` the web container's options set, for comparing hosts.
const STATE: &str = "{{.Config.Image}}|{{json .Config.Env}}|{{json .Config.Labels}}|{{json .Config.Cmd}}|{{json .Config.ExposedPorts}}|{{json .HostConfig.PortBindings}}|{{json .HostConfig.RestartPolicy}}|{{.HostConfig.Memory}}|{{.HostConfig.NetworkMode}}|{{json .HostConfig.Binds}}|{{json .HostConfig.Mounts}}|{{json .Config.Healthcheck}}|{{.Config.Hostname}}|{{.Config.WorkingDir}}|{{json .HostConfig.CapAdd}}|{{json .HostConfig.Init}}|{{.Config.StopTimeout}}|{{json .HostConfig.LogConfig}}|{{.State.Status}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{json $v.Aliases}} {{end}}";

fn state(t: &T, host: &str) -> String {
    // Aliases include the container's short ID, different on each host.
    let id = t.inspect(host, "container", "kiln-web", "{{.Id}}");
    let short = id.get(..12).unwrap_or_default().to_string();
    let s = t
        .inspect(host, "container", "kiln-web", STATE)
        .replace(&short, "ID");
    // Env is a set for Docker and for community.docker's comparison: compare it sorted.
    let mut parts: Vec<String> = s.split('|').map(str::to_string).collect();
    if let Some(env) = parts.get_mut(1)
        && let Ok(mut list) = serde_json::from_str::<Vec<String>>(env)
    {
        list.sort();
        *env = serde_json::to_string(&list).unwrap_or_default();
    }
    parts.join("|")
}

fn containers(t: &T) {
    let id = |h: &str| t.inspect(h, "container", "kiln-web", "{{.Id}}");
    // Check mode predicts the container and makes nothing.
    let ((k, _), (a, _)) = t.both("container.yml", &["-C"]);
    assert_eq!((k, a), (1, 1), "check mode on fresh hosts");
    assert!(id("lab1").contains("No such"), "{}", id("lab1"));

    let ((k, kout), (a, aout)) = t.both("container.yml", &["-D"]);
    assert_eq!((k, a), (1, 1), "first run:\n{kout}\n{aout}");
    assert_eq!(
        diffs(&kout),
        diffs(&aout),
        "first run diffs:\n{kout}\n{aout}"
    );
    let s = state(t, "lab1");
    assert_eq!(
        s,
        state(t, "lab2"),
        "the container kiln made and the one community.docker made"
    );
    for part in [
        "[\"GREETING=hello\",\"MODE=lab\"]",
        "\"app\":\"kiln-web\"",
        "{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}]}",
        "{\"Name\":\"on-failure\",\"MaximumRetryCount\":3}",
        "|67108864|kiln-net|",
        "[\"kiln-data:/data:rw\"]",
        "\"Target\":\"/srv\",\"ReadOnly\":true",
        "\"CMD-SHELL\",\"/bin/busybox true\"",
        "|kiln-web|/srv|[\"NET_ADMIN\"]|true|2|",
        "\"max-size\":\"1m\"",
        "|running|",
        "kiln-net:[\"web\",\"ID\"",
        "\"81/tcp\":{}",
    ] {
        assert!(s.contains(part), "`{part}` not in {s}");
    }
    // Published to the host's address, and reachable by name from another container.
    assert_eq!(http_get("10.99.3.11:8080"), "kiln web\n");
    assert_eq!(
        t.on(
            "lab1",
            "docker run --rm --network kiln-net kiln/busybox /bin/busybox wget -q -O - http://web/"
        ),
        "kiln web"
    );

    let ((k, _), (a, _)) = t.both("container.yml", &[]);
    assert_eq!((k, a), (0, 0), "rerun");

    // A changed environment: check mode predicts the recreation and shows the diff, the run
    // recreates the container.
    let before = id("lab1");
    let ((k, kout), (a, aout)) = t.both("container.yml", &["-C", "-D", "-e", "greeting=bonjour"]);
    assert_eq!((k, a), (1, 1));
    assert_eq!(
        diffs(&kout),
        diffs(&aout),
        "check-mode diffs:\n{kout}\n{aout}"
    );
    assert!(
        diffs(&kout)
            .concat()
            .contains("-        \"GREETING=hello\","),
        "{kout}"
    );
    assert_eq!(id("lab1"), before, "check mode recreated the container");
    let ((k, kout), (a, aout)) = t.both("container.yml", &["-D", "-e", "greeting=bonjour"]);
    assert_eq!((k, a), (1, 1));
    assert_eq!(diffs(&kout), diffs(&aout), "diffs:\n{kout}\n{aout}");
    let recreated = id("lab1");
    assert_ne!(recreated, before, "a changed env recreates the container");
    assert_eq!(state(t, "lab1"), state(t, "lab2"));
    assert!(state(t, "lab1").contains("\"GREETING=bonjour\""));

    // A changed memory limit is updated in place (`docker update`), same container.
    let ((k, kout), (a, aout)) = t.both(
        "container.yml",
        &["-D", "-e", "greeting=bonjour", "-e", "memory=96M"],
    );
    assert_eq!((k, a), (1, 1));
    assert_eq!(diffs(&kout), diffs(&aout), "update diffs:\n{kout}\n{aout}");
    assert_eq!(id("lab1"), recreated);
    assert_eq!(
        t.inspect("lab1", "container", "kiln-web", "{{.HostConfig.Memory}}"),
        "100663296"
    );

    // Stopped, started, removed; each twice: the second run changes nothing.
    let vars = ["-e", "greeting=bonjour", "-e", "memory=96M"];
    for (st, status) in [("stopped", "exited"), ("started", "running")] {
        for expect in [1, 0] {
            let mut extra = vars.to_vec();
            let arg = format!("state={st}");
            extra.extend(["-e", arg.as_str()]);
            let ((k, _), (a, _)) = t.both("container.yml", &extra);
            assert_eq!((k, a), (expect, expect), "state {st}");
            assert_eq!(
                t.inspect("lab1", "container", "kiln-web", "{{.State.Status}}"),
                status
            );
        }
    }
    let ((k, _), (a, _)) = t.both("container.yml", &["-C", "-e", "state=absent"]);
    assert_eq!((k, a), (1, 1));
    assert_eq!(id("lab1"), recreated, "check mode removed the container");
    for expect in [1, 0] {
        let ((k, _), (a, _)) = t.both("container.yml", &["-e", "state=absent"]);
        assert_eq!((k, a), (expect, expect), "absent");
    }
    assert!(id("lab1").contains("No such"));
    assert!(id("lab2").contains("No such"));
}

fn run_to_completion(t: &T) {
    let out = t.kiln("oneshot.yml", &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("status=0 output=out|err failed=False"),
        "{}",
        stdout(&out)
    );
    assert!(
        t.inspect("lab1", "container", "kiln-once", "{{.Id}}")
            .contains("No such"),
        "cleanup"
    );
    let out = t.kiln("oneshot.yml", &["-e", "code=3"]);
    assert!(
        stdout(&out).contains("status=3 output=out|err failed=True"),
        "{}",
        stdout(&out)
    );
}

fn login_build_push_pull(t: &T) {
    const PASSWORD: &str = "s3cret-Pa55";
    // A wrong password fails with the registry's answer; no password in the output.
    let out = t.kiln("login.yml", &["-v", "-e", "password=wrong-Pw"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("Logging into 10.99.3.12:5000 for user kiln failed"),
        "{text}"
    );
    assert!(text.contains("401 Unauthorized"), "{text}");
    assert!(!text.contains("wrong-Pw"), "{text}");

    // Check mode asks the registry, and writes nothing.
    assert_eq!(t.changed("login.yml", &["-C"]), 1);
    assert!(
        t.on("lab1", "cat /root/.docker/config.json 2>&1")
            .contains("No such file")
    );

    // While the login runs, every command line on lab1 is recorded: the password is in none.
    t.on("lab1", "(while [ ! -e /tmp/kiln-argv.stop ]; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; echo; done > /tmp/kiln-argv.log 2>&1 &) ; rm -f /tmp/kiln-argv.stop");
    let out = t.kiln("login.yml", &["-l", "lab1", "-v"]);
    t.on("lab1", "touch /tmp/kiln-argv.stop; sleep 0.3");
    assert_eq!(changed_per_host(&out)[0].1, 1, "{}", stdout(&out));
    assert!(!stdout(&out).contains(PASSWORD), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("\"Status\": \"Login Succeeded\""),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        t.on(
            "lab1",
            "grep -c docker /tmp/kiln-argv.log >/dev/null && echo seen"
        ),
        "seen",
        "the recorder saw the commands"
    );
    assert_eq!(
        t.on("lab1", &format!("grep -c {PASSWORD} /tmp/kiln-argv.log")),
        "0"
    );
    let config = t.on(
        "lab1",
        "stat -c %a /root/.docker/config.json; cat /root/.docker/config.json",
    );
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("kiln:{PASSWORD}"));
    assert_eq!(
        config,
        format!(
            "600\n{{\n    \"auths\": {{\n        \"10.99.3.12:5000\": {{\n            \"auth\": \"{auth}\"\n        }}\n    }}\n}}"
        )
    );
    assert_eq!(t.changed("login.yml", &[]), 0, "logged in already");

    // An image built FROM the imported one, tagged into the registry and pushed.
    assert_eq!(
        t.changed("image.yml", &[]),
        4,
        "dir, Dockerfile, build, tag+push"
    );
    assert_eq!(
        t.inspect(
            "lab1",
            "image",
            "kiln/app:1",
            "{{index .Config.Labels \"org.kiln.version\"}} {{json .Config.Env}}"
        ),
        "1 [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"APP_VERSION=1\"]"
    );
    assert_eq!(
        t.changed("image.yml", &[]),
        0,
        "built, tagged and pushed already"
    );
    // Check mode predicts the build and builds nothing; the tagging after it then finds no
    // image, as community.docker's check mode does (`source: local`).
    let out = t.kiln("image.yml", &["-l", "lab1", "-C", "-e", "version=2"]);
    let text = stdout(&out);
    let build = text.split("TASK [the image]").nth(1).unwrap_or_default();
    assert!(
        build
            .trim_start()
            .trim_start_matches('*')
            .trim_start()
            .starts_with("changed: [lab1]"),
        "{text}"
    );
    assert!(
        text.contains("Cannot find the image kiln/app:2 locally."),
        "{text}"
    );
    assert!(
        t.inspect("lab1", "image", "kiln/app:2", "{{.Id}}")
            .contains("No such")
    );

    // Saved to an archive (check mode writes none; once saved, the archive holds the image
    // and nothing changes), loaded back from it.
    let id = t.inspect("lab1", "image", "kiln/app:1", "{{.Id}}");
    assert_eq!(t.changed("archive.yml", &["-C"]), 1);
    assert_eq!(
        t.on(
            "lab1",
            "[ -e /srv/kiln-app.tar ] && echo there || echo none"
        ),
        "none",
        "check mode wrote the archive"
    );
    let out = t.kiln("archive.yml", &["-l", "lab1"]);
    assert_eq!(changed_per_host(&out)[0].1, 1, "archived");
    assert!(
        stdout(&out)
            .contains("actions=Archived image kiln/app:1 to /srv/kiln-app.tar, since none present"),
        "{}",
        stdout(&out)
    );
    assert_eq!(t.changed("archive.yml", &[]), 0, "archived already");
    // A file that is no image archive is overwritten.
    t.on("lab1", "echo junk > /srv/kiln-app.tar");
    let out = t.kiln("archive.yml", &["-l", "lab1"]);
    assert_eq!(changed_per_host(&out)[0].1, 1, "archived again");
    assert!(
        stdout(&out).contains("/srv/kiln-app.tar, overwriting an unreadable archive file"),
        "{}",
        stdout(&out)
    );
    let manifest = t.on("lab1", "tar -xOf /srv/kiln-app.tar manifest.json");
    assert!(
        manifest.contains("\"RepoTags\":[\"kiln/app:1\"]")
            && manifest.contains(id.trim_start_matches("sha256:")),
        "{manifest}"
    );
    t.on("lab1", "docker rmi kiln/app:1 >/dev/null");
    assert_eq!(t.changed("archive.yml", &["-C", "-e", "source=load"]), 1);
    assert!(
        t.inspect("lab1", "image", "kiln/app:1", "{{.Id}}")
            .contains("No such")
    );
    assert_eq!(
        t.changed("archive.yml", &["-e", "source=load"]),
        1,
        "loaded"
    );
    assert_eq!(t.inspect("lab1", "image", "kiln/app:1", "{{.Id}}"), id);
    assert_eq!(
        t.changed("archive.yml", &["-e", "source=load"]),
        0,
        "loaded already"
    );

    // Removed locally, pulled back from the registry.
    assert_eq!(t.changed("pull.yml", &["-e", "state=absent"]), 1);
    assert!(
        t.inspect("lab1", "image", "10.99.3.12:5000/kiln/app:1", "{{.Id}}")
            .contains("No such")
    );
    // The diff shows the image ID before and after (`unknown` in check mode).
    let out = t.kiln("pull.yml", &["-l", "lab1", "-C", "-D"]);
    assert_eq!(changed_per_host(&out)[0].1, 1);
    let shown = diffs(&stdout(&out)).concat();
    assert!(
        shown.contains("-    \"exists\": false\n+    \"id\": \"unknown\""),
        "{shown}"
    );
    let out = t.kiln("pull.yml", &["-l", "lab1", "-D"]);
    assert_eq!(changed_per_host(&out)[0].1, 1, "pulled");
    let shown = diffs(&stdout(&out)).concat();
    assert!(shown.contains(&format!("+    \"id\": \"{id}\"")), "{shown}");
    assert_eq!(
        t.inspect("lab1", "image", "10.99.3.12:5000/kiln/app:1", "{{.Id}}"),
        id
    );
    assert_eq!(
        t.changed("pull.yml", &[]),
        0,
        "pulled again: the same image"
    );
    assert_eq!(t.changed("pull.yml", &["-e", "pull=not_present"]), 0);

    // Logged out: the credentials leave the config file.
    assert_eq!(t.changed("login.yml", &["-C", "-e", "state=absent"]), 1);
    assert!(
        t.on("lab1", "cat /root/.docker/config.json")
            .contains(&auth)
    );
    assert_eq!(t.changed("login.yml", &["-e", "state=absent"]), 1);
    assert!(
        !t.on("lab1", "cat /root/.docker/config.json")
            .contains(&auth)
    );
    assert_eq!(t.changed("login.yml", &["-e", "state=absent"]), 0);
}

fn compose(t: &T) {
    let project = |h: &str| {
        t.on(
            h,
            "docker ps -a --filter label=com.docker.compose.project=kiln --format '{{.Names}} {{.State}} {{.Label \"org.kiln.message\"}}'",
        )
    };
    assert_eq!(t.changed("compose.yml", &[]), 3, "dir, file, project");
    assert_eq!(project("lab1"), "kiln-app-1 running one");
    assert_eq!(t.changed("compose.yml", &[]), 0, "up again");
    // Check mode runs `docker compose up --dry-run`: a service changed behind kiln's back is
    // predicted, and left alone.
    t.on(
        "lab1",
        "sed -i 's/one/two/g' /srv/kiln-compose/compose.yaml",
    );
    assert_eq!(t.changed("compose.yml", &["-C", "-e", "message=two"]), 1);
    assert_eq!(project("lab1"), "kiln-app-1 running one");
    assert_eq!(
        t.changed("compose.yml", &["-e", "message=two"]),
        1,
        "recreated"
    );
    assert_eq!(project("lab1"), "kiln-app-1 running two");
    for (st, expect, shown) in [
        ("stopped", 1, "kiln-app-1 exited two"),
        ("stopped", 0, "kiln-app-1 exited two"),
        ("restarted", 1, "kiln-app-1 running two"),
        ("absent", 1, ""),
        ("absent", 0, ""),
    ] {
        let arg = format!("state={st}");
        assert_eq!(
            t.changed("compose.yml", &["-e", "message=two", "-e", &arg]),
            expect,
            "state {st}"
        );
        assert_eq!(project("lab1"), shown, "state {st}");
    }
}

/// Bad arguments are refused while loading, naming the task's file and line.
#[test]
fn argument_errors_name_the_task() {
    let dir = std::env::temp_dir().join(format!("kiln-docker-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cases: &[(&str, &str)] = &[
        (
            "name: x, image: y, colour: red",
            "unsupported parameters for (docker_container) module: colour",
        ),
        (
            "name: x, image: y, memory: [1]",
            "argument `memory` is of type list and we were unable to convert to str",
        ),
        ("image: y", "missing required arguments: name"),
        (
            "name: x, image: y, networks: [3]",
            "elements of `networks` must be of type dict, got int",
        ),
        (
            "name: x, state: present",
            "state is present but all of the following are missing: image",
        ),
        (
            "name: x, image: y, restart_retries: 2",
            "missing parameter(s) required by 'restart_retries': restart_policy",
        ),
        (
            "name: x, image: y, networks: [{aliases: [a]}]",
            "missing required arguments: name found in networks",
        ),
        (
            "name: x, image: y, device_requests: [{count: 1}]",
            "`device_requests` is not supported by kiln's docker_container yet",
        ),
        (
            "name: x, image: y, state: running",
            "value of `state` must be one of: absent, present, healthy, stopped, started, got: running",
        ),
        (
            "name: x, image: y, client_cert: /etc/docker/cert.pem",
            "parameters are required together: client_cert, client_key",
        ),
    ];
    for (i, (args, says)) in cases.iter().enumerate() {
        let path = dir.join(format!("case{i}.yml"));
        std::fs::write(
            &path,
            format!("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: bad\n      community.docker.docker_container: {{{args}}}\n"),
        )
        .expect("write");
        let out = kiln()
            .arg("validate")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .expect("kiln");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{args}: {err}");
        assert!(err.contains(says), "{args}: {err}");
        assert!(err.contains(&format!("case{i}.yml:5:")), "{args}: {err}");
    }
    for (i, (module, args, says)) in [
        (
            "docker_compose_v2",
            "project_src: /x, definition: {services: {}}, project_name: p",
            "parameters are mutually exclusive: definition|project_src",
        ),
        (
            "docker_compose_v2",
            "project_src: /x, docker_host: 'unix:///run/d.sock', cli_context: c",
            "parameters are mutually exclusive: docker_host|cli_context",
        ),
        (
            "docker_compose_v2",
            "state: present",
            "one of the following is required: definition, project_src",
        ),
        (
            "docker_compose_v2",
            "project_src: /x, wait_timeout: soon",
            "argument `wait_timeout` is of type str and we were unable to convert to int",
        ),
        (
            "docker_compose_v2",
            "project_src: /x, detached: true",
            "unsupported parameters for (docker_compose_v2) module: detached",
        ),
        (
            "docker_compose_v2",
            "definition: {services: {}}",
            "missing parameter(s) required by 'definition': project_name",
        ),
        (
            "docker_login",
            "username: u",
            "state is present but all of the following are missing: password",
        ),
        (
            "docker_login",
            "username: u, password: p, reauthorize: maybe",
            "argument `reauthorize` is of type str and we were unable to convert to bool",
        ),
        (
            "docker_login",
            "username: u, password: p, registy: r",
            "unsupported parameters for (docker_login) module: registy",
        ),
        (
            "docker_image",
            "source: local",
            "missing required arguments: name",
        ),
        (
            "docker_image",
            "name: x, source: local, force_source: maybe",
            "argument `force_source` is of type str and we were unable to convert to bool",
        ),
        (
            "docker_image",
            "name: x, source: local, archive: /x.tar",
            "unsupported parameters for (docker_image) module: archive",
        ),
        (
            "docker_image_pull",
            "tag: '1'",
            "missing required arguments: name",
        ),
        (
            "docker_image_pull",
            "name: [a]",
            "argument `name` is of type list and we were unable to convert to str",
        ),
        (
            "docker_image_pull",
            "name: a, pull: sometimes",
            "value of `pull` must be one of: always, not_present, got: sometimes",
        ),
        (
            "docker_image_pull",
            "name: a, platfrom: linux/amd64",
            "unsupported parameters for (docker_image_pull) module: platfrom",
        ),
        (
            "docker_image",
            "name: x",
            "state is present but all of the following are missing: source",
        ),
        (
            "docker_image",
            "name: x, source: build",
            "source is build but all of the following are missing: build",
        ),
        (
            "docker_network",
            "name: n, ipam_config: [{subnet: 1, gatewy: 2}]",
            "unsupported parameters for (docker_network) module: gatewy found in ipam_config",
        ),
        (
            "docker_network",
            "driver: bridge",
            "missing required arguments: name",
        ),
        (
            "docker_network",
            "name: n, internal: maybe",
            "argument `internal` is of type str and we were unable to convert to bool",
        ),
        (
            "docker_network",
            "name: n, connected: [[a]]",
            "elements of `connected` must be of type str, got list",
        ),
        (
            "docker_volume",
            "driver: local",
            "missing required arguments: volume_name",
        ),
        (
            "docker_volume",
            "name: v, labels: [a]",
            "argument `labels` is of type list and we were unable to convert to dict",
        ),
        (
            "docker_volume",
            "name: v, lables: {a: b}",
            "unsupported parameters for (docker_volume) module: lables",
        ),
        (
            "docker_volume",
            "name: v, tls_client_key: /k",
            "parameters are required together: client_cert, client_key",
        ),
        (
            "docker_volume",
            "name: v, recreate: sometimes",
            "value of `recreate` must be one of: always, never, options-changed, got: sometimes",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.join(format!("{module}-{i}.yml"));
        std::fs::write(
            &path,
            format!("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: ok\n      debug: msg=x\n\n    - name: bad\n      {module}: {{{args}}}\n"),
        )
        .expect("write");
        let out = kiln()
            .arg("validate")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .expect("kiln");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{module}: {err}");
        assert!(err.contains(says), "{module}: {err}");
        assert!(
            err.contains(&format!("{module}-{i}.yml:8:")),
            "{module}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
