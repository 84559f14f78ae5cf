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
        let out = oracle_bin("ansible-playbook")
            .arg(&path)
            .env("ANSIBLE_PYTHON_INTERPRETER", &python)
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

/// A playbook that names what is not there (a handler, a file, a role), breaks a role's
/// argument spec or recurses. `files` are written beside `site.yml`; `{{MARK}}` is a file
/// the playbook's first task creates, so whether anything ran before the error shows.
struct Structure {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    code: i32,
    /// ansible-playbook's exit code where it differs (it crashes on an import cycle), or
    /// `None` where it never ends (it lets includes recurse without a limit).
    ansible_code: Option<Option<i32>>,
    /// Whether the first task ran (the error is found at run time, on the host).
    ran: bool,
    at: &'static str,
    says: &'static str,
    hint: Option<&'static str>,
}

const FIRST: &str = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: first\n      copy: {content: x, dest: '{{MARK}}'}\n";

const SPEC: &str =
    "argument_specs:\n  main:\n    options:\n      size: {type: int, required: true}\n";

const STRUCTURES: &[Structure] = &[
    Structure {
        name: "handler_missing",
        files: &[(
            "site.yml",
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: first\n      copy: {content: x, dest: '{{MARK}}'}\n      notify: not defined\n    - debug: msg=never\n  handlers:\n    - name: other\n      debug: msg=x\n",
        )],
        code: 1,
        ansible_code: None,
        ran: true,
        at: "site.yml:4:7",
        says: "The requested handler 'not defined' was not found",
        hint: Some("hint: define a handler named `not defined`"),
    },
    Structure {
        name: "include_tasks_missing",
        files: &[(
            "site.yml",
            "{{FIRST}}    - name: missing\n      include_tasks: nope.yml\n",
        )],
        code: 2,
        ansible_code: None,
        ran: true,
        at: "site.yml:6:7",
        says: "could not find or access `nope.yml`",
        hint: Some("hint: paths are relative"),
    },
    Structure {
        name: "include_tasks_templated_missing",
        files: &[(
            "site.yml",
            "{{FIRST}}    - name: missing\n      include_tasks: \"{{ 'no' + 'pe' }}.yml\"\n",
        )],
        code: 2,
        ansible_code: None,
        ran: true,
        at: "site.yml:6:7",
        says: "could not find or access `nope.yml`",
        hint: Some("hint: paths are relative"),
    },
    Structure {
        name: "import_tasks_missing",
        files: &[(
            "site.yml",
            "{{FIRST}}    - name: missing\n      import_tasks: nope.yml\n",
        )],
        code: 1,
        ansible_code: None,
        ran: false,
        at: "site.yml:7:21",
        says: "could not find the task file `nope.yml` to import",
        hint: Some("hint: paths are relative"),
    },
    Structure {
        name: "include_vars_missing",
        files: &[(
            "site.yml",
            "{{FIRST}}    - name: missing\n      include_vars: nope.yml\n",
        )],
        code: 2,
        ansible_code: None,
        ran: true,
        at: "site.yml:6:7",
        says: "Could not find or access 'nope.yml'",
        hint: None,
    },
    Structure {
        name: "vars_files_missing",
        files: &[(
            "site.yml",
            "- hosts: localhost\n  gather_facts: false\n  vars_files:\n    - nope.yml\n  tasks:\n    - name: first\n      copy: {content: x, dest: '{{MARK}}'}\n",
        )],
        code: 0,
        ansible_code: None,
        ran: true,
        at: "site.yml:4:7",
        says: "vars file `nope.yml` was not found: skipped",
        hint: Some("hint: paths are relative"),
    },
    Structure {
        name: "roles_missing",
        files: &[(
            "site.yml",
            "- hosts: localhost\n  gather_facts: false\n  roles:\n    - nosuchrole\n  tasks:\n    - name: first\n      copy: {content: x, dest: '{{MARK}}'}\n",
        )],
        code: 1,
        ansible_code: None,
        ran: false,
        at: "site.yml:4:7",
        says: "the role `nosuchrole` was not found in",
        hint: Some("hint: put the role in `roles/`"),
    },
    Structure {
        name: "include_role_missing",
        files: &[(
            "site.yml",
            "{{FIRST}}    - include_role:\n        name: nosuchrole\n",
        )],
        code: 2,
        ansible_code: None,
        ran: true,
        at: "site.yml:6:7",
        says: "the role `nosuchrole` was not found in",
        hint: Some("hint: put the role in `roles/`"),
    },
    Structure {
        name: "import_role_missing",
        files: &[(
            "site.yml",
            "{{FIRST}}    - import_role:\n        name: nosuchrole\n",
        )],
        code: 1,
        ansible_code: None,
        ran: false,
        at: "site.yml:6:7",
        says: "the role `nosuchrole` was not found in",
        hint: Some("hint: put the role in `roles/`"),
    },
    Structure {
        name: "dependency_missing",
        files: &[
            (
                "site.yml",
                "{{FIRST}}    - import_role:\n        name: app\n",
            ),
            (
                "roles/app/meta/main.yml",
                "dependencies:\n  - role: nosuchdep\n",
            ),
            ("roles/app/tasks/main.yml", "- debug: msg=app\n"),
        ],
        code: 1,
        ansible_code: None,
        ran: false,
        at: "roles/app/meta/main.yml:2:11",
        says: "the role `nosuchdep` was not found in",
        hint: Some("hint: put the role in `roles/`"),
    },
    Structure {
        name: "argument_spec_roles",
        files: &[
            (
                "site.yml",
                "- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: svc\n      size: many\n",
            ),
            ("roles/svc/meta/argument_specs.yml", SPEC),
            (
                "roles/svc/tasks/main.yml",
                "- copy: {content: x, dest: '{{MARK}}'}\n",
            ),
        ],
        code: 2,
        ansible_code: None,
        ran: false,
        at: "site.yml:4:13",
        says: "Validation of arguments failed:\nargument 'size' is of type str",
        hint: None,
    },
    Structure {
        name: "argument_spec_dependency",
        files: &[
            (
                "site.yml",
                "{{FIRST}}    - import_role:\n        name: app\n",
            ),
            ("roles/app/meta/main.yml", "dependencies:\n  - role: svc\n"),
            ("roles/app/tasks/main.yml", "- debug: msg=app\n"),
            ("roles/svc/meta/argument_specs.yml", SPEC),
            ("roles/svc/tasks/main.yml", "- debug: msg=svc\n"),
        ],
        code: 2,
        ansible_code: None,
        ran: true,
        at: "roles/app/meta/main.yml:2:11",
        says: "missing required arguments: size",
        hint: None,
    },
    Structure {
        name: "argument_spec_include_role",
        files: &[
            (
                "site.yml",
                "{{FIRST}}    - include_role:\n        name: svc\n      vars:\n        size: [1]\n",
            ),
            ("roles/svc/meta/argument_specs.yml", SPEC),
            ("roles/svc/tasks/main.yml", "- debug: msg=svc\n"),
        ],
        code: 2,
        ansible_code: None,
        ran: true,
        at: "site.yml:6:7",
        says: "argument 'size' is of type list",
        hint: None,
    },
    Structure {
        name: "import_tasks_itself",
        files: &[
            ("site.yml", "{{FIRST}}    - import_tasks: self.yml\n"),
            ("self.yml", "- debug: msg=x\n- import_tasks: self.yml\n"),
        ],
        code: 1,
        ansible_code: Some(Some(250)),
        ran: false,
        at: "self.yml:2:17",
        says: "`self.yml` imports itself",
        hint: Some("hint: remove the cycle"),
    },
    Structure {
        name: "import_tasks_cycle",
        files: &[
            ("site.yml", "{{FIRST}}    - import_tasks: a.yml\n"),
            ("a.yml", "- import_tasks: b.yml\n"),
            ("b.yml", "- debug: msg=x\n- import_tasks: a.yml\n"),
        ],
        code: 1,
        ansible_code: Some(Some(250)),
        ran: false,
        at: "b.yml:2:17",
        says: "`a.yml` imports itself",
        hint: Some("hint: remove the cycle"),
    },
    Structure {
        name: "include_tasks_itself",
        files: &[
            ("site.yml", "{{FIRST}}    - include_tasks: self.yml\n"),
            ("self.yml", "- include_tasks: self.yml\n"),
        ],
        code: 2,
        ansible_code: Some(None),
        ran: true,
        at: "self.yml:1:3",
        says: "include_tasks of `self.yml` nests more than 40 levels deep",
        hint: Some("hint: an included file includes itself"),
    },
    Structure {
        name: "include_tasks_cycle",
        files: &[
            ("site.yml", "{{FIRST}}    - include_tasks: a.yml\n"),
            ("a.yml", "- include_tasks: b.yml\n"),
            ("b.yml", "- include_tasks: a.yml\n"),
        ],
        code: 2,
        ansible_code: Some(None),
        ran: true,
        at: ".yml:1:3",
        says: "nests more than 40 levels deep",
        hint: Some("hint: an included file includes itself"),
    },
    Structure {
        name: "role_depends_on_itself",
        files: &[
            (
                "site.yml",
                "{{FIRST}}    - import_role:\n        name: app\n",
            ),
            ("roles/app/meta/main.yml", "dependencies:\n  - role: app\n"),
            ("roles/app/tasks/main.yml", "- debug: msg=app\n"),
        ],
        code: 1,
        ansible_code: None,
        ran: false,
        at: "roles/app/meta/main.yml:2:11",
        says: "the role `app` depends on itself",
        hint: Some("hint: remove the cycle"),
    },
    Structure {
        name: "include_role_itself",
        files: &[
            (
                "site.yml",
                "{{FIRST}}    - include_role:\n        name: app\n",
            ),
            (
                "roles/app/tasks/main.yml",
                "- include_role:\n    name: app\n",
            ),
        ],
        code: 2,
        ansible_code: Some(None),
        ran: true,
        at: "roles/app/tasks/main.yml:1:3",
        says: "include_role nests more than 40 levels deep",
        hint: Some("hint: a role includes itself"),
    },
];

