//! `meta`: directives to kiln itself rather than work on a host. The executor carries out
//! `flush_handlers` (it owns the handlers); the ones that act on a host's connection run here.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use async_trait::async_trait;

pub struct Meta;

/// The meta actions kiln implements; Ansible's others (`end_play`, `end_host`, `end_batch`,
/// `end_role`, `clear_facts`, `clear_host_errors`, `refresh_inventory`) are refused at load.
static SPEC: ArgSpec = ArgSpec {
    options: &[Opt::new("_raw_params", Kind::Str).required().choices(&[
        "noop",
        "flush_handlers",
        "reset_connection",
    ])],
    mutually_exclusive: &[],
    required_one_of: &[],
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
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if args.str("_raw_params").as_deref() == Some("reset_connection") {
            // The next command opens a new connection (new login, new become rights).
            cx.conn.reset().await;
        }
        TaskResult::ok()
    }
}
