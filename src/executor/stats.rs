//! Per-host counters for `PLAY RECAP`, and the exit code they imply.

use indexmap::IndexMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub hosts: IndexMap<String, HostStats>,
    /// Hosts still failed, and unreachable, when the run ended: ansible-playbook's exit
    /// code and retry file follow these (`meta: clear_host_errors` clears them), not the
    /// counters.
    pub failed_hosts: Vec<String>,
    pub unreachable_hosts: Vec<String>,
}

impl Stats {
    pub fn host(&mut self, name: &str) -> &mut HostStats {
        self.hosts.entry(name.to_string()).or_default()
    }

    /// ansible-playbook's exit code: 4 when a host was unreachable, else 2 when one failed.
    pub fn exit_code(&self) -> i32 {
        if !self.unreachable_hosts.is_empty() {
            4
        } else if !self.failed_hosts.is_empty() {
            2
        } else {
            0
        }
    }

    pub fn total_changed(&self) -> u32 {
        self.hosts.values().map(|h| h.changed).sum()
    }
}
