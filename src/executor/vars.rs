//! A task's variables on one host, merged in Ansible's documented precedence order (lowest
//! first): role defaults, inventory, facts, play vars, vars_files, role vars, block and task
//! vars, set_fact/registered, extra vars; then the magic variables.

use super::Executor;
use super::host::HostState;
use crate::playbook::{Play, Role};
use crate::yaml::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// The version of ansible-core whose behaviour kiln follows, reported as `ansible_version`.
pub const ANSIBLE_COMPAT_VERSION: (u32, u32, u32) = (2, 19, 14);

/// What stays the same for every task of a play.
pub struct PlayCx<'p> {
    pub play: &'p Play,
    pub playbook_dir: PathBuf,
    pub role_defaults: Map,
    pub role_vars: Map,
    /// `vars_files`, per host (their names may be templated with host variables).
    pub vars_files: indexmap::IndexMap<String, Map>,
    /// `ansible_play_hosts_all`.
    pub hosts_all: Vec<String>,
    /// Whether anything in the play reads `hostvars` (building it costs O(hosts²)).
    pub uses_hostvars: bool,
    pub groups: Value,
}

fn put(m: &mut Map, k: &str, v: Value) {
    m.insert(Value::str(k), v);
}

fn extend(m: &mut Map, other: &Map) {
    for (k, v) in other {
        m.insert(k.clone(), v.clone());
    }
}

pub fn ansible_version() -> Value {
    let (a, b, c) = ANSIBLE_COMPAT_VERSION;
    let mut m = Map::new();
    put(&mut m, "full", Value::str(format!("{a}.{b}.{c}")));
    put(&mut m, "major", Value::Int(a as i128));
    put(&mut m, "minor", Value::Int(b as i128));
    put(&mut m, "revision", Value::Int(c as i128));
    put(&mut m, "string", Value::str(format!("{a}.{b}.{c}")));
    Value::Map(m)
}

/// `ansible_facts` and the legacy top-level `ansible_*` names (facts modules set without
/// the prefix keep their own name, as Ansible injects them).
pub fn fact_vars(state: &HostState) -> Map {
    let (plain, prefixed): (Map, Map) = state
        .facts
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| {
            k.as_str()
                .is_some_and(|k| state.unprefixed_facts.contains(k))
        });
    let mut m = crate::facts::with_prefixes(&prefixed);
    for (k, v) in plain {
        m.insert(k, v);
    }
    put(&mut m, "ansible_facts", Value::Map(state.facts.clone()));
    m
}

