//! Roles: found on Ansible's search path, loaded with their defaults, vars, tasks, handlers,
//! `meta/` dependencies and argument specs, for `roles:`, `import_role` and `include_role`
//! alike. A role's tasks become a block marked with the role, inside a block carrying the
//! entry's keywords (so `when`/`tags` of the entry reach the dependencies too).

use super::keywords::ROLE_ENTRY_KEYWORDS;
use super::loader::{
    Acc, ItemCx, LoadCx, LoadError, Result, key_of, literal_bool, load_common, load_items,
    load_vars_file, load_yaml,
};
use super::{Block, Common, Item, Role, Task};
use crate::diag::Span;
use crate::modules::SearchPaths;
use crate::yaml::{self, Map, Node, NodeKind, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a role is asked for: its name and what the entry or include adds.
#[derive(Debug, Clone)]
pub struct RoleSpec {
    pub name: String,
    pub span: Span,
    /// Keywords of a `roles:` or dependency entry (`when`, `tags`, `become`, ...).
    pub common: Common,
    pub params: Map,
    pub entry_vars: Map,
    pub tasks_from: Option<String>,
    pub vars_from: Option<String>,
    pub defaults_from: Option<String>,
    pub handlers_from: Option<String>,
    pub public: bool,
    pub allow_duplicates: Option<bool>,
    /// Whether the role's argument specs are checked (`rolespec_validate`, default yes).
    pub validate: bool,
    pub from_include: bool,
}

impl RoleSpec {
    fn named(name: String, span: Span) -> RoleSpec {
        RoleSpec {
            name,
            span,
            common: Common::default(),
            params: Map::new(),
            entry_vars: Map::new(),
            tasks_from: None,
            vars_from: None,
            defaults_from: None,
            handlers_from: None,
            public: true,
            allow_duplicates: None,
            validate: true,
            from_include: false,
        }
    }
}

/// A loaded role: the role, its task blocks (dependencies first) and its handlers.
pub struct LoadedRole {
    pub role: Arc<Role>,
    pub tasks: Vec<Item>,
    pub handlers: Vec<Item>,
    /// Roles pulled in by `import_role` inside the role's own files.
    pub imported: Vec<Arc<Role>>,
}

/// A `roles:` entry, or a dependency in `meta/main.yml`: a name, or a mapping with `role:`
/// (or `name:`), keywords, `vars:` and parameters.
pub fn entry_spec(item: &Node) -> Result<RoleSpec> {
    match &item.kind {
        NodeKind::Scalar(_) => {
            let name = item.as_str().ok_or_else(|| {
                LoadError::at(&item.span, "a role name must be a string", "quote the name")
            })?;
            Ok(RoleSpec::named(name.to_string(), item.span.clone()))
        }
        NodeKind::Map(e) => {
            let name_node = e
                .iter()
                .find(|(k, _)| matches!(k.as_str(), Some("role")))
                .or_else(|| e.iter().find(|(k, _)| matches!(k.as_str(), Some("name"))))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    LoadError::at(
                        &item.span,
                        "a role entry needs `role: NAME`",
                        "write `- role: NAME`",
                    )
                })?;
            let name = name_node.as_str().ok_or_else(|| {
                LoadError::at(
                    &name_node.span,
                    "a role name must be a string",
                    "quote the name",
                )
            })?;
            let mut spec = RoleSpec::named(name.to_string(), name_node.span.clone());
            let has_role_key = e.iter().any(|(k, _)| k.as_str() == Some("role"));
            for (k, v) in e {
                let key = key_of(k)?;
                if key == "role" || (key == "name" && !has_role_key) {
                    continue;
                }
                if key == "vars" {
                    match v.to_value() {
                        Value::Map(m) => spec.entry_vars = m,
                        Value::Null => {}
                        _ => {
                            return Err(LoadError::at(
                                &v.span,
                                "`vars` must be a mapping",
                                "write `vars:` then `name: value` lines",
                            ));
                        }
                    }
                } else if ROLE_ENTRY_KEYWORDS.contains(&key.as_str()) {
                    load_common(&mut spec.common, &key, v)?;
                } else {
                    // Anything else (`name` beside `role` included) is a role parameter.
                    spec.params.insert(Value::str(key), v.to_value());
                }
            }
            Ok(spec)
        }
        NodeKind::Seq(_) => Err(LoadError::at(
            &item.span,
            "a role entry must be a name or a mapping",
            "write `- NAME` or `- role: NAME`",
        )),
    }
}

