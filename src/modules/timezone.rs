//! `timezone` (community.general): the system time zone and whether the hardware clock
//! keeps local time, as community.general's module sets them on Linux: with `timedatectl`
//! where it answers, otherwise (Debian-like hosts) /etc/timezone, the /etc/localtime link
//! and `dpkg-reconfigure tzdata`, /etc/default/rcS and `hwclock --systohc`. Its diff and
//! messages (`executed ...`) are the module's.

use super::sections::{Sections, section, section_raw};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::quote::{join, quote};
use crate::connection::{Input, PutOptions};
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct Timezone;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("hwclock", Kind::Str)
            .aliases(&["rtc"])
            .choices(&["local", "UTC"]),
        Opt::new("name", Kind::Str),
    ],
    mutually_exclusive: &[],
    required_one_of: &[&["hwclock", "name"]],
    required_together: &[],
    free_form: false,
    open: false,
};

const TIMEZONE_FILE: &str = "/etc/timezone";
const RCS_FILE: &str = "/etc/default/rcS";

/// What one command read: which tools exist and every file either method looks at.
struct Probe {
    parts: Vec<(String, String)>,
}

impl Probe {
    fn text(&self, name: &str) -> Option<&str> {
        section_raw(&self.parts, name)
    }

    fn line(&self, name: &str) -> String {
        section(&self.parts, name).unwrap_or("").trim().to_string()
    }
}

fn probe_script(s: &Sections, name: Option<&str>) -> String {
    let mut t = String::from("export LC_ALL=C LANGUAGE=C; ");
    for tool in ["timedatectl", "dpkg-reconfigure", "hwclock", "ln"] {
        t.push_str(&format!(
            "{}; command -v {tool}; ",
            s.start(&format!("bin:{tool}"))
        ));
    }
    t.push_str(&format!(
        "if command -v timedatectl >/dev/null; then {}; timedatectl status 2>&1; rc=$?; echo; echo \"rc=$rc\"; fi; ",
        s.start("status")
    ));
    for (sec, f) in [
        ("timezone", TIMEZONE_FILE),
        ("rcs", RCS_FILE),
        ("adjtime", "/etc/adjtime"),
    ] {
        let q = quote(f);
        t.push_str(&format!(
            "if [ -e {q} ]; then {}; cat {q}; echo; fi; ",
            s.start(sec)
        ));
    }
    t.push_str(&format!(
        "{}; if [ -L /etc/localtime ]; then echo link; [ -e /etc/localtime ] && echo target; readlink /etc/localtime; fi; ",
        s.start("localtime")
    ));
    if let Some(n) = name {
        let zone = quote(&format!("/usr/share/zoneinfo/{n}"));
        t.push_str(&format!(
            "{}; [ -f {zone} ] && echo file; cmp -s /etc/localtime {zone} && echo same; ",
            s.start("zone")
        ));
    }
    t.push(':');
    t
}

/// Python's `module.boolean`, for the yes/no the module reads.
fn boolean(v: &str) -> Option<bool> {
    crate::modules::spec::to_bool(&Value::str(v))
}

/// `re.search(r"^\s*KEY\s*:\s*([^\s]+)", text, re.M)`.
fn status_field(status: &str, keys: &[&str]) -> Option<String> {
    status.lines().find_map(|l| {
        let l = l.trim_start();
        let key = keys.iter().find(|k| l.starts_with(**k))?;
        let rest = l[key.len()..].trim_start().strip_prefix(':')?;
        rest.split_whitespace().next().map(str::to_string)
    })
}

/// The setting the systemd method reads from `timedatectl status`.
fn systemd_get(status: &str, key: &str) -> Result<String, String> {
    if key == "hwclock" {
        let v = status_field(status, &["RTC in local TZ"])
            .ok_or("could not read `RTC in local TZ` from timedatectl")?;
        let local = boolean(&v).ok_or_else(|| format!("invalid boolean `{v}`"))?;
        Ok(if local { "local" } else { "UTC" }.into())
    } else {
        status_field(status, &["Time zone", "Timezone"])
            .ok_or_else(|| "could not read `Time zone` from timedatectl".into())
    }
}

