//! `service_facts`: the fact `services`, as ansible-core 2.19 gathers it on Linux: the init
//! scripts `service --status-all` lists (where neither chkconfig nor OpenRC is present), then
//! systemd's units and unit files through `systemctl`, in one command (and one more for the
//! state of unit files systemd has not loaded).

use super::sections::{Sections, section};
use super::spec::ArgSpec;
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote::quote;
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct ServiceFacts;

static SPEC: ArgSpec = ArgSpec::new(&[]);

/// States that win over what the ACTIVE column says.
const BAD_STATES: [&str; 3] = ["not-found", "masked", "failed"];

fn entry(name: &str, state: &str, status: Option<&str>, source: &str) -> Value {
    let mut m = Map::new();
    m.insert(Value::str("name"), Value::str(name));
    m.insert(Value::str("state"), Value::str(state));
    if let Some(s) = status {
        m.insert(Value::str("status"), Value::str(s));
    }
    m.insert(Value::str("source"), Value::str(source));
    Value::Map(m)
}

/// `[ + ]  name` lines of `service --status-all`.
fn parse_sysv(out: &str, services: &mut Map) {
    for line in out.lines() {
        let t = line.trim_start();
        let Some(rest) = t.strip_prefix("[ ") else {
            continue;
        };
        let mut chars = rest.chars();
        let (Some(mark), Some(' '), Some(']')) = (chars.next(), chars.next(), chars.next()) else {
            continue;
        };
        if mark != '+' && mark != '-' {
            continue;
        }
        let after = chars.as_str();
        let name = after.trim_start();
        if name.is_empty() || after.len() == name.len() {
            continue;
        }
        let state = if mark == '+' { "running" } else { "stopped" };
        services.insert(Value::str(name), entry(name, state, None, "sysv"));
    }
}

/// `systemctl list-units --type service --all --plain` lines.
fn parse_units(out: &str, services: &mut Map) {
    for line in out.split('\n').filter(|l| l.contains(".service")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let head = &fields[..fields.len() - 1];
        let status = BAD_STATES
            .iter()
            .find(|bad| head.contains(bad))
            .copied()
            .unwrap_or(fields[2]);
        let state = if fields[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        services.insert(
            Value::str(fields[0]),
            entry(fields[0], state, Some(status), "systemd"),
        );
    }
}

/// `systemctl list-unit-files --type service --all` lines: the enablement of loaded units,
/// and the unit files systemd has not loaded (returned, to be asked their state).
fn parse_unit_files(out: &str, services: &mut Map) -> Result<Vec<(String, String)>, String> {
    let mut unloaded = Vec::new();
    for line in out.split('\n').filter(|l| l.contains(".service")) {
        let mut words = line.split_whitespace();
        let (Some(name), Some(status)) = (words.next(), words.next()) else {
            return Err(format!(
                "Malformed output discovered from systemd list-unit-files: {line}"
            ));
        };
        match services.get_mut(&Value::str(name)) {
            None => unloaded.push((name.to_string(), status.to_string())),
            Some(Value::Map(m)) => {
                let current = m
                    .get(&Value::str("status"))
                    .map(crate::yaml::python_str)
                    .unwrap_or_default();
                if !BAD_STATES.contains(&current.as_str()) {
                    m.insert(Value::str("status"), Value::str(status));
                }
            }
            Some(_) => {}
        }
    }
    Ok(unloaded)
}

#[async_trait]
impl Module for ServiceFacts {
    fn name(&self) -> &'static str {
        "service_facts"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, _args: Args) -> TaskResult {
        let s = Sections::new();
        // The same detection as Ansible's: which tools exist, and whether systemd runs (its
        // sd_booted canaries, or PID 1's name).
        let script = format!(
            "export LC_ALL=C; have() {{ command -v \"$1\" >/dev/null 2>&1; }}; \
             if have service && ! have chkconfig && ! have rc-status; then {sysv}; service --status-all 2>/dev/null; \
             rc=$?; [ $rc = 4 ] && [ ! -e /etc/init.d ] && rc=none; {sysv_rc}; echo $rc; fi; \
             if have systemctl && {{ [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ] || \
             [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ]; }}; then \
             {units}; systemctl list-units --no-pager --type service --all --plain; {units_rc}; echo $?; \
             {files}; systemctl list-unit-files --no-pager --type service --all; {files_rc}; echo $?; fi",
            sysv = s.start("sysv"),
            sysv_rc = s.start("sysv_rc"),
            units = s.start("units"),
            units_rc = s.start("units_rc"),
            files = s.start("files"),
            files_rc = s.start("files_rc"),
        );
        let out = try_conn!(cx.sh(script).await);
        let parts = s.split(&out);
        let rc = |name: &str| section(&parts, name).map(|t| t.trim().to_string());
        let mut services = Map::new();
        let mut warnings = Vec::new();
        // `service` answers 4 on hosts without init scripts at all: nothing to report.
        if let Some(text) = section(&parts, "sysv")
            && rc("sysv_rc").as_deref() != Some("none")
        {
            if rc("sysv_rc").as_deref() != Some("0") {
                warnings.push(format!(
                    "Unable to query 'service' tool ({}): ",
                    rc("sysv_rc").unwrap_or_default()
                ));
            }
            parse_sysv(text, &mut services);
        }
        if let Some(text) = section(&parts, "units") {
            if rc("units_rc").as_deref() == Some("0") {
                parse_units(text, &mut services);
            } else {
                warnings.push("Could not list units from systemd: ".to_string());
            }
        }
        if let Some(text) = section(&parts, "files") {
            if rc("files_rc").as_deref() == Some("0") {
                let unloaded = match parse_unit_files(text, &mut services) {
                    Ok(u) => u,
                    Err(e) => return TaskResult::failed(e),
                };
                if !unloaded.is_empty() {
                    let states = try_conn!(ask_states(cx, &unloaded).await);
                    for ((name, status), state) in unloaded.iter().zip(states) {
                        services.insert(
                            Value::str(name),
                            entry(name, &state, Some(status), "systemd"),
                        );
                    }
                }
            } else {
                warnings.push("Could not get unit files data from systemd: ".to_string());
            }
        }
        let mut r = if services.is_empty() {
            TaskResult::skipped(
                "Failed to find any services. This can be due to privileges or some other configuration issue.",
            )
        } else {
            let mut facts = Map::new();
            facts.insert(Value::str("services"), Value::Map(services));
            TaskResult {
                facts: Some(facts),
                ..TaskResult::ok()
            }
        };
        if !warnings.is_empty() {
            r = r.with(
                "warnings",
                Value::Seq(warnings.into_iter().map(Value::str).collect()),
            );
        }
        r
    }
}

