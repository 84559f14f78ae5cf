//! Facts: one shell probe per host, parsed into Ansible's `ansible_facts`.
//!
//! [`PROBE`] is a POSIX sh script run as ONE remote command; [`parse`] turns its output into
//! the dict ansible-core 2.19's `setup` module would report for the same host, with the keys
//! as they appear under `ansible_facts` (no `ansible_` prefix, except `ansible_local`), and
//! [`with_prefixes`] gives the legacy top-level `ansible_*` variables.
//!
//! Differences from Ansible, on purpose:
//! - No Python runs on the target, so `python`, `python_version` and `selinux_python_present`
//!   are not reported (playbooks that test `ansible_python_version is defined` see the truth),
//!   and `selinux` is read from selinuxfs instead of the Python bindings.
//! - Network facts come from `ip` like Ansible; without `ip` (minimal containers) they are
//!   read from /sys and /proc/net, where Ansible reports none.
//! - Not gathered (slow or rarely used): `devices`, `device_links`, `lvm` details (reported
//!   as `N/A` only where Ansible would), ethtool `features`/`timestamping`, `facter`, `ohai`,
//!   dmidecode fallbacks, s390 `/proc/sysinfo`.

mod datetime;
mod distribution;
mod hardware;
mod mounts;
mod network;
mod platform;
mod probe;
mod subset;
mod system;
mod user;
mod virt;

pub use probe::PROBE;
pub(crate) use system::from_json;

use crate::yaml::{Map, Value};
use probe::Probe;

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("bad subset `{subset}` given to kiln. gather_subset options allowed: all, {allowed}")]
    BadSubset { subset: String, allowed: String },
    #[error("the facts probe output is incomplete (no end marker): the command was cut short")]
    Incomplete,
}

/// The setup module's `gather_subset` and `filter` options.
#[derive(Debug, Clone, PartialEq)]
pub struct GatherOptions {
    /// As given (`["all"]`, `["!all", "network"]` ...); reported back as the `gather_subset` fact.
    pub gather_subset: Vec<String>,
    /// fnmatch patterns on the top-level fact names (`ansible_*_mb`); empty means everything.
    pub filter: Vec<String>,
}

impl Default for GatherOptions {
    fn default() -> Self {
        GatherOptions {
            gather_subset: vec!["all".to_string()],
            filter: Vec::new(),
        }
    }
}

impl GatherOptions {
    /// Fails on an unknown subset name, as the setup module does.
    pub fn validate(&self) -> Result<(), FactsError> {
        subset::resolve(&self.gather_subset).map(|_| ())
    }
}

/// Parses the probe's output with the default options (`gather_subset: all`, no filter).
/// Incomplete output still yields whatever facts it holds.
pub fn parse(output: &str) -> Map {
    let probe = Probe::read(output);
    collect(&probe, &GatherOptions::default()).unwrap_or_default()
}

/// Parses the probe's output for the given options. Fails on a bad subset, or when the output
/// lacks the probe's end marker.
pub fn parse_with(output: &str, opts: &GatherOptions) -> Result<Map, FactsError> {
    let probe = Probe::read(output);
    if !probe.complete {
        return Err(FactsError::Incomplete);
    }
    collect(&probe, opts)
}

fn collect(p: &Probe, opts: &GatherOptions) -> Result<Map, FactsError> {
    let names = subset::resolve(&opts.gather_subset)?;
    // What the collectors see of each other: everything gathered so far, unfiltered.
    let mut seen = Map::new();
    let mut out = Map::new();
    for col in subset::COLLECTORS {
        if !names.contains(col.name) {
            continue;
        }
        let facts = match col.name {
            "platform" => platform::platform(p),
            "distribution" => distribution::distribution(p),
            "lsb" => distribution::lsb(p),
            "selinux" => system::selinux(p),
            "apparmor" => system::apparmor(p),
            "chroot" => system::chroot(p),
            "fips" => system::fips(p),
            "caps" => system::caps(p),
            "pkg_mgr" => platform::pkg_mgr(p, &seen),
            "service_mgr" => platform::service_mgr(p, &seen),
            "cmdline" => system::cmdline(p),
            "date_time" => datetime::date_time(p),
            "env" => user::env(p),
            "loadavg" => system::loadavg(p),
            "ssh_pub_keys" => system::ssh_pub_keys(p),
            "user" => user::user(p),
            "systemd" => system::systemd(p),
            "virtual" => virt::virtual_facts(p),
            "hardware" => hardware::hardware(p, &seen),
            "dns" => network::dns(p),
            "fibre_channel_wwn" => network::fibre_channel_wwn(p),
            "network" => network::network(p),
            "iscsi" => network::iscsi(p),
            "nvme" => network::nvme(p),
            "local" => system::local(p),
            // python, facter, ohai: nothing to report without those programs on the target.
            _ => Map::new(),
        };
        for (k, v) in facts {
            let Some(k) = k.as_str() else { continue };
            // The setup module prefixes every name and turns `-` into `_` (interface names).
            let module_name = format!("ansible_{}", k.replace('-', "_"));
            seen.insert(Value::str(module_name.clone()), v.clone());
            if subset::filter_allows(&opts.filter, &module_name) {
                out.insert(Value::str(fact_key(&module_name)), v);
            }
        }
    }
    let gs = Value::Seq(opts.gather_subset.iter().cloned().map(Value::Str).collect());
    for (k, v) in [("gather_subset", gs), ("module_setup", Value::Bool(true))] {
        if subset::filter_allows(&opts.filter, k) {
            out.insert(Value::str(k), v);
        }
    }
    out.sort_by(|a, _, b, _| a.as_str().cmp(&b.as_str()));
    Ok(out)
}

