//! Playbooks: the model (plays, blocks, tasks, handlers, roles) and its loader, which reads and
//! checks everything (keywords, module names, literal arguments) before any host is touched.

mod keywords;
pub mod kv;
mod loader;

pub use loader::{LoadError, load_playbook};

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

/// Keywords that blocks and tasks inherit from their parents.
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
    pub ignore_errors: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub no_log: Option<Value>,
    pub environment: Option<Value>,
    /// Seconds a task's action may take before it is stopped and fails.
    pub timeout: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub common: Common,
    /// The module's short name (`copy` for `ansible.builtin.copy`).
    pub action: String,
    /// The module's name as written (`ansible.builtin.copy`), which titles an unnamed task.
    pub written_action: String,
    /// Arguments as written (templated per host at run time).
    pub args: Map,
    pub register: Option<String>,
    pub notify: Vec<String>,
    /// Handler topics (`listen:`), for handlers only.
    pub listen: Vec<String>,
    pub loop_: Option<Value>,
    pub loop_var: String,
    pub index_var: Option<String>,
    pub label: Option<Value>,
    pub changed_when: Option<Value>,
    pub failed_when: Option<Value>,
    pub until: Option<Value>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    pub role: Option<Arc<Role>>,
    pub span: Span,
}

impl Task {
    /// The name shown in `TASK [...]` before templating: the name, or the module.
    pub fn display_name(&self) -> String {
        let base = self
            .common
            .name
            .clone()
            .unwrap_or_else(|| self.written_action.clone());
        match &self.role {
            Some(r) => format!("{} : {base}", r.name),
            None => base,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Block {
    pub common: Common,
    pub block: Vec<Item>,
    pub rescue: Vec<Item>,
    pub always: Vec<Item>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Item {
    Task(Box<Task>),
    Block(Box<Block>),
}

/// A role as loaded for a play: its tasks and handlers are already in the play; what remains
/// is what tasks need at run time.
#[derive(Debug)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    pub defaults: Map,
    pub vars: Map,
    /// The role's params (`- role: x\n  vars: ...` or extra keys).
    pub params: Map,
    pub search: SearchPaths,
}

#[derive(Debug, Clone)]
pub struct Play {
    pub name: String,
    pub hosts: Value,
    pub gather_facts: bool,
    pub common: Common,
    pub vars_files: Vec<Value>,
    pub remote_user: Option<Value>,
    pub connection: Option<String>,
    pub pre_tasks: Vec<Item>,
    /// Role tasks, in role order, then the play's `tasks`.
    pub tasks: Vec<Item>,
    pub post_tasks: Vec<Item>,
    pub handlers: Vec<Item>,
    pub roles: Vec<Arc<Role>>,
    pub force_handlers: bool,
    pub span: Span,
}
