//! Reads a playbook and everything it names (imported playbooks, roles) into the model,
//! checking keywords, module names and literal module arguments. Every problem is reported
//! with the file, line and column before anything connects to a host.

use super::keywords::*;
use super::kv::parse_kv;
use super::{Block, Common, Item, Play, Playbook, Role, Task};
use crate::diag::{Located, Span, suggest};
use crate::modules::{self, SearchPaths};
use crate::yaml::{self, Map, Node, NodeKind, Value, YamlError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    At(Box<Located>),
    #[error(transparent)]
    Yaml(#[from] YamlError),
}

impl LoadError {
    fn at(span: &Span, message: impl Into<String>, hint: impl Into<String>) -> LoadError {
        LoadError::At(Box::new(Located::new(span.clone(), message).hint(hint)))
    }

    pub fn render(&self) -> String {
        match self {
            LoadError::Yaml(e) => e.located().map_or_else(|| e.to_string(), |l| l.to_string()),
            LoadError::At(l) => l.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, LoadError>;

/// Modules of ansible-core that kiln does not implement yet: named so the error says
/// "not supported yet" instead of "unknown".
const ANSIBLE_MODULES: &[&str] = &[
    "add_host",
    "apt",
    "apt_key",
    "apt_repository",
    "assemble",
    "async_status",
    "cron",
    "deb822_repository",
    "debconf",
    "dnf",
    "dpkg_selections",
    "expect",
    "gather_facts",
    "getent",
    "group",
    "group_by",
    "hostname",
    "import_playbook",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "iptables",
    "known_hosts",
    "mount_facts",
    "package",
    "package_facts",
    "pause",
    "reboot",
    "rpm_key",
    "script",
    "service_facts",
    "setup",
    "sysvinit",
    "user",
    "validate_argument_spec",
    "wait_for",
    "wait_for_connection",
    "yum_repository",
];

fn span_of(node: &Node) -> &Span {
    &node.span
}

fn entries(node: &Node) -> Option<&Vec<(Node, Node)>> {
    match &node.kind {
        NodeKind::Map(e) => Some(e),
        _ => None,
    }
}

fn key_of(k: &Node) -> Result<String> {
    k.as_str()
        .map(str::to_string)
        .ok_or_else(|| LoadError::at(span_of(k), "keys here must be strings", "quote the key"))
}

fn load_yaml(path: &Path) -> Result<Option<Node>> {
    let loaded = yaml::load_file(path)?;
    for w in &loaded.warnings {
        eprintln!("[WARNING]: {} ({})", w.message, w.span);
    }
    Ok(loaded.node)
}

/// Loads the playbook at `path` and everything it imports.
pub fn load_playbook(path: &Path) -> Result<Playbook> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let mut plays = Vec::new();
    load_plays(path, &dir, &mut plays, 0)?;
    Ok(Playbook {
        path: path.to_path_buf(),
        dir,
        plays,
    })
}

fn load_plays(path: &Path, top_dir: &Path, plays: &mut Vec<Play>, depth: usize) -> Result<()> {
    let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    if depth > 20 {
        return Err(LoadError::at(
            &Span::file(&name),
            "playbooks import each other in a loop",
            "remove the cycle of import_playbook",
        ));
    }
    let root = load_yaml(path).map_err(|e| match e {
        LoadError::Yaml(YamlError::Read { path, source }) => LoadError::at(
            &Span::file(&Arc::from(path.to_string_lossy().as_ref())),
            format!("could not read the playbook `{}`: {source}", path.display()),
            "check the path",
        ),
        other => other,
    })?;
    let Some(root) = root else {
        return Err(LoadError::at(
            &Span::file(&name),
            "the playbook is empty",
            "a playbook is a list of plays",
        ));
    };
    let NodeKind::Seq(items) = &root.kind else {
        return Err(LoadError::at(
            &root.span,
            "a playbook must be a list of plays",
            "start each play with `- hosts: ...`",
        ));
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for item in items {
        let Some(map) = entries(item) else {
            return Err(LoadError::at(
                &item.span,
                "a play must be a mapping",
                "start each play with `- hosts: ...`",
            ));
        };
        let import = map.iter().find(|(k, _)| {
            matches!(
                k.as_str(),
                Some("import_playbook" | "ansible.builtin.import_playbook")
            )
        });
        if let Some((k, v)) = import {
            if map.len() > 1 {
                let other = map
                    .iter()
                    .find(|(kk, _)| kk.as_str() != k.as_str())
                    .map(|(kk, _)| kk)
                    .unwrap_or(k);
                return Err(LoadError::at(
                    &other.span,
                    "import_playbook takes no other keywords in kiln yet",
                    "remove the keyword",
                ));
            }
            let Some(file) = v.as_str() else {
                return Err(LoadError::at(
                    &v.span,
                    "import_playbook needs a file name",
                    "write `import_playbook: other.yml`",
                ));
            };
            if file.contains("{{") {
                return Err(LoadError::at(
                    &v.span,
                    "a templated import_playbook file name is not supported",
                    "write the file name literally",
                ));
            }
            let target = dir.join(file);
            if !target.exists() {
                return Err(LoadError::at(
                    &v.span,
                    format!("could not find the imported playbook `{file}`"),
                    "paths are relative to the importing playbook",
                ));
            }
            load_plays(&target, top_dir, plays, depth + 1)?;
            continue;
        }
        plays.push(load_play(item, &dir, top_dir)?);
    }
    Ok(())
}

/// Rejects words that are not keywords here: a typo gets a suggestion, a known but
/// unsupported keyword a clear refusal.
fn check_keyword(
    k: &Node,
    key: &str,
    supported: &[&str],
    known: &[&str],
    what: &str,
) -> Result<()> {
    if supported.contains(&key) {
        return Ok(());
    }
    if known.contains(&key) || (what == "task" && is_with_loop(key)) {
        return Err(LoadError::at(
            &k.span,
            format!("the {what} keyword `{key}` is not supported by kiln yet"),
            "see docs/compat.md for what kiln supports; remove the keyword or run this playbook with ansible-core",
        ));
    }
    let all: Vec<&str> = supported.iter().chain(known.iter()).copied().collect();
    let hint = match suggest(key, &all) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("valid {what} keywords are: {}", supported.join(", ")),
    };
    Err(LoadError::at(
        &k.span,
        format!("`{key}` is not a valid {what} keyword"),
        hint,
    ))
}

fn load_play(node: &Node, dir: &Path, top_dir: &Path) -> Result<Play> {
    let map = entries(node).ok_or_else(|| {
        LoadError::at(
            &node.span,
            "a play must be a mapping",
            "start each play with `- hosts: ...`",
        )
    })?;
    let mut play = Play {
        name: String::new(),
        hosts: Value::Null,
        gather_facts: true,
        common: Common::default(),
        vars_files: Vec::new(),
        remote_user: None,
        connection: None,
        pre_tasks: Vec::new(),
        tasks: Vec::new(),
        post_tasks: Vec::new(),
        handlers: Vec::new(),
        roles: Vec::new(),
        force_handlers: false,
        span: node.span.clone(),
    };
    let mut role_nodes = None;
    let mut tasks_node = None;
    let mut handlers_node = None;
    for (k, v) in map {
        let key = key_of(k)?;
        check_keyword(k, &key, PLAY_SUPPORTED, PLAY_KNOWN, "play")?;
        match key.as_str() {
            "hosts" => play.hosts = v.to_value(),
            "gather_facts" => play.gather_facts = literal_bool(v)?,
            "force_handlers" => play.force_handlers = literal_bool(v)?,
            "vars_files" => {
                play.vars_files = match v.to_value() {
                    Value::Seq(items) => items,
                    Value::Null => Vec::new(),
                    other => vec![other],
                }
            }
            "remote_user" => play.remote_user = Some(v.to_value()),
            "connection" => play.connection = v.as_str().map(str::to_string),
            "pre_tasks" => play.pre_tasks = load_items(v, dir, None, "task")?,
            "tasks" => tasks_node = Some(v),
            "post_tasks" => play.post_tasks = load_items(v, dir, None, "task")?,
            "handlers" => handlers_node = Some(v),
            "roles" => role_nodes = Some(v),
            _ => load_common(&mut play.common, &key, v)?,
        }
    }
    if play.hosts.is_null() {
        return Err(LoadError::at(
            &node.span,
            "the play has no `hosts`",
            "add `hosts: all` (or a group or pattern)",
        ));
    }
    play.name = play
        .common
        .name
        .clone()
        .unwrap_or_else(|| match &play.hosts {
            Value::Seq(items) => items
                .iter()
                .map(crate::yaml::python_str)
                .collect::<Vec<_>>()
                .join(","),
            other => crate::yaml::python_str(other),
        });
    if let Some(roles) = role_nodes {
        let NodeKind::Seq(items) = &roles.kind else {
            return Err(LoadError::at(
                &roles.span,
                "`roles` must be a list",
                "write `roles: [name]`",
            ));
        };
        for item in items {
            let (role, tasks, handlers) = load_role(item, dir, top_dir)?;
            play.roles.push(role);
            play.tasks.extend(tasks);
            play.handlers.extend(handlers);
        }
    }
    if let Some(t) = tasks_node {
        play.tasks.extend(load_items(t, dir, None, "task")?);
    }
    if let Some(h) = handlers_node {
        let mut own = load_items(h, dir, None, "handler")?;
        own.append(&mut play.handlers);
        play.handlers = own;
    }
    Ok(play)
}

fn literal_bool(v: &Node) -> Result<bool> {
    match v.to_value() {
        Value::Bool(b) => Ok(b),
        other => modules::spec::to_bool(&other)
            .ok_or_else(|| LoadError::at(&v.span, "expected a boolean", "use true or false")),
    }
}

/// Keywords shared by plays, blocks and tasks.
fn load_common(c: &mut Common, key: &str, v: &Node) -> Result<()> {
    let val = v.to_value();
    match key {
        "name" => c.name = Some(crate::yaml::python_str(&val)),
        "when" => {
            c.when = match val {
                Value::Seq(items) => items,
                Value::Null => Vec::new(),
                other => vec![other],
            }
        }
        "tags" => {
            c.tags = match val {
                Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
                Value::Str(s) => s
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect(),
                Value::Null => Vec::new(),
                other => vec![crate::yaml::python_str(&other)],
            }
        }
        "vars" => match val {
            Value::Map(m) => c.vars = m,
            Value::Null => {}
            _ => {
                return Err(LoadError::at(
                    &v.span,
                    "`vars` must be a mapping",
                    "write `vars:` followed by `name: value` lines",
                ));
            }
        },
        "become" => c.become_ = Some(val),
        "become_user" => c.become_user = Some(val),
        "become_method" => c.become_method = Some(val),
        "become_flags" => c.become_flags = Some(val),
        "ignore_errors" => c.ignore_errors = Some(val),
        "check_mode" => c.check_mode = Some(val),
        "diff" => c.diff = Some(val),
        "no_log" => c.no_log = Some(val),
        "environment" => c.environment = Some(val),
        "timeout" => c.timeout = Some(val),
        _ => {}
    }
    Ok(())
}

fn load_items(node: &Node, dir: &Path, role: Option<&Arc<Role>>, what: &str) -> Result<Vec<Item>> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Scalar(Value::Null) => return Ok(Vec::new()),
        _ => {
            return Err(LoadError::at(
                &node.span,
                format!("a list of {what}s was expected here"),
                "start each one with `- name: ...`",
            ));
        }
    };
    items
        .iter()
        .map(|n| load_item(n, dir, role, what))
        .collect()
}

fn load_item(node: &Node, dir: &Path, role: Option<&Arc<Role>>, what: &str) -> Result<Item> {
    let map = entries(node).ok_or_else(|| {
        LoadError::at(
            &node.span,
            format!("a {what} must be a mapping"),
            "write `- name: ...` then the module on the next line",
        )
    })?;
    if map.iter().any(|(k, _)| k.as_str() == Some("block")) {
        return load_block(node, map, dir, role, what);
    }
    load_task(node, map, role, what).map(|t| Item::Task(Box::new(t)))
}

fn load_block(
    node: &Node,
    map: &[(Node, Node)],
    dir: &Path,
    role: Option<&Arc<Role>>,
    what: &str,
) -> Result<Item> {
    let mut b = Block {
        common: Common::default(),
        block: Vec::new(),
        rescue: Vec::new(),
        always: Vec::new(),
        span: node.span.clone(),
    };
    for (k, v) in map {
        let key = key_of(k)?;
        check_keyword(k, &key, BLOCK_SUPPORTED, BLOCK_KNOWN, "block")?;
        match key.as_str() {
            "block" => b.block = load_items(v, dir, role, what)?,
            "rescue" => b.rescue = load_items(v, dir, role, what)?,
            "always" => b.always = load_items(v, dir, role, what)?,
            _ => load_common(&mut b.common, &key, v)?,
        }
    }
    Ok(Item::Block(Box::new(b)))
}

fn is_module_key(key: &str) -> bool {
    modules::lookup(key).is_some()
}

fn load_task(
    node: &Node,
    map: &[(Node, Node)],
    role: Option<&Arc<Role>>,
    what: &str,
) -> Result<Task> {
    let mut task = Task {
        common: Common::default(),
        action: String::new(),
        written_action: String::new(),
        args: Map::new(),
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        loop_: None,
        loop_var: "item".into(),
        index_var: None,
        label: None,
        changed_when: None,
        failed_when: None,
        until: None,
        retries: None,
        delay: None,
        role: role.cloned(),
        span: node.span.clone(),
    };
    let mut action: Option<(&Node, &Node, String)> = None;
    let mut args_kw: Option<&Node> = None;
    for (k, v) in map {
        let key = key_of(k)?;
        if TASK_SUPPORTED.contains(&key.as_str()) && key != "action" {
            match key.as_str() {
                "args" => args_kw = Some(v),
                "register" => task.register = v.as_str().map(str::to_string),
                "notify" | "listen" => {
                    let names: Vec<String> = match v.to_value() {
                        Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
                        Value::Null => Vec::new(),
                        other => vec![crate::yaml::python_str(&other)],
                    };
                    if key == "notify" {
                        task.notify = names;
                    } else {
                        task.listen = names;
                    }
                }
                "loop" | "with_items" | "with_list" => {
                    if task.loop_.is_some() {
                        return Err(LoadError::at(
                            &k.span,
                            "a task can have only one loop",
                            "keep one of `loop`/`with_*`",
                        ));
                    }
                    let value = v.to_value();
                    // `with_items` flattens one level, as Ansible's `items` lookup does.
                    task.loop_ = Some(if key == "with_items" {
                        Value::Map(Map::from([(Value::str("__kiln_flatten__"), value)]))
                    } else {
                        value
                    });
                }
                "loop_control" => {
                    let Some(lc) = entries(v) else {
                        return Err(LoadError::at(
                            &v.span,
                            "`loop_control` must be a mapping",
                            "write `loop_control:` then `loop_var: name`",
                        ));
                    };
                    for (lk, lv) in lc {
                        match lk.as_str().unwrap_or_default() {
                            "loop_var" => task.loop_var = lv.as_str().unwrap_or("item").to_string(),
                            "index_var" => task.index_var = lv.as_str().map(str::to_string),
                            "label" => task.label = Some(lv.to_value()),
                            other => {
                                return Err(LoadError::at(
                                    &lk.span,
                                    format!("`loop_control.{other}` is not supported by kiln yet"),
                                    "supported: loop_var, index_var, label",
                                ));
                            }
                        }
                    }
                }
                "changed_when" => task.changed_when = Some(v.to_value()),
                "failed_when" => task.failed_when = Some(v.to_value()),
                "until" => task.until = Some(v.to_value()),
                "retries" => task.retries = Some(v.to_value()),
                "delay" => task.delay = Some(v.to_value()),
                _ => load_common(&mut task.common, &key, v)?,
            }
            continue;
        }
        if key == "action" || is_module_key(&key) {
            if let Some((prev, _, _)) = action {
                return Err(LoadError::at(
                    &k.span,
                    format!(
                        "conflicting action statements: `{}`, `{key}`",
                        prev.as_str().unwrap_or_default()
                    ),
                    "a task runs exactly one module; split it into two tasks",
                ));
            }
            action = Some((k, v, key));
            continue;
        }
        let short = modules::canonical_name(&key);
        if ANSIBLE_MODULES.contains(&short) {
            return Err(LoadError::at(
                &k.span,
                format!("the module `{key}` is not supported by kiln yet"),
                "see docs/compat.md for the modules kiln implements",
            ));
        }
        if TASK_KNOWN.contains(&key.as_str()) || is_with_loop(&key) {
            check_keyword(k, &key, TASK_SUPPORTED, TASK_KNOWN, what)?;
        }
        let mut candidates: Vec<String> = modules::names().map(str::to_string).collect();
        candidates.extend(modules::names().map(|n| format!("ansible.builtin.{n}")));
        candidates.extend(TASK_SUPPORTED.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
        let hint = suggest(&key, &refs).map_or_else(
            || "check the spelling; see docs/compat.md for the modules kiln implements".to_string(),
            |s| format!("did you mean `{s}`?"),
        );
        return Err(LoadError::at(
            &k.span,
            format!(
                "couldn't resolve module/action `{key}`: it is neither a module kiln knows nor a {what} keyword"
            ),
            hint,
        ));
    }
    let Some((k, v, key)) = action else {
        return Err(LoadError::at(
            &node.span,
            format!("no module/action detected in this {what}"),
            "add one module, e.g. `ansible.builtin.debug: msg=hello`",
        ));
    };
    let (name, mut args) = if key == "action" {
        let text = v.as_str().ok_or_else(|| {
            LoadError::at(
                &v.span,
                "`action` must be a string",
                "write `action: module k=v`",
            )
        })?;
        let (m, rest) = text
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((text.trim(), ""));
        if !is_module_key(m) {
            return Err(LoadError::at(
                &v.span,
                format!("couldn't resolve module/action `{m}`"),
                "check the module name",
            ));
        }
        (m.to_string(), parse_args(m, &Value::str(rest), &v.span)?)
    } else {
        (key.clone(), parse_args(&key, &v.to_value(), &v.span)?)
    };
    if let Some(a) = args_kw {
        match a.to_value() {
            Value::Map(m) => {
                for (ak, av) in m {
                    args.entry(ak).or_insert(av);
                }
            }
            _ => {
                return Err(LoadError::at(
                    &a.span,
                    "`args` must be a mapping",
                    "write `args:` then `name: value` lines",
                ));
            }
        }
    }
    let module = modules::lookup(&name).ok_or_else(|| {
        LoadError::at(
            &k.span,
            format!("couldn't resolve module/action `{name}`"),
            "check the module name",
        )
    })?;
    task.action = module.name().to_string();
    task.written_action = name.clone();
    // Literal arguments are checked now; templated ones again after templating.
    if !contains_template(&Value::Map(args.clone()))
        && let Err(e) = module.spec().validate(module.name(), &args)
    {
        return Err(LoadError::at(
            &v.span,
            format!("invalid arguments for `{name}`: {e}"),
            "fix the module arguments",
        ));
    }
    task.args = args;
    Ok(task)
}

/// A module's arguments from the value under its key: a mapping, or a `k=v` string.
fn parse_args(module: &str, v: &Value, span: &Span) -> Result<Map> {
    let short = modules::canonical_name(module);
    let raw_module = matches!(short, "command" | "shell" | "raw" | "script");
    match v {
        Value::Null => Ok(Map::new()),
        Value::Map(m) => {
            let mut m = m.clone();
            if raw_module {
                // `command: {cmd: ...}` is fine; free-form text can also sit under `_raw_params`.
                if let Some(fm) = m.shift_remove(&Value::str("free_form")) {
                    m.insert(Value::str("_raw_params"), fm);
                }
            }
            Ok(m)
        }
        Value::Str(s) | Value::Unsafe(s) => {
            if short == "set_fact" || !raw_module {
                parse_kv(s, false)
                    .map_err(|e| LoadError::at(span, e, "quote values that contain spaces"))
            } else {
                parse_kv(s, true)
                    .map_err(|e| LoadError::at(span, e, "quote values that contain spaces"))
            }
        }
        other => Err(LoadError::at(
            span,
            format!(
                "module arguments must be a mapping or a string, got {}",
                other.type_name()
            ),
            "write the arguments as `name: value` lines under the module",
        )),
    }
}

/// Whether any string inside holds Jinja syntax (so validation waits until run time).
pub fn contains_template(v: &Value) -> bool {
    match v {
        Value::Str(s) => s.contains("{{") || s.contains("{%"),
        Value::Seq(items) => items.iter().any(contains_template),
        Value::Map(m) => m
            .iter()
            .any(|(k, v)| contains_template(k) || contains_template(v)),
        _ => false,
    }
}

/// Finds a role directory the way Ansible searches: `roles/` beside the playbook, then the
/// playbook directory itself.
fn find_role(name: &str, dir: &Path, top_dir: &Path) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_dir().then(|| p.to_path_buf());
    }
    [
        dir.join("roles").join(name),
        top_dir.join("roles").join(name),
        dir.join(name),
    ]
    .into_iter()
    .find(|c| c.is_dir())
}

