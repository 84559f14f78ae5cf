//! A task's variables on one host, merged in Ansible's documented precedence order (lowest
//! first): role defaults, inventory, facts, play vars, vars_prompt, vars_files, role vars,
//! block and task vars, include_vars, set_fact/registered, role params, include params,
//! extra vars; then the magic variables. Every level replaces whole values
//! (`hash_behaviour = replace`).

use super::Executor;
use super::host::HostState;
use super::walk::Scope;
use crate::playbook::{Play, Role};
use crate::yaml::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The version of ansible-core whose behaviour kiln follows, reported as `ansible_version`.
pub const ANSIBLE_COMPAT_VERSION: (u32, u32, u32) = (2, 19, 14);

/// What stays the same for every task of a play's batch.
pub struct PlayCx<'p> {
    pub play: &'p Play,
    pub playbook_dir: PathBuf,
    /// `ansible_play_hosts_all`: every host the play targets.
    pub hosts_all: Vec<String>,
    /// The hosts of the current `serial` batch.
    pub batch: Vec<String>,
    /// Whether anything in the play reads `hostvars` (building it costs O(hosts²)); set
    /// again when an included file mentions it.
    pub uses_hostvars: AtomicBool,
    pub groups: Value,
    /// Answers to `vars_prompt`.
    pub prompts: Map,
    /// The play's strategy is `free`.
    pub free: bool,
}

