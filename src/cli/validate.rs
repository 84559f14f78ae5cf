//! `kiln validate PLAYBOOK...`: load and check everything, connect to nothing.

use super::Failure;
use super::run::load_all;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,
    /// Vault secrets for encrypted playbooks and task files.
    #[command(flatten)]
    pub vault: super::vault::VaultArgs,
}

pub fn run(args: &ValidateArgs) -> Result<String, Failure> {
    let config = super::run::config()?;
    args.vault
        .install_with(super::run::vault_settings(&config)?)?;
    let cx = crate::playbook::LoadCx {
        playbook_dir: PathBuf::new(),
        roles_path: config.paths("roles_path"),
        extra_vars: Default::default(),
    };
    let playbooks = load_all(&args.playbooks, &cx)?;
    let mut out = Vec::new();
    for pb in &playbooks {
        let tasks: usize = pb
            .plays
            .iter()
            .map(|p| p.pre_tasks.len() + p.tasks.len() + p.post_tasks.len())
            .sum();
        out.push(format!(
            "{}: ok ({} plays, {} top-level tasks)",
            pb.path.display(),
            pb.plays.len(),
            tasks
        ));
    }
    Ok(out.join("\n"))
}
