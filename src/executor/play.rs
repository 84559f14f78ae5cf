//! One play: select hosts, gather facts, run pre_tasks, roles and tasks, post_tasks (each
//! followed by its handlers) with the linear strategy, blocks with rescue and always.

use super::Executor;
use super::host::HostState;
use super::task::{self, Job, Outcome};
use super::vars::PlayCx;
use crate::connection::{Become, Connection, Local, quote};
use crate::modules::{SearchPaths, TaskResult};
use crate::output::HostEvent;
use crate::playbook::{Block, Common, Item, Play, Playbook, Task};
use crate::yaml::{Map, Value};
use futures::StreamExt;
use indexmap::IndexSet;
use std::sync::Arc;

/// The enclosing blocks of a task, innermost last.
#[derive(Clone, Default)]
struct Scope<'p> {
    chain: Vec<&'p Common>,
}

impl<'p> Scope<'p> {
    fn push(&self, c: &'p Common) -> Scope<'p> {
        let mut s = self.clone();
        s.chain.push(c);
        s
    }

    /// The innermost value of a keyword.
    fn pick(&self, f: impl Fn(&Common) -> Option<&Value>) -> Option<&'p Value> {
        self.chain.iter().rev().find_map(|c| f(c))
    }

    fn tags(&self) -> Vec<String> {
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
}

fn contains_word(v: &Value, word: &str) -> bool {
    match v {
        Value::Str(s) => s.contains(word),
        Value::Seq(items) => items.iter().any(|i| contains_word(i, word)),
        Value::Map(m) => m
            .iter()
            .any(|(k, v)| contains_word(k, word) || contains_word(v, word)),
        _ => false,
    }
}

fn items_mention(items: &[Item], word: &str) -> bool {
    items.iter().any(|i| match i {
        Item::Task(t) => {
            contains_word(&Value::Map(t.args.clone()), word)
                || t.common.when.iter().any(|w| contains_word(w, word))
                || contains_word(&Value::Map(t.common.vars.clone()), word)
                || t.loop_.as_ref().is_some_and(|l| contains_word(l, word))
                || t.changed_when
                    .as_ref()
                    .is_some_and(|l| contains_word(l, word))
                || t.failed_when
                    .as_ref()
                    .is_some_and(|l| contains_word(l, word))
                || t.common.name.as_ref().is_some_and(|n| n.contains(word))
                || (t.action == "template"
                    && t.role
                        .as_ref()
                        .is_some_and(|r| dir_mentions(&r.path.join("templates"), word)))
        }
        Item::Block(b) => {
            items_mention(&b.block, word)
                || items_mention(&b.rescue, word)
                || items_mention(&b.always, word)
                || b.common.when.iter().any(|w| contains_word(w, word))
        }
    })
}

fn dir_mentions(dir: &std::path::Path, word: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let p = e.path();
        if p.is_dir() {
            dir_mentions(&p, word)
        } else {
            // Read as the template module reads it: an encrypted template is decrypted.
            crate::yaml::read_file(&p).is_ok_and(|t| t.contains(word))
        }
    })
}

