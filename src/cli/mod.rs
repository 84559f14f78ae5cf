//! Command-line definitions, one file per subcommand.

pub mod inventory;

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
    /// Show an inventory as Ansible reads it (like `ansible-inventory`).
    Inventory(inventory::InventoryArgs),
}

/// Exit codes follow Ansible's CLIs.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
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
