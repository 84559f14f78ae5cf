//! Vault, against ansible-core 2.19's `ansible-vault` and `ansible-playbook` (the oracle):
//! files and strings encrypted by either tool decrypt in the other (1.1 and 1.2, several
//! vault ids, password files, a client script); the same fixed salt gives the same bytes;
//! rekey; wrong passwords, tampered and malformed texts fail with ansible-vault's messages
//! and exit codes; a playbook reading vaulted group_vars, host_vars, vars_files, `-e @file`,
//! inline `!vault` values, an encrypted template and an encrypted `copy` source leaves the
//! same files as ansible-playbook; at `-vvvv` no secret and no become password appears in
//! kiln's output or on the controller's disk except the one value the playbook debugs (which
//! ansible-playbook prints too); `edit`/`create` use a private temporary file that is gone
//! afterwards; prompts need a terminal.
//!
//! The project's encrypted files are made at test time by ansible-vault from the plaintext
//! fixtures in `tests/fixtures/vault/project`; the committed vectors in
//! `tests/fixtures/vault/vectors` are for the unit tests in `src/vault`. The no-leak test
//! also runs a play over a loopback OpenSSH sshd as the SSH tests' user, with a vaulted
//! sudo password (needs root, as `tests/ssh.rs`).

mod common;

use common::sshd::{self, Home, Scratch, Sshd};
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const PW_DEFAULT: &str = "kiln-default-pw";
const PW_DEV: &str = "kiln-dev-pw";
const PW_PROD: &str = "kiln-prod-pw";

fn fx() -> PathBuf {
    fixtures().join("vault")
}

