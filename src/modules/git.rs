//! `git`: a checkout of a repository at a version, made and updated by the host's git with
//! the same git commands, in the same order and with the same decisions as ansible-core
//! 2.19's module (clone, fetch with its refspecs, checkout or reset, submodules, remote URL
//! changes, local modifications, `before`/`after`); what the host has is read in one
//! command first.

use super::filecommon::{Fallible, fail};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Output, parent_dir, quote, random_tag};
use crate::template::filters::path::normpath;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Git;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("dest", Kind::Path),
        Opt::new("repo", Kind::Str).required().aliases(&["name"]),
        Opt::new("version", Kind::Str).default("HEAD"),
        Opt::new("remote", Kind::Str).default("origin"),
        Opt::new("refspec", Kind::Str),
        Opt::new("reference", Kind::Str),
        Opt::new("force", Kind::Bool).default("false"),
        Opt::new("depth", Kind::Int),
        Opt::new("clone", Kind::Bool).default("true"),
        Opt::new("update", Kind::Bool).default("true"),
        Opt::new("verify_commit", Kind::Bool).default("false"),
        Opt::new("gpg_allowlist", Kind::List)
            .elements(Kind::Str)
            .aliases(&["gpg_whitelist"]),
        Opt::new("accept_hostkey", Kind::Bool).default("false"),
        Opt::new("accept_newhostkey", Kind::Bool).default("false"),
        Opt::new("key_file", Kind::Path),
        Opt::new("ssh_opts", Kind::Str),
        Opt::new("executable", Kind::Path),
        Opt::new("bare", Kind::Bool).default("false"),
        Opt::new("recursive", Kind::Bool).default("true"),
        Opt::new("single_branch", Kind::Bool).default("false"),
        Opt::new("track_submodules", Kind::Bool).default("false"),
        Opt::new("umask", Kind::Raw),
        Opt::new("archive", Kind::Path),
        Opt::new("archive_prefix", Kind::Str),
        Opt::new("separate_git_dir", Kind::Path),
    ],
    mutually_exclusive: &[
        &["separate_git_dir", "bare"],
        &["accept_hostkey", "accept_newhostkey"],
    ],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// The git commands of one task: the executable, the environment (C locale, ssh options).
struct Ctx<'a> {
    cx: &'a TaskCx<'a>,
    git: String,
    env: String,
    /// The repository URL (a path made `file://`).
    repo: String,
    /// `params['repo']` as given.
    repo_param: String,
    remote: String,
    dest: Option<String>,
    bare: bool,
}

fn words(w: &[&str]) -> String {
    quote::join(w)
}

