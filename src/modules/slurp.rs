//! `slurp`: a remote file's content, base64-encoded, in the task's result.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use base64::Engine;

pub struct Slurp;

static SPEC: ArgSpec = ArgSpec::new(&[Opt::new("src", Kind::Path).required().aliases(&["path"])]);

/// Exit codes of the read script for the cases Ansible reports with their own message.
const MISSING: i32 = 64;
const DIRECTORY: i32 = 65;
const UNREADABLE: i32 = 66;

#[async_trait]
impl Module for Slurp {
    fn name(&self) -> &'static str {
        "slurp"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let src = args.str("src").unwrap_or_default();
        let q = quote::quote(&src);
        // Reading changes nothing, so this runs in check mode too, as Ansible's.
        let out = try_conn!(
            cx.sh(format!(
                "if [ -d {q} ]; then exit {DIRECTORY}; elif [ ! -e {q} ]; then exit {MISSING}; \
                 elif [ ! -r {q} ]; then exit {UNREADABLE}; fi; exec cat {q}"
            ))
            .await
        );
        match out.rc {
            0 => {}
            MISSING => return TaskResult::failed(format!("file not found: {src}")),
            DIRECTORY => {
                return TaskResult::failed(format!(
                    "source is a directory and must be a file: {src}"
                ));
            }
            UNREADABLE => return TaskResult::failed(format!("file is not readable: {src}")),
            _ => {
                return TaskResult::failed(format!(
                    "could not read {src}: {}",
                    out.stderr_text().trim()
                ));
            }
        }
        let content = base64::engine::general_purpose::STANDARD.encode(&out.stdout);
        TaskResult::changed(false)
            .with("content", Value::str(content))
            .with("encoding", Value::str("base64"))
            .with("source", Value::str(src))
    }
}
