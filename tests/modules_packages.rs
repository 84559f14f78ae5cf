//! The package modules on real Debian bookworm hosts (lab 1: tests/common/lab.rs), packages
//! from Debian through the lab's proxy and from a repository of the test's own: two versions
//! of a tiny package in a flat index signed by a throwaway key (tests/fixtures/
//! modules_packages/mkrepo.sh, with dpkg-deb, dpkg-scanpackages and gpg on this machine),
//! served on the lab's machine address by a python3 http.server the test starts and stops.
//! Outcomes are read on the hosts (dpkg-query, the files in /etc/apt). One #[test] brings
//! the lab up once and runs the scenarios in turn; the lab goes down at the end.
//!
//! The differential part runs `diff.yml` with ansible-core against lab2 and with kiln against
//! lab1: the same changed/ok sequence per task, the same package states, the same
//! deb822_repository file byte for byte and the same package facts.

mod common;

use common::lab::Lab;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const PORT: u16 = 8631;

fn fixture(name: &str) -> PathBuf {
    fixtures().join("modules_packages").join(name)
}

/// The test's repository server; stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Per task, this host's status (`ok`, `changed`, `fatal`, ...), from the run's output.
fn statuses(out: &Output, host: &str) -> Vec<(String, String)> {
    let mut task = String::new();
    let mut res = Vec::new();
    for line in stdout(out).lines() {
        if let Some(rest) = line.strip_prefix("TASK [") {
            task = rest
                .split("] ")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(']')
                .to_string();
            continue;
        }
        for st in ["ok", "changed", "fatal", "failed", "skipping"] {
            if line.starts_with(&format!("{st}: [{host}]")) {
                res.push((task.clone(), st.to_string()));
            }
        }
    }
    res
}

fn ok(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "the run failed:\n{}\n{}",
        stdout(out),
        stderr(out)
    );
    out
}

fn changed(out: &Output, host: &str) -> u32 {
    recap(ok(out))
        .get(host)
        .map(|c| c[1])
        .unwrap_or_else(|| panic!("no recap for {host}:\n{}", stdout(out)))
}

/// `name version status` of each package on the host (`-` for unknown ones).
fn pkg_state(lab: &Lab, host: &str, pkgs: &[&str]) -> Vec<String> {
    pkgs.iter()
        .map(|p| {
            let s = lab.on_host(
                host,
                &format!("dpkg-query -W -f='${{Version}} ${{db:Status-Abbrev}}' {p} 2>/dev/null || echo -"),
            );
            format!("{p} {}", s.trim())
        })
        .collect()
}

