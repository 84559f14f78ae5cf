//! `apt`: Debian packages through the target's own `apt-get`, `apt-cache` and `dpkg-query`
//! (no python3-apt), deciding as ansible-core 2.19's module does: which packages to install,
//! upgrade or remove from their installed and candidate versions, `name=version` pins and
//! `>=` minimums, fnmatch globs, the cache's age for `cache_valid_time`, `upgrade`, `.deb`
//! files, autoremove/autoclean. Check mode runs the same apt-get commands with `--simulate`,
//! as Ansible does, and diff mode shows apt's list of what it would change.

use super::pkgutil::{APT_ENV, CACHE_MTIME, apt_update, deb_version_cmp, download_script};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Output, quote};
use crate::yaml::Value;
use async_trait::async_trait;
use std::collections::BTreeMap;

pub struct Apt;

pub static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("state", Kind::Str).default("present").choices(&[
            "absent",
            "build-dep",
            "fixed",
            "latest",
            "present",
        ]),
        Opt::new("update_cache", Kind::Bool).aliases(&["update-cache"]),
        Opt::new("update_cache_retries", Kind::Int).default("5"),
        Opt::new("update_cache_retry_max_delay", Kind::Int).default("12"),
        Opt::new("cache_valid_time", Kind::Int).default("0"),
        Opt::new("purge", Kind::Bool).default("false"),
        Opt::new("package", Kind::List).aliases(&["pkg", "name"]),
        Opt::new("deb", Kind::Path),
        Opt::new("default_release", Kind::Str).aliases(&["default-release"]),
        Opt::new("install_recommends", Kind::Bool).aliases(&["install-recommends"]),
        Opt::new("force", Kind::Bool).default("false"),
        Opt::new("upgrade", Kind::Str)
            .default("no")
            .choices(&["dist", "full", "no", "safe", "yes"]),
        Opt::new("dpkg_options", Kind::Str).default(DPKG_OPTIONS),
        Opt::new("autoremove", Kind::Bool).default("false"),
        Opt::new("autoclean", Kind::Bool).default("false"),
        Opt::new("fail_on_autoremove", Kind::Bool).default("false"),
        Opt::new("policy_rc_d", Kind::Int),
        Opt::new("only_upgrade", Kind::Bool).default("false"),
        Opt::new("force_apt_get", Kind::Bool).default("false"),
        Opt::new("clean", Kind::Bool).default("false"),
        Opt::new("allow_unauthenticated", Kind::Bool)
            .default("false")
            .aliases(&["allow-unauthenticated"]),
        Opt::new("allow_downgrade", Kind::Bool)
            .default("false")
            .aliases(&["allow-downgrade", "allow_downgrades", "allow-downgrades"]),
        Opt::new("allow_change_held_packages", Kind::Bool).default("false"),
        Opt::new("lock_timeout", Kind::Int).default("60"),
        Opt::new("auto_install_module_deps", Kind::Bool).default("true"),
    ],
    mutually_exclusive: &[&["deb", "package", "upgrade"]],
    // Ansible's rule (one of autoremove, deb, package, update_cache, upgrade) always holds:
    // autoremove and upgrade have defaults by the time it is checked.
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

const DPKG_OPTIONS: &str = "force-confdef,force-confold";
const APT_GET_ZERO: &str = "\n0 upgraded, 0 newly installed, 0 to remove";
const APTITUDE_ZERO: &str = "\n0 packages upgraded, 0 newly installed, 0 to remove";

#[async_trait]
impl Module for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        match run_apt(cx, &args).await {
            Ok(r) | Err(r) => r,
        }
    }
}

/// The options every apt-get call gets: dpkg's options and how long to wait for its lock.
struct Common {
    dpkg_opts: Vec<String>,
    lock_timeout: i128,
    policy_rc_d: Option<i128>,
    check: bool,
    diff: bool,
}

impl Common {
    fn apt_get(&self) -> Vec<String> {
        let mut w = vec!["apt-get".to_string()];
        for o in &self.dpkg_opts {
            w.push("-o".into());
            w.push(format!("Dpkg::Options::=--{o}"));
        }
        w.push("-o".into());
        w.push(format!("DPkg::Lock::Timeout={}", self.lock_timeout));
        w
    }

    /// The command as a script: apt's environment, and `/usr/sbin/policy-rc.d` exiting with
    /// `policy_rc_d` for the command's duration (an existing one is put back afterwards).
    fn script(&self, words: &[String]) -> String {
        let cmd = quote::join(words);
        match self.policy_rc_d {
            None => format!("{APT_ENV}{cmd}"),
            Some(code) => format!(
                "{APT_ENV}p=/usr/sbin/policy-rc.d; b=''; \
                 if [ -e \"$p\" ]; then b=$(mktemp -d) && mv \"$p\" \"$b/\" || exit 1; fi; \
                 printf '#!/bin/sh\\nexit %d\\n' {code} > \"$p\" && chmod 0755 \"$p\" || exit 1; \
                 {cmd}; rc=$?; \
                 if [ -n \"$b\" ]; then mv \"$b/policy-rc.d\" \"$p\"; rmdir \"$b\"; else rm -f \"$p\"; fi; \
                 exit $rc"
            ),
        }
    }

    async fn run(&self, cx: &TaskCx<'_>, words: &[String]) -> Result<Output, TaskResult> {
        cx.sh(self.script(words)).await.map_err(super::conn_failure)
    }
}

