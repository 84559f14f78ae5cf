//! `assert`: evaluate conditions on the controller; fail with a message when one is false.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Assert;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("that", Kind::Raw).required(),
        Opt::new("fail_msg", Kind::Raw).aliases(&["msg"]),
        Opt::new("success_msg", Kind::Raw),
        Opt::new("quiet", Kind::Bool).default("false"),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Assert {
    fn name(&self) -> &'static str {
        "assert"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let conditions = match args.get("that") {
            Some(Value::Seq(items)) => items.clone(),
            Some(other) => vec![other.clone()],
            None => Vec::new(),
        };
        for cond in conditions {
            match cx.templar.evaluate_conditional(&cond, cx.vars) {
                Ok(true) => {}
                Ok(false) => {
                    let msg = args
                        .get("fail_msg")
                        .cloned()
                        .unwrap_or_else(|| Value::str("Assertion failed"));
                    let mut r = TaskResult::failed(crate::yaml::python_str(&msg))
                        .with("assertion", cond.clone())
                        .with("evaluated_to", Value::Bool(false));
                    if !matches!(msg, Value::Str(_)) {
                        r = r.with("msg", msg);
                    }
                    r.verbose_always = !args.bool("quiet");
                    return r;
                }
                Err(e) => {
                    return TaskResult::failed(format!(
                        "The conditional check '{}' failed. The error was: {e}",
                        crate::yaml::python_str(&cond)
                    ));
                }
            }
        }
        let msg = args
            .get("success_msg")
            .cloned()
            .unwrap_or_else(|| Value::str("All assertions passed"));
        let mut r = TaskResult::changed(false).with("msg", msg);
        // As Ansible, an assert's result is always shown unless it is asked to be quiet.
        r.verbose_always = !args.bool("quiet");
        r
    }
}
