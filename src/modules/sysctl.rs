//! `sysctl` (ansible.posix.sysctl): one kernel parameter in a sysctl file and, optionally, in
//! the running kernel, through the target's `sysctl`. The file is rewritten as the module
//! rewrites it (`key=value` lines, duplicates dropped, lines stripped) and the decisions
//! (changed, set, reload) are the module's.

use super::sections::{marker, missing_bin, need_bin, section, sections};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Input, PutOptions, quote};
use crate::try_conn;
use async_trait::async_trait;

pub struct Sysctl;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("name", Kind::Str).required().aliases(&["key"]),
    Opt::new("value", Kind::Str).aliases(&["val"]),
    Opt::new("state", Kind::Str)
        .default("present")
        .choices(&["present", "absent"])
        .required_if(&[("present", &["value"])]),
    Opt::new("reload", Kind::Bool).default("true"),
    Opt::new("sysctl_set", Kind::Bool).default("false"),
    Opt::new("ignoreerrors", Kind::Bool).default("false"),
    Opt::new("sysctl_file", Kind::Path).default("/etc/sysctl.conf"),
]);

#[async_trait]
impl Module for Sysctl {
    fn name(&self) -> &'static str {
        "sysctl"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix"]
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        run(cx, &args).await
    }
}

/// The value as the module normalises it: booleans' words become 1 and 0.
fn parse_value(v: &str) -> String {
    match v.to_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" => "1".into(),
        "n" | "no" | "off" | "0" | "false" | "f" => "0".into(),
        _ => v.trim().to_string(),
    }
}