/// The options of `import_role` (literal) or of an `include_role` after templating.
fn spec_from_args(args: &Map, span: &Span, from_include: bool) -> Result<RoleSpec> {
    let get = |k: &str| args.get(&Value::str(k)).filter(|v| !v.is_null());
    let name = get("name")
        .map(yaml::python_str)
        .ok_or_else(|| LoadError::at(span, "the role needs a `name`", "write `name: ROLE`"))?;
    let mut spec = RoleSpec::named(name, span.clone());
    spec.from_include = from_include;
    spec.tasks_from = get("tasks_from").map(yaml::python_str);
    spec.vars_from = get("vars_from").map(yaml::python_str);
    spec.defaults_from = get("defaults_from").map(yaml::python_str);
    spec.handlers_from = get("handlers_from").map(yaml::python_str);
    let flag = |k: &str, default: bool| -> Result<bool> {
        match get(k) {
            None => Ok(default),
            Some(v) => crate::modules::spec::to_bool(v).ok_or_else(|| {
                LoadError::at(
                    span,
                    format!("`{k}` must be a boolean"),
                    "use true or false",
                )
            }),
        }
    };
    // import_role exposes the role's variables to the play; include_role only with public.
    spec.public = flag("public", !from_include)?;
    spec.allow_duplicates = match get("allow_duplicates") {
        None => None,
        Some(_) => Some(flag("allow_duplicates", true)?),
    };
    spec.validate = flag("rolespec_validate", true)?;
    Ok(spec)
}

pub(super) fn include_spec(value: &Node, span: &Span, from_include: bool) -> Result<RoleSpec> {
    match value.to_value() {
        Value::Map(m) => spec_from_args(&m, span, from_include),
        Value::Str(s) => spec_from_args(
            &Map::from([(Value::str("name"), Value::str(s))]),
            span,
            from_include,
        ),
        _ => Err(LoadError::at(
            &value.span,
            "import_role takes a mapping with `name:`",
            "write `import_role:` then `name: ROLE`",
        )),
    }
}

/// A literal `include_role`'s arguments are checked while loading; whether the role exists
/// is not: Ansible finds that out when a host reaches the include, and fails that host.
pub(super) fn check_include_args(args: &Map, span: &Span) -> Result<()> {
    spec_from_args(args, span, true).map(|_| ())
}

