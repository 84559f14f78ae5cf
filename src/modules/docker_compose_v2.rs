//! `docker_compose_v2` (community.docker): a Compose project brought up, stopped, restarted or
//! taken down with `docker compose` (the Compose v2 CLI plugin) on the target, as
//! community.docker runs it: the same command lines, `--dry-run` in check mode, and changes
//! read from the events Compose prints on stderr (plain text before Compose 2.29, JSON since).

use super::docker_common::{self as dc, Docker};
use super::docker_image::docker_sh;
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use regex::Regex;
use serde_json::Value as J;
use std::sync::LazyLock;

pub struct DockerComposeV2;

const MINIMUM_VERSION: &str = "2.18.0";
const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

static SPEC: LazyLock<ArgSpec> = LazyLock::new(|| {
    dc::spec(
        &[
            Opt::new("project_src", Kind::Path),
            Opt::new("project_name", Kind::Str),
            Opt::new("files", Kind::List).elements(Kind::Path),
            Opt::new("definition", Kind::Dict).requires(&["project_name"]),
            Opt::new("env_files", Kind::List).elements(Kind::Path),
            Opt::new("profiles", Kind::List).elements(Kind::Str),
            Opt::new("check_files_existing", Kind::Bool).default("true"),
            Opt::new("state", Kind::Str).default("present").choices(&[
                "absent",
                "stopped",
                "restarted",
                "present",
            ]),
            Opt::new("dependencies", Kind::Bool).default("true"),
            Opt::new("pull", Kind::Str)
                .default("policy")
                .choices(&["always", "missing", "never", "policy"]),
            Opt::new("build", Kind::Str)
                .default("policy")
                .choices(&["always", "never", "policy"]),
            Opt::new("recreate", Kind::Str)
                .default("auto")
                .choices(&["always", "never", "auto"]),
            Opt::new("renew_anon_volumes", Kind::Bool).default("false"),
            Opt::new("remove_images", Kind::Str).choices(&["all", "local"]),
            Opt::new("remove_volumes", Kind::Bool).default("false"),
            Opt::new("remove_orphans", Kind::Bool).default("false"),
            Opt::new("timeout", Kind::Int),
            Opt::new("services", Kind::List).elements(Kind::Str),
            Opt::new("scale", Kind::Dict),
            Opt::new("wait", Kind::Bool).default("false"),
            Opt::new("wait_timeout", Kind::Int),
            Opt::new("ignore_build_events", Kind::Bool).default("true"),
            Opt::new("assume_yes", Kind::Bool).default("false"),
        ],
        true,
        // community.docker's CLI modules refuse a host and a context together, before the
        // module's own rules.
        &[
            &["docker_host", "cli_context"],
            &["definition", "project_src"],
            &["definition", "files"],
        ],
        &[&["definition", "project_src"]],
    )
});

#[async_trait]
impl Module for DockerComposeV2 {
    fn name(&self) -> &'static str {
        "docker_compose_v2"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        dc::COLLECTIONS
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        match run(cx, &args).await {
            Ok(r) => r,
            Err(msg) => TaskResult::failed(msg),
        }
    }
}

// ---- versions ------------------------------------------------------------------------------------

/// A version as numbers (`2.26.1`), compared part by part as LooseVersion does for them.
fn version(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn at_least(v: &[u64], min: &str) -> bool {
    v >= version(min).as_slice()
}

// ---- events --------------------------------------------------------------------------------------

const STATUS_DONE: &[&str] = &[
    "Started",
    "Healthy",
    "Exited",
    "Restarted",
    "Running",
    "Created",
    "Stopped",
    "Killed",
    "Removed",
    "Recreated",
    "Pulled",
    "Built",
];
const STATUS_WORKING: &[&str] = &[
    "Creating",
    "Starting",
    "Restarting",
    "Stopping",
    "Killing",
    "Removing",
    "Recreate",
    "Pulling",
    "Building",
];
const STATUS_PULL: &[&str] = &["Pulled", "Pulling"];
const STATUS_BUILD: &[&str] = &["Built", "Building"];
const PULL_PROGRESS_DONE: &[&str] = &["Already exists", "Download complete", "Pull complete"];
const PULL_PROGRESS_WORKING_OLD: &[&str] = &[
    "Pulling fs layer",
    "Waiting",
    "Downloading",
    "Verifying Checksum",
    "Extracting",
];

fn is_status(s: &str) -> bool {
    STATUS_DONE.contains(&s) || STATUS_WORKING.contains(&s) || s == "Error" || s == "Waiting"
}

fn is_status_or_warning(s: &str) -> bool {
    is_status(s) || s == "Warning"
}

fn pull_working(s: &str) -> bool {
    PULL_PROGRESS_WORKING_OLD.contains(&s) || s == "Working"
}

/// One thing Compose reported: what, which, its status, a message.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    kind: &'static str,
    id: Option<String>,
    status: Option<String>,
    msg: Option<String>,
}

