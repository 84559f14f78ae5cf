//! Walking a play's items for a set of hosts: tasks one after another (the linear strategy's
//! barrier), blocks with `rescue` and `always`, role blocks that run once per host unless the
//! role allows duplicates, and included files. The free strategy walks each host alone.

use super::Executor;
use super::vars::PlayCx;
use crate::playbook::{Block, Common, Item, Role};
use crate::yaml::{Map, Value};
use futures::future::BoxFuture;
use indexmap::IndexSet;
use std::sync::Arc;

/// The enclosing blocks of a task, innermost last, and the parameters of the includes it
/// came through (which rank above `set_fact`, as Ansible's include params).
#[derive(Clone, Default)]
pub struct Scope<'p> {
    pub chain: Vec<&'p Common>,
    pub include_params: Vec<Arc<Map>>,
}

impl<'p> Scope<'p> {
    pub fn push(&self, c: &'p Common) -> Scope<'p> {
        let mut s = self.clone();
        s.chain.push(c);
        s
    }

    /// The innermost value of a keyword.
    pub fn pick(&self, f: impl Fn(&Common) -> Option<&Value>) -> Option<&'p Value> {
        self.chain.iter().rev().find_map(|c| f(c))
    }

    /// The innermost value of a keyword set below the play (on a block or the task).
    pub fn pick_inner(&self, f: impl Fn(&Common) -> Option<&Value>) -> Option<&'p Value> {
        self.chain.iter().skip(1).rev().find_map(|c| f(c))
    }

    /// Inherited tags, each once, outermost first.
    pub fn tags(&self) -> Vec<String> {
        let mut t: Vec<String> = Vec::new();
        for c in &self.chain {
            for tag in &c.tags {
                if !t.contains(tag) {
                    t.push(tag.clone());
                }
            }
        }
        t
    }

    /// Conditions of every enclosing level, outermost first.
    pub fn whens(&self) -> Vec<Value> {
        self.chain
            .iter()
            .flat_map(|c| c.when.iter().cloned())
            .collect()
    }
}

/// How far down the walk is: handlers or tasks, inside a block with a `rescue`, how many
/// includes deep.
#[derive(Clone, Copy, Default)]
pub struct Depth {
    pub handler: bool,
    pub rescuable: bool,
    pub includes: usize,
}

