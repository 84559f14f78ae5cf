//! `ping`: prove the host runs commands (here: a shell, not Python).

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Ping;

static SPEC: ArgSpec = ArgSpec::new(&[Opt::new("data", Kind::Str).default("pong")]);

#[async_trait]
impl Module for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let data = args.str("data").unwrap_or_else(|| "pong".into());
        if data == "crash" {
            return TaskResult::failed("boom");
        }
        let out = try_conn!(cx.sh("echo pong").await);
        if out.rc != 0 {
            return TaskResult::failed(format!(
                "the host's shell failed: {}",
                out.stderr_text().trim()
            ));
        }
        TaskResult::changed(false).with("ping", Value::str(data))
    }
}
