//! One task on one host: conditionals, loops, templated arguments, delegation, the module,
//! `until` retries, `changed_when`/`failed_when`, and what to register. Runs concurrently
//! for all of a task's hosts; it only reads shared state and returns an outcome the step
//! applies.

use super::loops;
use crate::connection::{Become, Connection};
use crate::modules::{self, SearchPaths, TaskCx, TaskResult};
use crate::playbook::Task;
use crate::template::{Templar, is_omit};
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// What a host's run of a task asks of the executor while it runs.
#[async_trait]
pub trait Delegation: Send + Sync {
    /// The connection to a `delegate_to` target, and how results name it
    /// (`db1(10.0.0.5)` when its address differs from its name).
    async fn connection(&self, target: &str) -> Result<(Arc<dyn Connection>, String), String>;
    /// An `until` attempt failed and another follows: `left` more remain.
    fn retrying(&self, host: &str, left: u32);
}

/// Everything one host needs to run the task, prepared before the fan-out.
pub struct Job<'a> {
    pub host: String,
    pub vars: Map,
    pub conn: Option<Arc<dyn Connection>>,
    pub become_: Option<Become>,
    pub check: bool,
    pub diff: bool,
    pub env: String,
    pub whens: Vec<Value>,
    /// The task's `timeout` in seconds, or why its value is unusable.
    pub timeout: Result<Option<u64>, String>,
    /// `delegate_to` as written (templated per item).
    pub delegate_to: Option<Value>,
    pub delegation: &'a dyn Delegation,
}

/// What running the task on one host produced.
pub struct Outcome {
    pub host: String,
    pub result: TaskResult,
    /// Per-item results of a loop, in order, with their labels.
    pub items: Vec<(Value, TaskResult)>,
    pub register: Option<(String, Value)>,
    pub set_facts: Option<Map>,
    pub facts: Option<Map>,
    /// Where the facts go when `delegate_facts` sends them to the delegated host.
    pub delegated_to: Option<String>,
}

fn put(m: &mut Map, k: &str, v: Value) {
    m.insert(Value::str(k), v);
}

fn flag(templar: &Templar, v: &Option<Value>, vars: &Map) -> bool {
    v.as_ref()
        .and_then(|v| templar.template(v, vars).ok())
        .and_then(|v| modules::spec::to_bool(&v))
        .unwrap_or(false)
}

pub async fn execute(
    templar: &Templar,
    task: &Task,
    job: Job<'_>,
    search: &SearchPaths,
) -> Outcome {
    let mut outcome = Outcome {
        host: job.host.clone(),
        result: TaskResult::ok(),
        items: Vec::new(),
        register: None,
        set_facts: None,
        facts: None,
        delegated_to: None,
    };
    let result = match &task.loop_ {
        None => {
            let r = run_once(templar, task, &job, &job.vars, search).await;
            collect_facts(&mut outcome, &r, task);
            r
        }
        // `when` is evaluated for each item, so it may use the loop variable.
        Some(l) => match loops::items(templar, l, &job.vars) {
            Err(e) => TaskResult::failed(e),
            Ok(items) => run_loop(templar, task, &job, search, &items, &mut outcome).await,
        },
    };
    if let Some(name) = &task.register {
        outcome.register = Some((name.clone(), result.to_value()));
    }
    outcome.delegated_to = result.delegate.as_ref().map(|(host, _)| host.clone());
    outcome.result = result;
    outcome
}

