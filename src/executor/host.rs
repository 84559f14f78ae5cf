//! What the run remembers about each host: its inventory variables, facts, facts and
//! results set during the run, whether it has failed, and its connection.

use crate::connection::Connection;
use crate::yaml::{Map, Value};
use indexmap::IndexSet;
use std::sync::Arc;

pub struct HostState {
    /// Variables from the inventory (sources, group_vars, host_vars), read once per run.
    pub inventory_vars: Map,
    /// `ansible_facts`.
    pub facts: Map,
    /// Facts a module set without the `ansible_` prefix (`getent_passwd`, `services`): Ansible
    /// injects those as variables under their own name, not as `ansible_<name>`.
    pub unprefixed_facts: IndexSet<String>,
    /// `set_fact` values and registered results.
    pub set_facts: Map,
    /// Failed in this play (it takes no further part in it, nor in later plays).
    pub failed: bool,
    pub unreachable: bool,
    /// Handlers notified and not yet run.
    pub notified: IndexSet<String>,
    pub conn: Option<Arc<dyn Connection>>,
}

impl HostState {
    pub fn new(inventory_vars: Map) -> HostState {
        HostState {
            inventory_vars,
            facts: Map::new(),
            unprefixed_facts: IndexSet::new(),
            set_facts: Map::new(),
            failed: false,
            unreachable: false,
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
}
