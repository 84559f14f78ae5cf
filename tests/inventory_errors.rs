//! Bad inventories get a located error (file:line:col, the line, a caret, a hint) and the exit
//! code ansible-inventory gives in strict mode; never a panic. ansible-core is asked too, so a
//! case kiln refuses is one Ansible refuses.

mod common;

use common::*;

struct Case {
    file: &'static str,
    text: &'static str,
    /// Expected `file:line:col` suffix and a phrase of the message.
    at: &'static str,
    says: &'static str,
}

const CASES: &[Case] = &[
    Case {
        file: "malformed.ini",
        text: "[web]\nweb1 foo\n",
        at: "malformed.ini:2:6",
        says: "expected key=value",
    },
    Case {
        file: "range.ini",
        text: "[web]\nweb[01:x]\n",
        at: "range.ini:2:1",
        says: "host range",
    },
    Case {
        file: "range_step.ini",
        text: "[web]\nweb[1:4:x]\n",
        at: "range_step.ini:2:1",
        says: "step",
    },
    Case {
        file: "child.ini",
        text: "[all:children]\nweb\n",
        at: "child.ini:2:1",
        says: "undefined group `web`",
    },
    Case {
        file: "vars.ini",
        text: "[web:vars]\nx=1\n",
        at: "vars.ini:1:1",
        says: "undefined group `web`",
    },
    Case {
        file: "section.ini",
        text: "[web]\nh1\n[web:bogus]\n",
        at: "section.ini:3:1",
        says: "unknown type",
    },
    Case {
        file: "quote.ini",
        text: "[web]\nh1 a='open\n",
        at: "quote.ini:2:1",
        says: "No closing quotation",
    },
    Case {
        file: "syntax.yml",
        text: "all:\n  hosts:\n    h1:\n   bad: [\n",
        at: "syntax.yml:4:4",
        says: "YAML syntax error",
    },
    Case {
        file: "tabs.yml",
        text: "all:\n\thosts:\n",
        at: "tabs.yml:2:2",
        says: "YAML syntax error",
    },
    Case {
        file: "child.yml",
        text: "all:\n  children:\n    web: [a, b]\n",
        at: "child.yml:3:5",
        says: "not a known host nor group",
    },
    Case {
        file: "hostnum.yml",
        text: "all:\n  hosts:\n    42:\n",
        at: "hostnum.yml:3:5",
        says: "must be a string",
    },
    Case {
        file: "cycle.ini",
        text: "[a:children]\nb\n[b:children]\na\n",
        at: "cycle.ini:4:1",
        says: "recursive dependency loop",
    },
];

#[test]
fn bad_inventories_fail_with_a_located_message() {
    let dir = std::env::temp_dir().join(format!("kiln-bad-inv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut failures = Vec::new();
    for case in CASES {
        std::fs::write(dir.join(case.file), case.text).expect("write");
        let out = kiln()
            .args(["inventory", "-i", case.file, "--list"])
            .current_dir(&dir)
            .output()
            .expect("kiln");
        let err = stderr(&out);
        let ok = out.status.code() == Some(1)
            && err.contains(case.at)
            && err.contains(case.says)
            && err.contains(" | ")
            && err.contains('^')
            && err.contains("hint: ")
            && !err.contains("panicked")
            && out.stdout.is_empty();
        if !ok {
            failures.push(format!(
                "{}: exit {:?}\n{err}",
                case.file,
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ansible_also_refuses_them() {
    let dir = std::env::temp_dir().join(format!("kiln-bad-inv-ans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let python = oracle_python();
    let ansible_inventory = python.with_file_name("ansible-inventory");
    let results = parallel(CASES.iter().collect(), |case| {
        std::fs::write(dir.join(case.file), case.text).expect("write");
        let out = std::process::Command::new(&ansible_inventory)
            .args(["-i", case.file, "--list"])
            .env("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "true")
            .env("ANSIBLE_NOCOLOR", "1")
            .current_dir(&dir)
            .output()
            .expect("ansible-inventory");
        (case.file, out.status.code())
    });
    let wrong: Vec<_> = results
        .into_iter()
        .filter(|(_, code)| *code != Some(1))
        .collect();
    assert!(
        wrong.is_empty(),
        "ansible-inventory accepted what kiln refuses: {wrong:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_and_missing_sources() {
    let out = kiln()
        .args(["inventory", "-i", "/nonexistent/inventory", "--list"])
        .output()
        .expect("kiln");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/inventory"),
        "{}",
        stderr(&out)
    );

    let dir = std::env::temp_dir().join(format!("kiln-unreadable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("hosts");
    std::fs::write(&file, "[web]\nh1\n").expect("write");
    // A directory where a file is expected cannot be read as one either.
    std::fs::create_dir_all(dir.join("group_vars/web.yml")).expect("mkdir");
    let out = kiln()
        .args(["inventory", "-i"])
        .arg(&file)
        .arg("--list")
        .output()
        .expect("kiln");
    assert!(
        out.status.success(),
        "a group_vars directory named like a file is a directory of vars files: {}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_options_exit_5() {
    let out = kiln()
        .args(["inventory", "-i", "h1,", "--host", "nope"])
        .output()
        .expect("kiln");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let out = kiln()
        .args(["inventory", "-i", "h1,", "--graph", "nope"])
        .output()
        .expect("kiln");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}
