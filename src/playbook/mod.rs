//! Playbooks: the model (plays, blocks, tasks, handlers, roles) and its loader, which reads and
//! checks everything (keywords, module names, literal arguments, imports, roles) before any
//! host is touched. Dynamic includes (`include_tasks`, `include_role`) stay tasks and are
//! loaded by the executor when a host reaches them, with the same loader.

mod keywords;
pub mod kv;
mod loader;
mod role;

pub use loader::{IncludeLoad, LoadCx, LoadError, load_included_tasks, load_playbook};
pub use role::{RoleSpec, load_role_include};

use crate::diag::Span;
use crate::modules::SearchPaths;
use crate::yaml::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    /// The directory of the top playbook: `playbook_dir`.
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// Keywords that blocks and tasks inherit from their parents (and plays give everything).
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub name: Option<String>,
    /// Conditions that must all hold (a block's apply to every task inside).
    pub when: Vec<Value>,
    pub tags: Vec<String>,
    pub vars: Map,
    pub become_: Option<Value>,
    pub become_user: Option<Value>,
    pub become_method: Option<Value>,
    pub become_flags: Option<Value>,
    pub become_exe: Option<Value>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub no_log: Option<Value>,
    pub environment: Option<Value>,
    /// Seconds a task's action may take before it is stopped and fails.
    pub timeout: Option<Value>,
    pub any_errors_fatal: Option<Value>,
    pub delegate_to: Option<Value>,
    pub delegate_facts: Option<Value>,
    pub run_once: Option<Value>,
    pub throttle: Option<Value>,
    pub remote_user: Option<Value>,
    pub connection: Option<Value>,
    pub port: Option<Value>,
}

/// How a task loops: `loop:`, `with_items:` (flattens one level) or `with_<lookup>:`.
#[derive(Debug, Clone, PartialEq)]
pub enum LoopKind {
    Loop,
    /// `with_<name>`: the lookup plugin `name` turns the terms into the items.
    With(String),
}

#[derive(Debug, Clone)]
pub struct Loop {
    pub kind: LoopKind,
    pub terms: Value,
}

/// `loop_control`.
#[derive(Debug, Clone)]
pub struct LoopControl {
    pub loop_var: String,
    pub index_var: Option<String>,
    pub label: Option<Value>,
    pub pause: Option<Value>,
    pub extended: Option<Value>,
    pub extended_allitems: Option<Value>,
    pub break_when: Vec<Value>,
}

