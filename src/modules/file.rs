//! `file`: a path's existence, type and attributes: file, directory (recursive), touch,
//! absent, symbolic and hard links.

use super::fileattrs::{
    PathKind, PathState, attr_changes, mode_str, parse_stat, resolve_mode, stat_script,
};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct File;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("path", Kind::Path)
            .required()
            .aliases(&["dest", "name"]),
        Opt::new("state", Kind::Str).choices(&[
            "absent",
            "directory",
            "file",
            "hard",
            "link",
            "touch",
        ]),
        Opt::new("src", Kind::Path),
        Opt::new("mode", Kind::Mode),
        Opt::new("owner", Kind::Str),
        Opt::new("group", Kind::Str),
        Opt::new("recurse", Kind::Bool).default("false"),
        Opt::new("force", Kind::Bool).default("false"),
        Opt::new("follow", Kind::Bool).default("true"),
        Opt::new("modification_time", Kind::Str),
        Opt::new("access_time", Kind::Str),
        Opt::new("modification_time_format", Kind::Str).default("%Y%m%d%H%M.%S"),
        Opt::new("access_time_format", Kind::Str).default("%Y%m%d%H%M.%S"),
        Opt::new("unsafe_writes", Kind::Bool).default("false"),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for File {
    fn name(&self) -> &'static str {
        "file"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let path = args
            .str("path")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let q = quote::quote(&path);
        let out = try_conn!(cx.sh(stat_script(&path)).await);
        let state = parse_stat(&out.stdout_text());
        let requested = args.str("state").unwrap_or_else(|| match state.kind {
            PathKind::Absent => "file".into(),
            PathKind::Link if args.get("src").is_some() => "link".into(),
            k => k.as_state().into(),
        });
        for key in ["modification_time", "access_time"] {
            if let Some(t) = args.str(key) {
                let takes = if requested == "touch" {
                    t == "now" || t == "preserve"
                } else {
                    t == "preserve"
                };
                if !takes {
                    return TaskResult::failed(format!(
                        "{key} `{t}` is not supported yet: kiln takes `now` and `preserve` with state=touch, and `preserve` otherwise"
                    ));
                }
            }
        }
        let mode = args.get("mode");
        let owner = args.str("owner");
        let group = args.str("group");
        let mut cmds: Vec<String> = Vec::new();
        let mut changed = false;
        let before = state.kind.as_state();
        let mut after_state = requested.clone();
        match requested.as_str() {
            "absent" => {
                if state.kind != PathKind::Absent {
                    cmds.push(format!("rm -rf {q}"));
                    changed = true;
                }
            }
            "file" => {
                if state.kind == PathKind::Absent {
                    return TaskResult::failed(format!("file ({path}) is absent, cannot continue"))
                        .with("path", Value::str(path));
                }
                if state.kind == PathKind::Directory {
                    return TaskResult::failed(format!("file ({path}) is a directory, not a file"))
                        .with("path", Value::str(path));
                }
            }
            "directory" => match state.kind {
                PathKind::Absent => {
                    let m = match mode.map(|m| resolve_mode(m, 0o755, true)).transpose() {
                        Ok(m) => m,
                        Err(e) => return TaskResult::failed(e),
                    };
                    // As Ansible, every directory created on the way gets the requested
                    // mode, owner and group, not only the last one.
                    // A directory another host or process made meanwhile is fine, as it
                    // is for Ansible; the second mkdir reports the real error otherwise.
                    let mut each = vec![
                        "{ mkdir \"$d\" 2>/dev/null || [ -d \"$d\" ] || mkdir \"$d\"; }"
                            .to_string(),
                    ];
                    if let Some(m) = m {
                        each.push(format!("chmod {m:04o} \"$d\""));
                    }
                    if let Some(o) = &owner {
                        each.push(format!("chown {} \"$d\"", quote::quote(o)));
                    }
                    if let Some(g) = &group {
                        each.push(format!("chgrp {} \"$d\"", quote::quote(g)));
                    }
                    cmds.push(format!(
                        "p={q}; set --; while [ -n \"$p\" ] && [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; do set -- \"$p\" \"$@\"; p=$(dirname \"$p\"); done; for d in \"$@\"; do {} || exit 1; done",
                        each.join(" && ")
                    ));
                    changed = true;
                }
                PathKind::Directory => {}
                PathKind::Link if args.bool("follow") => {}
                _ => {
                    return TaskResult::failed(format!("{path} already exists as a {}", before))
                        .with("path", Value::str(path));
                }
            },
            "touch" => {
                // Ansible's touch sets both times to now unless told to `preserve` one: a
                // change on every run, except when an existing file keeps both times (how
                // content makes sure a file exists without touching it again).
                let keeps = |key: &str| args.str(key).as_deref() == Some("preserve");
                if state.kind == PathKind::Absent {
                    cmds.push(format!("touch {q}"));
                    changed = true;
                    after_state = "file".into();
                } else {
                    let flags: Vec<&str> = [("-m", "modification_time"), ("-a", "access_time")]
                        .into_iter()
                        .filter(|(_, key)| !keeps(key))
                        .map(|(flag, _)| flag)
                        .collect();
                    if !flags.is_empty() {
                        cmds.push(format!("touch {} {q}", flags.join(" ")));
                        changed = true;
                    }
                    after_state = before.into();
                }
            }
            "link" | "hard" => {
                let Some(src) = args.str("src") else {
                    return TaskResult::failed(format!(
                        "src is required for creating the link {path}"
                    ));
                };
                let qs = quote::quote(&src);
                let force = args.bool("force");
                let ok = if requested == "link" {
                    state.kind == PathKind::Link && state.target == src
                } else {
                    let out = try_conn!(cx.sh(format!("[ {q} -ef {qs} ] && echo same")).await);
                    out.stdout_text().trim() == "same"
                };
                if !ok {
                    if matches!(state.kind, PathKind::File | PathKind::Directory)
                        && !force
                        && requested == "link"
                    {
                        return TaskResult::failed(format!(
                            "refusing to convert from {before} to symlink for {path}"
                        ))
                        .with("path", Value::str(path));
                    }
                    let flag = if requested == "link" { "-sfn" } else { "-f" };
                    let rm = if state.kind == PathKind::Directory && force {
                        format!("rm -rf {q} && ")
                    } else {
                        String::new()
                    };
                    cmds.push(format!("{rm}ln {flag} {qs} {q}"));
                    changed = true;
                }
            }
            other => return TaskResult::failed(format!("unsupported state `{other}`")),
        }
        let exists_after = requested != "absent";
        let follow = args.bool("follow");
        let mut final_mode = state.mode;
        if exists_after {
            // Attributes apply to what the path is (or will be).
            let assumed = if state.kind == PathKind::Absent {
                PathState {
                    kind: if requested == "directory" {
                        PathKind::Directory
                    } else {
                        PathKind::File
                    },
                    mode: if requested == "directory" {
                        0o755
                    } else {
                        0o644
                    },
                    ..state.clone()
                }
            } else {
                state.clone()
            };
            let (attr_cmds, _) = match attr_changes(
                &path,
                &assumed,
                mode,
                owner.as_deref(),
                group.as_deref(),
                follow || requested != "link",
            ) {
                Ok(c) => c,
                Err(e) => return TaskResult::failed(e),
            };
            if let Some(m) = mode {
                final_mode = resolve_mode(m, assumed.mode, assumed.kind == PathKind::Directory)
                    .unwrap_or(assumed.mode);
            }
            if !attr_cmds.is_empty() {
                changed = true;
                cmds.extend(attr_cmds);
            }
            if requested == "directory" && args.bool("recurse") {
                let (rcmds, rchanged) =
                    try_recurse(cx, &path, mode, owner.as_deref(), group.as_deref()).await;
                if rchanged {
                    changed = true;
                    cmds.extend(rcmds);
                }
            }
        }
        let mut result = TaskResult::changed(changed);
        if cx.diff_mode && changed {
            result.diff.push(Diff {
                before_header: path.clone(),
                after_header: path.clone(),
                before: format!("path: {path}\nstate: {before}\n"),
                after: format!("path: {path}\nstate: {after_state}\n"),
            });
        }
        if changed && !cx.check_mode && !cmds.is_empty() {
            let out = try_conn!(cx.sh(format!("set -e; {}", cmds.join("; "))).await);
            if out.rc != 0 {
                return TaskResult::failed(out.stderr_text().trim().to_string())
                    .with("path", Value::str(path));
            }
        }
        result = result
            .with("path", Value::str(path))
            .with("state", Value::str(after_state.clone()));
        if exists_after && after_state != "link" {
            result = result.with("mode", Value::str(mode_str(final_mode)));
        }
        result
    }
}

