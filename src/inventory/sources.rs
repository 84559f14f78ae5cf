//! Reading `-i` sources: host lists, files (YAML, then INI, as Ansible tries its plugins) and
//! directories of them; then the variables of each host in Ansible's precedence order.

use super::range::parse_address;
use super::vars_dirs::{Kind, VarsFiles, extension};
use super::yaml_source::{self, NotYaml};
use super::{Inventory, InventoryError, ini};
use crate::yaml::{self, Map, Value};
use std::path::{Path, PathBuf};

/// Files in an inventory directory that Ansible never reads as inventory.
const IGNORED_EXTS: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];

/// Variable names Ansible computes itself; inventory listings leave them out.
pub const INTERNAL_VARS: [&str; 33] = [
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "group_names",
    "groups",
    "hostvars",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "play_hosts",
    "playbook_dir",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

/// The prefix of a Vagrant project source (`-i vagrant:DIR` or `-i vagrant:FILE`).
const VAGRANT: &str = "vagrant:";

/// Loads inventories and answers variable questions about them.
pub struct Loader {
    pub inventory: Inventory,
    vars_files: VarsFiles,
    /// Directories whose `group_vars/`/`host_vars/` count as "beside the playbook".
    playbook_dirs: Vec<PathBuf>,
}

impl Loader {
    /// Reads every source in order. A source kiln cannot read is an error, not a warning:
    /// running a play against a silently empty inventory helps nobody.
    pub fn load(sources: &[String], playbook_dir: Option<&Path>) -> Result<Loader, InventoryError> {
        let mut inv = Inventory::new();
        for source in sources {
            if source.is_empty() {
                continue;
            }
            let path = Path::new(source);
            if let Some(project) = source.strip_prefix(VAGRANT) {
                super::vagrant::parse_source(&mut inv, project)?;
            } else if source.contains(',') && !path.exists() {
                host_list(&mut inv, source);
            } else if path.is_dir() {
                parse_dir(&mut inv, path)?;
            } else if path.exists() {
                parse_file(&mut inv, path)?;
            } else {
                return Err(InventoryError::Unparsed {
                    source_name: source.clone(),
                    reasons: "  the path does not exist".into(),
                });
            }
        }
        inv.sources = sources.to_vec();
        inv.reconcile();
        Ok(Loader {
            inventory: inv,
            vars_files: VarsFiles::default(),
            playbook_dirs: playbook_dir.map(Path::to_path_buf).into_iter().collect(),
        })
    }

    /// Warnings from reading sources and vars files, in order.
    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut w = std::mem::take(&mut self.inventory.warnings);
        w.append(&mut self.vars_files.warnings);
        w
    }

    /// Directories holding inventory-adjacent vars: each source's own directory (a Vagrant
    /// project's directory for `vagrant:`).
    fn source_dirs(&self) -> Vec<PathBuf> {
        self.inventory
            .sources
            .iter()
            .map(|s| s.strip_prefix(VAGRANT).unwrap_or(s))
            .filter(|s| !s.contains(',') || Path::new(s).exists())
            .map(|s| {
                let p = Path::new(s);
                if p.is_dir() {
                    p.to_path_buf()
                } else {
                    p.parent().map(Path::to_path_buf).unwrap_or_default()
                }
            })
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p
                }
            })
            .collect()
    }

    fn dir_vars(
        &mut self,
        dirs: &[PathBuf],
        kind: Kind,
        names: &[String],
    ) -> Result<Map, InventoryError> {
        let mut data = Map::new();
        for dir in dirs {
            for name in names {
                let vars = self.vars_files.vars_for(dir, kind, name)?;
                super::combine(&mut data, &vars);
            }
        }
        Ok(data)
    }

    /// A host's variables from inventory sources and vars dirs, in Ansible's precedence order
    /// (`all` < other groups by depth/priority/name < group_vars/all < group_vars/* < host).
    pub fn host_vars(&mut self, host: usize) -> Result<Map, InventoryError> {
        let inv = &self.inventory;
        let groups: Vec<usize> = inv
            .sorted_groups(inv.host_groups(host))
            .into_iter()
            .filter(|&g| g != 0)
            .collect();
        let group_names: Vec<String> = groups.iter().map(|&g| inv.groups[g].name.clone()).collect();
        let host_name = inv.hosts[host].name.clone();
        let mut vars = inv.groups[0].vars.clone();
        for &g in &groups {
            super::combine(&mut vars, &inv.groups[g].vars);
        }
        let host_own = inv.hosts[host].vars.clone();
        let source_dirs = self.source_dirs();
        let playbook_dirs = self.playbook_dirs.clone();
        let all = ["all".to_string()];
        for (dirs, names) in [
            (&source_dirs, &all[..]),
            (&playbook_dirs, &all[..]),
            (&source_dirs, &group_names[..]),
            (&playbook_dirs, &group_names[..]),
        ] {
            let found = self.dir_vars(dirs, Kind::Group, names)?;
            super::combine(&mut vars, &found);
        }
        super::combine(&mut vars, &host_own);
        let host_names = [host_name];
        for dirs in [&source_dirs, &playbook_dirs] {
            let found = self.dir_vars(dirs, Kind::Host, &host_names)?;
            super::combine(&mut vars, &found);
        }
        Ok(vars)
    }

    /// A group's own variables plus its `group_vars/` files (for `--graph --vars`).
    pub fn group_vars(&mut self, group: usize) -> Result<Map, InventoryError> {
        let g = &self.inventory.groups[group];
        let mut vars = g.vars.clone();
        let name = [g.name.clone()];
        let priority = g.priority;
        let source_dirs = self.source_dirs();
        let playbook_dirs = self.playbook_dirs.clone();
        for dirs in [&source_dirs, &playbook_dirs] {
            let found = self.dir_vars(dirs, Kind::Group, &name)?;
            super::combine(&mut vars, &found);
        }
        if priority != 1 {
            vars.insert(
                Value::str("ansible_group_priority"),
                Value::Int(priority as i128),
            );
        }
        Ok(vars)
    }
}

