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
}

impl Stats {
    pub fn host(&mut self, name: &str) -> &mut HostStats {
        self.hosts.entry(name.to_string()).or_default()
    }

    /// ansible-playbook's exit code: 4 when a host was unreachable, else 2 when one failed.
    pub fn exit_code(&self) -> i32 {
        if self.hosts.values().any(|h| h.unreachable > 0) {
            4
        } else if self.hosts.values().any(|h| h.failed > 0) {
            2
        } else {
            0
        }
    }

    pub fn total_changed(&self) -> u32 {
        self.hosts.values().map(|h| h.changed).sum()
    }
}