/// The key under `ansible_facts` for a module-level name: the `ansible_` prefix comes off,
/// except for `ansible_local` (Ansible's `namespace_facts` keeps that one).
fn fact_key(module_name: &str) -> String {
    if module_name == "ansible_local" {
        return module_name.to_string();
    }
    module_name
        .strip_prefix("ansible_")
        .unwrap_or(module_name)
        .to_string()
}

/// The legacy top-level variables Ansible injects for gathered facts (`INJECT_FACTS_AS_VARS`):
/// `ansible_<key>` for every fact, `gather_subset`/`module_setup`/`ansible_local` as they are,
/// minus the names Ansible's `clean_facts` refuses (connection and become variables,
/// `ansible_*_interpreter`, internal `_ansible_*` keys).
pub fn with_prefixes(facts: &Map) -> Map {
    let mut out = Map::new();
    for (k, v) in facts {
        let Some(k) = k.as_str() else { continue };
        if k.starts_with("_ansible_") {
            continue;
        }
        let name = match k {
            "ansible_local" | "gather_subset" | "module_setup" => k.to_string(),
            _ => format!("ansible_{k}"),
        };
        if restricted(&name) {
            continue;
        }
        out.insert(Value::str(name), v.clone());
    }
    out
}

/// Names `clean_facts` removes from facts before injecting them as variables.
fn restricted(name: &str) -> bool {
    const MAGIC: &[&str] = &[
        "ansible_connection",
        "ansible_module_compression",
        "ansible_shell_type",
        "ansible_shell_executable",
        "ansible_ssh_host",
        "ansible_host",
        "ansible_ssh_user",
        "ansible_user",
        "ansible_ssh_pass",
        "ansible_password",
        "ansible_ssh_port",
        "ansible_port",
        "ansible_ssh_pipelining",
        "ansible_pipelining",
        "ansible_ssh_timeout",
        "ansible_timeout",
        "ansible_ssh_private_key_file",
        "ansible_private_key_file",
        "ansible_network_os",
        "ansible_connection_user",
        "ansible_ssh_executable",
        "ansible_ssh_common_args",
        "ansible_sftp_extra_args",
        "ansible_scp_extra_args",
        "ansible_ssh_extra_args",
        "ansible_ssh_transfer_method",
        "ansible_docker_extra_args",
        "ansible_become",
        "ansible_become_method",
        "ansible_become_user",
        "ansible_become_password",
        "ansible_become_pass",
        "ansible_become_exe",
        "ansible_become_flags",
        "ansible_rsync_path",
        "ansible_playbook_python",
        "ansible_facts",
        "add_host",
        "add_group",
    ];
    // ssh host keys are facts Ansible keeps although they look like ssh connection variables.
    if name.starts_with("ansible_ssh_host_key_") {
        return false;
    }
    if MAGIC.contains(&name) || name.starts_with("ansible_become_") {
        return true;
    }
    if name.starts_with("ansible_") && name.ends_with("_interpreter") {
        return true;
    }
    // Connection plugin variables (`ansible_ssh_*`, `ansible_local_*` ...), except the bridge
    // devices container tools name that way.
    const CONNECTIONS: &[&str] = &["local", "paramiko_ssh", "psrp", "ssh", "winrm"];
    CONNECTIONS.iter().any(|c| {
        name.strip_prefix("ansible_")
            .and_then(|r| r.strip_prefix(c))
            .is_some_and(|r| r.starts_with('_'))
    }) && !(name.ends_with("_bridge") || name.ends_with("_gwbridge"))
}

/// Inserts a string-keyed entry.
pub(crate) fn put(m: &mut Map, key: &str, value: impl Into<Value>) {
    m.insert(Value::str(key), value.into());
}

/// A string value.
pub(crate) fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

/// An int value.
pub(crate) fn int(v: i64) -> Value {
    Value::Int(v as i128)
}

/// A string entry of a map.
pub(crate) fn get_str<'a>(m: &'a Map, key: &str) -> Option<&'a str> {
    m.get(&Value::str(key)).and_then(Value::as_str)
}

/// A list of strings.
pub(crate) fn str_list<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Value {
    Value::Seq(items.into_iter().map(|x| Value::Str(x.into())).collect())
}

#[cfg(test)]
mod tests;
