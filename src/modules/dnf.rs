//! `dnf` (and `yum`, which ansible-core 2.19 redirects to it): RPM packages through the
//! host's `dnf` command (its `yum` when there is no dnf) and `rpm -q`, in the basic forms:
//! `name` (list), `state` present/installed/latest/absent/removed, `update_cache`,
//! `enablerepo`/`disablerepo`, `disable_gpg_check`, `installroot`, `conf_file`,
//! `autoremove`, `allow_downgrade`, `allowerasing`, `exclude`. Results are Ansible's:
//! `msg`, `rc`, `results` ("Installed: NEVRA", "Removed: NEVRA"). Check mode asks dnf for its
//! plan with `--assumeno`.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::yaml::Value;
use async_trait::async_trait;

/// The module under a name: `dnf`, or `yum`.
pub struct Dnf(pub &'static str);

pub static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("allow_downgrade", Kind::Bool).default("false"),
        Opt::new("allowerasing", Kind::Bool).default("false"),
        Opt::new("autoremove", Kind::Bool).default("false"),
        Opt::new("best", Kind::Bool),
        Opt::new("bugfix", Kind::Bool).default("false"),
        Opt::new("cacheonly", Kind::Bool).default("false"),
        Opt::new("conf_file", Kind::Str),
        Opt::new("disable_excludes", Kind::Str),
        Opt::new("disable_gpg_check", Kind::Bool).default("false"),
        Opt::new("disable_plugin", Kind::List),
        Opt::new("disablerepo", Kind::List),
        Opt::new("download_only", Kind::Bool).default("false"),
        Opt::new("download_dir", Kind::Str),
        Opt::new("enable_plugin", Kind::List),
        Opt::new("enablerepo", Kind::List),
        Opt::new("exclude", Kind::List),
        Opt::new("installroot", Kind::Str).default("/"),
        Opt::new("install_repoquery", Kind::Bool).default("true"),
        Opt::new("install_weak_deps", Kind::Bool).default("true"),
        Opt::new("list", Kind::Str),
        Opt::new("name", Kind::List).aliases(&["pkg"]),
        Opt::new("nobest", Kind::Bool),
        Opt::new("releasever", Kind::Str),
        Opt::new("security", Kind::Bool).default("false"),
        Opt::new("skip_broken", Kind::Bool).default("false"),
        Opt::new("state", Kind::Str).choices(&[
            "absent",
            "installed",
            "latest",
            "present",
            "removed",
        ]),
        Opt::new("update_cache", Kind::Bool)
            .default("false")
            .aliases(&["expire-cache"]),
        Opt::new("update_only", Kind::Bool).default("false"),
        Opt::new("validate_certs", Kind::Bool).default("true"),
        Opt::new("sslverify", Kind::Bool).default("true"),
        Opt::new("lock_timeout", Kind::Int).default("30"),
        Opt::new("use_backend", Kind::Str)
            .default("auto")
            .choices(&["auto", "dnf", "yum", "yum4", "dnf4", "dnf5"]),
    ],
    mutually_exclusive: &[&["name", "list"], &["best", "nobest"]],
    required_one_of: &[&["name", "list", "update_cache"]],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Dnf {
    fn name(&self) -> &'static str {
        self.0
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        run_dnf(cx, &args).await
    }
}

fn fail(msg: impl Into<String>) -> TaskResult {
    TaskResult::failed(msg).with("results", Value::Seq(Vec::new()))
}

