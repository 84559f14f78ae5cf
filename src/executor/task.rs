//! One task on one host: conditionals, loops, templated arguments, the module, `until`
//! retries, `changed_when`/`failed_when`, and what to register. Runs concurrently for all of
//! a task's hosts; it only reads shared state and returns an outcome the play applies.

use crate::connection::{Become, Connection};
use crate::modules::{self, SearchPaths, TaskCx, TaskResult};
use crate::playbook::Task;
use crate::template::{Templar, is_omit};
use crate::yaml::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Everything one host needs to run the task, prepared before the fan-out.
pub struct Job {
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
}

/// What running the task on one host produced.
pub struct Outcome {
    pub host: String,
    pub result: TaskResult,
    /// Per-item results of a loop, in order, with their items.
    pub items: Vec<(Value, TaskResult)>,
    pub register: Option<(String, Value)>,
    pub set_facts: Option<Map>,
    pub facts: Option<Map>,
}

fn put(m: &mut Map, k: &str, v: Value) {
    m.insert(Value::str(k), v);
}

pub async fn execute(templar: &Templar, task: &Task, job: Job, search: &SearchPaths) -> Outcome {
    let mut outcome = Outcome {
        host: job.host.clone(),
        result: TaskResult::ok(),
        items: Vec::new(),
        register: None,
        set_facts: None,
        facts: None,
    };
    let result = match &task.loop_ {
        None => {
            let r = run_once(templar, task, &job, &job.vars, search).await;
            collect_facts(&mut outcome, &r, task);
            r
        }
        Some(spec) => match loop_items(templar, spec, &job.vars) {
            Err(e) => TaskResult::failed(e),
            Ok(items) => {
                let mut results = Vec::new();
                let mut item_values = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    let mut vars = job.vars.clone();
                    put(&mut vars, &task.loop_var, item.clone());
                    put(
                        &mut vars,
                        "ansible_loop_var",
                        Value::str(task.loop_var.clone()),
                    );
                    if let Some(iv) = &task.index_var {
                        put(&mut vars, iv, Value::Int(i as i128));
                    }
                    let r = run_once(templar, task, &job, &vars, search).await;
                    collect_facts(&mut outcome, &r, task);
                    let label = match &task.label {
                        Some(l) => templar.template(l, &vars).unwrap_or_else(|_| item.clone()),
                        None => item.clone(),
                    };
                    let mut v = match r.to_value() {
                        Value::Map(m) => m,
                        _ => Map::new(),
                    };
                    put(&mut v, &task.loop_var, item.clone());
                    put(
                        &mut v,
                        "ansible_loop_var",
                        Value::str(task.loop_var.clone()),
                    );
                    if let Some(iv) = &task.index_var {
                        put(&mut v, iv, Value::Int(i as i128));
                    }
                    item_values.push(Value::Map(v));
                    outcome.items.push((label, r.clone()));
                    results.push(r);
                }
                aggregate(results, item_values)
            }
        },
    };
    if let Some(name) = &task.register {
        outcome.register = Some((name.clone(), result.to_value()));
    }
    outcome.result = result;
    outcome
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

/// The loop's items: a list after templating; `with_items` flattens one level.
fn loop_items(templar: &Templar, spec: &Value, vars: &Map) -> Result<Vec<Value>, String> {
    let (value, flatten) = match spec {
        Value::Map(m) if m.len() == 1 && m.contains_key(&Value::str("__kiln_flatten__")) => (
            m.get(&Value::str("__kiln_flatten__"))
                .cloned()
                .unwrap_or_default(),
            true,
        ),
        other => (other.clone(), false),
    };
    let templated = templar
        .template(&value, vars)
        .map_err(|e| format!("error while evaluating the loop: {e}"))?;
    let items = match templated {
        Value::Seq(items) => items,
        Value::Null if flatten => Vec::new(),
        other if flatten => vec![other],
        other => {
            return Err(format!(
                "Invalid data passed to 'loop', it requires a list, got this instead: {}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.",
                crate::yaml::python_str(&other)
            ));
        }
    };
    if !flatten {
        return Ok(items);
    }
    Ok(items
        .into_iter()
        .flat_map(|i| match i {
            Value::Seq(inner) => inner,
            other => vec![other],
        })
        .collect())
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
    r.data.insert(Value::str("results"), Value::Seq(values));
    r
}

/// The conditions of `when` (all must hold); the first false one is reported.
fn check_when(templar: &Templar, whens: &[Value], vars: &Map) -> Result<Option<Value>, String> {
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
    job: &Job,
    vars: &Map,
    search: &SearchPaths,
) -> TaskResult {
    match check_when(templar, &job.whens, vars) {
        Err(e) => {
            let mut r = TaskResult::failed(e);
            r.origin = Some((task.span.clone(), "define the variable (inventory, vars, -e) or guard the condition with `is defined`".into()));
            return r;
        }
        Ok(Some(cond)) => {
            return TaskResult::skipped("Conditional result was False")
                .with("skip_reason", Value::str("Conditional result was False"))
                .with("false_condition", cond);
        }
        Ok(None) => {}
    }
    let Some(module) = modules::lookup(&task.action) else {
        return TaskResult::failed(format!("couldn't resolve module/action `{}`", task.action));
    };
    let until = task.until.clone();
    let retries = match &task.retries {
        Some(r) => match templar.template(r, vars) {
            Ok(Value::Int(i)) => i.max(0) as u32,
            Ok(Value::Str(s)) => s.trim().parse().unwrap_or(3),
            _ => 3,
        },
        None => 3,
    };
    let delay = match &task.delay {
        Some(d) => match templar.template(d, vars) {
            Ok(Value::Int(i)) => i.max(0) as u64,
            Ok(Value::Float(f)) => f.max(0.0) as u64,
            Ok(Value::Str(s)) => s.trim().parse().unwrap_or(5),
            _ => 5,
        },
        None => 5,
    };
    let attempts_allowed = if until.is_some() { retries + 1 } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut result = run_module(templar, task, module, job, vars, search).await;
        if result.unreachable {
            return result;
        }
        apply_result_conditions(templar, task, vars, &mut result);
        let Some(cond) = &until else { return result };
        let mut v2 = vars.clone();
        if let Some(name) = &task.register {
            put(&mut v2, name, result.to_value());
        }
        let done = templar.evaluate_conditional(cond, &v2).unwrap_or(false);
        result
            .data
            .insert(Value::str("attempts"), Value::Int(attempt as i128));
        if done {
            return result;
        }
        if attempt >= attempts_allowed {
            result.failed = true;
            if result.msg.as_deref().is_none_or(str::is_empty) {
                result.msg = Some("Retries exhausted".into());
            }
            return result;
        }
        tokio::time::sleep(Duration::from_secs(delay)).await;
    }
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
    job: &Job,
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
    let conn: &dyn Connection = match (&job.conn, module.controller_only()) {
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