async fn run_loop(
    templar: &Templar,
    task: &Task,
    job: &Job<'_>,
    search: &SearchPaths,
    items: &[Value],
    outcome: &mut Outcome,
) -> TaskResult {
    let lc = &task.loop_control;
    let extended = flag(templar, &lc.extended, &job.vars);
    let allitems = lc
        .extended_allitems
        .as_ref()
        .and_then(|v| templar.template(v, &job.vars).ok())
        .and_then(|v| modules::spec::to_bool(&v))
        .unwrap_or(true);
    let pause = lc
        .pause
        .as_ref()
        .and_then(|p| templar.template(p, &job.vars).ok())
        .and_then(|p| match p {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|p| *p > 0.0);
    let mut results = Vec::new();
    let mut values = Vec::new();
    for i in 0..items.len() {
        if i > 0
            && let Some(p) = pause
        {
            tokio::time::sleep(Duration::from_secs_f64(p)).await;
        }
        let added = loops::item_vars(lc, items, i, extended, allitems);
        let mut vars = job.vars.clone();
        for (k, v) in &added {
            vars.insert(k.clone(), v.clone());
        }
        let r = run_once(templar, task, job, &vars, search).await;
        collect_facts(outcome, &r, task);
        let label = match &lc.label {
            Some(l) => templar
                .template(l, &vars)
                .unwrap_or_else(|_| items[i].clone()),
            None => items[i].clone(),
        };
        let mut v = match r.to_value() {
            Value::Map(m) => m,
            _ => Map::new(),
        };
        for (k, val) in added {
            v.insert(k, val);
        }
        values.push(Value::Map(v));
        outcome.items.push((label, r.clone()));
        results.push(r);
        if !lc.break_when.is_empty() {
            let mut v2 = vars.clone();
            if let Some(name) = &task.register {
                put(&mut v2, name, results[results.len() - 1].to_value());
            }
            let stop = lc
                .break_when
                .iter()
                .all(|c| templar.evaluate_conditional(c, &v2).unwrap_or(false));
            if stop {
                break;
            }
        }
    }
    let delegate = results.iter().find_map(|r| r.delegate.clone());
    let mut r = aggregate(results, values);
    r.delegate = delegate;
    r
}

fn collect_facts(outcome: &mut Outcome, r: &TaskResult, task: &Task) {
    if let Some(f) = &r.facts {
        let target = if task.action == "set_fact" {
            &mut outcome.set_facts
        } else {
            &mut outcome.facts
        };
        let m = target.get_or_insert_with(Map::new);
        for (k, v) in f {
            m.insert(k.clone(), v.clone());
        }
    }
}

fn aggregate(results: Vec<TaskResult>, values: Vec<Value>) -> TaskResult {
    let all_skipped = !results.is_empty() && results.iter().all(|r| r.skipped);
    let failed = results.iter().any(|r| r.failed);
    let mut r = TaskResult {
        changed: results.iter().any(|r| r.changed),
        failed,
        skipped: all_skipped || results.is_empty(),
        unreachable: results.iter().any(|r| r.unreachable),
        ..TaskResult::default()
    };
    r.msg = Some(if failed {
        "One or more items failed".into()
    } else if results.is_empty() {
        "No items in the list".into()
    } else {
        "All items completed".into()
    });
    if results.is_empty() {
        r.data.insert(
            Value::str("skipped_reason"),
            Value::str("No items in the list"),
        );
    }
    r.data.insert(Value::str("results"), Value::Seq(values));
    r
}

/// The conditions of `when` (all must hold); the first false one is reported.
pub fn check_when(templar: &Templar, whens: &[Value], vars: &Map) -> Result<Option<Value>, String> {
    for cond in whens {
        match templar.evaluate_conditional(cond, vars) {
            Ok(true) => {}
            Ok(false) => return Ok(Some(cond.clone())),
            Err(e) => {
                return Err(format!(
                    "The conditional check '{}' failed. The error was: {e}",
                    crate::yaml::python_str(cond)
                ));
            }
        }
    }
    Ok(None)
}

/// The result of a task whose `when` is false.
pub fn skipped_by(cond: Value) -> TaskResult {
    TaskResult::skipped("Conditional result was False")
        .with("skip_reason", Value::str("Conditional result was False"))
        .with("false_condition", cond)
}

/// Removes `omit` placeholders from templated arguments, at any depth of mappings.
fn drop_omitted(v: Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(
            m.into_iter()
                .filter(|(_, v)| !is_omit(v))
                .map(|(k, v)| (k, drop_omitted(v)))
                .collect(),
        ),
        Value::Seq(items) => Value::Seq(
            items
                .into_iter()
                .filter(|v| !is_omit(v))
                .map(drop_omitted)
                .collect(),
        ),
        other => other,
    }
}

