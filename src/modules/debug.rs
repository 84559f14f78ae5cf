//! `debug`: print a message or a variable's value; runs on the controller only.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Debug;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("msg", Kind::Raw),
        Opt::new("var", Kind::Raw),
        Opt::new("verbosity", Kind::Int).default("0"),
    ],
    mutually_exclusive: &[&["msg", "var"]],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Debug {
    fn name(&self) -> &'static str {
        "debug"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if let Some(var) = args.get("var") {
            let name = crate::yaml::python_str(var);
            // `var` names an expression; its value is shown under that name.
            // A failure is shown in place of the value, with a warning, as ansible-core 2.19.
            let (value, warning) = match cx.templar.eval_expr(&name, cx.vars) {
                Ok(v) => (v, None),
                Err(e) => {
                    let why = match &e {
                        crate::template::TemplateError::Undefined { name, .. } => {
                            format!("'{name}' is undefined")
                        }
                        other => other.to_string(),
                    };
                    (
                        Value::str(format!("<< error 1 - {why} >>")),
                        Some(format!("Encountered 1 template error.\nerror 1 - {why}")),
                    )
                }
            };
            let mut r = TaskResult::changed(false).with(&name, value);
            if let Some(w) = warning {
                r.data
                    .insert(Value::str("warnings"), Value::Seq(vec![Value::str(w)]));
            }
            r.verbose_always = true;
            return r;
        }
        let msg = args
            .get("msg")
            .cloned()
            .unwrap_or_else(|| Value::str("Hello world!"));
        let mut r = TaskResult::changed(false).with("msg", msg);
        r.verbose_always = true;
        r
    }
}
