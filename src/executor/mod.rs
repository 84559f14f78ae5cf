//! Running playbooks: plays in order, each split into `serial` batches; in a batch, the
//! linear strategy runs each task on all hosts at once (bounded by `forks`) with a barrier
//! after it, the free strategy lets each host run ahead; handlers run at the end of each
//! section and on `meta: flush_handlers`; then the recap. Failures are data (`TaskResult`),
//! not Rust errors.
//!
//! The executor is shared by the hosts' walks (the free strategy runs one walk per host at
//! once), so its run state sits behind a mutex that is never held across an `await`.

mod delegate;
mod handlers;
mod host;
mod include;
mod loops;
mod meta;
mod play;
mod stats;
mod step;
mod tags;
mod task;
mod vars;
mod walk;

pub use stats::{HostStats, Stats};
pub use tags::TagFilter;

use crate::connection::Connection;
use crate::inventory::Loader;
use crate::output::Callback;
use crate::playbook::{LoadCx, Playbook, Role};
use crate::template::Templar;
use crate::yaml::Map;
use host::HostState;
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

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
    pub become_flags: Option<String>,
    pub become_password: Option<String>,
    pub connection: Option<String>,
    pub remote_user: Option<String>,
    pub verbosity: u8,
    pub start_at_task: Option<String>,
    pub force_handlers: bool,
    /// The `strategy` setting: what plays without `strategy:` use.
    pub strategy: String,
    /// The `any_errors_fatal` setting: the default of the keyword.
    pub any_errors_fatal: bool,
    /// The `gathering` setting: `implicit` (gather unless `gather_facts: false`),
    /// `explicit` (only with `gather_facts: true`) or `smart` (once per host per run).
    pub gathering: String,
    /// Roles path and extra vars for loading included files and roles.
    pub load: LoadCx,
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
            become_flags: None,
            become_password: None,
            connection: None,
            remote_user: None,
            verbosity: 0,
            start_at_task: None,
            force_handlers: false,
            strategy: "linear".into(),
            any_errors_fatal: false,
            gathering: "implicit".into(),
            load: LoadCx::default(),
            ssh: crate::connection::ssh::SshOptions::default(),
        }
    }
}

/// Why a run stopped before its end (beyond hosts failing, which is data).
#[derive(Debug, Clone)]
pub struct Abort {
    /// What to print, as Ansible's `[ERROR]:` line (with the origin when there is one).
    pub message: String,
}

/// What the run remembers beyond single tasks.
#[derive(Default)]
struct RunState {
    stats: Stats,
    hosts: IndexMap<String, HostState>,
    /// Set once `--start-at-task` has found its task.
    started: bool,
    /// Why a host has no connection (bad SSH settings, unsupported connection type).
    conn_errors: HashMap<String, String>,
    /// ssh_config options already reported as ignored.
    ssh_ignored: HashSet<String>,
    /// (role identity, host): the role has run on the host (it will not run again there
    /// unless it allows duplicates).
    roles_done: HashSet<(String, String)>,
    /// (role identity, host): a task of the role ran on the host in its current pass.
    roles_ran: HashSet<(String, String)>,
    /// Connections to delegation targets that are not inventory hosts.
    delegated: HashMap<String, Arc<dyn Connection>>,
    /// Per task (by address), the limit `throttle` puts on its hosts at once.
    throttles: HashMap<usize, Arc<tokio::sync::Semaphore>>,
    /// (role identity, host): `meta: end_role` ended the role's current pass on the host.
    roles_ended: HashSet<(String, String)>,
    /// What the current play added while running: handlers of included files and roles,
    /// roles made public by `include_role`.
    runtime_handlers: Vec<Arc<crate::playbook::Task>>,
    public_roles: Vec<Arc<Role>>,
    /// While handlers run: which hosts each handler is to run for, and which one runs.
    flushing: Option<Flush>,
    /// Tasks whose banner was printed (the free strategy prints each once).
    banners: HashSet<usize>,
    /// Set by `meta: end_play`: no more batches.
    end_play: bool,
    /// `max_fail_percentage` was exceeded: the play ends.
    max_fail_hit: bool,
    /// A fault that ends the whole run (a notified handler that does not exist).
    abort: Option<Abort>,
}

/// A flush of handlers in progress: the hosts each handler (by index) is to run for.
struct Flush {
    hosts: Vec<indexmap::IndexSet<String>>,
    current: usize,
}

/// One run of one playbook.
pub struct Executor<'a> {
    pub opts: RunOptions,
    pub templar: Templar,
    loader: Mutex<&'a mut Loader>,
    cb: Mutex<&'a mut dyn Callback>,
    st: Mutex<RunState>,
    forks: tokio::sync::Semaphore,
}

/// A mutex's guard even if a thread panicked while holding it: the state stays usable for
/// reporting what happened.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'a> Executor<'a> {
    pub fn new(opts: RunOptions, loader: &'a mut Loader, cb: &'a mut dyn Callback) -> Executor<'a> {
        let started = opts.start_at_task.is_none();
        let forks = tokio::sync::Semaphore::new(opts.forks.max(1));
        Executor {
            opts,
            templar: Templar::new(),
            loader: Mutex::new(loader),
            cb: Mutex::new(cb),
            st: Mutex::new(RunState {
                started,
                ..RunState::default()
            }),
            forks,
        }
    }

    fn state(&self) -> MutexGuard<'_, RunState> {
        lock(&self.st)
    }

    fn cb(&self) -> MutexGuard<'_, &'a mut dyn Callback> {
        lock(&self.cb)
    }

    fn inventory(&self) -> MutexGuard<'_, &'a mut Loader> {
        lock(&self.loader)
    }

    /// Runs every play; returns the recap's counters, and why the run stopped early if it did.
    pub async fn run(self, playbook: &Playbook) -> (Stats, Option<Abort>) {
        for play in &playbook.plays {
            if !self.run_play(play, playbook).await {
                break;
            }
            if self.state().abort.is_some() {
                break;
            }
        }
        let mut st = self.st.into_inner().unwrap_or_else(|e| e.into_inner());
        for (name, h) in &st.hosts {
            if h.unreachable {
                st.stats.unreachable_hosts.push(name.clone());
            } else if h.failed || h.include_failed {
                st.stats.failed_hosts.push(name.clone());
            }
        }
        if st.abort.is_none() {
            lock(&self.cb).on_stats(&st.stats);
        }
        (st.stats, st.abort)
    }
}
