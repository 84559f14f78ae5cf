//! `wait_for_connection`: until the host answers again, close the connection and try a
//! trivial command over a new one (Ansible runs its `ping` module; kiln's ping is a shell
//! command, so the test is the same round trip), each try bounded by `connect_timeout`.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::Value;
use async_trait::async_trait;
use std::time::{Duration, Instant};

pub struct WaitForConnection;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("connect_timeout", Kind::Int).default("5"),
    Opt::new("delay", Kind::Int).default("0"),
    Opt::new("sleep", Kind::Int).default("1"),
    Opt::new("timeout", Kind::Int).default("600"),
]);

#[async_trait]
impl Module for WaitForConnection {
    fn name(&self) -> &'static str {
        "wait_for_connection"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if cx.check_mode {
            return TaskResult {
                skipped: true,
                ..TaskResult::default()
            };
        }
        let secs = |k: &str| match args.get(k) {
            Some(Value::Int(i)) => (*i).max(0) as u64,
            _ => 0,
        };
        let start = Instant::now();
        if secs("delay") > 0 {
            tokio::time::sleep(Duration::from_secs(secs("delay"))).await;
        }
        let deadline = Instant::now() + Duration::from_secs(secs("timeout"));
        let limit = Duration::from_secs(secs("connect_timeout").max(1));
        let mut error = String::new();
        let mut answered = false;
        while Instant::now() < deadline {
            cx.conn.reset().await;
            match cx.sh_within("echo pong", limit).await {
                Ok(out) if out.rc == 0 && out.stdout_text().trim() == "pong" => {
                    answered = true;
                    break;
                }
                Ok(out) => {
                    error = format!(
                        "ping test failed: rc {}: {}",
                        out.rc,
                        out.stderr_text().trim()
                    )
                }
                Err(e) => error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_secs(secs("sleep"))).await;
        }
        let elapsed = Value::Int(start.elapsed().as_secs() as i128);
        if answered {
            TaskResult::ok().with("elapsed", elapsed)
        } else {
            TaskResult::failed(format!("timed out waiting for ping module test: {error}"))
                .with("elapsed", elapsed)
        }
    }
}
