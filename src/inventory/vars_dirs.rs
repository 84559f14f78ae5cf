//! `group_vars/` and `host_vars/` beside inventory sources and beside the playbook, found and
//! merged as Ansible's `host_group_vars` plugin does.

use super::InventoryError;
use crate::yaml::{self, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Extensions tried after the bare name, in Ansible's order.
const EXTENSIONS: [&str; 4] = ["", ".yml", ".yaml", ".json"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Group,
    Host,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Group => "group_vars",
            Kind::Host => "host_vars",
        }
    }
}

/// Finds and loads vars files, each file read once per run.
#[derive(Default)]
pub struct VarsFiles {
    loaded: HashMap<PathBuf, Map>,
    found: HashMap<(PathBuf, Kind, String), Vec<PathBuf>>,
    pub warnings: Vec<String>,
}

impl VarsFiles {
    /// The variables for one entity from `<base>/group_vars/<name>*` or `host_vars`.
    pub fn vars_for(&mut self, base: &Path, kind: Kind, name: &str) -> Result<Map, InventoryError> {
        // Names like `/path/to/chroot` are never looked up, as in Ansible.
        if name.starts_with('/') || name.is_empty() {
            return Ok(Map::new());
        }
        let key = (base.to_path_buf(), kind, name.to_string());
        let files = match self.found.get(&key) {
            Some(f) => f.clone(),
            None => {
                let files = find_vars_files(&base.join(kind.dir()), name);
                self.found.insert(key, files.clone());
                files
            }
        };
        let mut data = Map::new();
        for file in files {
            let vars = self.load(&file)?;
            super::combine(&mut data, &vars);
        }
        Ok(data)
    }

    /// One vars file as a mapping; empty files give nothing.
    pub fn load(&mut self, file: &Path) -> Result<Map, InventoryError> {
        if let Some(m) = self.loaded.get(file) {
            return Ok(m.clone());
        }
        let loaded = yaml::load_file(file)?;
        for w in &loaded.warnings {
            self.warnings.push(format!("{} ({})", w.message, w.span));
        }
        let value = loaded.node.map(|n| n.to_value()).unwrap_or(Value::Null);
        let map = match value {
            Value::Map(m) => m,
            v if !v.truthy() => Map::new(),
            other => {
                return Err(InventoryError::at(
                    crate::diag::Span::file(&std::sync::Arc::from(file.to_string_lossy().as_ref())),
                    format!(
                        "failed to combine variables from `{}`: expected a mapping but got a `{}`",
                        file.display(),
                        other.type_name()
                    ),
                    "a vars file holds one mapping of variable names to values",
                ));
            }
        };
        self.loaded.insert(file.to_path_buf(), map.clone());
        Ok(map)
    }
}

/// `<dir>/<name>`, `<name>.yml`, `.yaml`, `.json`: the first that exists; a directory
/// contributes every vars file below it, in sorted order.
fn find_vars_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    if !dir.is_dir() {
        return Vec::new();
    }
    for ext in EXTENSIONS {
        let candidate = dir.join(format!("{name}{ext}"));
        if candidate.is_dir() {
            let mut out = Vec::new();
            dir_vars_files(&candidate, &mut out);
            return out;
        }
        if candidate.exists() {
            return vec![candidate];
        }
    }
    Vec::new()
}

fn dir_vars_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = dir.join(&name);
        let ext = extension(&name);
        if path.is_dir() && ext.is_empty() {
            dir_vars_files(&path, out);
        } else if path.is_file() && (ext.is_empty() || EXTENSIONS.contains(&ext)) {
            out.push(path);
        }
    }
}

/// Python's `os.path.splitext(name)[1]`: leading dots do not start an extension.
pub fn extension(name: &str) -> &str {
    let trimmed = name.trim_start_matches('.');
    match trimmed.rfind('.') {
        Some(i) => &trimmed[i..],
        None => "",
    }
}
