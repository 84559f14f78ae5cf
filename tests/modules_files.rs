//! The file and content modules (replace, blockinfile, ini_file, lineinfile, find, tempfile,
//! unarchive, get_url, uri, git) against a real OpenSSH sshd on 127.0.0.x, logged in as the
//! test user (root through sudo where ownership matters). Each test reads the real files
//! afterwards, checks that the first run changes, the second does not, that `-C` predicts the
//! first run and changes nothing, and the `-D` diffs. HTTP(S) comes from
//! tests/fixtures/modules_files/httpd.py on 127.0.0.1 (HTTPS with a CA made by openssl in the
//! test). The differential test runs tests/fixtures/modules_files/diff/site.yml with kiln
//! over SSH and with ansible-playbook (local connection) on copies of the same seed files:
//! the files must be byte-identical and the ok/changed sequence the same.
//!
//! Needs (tests/setup installs them): openssh-server, sudo, python3, curl, git, tar, gzip,
//! bzip2, xz-utils, zip, unzip, openssl.

mod common;

use common::sshd::*;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> PathBuf {
    fixtures().join("modules_files")
}

/// One test's world: a scratch directory, a controller HOME, an sshd with one host `t1`.
struct Env {
    s: Scratch,
    home: Home,
    _sshd: Sshd,
    inv: PathBuf,
    /// Where the tasks work; the test user may write in it.
    root: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        require();
        let s = Scratch::new(&format!("files-{name}"));
        let home = Home::new(&s.0);
        let sshd = Sshd::start(&s.0, &["127.0.0.2"], &[home.public_key.as_str()], false);
        home.trust(&sshd);
        let inv = inventory(
            &s.0,
            &[("t1", "127.0.0.2")],
            sshd.port,
            &format!("ansible_become_password={PASSWORD}"),
        );
        let root = s.0.join("root");
        std::fs::create_dir_all(&root).expect("mkdir");
        sh(&format!("chown {USER} {}", root.display()));
        Env {
            s,
            home,
            _sshd: sshd,
            inv,
            root,
        }
    }

    /// A playbook of `tasks` (YAML, indented as a play's task list) on all hosts.
    fn play(&self, name: &str, tasks: &str) -> PathBuf {
        let p = self.s.0.join(format!("{name}.yml"));
        std::fs::write(
            &p,
            format!("- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}"),
        )
        .expect("write");
        p
    }

    fn run(&self, pb: &Path, extra: &[&str]) -> Output {
        kiln()
            .env("HOME", &self.home.dir)
            .env_remove("SSH_AUTH_SOCK")
            .env("NO_COLOR", "1")
            .args(["run", "-i"])
            .arg(&self.inv)
            .arg(pb)
            .arg("-e")
            .arg(format!("root={}", self.root.display()))
            .args(extra)
            .output()
            .expect("kiln")
    }

    /// Writes a file below `root` owned by the test user.
    fn seed(&self, rel: &str, content: &[u8]) -> PathBuf {
        let p = self.root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
            sh(&format!("chown -R {USER} {}", self.root.display()));
        }
        // A new file each time: modes a run changed do not survive a reseed.
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, content).expect("write");
        sh(&format!("chown {USER} {}", p.display()));
        p
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn show(out: &Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}

/// The test's HTTP(S) server (tests/fixtures/modules_files/httpd.py) on 127.0.0.1.
struct Httpd {
    child: Child,
    port: u16,
    root: PathBuf,
    tls: bool,
}