fn ev(kind: &'static str, id: Option<&str>, status: Option<&str>, msg: Option<&str>) -> Event {
    Event {
        kind,
        id: id.map(str::to_string),
        status: status.map(str::to_string),
        msg: msg.map(str::to_string),
    }
}

fn kind_of(resource: &str) -> Option<&'static str> {
    Some(match resource {
        "Network" => "network",
        "Image" => "image",
        "Volume" => "volume",
        "Container" => "container",
        "Service" => "service",
        _ => return None,
    })
}

struct Patterns {
    resource: Regex,
    pull: Regex,
    progress: Regex,
    error: Regex,
    warning: Regex,
    cont: Regex,
    skipped: Regex,
    build_start: Regex,
    build_progress: Regex,
}

static RE: LazyLock<Patterns> = LazyLock::new(|| {
    let r = |s: &str| Regex::new(s).expect("a valid pattern");
    Patterns {
        resource: r(r"^\s*(Network|Image|Volume|Container)\s+(\S+)\s+(\S(?:|.*\S))\s*$"),
        pull: r(r"^\s*(\S+)\s+(Pulled|Pulling)\s*$"),
        progress: r(
            r"^\s*(\S+)\s+(Already exists|Download complete|Downloading|Extracting|Pull complete|Pulling fs layer|Verifying Checksum|Waiting)\s*(?:|\s\[[^]]+\]\s+\S+\s*|\s+[0-9.kKmMgGbB]+/[0-9.kKmMgGbB]+\s*)$",
        ),
        error: r(r"^\s*(\S+)\s+(Error)\s*(\S.*\S)?$"),
        warning: r(r"^\s*(\S+)\s+(Warning)\s*(\S.*\S)?$"),
        cont: r(r"^\s*(\S+)\s+-\s*(\S(?:|.*\S))$"),
        skipped: r(r"^\s*(\S+)\s+Skipped(?: -\s*(\S(?:|.*\S))|\s*)$"),
        build_start: r(r"^\s*build service\s+(\S+)$"),
        build_progress: r(r"^\s*==>\s+(.*)$"),
    }
});

/// One line of plain progress output: an event, or a line that was understood without one
/// (`(None, true)`, e.g. a warning, which is passed to `warn`).
fn extract_event(line: &str, warn: &mut Vec<String>) -> (Option<Event>, bool) {
    let re = &*RE;
    if let Some(c) = re.resource.captures(line) {
        let status = &c[3];
        let (status, msg) = if is_status(status) {
            (Some(status), None)
        } else {
            (None, Some(status))
        };
        return (
            Some(ev(
                kind_of(&c[1]).unwrap_or("unknown"),
                Some(&c[2]),
                status,
                msg,
            )),
            true,
        );
    }
    if let Some(c) = re.pull.captures(line) {
        return (Some(ev("service", Some(&c[1]), Some(&c[2]), None)), true);
    }
    if let Some(c) = re.error.captures(line) {
        return (
            Some(ev(
                "unknown",
                Some(&c[1]),
                Some(&c[2]),
                c.get(3).map(|m| m.as_str()),
            )),
            true,
        );
    }
    if let Some(c) = re.warning.captures(line) {
        warn.push(match c.get(3) {
            Some(m) => format!("{}: {}", &c[1], m.as_str()),
            None => format!("Unspecified warning for {}", &c[1]),
        });
        return (None, true);
    }
    if let Some(c) = re.progress.captures(line) {
        return (
            Some(ev("image-layer", Some(&c[1]), Some(&c[2]), None)),
            true,
        );
    }
    if let Some(c) = re.skipped.captures(line) {
        return (
            Some(ev(
                "unknown",
                Some(&c[1]),
                Some("Skipped"),
                c.get(2).map(|m| m.as_str()),
            )),
            true,
        );
    }
    if let Some(c) = re.build_start.captures(line) {
        return (
            Some(ev("service", Some(&c[1]), Some("Building"), None)),
            true,
        );
    }
    (None, false)
}

/// A logrus line (`time=... level=warning msg="..."`): its level and message.
fn logfmt(line: &str) -> Option<(String, String)> {
    let mut level = None;
    let mut msg = None;
    let mut time = false;
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let e = end?;
            (out, &q[e + 1..])
        } else {
            let e = after.find(' ').unwrap_or(after.len());
            (after[..e].to_string(), &after[e..])
        };
        match key {
            "time" => time = true,
            "level" => level = Some(value),
            "msg" => msg = Some(value),
            _ => {}
        }
        rest = next.trim_start();
    }
    (time).then_some(())?;
    Some((level?, msg?))
}

