//! `reboot`: reboot the host and wait until it is back, as ansible-core's action does: note
//! the boot id (`boot_time_command`), run the shutdown command found in `search_paths`,
//! then poll over fresh connections until the boot id has changed and `test_command`
//! succeeds, backing off as Ansible does. Returns `rebooted` and `elapsed`.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{ConnError, quote};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use std::time::{Duration, Instant};

pub struct Reboot;

const DEFAULT_BOOT_TIME: &str = "cat /proc/sys/kernel/random/boot_id";

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("pre_reboot_delay", Kind::Int).default("0"),
    Opt::new("post_reboot_delay", Kind::Int).default("0"),
    Opt::new("reboot_timeout", Kind::Int).default("600"),
    Opt::new("connect_timeout", Kind::Int),
    Opt::new("test_command", Kind::Str),
    Opt::new("msg", Kind::Str).default("Reboot initiated by Ansible"),
    Opt::new("search_paths", Kind::List).default("/sbin,/bin,/usr/sbin,/usr/bin,/usr/local/sbin"),
    Opt::new("boot_time_command", Kind::Str),
    Opt::new("reboot_command", Kind::Str),
]);

#[async_trait]
impl Module for Reboot {
    fn name(&self) -> &'static str {
        "reboot"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if cx.conn.is_local() {
            return TaskResult::failed(
                "Running reboot with local connection would reboot the control node.",
            )
            .with("elapsed", Value::Int(0))
            .with("rebooted", Value::Bool(false));
        }
        if cx.check_mode {
            return TaskResult::changed(true)
                .with("elapsed", Value::Int(0))
                .with("rebooted", Value::Bool(true));
        }
        run(cx, &args).await
    }
}

/// The distribution as Ansible's tables are keyed: name, major version, family.
struct Distro {
    name: String,
    version: String,
    family: String,
}

impl Distro {
    /// A per-distribution value: name+version, then name, then family, then the default.
    fn pick<'a>(&self, table: &[(&str, &'a str)], default: &'a str) -> &'a str {
        let key = format!("{}{}", self.name, self.version);
        [key.as_str(), &self.name, &self.family]
            .iter()
            .find_map(|k| table.iter().find(|(n, _)| n == k).map(|(_, v)| *v))
            .unwrap_or(default)
    }
}

const SHUTDOWN_COMMANDS: &[(&str, &str)] = &[("alpine", "reboot"), ("vmkernel", "reboot")];
const SHUTDOWN_ARGS: &[(&str, &str)] = &[
    ("alpine", ""),
    ("void", "-r +{delay_min} {message}"),
    ("freebsd", "-r +{delay_sec}s {message}"),
    ("linux", "-r {delay_min} {message}"),
    ("macosx", "-r +{delay_min} {message}"),
    ("openbsd", "-r +{delay_min} {message}"),
    ("solaris", "-y -g {delay_sec} -i 6 {message}"),
    ("sunos", "-y -g {delay_sec} -i 6 {message}"),
    ("vmkernel", "-d {delay_sec}"),
    ("aix", "-Fr"),
];
const BOOT_TIME_COMMANDS: &[(&str, &str)] = &[
    ("freebsd", "/sbin/sysctl kern.boottime"),
    ("openbsd", "/sbin/sysctl kern.boottime"),
    ("macosx", "who -b"),
    ("solaris", "who -b"),
    ("sunos", "who -b"),
    (
        "vmkernel",
        "grep booted /var/log/vmksummary.log | tail -n 1",
    ),
    ("aix", "who -b"),
];
const TEST_COMMANDS: &[(&str, &str)] = &[("solaris", "who"), ("vmkernel", "who")];

