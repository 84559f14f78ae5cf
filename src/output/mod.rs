//! What kiln prints: run reports through callbacks (human, Ansible-like), JSON as Ansible's
//! tools print it, and warnings. Data goes to stdout, warnings and logs to stderr.

pub mod diff;
pub mod human;
pub mod json;

use crate::executor::Stats;
use crate::modules::TaskResult;
use crate::yaml::Value;

/// One task result as the report sees it.
pub struct HostEvent<'a> {
    pub host: &'a str,
    /// The module's short name (`debug`), which decides some of the display.
    pub action: &'a str,
    /// Where the task is written, for the origin of a failure.
    pub span: Option<&'a crate::diag::Span>,
    pub result: &'a TaskResult,
    /// The loop item, when the result is one item of a loop.
    pub item: Option<&'a Value>,
    pub no_log: bool,
    /// `ignore_errors` turned this failure into "...ignoring".
    pub ignored: bool,
}

/// Receives the run's events in order. Implementations: `human::Human`.
pub trait Callback: Send {
    fn on_play_start(&mut self, name: &str);
    fn on_no_hosts(&mut self);
    fn on_task_start(&mut self, name: &str, handler: bool);
    fn on_host_result(&mut self, event: &HostEvent<'_>);
    fn on_stats(&mut self, stats: &Stats);
    fn on_warning(&mut self, msg: &str);
    /// An include was loaded for these hosts (`included: FILE for h1, h2`).
    fn on_include(&mut self, what: &str, hosts: &[String], item: Option<&Value>);
    /// Every host of the batch has failed (`max_fail_percentage`).
    fn on_no_hosts_remaining(&mut self);
    /// An `until` attempt failed on `host`; `left` more follow.
    fn on_retry(&mut self, host: &str, task: &str, left: u32);
}

/// Prints warnings to stderr as Ansible does, so they never mix with data on stdout.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("[WARNING]: {w}");
    }
}
