//! Handlers as ansible-core 2.19 runs them: a changed task saves its notifications per host;
//! a flush (the end of each section, `meta: flush_handlers`) turns each notification into
//! the handlers it names — the last handler of that name (or `<role> : <name>`), and every
//! handler listening to it — and runs the notified handlers in the order they are defined.
//! A handler that notifies another while handlers run adds to this flush when the other
//! comes later, else to the next one.

use super::vars::PlayCx;
use super::walk::{Depth, Scope};
use super::{Abort, Executor};
use crate::playbook::{Item, Task};
use indexmap::IndexSet;
use std::sync::Arc;

/// A handler of the play: written in it, or brought by a role included at run time.
#[derive(Clone)]
enum Handler<'p> {
    Play(&'p Task),
    Runtime(Arc<Task>),
}

impl Handler<'_> {
    fn task(&self) -> &Task {
        match self {
            Handler::Play(t) => t,
            Handler::Runtime(t) => t,
        }
    }
}

fn flatten<'p>(items: &'p [Item], out: &mut Vec<Handler<'p>>) {
    for item in items {
        match item {
            Item::Task(t) => out.push(Handler::Play(t)),
            Item::Block(b) => {
                flatten(&b.block, out);
                flatten(&b.rescue, out);
                flatten(&b.always, out);
            }
        }
    }
}

impl Executor<'_> {
    fn handlers<'p>(&self, pcx: &PlayCx<'p>) -> Vec<Handler<'p>> {
        let mut out = Vec::new();
        flatten(&pcx.play.handlers, &mut out);
        let runtime: Vec<Arc<Task>> = self.state().runtime_handlers.clone();
        out.extend(runtime.into_iter().map(Handler::Runtime));
        out
    }

    /// The names a handler answers to: its (templated) name, `<role> : <name>`.
    fn handler_names(&self, t: &Task, pcx: &PlayCx<'_>) -> Option<Vec<String>> {
        let name = t.common.name.as_ref()?;
        let mut vars = pcx.play.common.vars.clone();
        vars.extend(self.opts.extra_vars.clone());
        let name = self
            .templar
            .template_str(name, &vars)
            .ok()
            .map(|v| crate::yaml::python_str(&v))?;
        let mut names = vec![name.clone()];
        if let Some(r) = &t.role {
            names.push(format!("{} : {name}", r.name));
        }
        Some(names)
    }

    /// The handlers (indexes into `all`) a notification names.
    fn matching(&self, all: &[Handler<'_>], notification: &str, pcx: &PlayCx<'_>) -> Vec<usize> {
        let mut out = Vec::new();
        // The last handler of a name wins, as the last one loaded does in Ansible.
        for (i, h) in all.iter().enumerate().rev() {
            if self
                .handler_names(h.task(), pcx)
                .is_some_and(|n| n.iter().any(|n| n == notification))
            {
                out.push(i);
                break;
            }
        }
        let mut seen: Vec<String> = Vec::new();
        for (i, h) in all.iter().enumerate().rev() {
            let t = h.task();
            if t.listen.iter().any(|l| l == notification) {
                let name = t.common.name.clone().unwrap_or_default();
                if !name.is_empty() && seen.contains(&name) {
                    continue;
                }
                seen.push(name);
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// The notification of `t` on `host` that names no handler, as Ansible's error: Ansible
    /// stops the whole run there, before it reports the task's results.
    pub(super) fn missing_handler(&self, t: &Task, host: &str, pcx: &PlayCx<'_>) -> Option<Abort> {
        let vars = self.host_view(host, pcx);
        let all = self.handlers(pcx);
        t.notify.iter().find_map(|n| {
            let name = match self.templar.template_str(n, &vars) {
                Ok(v) => crate::yaml::python_str(&v),
                Err(_) => n.clone(),
            };
            self.matching(&all, &name, pcx).is_empty().then(|| Abort {
                message: format!(
                    "The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list\n\
                     Origin: {}\n\
                     hint: define a handler named `{name}` (or one that listens to it) in the play's handlers or a role's handlers/main.yml",
                    t.span
                ),
            })
        })
    }

    /// A changed task on `host` notifies its handlers: saved until the next flush, or,
    /// while handlers run, given to the running flush.
    pub(super) fn notify(&self, t: &Task, host: &str, pcx: &PlayCx<'_>, in_handlers: bool) {
        let vars = self.host_view(host, pcx);
        let all = self.handlers(pcx);
        for n in &t.notify {
            let name = match self.templar.template_str(n, &vars) {
                Ok(v) => crate::yaml::python_str(&v),
                Err(_) => n.clone(),
            };
            let found = self.matching(&all, &name, pcx);
            if found.is_empty() {
                let missing = self.missing_handler(t, host, pcx);
                let mut st = self.state();
                if st.abort.is_none() {
                    st.abort = missing;
                }
                return;
            }
            let mut st = self.state();
            for i in found {
                match st.flushing.as_mut() {
                    Some(flush) if in_handlers && i > flush.current => {
                        if let Some(set) = flush.hosts.get_mut(i) {
                            set.insert(host.to_string());
                        }
                    }
                    _ => {
                        if let Some(s) = st.hosts.get_mut(host) {
                            s.notified.insert(name.clone());
                        }
                    }
                }
            }
        }
    }

    /// Runs the handlers notified on `hosts`.
    pub(super) async fn flush_handlers(&self, pcx: &PlayCx<'_>, hosts: &[String]) {
        let all = self.handlers(pcx);
        if all.is_empty() {
            let mut st = self.state();
            for h in hosts {
                if let Some(s) = st.hosts.get_mut(h) {
                    s.notified.clear();
                }
            }
            return;
        }
        let force = self.opts.force_handlers || pcx.play.force_handlers;
        let mut targets: Vec<IndexSet<String>> = vec![IndexSet::new(); all.len()];
        let notes: Vec<(String, Vec<String>)> = {
            let mut st = self.state();
            hosts
                .iter()
                .filter_map(|h| {
                    let s = st.hosts.get_mut(h)?;
                    if s.unreachable || (s.failed && !force) {
                        return None;
                    }
                    Some((
                        h.clone(),
                        std::mem::take(&mut s.notified).into_iter().collect(),
                    ))
                })
                .collect()
        };
        for (h, names) in &notes {
            for n in names {
                for i in self.matching(&all, n, pcx) {
                    targets[i].insert(h.clone());
                }
            }
        }
        if targets.iter().all(IndexSet::is_empty) {
            return;
        }
        self.state().flushing = Some(super::Flush {
            hosts: targets,
            current: 0,
        });
        for (i, h) in all.iter().enumerate() {
            let run_on: Vec<String> = {
                let mut st = self.state();
                let Some(flush) = st.flushing.as_mut() else {
                    break;
                };
                flush.current = i;
                let set = std::mem::take(&mut flush.hosts[i]);
                set.into_iter()
                    .filter(|host| {
                        st.hosts
                            .get(host)
                            .is_some_and(|s| !s.unreachable && !s.ended && (!s.failed || force))
                    })
                    .collect()
            };
            if run_on.is_empty() {
                continue;
            }
            let root = Scope::default().push(&pcx.play.common);
            let depth = Depth {
                handler: true,
                ..Depth::default()
            };
            let task = h.task();
            self.run_task(task, &root, &run_on, pcx, depth).await;
            if self.state().abort.is_some() {
                break;
            }
        }
        self.state().flushing = None;
    }
}
