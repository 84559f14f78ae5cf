//! `systemd_service` (alias `systemd`): units' state, enablement and masking through the
//! target's `systemctl`, deciding as ansible-core 2.19's module does (which query answers
//! what, in which order, with which messages), and `service`, which on a host managed by
//! systemd is this module.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{ConnError, Output, quote};
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;

/// The module under a name: `systemd_service`, or its older name `systemd`.
pub struct Systemd(pub &'static str);

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("name", Kind::Str).aliases(&["service", "unit"]),
        Opt::new("state", Kind::Str).choices(&["reloaded", "restarted", "started", "stopped"]),
        Opt::new("enabled", Kind::Bool),
        Opt::new("force", Kind::Bool),
        Opt::new("masked", Kind::Bool),
        Opt::new("daemon_reload", Kind::Bool)
            .default("false")
            .aliases(&["daemon-reload"]),
        Opt::new("daemon_reexec", Kind::Bool)
            .default("false")
            .aliases(&["daemon-reexec"]),
        Opt::new("scope", Kind::Str)
            .default("system")
            .choices(&["system", "user", "global"]),
        Opt::new("no_block", Kind::Bool).default("false"),
    ],
    mutually_exclusive: &[],
    required_one_of: &[&[
        "state",
        "enabled",
        "masked",
        "daemon_reload",
        "daemon_reexec",
    ]],
    required_together: &[],
    free_form: false,
    open: false,
};

/// What `systemctl is-enabled` may answer for a unit systemd knows.
const ENABLED_STATES: &[&str] = &[
    "enabled",
    "enabled-runtime",
    "linked",
    "linked-runtime",
    "masked",
    "masked-runtime",
    "static",
    "indirect",
    "disabled",
    "generated",
    "transient",
];

#[async_trait]
impl Module for Systemd {
    fn name(&self) -> &'static str {
        self.0
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        run_systemd(cx, &args).await
    }
}

/// Checks Ansible's `required_by` rule (state, enabled and masked need a name) and glob
/// patterns, which the module refuses.
fn check_name(args: &Args) -> Result<Option<String>, String> {
    let unit = args.str("name");
    if unit.is_none() {
        for key in ["state", "enabled", "masked"] {
            if args.get(key).is_some() {
                return Err(format!("missing parameter(s) required by '{key}': name"));
            }
        }
    }
    if let Some(u) = &unit {
        for glob in ["*", "?", "["] {
            if u.contains(glob) {
                return Err(format!(
                    "This module does not currently support using glob patterns, found '{glob}' in service name: {u}"
                ));
            }
        }
    }
    Ok(unit)
}