async fn run_once(
    templar: &Templar,
    task: &Task,
    job: &Job<'_>,
    vars: &Map,
    search: &SearchPaths,
) -> TaskResult {
    match check_when(templar, &job.whens, vars) {
        Err(e) => {
            let mut r = TaskResult::failed(e);
            r.origin = Some((task.span.clone(), "define the variable (inventory, vars, -e) or guard the condition with `is defined`".into()));
            return r;
        }
        Ok(Some(cond)) => return skipped_by(cond),
        Ok(None) => {}
    }
    let Some(module) = modules::lookup(&task.action) else {
        return TaskResult::failed(format!("couldn't resolve module/action `{}`", task.action));
    };
    // Delegation: the module runs through the delegated host's connection.
    let mut delegate: Option<(String, String)> = None;
    let mut conn = job.conn.clone();
    if let Some(d) = &job.delegate_to {
        match templar.template(d, vars) {
            Ok(v) => {
                let target = crate::yaml::python_str(&v);
                if !target.is_empty() && target != job.host {
                    match job.delegation.connection(&target).await {
                        Ok((c, label)) => {
                            conn = Some(c);
                            delegate = Some((target.clone(), label));
                        }
                        Err(e) => return TaskResult::unreachable(e),
                    }
                }
            }
            Err(e) => return TaskResult::failed(format!("cannot template `delegate_to`: {e}")),
        }
    }
    // Ansible's attempts: the run itself plus `retries` (3 when only `until` is given); with
    // retries but no `until`, a task is retried until it does not fail.
    let until = task.until.clone();
    let retries = match &task.retries {
        Some(r) => match templar.template(r, vars) {
            Ok(Value::Int(i)) => Some(i.max(0) as u32),
            Ok(Value::Str(s)) => Some(s.trim().parse().unwrap_or(3)),
            _ => Some(3),
        },
        None => None,
    };
    let total = 1 + match (retries, &until) {
        (Some(r), _) => r,
        (None, Some(_)) => 3,
        (None, None) => 0,
    };
    let delay = match &task.delay {
        Some(d) => match templar.template(d, vars) {
            Ok(Value::Int(i)) => i as f64,
            Ok(Value::Float(f)) => f,
            Ok(Value::Str(s)) => s.trim().parse().unwrap_or(5.0),
            _ => 5.0,
        },
        None => 5.0,
    };
    let delay = if delay < 0.0 { 1.0 } else { delay };
    for attempt in 1..=total {
        let mut result = run_module(templar, task, module, job, conn.clone(), vars, search).await;
        result.delegate = delegate.clone();
        if result.unreachable {
            return result;
        }
        if total > 1 {
            result
                .data
                .insert(Value::str("attempts"), Value::Int(i128::from(attempt)));
        }
        apply_result_conditions(templar, task, vars, &mut result);
        if total == 1 {
            return result;
        }
        let done = match &until {
            Some(cond) => {
                let mut v2 = vars.clone();
                if let Some(name) = &task.register {
                    put(&mut v2, name, result.to_value());
                }
                templar.evaluate_conditional(cond, &v2).unwrap_or(false)
            }
            None => !result.failed,
        };
        if done {
            return result;
        }
        if attempt == total {
            // Out of attempts: failed, with `attempts` as Ansible reports it then.
            result
                .data
                .insert(Value::str("attempts"), Value::Int(i128::from(total - 1)));
            result.failed = true;
            return result;
        }
        job.delegation.retrying(&job.host, total - attempt);
        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
    }
    TaskResult::failed("no attempt was made")
}

