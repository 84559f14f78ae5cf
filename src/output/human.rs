//! The default report, laid out like ansible-playbook's: banners, one line per host result,
//! `-v` for result details, diffs with `--diff`, and `PLAY RECAP`.

use super::{Callback, HostEvent, diff, json};
use crate::executor::Stats;
use crate::yaml::{Map, Value};
use std::io::Write;

pub struct Human {
    pub verbosity: u8,
    out: Box<dyn Write + Send>,
    /// Error blocks already printed: as ansible-playbook, the same one is shown once.
    errors_shown: std::collections::HashSet<String>,
}

impl Human {
    pub fn new(verbosity: u8) -> Human {
        Human {
            verbosity,
            out: Box::new(std::io::stdout()),
            errors_shown: Default::default(),
        }
    }

    fn line(&mut self, s: &str) {
        // A closed stdout (a pager quit early) must not abort the run.
        let _ = writeln!(self.out, "{s}");
    }

    /// What failed and where the task is written, before the failed host's line, as
    /// ansible-core 2.19 prints it; kiln adds a hint where it has one.
    fn error_block(&mut self, event: &HostEvent<'_>) {
        let r = event.result;
        let controller = crate::modules::lookup(event.action).is_some_and(|m| m.controller_only());
        let kind = if controller || r.failed_by_condition {
            "Action"
        } else {
            "Module"
        };
        let msg = r.msg.as_deref().unwrap_or("");
        // Failures of the task itself (a timeout, an unreachable host) rather than of its
        // module or action already say so, as in Ansible.
        let mut block = if msg.starts_with("Task failed: ") {
            format!("[ERROR]: {msg}")
        } else if r.unreachable {
            format!("[ERROR]: Task failed: {msg}")
        } else if msg.is_empty() {
            format!("[ERROR]: Task failed: {kind} failed.")
        } else {
            format!("[ERROR]: Task failed: {kind} failed: {msg}")
        };
        let span = r.origin.as_ref().map(|(s, _)| s).or(event.span);
        if let Some(span) = span {
            // Absolute, as Ansible names the file of a task's origin.
            let file = std::path::absolute(&*span.file)
                .map_or_else(|_| span.file.to_string(), |p| p.display().to_string());
            block.push_str(&format!(
                "\nOrigin: {file}:{}:{}\n\n{}",
                span.line,
                span.col,
                span.context()
            ));
        }
        if let Some((_, hint)) = &r.origin {
            block.push_str(&format!("hint: {hint}\n"));
        }
        if self.errors_shown.insert(block.clone()) {
            self.line(&block);
        }
    }

    fn banner(&mut self, title: &str) {
        let stars = 80usize.saturating_sub(title.chars().count() + 1).max(3);
        self.line("");
        self.line(&format!("{title} {}", "*".repeat(stars)));
    }
}

/// The result keys ansible-playbook leaves out when it prints a result.
const HIDDEN: [&str; 4] = ["diff", "failed", "invocation", "warnings"];

fn shown(event: &HostEvent<'_>) -> Value {
    let mut v = match event.result.to_value() {
        Value::Map(m) => m,
        _ => Map::new(),
    };
    if event.no_log {
        let mut m = Map::new();
        m.insert(
            Value::str("censored"),
            Value::str("the output has been hidden due to the fact that 'no_log: true' was specified for this result"),
        );
        m.insert(Value::str("changed"), Value::Bool(event.result.changed));
        return Value::Map(m);
    }
    for k in HIDDEN {
        v.shift_remove(&Value::str(k));
    }
    // An unreachable host's message says the task failed, as Ansible's does.
    if event.result.unreachable
        && let Some(Value::Str(m)) = v.get_mut(&Value::str("msg"))
        && !m.starts_with("Task failed: ")
    {
        *m = format!("Task failed: {m}");
    }
    if let Some(item) = event.item {
        v.insert(Value::str("item"), item.clone());
    }
    // A debug result shows only what it prints, as ansible-playbook's callback does: `msg`
    // alone, or the variable (and the loop item) without the status keys.
    if event.action == "debug" {
        if v.contains_key(&Value::str("msg")) {
            v.retain(|k, _| {
                matches!(
                    k.as_str(),
                    Some("msg" | "exception" | "warnings" | "deprecations")
                )
            });
        } else {
            for k in ["changed", "failed", "skipped", "invocation", "skip_reason"] {
                v.shift_remove(&Value::str(k));
            }
        }
    }
    Value::Map(v)
}

impl Callback for Human {
    fn on_play_start(&mut self, name: &str) {
        self.banner(&format!("PLAY [{name}]"));
    }

