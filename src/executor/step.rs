//! One task across a set of hosts: tag and start-at-task selection, the banner, each host's
//! job (flags templated with its variables), the fan-out bounded by `forks` and `throttle`,
//! `run_once`, the results shown as they come and then applied to the run's state: stats,
//! registered values, facts, handler notifications, `any_errors_fatal`.

use super::Executor;
use super::delegate::ConnOverride;
use super::task::{self, Delegation, Job, Outcome};
use super::vars::PlayCx;
use super::walk::{Depth, Scope};
use crate::connection::{Become, Connection, quote};
use crate::modules::{SearchPaths, TaskResult};
use crate::output::HostEvent;
use crate::playbook::{Common, Task};
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use futures::StreamExt;
use std::sync::Arc;

/// How one host's result is to be treated, fixed before the fan-out.
#[derive(Clone, Default)]
pub(super) struct HostFlags {
    pub no_log: bool,
    pub ignore_errors: bool,
    pub ignore_unreachable: bool,
    pub delegate_facts: bool,
    /// Why the host has no connection, when it has none.
    pub no_conn: Option<String>,
}

/// The executor as a task's hosts see it while they run: delegation targets, retries.
struct Delegator<'e, 'a, 'p> {
    exec: &'e Executor<'a>,
    pcx: &'e PlayCx<'p>,
    title: &'e str,
}

#[async_trait]
impl Delegation for Delegator<'_, '_, '_> {
    async fn connection(&self, target: &str) -> Result<(Arc<dyn Connection>, String), String> {
        self.exec.delegate_connection(target, self.pcx)
    }

    fn retrying(&self, host: &str, left: u32) {
        self.exec.cb().on_retry(host, self.title, left);
    }
}

