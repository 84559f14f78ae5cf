//! Where and how to reach a host over SSH, resolved as Ansible and OpenSSH together do it:
//! the host's variables (`ansible_host`, `ansible_port`, `ansible_user`, ...) win over the
//! command line (`-u`, `--private-key`), which wins over ssh_config (`~/.ssh/config`, or the
//! file `-F` names in `ansible_ssh_common_args`), which wins over OpenSSH's defaults.

use super::config::{self, HostConfig};
use super::known_hosts::Policy;
use super::session::{SshTarget, default_identity_files};
use crate::yaml::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the command line and the environment say about every SSH connection.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    pub remote_user: Option<String>,
    pub private_key: Option<PathBuf>,
    pub timeout: Option<u64>,
    /// `-k/--ask-pass`: the login password for hosts whose variables give none.
    pub password: Option<String>,
    /// `--host-key-checking`, else `ANSIBLE_HOST_KEY_CHECKING`.
    pub host_key_checking: Option<String>,
    /// The controller's HOME and user, for `~` and ssh_config tokens.
    pub home: PathBuf,
    pub local_user: String,
}

impl SshOptions {
    /// The options from the process environment, for the CLI to complete.
    pub fn from_env() -> SshOptions {
        SshOptions {
            home: std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/")),
            local_user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "root".into()),
            host_key_checking: std::env::var("ANSIBLE_HOST_KEY_CHECKING").ok(),
            ..Default::default()
        }
    }
}

/// A problem with a host's SSH settings, found before connecting.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("`{name}`: {message}")]
    Var { name: String, message: String },
}

fn text(vars: &Map, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match vars.get(&Value::str(*n)) {
        None | Some(Value::Null) => None,
        Some(v) => Some(crate::yaml::python_str(v)),
    })
}

fn expand_home(p: &str, home: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if p == "~" => home.to_path_buf(),
        None => PathBuf::from(p),
    }
}

/// Resolves the target for host `alias` from its (templated) variables. Returns the target
/// and the ssh_config options kiln does not act on, for the caller to report once.
pub fn target(
    alias: &str,
    vars: &Map,
    opts: &SshOptions,
) -> Result<(SshTarget, Vec<String>), ResolveError> {
    let var_err = |name: &str, message: String| ResolveError::Var {
        name: name.to_string(),
        message,
    };
    let host =
        text(vars, &["ansible_host", "ansible_ssh_host"]).unwrap_or_else(|| alias.to_string());
    let mut common = String::new();
    for name in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(a) = text(vars, &[name]) {
            common.push(' ');
            common.push_str(&a);
        }
    }
    let args = config::parse_common_args(&common)?;
    let config_file = args
        .config_file
        .clone()
        .unwrap_or_else(|| opts.home.join(".ssh/config"));
    let system = Path::new("/etc/ssh/ssh_config");
    let cfg: HostConfig = config::load_with_args(
        &config_file,
        Some(system),
        &host,
        &opts.home,
        &opts.local_user,
        &args,
    )?;
    // The system file's distribution defaults (SendEnv, GSSAPI...) are not the user's
    // choices: only what the user configured is reported.
    let mut ignored: Vec<String> = cfg
        .unsupported
        .iter()
        .filter(|u| !u.file.starts_with("/etc/ssh"))
        .map(|u| format!("{} ({}:{})", u.keyword, u.file.display(), u.line))
        .collect();
    ignored.extend(
        args.unsupported
            .iter()
            .map(|u| format!("{u} (ansible_ssh_common_args)")),
    );

    let port = match text(vars, &["ansible_port", "ansible_ssh_port"]) {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| var_err("ansible_port", format!("`{p}` is not a port number")))?,
        None => cfg.port.unwrap_or(22),
    };
    let user = text(vars, &["ansible_user", "ansible_ssh_user"])
        .or_else(|| opts.remote_user.clone())
        .or_else(|| cfg.user.clone())
        .unwrap_or_else(|| opts.local_user.clone());
    let mut identity_files: Vec<PathBuf> = Vec::new();
    if let Some(k) = text(
        vars,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    ) {
        identity_files.push(expand_home(&k, &opts.home));
    } else if let Some(k) = &opts.private_key {
        identity_files.push(k.clone());
    }
    identity_files.extend(cfg.identity_files.iter().cloned());
    let explicit = !identity_files.is_empty();
    if !explicit {
        identity_files = default_identity_files(&opts.home);
    }
    let password = text(
        vars,
        &[
            "ansible_password",
            "ansible_ssh_pass",
            "ansible_ssh_password",
        ],
    )
    .or_else(|| opts.password.clone());
    let timeout = match text(vars, &["ansible_ssh_timeout", "ansible_timeout"]) {
        Some(t) => t.trim().parse::<u64>().map_err(|_| {
            var_err(
                "ansible_ssh_timeout",
                format!("`{t}` is not a number of seconds"),
            )
        })?,
        None => opts.timeout.or(cfg.connect_timeout).unwrap_or(10),
    };
    // Ansible's setting decides when given; otherwise ssh_config's StrictHostKeyChecking.
    let policy_text = text(
        vars,
        &["ansible_host_key_checking", "ansible_ssh_host_key_checking"],
    )
    .or_else(|| opts.host_key_checking.clone())
    .or_else(|| cfg.strict_host_key_checking.clone());
    let policy = match policy_text {
        Some(p) => Policy::parse(&p).map_err(|e| var_err("host_key_checking", e.to_string()))?,
        None => Policy::Strict,
    };
    let known_hosts = if cfg.user_known_hosts_files.is_empty() {
        vec![
            opts.home.join(".ssh/known_hosts"),
            opts.home.join(".ssh/known_hosts2"),
        ]
    } else {
        cfg.user_known_hosts_files.clone()
    };
    let mut known_hosts = known_hosts;
    known_hosts.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
    let jump_spec = cfg.proxy_jump.clone();
    let mut jumps = Vec::new();
    if let Some(spec) = jump_spec {
        for hop in spec.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            jumps.push(jump_target(hop, opts, &config_file, policy)?);
        }
    }
    if cfg.proxy_command.as_deref().is_some_and(|c| c != "none") {
        ignored.push("ProxyCommand (use ProxyJump)".into());
    }
    let target = SshTarget {
        alias: alias.to_string(),
        host: cfg.hostname.clone().unwrap_or(host),
        port,
        user,
        identity_files,
        identities_only: cfg.identities_only.unwrap_or(false),
        password,
        connect_timeout: Duration::from_secs(timeout.max(1)),
        keepalive: Some(Duration::from_secs(
            cfg.server_alive_interval.filter(|s| *s > 0).unwrap_or(15),
        )),
        policy,
        known_hosts,
        hash_known_hosts: false,
        jumps,
    };
    Ok((target, ignored))
}