/// The first line of `text` starting with a non-space character, as the module's
/// `^([^\s]+)` search (multi-line) finds it.
fn first_word(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let w: String = l.chars().take_while(|c| !c.is_whitespace()).collect();
        (!w.is_empty()).then_some(w)
    })
}

/// `^UTC\s*=\s*([^\s]+)` in /etc/default/rcS.
fn rcs_utc(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("UTC")?.trim_start().strip_prefix('=')?;
        rest.split_whitespace().next().map(str::to_string)
    })
}

/// The Debian method's reading of a setting (`phase` "before" tolerates a file without a
/// value, "after" does not).
fn file_get(p: &Probe, key: &str, planned: &str, after: bool) -> Result<String, String> {
    if key == "hwclock" {
        let value = match p.text("rcs") {
            None => "n/a".to_string(),
            Some(t) => match rcs_utc(t) {
                None => "n/a".to_string(),
                Some(v) => match boolean(&v) {
                    Some(true) => "UTC".into(),
                    Some(false) => "local".into(),
                    None => return Err(format!("invalid boolean `{v}` in {RCS_FILE}")),
                },
            },
        };
        if value != planned {
            return Ok(value);
        }
        let adj = p.text("adjtime").and_then(|t| {
            t.lines()
                .find(|l| *l == "UTC" || *l == "LOCAL")
                .map(str::to_string)
        });
        return Ok(match adj.as_deref() {
            Some("LOCAL") => "local".into(),
            _ => "UTC".into(),
        });
    }
    let value = match p.text("timezone") {
        None => return Ok("n/a".into()),
        Some(t) => match first_word(t) {
            Some(v) => v,
            None if after => {
                return Err(format!(
                    "tried to configure name using a file \"{TIMEZONE_FILE}\", but could not find a valid value in it"
                ));
            }
            None => return Ok("n/a".into()),
        },
    };
    if value != planned {
        return Ok(value);
    }
    let lt = section(&p.parts, "localtime").unwrap_or("");
    let mut lines = lt.lines();
    if lines.next() == Some("link") {
        if lines.next() != Some("target") {
            return Ok("n/a".into());
        }
        let link = lines.next().unwrap_or("");
        let zone = ["/usr/share/zoneinfo/", "/etc/zoneinfo/"]
            .iter()
            .find_map(|pre| link.find(pre).map(|i| link[i + pre.len()..].to_string()));
        return Ok(match zone {
            Some(z) if z != planned => z,
            Some(_) => value,
            None => "n/a".into(),
        });
    }
    if section(&p.parts, "zone").is_some_and(|z| z.contains("same")) {
        Ok(value)
    } else {
        Ok("n/a".into())
    }
}

/// The module's `_edit_file`: the first matching line replaced by `value` (other matches
/// removed; inserted first when none matched).
fn edit(text: Option<&str>, value: &str, is_match: impl Fn(&str) -> bool) -> (String, usize) {
    let mut lines: Vec<String> = text
        .unwrap_or("")
        .split_inclusive('\n')
        .map(str::to_string)
        .collect();
    let matched: Vec<usize> = (0..lines.len()).filter(|i| is_match(&lines[*i])).collect();
    let at = matched.first().copied().unwrap_or(0);
    for i in matched.iter().rev() {
        lines.remove(*i);
    }
    lines.insert(at.min(lines.len()), value.to_string());
    (lines.concat(), matched.len())
}

/// A Python dict's repr of the values, for the module's "still not desired" message.
fn py_repr(values: &[(&str, String)]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("'{k}': '{v}'"))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn diff_text(values: &[(&str, String)]) -> String {
    let mut m = Map::new();
    for (k, v) in values {
        m.insert(Value::str(*k), Value::str(v));
    }
    format!(
        "{}\n",
        crate::output::json::to_string(&Value::Map(m), Some(4))
    )
}