/// Items of a list option, with comma-separated strings inside the list split too.
fn items(args: &Args, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for v in args.list(key) {
        for p in crate::yaml::python_str(&v).split(',') {
            let p = p.trim();
            if !p.is_empty() {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// dnf's global options from the task's arguments.
fn global_opts(args: &Args) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(root) = args.str("installroot").filter(|r| r != "/") {
        w.push(format!("--installroot={root}"));
    }
    if let Some(c) = args.str("conf_file") {
        w.push(format!("--config={c}"));
    }
    for r in items(args, "disablerepo") {
        w.push(format!("--disablerepo={r}"));
    }
    for r in items(args, "enablerepo") {
        w.push(format!("--enablerepo={r}"));
    }
    for e in items(args, "exclude") {
        w.push(format!("--exclude={e}"));
    }
    if let Some(d) = args.str("disable_excludes") {
        w.push(format!("--disableexcludes={d}"));
    }
    if args.bool("disable_gpg_check") {
        w.push("--nogpgcheck".into());
    }
    if !args.bool("install_weak_deps") {
        w.push("--setopt=install_weak_deps=False".into());
    }
    if let Some(v) = args.str("releasever") {
        w.push(format!("--releasever={v}"));
    }
    if args.bool("skip_broken") {
        w.push("--skip-broken".into());
    }
    if args.bool("cacheonly") {
        w.push("--cacheonly".into());
    }
    if !args.bool("sslverify") {
        w.push("--setopt=sslverify=False".into());
    }
    match (args.get("best"), args.get("nobest")) {
        (Some(Value::Bool(true)), _) | (_, Some(Value::Bool(false))) => w.push("--best".into()),
        (Some(Value::Bool(false)), _) | (_, Some(Value::Bool(true))) => w.push("--nobest".into()),
        _ => {}
    }
    w
}

/// The packages a dnf transaction table lists under its headings, as NEVRA strings, each
/// with whether it is installed or removed.
fn parse_transaction(out: &str) -> Vec<(bool, String)> {
    let mut res = Vec::new();
    let mut section: Option<bool> = None;
    let mut pending: Option<String> = None;
    for line in out.lines() {
        let t = line.trim_end();
        if !t.starts_with(' ') && t.ends_with(':') {
            let h = t.trim_end_matches(':');
            section = if h.starts_with("Installing")
                || h.starts_with("Upgrading")
                || h.starts_with("Downgrading")
                || h.starts_with("Reinstalling")
            {
                Some(true)
            } else if h.starts_with("Removing") {
                Some(false)
            } else {
                None
            };
            pending = None;
            continue;
        }
        let Some(install) = section else { continue };
        if !t.starts_with(' ') || t.trim().is_empty() {
            section = None;
            continue;
        }
        let mut words: Vec<&str> = t.split_whitespace().collect();
        // A long name takes a line of its own; the rest of the row follows.
        let joined;
        if let Some(name) = pending.take() {
            joined = format!("{name} {}", words.join(" "));
            words = joined.split_whitespace().collect();
        } else if words.len() == 1 {
            pending = Some(words[0].to_string());
            continue;
        }
        if words.len() < 3 || words[0] == "replacing" {
            continue;
        }
        let (name, arch, evr) = (words[0], words[1], words[2]);
        let evr = evr.strip_prefix("0:").unwrap_or(evr);
        res.push((install, format!("{name}-{evr}.{arch}")));
    }
    res
}

pub async fn run_dnf(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    for (opt, what) in [
        ("list", "list"),
        ("download_only", "download_only"),
        ("security", "security"),
        ("bugfix", "bugfix"),
        ("update_only", "update_only"),
    ] {
        let set = match args.get(opt) {
            Some(Value::Bool(b)) => *b,
            Some(_) => true,
            None => false,
        };
        if set {
            return fail(format!(
                "kiln's dnf module does not support `{what}` yet (see docs/compat.md)"
            ));
        }
    }
    let names = items(args, "name");
    for n in &names {
        if n.contains(' ') && !n.contains(['@', '>', '<', '=']) {
            return fail(
                "It appears that a space separated string of packages was passed in as an argument. To operate on several packages, pass a comma separated string of packages or a list of packages.",
            );
        }
        if n.starts_with('@') || n.contains("://") || n.ends_with(".rpm") {
            return fail(format!(
                "kiln's dnf module installs packages by name; groups, modules and rpm files (`{n}`) are not supported yet"
            ));
        }
    }
    let autoremove = args.bool("autoremove");
    let mut state = args
        .str("state")
        .unwrap_or_else(|| if autoremove { "absent" } else { "installed" }.to_string());
    if autoremove && state != "absent" && state != "removed" {
        return fail("Autoremove should be used alone or with state=absent");
    }
    if state == "present" {
        state = "installed".into();
    }
    if state == "removed" {
        state = "absent".into();
    }
    let probe = match cx
        .sh("if command -v dnf >/dev/null 2>&1; then echo dnf; elif command -v yum >/dev/null 2>&1; then echo yum; fi")
        .await
    {
        Ok(o) => o.stdout_text().trim().to_string(),
        Err(e) => return super::conn_failure(e),
    };
    if probe.is_empty() {
        return fail(
            "kiln's dnf module needs the host's `dnf` (or `yum`) command, and there is none",
        );
    }
    let mut base = vec![probe.clone()];
    base.extend(global_opts(args));
    if args.bool("update_cache") {
        if names.is_empty() {
            let mut w = base.clone();
            w.push("makecache".into());
            let out = match cx.sh(format!("LC_ALL=C {}", quote::join(&w))).await {
                Ok(o) => o,
                Err(e) => return super::conn_failure(e),
            };
            if out.rc != 0 {
                return fail(format!(
                    "Failed to synchronize repodata: {}",
                    out.stderr_text().trim()
                ))
                .with("rc", Value::Int(1));
            }
            let mut r = TaskResult::changed(false).msg("Cache updated");
            r.rc = Some(0);
            return r.with("results", Value::Seq(Vec::new()));
        }
        base.push("--refresh".into());
    }

    // Which names rpm already has installed (by name or by what they provide).
    let root = args
        .str("installroot")
        .filter(|r| r != "/")
        .map(|r| format!(" --root {}", quote::quote(&r)))
        .unwrap_or_default();
    let mut script = String::new();
    for n in &names {
        let q = quote::quote(n);
        script.push_str(&format!(
            "if rpm -q{root} --quiet {q} || rpm -q{root} --quiet --whatprovides {q}; then echo 1; else echo 0; fi; "
        ));
    }
    let installed: Vec<bool> = if names.is_empty() {
        Vec::new()
    } else {
        match cx.sh(script).await {
            Ok(o) => o.stdout_text().lines().map(|l| l == "1").collect(),
            Err(e) => return super::conn_failure(e),
        }
    };
    let is_installed = |i: usize| installed.get(i).copied().unwrap_or(false);
    let mut results: Vec<Value> = Vec::new();
    let mut commands: Vec<Vec<String>> = Vec::new();
    let verb_args = |verb: &str, specs: Vec<String>| {
        let mut w = base.clone();
        w.push(verb.to_string());
        w.extend(specs);
        w
    };
    match state.as_str() {
        "installed" => {
            let todo: Vec<String> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| !is_installed(*i))
                .map(|(_, n)| n.clone())
                .collect();
            if !todo.is_empty() {
                commands.push(verb_args("install", todo));
            }
        }
        "latest" => {
            if names == ["*"] {
                commands.push(verb_args("upgrade", Vec::new()));
            } else {
                let mut have = Vec::new();
                let mut new = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    if is_installed(i) {
                        have.push(n.clone());
                    } else {
                        new.push(n.clone());
                    }
                }
                if !have.is_empty() {
                    commands.push(verb_args("upgrade", have));
                }
                if !new.is_empty() {
                    commands.push(verb_args("install", new));
                }
            }
        }
        _ => {
            let mut todo = Vec::new();
            for (i, n) in names.iter().enumerate() {
                if is_installed(i) {
                    todo.push(n.clone());
                } else {
                    results.push(Value::str(format!("No match for argument: {n}")));
                }
            }
            if !todo.is_empty() {
                commands.push(verb_args("remove", todo));
            }
            if autoremove {
                commands.push(verb_args("autoremove", Vec::new()));
            }
        }
    }
    if args.bool("allow_downgrade") {
        for c in &mut commands {
            c.insert(1, "--setopt=obsoletes=True".into());
        }
    }
    let mut changed = false;
    let mut stdout = String::new();
    for mut w in commands {
        let is_remove = w.iter().any(|a| a == "remove" || a == "autoremove");
        if args.bool("allowerasing") || is_remove {
            w.insert(1, "--allowerasing".into());
        }
        w.insert(1, if cx.check_mode { "--assumeno" } else { "-y" }.into());
        let out = match cx.sh(format!("LC_ALL=C {}", quote::join(&w))).await {
            Ok(o) => o,
            Err(e) => return super::conn_failure(e),
        };
        let text = out.stdout_text();
        let planned = parse_transaction(&text);
        // With --assumeno dnf stops before the transaction and exits 1: that is the plan.
        let ok = out.rc == 0 || (cx.check_mode && !planned.is_empty());
        if !ok {
            let err = out.stderr_text();
            let mut r = TaskResult::failed(if err.contains("No match for argument") {
                "Failed to install some of the specified packages".to_string()
            } else {
                format!("Unknown Error occurred: {}", err.trim())
            })
            .with(
                "failures",
                Value::Seq(vec![Value::str(err.trim().to_string())]),
            )
            .with("results", Value::Seq(results));
            r.rc = Some(1);
            r.stdout = Some(text);
            return r;
        }
        for (install, nevra) in planned {
            changed = true;
            results.push(Value::str(format!(
                "{}: {nevra}",
                if install { "Installed" } else { "Removed" }
            )));
        }
        stdout.push_str(&text);
    }
    let msg = if !changed {
        "Nothing to do"
    } else if cx.check_mode {
        "Check mode: No changes made, but would have if not in check mode"
    } else {
        ""
    };
    let mut r = TaskResult::changed(changed).msg(msg);
    r.rc = Some(0);
    r.with("results", Value::Seq(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_tables() {
        let out = "Dependencies resolved.\n================\n Package          Arch     Version   Repository  Size\n================\nInstalling:\n kiln-hello       noarch   1.0-1     kiln        6.1 k\nInstalling dependencies:\n a-very-long-package-name-that-wraps\n                  x86_64   2:3.1-4   kiln        1 M\n\nTransaction Summary\n================\nInstall  2 Packages\n";
        assert_eq!(
            parse_transaction(out),
            vec![
                (true, "kiln-hello-1.0-1.noarch".to_string()),
                (
                    true,
                    "a-very-long-package-name-that-wraps-2:3.1-4.x86_64".to_string()
                )
            ]
        );
        let rm = "Removing:\n kiln-hello   noarch   1.0-1   @kiln   0  \n\nTransaction Summary\n";
        assert_eq!(
            parse_transaction(rm),
            vec![(false, "kiln-hello-1.0-1.noarch".to_string())]
        );
    }
}