/// `systemctl show` output as a map; only `Exec*` values span lines (in braces).
pub fn parse_show(text: &str) -> Vec<(String, String)> {
    let mut parsed: Vec<(String, String)> = Vec::new();
    let mut multi: Option<(String, Vec<String>)> = None;
    for line in text.split('\n') {
        if let Some((key, lines)) = &mut multi {
            lines.push(line.to_string());
            if line.trim_end().ends_with('}') {
                let value = lines.join("\n").trim().to_string();
                parsed.push((std::mem::take(key), value));
                multi = None;
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.starts_with("Exec") && v.trim_start().starts_with('{') && !v.trim_end().ends_with('}')
        {
            multi = Some((k.to_string(), vec![v.to_string()]));
            continue;
        }
        parsed.push((k.to_string(), v.trim().to_string()));
    }
    parsed
}

fn status_get<'a>(status: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // Later lines win, as in a dict built line by line.
    status
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn request_was_ignored(out: &str) -> bool {
    !out.contains('=') && (out.contains("ignoring request") || out.contains("ignoring command"))
}

fn missing(unit: &str) -> TaskResult {
    TaskResult::failed(format!("Could not find the requested service {unit}: host"))
}

pub async fn run_systemd(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let unit = match check_name(args) {
        Ok(u) => u,
        Err(e) => return TaskResult::failed(e),
    };
    let scope = args.str("scope").unwrap_or_else(|| "system".into());
    // User units need the user's runtime directory to find its manager.
    let mut sc = String::new();
    if scope != "system" {
        sc.push_str("XDG_RUNTIME_DIR=\"${XDG_RUNTIME_DIR:-/run/user/$(id -u)}\" ");
    }
    sc.push_str("systemctl");
    if scope != "system" {
        sc.push_str(&format!(" --{scope}"));
    }
    if args.bool("no_block") {
        sc.push_str(" --no-block");
    }
    if args.bool("force") {
        sc.push_str(" --force");
    }
    let sc = sc.as_str();
    let run = |cmd: String| async move { cx.sh(cmd).await };

    let mut warnings: Vec<String> = Vec::new();
    let mut changed = false;
    let mut status: Vec<(String, String)> = Vec::new();
    let mut enabled_out: Option<bool> = None;
    let mut state_out: Option<String> = None;

    for (flag, verb) in [
        ("daemon_reload", "daemon-reload"),
        ("daemon_reexec", "daemon-reexec"),
    ] {
        if args.bool(flag) && !cx.check_mode {
            let out = try_conn!(run(format!("{sc} {verb}")).await);
            if out.rc != 0 {
                return TaskResult::failed(format!(
                    "failure {} during {verb}: {}",
                    out.rc,
                    out.stderr_text()
                ));
            }
        }
    }

    if let Some(unit) = &unit {
        let q = quote::quote(unit);
        let init = if unit.starts_with('/') {
            q.clone()
        } else {
            quote::quote(&format!("/etc/init.d/{unit}"))
        };
        let is_initd = try_conn!(run(format!("[ -e {init} ]")).await).rc == 0;
        let mut is_systemd = false;
        let show = try_conn!(run(format!("{sc} show {q}")).await);
        let (out, err) = (show.stdout_text(), show.stderr_text());
        if show.rc == 0 && !(request_was_ignored(&out) || request_was_ignored(&err)) {
            if !out.is_empty() {
                status = parse_show(&out);
                let load = status_get(&status, "LoadState");
                is_systemd = load.is_some_and(|l| l != "not-found");
                let is_masked = load == Some("masked");
                if is_systemd
                    && !is_masked
                    && let Some(e) = status_get(&status, "LoadError")
                {
                    return TaskResult::failed(format!("Error loading unit file '{unit}': {e}"));
                }
            }
        } else if !err.is_empty() && show.rc == 1 && err.contains("Failed to parse bus message") {
            // An old systemd that cannot show the unit: ask the unit files and is-active.
            status = parse_show(&out);
            let (base, sep) = match unit.split_once('@') {
                Some((b, _)) => (b, "@"),
                None => (unit.as_str(), ""),
            };
            let search = format!("{base}{sep}");
            let files = try_conn!(
                run(format!(
                    "{sc} list-unit-files {}",
                    quote::quote(&format!("{search}*"))
                ))
                .await
            );
            is_systemd = files.stdout_text().contains(&search);
            let active = try_conn!(run(format!("{sc} is-active {q}")).await);
            status.push((
                "ActiveState".into(),
                active.stdout_text().trim_end_matches('\n').to_string(),
            ));
        } else {
            let en = try_conn!(run(format!("{sc} is-enabled {q}")).await);
            if ENABLED_STATES.contains(&en.stdout_text().trim()) {
                is_systemd = true;
            } else {
                let files = try_conn!(run(format!("{sc} list-unit-files {q}")).await);
                if files.rc == 0 {
                    is_systemd = true;
                } else {
                    let bare = try_conn!(run(sc.to_string()).await);
                    if bare.rc != 0 {
                        return command_failed(bare);
                    }
                }
            }
        }
        let found = is_systemd || is_initd;
        if is_initd && !is_systemd {
            warnings.push(format!(
                "The service ({unit}) is actually an init script but the system is managed by systemd"
            ));
        }

        if let Some(Value::Bool(want)) = args.get("masked") {
            let en = try_conn!(run(format!("{sc} is-enabled {q}")).await);
            let masked = en.stdout_text().trim() == "masked";
            if masked != *want {
                changed = true;
                let action = if *want { "mask" } else { "unmask" };
                if !cx.check_mode {
                    let out = try_conn!(run(format!("{sc} {action} {q}")).await);
                    if out.rc != 0 {
                        if !found {
                            return missing(unit);
                        }
                        return TaskResult::failed(format!(
                            "Failed to {action} the service ({unit}): {}",
                            out.stderr_text().trim()
                        ));
                    }
                }
            }
        }

        if let Some(Value::Bool(want)) = args.get("enabled") {
            let action = if *want { "enable" } else { "disable" };
            if !found {
                return missing(unit);
            }
            let en = try_conn!(run(format!("{sc} is-enabled {q} -l")).await);
            let text = en.stdout_text();
            let mut enabled = false;
            if en.rc == 0 {
                // Transiently enabled, indirect and alias units are enabled for real when asked.
                enabled = !matches!(text.trim_end(), "enabled-runtime" | "indirect" | "alias");
            } else if en.rc == 1
                && scope == "system"
                && is_initd
                && !text.trim().ends_with("disabled")
            {
                let rc = try_conn!(
                    run(format!(
                        "for f in /etc/rc?.d/S??{}; do [ -e \"$f\" ] && exit 0; done; exit 1",
                        quote::quote(unit)
                    ))
                    .await
                )
                .rc;
                enabled = rc == 0;
            }
            enabled_out = Some(enabled);
            if enabled != *want {
                changed = true;
                if !cx.check_mode {
                    let out = try_conn!(run(format!("{sc} {action} {q}")).await);
                    if out.rc != 0 {
                        return TaskResult::failed(format!(
                            "Unable to {action} service {unit}: {}{}",
                            out.stdout_text(),
                            out.stderr_text()
                        ));
                    }
                }
                enabled_out = Some(!enabled);
            }
        }

        if let Some(want) = args.str("state") {
            if !found {
                return missing(unit);
            }
            state_out = Some(want.clone());
            match status_get(&status, "ActiveState") {
                Some(active) => {
                    let running = matches!(active, "active" | "activating");
                    let action = match want.as_str() {
                        "started" => (!running).then_some("start"),
                        "stopped" => (running || active == "deactivating").then_some("stop"),
                        other => {
                            state_out = Some("started".into());
                            Some(if !running {
                                "start"
                            } else if other == "restarted" {
                                "restart"
                            } else {
                                "reload"
                            })
                        }
                    };
                    if let Some(action) = action {
                        changed = true;
                        if !cx.check_mode {
                            let out = try_conn!(run(format!("{sc} {action} {q}")).await);
                            if out.rc != 0 {
                                return TaskResult::failed(format!(
                                    "Unable to {action} service {unit}: {}",
                                    out.stderr_text()
                                ));
                            }
                        }
                    }
                }
                None => {
                    return TaskResult::failed("Service is in unknown state")
                        .with("status", status_value(&status));
                }
            }
        }
    }

    let mut r = TaskResult::changed(changed)
        .with("name", unit.map(Value::str).unwrap_or(Value::Null))
        .with("status", status_value(&status));
    if let Some(e) = enabled_out {
        r = r.with("enabled", Value::Bool(e));
    }
    if let Some(s) = state_out {
        r = r.with("state", Value::str(s));
    }
    if !warnings.is_empty() {
        r = r.with(
            "warnings",
            Value::Seq(warnings.into_iter().map(Value::str).collect()),
        );
    }
    r
}

fn status_value(status: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in status {
        m.insert(Value::str(k), Value::str(v));
    }
    Value::Map(m)
}

/// A command whose failure ends the module, reported as Ansible's `check_rc` does.
fn command_failed(out: Output) -> TaskResult {
    let mut r = TaskResult::failed(out.stderr_text().trim_end().to_string());
    r.rc = Some(out.rc);
    r.stdout = Some(out.stdout_text());
    r.stderr = Some(out.stderr_text());
    r
}

/// `service`: Ansible's action picks the module for the host's service manager; kiln has the
/// systemd one, so other managers are refused on that host with a clear message.
pub struct Service;

static SERVICE_SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("name", Kind::Str).required(),
        Opt::new("state", Kind::Str).choices(&["reloaded", "restarted", "started", "stopped"]),
        Opt::new("sleep", Kind::Int),
        Opt::new("pattern", Kind::Str),
        Opt::new("enabled", Kind::Bool),
        Opt::new("runlevel", Kind::Str).default("default"),
        Opt::new("arguments", Kind::Str)
            .default("")
            .aliases(&["args"]),
        Opt::new("use", Kind::Str).default("auto"),
    ],
    mutually_exclusive: &[],
    required_one_of: &[&["state", "enabled"]],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SERVICE_SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let mut manager = args.str("use").unwrap_or_else(|| "auto".into());
        if manager == "auto" {
            manager = match fact_service_mgr(cx.vars) {
                Some(m) => m,
                None => match detect_service_mgr(cx).await {
                    Ok(m) => m,
                    Err(e) => return super::conn_failure(e),
                },
            };
        }
        if manager != "systemd" {
            return TaskResult::failed(format!(
                "kiln's service module manages systemd units; this host's service manager is '{manager}', which kiln does not support yet"
            ));
        }
        // Options the systemd module has no use for are dropped with Ansible's warning.
        let mut warnings = Vec::new();
        let mut sd = Map::new();
        for (k, v) in &args.0 {
            let key = crate::yaml::python_str(k);
            match key.as_str() {
                "name" | "state" | "enabled" => {
                    sd.insert(k.clone(), v.clone());
                }
                "pattern" | "runlevel" | "sleep" | "arguments" => {
                    let default = match key.as_str() {
                        "runlevel" => Some(Value::str("default")),
                        "arguments" => Some(Value::str("")),
                        _ => None,
                    };
                    if !v.is_null() && Some(v) != default.as_ref() {
                        warnings.push(format!(
                            "Ignoring \"{key}\" as it is not used in \"systemd\""
                        ));
                    }
                }
                _ => {}
            }
        }
        for (k, d) in [
            ("daemon_reload", false),
            ("daemon_reexec", false),
            ("no_block", false),
        ] {
            sd.insert(Value::str(k), Value::Bool(d));
        }
        sd.insert(Value::str("scope"), Value::str("system"));
        let mut r = run_systemd(cx, &Args(sd)).await;
        if !warnings.is_empty() {
            let mut all: Vec<Value> = warnings.into_iter().map(Value::str).collect();
            if let Some(Value::Seq(more)) = r.data.get(&Value::str("warnings")) {
                all.extend(more.iter().cloned());
            }
            r = r.with("warnings", Value::Seq(all));
        }
        r
    }
}

