//! `setup` (and `gather_facts` as a task): the facts kiln gathers for a play's
//! `gather_facts`, by the same one-command probe (src/facts/), with the module's
//! `gather_subset`, `filter` and `fact_path`. The facts land in the host's `ansible_facts`.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::facts::{self, GatherOptions};
use crate::try_conn;
use crate::yaml::{Value, python_str};
use async_trait::async_trait;

/// The module under a name: `setup`, or `gather_facts` (which also takes `parallel`).
pub struct Setup(pub &'static str);

const OPTIONS: [Opt; 4] = [
    Opt::new("gather_subset", Kind::List).default("all"),
    // Ansible bounds some slow collectors by it; kiln's probe has none of those.
    Opt::new("gather_timeout", Kind::Int).default("10"),
    Opt::new("filter", Kind::List).default(""),
    Opt::new("fact_path", Kind::Path).default("/etc/ansible/facts.d"),
];

static SETUP_SPEC: ArgSpec = ArgSpec::new(&OPTIONS);

static GATHER_SPEC: ArgSpec = ArgSpec::new(&[
    OPTIONS[0],
    OPTIONS[1],
    OPTIONS[2],
    OPTIONS[3],
    // Hosts are always gathered in parallel (forks bound them).
    Opt::new("parallel", Kind::Bool),
]);

#[async_trait]
impl Module for Setup {
    fn name(&self) -> &'static str {
        self.0
    }
    fn spec(&self) -> &'static ArgSpec {
        if self.0 == "gather_facts" {
            &GATHER_SPEC
        } else {
            &SETUP_SPEC
        }
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let opts = GatherOptions {
            gather_subset: args.list("gather_subset").iter().map(python_str).collect(),
            filter: args.list("filter").iter().map(python_str).collect(),
        };
        if let Err(e) = opts.validate() {
            return TaskResult::failed(e.to_string());
        }
        let fact_path = args
            .str("fact_path")
            .unwrap_or_else(|| "/etc/ansible/facts.d".into());
        let script = format!(
            "sh -c {} kiln {}",
            quote::quote(facts::PROBE),
            quote::quote(&fact_path)
        );
        let out = try_conn!(cx.sh(script).await);
        match facts::parse_with(&out.stdout_text(), &opts) {
            // The module reports its facts prefixed, as Ansible's setup does; the executor
            // strips `ansible_` for `ansible_facts` and injects the prefixed names.
            Ok(f) => {
                let prefixed = facts::with_prefixes(&f);
                TaskResult {
                    data: [(Value::str("ansible_facts"), Value::Map(prefixed.clone()))]
                        .into_iter()
                        .collect(),
                    facts: Some(prefixed),
                    ..TaskResult::ok()
                }
            }
            Err(e) => TaskResult::failed(e.to_string()),
        }
    }
}
