//! `command`, `shell` and `raw`: run a program on the host. `command` runs an argv without
//! a shell (quoted word by word), `shell` hands the text to a shell, `raw` sends it as is.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::inventory::shlex_split;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct Command;
pub struct Shell;
pub struct Raw;

const COMMON: [Opt; 7] = [
    Opt::new("argv", Kind::List),
    Opt::new("chdir", Kind::Path),
    Opt::new("creates", Kind::Path),
    Opt::new("removes", Kind::Path),
    Opt::new("stdin", Kind::Str),
    Opt::new("stdin_add_newline", Kind::Bool).default("true"),
    Opt::new("strip_empty_ends", Kind::Bool).default("true"),
];

static COMMAND_SPEC: ArgSpec = ArgSpec {
    options: &[
        COMMON[0],
        COMMON[1],
        COMMON[2],
        COMMON[3],
        COMMON[4],
        COMMON[5],
        COMMON[6],
        Opt::new("expand_argument_vars", Kind::Bool).default("true"),
        Opt::new("cmd", Kind::Str),
    ],
    mutually_exclusive: &[&["argv", "_raw_params", "cmd"]],
    required_one_of: &[],
    required_together: &[],
    free_form: true,
    open: false,
};

static SHELL_SPEC: ArgSpec = ArgSpec {
    options: &[
        COMMON[1],
        COMMON[2],
        COMMON[3],
        COMMON[4],
        COMMON[5],
        COMMON[6],
        Opt::new("executable", Kind::Path),
        Opt::new("cmd", Kind::Str),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: true,
    open: false,
};

static RAW_SPEC: ArgSpec = ArgSpec {
    options: &[Opt::new("executable", Kind::Path)],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: true,
    open: false,
};

/// What to run and how it is shown back as `cmd`.
struct Invocation {
    script: String,
    shown: Value,
}

#[async_trait]
impl Module for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn spec(&self) -> &'static ArgSpec {
        &COMMAND_SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let argv: Vec<String> = if args.get("argv").is_some() {
            args.list("argv")
                .iter()
                .map(crate::yaml::python_str)
                .collect()
        } else {
            let text = args
                .str("_raw_params")
                .or_else(|| args.str("cmd"))
                .unwrap_or_default();
            match shlex_split(&text) {
                Ok(words) => words,
                Err(e) => return TaskResult::failed(format!("could not split the command: {e}")),
            }
        };
        if argv.is_empty() {
            return TaskResult::failed("no command given");
        }
        let shown = Value::Seq(argv.iter().map(|a| Value::str(a.clone())).collect());
        run_program(
            cx,
            &args,
            Invocation {
                script: quote::join(&argv),
                shown,
            },
        )
        .await
    }
}

#[async_trait]
impl Module for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SHELL_SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let text = args
            .str("_raw_params")
            .or_else(|| args.str("cmd"))
            .unwrap_or_default();
        if text.trim().is_empty() {
            return TaskResult::failed("no command given");
        }
        let exe = args.str("executable").unwrap_or_else(|| "/bin/sh".into());
        let script = format!("{} -c {}", quote::quote(&exe), quote::quote(&text));
        run_program(
            cx,
            &args,
            Invocation {
                script,
                shown: Value::str(text),
            },
        )
        .await
    }
}

#[async_trait]
impl Module for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }
    fn spec(&self) -> &'static ArgSpec {
        &RAW_SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if cx.check_mode {
            return TaskResult::skipped("check mode is not supported for this module");
        }
        let text = args.str("_raw_params").unwrap_or_default();
        let script = match args.str("executable") {
            Some(exe) => format!("{} -c {}", quote::quote(&exe), quote::quote(&text)),
            None => text,
        };
        let out = try_conn!(cx.sh(script).await);
        TaskResult {
            changed: true,
            failed: out.rc != 0,
            rc: Some(out.rc),
            stdout: Some(out.stdout_text()),
            stderr: Some(out.stderr_text()),
            msg: (out.rc != 0).then(|| "non-zero return code".to_string()),
            ..TaskResult::default()
        }
    }
}