impl Executor<'_> {
    /// The hosts of `hosts` still taking part in the play.
    pub(super) fn active(&self, hosts: &[String]) -> Vec<String> {
        let st = self.state();
        hosts
            .iter()
            .filter(|h| st.hosts.get(*h).is_some_and(|s| s.active()))
            .cloned()
            .collect()
    }

    pub(super) fn run_items<'s, 'p: 's>(
        &'s self,
        items: &'p [Item],
        scope: &'s Scope<'p>,
        hosts: &'s [String],
        pcx: &'s PlayCx<'p>,
        depth: Depth,
    ) -> BoxFuture<'s, ()> {
        Box::pin(async move {
            for item in items {
                if self.state().abort.is_some() {
                    return;
                }
                let active = self.active(hosts);
                if active.is_empty() {
                    return;
                }
                match item {
                    Item::Task(t) => self.run_task(t, scope, &active, pcx, depth).await,
                    Item::Block(b) => self.run_block(b, scope, &active, pcx, depth).await,
                }
            }
        })
    }

    /// Runs a section (pre_tasks, tasks, post_tasks, handlers' includes) for `hosts`: all in
    /// lockstep, or, with the free strategy, each host on its own.
    pub(super) async fn run_section<'p>(
        &self,
        items: &'p [Item],
        scope: &Scope<'p>,
        hosts: &[String],
        pcx: &PlayCx<'p>,
    ) {
        if pcx.free && hosts.len() > 1 {
            let walks = hosts.iter().map(|h| {
                let one = vec![h.clone()];
                async move {
                    self.run_items(items, scope, &one, pcx, Depth::default())
                        .await;
                }
            });
            futures::future::join_all(walks).await;
        } else {
            self.run_items(items, scope, hosts, pcx, Depth::default())
                .await;
        }
    }

    fn run_block<'s, 'p: 's>(
        &'s self,
        b: &'p Block,
        scope: &'s Scope<'p>,
        hosts: &'s [String],
        pcx: &'s PlayCx<'p>,
        depth: Depth,
    ) -> BoxFuture<'s, ()> {
        Box::pin(async move {
            let hosts: Vec<String> = match &b.role {
                Some(r) => self.hosts_for_role(r, hosts),
                None => hosts.to_vec(),
            };
            if hosts.is_empty() {
                return;
            }
            let inner = scope.push(&b.common);
            let before_failed: IndexSet<String> = {
                let st = self.state();
                hosts
                    .iter()
                    .filter(|h| st.hosts.get(*h).is_some_and(|s| s.failed))
                    .cloned()
                    .collect()
            };
            let rescuable = !b.rescue.is_empty();
            let block_depth = Depth {
                rescuable: depth.rescuable || rescuable,
                ..depth
            };
            self.run_items(&b.block, &inner, &hosts, pcx, block_depth)
                .await;
            let failed_here: Vec<String> = {
                let st = self.state();
                hosts
                    .iter()
                    .filter(|h| {
                        !before_failed.contains(*h)
                            && st.hosts.get(*h).is_some_and(|s| s.failed && !s.unreachable)
                    })
                    .cloned()
                    .collect()
            };
            if rescuable && !failed_here.is_empty() {
                self.set_failed(&failed_here, false);
                self.run_items(&b.rescue, &inner, &failed_here, pcx, depth)
                    .await;
            }
            if !b.always.is_empty() {
                // `always` runs for every host that entered the block, failed or not (but
                // not for hosts whose play ended or that became unreachable).
                let (entered, failed_now): (Vec<String>, Vec<String>) = {
                    let st = self.state();
                    let entered: Vec<String> = hosts
                        .iter()
                        .filter(|h| st.hosts.get(*h).is_some_and(|s| !s.unreachable && !s.ended))
                        .cloned()
                        .collect();
                    let failed: Vec<String> = entered
                        .iter()
                        .filter(|h| st.hosts.get(*h).is_some_and(|s| s.failed))
                        .cloned()
                        .collect();
                    (entered, failed)
                };
                self.set_failed(&failed_now, false);
                self.run_items(&b.always, &inner, &entered, pcx, depth)
                    .await;
                // A host that failed before `always` stays failed, unless `always` failed
                // it anew (which counts already).
                self.set_failed(&failed_now, true);
            }
            if let Some(r) = &b.role {
                self.finish_role(r, &hosts);
            }
        })
    }

    pub(super) fn set_failed(&self, hosts: &[String], failed: bool) {
        let mut st = self.state();
        for h in hosts {
            if let Some(s) = st.hosts.get_mut(h) {
                s.failed = failed;
            }
        }
    }

    /// The hosts a role block runs on: those where the role has not run yet, unless it
    /// allows duplicates (Ansible runs a role with the same parameters once per host).
    fn hosts_for_role(&self, role: &Arc<Role>, hosts: &[String]) -> Vec<String> {
        if role.allow_duplicates {
            return hosts.to_vec();
        }
        let st = self.state();
        hosts
            .iter()
            .filter(|h| {
                !st.roles_done
                    .contains(&(role.identity.clone(), (*h).clone()))
            })
            .cloned()
            .collect()
    }

    /// At a role's end, the hosts where one of its tasks ran have run the role.
    fn finish_role(&self, role: &Arc<Role>, hosts: &[String]) {
        let mut st = self.state();
        for h in hosts {
            let key = (role.identity.clone(), h.clone());
            st.roles_ended.remove(&key);
            if st.roles_ran.remove(&key) {
                st.roles_done.insert(key);
            }
        }
    }
}