/// From gathered facts when there are some, else from the host (os-release, uname).
async fn distro(cx: &TaskCx<'_>) -> Result<Distro, ConnError> {
    if let Some(Value::Map(f)) = cx.vars.get(&Value::str("ansible_facts")) {
        let get = |k: &str| {
            f.get(&Value::str(k))
                .map(crate::yaml::python_str)
                .unwrap_or_default()
        };
        if !get("distribution").is_empty() {
            return Ok(Distro {
                name: get("distribution").to_lowercase(),
                version: get("distribution_version")
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                family: get("os_family").to_lowercase(),
            });
        }
    }
    let out = cx
        .sh("uname -s; if [ -r /etc/os-release ]; then . /etc/os-release; echo \"$ID\"; echo \"$VERSION_ID\"; echo \"$ID_LIKE\"; fi")
        .await?;
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    let system = lines.first().copied().unwrap_or_default().to_lowercase();
    let (name, family) = match system.as_str() {
        "linux" => {
            let id = lines.get(1).copied().unwrap_or("linux").to_lowercase();
            let like = lines
                .get(3)
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or(&id)
                .to_lowercase();
            (id, like)
        }
        "darwin" => ("macosx".into(), "darwin".into()),
        "sunos" => ("solaris".into(), "solaris".into()),
        other => (other.to_string(), other.to_string()),
    };
    Ok(Distro {
        name,
        version: lines
            .get(2)
            .and_then(|v| v.split('.').next())
            .unwrap_or_default()
            .to_string(),
        family,
    })
}

/// Ansible's exponential backoff between tries: 1, 2, 4, 8, then 12 seconds, plus up to
/// one second at random so hosts rebooted together do not poll in step.
fn backoff(fails: u32) -> Duration {
    let jitter = u64::from_str_radix(&crate::connection::random_tag()[..4], 16).unwrap_or(0) % 1000;
    let base = 2u64.saturating_pow(fails).min(12);
    Duration::from_millis(base * 1000 + jitter)
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let int = |k: &str| match args.get(k) {
        Some(Value::Int(i)) => Some((*i).max(0) as u64),
        _ => None,
    };
    let pre_delay = int("pre_reboot_delay").unwrap_or(0);
    let post_delay = int("post_reboot_delay").unwrap_or(0);
    let reboot_timeout = int("reboot_timeout").unwrap_or(600);
    let connect_timeout = int("connect_timeout").filter(|t| *t > 0);
    let msg = args.str("msg").unwrap_or_default();
    let d = try_conn!(distro(cx).await);
    let boot_cmd = args
        .str("boot_time_command")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| d.pick(BOOT_TIME_COMMANDS, DEFAULT_BOOT_TIME).to_string());
    let test_cmd = args
        .str("test_command")
        .unwrap_or_else(|| d.pick(TEST_COMMANDS, "whoami").to_string());
    let (bin, cmd_args) = match args.str("reboot_command") {
        Some(c) => match c.split_once(' ') {
            Some((b, rest)) => (b.to_string(), rest.to_string()),
            None => (c, String::new()),
        },
        None => {
            let a = d
                .pick(SHUTDOWN_ARGS, "-r {delay_min} {message}")
                .replace("{delay_min}", &(pre_delay / 60).to_string())
                .replace("{delay_sec}", &pre_delay.to_string())
                .replace("{message}", &quote::quote(&msg));
            (d.pick(SHUTDOWN_COMMANDS, "shutdown").to_string(), a)
        }
    };

    let before = match boot_time(cx, &boot_cmd, None).await {
        Ok(b) => b,
        Err(e) => {
            return TaskResult::failed(e).with("reboot", Value::Bool(false));
        }
    };
    let shutdown = if bin.starts_with('/') {
        bin.clone()
    } else {
        let paths: Vec<String> = args
            .list("search_paths")
            .iter()
            .map(crate::yaml::python_str)
            .collect();
        let script = format!(
            "for d in {}; do [ -e \"$d\"/{b} ] && {{ echo \"$d\"/{b}; exit 0; }}; done; exit 1",
            quote::join(&paths),
            b = quote::quote(&bin)
        );
        let out = try_conn!(cx.sh(script).await);
        match out.stdout_text().lines().next() {
            Some(p) if out.rc == 0 => p.to_string(),
            _ => {
                let list: Vec<String> = paths.iter().map(|p| format!("'{p}'")).collect();
                return TaskResult::failed(format!(
                    "Unable to find command \"{bin}\" in search paths: [{}]",
                    list.join(", ")
                ));
            }
        }
    };
    let command = format!("{} {cmd_args}", quote::quote(&shutdown));
    // The host may drop the connection before the command returns: that is the reboot.
    let rc = match cx.sh(command).await {
        Ok(out) if out.rc != 0 => Some(out),
        _ => None,
    };
    let start = Instant::now();
    let elapsed = |s: Instant| Value::Int(s.elapsed().as_secs() as i128);
    if let Some(out) = rc {
        return TaskResult::failed(format!(
            "Reboot command failed. Error was: '{}, {}'",
            out.stdout_text().trim(),
            out.stderr_text().trim()
        ))
        .with("rebooted", Value::Bool(false))
        .with("elapsed", elapsed(start));
    }
    if post_delay > 0 {
        tokio::time::sleep(Duration::from_secs(post_delay)).await;
    }
    let deadline = |from: Instant| from + Duration::from_secs(reboot_timeout);
    let limit = connect_timeout.map(Duration::from_secs);
    // The old session belongs to the old boot.
    cx.conn.reset().await;
    let waited = until(deadline(Instant::now()), "last boot time check", || async {
        let now = boot_time(cx, &boot_cmd, limit).await?;
        if now.is_empty() || now == before {
            return Err("boot time has not changed".to_string());
        }
        Ok(())
    })
    .await;
    let waited = match waited {
        Ok(()) => {
            until(
                deadline(Instant::now()),
                "post-reboot test command",
                || async {
                    let out = sh(cx, &test_cmd, limit).await?;
                    if out.rc != 0 {
                        return Err(format!(
                            "Test command failed: {} {}",
                            out.stderr_text(),
                            out.stdout_text()
                        ));
                    }
                    Ok(())
                },
            )
            .await
        }
        Err(e) => Err(e),
    };
    let r = match waited {
        Ok(()) => TaskResult::changed(true),
        Err(e) => TaskResult::failed(e),
    };
    r.with("rebooted", Value::Bool(true))
        .with("elapsed", elapsed(start))
}

