//! Ansible inventories: hosts, groups and their variables, read from INI, YAML, JSON, host
//! lists and directories of those, plus `group_vars/` and `host_vars/`.
//!
//! The model follows Ansible's own (`InventoryData`): groups form a DAG under `all`, a host
//! belongs to the groups it was put in and to their ancestors, and `reconcile` applies the
//! implicit rules (`ungrouped`, top-level groups under `all`) once every source is read.

mod error;
mod ini;
mod pattern;
mod pyliteral;
mod range;
mod sources;
mod vagrant;
mod vars_dirs;
mod yaml_source;

pub use error::InventoryError;
pub use pattern::{read_limit, split_host_pattern};
pub use pyliteral::shlex_split;
pub use sources::INTERNAL_VARS;
pub use sources::Loader;

use crate::yaml::{Map, Value};
use indexmap::{IndexMap, IndexSet};
use std::path::PathBuf;

/// Names Ansible treats as the controller itself.
pub const LOCALHOST: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// Variables set by inventory sources on this host (not group_vars/host_vars files).
    pub vars: Map,
    /// Groups the host was put in directly, by index into `Inventory::groups`.
    groups: Vec<usize>,
    /// The implicit `localhost`: made on demand, never in `all`'s host list.
    pub implicit: bool,
    /// The inventory source that first named this host.
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub vars: Map,
    /// Direct member hosts in the order they were added (indices into `Inventory::hosts`).
    hosts: Vec<usize>,
    children: Vec<usize>,
    parents: Vec<usize>,
    pub depth: u32,
    pub priority: i64,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    localhost: Option<usize>,
    /// The sources as given, for finding `group_vars/` and `host_vars/` beside them.
    pub sources: Vec<String>,
    pub warnings: Vec<String>,
}

const ALL: usize = 0;
const UNGROUPED: usize = 1;

impl Default for Inventory {
    fn default() -> Self {
        Inventory::new()
    }
}