impl Ctx<'_> {
    /// Runs `git ARGS` in `cwd` (or the home directory).
    async fn run(&self, cwd: Option<&str>, args: &[&str]) -> Fallible<Output> {
        // A cwd that does not exist is ignored, as Ansible's run_command ignores it.
        let cd = cwd.map_or(String::new(), |d| {
            format!("cd {} 2>/dev/null; ", quote::quote(d))
        });
        let script = format!(
            "{}{cd}{} {}",
            self.env,
            quote::quote(&self.git),
            words(args)
        );
        self.cx
            .sh(script)
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))
    }

    /// `run_command(..., check_rc=True)`: a failure fails the task with git's stderr.
    async fn check(&self, cwd: Option<&str>, args: &[&str]) -> Fallible<Output> {
        let out = self.run(cwd, args).await?;
        if out.rc != 0 {
            let mut r = TaskResult::failed(out.stderr_text().trim_end().to_string());
            r.rc = Some(out.rc);
            r.stdout = Some(out.stdout_text());
            r.stderr = Some(out.stderr_text());
            let mut cmd = vec![Value::str(self.git.clone())];
            cmd.extend(args.iter().map(|a| Value::str(*a)));
            r.data.insert(Value::str("cmd"), Value::Seq(cmd));
            return Err(Box::new(r));
        }
        Ok(out)
    }

    fn dest(&self) -> &str {
        self.dest.as_deref().unwrap_or(".")
    }

    async fn version(&self) -> Fallible<String> {
        let out = self.run(Some(self.dest()), &["rev-parse", "HEAD"]).await?;
        Ok(out.stdout_text().trim_end_matches('\n').to_string())
    }

    async fn is_remote_branch(
        &self,
        cwd: Option<&str>,
        remote: &str,
        version: &str,
    ) -> Fallible<bool> {
        let r = format!("refs/heads/{version}");
        let out = self.check(cwd, &["ls-remote", remote, "-h", &r]).await?;
        Ok(out.stdout_text().contains(version))
    }

    async fn is_remote_tag(
        &self,
        cwd: Option<&str>,
        remote: &str,
        version: &str,
    ) -> Fallible<bool> {
        let r = format!("refs/tags/{version}");
        let out = self.check(cwd, &["ls-remote", remote, "-t", &r]).await?;
        Ok(out.stdout_text().contains(version))
    }

    async fn branches(&self) -> Fallible<Vec<String>> {
        let out = self
            .run(Some(self.dest()), &["branch", "--no-color", "-a"])
            .await?;
        if out.rc != 0 {
            return Err(fail(format!(
                "Could not determine branch data - received {}",
                out.stdout_text()
            )));
        }
        Ok(out
            .stdout_text()
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    async fn is_local_branch(&self, branch: &str) -> Fallible<bool> {
        let b = self.branches().await?;
        Ok(b.iter().any(|x| x == branch || *x == format!("* {branch}")))
    }

    async fn is_not_a_branch(&self) -> Fallible<bool> {
        Ok(self.branches().await?.iter().any(|b| {
            b.starts_with("* ")
                && (b.contains("no branch")
                    || b.contains("detached from")
                    || b.contains("detached at"))
        }))
    }

    /// `get_repo_path`: `.git`, or the directory a `.git` file names.
    async fn repo_path(&self) -> Fallible<String> {
        let dest = self.dest();
        let base = if self.bare {
            dest.to_string()
        } else {
            format!("{dest}/.git")
        };
        let q = quote::quote(&base);
        let out = self
            .cx
            .sh(format!("if [ -f {q} ]; then cat {q}; fi"))
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))?;
        let data = out.stdout_text();
        if data.is_empty() {
            return Ok(base);
        }
        let data = data.trim_end();
        match data.split_once("gitdir: ") {
            Some(("", dir)) if dir.starts_with('/') => Ok(dir.to_string()),
            Some(("", dir)) => Ok(format!("{dest}/{dir}")),
            _ => Err(fail(
                "Current repo does not have a valid reference to a separate Git dir or it refers to the invalid path",
            )),
        }
    }

    /// `get_head_branch`: the branch HEAD names (or the remote's HEAD when detached).
    async fn head_branch(&self, remote: &str) -> Fallible<Option<String>> {
        let repo_path = self.repo_path().await?;
        let headfile = if self.is_not_a_branch().await? {
            format!("{repo_path}/refs/remotes/{remote}/HEAD")
        } else {
            format!("{repo_path}/HEAD")
        };
        let q = quote::quote(&headfile);
        let out = self
            .cx
            .sh(format!("if [ -f {q} ]; then head -n1 {q}; fi"))
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))?;
        let raw = out.stdout_text();
        if raw.is_empty() {
            return Ok(None);
        }
        let raw = raw.replacen(&format!("refs/remotes/{remote}"), "", 1);
        let last = raw.split(' ').next_back().unwrap_or("");
        let part = last.splitn(3, '/').last().unwrap_or("");
        Ok(Some(part.trim_end_matches('\n').to_string()))
    }

    /// `get_remote_head`.
    async fn remote_head(&self, version: &str, remote: &str) -> Fallible<String> {
        let cloning = remote == self.repo_param || remote == format!("file://{}", self.repo_param);
        let cwd = if cloning {
            None
        } else {
            Some(self.dest().to_string())
        };
        let cwd = cwd.as_deref();
        let (args, tag): (Vec<String>, bool) = if version == "HEAD" {
            if cloning {
                (
                    vec![
                        "ls-remote".into(),
                        remote.into(),
                        "-h".into(),
                        "HEAD".into(),
                    ],
                    false,
                )
            } else {
                let head = self.head_branch(remote).await?.unwrap_or_default();
                (
                    vec![
                        "ls-remote".into(),
                        remote.into(),
                        "-h".into(),
                        format!("refs/heads/{head}"),
                    ],
                    false,
                )
            }
        } else if self
            .is_remote_branch(Some(self.dest()), remote, version)
            .await?
        {
            (
                vec![
                    "ls-remote".into(),
                    remote.into(),
                    "-h".into(),
                    format!("refs/heads/{version}"),
                ],
                false,
            )
        } else if self
            .is_remote_tag(Some(self.dest()), remote, version)
            .await?
        {
            (
                vec![
                    "ls-remote".into(),
                    remote.into(),
                    "-t".into(),
                    format!("refs/tags/{version}*"),
                ],
                true,
            )
        } else {
            return Ok(version.to_string());
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.check(cwd, &refs).await?;
        let mut text = out.stdout_text();
        if text.is_empty() {
            let mut r =
                TaskResult::failed(format!("Could not determine remote revision for {version}"));
            r.rc = Some(out.rc);
            return Err(Box::new(r));
        }
        if tag {
            let mut pick = None;
            for line in text.split('\n') {
                if line.ends_with(&format!("{version}^{{}}")) {
                    pick = Some(line.to_string());
                    break;
                } else if line.ends_with(version) {
                    pick = Some(line.to_string());
                }
            }
            if let Some(p) = pick {
                text = p;
            }
        }
        Ok(text.split_whitespace().next().unwrap_or("").to_string())
    }

    async fn remote_url(&self) -> Fallible<Option<String>> {
        let out = self
            .run(Some(self.dest()), &["ls-remote", "--get-url", &self.remote])
            .await?;
        Ok((out.rc == 0).then(|| out.stdout_text().trim_end_matches('\n').to_string()))
    }

    /// `set_remote_url`: whether the URL changed.
    async fn set_remote_url(&self) -> Fallible<bool> {
        let url = self.remote_url().await?;
        if url.as_deref() == Some(self.repo.as_str())
            || url.as_deref().map(unfrack) == Some(unfrack(&self.repo))
        {
            return Ok(false);
        }
        let out = self
            .run(
                Some(self.dest()),
                &["remote", "set-url", &self.remote, &self.repo],
            )
            .await?;
        if out.rc != 0 {
            return Err(fail(format!(
                "Failed to set a new url {} for {}: {} {}",
                self.repo,
                self.remote,
                out.stdout_text(),
                out.stderr_text()
            )));
        }
        Ok(url.is_some())
    }

    async fn fetch(
        &self,
        version: &str,
        depth: Option<i64>,
        refspec: Option<&str>,
        force: bool,
    ) -> Fallible<()> {
        self.set_remote_url().await?;
        let dest = self.dest().to_string();
        let mut refspecs: Vec<String> = Vec::new();
        let mut cmd: Vec<String> = vec!["fetch".into()];
        if let Some(d) = depth {
            let current = self.head_branch(&self.remote).await?.unwrap_or_default();
            if let Some(r) = refspec {
                refspecs.push(r.to_string());
            } else if version == "HEAD" {
                refspecs.push(current.clone());
            } else if self
                .is_remote_branch(Some(&dest), &self.repo, version)
                .await?
            {
                if current != version {
                    refspecs.push(format!("+refs/heads/{version}:refs/heads/{version}"));
                }
                refspecs.push(format!(
                    "+refs/heads/{version}:refs/remotes/{}/{version}",
                    self.remote
                ));
            } else if self.is_remote_tag(Some(&dest), &self.repo, version).await? {
                refspecs.push(format!("+refs/tags/{version}:refs/tags/{version}"));
            }
            if !refspecs.is_empty() {
                cmd.push("--depth".into());
                cmd.push(d.to_string());
            }
        }
        if depth.is_none() || refspecs.is_empty() {
            if self.bare {
                refspecs = vec![
                    "+refs/heads/*:refs/heads/*".into(),
                    "+refs/tags/*:refs/tags/*".into(),
                ];
            } else {
                cmd.push("--tags".into());
            }
            if let Some(r) = refspec {
                refspecs.push(r.to_string());
            }
        }
        if force {
            cmd.push("--force".into());
        }
        cmd.push(self.remote.clone());
        cmd.extend(refspecs);
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = self.run(Some(&dest), &refs).await?;
        if out.rc != 0 {
            return Err(fail(format!(
                "Failed to download remote objects and refs: {} {}",
                out.stdout_text(),
                out.stderr_text()
            )));
        }
        Ok(())
    }

    async fn switch_version(&self, version: &str, depth: Option<i64>) -> Fallible<()> {
        let dest = self.dest().to_string();
        let remote = self.remote.clone();
        let failed = |msg: String, out: &Output| {
            let mut r = TaskResult::failed(msg);
            r.rc = Some(out.rc);
            r.stdout = Some(out.stdout_text());
            r.stderr = Some(out.stderr_text());
            Box::new(r)
        };
        let (cmd, what): (Vec<String>, String) = if version == "HEAD" {
            let branch = self.head_branch(&remote).await?.unwrap_or_default();
            let out = self
                .run(Some(&dest), &["checkout", "--force", &branch])
                .await?;
            if out.rc != 0 {
                return Err(failed(format!("Failed to checkout branch {branch}"), &out));
            }
            (
                vec![
                    "reset".into(),
                    "--hard".into(),
                    format!("{remote}/{branch}"),
                    "--".into(),
                ],
                format!("branch {branch}"),
            )
        } else if self.is_remote_branch(Some(&dest), &remote, version).await? {
            if let Some(d) = depth
                && !self.is_local_branch(version).await?
            {
                let a = format!("+refs/heads/{version}:refs/heads/{version}");
                let b = format!("+refs/heads/{version}:refs/remotes/{remote}/{version}");
                let out = self
                    .run(
                        Some(&dest),
                        &["fetch", &format!("--depth={d}"), &remote, &a, &b],
                    )
                    .await?;
                if out.rc != 0 {
                    return Err(failed(
                        format!("Failed to fetch branch from remote: {version}"),
                        &out,
                    ));
                }
            }
            if !self.is_local_branch(version).await? {
                (
                    vec![
                        "checkout".into(),
                        "--track".into(),
                        "-b".into(),
                        version.into(),
                        format!("{remote}/{version}"),
                    ],
                    version.to_string(),
                )
            } else {
                let out = self
                    .run(Some(&dest), &["checkout", "--force", version])
                    .await?;
                if out.rc != 0 {
                    return Err(failed(format!("Failed to checkout branch {version}"), &out));
                }
                (
                    vec![
                        "reset".into(),
                        "--hard".into(),
                        format!("{remote}/{version}"),
                    ],
                    version.to_string(),
                )
            }
        } else {
            (
                vec!["checkout".into(), "--force".into(), version.into()],
                version.to_string(),
            )
        };
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = self.run(Some(&dest), &refs).await?;
        if out.rc != 0 {
            return Err(failed(format!("Failed to checkout {what}"), &out));
        }
        Ok(())
    }

    /// `submodules_fetch`: whether the submodules would change.
    async fn submodules_fetch(&self, track: bool) -> Fallible<bool> {
        let dest = self.dest().to_string();
        let q = quote::quote(&format!("{dest}/.gitmodules"));
        let out = self
            .cx
            .sh(format!(
                "[ -f {q} ] || exit 3; sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*//p' {q} | while IFS= read -r p; do \
                 if [ -e {d}/\"$p\"/.git ]; then echo have; else echo missing; fi; done",
                d = quote::quote(&dest)
            ))
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))?;
        if out.rc == 3 {
            return Ok(false);
        }
        if out.stdout_text().lines().any(|l| l == "missing") {
            return Ok(true);
        }
        let git = self.git.clone();
        let begin = self
            .check(
                Some(&dest),
                &["submodule", "foreach", &git, "rev-parse", "HEAD"],
            )
            .await?;
        self.check(Some(&dest), &["submodule", "foreach", &git, "fetch"])
            .await?;
        if track {
            let r = format!("{}/master", self.remote);
            let after = self
                .check(
                    Some(&dest),
                    &["submodule", "foreach", &git, "rev-parse", &r],
                )
                .await?;
            return Ok(begin.stdout != after.stdout);
        }
        let status = self.check(Some(&dest), &["submodule", "status"]).await?;
        Ok(status.stdout_text().lines().any(|l| !l.starts_with(' ')))
    }

    async fn submodule_update(&self, track: bool, force: bool) -> Fallible<()> {
        let dest = self.dest().to_string();
        self.check(Some(&dest), &["submodule", "sync"]).await?;
        let mut cmd = vec!["submodule", "update", "--init", "--recursive"];
        if track {
            cmd.push("--remote");
        }
        if force {
            cmd.push("--force");
        }
        let out = self.run(Some(&dest), &cmd).await?;
        if out.rc != 0 {
            return Err(fail(format!(
                "Failed to init/update submodules: {}{}",
                out.stdout_text(),
                out.stderr_text()
            )));
        }
        Ok(())
    }

    /// `get_diff` (the `prepared` text), fetching `after` first as Ansible does.
    async fn diff(
        &self,
        before: Option<&str>,
        after: &str,
        depth: Option<i64>,
    ) -> Fallible<Option<String>> {
        let Some(before) = before else {
            return Ok(Some(format!(">> Newly checked out {after}")));
        };
        if before == after {
            return Ok(None);
        }
        self.fetch(after, depth, None, false).await?;
        let out = self
            .run(Some(self.dest()), &["diff", before, after])
            .await?;
        let text = out.stdout_text();
        Ok(Some(if out.rc == 0 && !text.is_empty() {
            text
        } else if out.rc == 0 {
            format!(">> No visual differences between {before} and {after}")
        } else if !out.stderr_text().is_empty() {
            format!(
                ">> Failed to get proper diff between {before} and {after}:\n>> {}",
                out.stderr_text()
            )
        } else {
            format!(">> Failed to get proper diff between {before} and {after}")
        }))
    }
}