/// `-i 'a,b:2222,'`: each entry an ungrouped host.
fn host_list(inv: &mut Inventory, list: &str) {
    for entry in list.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (name, port) = match parse_address(entry) {
            Some((h, p)) if !h.contains('[') => (h, p),
            _ => (entry.to_string(), None),
        };
        inv.add_host(&name, Some(1), port, None);
    }
}

fn parse_dir(inv: &mut Inventory, dir: &Path) -> Result<(), InventoryError> {
    let entries = std::fs::read_dir(dir).map_err(|source| InventoryError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.')
            || IGNORED_NAMES.contains(&name.as_str())
            || IGNORED_EXTS.iter().any(|ext| name.ends_with(ext))
        {
            continue;
        }
        let path = dir.join(&name);
        if path.is_dir() {
            parse_dir(inv, &path)?;
        } else {
            parse_file(inv, &path)?;
        }
    }
    Ok(())
}

/// Tries the formats Ansible's default plugins would, in their order: YAML (for `.yml`,
/// `.yaml`, `.json` and extension-less files), then INI (for anything but `.toml`).
fn parse_file(inv: &mut Inventory, path: &Path) -> Result<(), InventoryError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = extension(&name);
    // An inventory file may be vault-encrypted as a whole, as Ansible's loader allows.
    let text = yaml::read_file(path).map_err(|e| match e {
        yaml::YamlError::Read { path, source } => InventoryError::Read { path, source },
        other => InventoryError::Yaml(other),
    })?;
    let mut reasons = Vec::new();
    if ext.is_empty() || [".yml", ".yaml", ".json"].contains(&ext) {
        let file_name: std::sync::Arc<str> = std::sync::Arc::from(path.to_string_lossy().as_ref());
        match yaml::load_text(&text, &file_name) {
            Ok(loaded) => {
                // Parse into a scratch copy so a file that turns out not to be YAML
                // inventory leaves no half-added groups behind.
                let mut attempt = inv.clone();
                match yaml_source::parse(&mut attempt, loaded.node.as_ref(), path) {
                    Ok(()) => {
                        for w in loaded.warnings {
                            attempt.warn(format!("{} ({})", w.message, w.span));
                        }
                        *inv = attempt;
                        return Ok(());
                    }
                    Err(NotYaml::Structure(why)) => reasons.push(format!("  yaml: {why}")),
                    Err(NotYaml::Error(e)) if ext.is_empty() => {
                        reasons.push(format!("  yaml: {}", e.render()))
                    }
                    Err(NotYaml::Error(e)) => return Err(e),
                }
            }
            // A YAML syntax error in a file named as YAML is the error to report.
            Err(e) if !ext.is_empty() => return Err(e.into()),
            Err(e) => reasons.push(format!("  yaml: {e}")),
        }
    }
    if ext == ".toml" {
        reasons.push("  toml: TOML inventories are not supported by kiln".into());
    } else {
        let mut attempt = inv.clone();
        match ini::parse(&mut attempt, &text, path) {
            Ok(()) => {
                *inv = attempt;
                return Ok(());
            }
            // A file that is not YAML by name and fails as INI: the INI error is the one to show.
            Err(e) if !ext.is_empty() && ![".yml", ".yaml", ".json"].contains(&ext) => {
                return Err(e);
            }
            Err(e) if ext.is_empty() => return Err(e),
            Err(e) => reasons.push(format!("  ini: {}", e.render())),
        }
    }
    Err(InventoryError::Unparsed {
        source_name: path.display().to_string(),
        reasons: reasons.join("\n"),
    })
}