impl Inventory {
    pub fn new() -> Inventory {
        let mut inv = Inventory {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            localhost: None,
            sources: Vec::new(),
            warnings: Vec::new(),
        };
        inv.add_group("all");
        inv.add_group("ungrouped");
        // Cannot fail: both groups exist and `ungrouped` has no children.
        let _ = inv.add_child_group(ALL, UNGROUPED);
        inv
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Adds a group if it is new; returns its index.
    pub fn add_group(&mut self, name: &str) -> usize {
        if let Some(i) = self.groups.get_index_of(name) {
            return i;
        }
        let (i, _) = self.groups.insert_full(
            name.to_string(),
            Group {
                name: name.to_string(),
                vars: Map::new(),
                hosts: Vec::new(),
                children: Vec::new(),
                parents: Vec::new(),
                depth: 0,
                priority: 1,
            },
        );
        i
    }

    /// Adds a host if it is new, and puts it in `group` if given; returns its index.
    pub fn add_host(
        &mut self,
        name: &str,
        group: Option<usize>,
        port: Option<u16>,
        source: Option<&PathBuf>,
    ) -> usize {
        let index = match self.hosts.get_index_of(name) {
            Some(i) => i,
            None => {
                let mut vars = Map::new();
                if let Some(port) = port {
                    vars.insert(Value::str("ansible_port"), Value::Int(port as i128));
                }
                let (i, _) = self.hosts.insert_full(
                    name.to_string(),
                    Host {
                        name: name.to_string(),
                        vars,
                        groups: Vec::new(),
                        implicit: false,
                        source: source.cloned(),
                    },
                );
                if LOCALHOST.contains(&name) {
                    match self.localhost {
                        None => self.localhost = Some(i),
                        Some(first) => {
                            let first = self.hosts[first].name.clone();
                            self.warn(format!(
                                "A duplicate localhost-like entry was found ({name}). First found localhost was {first}"
                            ));
                        }
                    }
                }
                i
            }
        };
        if let Some(g) = group {
            self.add_host_to_group(g, index);
        }
        index
    }

    fn add_host_to_group(&mut self, group: usize, host: usize) {
        let g = &mut self.groups[group];
        if !g.hosts.contains(&host) {
            g.hosts.push(host);
            let h = &mut self.hosts[host];
            if !h.groups.contains(&group) {
                h.groups.push(group);
            }
        }
    }

    fn remove_host_from_group(&mut self, group: usize, host: usize) {
        self.groups[group].hosts.retain(|&h| h != host);
        self.hosts[host].groups.retain(|&g| g != group);
    }

    /// Makes `child` a child group of `parent`, refusing cycles as Ansible does.
    pub fn add_child_group(&mut self, parent: usize, child: usize) -> Result<(), String> {
        if parent == child {
            return Err(format!(
                "can't add group `{}` to itself",
                self.groups[parent].name
            ));
        }
        if self.groups[parent].children.contains(&child) {
            return Ok(());
        }
        if self.ancestors(parent).contains(&child) {
            return Err(format!(
                "adding group `{}` as child to `{}` creates a recursive dependency loop",
                self.groups[child].name, self.groups[parent].name
            ));
        }
        self.groups[parent].children.push(child);
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
        let depth = self.groups[parent].depth + 1;
        self.raise_depth(child, depth);
        Ok(())
    }

    fn raise_depth(&mut self, group: usize, depth: u32) {
        let mut stack = vec![(group, depth)];
        while let Some((g, d)) = stack.pop() {
            if self.groups[g].depth >= d && g != group {
                continue;
            }
            self.groups[g].depth = self.groups[g].depth.max(d);
            let next = self.groups[g].depth + 1;
            for &c in &self.groups[g].children {
                if self.groups[c].depth < next {
                    stack.push((c, next));
                }
            }
        }
    }

    /// Every group above `group` (not including it).
    pub fn ancestors(&self, group: usize) -> IndexSet<usize> {
        let mut seen = IndexSet::new();
        let mut stack: Vec<usize> = self.groups[group].parents.clone();
        while let Some(g) = stack.pop() {
            if seen.insert(g) {
                stack.extend(self.groups[g].parents.iter().copied());
            }
        }
        seen
    }

    /// `group`, its children, then theirs, level by level, as Ansible orders a group's hosts.
    fn descendants_ordered(&self, group: usize) -> Vec<usize> {
        let mut ordered = vec![group];
        let mut seen: IndexSet<usize> = IndexSet::from([group]);
        let mut level = vec![group];
        while !level.is_empty() {
            let mut next = Vec::new();
            for &g in &level {
                for &c in &self.groups[g].children {
                    if seen.insert(c) {
                        ordered.push(c);
                        next.push(c);
                    }
                }
            }
            level = next;
        }
        ordered
    }

    /// The hosts of a group and of all its descendants, in Ansible's order.
    pub fn group_hosts(&self, group: usize) -> Vec<usize> {
        let mut seen = IndexSet::new();
        for g in self.descendants_ordered(group) {
            for &h in &self.groups[g].hosts {
                if group == ALL && self.hosts[h].implicit {
                    continue;
                }
                seen.insert(h);
            }
        }
        seen.into_iter().collect()
    }

    /// All groups a host belongs to, directly or through ancestry (including `all`).
    pub fn host_groups(&self, host: usize) -> IndexSet<usize> {
        let mut out = IndexSet::new();
        for &g in &self.hosts[host].groups {
            out.insert(g);
            out.extend(self.ancestors(g));
        }
        out
    }

    pub fn direct_hosts(&self, group: usize) -> &[usize] {
        &self.groups[group].hosts
    }

    pub fn children(&self, group: usize) -> &[usize] {
        &self.groups[group].children
    }

    /// Sets a variable on a group or, failing that, a host, as `InventoryData.set_variable`.
    pub fn set_group_var(&mut self, group: usize, key: String, value: Value) -> Result<(), String> {
        if key == "ansible_group_priority" {
            let priority = match &value {
                Value::Int(i) => *i as i64,
                Value::Bool(b) => *b as i64,
                Value::Float(f) => *f as i64,
                Value::Str(s) | Value::Unsafe(s) => s.trim().parse::<i64>().map_err(|_| {
                    format!(
                        "invalid literal for int() with base 10: {}",
                        crate::yaml::repr(&value)
                    )
                })?,
                other => {
                    return Err(format!(
                        "`ansible_group_priority` must be an integer, got {}",
                        other.type_name()
                    ));
                }
            };
            self.groups[group].priority = priority;
        } else {
            self.groups[group].vars.insert(Value::Str(key), value);
        }
        Ok(())
    }

    pub fn set_host_var(&mut self, host: usize, key: String, value: Value) {
        self.hosts[host].vars.insert(Value::Str(key), value);
    }

    /// Ansible's implicit rules, applied after all sources are parsed.
    pub fn reconcile(&mut self) {
        for g in 0..self.groups.len() {
            if g != ALL && self.ancestors(g).is_empty() {
                // Cannot fail: a group without ancestors cannot be an ancestor of `all`.
                let _ = self.add_child_group(ALL, g);
            }
        }
        for h in 0..self.hosts.len() {
            let groups = self.hosts[h].groups.clone();
            if groups.contains(&UNGROUPED) {
                if groups.iter().any(|&g| g != ALL && g != UNGROUPED) {
                    self.remove_host_from_group(UNGROUPED, h);
                }
            } else if !self.hosts[h].implicit && groups.iter().all(|&g| g == ALL) {
                self.add_host_to_group(UNGROUPED, h);
            }
        }
        let clashes: Vec<String> = self
            .groups
            .keys()
            .filter(|g| self.hosts.contains_key(*g))
            .cloned()
            .collect();
        for name in clashes {
            self.warn(format!("Found both group and host with same name: {name}"));
        }
    }

    /// The host for a name, making the implicit `localhost` when the name is one of its names.
    pub fn get_host(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.hosts.get_index_of(name) {
            return Some(i);
        }
        if !LOCALHOST.contains(&name) {
            return None;
        }
        if let Some(i) = self.localhost {
            return Some(i);
        }
        let mut vars = self.groups[ALL].vars.clone();
        vars.insert(Value::str("ansible_connection"), Value::str("local"));
        let (i, _) = self.hosts.insert_full(
            name.to_string(),
            Host {
                name: name.to_string(),
                vars,
                groups: Vec::new(),
                implicit: true,
                source: None,
            },
        );
        self.localhost = Some(i);
        Some(i)
    }

    /// Groups sorted as Ansible merges their variables: by depth, then priority, then name.
    pub fn sorted_groups(&self, groups: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut v: Vec<usize> = groups.into_iter().collect();
        v.sort_by(|&a, &b| {
            let (ga, gb) = (&self.groups[a], &self.groups[b]);
            (ga.depth, ga.priority, &ga.name).cmp(&(gb.depth, gb.priority, &gb.name))
        });
        v
    }
}

/// `combine_vars` with `hash_behaviour = replace`: keys of `b` replace those of `a`.
pub fn combine(a: &mut Map, b: &Map) {
    for (k, v) in b {
        a.insert(k.clone(), v.clone());
    }
}