impl PlayCx<'_> {
    pub fn set_uses_hostvars(&self) {
        self.uses_hostvars.store(true, Ordering::Relaxed);
    }
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
    /// The roles whose defaults and vars every task of the play sees.
    fn public_roles(&self, pcx: &PlayCx<'_>) -> Vec<Arc<Role>> {
        let mut roles: Vec<Arc<Role>> = pcx
            .play
            .roles
            .iter()
            .filter(|r| r.public)
            .cloned()
            .collect();
        roles.extend(self.state().public_roles.iter().cloned());
        roles
    }

    /// The variables of one host that other hosts see through `hostvars` (no task context).
    /// `hostvars` holds every inventory host, not only those of the plays so far (a play on
    /// `docker_hosts` reads the `registry` host's address): hosts not met yet get their
    /// inventory variables now.
    fn know_every_host(&self) {
        // The inventory's lock and the state's are never held together.
        let names: Vec<(usize, String)> = {
            let loader = self.inventory();
            loader
                .inventory
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, (_, h))| !h.implicit)
                .map(|(i, (name, _))| (i, name.clone()))
                .collect()
        };
        let missing: Vec<(usize, String)> = {
            let st = self.state();
            names
                .into_iter()
                .filter(|(_, n)| !st.hosts.contains_key(n))
                .collect()
        };
        for (i, name) in missing {
            let loaded = self.inventory().host_vars(i);
            match loaded {
                Ok(vars) => {
                    self.state()
                        .hosts
                        .entry(name)
                        .or_insert_with(|| HostState::new(vars));
                }
                Err(e) => self.cb().on_warning(&e.render()),
            }
        }
    }

    pub(super) fn host_view(&self, host: &str, pcx: &PlayCx<'_>) -> Map {
        self.vars_for(host, pcx, None, None, false)
    }

    /// A task's variables on `host` in the blocks of `scope`.
    pub(super) fn task_vars(
        &self,
        host: &str,
        pcx: &PlayCx<'_>,
        scope: &Scope<'_>,
        role: Option<&Arc<Role>>,
    ) -> Map {
        self.vars_for(host, pcx, Some(scope), role, true)
    }

    fn vars_for(
        &self,
        host: &str,
        pcx: &PlayCx<'_>,
        scope: Option<&Scope<'_>>,
        role: Option<&Arc<Role>>,
        with_hostvars: bool,
    ) -> Map {
        let public = self.public_roles(pcx);
        let mut m = Map::new();
        for r in &public {
            extend(&mut m, &r.default_vars());
        }
        if let Some(r) = role {
            extend(&mut m, &r.default_vars());
        }
        {
            let st = self.state();
            let Some(state) = st.hosts.get(host) else {
                return m;
            };
            extend(&mut m, &state.inventory_vars);
            extend(&mut m, &fact_vars(state));
            extend(&mut m, &pcx.play.common.vars);
            extend(&mut m, &pcx.prompts);
            extend(&mut m, &state.vars_files);
            for r in &public {
                extend(&mut m, &r.role_vars(true));
            }
            if let Some(r) = role {
                extend(&mut m, &r.role_vars(false));
            }
            if let Some(s) = scope {
                // The play's own vars are already in; blocks and the task follow.
                for c in s.chain.iter().skip(1) {
                    extend(&mut m, &c.vars);
                }
            }
            extend(&mut m, &state.include_vars);
            extend(&mut m, &state.set_facts);
        }
        if let Some(r) = role {
            extend(&mut m, &r.role_params());
        }
        if let Some(s) = scope {
            for inc in &s.include_params {
                extend(&mut m, inc);
            }
        }
        extend(&mut m, &self.opts.extra_vars);
        self.magic(&mut m, host, pcx, role);
        if with_hostvars && pcx.uses_hostvars.load(Ordering::Relaxed) {
            self.know_every_host();
            let names: Vec<String> = self.state().hosts.keys().cloned().collect();
            let all: Map = names
                .iter()
                .map(|h| (Value::str(h.clone()), Value::Map(self.host_view(h, pcx))))
                .collect();
            put(&mut m, "hostvars", Value::Map(all));
        }
        m
    }

    fn magic(&self, m: &mut Map, host: &str, pcx: &PlayCx<'_>, role: Option<&Arc<Role>>) {
        put(m, "inventory_hostname", Value::str(host));
        let short = if host.parse::<std::net::IpAddr>().is_ok() {
            host
        } else {
            host.split('.').next().unwrap_or(host)
        };
        put(m, "inventory_hostname_short", Value::str(short));
        {
            let loader = self.inventory();
            let inv = &loader.inventory;
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
        }
        put(m, "groups", pcx.groups.clone());
        let (play_hosts, batch): (Vec<Value>, Vec<Value>) = {
            let st = self.state();
            let alive = |h: &&String| {
                st.hosts
                    .get(*h)
                    .is_some_and(|s| !s.failed && !s.unreachable)
            };
            (
                pcx.hosts_all
                    .iter()
                    .filter(alive)
                    .map(|h| Value::str(h.clone()))
                    .collect(),
                pcx.batch
                    .iter()
                    .filter(alive)
                    .map(|h| Value::str(h.clone()))
                    .collect(),
            )
        };
        put(m, "ansible_play_hosts", Value::Seq(play_hosts.clone()));
        put(m, "play_hosts", Value::Seq(play_hosts));
        put(m, "ansible_play_batch", Value::Seq(batch));
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
        put(m, "ansible_play_name", Value::str(pcx.play.name.clone()));
        let role_names: Vec<Value> = pcx
            .play
            .roles
            .iter()
            .map(|r| Value::str(r.name.clone()))
            .collect();
        put(m, "ansible_play_role_names", Value::Seq(role_names.clone()));
        put(m, "role_names", Value::Seq(role_names));
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
            // A collection role's name is its last part (`ns.coll.role` is `role`); a role
            // named by path is its directory's name.
            let parts: Vec<&str> = r.name.split('.').collect();
            let short = if parts.len() == 3 {
                parts[2].to_string()
            } else {
                r.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| r.name.clone())
            };
            put(m, "role_name", Value::str(short));
            put(m, "ansible_role_name", Value::str(r.name.clone()));
            put(
                m,
                "ansible_parent_role_names",
                Value::Seq(r.parent_names().into_iter().map(Value::Str).collect()),
            );
            put(
                m,
                "ansible_parent_role_paths",
                Value::Seq(
                    r.dep_chain
                        .iter()
                        .rev()
                        .map(|p| Value::str(p.path.display().to_string()))
                        .collect(),
                ),
            );
            search.push(Value::str(rp.display().to_string()));
        }
        search.push(Value::str(dir.display().to_string()));
        put(m, "ansible_search_path", Value::Seq(search));
    }
}