impl Executor<'_> {
    /// A keyword of the task (or inherited) templated with `vars`, as a boolean.
    pub(super) fn flag(
        &self,
        scope: &Scope<'_>,
        f: fn(&Common) -> Option<&Value>,
        vars: &Map,
        default: bool,
    ) -> bool {
        match scope.pick(f) {
            Some(v) => match self.templar.template(v, vars) {
                Ok(val) => crate::modules::spec::to_bool(&val).unwrap_or(default),
                Err(_) => default,
            },
            None => default,
        }
    }

    /// Whether `--start-at-task` lets this task run (and remembers when it has begun).
    fn start_here(&self, t: &Task) -> bool {
        let mut st = self.state();
        if st.started {
            return true;
        }
        let name = t.display_name();
        let wanted = self.opts.start_at_task.as_deref();
        if Some(name.as_str()) == wanted || (t.common.name.as_deref() == wanted && !t.implicit) {
            st.started = true;
            return true;
        }
        false
    }

    /// The task's title for its banner, templated with the first host's variables.
    pub(super) fn title(&self, t: &Task, vars: &Map) -> String {
        // An unnamed include_role's title shows its role as written, `{{ }}` and all.
        if t.action == "include_role" && t.common.name.is_none() {
            return t.display_name();
        }
        match self.templar.template_str(&t.display_name(), vars) {
            Ok(v) => crate::yaml::python_str(&v),
            Err(_) => t.display_name(),
        }
    }

    pub(super) fn search_for(&self, t: &Task, pcx: &PlayCx<'_>) -> SearchPaths {
        match &t.role {
            Some(r) => r.search.clone(),
            None => {
                let mut dirs = Vec::new();
                if t.dir != pcx.playbook_dir {
                    dirs.push(t.dir.clone());
                }
                dirs.push(pcx.playbook_dir.clone());
                SearchPaths(dirs)
            }
        }
    }

    pub(super) async fn run_task<'p>(
        &self,
        t: &'p Task,
        scope: &Scope<'p>,
        hosts: &[String],
        pcx: &PlayCx<'p>,
        depth: Depth,
    ) {
        let outer = scope;
        let scope = outer.push(&t.common);
        if !depth.handler && !self.opts.tags.selects(&scope.tags()) {
            return;
        }
        if !self.start_here(t) {
            return;
        }
        let hosts = self.hosts_in_role(t, hosts);
        let Some(first) = hosts.first() else { return };
        let first_vars = self.task_vars(first, pcx, &scope, t.role.as_ref());
        let title = self.title(t, &first_vars);
        match t.action.as_str() {
            "meta" => return self.run_meta(t, &scope, &hosts, pcx, depth, &title).await,
            "include_tasks" | "include_role" => {
                return self.run_include(t, outer, &hosts, pcx, depth, &title).await;
            }
            _ => {}
        }
        self.banner(t, &title, depth, pcx);
        let module = crate::modules::lookup(&t.action);
        let bypass = module.is_some_and(|m| m.bypass_host_loop());
        let run_once = bypass || self.flag(&scope, |c| c.run_once.as_ref(), &first_vars, false);
        let targets: Vec<String> = if run_once {
            vec![first.clone()]
        } else {
            hosts.clone()
        };
        let throttle = scope
            .pick(|c| c.throttle.as_ref())
            .and_then(|v| self.templar.template(v, &first_vars).ok())
            .and_then(|v| match v {
                Value::Int(n) if n > 0 => Some(n as usize),
                Value::Str(s) => s.trim().parse().ok().filter(|n| *n > 0),
                _ => None,
            });
        let sem = throttle.map(|n| self.throttle_for(t, n));
        let search = self.search_for(t, pcx);
        let delegation = Delegator {
            exec: self,
            pcx,
            title: &title,
        };
        let mut jobs = Vec::new();
        let mut flags: Vec<(String, HostFlags)> = Vec::new();
        for h in &targets {
            let vars = if h == first {
                first_vars.clone()
            } else {
                self.task_vars(h, pcx, &scope, t.role.as_ref())
            };
            let (job, f) = self.job(h, vars, &scope, pcx, &delegation);
            jobs.push(job);
            flags.push((h.clone(), f));
        }
        let templar = &self.templar;
        let forks = &self.forks;
        let search = &search;
        let sem = &sem;
        let mut stream = futures::stream::FuturesUnordered::new();
        for job in jobs {
            stream.push(async move {
                let _fork = forks.acquire().await;
                let _throttle = match sem {
                    Some(s) => Some(s.acquire().await),
                    None => None,
                };
                task::execute(templar, t, job, search).await
            });
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        let action = module.map_or("", |m| m.name());
        while let Some(mut o) = stream.next().await {
            let f = flags
                .iter()
                .find(|f| f.0 == o.host)
                .map(|f| f.1.clone())
                .unwrap_or_default();
            if let Some(msg) = &f.no_conn
                && o.result.unreachable
            {
                o.result.msg = Some(msg.clone());
            }
            if o.result.changed && !o.result.failed && !t.notify.is_empty() {
                let missing = self.missing_handler(t, &o.host, pcx);
                let mut st = self.state();
                if st.abort.is_none() {
                    st.abort = missing;
                }
            }
            // A run stopped by a missing handler reports no more results, as Ansible.
            if self.state().abort.is_none() {
                self.show(t, action, &o, &f);
            }
            outcomes.push(o);
        }
        drop(stream);
        let mut any_failed = false;
        for o in outcomes {
            let f = flags
                .iter()
                .find(|f| f.0 == o.host)
                .map(|f| f.1.clone())
                .unwrap_or_default();
            if (o.result.failed && !f.ignore_errors)
                || (o.result.unreachable && !f.ignore_unreachable)
            {
                any_failed = true;
            }
            // A bypassing action (`pause`) registers on the host it ran for only, as in
            // Ansible; `run_once` gives its result to every host.
            let share = if run_once && !bypass {
                hosts.clone()
            } else {
                Vec::new()
            };
            self.apply(t, o, &f, depth, &share, pcx);
        }
        if self.state().abort.is_some() {
            return;
        }
        let fatal = self.flag(
            &scope,
            |c| c.any_errors_fatal.as_ref(),
            &first_vars,
            self.opts.any_errors_fatal,
        );
        if any_failed && (fatal || run_once) {
            // Every other host of the batch stops too (into its rescue, if it has one).
            self.set_failed(&self.active(&pcx.batch), true);
        }
        self.check_max_fail(pcx);
    }

    /// A task's banner; with the free strategy, once, when the first host reaches it.
    pub(super) fn banner(&self, t: &Task, title: &str, depth: Depth, pcx: &PlayCx<'_>) {
        if pcx.free && !self.state().banners.insert(t as *const Task as usize) {
            return;
        }
        self.cb().on_task_start(title, depth.handler);
    }

    /// Hosts that ended the role this task belongs to (`meta: end_role`) skip its tasks.
    fn hosts_in_role(&self, t: &Task, hosts: &[String]) -> Vec<String> {
        let Some(r) = &t.role else {
            return hosts.to_vec();
        };
        let st = self.state();
        hosts
            .iter()
            .filter(|h| !st.roles_ended.contains(&(r.identity.clone(), (*h).clone())))
            .cloned()
            .collect()
    }

    fn throttle_for(&self, t: &Task, n: usize) -> Arc<tokio::sync::Semaphore> {
        let key = t as *const Task as usize;
        self.state()
            .throttles
            .entry(key)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(n)))
            .clone()
    }

    /// One host's job and how to treat its result.
    fn job<'d>(
        &self,
        h: &str,
        vars: Map,
        scope: &Scope<'_>,
        pcx: &PlayCx<'_>,
        delegation: &'d dyn Delegation,
    ) -> (Job<'d>, HostFlags) {
        let check = self.flag(scope, |c| c.check_mode.as_ref(), &vars, self.opts.check);
        let diff = self.flag(scope, |c| c.diff.as_ref(), &vars, self.opts.diff);
        let become_default = self.opts.become_
            || vars
                .get(&Value::str("ansible_become"))
                .and_then(|v| self.templar.template(v, &vars).ok())
                .and_then(|v| crate::modules::spec::to_bool(&v))
                .unwrap_or(false);
        let become_on = self.flag(scope, |c| c.become_.as_ref(), &vars, become_default);
        let become_ = become_on.then(|| self.become_for(scope, &vars));
        // `environment` of every level, outermost first, inner keys winning, as Ansible
        // merges them.
        let mut merged = Map::new();
        for c in &scope.chain {
            if let Some(e) = &c.environment
                && let Ok(Value::Map(m)) = self.templar.template(e, &vars)
            {
                merged.extend(m);
            }
        }
        let env: String = merged
            .iter()
            .map(|(k, v)| {
                format!(
                    "export {}={}; ",
                    crate::yaml::python_str(k),
                    quote::quote(&crate::yaml::python_str(v))
                )
            })
            .collect();
        // Ansible takes whole seconds; 0 (or nothing) means no limit.
        let timeout = match scope.pick(|c| c.timeout.as_ref()) {
            None => Ok(None),
            Some(v) => match self.templar.template(v, &vars) {
                Ok(Value::Int(n)) => Ok(u64::try_from(n).ok().filter(|n| *n > 0)),
                Ok(Value::Str(s)) if s.trim().parse::<u64>().is_ok() => {
                    Ok(s.trim().parse::<u64>().ok().filter(|n| *n > 0))
                }
                Ok(other) => Err(format!(
                    "`timeout` must be a whole number of seconds, not `{}`",
                    crate::yaml::python_str(&other)
                )),
                Err(e) => Err(e.to_string()),
            },
        };
        let flags = HostFlags {
            no_log: self.flag(scope, |c| c.no_log.as_ref(), &vars, false),
            ignore_errors: self.flag(scope, |c| c.ignore_errors.as_ref(), &vars, false),
            ignore_unreachable: self.flag(scope, |c| c.ignore_unreachable.as_ref(), &vars, false),
            delegate_facts: self.flag(scope, |c| c.delegate_facts.as_ref(), &vars, false),
            no_conn: None,
        };
        // A block or task may ask for another connection type, user or port.
        let text = |f: fn(&Common) -> Option<&Value>| {
            scope
                .pick_inner(f)
                .and_then(|v| self.templar.template(v, &vars).ok())
                .map(|v| crate::yaml::python_str(&v))
        };
        let over = ConnOverride {
            connection: text(|c| c.connection.as_ref()),
            remote_user: text(|c| c.remote_user.as_ref()),
            port: text(|c| c.port.as_ref()).and_then(|p| p.parse().ok()),
        };
        let (conn, no_conn) = if over.is_empty() {
            let conn = self.state().hosts.get(h).and_then(|s| s.conn.clone());
            let why = conn.is_none().then(|| self.conn_error(h, pcx));
            (conn, why)
        } else {
            match self.override_connection(h, &over, pcx) {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            }
        };
        let flags = HostFlags { no_conn, ..flags };
        let job = Job {
            host: h.to_string(),
            vars,
            conn,
            become_,
            check,
            diff,
            env,
            whens: scope.whens(),
            timeout,
            delegate_to: scope.pick(|c| c.delegate_to.as_ref()).cloned(),
            delegation,
        };
        (job, flags)
    }

    /// Prints one host's outcome: its loop items, then the final line when there is one.
    fn show(&self, t: &Task, action: &str, o: &Outcome, f: &HostFlags) {
        // A task that worked shows nothing for `meta`.
        let mut cb = self.cb();
        for (item, r) in &o.items {
            cb.on_host_result(&HostEvent {
                host: &o.host,
                action,
                span: Some(&t.span),
                result: r,
                item: Some(item),
                no_log: f.no_log,
                ignored: false,
            });
        }
        let print_final =
            o.items.is_empty() || o.result.failed || o.result.skipped || o.result.unreachable;
        if print_final {
            cb.on_host_result(&HostEvent {
                host: &o.host,
                action,
                span: Some(&t.span),
                result: &o.result,
                item: None,
                no_log: f.no_log,
                ignored: (f.ignore_errors && o.result.failed)
                    || (f.ignore_unreachable && o.result.unreachable),
            });
        }
    }

    /// Applies one host's outcome to the run: stats, host state, registered values and facts
    /// (for every host in `share` when the task ran once for all), notifications.
    fn apply(
        &self,
        t: &Task,
        o: Outcome,
        f: &HostFlags,
        depth: Depth,
        share: &[String],
        pcx: &PlayCx<'_>,
    ) {
        self.record(&o.host, &o.result, f, depth.rescuable, Some(t));
        let targets: Vec<String> = if share.is_empty() {
            vec![o.host.clone()]
        } else {
            share.to_vec()
        };
        let fact_targets: Vec<String> = match (&o.delegated_to, f.delegate_facts) {
            (Some(d), true) => vec![d.clone()],
            _ => targets.clone(),
        };
        {
            let mut st = self.state();
            for h in &targets {
                let Some(state) = st.hosts.get_mut(h) else {
                    continue;
                };
                if let Some((name, value)) = &o.register {
                    state
                        .set_facts
                        .insert(Value::str(name.clone()), value.clone());
                }
            }
            // `set_fact` values go where facts go (the delegated host with delegate_facts).
            if let Some(fs) = &o.set_facts {
                for h in &fact_targets {
                    if let Some(state) = st.hosts.get_mut(h) {
                        state.set_facts.extend(fs.clone());
                    }
                }
            }
            if let Some(fs) = &o.facts {
                for h in &fact_targets {
                    if !st.hosts.contains_key(h) {
                        st.hosts
                            .insert(h.clone(), super::host::HostState::new(Map::new()));
                    }
                    let Some(state) = st.hosts.get_mut(h) else {
                        continue;
                    };
                    if t.action == "include_vars" {
                        state.include_vars.extend(fs.clone());
                    } else {
                        state.merge_module_facts(fs.clone());
                    }
                }
            }
        }
        if o.result.changed && !o.result.failed && !t.notify.is_empty() {
            self.notify(t, &o.host, pcx, depth.handler);
        }
    }

    /// Updates stats and host state for one final task result.
    pub(super) fn record(
        &self,
        host: &str,
        r: &TaskResult,
        f: &HostFlags,
        rescuable: bool,
        task: Option<&Task>,
    ) {
        let mut st = self.state();
        let mut fail_facts = None;
        {
            let s = st.stats.host(host);
            if r.unreachable {
                if f.ignore_unreachable {
                    s.ok += 1;
                    s.ignored += 1;
                } else {
                    s.unreachable += 1;
                }
            } else if r.failed {
                if f.ignore_errors {
                    s.ok += 1;
                    s.ignored += 1;
                    if r.changed {
                        s.changed += 1;
                    }
                } else if rescuable {
                    s.rescued += 1;
                    fail_facts = Some(failed_task_vars(task, r));
                } else {
                    s.failed += 1;
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
        if let Some(state) = st.hosts.get_mut(host) {
            if r.unreachable && !f.ignore_unreachable {
                state.unreachable = true;
            } else if r.failed && !f.ignore_errors {
                state.failed = true;
            }
            if let Some(facts) = fail_facts {
                state.set_facts.extend(facts);
            }
        }
        if let Some(role) = task.and_then(|t| t.role.as_ref())
            && !r.skipped
            && !r.unreachable
        {
            st.roles_ran
                .insert((role.identity.clone(), host.to_string()));
        }
    }

    pub(super) fn become_for(&self, scope: &Scope<'_>, vars: &Map) -> Become {
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
                .or_else(|| self.opts.become_flags.clone())
                .or_else(|| var("ansible_become_flags")),
        }
    }

    /// `max_fail_percentage`: when more of the batch failed than it allows, the rest of the
    /// batch stops and the play ends.
    fn check_max_fail(&self, pcx: &PlayCx<'_>) {
        let Some(pct) = pcx.play.max_fail_percentage.as_ref().and_then(|v| match v {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().trim_end_matches('%').parse().ok(),
            _ => None,
        }) else {
            return;
        };
        if pcx.batch.is_empty() {
            return;
        }
        let failed = {
            let st = self.state();
            pcx.batch
                .iter()
                .filter(|h| st.hosts.get(*h).is_some_and(|s| s.failed || s.unreachable))
                .count()
        };
        if failed as f64 / pcx.batch.len() as f64 > pct / 100.0 {
            self.set_failed(&self.active(&pcx.batch), true);
            let mut st = self.state();
            if !st.max_fail_hit {
                st.max_fail_hit = true;
                drop(st);
                // ansible-core's linear strategy announces it twice: for the exceeded
                // percentage, then for the batch where every host has now failed.
                self.cb().on_no_hosts_remaining();
                self.cb().on_no_hosts_remaining();
            }
        }
    }
}

/// `ansible_failed_task` and `ansible_failed_result` for a rescue.
fn failed_task_vars(task: Option<&Task>, r: &TaskResult) -> Map {
    let mut t = Map::new();
    if let Some(task) = task {
        t.insert(
            Value::str("name"),
            task.common.name.clone().map_or(Value::Null, Value::Str),
        );
        t.insert(
            Value::str("action"),
            Value::str(task.written_action.clone()),
        );
        t.insert(Value::str("args"), Value::Map(task.args.clone()));
        t.insert(
            Value::str("tags"),
            Value::Seq(task.common.tags.iter().cloned().map(Value::Str).collect()),
        );
    }
    let mut m = Map::new();
    m.insert(Value::str("ansible_failed_task"), Value::Map(t));
    m.insert(Value::str("ansible_failed_result"), r.to_value());
    m
}
