//! `docker_image` (community.docker): an image present (built, loaded, pulled or already
//! there), tagged into another repository, pushed, archived, or removed, through the target's
//! `docker` CLI, deciding as community.docker does; and `docker_image_pull`.

use super::docker_common::{self as dc, Docker};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Output, quote};
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use serde_json::Value as J;
use std::sync::LazyLock;

pub struct DockerImage;

static LIMITS: [Opt; 4] = [
    Opt::new("memory", Kind::Str),
    Opt::new("memswap", Kind::Str),
    Opt::new("cpushares", Kind::Int),
    Opt::new("cpusetcpus", Kind::Str),
];

static BUILD: [Opt; 17] = [
    Opt::new("cache_from", Kind::List).elements(Kind::Str),
    Opt::new("dockerfile", Kind::Str),
    Opt::new("http_timeout", Kind::Int),
    Opt::new("path", Kind::Path).required(),
    Opt::new("pull", Kind::Bool).default("false"),
    Opt::new("rm", Kind::Bool).default("true"),
    Opt::new("network", Kind::Str),
    Opt::new("nocache", Kind::Bool).default("false"),
    Opt::new("etc_hosts", Kind::Dict),
    Opt::new("args", Kind::Dict),
    Opt::new("container_limits", Kind::Dict).suboptions(&LIMITS),
    Opt::new("use_config_proxy", Kind::Bool),
    Opt::new("target", Kind::Str),
    Opt::new("platform", Kind::Str),
    Opt::new("shm_size", Kind::Str),
    Opt::new("labels", Kind::Dict),
    Opt::new("outputs", Kind::List).unsupported("not an option of docker_image"),
];

static PULL: [Opt; 1] = [Opt::new("platform", Kind::Str)];

static SPEC: LazyLock<ArgSpec> = LazyLock::new(|| {
    dc::spec(
        &[
            Opt::new("source", Kind::Str)
                .choices(&["build", "load", "pull", "local"])
                .required_if(&[("build", &["build"]), ("load", &["load_path"])]),
            Opt::new("build", Kind::Dict).suboptions(&BUILD),
            Opt::new("archive_path", Kind::Path),
            Opt::new("load_path", Kind::Path),
            Opt::new("force_source", Kind::Bool).default("false"),
            Opt::new("force_absent", Kind::Bool).default("false"),
            Opt::new("force_tag", Kind::Bool).default("false"),
            Opt::new("name", Kind::Str).required(),
            Opt::new("pull", Kind::Dict).suboptions(&PULL),
            Opt::new("push", Kind::Bool).default("false"),
            Opt::new("repository", Kind::Str),
            Opt::new("state", Kind::Str)
                .default("present")
                .choices(&["absent", "present"])
                .required_if(&[("present", &["source"])]),
            Opt::new("tag", Kind::Str).default("latest"),
        ],
        false,
        &[],
        &[],
    )
});

#[async_trait]
impl Module for DockerImage {
    fn name(&self) -> &'static str {
        "docker_image"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        dc::COLLECTIONS
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let mut m = Manager::new(cx, &args);
        match m.go().await {
            Ok(()) => m.result(),
            Err(msg) => {
                let mut r = TaskResult::failed(msg);
                if let Some(out) = m.stdout.take() {
                    r.stdout = Some(out);
                }
                r
            }
        }
    }
}

/// Runs a docker script (with the daemon check first) and gives its output.
pub async fn docker_sh(cx: &TaskCx<'_>, docker: &Docker, script: &str) -> Result<Output, String> {
    let out = cx
        .sh(format!("{}{script}", docker.preamble()))
        .await
        .map_err(|e| super::conn_failure(e).msg.unwrap_or_default())?;
    if let Some(e) = dc::connect_error(&out) {
        return Err(e.msg.unwrap_or_default());
    }
    Ok(out)
}

/// `docker image inspect REF`, or `None` when there is no such image.
pub async fn find_image(
    cx: &TaskCx<'_>,
    docker: &Docker,
    reference: &str,
) -> Result<Option<J>, String> {
    let out = docker_sh(
        cx,
        docker,
        &format!(
            "{} 2>/dev/null\n",
            docker.cmd(["image", "inspect", reference])
        ),
    )
    .await?;
    Ok(dc::inspect_first(&out.stdout_text()))
}

