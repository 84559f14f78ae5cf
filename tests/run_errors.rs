//! Bad playbooks: each error names file:line:col, shows the line with a caret and a hint;
//! load errors stop everything before any host is touched (exit 4, as ansible-playbook's
//! parse errors); an undefined variable fails the task on the host (exit 2).

mod common;

use common::*;

struct Case {
    name: &'static str,
    /// `{{MARK}}` is replaced with a file that the first task would create.
    text: &'static str,
    code: i32,
    /// ansible-playbook's exit code, where kiln deliberately differs: kiln checks module
    /// arguments while loading, before any host is touched; Ansible finds them on the host.
    ansible_code: Option<i32>,
    at: &'static str,
    says: &'static str,
    hint: &'static str,
}

const HEAD: &str = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: would run first\n      copy: {content: x, dest: '{{MARK}}'}\n";

const CASES: &[Case] = &[
    Case {
        name: "indent.yml",
        text: "    - name: bad indent\n     debug: msg=x\n",
        code: 4,
        ansible_code: None,
        at: "indent.yml:7:",
        says: "YAML syntax error",
        hint: "indentation",
    },
    Case {
        name: "module.yml",
        text: "    - name: typo\n      ansible.builtin.cpy: {content: x, dest: /tmp/x}\n",
        code: 4,
        ansible_code: None,
        at: "module.yml:7:7",
        says: "couldn't resolve module/action `ansible.builtin.cpy`",
        hint: "did you mean `ansible.builtin.copy`?",
    },
    Case {
        name: "keyword.yml",
        text: "    - name: typo\n      debug: msg=x\n      whenn: true\n",
        code: 4,
        ansible_code: None,
        at: "keyword.yml:8:7",
        says: "`whenn`",
        hint: "did you mean `when`?",
    },
    Case {
        name: "two.yml",
        text: "    - name: two actions\n      debug: msg=x\n      ping:\n",
        code: 4,
        ansible_code: None,
        at: "two.yml:8:7",
        says: "conflicting action statements",
        hint: "exactly one module",
    },
    Case {
        name: "args.yml",
        text: "    - name: bad argument\n      file: {path: /tmp/x, sate: touch}\n",
        code: 4,
        ansible_code: Some(2),
        at: "args.yml:7:13",
        says: "unsupported parameters for (file) module: sate",
        hint: "fix the module arguments",
    },
    Case {
        name: "when.yml",
        text: "    - name: undefined in when\n      debug: msg=x\n      when: not_defined_anywhere > 1\n",
        code: 2,
        ansible_code: None,
        at: "when.yml:6:7",
        says: "not_defined_anywhere",
        hint: "hint:",
    },
    Case {
        name: "undefined_arg.yml",
        text: "    - name: undefined in args\n      debug:\n        msg: \"{{ missing_var }}\"\n",
        code: 2,
        ansible_code: None,
        at: "undefined_arg.yml:6:7",
        says: "missing_var",
        hint: "hint:",
    },
];

#[test]
fn bad_playbooks_are_located_and_stop_early() {
    let dir = std::env::temp_dir().join(format!("kiln-bad-pb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut failures = Vec::new();
    for case in CASES {
        let mark = dir.join(format!("{}.ran", case.name));
        let _ = std::fs::remove_file(&mark);
        let text = format!("{HEAD}{}", case.text).replace("{{MARK}}", &mark.display().to_string());
        let path = dir.join(case.name);
        std::fs::write(&path, text).expect("write");
        let out = kiln()
            .arg("run")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .expect("kiln");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!("exit {:?}, want {}", out.status.code(), case.code));
        }
        for want in [case.at, case.says, case.hint, "^"] {
            if !all.contains(want) {
                problems.push(format!("missing `{want}`"));
            }
        }
        if all.contains("panicked") {
            problems.push("panicked".into());
        }
        if case.code == 4 && mark.exists() {
            problems.push("a task ran although the playbook failed to load".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{all}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ansible_playbook_agrees_on_the_exit_codes() {
    let dir = std::env::temp_dir().join(format!("kiln-bad-pb-ans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let python = oracle_python();
    let results = parallel(CASES.iter().collect(), |case| {
        let mark = dir.join(format!("{}.ran", case.name));
        let text = format!("{HEAD}{}", case.text).replace("{{MARK}}", &mark.display().to_string());
        let path = dir.join(case.name);
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(python.with_file_name("ansible-playbook"))
            .arg(&path)
            .env("ANSIBLE_PYTHON_INTERPRETER", &python)
            .env("ANSIBLE_NOCOLOR", "1")
            .env(
                "ANSIBLE_HOME",
                std::env::temp_dir().join("kiln-oracle-home"),
            )
            .output()
            .expect("ansible-playbook");
        (
            case.name,
            case.ansible_code.unwrap_or(case.code),
            out.status.code(),
        )
    });
    let wrong: Vec<_> = results
        .into_iter()
        .filter(|(_, want, got)| Some(*want) != *got)
        .collect();
    assert!(
        wrong.is_empty(),
        "ansible-playbook exits differently: {wrong:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