    fn on_no_hosts(&mut self) {
        self.line("skipping: no hosts matched");
    }

    fn on_task_start(&mut self, name: &str, handler: bool) {
        let kind = if handler { "RUNNING HANDLER" } else { "TASK" };
        self.banner(&format!("{kind} [{name}]"));
    }

    fn on_host_result(&mut self, event: &HostEvent<'_>) {
        let r = event.result;
        // Warnings a module returns are printed, not shown in the result.
        if let Some(Value::Seq(warnings)) = r.data.get(&Value::str("warnings")) {
            for w in warnings {
                self.on_warning(&crate::yaml::python_str(w));
            }
        }
        // Modules give diffs only in diff mode (`-D`, or the task's `diff: true`); Ansible
        // shows those of changes, each followed by a blank line.
        if !event.no_log && r.changed {
            for d in &r.diff {
                let text = diff::unified(&d.before, &d.after, &d.before_header, &d.after_header);
                if !text.is_empty() {
                    let _ = writeln!(self.out, "{text}");
                }
            }
            // As Ansible's callback: a prepared diff is shown for changed results only.
            if let Some(p) = r
                .diff_prepared
                .as_ref()
                .filter(|p| r.changed && !p.is_empty())
            {
                let _ = writeln!(self.out, "{p}");
            }
        }
        let item = event
            .item
            .map(|i| {
                format!(
                    " => (item={})",
                    if event.no_log {
                        "(censored due to no_log)".into()
                    } else {
                        crate::yaml::python_str(i)
                    }
                )
            })
            .unwrap_or_default();
        // A delegated task shows where it ran: `[web1 -> db1]`.
        let host = match &r.delegate {
            Some((_, label)) => format!("{} -> {label}", event.host),
            None => event.host.to_string(),
        };
        let host = host.as_str();
        // One line of JSON, as Ansible prints results, unless asked for more detail. A
        // censored result loses `debug`'s "always show" too.
        let always = r.verbose_always && !event.no_log;
        let indent = (always || self.verbosity > 2).then_some(4);
        let details = || json::to_string(&shown(event), indent);
        let line = if r.unreachable {
            if !event.no_log {
                self.error_block(event);
            }
            let mut l = format!("fatal: [{host}]: UNREACHABLE! => {}", details());
            if event.ignored {
                l.push_str("\n...ignoring");
            }
            l
        } else if r.failed {
            let head = if event.item.is_some() {
                format!("failed: [{host}]{item}")
            } else {
                format!("fatal: [{host}]: FAILED!")
            };
            if !event.no_log {
                self.error_block(event);
            }
            let mut l = format!("{head} => {}", details());
            if event.ignored {
                l.push_str("\n...ignoring");
            }
            l
        } else if r.skipped {
            // Ansible leaves a space after a skipped item's label.
            let pad = if event.item.is_some() { " " } else { "" };
            let extra = if self.verbosity > 0 || always {
                format!(" => {}", details())
            } else {
                String::new()
            };
            format!("skipping: [{host}]{item}{pad}{extra}")
        } else {
            let status = if r.changed { "changed" } else { "ok" };
            let extra = if self.verbosity > 0 || always {
                format!(" => {}", details())
            } else {
                String::new()
            };
            format!("{status}: [{host}]{item}{extra}")
        };
        self.line(&line);
    }

    fn on_stats(&mut self, stats: &Stats) {
        self.banner("PLAY RECAP");
        // ansible-playbook lists the hosts sorted by name.
        let mut hosts: Vec<_> = stats.hosts.iter().collect();
        hosts.sort_by(|a, b| a.0.cmp(b.0));
        for (host, s) in hosts {
            self.line(&format!(
                "{:<27}: ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={:<4}",
                host, s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
            ));
        }
        self.line("");
    }

    fn on_warning(&mut self, msg: &str) {
        eprintln!("[WARNING]: {msg}");
    }

    fn on_include(&mut self, what: &str, hosts: &[String], item: Option<&Value>) {
        let mut line = format!("included: {what} for {}", hosts.join(", "));
        // A label that Python finds false (`0`, `""`) is left out, as Ansible's callback does.
        if let Some(i) = item.filter(|i| i.truthy()) {
            line.push_str(&format!(" => (item={})", crate::yaml::python_str(i)));
        }
        self.line(&line);
    }

    fn on_retry(&mut self, host: &str, task: &str, left: u32) {
        self.line(&format!(
            "FAILED - RETRYING: [{host}]: {task} ({left} retries left)."
        ));
    }

    fn on_no_hosts_remaining(&mut self) {
        self.banner("NO MORE HOSTS LEFT");
    }
}
