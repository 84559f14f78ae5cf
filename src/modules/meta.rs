//! `meta`: directives to the executor rather than work on a host. The executor carries them
//! all out (it owns the handlers, the hosts' state and their connections); this module only
//! checks the action's name.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use async_trait::async_trait;

pub struct Meta;

/// The meta actions kiln implements; Ansible's `refresh_inventory` is refused at load (kiln
/// reads the inventory once per run).
static SPEC: ArgSpec = ArgSpec {
    options: &[Opt::new("_raw_params", Kind::Str).required().choices(&[
        "clear_facts",
        "clear_host_errors",
        "end_batch",
        "end_host",
        "end_play",
        "end_role",
        "flush_handlers",
        "noop",
        "reset_connection",
    ])],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: true,
    open: false,
};

#[async_trait]
impl Module for Meta {
    fn name(&self) -> &'static str {
        "meta"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, _cx: &TaskCx<'_>, _args: Args) -> TaskResult {
        TaskResult::ok()
    }
}
