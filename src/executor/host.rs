//! What the run remembers about each host: its inventory variables, facts, facts and
//! results set during the run, whether it has failed, and its connection.

use crate::connection::Connection;
use crate::yaml::Map;
use indexmap::IndexSet;
use std::sync::Arc;

pub struct HostState {
    /// Variables from the inventory (sources, group_vars, host_vars), read once per run.
    pub inventory_vars: Map,
    /// `ansible_facts`.
    pub facts: Map,
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
            set_facts: Map::new(),
            failed: false,
            unreachable: false,
            notified: IndexSet::new(),
            conn: None,
        }
    }
}
