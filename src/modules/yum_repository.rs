//! `yum_repository`: a repository section in `<reposdir>/<file>.repo`, kept as ansible-core
//! 2.19 keeps it: the file is read as Python's configparser reads it (keys lower-cased,
//! indented continuation lines, comments dropped), the repository's section is replaced and
//! put last with its options sorted (booleans as 1/0, lists one per line), and the file is
//! written back as configparser writes (`key = value`, continuation lines indented by a tab,
//! a blank line after each section); a file left without sections is removed.

use super::pkgutil::{read_files, write_file};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct YumRepository;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("async", Kind::Bool),
        Opt::new("bandwidth", Kind::Str),
        Opt::new("baseurl", Kind::List),
        Opt::new("cost", Kind::Str),
        Opt::new("countme", Kind::Bool),
        Opt::new("deltarpm_metadata_percentage", Kind::Str),
        Opt::new("deltarpm_percentage", Kind::Str),
        Opt::new("description", Kind::Str),
        Opt::new("enabled", Kind::Bool),
        Opt::new("enablegroups", Kind::Bool),
        Opt::new("exclude", Kind::List).aliases(&["excludepkgs"]),
        Opt::new("failovermethod", Kind::Str).choices(&["roundrobin", "priority"]),
        Opt::new("file", Kind::Str),
        Opt::new("gpgcakey", Kind::Str),
        Opt::new("gpgcheck", Kind::Bool),
        Opt::new("gpgkey", Kind::List),
        Opt::new("module_hotfixes", Kind::Bool),
        Opt::new("http_caching", Kind::Str).choices(&["all", "packages", "none"]),
        Opt::new("include", Kind::Str),
        Opt::new("includepkgs", Kind::List),
        Opt::new("ip_resolve", Kind::Str).choices(&["4", "6", "IPv4", "IPv6", "whatever"]),
        Opt::new("keepalive", Kind::Bool),
        Opt::new("keepcache", Kind::Str).choices(&["0", "1"]),
        Opt::new("metadata_expire", Kind::Str),
        Opt::new("metadata_expire_filter", Kind::Str).choices(&[
            "never",
            "read-only:past",
            "read-only:present",
            "read-only:future",
        ]),
        Opt::new("metalink", Kind::Str),
        Opt::new("mirrorlist", Kind::Str),
        Opt::new("mirrorlist_expire", Kind::Str),
        Opt::new("name", Kind::Str).required(),
        Opt::new("password", Kind::Str),
        Opt::new("priority", Kind::Str),
        Opt::new("protect", Kind::Bool),
        Opt::new("proxy", Kind::Str),
        Opt::new("proxy_password", Kind::Str),
        Opt::new("proxy_username", Kind::Str),
        Opt::new("repo_gpgcheck", Kind::Bool),
        Opt::new("reposdir", Kind::Path).default("/etc/yum.repos.d"),
        Opt::new("retries", Kind::Str),
        Opt::new("s3_enabled", Kind::Bool),
        Opt::new("skip_if_unavailable", Kind::Bool),
        Opt::new("sslcacert", Kind::Str).aliases(&["ca_cert"]),
        Opt::new("ssl_check_cert_permissions", Kind::Bool),
        Opt::new("sslclientcert", Kind::Str).aliases(&["client_cert"]),
        Opt::new("sslclientkey", Kind::Str).aliases(&["client_key"]),
        Opt::new("sslverify", Kind::Bool).aliases(&["validate_certs"]),
        Opt::new("state", Kind::Str)
            .default("present")
            .choices(&["present", "absent"]),
        Opt::new("throttle", Kind::Str),
        Opt::new("timeout", Kind::Str),
        Opt::new("ui_repoid_vars", Kind::Str),
        Opt::new("username", Kind::Str),
        Opt::new("mode", Kind::Mode),
        Opt::new("owner", Kind::Str),
        Opt::new("group", Kind::Str),
        Opt::new("unsafe_writes", Kind::Bool).default("false"),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// Options that are not written into the repository's section.
const NOT_IN_SECTION: &[&str] = &[
    "name",
    "description",
    "file",
    "reposdir",
    "state",
    "mode",
    "owner",
    "group",
    "unsafe_writes",
];