/// Ansible's text for a command in messages: the words, joined.
fn shown(words: &[String]) -> String {
    words.join(" ")
}

/// What apt would change, from its output: the lines between its "Reading state
/// information..." and its summary line, as Ansible's `diff.prepared`.
fn parse_diff(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "Resolving dependencies...")
        .or_else(|| {
            lines
                .iter()
                .position(|l| *l == "Reading state information...")
        })
        .map_or(0, |i| i + 1);
    let end = lines
        .iter()
        .position(|l| is_summary(l))
        .map_or(lines.len(), |i| i + 1);
    lines
        .get(start..end.max(start))
        .map(|l| l.join("\n"))
        .unwrap_or_default()
}

/// apt-get's "N upgraded, ..." or aptitude's "N packages upgraded, ..." line.
fn is_summary(l: &str) -> bool {
    let digits = l.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && {
        let rest = &l[digits..];
        rest.starts_with(" upgraded") || rest.starts_with(" packages upgraded")
    }
}

fn with_output(mut r: TaskResult, out: &Output, cx_diff: bool) -> TaskResult {
    let stdout = out.stdout_text();
    if cx_diff {
        r.diff_prepared = Some(parse_diff(&stdout));
    }
    r.stdout = Some(stdout);
    r.stderr = Some(out.stderr_text());
    r
}

fn failed_with(msg: String, out: &Output) -> TaskResult {
    let mut r = TaskResult::failed(msg);
    r.stdout = Some(out.stdout_text());
    r.stderr = Some(out.stderr_text());
    r.rc = Some(out.rc);
    r
}

/// `name`, `name=version` or `name>=version`, split as Ansible's `package_split`.
fn package_split(spec: &str) -> (&str, Option<&str>, Option<&str>) {
    if let Some(i) = spec.find('=') {
        if i > 0 && spec.as_bytes()[i - 1] == b'>' {
            return (&spec[..i - 1], Some(">="), Some(&spec[i + 1..]));
        }
        return (&spec[..i], Some("="), Some(&spec[i + 1..]));
    }
    (spec, None, None)
}

fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '[', ']', '!'])
}

/// One package as apt-cache and dpkg see it.
#[derive(Debug, Default, Clone)]
struct Known {
    /// Whether the cache has versions of it (python-apt's "real" package).
    real: bool,
    candidate: Option<String>,
    /// Every version the cache knows, with its priority.
    versions: Vec<(String, i64)>,
    /// dpkg's state: installed (fully), its version, and whether files remain (purge).
    installed: bool,
    installed_version: Option<String>,
    has_files: bool,
    auto: bool,
}

/// Reads `apt-cache policy` output: a block per package, headed `name:` at column 0.
fn parse_policy(text: &str) -> BTreeMap<String, Known> {
    let mut out: BTreeMap<String, Known> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            let name = line.trim_end_matches(':').to_string();
            out.entry(name.clone()).or_default();
            cur = Some(name);
            continue;
        }
        let Some(k) = cur.as_ref().and_then(|c| out.get_mut(c)) else {
            continue;
        };
        let t = line.trim_start();
        if let Some(c) = t.strip_prefix("Candidate: ") {
            k.candidate = (c != "(none)").then(|| c.to_string());
        } else if line.starts_with(" *** ")
            || (line.len() > 5
                && line.starts_with("     ")
                && !line[5..].starts_with(' ')
                && !t.starts_with("Version table"))
        {
            let entry = t.trim_start_matches("*** ");
            let mut parts = entry.split_whitespace();
            if let (Some(v), Some(p)) = (parts.next(), parts.next()) {
                k.versions.push((v.to_string(), p.parse().unwrap_or(0)));
                k.real = true;
            }
        }
    }
    out
}

/// What the query script prints, parsed: per package name, its state.
struct Query {
    pkgs: BTreeMap<String, Known>,
}

impl Query {
    fn get(&self, name: &str) -> Known {
        if let Some(k) = self.pkgs.get(name) {
            return k.clone();
        }
        // apt-cache names native-architecture packages without their `:arch`.
        if let Some((base, _)) = name.split_once(':')
            && let Some(k) = self.pkgs.get(base)
        {
            return k.clone();
        }
        Known::default()
    }
}

/// One script for every name: `apt-cache policy` (candidates and the versions the cache
/// knows), dpkg's state and apt's auto marks.
fn query_script(names: &[String], default_release: Option<&str>) -> String {
    let q = quote::join(names);
    let rel = default_release
        .map(|r| format!(" -o {}", quote::quote(&format!("APT::Default-Release={r}"))))
        .unwrap_or_default();
    format!(
        "{APT_ENV}echo '@@policy'; apt-cache{rel} policy {q} 2>/dev/null; \
         echo '@@dpkg'; na=$(dpkg --print-architecture); \
         dpkg-query -W -f='${{Package}}|${{db:Status-Abbrev}}|${{Version}}|${{Architecture}}\\n' {q} 2>/dev/null | \
         while IFS='|' read -r p s v a; do \
           case $a in \"$na\"|all) echo \"$p|$s|$v\" ;; *) echo \"$p:$a|$s|$v\" ;; esac; done; \
         echo '@@auto'; apt-mark showauto {q} 2>/dev/null; echo '@@end'; true"
    )
}

