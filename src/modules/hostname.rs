//! `hostname`: the host's name, current and permanent, set with ansible-core 2.19's
//! strategies: systemd's hostnamectl (also `use: debian`, and what hosts managed by systemd
//! get by default), or a file (/etc/hostname on Debian-like hosts without systemd,
//! /etc/HOSTNAME for SLES, /etc/conf.d/hostname for OpenRC, /etc/sysconfig/network for Red
//! Hat, /etc/myname for OpenBSD, /etc/hostname then `hostname -F` for Alpine). It sets the
//! facts `hostname`, `nodename`, `fqdn` and `domain`, and diffs as Ansible does.

use super::sections::{Sections, section};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::quote::quote;
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct Hostname;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("name", Kind::Str).required(),
    Opt::new("use", Kind::Str).choices(&[
        "alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd", "openrc",
        "redhat", "sles", "solaris", "systemd",
    ]),
]);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Systemd,
    /// The permanent name is a file's content; the current one is the same (nothing sets
    /// the running name).
    File(&'static str),
    /// /etc/hostname, and `hostname -F` of it for the running name.
    Alpine,
    OpenRc,
    RedHat,
    /// /etc/myname, and the `hostname` command for the running name.
    OpenBsd,
}

const OPENRC_FILE: &str = "/etc/conf.d/hostname";
const NETWORK_FILE: &str = "/etc/sysconfig/network";

/// The strategy `use` names; `Err` for the ones kiln does not implement.
fn strategy_for_use(name: &str) -> Result<Strategy, String> {
    Ok(match name {
        "systemd" | "debian" => Strategy::Systemd,
        "alpine" => Strategy::Alpine,
        "openrc" => Strategy::OpenRc,
        "redhat" => Strategy::RedHat,
        "sles" => Strategy::File("/etc/HOSTNAME"),
        "openbsd" => Strategy::OpenBsd,
        other => {
            return Err(format!(
                "kiln's hostname module does not support `use: {other}` yet"
            ));
        }
    })
}

/// Ansible's choice without `use` on a Linux host not managed by systemd: by distribution
/// (`distro.id()` capitalized), as its per-distribution classes say.
fn strategy_for_distribution(id: &str, version: &str) -> Result<Strategy, String> {
    let file = [
        "debian",
        "kylin",
        "cumulus-linux",
        "kali",
        "parrot",
        "ubuntu",
        "linuxmint",
        "linaro",
        "devuan",
        "raspbian",
        "uos",
        "deepin",
        "neon",
        "void",
        "pop",
    ];
    let redhat = [
        "rhel",
        "centos",
        "anolis",
        "cloudlinuxserver",
        "cloudlinux",
        "alinux",
        "scientific",
        "oracle",
        "virtuozzo",
        "amzn",
        "altlinux",
        "eurolinux",
    ];
    let major: f64 = version.parse().unwrap_or(0.0);
    Ok(match id {
        id if file.contains(&id) => Strategy::File("/etc/hostname"),
        id if redhat.contains(&id) => Strategy::RedHat,
        "gentoo" => Strategy::OpenRc,
        "alpine" => Strategy::Alpine,
        "sles" if (10.0..=12.0).contains(&major) => Strategy::File("/etc/HOSTNAME"),
        other => {
            let mut name = capitalize(other);
            name = match name.as_str() {
                "Amzn" => "Amazon".into(),
                "Rhel" => "Redhat".into(),
                "" => "OtherLinux".into(),
                _ => name,
            };
            return Err(format!(
                "hostname module cannot be used on platform Linux ({name})"
            ));
        }
    })
}