/// Writes a structure case into its own directory; returns the playbook and the mark.
fn write_structure(
    root: &std::path::Path,
    case: &Structure,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = root.join(case.name);
    let _ = std::fs::remove_dir_all(&dir);
    let mark = dir.join("first.ran");
    for (name, text) in case.files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        let text = text
            .replace("{{FIRST}}", FIRST)
            .replace("{{MARK}}", &mark.display().to_string());
        std::fs::write(&path, text).expect("write");
    }
    (dir.join("site.yml"), mark)
}

#[test]
fn bad_structure_is_located_and_fails_when_ansible_fails() {
    let root = std::env::temp_dir().join(format!("kiln-bad-structure-{}", std::process::id()));
    let results = parallel(STRUCTURES.iter().collect(), |case| {
        let (site, mark) = write_structure(&root, case);
        let out = kiln()
            .arg("run")
            .arg(&site)
            .current_dir(site.parent().expect("dir"))
            .env("NO_COLOR", "1")
            .output()
            .expect("kiln");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!("exit {:?}, want {}", out.status.code(), case.code));
        }
        for want in [Some(case.at), Some(case.says), case.hint]
            .into_iter()
            .flatten()
        {
            if !all.contains(want) {
                problems.push(format!("missing `{want}`"));
            }
        }
        if all.contains("panicked") {
            problems.push("panicked".into());
        }
        if mark.exists() != case.ran {
            problems.push(format!(
                "the first task ran: {}, want {}",
                mark.exists(),
                case.ran
            ));
        }
        (case.name, problems, all)
    });
    let failures: Vec<String> = results
        .into_iter()
        .filter(|(_, p, _)| !p.is_empty())
        .map(|(n, p, all)| format!("{n}: {}\n{all}", p.join("; ")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn ansible_playbook_agrees_on_bad_structure() {
    let root = std::env::temp_dir().join(format!("kiln-bad-structure-ans-{}", std::process::id()));
    let python = oracle_python();
    // Ansible lets includes recurse without end: those cases are kiln's own.
    let cases: Vec<&Structure> = STRUCTURES
        .iter()
        .filter(|c| c.ansible_code != Some(None))
        .collect();
    let results = parallel(cases, |case| {
        let (site, mark) = write_structure(&root, case);
        let out = std::process::Command::new(python.with_file_name("ansible-playbook"))
            .arg(&site)
            .current_dir(site.parent().expect("dir"))
            .env("ANSIBLE_PYTHON_INTERPRETER", &python)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_HOME", root.join("oracle-home"))
            .output()
            .expect("ansible-playbook");
        let want = case.ansible_code.flatten().unwrap_or(case.code);
        (case.name, want, out.status.code(), case.ran, mark.exists())
    });
    let wrong: Vec<_> = results
        .into_iter()
        .filter(|(_, want, got, ran, marked)| Some(*want) != *got || ran != marked)
        .collect();
    assert!(
        wrong.is_empty(),
        "ansible-playbook differs (case, exit wanted, exit, ran wanted, ran): {wrong:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
