//! `include_tasks` and `include_role`, when hosts reach them: each host (and loop item)
//! decides whether and what to include; hosts that include the same file with the same
//! arguments and item run it together, group after group, as ansible-core's linear
//! strategy processes its included files. Included tasks inherit the blocks around the
//! include (and its `apply:`), not the include's own keywords, but its `vars` and loop
//! variables, which rank as include parameters.

use super::Executor;
use super::loops;
use super::step::HostFlags;
use super::task::{check_when, skipped_by};
use super::vars::PlayCx;
use super::walk::{Depth, Scope};
use crate::modules::TaskResult;
use crate::output::HostEvent;
use crate::playbook::{self, Item, Task};
use crate::yaml::{Map, Value};
use std::sync::Arc;

/// One host's (and item's) wish to include something.
struct Want {
    host: String,
    /// The include's arguments after templating.
    args: Map,
    /// The loop variables of the item, if any.
    item_vars: Map,
    label: Option<Value>,
}

fn key_of(w: &Want) -> String {
    format!(
        "{}\u{0}{}",
        crate::output::json::to_string(&Value::Map(w.args.clone()), None),
        crate::output::json::to_string(&Value::Map(w.item_vars.clone()), None)
    )
}

fn mentions_hostvars(items: &[Item]) -> bool {
    items.iter().any(|i| match i {
        Item::Task(t) => {
            format!("{:?}", t.args).contains("hostvars")
                || t.common
                    .when
                    .iter()
                    .any(|w| format!("{w:?}").contains("hostvars"))
                || format!("{:?}", t.common.vars).contains("hostvars")
                || t.loop_
                    .as_ref()
                    .is_some_and(|l| format!("{:?}", l.terms).contains("hostvars"))
        }
        Item::Block(b) => {
            mentions_hostvars(&b.block)
                || mentions_hostvars(&b.rescue)
                || mentions_hostvars(&b.always)
        }
    })
}