impl Executor<'_> {
    pub(super) async fn run_play(&mut self, play: &Play, playbook: &Playbook) {
        let base = self.base_vars(play);
        let pattern = match self.templar.template(&play.hosts, &base) {
            Ok(Value::Seq(items)) => items
                .iter()
                .map(crate::yaml::python_str)
                .collect::<Vec<_>>()
                .join(","),
            Ok(v) => crate::yaml::python_str(&v),
            Err(e) => {
                self.cb
                    .on_warning(&format!("could not template the play's hosts: {e}"));
                return;
            }
        };
        let name = self
            .templar
            .template_str(&play.name, &base)
            .map(|v| crate::yaml::python_str(&v))
            .unwrap_or_else(|_| play.name.clone());
        self.cb.on_play_start(&name);
        let selected = match self
            .loader
            .inventory
            .select(&pattern, self.opts.limit.as_deref())
        {
            Ok(h) => h,
            Err(e) => {
                self.cb.on_warning(&e.render());
                Vec::new()
            }
        };
        for w in self.loader.take_warnings() {
            self.cb.on_warning(&w);
        }
        let mut hosts: Vec<String> = selected
            .iter()
            .map(|&h| self.loader.inventory.hosts[h].name.clone())
            .collect();
        // Hosts that failed or were unreachable in an earlier play take no part in later ones.
        hosts.retain(|h| {
            self.hosts
                .get(h)
                .is_none_or(|s| !s.failed && !s.unreachable)
        });
        if hosts.is_empty() {
            self.cb.on_no_hosts();
            return;
        }
        for h in &hosts {
            if !self.hosts.contains_key(h) {
                let vars = match self.loader.inventory.hosts.get_index_of(h) {
                    Some(i) => match self.loader.host_vars(i) {
                        Ok(v) => v,
                        Err(e) => {
                            self.cb.on_warning(&e.render());
                            Map::new()
                        }
                    },
                    None => Map::new(),
                };
                self.hosts.insert(h.clone(), HostState::new(vars));
            }
            if let Some(s) = self.hosts.get_mut(h) {
                s.notified.clear();
            }
        }
        let mut role_defaults = Map::new();
        let mut role_vars = Map::new();
        for r in &play.roles {
            role_defaults.extend(r.defaults.clone());
            role_vars.extend(r.vars.clone());
        }
        let groups: Map = self
            .loader
            .inventory
            .groups
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let hs = self.loader.inventory.group_hosts(i);
                (
                    Value::str(name.clone()),
                    Value::Seq(
                        hs.into_iter()
                            .map(|h| Value::str(self.loader.inventory.hosts[h].name.clone()))
                            .collect(),
                    ),
                )
            })
            .collect();
        let uses_hostvars = [
            &play.pre_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ]
        .iter()
        .any(|items| items_mention(items, "hostvars"))
            || contains_word(&Value::Map(play.common.vars.clone()), "hostvars")
            || contains_word(&Value::Map(role_defaults.clone()), "hostvars")
            || contains_word(&Value::Map(role_vars.clone()), "hostvars");
        let mut pcx = PlayCx {
            play,
            playbook_dir: playbook.dir.clone(),
            role_defaults,
            role_vars,
            vars_files: Default::default(),
            hosts_all: hosts.clone(),
            uses_hostvars,
            groups: Value::Map(groups),
        };
        if let Err(e) = self.load_vars_files(&mut pcx, &hosts) {
            for h in &hosts {
                let result = TaskResult::failed(e.clone());
                // Shown, so the reason (a missing file, a vault secret) is not silent.
                self.cb.on_host_result(&HostEvent {
                    host: h,
                    action: "vars_files",
                    span: None,
                    result: &result,
                    item: None,
                    no_log: false,
                    ignored: false,
                });
                self.record(h, &result, None, false, false);
                if let Some(s) = self.hosts.get_mut(h) {
                    s.failed = true;
                }
            }
            return;
        }
        self.connect(&hosts, &pcx);
        if play.gather_facts {
            self.gather_facts(&hosts, &pcx).await;
        }
        let search = SearchPaths(vec![playbook.dir.clone()]);
        let scope = Scope::default().push(&play.common);
        for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
            let active = self.active(&hosts);
            self.run_items(section, &scope, &active, &pcx, &search, false)
                .await;
            self.flush_handlers(&pcx, &search, &scope).await;
        }
    }

    fn base_vars(&self, play: &Play) -> Map {
        let mut m = play.common.vars.clone();
        m.extend(self.opts.extra_vars.clone());
        m
    }

    fn active(&self, hosts: &[String]) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| {
                self.hosts
                    .get(*h)
                    .is_some_and(|s| !s.failed && !s.unreachable)
            })
            .cloned()
            .collect()
    }

    fn load_vars_files(&mut self, pcx: &mut PlayCx<'_>, hosts: &[String]) -> Result<(), String> {
        if pcx.play.vars_files.is_empty() {
            return Ok(());
        }
        for h in hosts {
            let vars = self.task_vars(h, pcx, &[], None);
            let mut merged = Map::new();
            for entry in &pcx.play.vars_files {
                // A list entry is "the first of these that exists".
                let candidates = match entry {
                    Value::Seq(items) => items.clone(),
                    other => vec![other.clone()],
                };
                let mut found = false;
                for c in &candidates {
                    let name = self
                        .templar
                        .template(c, &vars)
                        .map_err(|e| format!("vars_files: {e}"))?;
                    let path = pcx.playbook_dir.join(crate::yaml::python_str(&name));
                    if path.is_file() {
                        let loaded = crate::yaml::load_file(&path).map_err(|e| {
                            e.located().map_or_else(|| e.to_string(), |l| l.to_string())
                        })?;
                        match loaded.node.map(|n| n.to_value()) {
                            Some(Value::Map(m)) => merged.extend(m),
                            None | Some(Value::Null) => {}
                            Some(_) => {
                                return Err(format!(
                                    "vars file `{}` must hold a mapping",
                                    path.display()
                                ));
                            }
                        }
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Err(format!(
                        "vars file {} was not found",
                        candidates
                            .iter()
                            .map(crate::yaml::python_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            pcx.vars_files.insert(h.clone(), merged);
        }
        Ok(())
    }

    /// Gives each host its connection, kept for the rest of the run: `local`, or `ssh`
    /// (the session opens on the host's first command). A host whose SSH settings are wrong
    /// gets no connection and is reported unreachable with the reason.
    fn connect(&mut self, hosts: &[String], pcx: &PlayCx<'_>) {
        for h in hosts {
            let conn_name = self.connection_name(h, pcx.play);
            if self.hosts.get(h).is_none_or(|s| s.conn.is_some()) {
                continue;
            }
            let conn: Result<Arc<dyn Connection>, String> = match conn_name.as_str() {
                "local" => Ok(Arc::new(Local)),
                "ssh" | "smart" | "paramiko" => {
                    let view = self.host_view(h, pcx);
                    // Only the connection's own variables are templated (lazily, as Ansible).
                    let mut vars = Map::new();
                    let mut bad = None;
                    for (k, v) in &view {
                        let is_conn = k.as_str().is_some_and(|k| {
                            k.starts_with("ansible_ssh_")
                                || matches!(
                                    k,
                                    "ansible_host"
                                        | "ansible_port"
                                        | "ansible_user"
                                        | "ansible_password"
                                        | "ansible_private_key_file"
                                        | "ansible_timeout"
                                        | "ansible_host_key_checking"
                                )
                        });
                        if !is_conn {
                            continue;
                        }
                        match self.templar.template(v, &view) {
                            Ok(t) => {
                                vars.insert(k.clone(), t);
                            }
                            Err(e) => {
                                bad = Some(format!(
                                    "cannot template `{}`: {e}",
                                    crate::yaml::python_str(k)
                                ))
                            }
                        }
                    }
                    if let Some(e) = bad {
                        self.conn_errors.insert(h.clone(), e);
                        continue;
                    }
                    let mut opts = self.opts.ssh.clone();
                    if opts.remote_user.is_none() {
                        opts.remote_user = pcx
                            .play
                            .remote_user
                            .as_ref()
                            .map(crate::yaml::python_str)
                            .or_else(|| self.opts.remote_user.clone());
                    }
                    match crate::connection::ssh::resolve::target(h, &vars, &opts) {
                        Ok((target, ignored)) => {
                            for i in ignored {
                                if self.ssh_ignored.insert(i.clone()) {
                                    self.cb.on_warning(&format!(
                                        "ssh_config option not supported by kiln, ignored: {i}"
                                    ));
                                }
                            }
                            Ok(Arc::new(crate::connection::ssh::Ssh::new(target)))
                        }
                        Err(e) => Err(format!("bad SSH settings for {h}: {e}")),
                    }
                }
                other => Err(format!("the `{other}` connection is not supported by kiln")),
            };
            match conn {
                Ok(c) => {
                    if let Some(state) = self.hosts.get_mut(h) {
                        state.conn = Some(c);
                    }
                }
                Err(e) => {
                    self.conn_errors.insert(h.clone(), e);
                }
            }
        }
    }

    /// Why `host` has no connection.
    fn conn_error(&self, host: &str, pcx: &PlayCx<'_>) -> String {
        self.conn_errors.get(host).cloned().unwrap_or_else(|| {
            format!(
                "the `{}` connection is not supported by kiln",
                self.connection_name(host, pcx.play)
            )
        })
    }

    fn connection_name(&self, host: &str, play: &Play) -> String {
        if let Some(c) = &self.opts.connection {
            return c.clone();
        }
        if let Some(v) = self
            .hosts
            .get(host)
            .and_then(|s| s.inventory_vars.get(&Value::str("ansible_connection")))
        {
            return crate::yaml::python_str(v);
        }
        if let Some(c) = &play.connection {
            return c.clone();
        }
        let implicit = self
            .loader
            .inventory
            .hosts
            .get(host)
            .is_some_and(|h| h.implicit);
        if implicit {
            "local".into()
        } else {
            "ssh".into()
        }
    }

    async fn gather_facts(&mut self, hosts: &[String], pcx: &PlayCx<'_>) {
        self.cb.on_task_start("Gathering Facts", false);
        let jobs: Vec<(String, Option<Arc<dyn Connection>>)> = hosts
            .iter()
            .map(|h| (h.clone(), self.hosts.get(h).and_then(|s| s.conn.clone())))
            .collect();
        let conn_names: Vec<String> = hosts.iter().map(|h| self.conn_error(h, pcx)).collect();
        let forks = self.opts.forks.max(1);
        let mut stream = futures::stream::iter(jobs.into_iter().zip(conn_names))
            .map(|((host, conn), cname)| async move {
                let Some(conn) = conn else {
                    return (host, Err(cname));
                };
                let cmd = crate::connection::RemoteCommand::new(crate::facts::PROBE);
                match conn.exec(&cmd, None).await {
                    Ok(out) => (host, Ok(crate::facts::parse(&out.stdout_text()))),
                    Err(e) => (host, Err(e.to_string())),
                }
            })
            .buffer_unordered(forks);
        let mut done = Vec::new();
        while let Some((host, res)) = stream.next().await {
            let result = match &res {
                Ok(_) => TaskResult::ok(),
                Err(e) => TaskResult::unreachable(e.clone()),
            };
            self.cb.on_host_result(&HostEvent {
                host: &host,
                action: "gather_facts",
                span: None,
                result: &result,
                item: None,
                no_log: false,
                ignored: false,
            });
            done.push((host, res, result));
        }
        drop(stream);
        for (host, res, result) in done {
            self.record(&host, &result, None, false, false);
            if let (Ok(facts), Some(s)) = (res, self.hosts.get_mut(&host)) {
                s.facts = facts;
            }
        }
    }

    /// Updates stats and host state for one final task result.
    fn record(
        &mut self,
        host: &str,
        r: &TaskResult,
        _item: Option<&Value>,
        ignore_errors: bool,
        in_rescuable_block: bool,
    ) {
        let s = self.stats.host(host);
        if r.unreachable {
            s.unreachable += 1;
            if let Some(h) = self.hosts.get_mut(host) {
                h.unreachable = true;
            }
        } else if r.failed {
            if ignore_errors {
                s.ok += 1;
                s.ignored += 1;
                if r.changed {
                    s.changed += 1;
                }
            } else {
                if in_rescuable_block {
                    s.rescued += 1;
                } else {
                    s.failed += 1;
                }
                if let Some(h) = self.hosts.get_mut(host) {
                    h.failed = true;
                }
            }
        } else if r.skipped {
            s.skipped += 1;
        } else {
            s.ok += 1;
            if r.changed {
                s.changed += 1;
            }
        }
    }

    fn run_items<'s, 'p: 's>(
        &'s mut self,
        items: &'p [Item],
        scope: &'s Scope<'p>,
        hosts: &'s [String],
        pcx: &'s PlayCx<'p>,
        search: &'s SearchPaths,
        handler: bool,
    ) -> futures::future::BoxFuture<'s, ()> {
        Box::pin(async move {
            for item in items {
                let active = self.active(hosts);
                if active.is_empty() {
                    return;
                }
                match item {
                    Item::Task(t) => {
                        self.run_task(t, scope, &active, pcx, search, handler, false)
                            .await;
                    }
                    Item::Block(b) => {
                        self.run_block(b, scope, &active, pcx, search, handler)
                            .await
                    }
                }
            }
        })
    }

    async fn run_block<'p>(
        &mut self,
        b: &'p Block,
        scope: &Scope<'p>,
        hosts: &[String],
        pcx: &PlayCx<'p>,
        search: &SearchPaths,
        handler: bool,
    ) {
        let inner = scope.push(&b.common);
        let before_failed: IndexSet<String> = hosts
            .iter()
            .filter(|h| self.hosts.get(*h).is_some_and(|s| s.failed))
            .cloned()
            .collect();
        let rescuable = !b.rescue.is_empty();
        self.block_depth_rescue.push(rescuable);
        self.run_items(&b.block, &inner, hosts, pcx, search, handler)
            .await;
        self.block_depth_rescue.pop();
        let failed_here: Vec<String> = hosts
            .iter()
            .filter(|h| {
                !before_failed.contains(*h)
                    && self
                        .hosts
                        .get(*h)
                        .is_some_and(|s| s.failed && !s.unreachable)
            })
            .cloned()
            .collect();
        if rescuable && !failed_here.is_empty() {
            for h in &failed_here {
                if let Some(s) = self.hosts.get_mut(h) {
                    s.failed = false;
                }
            }
            self.run_items(&b.rescue, &inner, &failed_here, pcx, search, handler)
                .await;
        }
        if !b.always.is_empty() {
            // `always` runs for every host that entered the block, failed or not.
            let entered: Vec<String> = hosts
                .iter()
                .filter(|h| self.hosts.get(*h).is_some_and(|s| !s.unreachable))
                .cloned()
                .collect();
            let failed_now: Vec<String> = entered
                .iter()
                .filter(|h| self.hosts.get(*h).is_some_and(|s| s.failed))
                .cloned()
                .collect();
            for h in &failed_now {
                if let Some(s) = self.hosts.get_mut(h) {
                    s.failed = false;
                }
            }
            self.run_items(&b.always, &inner, &entered, pcx, search, handler)
                .await;
            for h in &failed_now {
                if let Some(s) = self.hosts.get_mut(h) {
                    s.failed = true;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_task<'p>(
        &mut self,
        t: &'p Task,
        scope: &Scope<'p>,
        hosts: &[String],
        pcx: &PlayCx<'p>,
        search: &SearchPaths,
        handler: bool,
        _force: bool,
    ) {
        let scope = scope.push(&t.common);
        if !handler && !self.opts.tags.selects(&scope.tags()) {
            return;
        }
        if !self.started {
            let name = t.display_name();
            if Some(name.as_str()) == self.opts.start_at_task.as_deref()
                || t.common.name.as_deref() == self.opts.start_at_task.as_deref()
            {
                self.started = true;
            } else {
                return;
            }
        }
        let role_search;
        let search = match &t.role {
            Some(r) => {
                role_search = r.search.clone();
                &role_search
            }
            None => search,
        };
        let scopes: Vec<&Map> = scope.chain.iter().skip(1).map(|c| &c.vars).collect();
        let first_vars = hosts
            .first()
            .map(|h| self.task_vars(h, pcx, &scopes, t.role.as_ref()))
            .unwrap_or_default();
        let title = match self.templar.template_str(&t.display_name(), &first_vars) {
            Ok(v) => crate::yaml::python_str(&v),
            Err(_) => t.display_name(),
        };
        self.cb.on_task_start(&title, handler);
        if t.action == "meta" {
            // Ansible's linear strategy announces these meta tasks once per host.
            for _ in 1..hosts.len() {
                self.cb.on_task_start(&title, handler);
            }
        }
        if t.action == "meta"
            && t.args
                .get(&Value::str("_raw_params"))
                .and_then(Value::as_str)
                == Some("flush_handlers")
        {
            // Handlers run in the play's scope, not in the blocks around this task.
            let root = Scope::default().push(&pcx.play.common);
            Box::pin(self.flush_handlers(pcx, search, &root)).await;
            return;
        }
        let whens: Vec<Value> = scope
            .chain
            .iter()
            .flat_map(|c| c.when.iter().cloned())
            .collect();
        let mut jobs = Vec::new();
        let mut flags = Vec::new();
        for h in hosts {
            let vars = self.task_vars(h, pcx, &scopes, t.role.as_ref());
            let flag = |f: fn(&Common) -> Option<&Value>, default: bool| -> bool {
                match scope.pick(f) {
                    Some(v) => match self.templar.template(v, &vars) {
                        Ok(val) => crate::modules::spec::to_bool(&val).unwrap_or(default),
                        Err(_) => default,
                    },
                    None => default,
                }
            };
            let check = flag(|c| c.check_mode.as_ref(), self.opts.check);
            let diff = flag(|c| c.diff.as_ref(), self.opts.diff);
            let no_log = flag(|c| c.no_log.as_ref(), false);
            let ignore_errors = flag(|c| c.ignore_errors.as_ref(), false);
            let become_on = flag(|c| c.become_.as_ref(), self.opts.become_);
            let become_ = if become_on {
                Some(self.become_for(&scope, &vars))
            } else {
                None
            };
            let env = match scope.pick(|c| c.environment.as_ref()) {
                Some(e) => match self.templar.template(e, &vars) {
                    Ok(Value::Map(m)) => m
                        .iter()
                        .map(|(k, v)| {
                            format!(
                                "export {}={}; ",
                                crate::yaml::python_str(k),
                                quote::quote(&crate::yaml::python_str(v))
                            )
                        })
                        .collect(),
                    _ => String::new(),
                },
                None => String::new(),
            };
            // Ansible takes whole seconds; 0 (or nothing) means no limit.
            let timeout = match scope.pick(|c| c.timeout.as_ref()) {
                None => Ok(None),
                Some(v) => match self.templar.template(v, &vars) {
                    Ok(Value::Int(n)) => Ok(u64::try_from(n).ok().filter(|n| *n > 0)),
                    Ok(Value::Str(t)) if t.trim().parse::<u64>().is_ok() => {
                        Ok(t.trim().parse::<u64>().ok().filter(|n| *n > 0))
                    }
                    Ok(other) => Err(format!(
                        "`timeout` must be a whole number of seconds, not `{}`",
                        crate::yaml::python_str(&other)
                    )),
                    Err(e) => Err(e.to_string()),
                },
            };
            let conn = self.hosts.get(h).and_then(|s| s.conn.clone());
            let missing_conn = conn.is_none();
            jobs.push(Job {
                host: h.clone(),
                vars,
                conn,
                become_,
                check,
                diff,
                env,
                whens: whens.clone(),
                timeout,
            });
            flags.push((h.clone(), no_log, ignore_errors, missing_conn));
        }
        let conn_missing_msg: Vec<(String, String)> = flags
            .iter()
            .filter(|f| f.3)
            .map(|f| (f.0.clone(), self.conn_error(&f.0, pcx)))
            .collect();
        let templar = &self.templar;
        let forks = self.opts.forks.max(1);
        let mut stream = futures::stream::iter(jobs)
            .map(|job| task::execute(templar, t, job, search))
            .buffer_unordered(forks);
        let mut outcomes: Vec<Outcome> = Vec::new();
        let action = crate::modules::lookup(&t.action).map_or("", |m| m.name());
        let in_rescue = self.block_depth_rescue.iter().any(|r| *r);
        // A meta task that worked shows nothing and counts for nothing in the recap.
        let silent = |r: &TaskResult| action == "meta" && !r.failed && !r.unreachable;
        while let Some(mut o) = stream.next().await {
            if let Some((_, msg)) = conn_missing_msg.iter().find(|(h, _)| *h == o.host)
                && o.result.unreachable
            {
                o.result.msg = Some(msg.clone());
            }
            if silent(&o.result) {
                continue;
            }
            let (no_log, ignore_errors) = flags
                .iter()
                .find(|f| f.0 == o.host)
                .map_or((false, false), |f| (f.1, f.2));
            for (item, r) in &o.items {
                self.cb.on_host_result(&HostEvent {
                    host: &o.host,
                    action,
                    span: Some(&t.span),
                    result: r,
                    item: Some(item),
                    no_log,
                    ignored: false,
                });
            }
            let print_final =
                o.items.is_empty() || o.result.failed || o.result.skipped || o.result.unreachable;
            if print_final {
                self.cb.on_host_result(&HostEvent {
                    host: &o.host,
                    action,
                    span: Some(&t.span),
                    result: &o.result,
                    item: None,
                    no_log,
                    ignored: ignore_errors && o.result.failed,
                });
            }
            outcomes.push(o);
        }
        drop(stream);
        for o in outcomes {
            let ignore_errors = flags.iter().find(|f| f.0 == o.host).is_some_and(|f| f.2);
            self.record(&o.host, &o.result, None, ignore_errors, in_rescue);
            let Some(state) = self.hosts.get_mut(&o.host) else {
                continue;
            };
            if let Some((name, value)) = o.register {
                state.set_facts.insert(Value::str(name), value);
            }
            if let Some(f) = o.set_facts {
                state.set_facts.extend(f);
            }
            if let Some(f) = o.facts {
                state.facts.extend(f);
            }
            if o.result.changed && !o.result.failed && !handler {
                for n in &t.notify {
                    state.notified.insert(n.clone());
                }
            }
        }
    }

    fn become_for(&self, scope: &Scope<'_>, vars: &Map) -> Become {
        let text = |v: Option<&Value>| {
            v.and_then(|v| self.templar.template(v, vars).ok())
                .map(|v| crate::yaml::python_str(&v))
        };
        let var = |name: &str| {
            vars.get(&Value::str(name))
                .and_then(|v| self.templar.template(v, vars).ok())
                .map(|v| crate::yaml::python_str(&v))
        };
        Become {
            method: text(scope.pick(|c| c.become_method.as_ref()))
                .or_else(|| self.opts.become_method.clone())
                .or_else(|| var("ansible_become_method"))
                .unwrap_or_else(|| "sudo".into()),
            user: text(scope.pick(|c| c.become_user.as_ref()))
                .or_else(|| self.opts.become_user.clone())
                .or_else(|| var("ansible_become_user"))
                .unwrap_or_else(|| "root".into()),
            password: self
                .opts
                .become_password
                .clone()
                .or_else(|| var("ansible_become_password"))
                .or_else(|| var("ansible_become_pass")),
            flags: text(scope.pick(|c| c.become_flags.as_ref()))
                .or_else(|| var("ansible_become_flags")),
        }
    }

    async fn flush_handlers<'p>(
        &mut self,
        pcx: &PlayCx<'p>,
        search: &SearchPaths,
        scope: &Scope<'p>,
    ) {
        let play = pcx.play;
        for item in &play.handlers {
            let Item::Task(h) = item else { continue };
            let mut names: Vec<String> = h.listen.clone();
            if let Some(n) = &h.common.name {
                names.push(n.clone());
                if let Some(r) = &h.role {
                    names.push(format!("{} : {n}", r.name));
                }
            }
            let hosts: Vec<String> = self
                .hosts
                .iter()
                .filter(|(name, s)| {
                    pcx.hosts_all.contains(*name)
                        && !s.unreachable
                        && (!s.failed || self.opts.force_handlers || play.force_handlers)
                })
                .filter(|(_, s)| names.iter().any(|n| s.notified.contains(n)))
                .map(|(n, _)| n.clone())
                .collect();
            if hosts.is_empty() {
                continue;
            }
            self.run_task(h, scope, &hosts, pcx, search, true, false)
                .await;
            for host in &hosts {
                if let Some(s) = self.hosts.get_mut(host) {
                    for n in &names {
                        s.notified.shift_remove(n);
                    }
                }
            }
        }
    }
}