/// A root command on both hosts at once (they are independent); it must succeed.
fn on_both(lab: &Lab, cmd: &str) {
    std::thread::scope(|s| {
        let jobs = ["lab1", "lab2"].map(|h| s.spawn(move || (h, lab.on_host_output(h, cmd))));
        for j in jobs {
            let (h, out) = j.join().expect("host thread");
            assert!(
                out.status.success(),
                "{h}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
}

/// `playbook` by kiln on lab1 and by ansible-core on lab2, at the same time.
fn both_runs(lab: &Lab, playbook: &Path, extra: &[&str]) -> (Output, Output) {
    std::thread::scope(|s| {
        let k = s.spawn(|| {
            let mut a = vec!["-l", "lab1"];
            a.extend_from_slice(extra);
            lab.kiln_run(playbook, &a)
        });
        let mut a = vec!["-l", "lab2"];
        a.extend_from_slice(extra);
        let ansible = lab.ansible_run(playbook, &a);
        (k.join().expect("kiln thread"), ansible)
    })
}

#[test]
fn package_modules_on_debian_hosts() {
    let Some(lab) = Lab::up(1, 2) else { return };
    let work = std::env::temp_dir().join(format!("kiln-packages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo).expect("work dir");
    let mk = Command::new(fixture("mkrepo.sh"))
        .arg(&repo)
        .output()
        .expect("run mkrepo.sh");
    assert!(mk.status.success(), "mkrepo.sh: {}", stderr(&mk));
    let machine = format!("10.99.{}.1", lab.id);
    let _server = Server(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &PORT.to_string(),
                "--bind",
                &machine,
                "--directory",
            ])
            .arg(&repo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the repository server"),
    );
    let repo_url = format!("http://{machine}:{PORT}/");
    let vars = work.join("vars.yml");
    std::fs::write(
        &vars,
        format!("repo_url: {repo_url}\nrepo_dir: {}\n", repo.display()),
    )
    .expect("vars");
    let evars = format!("@{}", vars.display());
    // The hosts reach the test's server directly, not through the package proxy (which
    // would cache its changing files); python3-apt and python3-debian are what Ansible's
    // modules need on lab2, installed on both so their package lists stay alike.
    on_both(
        &lab,
        &format!(
            "echo 'Acquire::http::Proxy::{machine} \"DIRECT\";' > /etc/apt/apt.conf.d/02kiln-test-direct && \
             DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null && \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-apt python3-debian >/dev/null"
        ),
    );
    // Wait for the server to answer.
    for _ in 0..50 {
        if std::net::TcpStream::connect((machine.as_str(), PORT)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let run = |file: &str, extra: &[&str]| {
        let mut args = vec!["-l", "lab1", "-e", evars.as_str()];
        args.extend_from_slice(extra);
        lab.kiln_run(&fixture(file), &args)
    };

    differential(&lab, &evars);
    // Back to Debian's packages only on lab1 for the scenarios that follow.
    let out = lab.on_host_output(
        "lab1",
        "rm -f /etc/apt/sources.list.d/kiln-local-repo.sources && apt-get -q update >/dev/null",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    install_check_diff_rerun(&lab, &run);
    repository_key_package_facts(&lab, &run, &repo);
    deb_by_url(&lab, &run);
    dnf_on_debian(&lab);
    load_errors(&lab);
    let _ = std::fs::remove_dir_all(&work);
}

fn install_check_diff_rerun(lab: &Lab, run: &dyn Fn(&str, &[&str]) -> Output) {
    let pkgs = ["hello", "tree"];
    assert_eq!(pkg_state(lab, "lab1", &pkgs), ["hello -", "tree -"]);
    // Check mode predicts the install (apt-get --simulate) and installs nothing.
    let check = run("install.yml", &["-C", "-D"]);
    assert_eq!(changed(&check, "lab1"), 1);
    assert!(
        stdout(&check).contains("The following NEW packages will be installed:"),
        "{}",
        stdout(&check)
    );
    assert_eq!(pkg_state(lab, "lab1", &pkgs), ["hello -", "tree -"]);
    // The real run, with the diff: apt's list of what it installs.
    let first = run("install.yml", &["-D"]);
    assert_eq!(changed(&first, "lab1"), 1);
    let text = stdout(&first);
    assert!(
        text.contains("  hello tree") || text.contains("hello"),
        "{text}"
    );
    assert!(
        text.contains("0 upgraded, 2 newly installed, 0 to remove"),
        "{text}"
    );
    for s in pkg_state(lab, "lab1", &pkgs) {
        assert!(s.ends_with(" ii"), "{s}");
    }
    // Manually installed, as Ansible marks them.
    assert_eq!(
        lab.on_host("lab1", "apt-mark showmanual hello tree"),
        "hello\ntree"
    );
    // Upgrades in check mode simulate and change nothing.
    let listing = || {
        lab.on_host(
            "lab1",
            "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n'",
        )
    };
    let before = listing();
    let st = statuses(ok(&run("upgrade.yml", &["-C"])), "lab1");
    assert_eq!(st.len(), 3, "{st:?}");
    assert_eq!(listing(), before);
    let again = run("install.yml", &["-D"]);
    assert_eq!(changed(&again, "lab1"), 0);
    assert!(
        !stdout(&again).contains("newly installed"),
        "{}",
        stdout(&again)
    );
}

fn repository_key_package_facts(lab: &Lab, run: &dyn Fn(&str, &[&str]) -> Output, repo: &Path) {
    let root = lab.root_of("lab1");
    let list = root.join("etc/apt/sources.list.d/10_99_1_1_8631.list");
    let keyring = root.join("etc/apt/keyrings/kiln-test.gpg");
    // Check mode predicts the key and the source (the package is not there to predict
    // before the source is) and writes nothing.
    let check = run("repo.yml", &["-C", "-D", "-t", "sources"]);
    let st = statuses(ok(&check), "lab1");
    assert_eq!(
        st,
        [
            (
                "key into its own keyring".to_string(),
                "changed".to_string()
            ),
            ("the repository".to_string(), "changed".to_string())
        ]
    );
    assert!(
        stdout(&check).contains("+++ after: /etc/apt/sources.list.d/10_99_1_1_8631.list"),
        "{}",
        stdout(&check)
    );
    assert!(!list.exists() && !keyring.exists());

    let first = run("repo.yml", &[]);
    let st = statuses(ok(&first), "lab1");
    let want: Vec<(String, String)> = [
        ("key into its own keyring", "changed"),
        ("the repository", "changed"),
        ("the package", "changed"),
        ("the newest", "ok"),
        ("package_facts", "ok"),
        ("facts as Ansible shapes them", "ok"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(st, want);
    assert_eq!(
        std::fs::read_to_string(&list).expect("list file"),
        "deb [signed-by=/etc/apt/keyrings/kiln-test.gpg] http://10.99.1.1:8631/ ./\n"
    );
    // The keyring holds the key as binary packets, the same bytes gpg exports.
    assert_eq!(
        std::fs::read(&keyring).expect("keyring"),
        std::fs::read(repo.join("key.gpg")).expect("key.gpg")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&keyring)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
    assert_eq!(
        pkg_state(lab, "lab1", &["kiln-hello"]),
        ["kiln-hello 2.0 ii"]
    );
    let again = run("repo.yml", &[]);
    assert_eq!(changed(&again, "lab1"), 0, "{}", stdout(&again));
}

fn deb_by_url(lab: &Lab, run: &dyn Fn(&str, &[&str]) -> Output) {
    let first = run("deb.yml", &[]);
    let st = statuses(ok(&first), "lab1");
    assert_eq!(st.len(), 3, "{st:?}");
    assert_eq!(st[2], ("from a URL".into(), "changed".into()));
    assert_eq!(
        pkg_state(lab, "lab1", &["kiln-hello"]),
        ["kiln-hello 1.0 ii"]
    );
    let again = run("deb.yml", &[]);
    let st = statuses(ok(&again), "lab1");
    // Removing and purging again change it back; the URL's version then installs again.
    assert_eq!(st[0].1, "ok");
    assert_eq!(st[2].1, "changed");
    // Without removing first, the same file is no change.
    let out = lab.kiln_run(
        &fixture("deb.yml"),
        &[
            "-l",
            "lab1",
            "-e",
            &format!("repo_url=http://10.99.{}.1:{PORT}/", lab.id),
            "--start-at-task",
            "from a URL",
        ],
    );
    let st = statuses(ok(&out), "lab1");
    assert_eq!(st, [("from a URL".to_string(), "ok".to_string())]);
}

fn differential(lab: &Lab, evars: &str) {
    let playbook = fixture("diff.yml");
    let (kiln, ansible) = both_runs(lab, &playbook, &["-e", evars]);
    let a = statuses(ok(&ansible), "lab2");
    let k = statuses(ok(&kiln), "lab1");
    assert_eq!(k, a, "kiln (left) and ansible-core (right) per task");
    assert!(a.iter().any(|(_, s)| s == "changed") && a.iter().any(|(_, s)| s == "ok"));
    let pkgs = ["hello", "kiln-hello", "tree"];
    assert_eq!(pkg_state(lab, "lab1", &pkgs), pkg_state(lab, "lab2", &pkgs));
    let rel = "etc/apt/sources.list.d/kiln-local-repo.sources";
    let a_file = std::fs::read(lab.root_of("lab2").join(rel)).expect("ansible's sources file");
    let k_file = std::fs::read(lab.root_of("lab1").join(rel)).expect("kiln's sources file");
    assert_eq!(
        String::from_utf8_lossy(&k_file),
        String::from_utf8_lossy(&a_file)
    );
    // Package facts: the same entries for every package both hosts have.
    let facts = |h: &str| -> serde_json::Value {
        let text =
            std::fs::read_to_string(lab.root_of(h).join("root/packages.json")).expect("facts");
        serde_json::from_str(&text).expect("facts json")
    };
    let (kf, af) = (facts("lab1"), facts("lab2"));
    let (km, am) = (kf.as_object().expect("map"), af.as_object().expect("map"));
    assert!(km.len() > 100, "{}", km.len());
    let mut compared = 0;
    for (name, entry) in km {
        if let Some(other) = am.get(name) {
            assert_eq!(entry, other, "package_facts for {name}");
            compared += 1;
        }
    }
    assert!(compared * 10 > km.len() * 9, "{compared} of {}", km.len());
}

/// dnf from Debian on both hosts, a tiny RPM built there and a file:// repository that
/// yum_repository configures: ansible-core on lab2 and kiln on lab1 give the same statuses,
/// the same .repo file, registered results and rpm package facts; then kiln's check mode
/// predicts changes on lab1 and makes none.
fn dnf_on_debian(lab: &Lab) {
    let setup = std::fs::read_to_string(fixture("rpmrepo.sh")).expect("rpmrepo.sh");
    on_both(lab, &setup);
    let playbook = fixture("dnf.yml");
    let installed = |h: &str| lab.on_host_output(h, "rpm -q kiln-rpm").status.success();
    let repo_file = "etc/yum.repos.d/kiln.repo";
    let (kiln, ansible) = both_runs(lab, &playbook, &[]);
    let k = statuses(ok(&kiln), "lab1");
    let a = statuses(ok(&ansible), "lab2");
    assert_eq!(k, a, "kiln (left) and ansible-core (right) per task");
    assert_eq!(k[0].1, "changed");
    assert_eq!(k[1].1, "ok");
    let read =
        |h: &str| std::fs::read_to_string(lab.root_of(h).join(repo_file)).expect("repo file");
    assert_eq!(
        read("lab1"),
        read("lab2"),
        "yum_repository's file, kiln (left) and ansible-core"
    );
    let results =
        |h: &str| std::fs::read_to_string(lab.root_of(h).join("root/dnf.json")).expect("dnf.json");
    assert_eq!(results("lab1"), results("lab2"));
    assert!(
        results("lab1").contains("Installed: kiln-rpm-1.0-1.noarch"),
        "{}",
        results("lab1")
    );
    assert!(!installed("lab1") && !installed("lab2"));
    // Check mode predicts and leaves the file and the package as they are.
    let before = read("lab1");
    let check = lab.kiln_run(&fixture("dnf_check.yml"), &["-C"]);
    let st = statuses(ok(&check), "lab1");
    assert!(
        st.iter().all(|(_, s)| s == "changed") && st.len() == 2,
        "{st:?}"
    );
    assert_eq!(read("lab1"), before);
    assert!(!installed("lab1"), "check mode installed the package");
}

fn load_errors(lab: &Lab) {
    for (file, line, words) in [
        (
            "bad_args.yml",
            6,
            "unsupported parameters for (apt) module: nmae",
        ),
        (
            "bad_exclusive.yml",
            5,
            "parameters are mutually exclusive: deb|package|upgrade",
        ),
        ("bad_required.yml", 6, "missing required arguments: name"),
        (
            "bad_choice.yml",
            5,
            "value of `state` must be one of: absent, build-dep, fixed, latest, present, got: installed",
        ),
    ] {
        let out = lab.kiln_run(&fixture(file), &[]);
        assert_eq!(out.status.code(), Some(4), "{file}: {}", stdout(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains(words), "{file}: {all}");
        assert!(all.contains(&format!("{file}:{line}")), "{file}: {all}");
        assert!(!all.contains("PLAY ["), "{file}: nothing runs: {all}");
    }
}
