//! `meta` tasks, carried out by the executor as ansible-core's linear strategy does: most act
//! once for all hosts (on the first, whose `when` decides), `flush_handlers`, `end_host`,
//! `end_role`, `reset_connection` and `noop` act per host. None shows a result or counts in
//! the recap.

use super::Executor;
use super::task::{check_when, skipped_by};
use super::vars::PlayCx;
use super::walk::{Depth, Scope};
use crate::output::HostEvent;
use crate::playbook::Task;
use crate::yaml::Value;

impl Executor<'_> {
    pub(super) async fn run_meta<'p>(
        &self,
        t: &'p Task,
        scope: &Scope<'p>,
        hosts: &[String],
        pcx: &PlayCx<'p>,
        depth: Depth,
        title: &str,
    ) {
        let action = t.meta().unwrap_or("noop");
        let per_host = matches!(
            action,
            "noop" | "reset_connection" | "end_host" | "flush_handlers" | "end_role"
        );
        let whens = scope.whens();
        let holds = |h: &str| -> bool {
            let vars = self.task_vars(h, pcx, scope, t.role.as_ref());
            matches!(check_when(&self.templar, &whens, &vars), Ok(None))
        };
        // A meta whose condition is false shows a skip (counted nowhere, as in Ansible).
        let skip = |h: &str| {
            let r = skipped_by(Value::Bool(false));
            self.cb().on_host_result(&HostEvent {
                host: h,
                action: "meta",
                span: Some(&t.span),
                result: &r,
                item: None,
                no_log: false,
                ignored: false,
            });
        };
        if !per_host {
            self.cb().on_task_start(title, depth.handler);
            let Some(first) = hosts.first() else { return };
            if !holds(first) {
                skip(first);
                return;
            }
            let play_hosts = pcx.hosts_all.clone();
            let mut st = self.state();
            match action {
                "end_play" | "end_batch" => {
                    let which = if action == "end_play" {
                        &play_hosts
                    } else {
                        &pcx.batch
                    };
                    for h in which {
                        if let Some(s) = st.hosts.get_mut(h)
                            && !s.unreachable
                        {
                            s.ended = true;
                        }
                    }
                    if action == "end_play" {
                        st.end_play = true;
                    }
                }
                "clear_facts" => {
                    for h in &play_hosts {
                        if let Some(s) = st.hosts.get_mut(h) {
                            s.facts.clear();
                            s.facts_gathered = false;
                        }
                    }
                }
                "clear_host_errors" => {
                    // They count as not failed from now on (later plays take them), but
                    // their part of this play is over, as with Ansible's iterator.
                    for h in &play_hosts {
                        if let Some(s) = st.hosts.get_mut(h)
                            && (s.failed || s.unreachable)
                        {
                            s.failed = false;
                            s.include_failed = false;
                            s.unreachable = false;
                            s.ended = true;
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        // Ansible's linear strategy announces these once per host.
        let mut holding = Vec::new();
        for h in hosts {
            self.cb().on_task_start(title, depth.handler);
            if holds(h) {
                holding.push(h.clone());
            } else {
                skip(h);
            }
        }
        let holds = |h: &str| holding.iter().any(|x| x == h);
        match action {
            "flush_handlers" => {
                let run: Vec<String> = hosts.iter().filter(|h| holds(h)).cloned().collect();
                Box::pin(self.flush_handlers(pcx, &run)).await;
            }
            "end_host" => {
                let ended: Vec<String> = hosts.iter().filter(|h| holds(h)).cloned().collect();
                let mut st = self.state();
                for h in ended {
                    if let Some(s) = st.hosts.get_mut(&h) {
                        s.ended = true;
                    }
                }
            }
            "end_role" => {
                let Some(r) = &t.role else { return };
                let ended: Vec<String> = hosts.iter().filter(|h| holds(h)).cloned().collect();
                let mut st = self.state();
                for h in ended {
                    st.roles_ended.insert((r.identity.clone(), h));
                }
            }
            "reset_connection" => {
                let conns: Vec<_> = {
                    let st = self.state();
                    hosts
                        .iter()
                        .filter_map(|h| st.hosts.get(h).and_then(|s| s.conn.clone()))
                        .collect()
                };
                // The next command opens a new connection (new login, new become rights).
                for c in conns {
                    c.reset().await;
                }
            }
            _ => {}
        }
    }
}