impl Executor<'_> {
    /// `outer` is the scope around the include: what it includes inherits that, not the
    /// include's own keywords.
    pub(super) async fn run_include<'p>(
        &self,
        t: &'p Task,
        outer: &Scope<'p>,
        hosts: &[String],
        pcx: &PlayCx<'p>,
        depth: Depth,
        title: &str,
    ) {
        self.banner(t, title, depth, pcx);
        let own = outer.push(&t.common);
        let scope = &own;
        let whens = scope.whens();
        let mut wants: Vec<Want> = Vec::new();
        for h in hosts {
            let vars = self.task_vars(h, pcx, scope, t.role.as_ref());
            let flags = HostFlags {
                ignore_errors: self.flag(scope, |c| c.ignore_errors.as_ref(), &vars, false),
                no_log: self.flag(scope, |c| c.no_log.as_ref(), &vars, false),
                ..HostFlags::default()
            };
            let per_item: Vec<(Map, Option<Value>)> = match &t.loop_ {
                None => vec![(Map::new(), None)],
                Some(l) => match loops::items(&self.templar, l, &vars) {
                    Ok(items) => (0..items.len())
                        .map(|i| {
                            let iv = loops::item_vars(&t.loop_control, &items, i, false, false);
                            let mut v = vars.clone();
                            v.extend(iv.clone());
                            let label = match &t.loop_control.label {
                                Some(l) => self
                                    .templar
                                    .template(l, &v)
                                    .unwrap_or_else(|_| items[i].clone()),
                                None => items[i].clone(),
                            };
                            (iv, Some(label))
                        })
                        .collect(),
                    Err(e) => {
                        self.host_result(t, h, &TaskResult::failed(e), &flags, depth, None);
                        continue;
                    }
                },
            };
            if per_item.is_empty() {
                let r = TaskResult::skipped("No items in the list");
                self.host_result(t, h, &r, &flags, depth, None);
                continue;
            }
            let mut skipped_all = true;
            for (iv, label) in per_item {
                let mut v = vars.clone();
                v.extend(iv.clone());
                match check_when(&self.templar, &whens, &v) {
                    Err(e) => {
                        self.host_result(
                            t,
                            h,
                            &TaskResult::failed(e),
                            &flags,
                            depth,
                            label.as_ref(),
                        );
                        skipped_all = false;
                        continue;
                    }
                    Ok(Some(cond)) => {
                        // A skipped item shows; a host that skips every item also shows a
                        // skip of the task (below), as Ansible does.
                        if label.is_some() {
                            self.show_only(t, h, &skipped_by(cond), &flags, label.as_ref());
                        } else {
                            self.host_result(t, h, &skipped_by(cond), &flags, depth, None);
                        }
                        continue;
                    }
                    Ok(None) => {}
                }
                skipped_all = false;
                match self.templar.template(&Value::Map(t.args.clone()), &v) {
                    Ok(Value::Map(args)) => wants.push(Want {
                        host: h.clone(),
                        args,
                        item_vars: iv,
                        label,
                    }),
                    Ok(_) => {}
                    Err(e) => {
                        let r = TaskResult::failed(e.to_string());
                        self.host_result(t, h, &r, &flags, depth, label.as_ref());
                    }
                }
            }
            if skipped_all && t.loop_.is_some() {
                let r = TaskResult::skipped("All items skipped");
                self.host_result(t, h, &r, &flags, depth, None);
            }
        }
        // Group by what is included, in the order first asked for.
        let mut groups: Vec<(String, Vec<Want>)> = Vec::new();
        for w in wants {
            let k = key_of(&w);
            match groups.iter_mut().find(|(gk, _)| *gk == k) {
                Some((_, g)) => g.push(w),
                None => groups.push((k, vec![w])),
            }
        }
        // Every included file is loaded (and announced) first, then each group's tasks
        // run in turn, as Ansible adds them all to the hosts' task lists.
        let mut loaded: Vec<(Vec<String>, Want, Arc<Vec<Item>>)> = Vec::new();
        for (_, group) in groups {
            let hosts: Vec<String> = group.iter().map(|w| w.host.clone()).collect();
            let Some(first) = group.into_iter().next() else {
                continue;
            };
            let items = if t.action == "include_tasks" {
                self.load_tasks(t, &first, &hosts, pcx, depth)
            } else {
                self.load_role(t, &first, &hosts, pcx, depth)
            };
            if let Some(items) = items {
                loaded.push((hosts, first, items));
            }
        }
        let d = Depth {
            includes: depth.includes + 1,
            ..depth
        };
        for (hosts, w, items) in &loaded {
            let inner = self.inner_scope(t, outer, w);
            self.run_items(items, &inner, hosts, pcx, d).await;
            if self.state().abort.is_some() {
                return;
            }
        }
    }

    /// Prints and records one host's result of the include task itself.
    fn host_result(
        &self,
        t: &Task,
        host: &str,
        r: &TaskResult,
        f: &HostFlags,
        depth: Depth,
        label: Option<&Value>,
    ) {
        self.show_only(t, host, r, f, label);
        self.record(host, r, f, depth.rescuable, Some(t));
    }

    fn show_only(
        &self,
        t: &Task,
        host: &str,
        r: &TaskResult,
        f: &HostFlags,
        label: Option<&Value>,
    ) {
        self.cb().on_host_result(&HostEvent {
            host,
            action: &t.action,
            span: Some(&t.span),
            result: r,
            item: label,
            no_log: f.no_log,
            ignored: f.ignore_errors && r.failed,
        });
    }

    /// The include counts as `ok` on each host that included something.
    fn included(&self, what: &str, hosts: &[String], label: Option<&Value>) {
        self.cb().on_include(what, hosts, label);
        let mut st = self.state();
        for h in hosts {
            st.stats.host(h).ok += 1;
        }
    }

    /// An include that could not be loaded fails its hosts as Ansible's strategy fails them:
    /// counted as failed even where a rescue follows (which still runs, without
    /// `ansible_failed_result`), and out of the later plays.
    fn include_failed(&self, t: &Task, hosts: &[String], r: &TaskResult) {
        let f = HostFlags::default();
        for h in hosts {
            self.show_only(t, h, r, &f, None);
            self.record(h, r, &f, false, Some(t));
            if let Some(s) = self.state().hosts.get_mut(h) {
                s.include_failed = true;
            }
        }
    }

    fn load_failed(&self, t: &Task, hosts: &[String], msg: &str) {
        let r = TaskResult::failed(msg.to_string()).with("reason", Value::str(msg));
        self.include_failed(t, hosts, &r);
    }

    fn inner_scope<'p>(&self, t: &'p Task, scope: &Scope<'p>, w: &Want) -> Scope<'p> {
        // The include's own keywords are not inherited (only its vars, as include params).
        let mut inner = match &t.apply {
            Some(apply) => scope.push(apply),
            None => scope.clone(),
        };
        let mut params = t.common.vars.clone();
        params.extend(w.item_vars.clone());
        if !params.is_empty() {
            inner.include_params.push(Arc::new(params));
        }
        inner
    }

    /// Loads an included task file for `hosts` and announces it; `None` when it fails
    /// (each host's include then failed).
    fn load_tasks(
        &self,
        t: &Task,
        w: &Want,
        hosts: &[String],
        pcx: &PlayCx<'_>,
        depth: Depth,
    ) -> Option<Arc<Vec<Item>>> {
        let file = w
            .args
            .get(&Value::str("file"))
            .or_else(|| w.args.get(&Value::str("_raw_params")))
            .map(crate::yaml::python_str)
            .unwrap_or_default();
        let loaded = match playbook::load_included_tasks(
            &file,
            t,
            &self.opts.load,
            depth.handler,
            depth.includes,
        ) {
            Ok(l) => l,
            Err(e) => {
                self.cb().on_warning(&e.render());
                self.load_failed(t, hosts, &e.message());
                return None;
            }
        };
        let shown = std::path::absolute(&loaded.path).unwrap_or_else(|_| loaded.path.clone());
        self.included(&shown.display().to_string(), hosts, w.label.as_ref());
        if mentions_hostvars(&loaded.items) {
            pcx.set_uses_hostvars();
        }
        self.add_runtime(&loaded.handlers, &loaded.roles);
        Some(Arc::new(loaded.items))
    }

    /// Loads an included role for `hosts` and announces it; `None` when it fails.
    fn load_role(
        &self,
        t: &Task,
        w: &Want,
        hosts: &[String],
        pcx: &PlayCx<'_>,
        depth: Depth,
    ) -> Option<Arc<Vec<Item>>> {
        if depth.includes > 40 {
            // Ansible has no bound and recurses until it runs out of stack.
            let msg = "include_role nests more than 40 levels deep";
            let mut r = TaskResult::failed(msg).with("reason", Value::str(msg));
            r.origin = Some((
                t.span.clone(),
                "a role includes itself: remove the recursion or give it an end".into(),
            ));
            self.include_failed(t, hosts, &r);
            return None;
        }
        // The include's vars and loop variables are the role's entry vars (so each item is
        // its own role, as in Ansible) as well as include parameters.
        let mut entry = t.common.vars.clone();
        entry.extend(w.item_vars.clone());
        let loaded = match playbook::load_role_include(&w.args, entry, t, &self.opts.load) {
            Ok(l) => l,
            Err(e) => {
                self.cb().on_warning(&e.render());
                self.load_failed(t, hosts, &e.message());
                return None;
            }
        };
        self.included(&loaded.role.name, hosts, w.label.as_ref());
        if mentions_hostvars(&loaded.tasks) {
            pcx.set_uses_hostvars();
        }
        let mut roles = loaded.imported.clone();
        if loaded.role.public {
            roles.push(loaded.role.clone());
        }
        self.add_runtime(&loaded.handlers, &roles);
        Some(Arc::new(loaded.tasks))
    }

    /// Handlers and public roles an include brought: the rest of the play sees them.
    fn add_runtime(&self, handlers: &[Item], roles: &[Arc<crate::playbook::Role>]) {
        let mut flat = Vec::new();
        fn walk(items: &[Item], out: &mut Vec<Arc<Task>>) {
            for i in items {
                match i {
                    Item::Task(t) => out.push(Arc::new((**t).clone())),
                    Item::Block(b) => {
                        walk(&b.block, out);
                        walk(&b.rescue, out);
                        walk(&b.always, out);
                    }
                }
            }
        }
        walk(handlers, &mut flat);
        let mut st = self.state();
        st.runtime_handlers.extend(flat);
        for r in roles {
            if r.public && !st.public_roles.iter().any(|p| p.identity == r.identity) {
                st.public_roles.push(r.clone());
            }
        }
    }
}
