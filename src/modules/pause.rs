//! `pause`: waits on the controller, once for all the hosts of the task (Ansible's
//! `BYPASS_HOST_LOOP`), for `seconds`/`minutes` or until the user answers `prompt`.
//!
//! As ansible-core 2.19: with a duration it always waits, terminal or not (user input is
//! not read then); without one it reads a line from the terminal, and when standard input
//! is not a terminal it does not wait at all and warns. Ctrl+C interrupts the run (kiln has
//! no "C to continue, A to abort" menu).

use super::command::timestamp;
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Value, python_float_repr};
use async_trait::async_trait;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime};

pub struct Pause;

static SPEC: ArgSpec = ArgSpec {
    mutually_exclusive: &[&["minutes", "seconds"]],
    ..ArgSpec::new(&[
        Opt::new("echo", Kind::Bool).default("true"),
        Opt::new("minutes", Kind::Int),
        Opt::new("prompt", Kind::Str),
        Opt::new("seconds", Kind::Int),
    ])
};

const NOT_INTERACTIVE: &str = "Not waiting for response to prompt as stdin is not interactive";

/// Prints a line of the report on stdout, where ansible-playbook prints it.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Reads one line from the terminal, echoed or not.
async fn read_line(prompt: String, echo: bool) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        if echo {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{prompt}");
            let _ = out.flush();
            drop(out);
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            Ok(line.trim_end_matches(['\n', '\r']).to_string())
        } else {
            rpassword::prompt_password(prompt).map_err(|e| e.to_string())
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

#[async_trait]
impl Module for Pause {
    fn name(&self) -> &'static str {
        "pause"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    fn bypass_host_loop(&self) -> bool {
        true
    }
    async fn run(&self, _cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let echo = args.bool("echo");
        let prompt = args.str("prompt");
        let int = |k: &str| match args.get(k) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        };
        let (seconds, unit) = match (int("minutes"), int("seconds")) {
            (Some(m), _) => (Some(m.saturating_mul(60)), "minutes"),
            (None, Some(s)) => (Some(s), "seconds"),
            (None, None) => (None, "minutes"),
        };
        let hidden = if echo { "" } else { " (output is hidden)" };
        let start_wall = SystemTime::now();
        let start = Instant::now();
        let mut user_input = String::new();
        let mut warnings = Vec::new();
        match seconds {
            Some(s) => {
                let s = s.max(1) as u64;
                say(&format!("Pausing for {s} seconds{hidden}"));
                if prompt.is_some() {
                    say("(ctrl+C then 'C' = continue early, ctrl+C then 'A' = abort)\r");
                }
                tokio::time::sleep(Duration::from_secs(s)).await;
            }
            None if std::io::stdin().is_terminal() => {
                let text = prompt
                    .as_deref()
                    .unwrap_or("Press enter to continue, Ctrl+C to interrupt");
                match read_line(format!("{text}{hidden}:"), echo).await {
                    Ok(line) => user_input = line,
                    Err(e) => return TaskResult::failed(format!("could not read the answer: {e}")),
                }
            }
            None => {
                eprintln!("[WARNING]: {NOT_INTERACTIVE}");
                warnings.push(Value::str(NOT_INTERACTIVE));
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let shown = if unit == "minutes" {
            elapsed / 60.0
        } else {
            elapsed
        };
        let shown = (shown * 100.0).round() / 100.0;
        // rc and the texts go in `data`: Ansible's result has no `stdout_lines`.
        let mut r = TaskResult::ok()
            .with("rc", Value::Int(0))
            .with(
                "stdout",
                Value::str(format!("Paused for {} {unit}", python_float_repr(shown))),
            )
            .with("start", Value::str(timestamp(start_wall)))
            .with("stop", Value::str(timestamp(SystemTime::now())))
            .with("delta", Value::Int(elapsed as i128))
            .with("echo", Value::Bool(echo))
            .with("user_input", Value::str(user_input))
            .with("stderr", Value::str(""));
        if !warnings.is_empty() {
            r = r.with("warnings", Value::Seq(warnings));
        }
        r
    }
}
