//! What the run remembers about each host: its inventory variables, facts, facts and
//! results set during the run, variables from `include_vars`, whether it has failed or its
//! play has ended, the handlers it notified, and its connection.

use crate::connection::Connection;
use crate::yaml::{Map, Value};
use indexmap::IndexSet;
use std::sync::Arc;

pub struct HostState {
    /// Variables from the inventory (sources, group_vars, host_vars), read once per run.
    pub inventory_vars: Map,
    /// `ansible_facts`.
    pub facts: Map,
    /// Whether facts were gathered in this run (the `smart` gathering setting asks).
    pub facts_gathered: bool,
    /// Facts a module set without the `ansible_` prefix (`getent_passwd`, `services`): Ansible
    /// injects those as variables under their own name, not as `ansible_<name>`.
    pub unprefixed_facts: IndexSet<String>,
    /// `set_fact` values and registered results.
    pub set_facts: Map,
    /// `include_vars` results.
    pub include_vars: Map,
    /// The play's `vars_files`, for this host (their names may use host variables).
    pub vars_files: Map,
    /// Failed (it takes no further part in this play, nor in later plays).
    pub failed: bool,
    /// An include that could not be loaded failed here: Ansible counts that as a failure
    /// even when a rescue follows, and the host takes no part in later plays.
    pub include_failed: bool,
    pub unreachable: bool,
    /// `meta: end_host` / `end_play` / `end_batch`: done with this play, not failed.
    pub ended: bool,
    /// Handler notifications not yet flushed, in order.
    pub notified: IndexSet<String>,
    pub conn: Option<Arc<dyn Connection>>,
}

impl HostState {
    pub fn new(inventory_vars: Map) -> HostState {
        HostState {
            inventory_vars,
            facts: Map::new(),
            facts_gathered: false,
            unprefixed_facts: IndexSet::new(),
            set_facts: Map::new(),
            include_vars: Map::new(),
            vars_files: Map::new(),
            failed: false,
            include_failed: false,
            unreachable: false,
            ended: false,
            notified: IndexSet::new(),
            conn: None,
        }
    }

    /// Merges the `ansible_facts` a module returned, keyed as the module returns them:
    /// `ansible_hostname` is `ansible_facts.hostname`, `getent_passwd` stays as it is.
    pub fn merge_module_facts(&mut self, facts: Map) {
        for (k, v) in facts {
            let name = crate::yaml::python_str(&k);
            match name.strip_prefix("ansible_") {
                Some(short) if name != "ansible_local" => {
                    self.unprefixed_facts.shift_remove(short);
                    self.facts.insert(Value::str(short), v);
                }
                _ => {
                    self.facts.insert(k, v);
                    self.unprefixed_facts.insert(name);
                }
            }
        }
    }

    /// Whether the host still takes part in the play.
    pub fn active(&self) -> bool {
        !self.failed && !self.unreachable && !self.ended
    }
}