/// Python's `str.capitalize()` for ASCII ids.
fn capitalize(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Shell text printing the host's fully qualified name as Python's `socket.getfqdn()`
/// finds it: the name resolved, its address resolved back, the first of those names with a
/// dot (else the first name); the plain name when a lookup fails.
const FQDN_SCRIPT: &str = "h=$(uname -n); a=$(getent ahosts \"$h\" 2>/dev/null | head -n 1); a=${a%%[[:space:]]*}; \
     fq=$h; if [ -n \"$a\" ] && r=$(getent hosts \"$a\"); then set -- $r; shift; \
     if [ $# -gt 0 ]; then fq=$1; for n in \"$@\"; do case $n in *.*) fq=$n; break;; esac; done; fi; fi; \
     printf '%s\\n' \"$fq\"";

/// The permanent name from a file's text, as each strategy reads it (`None`: no entry).
fn permanent_from(strategy: Strategy, text: Option<&str>) -> Result<Option<String>, String> {
    match strategy {
        Strategy::File(_) | Strategy::Alpine | Strategy::OpenBsd => {
            Ok(Some(text.unwrap_or("").trim().to_string()))
        }
        Strategy::OpenRc => {
            let Some(t) = text else {
                return Ok(Some(String::new()));
            };
            Ok(t.trim().lines().map(str::trim).find_map(|l| {
                l.starts_with("hostname=")
                    .then(|| l.get(10..).unwrap_or("").trim_matches('"').to_string())
            }))
        }
        Strategy::RedHat => {
            for line in text.unwrap_or("").trim().lines().map(str::trim) {
                if line.starts_with("HOSTNAME") {
                    let parts: Vec<&str> = line.split('=').collect();
                    if parts.len() != 2 {
                        return Err(format!(
                            "failed to read hostname: too many values to unpack (expected 2, got {})",
                            parts.len()
                        ));
                    }
                    return Ok(Some(parts[1].trim().to_string()));
                }
            }
            Err(format!(
                "failed to read hostname: Unable to locate HOSTNAME entry in {NETWORK_FILE}"
            ))
        }
        Strategy::Systemd => Ok(text.map(|t| t.trim().to_string())),
    }
}

/// The new content of the strategy's file.
fn permanent_file(strategy: Strategy, text: Option<&str>, name: &str) -> (String, String) {
    match strategy {
        Strategy::File(f) => (f.to_string(), format!("{name}\n")),
        Strategy::Alpine => ("/etc/hostname".into(), format!("{name}\n")),
        Strategy::OpenBsd => ("/etc/myname".into(), format!("{name}\n")),
        Strategy::OpenRc => {
            // Only an existing `hostname=` line is replaced, as in Ansible.
            let mut lines: Vec<String> = text
                .unwrap_or("")
                .trim()
                .lines()
                .map(|l| l.trim().to_string())
                .collect();
            if let Some(l) = lines.iter_mut().find(|l| l.starts_with("hostname=")) {
                *l = format!("hostname=\"{name}\"");
            }
            (OPENRC_FILE.into(), format!("{}\n", lines.join("\n")))
        }
        Strategy::RedHat => {
            let mut found = false;
            let mut out = String::new();
            for line in text.unwrap_or("").split_inclusive('\n') {
                if line.trim().starts_with("HOSTNAME") {
                    out.push_str(&format!("HOSTNAME={name}\n"));
                    found = true;
                } else {
                    out.push_str(line);
                }
            }
            if !found {
                out.push_str(&format!("HOSTNAME={name}\n"));
            }
            (NETWORK_FILE.into(), out)
        }
        Strategy::Systemd => (String::new(), String::new()),
    }
}

fn strategy_file(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::File(f) => f,
        Strategy::Alpine => "/etc/hostname",
        Strategy::OpenBsd => "/etc/myname",
        Strategy::OpenRc => OPENRC_FILE,
        Strategy::RedHat => NETWORK_FILE,
        Strategy::Systemd => "",
    }
}

fn failed_command(rc: &str, out: &str, err: &str) -> TaskResult {
    TaskResult::failed(format!("Command failed rc={rc}, out={out}, err={err}"))
}