/// The packages whose versions provide `name` (apt-cache's reverse provides).
async fn providers(cx: &TaskCx<'_>, name: &str) -> Result<Vec<String>, TaskResult> {
    let out = cx
        .sh(format!(
            "{APT_ENV}apt-cache showpkg {} 2>/dev/null | sed -n '/^Reverse Provides:/,$p'",
            quote::quote(name)
        ))
        .await
        .map_err(super::conn_failure)?;
    let mut names: Vec<String> = Vec::new();
    for line in out.stdout_text().lines().skip(1) {
        if let Some(p) = line.split_whitespace().next()
            && !names.iter().any(|n| n == p)
        {
            names.push(p.to_string());
        }
    }
    Ok(names)
}

fn parse_query(text: &str) -> Query {
    let section = |name: &str| -> &str {
        let start = format!("@@{name}\n");
        let Some(i) = text.find(&start) else {
            return "";
        };
        let rest = &text[i + start.len()..];
        let end = rest.find("\n@@").map_or(rest.len(), |e| e + 1);
        &rest[..end]
    };
    let mut pkgs = parse_policy(section("policy"));
    for line in section("dpkg").lines() {
        let mut parts = line.splitn(3, '|');
        let (Some(name), Some(abbrev), Some(version)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let k = pkgs.entry(name.to_string()).or_default();
        // db:Status-Abbrev: desired, current, error flags; current `i` is installed.
        let current = abbrev.chars().nth(1).unwrap_or('n');
        k.installed = current == 'i';
        k.has_files = current != 'n';
        if current != 'n' && current != 'c' {
            k.installed_version = Some(version.to_string());
        }
    }
    for line in section("auto").lines() {
        let name = line.trim();
        if !name.is_empty() {
            pkgs.entry(name.to_string()).or_default().auto = true;
        }
    }
    Query { pkgs }
}

/// Ansible's `package_status`: (installed, installed version matches, the version to
/// install (`Some(None)`: let apt choose), files left).
struct Status {
    installed: bool,
    version_ok: bool,
    installable: Option<Option<String>>,
    has_files: bool,
}

fn best_match(k: &Known, cmp: Option<&str>, version: Option<&str>) -> Option<String> {
    match (cmp, version) {
        // An exact version is pinned above everything: the newest version matching it.
        (Some("="), Some(pat)) => k
            .versions
            .iter()
            .filter(|(v, p)| *p >= 0 && crate::facts::fnmatch(pat, v))
            .map(|(v, _)| v.clone())
            .max_by(|a, b| deb_version_cmp(a, b)),
        _ => k.candidate.clone(),
    }
}

async fn package_status(
    cx: &TaskCx<'_>,
    q: &Query,
    name: &str,
    cmp: Option<&str>,
    version: Option<&str>,
    default_release: Option<&str>,
    installing: bool,
) -> Result<Status, TaskResult> {
    let k = q.get(name);
    if !k.real {
        if !installing {
            return Ok(Status {
                installed: false,
                version_ok: false,
                installable: None,
                has_files: false,
            });
        }
        let provs = providers(cx, name).await?;
        if provs.is_empty() {
            return Err(TaskResult::failed(format!(
                "No package matching '{name}' is available"
            )));
        }
        // A virtual package that one package provides: that package's state, when it is
        // installed.
        if provs.len() == 1 {
            let prov = &provs[0];
            let out = try_q(cx, std::slice::from_ref(prov), default_release).await?;
            let st = Box::pin(package_status(
                cx,
                &out,
                prov,
                cmp,
                version,
                default_release,
                true,
            ))
            .await?;
            if st.installed {
                return Ok(st);
            }
        }
        return Ok(Status {
            installed: false,
            version_ok: false,
            installable: Some(None),
            has_files: false,
        });
    }
    let best = best_match(&k, cmp, version);
    let mut st = Status {
        installed: k.installed,
        version_ok: false,
        installable: None,
        has_files: k.has_files,
    };
    if k.installed {
        let iv = k.installed_version.clone().unwrap_or_default();
        let differs = |b: &String| *b != iv;
        match (cmp, version) {
            (Some("="), Some(pat)) => {
                st.version_ok = crate::facts::fnmatch(pat, &iv);
                if let Some(b) = best.filter(|b| differs(b) && crate::facts::fnmatch(pat, b)) {
                    st.installable = Some(Some(b));
                }
            }
            (Some(">="), Some(min)) => {
                st.version_ok = deb_version_cmp(&iv, min).is_ge();
                if let Some(b) = best.filter(|b| differs(b) && deb_version_cmp(b, min).is_ge()) {
                    st.installable = Some(Some(b));
                }
            }
            _ => {
                st.version_ok = true;
                if let Some(b) = best.filter(differs) {
                    st.installable = Some(Some(b));
                }
            }
        }
    } else {
        st.installable = best.map(Some);
    }
    Ok(st)
}

async fn try_q(
    cx: &TaskCx<'_>,
    names: &[String],
    default_release: Option<&str>,
) -> Result<Query, TaskResult> {
    if names.is_empty() {
        return Ok(Query {
            pkgs: BTreeMap::new(),
        });
    }
    let out = cx
        .sh(query_script(names, default_release))
        .await
        .map_err(super::conn_failure)?;
    Ok(parse_query(&out.stdout_text()))
}

/// Names with globs become the package names the cache has that match them (native
/// architecture only, unless the pattern names one), as Ansible expands them.
async fn expand_globs(cx: &TaskCx<'_>, specs: &[String]) -> Result<Vec<String>, TaskResult> {
    if !specs.iter().any(|s| is_glob(package_split(s).0)) {
        return Ok(specs.to_vec());
    }
    let out = cx
        .sh(format!("{APT_ENV}apt-cache pkgnames"))
        .await
        .map_err(super::conn_failure)?;
    let all = out.stdout_text();
    let mut names: Vec<&str> = all.lines().collect();
    names.sort_unstable();
    let mut expanded = Vec::new();
    for spec in specs {
        let (pattern, _, _) = package_split(spec);
        if !is_glob(pattern) {
            expanded.push(spec.clone());
            continue;
        }
        let arch_ok = |n: &&&str| pattern.contains(':') || !n.contains(':');
        let matches: Vec<String> = names
            .iter()
            .filter(arch_ok)
            .filter(|n| crate::facts::fnmatch(pattern, n))
            .map(|n| n.to_string())
            .collect();
        if matches.is_empty() {
            return Err(TaskResult::failed(format!(
                "No package(s) matching '{pattern}' available"
            )));
        }
        expanded.extend(matches);
    }
    Ok(expanded)
}

struct InstallOpts<'a> {
    upgrade: bool,
    build_dep: bool,
    fixed: bool,
    default_release: Option<&'a str>,
    install_recommends: Option<bool>,
    force: bool,
    autoremove: bool,
    fail_on_autoremove: bool,
    only_upgrade: bool,
    allow_unauthenticated: bool,
    allow_downgrade: bool,
    allow_change_held: bool,
}

