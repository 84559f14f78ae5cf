//! `docker_volume` (community.docker): a volume, created with `docker volume create` when
//! missing, and recreated when `recreate` says so.

use super::docker_common::{self as dc, Docker};
use super::docker_image::docker_sh;
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use serde_json::Value as J;
use std::sync::LazyLock;

pub struct DockerVolume;

static SPEC: LazyLock<ArgSpec> = LazyLock::new(|| {
    dc::spec(
        &[
            Opt::new("volume_name", Kind::Str)
                .required()
                .aliases(&["name"]),
            Opt::new("state", Kind::Str)
                .default("present")
                .choices(&["absent", "present"]),
            Opt::new("driver", Kind::Str).default("local"),
            Opt::new("driver_options", Kind::Dict),
            Opt::new("labels", Kind::Dict),
            Opt::new("recreate", Kind::Str).default("never").choices(&[
                "always",
                "never",
                "options-changed",
            ]),
        ],
        false,
        &[],
        &[],
    )
});

#[async_trait]
impl Module for DockerVolume {
    fn name(&self) -> &'static str {
        "docker_volume"
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

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, String> {
    let docker = Docker::new(args);
    let name = args.str("volume_name").unwrap_or_default();
    let driver = args.str("driver").unwrap_or_else(|| "local".into());
    let labels = match args.get("labels") {
        Some(Value::Map(l)) => Some(dc::sanitize_labels(l, "labels")?),
        _ => None,
    };
    let options: Vec<(String, String)> = match args.get("driver_options") {
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| (crate::yaml::python_str(k), crate::yaml::python_str(v)))
            .collect(),
        _ => Vec::new(),
    };
    let inspect = docker.cmd(["volume", "inspect", &name]);
    let out = docker_sh(cx, &docker, &format!("{inspect} 2>/dev/null\n")).await?;
    let existing = dc::inspect_first(&out.stdout_text());

    let mut tracker: Vec<(String, J, J)> = Vec::new();
    let mut differences: Vec<(String, J, J)> = Vec::new();
    let mut actions = Vec::new();
    let mut steps: Vec<String> = Vec::new();
    let state = args.str("state").unwrap_or_else(|| "present".into());
    let remove = |steps: &mut Vec<String>, actions: &mut Vec<String>| {
        steps.push(docker.cmd(["volume", "rm", &name]));
        actions.push(format!("Removed volume {name}"));
    };
    if state == "absent" {
        tracker.push(("exists".into(), J::Bool(false), J::Bool(existing.is_some())));
        if existing.is_some() {
            remove(&mut steps, &mut actions);
        }
    } else {
        if let Some(v) = &existing {
            let get = |k: &str| v.get(k).cloned().unwrap_or(J::Null);
            if !driver.is_empty() && v.get("Driver").and_then(J::as_str) != Some(driver.as_str()) {
                differences.push(("driver".into(), J::String(driver.clone()), get("Driver")));
            }
            if !options.is_empty() {
                match v
                    .get("Options")
                    .and_then(J::as_object)
                    .filter(|o| !o.is_empty())
                {
                    None => differences.push((
                        "driver_options".into(),
                        dc::to_json(args.get("driver_options").unwrap_or(&Value::Null)),
                        get("Options"),
                    )),
                    Some(o) => {
                        for (k, want) in &options {
                            let cur = o.get(k).and_then(J::as_str).filter(|s| !s.is_empty());
                            if cur != Some(want.as_str()) {
                                differences.push((
                                    format!("driver_options.{k}"),
                                    J::String(want.clone()),
                                    o.get(k).cloned().unwrap_or(J::Null),
                                ));
                            }
                        }
                    }
                }
            }
            for (k, want) in labels.iter().flatten() {
                let cur = v
                    .get("Labels")
                    .and_then(|l| l.get(k))
                    .cloned()
                    .unwrap_or(J::Null);
                if cur.as_str() != Some(want.as_str()) {
                    differences.push((format!("labels.{k}"), J::String(want.clone()), cur));
                }
            }
        }
        tracker.push(("exists".into(), J::Bool(true), J::Bool(existing.is_some())));
        let recreate = args.str("recreate").unwrap_or_default();
        let mut present = existing.is_some();
        if present
            && ((!differences.is_empty() && recreate == "options-changed") || recreate == "always")
        {
            remove(&mut steps, &mut actions);
            present = false;
        }
        if !present {
            let mut w: Vec<String> = vec![
                "volume".into(),
                "create".into(),
                "--driver".into(),
                driver.clone(),
            ];
            for (k, v) in &options {
                w.extend(["--opt".into(), format!("{k}={v}")]);
            }
            for (k, v) in labels.iter().flatten() {
                w.extend(["--label".into(), format!("{k}={v}")]);
            }
            w.push(name.clone());
            steps.push(docker.cmd(&w));
            actions.push(format!("Created volume {name} with driver {driver}"));
        }
    }
    let changed = !steps.is_empty();
    let mut volume = existing;
    if !cx.check_mode {
        let mut s = String::new();
        for step in &steps {
            s.push_str(&format!("{step} >/dev/null || exit 3\n"));
        }
        s.push_str(&dc::section("final"));
        s.push_str(&format!("{inspect} 2>/dev/null || true\n"));
        let out = docker_sh(cx, &docker, &s).await?;
        if out.rc != 0 {
            return Err(out.stderr_text().trim().to_string());
        }
        volume = dc::sections(&out.stdout_text())
            .get("final")
            .and_then(|t| dc::inspect_first(t));
    }
    let mut r = TaskResult::changed(changed);
    if state != "absent" {
        r = r.with("volume", volume.as_ref().map_or(Value::Null, dc::from_json));
    }
    if cx.check_mode || args.bool("debug") {
        r = r.with(
            "actions",
            Value::Seq(actions.into_iter().map(Value::str).collect()),
        );
    }
    if cx.diff_mode || cx.check_mode || args.bool("debug") {
        let names: Vec<Value> = differences
            .iter()
            .map(|d| Value::str(d.0.clone()))
            .collect();
        tracker.extend(differences);
        if cx.diff_mode {
            let (mut before, mut after) = (Map::new(), Map::new());
            for (n, p, a) in &tracker {
                before.insert(Value::str(n.clone()), dc::from_json(a));
                after.insert(Value::str(n.clone()), dc::from_json(p));
            }
            r.diff.push(dc::json_diff(&before, &after));
        } else if state != "absent" {
            let mut d = Map::new();
            d.insert(Value::str("differences"), Value::Seq(names));
            r = r.with("diff", Value::Map(d));
        }
    }
    Ok(r)
}