impl Httpd {
    fn start(dir: &Path, tls: Option<(&Path, &Path)>) -> Httpd {
        let name = if tls.is_some() { "https" } else { "http" };
        let root = dir.join(format!("{name}-root"));
        std::fs::create_dir_all(&root).expect("mkdir");
        let portfile = dir.join(format!("{name}.port"));
        let mut cmd = Command::new("python3");
        cmd.arg(fixture().join("httpd.py"))
            .arg(&root)
            .arg(&portfile);
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start httpd.py");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&portfile)
                && let Ok(p) = p.trim().parse()
            {
                break p;
            }
            assert!(Instant::now() < deadline, "httpd.py did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Httpd {
            child,
            port,
            root,
            tls: tls.is_some(),
        }
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!(
            "{scheme}://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// A file the server serves, with a fixed old mtime (so If-Modified-Since is decided).
    fn file(&self, rel: &str, content: &[u8]) {
        let p = self.root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
        sh(&format!(
            "touch -d '2020-01-01 00:00:00 UTC' {}",
            p.display()
        ));
    }

    fn requests(&self) -> u64 {
        let out = Command::new("curl")
            .args(["-s", "-k", &self.url("count")])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert, key).
fn make_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let d = dir.join("pki");
    std::fs::create_dir_all(&d).expect("mkdir");
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh(&format!(
        "cd {0} && openssl req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=kiln-test-ca 2>/dev/null && \
         openssl req {ec} -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null && \
         printf 'subjectAltName=IP:127.0.0.1\\n' > ext && \
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext 2>/dev/null && \
         chmod 0644 ca.pem srv.pem srv.key",
        d.display()
    ));
    (d.join("ca.pem"), d.join("srv.pem"), d.join("srv.key"))
}

/// The results a playbook's `record` task wrote (`results.json` in root).
fn recorded(env: &Env) -> serde_json::Value {
    let text = std::fs::read_to_string(env.root.join("results.json")).expect("results.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A task writing the registered `names` to root/results.json (left out of the cycle's
/// changed checks: its content is the results).
fn record(names: &[&str]) -> String {
    let items: Vec<String> = names.iter().map(|n| format!("'{n}': {n}")).collect();
    format!(
        "    - name: record\n      copy:\n        dest: \"{{{{ root }}}}/results.json\"\n        content: \"{{{{ {{{}}} | to_json }}}}\"\n",
        items.join(", ")
    )
}

/// (task name, status) for every host line: ok, changed, skipping, fatal, failed.
fn statuses(out: &Output) -> Vec<(String, String)> {
    let mut task = String::new();
    let mut v = Vec::new();
    for line in stdout(out).lines() {
        if let Some(rest) = line.strip_prefix("TASK [") {
            task = rest
                .split("] ")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(']')
                .to_string();
        } else if let Some((status, _)) = line.split_once(": [")
            && ["ok", "changed", "skipping", "fatal", "failed"].contains(&status)
        {
            v.push((task.clone(), status.to_string()));
        }
    }
    v
}

fn changed_tasks(out: &Output) -> Vec<String> {
    statuses(out)
        .into_iter()
        .filter(|(t, s)| s == "changed" && t != "record")
        .map(|(t, _)| t)
        .collect()
}

/// Every file below `root`: type, mode and content (links: their target).
fn files(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            let desc = if meta.file_type().is_symlink() {
                format!(
                    "link -> {}",
                    std::fs::read_link(&p).expect("link").display()
                )
            } else if meta.is_dir() {
                walk(root, &p, out);
                format!("dir {:o}", meta.permissions().mode() & 0o7777)
            } else {
                let content = std::fs::read(&p).unwrap_or_default();
                format!(
                    "file {:o} {:?}",
                    meta.permissions().mode() & 0o7777,
                    String::from_utf8_lossy(&content)
                )
            };
            out.insert(rel, desc);
        }
    }
    walk(root, root, &mut out);
    out
}

/// The acceptance cycle for a playbook on a fresh `root`: `-C` changes nothing and predicts
/// which tasks change, the run changes them, a second run changes nothing. Returns the
/// outputs of the check, first and second runs.
fn cycle(env: &Env, pb: &Path, seed: impl Fn()) -> (Output, Output, Output) {
    seed();
    let before = files(&env.root);
    let check = env.run(pb, &["-C"]);
    assert_eq!(
        files(&env.root),
        before,
        "check mode changed files:\n{}",
        show(&check)
    );
    let first = env.run(pb, &[]);
    assert!(first.status.success(), "{}", show(&first));
    assert_eq!(
        changed_tasks(&check),
        changed_tasks(&first),
        "check mode predicted other changes:\n{}\n---\n{}",
        show(&check),
        show(&first)
    );
    let second = env.run(pb, &[]);
    assert!(second.status.success(), "{}", show(&second));
    assert!(
        changed_tasks(&second).is_empty(),
        "the second run changed: {:?}\n{}",
        changed_tasks(&second),
        show(&second)
    );
    (check, first, second)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read seed") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The differential test.

fn ansible_playbook(pb: &Path, root: &Path, extra: &[String]) -> Output {
    let python = oracle_python();
    let inv = root.with_extension("ini");
    std::fs::write(
        &inv,
        format!(
            "d1 ansible_connection=local ansible_python_interpreter={}\n",
            python.display()
        ),
    )
    .expect("inventory");
    oracle_bin("ansible-playbook")
        .arg(pb)
        .arg("-i")
        .arg(&inv)
        .arg("-e")
        .arg(format!("root={}", root.display()))
        .args(extra)
        .output()
        .expect("ansible-playbook")
}

/// Seeds a root with the fixture files, the one symlink, an older and a newer copy of the
/// served file and an unpacked zip with an edited member.
fn seed_diff(root: &Path, files: &Path) {
    let _ = std::fs::remove_dir_all(root);
    copy_dir(&fixture().join("diff/seed"), root);
    std::os::unix::fs::symlink("r15.real", root.join("r15.link")).expect("symlink");
    sh(&format!(
        "cd {0} && chmod -R u+rwX,go+rX . && find . -type f -exec chmod 0644 {{}} + && \
         touch -d '2010-01-01' g5.txt && mkdir u6 && unzip -q {1}/app.zip -d u6 && echo edited > u6/app/README",
        root.display(),
        files.display()
    ));
}

/// A tree without git's own directories (their index and logs carry times).
fn files_without_git(root: &Path) -> BTreeMap<String, String> {
    files(root)
        .into_iter()
        .filter(|(k, _)| !k.contains(".git/") && !k.ends_with(".git"))
        .collect()
}

/// Runs `play` (in tests/fixtures/modules_files/diff/) twice with kiln over SSH and twice
/// with ansible-playbook, each on its own seeded copy: the ok/changed/failed sequences of
/// both runs and the files left must be the same. Returns the number of task results.
fn differential(name: &str, play: &str) -> usize {
    let env = Env::new(name);
    let site = fixture().join("diff").join(play);
    let files_dir = env.s.0.join("files");
    std::fs::create_dir_all(&files_dir).expect("mkdir");
    make_archives(&files_dir);
    let web = Httpd::start(&env.s.0, None);
    web.file("data.txt", b"served data\n");
    let data_sum = sha256_hex(b"served data\n");
    web.file("SHA256SUMS", format!("{data_sum}  data.txt\n").as_bytes());
    // One repository each: git refuses a repository another user owns.
    let (bare, ..) = make_repo(&env.s.0.join("git"));
    let root_bare = env.s.0.join("git/root.git");
    sh(&format!(
        "cp -a {} {} && chown -R root {}",
        bare.display(),
        root_bare.display(),
        root_bare.display()
    ));
    let k = env.root.join("kiln");
    let a = env.s.0.join("ansible");
    seed_diff(&k, &files_dir);
    sh(&format!("chown -R {USER}:{USER} {}", k.display()));
    seed_diff(&a, &files_dir);
    let vars = |root: &Path, repo: &Path| -> Vec<String> {
        [
            format!("root={}", root.display()),
            format!("base={}", web.url("").trim_end_matches('/')),
            format!("files={}", files_dir.display()),
            format!("repo={}", repo.display()),
            format!("data_sha256={data_sum}"),
        ]
        .into_iter()
        .flat_map(|v| ["-e".to_string(), v])
        .collect()
    };
    let kiln_run = || {
        kiln()
            .env("HOME", &env.home.dir)
            .env("NO_COLOR", "1")
            .args(["run", "-i"])
            .arg(&env.inv)
            .arg(&site)
            .args(vars(&k, &bare))
            .output()
            .expect("kiln")
    };
    let mut kiln_seq = Vec::new();
    let mut ansible_seq = Vec::new();
    for run in 0..2 {
        let ko = kiln_run();
        let ao = ansible_playbook(&site, &a, &vars(&a, &root_bare)[2..]);
        assert!(ko.status.success(), "kiln run {run}:\n{}", show(&ko));
        assert!(ao.status.success(), "ansible run {run}:\n{}", show(&ao));
        kiln_seq.push(statuses(&ko));
        ansible_seq.push(statuses(&ao));
    }
    for run in 0..2 {
        let diffs: Vec<String> = kiln_seq[run]
            .iter()
            .zip(&ansible_seq[run])
            .filter(|(k, a)| k != a)
            .map(|(k, a)| format!("{} kiln={} ansible={}", k.0, k.1, a.1))
            .collect();
        assert!(
            diffs.is_empty() && kiln_seq[run].len() == ansible_seq[run].len(),
            "run {run}: statuses differ:\n{}",
            diffs.join("\n")
        );
    }
    let (fk, fa) = (files_without_git(&k), files_without_git(&a));
    let mut problems = Vec::new();
    for key in fk
        .keys()
        .chain(fa.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if fk.get(key) != fa.get(key) {
            problems.push(format!(
                "{key}:\n  kiln:    {:?}\n  ansible: {:?}",
                fk.get(key),
                fa.get(key)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    kiln_seq[0].len()
}

#[test]
fn same_text_edits_as_ansible() {
    // replace, blockinfile and lineinfile.
    assert_eq!(differential("diff-text", "text.yml"), 44);
}

#[test]
fn same_downloads_archives_and_checkouts_as_ansible() {
    // get_url, unarchive and git.
    assert_eq!(differential("diff-fetch", "fetch.yml"), 23);
}

// ---------------------------------------------------------------------------------------
// replace, blockinfile, ini_file, lineinfile over SSH.

/// (name, seed, task arguments after `path`, expected content, expected msg)
const REPLACE: &[(&str, &str, &str, &str, &str)] = &[
    (
        "plain",
        "port=80\nhost=a\n",
        r"regexp: '^port=\d+$', replace: port=8080",
        "port=8080\nhost=a\n",
        "1 replacements made",
    ),
    (
        "backrefs",
        "a=1\nb=2\n",
        r"regexp: '^(\w)=(\d)$', replace: '\1 = \2'",
        "a = 1\nb = 2\n",
        "2 replacements made",
    ),
    (
        "named",
        "k=v\n",
        r"regexp: '^(?P<k>\w+)=(?P<v>\w+)$', replace: '\g<k>: \g<v>'",
        "k: v\n",
        "1 replacements made",
    ),
    (
        "between",
        "x=1\n[s]\nx=1\n[t]\nx=1\n",
        r"after: '\[s\]', before: '\[t\]', regexp: '^x=1$', replace: x=2",
        "x=1\n[s]\nx=2\n[t]\nx=1\n",
        "1 replacements made",
    ),
    ("nomatch", "abc\n", "regexp: zzz, replace: y", "abc\n", ""),
    (
        "delete",
        "a\n# c\nb\n",
        r"regexp: '^#.*\n'",
        "a\nb\n",
        "1 replacements made",
    ),
    (
        "lookahead",
        "listen 80\nlisten 443\n",
        r"regexp: '^listen (?!443|8080)(\d+)$', replace: 'listen 8080'",
        "listen 8080\nlisten 443\n",
        "1 replacements made",
    ),
    (
        "same",
        "a=1\n",
        "regexp: 'a=1', replace: 'a=1'",
        "a=1\n",
        "",
    ),
    (
        "mode",
        "abc\n",
        "regexp: zzz, mode: '0600'",
        "abc\n",
        "ownership, perms or SE linux context changed",
    ),
    (
        "mode_and_text",
        "abc\n",
        "regexp: b, replace: B, mode: '0640'",
        "aBc\n",
        "1 replacements made and ownership, perms or SE linux context changed",
    ),
    (
        "section_missing",
        "abc\n",
        "after: nothere, regexp: a, replace: b",
        "abc\n",
        "Pattern for before/after params did not match the given file: nothere(?P<subsection>.*)",
    ),
];

#[test]
fn replace_edits_files_as_ansible_words_it() {
    let env = Env::new("replace");
    let mut tasks = String::new();
    let mut names = Vec::new();
    for (name, _, args, _, _) in REPLACE {
        tasks.push_str(&format!(
            "    - name: {name}\n      replace: {{path: \"{{{{ root }}}}/{name}.txt\", {args}}}\n      register: {name}\n"
        ));
        names.push(*name);
    }
    tasks.push_str(&record(&names));
    let pb = env.play("replace", &tasks);
    let seed = || {
        for (name, content, ..) in REPLACE {
            env.seed(&format!("{name}.txt"), content.as_bytes());
        }
    };
    let (_, first, _) = cycle(&env, &pb, seed);
    let results = recorded(&env);
    for (name, _, _, want, _) in REPLACE {
        assert_eq!(env.read(&format!("{name}.txt")), *want, "{name}");
        // The recorded results are the second run's: nothing changes, rc is 0.
        assert_eq!(results[name]["rc"], 0, "{name}");
        assert_eq!(results[name]["changed"], false, "{name}");
    }
    // The first run's messages, from a fresh seed with -v.
    seed();
    let v = env.run(&pb, &["-v"]);
    for (name, _, _, _, msg) in REPLACE {
        let line = stdout(&v)
            .lines()
            .skip_while(|l| !l.starts_with(&format!("TASK [{name}]")))
            .nth(1)
            .unwrap_or_default()
            .to_string();
        assert!(
            line.contains(&format!("\"msg\": \"{msg}\"")),
            "{name}: {line}"
        );
    }
    let mode = std::fs::metadata(env.root.join("mode.txt")).expect("stat");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    assert!(first.status.success());
}

#[test]
fn replace_backup_validate_diff_and_failures() {
    let env = Env::new("replace-more");
    env.seed("b.conf", b"v=1\n");
    env.seed("dir/keep", b"");
    let pb = env.play(
        "more",
        "    - name: backup\n      replace: {path: \"{{ root }}/b.conf\", regexp: 'v=1', replace: 'v=2', backup: true}\n      register: b\n\
         \x20   - name: refused by validate\n      replace: {path: \"{{ root }}/b.conf\", regexp: 'v=2', replace: 'v=3', validate: 'grep -q never %s'}\n      ignore_errors: true\n\
         \x20   - name: missing\n      replace: {path: \"{{ root }}/nope\", regexp: a}\n      ignore_errors: true\n\
         \x20   - name: directory\n      replace: {path: \"{{ root }}/dir\", regexp: a}\n      ignore_errors: true\n",
    );
    let out = env.run(&pb, &["-D"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("--- before: {}/b.conf", env.root.display())),
        "{text}"
    );
    assert!(text.contains("-v=1\n+v=2"), "{text}");
    assert!(text.contains("failed to validate: rc:1 error:"), "{text}");
    assert!(
        text.contains("does not exist !") && text.contains("\"rc\": 257"),
        "{text}"
    );
    assert!(
        text.contains("is a directory !") && text.contains("\"rc\": 256"),
        "{text}"
    );
    // The refused content never replaced the file; the backup holds the old one.
    assert_eq!(env.read("b.conf"), "v=2\n");
    let backups: Vec<_> = std::fs::read_dir(&env.root)
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("b.conf."))
        .collect();
    assert_eq!(backups.len(), 1, "{text}");
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).expect("backup"),
        "v=1\n"
    );
    assert!(!std::fs::read_dir(&env.root).expect("ls").any(|e| {
        e.expect("e")
            .file_name()
            .to_string_lossy()
            .starts_with(".kiln")
    }));
}

#[test]
fn blockinfile_inserts_updates_and_removes() {
    let env = Env::new("blockinfile");
    let pb = env.play(
        "block",
        "    - name: append\n      blockinfile: {path: \"{{ root }}/a.conf\", block: \"x=1\\ny=2\"}\n\
         \x20   - name: after a section\n      blockinfile: {path: \"{{ root }}/a.conf\", marker: '; {mark} kiln', insertafter: '^\\[main\\]', block: z=3}\n\
         \x20   - name: new file\n      blockinfile: {path: \"{{ root }}/sub/new.conf\", create: true, block: created, mode: '0600'}\n\
         \x20     register: created\n\
         \x20   - name: drop a block\n      blockinfile: {path: \"{{ root }}/old.conf\", state: absent}\n\
         \x20     register: dropped\n"
            .to_string()
            .as_str(),
    );
    let seed = || {
        let _ = std::fs::remove_dir_all(env.root.join("sub"));
        env.seed("a.conf", b"[main]\nq=0\n");
        env.seed(
            "old.conf",
            b"keep\n# BEGIN ANSIBLE MANAGED BLOCK\ngone\n# END ANSIBLE MANAGED BLOCK\n",
        );
    };
    let (check, first, _) = cycle(&env, &pb, seed);
    assert!(!stdout(&check).contains("fatal"), "{}", show(&check));
    assert_eq!(
        env.read("a.conf"),
        "[main]\n; BEGIN kiln\nz=3\n; END kiln\nq=0\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\ny=2\n# END ANSIBLE MANAGED BLOCK\n"
    );
    assert_eq!(
        env.read("sub/new.conf"),
        "# BEGIN ANSIBLE MANAGED BLOCK\ncreated\n# END ANSIBLE MANAGED BLOCK\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(env.root.join("sub/new.conf")).expect("stat");
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(env.read("old.conf"), "keep\n");
    assert_eq!(changed_tasks(&first).len(), 4);
    // Diff mode shows the block going in, with Ansible's headers.
    seed();
    let d = env.run(&pb, &["-D", "-v"]);
    let text = stdout(&d);
    assert!(
        text.contains(&format!(
            "--- before: {}/a.conf (content)",
            env.root.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("+# BEGIN ANSIBLE MANAGED BLOCK\n+x=1\n+y=2\n"),
        "{text}"
    );
    assert!(
        text.contains("\"msg\": \"File created and ownership, perms or SE linux context changed\""),
        "{text}"
    );
    assert!(text.contains("\"msg\": \"Block removed\""), "{text}");
}

#[test]
fn ini_file_sets_options_as_community_general() {
    let env = Env::new("ini");
    let pb = env.play(
        "ini",
        "    - name: new file\n      community.general.ini_file: {path: \"{{ root }}/new.ini\", section: drinks, option: fav, value: lemonade, mode: '0600'}\n\
         \x20     register: new\n\
         \x20   - name: change a commented option\n      ini_file: {path: \"{{ root }}/app.ini\", section: s, option: a, value: '1'}\n\
         \x20   - name: global option, no spaces\n      ini_file: {path: \"{{ root }}/app.ini\", option: top, value: '2', no_extra_spaces: true}\n\
         \x20   - name: several values\n      ini_file: {path: \"{{ root }}/app.ini\", section: t, option: v, values: [x, y]}\n\
         \x20   - name: drop a section\n      ini_file: {path: \"{{ root }}/app.ini\", section: gone, state: absent}\n\
         \x20   - name: flag without value\n      ini_file: {path: \"{{ root }}/app.ini\", section: s, option: flag, allow_no_value: true}\n",
    );
    let seed = || {
        let _ = std::fs::remove_file(env.root.join("new.ini"));
        env.seed(
            "app.ini",
            b"top = 1\n[s]\n# a = 0\nb = 2\n[gone]\nx=1\n[t]\nv = z\n",
        );
    };
    let (_, first, _) = cycle(&env, &pb, seed);
    assert_eq!(changed_tasks(&first).len(), 6, "{}", show(&first));
    assert_eq!(env.read("new.ini"), "\n[drinks]\nfav = lemonade\n");
    assert_eq!(
        env.read("app.ini"),
        "top=2\n[s]\na = 1\nb = 2\nflag\n[t]\nv = x\nv = y\n"
    );
    seed();
    let v = env.run(&pb, &["-v", "-D"]);
    let text = stdout(&v);
    assert!(
        text.contains("\"msg\": \"section and option added\""),
        "{text}"
    );
    assert!(
        text.contains("\"mode\": \"0600\"") && text.contains("\"state\": \"file\""),
        "{text}"
    );
    assert!(text.contains("+fav = lemonade"), "{text}");
    assert!(text.contains("\"msg\": \"section removed\""), "{text}");
}

#[test]
fn bad_arguments_are_refused_at_load_time_with_file_and_line() {
    let env = Env::new("badargs");
    let cases: &[(&str, &str, &str)] = &[
        (
            "replace: {path: /tmp/x, regexp: a, nope: 1}",
            "unsupported parameters for (replace) module: nope",
            "",
        ),
        (
            "replace: {path: /tmp/x}",
            "missing required arguments: regexp",
            "",
        ),
        (
            "blockinfile: {path: /tmp/x, insertafter: a, insertbefore: b}",
            "parameters are mutually exclusive: insertbefore|insertafter",
            "",
        ),
        (
            "blockinfile: {path: /tmp/x, state: gone}",
            "value of `state` must be one of: absent, present, got: gone",
            "",
        ),
        (
            "ini_file: {path: /tmp/x, value: a, values: [b]}",
            "parameters are mutually exclusive: value|values",
            "",
        ),
        (
            "find: {paths: /tmp, file_type: socket}",
            "must be one of: any, directory, file, link",
            "",
        ),
        (
            "find: {recurse: true}",
            "missing required arguments: paths",
            "",
        ),
        (
            "tempfile: {state: fifo}",
            "must be one of: file, directory",
            "",
        ),
        (
            "get_url: {url: 'http://127.0.0.1/x'}",
            "missing required arguments: dest",
            "",
        ),
        (
            "get_url: {url: 'http://127.0.0.1/x', dest: /tmp/x, timeout: soon}",
            "argument `timeout` is of type str and we were unable to convert to int",
            "",
        ),
        (
            "uri: {url: 'http://127.0.0.1/x', body_format: yaml}",
            "must be one of: form-urlencoded, json, raw, form-multipart",
            "",
        ),
        (
            "uri: {url: 'http://127.0.0.1/x', status_code: [200, ok]}",
            "elements of `status_code` must be of type int, got str",
            "",
        ),
        (
            "uri: {url: 'http://127.0.0.1/x', body: a, src: b}",
            "parameters are mutually exclusive: body|src",
            "",
        ),
        (
            "unarchive: {src: a.tgz}",
            "missing required arguments: dest",
            "",
        ),
        (
            "unarchive: {src: a.tgz, dest: /tmp, include: [a], exclude: [b]}",
            "parameters are mutually exclusive: include|exclude",
            "",
        ),
        (
            "git: {repo: /r, dest: /d, depth: deep}",
            "argument `depth` is of type str and we were unable to convert to int",
            "",
        ),
        (
            "git: {repo: /r, accept_hostkey: true, accept_newhostkey: true}",
            "parameters are mutually exclusive: accept_hostkey|accept_newhostkey",
            "",
        ),
    ];
    for (i, (task, says, _)) in cases.iter().enumerate() {
        let pb = env.play(
            &format!("bad{i}"),
            &format!("    - name: fine\n      ping:\n    - name: bad\n      {task}\n"),
        );
        let out = env.run(&pb, &[]);
        let all = show(&out);
        assert_eq!(out.status.code(), Some(4), "{task}: {all}");
        assert!(all.contains(says), "{task}: {all}");
        assert!(all.contains(&format!("bad{i}.yml:7:")), "{task}: {all}");
        assert!(!all.contains("PLAY RECAP"), "{task} ran: {all}");
    }
}

// ---------------------------------------------------------------------------------------
// find: the same search by kiln over SSH and by ansible-core on the same tree.

/// A tree for `find`: files of several ages and sizes, hidden names, links, depth.
fn find_tree(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    for (rel, content) in [
        ("a.log", "error: disk\n"),
        ("b.log", "all fine\n"),
        ("c.txt", "x\n"),
        (".hidden.log", "error\n"),
        ("sub/d.log", "warning\nerror: late\n"),
        ("sub/deep/e.log", "deep\n"),
        ("sub/.git/f.log", "in a hidden dir\n"),
        ("big.bin", &"z".repeat(5000)),
        ("latin.txt", "caf\u{e9}\n"),
    ] {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }
    std::fs::write(root.join("bin.dat"), b"\xff\xfe binary\n").expect("write");
    std::os::unix::fs::symlink("a.log", root.join("link.log")).expect("link");
    std::os::unix::fs::symlink("sub", root.join("linkdir")).expect("link");
    sh(&format!(
        "chmod -R a+rX {0} && chmod 0600 {0}/c.txt && chmod 0755 {0}/b.log && \
         touch -d '2001-01-01' {0}/a.log {0}/sub/d.log && touch -h -d '2001-01-01' {0}/link.log",
        root.display()
    ));
}

const FIND_CASES: &[(&str, &str)] = &[
    ("glob", "patterns: '*.log'"),
    (
        "two_globs_excluded",
        "patterns: ['*.log', '*.txt'], excludes: 'b*'",
    ),
    ("regex", "patterns: '^[ab]\\.log$', use_regex: true"),
    ("recurse", "recurse: true"),
    ("recurse_hidden", "recurse: true, hidden: true"),
    ("depth", "recurse: true, depth: 2"),
    ("dirs", "file_type: directory, recurse: true"),
    ("links", "file_type: link"),
    ("any", "file_type: any, hidden: true"),
    ("old", "age: 10w, recurse: true"),
    ("new", "age: -1d"),
    ("big", "size: 4k"),
    ("small", "size: -10"),
    ("contains", "contains: 'error', recurse: true"),
    (
        "contains_whole",
        "contains: 'late', read_whole_file: true, recurse: true",
    ),
    ("mode", "mode: '0600'"),
    ("mode_any_bit", "mode: '0111', exact_mode: false"),
    (
        "checksum",
        "patterns: '*.log', get_checksum: true, checksum_algorithm: sha256",
    ),
    ("limit", "recurse: true, limit: 2"),
    ("follow", "recurse: true, follow: true, patterns: 'e.log'"),
    ("latin1", "contains: 'caf.', encoding: latin-1"),
];

#[test]
fn find_returns_what_ansible_returns() {
    let env = Env::new("find");
    let tree = env.s.0.join("tree");
    find_tree(&tree);
    let mut tasks = String::new();
    let mut names = Vec::new();
    for (name, args) in FIND_CASES {
        tasks.push_str(&format!(
            "    - name: {name}\n      find: {{paths: \"{}\", {args}}}\n      register: {name}\n",
            tree.display()
        ));
        names.push(*name);
    }
    tasks.push_str(&format!(
        "    - name: missing and a file\n      find: {{paths: ['{0}/nope', '{0}/c.txt', '{0}']}}\n      register: missing\n",
        tree.display()
    ));
    names.push("missing");
    tasks.push_str(&record(&names));
    let pb = env.play("find", &tasks);
    let k = env.run(&pb, &[]);
    assert!(k.status.success(), "{}", show(&k));
    assert!(
        changed_tasks(&k).is_empty(),
        "find changed something: {}",
        show(&k)
    );
    let ours = recorded(&env);
    let a = env.s.0.join("ansible-find");
    std::fs::create_dir_all(&a).expect("mkdir");
    let ao = ansible_playbook(&pb, &a, &[]);
    assert!(ao.status.success(), "{}", show(&ao));
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("results.json")).expect("results"))
            .expect("json");
    let mut problems = Vec::new();
    for name in &names {
        let (o, t) = (&ours[name], &theirs[name]);
        for key in ["matched", "examined", "msg", "skipped_paths", "changed"] {
            if o[key] != t[key] {
                problems.push(format!("{name}.{key}: kiln {} ansible {}", o[key], t[key]));
            }
        }
        let files = |v: &serde_json::Value| -> Vec<serde_json::Value> {
            v["files"].as_array().cloned().unwrap_or_default()
        };
        let (of, tf) = (files(o), files(t));
        let paths = |f: &[serde_json::Value]| -> Vec<String> {
            f.iter()
                .map(|x| x["path"].as_str().unwrap_or("").to_string())
                .collect()
        };
        if paths(&of) != paths(&tf) {
            problems.push(format!(
                "{name}: paths kiln {:?} ansible {:?}",
                paths(&of),
                paths(&tf)
            ));
            continue;
        }
        for (x, y) in of.iter().zip(&tf) {
            let (Some(xm), Some(ym)) = (x.as_object(), y.as_object()) else {
                continue;
            };
            // Access times move when Ansible reads the files; everything else must match.
            for (k, v) in ym {
                if k == "atime" {
                    continue;
                }
                if xm.get(k) != Some(v) {
                    problems.push(format!(
                        "{name} {}: {k} kiln {:?} ansible {v}",
                        x["path"],
                        xm.get(k)
                    ));
                }
            }
            if xm.len() != ym.len() {
                problems.push(format!(
                    "{name}: keys differ: {:?} vs {:?}",
                    xm.keys(),
                    ym.keys()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(ours["glob"]["matched"], 2, "{}", ours["glob"]);
    assert_eq!(ours["recurse_hidden"]["matched"], 10);
}

// ---------------------------------------------------------------------------------------
// tempfile

#[test]
fn tempfile_makes_private_files_and_directories() {
    let env = Env::new("tempfile");
    let pb = env.play(
        "tmp",
        "    - name: file\n      tempfile: {path: \"{{ root }}\", suffix: .conf}\n      register: f\n\
         \x20   - name: directory\n      tempfile: {state: directory, path: \"{{ root }}\", prefix: build-}\n      register: d\n\
         \x20   - name: default place\n      tempfile: {}\n      register: t\n\
         \x20   - name: bad prefix\n      tempfile: {prefix: 'a/b'}\n      ignore_errors: true\n      register: bad\n",
    );
    let mut pb_text = std::fs::read_to_string(&pb).expect("read");
    pb_text.push_str(&record(&["f", "d", "t", "bad"]));
    std::fs::write(&pb, pb_text).expect("write");
    let out = env.run(&pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let r = recorded(&env);
    use std::os::unix::fs::PermissionsExt;
    let f = PathBuf::from(r["f"]["path"].as_str().expect("path"));
    let name = f.file_name().expect("name").to_string_lossy().to_string();
    assert!(
        name.starts_with("ansible.") && name.ends_with(".conf") && name.len() == 8 + 8 + 5,
        "{name}"
    );
    assert_eq!(f.parent(), Some(env.root.as_path()));
    let m = std::fs::metadata(&f).expect("file exists");
    assert!(m.is_file());
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(r["f"]["mode"], "0600");
    assert_eq!(r["f"]["state"], "file");
    assert_eq!(r["f"]["owner"], USER);
    let d = PathBuf::from(r["d"]["path"].as_str().expect("path"));
    let m = std::fs::metadata(&d).expect("dir exists");
    assert!(
        m.is_dir()
            && d.file_name()
                .expect("n")
                .to_string_lossy()
                .starts_with("build-")
    );
    assert_eq!(m.permissions().mode() & 0o777, 0o700);
    let t = PathBuf::from(r["t"]["path"].as_str().expect("path"));
    assert!(t.starts_with("/tmp"), "{t:?}");
    let _ = std::fs::remove_file(&t);
    assert_eq!(
        r["bad"]["msg"],
        "prefix must be a valid file name component, got 'a/b'"
    );
    // Always a change (a new name every time); skipped in check mode, as Ansible.
    assert_eq!(changed_tasks(&out).len(), 3);
    let check = env.run(&pb, &["-C"]);
    let st = statuses(&check);
    assert!(
        st.iter()
            .filter(|(t, _)| t != "record")
            .all(|(_, s)| s == "skipping"),
        "{}",
        show(&check)
    );
}

// ---------------------------------------------------------------------------------------
// get_url and uri against the test's HTTP(S) servers.

fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("sha256sum | cut -d' ' -f1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn get_url_downloads_verifies_and_skips() {
    let env = Env::new("get_url");
    let web = Httpd::start(&env.s.0, None);
    web.file("app.tar", b"release 1\n");
    web.file("other.txt", b"other\n");
    web.file("dl/tool.sh", b"#!/bin/sh\necho tool\n");
    let sum = sha256_hex(b"release 1\n");
    web.file(
        "SHA256SUMS",
        format!("{}  other.txt\n{sum}  app.tar\n", sha256_hex(b"other\n")).as_bytes(),
    );
    let tasks = format!(
        "    - name: plain\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/app.tar\"}}\n      register: plain\n\
         \x20   - name: into a directory\n      get_url: {{url: '{1}', dest: \"{{{{ root }}}}/dir/\", mode: '0750'}}\n      register: intodir\n\
         \x20   - name: named by the server\n      get_url: {{url: '{2}', dest: \"{{{{ root }}}}/dir\"}}\n      register: named\n\
         \x20   - name: checksum\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/sum.tar\", checksum: 'sha256:{sum}'}}\n      register: checksum\n\
         \x20   - name: checksum file\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/sumfile.tar\", checksum: 'sha256:{3}'}}\n      register: sumfile\n\
         \x20   - name: basic auth\n      get_url: {{url: '{4}', dest: \"{{{{ root }}}}/auth.txt\", url_username: kiln, url_password: s3cret}}\n      register: auth\n\
         \x20   - name: forced basic auth\n      get_url: {{url: '{4}', dest: \"{{{{ root }}}}/auth2.txt\", url_username: kiln, url_password: s3cret, force_basic_auth: true}}\n\
         \x20   - name: redirected\n      get_url: {{url: '{5}', dest: \"{{{{ root }}}}/redir\"}}\n      register: redir\n",
        web.url("app.tar"),
        web.url("dl/tool.sh"),
        web.url("disposition/renamed.txt/other.txt"),
        web.url("SHA256SUMS"),
        web.url("basic/other.txt"),
        web.url("redirect/302/other.txt"),
    );
    let mut tasks = tasks;
    tasks.push_str(&record(&[
        "plain", "intodir", "named", "checksum", "sumfile", "auth", "redir",
    ]));
    let pb = env.play("get", &tasks);
    let seed = || {
        let _ = std::fs::remove_dir_all(&env.root);
        std::fs::create_dir_all(env.root.join("dir")).expect("mkdir");
        std::fs::create_dir_all(env.root.join("redir")).expect("mkdir");
        sh(&format!("chown -R {USER} {}", env.root.display()));
    };
    let before = web.requests();
    let (check, first, second) = cycle(&env, &pb, seed);
    assert!(stdout(&check).contains("changed"), "{}", show(&check));
    assert_eq!(env.read("app.tar"), "release 1\n");
    assert_eq!(env.read("dir/tool.sh"), "#!/bin/sh\necho tool\n");
    assert_eq!(env.read("dir/renamed.txt"), "other\n");
    assert_eq!(env.read("sum.tar"), "release 1\n");
    assert_eq!(env.read("sumfile.tar"), "release 1\n");
    assert_eq!(env.read("auth.txt"), "other\n");
    assert_eq!(env.read("auth2.txt"), "other\n");
    assert_eq!(env.read("redir/other.txt"), "other\n");
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(env.root.join("dir/tool.sh")).expect("stat");
    assert_eq!(m.permissions().mode() & 0o777, 0o750);
    assert_eq!(changed_tasks(&first).len(), 8, "{}", show(&first));
    // The second run: files with a matching checksum are not fetched at all; the others
    // are asked for with If-Modified-Since and the server answers 304.
    let r = recorded(&env);
    assert_eq!(
        r["checksum"]["msg"], "file already exists",
        "{}",
        r["checksum"]
    );
    assert_eq!(r["plain"]["status_code"], 304, "{}", r["plain"]);
    assert_eq!(r["plain"]["msg"], "HTTP Error 304: Not Modified");
    assert_eq!(r["plain"]["owner"], USER);
    assert!(web.requests() > before);
    assert!(second.status.success());
    // No temp files left beside the downloads.
    let leftovers = sh(&format!("find {} -name '.kiln*'", env.root.display()));
    assert!(leftovers.trim().is_empty(), "{leftovers}");
}

#[test]
fn get_url_checks_the_checksum_before_replacing_the_file() {
    let env = Env::new("get_url-verify");
    let web = Httpd::start(&env.s.0, None);
    web.file("new.bin", b"new content\n");
    env.seed("keep.bin", b"old content\n");
    let pb = env.play(
        "verify",
        &format!(
            "    - name: wrong checksum\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/keep.bin\", checksum: 'sha256:{1}', force: true}}\n      register: bad\n      ignore_errors: true\n\
             \x20   - name: not found\n      get_url: {{url: '{2}', dest: \"{{{{ root }}}}/x\"}}\n      register: nf\n      ignore_errors: true\n\
             \x20   - name: refused\n      get_url: {{url: 'http://127.0.0.1:1/x', dest: \"{{{{ root }}}}/x\"}}\n      register: refused\n      ignore_errors: true\n\
             \x20   - name: too slow\n      get_url: {{url: '{3}', dest: \"{{{{ root }}}}/x\", timeout: 1}}\n      register: slow\n      ignore_errors: true\n\
             \x20   - name: bad format\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/x\", checksum: 'sha256'}}\n      register: fmt\n      ignore_errors: true\n\
             \x20   - name: wrong password\n      get_url: {{url: '{4}', dest: \"{{{{ root }}}}/x\", url_username: kiln, url_password: nope}}\n      register: pw\n      ignore_errors: true\n",
            web.url("new.bin"),
            "0".repeat(64),
            web.url("status/404"),
            web.url("slow/3"),
            web.url("basic/new.bin"),
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["bad", "nf", "refused", "slow", "fmt", "pw"]));
    std::fs::write(&pb, t).expect("write");
    let out = env.run(&pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    // The download did not match: the old file is untouched and no temp file is left.
    assert_eq!(env.read("keep.bin"), "old content\n");
    let leftovers = sh(&format!("find {} -name '.kiln*'", env.root.display()));
    assert!(leftovers.trim().is_empty(), "{leftovers}");
    let r = recorded(&env);
    let msg = |k: &str| r[k]["msg"].as_str().unwrap_or_default().to_string();
    assert!(
        msg("bad").contains(&format!(
            "did not match {}; it was {}",
            "0".repeat(64),
            sha256_hex(b"new content\n")
        )),
        "{}",
        r["bad"]
    );
    assert_eq!(msg("nf"), "Request failed");
    assert_eq!(r["nf"]["status_code"], 404);
    assert_eq!(r["nf"]["response"], "HTTP Error 404: Not Found");
    assert_eq!(
        msg("refused"),
        "Request failed: <urlopen error [Errno 111] Connection refused>"
    );
    assert_eq!(msg("slow"), "Connection failure: timed out");
    assert_eq!(
        msg("fmt"),
        "The checksum parameter has to be in format <algorithm>:<checksum>"
    );
    assert_eq!(r["pw"]["status_code"], 401);
    assert!(!env.root.join("x").exists());
}

#[test]
fn get_url_as_root_sets_owner_and_backs_up() {
    let env = Env::new("get_url-root");
    let web = Httpd::start(&env.s.0, None);
    web.file("conf", b"v2\n");
    let pb = env.play(
        "root",
        &format!(
            "    - name: owned\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/conf\", owner: {OTHER_USER}, group: {OTHER_USER}, mode: '0640', backup: true, force: true}}\n      become: true\n      register: owned\n",
            web.url("conf")
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["owned"]));
    std::fs::write(&pb, t).expect("write");
    let seed = || {
        env.seed("conf", b"v1\n");
        for e in std::fs::read_dir(&env.root)
            .expect("ls")
            .filter_map(|e| e.ok())
        {
            if e.file_name().to_string_lossy().starts_with("conf.") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    };
    cycle(&env, &pb, seed);
    assert_eq!(env.read("conf"), "v2\n");
    let owner = sh(&format!(
        "stat -c '%U:%G %a' {}",
        env.root.join("conf").display()
    ));
    assert_eq!(owner.trim(), format!("{OTHER_USER}:{OTHER_USER} 640"));
    let backups: Vec<String> = std::fs::read_dir(&env.root)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("conf."))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(env.read(&backups[0]), "v1\n");
}

#[test]
fn get_url_falls_back_to_wget() {
    let env = Env::new("get_url-wget");
    let web = Httpd::start(&env.s.0, None);
    web.file("w.txt", b"via wget\n");
    // A PATH with the host's tools but no curl.
    let bin = env.s.0.join("bin-no-curl");
    std::fs::create_dir_all(&bin).expect("mkdir");
    sh(&format!(
        "for f in /usr/bin/* /bin/*; do n=$(basename $f); [ $n = curl ] || [ -e {0}/$n ] || ln -s $f {0}/$n; done",
        bin.display()
    ));
    let pb = env.play(
        "wget",
        &format!(
            "    - name: wget\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/w.txt\"}}\n      environment: {{PATH: '{1}'}}\n      register: w\n",
            web.url("w.txt"),
            bin.display()
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["w"]));
    std::fs::write(&pb, t).expect("write");
    cycle(&env, &pb, || {
        let _ = std::fs::remove_file(env.root.join("w.txt"));
    });
    assert_eq!(env.read("w.txt"), "via wget\n");
}

#[test]
fn uri_requests_and_responses_as_ansible() {
    let env = Env::new("uri");
    let web = Httpd::start(&env.s.0, None);
    web.file("page.html", b"<p>hi</p>\n");
    let u = |p: &str| web.url(p);
    let tasks = format!(
        "    - name: json\n      uri: {{url: '{json}'}}\n      register: json\n\
         \x20   - name: post json\n      uri: {{url: '{echo}', method: POST, body_format: json, body: {{name: kiln, n: [1, 2]}}, return_content: true}}\n      register: post\n\
         \x20   - name: form\n      uri: {{url: '{echo}', method: PUT, body_format: form-urlencoded, body: {{a: 'x y', b: [1, 2]}}}}\n      register: form\n\
         \x20   - name: multipart\n      uri:\n        url: '{echo}'\n        method: POST\n        body_format: form-multipart\n        body: {{field: value, file: {{content: filedata, filename: f.txt}}}}\n      register: multi\n\
         \x20   - name: raw with headers\n      uri: {{url: '{echo}', method: POST, body: raw text, headers: {{X-Token: abc, Content-Type: text/plain}}}}\n      register: raw\n\
         \x20   - name: response headers\n      uri: {{url: '{headers}'}}\n      register: hdrs\n\
         \x20   - name: not found is accepted\n      uri: {{url: '{nf}', status_code: [200, 404]}}\n      register: nf\n\
         \x20   - name: not found fails\n      uri: {{url: '{nf}', return_content: true}}\n      register: nf2\n      ignore_errors: true\n\
         \x20   - name: redirect followed\n      uri: {{url: '{redir}'}}\n      register: redir\n\
         \x20   - name: redirect not followed\n      uri: {{url: '{redir}', follow_redirects: none, status_code: 302}}\n      register: noredir\n\
         \x20   - name: safe redirect of a POST\n      uri: {{url: '{redir}', method: POST, body: x, status_code: [302]}}\n      register: postredir\n\
         \x20   - name: 307 with follow all keeps the POST\n      uri: {{url: '{r307}', method: POST, body: kept, follow_redirects: all, return_content: true}}\n      register: r307\n\
         \x20   - name: basic auth\n      uri: {{url: '{basic}', url_username: kiln, url_password: s3cret, return_content: true}}\n      register: auth\n\
         \x20   - name: save to dest\n      uri: {{url: '{page}', dest: \"{{{{ root }}}}/page.html\", status_code: [200, 304]}}\n      register: saved\n\
         \x20   - name: creates\n      uri: {{url: '{page}', creates: \"{{{{ root }}}}\"}}\n      register: creates\n\
         \x20   - name: refused\n      uri: {{url: 'http://127.0.0.1:1/'}}\n      register: refused\n      ignore_errors: true\n\
         \x20   - name: bad method\n      uri: {{url: '{page}', method: 'GE T'}}\n      register: badm\n      ignore_errors: true\n",
        json = u("json"),
        echo = u("echo"),
        headers = u("headers"),
        nf = u("status/404"),
        redir = u("redirect/302/page.html"),
        r307 = u("redirect/307/echo"),
        basic = u("basic/page.html"),
        page = u("page.html"),
    );
    let mut tasks = tasks;
    tasks.push_str(&record(&[
        "json",
        "post",
        "form",
        "multi",
        "raw",
        "hdrs",
        "nf",
        "nf2",
        "redir",
        "noredir",
        "postredir",
        "r307",
        "auth",
        "saved",
        "creates",
        "refused",
        "badm",
    ]));
    let pb = env.play("uri", &tasks);
    let out = env.run(&pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let r = recorded(&env);
    assert_eq!(r["json"]["json"]["name"], "kiln");
    assert_eq!(r["json"]["json"]["list"][1], 2);
    assert_eq!(r["json"]["status"], 200);
    assert_eq!(r["json"]["content_type"], "application/json");
    assert!(
        r["json"]["msg"].as_str().unwrap_or("").starts_with("OK ("),
        "{}",
        r["json"]
    );
    assert_eq!(r["json"]["redirected"], false);
    let echo = |k: &str| -> serde_json::Value { r[k]["json"].clone() };
    assert_eq!(echo("post")["body"], r#"{"name": "kiln", "n": [1, 2]}"#);
    assert_eq!(echo("post")["headers"]["content-type"], "application/json");
    assert_eq!(echo("post")["headers"]["user-agent"], "ansible-httpget");
    assert!(
        r["post"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("\"method\": \"POST\"")
    );
    assert_eq!(echo("form")["body"], "a=x+y&b=1&b=2");
    assert_eq!(echo("form")["method"], "PUT");
    assert_eq!(
        echo("form")["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    let multi = echo("multi")["body"].as_str().unwrap_or("").to_string();
    assert!(
        multi.contains("name=\"field\"\r\n\r\nvalue\r\n")
            && multi.contains("filename=\"f.txt\"")
            && multi.contains("filedata"),
        "{multi}"
    );
    assert!(
        echo("multi")["headers"]["content-type"]
            .as_str()
            .unwrap_or("")
            .starts_with("multipart/form-data; boundary=")
    );
    assert_eq!(echo("raw")["body"], "raw text");
    assert_eq!(echo("raw")["headers"]["x-token"], "abc");
    assert_eq!(r["hdrs"]["x_kiln_test"], "yes");
    assert_eq!(r["hdrs"]["set_cookie"], "a=1; Path=/, b=2; Path=/");
    assert_eq!(r["hdrs"]["cookies"]["a"], "1");
    assert_eq!(r["hdrs"]["cookies_string"], "a=1; b=2");
    assert_eq!(r["nf"]["status"], 404);
    assert_eq!(r["nf"]["failed"], false);
    assert_eq!(
        r["nf2"]["msg"],
        "Status code was 404 and not [200]: HTTP Error 404: Not Found"
    );
    assert_eq!(r["nf2"]["content"], "status 404\n");
    assert_eq!(r["redir"]["redirected"], true);
    assert_eq!(r["redir"]["url"], u("page.html"));
    assert_eq!(r["noredir"]["status"], 302);
    assert_eq!(r["noredir"]["location"], u("page.html"));
    assert_eq!(r["noredir"]["redirected"], false);
    assert_eq!(r["postredir"]["status"], 302);
    assert_eq!(r["r307"]["json"]["method"], "POST");
    assert_eq!(r["r307"]["json"]["body"], "kept");
    assert!(
        r["auth"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("<p>hi</p>")
    );
    assert_eq!(r["saved"]["changed"], true);
    assert_eq!(
        r["saved"]["path"],
        env.root.join("page.html").display().to_string()
    );
    assert_eq!(env.read("page.html"), "<p>hi</p>\n");
    assert_eq!(
        r["creates"]["stdout"],
        format!("skipped, since '{}' exists", env.root.display())
    );
    assert_eq!(r["creates"]["changed"], false);
    assert_eq!(r["refused"]["status"], -1);
    assert_eq!(
        r["refused"]["msg"],
        "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>"
    );
    assert_eq!(
        r["badm"]["msg"],
        "Parameter 'method' needs to be a single word in uppercase, like GET or POST."
    );
    // A saved page that has not changed since comes back 304 on the next run.
    let again = env.run(&pb, &[]);
    let r = recorded(&env);
    assert_eq!(r["saved"]["status"], 304, "{}", show(&again));
    assert_eq!(r["saved"]["changed"], false);
    // uri does not run in check mode.
    let check = env.run(&pb, &["-C"]);
    assert!(
        statuses(&check)
            .iter()
            .filter(|(t, _)| t != "record")
            .all(|(_, s)| s == "skipping"),
        "{}",
        show(&check)
    );
}

#[test]
fn https_certificates_are_validated() {
    let env = Env::new("https");
    let (ca, cert, key) = make_ca(&env.s.0);
    let web = Httpd::start(&env.s.0, Some((&cert, &key)));
    web.file("secure.txt", b"tls\n");
    let pb = env.play(
        "tls",
        &format!(
            "    - name: untrusted\n      uri: {{url: '{0}'}}\n      register: untrusted\n      ignore_errors: true\n\
             \x20   - name: trusted by ca_path\n      uri: {{url: '{0}', ca_path: '{1}', return_content: true}}\n      register: trusted\n\
             \x20   - name: not validated\n      uri: {{url: '{0}', validate_certs: false}}\n      register: unchecked\n\
             \x20   - name: get_url untrusted\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/s.txt\"}}\n      register: g_untrusted\n      ignore_errors: true\n\
             \x20   - name: get_url with the CA in the environment\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/s.txt\"}}\n      environment: {{SSL_CERT_FILE: '{1}', CURL_CA_BUNDLE: '{1}'}}\n      register: g_trusted\n",
            web.url("secure.txt"),
            ca.display()
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&[
        "untrusted",
        "trusted",
        "unchecked",
        "g_untrusted",
        "g_trusted",
    ]));
    std::fs::write(&pb, t).expect("write");
    let out = env.run(&pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let r = recorded(&env);
    assert_eq!(r["untrusted"]["failed"], true);
    assert!(
        r["untrusted"]["msg"]
            .as_str()
            .unwrap_or("")
            .contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        r["untrusted"]
    );
    assert_eq!(r["trusted"]["content"], "tls\n");
    assert_eq!(r["unchecked"]["status"], 200);
    assert_eq!(r["g_untrusted"]["failed"], true);
    assert!(
        r["g_untrusted"]["msg"]
            .as_str()
            .unwrap_or("")
            .contains("CERTIFICATE_VERIFY_FAILED")
    );
    assert_eq!(r["g_trusted"]["changed"], true);
    assert_eq!(env.read("s.txt"), "tls\n");
}

// ---------------------------------------------------------------------------------------
// unarchive

/// Archives of one small tree (`app/` with a file, a script and a subdirectory) in every
/// format, in `dir`; modes are plain so a non-root extraction reproduces them.
fn make_archives(dir: &Path) {
    let src = dir.join("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(src.join("app/etc")).expect("mkdir");
    std::fs::write(src.join("app/README"), "read me\n").expect("write");
    std::fs::write(src.join("app/run.sh"), "#!/bin/sh\necho run\n").expect("write");
    std::fs::write(src.join("app/etc/app.conf"), "port=1\n").expect("write");
    std::fs::write(src.join("app/skip.log"), "log\n").expect("write");
    sh(&format!(
        "cd {0} && chmod 0755 app app/etc app/run.sh && chmod 0644 app/README app/etc/app.conf app/skip.log && \
         touch -d '2023-05-06 07:08:09' app app/etc app/* app/etc/* && \
         tar -czf ../app.tar.gz app && tar -cJf ../app.tar.xz app && tar -cjf ../app.tar.bz2 app && tar -cf ../app.tar app && \
         zip -qr ../app.zip app",
        src.display()
    ));
}

#[test]
fn unarchive_every_format_idempotently() {
    let env = Env::new("unarchive");
    let files = env.s.0.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    make_archives(&files);
    let web = Httpd::start(&env.s.0, None);
    std::fs::copy(files.join("app.tar.gz"), web.root.join("app.tar.gz")).expect("copy");
    env.seed(
        "remote/app.zip",
        &std::fs::read(files.join("app.zip")).expect("zip"),
    );
    let dirs = [
        "tgz", "txz", "tbz", "tar", "zip", "rzip", "url", "excl", "strip", "incl",
    ];
    let mut tasks = String::new();
    for (name, src, extra) in [
        ("tgz", "app.tar.gz", "list_files: true"),
        ("txz", "app.tar.xz", ""),
        ("tbz", "app.tar.bz2", ""),
        ("tar", "app.tar", ""),
        ("zip", "app.zip", "list_files: true"),
        ("excl", "app.zip", "exclude: ['app/skip.log']"),
        (
            "strip",
            "app.tar.gz",
            "extra_opts: ['--strip-components=1']",
        ),
        ("incl", "app.tar.gz", "include: ['app/README']"),
    ] {
        tasks.push_str(&format!(
            "    - name: {name}\n      unarchive: {{src: '{}', dest: \"{{{{ root }}}}/{name}\"{}{extra}}}\n      register: {name}\n",
            files.join(src).display(),
            if extra.is_empty() { "" } else { ", " }
        ));
    }
    tasks.push_str(&format!(
        "    - name: rzip\n      unarchive: {{src: \"{{{{ root }}}}/remote/app.zip\", dest: \"{{{{ root }}}}/rzip\", remote_src: true}}\n      register: rzip\n\
         \x20   - name: url\n      unarchive: {{src: '{}', dest: \"{{{{ root }}}}/url\", remote_src: true}}\n      register: url\n\
         \x20   - name: creates\n      unarchive: {{src: '{}', dest: \"{{{{ root }}}}/zip\", creates: \"{{{{ root }}}}/zip/app\"}}\n      register: creates\n",
        web.url("app.tar.gz"),
        files.join("app.zip").display()
    ));
    tasks.push_str(&record(&[
        "tgz", "txz", "tbz", "tar", "zip", "excl", "strip", "incl", "rzip", "url", "creates",
    ]));
    let pb = env.play("unarchive", &tasks);
    let seed = || {
        for d in dirs {
            let _ = std::fs::remove_dir_all(env.root.join(d));
            std::fs::create_dir_all(env.root.join(d)).expect("mkdir");
        }
        sh(&format!("chown -R {USER} {}", env.root.display()));
    };
    // Check mode: the zip tasks predict their change, tar is skipped (as Ansible).
    seed();
    let check = env.run(&pb, &["-C"]);
    let st = statuses(&check);
    let status_of = |t: &str| {
        st.iter()
            .find(|(n, _)| n == t)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    assert_eq!(status_of("zip"), "changed", "{}", show(&check));
    assert_eq!(status_of("tgz"), "skipping", "{}", show(&check));
    assert!(!env.root.join("zip/app").exists());
    let first = env.run(&pb, &[]);
    assert!(first.status.success(), "{}", show(&first));
    assert!(changed_tasks(&first).len() >= 10, "{}", show(&first));
    let second = env.run(&pb, &[]);
    assert!(second.status.success(), "{}", show(&second));
    assert!(
        changed_tasks(&second).is_empty(),
        "rerun changed {:?}\n{}",
        changed_tasks(&second),
        show(&second)
    );
    for d in ["tgz", "txz", "tbz", "tar", "zip", "rzip", "url"] {
        assert_eq!(env.read(&format!("{d}/app/README")), "read me\n", "{d}");
        assert_eq!(
            env.read(&format!("{d}/app/etc/app.conf")),
            "port=1\n",
            "{d}"
        );
        assert!(env.root.join(format!("{d}/app/skip.log")).exists(), "{d}");
        let mode = sh(&format!(
            "stat -c %a {}",
            env.root.join(format!("{d}/app/run.sh")).display()
        ));
        assert_eq!(mode.trim(), "755", "{d}");
    }
    assert!(!env.root.join("excl/app/skip.log").exists());
    assert!(env.root.join("excl/app/README").exists());
    assert_eq!(env.read("strip/README"), "read me\n");
    assert!(
        env.root.join("incl/app/README").exists() && !env.root.join("incl/app/run.sh").exists()
    );
    let r = recorded(&env);
    assert_eq!(r["tgz"]["handler"], "TgzArchive");
    // GNU tar reads any compression without a flag, so Ansible's plain-tar handler comes
    // before the xz and bzip2 ones (checked against ansible-core).
    assert_eq!(r["txz"]["handler"], "TarArchive");
    assert_eq!(r["tbz"]["handler"], "TarArchive");
    assert_eq!(r["tar"]["handler"], "TarArchive");
    assert_eq!(r["zip"]["handler"], "ZipArchive");
    let listed: Vec<String> = r["tgz"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        listed.contains(&"app/etc/app.conf".to_string()),
        "{listed:?}"
    );
    assert!(r["zip"]["files"].as_array().expect("files").len() >= 5);
    assert_eq!(r["creates"]["skipped"], true);
    assert_eq!(r["zip"]["state"], "directory");
    // A changed file in the tree is put back (zip: by size and CRC; tar: contents differ).
    std::fs::write(env.root.join("zip/app/README"), "local edit!\n").expect("write");
    std::fs::write(env.root.join("tgz/app/README"), "local edit!\n").expect("write");
    let d = env.run(&pb, &["-D"]);
    assert_eq!(env.read("zip/app/README"), "read me\n");
    assert_eq!(env.read("tgz/app/README"), "read me\n");
    let ch = changed_tasks(&d);
    assert!(
        ch.contains(&"zip".to_string()) && ch.contains(&"tgz".to_string()),
        "{ch:?}"
    );
    // Ansible's itemized zip diff: content (CRC), size and time differ.
    assert!(
        stdout(&d).contains(".fcst....?? app/README"),
        "{}",
        show(&d)
    );
}

#[test]
fn unarchive_failures_and_ownership() {
    let env = Env::new("unarchive-root");
    let files = env.s.0.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    make_archives(&files);
    std::fs::write(files.join("empty.tgz"), b"").expect("write");
    std::fs::write(files.join("junk.tgz"), b"not an archive").expect("write");
    let pb = env.play(
        "own",
        &format!(
            "    - name: owned\n      unarchive: {{src: '{0}/app.tar.gz', dest: \"{{{{ root }}}}/own\", owner: {OTHER_USER}, group: {OTHER_USER}, mode: 'u=rwX,g=rX,o='}}\n      become: true\n\
             \x20   - name: zip owned\n      unarchive: {{src: '{0}/app.zip', dest: \"{{{{ root }}}}/zown\", owner: {OTHER_USER}}}\n      become: true\n\
             \x20   - name: no dest\n      unarchive: {{src: '{0}/app.zip', dest: \"{{{{ root }}}}/missing\"}}\n      register: nodest\n      ignore_errors: true\n\
             \x20   - name: empty\n      unarchive: {{src: '{0}/empty.tgz', dest: \"{{{{ root }}}}/own\"}}\n      register: empty\n      ignore_errors: true\n\
             \x20   - name: junk\n      unarchive: {{src: '{0}/junk.tgz', dest: \"{{{{ root }}}}/own\"}}\n      register: junk\n      ignore_errors: true\n\
             \x20   - name: url without remote_src\n      unarchive: {{src: 'http://127.0.0.1/a.tgz', dest: \"{{{{ root }}}}/own\"}}\n      register: url\n      ignore_errors: true\n",
            files.display()
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["nodest", "empty", "junk", "url"]));
    std::fs::write(&pb, t).expect("write");
    let seed = || {
        for d in ["own", "zown"] {
            let _ = std::fs::remove_dir_all(env.root.join(d));
            std::fs::create_dir_all(env.root.join(d)).expect("mkdir");
        }
    };
    seed();
    let first = env.run(&pb, &[]);
    assert!(first.status.success(), "{}", show(&first));
    let second = env.run(&pb, &[]);
    assert!(changed_tasks(&second).is_empty(), "{}", show(&second));
    let st = sh(&format!(
        "stat -c '%U:%G %a' {0}/own/app/run.sh {0}/own/app/README {0}/own/app/etc {0}/zown/app/README",
        env.root.display()
    ));
    assert_eq!(
        st.lines().collect::<Vec<_>>(),
        [
            format!("{OTHER_USER}:{OTHER_USER} 750"),
            format!("{OTHER_USER}:{OTHER_USER} 640"),
            format!("{OTHER_USER}:{OTHER_USER} 750"),
            format!("{OTHER_USER}:root 644"),
        ]
    );
    let r = recorded(&env);
    assert_eq!(
        r["nodest"]["msg"],
        format!(
            "dest '{}/missing' must be an existing dir",
            env.root.display()
        )
    );
    assert!(
        r["empty"]["msg"]
            .as_str()
            .unwrap_or("")
            .contains("the file is 0 bytes"),
        "{}",
        r["empty"]
    );
    assert!(
        r["junk"]["msg"]
            .as_str()
            .unwrap_or("")
            .starts_with("Failed to find handler for"),
        "{}",
        r["junk"]
    );
    assert_eq!(
        r["url"]["msg"],
        "Unsupported option, an URI src (http://127.0.0.1/a.tgz) is only supported when remote_src is True"
    );
}

// ---------------------------------------------------------------------------------------
// git against a local bare repository.

/// A global git configuration for the test's own git commands (as root): any repository
/// is safe (the test user owns some), commits have an author. Repositories reached through
/// the local transport see it too.
fn git_config() -> PathBuf {
    let p = std::env::temp_dir().join(format!("kiln-files-gitconfig-{}", std::process::id()));
    if !p.exists() {
        std::fs::write(
            &p,
            "[safe]\n\tdirectory = *\n[user]\n\tname = kiln\n\temail = kiln@localhost\n[init]\n\tdefaultBranch = main\n",
        )
        .expect("gitconfig");
    }
    p
}

fn git(dir: &Path, args: &str) -> String {
    sh(&format!(
        "cd {} && export GIT_CONFIG_GLOBAL={} && git {args}",
        dir.display(),
        git_config().display()
    ))
}

/// A bare repository (readable by the test user) with two commits on main, a tag, a
/// branch; returns (bare path, work clone path, first commit, second commit).
fn make_repo(dir: &Path) -> (PathBuf, PathBuf, String, String) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let bare = dir.join("repo.git");
    let work = dir.join("work");
    let _ = std::fs::remove_dir_all(&bare);
    let _ = std::fs::remove_dir_all(&work);
    git(dir, &format!("init -q --bare -b main {}", bare.display()));
    git(
        dir,
        &format!("clone -q {} {} 2>/dev/null", bare.display(), work.display()),
    );
    std::fs::write(work.join("README"), "one\n").expect("write");
    git(
        &work,
        "add README && git commit -qm one && git tag v1 && git push -q origin main v1",
    );
    let first = git(&work, "rev-parse HEAD").trim().to_string();
    std::fs::write(work.join("README"), "two\n").expect("write");
    git(
        &work,
        "commit -qam two && git push -q origin main && git branch stable && git push -q origin stable",
    );
    let second = git(&work, "rev-parse HEAD").trim().to_string();
    // The test user owns the repository it reads (git refuses others' repositories).
    sh(&format!(
        "chmod -R a+rX {} && chown -R {USER} {}",
        dir.display(),
        bare.display()
    ));
    (bare, work, first, second)
}

#[test]
fn git_clones_updates_and_reports_before_after() {
    let env = Env::new("git");
    let (bare, work, first, second) = make_repo(&env.s.0.join("git"));
    let repo = bare.display().to_string();
    let pb = env.play(
        "git",
        &format!(
            "    - name: clone\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/co\"}}\n      register: clone\n\
             \x20   - name: tag\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/tag\", version: v1}}\n      register: tag\n\
             \x20   - name: shallow branch\n      git: {{repo: 'file://{repo}', dest: \"{{{{ root }}}}/shallow\", version: stable, depth: 1, single_branch: true}}\n      register: shallow\n\
             \x20   - name: sha\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/sha\", version: '{first}'}}\n      register: sha\n\
             \x20   - name: bare\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/bare.git\", bare: true}}\n      register: barec\n"
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["clone", "tag", "shallow", "sha", "barec"]));
    std::fs::write(&pb, t).expect("write");
    let seed = || {
        for d in ["co", "tag", "shallow", "sha", "bare.git"] {
            let _ = std::fs::remove_dir_all(env.root.join(d));
        }
    };
    let (check, first_run, _) = cycle(&env, &pb, seed);
    assert!(!stdout(&check).contains("fatal"), "{}", show(&check));
    assert_eq!(changed_tasks(&first_run).len(), 5);
    let r = recorded(&env);
    assert_eq!(r["clone"]["before"], second);
    assert_eq!(r["clone"]["after"], second);
    assert_eq!(r["clone"]["remote_url_changed"], false);
    assert_eq!(env.read("co/README"), "two\n");
    assert_eq!(env.read("tag/README"), "one\n");
    assert_eq!(env.read("sha/README"), "one\n");
    assert_eq!(r["sha"]["after"], first);
    assert_eq!(env.read("shallow/README"), "two\n");
    assert_eq!(
        git(&env.root.join("shallow"), "rev-list --count HEAD").trim(),
        "1"
    );
    assert!(env.root.join("bare.git/HEAD").exists());
    // A new commit upstream: the update reports before and after, and the diff.
    std::fs::write(work.join("README"), "three\n").expect("write");
    git(&work, "commit -qam three && git push -q origin main");
    let third = git(&work, "rev-parse HEAD").trim().to_string();
    let upd = env.play(
        "update",
        &format!("    - name: update\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/co\"}}\n      register: up\n{}", record(&["up"])),
    );
    let c = env.run(&upd, &["-C", "-D"]);
    assert_eq!(changed_tasks(&c), ["update"], "{}", show(&c));
    assert_eq!(
        env.read("co/README"),
        "two\n",
        "check mode changed the checkout"
    );
    let u = env.run(&upd, &["-D"]);
    assert!(u.status.success(), "{}", show(&u));
    assert!(stdout(&u).contains("-two\n+three"), "{}", show(&u));
    let r = recorded(&env);
    assert_eq!(r["up"]["before"], second);
    assert_eq!(r["up"]["after"], third);
    assert_eq!(env.read("co/README"), "three\n");
    // Local modifications: refused without force, reset with it.
    std::fs::write(env.root.join("co/README"), "mine\n").expect("write");
    let refused = env.run(&upd, &[]);
    assert!(
        stdout(&refused).contains("Local modifications exist in the destination"),
        "{}",
        show(&refused)
    );
    assert_eq!(env.read("co/README"), "mine\n");
    let forced = env.play(
        "forced",
        &format!("    - name: force\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/co\", force: true}}\n"),
    );
    let f = env.run(&forced, &[]);
    assert_eq!(changed_tasks(&f), ["force"], "{}", show(&f));
    assert_eq!(env.read("co/README"), "three\n");
    // Another URL for the same remote: remote_url_changed.
    let moved = env.s.0.join("git/moved.git");
    sh(&format!(
        "cp -a {} {} && chmod -R a+rX {}",
        bare.display(),
        moved.display(),
        moved.display()
    ));
    let m = env.play(
        "moved",
        &format!(
            "    - name: moved\n      git: {{repo: '{}', dest: \"{{{{ root }}}}/co\"}}\n      register: mv\n{}",
            moved.display(),
            record(&["mv"])
        ),
    );
    let mo = env.run(&m, &[]);
    assert_eq!(changed_tasks(&mo), ["moved"], "{}", show(&mo));
    assert_eq!(recorded(&env)["mv"]["remote_url_changed"], true);
    let again = env.run(&m, &[]);
    assert!(changed_tasks(&again).is_empty(), "{}", show(&again));
    // clone: false on a missing checkout only reports the remote head; update: false leaves it.
    let info = env.play(
        "info",
        &format!(
            "    - name: no clone\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/none\", clone: false}}\n      register: nc\n\
             \x20   - name: no update\n      git: {{repo: '{repo}', dest: \"{{{{ root }}}}/tag\", update: false}}\n      register: nu\n{}",
            record(&["nc", "nu"])
        ),
    );
    let io = env.run(&info, &[]);
    assert!(io.status.success(), "{}", show(&io));
    let r = recorded(&env);
    assert_eq!(r["nc"]["after"], third);
    assert!(!env.root.join("none").exists());
    assert_eq!(r["nu"]["after"], first);
    assert_eq!(r["nu"]["changed"], false);
}

// ---------------------------------------------------------------------------------------
// More corners: busybox's find and stat, submodules and archives of git, keep_newer and
// zstd for unarchive, get_url's tmp_dest, uri's removes.

#[test]
fn find_with_busybox_tools_finds_the_same() {
    let env = Env::new("find-busybox");
    let tree = env.s.0.join("tree");
    find_tree(&tree);
    // A PATH whose find, stat, date and friends are busybox's applets.
    let bin = env.s.0.join("busybox-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    sh(&format!(
        "for a in find stat date grep wc cat head sha1sum sha256sum md5sum; do ln -sf /usr/bin/busybox {}/$a; done",
        bin.display()
    ));
    let cases = [
        ("all", "recurse: true, hidden: true, file_type: any"),
        ("logs", "patterns: '*.log', recurse: true, depth: 2"),
        ("old", "age: 10w, recurse: true"),
        ("sums", "patterns: '*.log', get_checksum: true"),
    ];
    let mut tasks = String::new();
    for (name, args) in cases {
        for (suffix, env_line) in [
            ("gnu", String::new()),
            (
                "bb",
                format!("      environment: {{PATH: '{}'}}\n", bin.display()),
            ),
        ] {
            tasks.push_str(&format!(
                "    - name: {name}_{suffix}\n      find: {{paths: '{}', {args}}}\n{env_line}      register: {name}_{suffix}\n",
                tree.display()
            ));
        }
    }
    let names: Vec<String> = cases
        .iter()
        .flat_map(|(n, _)| [format!("{n}_gnu"), format!("{n}_bb")])
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    tasks.push_str(&record(&refs));
    let pb = env.play("bb", &tasks);
    let out = env.run(&pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let r = recorded(&env);
    for (name, _) in cases {
        let (g, b) = (&r[format!("{name}_gnu")], &r[format!("{name}_bb")]);
        assert_eq!(g["matched"], b["matched"], "{name}");
        assert_eq!(g["examined"], b["examined"], "{name}");
        let key = |v: &serde_json::Value| -> Vec<(String, String, u64, String, String)> {
            let mut f: Vec<_> = v["files"]
                .as_array()
                .expect("files")
                .iter()
                .map(|x| {
                    (
                        x["path"].as_str().unwrap_or("").to_string(),
                        x["mode"].as_str().unwrap_or("").to_string(),
                        x["size"].as_u64().unwrap_or(0),
                        x["pw_name"].as_str().unwrap_or("").to_string(),
                        x["checksum"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            f.sort();
            f
        };
        assert_eq!(key(g), key(b), "{name}");
        // Whole seconds from busybox.
        let t = |v: &serde_json::Value| v["files"][0]["mtime"].as_f64().unwrap_or(0.0);
        assert_eq!(t(g).floor(), t(b), "{name}");
    }
    assert!(r["all_bb"]["matched"].as_u64().unwrap_or(0) > 10);
    // The busybox run really was busybox's: whole-second times only.
    let fractions = |k: &str| -> Vec<f64> {
        r[k]["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["mtime"].as_f64().unwrap_or(0.0).fract())
            .collect()
    };
    assert!(fractions("all_bb").iter().all(|f| *f == 0.0));
    assert!(fractions("all_gnu").iter().any(|f| *f != 0.0));
}

#[test]
fn git_submodules_and_archives() {
    let env = Env::new("git-sub");
    let dir = env.s.0.join("git");
    let (bare, work, ..) = make_repo(&dir);
    // A second repository, added to the first as a submodule.
    let lib = dir.join("lib.git");
    let lib_work = dir.join("lib-work");
    git(&dir, &format!("init -q --bare -b main {}", lib.display()));
    git(
        &dir,
        &format!(
            "clone -q {} {} 2>/dev/null",
            lib.display(),
            lib_work.display()
        ),
    );
    std::fs::write(lib_work.join("lib.txt"), "lib\n").expect("write");
    git(
        &lib_work,
        "add lib.txt && git commit -qm lib && git push -q origin main",
    );
    git(
        &work,
        &format!(
            "-c protocol.file.allow=always submodule add -q {} lib && git commit -qm sub && git push -q origin main",
            lib.display()
        ),
    );
    sh(&format!(
        "chmod -R a+rX {0} && chown -R {USER} {1} {2}",
        dir.display(),
        bare.display(),
        lib.display()
    ));
    // The test user's git may use file:// submodules (git refuses them by default).
    let cfg = env.s.0.join("user-gitconfig");
    std::fs::write(&cfg, "[protocol \"file\"]\n\tallow = always\n").expect("write");
    sh(&format!("chmod 0644 {}", cfg.display()));
    let pb = env.play(
        "sub",
        &format!(
            "    - name: with submodules\n      git: {{repo: '{0}', dest: \"{{{{ root }}}}/sub\"}}\n      environment: {{GIT_CONFIG_GLOBAL: '{1}'}}\n      register: sub\n\
             \x20   - name: archive\n      git: {{repo: '{0}', dest: \"{{{{ root }}}}/sub\", archive: \"{{{{ root }}}}/sub.tar\", archive_prefix: 'p/'}}\n      environment: {{GIT_CONFIG_GLOBAL: '{1}'}}\n      register: arch\n",
            bare.display(),
            cfg.display()
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["sub", "arch"]));
    std::fs::write(&pb, t).expect("write");
    let first = env.run(&pb, &[]);
    assert!(first.status.success(), "{}", show(&first));
    assert_eq!(env.read("sub/lib/lib.txt"), "lib\n");
    let r = recorded(&env);
    assert_eq!(r["sub"]["submodules_changed"], true, "{}", r["sub"]);
    let listing = sh(&format!("tar -tf {}", env.root.join("sub.tar").display()));
    assert!(listing.lines().any(|l| l == "p/README"), "{listing}");
    let second = env.run(&pb, &[]);
    assert!(changed_tasks(&second).is_empty(), "{}", show(&second));
    let _ = std::fs::remove_file(git_config());
}

#[test]
fn unarchive_keep_newer_and_zstd() {
    let env = Env::new("unarchive-more");
    let files = env.s.0.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    make_archives(&files);
    sh(&format!(
        "cd {0}/src && tar --zstd -cf ../app.tar.zst app",
        files.display()
    ));
    let pb = env.play(
        "more",
        &format!(
            "    - name: zst\n      unarchive: {{src: '{0}/app.tar.zst', dest: \"{{{{ root }}}}/zst\"}}\n      register: zst\n\
             \x20   - name: keep newer\n      unarchive: {{src: '{0}/app.zip', dest: \"{{{{ root }}}}/kn\", keep_newer: true}}\n",
            files.display()
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["zst"]));
    std::fs::write(&pb, t).expect("write");
    let seed = || {
        for d in ["zst", "kn"] {
            let _ = std::fs::remove_dir_all(env.root.join(d));
        }
        env.seed("zst/.keep", b"");
        // A newer local README that keep_newer must leave alone.
        env.seed("kn/app/README", b"mine, newer\n");
        sh(&format!("chown -R {USER}:{USER} {}", env.root.display()));
    };
    seed();
    let first = env.run(&pb, &[]);
    assert!(first.status.success(), "{}", show(&first));
    assert_eq!(recorded(&env)["zst"]["handler"], "TarArchive");
    assert_eq!(env.read("zst/app/etc/app.conf"), "port=1\n");
    assert_eq!(env.read("kn/app/README"), "mine, newer\n");
    assert_eq!(env.read("kn/app/etc/app.conf"), "port=1\n");
    let second = env.run(&pb, &[]);
    assert!(changed_tasks(&second).is_empty(), "{}", show(&second));
}

#[test]
fn get_url_tmp_dest_and_uri_removes() {
    let env = Env::new("tmpdest");
    let web = Httpd::start(&env.s.0, None);
    web.file("f.txt", b"file\n");
    env.seed("stage/.keep", b"");
    let pb = env.play(
        "misc",
        &format!(
            "    - name: staged elsewhere\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/f.txt\", tmp_dest: \"{{{{ root }}}}/stage\"}}\n\
             \x20   - name: tmp_dest missing\n      get_url: {{url: '{0}', dest: \"{{{{ root }}}}/g.txt\", tmp_dest: \"{{{{ root }}}}/nodir\"}}\n      register: nodir\n      ignore_errors: true\n\
             \x20   - name: removes\n      uri: {{url: '{0}', removes: \"{{{{ root }}}}/absent\"}}\n      register: rm\n",
            web.url("f.txt")
        ),
    );
    let mut t = std::fs::read_to_string(&pb).expect("read");
    t.push_str(&record(&["nodir", "rm"]));
    std::fs::write(&pb, t).expect("write");
    let out = env.run(&pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(env.read("f.txt"), "file\n");
    let r = recorded(&env);
    assert_eq!(
        r["nodir"]["msg"],
        format!("{}/nodir directory does not exist.", env.root.display())
    );
    assert_eq!(
        r["rm"]["stdout"],
        format!(
            "skipped, since '{}/absent' does not exist",
            env.root.display()
        )
    );
    let left = sh(&format!("ls -A {}", env.root.join("stage").display()));
    assert_eq!(left.trim(), ".keep");
}

#[test]
fn git_over_ssh_with_key_file_and_host_key_acceptance() {
    let env = Env::new("git-ssh");
    let (bare, _, _, second) = make_repo(&env.s.0.join("git"));
    // The host clones from itself over SSH, as the test user, with the controller's key.
    let key = env.s.0.join("git-key");
    std::fs::copy(env.home.ssh().join("id_ed25519"), &key).expect("key");
    sh(&format!(
        "chown {USER} {0} && chmod 0600 {0}",
        key.display()
    ));
    let port = std::fs::read_to_string(&env.inv)
        .expect("inventory")
        .split("ansible_port=")
        .nth(1)
        .and_then(|p| p.split_whitespace().next().map(str::to_string))
        .expect("port");
    let url = format!("ssh://{USER}@127.0.0.2:{port}{}", bare.display());
    let kh = |n: &str| env.s.0.join(format!("known_hosts.{n}"));
    let task = |name: &str, dest: &str, extra: &str, known: &Path| {
        format!(
            "    - name: {name}\n      git: {{repo: '{url}', dest: \"{{{{ root }}}}/{dest}\", key_file: '{}', ssh_opts: '-o UserKnownHostsFile={}'{extra}}}\n      register: {dest}\n      ignore_errors: true\n",
            key.display(),
            known.display()
        )
    };
    let mut tasks = task("unknown host key", "strict", "", &kh("strict"));
    tasks.push_str(&task(
        "accept_hostkey",
        "accept",
        ", accept_hostkey: true",
        &kh("accept"),
    ));
    tasks.push_str(&task(
        "accept_newhostkey",
        "acceptnew",
        ", accept_newhostkey: true",
        &kh("new"),
    ));
    tasks.push_str(&record(&["strict", "accept", "acceptnew"]));
    let pb = env.play("ssh", &tasks);
    let out = env.run(&pb, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let r = recorded(&env);
    assert_eq!(r["strict"]["failed"], true, "{}", r["strict"]);
    assert!(
        r["strict"]["msg"]
            .as_str()
            .unwrap_or("")
            .contains("Host key verification failed"),
        "{}",
        r["strict"]
    );
    assert!(!env.root.join("strict/README").exists());
    for d in ["accept", "acceptnew"] {
        assert_eq!(r[d]["after"], second, "{d}: {}", r[d]);
        assert_eq!(env.read(&format!("{d}/README")), "two\n");
    }
    // The accepted key was recorded where ssh_opts said (hashed, as Debian's ssh does).
    let known = std::fs::read_to_string(kh("new")).expect("known_hosts");
    assert!(known.contains("ssh-ed25519"), "{known}");
    let again = env.run(&pb, &[]);
    let st = statuses(&again);
    assert!(
        st.iter().any(|(t, s)| t == "accept_hostkey" && s == "ok"),
        "{}",
        show(&again)
    );
}
