//! `set_fact`: set variables on the host for the rest of the run (above play vars in
//! precedence). Values arrive already templated.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct SetFact;

static SPEC: ArgSpec = ArgSpec {
    options: &[Opt::new("cacheable", Kind::Bool).default("false")],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: true,
};

#[async_trait]
impl Module for SetFact {
    fn name(&self) -> &'static str {
        "set_fact"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, _cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let mut facts = Map::new();
        for (k, v) in &args.0 {
            if k.as_str() == Some("cacheable") {
                continue;
            }
            let Some(name) = k.as_str() else {
                return TaskResult::failed("set_fact variable names must be strings");
            };
            if !valid_name(name) {
                return TaskResult::failed(format!(
                    "the variable name '{name}' is not valid. Variables must start with a letter or underscore character, and contain only letters, numbers and underscores."
                ));
            }
            facts.insert(Value::str(name), v.clone());
        }
        if facts.is_empty() {
            return TaskResult::failed(
                "No key/value pairs provided, at least one is required for this action to succeed",
            );
        }
        TaskResult {
            facts: Some(facts),
            ..TaskResult::changed(false)
        }
    }
}

pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}