fn not_found(name: &str, span: &Span, cx: &LoadCx) -> LoadError {
    let searched: Vec<String> = search_dirs(cx, None, &cx.playbook_dir)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    LoadError::structure(
        span,
        format!("the role `{name}` was not found in {}", searched.join(":")),
        "put the role in `roles/` beside the playbook, or add its directory to roles_path (ansible.cfg or ANSIBLE_ROLES_PATH)",
    )
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Ansible's role search path: `roles/` beside the playbook, the roles_path setting (or
/// its default), the playbook's directory; for a dependency, the directory holding the role
/// that depends on it first.
fn search_dirs(cx: &LoadCx, parent: Option<&Role>, dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = parent.and_then(|r| r.path.parent()) {
        dirs.push(p.to_path_buf());
    }
    dirs.push(cx.playbook_dir.join("roles"));
    if dir != cx.playbook_dir {
        dirs.push(dir.join("roles"));
    }
    if cx.roles_path.is_empty() {
        if let Some(h) = home() {
            dirs.push(h.join(".ansible/roles"));
        }
        dirs.push(PathBuf::from("/usr/share/ansible/roles"));
        dirs.push(PathBuf::from("/etc/ansible/roles"));
    } else {
        dirs.extend(cx.roles_path.iter().cloned());
    }
    dirs.push(cx.playbook_dir.clone());
    dirs
}

/// Finds a role's directory. A collection-qualified name (`ns.collection.role`) is looked
/// up in the collection paths, then as a local role of its own full name, then of its last
/// part, so playbooks written against a collection run with a checkout of the role.
pub fn find_role(name: &str, cx: &LoadCx, parent: Option<&Role>, dir: &Path) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_dir().then(|| p.to_path_buf());
    }
    if name.contains('/') {
        return [cx.playbook_dir.join(name), dir.join(name)]
            .into_iter()
            .find(|c| c.is_dir());
    }
    let dirs = search_dirs(cx, parent, dir);
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 3 {
        let mut coll_dirs = vec![cx.playbook_dir.join("collections")];
        if let Some(h) = home() {
            coll_dirs.push(h.join(".ansible/collections"));
        }
        coll_dirs.push(PathBuf::from("/usr/share/ansible/collections"));
        for c in coll_dirs {
            let d = c
                .join("ansible_collections")
                .join(parts[0])
                .join(parts[1])
                .join("roles")
                .join(parts[2]);
            if d.is_dir() {
                return Some(d);
            }
        }
        if let Some(d) = dirs.iter().map(|d| d.join(name)).find(|d| d.is_dir()) {
            return Some(d);
        }
        return dirs.iter().map(|d| d.join(parts[2])).find(|d| d.is_dir());
    }
    dirs.iter().map(|d| d.join(name)).find(|d| d.is_dir())
}

/// A role file: `<role>/<sub>/main` with `.yml`, `.yaml`, `.json` or no extension; for
/// `*_from`, the name as given, then with those extensions.
fn role_file(role: &Path, sub: &str, from: Option<&str>) -> Option<PathBuf> {
    let base = role.join(sub);
    match from {
        None => ["main.yml", "main.yaml", "main.json", "main"]
            .iter()
            .map(|f| base.join(f))
            .find(|p| p.exists()),
        Some(f) => ["", ".yml", ".yaml", ".json"]
            .iter()
            .map(|ext| base.join(format!("{f}{ext}")))
            .find(|p| p.exists()),
    }
}

/// A vars or defaults file, or a directory of them (merged in name order).
fn load_vars_path(path: &Path) -> Result<Map> {
    if path.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        let mut out = Map::new();
        for p in names {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if p.is_dir() || ["yml", "yaml", "json"].contains(&ext) {
                out.extend(load_vars_path(&p)?);
            }
        }
        return Ok(out);
    }
    load_vars_file(path)
}

fn missing_from(role: &str, sub: &str, name: &str, span: &Span) -> LoadError {
    LoadError::at(
        span,
        format!("could not find `{name}` in the `{sub}` directory of the role `{role}`"),
        "check the role's file names",
    )
}

/// What `meta/main.yml` says that kiln acts on.
struct Meta {
    deps: Vec<Node>,
    allow_duplicates: bool,
    argument_specs: Option<Value>,
}

fn load_meta(path: &Path, name: &str) -> Result<Meta> {
    let mut meta = Meta {
        deps: Vec::new(),
        allow_duplicates: false,
        argument_specs: None,
    };
    if let Some(file) = role_file(path, "meta", None)
        && let Some(n) = load_yaml(&file)?
    {
        if let Some(d) = n.get("dependencies") {
            match &d.kind {
                NodeKind::Seq(items) => meta.deps = items.clone(),
                NodeKind::Scalar(Value::Null) => {}
                _ => {
                    return Err(LoadError::at(
                        &d.span,
                        format!("the dependencies of role `{name}` must be a list"),
                        "write `dependencies:` then `- role: NAME` entries",
                    ));
                }
            }
        }
        if let Some(a) = n.get("allow_duplicates") {
            meta.allow_duplicates = literal_bool(a)?;
        }
        meta.argument_specs = n.get("argument_specs").map(Node::to_value);
    }
    // meta/argument_specs.yml wins over meta/main.yml's, without merging, as in Ansible.
    if let Some(file) = role_file(path, "meta", Some("argument_specs"))
        && let Some(n) = load_yaml(&file)?
    {
        meta.argument_specs = n.get("argument_specs").map(Node::to_value);
    }
    Ok(meta)
}

