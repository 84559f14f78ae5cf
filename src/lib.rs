//! kiln: an agentless, Ansible-compatible configuration-management engine.

pub mod cli;
pub mod config;
pub mod connection;
pub mod diag;
pub mod executor;
pub mod facts;
pub mod inventory;
pub mod modules;
pub mod output;
pub mod playbook;
pub mod template;
pub mod vault;
pub mod yaml;