/// A command for the wait: bounded by `connect_timeout` when given (30 s otherwise, so a
/// session that hangs during shutdown cannot stall the wait), a lost connection reset.
async fn sh(
    cx: &TaskCx<'_>,
    cmd: &str,
    limit: Option<Duration>,
) -> Result<crate::connection::Output, String> {
    match cx
        .sh_within(cmd.to_string(), limit.unwrap_or(Duration::from_secs(30)))
        .await
    {
        Ok(out) => Ok(out),
        Err(e) => {
            cx.conn.reset().await;
            Err(e.to_string())
        }
    }
}

async fn boot_time(cx: &TaskCx<'_>, cmd: &str, limit: Option<Duration>) -> Result<String, String> {
    let out = sh(cx, cmd, limit).await?;
    if out.rc != 0 {
        return Err(format!(
            "reboot: failed to get host boot time info, rc: {}, stdout: {}, stderr: {}",
            out.rc,
            out.stdout_text(),
            out.stderr_text()
        ));
    }
    Ok(out.stdout_text().trim().to_string())
}

/// Tries `step` until it succeeds or `deadline` passes, backing off between tries.
async fn until<F, Fut>(deadline: Instant, what: &str, step: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut fails = 0;
    let timeout = deadline.saturating_duration_since(Instant::now()).as_secs();
    while Instant::now() < deadline {
        if step().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(backoff(fails)).await;
        fails += 1;
    }
    Err(format!("Timed out waiting for {what} (timeout={timeout})"))
}