/// The task Ansible puts first in a role whose entry point has an argument spec.
fn validation_task(spec: &Value, entry: &str, role: &Arc<Role>, span: &Span, dir: &Path) -> Task {
    let mut name = format!("Validating arguments against arg spec '{entry}'");
    if let Some(d) = spec
        .as_map()
        .and_then(|m| m.get(&Value::str("short_description")))
    {
        name.push_str(" - ");
        name.push_str(&yaml::python_str(d));
    }
    let options = spec
        .as_map()
        .and_then(|m| m.get(&Value::str("options")))
        .cloned()
        .unwrap_or(Value::Map(Map::new()));
    let mut context = Map::new();
    context.insert(Value::str("type"), Value::str("role"));
    context.insert(Value::str("name"), Value::str(role.name.clone()));
    context.insert(Value::str("argument_spec_name"), Value::str(entry));
    context.insert(
        Value::str("path"),
        Value::str(role.path.display().to_string()),
    );
    let mut args = Map::new();
    args.insert(Value::str("argument_spec"), options);
    args.insert(
        Value::str("provided_arguments"),
        Value::Map(role.params.clone()),
    );
    args.insert(Value::str("validate_args_context"), Value::Map(context));
    Task {
        common: Common {
            name: Some(name),
            tags: vec!["always".into()],
            ..Common::default()
        },
        action: "validate_argument_spec".into(),
        written_action: "ansible.builtin.validate_argument_spec".into(),
        args,
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        loop_: None,
        loop_control: super::LoopControl::default(),
        changed_when: None,
        failed_when: None,
        until: None,
        retries: None,
        delay: None,
        role: Some(role.clone()),
        apply: None,
        dir: dir.to_path_buf(),
        implicit: true,
        span: span.clone(),
    }
}

/// Loads a role and, first, its dependencies. `chain` holds the roles that depend on this
/// one (outermost first); a role found again in its own chain is a cycle.
pub(super) fn load(spec: &RoleSpec, cx: &ItemCx<'_>, chain: &[Arc<Role>]) -> Result<LoadedRole> {
    load_in(spec, cx, chain, true)
}