fn abort(msg: &str, log: &[String]) -> TaskResult {
    let mut lines = vec!["Error message:".to_string(), msg.to_string()];
    if !log.is_empty() {
        lines.push("Other message(s):".into());
        lines.extend(log.iter().cloned());
    }
    TaskResult::failed(lines.join("\n"))
}

#[async_trait]
impl Module for Timezone {
    fn name(&self) -> &'static str {
        "timezone"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        // The module's keys, in its argument order.
        let planned: Vec<(&str, String)> =
            [("hwclock", args.str("hwclock")), ("name", args.str("name"))]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
        let name = args.str("name");
        let s = Sections::new();
        let out = try_conn!(cx.sh(probe_script(&s, name.as_deref())).await);
        let p = Probe {
            parts: s.split(&out),
        };
        let bin = |tool: &str| p.line(&format!("bin:{tool}"));
        let status = section(&p.parts, "status").unwrap_or("");
        let (status_text, status_rc) = status
            .trim_end()
            .rsplit_once("rc=")
            .map(|(t, rc)| (t.to_string(), rc.trim().to_string()))
            .unwrap_or_default();
        let systemd = !bin("timedatectl").is_empty() && status_rc == "0";
        if !systemd && bin("dpkg-reconfigure").is_empty() {
            return TaskResult::failed(
                "kiln's timezone module sets time zones with timedatectl, or on Debian-like hosts without it; this host has neither",
            );
        }
        if let Some(n) = &name
            && !section(&p.parts, "zone").is_some_and(|z| z.lines().any(|l| l == "file"))
        {
            return abort(&format!("given timezone \"{n}\" is not available"), &[]);
        }
        if !systemd && planned.iter().any(|(k, _)| *k == "hwclock") && bin("hwclock").is_empty() {
            return TaskResult::failed("Failed to find required executable \"hwclock\" in paths");
        }
        let get = |probe: &Probe, status: &str, key: &str, want: &str, after: bool| {
            if systemd {
                systemd_get(status, key)
            } else {
                file_get(probe, key, want, after)
            }
        };
        let mut before: Vec<(&str, String)> = Vec::new();
        for (k, want) in &planned {
            match get(&p, &status_text, k, want, false) {
                Ok(v) => before.push((*k, v)),
                Err(e) => return abort(&e, &[]),
            }
        }

        let mut log: Vec<String> = Vec::new();
        let after = if cx.check_mode {
            planned.clone()
        } else {
            for ((k, want), (_, have)) in planned.iter().zip(&before) {
                if want == have {
                    continue;
                }
                if systemd {
                    let (sub, value) = if *k == "hwclock" {
                        ("set-local-rtc", if want == "local" { "yes" } else { "no" })
                    } else {
                        ("set-timezone", want.as_str())
                    };
                    let cmd = vec![bin("timedatectl"), sub.to_string(), value.to_string()];
                    if let Err(r) = run_checked(cx, &cmd).await {
                        return r;
                    }
                    log.push(format!("executed `{}`", cmd.join(" ")));
                } else if *k == "name" {
                    let (content, removed) = edit(p.text("timezone"), &format!("{want}\n"), |l| {
                        l.chars().next().is_some_and(|c| !c.is_whitespace())
                    });
                    if let Err(r) = write(cx, TIMEZONE_FILE, content).await {
                        return r;
                    }
                    log.push(format!(
                        "Added 1 line and deleted {removed} line(s) on {TIMEZONE_FILE}"
                    ));
                    let zone = format!("/usr/share/zoneinfo/{want}");
                    for cmd in [
                        vec![bin("ln"), "-sf".into(), zone, "/etc/localtime".into()],
                        vec![
                            bin("dpkg-reconfigure"),
                            "--frontend".into(),
                            "noninteractive".into(),
                            "tzdata".into(),
                        ],
                    ] {
                        if let Err(r) = run_checked(cx, &cmd).await {
                            return r;
                        }
                    }
                } else {
                    let (option, utc) = if want == "local" {
                        ("--localtime", "no")
                    } else {
                        ("--utc", "yes")
                    };
                    let (content, removed) = edit(p.text("rcs"), &format!("UTC={utc}\n"), |l| {
                        rcs_utc(l).is_some()
                    });
                    if let Err(r) = write(cx, RCS_FILE, content).await {
                        return r;
                    }
                    log.push(format!(
                        "Added 1 line and deleted {removed} line(s) on {RCS_FILE}"
                    ));
                    let cmd = vec![bin("hwclock"), "--systohc".into(), option.into()];
                    if let Err(r) = run_checked(cx, &cmd).await {
                        return r;
                    }
                    log.push(format!("executed `{}`", cmd.join(" ")));
                }
            }
            // Read again: the change must have taken.
            let out = try_conn!(cx.sh(probe_script(&s, name.as_deref())).await);
            let p2 = Probe {
                parts: s.split(&out),
            };
            let status2 = section(&p2.parts, "status")
                .unwrap_or("")
                .trim_end()
                .rsplit_once("rc=")
                .map(|(t, _)| t.to_string())
                .unwrap_or_default();
            let mut after: Vec<(&str, String)> = Vec::new();
            for (k, want) in &planned {
                match get(&p2, &status2, k, want, true) {
                    Ok(v) => after.push((*k, v)),
                    Err(e) => return abort(&e, &log),
                }
            }
            if after != planned {
                return abort(
                    &format!(
                        "still not desired state, though changes have made - planned: {}, after: {}",
                        py_repr(&planned),
                        py_repr(&after)
                    ),
                    &log,
                );
            }
            after
        };
        let mut r = TaskResult::changed(before != after);
        if cx.diff_mode {
            r.diff.push(Diff {
                before_header: String::new(),
                after_header: String::new(),
                before: diff_text(&before),
                after: diff_text(&after),
            });
        }
        if !log.is_empty() {
            r.msg = Some(log.join("\n"));
        }
        r
    }
}

