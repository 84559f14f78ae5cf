//! kiln: an agentless, Ansible-compatible configuration-management engine.

pub mod cli;
pub mod diag;
pub mod inventory;
pub mod output;
pub mod yaml;