const DRY_RUN: &str = "DRY-RUN MODE -";

/// community.docker's parser of Compose's plain progress output.
fn parse_events(
    stderr: &str,
    dry_run: bool,
    nonzero_rc: bool,
    warn: &mut Vec<String>,
) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    let mut error_index: Option<usize> = None;
    let lines: Vec<&str> = stderr.lines().collect();
    for (index, raw) in lines.iter().enumerate() {
        let mut line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if dry_run && let Some(rest) = line.strip_prefix(DRY_RUN) {
            line = rest.trim_start();
        }
        let (event, parsed) = extract_event(line, warn);
        if let Some(e) = event {
            error_index = (e.status.as_deref() == Some("Error")).then_some(events.len());
            events.push(e);
            continue;
        }
        if parsed || RE.build_progress.is_match(line) {
            continue;
        }
        if let Some(c) = RE.cont.captures(line)
            && let Some(i) = events.iter().rposition(|e| e.id.as_deref() == Some(&c[1]))
        {
            let e = &mut events[i];
            e.msg = Some(match &e.msg {
                Some(m) => format!("{m}\n{}", &c[2]),
                None => c[2].to_string(),
            });
        }
        if let Some((level, msg)) = logfmt(line) {
            if level == "warning" {
                warn.push(msg);
            }
            continue;
        }
        if let Some(i) = error_index {
            let e = &mut events[i];
            e.msg = Some(match &e.msg {
                Some(m) => format!("{m}\n{line}"),
                None => line.to_string(),
            });
            continue;
        }
        if line.starts_with("Error ")
            || lines.len() == 1
            || (nonzero_rc && index == lines.len() - 1)
        {
            error_index = Some(events.len());
            events.push(ev("unknown", Some(""), Some("Error"), Some(line)));
            continue;
        }
        warn.push(format!(
            "Cannot parse event from line: {}",
            crate::yaml::repr(&Value::str(line))
        ));
    }
    events
}

/// community.docker's parser of Compose's JSON progress output (Compose 2.29 and later).
fn parse_json_events(stderr: &str, warn: &mut Vec<String>) -> Vec<Event> {
    let mut events = Vec::new();
    for raw in stderr.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if !(line.starts_with('{') && line.ends_with('}')) {
            if let Some(w) = line.strip_prefix("Warning: ") {
                events.push(ev("unknown", None, Some("Warning"), Some(w)));
            } else {
                warn.push(format!(
                    "Cannot parse event from non-JSON line: {}",
                    crate::yaml::repr(&Value::str(line))
                ));
            }
            continue;
        }
        let Ok(data) = serde_json::from_str::<J>(line) else {
            warn.push(format!(
                "Cannot parse event from line: {}",
                crate::yaml::repr(&Value::str(line))
            ));
            continue;
        };
        let s = |k: &str| data.get(k).and_then(J::as_str).map(str::to_string);
        if data.get("tail").and_then(J::as_bool) == Some(true) {
            let msg = s("text");
            let (status, msg) = match msg {
                Some(m) if m.to_lowercase().starts_with("warning:") => (
                    "Warning",
                    Some(m["warning:".len()..].trim_start().to_string()),
                ),
                m => ("Error", m),
            };
            events.push(ev("unknown", None, Some(status), msg.as_deref()));
            continue;
        }
        if data.get("error").and_then(J::as_bool) == Some(true) {
            events.push(ev(
                "unknown",
                s("id").as_deref(),
                Some("Error"),
                s("message").as_deref(),
            ));
            continue;
        }
        let mut kind = "unknown";
        let mut id = s("id");
        let mut status = s("status");
        let mut text = s("text");
        if id.as_deref() == Some(" ")
            && let Some(t) = text
                .as_deref()
                .and_then(|t| t.strip_prefix("build service "))
        {
            id = Some(format!("Service {t}"));
            text = Some("Building".into());
        }
        if let (Some(i), Some(t)) = (&id, &text)
            && ((i.ends_with("==>") && t.starts_with("==> writing image "))
                || (i.ends_with("==> ==>") && t.starts_with("naming to ")))
        {
            continue;
        }
        let parent = s("parent_id");
        if matches!(status.as_deref(), Some("Working" | "Done"))
            && parent.as_deref().is_some_and(|p| p.starts_with("Image "))
        {
            kind = "image-layer";
            id = parent.map(|p| p["Image ".len()..].to_string());
        } else if let Some((k, rest)) = id.clone().as_deref().and_then(|i| i.split_once(' ')) {
            match kind_of(k) {
                Some(kk) => kind = kk,
                None => warn.push(format!(
                    "Unknown resource type {} in line {}",
                    crate::yaml::repr(&Value::str(k)),
                    crate::yaml::repr(&Value::str(line))
                )),
            }
            id = Some(rest.to_string());
        } else if text.as_deref().is_some_and(|t| STATUS_PULL.contains(&t)) {
            kind = "image";
            std::mem::swap(&mut status, &mut text);
        } else if text.as_deref().is_some_and(|t| {
            PULL_PROGRESS_DONE.contains(&t) || PULL_PROGRESS_WORKING_OLD.contains(&t)
        }) {
            kind = "image-layer";
            std::mem::swap(&mut status, &mut text);
        } else if status.is_none()
            && let Some((a, b)) = text
                .clone()
                .as_deref()
                .and_then(|t| t.strip_prefix("Skipped - ").map(|r| ("Skipped", r)))
        {
            status = Some(a.to_string());
            text = Some(b.to_string());
        } else if let (Some(level), Some(msg)) = (s("level"), s("msg"))
            && matches!(level.as_str(), "warning" | "error")
        {
            status = Some(if level == "warning" {
                "Warning".into()
            } else {
                "Error".into()
            });
            text = Some(msg);
        }
        if !status.as_deref().is_some_and(is_status_or_warning)
            && text.as_deref().is_some_and(is_status_or_warning)
        {
            std::mem::swap(&mut status, &mut text);
        }
        events.push(Event {
            kind,
            id,
            status,
            msg: text,
        });
    }
    events
}