fn pw(name: &str) -> PathBuf {
    fx().join("passwords").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-vault-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// An ansible-core command run on this machine, with no vault settings from outside.
fn oracle_local(name: &str) -> Command {
    let mut c = oracle_bin(name);
    c.env("ANSIBLE_PYTHON_INTERPRETER", oracle_python())
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .stdin(Stdio::null());
    clean_env(&mut c);
    c
}

/// No vault setting of the environment running the tests leaks into them.
fn clean_env(c: &mut Command) {
    for v in [
        "ANSIBLE_VAULT_PASSWORD_FILE",
        "ANSIBLE_VAULT_IDENTITY_LIST",
        "ANSIBLE_VAULT_ID_MATCH",
        "ANSIBLE_VAULT_IDENTITY",
        "ANSIBLE_VAULT_ENCRYPT_IDENTITY",
        "ANSIBLE_VAULT_ENCRYPT_SALT",
        "ANSIBLE_ASK_VAULT_PASS",
        "EDITOR",
        "ANSIBLE_EDITOR",
        "PAGER",
        "ANSIBLE_PAGER",
    ] {
        c.env_remove(v);
    }
}

fn ansible_vault(args: &[&str]) -> Command {
    let mut c = oracle_local("ansible-vault");
    c.args(args);
    c
}

fn kiln_vault(args: &[&str]) -> Command {
    let mut c = kiln();
    c.arg("vault").args(args).stdin(Stdio::null());
    clean_env(&mut c);
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", show(&o));
    o
}

/// Runs with `input` on stdin.
fn with_input(mut c: Command, input: &[u8]) -> Output {
    use std::io::Write;
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

/// The three fixture secrets: the default password file, `dev` from a file with blanks
/// around the password, `prod` from a client script.
fn all_ids() -> Vec<String> {
    vec![
        "--vault-password-file".into(),
        pw("default.txt").display().to_string(),
        "--vault-id".into(),
        format!("dev@{}", pw("dev.txt").display()),
        "--vault-id".into(),
        format!("prod@{}", pw("prod-client.sh").display()),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// ansible-vault's message without its `[ERROR]: ` prefix, and kiln's without `error: `.
fn message(o: &Output, prefix: &str) -> String {
    stderr(o)
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect::<Vec<_>>()
        .join("\n")
}

fn plaintexts() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("text.yml", b"password: S3cret\nlist: [1, 2]\n".to_vec()),
        ("block.txt", b"0123456789abcdef".to_vec()),
        ("empty.txt", Vec::new()),
        (
            "utf8.txt",
            "mot de passe: très secret ✓\n".as_bytes().to_vec(),
        ),
        ("binary.bin", (0..=255u8).cycle().take(1000).collect()),
    ]
}

#[test]
fn ansible_vault_files_decrypt_in_kiln() {
    let d = scratch("from-ansible");
    let ids = [
        (
            "default",
            vec![
                "--vault-password-file".to_string(),
                pw("default.txt").display().to_string(),
            ],
        ),
        (
            "dev",
            vec![
                "--vault-id".to_string(),
                format!("dev@{}", pw("dev.txt").display()),
            ],
        ),
        (
            "prod",
            vec![
                "--vault-id".to_string(),
                format!("prod@{}", pw("prod-client.sh").display()),
            ],
        ),
    ];
    let mut jobs = Vec::new();
    for (id, opts) in &ids {
        let files: Vec<String> = plaintexts()
            .iter()
            .map(|(name, data)| {
                let p = d.join(format!("{id}-{name}"));
                std::fs::write(&p, data).expect("write");
                p.display().to_string()
            })
            .collect();
        let mut args = vec!["encrypt".to_string()];
        args.extend(opts.iter().cloned());
        args.extend(files);
        jobs.push(args);
    }
    for o in parallel(jobs, |args| run(ansible_vault(&strs(&args)))) {
        ok(o);
    }
    for (id, _) in &ids {
        for (name, data) in plaintexts() {
            let f = d.join(format!("{id}-{name}"));
            let head = std::fs::read_to_string(&f).expect("vault text");
            let want_header = match *id {
                "default" => "$ANSIBLE_VAULT;1.1;AES256\n".to_string(),
                other => format!("$ANSIBLE_VAULT;1.2;AES256;{other}\n"),
            };
            assert!(head.starts_with(&want_header), "{head}");
            // kiln holding all three secrets finds the right one.
            let mut args = vec!["decrypt", "--output", "-"];
            let all = all_ids();
            args.extend(strs(&all));
            let f_s = f.display().to_string();
            args.push(&f_s);
            let o = ok(run(kiln_vault(&args)));
            assert_eq!(o.stdout, data, "{id}-{name}");
        }
    }
    // `view` prints (no terminal: no pager), and stdin works as `-`.
    let f = d.join("dev-text.yml");
    let dev = format!("dev@{}", pw("dev.txt").display());
    let o = ok(run(kiln_vault(&[
        "view",
        "--vault-id",
        &dev,
        &f.display().to_string(),
    ])));
    assert_eq!(stdout(&o), "password: S3cret\nlist: [1, 2]\n");
    let o = with_input(
        kiln_vault(&["decrypt", "--vault-id", &dev]),
        &std::fs::read(&f).expect("read"),
    );
    assert_eq!(stdout(&ok(o)), "password: S3cret\nlist: [1, 2]\n");
    // In place, as ansible-vault: the file becomes the plaintext.
    ok(run(kiln_vault(&[
        "decrypt",
        "--vault-id",
        &dev,
        &f.display().to_string(),
    ])));
    assert_eq!(
        std::fs::read_to_string(&f).expect("read"),
        "password: S3cret\nlist: [1, 2]\n"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn kiln_files_decrypt_in_ansible_vault() {
    let d = scratch("from-kiln");
    let dev = format!("dev@{}", pw("dev.txt").display());
    let prod = format!("prod@{}", pw("prod-client.sh").display());
    let default = pw("default.txt").display().to_string();
    let mut checks = Vec::new();
    for (name, data) in plaintexts() {
        let f1 = d.join(format!("v11-{name}"));
        std::fs::write(&f1, &data).expect("write");
        ok(run(kiln_vault(&[
            "encrypt",
            "--vault-password-file",
            &default,
            &f1.display().to_string(),
        ])));
        assert!(
            std::fs::read_to_string(&f1)
                .expect("read")
                .starts_with("$ANSIBLE_VAULT;1.1;AES256\n")
        );
        checks.push((
            f1,
            vec!["--vault-password-file".to_string(), default.clone()],
            data.clone(),
        ));
        // Several ids: --encrypt-vault-id picks one, and the header names it.
        let f2 = d.join(format!("v12-{name}"));
        let src = d.join(format!("src-{name}"));
        std::fs::write(&src, &data).expect("write");
        ok(run(kiln_vault(&[
            "encrypt",
            "--vault-id",
            &dev,
            "--vault-id",
            &prod,
            "--encrypt-vault-id",
            "prod",
            "--output",
            &f2.display().to_string(),
            &src.display().to_string(),
        ])));
        assert!(
            std::fs::read_to_string(&f2)
                .expect("read")
                .starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n")
        );
        assert_eq!(
            std::fs::read(&src).expect("src"),
            data,
            "--output leaves the input alone"
        );
        checks.push((f2, vec!["--vault-id".to_string(), prod.clone()], data));
    }
    // From stdin to stdout.
    let o = ok(with_input(
        kiln_vault(&["encrypt", "--vault-id", &dev]),
        b"piped: yes\n",
    ));
    let f3 = d.join("piped.vault");
    std::fs::write(&f3, &o.stdout).expect("write");
    checks.push((
        f3,
        vec!["--vault-id".to_string(), dev.clone()],
        b"piped: yes\n".to_vec(),
    ));
    let results = parallel(checks, |(f, opts, data)| {
        let mut args = vec!["decrypt".to_string(), "--output".into(), "-".into()];
        args.extend(opts);
        args.push(f.display().to_string());
        let o = run(ansible_vault(&strs(&args)));
        (f, data, o)
    });
    for (f, data, o) in results {
        assert_eq!(ok(o).stdout, data, "{}", f.display());
    }
    // The files kiln writes are private, as ansible-vault's.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("v11-text.yml"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_fixed_salt_gives_ansible_vaults_bytes() {
    let d = scratch("salt");
    let dev = format!("dev@{}", pw("dev.txt").display());
    let plain = d.join("plain.yml");
    std::fs::write(&plain, "a: 1\nb: [x, y]\n").expect("write");
    let salt = "a-salt-both-tools-use";
    let mut k = kiln_vault(&[
        "encrypt",
        "--vault-id",
        &dev,
        "--output",
        "-",
        &plain.display().to_string(),
    ]);
    k.env("ANSIBLE_VAULT_ENCRYPT_SALT", salt);
    let mut a = ansible_vault(&[
        "encrypt",
        "--vault-id",
        &dev,
        "--output",
        "-",
        &plain.display().to_string(),
    ]);
    a.env("ANSIBLE_VAULT_ENCRYPT_SALT", salt);
    let (ko, ao) = (ok(run(k)), ok(run(a)));
    assert_eq!(stdout(&ko), stdout(&ao));
    // encrypt_string too, several strings with names: identical stdout and comments.
    let args = [
        "encrypt_string",
        "--vault-id",
        &dev,
        "-n",
        "first",
        "-n",
        "second",
        "one",
        "two",
        "three",
    ];
    let mut k = kiln_vault(&args);
    k.env("ANSIBLE_VAULT_ENCRYPT_SALT", salt);
    let mut a = ansible_vault(&args);
    a.env("ANSIBLE_VAULT_ENCRYPT_SALT", salt);
    let (ko, ao) = (ok(run(k)), ok(run(a)));
    assert_eq!(stdout(&ko), stdout(&ao));
    assert_eq!(stderr(&ko), stderr(&ao));
    let stdin_args = [
        "encrypt_string",
        "--vault-id",
        &dev,
        "--stdin-name",
        "fromstdin",
    ];
    let mut k = kiln_vault(&stdin_args);
    k.env("ANSIBLE_VAULT_ENCRYPT_SALT", salt);
    let mut a = ansible_vault(&stdin_args);
    a.env("ANSIBLE_VAULT_ENCRYPT_SALT", salt);
    let (ko, ao) = (
        ok(with_input(k, b"piped secret")),
        ok(with_input(a, b"piped secret")),
    );
    assert_eq!(stdout(&ko), stdout(&ao));
    let _ = std::fs::remove_dir_all(&d);
}

/// A one-play playbook that writes `vars` (already YAML text, indented by 4) and debugs `shown`.
fn string_playbook(dir: &Path, vars: &str, shown: &str) -> PathBuf {
    let pb = dir.join("strings.yml");
    std::fs::write(
        &pb,
        format!(
            "- hosts: localhost\n  gather_facts: false\n  vars:\n{vars}\n  tasks:\n    - debug:\n        msg: \"[{{{{ {shown} }}}}]\"\n"
        ),
    )
    .expect("write");
    pb
}

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{:by$}{l}", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn kiln_run(args: &[&str]) -> Command {
    let mut c = kiln();
    c.arg("run")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    clean_env(&mut c);
    c
}

fn ansible_playbook(args: &[&str]) -> Command {
    let mut c = oracle_local("ansible-playbook");
    c.args(args);
    c
}

#[test]
fn encrypt_string_output_works_in_both_playbook_runners() {
    let d = scratch("strings");
    let dev = format!("dev@{}", pw("dev.txt").display());
    let k = ok(run(kiln_vault(&[
        "encrypt_string",
        "--vault-id",
        &dev,
        "--name",
        "from_kiln",
        "K1ln-str1ng",
    ])));
    let a = ok(run(ansible_vault(&[
        "encrypt_string",
        "--vault-id",
        &dev,
        "--name",
        "from_ansible",
        "Ans1ble-str1ng",
    ])));
    let vars = format!("{}\n{}", indent(&stdout(&k), 4), indent(&stdout(&a), 4));
    let pb = string_playbook(&d, &vars, "from_kiln ~ '/' ~ from_ansible");
    let pb_s = pb.display().to_string();
    let ko = ok(run(kiln_run(&[&pb_s, "--vault-id", &dev])));
    let ao = ok(run(ansible_playbook(&[
        "-i",
        "localhost,",
        "-c",
        "local",
        &pb_s,
        "--vault-id",
        &dev,
    ])));
    for o in [&ko, &ao] {
        assert!(
            stdout(o).contains("\"msg\": \"[K1ln-str1ng/Ans1ble-str1ng]\""),
            "{}",
            show(o)
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn rekey_both_ways() {
    use std::os::unix::fs::PermissionsExt;
    let d = scratch("rekey");
    let dev = format!("dev@{}", pw("dev.txt").display());
    let prod = format!("prod@{}", pw("prod-client.sh").display());
    let default = pw("default.txt").display().to_string();
    let f = d.join("secrets.yml");
    std::fs::write(&f, "k: rekeyed\n").expect("write");
    let fs = f.display().to_string();
    ok(run(ansible_vault(&[
        "encrypt",
        "--vault-password-file",
        &default,
        &fs,
    ])));
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    // kiln rekeys ansible-vault's file to the dev password file.
    let o = ok(run(kiln_vault(&[
        "rekey",
        "--vault-password-file",
        &default,
        "--new-vault-password-file",
        &pw("dev.txt").display().to_string(),
        &fs,
    ])));
    assert!(stderr(&o).contains("Rekey successful"), "{}", show(&o));
    assert_eq!(
        std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777,
        0o640
    );
    let text = std::fs::read_to_string(&f).expect("read");
    assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{text}");
    let old = run(ansible_vault(&[
        "view",
        "--vault-password-file",
        &default,
        &fs,
    ]));
    assert_eq!(
        old.status.code(),
        Some(1),
        "the old password still works: {}",
        show(&old)
    );
    let new = ok(run(ansible_vault(&[
        "view",
        "--vault-password-file",
        &pw("dev.txt").display().to_string(),
        &fs,
    ])));
    assert_eq!(stdout(&new), "k: rekeyed\n");
    // To a new vault id (a client script): a 1.2 header naming it.
    ok(run(kiln_vault(&[
        "rekey",
        "--vault-id",
        &dev,
        "--new-vault-id",
        &prod,
        &fs,
    ])));
    assert!(
        std::fs::read_to_string(&f)
            .expect("read")
            .starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    );
    ok(run(ansible_vault(&["view", "--vault-id", &prod, &fs])));
    // And ansible-vault rekeys kiln's file back.
    ok(run(ansible_vault(&[
        "rekey",
        "--vault-id",
        &prod,
        "--new-vault-password-file",
        &default,
        &fs,
    ])));
    let o = ok(run(kiln_vault(&[
        "view",
        "--vault-password-file",
        &default,
        &fs,
    ])));
    assert_eq!(stdout(&o), "k: rekeyed\n");
    // The two options for the new secret exclude each other, in both tools.
    let args = [
        "rekey",
        "--vault-password-file",
        &default,
        "--new-vault-id",
        &prod,
        "--new-vault-password-file",
        &default,
        &fs,
    ];
    let (k, a) = (run(kiln_vault(&args)), run(ansible_vault(&args)));
    assert!(
        !k.status.success() && !a.status.success(),
        "{}\n{}",
        show(&k),
        show(&a)
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// One failing vault command: the exit code and message of both tools.
struct Refusal {
    what: &'static str,
    args: Vec<String>,
    /// A part of the message both must print.
    message: String,
}

#[test]
fn failures_have_ansible_vaults_messages_and_exit_codes() {
    let d = scratch("failures");
    let default = pw("default.txt").display().to_string();
    let dev = format!("dev@{}", pw("dev.txt").display());
    let prod = format!("prod@{}", pw("prod-client.sh").display());
    let good = d.join("good.yml");
    std::fs::write(&good, "k: v\n").expect("write");
    ok(run(ansible_vault(&[
        "encrypt",
        "--vault-password-file",
        &default,
        &good.display().to_string(),
    ])));
    let text = std::fs::read_to_string(&good).expect("read");
    // A tampered ciphertext: one hex digit of the payload changed, as near its end as there
    // is one, keeping it hexadecimal (an outer `3d` pair is the inner digit `d`). The last
    // line alone can be a few characters with no digit 0-8 in it.
    let tampered = d.join("tampered.yml");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (line, at) = (1..lines.len())
        .rev()
        .find_map(|l| {
            let b = lines[l].as_bytes();
            (0..b.len() / 2)
                .rev()
                .map(|i| 2 * i)
                .find(|&i| b[i] == b'3' && (b'0'..=b'8').contains(&b[i + 1]))
                .map(|i| (l, i))
        })
        .expect("digit");
    let mut b = lines[line].clone().into_bytes();
    b[at + 1] += 1;
    lines[line] = String::from_utf8(b).expect("ascii");
    std::fs::write(&tampered, lines.join("\n") + "\n").expect("write");
    let nonhex = d.join("nonhex.yml");
    std::fs::write(&nonhex, "$ANSIBLE_VAULT;1.1;AES256\nzz\n").expect("write");
    let cipher = d.join("cipher.yml");
    std::fs::write(&cipher, "$ANSIBLE_VAULT;1.1;AES128\n00\n").expect("write");
    let plain = d.join("plain.yml");
    std::fs::write(&plain, "k: v\n").expect("write");
    let exe = d.join("failing-script");
    std::fs::write(&exe, "#!/bin/sh\nexit 3\n").expect("write");
    make_executable(&exe);
    let p = |p: &Path| p.display().to_string();
    let cases = vec![
        Refusal {
            what: "wrong password",
            args: vec!["view".into(), "--vault-password-file".into(), p(&pw("wrong.txt")), p(&good)],
            message: format!("Decryption failed (no vault secrets were found that could decrypt). for {}", p(&good)),
        },
        Refusal {
            what: "tampered (HMAC)",
            args: vec!["view".into(), "--vault-password-file".into(), default.clone(), p(&tampered)],
            message: "Decryption failed (no vault secrets were found that could decrypt).".into(),
        },
        Refusal {
            what: "not hexadecimal",
            args: vec!["view".into(), "--vault-password-file".into(), default.clone(), p(&nonhex)],
            message: "Vault format unhexlify error: Non-hexadecimal digit found".into(),
        },
        Refusal {
            what: "unknown cipher",
            args: vec!["view".into(), "--vault-password-file".into(), default.clone(), p(&cipher)],
            message: "Cipher 'AES128' could not be found.".into(),
        },
        Refusal {
            what: "not encrypted",
            args: vec!["decrypt".into(), "--vault-password-file".into(), default.clone(), p(&plain)],
            message: "Input is not vault encrypted data.".into(),
        },
        Refusal {
            what: "already encrypted",
            args: vec!["encrypt".into(), "--vault-password-file".into(), default.clone(), p(&good)],
            message: "input is already encrypted".into(),
        },
        Refusal {
            what: "missing password file",
            args: vec!["view".into(), "--vault-password-file".into(), p(&d.join("nope")), p(&good)],
            message: format!("The vault password file {} was not found", p(&d.join("nope"))),
        },
        Refusal {
            what: "failing password script",
            args: vec!["view".into(), "--vault-password-file".into(), p(&exe), p(&good)],
            message: format!("Vault password script {} returned non-zero (3)", p(&exe)),
        },
        Refusal {
            what: "client script without the id",
            args: vec!["view".into(), "--vault-id".into(), format!("other@{}", p(&pw("prod-client.sh"))), p(&good)],
            message: format!("Vault password client script {} did not find a secret for vault-id=other", p(&pw("prod-client.sh"))),
        },
        Refusal {
            what: "several ids to encrypt with",
            args: vec!["encrypt_string".into(), "--vault-id".into(), dev.clone(), "--vault-id".into(), prod.clone(), "x".into()],
            message: "The vault-ids dev,prod are available to encrypt. Specify the vault-id to encrypt with --encrypt-vault-id".into(),
        },
        Refusal {
            what: "unknown encrypt id",
            args: vec!["encrypt_string".into(), "--vault-id".into(), dev.clone(), "--encrypt-vault-id".into(), "nope".into(), "x".into()],
            message: "Did not find a match for --encrypt-vault-id=nope in the known vault-ids ['dev']".into(),
        },
        Refusal {
            what: "--output with two inputs",
            args: vec!["decrypt".into(), "--vault-password-file".into(), default.clone(), "--output".into(), p(&d.join("o")), p(&good), p(&plain)],
            message: "At most one input file may be used with the --output option".into(),
        },
        Refusal {
            what: "a `;` in a vault id",
            args: vec!["encrypt_string".into(), "--vault-id".into(), format!("a;b@{default}"), "x".into()],
            message: format!("'a;b@{default}' is not a valid vault id. The character ';' is not allowed in vault ids"),
        },
        Refusal {
            what: "--prompt with stdin",
            args: vec!["encrypt_string".into(), "--vault-password-file".into(), default.clone(), "-p".into(), "-".into()],
            message: "The --prompt option is not supported if also reading input from stdin".into(),
        },
        Refusal {
            what: "empty string",
            args: vec!["encrypt_string".into(), "--vault-password-file".into(), default.clone(), "".into()],
            message: "The plaintext provided from the command line args was empty, not encrypting".into(),
        },
        Refusal {
            what: "create of an existing file",
            args: vec!["create".into(), "--vault-password-file".into(), default.clone(), "--skip-tty-check".into(), p(&good)],
            message: format!("{} exists, please use 'edit' instead", p(&good)),
        },
    ];
    let results = parallel(cases, |c| {
        let a = run(ansible_vault(&strs(&c.args)));
        let k = run(kiln_vault(&strs(&c.args)));
        (c, a, k)
    });
    for (c, a, k) in results {
        assert_ne!(
            a.status.code(),
            Some(0),
            "{}: ansible-vault succeeded",
            c.what
        );
        assert_eq!(
            k.status.code(),
            a.status.code(),
            "{}: exit codes\n{}\n{}",
            c.what,
            show(&k),
            show(&a)
        );
        assert!(
            message(&a, "[ERROR]: ").contains(&c.message),
            "{}: oracle said\n{}",
            c.what,
            show(&a)
        );
        assert!(
            message(&k, "error: ").contains(&c.message),
            "{}: kiln said\n{}",
            c.what,
            show(&k)
        );
    }
    // A refused decryption leaves the file as it was.
    assert_eq!(std::fs::read_to_string(&good).expect("read"), text);
    let _ = std::fs::remove_dir_all(&d);
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn settings_from_the_environment() {
    let d = scratch("env");
    let f = d.join("dev.yml");
    std::fs::write(&f, "k: env\n").expect("write");
    let fs = f.display().to_string();
    let dev = format!("dev@{}", pw("dev.txt").display());
    ok(run(ansible_vault(&["encrypt", "--vault-id", &dev, &fs])));
    let both = |env: &[(&str, String)], args: &[&str]| {
        let mut k = kiln_vault(args);
        let mut a = ansible_vault(args);
        for (key, v) in env {
            k.env(key, v);
            a.env(key, v);
        }
        (run(k), run(a))
    };
    // ANSIBLE_VAULT_IDENTITY_LIST and ANSIBLE_VAULT_PASSWORD_FILE stand for the options.
    for env in [
        vec![(
            "ANSIBLE_VAULT_IDENTITY_LIST",
            format!("other@{},{dev}", pw("default.txt").display()),
        )],
        vec![(
            "ANSIBLE_VAULT_PASSWORD_FILE",
            pw("dev.txt").display().to_string(),
        )],
    ] {
        let (k, a) = both(&env, &["view", &fs]);
        assert_eq!(stdout(&ok(k)), "k: env\n");
        assert_eq!(stdout(&ok(a)), "k: env\n");
    }
    // The header's id only selects: the dev password labelled `other` opens a `dev` file,
    // unless ANSIBLE_VAULT_ID_MATCH says ids must match.
    let other = format!("other@{}", pw("dev.txt").display());
    let (k, a) = both(&[], &["view", "--vault-id", &other, &fs]);
    assert!(
        k.status.success() && a.status.success(),
        "{}\n{}",
        show(&k),
        show(&a)
    );
    let (k, a) = both(
        &[("ANSIBLE_VAULT_ID_MATCH", "yes".into())],
        &["view", "--vault-id", &other, &fs],
    );
    assert_eq!(
        (k.status.code(), a.status.code()),
        (Some(1), Some(1)),
        "{}\n{}",
        show(&k),
        show(&a)
    );
    assert!(
        message(&k, "error: ").contains("Decryption failed"),
        "{}",
        show(&k)
    );
    // ANSIBLE_VAULT_ENCRYPT_IDENTITY picks the id to encrypt with among several.
    let prod = format!("prod@{}", pw("prod-client.sh").display());
    let (k, a) = both(
        &[("ANSIBLE_VAULT_ENCRYPT_IDENTITY", "prod".into())],
        &[
            "encrypt_string",
            "--vault-id",
            &dev,
            "--vault-id",
            &prod,
            "x",
        ],
    );
    for o in [k, a] {
        assert!(stdout(&ok(o)).contains("$ANSIBLE_VAULT;1.2;AES256;prod"));
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// The vault options that stand for a fixture secret when encrypting.
fn encrypt_opts(id: &str) -> Vec<String> {
    match id {
        "dev" => vec![
            "--vault-id".into(),
            format!("dev@{}", pw("dev.txt").display()),
        ],
        "prod" => vec![
            "--vault-id".into(),
            format!("prod@{}", pw("prod-client.sh").display()),
        ],
        "wrong" => vec![
            "--vault-password-file".into(),
            pw("wrong.txt").display().to_string(),
        ],
        _ => vec![
            "--vault-password-file".into(),
            pw("default.txt").display().to_string(),
        ],
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_below(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The playbook project with its secrets encrypted by ansible-vault: the files below
/// encrypted in place, and each `@@name:id:text@@` line replaced by ansible-vault's
/// `encrypt_string` block (indented like the line). Built once per test run.
fn project() -> &'static Path {
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    PROJECT.get_or_init(|| {
        let d = scratch("project");
        copy_tree(&fx().join("project"), &d);
        let whole = [
            ("dev", vec!["group_vars/app.yml", "extra.yml"]),
            (
                "default",
                vec![
                    "vars/secrets.yml",
                    "files/secret.conf",
                    "inventory-encrypted.ini",
                ],
            ),
            ("prod", vec!["templates/app.conf.j2"]),
        ];
        std::fs::copy(d.join("inventory.ini"), d.join("inventory-encrypted.ini")).expect("copy");
        // Placeholders, by file and by vault id.
        let mut files = Vec::new();
        files_below(&d, &mut files);
        let mut wanted: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            for line in text.lines() {
                if let Some(spec) = line
                    .trim()
                    .strip_prefix("@@")
                    .and_then(|l| l.strip_suffix("@@"))
                {
                    let mut parts = spec.splitn(3, ':');
                    let (name, id, value) = (
                        parts.next().expect("name"),
                        parts.next().expect("id"),
                        parts.next().expect("text"),
                    );
                    wanted
                        .entry(id.to_string())
                        .or_default()
                        .push((name.to_string(), value.to_string()));
                }
            }
        }
        let mut jobs: Vec<Vec<String>> = whole
            .iter()
            .map(|(id, files)| {
                let mut a = vec!["encrypt".to_string()];
                a.extend(encrypt_opts(id));
                a.extend(files.iter().map(|f| d.join(f).display().to_string()));
                a
            })
            .collect();
        let ids: Vec<String> = wanted.keys().cloned().collect();
        for id in &ids {
            let mut a = vec!["encrypt_string".to_string()];
            a.extend(encrypt_opts(id));
            for (name, _) in &wanted[id] {
                a.push("-n".into());
                a.push(name.clone());
            }
            a.extend(wanted[id].iter().map(|(_, v)| v.clone()));
            jobs.push(a);
        }
        let outputs = parallel(jobs, |a| run(ansible_vault(&strs(&a))));
        let mut blocks: BTreeMap<String, String> = BTreeMap::new();
        for o in outputs.into_iter().skip(whole.len()) {
            let text = stdout(&ok(o));
            let mut current: Option<String> = None;
            for line in text.lines() {
                if let Some(name) = line.strip_suffix(": !vault |") {
                    current = Some(name.to_string());
                    blocks.insert(name.to_string(), format!("{line}\n"));
                } else if let Some(n) = &current {
                    blocks
                        .get_mut(n)
                        .expect("block")
                        .push_str(&format!("{line}\n"));
                }
            }
        }
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            if !text.contains("@@") {
                continue;
            }
            let mut out = String::new();
            for line in text.lines() {
                match line
                    .trim()
                    .strip_prefix("@@")
                    .and_then(|l| l.strip_suffix("@@"))
                {
                    Some(spec) => {
                        let name = spec.split(':').next().expect("name");
                        let pad = line.len() - line.trim_start().len();
                        out.push_str(&indent(&blocks[name], pad));
                        out.push('\n');
                    }
                    None => {
                        out.push_str(line);
                        out.push('\n');
                    }
                }
            }
            std::fs::write(f, out).expect("write");
        }
        d
    })
}

/// Every plaintext secret of the project (and the passwords) that must never be printed.
const HIDDEN: &[&str] = &[
    "Gr0up-s3cret-app",
    "Db-pa55-group",
    "Vars-f1le-s3cret",
    "VARS-F1LE-S3CRET",
    "K3y-alpha",
    "K3y-beta",
    "1nline-s3cret-play",
    "Ho5t-s3cret-h2",
    "Extr4-s3cret",
    "F1le-s3cret-content",
    "D1rect-arg-s3cret",
    "never-read",
    PW_DEFAULT,
    PW_DEV,
    PW_PROD,
];

const SHOWN: &str = "Sh0wn-s3cret-dbg";

fn site_args(root: &Path, extra: &[&str]) -> Vec<String> {
    let p = project();
    let mut a = vec![
        p.join("site.yml").display().to_string(),
        "-i".into(),
        p.join("inventory.ini").display().to_string(),
        "-e".into(),
        format!("root={}", root.display()),
        "-e".into(),
        format!("@{}", p.join("extra.yml").display()),
    ];
    a.extend(all_ids());
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn a_vaulted_playbook_leaves_the_same_files_as_ansible_playbook() {
    let (a, k) = (scratch("tree-ansible"), scratch("tree-kiln"));
    let ao = run(ansible_playbook(&strs(&site_args(&a, &[]))));
    let ko = run(kiln_run(&strs(&site_args(&k, &[]))));
    let (ao, ko) = (ok(ao), ok(ko));
    assert_eq!(
        recap(&ko),
        recap(&ao),
        "recaps differ\n--- kiln\n{}\n--- ansible\n{}",
        stdout(&ko),
        stdout(&ao)
    );
    let (ta, tk) = (tree(&a), tree(&k));
    assert_eq!(tk, ta, "kiln left different files than ansible-playbook");
    // Checks that do not depend on the oracle.
    let values = std::fs::read_to_string(k.join("h2/values.txt")).expect("values");
    assert_eq!(
        values,
        "group=Gr0up-s3cret-app\ndb=app:Db-pa55-group\nvars_file=Vars-f1le-s3cret\nalpha=K3y-alpha\ninline=1nline-s3cret-play\nhost=Ho5t-s3cret-h2\nextra=Extr4-s3cret\n"
    );
    assert!(
        std::fs::read_to_string(k.join("h1/values.txt"))
            .expect("values")
            .contains("host=none\n")
    );
    assert_eq!(
        std::fs::read_to_string(k.join("h1/direct.txt")).expect("direct"),
        "D1rect-arg-s3cret"
    );
    assert_eq!(
        std::fs::read_to_string(k.join("h1/secret.conf")).expect("copied"),
        "conf_line=F1le-s3cret-content\nsecond=line\n"
    );
    assert!(
        std::fs::read_to_string(k.join("h1/app.conf"))
            .expect("template")
            .contains("inline = 1nline-s3cret-play\n")
    );
    // 2.19 dumps a decrypted inline value back as its `!vault` ciphertext.
    let summary = std::fs::read_to_string(k.join("h1/summary.txt")).expect("summary");
    assert!(summary.contains("inline: !vault |\n"), "{summary}");
    assert!(summary.contains("plain: Vars-f1le-s3cret\n"), "{summary}");
    assert!(summary.contains("True False"), "{summary}");
    assert!(k.join("h1/inline-matches").exists());
    // The second run changes nothing.
    let again = ok(run(kiln_run(&strs(&site_args(&k, &[])))));
    assert!(
        recap(&again).values().all(|c| c[1] == 0),
        "{}",
        stdout(&again)
    );
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&k);
}

#[test]
fn values_are_decrypted_only_when_used() {
    let d = scratch("lazy");
    // A play whose vault values are never read runs without any password.
    let wrong = ok(run(ansible_vault(&[
        "encrypt_string",
        "--vault-password-file",
        &pw("wrong.txt").display().to_string(),
        "--name",
        "locked",
        "L0cked",
    ])));
    let vars = indent(&stdout(&wrong), 4);
    let pb = string_playbook(&d, &format!("{vars}\n    plain: free"), "plain");
    let pb_s = pb.display().to_string();
    let o = ok(run(kiln_run(&[&pb_s])));
    assert!(stdout(&o).contains("\"msg\": \"[free]\""), "{}", show(&o));
    // Reading one fails only the task that reads it, with Ansible's message: without any
    // secret, and with a wrong one.
    let pb = string_playbook(&d, &vars, "locked");
    let pb_s = pb.display().to_string();
    let default = pw("default.txt").display().to_string();
    for (extra, why) in [
        (vec![], "Attempting to decrypt but no vault secrets found."),
        (
            vec!["--vault-password-file", default.as_str()],
            "Decryption failed (no vault secrets were found that could decrypt).",
        ),
    ] {
        let mut k = vec![pb_s.as_str()];
        k.extend(extra.iter().copied());
        let mut a = vec!["-i", "localhost,", "-c", "local", pb_s.as_str()];
        a.extend(extra.iter().copied());
        let (ko, ao) = (run(kiln_run(&k)), run(ansible_playbook(&a)));
        assert_eq!(ko.status.code(), Some(2), "{}", show(&ko));
        assert_eq!(ao.status.code(), Some(2), "{}", show(&ao));
        assert_eq!(recap(&ko), recap(&ao));
        let want = format!("Attempt to use undecryptable variable: {why}");
        assert!(stdout(&ko).contains(&want), "{}", show(&ko));
        assert!(stdout(&ao).contains(&want), "{}", show(&ao));
    }
    // An encrypted vars file without its secret fails the play, as ansible-playbook.
    let vf = d.join("vf.yml");
    std::fs::write(&vf, "x: 1\n").expect("write");
    ok(run(ansible_vault(&[
        "encrypt",
        "--vault-password-file",
        &default,
        &vf.display().to_string(),
    ])));
    let pb = d.join("vf-play.yml");
    std::fs::write(&pb, format!("- hosts: localhost\n  gather_facts: false\n  vars_files: [{}]\n  tasks:\n    - debug: var=x\n", vf.display())).expect("write");
    let o = run(kiln_run(&[&pb.display().to_string()]));
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        show(&o).contains("Attempting to decrypt but no vault secrets found."),
        "{}",
        show(&o)
    );
    let o = ok(run(kiln_run(&[
        &pb.display().to_string(),
        "--vault-password-file",
        &default,
    ])));
    assert!(stdout(&o).contains("\"x\": 1"), "{}", show(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn inventories_read_vaulted_files_as_ansible_inventory() {
    let p = project();
    for inv in ["inventory.ini", "inventory-encrypted.ini"] {
        let mut args = vec![
            "-i".to_string(),
            p.join(inv).display().to_string(),
            "--list".into(),
        ];
        args.extend(all_ids());
        let mut k = kiln();
        k.arg("inventory").args(&args).stdin(Stdio::null());
        clean_env(&mut k);
        let ko = ok(run(k));
        let mut a = oracle_local("ansible-inventory");
        a.args(&args);
        let ao = ok(run(a));
        let kj: serde_json::Value = serde_json::from_slice(&ko.stdout).expect("kiln json");
        let aj: serde_json::Value = serde_json::from_slice(&ao.stdout).expect("ansible json");
        assert_eq!(kj, aj, "{inv}");
        let h2 = &kj["_meta"]["hostvars"]["h2"];
        assert_eq!(h2["group_secret"], "Gr0up-s3cret-app", "{kj}");
        assert!(
            h2["host_secret"]["__ansible_vault"]
                .as_str()
                .is_some_and(|c| c.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod")),
            "{kj}"
        );
    }
    // Without the secret, an encrypted group_vars file is an error naming it.
    let mut k = kiln();
    k.args([
        "inventory",
        "-i",
        &p.join("inventory.ini").display().to_string(),
        "--list",
    ]);
    clean_env(&mut k);
    let o = run(k);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("group_vars/app.yml")
            && stderr(&o).contains("Attempting to decrypt but no vault secrets found."),
        "{}",
        show(&o)
    );
}

/// Files below `dir` whose content holds one of `secrets`.
fn files_holding(dir: &Path, secrets: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    files_below(dir, &mut files);
    files
        .into_iter()
        .filter_map(|f| {
            let data = std::fs::read(&f).ok()?;
            let text = String::from_utf8_lossy(&data);
            secrets
                .iter()
                .find(|s| text.contains(*s))
                .map(|s| format!("{} holds {s}", f.display()))
        })
        .collect()
}

#[test]
fn no_secret_leaks_at_vvvv() {
    sshd::require();
    let k = scratch("leak");
    let (tmp, runtime) = (k.join("tmp"), k.join("runtime"));
    for d in [&tmp, &runtime] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let root = k.join("out");
    let mut c = kiln_run(&strs(&site_args(&root, &["-vvvv"])));
    c.env("TMPDIR", &tmp).env("XDG_RUNTIME_DIR", &runtime);
    let o = ok(run(c));
    let all = format!("{}\n{}", stdout(&o), stderr(&o));
    for s in HIDDEN {
        assert!(!all.contains(s), "`{s}` appears in kiln's output:\n{all}");
    }
    // The value the playbook debugs is printed, once per host, and nowhere else...
    let shown = format!("\"shown_secret\": \"{SHOWN}\"");
    assert_eq!(all.matches(SHOWN).count(), 2, "{all}");
    assert_eq!(all.matches(&shown).count(), 2, "{all}");
    // ...as ansible-playbook prints it.
    let a = scratch("leak-ansible");
    let ao = ok(run(ansible_playbook(&strs(&site_args(&a, &[])))));
    assert_eq!(stdout(&ao).matches(&shown).count(), 2, "{}", stdout(&ao));
    let _ = std::fs::remove_dir_all(&a);
    // Nothing decrypted was written on the controller: not in the temp directories, not
    // beside the project's files (only the hosts' files, which the playbook asked for).
    let mut secrets: Vec<&str> = HIDDEN.to_vec();
    secrets.push(SHOWN);
    for d in [&tmp, &runtime, &project().to_path_buf()] {
        let found = files_holding(d, &secrets);
        assert!(found.is_empty(), "{found:?}");
    }
    assert!(
        !files_holding(&root, &secrets).is_empty(),
        "the play wrote its files"
    );

    // Over SSH, sudo's password is a vault value: sudo gets it, nothing else does.
    let s = Scratch::new("vault-become");
    let home = Home::new(&s.0);
    let sshd = Sshd::start(&s.0, &["127.0.0.61"], &[&home.public_key], false);
    home.trust(&sshd);
    let inv = sshd::inventory(&s.0, &[("b1", "127.0.0.61")], sshd.port, "");
    let mut args = vec![
        project().join("become.yml").display().to_string(),
        "-i".into(),
        inv.display().to_string(),
        "-e".into(),
        format!("root={}", s.0.display()),
        "-vvvv".into(),
    ];
    args.extend(all_ids());
    let mut c = kiln_run(&strs(&args));
    c.env("HOME", &home.dir)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("ANSIBLE_HOST_KEY_CHECKING")
        .env("TMPDIR", &tmp);
    let o = ok(run(c));
    let all = format!("{}\n{}", stdout(&o), stderr(&o));
    assert!(
        !all.contains(sshd::PASSWORD),
        "the become password appears:\n{all}"
    );
    assert_eq!(
        std::fs::read_to_string(s.0.join("b1.become")).expect("become result"),
        "root [] x\n"
    );
    let found = files_holding(&s.0, &[sshd::PASSWORD]);
    assert!(found.is_empty(), "{found:?}");
    let _ = std::fs::remove_dir_all(&k);
}

/// An `$EDITOR` that records the file it was given (path, its mode, its directory's mode)
/// in `$EDIT_LOG` and appends `$EDIT_ADD` to it, exiting with `$EDIT_RC`.
fn editor_script(dir: &Path) -> PathBuf {
    let p = dir.join("editor.sh");
    std::fs::write(
        &p,
        "#!/bin/sh\nf=\"$1\"\nprintf '%s %s %s\\n' \"$f\" \"$(stat -c %a \"$f\")\" \"$(stat -c %a \"$(dirname \"$f\")\")\" >> \"$EDIT_LOG\"\n\
         [ -n \"$EDIT_ADD\" ] && printf '%s\\n' \"$EDIT_ADD\" >> \"$f\"\nexit \"${EDIT_RC:-0}\"\n",
    )
    .expect("write");
    make_executable(&p);
    p
}

fn edit_cmd(dir: &Path, args: &[&str], add: &str, rc: &str) -> Command {
    let mut c = kiln_vault(args);
    c.env("EDITOR", editor_script(dir))
        .env("EDIT_LOG", dir.join("edit.log"))
        .env("EDIT_ADD", add)
        .env("EDIT_RC", rc)
        .env("XDG_RUNTIME_DIR", dir.join("runtime"));
    c
}

#[test]
fn edit_and_create_use_a_private_temporary_file() {
    use std::os::unix::fs::PermissionsExt;
    let d = scratch("edit");
    std::fs::create_dir_all(d.join("runtime")).expect("mkdir");
    let default = pw("default.txt").display().to_string();
    let dev = format!("dev@{}", pw("dev.txt").display());
    let f = d.join("conf.yml");
    std::fs::write(&f, "a: 1\n").expect("write");
    let fs = f.display().to_string();
    ok(run(ansible_vault(&["encrypt", "--vault-id", &dev, &fs])));
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    // The default password is tried first and fails; dev opens the file, and the file is
    // encrypted again with dev under its own header.
    ok(run(edit_cmd(
        &d,
        &[
            "edit",
            "--vault-password-file",
            &default,
            "--vault-id",
            &dev,
            &fs,
        ],
        "b: 2",
        "0",
    )));
    let log = std::fs::read_to_string(d.join("edit.log")).expect("log");
    let fields: Vec<&str> = log.split_whitespace().collect();
    let tmp = PathBuf::from(fields[0]);
    assert!(tmp.starts_with(d.join("runtime")), "{log}");
    assert_eq!(
        tmp.extension().and_then(|e| e.to_str()),
        Some("yml"),
        "{log}"
    );
    assert_eq!((fields[1], fields[2]), ("600", "700"), "{log}");
    assert!(
        !tmp.exists() && !tmp.parent().expect("dir").exists(),
        "the temporary file is left: {log}"
    );
    assert_eq!(
        std::fs::read_dir(d.join("runtime"))
            .expect("runtime")
            .count(),
        0
    );
    let text = std::fs::read_to_string(&f).expect("read");
    assert!(
        text.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777,
        0o640
    );
    let o = ok(run(ansible_vault(&["view", "--vault-id", &dev, &fs])));
    assert_eq!(stdout(&o), "a: 1\nb: 2\n");
    // No change, or an editor that fails: the file stays byte for byte, no temp is left.
    for (add, rc) in [("", "0"), ("c: 3", "1")] {
        let before = std::fs::read(&f).expect("read");
        let o = run(edit_cmd(&d, &["edit", "--vault-id", &dev, &fs], add, rc));
        assert_eq!(o.status.success(), rc == "0", "{}", show(&o));
        assert_eq!(std::fs::read(&f).expect("read"), before);
        assert_eq!(
            std::fs::read_dir(d.join("runtime"))
                .expect("runtime")
                .count(),
            0
        );
    }
    // create: needs a terminal unless told, makes missing directories, encrypts what the
    // editor saved.
    let new = d.join("sub/dir/new.yml");
    let ns = new.display().to_string();
    let args = ["create", "--vault-id", &dev, &ns];
    let (k, a) = (
        run(edit_cmd(&d, &args, "created: yes", "0")),
        run(ansible_vault(&args)),
    );
    assert_eq!(
        (k.status.code(), a.status.code()),
        (Some(5), Some(5)),
        "{}\n{}",
        show(&k),
        show(&a)
    );
    assert!(
        message(&k, "error: ").contains("not a tty, editor cannot be opened"),
        "{}",
        show(&k)
    );
    let o = ok(run(edit_cmd(
        &d,
        &["create", "--skip-tty-check", "--vault-id", &dev, &ns],
        "created: yes",
        "0",
    )));
    assert!(
        stderr(&o).contains("does not exist, creating..."),
        "{}",
        show(&o)
    );
    let o = ok(run(ansible_vault(&["view", "--vault-id", &dev, &ns])));
    assert_eq!(stdout(&o), "created: yes\n");
    assert_eq!(
        std::fs::read_dir(d.join("runtime"))
            .expect("runtime")
            .count(),
        0
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// kiln on a pseudo-terminal (see `common::terminal`), with the oracle's environment
/// cleaned as for every command here, plus `env`.
fn on_terminal(args: &[&str], env: &[(&str, &str)], answers: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.args(args).env("NO_COLOR", "1");
    clean_env(&mut c);
    for (k, v) in env {
        c.env(k, v);
    }
    common::terminal::on_terminal(&c, answers)
}

/// kiln with no controlling terminal at all (`setsid`), stdin closed.
fn without_terminal(c: Command) -> Output {
    let program = c.get_program().to_owned();
    let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let mut s = Command::new("setsid");
    s.arg("-w").arg(program).args(args).stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    run(s)
}

#[test]
fn prompts_need_a_terminal_and_work_on_one() {
    let d = scratch("prompts");
    let f = d.join("p.yml");
    std::fs::write(&f, "p: prompted\n").expect("write");
    let fs = f.display().to_string();
    ok(run(ansible_vault(&[
        "encrypt",
        "--vault-password-file",
        &pw("default.txt").display().to_string(),
        &fs,
    ])));
    // No terminal: a clear error and exit 5 before anything runs.
    let marker = d.join("ran");
    let pb = d.join("marker.yml");
    std::fs::write(&pb, format!("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - file: path={} state=touch\n", marker.display())).expect("write");
    let o = without_terminal(kiln_run(&[&pb.display().to_string(), "-J"]));
    assert_eq!(o.status.code(), Some(5), "{}", show(&o));
    assert!(
        message(&o, "error: ")
            .contains("--ask-vault-pass needs a terminal to ask for the vault password"),
        "{}",
        show(&o)
    );
    assert!(!marker.exists(), "the play ran");
    let o = without_terminal(kiln_vault(&["view", &fs]));
    assert_eq!(o.status.code(), Some(5), "{}", show(&o));
    assert!(
        message(&o, "error: ")
            .contains("without --vault-id or --vault-password-file, kiln vault needs a terminal"),
        "{}",
        show(&o)
    );
    // On a terminal: -J, `--vault-id label@prompt`, and the new-password pair of encrypt.
    let (rc, text) = on_terminal(
        &["vault", "view", "-J", &fs],
        &[("PAGER", "cat")],
        &[("Vault password: ", PW_DEFAULT)],
    );
    assert_eq!(rc, 0, "{text}");
    assert!(
        text.contains("p: prompted") && !text.contains(PW_DEFAULT),
        "{text}"
    );
    let (rc, text) = on_terminal(
        &["vault", "view", "--vault-id", "mine@prompt", &fs],
        &[("PAGER", "cat")],
        &[("Vault password (mine): ", PW_DEFAULT)],
    );
    assert_eq!(rc, 0, "{text}");
    assert!(text.contains("p: prompted"), "{text}");
    let g = d.join("new.yml");
    std::fs::write(&g, "n: new\n").expect("write");
    let gs = g.display().to_string();
    let (rc, text) = on_terminal(
        &["vault", "encrypt", &gs],
        &[],
        &[
            ("New Vault password: ", "typed-pw"),
            ("Confirm New Vault password: ", "typed-pw"),
        ],
    );
    assert_eq!(rc, 0, "{text}");
    assert!(text.contains("Encryption successful"), "{text}");
    let typed = d.join("typed.txt");
    std::fs::write(&typed, "typed-pw\n").expect("write");
    let o = ok(run(ansible_vault(&[
        "view",
        "--vault-password-file",
        &typed.display().to_string(),
        &gs,
    ])));
    assert_eq!(stdout(&o), "n: new\n");
    // Two different answers are refused.
    let h = d.join("other.yml");
    std::fs::write(&h, "o: 1\n").expect("write");
    let (rc, text) = on_terminal(
        &["vault", "encrypt", &h.display().to_string()],
        &[],
        &[
            ("New Vault password: ", "one"),
            ("Confirm New Vault password: ", "two"),
        ],
    );
    assert_eq!(rc, 1, "{text}");
    assert!(text.contains("Passwords do not match"), "{text}");
    assert_eq!(std::fs::read_to_string(&h).expect("read"), "o: 1\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn view_pages_only_on_a_terminal() {
    let d = scratch("pager");
    let f = d.join("v.yml");
    std::fs::write(&f, "v: paged\n").expect("write");
    let fs = f.display().to_string();
    let default = pw("default.txt").display().to_string();
    ok(run(ansible_vault(&[
        "encrypt",
        "--vault-password-file",
        &default,
        &fs,
    ])));
    let mut c = kiln_vault(&["view", "--vault-password-file", &default, &fs]);
    c.env("PAGER", "sed s/^/paged:/");
    assert_eq!(stdout(&ok(run(c))), "v: paged\n");
    let (rc, text) = on_terminal(
        &["vault", "view", "--vault-password-file", &default, &fs],
        &[("PAGER", "sed s/^/paged:/")],
        &[],
    );
    assert_eq!(rc, 0, "{text}");
    assert!(text.contains("paged:v: paged"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}