/// `systemctl show UNIT --property=ActiveState` for each unit, in one command: the state,
/// or `unknown` where systemd cannot say (templates, broken units).
async fn ask_states(
    cx: &TaskCx<'_>,
    units: &[(String, String)],
) -> Result<Vec<String>, crate::connection::ConnError> {
    let s = Sections::new();
    let mut script = String::from("export LC_ALL=C; ");
    for (i, (name, _)) in units.iter().enumerate() {
        script.push_str(&format!(
            "{}; systemctl show {} --property=ActiveState 2>/dev/null || echo __kiln_failed; ",
            s.start(&i.to_string()),
            quote(name)
        ));
    }
    let out = cx.sh(script).await?;
    let parts = s.split(&out);
    Ok((0..units.len())
        .map(|i| {
            let text = section(&parts, &i.to_string()).unwrap_or("");
            if text.is_empty() || text.contains("__kiln_failed") {
                "unknown".to_string()
            } else {
                text.replace("ActiveState=", "").trim_end().to_string()
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_files() {
        let mut s = Map::new();
        parse_sysv(" [ + ]  ssh\n [ - ]  hwclock.sh\n", &mut s);
        parse_units(
            "UNIT LOAD ACTIVE SUB DESCRIPTION\n\
             ssh.service loaded active running OpenBSD Secure Shell server\n\
             auditd.service not-found inactive dead auditd.service\n\
             x.service loaded failed failed A failed unit\n",
            &mut s,
        );
        let unloaded = parse_unit_files(
            "UNIT FILE STATE PRESET\nssh.service enabled enabled\nauditd.service masked -\ngetty@.service enabled enabled\n\n3 unit files listed.\n",
            &mut s,
        )
        .unwrap();
        let get = |n: &str, k: &str| match s.get(&Value::str(n)) {
            Some(Value::Map(m)) => m.get(&Value::str(k)).map(crate::yaml::python_str),
            _ => None,
        };
        assert_eq!(get("ssh", "state").as_deref(), Some("running"));
        assert_eq!(get("ssh", "source").as_deref(), Some("sysv"));
        assert_eq!(get("ssh.service", "status").as_deref(), Some("enabled"));
        assert_eq!(
            get("auditd.service", "status").as_deref(),
            Some("not-found")
        );
        assert_eq!(get("x.service", "status").as_deref(), Some("failed"));
        assert_eq!(get("x.service", "state").as_deref(), Some("stopped"));
        assert_eq!(
            unloaded,
            vec![("getty@.service".to_string(), "enabled".to_string())]
        );
    }
}