#[async_trait]
impl Module for Hostname {
    fn name(&self) -> &'static str {
        "hostname"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let name = args.str("name").unwrap_or_default();
        let s = Sections::new();
        let mut strategy = match args.str("use") {
            Some(u) => match strategy_for_use(&u) {
                Ok(st) => Some(st),
                Err(e) => return TaskResult::failed(e),
            },
            None => None,
        };
        // Detection (when `use` is not given) and every strategy's state, in one command.
        let detect = format!(
            "{}; if command -v systemctl >/dev/null && {{ [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || \
             [ -e /dev/.systemd/ ] || [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ]; }}; then echo systemd; fi; \
             {}; . /etc/os-release 2>/dev/null; printf '%s\\n%s\\n' \"$ID\" \"$VERSION_ID\"",
            s.start("systemd"),
            s.start("os"),
        );
        let mut script = String::from("export LC_ALL=C; ");
        if strategy.is_none() {
            script.push_str(&detect);
            script.push_str("; ");
        }
        script.push_str(&format!(
            "if command -v hostnamectl >/dev/null; then {t}; hostnamectl --transient status 2>&1; echo \"rc=$?\"; \
             {p}; hostnamectl --static status 2>&1; echo \"rc=$?\"; fi; {c}; hostname 2>&1; echo \"rc=$?\"; ",
            t = s.start("transient"),
            p = s.start("static"),
            c = s.start("command"),
        ));
        for f in [
            "/etc/hostname",
            "/etc/HOSTNAME",
            "/etc/myname",
            OPENRC_FILE,
            NETWORK_FILE,
        ] {
            let q = quote(f);
            script.push_str(&format!(
                "if [ -f {q} ] && [ -r {q} ]; then {}; cat {q}; echo; fi; ",
                s.start(&format!("file:{f}"))
            ));
        }
        script.push_str(&format!("{}; {FQDN_SCRIPT}", s.start("fqdn")));
        let out = try_conn!(cx.sh(script).await);
        let parts = s.split(&out);
        let strategy = match strategy.take() {
            Some(st) => st,
            None if section(&parts, "systemd").is_some_and(|t| t.contains("systemd")) => {
                Strategy::Systemd
            }
            None => {
                let os = section(&parts, "os").unwrap_or("");
                let mut lines = os.lines();
                let id = lines.next().unwrap_or("").trim();
                let version = lines.next().unwrap_or("").trim();
                match strategy_for_distribution(id, version) {
                    Ok(st) => st,
                    Err(e) => return TaskResult::failed(e),
                }
            }
        };
        // What a command printed, with its status on the last line.
        let command = |sec: &str| -> Option<(String, String)> {
            let body = section(&parts, sec)?;
            let (text, rc) = body.trim_end().rsplit_once("rc=").unwrap_or(("", body));
            Some((text.trim().to_string(), rc.trim().to_string()))
        };
        let file_text = |f: &str| {
            section(&parts, &format!("file:{f}")).map(|b| b.strip_suffix('\n').unwrap_or(b))
        };

        let (current, permanent) = match strategy {
            Strategy::Systemd => {
                let Some((transient, rc)) = command("transient") else {
                    return TaskResult::failed(
                        "Failed to find required executable \"hostnamectl\" in paths",
                    );
                };
                if rc != "0" {
                    return failed_command(&rc, "", &transient);
                }
                let (stat, rc) = command("static").unwrap_or_default();
                if rc != "0" {
                    return failed_command(&rc, "", &stat);
                }
                (Some(transient), Some(stat))
            }
            Strategy::OpenBsd => {
                let (cur, rc) = command("command").unwrap_or_default();
                if rc != "0" {
                    return failed_command(&rc, "", &cur);
                }
                let perm = match permanent_from(strategy, file_text("/etc/myname")) {
                    Ok(p) => p,
                    Err(e) => return TaskResult::failed(e),
                };
                (Some(cur), perm)
            }
            other => {
                let perm = match permanent_from(other, file_text(strategy_file(other))) {
                    Ok(p) => p,
                    Err(e) => return TaskResult::failed(e),
                };
                (perm.clone(), perm)
            }
        };
        let current_changes = current.as_deref() != Some(name.as_str());
        let permanent_changes = permanent.as_deref() != Some(name.as_str());
        let changed = current_changes || permanent_changes;
        if strategy == Strategy::Systemd && changed && name.chars().count() > 64 {
            return TaskResult::failed(
                "name cannot be longer than 64 characters on systemd servers, try a shorter name",
            );
        }