/// Where a push goes: the registry and the repository in it, as the Docker SDK resolves them.
fn resolve_repository_name(repo: &str) -> (String, String) {
    let (index, remote) = match repo.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), repo.to_string()),
    };
    let index = if index == "index.docker.io" {
        "docker.io".to_string()
    } else {
        index
    };
    (index, remote)
}

struct Manager<'a, 'b> {
    cx: &'a TaskCx<'b>,
    args: &'a Args,
    docker: Docker,
    name: String,
    tag: String,
    changed: bool,
    actions: Vec<String>,
    image: J,
    stdout: Option<String>,
    warnings: Vec<String>,
}

impl<'a, 'b> Manager<'a, 'b> {
    fn new(cx: &'a TaskCx<'b>, args: &'a Args) -> Self {
        let mut name = args.str("name").unwrap_or_default();
        let mut tag = args.str("tag").unwrap_or_else(|| "latest".into());
        if !dc::is_image_id(&name) {
            let (repo, t) = dc::parse_repository_tag(&name);
            if let Some(t) = t {
                name = repo;
                tag = t;
            }
        }
        Manager {
            cx,
            args,
            docker: Docker::new(args),
            name,
            tag,
            changed: false,
            actions: Vec::new(),
            image: J::Object(Default::default()),
            stdout: None,
            warnings: Vec::new(),
        }
    }

    fn result(&mut self) -> TaskResult {
        let mut r = TaskResult::changed(self.changed)
            .with(
                "actions",
                Value::Seq(self.actions.iter().cloned().map(Value::str).collect()),
            )
            .with("image", dc::from_json(&self.image));
        if let Some(out) = &self.stdout {
            r = r.with("stdout", Value::str(out.clone()));
        }
        if !self.warnings.is_empty() {
            r = r.with(
                "warnings",
                Value::Seq(self.warnings.iter().cloned().map(Value::str).collect()),
            );
        }
        r
    }

    fn reference(&self) -> String {
        if dc::is_image_id(&self.name) {
            self.name.clone()
        } else {
            dc::image_ref(&self.name, &self.tag)
        }
    }

    async fn go(&mut self) -> Result<(), String> {
        if !dc::is_valid_tag(&self.tag, true) {
            return Err(format!("\"{}\" is not a valid docker tag!", self.tag));
        }
        let repository = self.args.str("repository");
        if repository.as_deref().is_some_and(dc::is_image_id) {
            return Err(format!(
                "`repository` must not be an image ID; got: {}",
                repository.unwrap_or_default()
            ));
        }
        if repository.is_none() && self.args.bool("push") && dc::is_image_id(&self.name) {
            return Err(format!(
                "Cannot push an image by ID; specify `repository` to tag and push the image with ID {} instead",
                self.name
            ));
        }
        if self.args.str("state").as_deref() == Some("absent") {
            return self.absent().await;
        }
        self.present().await
    }

    async fn present(&mut self) -> Result<(), String> {
        let reference = self.reference();
        let image = find_image(self.cx, &self.docker, &reference).await?;
        let source = self.args.str("source").unwrap_or_default();
        let check = self.cx.check_mode;
        if image.is_none() || self.args.bool("force_source") {
            let shown = if dc::is_image_id(&self.name) {
                self.name.clone()
            } else {
                format!("{}:{}", self.name, self.tag)
            };
            match source.as_str() {
                "build" => {
                    if dc::is_image_id(&self.name) {
                        return Err(format!(
                            "Image name must not be an image ID for source=build; got: {}",
                            self.name
                        ));
                    }
                    let build = match self.args.get("build") {
                        Some(Value::Map(b)) => b.clone(),
                        _ => Map::new(),
                    };
                    let path = build
                        .get(&Value::str("path"))
                        .map(crate::yaml::python_str)
                        .unwrap_or_default();
                    self.actions
                        .push(format!("Built image {shown} from {path}"));
                    self.changed = true;
                    if !check {
                        self.build(&build, &path).await?;
                    } else {
                        self.check_dir(&path).await?;
                    }
                }
                "load" => {
                    let path = self.args.str("load_path").unwrap_or_default();
                    self.actions
                        .push(format!("Loaded image {shown} from {path}"));
                    self.changed = true;
                    if !check {
                        self.load(&path).await?;
                    } else {
                        self.check_file(&path).await?;
                    }
                }
                "pull" => {
                    if dc::is_image_id(&self.name) {
                        return Err(format!(
                            "Image name must not be an image ID for source=pull; got: {}",
                            self.name
                        ));
                    }
                    self.actions
                        .push(format!("Pulled image {}:{}", self.name, self.tag));
                    self.changed = true;
                    if !check {
                        let platform = match self.args.get("pull") {
                            Some(Value::Map(p)) => {
                                p.get(&Value::str("platform")).map(crate::yaml::python_str)
                            }
                            _ => None,
                        };
                        self.image = pull(
                            self.cx,
                            &self.docker,
                            &self.name,
                            &self.tag,
                            platform.as_deref(),
                        )
                        .await?
                        .0
                        .unwrap_or(J::Null);
                    }
                }
                _ => {
                    if image.is_none() {
                        return Err(format!("Cannot find the image {shown} locally."));
                    }
                }
            }
            if !check
                && let Some(old) = &image
                && old.get("Id") == self.image.get("Id")
                && !self.image.is_null()
            {
                self.changed = false;
            }
            if self.image.is_null() {
                self.image = image.clone().unwrap_or(J::Object(Default::default()));
            }
        } else if let Some(i) = image {
            self.image = i;
        }
        if self.args.str("archive_path").is_some() {
            self.archive().await?;
        }
        let push = self.args.bool("push");
        match self.args.str("repository") {
            Some(repo) => self.tag_image(&repo, push).await?,
            None if push => {
                let (name, tag) = (self.name.clone(), self.tag.clone());
                self.push(&name, &tag).await?;
            }
            None => {}
        }
        Ok(())
    }

