//! `fail`: stop the host with a message.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use async_trait::async_trait;

pub struct Fail;

static SPEC: ArgSpec =
    ArgSpec::new(&[Opt::new("msg", Kind::Raw).default("Failed as requested from task")]);

#[async_trait]
impl Module for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, _cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let msg = args.get("msg").cloned().unwrap_or_default();
        let mut r = TaskResult::failed(crate::yaml::python_str(&msg));
        if !matches!(msg, crate::yaml::Value::Str(_)) {
            r.data.insert(crate::yaml::Value::str("msg"), msg);
        }
        r
    }
}
