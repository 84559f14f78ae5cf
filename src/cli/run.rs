//! `kiln run PLAYBOOK...`: ansible-playbook's command line.

use super::{Failure, exit};
use crate::config::Config;
use crate::executor::{Executor, RunOptions, TagFilter};
use crate::inventory::{Loader, read_limit};
use crate::output::human::Human;
use crate::playbook::{Item, LoadCx, Playbook, kv::parse_kv, load_playbook};
use crate::yaml::{Map, Value};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Playbook(s) to run, in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,
    /// Inventory source (file, directory or `h1,h2,`); repeatable. Without it: only the
    /// implicit `localhost` (local connection).
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE")]
    pub inventory: Vec<String>,
    /// Limit the run to hosts matching PATTERN (`@file` reads patterns from a file).
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Extra variables: `k=v ...`, a YAML/JSON mapping, or `@file`; repeatable; they win over all others.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Only run tasks with these tags (comma-separated; repeatable).
    #[arg(short = 't', long, value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long, value_name = "TAGS")]
    pub skip_tags: Vec<String>,
    /// Change nothing; report what would change.
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show the changes made to files.
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// How many hosts run a task at once (default: the `forks` setting, else 50).
    #[arg(short = 'f', long)]
    pub forks: Option<usize>,
    /// Connect as this user.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub remote_user: Option<String>,
    /// Run tasks with privilege escalation (become).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    #[arg(long, value_name = "USER")]
    pub become_user: Option<String>,
    #[arg(long, value_name = "METHOD")]
    pub become_method: Option<String>,
    /// Ask for the become password (needs a terminal).
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,
    /// Ask for the SSH login password (needs a terminal).
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    /// The SSH key to log in with (after `ansible_ssh_private_key_file`).
    #[arg(long = "private-key", visible_alias = "key-file", value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// Connection type to use: `ssh` (the default for inventory hosts) or `local`.
    #[arg(short = 'c', long, value_name = "CONNECTION")]
    pub connection: Option<String>,
    /// SSH connect timeout in seconds (default 10).
    #[arg(short = 'T', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Host key checking: `strict` (default), `accept-new` or `off`; overrides
    /// ANSIBLE_HOST_KEY_CHECKING.
    #[arg(long, value_name = "POLICY")]
    pub host_key_checking: Option<String>,
    /// List the hosts each play would run on, and stop.
    #[arg(long)]
    pub list_hosts: bool,
    /// List the tasks each play would run, and stop.
    #[arg(long)]
    pub list_tasks: bool,
    /// List the tags in the playbook, and stop.
    #[arg(long)]
    pub list_tags: bool,
    /// Load and check the playbook, and stop.
    #[arg(long)]
    pub syntax_check: bool,
    /// Start at the task with this name.
    #[arg(long, value_name = "NAME")]
    pub start_at_task: Option<String>,
    /// Run handlers even for hosts that failed.
    #[arg(long)]
    pub force_handlers: bool,
    /// Write the names of the hosts that failed or were unreachable to FILE, one per line,
    /// for `--limit @FILE` (Ansible's retry file).
    #[arg(long, value_name = "FILE")]
    pub retry_file: Option<PathBuf>,
    /// More output (-v results, -vv ... more detail).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Vault secrets: `--vault-id`, `--vault-password-file`, `-J`/`--ask-vault-pass`.
    #[command(flatten)]
    pub vault: super::vault::VaultArgs,
}

/// Parses `-e` values as Ansible does: `@file`, a YAML/JSON document, or `k=v` words.
pub fn extra_vars(specs: &[String]) -> Result<Map, Failure> {
    let mut out = Map::new();
    for spec in specs {
        let value = if let Some(file) = spec.strip_prefix('@') {
            let loaded = crate::yaml::load_file(std::path::Path::new(file)).map_err(|e| {
                Failure::new(
                    exit::OPTIONS,
                    e.located().map_or_else(|| e.to_string(), |l| l.to_string()),
                )
            })?;
            loaded.node.map(|n| n.to_value()).unwrap_or(Value::Null)
        } else if spec.trim_start().starts_with(['{', '[']) {
            let name: std::sync::Arc<str> = std::sync::Arc::from("<extra vars>");
            let loaded = crate::yaml::load_text(spec, &name).map_err(|e| {
                Failure::new(exit::OPTIONS, format!("invalid extra vars `{spec}`: {e}"))
            })?;
            loaded.node.map(|n| n.to_value()).unwrap_or(Value::Null)
        } else {
            Value::Map(parse_kv(spec, false).map_err(|e| Failure::new(exit::OPTIONS, e))?)
        };
        match value {
            Value::Map(m) => {
                if m.contains_key(&Value::str("_raw_params")) {
                    return Err(Failure::new(
                        exit::OPTIONS,
                        format!("invalid extra vars `{spec}`: expected `name=value` words"),
                    ));
                }
                out.extend(m)
            }
            Value::Null => {}
            _ => {
                return Err(Failure::new(
                    exit::OPTIONS,
                    format!("extra vars `{spec}` must be a mapping"),
                ));
            }
        }
    }
    Ok(out)
}