async fn install(
    cx: &TaskCx<'_>,
    c: &Common,
    specs: &[String],
    o: &InstallOpts<'_>,
) -> Result<TaskResult, TaskResult> {
    let specs = expand_globs(cx, specs).await?;
    // Names that came from globs but have no versions are not packages for Ansible.
    let names: Vec<String> = specs
        .iter()
        .map(|s| package_split(s).0.to_string())
        .collect();
    let q = if o.build_dep {
        Query {
            pkgs: BTreeMap::new(),
        }
    } else {
        try_q(cx, &names, o.default_release).await?
    };
    let mut pkg_list: Vec<String> = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    for spec in &specs {
        if o.build_dep {
            pkg_list.push(spec.clone());
            continue;
        }
        let (name, cmp, version) = package_split(spec);
        let st = package_status(cx, &q, name, cmp, version, o.default_release, true).await?;
        if !st.installed && o.only_upgrade {
            continue;
        }
        if !st.version_ok && st.installable.is_none() {
            return Err(TaskResult::failed(format!(
                "no available installation candidate for {spec}"
            )));
        }
        let before = pkg_list.len();
        match &st.installable {
            Some(inst) if (!st.installed && !o.only_upgrade) || o.upgrade || !st.version_ok => {
                pkg_list.push(match (inst, version) {
                    (Some(v), _) => format!("{name}={v}"),
                    (None, Some(v)) => format!("{name}={v}"),
                    (None, None) => name.to_string(),
                });
            }
            Some(_) if st.version_ok && cmp == Some("=") => {
                pkg_list.push(format!("{name}={}", version.unwrap_or_default()));
            }
            _ => {}
        }
        if pkg_list.len() > before {
            listed.push(name.to_string());
        }
    }
    let result = if pkg_list.is_empty() {
        TaskResult::changed(false)
    } else {
        let mut w = c.apt_get();
        w.insert(1, "-y".into());
        if o.only_upgrade {
            w.push("--only-upgrade".into());
        }
        if o.fixed {
            w.push("--fix-broken".into());
        }
        if o.force {
            w.push("--force-yes".into());
        }
        if o.autoremove && !o.build_dep {
            w.push("--auto-remove".into());
        }
        if o.fail_on_autoremove {
            w.push("--no-remove".into());
        }
        if c.check {
            w.push("--simulate".into());
        }
        w.push(if o.build_dep { "build-dep" } else { "install" }.into());
        w.extend(pkg_list.iter().cloned());
        if let Some(rel) = o.default_release {
            w.push("-t".into());
            w.push(rel.to_string());
        }
        match o.install_recommends {
            Some(false) => w.extend(["-o".into(), "APT::Install-Recommends=no".into()]),
            Some(true) => w.extend(["-o".into(), "APT::Install-Recommends=yes".into()]),
            None => {}
        }
        if o.allow_unauthenticated {
            w.push("--allow-unauthenticated".into());
        }
        if o.allow_downgrade {
            w.push("--allow-downgrades".into());
        }
        if o.allow_change_held {
            w.push("--allow-change-held-packages".into());
        }
        let out = c.run(cx, &w).await?;
        if out.rc != 0 {
            return Err(failed_with(
                format!("'{}' failed: {}", shown(&w), out.stderr_text()),
                &out,
            ));
        }
        let changed = !o.build_dep || !out.stdout_text().contains(APT_GET_ZERO);
        with_output(TaskResult::changed(changed), &out, c.diff)
    };
    // Ansible marks every named package as manually installed; apt-get install has done
    // that for the ones it was given, so only the others still marked automatic remain.
    if !o.build_dep && !c.check {
        let mark: Vec<String> = names
            .iter()
            .filter(|n| !listed.contains(n) && q.get(n).auto)
            .cloned()
            .collect();
        if !mark.is_empty() {
            let mut w = vec!["apt-mark".to_string(), "manual".to_string()];
            w.extend(mark);
            let out = cx
                .sh(format!("{APT_ENV}{}", quote::join(&w)))
                .await
                .map_err(super::conn_failure)?;
            if out.rc != 0 {
                return Err(failed_with(
                    format!("'{}' failed: {}", shown(&w), out.stderr_text()),
                    &out,
                ));
            }
        }
    }
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
async fn remove(
    cx: &TaskCx<'_>,
    c: &Common,
    specs: &[String],
    purge: bool,
    force: bool,
    autoremove: bool,
    allow_change_held: bool,
) -> Result<TaskResult, TaskResult> {
    let specs = expand_globs(cx, specs).await?;
    let names: Vec<String> = specs
        .iter()
        .map(|s| package_split(s).0.to_string())
        .collect();
    let q = try_q(cx, &names, None).await?;
    let mut pkg_list = Vec::new();
    for spec in &specs {
        let (name, cmp, version) = package_split(spec);
        let st = package_status(cx, &q, name, cmp, version, None, false).await?;
        if st.version_ok || (st.has_files && purge) {
            pkg_list.push(spec.clone());
        }
    }
    if pkg_list.is_empty() {
        return Ok(TaskResult::changed(false));
    }
    let mut w = c.apt_get();
    w.insert(1, "-q".into());
    w.insert(2, "-y".into());
    if purge {
        w.push("--purge".into());
    }
    if force {
        w.push("--force-yes".into());
    }
    if autoremove {
        w.push("--auto-remove".into());
    }
    if c.check {
        w.push("--simulate".into());
    }
    if allow_change_held {
        w.push("--allow-change-held-packages".into());
    }
    w.push("remove".into());
    w.extend(pkg_list.iter().cloned());
    let out = c.run(cx, &w).await?;
    if out.rc != 0 {
        let quoted: Vec<String> = pkg_list.iter().map(|p| format!("'{p}'")).collect();
        return Err(failed_with(
            format!(
                "'apt-get remove {}' failed: {}",
                quoted.join(" "),
                out.stderr_text()
            ),
            &out,
        ));
    }
    Ok(with_output(TaskResult::changed(true), &out, c.diff))
}

async fn cleanup(
    cx: &TaskCx<'_>,
    c: &Common,
    operation: &str,
    purge: bool,
    force: bool,
) -> Result<TaskResult, TaskResult> {
    let mut w = c.apt_get();
    w.insert(1, "-y".into());
    if purge {
        w.push("--purge".into());
    }
    if force {
        w.push("--force-yes".into());
    }
    w.push(operation.into());
    if c.check {
        w.push("--simulate".into());
    }
    let out = c.run(cx, &w).await?;
    if out.rc != 0 {
        return Err(failed_with(
            format!("'apt-get {operation}' failed: {}", out.stderr_text()),
            &out,
        ));
    }
    let marker = if operation == "autoremove" {
        "The following packages will be REMOVED"
    } else {
        "Del "
    };
    let changed = out.stdout_text().contains(marker);
    Ok(with_output(TaskResult::changed(changed), &out, c.diff))
}

#[allow(clippy::too_many_arguments)]
async fn upgrade(
    cx: &TaskCx<'_>,
    c: &Common,
    mode: &str,
    use_apt_get: bool,
    force: bool,
    default_release: Option<&str>,
    autoremove: bool,
    fail_on_autoremove: bool,
    allow_unauthenticated: bool,
    allow_downgrade: bool,
) -> Result<TaskResult, TaskResult> {
    let mut warnings = Vec::new();
    let (aptitude, command): (bool, Vec<&str>) = match mode {
        "dist" => (false, vec!["dist-upgrade"]),
        "full" if use_apt_get => (false, vec!["dist-upgrade"]),
        "full" => (true, vec!["full-upgrade"]),
        _ if use_apt_get => (false, vec!["upgrade", "--with-new-pkgs"]),
        _ => (true, vec!["safe-upgrade"]),
    };
    let mut w = if aptitude {
        let mut w = vec!["aptitude".to_string(), "-y".to_string()];
        for o in &c.dpkg_opts {
            w.push("-o".into());
            w.push(format!("Dpkg::Options::=--{o}"));
        }
        w.push("-o".into());
        w.push(format!("DPkg::Lock::Timeout={}", c.lock_timeout));
        w
    } else {
        let mut w = c.apt_get();
        w.insert(1, "-y".into());
        w
    };
    if force {
        if aptitude {
            w.extend(["--assume-yes".into(), "--allow-untrusted".into()]);
        } else {
            w.push("--force-yes".into());
        }
    }
    if fail_on_autoremove {
        if aptitude {
            warnings.push(
                "APTITUDE does not support '--no-remove', ignoring the 'fail_on_autoremove' parameter."
                    .to_string(),
            );
        } else {
            w.push("--no-remove".into());
        }
    }
    if allow_unauthenticated {
        w.push("--allow-unauthenticated".into());
    }
    if allow_downgrade {
        if aptitude {
            warnings.push(
                "APTITUDE does not support '--allow-downgrades', ignoring the 'allow_downgrade' parameter."
                    .to_string(),
            );
        } else {
            w.push("--allow-downgrades".into());
        }
    }
    if c.check {
        w.push("--simulate".into());
    }
    w.extend(command.iter().map(|s| s.to_string()));
    if autoremove && !aptitude {
        w.push("--auto-remove".into());
    }
    if let Some(rel) = default_release {
        w.push("-t".into());
        w.push(rel.to_string());
    }
    // aptitude asks before some upgrades; with no terminal it reads end-of-file and stops.
    let mut script = c.script(&w);
    if aptitude {
        script.push_str(" </dev/null");
    }
    let out = cx.sh(script).await.map_err(super::conn_failure)?;
    let stdout = out.stdout_text();
    let tool = if aptitude { "aptitude" } else { "apt-get" };
    if out.rc != 0 {
        let mut r = TaskResult::failed(format!(
            "'{tool} {}' failed: {}",
            command.join(" "),
            out.stderr_text()
        ));
        r.stdout = Some(stdout);
        r.rc = Some(out.rc);
        return Err(r);
    }
    let zero = if aptitude {
        APTITUDE_ZERO
    } else {
        APT_GET_ZERO
    };
    let changed = !stdout.contains(zero);
    let mut r = TaskResult::changed(changed).msg(stdout.clone());
    if changed && c.diff {
        r.diff_prepared = Some(parse_diff(&stdout));
    }
    r.stdout = Some(stdout);
    r.stderr = Some(out.stderr_text());
    if !warnings.is_empty() {
        r = r.with(
            "warnings",
            Value::Seq(warnings.into_iter().map(Value::str).collect()),
        );
    }
    Ok(r)
}

/// `deb`: local files (or URLs, downloaded on the host) installed with apt-get, which also
/// brings their dependencies, unless the same version is already installed.
async fn install_deb(
    cx: &TaskCx<'_>,
    c: &Common,
    args: &Args,
    debs: &str,
) -> Result<TaskResult, TaskResult> {
    let mut files = Vec::new();
    let mut tmp = Vec::new();
    for (i, d) in debs.split(',').enumerate() {
        if d.contains("://") {
            // Downloaded even in check mode, as Ansible's fetch_file does.
            let script = format!(
                "d=$(mktemp -d) || exit 1; f=\"$d\"/{}; {} && echo \"$f\"",
                quote::quote(&format!("download{i}.deb")),
                download_script(d, "\"$f\"", true)
            );
            let out = cx.sh(script).await.map_err(super::conn_failure)?;
            if out.rc != 0 {
                return Err(TaskResult::failed(format!(
                    "Failure downloading {d}, {}",
                    out.stderr_text().trim()
                )));
            }
            let path = out.stdout_text().trim().to_string();
            tmp.push(path.clone());
            files.push(path);
        } else if d.starts_with('/') || d.starts_with("./") || d.starts_with("../") {
            files.push(d.to_string());
        } else {
            files.push(format!("./{d}"));
        }
    }
    let r = install_deb_files(cx, c, args, &files).await;
    if !tmp.is_empty() {
        let dirs: Vec<String> = tmp
            .iter()
            .map(|f| crate::connection::parent_dir(f))
            .collect();
        let _ = cx.sh(format!("rm -rf {}", quote::join(&dirs))).await;
    }
    r
}

async fn install_deb_files(
    cx: &TaskCx<'_>,
    c: &Common,
    args: &Args,
    files: &[String],
) -> Result<TaskResult, TaskResult> {
    // Each file's package, version and architecture, and what dpkg has installed of it.
    let mut script = String::from(APT_ENV);
    script.push_str("foreign=$(dpkg --print-foreign-architectures); ");
    for f in files {
        let q = quote::quote(f);
        script.push_str(&format!(
            "if [ ! -f {q} ]; then echo \"@@missing\"; else \
             p=$(dpkg-deb --field {q} Package) && v=$(dpkg-deb --field {q} Version) && a=$(dpkg-deb --field {q} Architecture) || exit 1; \
             k=$p; [ -n \"$foreign\" ] && k=$p:$a; \
             echo \"@@$p|$v|$a|$(dpkg-query -W -f='${{db:Status-Abbrev}}|${{Version}}' \"$k\" 2>/dev/null)\"; fi; "
        ));
    }
    let out = cx.sh(script).await.map_err(super::conn_failure)?;
    if out.rc != 0 {
        return Err(failed_with(
            format!("Unable to install package: {}", out.stderr_text().trim()),
            &out,
        ));
    }
    let text = out.stdout_text();
    let infos: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("@@")).collect();
    let force = args.bool("force");
    let allow_downgrade = args.bool("allow_downgrade");
    let mut install = Vec::new();
    for (f, info) in files.iter().zip(infos) {
        if info == "missing" {
            return Err(TaskResult::failed(format!(
                "Unable to install package: E:Could not open file {f} - open (2: No such file or directory)"
            )));
        }
        let parts: Vec<&str> = info.split('|').collect();
        let version = parts.get(1).copied().unwrap_or("");
        let installed = parts.get(3).and_then(|a| a.chars().nth(1)) == Some('i');
        let iv = parts.get(4).copied().unwrap_or("");
        if installed {
            match deb_version_cmp(version, iv) {
                std::cmp::Ordering::Equal => continue,
                std::cmp::Ordering::Less if !(force || allow_downgrade) => {
                    return Err(TaskResult::failed("A later version is already installed"));
                }
                _ => {}
            }
        }
        install.push(f.clone());
    }
    if install.is_empty() {
        let mut r = TaskResult::changed(false);
        r.stdout = Some(String::new());
        r.stderr = Some(String::new());
        return Ok(r);
    }
    let mut w = c.apt_get();
    w.insert(1, "-y".into());
    if force {
        w.push("--force-yes".into());
    }
    if args.bool("fail_on_autoremove") {
        w.push("--no-remove".into());
    }
    if c.check {
        w.push("--simulate".into());
    }
    w.push("install".into());
    w.extend(install.iter().cloned());
    match args.get("install_recommends") {
        Some(Value::Bool(false)) => w.extend(["-o".into(), "APT::Install-Recommends=no".into()]),
        Some(Value::Bool(true)) => w.extend(["-o".into(), "APT::Install-Recommends=yes".into()]),
        _ => {}
    }
    if args.bool("allow_unauthenticated") {
        w.push("--allow-unauthenticated".into());
    }
    if allow_downgrade || force {
        w.push("--allow-downgrades".into());
    }
    if args.bool("allow_change_held_packages") {
        w.push("--allow-change-held-packages".into());
    }
    let out = c.run(cx, &w).await?;
    if out.rc != 0 {
        return Err(failed_with(format!("{} failed", shown(&w)), &out));
    }
    Ok(with_output(TaskResult::changed(true), &out, c.diff))
}