#[async_trait]
impl Module for YumRepository {
    fn name(&self) -> &'static str {
        "yum_repository"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        match run(cx, &args).await {
            Ok(r) | Err(r) => r,
        }
    }
}

type Section = (String, Vec<(String, String)>);

/// An INI file as configparser reads it.
fn parse_ini(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut cur_key: Option<usize> = None;
    let mut key_indent = 0;
    for line in text.lines() {
        let stripped = line.trim();
        let indent = line.len() - line.trim_start().len();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            // Blank lines may belong to a value; trailing ones are dropped at the end.
            if let (Some(k), Some(s)) = (cur_key, sections.last_mut()) {
                s.1[k].1.push('\n');
            }
            continue;
        }
        if let (Some(k), Some(s)) = (cur_key, sections.last_mut())
            && indent > key_indent
        {
            s.1[k].1.push('\n');
            s.1[k].1.push_str(stripped);
            continue;
        }
        if stripped.starts_with('[') && stripped.ends_with(']') {
            sections.push((stripped[1..stripped.len() - 1].to_string(), Vec::new()));
            cur_key = None;
            continue;
        }
        let Some(s) = sections.last_mut() else {
            continue;
        };
        let at = stripped.find(['=', ':']);
        let (k, v) = match at {
            Some(i) => (stripped[..i].trim(), stripped[i + 1..].trim()),
            None => (stripped, ""),
        };
        let k = k.to_lowercase();
        s.1.retain(|(n, _)| *n != k);
        s.1.push((k, v.to_string()));
        cur_key = Some(s.1.len() - 1);
        key_indent = indent;
    }
    for s in &mut sections {
        for (_, v) in &mut s.1 {
            while v.ends_with('\n') {
                v.pop();
            }
        }
    }
    sections
}

/// configparser's `write`.
fn write_ini(sections: &[Section]) -> String {
    let mut out = String::new();
    for (name, items) in sections {
        out.push_str(&format!("[{name}]\n"));
        for (k, v) in items {
            out.push_str(&format!("{k} = {}\n", v.replace('\n', "\n\t")));
        }
        out.push('\n');
    }
    out
}

