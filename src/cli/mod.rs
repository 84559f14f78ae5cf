//! Command-line definitions, one file per subcommand.

pub mod inventory;
pub mod run;
pub mod validate;
pub mod vault;

use clap::{Parser, Subcommand};

/// kiln: an agentless, Ansible-compatible configuration-management engine.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run playbooks (like `ansible-playbook`).
    Run(Box<run::RunArgs>),
    /// Load and check playbooks without connecting to any host.
    Validate(validate::ValidateArgs),
    /// Show an inventory as Ansible reads it (like `ansible-inventory`).
    Inventory(inventory::InventoryArgs),
    /// Encrypt, decrypt, view and edit vault data (like `ansible-vault`).
    Vault(vault::VaultCmd),
}

/// Exit codes follow Ansible's CLIs.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const PARSE: i32 = 4;
    pub const OPTIONS: i32 = 5;
}

/// A command's failure: what to print and which exit code to return.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code,
        }
    }
}