fn cache_keys(mut r: TaskResult, updated: bool, time: i128) -> TaskResult {
    r.data
        .insert(Value::str("cache_updated"), Value::Bool(updated));
    r.data
        .insert(Value::str("cache_update_time"), Value::Int(time));
    r
}

pub async fn run_apt(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, TaskResult> {
    let state = args.str("state").unwrap_or_else(|| "present".into());
    let c = Common {
        dpkg_opts: args
            .str("dpkg_options")
            .unwrap_or_else(|| DPKG_OPTIONS.into())
            .split(',')
            .map(str::to_string)
            .collect(),
        lock_timeout: int(args, "lock_timeout", 60),
        policy_rc_d: match args.get("policy_rc_d") {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        },
        check: cx.check_mode,
        diff: cx.diff_mode,
    };
    let packages: Option<Vec<String>> = args.get("package").map(|_| {
        args.list("package")
            .iter()
            .map(crate::yaml::python_str)
            .collect()
    });
    let has_packages = packages.as_ref().is_some_and(|p| !p.is_empty());
    let deb = args.str("deb");
    let mut upgrade_mode = args.str("upgrade").filter(|u| u != "no");
    let default_release = args.str("default_release");
    let force = args.bool("force");
    let purge = args.bool("purge");
    let autoremove = args.bool("autoremove");
    let fail_on_autoremove = args.bool("fail_on_autoremove");
    let allow_unauthenticated = args.bool("allow_unauthenticated");
    let allow_downgrade = args.bool("allow_downgrade");
    let allow_change_held = args.bool("allow_change_held_packages");

    // What the host has: apt-get at all, aptitude, the cache's age and the time.
    let probe = cx
        .sh(format!(
            "command -v apt-get >/dev/null 2>&1 && echo apt-get; \
             command -v aptitude >/dev/null 2>&1 && echo aptitude; \
             echo \"mtime $({CACHE_MTIME})\"; echo \"now $(date +%s)\""
        ))
        .await
        .map_err(super::conn_failure)?;
    let ptext = probe.stdout_text();
    if !ptext.lines().any(|l| l == "apt-get") {
        return Err(TaskResult::failed(
            "Failed to find required executable \"apt-get\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ));
    }
    let has_aptitude = ptext.lines().any(|l| l == "aptitude");
    let field = |k: &str| -> i128 {
        ptext
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut cache_time = field("mtime ");
    let now = field("now ");

    let mut warnings: Vec<String> = Vec::new();
    if args.bool("clean") {
        let out = cx
            .sh(format!("{APT_ENV}apt-get clean"))
            .await
            .map_err(super::conn_failure)?;
        if out.rc != 0 || !out.stderr.is_empty() {
            let mut r = TaskResult::failed(if out.rc != 0 {
                "apt-get clean failed".to_string()
            } else {
                format!("apt-get clean failed: {}", out.stderr_text())
            });
            r.stdout = Some(out.stdout_text());
            r.rc = Some(out.rc);
            return Err(r);
        }
        if !has_packages && upgrade_mode.is_none() && deb.is_none() {
            let stdout = out.stdout_text();
            let mut r = TaskResult::changed(true).msg(stdout.clone());
            if c.diff {
                r.diff_prepared = Some(parse_diff(&stdout));
            }
            r.stdout = Some(stdout);
            r.stderr = Some(out.stderr_text());
            return Ok(r);
        }
    }

    let use_apt_get = args.bool("force_apt_get") || !has_aptitude;
    let mut updated = false;
    let valid_time = int(args, "cache_valid_time", 0);
    if args.bool("update_cache") || valid_time != 0 {
        if cache_time + valid_time < now {
            if !c.check {
                warnings.extend(
                    apt_update(
                        cx,
                        int(args, "update_cache_retries", 5),
                        int(args, "update_cache_retry_max_delay", 12),
                        c.lock_timeout,
                    )
                    .await?,
                );
            }
            let after = cx.sh(CACHE_MTIME).await.map_err(super::conn_failure)?;
            let t = after.stdout_text().trim().parse().unwrap_or(0);
            updated = c.check || t != cache_time;
            cache_time = t;
        }
        if !has_packages && upgrade_mode.is_none() && deb.is_none() {
            return Ok(with_warnings(
                cache_keys(TaskResult::changed(updated), updated, cache_time),
                warnings,
            ));
        }
    }

    if let Some(mode) = upgrade_mode.take() {
        let r = upgrade(
            cx,
            &c,
            &mode,
            use_apt_get,
            force,
            default_release.as_deref(),
            autoremove,
            fail_on_autoremove,
            allow_unauthenticated,
            allow_downgrade,
        )
        .await?;
        return Ok(with_warnings(r, warnings));
    }

    if let Some(d) = &deb {
        if state != "present" {
            return Err(TaskResult::failed("deb only supports state=present"));
        }
        let r = install_deb(cx, &c, args, d).await?;
        return Ok(with_warnings(r, warnings));
    }

    let unfiltered = packages.unwrap_or_default();
    let specs: Vec<String> = unfiltered
        .iter()
        .filter(|p| *p != "*")
        .map(|p| p.trim().to_string())
        .collect();
    let all_installed = unfiltered.iter().any(|p| p == "*");
    if state == "latest" && all_installed {
        if !specs.is_empty() {
            return Err(TaskResult::failed(
                "unable to install additional packages when upgrading all installed packages",
            ));
        }
        let r = upgrade(
            cx,
            &c,
            "yes",
            use_apt_get,
            force,
            default_release.as_deref(),
            autoremove,
            fail_on_autoremove,
            allow_unauthenticated,
            allow_downgrade,
        )
        .await?;
        return Ok(with_warnings(r, warnings));
    }
    if let Some(bad) = specs.iter().find(|p| p.matches('=').count() > 1) {
        return Err(TaskResult::failed(format!("invalid package spec: {bad}")));
    }
    if specs.is_empty() {
        if args.bool("autoclean") {
            let r = cleanup(cx, &c, "autoclean", purge, force).await?;
            return Ok(with_warnings(r, warnings));
        }
        if autoremove {
            let r = cleanup(cx, &c, "autoremove", purge, force).await?;
            return Ok(with_warnings(r, warnings));
        }
    }
    let r = if state == "absent" {
        remove(cx, &c, &specs, purge, force, autoremove, allow_change_held).await?
    } else {
        let install_recommends = match args.get("install_recommends") {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        };
        let opts = InstallOpts {
            upgrade: state == "latest",
            build_dep: state == "build-dep",
            fixed: state == "fixed",
            default_release: default_release.as_deref(),
            install_recommends,
            force,
            autoremove,
            fail_on_autoremove,
            only_upgrade: args.bool("only_upgrade"),
            allow_unauthenticated,
            allow_downgrade,
            allow_change_held,
        };
        let r = install(cx, &c, &specs, &opts).await?;
        cache_keys(r, updated, cache_time)
    };
    Ok(with_warnings(r, warnings))
}

fn int(args: &Args, key: &str, default: i128) -> i128 {
    match args.get(key) {
        Some(Value::Int(i)) => *i,
        _ => default,
    }
}

fn with_warnings(r: TaskResult, warnings: Vec<String>) -> TaskResult {
    if warnings.is_empty() {
        return r;
    }
    r.with(
        "warnings",
        Value::Seq(warnings.into_iter().map(Value::str).collect()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_as_ansible() {
        assert_eq!(package_split("hello"), ("hello", None, None));
        assert_eq!(
            package_split("hello=2.10*"),
            ("hello", Some("="), Some("2.10*"))
        );
        assert_eq!(
            package_split("hello>=2.0"),
            ("hello", Some(">="), Some("2.0"))
        );
        assert!(is_glob("hell*") && is_glob("he[l]lo") && !is_glob("hello"));
    }

    #[test]
    fn policy_blocks() {
        let text = "hello:\n  Installed: 2.10-2\n  Candidate: 2.10-3\n  Version table:\n     2.10-3 500\n        500 http://x bookworm/main amd64 Packages\n *** 2.10-2 100\n        100 /var/lib/dpkg/status\ntree:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n";
        let p = parse_policy(text);
        let h = &p["hello"];
        assert_eq!(h.candidate.as_deref(), Some("2.10-3"));
        assert_eq!(
            h.versions,
            vec![("2.10-3".to_string(), 500), ("2.10-2".to_string(), 100)]
        );
        assert!(h.real);
        assert!(!p["tree"].real && p["tree"].candidate.is_none());
        let k = h.clone();
        assert_eq!(
            best_match(&k, Some("="), Some("2.10-2*")).as_deref(),
            Some("2.10-2")
        );
        assert_eq!(
            best_match(&k, Some("="), Some("2.10*")).as_deref(),
            Some("2.10-3")
        );
        assert_eq!(best_match(&k, Some("="), Some("3*")), None);
    }

    #[test]
    fn query_sections() {
        let text = "@@policy\nhello:\n  Installed: 2.10-3\n  Candidate: 2.10-3\n  Version table:\n *** 2.10-3 500\n@@dpkg\nhello|ii |2.10-3\ncowsay|rc |3.03+dfsg2-8\n@@auto\nhello\n@@end\n";
        let q = parse_query(text);
        let h = q.get("hello:amd64");
        assert!(h.installed && h.auto && h.real);
        assert_eq!(h.installed_version.as_deref(), Some("2.10-3"));
        let c = q.get("cowsay");
        assert!(!c.installed && c.has_files && c.installed_version.is_none());
    }

    #[test]
    fn prepared_diff_is_the_middle_of_apt_output() {
        let out = "Reading package lists...\nBuilding dependency tree...\nReading state information...\nThe following NEW packages will be installed:\n  hello\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\nInst hello\n";
        assert_eq!(
            parse_diff(out),
            "The following NEW packages will be installed:\n  hello\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded."
        );
    }
}