/// Ansible's `dump`, for the diff and the change decision: sections and keys sorted.
fn dump(sections: &[Section]) -> String {
    let mut sorted: Vec<&Section> = sections.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (name, items) in sorted {
        out.push_str(&format!("[{name}]\n"));
        let mut items: Vec<&(String, String)> = items.iter().collect();
        items.sort();
        for (k, v) in items {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.push('\n');
    }
    out
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, TaskResult> {
    let name = args.str("name").unwrap_or_default();
    let state = args.str("state").unwrap_or_else(|| "present".into());
    if state == "present" {
        if ["baseurl", "mirrorlist", "metalink"]
            .iter()
            .all(|k| args.get(k).is_none())
        {
            return Err(TaskResult::failed(
                "state is present but any of the following are missing: baseurl, mirrorlist, metalink",
            ));
        }
        if args.get("description").is_none() {
            return Err(TaskResult::failed(
                "state is present but all of the following are missing: description",
            ));
        }
    }
    let dir = args
        .str("reposdir")
        .unwrap_or_else(|| "/etc/yum.repos.d".into());
    let file = args.str("file").unwrap_or_else(|| name.clone());
    let dest = format!("{}/{file}.repo", dir.trim_end_matches('/'));
    let is_dir = cx
        .sh(format!("[ -d {} ]", quote::quote(&dir)))
        .await
        .map_err(super::conn_failure)?;
    if is_dir.rc != 0 {
        return Err(TaskResult::failed(format!(
            "Repo directory '{dir}' does not exist."
        )));
    }
    let current = read_files(cx, std::slice::from_ref(&dest))
        .await?
        .into_iter()
        .next()
        .flatten();
    let mut sections = current
        .as_ref()
        .map(|f| parse_ini(&String::from_utf8_lossy(&f.content)))
        .unwrap_or_default();
    let before = dump(&sections);
    sections.retain(|(n, _)| *n != name);
    if state == "present" {
        let mut items: Vec<(String, String)> = Vec::new();
        let mut keys: Vec<&str> = SPEC
            .options
            .iter()
            .map(|o| o.name)
            .filter(|k| !NOT_IN_SECTION.contains(k))
            .collect();
        keys.push("name");
        keys.sort_unstable();
        for k in keys {
            let v = if k == "name" {
                args.get("description")
            } else {
                args.get(k)
            };
            let Some(v) = v else { continue };
            let text = match v {
                Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                Value::Seq(items) => {
                    let sep = if k == "baseurl" || k == "gpgkey" {
                        "\n"
                    } else {
                        " "
                    };
                    items
                        .iter()
                        .map(crate::yaml::python_str)
                        .collect::<Vec<_>>()
                        .join(sep)
                }
                other => crate::yaml::python_str(other),
            };
            items.push((k.to_string(), text));
        }
        sections.push((name.clone(), items));
    }
    let after = dump(&sections);
    let mut changed = before != after;
    let mut r = TaskResult::ok();
    if cx.diff_mode {
        r.diff.push(Diff {
            before_header: dest.clone(),
            after_header: dest.clone(),
            before: before.clone(),
            after: after.clone(),
        });
    }
    if changed && !cx.check_mode {
        if sections.is_empty() {
            let out = cx
                .sh(format!("rm -f {}", quote::quote(&dest)))
                .await
                .map_err(super::conn_failure)?;
            if out.rc != 0 {
                return Err(TaskResult::failed(format!(
                    "Cannot remove empty repo file {dest}."
                )));
            }
        } else {
            write_file(
                cx,
                &dest,
                write_ini(&sections).as_bytes(),
                current.as_ref(),
                None,
            )
            .await?;
        }
    }
    // Mode, owner and group of the file when it exists (or is about to).
    if !sections.is_empty() || current.is_some() {
        let mut cmds = Vec::new();
        let q = quote::quote(&dest);
        if let Some(m) = args.get("mode") {
            let base = current.as_ref().map_or(0o644, |f| f.mode);
            let want =
                super::fileattrs::resolve_mode(m, base, false).map_err(TaskResult::failed)?;
            cmds.push(format!(
                "[ \"$(stat -c %a {q})\" = {:o} ] || {{ echo c; [ -n \"$k\" ] || chmod {want:04o} {q}; }}",
                want
            ));
        }
        for (opt, fmt, cmd) in [("owner", "%U", "chown"), ("group", "%G", "chgrp")] {
            if let Some(o) = args.str(opt) {
                let qo = quote::quote(&o);
                cmds.push(format!(
                    "[ \"$(stat -c {fmt} {q})\" = {qo} ] || {{ echo c; [ -n \"$k\" ] || {cmd} {qo} {q}; }}"
                ));
            }
        }
        if !cmds.is_empty() {
            let k = if cx.check_mode { "1" } else { "" };
            let script = format!(
                "k={k}; if [ -e {q} ]; then {}; else echo c; fi",
                cmds.join("; ")
            );
            let out = cx.sh(script).await.map_err(super::conn_failure)?;
            if out.rc != 0 {
                return Err(TaskResult::failed(out.stderr_text().trim().to_string()));
            }
            changed |= out.stdout_text().lines().any(|l| l == "c");
        }
    }
    r.changed = changed;
    Ok(r.with("repo", Value::str(name))
        .with("state", Value::str(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_as_configparser() {
        let text = "# comment\n[base]\nName=Base\nbaseurl=http://a/\n  http://b/\n\n[other]\nenabled : 1\n";
        let s = parse_ini(text);
        assert_eq!(s[0].0, "base");
        assert_eq!(
            s[0].1,
            vec![
                ("name".into(), "Base".into()),
                ("baseurl".into(), "http://a/\nhttp://b/".into())
            ]
        );
        assert_eq!(s[1].1, vec![("enabled".into(), "1".into())]);
        assert_eq!(
            write_ini(&s),
            "[base]\nname = Base\nbaseurl = http://a/\n\thttp://b/\n\n[other]\nenabled = 1\n\n"
        );
        assert_eq!(parse_ini(&write_ini(&s)), s);
    }
}
