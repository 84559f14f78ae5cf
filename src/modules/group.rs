//! `group`: a group present (with a gid) or absent, through the target's groupadd, groupmod
//! and groupdel (libuser's lgroupadd, lgroupmod, lgroupdel with `local`), deciding as
//! ansible-core 2.19's module does on Linux.

use super::accountdb::{Group, parse_group};
use super::sections::{Sections, section, section_lines};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote::{join, quote};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct GroupModule;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("state", Kind::Str)
        .default("present")
        .choices(&["absent", "present"]),
    Opt::new("name", Kind::Str).required(),
    Opt::new("force", Kind::Bool).default("false"),
    Opt::new("gid", Kind::Int),
    Opt::new("system", Kind::Bool).default("false"),
    Opt::new("local", Kind::Bool).default("false"),
    Opt::new("non_unique", Kind::Bool)
        .default("false")
        .required_if(&[("true", &["gid"])]),
    Opt::new("gid_min", Kind::Int),
    Opt::new("gid_max", Kind::Int),
]);

/// The group named `name` as the module sees it: with `local`, only a line of /etc/group
/// makes it exist (the last one that names it); otherwise whatever NSS answers.
fn lookup_script(name: &str, local: bool) -> String {
    let q = quote(name);
    if local {
        let prefix = quote(&format!("{name}:"));
        format!(
            "e=; while IFS= read -r l; do case $l in {prefix}*) e=$l;; esac; done </etc/group; \
             [ -n \"$e\" ] && getent group {q}"
        )
    } else {
        format!("getent group {q}")
    }
}

fn int(args: &Args, key: &str) -> Option<i128> {
    match args.get(key) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

#[async_trait]
impl Module for GroupModule {
    fn name(&self) -> &'static str {
        "group"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let name = args.str("name").unwrap_or_default();
        let local = args.bool("local");
        let gid = int(&args, "gid");
        if args.bool("force") && local {
            return TaskResult::failed(
                "force is not a valid option for local, force=True and local=True are mutually exclusive",
            );
        }
        if local {
            for key in ["gid_min", "gid_max"] {
                if args.get(key).is_some() {
                    return TaskResult::failed(format!("'{key}' can not be used with 'local'"));
                }
            }
        }
        let s = Sections::new();
        let query = format!(
            "{}; {}; {}; getent group",
            s.start("entry"),
            lookup_script(&name, local),
            s.start("all"),
        );
        let out = try_conn!(cx.sh(query).await);
        let parts = s.split(&out);
        let current = section_lines(&parts, "entry")
            .first()
            .and_then(|l| parse_group(l));
        let all: Vec<Group> = section_lines(&parts, "all")
            .into_iter()
            .filter_map(parse_group)
            .collect();
        let present = args.str("state").as_deref() != Some("absent");
        let tool = |base: &str| {
            if local {
                format!("l{base}")
            } else {
                base.to_string()
            }
        };
        // With `local`, libuser does not refuse a gid another group holds; Ansible checks.
        let gid_taken = || {
            let g = gid?;
            all.iter()
                .find(|e| i128::from(e.gid) == g && e.name != name)
                .map(|e| {
                    TaskResult::failed(format!("GID '{g}' already exists with group '{}'", e.name))
                })
        };

        let cmd: Option<Vec<String>> = match (&current, present) {
            (None, false) => None,
            (Some(_), false) => {
                if cx.check_mode {
                    return TaskResult::changed(true);
                }
                let mut c = vec![tool("groupdel")];
                if args.bool("force") {
                    c.push("-f".into());
                }
                c.push(name.clone());
                Some(c)
            }
            (None, true) => {
                if cx.check_mode {
                    return TaskResult::changed(true);
                }
                if local && let Some(r) = gid_taken() {
                    return r;
                }
                let mut c = vec![tool("groupadd")];
                if let Some(g) = gid {
                    c.extend(["-g".into(), g.to_string()]);
                    if args.bool("non_unique") {
                        c.push("-o".into());
                    }
                }
                if args.bool("system") {
                    c.push("-r".into());
                }
                for (key, setting) in [("gid_min", "GID_MIN"), ("gid_max", "GID_MAX")] {
                    if let Some(v) = int(&args, key) {
                        c.extend(["-K".into(), format!("{setting}={v}")]);
                    }
                }
                c.push(name.clone());
                Some(c)
            }
            (Some(cur), true) => {
                if local && let Some(r) = gid_taken() {
                    return r;
                }
                match gid.filter(|g| *g != i128::from(cur.gid)) {
                    None => None,
                    Some(_) if cx.check_mode => Some(Vec::new()),
                    Some(g) => {
                        let mut c = vec![tool("groupmod"), "-g".into(), g.to_string()];
                        if args.bool("non_unique") {
                            c.push("-o".into());
                        }
                        c.push(name.clone());
                        Some(c)
                    }
                }
            }
        };

        let mut r = TaskResult::changed(cmd.is_some())
            .with("name", Value::str(&name))
            .with(
                "state",
                Value::str(if present { "present" } else { "absent" }),
            );
        let mut after = current.clone();
        if let Some(c) = cmd.filter(|c| !c.is_empty()) {
            let script = format!(
                "{}; {}; rc=$?; {}; echo $rc; {}; {}",
                s.start("out"),
                join(&c),
                s.start("rc"),
                s.start("entry"),
                lookup_script(&name, local),
            );
            let out = try_conn!(cx.sh(script).await);
            let parts = s.split(&out);
            let rc: i32 = section(&parts, "rc")
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(out.rc);
            let stdout = section(&parts, "out").unwrap_or_default().to_string();
            let stderr = out.stderr_text();
            if rc != 0 {
                return TaskResult::failed(stderr).with("name", Value::str(&name));
            }
            if !stdout.is_empty() {
                r.stdout = Some(stdout);
            }
            if !stderr.is_empty() {
                r.stderr = Some(stderr);
            }
            after = section_lines(&parts, "entry")
                .first()
                .and_then(|l| parse_group(l));
        }
        if let Some(g) = after {
            r = r
                .with("system", Value::Bool(args.bool("system")))
                .with("gid", Value::Int(i128::from(g.gid)));
        }
        r
    }
}
