//! What the run remembers about each host: its inventory variables, facts, facts and
//! results set during the run, variables from `include_vars`, whether it has failed or its
//! play has ended, the handlers it notified, and its connection.

use crate::connection::Connection;
use crate::yaml::Map;
use indexmap::IndexSet;
use std::sync::Arc;

pub struct HostState {
    /// Variables from the inventory (sources, group_vars, host_vars), read once per run.
    pub inventory_vars: Map,
    /// `ansible_facts`.
    pub facts: Map,
    /// Whether facts were gathered in this run (the `smart` gathering setting asks).
    pub facts_gathered: bool,
    /// `set_fact` values and registered results.
    pub set_facts: Map,
    /// `include_vars` results.
    pub include_vars: Map,
    /// The play's `vars_files`, for this host (their names may use host variables).
    pub vars_files: Map,
    /// Failed (it takes no further part in this play, nor in later plays).
    pub failed: bool,
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
            set_facts: Map::new(),
            include_vars: Map::new(),
            vars_files: Map::new(),
            failed: false,
            unreachable: false,
            ended: false,
            notified: IndexSet::new(),
            conn: None,
        }
    }

    /// Whether the host still takes part in the play.
    pub fn active(&self) -> bool {
        !self.failed && !self.unreachable && !self.ended
    }
}
