//! Running playbooks: plays in order, each task fanned out over the play's hosts at once
//! (bounded by `forks`), the linear strategy's barrier after each task, handlers at the end
//! of each section, and the recap. Failures are data (`TaskResult`), not Rust errors.

mod host;
mod play;
mod stats;
mod tags;
mod task;
mod vars;

pub use stats::{HostStats, Stats};
pub use tags::TagFilter;

use crate::inventory::Loader;
use crate::output::Callback;
use crate::playbook::Playbook;
use crate::template::Templar;
use crate::yaml::Map;
use host::HostState;
use indexmap::IndexMap;

/// What `kiln run` was asked to do, beyond the playbook itself.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub limit: Option<Vec<String>>,
    pub tags: TagFilter,
    pub extra_vars: Map,
    pub become_: bool,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub become_password: Option<String>,
    pub connection: Option<String>,
    pub remote_user: Option<String>,
    pub verbosity: u8,
    pub start_at_task: Option<String>,
    pub force_handlers: bool,
    /// Command-line and environment settings for SSH connections.
    pub ssh: crate::connection::ssh::SshOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: 50,
            limit: None,
            tags: TagFilter::default(),
            extra_vars: Map::new(),
            become_: false,
            become_user: None,
            become_method: None,
            become_password: None,
            connection: None,
            remote_user: None,
            verbosity: 0,
            start_at_task: None,
            force_handlers: false,
            ssh: crate::connection::ssh::SshOptions::default(),
        }
    }
}

/// One run of one playbook.
pub struct Executor<'a> {
    pub opts: RunOptions,
    pub templar: Templar,
    pub loader: &'a mut Loader,
    pub cb: &'a mut dyn Callback,
    pub stats: Stats,
    hosts: IndexMap<String, HostState>,
    /// Set once `--start-at-task` has found its task.
    started: bool,
    /// For each enclosing block, whether it has a `rescue` (a failure there is "rescued").
    block_depth_rescue: Vec<bool>,
    /// Why a host has no connection (bad SSH settings, unsupported connection type).
    conn_errors: std::collections::HashMap<String, String>,
    /// ssh_config options already reported as ignored.
    ssh_ignored: std::collections::HashSet<String>,
}

impl<'a> Executor<'a> {
    pub fn new(opts: RunOptions, loader: &'a mut Loader, cb: &'a mut dyn Callback) -> Executor<'a> {
        let started = opts.start_at_task.is_none();
        Executor {
            opts,
            templar: Templar::new(),
            loader,
            cb,
            stats: Stats::default(),
            hosts: IndexMap::new(),
            started,
            block_depth_rescue: Vec::new(),
            conn_errors: Default::default(),
            ssh_ignored: Default::default(),
        }
    }

    /// Runs every play; returns the recap's counters.
    pub async fn run(mut self, playbook: &Playbook) -> Stats {
        for play in &playbook.plays {
            self.run_play(play, playbook).await;
        }
        self.cb.on_stats(&self.stats);
        self.stats
    }
}
