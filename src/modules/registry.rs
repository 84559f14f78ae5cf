//! The one table of modules kiln implements, by short name; `ansible.builtin.X` and
//! `ansible.legacy.X` resolve to the same module.

use super::Module;

static MODULES: &[&dyn Module] = &[
    &super::assert::Assert,
    &super::command::Command,
    &super::copy::Copy,
    &super::debug::Debug,
    &super::fail::Fail,
    &super::fetch::Fetch,
    &super::file::File,
    &super::lineinfile::LineInFile,
    &super::meta::Meta,
    &super::ping::Ping,
    &super::command::Raw,
    &super::set_fact::SetFact,
    &super::systemd::Service,
    &super::command::Shell,
    &super::slurp::Slurp,
    &super::stat::Stat,
    &super::systemd::Systemd("systemd_service"),
    &super::systemd::Systemd("systemd"),
    &super::template::Template,
];

/// The short name for a module name as written in a task.
pub fn canonical_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

pub fn lookup(name: &str) -> Option<&'static dyn Module> {
    let short = canonical_name(name);
    MODULES.iter().copied().find(|m| m.name() == short)
}

/// Every module name kiln knows, for "did you mean" hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name())
}
