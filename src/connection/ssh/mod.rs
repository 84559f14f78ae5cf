//! The `ssh` connection: one SSH session per host (pure Rust, russh), every command a channel
//! on it. Host keys are verified against known_hosts files; `~/.ssh/config` is honoured.

pub mod config;
pub mod known_hosts;
pub mod session;
pub use session::{Ssh, SshTarget};
pub mod resolve;
pub use resolve::SshOptions;