/// A jump host from `[user@]host[:port]`, with its own ssh_config settings.
fn jump_target(
    spec: &str,
    opts: &SshOptions,
    config_file: &Path,
    policy: Policy,
) -> Result<SshTarget, ResolveError> {
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, spec),
    };
    let (name, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
            h.trim_matches(['[', ']']).to_string(),
            Some(p.parse::<u16>().map_err(|_| ResolveError::Var {
                name: "ProxyJump".into(),
                message: format!("`{spec}` has a bad port"),
            })?),
        ),
        _ => (rest.to_string(), None),
    };
    let cfg = config::load(config_file, &name, &opts.home, &opts.local_user)?;
    let mut identity_files = cfg.identity_files.clone();
    if let Some(k) = &opts.private_key {
        identity_files.push(k.clone());
    }
    if identity_files.is_empty() {
        identity_files = default_identity_files(&opts.home);
    }
    let mut known_hosts = if cfg.user_known_hosts_files.is_empty() {
        vec![
            opts.home.join(".ssh/known_hosts"),
            opts.home.join(".ssh/known_hosts2"),
        ]
    } else {
        cfg.user_known_hosts_files.clone()
    };
    known_hosts.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
    Ok(SshTarget {
        alias: name.clone(),
        host: cfg.hostname.clone().unwrap_or(name),
        port: port.or(cfg.port).unwrap_or(22),
        user: user
            .or(cfg.user.clone())
            .unwrap_or_else(|| opts.local_user.clone()),
        identity_files,
        identities_only: cfg.identities_only.unwrap_or(false),
        password: None,
        connect_timeout: Duration::from_secs(
            cfg.connect_timeout.or(opts.timeout).unwrap_or(10).max(1),
        ),
        keepalive: Some(Duration::from_secs(15)),
        policy: match &cfg.strict_host_key_checking {
            Some(p) => Policy::parse(p).unwrap_or(policy),
            None => policy,
        },
        known_hosts,
        hash_known_hosts: false,
        jumps: match cfg.proxy_jump.as_deref() {
            Some(j) if j != "none" => j
                .split(',')
                .map(|h| jump_target(h.trim(), opts, config_file, policy))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        },
    })
}