fn has_changes(events: &[Event], ignore_pull: bool, ignore_build: bool) -> bool {
    events.iter().any(|e| {
        let status = e.status.as_deref().unwrap_or_default();
        if STATUS_WORKING.contains(&status) {
            return !(ignore_pull && STATUS_PULL.contains(&status)
                || ignore_build && STATUS_BUILD.contains(&status));
        }
        e.kind == "image-layer" && pull_working(status)
    })
}

fn actions(events: &[Event]) -> Vec<J> {
    let mut out = Vec::new();
    let mut pulls: Vec<(Option<String>, Option<String>)> = Vec::new();
    for e in events {
        let status = e.status.as_deref().unwrap_or_default();
        let item = || serde_json::json!({"what": e.kind, "id": e.id, "status": e.status});
        if e.kind == "image-layer" && pull_working(status) {
            let key = (e.id.clone(), e.status.clone());
            if !pulls.contains(&key) {
                pulls.push(key);
                out.push(item());
            }
        }
        if e.kind != "image-layer" && STATUS_WORKING.contains(&status) {
            out.push(item());
        }
    }
    out
}

fn warnings_of(events: &[Event], warn: &mut Vec<String>) {
    for e in events {
        if (e.status.is_none() && e.msg.is_some()) || e.status.as_deref() == Some("Warning") {
            warn.push(format!(
                "Docker compose: {} {}: {}",
                e.kind,
                e.id.as_deref().unwrap_or("None"),
                e.msg.as_deref().unwrap_or("None")
            ));
        }
    }
}

fn error_message(events: &[Event], rc: i32) -> String {
    let mut errors = Vec::new();
    for e in events {
        if e.status.as_deref() != Some("Error") {
            continue;
        }
        let prefix = match (&e.id, e.kind) {
            (None, _) => "General error: ".to_string(),
            (Some(id), "unknown") if id.is_empty() => "General error: ".to_string(),
            (Some(id), "unknown") => format!("Error when processing {id}: "),
            (Some(id), kind) => format!("Error when processing {kind} {id}: "),
        };
        errors.push(format!(
            "{prefix}{}",
            e.msg.clone().unwrap_or_else(|| "Error".into())
        ));
    }
    if errors.is_empty() {
        errors.push(format!("Return code {rc} is non-zero"));
    }
    errors.join("\n")
}

// ---- the run -------------------------------------------------------------------------------------

struct Project {
    base: Vec<String>,
    src: String,
    version: Vec<u64>,
    json_events: bool,
}

impl Project {
    fn args(&self, more: &[String]) -> Vec<String> {
        let mut a = self.base.clone();
        a.extend(more.iter().cloned());
        a
    }
}