/// Whitespace-separated words equal, in order (the kernel prints `4096\t16384`).
fn values_equal(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn is_setting(line: &str) -> bool {
    !(line.is_empty() || line.starts_with('#') || line.starts_with(';') || !line.contains('='))
}

/// The file's stripped lines and the value it gives `name` (its last setting).
fn read_file(text: &str, name: &str) -> (Vec<String>, Option<String>) {
    let lines: Vec<String> = text
        .split_inclusive('\n')
        .map(|l| l.trim().to_string())
        .collect();
    let mut value = None;
    for line in lines.iter().filter(|l| is_setting(l)) {
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == name
        {
            value = Some(v.trim().to_string());
        }
    }
    (lines, value)
}

/// The file as the module writes it: each key once (its first line), as `key=value`; the
/// managed key changed, dropped (absent) or appended.
fn fix_lines(lines: &[String], name: &str, value: &str, present: bool) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in lines {
        if !is_setting(line) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if seen.iter().any(|s| s == k) {
            continue;
        }
        seen.push(k.to_string());
        if k == name {
            if present {
                out.push_str(&format!("{k}={value}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    if present && !seen.iter().any(|s| s == name) {
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}

/// sysctl may exit 0 and still have failed: the module fails on these two messages.
fn stderr_failed(err: &str) -> bool {
    err.lines().any(|l| {
        l.strip_prefix("sysctl: setting key \"")
            .is_some_and(|rest| {
                rest.split_once("\": ").is_some_and(|(key, why)| {
                    !key.contains('"')
                        && matches!(why, "Invalid argument" | "Read-only file system")
                })
            })
    })
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let name = args.str("name").unwrap_or_default().trim().to_string();
    let present = args.str("state").as_deref() != Some("absent");
    let value = parse_value(&args.str("value").unwrap_or_default());
    if name.is_empty() {
        return TaskResult::failed("name cannot be blank");
    }
    if present && value.is_empty() {
        return TaskResult::failed("value cannot be blank");
    }
    let file = args
        .str("sysctl_file")
        .unwrap_or_else(|| "/etc/sysctl.conf".into());
    let (reload, sysctl_set) = (args.bool("reload"), args.bool("sysctl_set"));
    let ignore = if args.bool("ignoreerrors") { "-e " } else { "" };
    let (qn, qf) = (quote::quote(&name), quote::quote(&file));
    let query = format!(
        "LC_ALL=C; LANG=C; export LC_ALL LANG; {need}v=$(sysctl -e -n {qn} 2>/dev/null); rc=$?; \
         {m_rc}; echo $rc; {m_proc}; printf '%s\\n' \"$v\"; \
         if [ -f {qf} ]; then {m_real}; readlink -f {qf}; {m_file}; cat {qf}; fi",
        need = need_bin("sysctl"),
        m_proc = marker("proc"),
        m_rc = marker("rc"),
        m_real = marker("real"),
        m_file = marker("file"),
    );
    let out = try_conn!(cx.sh(query).await);
    let all = sections(&out.stdout_text());
    if let Some(e) = missing_bin(&all, "sysctl") {
        return TaskResult::failed(e);
    }
    // What the module's `sysctl -e -n` gave: nothing when it failed.
    let proc_value = (section(&all, "rc").map(str::trim) == Some("0"))
        .then(|| section(&all, "proc").unwrap_or_default().trim().to_string());
    let real = section(&all, "real")
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| file.clone());
    let (lines, file_value) = read_file(section(&all, "file").unwrap_or_default(), &name);

    let mut changed = false;
    let mut write_file = false;
    let mut set_proc = false;
    match (&file_value, present) {
        (None, true) => (changed, write_file) = (true, true),
        (None, false) => {}
        (Some(v), false) => {
            if !v.is_empty() {
                (changed, write_file) = (true, true);
            }
        }
        (Some(v), true) if *v != value => (changed, write_file) = (true, true),
        (Some(_), true) => {
            if reload
                && !proc_value
                    .as_deref()
                    .is_some_and(|p| values_equal(p, &value))
            {
                changed = true;
            }
        }
    }
    if sysctl_set && present {
        match &proc_value {
            None => changed = true,
            Some(p) if !values_equal(p, &value) => (changed, set_proc) = (true, true),
            Some(_) => {}
        }
    }
    let result = TaskResult::changed(changed);
    if cx.check_mode {
        return result;
    }
    if set_proc {
        let cmd = format!(
            "LC_ALL=C; export LC_ALL; {}sysctl {ignore}-w {}",
            need_bin("sysctl"),
            quote::quote(&format!("{name}={value}"))
        );
        let out = try_conn!(cx.sh(cmd).await);
        let err = out.stderr_text();
        if out.rc != 0 || stderr_failed(&err) {
            return TaskResult::failed(format!(
                "setting {name} failed: {}{err}",
                out.stdout_text()
            ));
        }
    }
    if write_file {
        let text = fix_lines(&lines, &name, &value, present);
        let out = try_conn!(
            cx.put(
                Input::Bytes(text.into_bytes()),
                &real,
                &PutOptions::default()
            )
            .await
        );
        if out.rc != 0 {
            return TaskResult::failed(format!(
                "Failed to write to file {real}: {}",
                out.stderr_text().trim()
            ));
        }
    }
    if changed && reload {
        let cmd = format!(
            "LC_ALL=C; export LC_ALL; {}sysctl {ignore}-p {qf}",
            need_bin("sysctl")
        );
        let out = try_conn!(cx.sh(cmd).await);
        let err = out.stderr_text();
        if out.rc != 0 || stderr_failed(&err) {
            return TaskResult::failed(format!(
                "Failed to reload sysctl: {}{err}",
                out.stdout_text()
            ));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rewritten_as_the_module_writes_it() {
        let text = "# comment\n  net.a = 1\n\nnet.b=2\nnet.a=3\n; other\nnot a setting\n";
        let (lines, v) = read_file(text, "net.a");
        assert_eq!(
            v.as_deref(),
            Some("3"),
            "the last setting is the file's value"
        );
        assert_eq!(
            fix_lines(&lines, "net.a", "5", true),
            "# comment\nnet.a=5\n\nnet.b=2\n; other\nnot a setting\n"
        );
        assert_eq!(
            fix_lines(&lines, "net.a", "", false),
            "# comment\n\nnet.b=2\n; other\nnot a setting\n"
        );
        assert_eq!(fix_lines(&[], "net.c", "1 2", true), "net.c=1 2\n");
    }

    #[test]
    fn values() {
        assert_eq!(parse_value("yes"), "1");
        assert_eq!(parse_value("False"), "0");
        assert_eq!(parse_value(" 4096 16384 "), "4096 16384");
        assert!(values_equal("4096\t16384\n", "4096 16384"));
        assert!(!values_equal("1", "1 2"));
        assert!(stderr_failed(
            "sysctl: setting key \"net.x\": Read-only file system\n"
        ));
        assert!(!stderr_failed("sysctl: cannot stat /proc/sys/x\n"));
    }
}