async fn run_program(cx: &TaskCx<'_>, args: &Args, inv: Invocation) -> TaskResult {
    let creates = args.str("creates");
    let removes = args.str("removes");
    // `creates`/`removes` are checked on the host in the same round trip as the command.
    let mut guard = String::new();
    if let Some(c) = &creates {
        guard.push_str(&format!(
            "for p in {}; do if [ -e \"$p\" ]; then echo \"__kiln_skip__$p\"; exit 0; fi; done; ",
            glob_words(c)
        ));
    }
    if let Some(r) = &removes {
        guard.push_str(&format!(
            "found=; for p in {}; do [ -e \"$p\" ] && found=1; done; [ -n \"$found\" ] || {{ echo \"__kiln_skip__{}\"; exit 0; }}; ",
            glob_words(r),
            r.replace(['"', '\\', '$', '`'], "")
        ));
    }
    if cx.check_mode {
        if guard.is_empty() {
            return TaskResult::skipped("Command would have run if not in check mode")
                .with("cmd", inv.shown)
                .with("rc", Value::Int(0));
        }
        let probe = format!("{guard}echo __kiln_would_run__");
        let out = try_conn!(cx.sh(probe).await);
        let text = out.stdout_text();
        if let Some(result) = skip_result(&text, &creates, &inv.shown) {
            return result;
        }
        return TaskResult::changed(true)
            .with("cmd", inv.shown)
            .msg("Command would have run if not in check mode");
    }
    let mut script = guard;
    if let Some(dir) = args.str("chdir") {
        script.push_str(&format!("cd {} || exit 1; ", quote::quote(&dir)));
    }
    script.push_str("echo __kiln_run__; exec ");
    script.push_str(&inv.script);
    let stdin = args.str("stdin").map(|s| {
        let mut bytes = s.into_bytes();
        if args.bool("stdin_add_newline") {
            bytes.push(b'\n');
        }
        bytes
    });
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let out = match stdin {
        Some(input) => try_conn!(cx.sh_with_input(script, input).await),
        None => try_conn!(cx.sh(script).await),
    };
    let elapsed = start.elapsed();
    let mut stdout = out.stdout_text();
    if let Some(result) = skip_result(&stdout, &creates, &inv.shown) {
        return result;
    }
    stdout = stdout
        .strip_prefix("__kiln_run__\n")
        .unwrap_or(&stdout)
        .to_string();
    let mut stderr = out.stderr_text();
    if args.bool("strip_empty_ends") {
        stdout = stdout.trim_end_matches(['\r', '\n']).to_string();
        stderr = stderr.trim_end_matches(['\r', '\n']).to_string();
    }
    let failed = out.rc != 0;
    let end_wall = start_wall + elapsed;
    TaskResult {
        changed: true,
        failed,
        rc: Some(out.rc),
        stdout: Some(stdout),
        stderr: Some(stderr),
        msg: Some(if failed {
            "non-zero return code".into()
        } else {
            String::new()
        }),
        ..TaskResult::default()
    }
    .with("cmd", inv.shown)
    .with("start", Value::str(timestamp(start_wall)))
    .with("end", Value::str(timestamp(end_wall)))
    .with("delta", Value::str(delta(elapsed)))
}

/// The skip result when the guard printed that a `creates`/`removes` condition held.
fn skip_result(stdout: &str, creates: &Option<String>, shown: &Value) -> Option<TaskResult> {
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("__kiln_skip__"))?;
    let (msg, out) = if creates.is_some() && !path.is_empty() {
        (
            format!("Did not run command since '{path}' exists"),
            format!("skipped, since {path} exists"),
        )
    } else {
        (
            format!("Did not run command since '{path}' does not exist"),
            format!("skipped, since {path} does not exist"),
        )
    };
    let mut r = TaskResult::changed(false)
        .msg(msg)
        .with("cmd", shown.clone());
    r.rc = Some(0);
    r.stdout = Some(out);
    r.stderr = Some(String::new());
    Some(r)
}

/// A `creates`/`removes` path as shell words: globs expand, everything else is quoted.
fn glob_words(path: &str) -> String {
    if path.contains(['*', '?', '[']) {
        // Quote everything but the glob characters themselves.
        let mut out = String::new();
        for c in path.chars() {
            if "*?[]".contains(c) {
                out.push(c);
            } else {
                out.push_str(&quote::quote(&c.to_string()));
            }
        }
        out
    } else {
        quote::quote(path)
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, the layout Ansible's command module uses.
pub(super) fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

fn delta(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
