//! Reads a playbook and everything it names statically (imported playbooks, task files and
//! roles) into the model, checking keywords, module names and literal module arguments.
//! Every problem is reported with the file, line and column before anything connects to a
//! host. Dynamic includes are checked as far as they can be without a host (their keywords and
//! arguments) and loaded later by [`load_included_tasks`] and `load_role_include`.

use super::VarsPrompt;
use super::keywords::*;
use super::kv::parse_kv;
use super::role;
use super::{Block, Common, Item, Loop, LoopControl, LoopKind, Play, Playbook, Role, Task};
use crate::diag::{Located, Span, suggest};
use crate::modules;
use crate::yaml::{self, Map, Node, NodeKind, Value, YamlError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    At(Box<Located>),
    /// Not a syntax or parse error but a playbook that names what is not there (a role, an
    /// imported file) or loops on itself: ansible-playbook stops with exit code 1 for it,
    /// not 4.
    #[error("{0}")]
    Structure(Box<Located>),
    #[error(transparent)]
    Yaml(#[from] YamlError),
}

impl LoadError {
    pub(super) fn at(
        span: &Span,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> LoadError {
        LoadError::At(Box::new(Located::new(span.clone(), message).hint(hint)))
    }

    pub(super) fn structure(
        span: &Span,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> LoadError {
        LoadError::Structure(Box::new(Located::new(span.clone(), message).hint(hint)))
    }

    /// ansible-playbook's exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            LoadError::Structure(_) => 1,
            _ => 4,
        }
    }

    pub fn render(&self) -> String {
        match self {
            LoadError::Yaml(e) => e.located().map_or_else(|| e.to_string(), |l| l.to_string()),
            LoadError::At(l) | LoadError::Structure(l) => l.to_string(),
        }
    }

    /// The message alone, for a failed task's result.
    pub fn message(&self) -> String {
        match self {
            LoadError::At(l) | LoadError::Structure(l) => l.message.clone(),
            LoadError::Yaml(e) => e.to_string(),
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, LoadError>;

/// What loading needs beyond the files: where roles live, and the variables that static
/// names (`import_tasks: "{{ x }}.yml"`) may use — extra vars and play vars, as in Ansible.
#[derive(Debug, Clone, Default)]
pub struct LoadCx {
    pub playbook_dir: PathBuf,
    /// `roles_path` (ansible.cfg / `ANSIBLE_ROLES_PATH`), searched after `roles/` beside
    /// the playbook.
    pub roles_path: Vec<PathBuf>,
    pub extra_vars: Map,
}

/// Modules of ansible-core that kiln does not implement yet: named so the error says
/// "not supported yet" instead of "unknown".
const ANSIBLE_MODULES: &[&str] = &[
    "add_host",
    "assemble",
    "async_status",
    "debconf",
    "dpkg_selections",
    "expect",
    "group_by",
    "iptables",
    "known_hosts",
    "mount_facts",
    "rpm_key",
    "script",
    "sysvinit",
];

/// The executor's own actions, which are not modules.
pub const INCLUDE_TASKS: &str = "include_tasks";
pub const IMPORT_TASKS: &str = "import_tasks";
pub const INCLUDE_ROLE: &str = "include_role";
pub const IMPORT_ROLE: &str = "import_role";

/// The action a task key names, when it is one of the include/import actions.
fn include_action(key: &str) -> Option<&'static str> {
    let short = modules::canonical_name(key);
    if key.contains('.')
        && !key.starts_with("ansible.builtin.")
        && !key.starts_with("ansible.legacy.")
    {
        return None;
    }
    [INCLUDE_TASKS, IMPORT_TASKS, INCLUDE_ROLE, IMPORT_ROLE]
        .into_iter()
        .find(|a| *a == short)
}

fn entries(node: &Node) -> Option<&Vec<(Node, Node)>> {
    match &node.kind {
        NodeKind::Map(e) => Some(e),
        _ => None,
    }
}

pub(super) fn key_of(k: &Node) -> Result<String> {
    k.as_str()
        .map(str::to_string)
        .ok_or_else(|| LoadError::at(&k.span, "keys here must be strings", "quote the key"))
}

pub(super) fn load_yaml(path: &Path) -> Result<Option<Node>> {
    let loaded = yaml::load_file(path)?;
    for w in &loaded.warnings {
        eprintln!("[WARNING]: {} ({})", w.message, w.span);
    }
    Ok(loaded.node)
}

/// Loads the playbook at `path` and everything it imports.
pub fn load_playbook(path: &Path, cx: &LoadCx) -> Result<Playbook> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let mut cx = cx.clone();
    cx.playbook_dir = dir.clone();
    let mut plays = Vec::new();
    load_plays(path, &cx, &mut plays, &mut vec![path.to_path_buf()])?;
    Ok(Playbook {
        path: path.to_path_buf(),
        dir,
        plays,
    })
}

fn load_plays(
    path: &Path,
    cx: &LoadCx,
    plays: &mut Vec<Play>,
    chain: &mut Vec<PathBuf>,
) -> Result<()> {
    let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
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
            if let Some((other, _)) = map.iter().find(|(kk, _)| {
                kk.as_str() != k.as_str()
                    && !matches!(kk.as_str(), Some("name" | "vars" | "tags" | "when"))
            }) {
                return Err(LoadError::at(
                    &other.span,
                    format!(
                        "`{}` is not a valid keyword for import_playbook",
                        other.as_str().unwrap_or_default()
                    ),
                    "import_playbook takes `name`, `vars`, `tags` and `when`",
                ));
            }
            let Some(file) = v.as_str() else {
                return Err(LoadError::at(
                    &v.span,
                    "import_playbook needs a file name",
                    "write `import_playbook: other.yml`",
                ));
            };
            let file = static_name(file, &cx.extra_vars, &v.span, "import_playbook")?;
            let target = dir.join(&file);
            if !target.exists() {
                return Err(LoadError::at(
                    &v.span,
                    format!("could not find the imported playbook `{file}`"),
                    "paths are relative to the importing playbook",
                ));
            }
            if chain.contains(&target) {
                return Err(LoadError::at(
                    &v.span,
                    format!(
                        "`{file}` imports itself (through {} playbooks)",
                        chain.len()
                    ),
                    "remove the cycle of import_playbook",
                ));
            }
            // The import's own keywords apply to every play it brings in.
            let mut outer = Common::default();
            for (kk, vv) in map {
                let key = key_of(kk)?;
                if key != "import_playbook"
                    && key != "ansible.builtin.import_playbook"
                    && key != "name"
                {
                    load_common(&mut outer, &key, vv)?;
                }
            }
            let before = plays.len();
            chain.push(target.clone());
            load_plays(&target, cx, plays, chain)?;
            chain.pop();
            for p in &mut plays[before..] {
                p.common.when.splice(0..0, outer.when.iter().cloned());
                p.common.tags.splice(0..0, outer.tags.iter().cloned());
                let mut vars = outer.vars.clone();
                vars.extend(std::mem::take(&mut p.common.vars));
                p.common.vars = vars;
            }
            continue;
        }
        plays.push(load_play(item, &dir, cx)?);
    }
    Ok(())
}

