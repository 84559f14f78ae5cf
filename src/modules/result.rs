//! The outcome of one task on one host, as data: what Ansible users read back with `register`.

use crate::yaml::{Map, Value};

/// One file's before/after, for `--diff`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Default)]
pub struct TaskResult {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub unreachable: bool,
    pub msg: Option<String>,
    pub rc: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub diff: Vec<Diff>,
    /// A diff that is a summary rather than two texts (Ansible's `diff.prepared`: the package
    /// lists `apt` would change), printed as it is with `--diff`.
    pub diff_prepared: Option<String>,
    /// Module-specific return values (`dest`, `stat`, `checksum`, `cmd`, ...).
    pub data: Map,
    /// `ansible_facts` the task sets on its host (`set_fact`, `setup`), keyed as the Ansible
    /// module returns them: `ansible_hostname` becomes `ansible_facts.hostname`, while
    /// `getent_passwd` is both `ansible_facts.getent_passwd` and the variable `getent_passwd`.
    pub facts: Option<Map>,
    /// Print the result even without `-v` (Ansible's `_ansible_verbose_always`, set by `debug`).
    pub verbose_always: bool,
    /// Where in the playbook a templating or conditional error came from, with a hint.
    pub origin: Option<(crate::diag::Span, String)>,
    /// The host the task ran on for this host (`delegate_to`), shown as `[host -> other]`:
    /// its name, and the label results show (with its address when that differs).
    pub delegate: Option<(String, String)>,
    /// The task failed through `failed_when` rather than by its module (Ansible words
    /// that as the action's failure).
    pub failed_by_condition: bool,
}

impl TaskResult {
    pub fn ok() -> TaskResult {
        TaskResult::default()
    }

    pub fn changed(changed: bool) -> TaskResult {
        TaskResult {
            changed,
            ..TaskResult::default()
        }
    }

    pub fn failed(msg: impl Into<String>) -> TaskResult {
        TaskResult {
            failed: true,
            msg: Some(msg.into()),
            ..TaskResult::default()
        }
    }

    pub fn skipped(msg: impl Into<String>) -> TaskResult {
        TaskResult {
            skipped: true,
            msg: Some(msg.into()),
            ..TaskResult::default()
        }
    }

    pub fn unreachable(msg: impl Into<String>) -> TaskResult {
        TaskResult {
            unreachable: true,
            msg: Some(msg.into()),
            ..TaskResult::default()
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> TaskResult {
        self.data.insert(Value::str(key), value.into());
        self
    }

    pub fn msg(mut self, msg: impl Into<String>) -> TaskResult {
        self.msg = Some(msg.into());
        self
    }

    /// The result as `register` stores it, with Ansible's key names.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert(Value::str("changed"), Value::Bool(self.changed));
        m.insert(Value::str("failed"), Value::Bool(self.failed));
        if self.skipped {
            m.insert(Value::str("skipped"), Value::Bool(true));
        }
        if self.unreachable {
            m.insert(Value::str("unreachable"), Value::Bool(true));
        }
        if let Some(msg) = &self.msg {
            m.insert(Value::str("msg"), Value::str(msg.clone()));
        }
        if let Some(rc) = self.rc {
            m.insert(Value::str("rc"), Value::Int(rc as i128));
        }
        for (key, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if let Some(t) = text {
                m.insert(Value::str(key), Value::str(t.clone()));
                let lines = t.lines().map(|l| Value::str(l.to_string())).collect();
                m.insert(Value::str(format!("{key}_lines")), Value::Seq(lines));
            }
        }
        for (k, v) in &self.data {
            m.insert(k.clone(), v.clone());
        }
        // A module that reports its facts under other names than the host gets them (setup's
        // `ansible_` prefixes) puts that view in `data`, and it is what `register` sees.
        if let Some(f) = &self.facts
            && !m.contains_key(&Value::str("ansible_facts"))
        {
            m.insert(Value::str("ansible_facts"), Value::Map(f.clone()));
        }
        if !self.diff.is_empty() {
            let diffs: Vec<Value> = self
                .diff
                .iter()
                .map(|d| {
                    let mut dm = Map::new();
                    dm.insert(
                        Value::str("before_header"),
                        Value::str(d.before_header.clone()),
                    );
                    dm.insert(
                        Value::str("after_header"),
                        Value::str(d.after_header.clone()),
                    );
                    dm.insert(Value::str("before"), Value::str(d.before.clone()));
                    dm.insert(Value::str("after"), Value::str(d.after.clone()));
                    Value::Map(dm)
                })
                .collect();
            m.insert(Value::str("diff"), Value::Seq(diffs));
        } else if let Some(p) = &self.diff_prepared {
            let mut dm = Map::new();
            dm.insert(Value::str("prepared"), Value::str(p.clone()));
            m.insert(Value::str("diff"), Value::Map(dm));
        }
        Value::Map(m)
    }
}