/// What one compose command printed.
struct Ran {
    rc: i32,
    stdout: String,
    stderr: String,
    containers: Vec<J>,
    images: Vec<J>,
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, String> {
    let docker = Docker::new(args);
    let cli = args.str("docker_cli").unwrap_or_else(|| "docker".into());
    let check = cx.check_mode;
    // The version, the project directory (a temp one for `definition`), its files.
    let definition = args
        .get("definition")
        .map(|d| crate::output::json::to_string(d, Some(2)));
    let mut probe = format!(
        "{}{} 2>/dev/null\n",
        dc::section("version"),
        docker.cmd(["compose", "version", "--format", "json"])
    );
    if let Some(def) = &definition {
        probe.push_str(&format!(
            "{}kiln_p=$(mktemp -d) && printf '%s\\n' {} > \"$kiln_p/compose.yaml\" && printf '%s\\n' \"$kiln_p\"\n",
            dc::section("tmp"),
            quote::quote(def)
        ));
    } else {
        let src = args.str("project_src").unwrap_or_default();
        probe.push_str(&format!(
            "{}cd {} 2>/dev/null && pwd\n",
            dc::section("src"),
            quote::quote(&src)
        ));
        for f in args
            .list("files")
            .iter()
            .map(crate::yaml::python_str)
            .chain(COMPOSE_FILES.iter().map(|s| s.to_string()))
        {
            probe.push_str(&format!(
                "{}[ -e {}/{} ] && echo yes\n",
                dc::section(&format!("file:{f}")),
                quote::quote(&src),
                quote::quote(&f)
            ));
        }
    }
    let out = docker_sh(cx, &docker, &probe).await?;
    let parts = dc::sections(&out.stdout_text());
    let v = parts
        .get("version")
        .and_then(|t| serde_json::from_str::<J>(t.trim()).ok())
        .and_then(|j| {
            j.get("version")
                .and_then(J::as_str)
                .map(|s| s.trim_start_matches('v').to_string())
        });
    let Some(v) = v.filter(|v| v != "dev") else {
        return Err(format!(
            "Docker CLI {cli} does not have the compose plugin installed"
        ));
    };
    let ver = version(&v);
    if !at_least(&ver, MINIMUM_VERSION) {
        return Err(format!(
            "Docker CLI {cli} has the compose plugin with version {v}; need version {MINIMUM_VERSION} or later"
        ));
    }
    if args.bool("assume_yes") && !at_least(&ver, "2.32.0") {
        return Err(format!(
            "assume_yes=true needs Docker Compose 2.32.0 or newer, not version {v}"
        ));
    }
    let tmp = parts.get("tmp").map(|t| t.trim().to_string());
    let src = match &tmp {
        Some(t) => t.clone(),
        None => {
            let given = args.str("project_src").unwrap_or_default();
            let Some(abs) = parts
                .get("src")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
            else {
                return Err(format!("\"{given}\" is not a directory"));
            };
            let files: Vec<String> = args
                .list("files")
                .iter()
                .map(crate::yaml::python_str)
                .collect();
            let has = |f: &str| {
                parts
                    .get(&format!("file:{f}"))
                    .is_some_and(|t| t.trim() == "yes")
            };
            if let Some(f) = files.iter().find(|f| !has(f)) {
                return Err(format!(
                    "Cannot find Compose file \"{f}\" relative to project directory \"{abs}\""
                ));
            }
            if files.is_empty()
                && args.bool("check_files_existing")
                && !COMPOSE_FILES.iter().any(|f| has(f))
            {
                return Err(format!(
                    "\"{abs}\" does not contain {}, or {}",
                    COMPOSE_FILES[..3].join(", "),
                    COMPOSE_FILES[3]
                ));
            }
            abs
        }
    };
    for (k, value) in match args.get("scale") {
        Some(Value::Map(m)) => m.clone(),
        _ => Map::new(),
    } {
        let key = crate::yaml::python_str(&k);
        let n = match &value {
            Value::Int(i) => *i,
            Value::Str(s) => s.trim().parse::<i128>().map_err(|_| {
                format!(
                    "The value {} for `scale[{}]` is not an integer",
                    crate::yaml::repr(&value),
                    crate::yaml::repr(&k)
                )
            })?,
            _ => {
                return Err(format!(
                    "The value {} for `scale[{}]` is not an integer",
                    crate::yaml::repr(&value),
                    crate::yaml::repr(&k)
                ));
            }
        };
        if n < 0 {
            return Err(format!("The value {n} for `scale['{key}']` is negative"));
        }
    }
    let json_events = at_least(&ver, "2.29.0");
    let mut base: Vec<String> = vec!["compose".into(), "--ansi".into(), "never".into()];
    if json_events {
        base.extend(["--progress".into(), "json".into()]);
    } else if at_least(&ver, "2.19.0") {
        base.extend(["--progress".into(), "plain".into()]);
    }
    base.extend(["--project-directory".into(), src.clone()]);
    if let Some(n) = args.str("project_name") {
        base.extend(["--project-name".into(), n]);
    }
    for (opt, flag) in [
        ("files", "--file"),
        ("env_files", "--env-file"),
        ("profiles", "--profile"),
    ] {
        for v in args.list(opt) {
            base.extend([flag.into(), crate::yaml::python_str(&v)]);
        }
    }
    let project = Project {
        base,
        src,
        version: ver,
        json_events,
    };
    let result = manage(cx, args, &docker, &project, &cli, check).await;
    if let Some(t) = tmp {
        let _ = cx.sh(format!("rm -rf {}", quote::quote(&t))).await;
    }
    result
}

fn up_args(args: &Args, p: &Project, dry_run: bool, no_start: bool) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "up".into(),
        "--detach".into(),
        "--no-color".into(),
        "--quiet-pull".into(),
    ];
    let pull = args.str("pull").unwrap_or_else(|| "policy".into());
    if pull != "policy" {
        a.extend(["--pull".into(), pull]);
    }
    if args.bool("remove_orphans") {
        a.push("--remove-orphans".into());
    }
    match args.str("recreate").as_deref() {
        Some("always") => a.push("--force-recreate".into()),
        Some("never") => a.push("--no-recreate".into()),
        _ => {}
    }
    if args.bool("renew_anon_volumes") {
        a.push("--renew-anon-volumes".into());
    }
    if !args.bool("dependencies") {
        a.push("--no-deps".into());
    }
    if let Some(t) = args.get("timeout") {
        a.extend(["--timeout".into(), crate::yaml::python_str(t)]);
    }
    match args.str("build").as_deref() {
        Some("always") => a.push("--build".into()),
        Some("never") => a.push("--no-build".into()),
        _ => {}
    }
    if let Some(Value::Map(scale)) = args.get("scale") {
        let mut items: Vec<(String, String)> = scale
            .iter()
            .map(|(k, v)| {
                (
                    crate::yaml::python_str(k),
                    crate::yaml::python_str(v).trim().to_string(),
                )
            })
            .collect();
        items.sort();
        for (k, v) in items {
            a.extend(["--scale".into(), format!("{k}={v}")]);
        }
    }
    if args.bool("wait") {
        a.push("--wait".into());
        if let Some(t) = args.get("wait_timeout") {
            a.extend(["--wait-timeout".into(), crate::yaml::python_str(t)]);
        }
    }
    if no_start {
        a.push("--no-start".into());
    }
    if dry_run {
        a.push("--dry-run".into());
    }
    if args.bool("assume_yes") {
        a.push(
            if at_least(&p.version, "2.34.0") {
                "--yes"
            } else {
                "-y"
            }
            .into(),
        );
    }
    services(args, a)
}