    async fn check_dir(&self, path: &str) -> Result<(), String> {
        let out = self
            .cx
            .sh(format!("[ -d {} ]", quote::quote(path)))
            .await
            .map_err(|e| e.to_string())?;
        if out.rc != 0 {
            return Err(format!(
                "Requested build path {path} could not be found or you do not have access."
            ));
        }
        Ok(())
    }

    async fn check_file(&self, path: &str) -> Result<(), String> {
        let out = self
            .cx
            .sh(format!("[ -f {} ]", quote::quote(path)))
            .await
            .map_err(|e| e.to_string())?;
        if out.rc != 0 {
            return Err(format!(
                "Error loading image {}. Specified path {path} does not exist.",
                self.name
            ));
        }
        Ok(())
    }

    async fn build(&mut self, b: &Map, path: &str) -> Result<(), String> {
        self.check_dir(path).await?;
        let get = |k: &str| b.get(&Value::str(k)).filter(|v| !v.is_null());
        let on = |k: &str| matches!(get(k), Some(Value::Bool(true)));
        let target = format!("{}:{}", self.name, self.tag);
        let mut words: Vec<String> = vec!["build".into(), "--tag".into(), target.clone()];
        if let Some(df) = get("dockerfile").map(crate::yaml::python_str) {
            let file = if df.starts_with('/') {
                df
            } else {
                format!("{}/{df}", path.trim_end_matches('/'))
            };
            words.extend(["--file".into(), file]);
        }
        if on("nocache") {
            words.push("--no-cache".into());
        }
        let rm = !matches!(get("rm"), Some(Value::Bool(false)));
        words.push(format!("--rm={rm}"));
        words.push(format!("--force-rm={rm}"));
        if on("pull") {
            words.push("--pull".into());
        }
        if let Some(Value::Map(args)) = get("args") {
            for (k, v) in args {
                words.extend([
                    "--build-arg".into(),
                    format!(
                        "{}={}",
                        crate::yaml::python_str(k),
                        crate::yaml::python_str(v)
                    ),
                ]);
            }
        }
        for c in get("cache_from")
            .map(|v| match v {
                Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default()
        {
            words.extend(["--cache-from".into(), c]);
        }
        for (k, flag) in [
            ("target", "--target"),
            ("network", "--network"),
            ("platform", "--platform"),
        ] {
            if let Some(v) = get(k).map(crate::yaml::python_str) {
                words.extend([flag.into(), v]);
            }
        }
        if let Some(Value::Map(h)) = get("etc_hosts") {
            for (k, v) in dc::clean_booleans(h) {
                words.extend(["--add-host".into(), format!("{k}:{v}")]);
            }
        }
        if let Some(s) = get("shm_size").map(crate::yaml::python_str) {
            let n = dc::human_to_bytes(&s)
                .map_err(|e| format!("Failed to convert build.shm_size to bytes: {e}"))?;
            words.extend(["--shm-size".into(), n.to_string()]);
        }
        if let Some(Value::Map(l)) = get("labels") {
            for (k, v) in dc::clean_booleans(l) {
                words.extend(["--label".into(), format!("{k}={v}")]);
            }
        }
        if let Some(Value::Map(lim)) = get("container_limits") {
            for (k, flag, bytes) in [
                ("memory", "--memory", true),
                ("memswap", "--memory-swap", true),
                ("cpushares", "--cpu-shares", false),
                ("cpusetcpus", "--cpuset-cpus", false),
            ] {
                let Some(v) = lim.get(&Value::str(k)).filter(|v| !v.is_null()) else {
                    continue;
                };
                let t = crate::yaml::python_str(v);
                let value = if !bytes {
                    t
                } else if k == "memswap" && (t == "unlimited" || t == "-1") {
                    "-1".into()
                } else {
                    dc::human_to_bytes(&t)
                        .map_err(|e| {
                            format!("Failed to convert build.container_limits.{k} to bytes: {e}")
                        })?
                        .to_string()
                };
                words.extend([flag.into(), value]);
            }
        }
        words.push(path.to_string());
        // The daemon's own builder, as community.docker's API call uses (not BuildKit).
        let script = format!(
            "DOCKER_BUILDKIT=0 {} 2>&1 || exit 3\n{}{} 2>/dev/null\n",
            self.docker.cmd(&words),
            dc::section("image"),
            self.docker.cmd(["image", "inspect", &target])
        );
        let out = docker_sh(self.cx, &self.docker, &script).await?;
        let text = out.stdout_text();
        let (log, rest) = text.split_once("\n@@kiln:image\n").unwrap_or((&text, ""));
        let lines: Vec<&str> = log.lines().filter(|l| !l.is_empty()).collect();
        self.stdout = Some(lines.join("\n"));
        if out.rc != 0 {
            return Err(format!(
                "Error building {} - message: {}, logs: {}",
                self.name,
                lines.last().copied().unwrap_or_default(),
                crate::yaml::repr(&Value::Seq(lines.iter().map(|l| Value::str(*l)).collect()))
            ));
        }
        self.image = dc::inspect_first(rest).unwrap_or(J::Null);
        Ok(())
    }

    async fn load(&mut self, path: &str) -> Result<(), String> {
        self.check_file(path).await?;
        let script = format!("{} 2>&1\n", self.docker.cmd(["load", "--input", path]));
        let out = docker_sh(self.cx, &self.docker, &script).await?;
        let text = out.stdout_text();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let joined = lines.join("\n");
        if out.rc != 0 {
            self.stdout = Some(joined.clone());
            return Err(format!(
                "Error loading image {} - {}",
                self.name,
                joined.trim()
            ));
        }
        let mut images: Vec<String> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for l in &lines {
            if let Some(i) = l.strip_prefix("Loaded image ID:") {
                ids.push(i.trim().to_lowercase());
            } else if let Some(i) = l.strip_prefix("Loaded image:") {
                images.push(i.trim().to_string());
            }
        }
        if images.is_empty() && ids.is_empty() {
            self.stdout = Some(joined);
            return Err("Detected no loaded images. Archive potentially corrupt?".into());
        }
        let expected = if dc::is_image_id(&self.name) {
            self.name.to_lowercase()
        } else {
            format!("{}:{}", self.name, self.tag)
        };
        let found = if dc::is_image_id(&self.name) {
            ids.contains(&expected)
        } else {
            images.contains(&expected)
        };
        let listed = |except: Option<&str>| {
            let mut all: Vec<String> = images
                .iter()
                .filter(|i| Some(i.as_str()) != except)
                .map(|i| format!("'{i}'"))
                .chain(ids.iter().cloned())
                .collect();
            all.sort();
            all.dedup();
            all.join(", ")
        };
        if !found {
            self.stdout = Some(joined);
            return Err(format!(
                "The archive did not contain image '{expected}'. Instead, found {}.",
                listed(None)
            ));
        }
        if images.len() > 1 {
            let more = listed(Some(&expected));
            self.warnings.push(format!(
                "The archive contained more images than specified: {more}"
            ));
        }
        self.image = find_image(self.cx, &self.docker, &self.reference())
            .await?
            .unwrap_or(J::Null);
        Ok(())
    }

    async fn archive(&mut self) -> Result<(), String> {
        let path = self.args.str("archive_path").unwrap_or_default();
        let (image_name, reference) = if dc::is_image_id(&self.name) {
            (self.name.clone(), self.name.clone())
        } else {
            let tag = if self.tag.is_empty() {
                "latest".to_string()
            } else {
                self.tag.clone()
            };
            (
                format!("{}:{tag}", self.name),
                dc::image_ref(&self.name, &tag),
            )
        };
        // No file is "none present"; a file that is no readable archive gets overwritten.
        let script = format!(
            "{}{} 2>/dev/null\nif [ -f {p} ]; then\n{}tar -xOf {p} manifest.json 2>/dev/null || {}else\n{}fi\n",
            dc::section("image"),
            self.docker.cmd(["image", "inspect", &reference]),
            dc::section("manifest"),
            dc::section("unreadable"),
            dc::section("none"),
            p = quote::quote(&path)
        );
        let out = docker_sh(self.cx, &self.docker, &script).await?;
        let parts = dc::sections(&out.stdout_text());
        let Some(image) = parts.get("image").and_then(|t| dc::inspect_first(t)) else {
            return Ok(());
        };
        let id = image
            .get("Id")
            .and_then(J::as_str)
            .unwrap_or_default()
            .to_string();
        // The one image a `docker save` archive names: its ID (from the config's file name)
        // and its tags.
        let archived = |m: &str| -> Option<(String, Vec<String>)> {
            let J::Array(entries) = serde_json::from_str::<J>(m.trim()).ok()? else {
                return None;
            };
            let [e] = entries.as_slice() else {
                return None;
            };
            let config = e.get("Config")?.as_str()?;
            let tags = e
                .get("RepoTags")?
                .as_array()?
                .iter()
                .filter_map(J::as_str)
                .map(str::to_string)
                .collect();
            let file = config.strip_suffix(".json").unwrap_or(config);
            Some((
                file.strip_prefix("blobs/sha256/")
                    .unwrap_or(file)
                    .to_string(),
                tags,
            ))
        };
        let summary = parts
            .get("manifest")
            .filter(|_| !parts.contains_key("unreadable"))
            .and_then(|m| archived(m));
        let reason = match summary {
            _ if parts.contains_key("none") => Some("since none present".to_string()),
            None => Some("overwriting an unreadable archive file".to_string()),
            Some((hash, tags))
                if format!("sha256:{hash}") == id && tags == [image_name.clone()] =>
            {
                None
            }
            Some((hash, tags)) => Some(format!(
                "overwriting archive with image {hash} named {}",
                tags.join(", ")
            )),
        };
        self.image = image;
        let Some(reason) = reason else {
            self.changed = false;
            return Ok(());
        };
        self.actions
            .push(format!("Archived image {image_name} to {path}, {reason}"));
        self.changed = true;
        if !self.cx.check_mode {
            let out = docker_sh(
                self.cx,
                &self.docker,
                &format!(
                    "{}\n",
                    self.docker.cmd(["save", "--output", &path, &reference])
                ),
            )
            .await?;
            if out.rc != 0 {
                return Err(format!(
                    "Error getting image {image_name} - {}",
                    out.stderr_text().trim()
                ));
            }
        }
        Ok(())
    }

    async fn push(&mut self, name: &str, tag: &str) -> Result<(), String> {
        if dc::is_image_id(name) {
            return Err(format!("Cannot push an image ID: {name}"));
        }
        let (repository, tag) = if tag.is_empty() {
            let (r, t) = dc::parse_repository_tag(name);
            (r, t.unwrap_or_default())
        } else {
            (name.to_string(), tag.to_string())
        };
        let (registry, repo_name) = resolve_repository_name(&repository);
        self.actions.push(format!(
            "Pushed image {} to {registry}/{repo_name}:{tag}",
            self.name
        ));
        self.changed = true;
        if self.cx.check_mode {
            return Ok(());
        }
        let reference = dc::image_ref(&repository, &tag);
        let script = format!(
            "{} 2>&1 || exit 3\n{}{} 2>/dev/null\n",
            self.docker.cmd(["push", &reference]),
            dc::section("image"),
            self.docker.cmd(["image", "inspect", &reference])
        );
        let out = docker_sh(self.cx, &self.docker, &script).await?;
        let text = out.stdout_text();
        let (log, rest) = text.split_once("\n@@kiln:image\n").unwrap_or((&text, ""));
        if out.rc != 0 {
            let exc = log.trim().lines().last().unwrap_or_default().to_string();
            if exc.contains("unauthorized") || exc.contains("no basic auth credentials") {
                if exc.contains("authentication required")
                    || exc.contains("no basic auth credentials")
                {
                    return Err(format!(
                        "Error pushing image {registry}/{repo_name}:{tag} - {exc}. Try logging into {registry} first."
                    ));
                }
                return Err(format!(
                    "Error pushing image {registry}/{repo_name}:{tag} - {exc}. Does the repository exist?"
                ));
            }
            return Err(format!("Error pushing image {repository}: {exc}"));
        }
        // A layer sent (not one the registry already had) is a change.
        self.changed = log
            .lines()
            .any(|l| l.ends_with(": Pushed") || l.contains(": Pushing"));
        let status = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut image = dc::inspect_first(rest).unwrap_or_else(|| J::Object(Default::default()));
        if let J::Object(o) = &mut image {
            o.insert("push_status".into(), J::String(status));
        }
        self.image = image;
        Ok(())
    }

    async fn tag_image(&mut self, repository: &str, push: bool) -> Result<(), String> {
        let (repo, repo_tag) = dc::parse_repository_tag(repository);
        let repo_tag = repo_tag.unwrap_or_else(|| {
            if self.tag.is_empty() {
                "latest".into()
            } else {
                self.tag.clone()
            }
        });
        let target = dc::image_ref(&repo, &repo_tag);
        let existing = find_image(self.cx, &self.docker, &target).await?;
        if existing.is_none() || self.args.bool("force_tag") {
            let mut source = self.name.clone();
            if !dc::is_image_id(&source)
                && !self.tag.is_empty()
                && !source.ends_with(&format!(":{}", self.tag))
            {
                source = format!("{}:{}", self.name, self.tag);
            }
            self.changed = true;
            self.actions
                .push(format!("Tagged image {source} to {repo}:{repo_tag}"));
            if !self.cx.check_mode {
                let out = docker_sh(
                    self.cx,
                    &self.docker,
                    &format!("{}\n", self.docker.cmd(["tag", &source, &target])),
                )
                .await?;
                if out.rc != 0 {
                    return Err(format!(
                        "Error: failed to tag image - {}",
                        out.stderr_text().trim()
                    ));
                }
                self.image = find_image(self.cx, &self.docker, &target)
                    .await?
                    .unwrap_or(J::Null);
                if let Some(old) = &existing
                    && old.get("Id") == self.image.get("Id")
                {
                    self.changed = false;
                }
            }
        }
        if push {
            self.push(&repo, &repo_tag).await?;
        }
        Ok(())
    }

    async fn absent(&mut self) -> Result<(), String> {
        let reference = self.reference();
        let name = if dc::is_image_id(&self.name) {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.tag)
        };
        if find_image(self.cx, &self.docker, &reference)
            .await?
            .is_none()
        {
            return Ok(());
        }
        if !self.cx.check_mode {
            let mut words = vec!["rmi".to_string()];
            if self.args.bool("force_absent") {
                words.push("--force".into());
            }
            words.push(reference.clone());
            let out = docker_sh(
                self.cx,
                &self.docker,
                &format!("{}\n", self.docker.cmd(&words)),
            )
            .await?;
            if out.rc != 0 && !out.stderr_text().contains("No such image") {
                return Err(format!(
                    "Error removing image {name} - {}",
                    out.stderr_text().trim()
                ));
            }
        }
        self.changed = true;
        self.actions.push(format!("Removed image {name}"));
        if let J::Object(o) = &mut self.image {
            o.insert("state".into(), J::String("Deleted".into()));
        }
        Ok(())
    }
}

/// Pulls `name:tag`; the image after it, and whether it was there unchanged before.
pub async fn pull(
    cx: &TaskCx<'_>,
    docker: &Docker,
    name: &str,
    tag: &str,
    platform: Option<&str>,
) -> Result<(Option<J>, bool), String> {
    let reference = dc::image_ref(name, tag);
    let mut words = vec!["pull".to_string()];
    if let Some(p) = platform {
        words.extend(["--platform".into(), p.to_string()]);
    }
    words.push(reference.clone());
    let inspect = docker.cmd(["image", "inspect", &reference]);
    let script = format!(
        "{}{inspect} 2>/dev/null\n{} >/dev/null || exit 3\n{}{inspect} 2>/dev/null\n",
        dc::section("before"),
        docker.cmd(&words),
        dc::section("after"),
    );
    let out = docker_sh(cx, docker, &script).await?;
    if out.rc != 0 {
        return Err(format!(
            "Error pulling image {name}:{tag} - {}",
            out.stderr_text().trim()
        ));
    }
    let parts = dc::sections(&out.stdout_text());
    let before = parts.get("before").and_then(|t| dc::inspect_first(t));
    let after = parts.get("after").and_then(|t| dc::inspect_first(t));
    let same = matches!((&before, &after), (Some(a), Some(b)) if a.get("Id") == b.get("Id"));
    Ok((after, same))
}

pub struct DockerImagePull;

static PULL_SPEC: LazyLock<ArgSpec> = LazyLock::new(|| {
    dc::spec(
        &[
            Opt::new("name", Kind::Str).required(),
            Opt::new("tag", Kind::Str).default("latest"),
            Opt::new("platform", Kind::Str),
            Opt::new("pull", Kind::Str)
                .default("always")
                .choices(&["always", "not_present"]),
        ],
        false,
        &[],
        &[],
    )
});

fn image_info(image: Option<&J>) -> Value {
    let mut m = Map::new();
    match image.and_then(|i| i.get("Id")) {
        Some(id) => {
            m.insert(Value::str("id"), dc::from_json(id));
        }
        None => {
            m.insert(Value::str("exists"), Value::Bool(false));
        }
    }
    Value::Map(m)
}

#[async_trait]
impl Module for DockerImagePull {
    fn name(&self) -> &'static str {
        "docker_image_pull"
    }
    fn spec(&self) -> &'static ArgSpec {
        &PULL_SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        dc::COLLECTIONS
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let docker = Docker::new(&args);
        let mut name = args.str("name").unwrap_or_default();
        let mut tag = args.str("tag").unwrap_or_else(|| "latest".into());
        if dc::is_image_id(&name) {
            return TaskResult::failed("Cannot pull an image by ID");
        }
        if !dc::is_valid_tag(&tag, true) {
            return TaskResult::failed(format!("\"{tag}\" is not a valid docker tag!"));
        }
        if let (repo, Some(t)) = dc::parse_repository_tag(&name) {
            name = repo;
            tag = t;
        }
        let platform = args.str("platform");
        let image = match find_image(cx, &docker, &dc::image_ref(&name, &tag)).await {
            Ok(i) => i,
            Err(e) => return TaskResult::failed(e),
        };
        let before = image_info(image.as_ref());
        let done = |changed: bool, image: Option<J>, after: Value, actions: Vec<String>| {
            let mut r = TaskResult::changed(changed)
                .with(
                    "actions",
                    Value::Seq(actions.into_iter().map(Value::str).collect()),
                )
                .with(
                    "image",
                    dc::from_json(
                        &image
                            .clone()
                            .unwrap_or_else(|| J::Object(Default::default())),
                    ),
                );
            if cx.diff_mode
                && let (Value::Map(b), Value::Map(a)) = (&before, &after)
            {
                r.diff.push(dc::json_diff(b, a));
            }
            r
        };
        // With a platform, kiln pulls (the daemon decides whether anything changes).
        if image.is_some()
            && args.str("pull").as_deref() == Some("not_present")
            && platform.is_none()
        {
            let info = image_info(image.as_ref());
            return done(false, image, info, Vec::new());
        }
        let actions = vec![format!("Pulled image {name}:{tag}")];
        if cx.check_mode {
            let mut unknown = serde_json::Map::new();
            unknown.insert("Id".into(), J::String("unknown".into()));
            return done(true, image, image_info(Some(&J::Object(unknown))), actions);
        }
        match pull(cx, &docker, &name, &tag, platform.as_deref()).await {
            Ok((after, same)) => {
                let info = image_info(after.as_ref());
                done(!same, after, info, actions)
            }
            Err(e) => TaskResult::failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries() {
        assert_eq!(
            resolve_repository_name("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            resolve_repository_name("user/app"),
            ("docker.io".into(), "user/app".into())
        );
        assert_eq!(
            resolve_repository_name("10.99.3.12:5000/kiln/app"),
            ("10.99.3.12:5000".into(), "kiln/app".into())
        );
        assert_eq!(
            resolve_repository_name("localhost/app"),
            ("localhost".into(), "app".into())
        );
    }
}