fn split_tags(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

pub fn load_all(paths: &[PathBuf], cx: &LoadCx) -> Result<Vec<Playbook>, Failure> {
    paths
        .iter()
        .map(|p| {
            if !p.is_file() {
                return Err(Failure::new(
                    exit::OPTIONS,
                    format!("the playbook `{}` could not be found", p.display()),
                ));
            }
            load_playbook(p, cx).map_err(|e| Failure::new(e.exit_code(), e.render()))
        })
        .collect()
}

/// The vault settings of the configuration (ansible.cfg, the environment winning).
pub fn vault_settings(c: &Config) -> Result<crate::vault::VaultSettings, Failure> {
    let mut s = crate::vault::VaultSettings::default();
    if let Some(i) = c.string("vault_identity") {
        s.identity = i;
    }
    if let Some(l) = c.string("vault_identity_list") {
        s.identity_list = l
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
    }
    s.password_file = c.paths("vault_password_file").into_iter().next();
    s.id_match = cfg(c.bool("vault_id_match"))?.unwrap_or(false);
    s.ask_vault_pass = cfg(c.bool("ask_vault_pass"))?.unwrap_or(false);
    s.encrypt_identity = c.string("vault_encrypt_identity");
    s.apply_env();
    Ok(s)
}

/// The configuration (ansible.cfg and `ANSIBLE_*`), or an options error naming the bad setting.
pub fn config() -> Result<Config, Failure> {
    let c = Config::load().map_err(|e| Failure::new(exit::OPTIONS, e.to_string()))?;
    if let Some(h) = c.string("hash_behaviour")
        && h != "replace"
    {
        return Err(Failure::new(
            exit::OPTIONS,
            format!(
                "hash_behaviour `{h}` is not supported by kiln: it merges variables as `replace` does (Ansible's default)"
            ),
        ));
    }
    Ok(c)
}

fn cfg<T>(r: Result<T, crate::config::ConfigError>) -> Result<T, Failure> {
    r.map_err(|e| Failure::new(exit::OPTIONS, e.to_string()))
}

pub fn run(args: &RunArgs) -> Result<String, Failure> {
    let config = config()?;
    // The vault secrets come first: any file loaded below may be encrypted.
    args.vault.install_with(vault_settings(&config)?)?;
    let extra = extra_vars(&args.extra_vars)?;
    let load_cx = LoadCx {
        playbook_dir: PathBuf::new(),
        roles_path: config.paths("roles_path"),
        extra_vars: extra.clone(),
    };
    // Everything is loaded and checked before any host is touched.
    let playbooks = load_all(&args.playbooks, &load_cx)?;
    if args.syntax_check {
        return Ok(playbooks
            .iter()
            .map(|p| format!("\nplaybook: {}", p.path.display()))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let playbook_dir = playbooks.first().map(|p| p.dir.clone());
    let sources: Vec<String> = if args.inventory.is_empty() {
        config
            .paths("inventory")
            .into_iter()
            .map(|p| p.display().to_string())
            .collect()
    } else {
        args.inventory.clone()
    };
    let mut loader = Loader::load(&sources, playbook_dir.as_deref())
        .map_err(|e| Failure::new(exit::ERROR, e.render()))?;
    if sources.is_empty() {
        eprintln!("[WARNING]: No inventory was parsed, only implicit localhost is available");
    }
    for w in loader.take_warnings() {
        eprintln!("[WARNING]: {w}");
    }
    let limit = args
        .limit
        .as_deref()
        .map(read_limit)
        .transpose()
        .map_err(|e| Failure::new(exit::ERROR, e.render()))?;
    if args.list_hosts || args.list_tasks || args.list_tags {
        return listing(args, &playbooks, &mut loader, limit.as_deref(), &extra);
    }
    let mut ssh = crate::connection::ssh::SshOptions::from_env();
    if args.ask_pass {
        ssh.password = Some(ask("SSH password: ", "-k")?);
    }
    let ask_become = args.ask_become_pass || cfg(config.bool("become_ask_pass"))?.unwrap_or(false);
    let become_password = if ask_become {
        // As Ansible, an empty answer to -K means "the same as the SSH password".
        let prompt = if args.ask_pass {
            "BECOME password[defaults to SSH password]: "
        } else {
            "BECOME password: "
        };
        let answer = ask(prompt, "-K")?;
        Some(match (&ssh.password, answer.is_empty()) {
            (Some(p), true) => p.clone(),
            _ => answer,
        })
    } else {
        None
    };
    ssh.private_key = args
        .private_key
        .clone()
        .or_else(|| config.paths("private_key_file").into_iter().next());
    ssh.timeout = match args.timeout {
        Some(t) => Some(t),
        None => cfg(config.int("timeout"))?,
    };
    if ssh.host_key_checking.is_none() {
        ssh.host_key_checking = config.string("host_key_checking");
    }
    if let Some(p) = &args.host_key_checking {
        crate::connection::ssh::known_hosts::Policy::parse(p)
            .map_err(|e| Failure::new(exit::OPTIONS, e.to_string()))?;
        ssh.host_key_checking = Some(p.clone());
    }
    let forks = match args.forks {
        Some(f) => f,
        None => cfg(config.int("forks"))?.map_or(50, |f| f as usize),
    };
    let opts = RunOptions {
        ssh,
        check: args.check,
        diff: args.diff,
        forks,
        limit,
        tags: TagFilter {
            only: split_tags(&args.tags),
            skip: split_tags(&args.skip_tags),
        },
        extra_vars: extra,
        become_: args.become_ || cfg(config.bool("become"))?.unwrap_or(false),
        become_user: args
            .become_user
            .clone()
            .or_else(|| config.string("become_user")),
        become_method: args
            .become_method
            .clone()
            .or_else(|| config.string("become_method")),
        become_flags: config.string("become_flags"),
        become_password,
        connection: args.connection.clone(),
        remote_user: args
            .remote_user
            .clone()
            .or_else(|| config.string("remote_user")),
        verbosity: args.verbose,
        start_at_task: args.start_at_task.clone(),
        force_handlers: args.force_handlers || cfg(config.bool("force_handlers"))?.unwrap_or(false),
        strategy: config.string("strategy").unwrap_or_else(|| "linear".into()),
        any_errors_fatal: cfg(config.bool("any_errors_fatal"))?.unwrap_or(false),
        gathering: config
            .string("gathering")
            .unwrap_or_else(|| "implicit".into()),
        load: load_cx,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::ERROR, format!("could not start the runtime: {e}")))?;
    let mut cb = Human::new(args.verbose);
    let mut code = exit::OK;
    let mut stats_all = crate::executor::Stats::default();
    let mut retry = std::collections::BTreeSet::new();
    for pb in &playbooks {
        let mut opts = opts.clone();
        opts.load.playbook_dir = pb.dir.clone();
        let exec = Executor::new(opts, &mut loader, &mut cb);
        let (stats, abort) = runtime.block_on(exec.run(pb));
        if let Some(a) = abort {
            // As ansible-playbook: the error, no recap, exit code 1.
            return Err(Failure::new(exit::ERROR, a.message));
        }
        retry.extend(stats.failed_hosts.iter().cloned());
        retry.extend(stats.unreachable_hosts.iter().cloned());
        stats_all.failed_hosts.extend(stats.failed_hosts);
        stats_all.unreachable_hosts.extend(stats.unreachable_hosts);
        for (h, s) in stats.hosts {
            stats_all.hosts.insert(h, s);
        }
    }
    if let Some(path) = &args.retry_file {
        write_retry_file(path, &retry)?;
    } else if cfg(config.bool("retry_files_enabled"))?.unwrap_or(false)
        && let Some(pb) = playbooks.first()
    {
        // Ansible's retry file: `<playbook name>.retry` beside the playbook, or in the
        // `retry_files_save_path` directory.
        let dir = config
            .paths("retry_files_save_path")
            .into_iter()
            .next()
            .unwrap_or_else(|| pb.dir.clone());
        let stem = pb
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "playbook".into());
        write_retry_file(&dir.join(format!("{stem}.retry")), &retry)?;
    }
    let c = stats_all.exit_code();
    if c != 0 {
        code = c;
    }
    if code == exit::OK {
        Ok(String::new())
    } else {
        Err(Failure::new(code, String::new()))
    }
}

/// Asks for a secret on the terminal; without one (CI, a pipe) that is an options error
/// rather than a hang.
fn ask(prompt: &str, flag: &str) -> Result<String, Failure> {
    use std::io::IsTerminal;
    let refuse = |why: String| {
        Failure::new(
            exit::OPTIONS,
            format!("{flag} needs a terminal to ask for the password: {why}"),
        )
    };
    if !std::io::stdin().is_terminal() {
        return Err(refuse("standard input is not a terminal".into()));
    }
    rpassword::prompt_password(prompt).map_err(|e| refuse(e.to_string()))
}

/// As Ansible, a retry file is written only when some host failed or was unreachable (a file
/// from an earlier run stays as it was otherwise), sorted by name.
fn write_retry_file(
    path: &std::path::Path,
    hosts: &std::collections::BTreeSet<String>,
) -> Result<(), Failure> {
    if hosts.is_empty() {
        return Ok(());
    }
    let text: String = hosts.iter().map(|h| format!("{h}\n")).collect();
    std::fs::write(path, text).map_err(|e| {
        Failure::new(
            exit::ERROR,
            format!("could not write the retry file {}: {e}", path.display()),
        )
    })?;
    println!("\tto retry, use: --limit @{}\n", path.display());
    Ok(())
}

fn item_tasks(items: &[Item], out: &mut Vec<(String, Vec<String>)>, inherited: &[String]) {
    for item in items {
        match item {
            Item::Task(t) => {
                let mut tags = inherited.to_vec();
                tags.extend(t.common.tags.iter().cloned());
                out.push((t.display_name(), tags));
            }
            Item::Block(b) => {
                let mut tags = inherited.to_vec();
                tags.extend(b.common.tags.iter().cloned());
                item_tasks(&b.block, out, &tags);
                item_tasks(&b.rescue, out, &tags);
                item_tasks(&b.always, out, &tags);
            }
        }
    }
}

fn listing(
    args: &RunArgs,
    playbooks: &[Playbook],
    loader: &mut Loader,
    limit: Option<&[String]>,
    extra: &Map,
) -> Result<String, Failure> {
    let templar = crate::template::Templar::new();
    let mut out = Vec::new();
    for pb in playbooks {
        out.push(String::new());
        out.push(format!("playbook: {}", pb.path.display()));
        let mut all_tags: Vec<String> = Vec::new();
        for (n, play) in pb.plays.iter().enumerate() {
            let mut vars = play.common.vars.clone();
            vars.extend(extra.clone());
            let pattern = match templar.template(&play.hosts, &vars) {
                Ok(Value::Seq(items)) => items
                    .iter()
                    .map(crate::yaml::python_str)
                    .collect::<Vec<_>>()
                    .join(","),
                Ok(v) => crate::yaml::python_str(&v),
                Err(e) => return Err(Failure::new(exit::ERROR, e.to_string())),
            };
            out.push(String::new());
            out.push(format!(
                "  play #{} ({}): {}\tTAGS: [{}]",
                n + 1,
                pattern,
                play.name,
                play.common.tags.join(", ")
            ));
            if args.list_hosts {
                let hosts = loader
                    .inventory
                    .select(&pattern, limit)
                    .map_err(|e| Failure::new(exit::ERROR, e.render()))?;
                out.push(format!("    pattern: ['{pattern}']"));
                out.push(format!("    hosts ({}):", hosts.len()));
                for h in hosts {
                    out.push(format!("      {}", loader.inventory.hosts[h].name));
                }
            }
            let mut tasks = Vec::new();
            for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
                item_tasks(section, &mut tasks, &play.common.tags);
            }
            if args.list_tasks {
                // As ansible-playbook: only the tasks the tag selection would run, each with
                // its inherited tags sorted.
                let filter = TagFilter {
                    only: split_tags(&args.tags),
                    skip: split_tags(&args.skip_tags),
                };
                out.push("    tasks:".into());
                for (name, tags) in tasks.iter().filter(|(_, tags)| filter.selects(tags)) {
                    let mut shown = tags.clone();
                    shown.sort();
                    shown.dedup();
                    out.push(format!("      {name}\tTAGS: [{}]", shown.join(", ")));
                }
            }
            for (_, tags) in &tasks {
                for t in tags {
                    if !all_tags.contains(t) {
                        all_tags.push(t.clone());
                    }
                }
            }
            if args.list_tags {
                let mut play_tags: Vec<String> =
                    tasks.iter().flat_map(|(_, t)| t.clone()).collect();
                play_tags.sort();
                play_tags.dedup();
                out.push(format!("      TASK TAGS: [{}]", play_tags.join(", ")));
            }
        }
    }
    Ok(out.join("\n"))
}