impl Executor<'_> {
    /// The variables of one host that other hosts see through `hostvars`.
    pub(super) fn host_view(&self, host: &str, pcx: &PlayCx<'_>) -> Map {
        let mut m = Map::new();
        let Some(state) = self.hosts.get(host) else {
            return m;
        };
        extend(&mut m, &pcx.role_defaults);
        extend(&mut m, &state.inventory_vars);
        extend(&mut m, &fact_vars(state));
        extend(&mut m, &pcx.play.common.vars);
        if let Some(vf) = pcx.vars_files.get(host) {
            extend(&mut m, vf);
        }
        extend(&mut m, &pcx.role_vars);
        extend(&mut m, &state.set_facts);
        extend(&mut m, &self.opts.extra_vars);
        self.magic(&mut m, host, pcx, None);
        m
    }

    /// A task's variables on `host`; `scopes` are the enclosing blocks' and the task's own vars.
    pub(super) fn task_vars(
        &self,
        host: &str,
        pcx: &PlayCx<'_>,
        scopes: &[&Map],
        role: Option<&Arc<Role>>,
    ) -> Map {
        let mut m = Map::new();
        let Some(state) = self.hosts.get(host) else {
            return m;
        };
        extend(&mut m, &pcx.role_defaults);
        extend(&mut m, &state.inventory_vars);
        extend(&mut m, &fact_vars(state));
        extend(&mut m, &pcx.play.common.vars);
        if let Some(vf) = pcx.vars_files.get(host) {
            extend(&mut m, vf);
        }
        extend(&mut m, &pcx.role_vars);
        for s in scopes {
            extend(&mut m, s);
        }
        extend(&mut m, &state.set_facts);
        extend(&mut m, &self.opts.extra_vars);
        self.magic(&mut m, host, pcx, role);
        if pcx.uses_hostvars {
            let all: Map = self
                .hosts
                .keys()
                .map(|h| (Value::str(h.clone()), Value::Map(self.host_view(h, pcx))))
                .collect();
            put(&mut m, "hostvars", Value::Map(all));
        }
        m
    }

    fn magic(&self, m: &mut Map, host: &str, pcx: &PlayCx<'_>, role: Option<&Arc<Role>>) {
        let inv = &self.loader.inventory;
        put(m, "inventory_hostname", Value::str(host));
        let short = if host.parse::<std::net::IpAddr>().is_ok() {
            host
        } else {
            host.split('.').next().unwrap_or(host)
        };
        put(m, "inventory_hostname_short", Value::str(short));
        if let Some(h) = inv.hosts.get_index_of(host) {
            let mut names: Vec<String> = inv
                .host_groups(h)
                .into_iter()
                .map(|g| inv.groups[g].name.clone())
                .filter(|n| n != "all")
                .collect();
            names.sort();
            put(
                m,
                "group_names",
                Value::Seq(names.into_iter().map(Value::Str).collect()),
            );
            if let Some(src) = &inv.hosts[h].source {
                let abs = std::fs::canonicalize(src).unwrap_or_else(|_| src.clone());
                put(m, "inventory_file", Value::str(abs.display().to_string()));
                put(
                    m,
                    "inventory_dir",
                    Value::str(
                        abs.parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                    ),
                );
            }
        } else {
            put(m, "group_names", Value::Seq(Vec::new()));
        }
        put(m, "groups", pcx.groups.clone());
        let active: Vec<Value> = pcx
            .hosts_all
            .iter()
            .filter(|h| {
                self.hosts
                    .get(*h)
                    .is_some_and(|s| !s.failed && !s.unreachable)
            })
            .map(|h| Value::str(h.clone()))
            .collect();
        put(m, "ansible_play_hosts", Value::Seq(active.clone()));
        put(m, "play_hosts", Value::Seq(active.clone()));
        put(m, "ansible_play_batch", Value::Seq(active));
        put(
            m,
            "ansible_play_hosts_all",
            Value::Seq(
                pcx.hosts_all
                    .iter()
                    .map(|h| Value::str(h.clone()))
                    .collect(),
            ),
        );
        put(m, "ansible_check_mode", Value::Bool(self.opts.check));
        put(m, "ansible_diff_mode", Value::Bool(self.opts.diff));
        put(m, "ansible_forks", Value::Int(self.opts.forks as i128));
        put(m, "ansible_version", ansible_version());
        put(
            m,
            "ansible_verbosity",
            Value::Int(self.opts.verbosity as i128),
        );
        let dir =
            std::fs::canonicalize(&pcx.playbook_dir).unwrap_or_else(|_| pcx.playbook_dir.clone());
        put(m, "playbook_dir", Value::str(dir.display().to_string()));
        let tags = |t: &[String], default: &[&str]| -> Value {
            if t.is_empty() {
                Value::Seq(default.iter().map(|s| Value::str(*s)).collect())
            } else {
                Value::Seq(t.iter().map(|s| Value::str(s.clone())).collect())
            }
        };
        put(m, "ansible_run_tags", tags(&self.opts.tags.only, &["all"]));
        put(m, "ansible_skip_tags", tags(&self.opts.tags.skip, &[]));
        let mut search = Vec::new();
        if let Some(r) = role {
            let rp = std::fs::canonicalize(&r.path).unwrap_or_else(|_| r.path.clone());
            put(m, "role_path", Value::str(rp.display().to_string()));
            put(m, "role_name", Value::str(r.name.clone()));
            put(m, "ansible_role_name", Value::str(r.name.clone()));
            search.push(Value::str(rp.display().to_string()));
        }
        search.push(Value::str(dir.display().to_string()));
        put(m, "ansible_search_path", Value::Seq(search));
    }
}
