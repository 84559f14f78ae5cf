//! `package`: the generic package module. As Ansible's action plugin does, it runs the
//! module for the host's package manager (`use`, else `ansible_package_use`, else the
//! `pkg_mgr` fact, else asked on the host the way fact gathering would) with the task's
//! arguments, which that module checks; kiln has `apt` and `dnf`, and refuses other managers
//! naming them.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct Package;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("name", Kind::Raw),
        Opt::new("state", Kind::Raw),
        Opt::new("use", Kind::Str).default("auto"),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    // The rest belongs to the module the host's manager selects.
    open: true,
};

#[async_trait]
impl Module for Package {
    fn name(&self) -> &'static str {
        "package"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let mut manager = args.str("use").unwrap_or_else(|| "auto".into());
        if manager == "auto" {
            manager = match var_str(cx.vars, "ansible_package_use") {
                Some(m) => m,
                None => match fact_pkg_mgr(cx.vars) {
                    Some(m) => m,
                    None => match detect(cx).await {
                        Ok(Some(m)) => m,
                        Ok(None) => {
                            return TaskResult::failed(
                                "Could not detect a package manager. Try using the \"use\" option.",
                            );
                        }
                        Err(r) => return r,
                    },
                },
            };
        }
        let mut raw = Map::new();
        for (k, v) in &args.0 {
            if k.as_str() != Some("use") {
                raw.insert(k.clone(), v.clone());
            }
        }
        match manager.as_str() {
            "apt" => match super::apt::SPEC.validate("apt", &raw) {
                Ok(a) => match super::apt::run_apt(cx, &a).await {
                    Ok(r) | Err(r) => r,
                },
                Err(e) => TaskResult::failed(e),
            },
            "dnf" | "dnf5" | "yum" => match super::dnf::SPEC.validate("dnf", &raw) {
                Ok(a) => super::dnf::run_dnf(cx, &a).await,
                Err(e) => TaskResult::failed(e),
            },
            "auto" => TaskResult::failed(
                "Could not detect which package manager to use. Try gathering facts or setting the \"use\" option.",
            ),
            other => TaskResult::failed(format!(
                "kiln's package module runs apt and dnf; this host's package manager is '{other}', which kiln does not support yet"
            )),
        }
    }
}

fn var_str(vars: &Map, key: &str) -> Option<String> {
    vars.get(&Value::str(key))
        .filter(|v| !v.is_null())
        .map(crate::yaml::python_str)
        .filter(|s| !s.is_empty())
}

fn fact_pkg_mgr(vars: &Map) -> Option<String> {
    match vars.get(&Value::str("ansible_facts"))? {
        Value::Map(m) => m
            .get(&Value::str("pkg_mgr"))
            .map(crate::yaml::python_str)
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// Facts were not gathered: the facts probe answers, read for `pkg_mgr` alone as Ansible's
/// `setup` with `gather_subset: "!all"` and `filter: ansible_pkg_mgr` would.
async fn detect(cx: &TaskCx<'_>) -> Result<Option<String>, TaskResult> {
    let out = cx
        .sh(crate::facts::PROBE)
        .await
        .map_err(super::conn_failure)?;
    let opts = crate::facts::GatherOptions {
        gather_subset: vec!["!all".into()],
        filter: vec!["ansible_pkg_mgr".into()],
    };
    let facts = crate::facts::parse_with(&out.stdout_text(), &opts).map_err(|e| {
        TaskResult::failed(format!(
            "Failed to fetch ansible_pkg_mgr to determine the package action backend: {e}"
        ))
    })?;
    Ok(facts
        .get(&Value::str("pkg_mgr"))
        .map(crate::yaml::python_str))
}