/// For `recurse: true`: what would change below a directory, found with one `find`.
async fn try_recurse(
    cx: &TaskCx<'_>,
    path: &str,
    mode: Option<&Value>,
    owner: Option<&str>,
    group: Option<&str>,
) -> (Vec<String>, bool) {
    let q = quote::quote(path);
    let mut checks = Vec::new();
    let mut cmds = Vec::new();
    if let Some(o) = owner {
        checks.push(format!("find {q} ! -user {} -print -quit", quote::quote(o)));
        cmds.push(format!("chown -R {} {q}", quote::quote(o)));
    }
    if let Some(g) = group {
        checks.push(format!(
            "find {q} ! -group {} -print -quit",
            quote::quote(g)
        ));
        cmds.push(format!("chgrp -R {} {q}", quote::quote(g)));
    }
    if let Some(m) = mode {
        let spec = match m {
            Value::Int(i) => format!("{i:o}"),
            other => crate::yaml::python_str(other),
        };
        let qspec = quote::quote(&spec);
        if spec.chars().all(|c| c.is_digit(8)) {
            let octal = format!("{:0>4}", spec.trim_start_matches('0'));
            checks.push(format!("find {q} ! -perm {octal} -print -quit"));
            cmds.push(format!("chmod -R {octal} {q}"));
        } else {
            checks.push(format!("find {q} ! -perm {qspec} -print -quit"));
            cmds.push(format!("chmod -R {qspec} {q}"));
        }
    }
    if checks.is_empty() {
        return (cmds, false);
    }
    match cx.sh(checks.join("; ")).await {
        Ok(out) => (cmds, !out.stdout_text().trim().is_empty()),
        Err(_) => (cmds, true),
    }
}
