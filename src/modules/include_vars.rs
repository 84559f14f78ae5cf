//! `include_vars`: variables from YAML/JSON files on the controller, a file or a directory of
//! them, found as Ansible finds them (the role's `vars/`, then beside the playbook). The
//! executor keeps them at include_vars precedence (above task vars, below `set_fact`).

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

pub struct IncludeVars;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("file", Kind::Path),
        Opt::new("dir", Kind::Path),
        Opt::new("name", Kind::Str),
        Opt::new("depth", Kind::Int).default("0"),
        Opt::new("files_matching", Kind::Str),
        Opt::new("ignore_files", Kind::List),
        Opt::new("extensions", Kind::List).default("yaml,yml,json"),
        Opt::new("ignore_unknown_extensions", Kind::Bool).default("false"),
        Opt::new("hash_behaviour", Kind::Str).choices(&["replace", "merge"]),
    ],
    mutually_exclusive: &[&["file", "dir"], &["_raw_params", "dir"]],
    required_one_of: &[],
    required_together: &[],
    free_form: true,
    open: false,
};

#[async_trait]
impl Module for IncludeVars {
    fn name(&self) -> &'static str {
        "include_vars"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if args.str("hash_behaviour").as_deref() == Some("merge") {
            return TaskResult::failed(
                "hash_behaviour `merge` is not supported by kiln: variables are replaced as with Ansible's default",
            );
        }
        let file = args.str("file").or_else(|| args.str("_raw_params"));
        let files = match (file, args.str("dir")) {
            (Some(f), _) => match cx.search.find("vars", &f) {
                Some(p) => vec![p],
                None => {
                    return TaskResult::failed(format!(
                        "Could not find or access '{f}'\nSearched in:\n{}",
                        searched(cx, "vars", &f)
                    ));
                }
            },
            (None, Some(d)) => {
                let Some(dir) = cx.search.find("vars", &d).filter(|p| p.is_dir()) else {
                    return TaskResult::failed(format!("{d} directory does not exist"));
                };
                match dir_files(&dir, &args) {
                    Ok(f) => f,
                    Err(e) => return TaskResult::failed(e),
                }
            }
            (None, None) => {
                return TaskResult::failed("one of `file`, `dir` or a file name is required");
            }
        };
        let mut vars = Map::new();
        for f in &files {
            match crate::yaml::load_file(f) {
                Ok(loaded) => match loaded.node.map(|n| n.to_value()) {
                    Some(Value::Map(m)) => vars.extend(m),
                    None | Some(Value::Null) => {}
                    Some(_) => {
                        return TaskResult::failed(format!(
                            "{} must be stored as a dictionary/hash",
                            f.display()
                        ));
                    }
                },
                Err(e) => {
                    return TaskResult::failed(
                        e.located().map_or_else(|| e.to_string(), |l| l.to_string()),
                    );
                }
            }
        }
        let facts = match args.str("name") {
            Some(n) => Map::from([(Value::str(n), Value::Map(vars))]),
            None => vars,
        };
        TaskResult {
            facts: Some(facts),
            ..TaskResult::changed(false)
        }
        .with(
            "ansible_included_var_files",
            Value::Seq(
                files
                    .iter()
                    .map(|p| {
                        let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                        Value::str(abs.display().to_string())
                    })
                    .collect(),
            ),
        )
    }
}

fn searched(cx: &TaskCx<'_>, kind: &str, rel: &str) -> String {
    cx.search
        .0
        .iter()
        .flat_map(|b| [b.join(kind).join(rel), b.join(rel)])
        .map(|p| format!("\t{}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files of a directory `include_vars` reads: sorted, down to `depth` levels (0: all),
/// with the allowed extensions, matching `files_matching`, minus `ignore_files`.
fn dir_files(dir: &Path, args: &Args) -> Result<Vec<PathBuf>, String> {
    let depth = match args.get("depth") {
        Some(Value::Int(d)) => *d as usize,
        _ => 0,
    };
    let exts: Vec<String> = args
        .list("extensions")
        .iter()
        .map(crate::yaml::python_str)
        .collect();
    let ignore: Vec<String> = args
        .list("ignore_files")
        .iter()
        .map(crate::yaml::python_str)
        .collect();
    let matching = match args.str("files_matching") {
        Some(p) => Some(
            fancy_regex::Regex::new(&format!("^(?:{p})"))
                .map_err(|e| format!("invalid files_matching `{p}`: {e}"))?,
        ),
        None => None,
    };
    let strict = !args.bool("ignore_unknown_extensions");
    let mut out = Vec::new();
    walk(dir, 1, depth, &mut |p: &Path| -> Result<(), String> {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if ignore.contains(&name) {
            return Ok(());
        }
        if let Some(m) = &matching
            && !m.is_match(&name).unwrap_or(false)
        {
            return Ok(());
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !exts.iter().any(|e| e == ext) {
            if strict {
                return Err(format!(
                    "{} does not have a valid extension: {}",
                    p.display(),
                    exts.join(", ")
                ));
            }
            return Ok(());
        }
        out.push(p.to_path_buf());
        Ok(())
    })?;
    Ok(out)
}

fn walk(
    dir: &Path,
    level: usize,
    depth: usize,
    f: &mut dyn FnMut(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|p| p.is_dir());
    for p in files {
        f(&p)?;
    }
    if depth == 0 || level < depth {
        for d in dirs {
            walk(&d, level + 1, depth, f)?;
        }
    }
    Ok(())
}