fn fact_service_mgr(vars: &Map) -> Option<String> {
    let facts = vars.get(&Value::str("ansible_facts"))?;
    match facts {
        Value::Map(m) => m
            .get(&Value::str("service_mgr"))
            .map(crate::yaml::python_str),
        _ => None,
    }
}

/// Without gathered facts: the same test systemd itself documents (sd_booted).
async fn detect_service_mgr(cx: &TaskCx<'_>) -> Result<String, ConnError> {
    let out = cx
        .sh("if [ -d /run/systemd/system ]; then echo systemd; elif [ -f /sbin/openrc-run ] || [ -x /sbin/openrc ]; then echo openrc; else echo sysvinit; fi")
        .await?;
    Ok(out.stdout_text().trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_output_with_multi_line_exec_values() {
        let text = "Id=x.service\nExecStart={ path=/bin/sh ; argv[]=/bin/sh -c 'a\nb' ; }\nDescription={ not closed\nActiveState=active\n";
        let parsed = parse_show(text);
        assert_eq!(
            status_get(&parsed, "ExecStart"),
            Some("{ path=/bin/sh ; argv[]=/bin/sh -c 'a\nb' ; }")
        );
        // Only Exec* values span lines: a brace elsewhere is plain text.
        assert_eq!(status_get(&parsed, "Description"), Some("{ not closed"));
        assert_eq!(status_get(&parsed, "ActiveState"), Some("active"));
    }

    #[test]
    fn names_are_required_and_globs_refused() {
        let mut m = Map::new();
        m.insert(Value::str("state"), Value::str("started"));
        assert_eq!(
            check_name(&Args(m.clone())),
            Err("missing parameter(s) required by 'state': name".into())
        );
        m.insert(Value::str("name"), Value::str("web*"));
        assert!(check_name(&Args(m)).is_err_and(|e| e.contains("glob patterns, found '*'")));
    }
}