fn services(args: &Args, mut a: Vec<String>) -> Vec<String> {
    a.push("--".into());
    a.extend(args.list("services").iter().map(crate::yaml::python_str));
    a
}

fn timeout_arg(args: &Args, a: &mut Vec<String>) {
    if let Some(t) = args.get("timeout") {
        a.extend(["--timeout".into(), crate::yaml::python_str(t)]);
    }
}

/// Runs one compose command in the project directory, then lists the project's containers
/// and images, all in one script.
async fn call(
    cx: &TaskCx<'_>,
    docker: &Docker,
    p: &Project,
    cmd: &[String],
    list: bool,
) -> Result<Ran, String> {
    let mut s = format!(
        "cd {} || exit 3\nkiln_o=$(mktemp) && kiln_e=$(mktemp) || exit 3\n{} >\"$kiln_o\" 2>\"$kiln_e\"\nkiln_rc=$?\n{}echo \"$kiln_rc\"\n{}cat \"$kiln_o\"\n{}cat \"$kiln_e\"\nrm -f \"$kiln_o\" \"$kiln_e\"\n",
        quote::quote(&p.src),
        docker.cmd(p.args(cmd)),
        dc::section("rc"),
        dc::section("stdout"),
        dc::section("stderr"),
    );
    if list {
        let mut ps: Vec<String> = vec![
            "ps".into(),
            "--format".into(),
            "json".into(),
            "--all".into(),
        ];
        if at_least(&p.version, "2.23.0") {
            ps.push("--no-trunc".into());
        }
        s.push_str(&dc::section("ps"));
        s.push_str(&format!("{} 2>/dev/null\n", docker.cmd(p.args(&ps))));
        s.push_str(&dc::section("images"));
        let images: Vec<String> = vec!["images".into(), "--format".into(), "json".into()];
        s.push_str(&format!("{} 2>/dev/null\n", docker.cmd(p.args(&images))));
    }
    let out = docker_sh(cx, docker, &s).await?;
    if out.rc == 3 {
        return Err(format!(
            "cannot run docker compose in {}: {}",
            p.src,
            out.stderr_text().trim()
        ));
    }
    let parts = dc::sections(&out.stdout_text());
    let body = |k: &str| parts.get(k).cloned().unwrap_or_default();
    let strip = |t: String| t.strip_suffix('\n').map(str::to_string).unwrap_or(t);
    let ps_text = body("ps");
    let containers: Vec<J> = match serde_json::from_str::<J>(ps_text.trim()) {
        Ok(J::Array(a)) => a,
        _ => ps_text
            .lines()
            .filter_map(|l| serde_json::from_str::<J>(l.trim()).ok())
            .collect(),
    };
    let images: Vec<J> = match serde_json::from_str::<J>(body("images").trim()) {
        Ok(J::Array(a)) => a,
        // Compose 2.37 prints an object keyed by image.
        Ok(J::Object(o)) => o.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    Ok(Ran {
        rc: body("rc").trim().parse().unwrap_or(-1),
        stdout: strip(body("stdout")),
        stderr: strip(body("stderr")),
        containers,
        images,
    })
}

fn container_list(raw: &[J]) -> Vec<J> {
    raw.iter()
        .map(|c| {
            let mut c = c.clone();
            if let J::Object(o) = &mut c {
                let labels: serde_json::Map<String, J> = o
                    .get("Labels")
                    .and_then(J::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.split(',')
                            .map(|part| match part.split_once('=') {
                                Some((k, v)) => (k.to_string(), J::String(v.to_string())),
                                None => (part.to_string(), J::String(String::new())),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                o.insert("Labels".into(), J::Object(labels));
                let names = o
                    .get("Names")
                    .or_else(|| o.get("Name"))
                    .and_then(J::as_str)
                    .unwrap_or_default()
                    .to_string();
                o.insert(
                    "Names".into(),
                    J::Array(names.split(',').map(|n| J::String(n.into())).collect()),
                );
                let nets = o
                    .get("Networks")
                    .and_then(J::as_str)
                    .unwrap_or_default()
                    .to_string();
                o.insert(
                    "Networks".into(),
                    J::Array(nets.split(',').map(|n| J::String(n.into())).collect()),
                );
                if o.get("Publishers").is_none_or(J::is_null) {
                    o.insert("Publishers".into(), J::Array(Vec::new()));
                }
            }
            c
        })
        .collect()
}

struct Outcome {
    changed: bool,
    actions: Vec<J>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    warnings: Vec<String>,
}

impl Outcome {
    fn events(&mut self, p: &Project, ran: &Ran, dry_run: bool) -> Vec<Event> {
        if p.json_events {
            parse_json_events(&ran.stderr, &mut self.warnings)
        } else {
            parse_events(&ran.stderr, dry_run, ran.rc != 0, &mut self.warnings)
        }
    }

    fn update(&mut self, events: &[Event], ran: &Ran, ignore_pull: bool, ignore_build: bool) {
        warnings_of(events, &mut self.warnings);
        self.changed |= has_changes(events, ignore_pull, ignore_build);
        self.actions.extend(actions(events));
        for (acc, text) in [
            (&mut self.stdout, &ran.stdout),
            (&mut self.stderr, &ran.stderr),
        ] {
            if !text.is_empty() {
                acc.push(text.clone());
            }
        }
    }
}

fn failure(o: &Outcome, events: &[Event], cli: &str, cmd: &[String], ran: &Ran) -> TaskResult {
    let mut r = TaskResult::failed(error_message(events, ran.rc));
    r.rc = Some(ran.rc);
    r.stdout = Some(ran.stdout.clone());
    r.stderr = Some(ran.stderr.clone());
    r = r.with(
        "cmd",
        Value::str(quote::join(
            std::iter::once(cli.to_string()).chain(cmd.iter().cloned()),
        )),
    );
    r = r.with("actions", dc::from_json(&J::Array(o.actions.clone())));
    r
}

async fn manage(
    cx: &TaskCx<'_>,
    args: &Args,
    docker: &Docker,
    p: &Project,
    cli: &str,
    check: bool,
) -> Result<TaskResult, String> {
    let state = args.str("state").unwrap_or_else(|| "present".into());
    let mut o = Outcome {
        changed: false,
        actions: Vec::new(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        warnings: Vec::new(),
    };
    let ignore_build = args.bool("ignore_build_events");
    let ran = match state.as_str() {
        "stopped" => {
            let cmd1 = up_args(args, p, check, true);
            let r1 = call(cx, docker, p, &cmd1, true).await?;
            let e1 = o.events(p, &r1, check);
            o.update(&e1, &r1, true, ignore_build);
            if r1.rc != 0 {
                return Ok(failure(&o, &e1, cli, &p.args(&cmd1), &r1));
            }
            let stopped = r1.containers.iter().all(|c| {
                matches!(
                    c.get("State").and_then(J::as_str),
                    Some("created" | "exited" | "stopped" | "killed")
                )
            });
            if stopped {
                r1
            } else {
                let mut a: Vec<String> = vec!["stop".into()];
                timeout_arg(args, &mut a);
                if check {
                    a.push("--dry-run".into());
                }
                let cmd2 = services(args, a);
                let r2 = call(cx, docker, p, &cmd2, true).await?;
                let e2 = o.events(p, &r2, check);
                o.update(&e2, &r2, false, false);
                if r2.rc != 0 {
                    let all: Vec<Event> = e1.into_iter().chain(e2).collect();
                    return Ok(failure(&o, &all, cli, &p.args(&cmd2), &r2));
                }
                r2
            }
        }
        _ => {
            let (cmd, ignore_pull, ib) = match state.as_str() {
                "present" => (up_args(args, p, check, false), true, ignore_build),
                "restarted" => {
                    let mut a: Vec<String> = vec!["restart".into()];
                    if !args.bool("dependencies") {
                        a.push("--no-deps".into());
                    }
                    timeout_arg(args, &mut a);
                    if check {
                        a.push("--dry-run".into());
                    }
                    (services(args, a), false, false)
                }
                _ => {
                    let mut a: Vec<String> = vec!["down".into()];
                    if args.bool("remove_orphans") {
                        a.push("--remove-orphans".into());
                    }
                    if let Some(ri) = args.str("remove_images") {
                        a.extend(["--rmi".into(), ri]);
                    }
                    if args.bool("remove_volumes") {
                        a.push("--volumes".into());
                    }
                    timeout_arg(args, &mut a);
                    if check {
                        a.push("--dry-run".into());
                    }
                    (services(args, a), false, false)
                }
            };
            let r = call(cx, docker, p, &cmd, true).await?;
            let e = o.events(p, &r, check);
            o.update(&e, &r, ignore_pull, ib);
            if r.rc != 0 {
                return Ok(failure(&o, &e, cli, &p.args(&cmd), &r));
            }
            r
        }
    };
    let mut result = TaskResult::changed(o.changed)
        .with("actions", dc::from_json(&J::Array(o.actions.clone())))
        .with(
            "containers",
            dc::from_json(&J::Array(container_list(&ran.containers))),
        )
        .with("images", dc::from_json(&J::Array(ran.images.clone())));
    let (out, err) = (o.stdout.join("\n"), o.stderr.join("\n"));
    if !out.is_empty() {
        result.stdout = Some(out);
    }
    if !err.is_empty() {
        result.stderr = Some(err);
    }
    if !o.warnings.is_empty() {
        result = result.with(
            "warnings",
            Value::Seq(o.warnings.into_iter().map(Value::str).collect()),
        );
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_events() {
        let mut warn = Vec::new();
        let text = " Network demo_default  Creating\n Network demo_default  Created\n Container demo-web-1  Creating\n Container demo-web-1  Created\n Container demo-web-1  Starting\n Container demo-web-1  Started\n";
        let events = parse_events(text, false, false, &mut warn);
        assert_eq!(events.len(), 6);
        assert!(has_changes(&events, true, true));
        assert_eq!(actions(&events).len(), 3);
        let again = " Container demo-web-1  Running\n";
        assert!(!has_changes(
            &parse_events(again, false, false, &mut warn),
            true,
            true
        ));
        let dry = "DRY-RUN MODE -  Container demo-web-1  Recreate\n";
        assert!(has_changes(
            &parse_events(dry, true, false, &mut warn),
            true,
            true
        ));
        assert!(warn.is_empty(), "{warn:?}");
        let err = parse_events("no such service: x\n", false, true, &mut warn);
        assert_eq!(error_message(&err, 1), "General error: no such service: x");
    }

    #[test]
    fn json_events() {
        let mut warn = Vec::new();
        let text = "{\"id\":\"Container demo-web-1\",\"status\":\"Starting\",\"text\":\"Starting\"}\n{\"id\":\"Container demo-web-1\",\"status\":\"Started\",\"text\":\"Started\"}\n";
        let events = parse_json_events(text, &mut warn);
        assert_eq!(events[0].kind, "container");
        assert_eq!(events[0].id.as_deref(), Some("demo-web-1"));
        assert!(has_changes(&events, true, true));
        assert_eq!(
            logfmt("time=\"2024\" level=warning msg=\"a \\\"b\\\"\""),
            Some(("warning".into(), "a \"b\"".into()))
        );
    }

    #[test]
    fn versions() {
        assert!(at_least(&version("2.26.1"), "2.18.0"));
        assert!(!at_least(&version("2.17.9"), "2.18.0"));
        assert!(at_least(&version("2.40.3"), "2.29.0"));
    }
}