/// [`load`], where `cycles` says whether `chain` is one of dependencies (which must not
/// cycle) or of roles that include each other at run time, which Ansible lets recurse (the
/// executor bounds how deep).
fn load_in(
    spec: &RoleSpec,
    cx: &ItemCx<'_>,
    chain: &[Arc<Role>],
    cycles: bool,
) -> Result<LoadedRole> {
    let parent = chain.last().map(Arc::as_ref);
    let path = find_role(&spec.name, cx.load, parent, &cx.dir)
        .ok_or_else(|| not_found(&spec.name, &spec.span, cx.load))?;
    // Absolute, as Ansible's role paths are (results and `role_path` show it).
    let path = std::path::absolute(&path).unwrap_or(path);
    if cycles && (chain.iter().any(|r| r.path == path) || chain.len() > 30) {
        return Err(LoadError::structure(
            &spec.span,
            format!("the role `{}` depends on itself", spec.name),
            "remove the cycle from the roles' meta/main.yml dependencies",
        ));
    }
    let meta = load_meta(&path, &spec.name)?;
    let defaults = match &spec.defaults_from {
        None => role_file(&path, "defaults", None)
            .map(|f| load_vars_path(&f))
            .transpose()?
            .unwrap_or_default(),
        Some(f) => load_vars_path(
            &role_file(&path, "defaults", Some(f))
                .ok_or_else(|| missing_from(&spec.name, "defaults", f, &spec.span))?,
        )?,
    };
    let vars = match &spec.vars_from {
        None => role_file(&path, "vars", None)
            .map(|f| load_vars_path(&f))
            .transpose()?
            .unwrap_or_default(),
        Some(f) => load_vars_path(
            &role_file(&path, "vars", Some(f))
                .ok_or_else(|| missing_from(&spec.name, "vars", f, &spec.span))?,
        )?,
    };
    // The role as its dependencies see it above them (variables only).
    let link = Arc::new(Role {
        name: spec.name.clone(),
        path: path.clone(),
        defaults: defaults.clone(),
        vars: vars.clone(),
        entry_vars: spec.entry_vars.clone(),
        params: spec.params.clone(),
        search: SearchPaths(Vec::new()),
        deps: Vec::new(),
        dep_chain: Vec::new(),
        public: spec.public,
        allow_duplicates: true,
        identity: String::new(),
    });
    let mut dep_chain: Vec<Arc<Role>> = chain.to_vec();
    dep_chain.push(link);
    let mut deps = Vec::new();
    let mut dep_items = Vec::new();
    let mut handlers = Vec::new();
    let mut imported = Vec::new();
    for d in &meta.deps {
        let dspec = entry_spec(d)?;
        let loaded = load(&dspec, cx, &dep_chain)?;
        deps.push(loaded.role);
        dep_items.extend(loaded.tasks);
        handlers.extend(loaded.handlers);
        imported.extend(loaded.imported);
    }
    let identity = format!(
        "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
        path.display(),
        crate::output::json::to_string(&Value::Map(spec.params.clone()), None),
        crate::output::json::to_string(&Value::Map(spec.entry_vars.clone()), None),
        spec.tasks_from,
        spec.vars_from,
        spec.defaults_from,
        spec.handlers_from,
        spec.common.when,
        spec.common.tags,
        spec.from_include,
    );
    let role = Arc::new(Role {
        name: spec.name.clone(),
        path: path.clone(),
        defaults,
        vars,
        entry_vars: spec.entry_vars.clone(),
        params: spec.params.clone(),
        search: SearchPaths(vec![path.clone(), cx.load.playbook_dir.clone()]),
        deps,
        dep_chain: chain.to_vec(),
        public: spec.public,
        allow_duplicates: spec.allow_duplicates.unwrap_or(meta.allow_duplicates),
        identity,
    });
    let role_cx = ItemCx {
        load: cx.load,
        dir: path.join("tasks"),
        role: Some(role.clone()),
        what: "task",
        vars: cx.vars,
        chain: Vec::new(),
    };
    let mut acc = Acc::default();
    let tasks_file = match &spec.tasks_from {
        None => role_file(&path, "tasks", None),
        Some(f) => Some(
            role_file(&path, "tasks", Some(f))
                .ok_or_else(|| missing_from(&spec.name, "tasks", f, &spec.span))?,
        ),
    };
    let mut own: Vec<Item> = match tasks_file {
        Some(f) => match load_yaml(&f)? {
            Some(n) => {
                let fcx = ItemCx {
                    dir: f.parent().map(Path::to_path_buf).unwrap_or_default(),
                    chain: vec![f.clone()],
                    ..role_cx.clone()
                };
                load_items(&n, &fcx, &mut acc)?
            }
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let entry = spec.tasks_from.as_deref().unwrap_or("main");
    let entry = entry.rsplit('/').next().unwrap_or(entry);
    let entry = entry
        .strip_suffix(".yml")
        .or_else(|| entry.strip_suffix(".yaml"))
        .unwrap_or(entry);
    if spec.validate
        && let Some(Value::Map(specs)) = &meta.argument_specs
        && let Some(s) = specs.get(&Value::str(entry)).filter(|s| s.truthy())
    {
        own.insert(
            0,
            Item::Task(Box::new(validation_task(
                s,
                entry,
                &role,
                &spec.span,
                &path.join("tasks"),
            ))),
        );
    }
    let handlers_file = match &spec.handlers_from {
        None => role_file(&path, "handlers", None),
        Some(f) => Some(
            role_file(&path, "handlers", Some(f))
                .ok_or_else(|| missing_from(&spec.name, "handlers", f, &spec.span))?,
        ),
    };
    if let Some(f) = handlers_file
        && let Some(n) = load_yaml(&f)?
    {
        let hcx = ItemCx {
            what: "handler",
            dir: f.parent().map(Path::to_path_buf).unwrap_or_default(),
            chain: vec![f.clone()],
            ..role_cx.clone()
        };
        handlers.extend(load_items(&n, &hcx, &mut acc)?);
    }
    handlers.extend(acc.handlers);
    imported.extend(acc.roles);
    let own_block = Item::Block(Box::new(Block {
        common: Common::default(),
        block: own,
        rescue: Vec::new(),
        always: Vec::new(),
        role: Some(role.clone()),
        span: spec.span.clone(),
    }));
    dep_items.push(own_block);
    let outer = Item::Block(Box::new(Block {
        common: spec.common.clone(),
        block: dep_items,
        rescue: Vec::new(),
        always: Vec::new(),
        role: None,
        span: spec.span.clone(),
    }));
    Ok(LoadedRole {
        role,
        tasks: vec![outer],
        handlers,
        imported,
    })
}

/// Loads the role of an `include_role` (its options templated for the host) when a host
/// reaches it.
pub fn load_role_include(args: &Map, vars: Map, from: &Task, cx: &LoadCx) -> Result<LoadedRole> {
    let mut spec = spec_from_args(args, &from.span, true)?;
    spec.entry_vars = vars;
    let vars = cx.extra_vars.clone();
    let icx = ItemCx {
        load: cx,
        dir: from.dir.clone(),
        role: from.role.clone(),
        what: "task",
        vars: &vars,
        chain: Vec::new(),
    };
    let chain: Vec<Arc<Role>> = match &from.role {
        Some(r) => {
            let mut c = r.dep_chain.clone();
            c.push(r.clone());
            c
        }
        None => Vec::new(),
    };
    load_in(&spec, &icx, &chain, false)
}

impl Role {
    /// Every dependency, depth first, in the order they run.
    fn all_deps(&self) -> Vec<Arc<Role>> {
        let mut out = Vec::new();
        for d in &self.deps {
            out.extend(d.all_deps());
            out.push(d.clone());
        }
        out
    }

    /// The defaults a task of this role sees: its dependencies', its parents', its own.
    pub fn default_vars(&self) -> Map {
        let mut m = Map::new();
        for d in self.all_deps() {
            m.extend(d.default_vars());
        }
        for p in &self.dep_chain {
            m.extend(p.defaults.clone());
        }
        m.extend(self.defaults.clone());
        m
    }

    /// The role vars a task sees (`only_exports`: what a public role shows the play): the
    /// parents' vars, the dependencies' exported vars, vars/, then the entry's `vars:`.
    pub fn role_vars(&self, only_exports: bool) -> Map {
        let mut m = Map::new();
        for p in &self.dep_chain {
            if !only_exports {
                m.extend(p.entry_vars.clone());
            }
            m.extend(p.vars.clone());
        }
        let mut seen: Vec<String> = Vec::new();
        for d in self.all_deps() {
            if !seen.contains(&d.identity) {
                m.extend(d.role_vars(true));
                seen.push(d.identity.clone());
            }
        }
        m.extend(self.vars.clone());
        if !only_exports {
            m.extend(self.entry_vars.clone());
        }
        m
    }

    /// Role parameters (inline entry keys), the parents' first.
    pub fn role_params(&self) -> Map {
        let mut m = Map::new();
        for p in &self.dep_chain {
            m.extend(p.params.clone());
        }
        m.extend(self.params.clone());
        m
    }

    /// `ansible_parent_role_names`: the roles above this one, nearest first.
    pub fn parent_names(&self) -> Vec<String> {
        self.dep_chain
            .iter()
            .rev()
            .map(|r| r.name.clone())
            .collect()
    }
}