/// `changed_when` and `failed_when`, evaluated with the result under its register name.
fn apply_result_conditions(templar: &Templar, task: &Task, vars: &Map, result: &mut TaskResult) {
    if task.changed_when.is_none() && task.failed_when.is_none() {
        return;
    }
    let mut v2 = vars.clone();
    if let Some(name) = &task.register {
        put(&mut v2, name, result.to_value());
    }
    let conds = |c: &Value| -> Vec<Value> {
        match c {
            Value::Seq(items) => items.clone(),
            other => vec![other.clone()],
        }
    };
    if let Some(c) = &task.changed_when {
        let mut all = true;
        for cond in conds(c) {
            match templar.evaluate_conditional(&cond, &v2) {
                Ok(b) => all &= b,
                Err(e) => {
                    result.failed = true;
                    result.msg = Some(format!(
                        "The conditional check '{}' failed. The error was: {e}",
                        crate::yaml::python_str(&cond)
                    ));
                    return;
                }
            }
        }
        result.changed = all;
    }
    if let Some(c) = &task.failed_when {
        let mut any = false;
        for cond in conds(c) {
            match templar.evaluate_conditional(&cond, &v2) {
                Ok(b) => any |= b,
                Err(e) => {
                    result.failed = true;
                    result.msg = Some(format!(
                        "The conditional check '{}' failed. The error was: {e}",
                        crate::yaml::python_str(&cond)
                    ));
                    return;
                }
            }
        }
        result.failed_by_condition = any && !result.failed;
        result.failed = any;
        result
            .data
            .insert(Value::str("failed_when_result"), Value::Bool(any));
    }
}

async fn run_module(
    templar: &Templar,
    task: &Task,
    module: &'static dyn modules::Module,
    job: &Job<'_>,
    conn: Option<Arc<dyn Connection>>,
    vars: &Map,
    search: &SearchPaths,
) -> TaskResult {
    let args = match templar.template(&Value::Map(task.args.clone()), vars) {
        Ok(v) => drop_omitted(v),
        Err(e) => {
            let hint = match e {
                crate::template::TemplateError::Vault { .. } => {
                    "give the secret that encrypted it with `--vault-id` or `--vault-password-file`"
                }
                _ => "define the variable, or give it a fallback with `| default(...)`",
            };
            let mut r = TaskResult::failed(format!("{e}"));
            r.origin = Some((task.span.clone(), hint.into()));
            return r;
        }
    };
    let Value::Map(args) = args else {
        return TaskResult::failed("module arguments did not template to a mapping");
    };
    let args = match module.spec().validate(module.name(), &args) {
        Ok(a) => a,
        Err(e) => return TaskResult::failed(e),
    };
    let local = crate::connection::Local;
    let conn: &dyn Connection = match (&conn, module.controller_only()) {
        (_, true) => &local,
        (Some(c), false) => c.as_ref(),
        (None, false) => return TaskResult::unreachable("no connection to this host"),
    };
    let cx = TaskCx {
        host: &job.host,
        conn,
        become_: job.become_.clone(),
        check_mode: job.check,
        diff_mode: job.diff,
        templar,
        vars,
        search,
        env: job.env.clone(),
    };
    let secs = match &job.timeout {
        Err(e) => return TaskResult::failed(e.clone()),
        Ok(None) => return module.run(&cx, args).await,
        Ok(Some(secs)) => *secs,
    };
    // Dropping the module's future closes its channel: the command on the host loses its
    // session as with Ansible's alarm.
    match tokio::time::timeout(Duration::from_secs(secs), module.run(&cx, args)).await {
        Ok(r) => r,
        Err(_) => {
            let mut timedout = Map::new();
            timedout.insert(
                Value::str("frame"),
                Value::str("Configure `DISPLAY_TRACEBACK` to see a traceback on timeout errors."),
            );
            timedout.insert(Value::str("period"), Value::Int(i128::from(secs)));
            TaskResult::failed(format!("Task failed: Timed out after {secs} second(s)."))
                .with("timedout", Value::Map(timedout))
        }
    }
}