        let mut fqdn = section(&parts, "fqdn").unwrap_or("").trim().to_string();
        if changed && !cx.check_mode {
            let q = quote(&name);
            let mut steps: Vec<String> = Vec::new();
            let set_current = match strategy {
                Strategy::Systemd => Some(format!("hostnamectl --transient set-hostname {q}")),
                // Alpine sets the running name from the file before writing the file.
                Strategy::Alpine => Some("hostname -F /etc/hostname".to_string()),
                Strategy::OpenBsd => Some(format!("hostname {q}")),
                _ => None,
            };
            let set_permanent = (strategy == Strategy::Systemd)
                .then(|| format!("hostnamectl --pretty --static set-hostname {q}"));
            let put_file = (strategy != Strategy::Systemd && permanent_changes).then(|| {
                let file = strategy_file(strategy);
                permanent_file(strategy, file_text(file), &name)
            });
            if strategy == Strategy::Systemd {
                if permanent_changes {
                    steps.extend(set_permanent);
                }
                if current_changes {
                    steps.extend(set_current);
                }
            } else if current_changes {
                steps.extend(set_current);
            }
            for cmd in &steps {
                let out = try_conn!(cx.sh(cmd.clone()).await);
                if out.rc != 0 {
                    return failed_command(
                        &out.rc.to_string(),
                        &out.stdout_text(),
                        &out.stderr_text(),
                    );
                }
            }
            if let Some((file, content)) = put_file {
                let out = try_conn!(
                    cx.put(
                        crate::connection::Input::Bytes(content.into_bytes()),
                        &file,
                        &crate::connection::PutOptions::default()
                    )
                    .await
                );
                if out.rc != 0 {
                    return TaskResult::failed(format!(
                        "failed to update hostname: {}",
                        out.stderr_text().trim()
                    ));
                }
            }
            let out = try_conn!(cx.sh(FQDN_SCRIPT).await);
            fqdn = out.stdout_text().trim().to_string();
        }

        let mut facts = Map::new();
        let short = name.split('.').next().unwrap_or("").to_string();
        facts.insert(Value::str("ansible_hostname"), Value::str(short));
        facts.insert(Value::str("ansible_nodename"), Value::str(&name));
        let domain = fqdn.split('.').skip(1).collect::<Vec<_>>().join(".");
        facts.insert(Value::str("ansible_fqdn"), Value::str(&fqdn));
        facts.insert(Value::str("ansible_domain"), Value::str(domain));
        let mut r = TaskResult::changed(changed).with("name", Value::str(&name));
        r.facts = Some(facts);
        if changed && cx.diff_mode {
            let before = if current_changes {
                current.clone()
            } else {
                permanent.clone()
            };
            r.diff.push(Diff {
                before_header: String::new(),
                after_header: String::new(),
                before: format!("hostname = {}\n", before.unwrap_or_else(|| "None".into())),
                after: format!("hostname = {name}\n"),
            });
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_by_distribution() {
        assert_eq!(
            strategy_for_distribution("debian", "12"),
            Ok(Strategy::File("/etc/hostname"))
        );
        assert_eq!(
            strategy_for_distribution("rhel", "9.4"),
            Ok(Strategy::RedHat)
        );
        assert_eq!(
            strategy_for_distribution("almalinux", "9"),
            Err("hostname module cannot be used on platform Linux (Almalinux)".into())
        );
        assert_eq!(
            strategy_for_distribution("sles", "15.5"),
            Err("hostname module cannot be used on platform Linux (Sles)".into())
        );
    }

    #[test]
    fn files_read_and_written_per_strategy() {
        assert_eq!(
            permanent_from(Strategy::OpenRc, Some("# c\nhostname=\"web\"\n")),
            Ok(Some("web".into()))
        );
        assert_eq!(permanent_from(Strategy::OpenRc, Some("x=1\n")), Ok(None));
        assert_eq!(
            permanent_from(Strategy::RedHat, Some("NETWORKING=yes\nHOSTNAME=old\n")),
            Ok(Some("old".into()))
        );
        assert_eq!(
            permanent_file(Strategy::RedHat, Some("NETWORKING=yes\n"), "new").1,
            "NETWORKING=yes\nHOSTNAME=new\n"
        );
        assert_eq!(
            permanent_file(Strategy::OpenRc, Some(" hostname=\"a\" \n"), "b").1,
            "hostname=\"b\"\n"
        );
    }
}