/// A static name (import_playbook, import_tasks, import_role): literal, or templated with the
/// variables known before any host is (extra vars, play vars).
fn static_name(text: &str, vars: &Map, span: &Span, what: &str) -> Result<String> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(text.to_string());
    }
    let templar = crate::template::Templar::new();
    templar
        .template_str(text, vars)
        .map(|v| yaml::python_str(&v))
        .map_err(|e| {
            LoadError::at(
                span,
                format!("the {what} name `{text}` cannot be templated before the play runs: {e}"),
                "imports are resolved when the playbook loads, before any host variable exists; use extra vars or play vars, or the dynamic include_tasks/include_role",
            )
        })
}

/// Rejects words that are not keywords here: a typo gets a suggestion, a known but
/// unsupported keyword a clear refusal.
pub(super) fn check_keyword(
    k: &Node,
    key: &str,
    supported: &[&str],
    known: &[&str],
    what: &str,
) -> Result<()> {
    if supported.contains(&key) {
        return Ok(());
    }
    if known.contains(&key) {
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

/// What loading a play's task lists collects on the way: handlers and roles that
/// `import_role` brings in.
#[derive(Default)]
pub(super) struct Acc {
    pub handlers: Vec<Item>,
    pub roles: Vec<Arc<Role>>,
}

/// Where items are being read: the file's directory, the role they belong to, whether they
/// are handlers, the variables static names may use, and the files being imported (cycles).
#[derive(Clone)]
pub(super) struct ItemCx<'a> {
    pub load: &'a LoadCx,
    pub dir: PathBuf,
    pub role: Option<Arc<Role>>,
    pub what: &'static str,
    pub vars: &'a Map,
    pub chain: Vec<PathBuf>,
}

fn load_play(node: &Node, dir: &Path, cx: &LoadCx) -> Result<Play> {
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
        gather_facts: None,
        gather_subset: None,
        gather_timeout: None,
        fact_path: None,
        common: Common::default(),
        vars_files: Vec::new(),
        vars_prompt: Vec::new(),
        pre_tasks: Vec::new(),
        tasks: Vec::new(),
        post_tasks: Vec::new(),
        handlers: Vec::new(),
        roles: Vec::new(),
        force_handlers: false,
        serial: None,
        strategy: None,
        order: None,
        max_fail_percentage: None,
        span: node.span.clone(),
    };
    let mut sections: [Option<&Node>; 5] = [None; 5];
    for (k, v) in map {
        let key = key_of(k)?;
        check_keyword(k, &key, PLAY_SUPPORTED, PLAY_KNOWN, "play")?;
        match key.as_str() {
            "hosts" => play.hosts = v.to_value(),
            "gather_facts" => play.gather_facts = Some(literal_bool(v)?),
            "gather_subset" => play.gather_subset = Some(v.to_value()),
            "gather_timeout" => play.gather_timeout = Some(v.to_value()),
            "fact_path" => play.fact_path = Some(v.to_value()),
            "force_handlers" => play.force_handlers = literal_bool(v)?,
            "vars_files" => {
                play.vars_files = match &v.kind {
                    NodeKind::Seq(items) => items
                        .iter()
                        .map(|i| (i.to_value(), i.span.clone()))
                        .collect(),
                    _ => match v.to_value() {
                        Value::Null => Vec::new(),
                        other => vec![(other, v.span.clone())],
                    },
                }
            }
            "vars_prompt" => play.vars_prompt = load_vars_prompt(v)?,
            "serial" => play.serial = Some(v.to_value()),
            "strategy" => {
                let s = v.as_str().unwrap_or_default().to_string();
                if !matches!(
                    s.as_str(),
                    "linear" | "free" | "ansible.builtin.linear" | "ansible.builtin.free"
                ) {
                    return Err(LoadError::at(
                        &v.span,
                        format!("the strategy `{s}` is not supported by kiln"),
                        "kiln runs the `linear` (default) and `free` strategies",
                    ));
                }
                play.strategy = Some(s.trim_start_matches("ansible.builtin.").to_string());
            }
            "order" => {
                let s = v.as_str().unwrap_or_default().to_string();
                if !matches!(
                    s.as_str(),
                    "inventory" | "reverse_inventory" | "sorted" | "reverse_sorted" | "shuffle"
                ) {
                    return Err(LoadError::at(
                        &v.span,
                        format!("`{s}` is not a valid order"),
                        "order is one of inventory, reverse_inventory, sorted, reverse_sorted, shuffle",
                    ));
                }
                play.order = Some(s);
            }
            "max_fail_percentage" => play.max_fail_percentage = Some(v.to_value()),
            "pre_tasks" => sections[0] = Some(v),
            "roles" => sections[1] = Some(v),
            "tasks" => sections[2] = Some(v),
            "post_tasks" => sections[3] = Some(v),
            "handlers" => sections[4] = Some(v),
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
    let mut vars = cx.extra_vars.clone();
    for (k, v) in &play.common.vars {
        vars.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let icx = ItemCx {
        load: cx,
        dir: dir.to_path_buf(),
        role: None,
        what: "task",
        vars: &vars,
        chain: Vec::new(),
    };
    let mut acc = Acc::default();
    if let Some(v) = sections[0] {
        play.pre_tasks = load_items(v, &icx, &mut acc)?;
    }
    if let Some(roles) = sections[1] {
        let NodeKind::Seq(items) = &roles.kind else {
            return Err(LoadError::at(
                &roles.span,
                "`roles` must be a list",
                "write `roles: [name]`",
            ));
        };
        for item in items {
            let spec = role::entry_spec(item)?;
            let loaded = role::load(&spec, &icx, &[])?;
            acc.roles.push(loaded.role);
            play.tasks.extend(loaded.tasks);
            acc.handlers.extend(loaded.handlers);
        }
    }
    if let Some(t) = sections[2] {
        play.tasks.extend(load_items(t, &icx, &mut acc)?);
    }
    if let Some(t) = sections[3] {
        play.post_tasks = load_items(t, &icx, &mut acc)?;
    }
    // Roles' handlers come first, then the play's own, as Ansible compiles them.
    if let Some(h) = sections[4] {
        let hcx = ItemCx {
            what: "handler",
            ..icx.clone()
        };
        let own = load_items(h, &hcx, &mut acc)?;
        acc.handlers.extend(own);
    }
    play.handlers = acc.handlers;
    play.roles = acc.roles;
    Ok(play)
}

fn load_vars_prompt(v: &Node) -> Result<Vec<VarsPrompt>> {
    let NodeKind::Seq(items) = &v.kind else {
        return Err(LoadError::at(
            &v.span,
            "`vars_prompt` must be a list",
            "write `vars_prompt:` then `- name: x` entries",
        ));
    };
    let mut out = Vec::new();
    for item in items {
        let Some(map) = entries(item) else {
            return Err(LoadError::at(
                &item.span,
                "a vars_prompt entry must be a mapping",
                "write `- name: x` and `prompt: ...`",
            ));
        };
        let mut p = VarsPrompt {
            name: String::new(),
            prompt: String::new(),
            default: None,
            private: true,
            confirm: false,
            encrypt: None,
            salt_size: None,
            unsafe_: false,
        };
        for (k, val) in map {
            let key = key_of(k)?;
            match key.as_str() {
                "name" => p.name = yaml::python_str(&val.to_value()),
                "prompt" => p.prompt = yaml::python_str(&val.to_value()),
                "default" => p.default = Some(val.to_value()),
                "private" => p.private = literal_bool(val)?,
                "confirm" => p.confirm = literal_bool(val)?,
                "encrypt" => p.encrypt = Some(yaml::python_str(&val.to_value())),
                "salt_size" => p.salt_size = Some(val.to_value()),
                "unsafe" => p.unsafe_ = literal_bool(val)?,
                "salt" => {}
                other => {
                    return Err(LoadError::at(
                        &k.span,
                        format!("`{other}` is not a valid vars_prompt key"),
                        "vars_prompt entries take name, prompt, default, private, confirm, encrypt, salt_size, salt, unsafe",
                    ));
                }
            }
        }
        if p.name.is_empty() {
            return Err(LoadError::at(
                &item.span,
                "a vars_prompt entry needs a `name`",
                "add `name: VARIABLE`",
            ));
        }
        if p.prompt.is_empty() {
            p.prompt = p.name.clone();
        }
        out.push(p);
    }
    Ok(out)
}

pub(super) fn literal_bool(v: &Node) -> Result<bool> {
    match v.to_value() {
        Value::Bool(b) => Ok(b),
        other => modules::spec::to_bool(&other)
            .ok_or_else(|| LoadError::at(&v.span, "expected a boolean", "use true or false")),
    }
}

/// Keywords shared by plays, blocks and tasks.
pub(super) fn load_common(c: &mut Common, key: &str, v: &Node) -> Result<()> {
    common_value(c, key, v.to_value(), &v.span)
}

/// As `load_common`, for a value already loaded (`apply:` of an include).
fn common_value(c: &mut Common, key: &str, val: Value, span: &Span) -> Result<()> {
    match key {
        "name" => c.name = Some(crate::yaml::python_str(&val)),
        "when" => {
            c.when = match val {
                Value::Seq(items) => items,
                Value::Null => Vec::new(),
                other => vec![other],
            }
        }
        "tags" => c.tags = tag_list(&val),
        "vars" => match val {
            Value::Map(m) => c.vars = m,
            Value::Null => {}
            _ => {
                return Err(LoadError::at(
                    span,
                    "`vars` must be a mapping",
                    "write `vars:` followed by `name: value` lines",
                ));
            }
        },
        "become" => c.become_ = Some(val),
        "become_user" => c.become_user = Some(val),
        "become_method" => c.become_method = Some(val),
        "become_flags" => c.become_flags = Some(val),
        "become_exe" => c.become_exe = Some(val),
        "ignore_errors" => c.ignore_errors = Some(val),
        "ignore_unreachable" => c.ignore_unreachable = Some(val),
        "check_mode" => c.check_mode = Some(val),
        "diff" => c.diff = Some(val),
        "no_log" => c.no_log = Some(val),
        "environment" => c.environment = Some(val),
        "timeout" => c.timeout = Some(val),
        "any_errors_fatal" => c.any_errors_fatal = Some(val),
        "delegate_to" => c.delegate_to = Some(val),
        "delegate_facts" => c.delegate_facts = Some(val),
        "run_once" => c.run_once = Some(val),
        "throttle" => c.throttle = Some(val),
        "remote_user" => c.remote_user = Some(val),
        "connection" => c.connection = Some(val),
        "port" => c.port = Some(val),
        _ => {}
    }
    Ok(())
}

/// Tags as Ansible reads them: a list, or a comma-separated string.
pub(super) fn tag_list(val: &Value) -> Vec<String> {
    match val {
        Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
        Value::Str(s) => s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        Value::Null => Vec::new(),
        other => vec![crate::yaml::python_str(other)],
    }
}

pub(super) fn load_items(node: &Node, cx: &ItemCx<'_>, acc: &mut Acc) -> Result<Vec<Item>> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Scalar(Value::Null) => return Ok(Vec::new()),
        _ => {
            return Err(LoadError::at(
                &node.span,
                format!("a list of {}s was expected here", cx.what),
                "start each one with `- name: ...`",
            ));
        }
    };
    items.iter().map(|n| load_item(n, cx, acc)).collect()
}

fn load_item(node: &Node, cx: &ItemCx<'_>, acc: &mut Acc) -> Result<Item> {
    let map = entries(node).ok_or_else(|| {
        LoadError::at(
            &node.span,
            format!("a {} must be a mapping", cx.what),
            "write `- name: ...` then the module on the next line",
        )
    })?;
    if map.iter().any(|(k, _)| k.as_str() == Some("block")) {
        return load_block(node, map, cx, acc);
    }
    if let Some((k, v)) = map.iter().find(|(k, _)| {
        k.as_str()
            .and_then(include_action)
            .is_some_and(|a| a == IMPORT_TASKS || a == IMPORT_ROLE)
    }) {
        return load_import(node, map, k, v, cx, acc);
    }
    load_task(node, map, cx).map(|t| Item::Task(Box::new(t)))
}

fn load_block(node: &Node, map: &[(Node, Node)], cx: &ItemCx<'_>, acc: &mut Acc) -> Result<Item> {
    let mut b = Block {
        common: Common::default(),
        block: Vec::new(),
        rescue: Vec::new(),
        always: Vec::new(),
        role: None,
        span: node.span.clone(),
    };
    for (k, v) in map {
        let key = key_of(k)?;
        check_keyword(k, &key, BLOCK_SUPPORTED, BLOCK_KNOWN, "block")?;
        match key.as_str() {
            "block" => b.block = load_items(v, cx, acc)?,
            "rescue" => b.rescue = load_items(v, cx, acc)?,
            "always" => b.always = load_items(v, cx, acc)?,
            _ => load_common(&mut b.common, &key, v)?,
        }
    }
    Ok(Item::Block(Box::new(b)))
}

/// Finds a task file named by an include or import: below the role's `tasks/` for role
/// tasks, then beside the file being read, then in the playbook's directory.
pub(super) fn find_task_file(
    name: &str,
    dir: &Path,
    role: Option<&Role>,
    playbook_dir: &Path,
) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let mut candidates = Vec::new();
    if let Some(r) = role {
        candidates.push(r.path.join("tasks").join(name));
        candidates.push(r.path.join(name));
    }
    candidates.push(dir.join(name));
    candidates.push(playbook_dir.join(name));
    candidates.into_iter().find(|c| c.is_file())
}

/// `import_tasks` and `import_role`: read now; the import's keywords become a block around
/// what it brings in, so everything inside inherits them (tags and `when` included).
fn load_import(
    node: &Node,
    map: &[(Node, Node)],
    key: &Node,
    value: &Node,
    cx: &ItemCx<'_>,
    acc: &mut Acc,
) -> Result<Item> {
    let action = key
        .as_str()
        .and_then(include_action)
        .unwrap_or(IMPORT_TASKS);
    let mut common = Common::default();
    for (k, v) in map {
        let kk = key_of(k)?;
        if k.as_str() == key.as_str() {
            continue;
        }
        if kk == "loop" || kk == "loop_control" || is_with_loop(&kk) {
            return Err(LoadError::at(
                &k.span,
                format!("you cannot use loops on `{action}` statements"),
                if action == IMPORT_TASKS {
                    "use `include_tasks` instead"
                } else {
                    "use `include_role` instead"
                },
            ));
        }
        check_keyword(k, &kk, TASK_SUPPORTED, TASK_KNOWN, cx.what)?;
        if matches!(
            kk.as_str(),
            "register"
                | "notify"
                | "listen"
                | "args"
                | "action"
                | "until"
                | "retries"
                | "delay"
                | "changed_when"
                | "failed_when"
                | "local_action"
        ) {
            return Err(LoadError::at(
                &k.span,
                format!("`{kk}` is not valid on `{action}`"),
                "put it on the imported tasks",
            ));
        }
        load_common(&mut common, &kk, v)?;
    }
    let mut block = Block {
        common,
        block: Vec::new(),
        rescue: Vec::new(),
        always: Vec::new(),
        role: None,
        span: node.span.clone(),
    };
    if action == IMPORT_ROLE {
        let spec = role::include_spec(value, &node.span, false)?;
        let loaded = role::load(&spec, cx, &[])?;
        acc.roles.push(loaded.role.clone());
        acc.handlers.extend(loaded.handlers);
        block.block = loaded.tasks;
        // The import's own name is not shown; the tasks' role names are.
        block.common.name = None;
        return Ok(Item::Block(Box::new(block)));
    }
    let file = match value.to_value() {
        Value::Str(s) => s,
        Value::Map(m) => m
            .get(&Value::str("file"))
            .or_else(|| m.get(&Value::str("_raw_params")))
            .map(yaml::python_str)
            .unwrap_or_default(),
        _ => String::new(),
    };
    if file.is_empty() {
        return Err(LoadError::at(
            &value.span,
            "import_tasks needs a file name",
            "write `import_tasks: other.yml`",
        ));
    }
    let file = static_name(&file, cx.vars, &value.span, "import_tasks")?;
    let path = find_task_file(&file, &cx.dir, cx.role.as_deref(), &cx.load.playbook_dir)
        .ok_or_else(|| {
            LoadError::structure(
                &value.span,
                format!("could not find the task file `{file}` to import"),
                "paths are relative to the file that imports them (or the role's tasks/)",
            )
        })?;
    if cx.chain.contains(&path) {
        return Err(LoadError::structure(
            &value.span,
            format!("`{file}` imports itself"),
            "remove the cycle of import_tasks",
        ));
    }
    let mut inner = cx.clone();
    inner.chain.push(path.clone());
    inner.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    block.block = match load_yaml(&path)? {
        Some(n) => load_items(&n, &inner, acc)?,
        None => Vec::new(),
    };
    block.common.name = None;
    Ok(Item::Block(Box::new(block)))
}

/// What a dynamic include reads when a host reaches it.
pub struct IncludeLoad {
    pub items: Vec<Item>,
    /// Handlers brought in by `import_role` inside the file.
    pub handlers: Vec<Item>,
    pub roles: Vec<Arc<Role>>,
    pub path: PathBuf,
}

/// Loads the task file of an `include_tasks`, found from the including task.
pub fn load_included_tasks(
    file: &str,
    from: &Task,
    cx: &LoadCx,
    handler: bool,
    depth: usize,
) -> Result<IncludeLoad> {
    if depth > 40 {
        return Err(LoadError::at(
            &from.span,
            format!("include_tasks of `{file}` nests more than 40 levels deep"),
            "an included file includes itself: remove the recursion or give it an end",
        ));
    }
    let path = find_task_file(file, &from.dir, from.role.as_deref(), &cx.playbook_dir).ok_or_else(
        || {
            LoadError::at(
                &from.span,
                format!("could not find or access `{file}`"),
                "paths are relative to the file that includes them (or the role's tasks/)",
            )
        },
    )?;
    let vars = cx.extra_vars.clone();
    let icx = ItemCx {
        load: cx,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        role: from.role.clone(),
        what: if handler { "handler" } else { "task" },
        vars: &vars,
        chain: vec![path.clone()],
    };
    let mut acc = Acc::default();
    let items = match load_yaml(&path)? {
        Some(n) => load_items(&n, &icx, &mut acc)?,
        None => Vec::new(),
    };
    Ok(IncludeLoad {
        items,
        handlers: acc.handlers,
        roles: acc.roles,
        path,
    })
}

fn is_module_key(key: &str) -> bool {
    modules::lookup(key).is_some()
}

fn new_task(node: &Node, cx: &ItemCx<'_>) -> Task {
    Task {
        common: Common::default(),
        action: String::new(),
        written_action: String::new(),
        args: Map::new(),
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        loop_: None,
        loop_control: LoopControl::default(),
        changed_when: None,
        failed_when: None,
        until: None,
        retries: None,
        delay: None,
        role: cx.role.clone(),
        apply: None,
        dir: cx.dir.clone(),
        implicit: false,
        span: node.span.clone(),
    }
}

fn string_list(v: &Node) -> Vec<String> {
    match v.to_value() {
        Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
        Value::Null => Vec::new(),
        other => vec![crate::yaml::python_str(&other)],
    }
}

fn load_loop_control(task: &mut Task, v: &Node) -> Result<()> {
    let Some(lc) = entries(v) else {
        return Err(LoadError::at(
            &v.span,
            "`loop_control` must be a mapping",
            "write `loop_control:` then `loop_var: name`",
        ));
    };
    for (lk, lv) in lc {
        let c = &mut task.loop_control;
        match lk.as_str().unwrap_or_default() {
            "loop_var" => c.loop_var = lv.as_str().unwrap_or("item").to_string(),
            "index_var" => c.index_var = lv.as_str().map(str::to_string),
            "label" => c.label = Some(lv.to_value()),
            "pause" => c.pause = Some(lv.to_value()),
            "extended" => c.extended = Some(lv.to_value()),
            "extended_allitems" => c.extended_allitems = Some(lv.to_value()),
            "break_when" => {
                c.break_when = match lv.to_value() {
                    Value::Seq(items) => items,
                    Value::Null => Vec::new(),
                    other => vec![other],
                }
            }
            other => {
                return Err(LoadError::at(
                    &lk.span,
                    format!("`{other}` is not a valid loop_control key"),
                    "loop_control takes loop_var, index_var, label, pause, extended, extended_allitems, break_when",
                ));
            }
        }
    }
    Ok(())
}

fn load_task(node: &Node, map: &[(Node, Node)], cx: &ItemCx<'_>) -> Result<Task> {
    let mut task = new_task(node, cx);
    let mut action: Option<(&Node, &Node, String)> = None;
    let mut args_kw: Option<&Node> = None;
    let mut include_keys: Vec<&Node> = Vec::new();
    for (k, v) in map {
        let key = key_of(k)?;
        if key == "include" || key == "ansible.builtin.include" {
            return Err(LoadError::at(
                &k.span,
                "`include` was removed from Ansible (2.16)",
                "use `include_tasks` (dynamic) or `import_tasks` (static)",
            ));
        }
        if is_with_loop(&key) || key == "loop" {
            if task.loop_.is_some() {
                return Err(LoadError::at(
                    &k.span,
                    "a task can have only one loop",
                    "keep one of `loop`/`with_*`",
                ));
            }
            let kind = match key.strip_prefix("with_") {
                Some(lookup) => LoopKind::With(lookup.to_string()),
                None => LoopKind::Loop,
            };
            task.loop_ = Some(Loop {
                kind,
                terms: v.to_value(),
            });
            include_keys.push(k);
            continue;
        }
        if TASK_SUPPORTED.contains(&key.as_str()) && key != "action" && key != "local_action" {
            include_keys.push(k);
            match key.as_str() {
                "args" => args_kw = Some(v),
                "register" => task.register = v.as_str().map(str::to_string),
                "notify" => task.notify = string_list(v),
                "listen" => task.listen = string_list(v),
                "loop_control" => load_loop_control(&mut task, v)?,
                "changed_when" => task.changed_when = Some(v.to_value()),
                "failed_when" => task.failed_when = Some(v.to_value()),
                "until" => task.until = Some(v.to_value()),
                "retries" => task.retries = Some(v.to_value()),
                "delay" => task.delay = Some(v.to_value()),
                _ => load_common(&mut task.common, &key, v)?,
            }
            continue;
        }
        if key == "action"
            || key == "local_action"
            || is_module_key(&key)
            || include_action(&key).is_some()
        {
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
        if ANSIBLE_MODULES.contains(&short) && !key.contains('.')
            || key.starts_with("ansible.builtin.") && ANSIBLE_MODULES.contains(&short)
        {
            return Err(LoadError::at(
                &k.span,
                format!("the module `{key}` is not supported by kiln yet"),
                "see docs/compat.md for the modules kiln implements",
            ));
        }
        if TASK_KNOWN.contains(&key.as_str()) {
            check_keyword(k, &key, TASK_SUPPORTED, TASK_KNOWN, cx.what)?;
        }
        let mut candidates: Vec<String> = modules::names().map(str::to_string).collect();
        candidates.extend(modules::names().map(|n| format!("ansible.builtin.{n}")));
        candidates.extend(TASK_SUPPORTED.iter().map(|s| s.to_string()));
        candidates
            .extend([INCLUDE_TASKS, IMPORT_TASKS, INCLUDE_ROLE, IMPORT_ROLE].map(String::from));
        let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
        let hint = suggest(&key, &refs).map_or_else(
            || "check the spelling; see docs/compat.md for the modules kiln implements".to_string(),
            |s| format!("did you mean `{s}`?"),
        );
        return Err(LoadError::at(
            &k.span,
            format!(
                "couldn't resolve module/action `{key}`: it is neither a module kiln knows nor a {} keyword",
                cx.what
            ),
            hint,
        ));
    }
    let Some((k, v, key)) = action else {
        return Err(LoadError::at(
            &node.span,
            format!("no module/action detected in this {}", cx.what),
            "add one module, e.g. `ansible.builtin.debug: msg=hello`",
        ));
    };
    let (name, mut args) = if key == "action" || key == "local_action" {
        if key == "local_action" {
            task.common.delegate_to = Some(Value::str("localhost"));
        }
        action_value(v, &key)?
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
    if let Some(inc) = include_action(&name) {
        return finish_include(task, inc, &name, args, &include_keys, k, v);
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

/// `action:`/`local_action:`: `module k=v ...` or a mapping with `module:`.
fn action_value(v: &Node, key: &str) -> Result<(String, Map)> {
    match v.to_value() {
        Value::Str(text) | Value::Unsafe(text) => {
            let (m, rest) = text
                .trim()
                .split_once(char::is_whitespace)
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .unwrap_or((text.trim().to_string(), String::new()));
            if !is_module_key(&m) && include_action(&m).is_none() {
                return Err(LoadError::at(
                    &v.span,
                    format!("couldn't resolve module/action `{m}`"),
                    "check the module name",
                ));
            }
            let args = parse_args(&m, &Value::str(rest), &v.span)?;
            Ok((m, args))
        }
        Value::Map(mut m) => {
            let module = m
                .shift_remove(&Value::str("module"))
                .map(|v| yaml::python_str(&v))
                .ok_or_else(|| {
                    LoadError::at(
                        &v.span,
                        format!("`{key}` as a mapping needs `module:`"),
                        "write `module: NAME` and its arguments beside it",
                    )
                })?;
            if !is_module_key(&module) && include_action(&module).is_none() {
                return Err(LoadError::at(
                    &v.span,
                    format!("couldn't resolve module/action `{module}`"),
                    "check the module name",
                ));
            }
            Ok((module, m))
        }
        _ => Err(LoadError::at(
            &v.span,
            format!("`{key}` must be a string or a mapping"),
            "write `action: module k=v`",
        )),
    }
}

/// `include_tasks` and `include_role`: checked now (keywords, arguments), loaded per host
/// when the executor reaches them.
#[allow(clippy::too_many_arguments)]
fn finish_include(
    mut task: Task,
    action: &'static str,
    written: &str,
    args: Map,
    keys: &[&Node],
    k: &Node,
    v: &Node,
) -> Result<Task> {
    for key in keys {
        let name = key.as_str().unwrap_or_default();
        let allowed = INCLUDE_KEYWORDS.contains(&name) || is_with_loop(name) || name == "loop";
        if !allowed {
            return Err(LoadError::at(
                &key.span,
                format!("`{name}` is not a valid attribute for {action}"),
                "keywords for the included tasks go in `apply:`",
            ));
        }
    }
    let valid: &[&str] = if action == INCLUDE_TASKS {
        &["file", "_raw_params", "apply"]
    } else {
        &[
            "name",
            "tasks_from",
            "vars_from",
            "defaults_from",
            "handlers_from",
            "apply",
            "public",
            "allow_duplicates",
            "rolespec_validate",
        ]
    };
    for key in args.keys() {
        let name = yaml::python_str(key);
        if !valid.contains(&name.as_str()) {
            return Err(LoadError::at(
                &v.span,
                format!("invalid options for {action}: {name}"),
                format!("{action} takes {}", valid.join(", ")),
            ));
        }
    }
    let has_name = if action == INCLUDE_TASKS {
        args.contains_key(&Value::str("file")) || args.contains_key(&Value::str("_raw_params"))
    } else {
        args.contains_key(&Value::str("name"))
    };
    if !has_name {
        return Err(LoadError::at(
            &k.span,
            if action == INCLUDE_TASKS {
                "include_tasks needs a file name"
            } else {
                "include_role needs the role's `name`"
            },
            if action == INCLUDE_TASKS {
                "write `include_tasks: other.yml` or `file: other.yml`"
            } else {
                "write `include_role:` then `name: ROLE`"
            },
        ));
    }
    let mut args = args;
    // `apply:` is an argument of the include: keywords for what it includes.
    if let Some(a) = args.shift_remove(&Value::str("apply")) {
        let Value::Map(m) = a else {
            return Err(LoadError::at(
                &v.span,
                "`apply` must be a mapping of keywords",
                "write `apply:` then `tags: [...]`, `become: true`, ...",
            ));
        };
        let mut c = Common::default();
        for (ak, av) in m {
            let key = yaml::python_str(&ak);
            if !BLOCK_SUPPORTED.contains(&key.as_str())
                || matches!(key.as_str(), "block" | "rescue" | "always")
            {
                return Err(LoadError::at(
                    &v.span,
                    format!("`{key}` is not a valid keyword for `apply`"),
                    "apply takes block keywords (tags, become, when, vars, ...)",
                ));
            }
            common_value(&mut c, &key, av, &v.span)?;
        }
        task.apply = Some(Box::new(c));
    }
    if action == INCLUDE_ROLE && !contains_template(&Value::Map(args.clone())) {
        role::check_include_args(&args, &v.span)?;
    }
    task.action = action.to_string();
    task.written_action = written.to_string();
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
            if matches!(short, "include_tasks" | "import_tasks") {
                // A file name, possibly followed by k=v pairs (Ansible's free-form include).
                let mut m = parse_kv(s, false)
                    .map_err(|e| LoadError::at(span, e, "quote values that contain spaces"))?;
                if let Some(f) = m.shift_remove(&Value::str("_raw_params")) {
                    m.insert(Value::str("file"), f);
                }
                return Ok(m);
            }
            if matches!(short, "include_role" | "import_role") {
                let mut m = Map::new();
                m.insert(Value::str("name"), Value::str(s.clone()));
                return Ok(m);
            }
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

pub(super) fn load_vars_file(path: &Path) -> Result<Map> {
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