/// `unfrackgitpath`: a normalised path (URLs compare as normalised strings).
fn unfrack(p: &str) -> String {
    normpath(p)
}

fn set_prepared(r: &mut TaskResult, text: Option<String>) {
    if text.is_some() {
        r.diff_prepared = text;
    }
}

#[async_trait]
impl Module for Git {
    fn name(&self) -> &'static str {
        "git"
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

/// The module's whole flow; an error is the task's failed result.
async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, TaskResult> {
    let fail_now = |e: Box<TaskResult>| *e;
    if args.bool("verify_commit") {
        return Err(TaskResult::failed(
            "`verify_commit` is not supported by kiln yet",
        ));
    }
    if args.str("separate_git_dir").is_some() || args.str("reference").is_some() {
        return Err(TaskResult::failed(
            "`separate_git_dir` and `reference` are not supported by kiln yet",
        ));
    }
    if args.str("archive_prefix").is_some() && args.str("archive").is_none() {
        return Err(TaskResult::failed(
            "missing parameter(s) required by 'archive_prefix': archive",
        ));
    }
    let repo_param = args.str("repo").unwrap_or_default();
    let repo = if repo_param.starts_with('/') {
        format!("file://{repo_param}")
    } else {
        repo_param.clone()
    };
    let version = args.str("version").unwrap_or_else(|| "HEAD".into());
    let remote = args.str("remote").unwrap_or_else(|| "origin".into());
    let refspec = args.str("refspec");
    let force = args.bool("force");
    let mut depth = args.get("depth").and_then(|v| match v {
        Value::Int(i) if *i != 0 => i64::try_from(*i).ok(),
        _ => None,
    });
    let update = args.bool("update");
    let allow_clone = args.bool("clone");
    let bare = args.bool("bare");
    let single_branch = args.bool("single_branch");
    let mut warnings: Vec<String> = Vec::new();
    let mut ssh_opts = args.str("ssh_opts");
    for (flag, opt) in [
        ("accept_hostkey", "-o StrictHostKeyChecking=no"),
        ("accept_newhostkey", "-o StrictHostKeyChecking=accept-new"),
    ] {
        if args.bool(flag) {
            let o = ssh_opts.get_or_insert_with(String::new);
            if !o.contains("-o StrictHostKeyChecking=no")
                && !o.contains("-o StrictHostKeyChecking=accept-new")
            {
                if o.is_empty() {
                    *o = opt.to_string();
                } else {
                    o.push(' ');
                    o.push_str(opt);
                }
            }
        }
    }
    // `set_git_ssh_env`: the options ssh gets through GIT_SSH_COMMAND.
    let mut opts = ssh_opts.map(|o| format!(" {o}")).unwrap_or_default();
    if args.bool("accept_hostkey") && !opts.contains("StrictHostKeyChecking=no") {
        opts.push_str(" -o StrictHostKeyChecking=no");
    }
    if !opts.contains("BatchMode=yes") {
        opts.push_str(" -o BatchMode=yes");
    }
    if let Some(k) = args.str("key_file") {
        let key = format!("-i {k}");
        if !opts.contains(&key) {
            opts.push_str(&format!("  {key}"));
        }
        if !opts.contains("IdentitiesOnly=yes") {
            opts.push_str(" -o IdentitiesOnly=yes");
        }
    }
    let mut env = format!(
        "LANG=C; LC_ALL=C; LC_MESSAGES=C; LC_CTYPE=C; LANGUAGE=C; export LANG LC_ALL LC_MESSAGES LC_CTYPE LANGUAGE; \
         GIT_SSH_COMMAND=\"${{GIT_SSH:-${{GIT_SSH_COMMAND:-ssh}}}} ${{GIT_SSH_OPTS:-}}\"{}; export GIT_SSH_COMMAND; ",
        quote::quote(&opts)
    );
    if let Some(u) = args.get("umask") {
        let Value::Str(u) = u else {
            return Err(TaskResult::failed(
                "umask must be defined as a quoted octal integer",
            ));
        };
        if u32::from_str_radix(u, 8).is_err() {
            return Err(TaskResult::failed("umask must be an octal integer"));
        }
        env.push_str(&format!("umask {}; ", quote::quote(u)));
    }
    let git = args.str("executable").unwrap_or_else(|| "git".into());
    let dest_arg = args.str("dest");
    if dest_arg.is_none() && allow_clone {
        return Err(TaskResult::failed(
            "the destination directory must be specified unless clone=no",
        ));
    }
    // What the host has: git's version, whether dest holds a repository.
    let mut probe = format!(
        "{env}{} --version 2>/dev/null | head -n1; printf '%s\\n' \"$PWD\"; ",
        quote::quote(&git)
    );
    if let Some(d) = &dest_arg {
        let q = quote::quote(d);
        let cfg = if bare {
            format!("{q}/config")
        } else {
            format!("{q}/.git/config")
        };
        probe.push_str(&format!(
            "if [ -f {q}/.git ] && [ ! -d {q}/.git ]; then r=$(sed -n 's/^gitdir: //p' {q}/.git); \
             case $r in /*) ;; *) r={q}/$r ;; esac; [ -f \"$r/config\" ] && echo config || echo none; \
             elif [ -f {cfg} ]; then echo config; else echo none; fi"
        ));
    } else {
        probe.push_str("echo none");
    }
    if args.bool("accept_newhostkey") {
        probe.push_str("; ssh -o StrictHostKeyChecking=accept-new -V >/dev/null 2>&1 && echo newkey || echo nonewkey");
    }
    let out = cx.sh(probe).await.map_err(super::conn_failure)?;
    let text = out.stdout_text();
    let mut lines = text.lines();
    let version_line = lines.next().unwrap_or("").to_string();
    let cwd = lines.next().unwrap_or("/").to_string();
    let has_config = lines.next() == Some("config");
    if args.bool("accept_newhostkey") && text.lines().any(|l| l == "nonewkey") {
        warnings.push(
            "Your ssh client does not support accept_newhostkey option, therefore it cannot be used.".into(),
        );
    }
    if !version_line.starts_with("git version") {
        return Err(TaskResult::failed(format!(
            "Failed to find required executable \"{git}\" in paths: the host has no git"
        )));
    }
    let git_version = version_line
        .trim_start_matches("git version ")
        .trim()
        .to_string();
    if depth.is_some() && version_lt(&git_version, "1.9.1") {
        warnings.push(
            "git version is too old to fully support the depth argument. Falling back to full checkouts.".into(),
        );
        depth = None;
    }
    let dest = dest_arg.map(|d| {
        if d.starts_with('/') {
            normpath(&d)
        } else {
            normpath(&format!("{cwd}/{d}"))
        }
    });
    let g = Ctx {
        cx,
        git,
        env,
        repo: repo.clone(),
        repo_param: repo_param.clone(),
        remote: remote.clone(),
        dest: dest.clone(),
        bare,
    };
    let mut result = TaskResult::changed(false);
    result.data.insert(Value::str("before"), Value::Null);
    let mut before: Option<String> = None;
    let mut local_mods = false;
    let mut remote_url_changed = false;
    let finish = |mut r: TaskResult, warnings: &[String]| {
        if !warnings.is_empty() {
            r.data.insert(
                Value::str("warnings"),
                Value::Seq(warnings.iter().map(|w| Value::str(w.clone())).collect()),
            );
        }
        r
    };
    if (dest.is_some() && !has_config) || (dest.is_none() && !allow_clone) {
        if cx.check_mode || !allow_clone {
            let head = g.remote_head(&version, &repo).await.map_err(fail_now)?;
            result.changed = true;
            result
                .data
                .insert(Value::str("after"), Value::str(head.clone()));
            if cx.diff_mode {
                set_prepared(&mut result, Some(format!(">> Newly checked out {head}")));
            }
            return Ok(finish(result, &warnings));
        }
        let d = g.dest().to_string();
        let parent = parent_dir(&d);
        let _ = cx.sh(format!("mkdir -p {}", quote::quote(&parent))).await;
        let mut cmd: Vec<String> = vec!["clone".into()];
        if bare {
            cmd.push("--bare".into());
        } else {
            cmd.push("--origin".into());
            cmd.push(remote.clone());
        }
        let branch_or_tag = g
            .is_remote_branch(Some(&d), &repo, &version)
            .await
            .map_err(fail_now)?
            || g.is_remote_tag(Some(&d), &repo, &version)
                .await
                .map_err(fail_now)?;
        if let Some(n) = depth {
            if version == "HEAD" || refspec.is_some() {
                cmd.extend(["--depth".into(), n.to_string()]);
            } else if branch_or_tag {
                cmd.extend([
                    "--depth".into(),
                    n.to_string(),
                    "--branch".into(),
                    version.clone(),
                ]);
            } else {
                warnings.push(
                    "Ignoring depth argument. Shallow clones are only available for HEAD, branches, tags or in combination with refspec.".into(),
                );
            }
        }
        if single_branch {
            cmd.push("--single-branch".into());
            if branch_or_tag {
                cmd.extend(["--branch".into(), version.clone()]);
            }
        }
        cmd.push(repo.clone());
        cmd.push(d.clone());
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        // Ansible runs the clone in dest's parent, which may not exist in check mode.
        g.check(Some(&parent), &refs).await.map_err(fail_now)?;
        if bare && remote != "origin" {
            g.check(Some(&d), &["remote", "add", &remote, &repo])
                .await
                .map_err(fail_now)?;
        }
        if let Some(r) = &refspec {
            let mut c: Vec<String> = vec!["fetch".into()];
            if let Some(n) = depth {
                c.extend(["--depth".into(), n.to_string()]);
            }
            c.extend([remote.clone(), r.clone()]);
            let refs: Vec<&str> = c.iter().map(String::as_str).collect();
            g.check(Some(&d), &refs).await.map_err(fail_now)?;
        }
    } else if !update {
        let v = g.version().await.map_err(fail_now)?;
        result
            .data
            .insert(Value::str("before"), Value::str(v.clone()));
        result.data.insert(Value::str("after"), Value::str(v));
        if let Some(a) = args.str("archive") {
            if cx.check_mode {
                result.changed = true;
                return Ok(finish(result, &warnings));
            }
            archive(
                &g,
                &a,
                args.str("archive_prefix"),
                &version,
                &repo,
                &mut result,
            )
            .await
            .map_err(fail_now)?;
        }
        return Ok(finish(result, &warnings));
    } else {
        if !bare {
            let st = g
                .run(Some(g.dest()), &["status", "--porcelain"])
                .await
                .map_err(fail_now)?;
            local_mods = st.stdout_text().lines().any(|l| !l.starts_with("??"));
        }
        let v = g.version().await.map_err(fail_now)?;
        result
            .data
            .insert(Value::str("before"), Value::str(v.clone()));
        before = Some(v);
        if local_mods {
            if !force {
                let mut r = TaskResult::failed(format!(
                    "Local modifications exist in the destination: {} (force=no).",
                    g.dest()
                ));
                r.data = result.data;
                return Err(r);
            }
            if !cx.check_mode {
                g.check(Some(g.dest()), &["reset", "--hard", "HEAD"])
                    .await
                    .map_err(fail_now)?;
                result.changed = true;
                result.msg = Some(format!(
                    "Local modifications exist in the destination: {}",
                    g.dest()
                ));
            }
        }
        if cx.check_mode {
            let url = g.remote_url().await.map_err(fail_now)?;
            remote_url_changed = url
                .as_ref()
                .is_some_and(|u| !u.is_empty() && *u != repo && unfrack(u) != unfrack(&repo));
        } else {
            remote_url_changed = g.set_remote_url().await.map_err(fail_now)?;
        }
        result.data.insert(
            Value::str("remote_url_changed"),
            Value::Bool(remote_url_changed),
        );
        if cx.check_mode {
            let head = g.remote_head(&version, &remote).await.map_err(fail_now)?;
            result.changed = before.as_deref() != Some(head.as_str()) || remote_url_changed;
            result
                .data
                .insert(Value::str("after"), Value::str(head.clone()));
            if cx.diff_mode {
                let d = g
                    .diff(before.as_deref(), &head, depth)
                    .await
                    .map_err(fail_now)?;
                set_prepared(&mut result, d);
            }
            return Ok(finish(result, &warnings));
        }
        g.fetch(&version, depth, refspec.as_deref(), force)
            .await
            .map_err(fail_now)?;
    }
    if !bare {
        g.switch_version(&version, depth).await.map_err(fail_now)?;
    }
    let mut submodules = false;
    if args.bool("recursive") && !bare {
        let track = args.bool("track_submodules");
        submodules = g.submodules_fetch(track).await.map_err(fail_now)?;
        if submodules {
            result
                .data
                .insert(Value::str("submodules_changed"), Value::Bool(true));
            g.submodule_update(track, force).await.map_err(fail_now)?;
        }
    }
    let after = g.version().await.map_err(fail_now)?;
    result
        .data
        .insert(Value::str("after"), Value::str(after.clone()));
    if before.as_deref() != Some(after.as_str()) || local_mods || submodules || remote_url_changed {
        result.changed = true;
        if cx.diff_mode {
            let d = g
                .diff(before.as_deref(), &after, depth)
                .await
                .map_err(fail_now)?;
            set_prepared(&mut result, d);
        }
    }
    if let Some(a) = args.str("archive") {
        archive(
            &g,
            &a,
            args.str("archive_prefix"),
            &version,
            &repo,
            &mut result,
        )
        .await
        .map_err(fail_now)?;
    }
    Ok(finish(result, &warnings))
}

/// `create_archive`: `git archive` into the file, replaced only when it differs.
async fn archive(
    g: &Ctx<'_>,
    archive: &str,
    prefix: Option<String>,
    version: &str,
    repo: &str,
    result: &mut TaskResult,
) -> Fallible<()> {
    let ext = archive.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let fmt = match ext {
        "zip" => "zip",
        "gz" => "tar.gz",
        "tar" => "tar",
        "tgz" => "tgz",
        _ => {
            return Err(fail(format!(
                "Unable to get file extension from archive file name : {archive}"
            )));
        }
    };
    let name = repo.rsplit('/').next().unwrap_or("").replace(".git", "");
    let tmp = format!(
        "{}/.kiln.{}.{name}.{fmt}",
        parent_dir(archive),
        random_tag()
    );
    let make = |out: &str| {
        let mut c = vec![
            "archive".to_string(),
            "--format".into(),
            fmt.into(),
            "--output".into(),
            out.into(),
        ];
        if let Some(p) = &prefix {
            c.push("--prefix".into());
            c.push(p.clone());
        }
        c.push(version.into());
        c
    };
    let q = quote::quote(archive);
    let exists =
        g.cx.sh(format!("[ -e {q} ] && echo yes || echo no"))
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))?
            .stdout_text()
            .trim()
            == "yes";
    let target = if exists {
        tmp.clone()
    } else {
        archive.to_string()
    };
    let cmd = make(&target);
    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = g.run(Some(g.dest()), &refs).await?;
    if out.rc != 0 {
        return Err(fail("Failed to perform archive operation"));
    }
    if !exists {
        result.changed = true;
        return Ok(());
    }
    let qt = quote::quote(&tmp);
    let out =
        g.cx.sh(format!(
            "if cmp -s {qt} {q}; then rm -f {qt}; echo same; else mv -f {qt} {q}; echo moved; fi"
        ))
        .await
        .map_err(|e| Box::new(super::conn_failure(e)))?;
    result.changed = out.stdout_text().trim() == "moved";
    Ok(())
}

/// `LooseVersion(a) < LooseVersion(b)` for dotted numbers.
fn version_lt(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parse(a) < parse(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(version_lt("1.8.3", "1.9.1"));
        assert!(!version_lt("2.47.3", "1.9.1"));
    }
}