/// A command that must succeed (`check_rc`): its failure is the task's, with its output.
async fn run_checked(cx: &TaskCx<'_>, cmd: &[String]) -> Result<(), TaskResult> {
    let out = cx
        .sh(format!("LC_ALL=C LANGUAGE=C {}", join(cmd)))
        .await
        .map_err(super::conn_failure)?;
    if out.rc == 0 {
        return Ok(());
    }
    let mut f = TaskResult::failed(out.stderr_text().trim_end().to_string())
        .with("cmd", Value::str(join(cmd)));
    f.rc = Some(out.rc);
    f.stdout = Some(out.stdout_text());
    f.stderr = Some(out.stderr_text());
    Err(f)
}

async fn write(cx: &TaskCx<'_>, path: &str, content: String) -> Result<(), TaskResult> {
    let out = cx
        .put(
            Input::Bytes(content.into_bytes()),
            path,
            &PutOptions::default(),
        )
        .await
        .map_err(super::conn_failure)?;
    if out.rc != 0 {
        return Err(TaskResult::failed(format!(
            "could not write `{path}`: {}",
            out.stderr_text().trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timedatectl_status() {
        let st = "               Local time: Tue 2026-12-01 17:38:28 UTC\n                Time zone: Etc/UTC (UTC, +0000)\n          RTC in local TZ: no\n";
        assert_eq!(systemd_get(st, "name").as_deref(), Ok("Etc/UTC"));
        assert_eq!(systemd_get(st, "hwclock").as_deref(), Ok("UTC"));
    }

    #[test]
    fn files_edited_as_the_module_does() {
        assert_eq!(
            edit(Some("Etc/UTC\n"), "Asia/Tokyo\n", |l| !l
                .starts_with(char::is_whitespace)),
            ("Asia/Tokyo\n".to_string(), 1)
        );
        assert_eq!(
            edit(Some("# c\nUTC=no\nUTC=yes\n"), "UTC=yes\n", |l| rcs_utc(l)
                .is_some()),
            ("# c\nUTC=yes\n".to_string(), 2)
        );
        assert_eq!(edit(None, "X\n", |_| true), ("X\n".to_string(), 0));
        assert_eq!(
            diff_text(&[("name", "Etc/UTC".into())]),
            "{\n    \"name\": \"Etc/UTC\"\n}\n"
        );
    }
}