impl Default for LoopControl {
    fn default() -> LoopControl {
        LoopControl {
            loop_var: "item".into(),
            index_var: None,
            label: None,
            pause: None,
            extended: None,
            extended_allitems: None,
            break_when: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub common: Common,
    /// The module's short name (`copy` for `ansible.builtin.copy`), or the executor's own
    /// actions: `include_tasks`, `include_role`, `meta`.
    pub action: String,
    /// The module's name as written (`ansible.builtin.copy`), which titles an unnamed task.
    pub written_action: String,
    /// Arguments as written (templated per host at run time).
    pub args: Map,
    pub register: Option<String>,
    pub notify: Vec<String>,
    /// Handler topics (`listen:`), for handlers only.
    pub listen: Vec<String>,
    pub loop_: Option<Loop>,
    pub loop_control: LoopControl,
    pub changed_when: Option<Value>,
    pub failed_when: Option<Value>,
    pub until: Option<Value>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    pub role: Option<Arc<Role>>,
    /// `apply:` of `include_tasks`/`include_role`: keywords for the included tasks.
    pub apply: Option<Box<Common>>,
    /// The directory of the file this task is written in (includes are found from it).
    pub dir: PathBuf,
    /// Inserted by kiln as Ansible inserts it (a role's argument validation): it is shown,
    /// but `--list-tasks` and `--start-at-task` treat it as Ansible treats implicit tasks.
    pub implicit: bool,
    pub span: Span,
}

impl Task {
    /// The name shown in `TASK [...]` before templating: the name, or the module.
    pub fn display_name(&self) -> String {
        let base = self.common.name.clone().unwrap_or_else(|| {
            // An unnamed include_role is titled with its role, as Ansible does.
            match self.args.get(&Value::str("name")) {
                Some(n) if self.action == "include_role" => {
                    format!("{} : {}", self.written_action, crate::yaml::python_str(n))
                }
                _ => self.written_action.clone(),
            }
        });
        match &self.role {
            // An include_role is titled without the role it is written in, as Ansible does.
            Some(r) if self.action != "include_role" => format!("{} : {base}", r.name),
            _ => base,
        }
    }

    /// The `meta` action asked for (`flush_handlers`, `end_play`, ...), for meta tasks.
    pub fn meta(&self) -> Option<&str> {
        (self.action == "meta")
            .then(|| {
                self.args
                    .get(&Value::str("_raw_params"))
                    .and_then(Value::as_str)
            })
            .flatten()
    }
}

#[derive(Debug, Clone)]
pub struct Block {
    pub common: Common,
    pub block: Vec<Item>,
    pub rescue: Vec<Item>,
    pub always: Vec<Item>,
    /// The role whose tasks this block holds (roles' task lists are wrapped in one block, so
    /// the executor knows when a role has run on a host).
    pub role: Option<Arc<Role>>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Item {
    Task(Box<Task>),
    Block(Box<Block>),
}

/// A role as loaded for a play (or an include): its tasks and handlers are already in the
/// play (or returned to the executor); what remains is what tasks need at run time.
#[derive(Debug)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    /// `defaults/main.yml` (or `defaults_from`).
    pub defaults: Map,
    /// `vars/main.yml` (or `vars_from`).
    pub vars: Map,
    /// `vars:` of the role's entry (`- role: x` with `vars:`): role vars too, above vars/.
    pub entry_vars: Map,
    /// Inline parameters (`- role: x` with `foo: 1`, or a dependency's): role params.
    pub params: Map,
    pub search: SearchPaths,
    /// Direct dependencies (meta/main.yml), in order.
    pub deps: Vec<Arc<Role>>,
    /// The roles that pulled this one in as a dependency, outermost first.
    pub dep_chain: Vec<Arc<Role>>,
    /// Whether its defaults and vars are visible to the whole play (`roles:`, `import_role`,
    /// `include_role` with `public: true`).
    pub public: bool,
    pub allow_duplicates: bool,
    /// What makes two entries of the same role the same role (run once per host): path,
    /// params, vars, entry files, when and tags, as Ansible compares roles.
    pub identity: String,
}

/// A prompt of `vars_prompt`.
#[derive(Debug, Clone)]
pub struct VarsPrompt {
    pub name: String,
    pub prompt: String,
    pub default: Option<Value>,
    pub private: bool,
    pub confirm: bool,
    pub encrypt: Option<String>,
    pub salt_size: Option<Value>,
    pub unsafe_: bool,
}

#[derive(Debug, Clone)]
pub struct Play {
    pub name: String,
    pub hosts: Value,
    /// `gather_facts` as written; `None` follows the `gathering` setting (implicit: yes).
    pub gather_facts: Option<bool>,
    pub gather_subset: Option<Value>,
    pub gather_timeout: Option<Value>,
    pub fact_path: Option<Value>,
    pub common: Common,
    /// Each entry with where it is written (for the warning when it is skipped).
    pub vars_files: Vec<(Value, Span)>,
    pub vars_prompt: Vec<VarsPrompt>,
    pub pre_tasks: Vec<Item>,
    /// Role tasks, in role order, then the play's `tasks`.
    pub tasks: Vec<Item>,
    pub post_tasks: Vec<Item>,
    pub handlers: Vec<Item>,
    /// Roles whose defaults and vars the whole play sees.
    pub roles: Vec<Arc<Role>>,
    pub force_handlers: bool,
    pub serial: Option<Value>,
    pub strategy: Option<String>,
    pub order: Option<String>,
    pub max_fail_percentage: Option<Value>,
    pub span: Span,
}