fn role_file(dir: &Path, sub: &str) -> Option<PathBuf> {
    ["main.yml", "main.yaml", "main"]
        .iter()
        .map(|f| dir.join(sub).join(f))
        .find(|p| p.is_file())
}

fn load_vars_file(path: &Path) -> Result<Map> {
    match load_yaml(path)? {
        None => Ok(Map::new()),
        Some(n) => match n.to_value() {
            Value::Map(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            _ => Err(LoadError::at(
                &n.span,
                "a vars file must hold a mapping",
                "write `name: value` lines",
            )),
        },
    }
}

fn load_role(item: &Node, dir: &Path, top_dir: &Path) -> Result<(Arc<Role>, Vec<Item>, Vec<Item>)> {
    let (name_node, extra): (&Node, Vec<&(Node, Node)>) = match &item.kind {
        NodeKind::Scalar(_) => (item, Vec::new()),
        NodeKind::Map(e) => {
            let name = e
                .iter()
                .find(|(k, _)| matches!(k.as_str(), Some("role" | "name")))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    LoadError::at(
                        &item.span,
                        "a role entry needs `role: NAME`",
                        "write `- role: NAME`",
                    )
                })?;
            (
                name,
                e.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), Some("role" | "name")))
                    .collect(),
            )
        }
        NodeKind::Seq(_) => {
            return Err(LoadError::at(
                &item.span,
                "a role entry must be a name or a mapping",
                "write `- NAME` or `- role: NAME`",
            ));
        }
    };
    let name = name_node
        .as_str()
        .ok_or_else(|| {
            LoadError::at(
                &name_node.span,
                "a role name must be a string",
                "quote the name",
            )
        })?
        .to_string();
    let path = find_role(&name, dir, top_dir).ok_or_else(|| {
        LoadError::at(
            &name_node.span,
            format!(
                "the role `{name}` was not found in `{}` or `{}`",
                dir.join("roles").display(),
                dir.display()
            ),
            "put the role in a `roles/` directory beside the playbook",
        )
    })?;
    if let Some(meta) = role_file(&path, "meta")
        && let Some(n) = load_yaml(&meta)?
        && n.get("dependencies").is_some_and(|d| d.to_value().truthy())
    {
        return Err(LoadError::at(
            &n.span,
            format!("role `{name}` has dependencies, which kiln does not support yet"),
            "list the dependency roles in the play before this one",
        ));
    }
    let defaults = role_file(&path, "defaults")
        .map(|f| load_vars_file(&f))
        .transpose()?
        .unwrap_or_default();
    let vars = role_file(&path, "vars")
        .map(|f| load_vars_file(&f))
        .transpose()?
        .unwrap_or_default();
    let mut common = Common::default();
    let mut params = Map::new();
    for (k, v) in extra {
        let key = key_of(k)?;
        match key.as_str() {
            "when" | "tags" | "become" | "become_user" | "become_method" | "become_flags"
            | "ignore_errors" | "no_log" | "check_mode" | "diff" | "environment" | "timeout" => {
                load_common(&mut common, &key, v)?
            }
            "vars" => match v.to_value() {
                Value::Map(m) => params.extend(m),
                _ => {
                    return Err(LoadError::at(
                        &v.span,
                        "`vars` must be a mapping",
                        "write `vars:` then `name: value` lines",
                    ));
                }
            },
            _ => {
                params.insert(Value::str(key), v.to_value());
            }
        }
    }
    let role = Arc::new(Role {
        name: name.clone(),
        path: path.clone(),
        defaults,
        vars,
        params: params.clone(),
        search: SearchPaths(vec![path.clone(), dir.to_path_buf()]),
    });
    let tasks = match role_file(&path, "tasks") {
        Some(f) => match load_yaml(&f)? {
            Some(n) => load_items(&n, &path.join("tasks"), Some(&role), "task")?,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let handlers = match role_file(&path, "handlers") {
        Some(f) => match load_yaml(&f)? {
            Some(n) => load_items(&n, &path.join("handlers"), Some(&role), "handler")?,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    common.vars = params;
    let wrap = |items: Vec<Item>, c: &Common| -> Vec<Item> {
        if items.is_empty() {
            return items;
        }
        vec![Item::Block(Box::new(Block {
            common: c.clone(),
            block: items,
            rescue: Vec::new(),
            always: Vec::new(),
            span: item.span.clone(),
        }))]
    };
    let tasks = wrap(tasks, &common);
    Ok((role, tasks, handlers))
}
