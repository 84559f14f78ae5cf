//! `docker_container` (community.docker): a container's life cycle through the target's
//! `docker` CLI. As community.docker does, it reads `docker inspect` of the container and its
//! image, computes for every option the task sets the value Docker would report, compares
//! (strict, or `allow_more_present` for sets and dicts, as `comparisons` says) and recreates
//! the container when an option that cannot be updated differs; limits that can be updated
//! are changed with `docker update`, networks with `docker network connect`/`disconnect`.

use super::docker_common::{self as dc, Docker};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use serde_json::Value as J;
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

pub struct DockerContainer;

static NETWORK_OPTS: [Opt; 8] = [
    Opt::new("name", Kind::Str).required(),
    Opt::new("ipv4_address", Kind::Str),
    Opt::new("ipv6_address", Kind::Str),
    Opt::new("links", Kind::List).elements(Kind::Str),
    Opt::new("aliases", Kind::List).elements(Kind::Str),
    Opt::new("mac_address", Kind::Str)
        .unsupported("a network's MAC address needs Docker API 1.44 and a newer docker CLI"),
    Opt::new("driver_opts", Kind::Dict)
        .unsupported("endpoint driver options are not passed by kiln's docker CLI calls"),
    Opt::new("gw_priority", Kind::Int).unsupported("needs Docker API 1.48"),
];

static HEALTH_OPTS: [Opt; 7] = [
    Opt::new("test", Kind::Raw),
    Opt::new("test_cli_compatible", Kind::Bool).default("false"),
    Opt::new("interval", Kind::Str),
    Opt::new("timeout", Kind::Str),
    Opt::new("retries", Kind::Int),
    Opt::new("start_period", Kind::Str),
    Opt::new("start_interval", Kind::Str).unsupported("needs Docker API 1.44"),
];

const NEEDS_NEWER: &str = "the docker CLI kiln drives (API 1.41) has no flag for it";

static MOUNT_OPTS: [Opt; 18] = [
    Opt::new("target", Kind::Str).required(),
    Opt::new("source", Kind::Str),
    Opt::new("type", Kind::Str)
        .default("volume")
        .choices(&["bind", "npipe", "tmpfs", "volume", "cluster", "image"]),
    Opt::new("read_only", Kind::Bool),
    Opt::new("consistency", Kind::Str).choices(&["cached", "consistent", "default", "delegated"]),
    Opt::new("propagation", Kind::Str).choices(&[
        "private", "rprivate", "shared", "rshared", "slave", "rslave",
    ]),
    Opt::new("no_copy", Kind::Bool),
    Opt::new("labels", Kind::Dict),
    Opt::new("volume_driver", Kind::Str),
    Opt::new("volume_options", Kind::Dict),
    Opt::new("tmpfs_size", Kind::Str),
    Opt::new("tmpfs_mode", Kind::Str),
    Opt::new("non_recursive", Kind::Bool).unsupported(NEEDS_NEWER),
    Opt::new("create_mountpoint", Kind::Bool).unsupported(NEEDS_NEWER),
    Opt::new("read_only_non_recursive", Kind::Bool).unsupported(NEEDS_NEWER),
    Opt::new("read_only_force_recursive", Kind::Bool).unsupported(NEEDS_NEWER),
    Opt::new("subpath", Kind::Str).unsupported(NEEDS_NEWER),
    Opt::new("tmpfs_options", Kind::List).unsupported(NEEDS_NEWER),
];

static RATE_BPS: [Opt; 2] = [
    Opt::new("path", Kind::Str).required(),
    Opt::new("rate", Kind::Str).required(),
];
static RATE_IOPS: [Opt; 2] = [
    Opt::new("path", Kind::Str).required(),
    Opt::new("rate", Kind::Int).required(),
];

fn list_str(name: &'static str) -> Opt {
    Opt::new(name, Kind::List).elements(Kind::Str)
}

static OPTS: LazyLock<Vec<Opt>> = LazyLock::new(|| {
    vec![
        Opt::new("name", Kind::Str).required(),
        Opt::new("image", Kind::Str),
        Opt::new("state", Kind::Str)
            .default("started")
            .choices(&["absent", "present", "healthy", "stopped", "started"])
            .required_if(&[("present", &["image"])]),
        Opt::new("cleanup", Kind::Bool).default("false"),
        Opt::new("comparisons", Kind::Dict),
        Opt::new("container_default_behavior", Kind::Str)
            .default("no_defaults")
            .choices(&["compatibility", "no_defaults"]),
        Opt::new("command_handling", Kind::Str)
            .default("correct")
            .choices(&["compatibility", "correct"]),
        Opt::new("default_host_ip", Kind::Str),
        Opt::new("force_kill", Kind::Bool)
            .default("false")
            .aliases(&["forcekill"]),
        Opt::new("image_comparison", Kind::Str)
            .default("desired-image")
            .choices(&["desired-image", "current-image"]),
        Opt::new("image_label_mismatch", Kind::Str)
            .default("ignore")
            .choices(&["ignore", "fail"]),
        Opt::new("image_name_mismatch", Kind::Str)
            .default("recreate")
            .choices(&["ignore", "recreate"]),
        Opt::new("keep_volumes", Kind::Bool).default("true"),
        Opt::new("kill_signal", Kind::Str),
        Opt::new("networks_cli_compatible", Kind::Bool).default("true"),
        Opt::new("output_logs", Kind::Bool).default("false"),
        Opt::new("paused", Kind::Bool),
        Opt::new("pull", Kind::Raw)
            .default("missing")
            .choices(&["never", "missing", "always", "True", "False"]),
        Opt::new("pull_check_mode_behavior", Kind::Str)
            .default("image_not_present")
            .choices(&["image_not_present", "always"]),
        Opt::new("recreate", Kind::Bool).default("false"),
        Opt::new("removal_wait_timeout", Kind::Float),
        Opt::new("restart", Kind::Bool).default("false"),
        Opt::new("healthy_wait_timeout", Kind::Float).default("300"),
        // Container options.
        Opt::new("auto_remove", Kind::Bool),
        Opt::new("blkio_weight", Kind::Int),
        list_str("capabilities"),
        list_str("cap_drop"),
        Opt::new("cgroupns_mode", Kind::Str).choices(&["private", "host"]),
        Opt::new("cgroup_parent", Kind::Str),
        Opt::new("command", Kind::Raw),
        Opt::new("cpu_period", Kind::Int),
        Opt::new("cpu_quota", Kind::Int),
        Opt::new("cpuset_cpus", Kind::Str),
        Opt::new("cpuset_mems", Kind::Str),
        Opt::new("cpu_shares", Kind::Int),
        list_str("entrypoint"),
        Opt::new("cpus", Kind::Float),
        Opt::new("detach", Kind::Bool),
        Opt::new("interactive", Kind::Bool),
        list_str("devices"),
        Opt::new("device_read_bps", Kind::List)
            .elements(Kind::Dict)
            .suboptions(&RATE_BPS),
        Opt::new("device_write_bps", Kind::List)
            .elements(Kind::Dict)
            .suboptions(&RATE_BPS),
        Opt::new("device_read_iops", Kind::List)
            .elements(Kind::Dict)
            .suboptions(&RATE_IOPS),
        Opt::new("device_write_iops", Kind::List)
            .elements(Kind::Dict)
            .suboptions(&RATE_IOPS),
        Opt::new("device_requests", Kind::List)
            .elements(Kind::Dict)
            .unsupported("GPU requests are not passed by kiln's docker CLI calls"),
        list_str("device_cgroup_rules"),
        list_str("dns_servers"),
        list_str("dns_opts"),
        list_str("dns_search_domains"),
        Opt::new("domainname", Kind::Str),
        Opt::new("env", Kind::Dict),
        Opt::new("env_file", Kind::Path),
        Opt::new("etc_hosts", Kind::Dict),
        list_str("exposed_ports").aliases(&["exposed", "expose"]),
        list_str("groups"),
        Opt::new("healthcheck", Kind::Dict).suboptions(&HEALTH_OPTS),
        Opt::new("hostname", Kind::Str),
        Opt::new("init", Kind::Bool),
        Opt::new("ipc_mode", Kind::Str),
        Opt::new("kernel_memory", Kind::Str),
        Opt::new("labels", Kind::Dict),
        list_str("links"),
        Opt::new("log_driver", Kind::Str),
        Opt::new("log_options", Kind::Dict)
            .aliases(&["log_opt"])
            .requires(&["log_driver"]),
        Opt::new("mac_address", Kind::Str),
        Opt::new("memory", Kind::Str),
        Opt::new("memory_reservation", Kind::Str),
        Opt::new("memory_swap", Kind::Str),
        Opt::new("memory_swappiness", Kind::Int),
        Opt::new("stop_timeout", Kind::Int),
        Opt::new("network_mode", Kind::Str),
        Opt::new("networks", Kind::List)
            .elements(Kind::Dict)
            .suboptions(&NETWORK_OPTS),
        Opt::new("oom_killer", Kind::Bool),
        Opt::new("oom_score_adj", Kind::Int),
        Opt::new("pid_mode", Kind::Str),
        Opt::new("pids_limit", Kind::Int),
        Opt::new("platform", Kind::Str)
            .unsupported("platform comparisons are not implemented by kiln yet"),
        Opt::new("privileged", Kind::Bool),
        Opt::new("read_only", Kind::Bool),
        Opt::new("restart_policy", Kind::Str).choices(&[
            "no",
            "on-failure",
            "always",
            "unless-stopped",
        ]),
        Opt::new("restart_retries", Kind::Int).requires(&["restart_policy"]),
        Opt::new("runtime", Kind::Str),
        list_str("security_opts"),
        Opt::new("shm_size", Kind::Str),
        Opt::new("stop_signal", Kind::Str),
        Opt::new("storage_opts", Kind::Dict),
        Opt::new("sysctls", Kind::Dict),
        list_str("tmpfs"),
        Opt::new("tty", Kind::Bool),
        list_str("ulimits"),
        Opt::new("user", Kind::Str),
        Opt::new("userns_mode", Kind::Str),
        Opt::new("uts", Kind::Str),
        Opt::new("volume_driver", Kind::Str),
        list_str("volumes_from"),
        Opt::new("working_dir", Kind::Str),
        Opt::new("mounts", Kind::List)
            .elements(Kind::Dict)
            .suboptions(&MOUNT_OPTS),
        list_str("volumes"),
        Opt::new("publish_all_ports", Kind::Bool),
        list_str("published_ports").aliases(&["ports"]),
    ]
});

static SPEC: LazyLock<ArgSpec> = LazyLock::new(|| dc::spec(&OPTS, false, &[], &[]));

#[async_trait]
impl Module for DockerContainer {
    fn name(&self) -> &'static str {
        "docker_container"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        dc::COLLECTIONS
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        run(cx, args).await
    }
}

// ---- comparisons ------------------------------------------------------------------------------

/// How an option's value is compared (community.docker's comparison types).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Cmp {
    Value,
    List,
    Set,
    SetDict,
    Dict,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Strict,
    Ignore,
    More,
}

/// An option of the container's state: how it is compared, and whether `docker update`
/// can change it without recreating the container.
struct Comparable {
    name: &'static str,
    aliases: &'static [&'static str],
    cmp: Cmp,
    updatable: bool,
    /// An option the task cannot name in `comparisons` (kiln's own derived values).
    internal: bool,
}

const fn c(name: &'static str, cmp: Cmp) -> Comparable {
    Comparable {
        name,
        aliases: &[],
        cmp,
        updatable: false,
        internal: false,
    }
}

const fn upd(name: &'static str, cmp: Cmp) -> Comparable {
    Comparable {
        updatable: true,
        ..c(name, cmp)
    }
}

use Cmp::{Dict as D, List as L, Set as S, SetDict as SD, Value as V};

static COMPARABLES: &[Comparable] = &[
    c("auto_remove", V),
    upd("blkio_weight", V),
    c("capabilities", S),
    c("cap_drop", S),
    c("cgroupns_mode", V),
    c("cgroup_parent", V),
    c("command", L),
    upd("cpu_period", V),
    upd("cpu_quota", V),
    upd("cpuset_cpus", V),
    upd("cpuset_mems", V),
    upd("cpu_shares", V),
    c("entrypoint", L),
    c("cpus", V),
    c("detach", V),
    c("interactive", V),
    c("devices", SD),
    c("device_read_bps", SD),
    c("device_write_bps", SD),
    c("device_read_iops", SD),
    c("device_write_iops", SD),
    c("device_requests", SD),
    c("device_cgroup_rules", L),
    c("dns_servers", L),
    c("dns_opts", S),
    c("dns_search_domains", L),
    c("domainname", V),
    c("env", S),
    c("etc_hosts", S),
    c("groups", S),
    c("healthcheck", D),
    c("hostname", V),
    c("image", V),
    c("init", V),
    c("ipc_mode", V),
    upd("kernel_memory", V),
    c("labels", D),
    c("links", S),
    c("log_driver", V),
    Comparable {
        aliases: &["log_opt"],
        ..c("log_options", D)
    },
    c("mac_address", V),
    upd("memory", V),
    upd("memory_reservation", V),
    upd("memory_swap", V),
    c("memory_swappiness", V),
    c("stop_timeout", V),
    c("network_mode", V),
    c("networks", SD),
    c("oom_killer", V),
    c("oom_score_adj", V),
    c("pid_mode", V),
    c("pids_limit", V),
    c("platform", V),
    c("privileged", V),
    c("read_only", V),
    upd("restart_policy", V),
    upd("restart_retries", V),
    c("runtime", V),
    c("security_opts", S),
    c("shm_size", V),
    c("stop_signal", V),
    c("storage_opts", D),
    c("sysctls", D),
    c("tmpfs", D),
    c("tty", V),
    c("ulimits", SD),
    c("user", V),
    c("userns_mode", V),
    c("uts", V),
    c("volume_driver", V),
    c("volumes_from", S),
    c("working_dir", V),
    c("mounts", SD),
    c("volumes", S),
    Comparable {
        internal: true,
        ..c("volume_binds", S)
    },
    Comparable {
        aliases: &["exposed", "expose"],
        ..c("exposed_ports", S)
    },
    c("publish_all_ports", V),
    Comparable {
        aliases: &["ports"],
        ..c("published_ports", D)
    },
];

fn comparable(name: &str) -> Option<&'static Comparable> {
    COMPARABLES.iter().find(|o| o.name == name)
}

fn default_mode(o: &Comparable) -> Mode {
    match (o.name, o.cmp) {
        ("stop_timeout", _) => Mode::Ignore,
        (_, Cmp::Value | Cmp::List) => Mode::Strict,
        _ => Mode::More,
    }
}

/// The comparison mode of every option, from the defaults and the task's `comparisons`.
fn comparison_modes(args: &Args) -> Result<HashMap<&'static str, Mode>, String> {
    let mut modes: HashMap<&'static str, Mode> = COMPARABLES
        .iter()
        .map(|o| (o.name, default_mode(o)))
        .collect();
    let Some(Value::Map(wanted)) = args.get("comparisons") else {
        return Ok(modes);
    };
    let parse = |v: &Value| match crate::yaml::python_str(v).as_str() {
        "strict" => Some(Mode::Strict),
        "ignore" => Some(Mode::Ignore),
        "allow_more_present" => Some(Mode::More),
        _ => None,
    };
    if let Some(v) = wanted.get(&Value::str("*")) {
        let mode = parse(v)
            .filter(|m| *m != Mode::More)
            .ok_or("The wildcard can only be used with comparison modes 'strict' and 'ignore'!")?;
        for o in COMPARABLES {
            // `networks` only takes the wildcard when the task lists networks.
            if o.name == "networks" && args.get("networks").is_none() {
                continue;
            }
            modes.insert(o.name, mode);
        }
    }
    let mut used: HashMap<&str, String> = HashMap::new();
    for (k, v) in wanted {
        let key = crate::yaml::python_str(k);
        if key == "*" {
            continue;
        }
        let Some(o) = COMPARABLES
            .iter()
            .find(|o| !o.internal && (o.name == key || o.aliases.contains(&key.as_str())))
        else {
            return Err(format!(
                "Unknown module option '{key}' in comparisons dict!"
            ));
        };
        if let Some(other) = used.get(o.name) {
            return Err(format!(
                "Both '{key}' and '{other}' (aliases of {}) are specified in comparisons dict!",
                o.name
            ));
        }
        used.insert(o.name, key.clone());
        let mode = parse(v)
            .ok_or_else(|| format!("Unknown comparison mode '{}'!", crate::yaml::python_str(v)))?;
        if mode == Mode::More && o.cmp == Cmp::Value {
            return Err(format!(
                "Option '{key}' is a value and not a set/list/dict, so its comparison cannot be allow_more_present"
            ));
        }
        modes.insert(o.name, mode);
    }
    let volumes = modes["volumes"];
    modes.insert("volume_binds", volumes);
    Ok(modes)
}

/// Python's `==` on JSON values: numbers by value, `True == 1`.
fn py_eq(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Bool(x), J::Number(n)) | (J::Number(n), J::Bool(x)) => {
            n.as_f64() == Some(f64::from(u8::from(*x)))
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| py_eq(a, b))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => a == b,
    }
}

fn py_len(v: &J) -> usize {
    match v {
        J::Array(a) => a.len(),
        J::Object(o) => o.len(),
        J::String(s) => s.chars().count(),
        _ => 1,
    }
}

/// Python's `set(v)`: a list's items or a dict's keys, as comparable text.
fn py_set(v: &J) -> std::collections::BTreeSet<String> {
    match v {
        J::Array(a) => a.iter().map(J::to_string).collect(),
        J::Object(o) => o.keys().map(|k| J::String(k.clone()).to_string()).collect(),
        other => std::iter::once(other.to_string()).collect(),
    }
}

fn dict_subset(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Object(a), J::Object(b)) => {
            a.iter().all(|(k, v)| b.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => false,
    }
}

/// community.docker's `compare_generic`: whether `a` (the task's) matches `b` (Docker's).
fn compare(a: &J, b: &J, mode: Mode, cmp: Cmp) -> bool {
    if mode == Mode::Ignore {
        return true;
    }
    if a.is_null() || b.is_null() {
        if a.is_null() && b.is_null() {
            return true;
        }
        if cmp == Cmp::Value {
            return false;
        }
        if mode == Mode::More && a.is_null() {
            return true;
        }
        return py_len(if a.is_null() { b } else { a }) == 0;
    }
    match cmp {
        Cmp::Value => py_eq(a, b),
        Cmp::List => {
            if mode == Mode::Strict {
                return py_eq(a, b);
            }
            let (J::Array(a), J::Array(b)) = (a, b) else {
                return py_eq(a, b);
            };
            let mut i = 0;
            for v in a {
                while i < b.len() && !py_eq(&b[i], v) {
                    i += 1;
                }
                if i == b.len() {
                    return false;
                }
                i += 1;
            }
            true
        }
        Cmp::Dict => {
            if mode == Mode::Strict {
                py_eq(a, b)
            } else {
                dict_subset(a, b)
            }
        }
        Cmp::Set => {
            let (sa, sb) = (py_set(a), py_set(b));
            if mode == Mode::Strict {
                sa == sb
            } else {
                sa.is_subset(&sb)
            }
        }
        Cmp::SetDict => {
            let (J::Array(a), J::Array(b)) = (a, b) else {
                return false;
            };
            let covered =
                |xs: &[J], ys: &[J]| xs.iter().all(|x| ys.iter().any(|y| dict_subset(x, y)));
            covered(a, b)
                && (mode != Mode::Strict || b.iter().all(|y| a.iter().any(|x| dict_subset(x, y))))
        }
    }
}

// ---- the task's values as Docker would report them ----------------------------------------------

/// Where a plain option lives in `docker inspect`, and how the CLI sets it.
#[derive(Clone, Copy)]
enum Conv {
    Str,
    Int,
    Bool,
    Bytes,
    /// Bytes, or `unlimited`/`-1` as -1 (`memory_swap`).
    SwapBytes,
    StrList,
    /// A dict of strings set as `--flag k=v` (`sysctls`, `storage_opts`).
    KvDict,
    /// `etc_hosts`: `host:ip` strings, `--add-host`.
    ExtraHosts,
    Devices,
    RateBps,
    RateIops,
    Ulimits,
    Tmpfs,
    Links,
    Cpus,
    /// `container:NAME` resolved to the container's ID (`ipc_mode`, `pid_mode`).
    ContainerRef,
    Mac,
}

struct Plain {
    name: &'static str,
    host_config: bool,
    key: &'static str,
    flag: &'static str,
    conv: Conv,
}

const fn h(name: &'static str, key: &'static str, flag: &'static str, conv: Conv) -> Plain {
    Plain {
        name,
        host_config: true,
        key,
        flag,
        conv,
    }
}

const fn cf(name: &'static str, key: &'static str, flag: &'static str, conv: Conv) -> Plain {
    Plain {
        name,
        host_config: false,
        key,
        flag,
        conv,
    }
}

static PLAIN: &[Plain] = &[
    h("auto_remove", "AutoRemove", "--rm", Conv::Bool),
    h("blkio_weight", "BlkioWeight", "--blkio-weight", Conv::Int),
    h("capabilities", "CapAdd", "--cap-add", Conv::StrList),
    h("cap_drop", "CapDrop", "--cap-drop", Conv::StrList),
    h("cgroupns_mode", "CgroupnsMode", "--cgroupns", Conv::Str),
    h(
        "cgroup_parent",
        "CgroupParent",
        "--cgroup-parent",
        Conv::Str,
    ),
    h("cpu_period", "CpuPeriod", "--cpu-period", Conv::Int),
    h("cpu_quota", "CpuQuota", "--cpu-quota", Conv::Int),
    h("cpuset_cpus", "CpusetCpus", "--cpuset-cpus", Conv::Str),
    h("cpuset_mems", "CpusetMems", "--cpuset-mems", Conv::Str),
    h("cpu_shares", "CpuShares", "--cpu-shares", Conv::Int),
    h("cpus", "NanoCpus", "--cpus", Conv::Cpus),
    h("devices", "Devices", "--device", Conv::Devices),
    h(
        "device_read_bps",
        "BlkioDeviceReadBps",
        "--device-read-bps",
        Conv::RateBps,
    ),
    h(
        "device_write_bps",
        "BlkioDeviceWriteBps",
        "--device-write-bps",
        Conv::RateBps,
    ),
    h(
        "device_read_iops",
        "BlkioDeviceReadIOps",
        "--device-read-iops",
        Conv::RateIops,
    ),
    h(
        "device_write_iops",
        "BlkioDeviceWriteIOps",
        "--device-write-iops",
        Conv::RateIops,
    ),
    h(
        "device_cgroup_rules",
        "DeviceCgroupRules",
        "--device-cgroup-rule",
        Conv::StrList,
    ),
    h("dns_servers", "Dns", "--dns", Conv::StrList),
    h("dns_opts", "DnsOptions", "--dns-option", Conv::StrList),
    h(
        "dns_search_domains",
        "DnsSearch",
        "--dns-search",
        Conv::StrList,
    ),
    cf("domainname", "Domainname", "--domainname", Conv::Str),
    h("etc_hosts", "ExtraHosts", "--add-host", Conv::ExtraHosts),
    h("groups", "GroupAdd", "--group-add", Conv::StrList),
    cf("hostname", "Hostname", "--hostname", Conv::Str),
    h("init", "Init", "--init", Conv::Bool),
    h("ipc_mode", "IpcMode", "--ipc", Conv::ContainerRef),
    h(
        "kernel_memory",
        "KernelMemory",
        "--kernel-memory",
        Conv::Bytes,
    ),
    h("links", "Links", "--link", Conv::Links),
    cf("mac_address", "MacAddress", "--mac-address", Conv::Mac),
    h("memory", "Memory", "--memory", Conv::Bytes),
    h(
        "memory_reservation",
        "MemoryReservation",
        "--memory-reservation",
        Conv::Bytes,
    ),
    h(
        "memory_swap",
        "MemorySwap",
        "--memory-swap",
        Conv::SwapBytes,
    ),
    h(
        "memory_swappiness",
        "MemorySwappiness",
        "--memory-swappiness",
        Conv::Int,
    ),
    cf("stop_timeout", "StopTimeout", "--stop-timeout", Conv::Int),
    h(
        "oom_killer",
        "OomKillDisable",
        "--oom-kill-disable",
        Conv::Bool,
    ),
    h("oom_score_adj", "OomScoreAdj", "--oom-score-adj", Conv::Int),
    h("pid_mode", "PidMode", "--pid", Conv::ContainerRef),
    h("pids_limit", "PidsLimit", "--pids-limit", Conv::Int),
    h("privileged", "Privileged", "--privileged", Conv::Bool),
    h("read_only", "ReadonlyRootfs", "--read-only", Conv::Bool),
    h("runtime", "Runtime", "--runtime", Conv::Str),
    h(
        "security_opts",
        "SecurityOpt",
        "--security-opt",
        Conv::StrList,
    ),
    h("shm_size", "ShmSize", "--shm-size", Conv::Bytes),
    cf("stop_signal", "StopSignal", "--stop-signal", Conv::Str),
    h("storage_opts", "StorageOpt", "--storage-opt", Conv::KvDict),
    h("sysctls", "Sysctls", "--sysctl", Conv::KvDict),
    h("tmpfs", "Tmpfs", "--tmpfs", Conv::Tmpfs),
    cf("tty", "Tty", "--tty", Conv::Bool),
    h("ulimits", "Ulimits", "--ulimit", Conv::Ulimits),
    cf("user", "User", "--user", Conv::Str),
    h("userns_mode", "UsernsMode", "--userns", Conv::Str),
    h("uts", "UTSMode", "--uts", Conv::Str),
    h(
        "volume_driver",
        "VolumeDriver",
        "--volume-driver",
        Conv::Str,
    ),
    h(
        "volumes_from",
        "VolumesFrom",
        "--volumes-from",
        Conv::StrList,
    ),
    cf("working_dir", "WorkingDir", "--workdir", Conv::Str),
];

/// The options `docker update` changes, and its flags.
const UPDATE_FLAGS: &[(&str, &str)] = &[
    ("blkio_weight", "--blkio-weight"),
    ("cpu_period", "--cpu-period"),
    ("cpu_quota", "--cpu-quota"),
    ("cpuset_cpus", "--cpuset-cpus"),
    ("cpuset_mems", "--cpuset-mems"),
    ("cpu_shares", "--cpu-shares"),
    ("kernel_memory", "--kernel-memory"),
    ("memory", "--memory"),
    ("memory_reservation", "--memory-reservation"),
    ("memory_swap", "--memory-swap"),
];

fn strs(v: &Value) -> Vec<String> {
    match v {
        Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
        Value::Null => Vec::new(),
        other => vec![crate::yaml::python_str(other)],
    }
}

fn jstrs(items: &[String]) -> J {
    J::Array(items.iter().map(|s| J::String(s.clone())).collect())
}

fn text(j: &J) -> String {
    match j {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Published ports: container port key (`80/tcp`) → bindings (host IP, host port).
type Bindings = Vec<(String, Vec<(String, String)>)>;

/// What the task asks for, each option as Docker reports it (community.docker's expected
/// values before the image's defaults are merged in), and the CLI words that set it.
struct Wanted {
    /// Option name → the value as `docker inspect` would show it.
    values: BTreeMap<&'static str, J>,
    /// `docker create` words for the plain options.
    flags: Vec<String>,
    /// `command` as the argument list after the image.
    command: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    /// The env variables the task sets (`K=V`), before the image's.
    env: Option<Vec<String>>,
    labels: Option<Vec<(String, String)>>,
    healthcheck: Option<J>,
    /// Published ports: container port key (`80/tcp`) → bindings (host IP, host port).
    published: Option<Bindings>,
    /// Exposed ports from `exposed_ports` and `published_ports`, `port/proto`.
    ports: Vec<String>,
    /// Anonymous volumes and binds, as the CLI takes them.
    volumes: Option<Vec<String>>,
    binds: Option<Vec<String>>,
    mounts: Option<Vec<J>>,
    networks: Vec<Network>,
    network_mode: Option<String>,
    warnings: Vec<String>,
}

#[derive(Clone, Debug)]
struct Network {
    name: String,
    ipv4: Option<String>,
    ipv6: Option<String>,
    aliases: Option<Vec<String>>,
    /// `(container, alias)` pairs.
    links: Option<Vec<(String, String)>>,
    /// The task's entry, for diffs and actions.
    param: Map,
}

fn get_str(m: &Map, k: &str) -> Option<String> {
    m.get(&Value::str(k))
        .filter(|v| !v.is_null())
        .map(crate::yaml::python_str)
}

fn get_list(m: &Map, k: &str) -> Option<Vec<String>> {
    m.get(&Value::str(k)).filter(|v| !v.is_null()).map(strs)
}

/// Splits on `:` but keeps `[...]` (IPv6 addresses) whole, as community.docker does.
fn split_colon_ipv6(text: &str) -> Result<Vec<String>, String> {
    if !text.contains('[') {
        return Ok(text.split(':').map(str::to_string).collect());
    }
    let mut result: Vec<String> = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let Some(i) = text[start..].find('[').map(|i| i + start) else {
            result.extend(text[start..].split(':').map(str::to_string));
            break;
        };
        let Some(j) = text[i..].find(']').map(|j| j + i) else {
            return Err(format!(
                "Cannot find closing \"]\" in input \"{text}\" for opening \"[\" at index {}!",
                i + 1
            ));
        };
        result.extend(text[start..i].split(':').map(str::to_string));
        match text[j..].find(':').map(|k| k + j) {
            None => {
                if let Some(last) = result.last_mut() {
                    last.push_str(&text[i..]);
                }
                start = text.len();
            }
            Some(k) => {
                if let Some(last) = result.last_mut() {
                    last.push_str(&text[i..k]);
                }
                start = k + 1;
                if start == text.len() {
                    result.push(String::new());
                }
            }
        }
    }
    Ok(result)
}

fn port_range(text: &str) -> Result<Vec<u32>, String> {
    if let Some((a, b)) = text.split_once('-') {
        let bad = || format!("Invalid port range: \"{text}\"");
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if b < a {
            return Err(bad());
        }
        return Ok((a..=b).collect());
    }
    text.parse()
        .map(|p| vec![p])
        .map_err(|_| format!("Invalid port: \"{text}\""))
}

fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_bracketed_ipv6(s: &str) -> bool {
    s.len() > 2
        && s.starts_with('[')
        && s.ends_with(']')
        && s[1..s.len() - 1]
            .split('%')
            .next()
            .is_some_and(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_hexdigit() || c == ':'))
}

/// A host IP for `-p`: IPv6 addresses in brackets.
fn cli_ip(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

fn volume_mode_ok(mode: &str) -> bool {
    mode.split(',').all(|p| {
        [
            "rw",
            "ro",
            "z",
            "Z",
            "consistent",
            "delegated",
            "cached",
            "rprivate",
            "private",
            "rshared",
            "shared",
            "rslave",
            "slave",
            "nocopy",
        ]
        .contains(&p)
    })
}

/// Duration text (`1m30s`) as nanoseconds, as community.docker converts healthcheck times.
fn duration_ns(text: &str) -> Result<i64, String> {
    let bad = || format!("Invalid time duration - {text}");
    let mut total: i64 = 0;
    let mut rest = text;
    // Units in the order the format allows them.
    let mut allowed = ["h", "m", "s", "ms", "us"].iter().peekable();
    if rest.is_empty() {
        return Ok(0);
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit = ["ms", "us", "h", "m", "s"]
            .into_iter()
            .find(|u| after.starts_with(u))
            .ok_or_else(bad)?;
        loop {
            match allowed.next() {
                Some(u) if *u == unit => break,
                Some(_) => continue,
                None => return Err(bad()),
            }
        }
        let scale: i64 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            _ => 1_000,
        };
        total += n * scale;
        rest = &after[unit.len()..];
    }
    Ok(total)
}

/// What community.docker's healthcheck preprocessing makes of the task's `healthcheck`: the
/// `Healthcheck` dict Docker would report.
fn healthcheck(m: &Map) -> Result<J, String> {
    let cli_compatible = matches!(
        m.get(&Value::str("test_cli_compatible")),
        Some(Value::Bool(true))
    );
    let mut out = serde_json::Map::new();
    let test = m.get(&Value::str("test")).filter(|v| !v.is_null());
    let test_given = test.is_some_and(|t| match t {
        Value::Seq(s) => !s.is_empty(),
        Value::Str(s) | Value::Unsafe(s) => !s.is_empty(),
        _ => true,
    });
    if !(test_given || cli_compatible && test.is_none()) {
        out.insert("Test".into(), jstrs(&["NONE".to_string()]));
        return Ok(J::Object(out));
    }
    if let Some(t) = test.filter(|_| test_given) {
        let words = match t {
            Value::Seq(items) => items.iter().map(crate::yaml::python_str).collect(),
            other => vec!["CMD-SHELL".to_string(), crate::yaml::python_str(other)],
        };
        out.insert("Test".into(), jstrs(&words));
    }
    for (opt, key) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
    ] {
        if let Some(v) = get_str(m, opt) {
            let ns = duration_ns(&v)?;
            if ns != 0 {
                out.insert(key.into(), J::from(ns));
            }
        }
    }
    if let Some(Value::Int(r)) = m.get(&Value::str("retries"))
        && *r != 0
    {
        out.insert("Retries".into(), J::from(*r as i64));
    }
    Ok(J::Object(out))
}

/// The CLI flags for a `Healthcheck` dict; only what the CLI can say (a shell test or none).
fn healthcheck_flags(hc: &J) -> Result<Vec<String>, String> {
    let mut f = Vec::new();
    match hc.get("Test") {
        Some(J::Array(t)) if t.len() == 1 && t[0] == "NONE" => {
            f.push("--no-healthcheck".to_string());
            return Ok(f);
        }
        Some(J::Array(t)) if t.len() == 2 && t[0] == "CMD-SHELL" => {
            f.extend(["--health-cmd".to_string(), text(&t[1])]);
        }
        Some(other) => {
            return Err(format!(
                "kiln sets healthchecks with the docker CLI, which takes a shell command (a string, or [\"CMD-SHELL\", command]) or [\"NONE\"]; got {other}"
            ));
        }
        None => {}
    }
    for (key, flag) in [
        ("Interval", "--health-interval"),
        ("Timeout", "--health-timeout"),
        ("StartPeriod", "--health-start-period"),
    ] {
        if let Some(ns) = hc.get(key) {
            f.extend([flag.to_string(), format!("{ns}ns")]);
        }
    }
    if let Some(r) = hc.get("Retries") {
        f.extend(["--health-retries".to_string(), r.to_string()]);
    }
    Ok(f)
}

/// A `--mount` value; fields with commas or quotes are quoted as the CLI's CSV parser wants.
fn mount_flag(m: &J) -> String {
    let mut fields: Vec<String> = Vec::new();
    let s = |k: &str| m.get(k).map(text);
    if let Some(t) = s("type") {
        fields.push(format!("type={t}"));
    }
    if let Some(v) = s("source") {
        fields.push(format!("source={v}"));
    }
    if let Some(v) = s("target") {
        fields.push(format!("target={v}"));
    }
    if m.get("read_only") == Some(&J::Bool(true)) {
        fields.push("readonly".into());
    }
    if let Some(v) = s("consistency") {
        fields.push(format!("consistency={v}"));
    }
    if let Some(v) = s("propagation") {
        fields.push(format!("bind-propagation={v}"));
    }
    if m.get("no_copy") == Some(&J::Bool(true)) {
        fields.push("volume-nocopy".into());
    }
    if let Some(J::Object(l)) = m.get("labels") {
        for (k, v) in l {
            fields.push(format!("volume-label={k}={}", text(v)));
        }
    }
    if let Some(v) = s("volume_driver") {
        fields.push(format!("volume-driver={v}"));
    }
    if let Some(J::Object(o)) = m.get("volume_options") {
        for (k, v) in o {
            fields.push(format!("volume-opt={k}={}", text(v)));
        }
    }
    if let Some(v) = s("tmpfs_size") {
        fields.push(format!("tmpfs-size={v}"));
    }
    if let Some(J::Number(n)) = m.get("tmpfs_mode") {
        fields.push(format!("tmpfs-mode={:o}", n.as_u64().unwrap_or(0)));
    }
    fields
        .into_iter()
        .map(|f| {
            if f.contains(',') || f.contains('"') {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `mounts` as community.docker normalizes them (options only for the types that take them).
fn mounts(items: &[Value], seen: &mut HashMap<String, &'static str>) -> Result<Vec<J>, String> {
    const ONLY_FOR: &[(&str, &[&str])] = &[
        ("labels", &["volume"]),
        ("no_copy", &["volume"]),
        ("propagation", &["bind"]),
        ("tmpfs_size", &["tmpfs"]),
        ("tmpfs_mode", &["tmpfs"]),
        ("volume_driver", &["volume"]),
        ("volume_options", &["volume"]),
    ];
    let mut out = Vec::new();
    for item in items {
        let Value::Map(m) = item else { continue };
        let target = get_str(m, "target").unwrap_or_default();
        let kind = get_str(m, "type").unwrap_or_else(|| "volume".into());
        collide(seen, &target, "mounts")?;
        if get_str(m, "source").is_none()
            && !["tmpfs", "volume", "image", "cluster"].contains(&kind.as_str())
        {
            return Err(format!(
                "source must be specified for mount \"{target}\" of type \"{kind}\""
            ));
        }
        for (opt, types) in ONLY_FOR {
            if m.get(&Value::str(*opt)).is_some_and(|v| !v.is_null())
                && !types.contains(&kind.as_str())
            {
                return Err(format!(
                    "{opt} cannot be specified for mount \"{target}\" of type \"{kind}\" (needs type \"{}\")",
                    types.join("\", \"")
                ));
            }
        }
        let mut j = serde_json::Map::new();
        for (k, v) in m {
            if v.is_null() {
                continue;
            }
            let key = crate::yaml::python_str(k);
            let value = match key.as_str() {
                "labels" => J::Object(
                    dc::clean_booleans(match v {
                        Value::Map(l) => l,
                        _ => continue,
                    })
                    .into_iter()
                    .map(|(k, v)| (k, J::String(v)))
                    .collect(),
                ),
                "volume_options" => {
                    if get_str(m, "volume_driver").is_none() {
                        continue;
                    }
                    J::Object(
                        dc::clean_booleans(match v {
                            Value::Map(l) => l,
                            _ => continue,
                        })
                        .into_iter()
                        .map(|(k, v)| (k, J::String(v)))
                        .collect(),
                    )
                }
                "tmpfs_size" => J::from(dc::human_to_bytes(&crate::yaml::python_str(v)).map_err(
                    |e| format!("Failed to convert tmpfs_size of mount \"{target}\" to bytes: {e}"),
                )?),
                "tmpfs_mode" => J::from(
                    i64::from_str_radix(&crate::yaml::python_str(v), 8).map_err(|_| {
                        format!("tmp_fs mode of mount \"{target}\" is not an octal string!")
                    })?,
                ),
                _ => dc::to_json(v),
            };
            j.insert(key, value);
        }
        out.push(J::Object(j));
    }
    Ok(out)
}

fn collide(
    seen: &mut HashMap<String, &'static str>,
    target: &str,
    name: &'static str,
) -> Result<(), String> {
    if let Some(prev) = seen.get(target) {
        return Err(if *prev == name {
            format!("The mount point \"{target}\" appears twice in the {name} option")
        } else {
            format!("The mount point \"{target}\" appears both in the {name} and {prev} option")
        });
    }
    seen.insert(target.to_string(), name);
    Ok(())
}

impl Wanted {
    fn new(args: &Args, refs: &HashMap<String, String>) -> Result<Wanted, String> {
        let mut w = Wanted {
            values: BTreeMap::new(),
            flags: Vec::new(),
            command: None,
            entrypoint: None,
            env: None,
            labels: None,
            healthcheck: None,
            published: None,
            ports: Vec::new(),
            volumes: None,
            binds: None,
            mounts: None,
            networks: Vec::new(),
            network_mode: args.str("network_mode"),
            warnings: Vec::new(),
        };
        let compat = args.str("container_default_behavior").as_deref() == Some("compatibility");
        let param = |name: &str| -> Option<Value> {
            args.get(name).cloned().or_else(|| {
                if !compat {
                    return None;
                }
                match name {
                    "auto_remove" | "init" | "interactive" | "paused" | "privileged"
                    | "read_only" | "tty" => Some(Value::Bool(false)),
                    "detach" => Some(Value::Bool(true)),
                    "memory" => Some(Value::str("0")),
                    _ => None,
                }
            })
        };
        for p in PLAIN {
            let Some(v) = param(p.name) else { continue };
            let (value, words) = plain_value(p, &v, args, refs, &mut w.warnings)?;
            w.values.insert(p.name, value);
            w.flags.extend(words);
        }
        for name in ["detach", "interactive"] {
            if let Some(Value::Bool(b)) = param(name) {
                w.values.insert(name, J::Bool(b));
            }
        }
        let interactive = w.values.get("interactive") == Some(&J::Bool(true));
        if interactive {
            w.flags.push("--interactive".into());
        }
        if w.values.get("detach") == Some(&J::Bool(true)) {
            // `docker create` attaches stdout and stderr unless told to attach something else;
            // attaching only stdin leaves the container detached as community.docker creates it.
            w.flags.extend(["--attach".into(), "stdin".into()]);
        }
        // command and entrypoint
        let correct = args.str("command_handling").as_deref() != Some("compatibility");
        if let Some(cmd) = args.get("command") {
            let words = match cmd {
                Value::Seq(items) if correct => {
                    Some(items.iter().map(crate::yaml::python_str).collect())
                }
                Value::Seq(items) if !items.is_empty() => Some(crate::inventory::shlex_split(
                    &items
                        .iter()
                        .map(crate::yaml::python_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                )?),
                Value::Seq(_) => None,
                other => {
                    let t = crate::yaml::python_str(other);
                    if correct || !t.is_empty() {
                        Some(crate::inventory::shlex_split(&t)?)
                    } else {
                        None
                    }
                }
            };
            if let Some(words) = words {
                w.values.insert("command", jstrs(&words));
                w.command = Some(words);
            }
        }
        if let Some(ep) = args.get("entrypoint") {
            let words = strs(ep);
            let words = if correct || words.is_empty() {
                Some(words).filter(|w| correct || !w.is_empty())
            } else {
                Some(crate::inventory::shlex_split(&words.join(" "))?)
            };
            if let Some(words) = words {
                if words.len() > 1 {
                    return Err(format!(
                        "kiln creates containers with the docker CLI, whose --entrypoint takes one word; got {}: put the other words in `command`",
                        jstrs(&words)
                    ));
                }
                w.values.insert("entrypoint", jstrs(&words));
                w.entrypoint = Some(words);
            }
        }
        // labels
        if let Some(Value::Map(l)) = args.get("labels") {
            let labels = dc::sanitize_labels(l, "labels")?;
            w.values.insert(
                "labels",
                J::Object(
                    labels
                        .iter()
                        .map(|(k, v)| (k.clone(), J::String(v.clone())))
                        .collect(),
                ),
            );
            w.labels = Some(labels);
        }
        // logging
        if let Some(driver) = args.str("log_driver") {
            w.values.insert("log_driver", J::String(driver.clone()));
            w.flags.extend(["--log-driver".into(), driver]);
            if let Some(Value::Map(o)) = args.get("log_options") {
                let mut opts = serde_json::Map::new();
                for (k, v) in o {
                    let key = crate::yaml::python_str(k);
                    let value = crate::yaml::python_str(v);
                    if !matches!(v, Value::Str(_) | Value::Unsafe(_)) {
                        w.warnings.push(format!(
                            "Non-string value found for log_options option '{key}'. The value is automatically converted to {}. If this is not correct, or you want to avoid such warnings, please quote the value, or explicitly convert the values to strings when templating them.",
                            crate::yaml::repr(&Value::str(value.clone()))
                        ));
                    }
                    w.flags
                        .extend(["--log-opt".into(), format!("{key}={value}")]);
                    opts.insert(key, J::String(value));
                }
                w.values.insert("log_options", J::Object(opts));
            }
        }
        // restart policy
        if let Some(policy) = args.str("restart_policy") {
            w.values.insert("restart_policy", J::String(policy.clone()));
            let retries = args.get("restart_retries").and_then(|v| match v {
                Value::Int(i) => Some(*i as i64),
                _ => None,
            });
            if let Some(r) = retries {
                w.values.insert("restart_retries", J::from(r));
            }
            w.flags
                .extend(["--restart".into(), restart_flag(&policy, retries)]);
        }
        // healthcheck
        if let Some(Value::Map(hc)) = args.get("healthcheck") {
            let j = healthcheck(hc)?;
            w.flags.extend(healthcheck_flags(&j)?);
            w.values.insert("healthcheck", j.clone());
            w.healthcheck = Some(j);
        }
        // volumes and mounts
        let mut seen: HashMap<String, &'static str> = HashMap::new();
        if let Some(Value::Seq(items)) = args.get("mounts") {
            let m = mounts(items, &mut seen)?;
            w.values.insert("mounts", J::Array(m.clone()));
            w.mounts = Some(m);
        }
        if let Some(v) = args.get("volumes") {
            let (anon, binds) = volumes(&strs(v), &mut seen)?;
            w.volumes = Some(anon);
            w.binds = Some(binds);
        }
        // ports
        w.ports_from(args)?;
        // networks
        if let Some(Value::Seq(items)) = args.get("networks") {
            for item in items {
                let Value::Map(m) = item else { continue };
                let links = get_list(m, "links").map(|ls| {
                    ls.iter()
                        .map(|l| match l.split_once(':') {
                            Some((a, b)) => (a.to_string(), b.to_string()),
                            None => (l.clone(), l.clone()),
                        })
                        .collect()
                });
                w.networks.push(Network {
                    name: get_str(m, "name").unwrap_or_default(),
                    ipv4: get_str(m, "ipv4_address"),
                    ipv6: get_str(m, "ipv6_address"),
                    aliases: get_list(m, "aliases"),
                    links,
                    param: m.clone(),
                });
            }
        }
        if args.bool("networks_cli_compatible") && w.network_mode.is_none() {
            w.network_mode = w.networks.first().map(|n| n.name.clone());
        }
        if let Some(mode) = &w.network_mode {
            let resolved = resolve_ref(mode, refs, &mut w.warnings);
            w.values.insert("network_mode", J::String(resolved));
        }
        Ok(w)
    }

    fn ports_from(&mut self, args: &Args) -> Result<(), String> {
        let mut exposed: std::collections::BTreeSet<(u32, String)> =
            std::collections::BTreeSet::new();
        if let Some(p) = args.get("published_ports") {
            let specs = strs(p);
            if specs.iter().any(|s| s == "all") {
                return Err("Specifying \"all\" in published_ports is no longer allowed. Set publish_all_ports to \"true\" instead to randomly assign port mappings for those not specified by published_ports.".into());
            }
            let default_ip = "\u{0}default".to_string();
            let mut binds: Vec<(String, Vec<(String, String)>)> = Vec::new();
            for spec in specs {
                let parts = split_colon_ipv6(&spec)?;
                let last = parts.last().cloned().unwrap_or_default();
                let (cport, proto) = match last.split_once('/') {
                    Some((p, proto)) => (p.to_string(), proto.to_string()),
                    None => (last, String::new()),
                };
                let cports = port_range(&cport)?;
                let pairs: Vec<(String, String)> = match parts.len() {
                    1 => cports
                        .iter()
                        .map(|_| (default_ip.clone(), String::new()))
                        .collect(),
                    2 if cports.len() == 1 => vec![(default_ip.clone(), parts[0].clone())],
                    2 => port_range(&parts[0])?
                        .into_iter()
                        .map(|p| (default_ip.clone(), p.to_string()))
                        .collect(),
                    3 => {
                        let ip = &parts[0];
                        if !is_ipv4(ip) && !is_bracketed_ipv6(ip) {
                            return Err(format!(
                                "Bind addresses for published ports must be IPv4 or IPv6 addresses, not hostnames. Use the dig lookup to resolve hostnames. (Found hostname: {ip})"
                            ));
                        }
                        let ip = if ip.starts_with('[') && !ip.contains('%') {
                            ip[1..ip.len() - 1].to_string()
                        } else {
                            ip.clone()
                        };
                        if parts[1].is_empty() {
                            cports.iter().map(|_| (ip.clone(), String::new())).collect()
                        } else if cports.len() == 1 {
                            vec![(ip, parts[1].clone())]
                        } else {
                            port_range(&parts[1])?
                                .into_iter()
                                .map(|p| (ip.clone(), p.to_string()))
                                .collect()
                        }
                    }
                    n => {
                        return Err(format!(
                            "Invalid port description \"{spec}\" - expected 1 to 3 colon-separated parts, but got {n}. Maybe you forgot to use square brackets ([...]) around an IPv6 address?"
                        ));
                    }
                };
                for (bind, cp) in pairs.into_iter().zip(cports) {
                    let key = if proto.is_empty() {
                        format!("{cp}/tcp")
                    } else {
                        format!("{cp}/{proto}")
                    };
                    exposed.insert((
                        cp,
                        if proto.is_empty() {
                            "tcp".into()
                        } else {
                            proto.clone()
                        },
                    ));
                    match binds.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, list)) => list.push(bind),
                        None => binds.push((key, vec![bind])),
                    }
                }
            }
            self.published = Some(binds);
        }
        if let Some(e) = args.get("exposed_ports") {
            for port in strs(e) {
                let port = port.trim();
                let (p, proto) = match port.split_once('/') {
                    Some((p, proto)) => (p, proto.to_string()),
                    None => (port, "tcp".to_string()),
                };
                match p.split_once('-') {
                    None => {
                        let n: u32 = p.parse().map_err(|e| {
                            format!(
                                "Cannot parse port {}: {e}",
                                crate::yaml::repr(&Value::str(p))
                            )
                        })?;
                        exposed.insert((n, proto));
                    }
                    Some((a, b)) => {
                        let bad = || {
                            format!(
                                "Cannot parse port range {}: invalid literal",
                                crate::yaml::repr(&Value::str(p))
                            )
                        };
                        let (a, b): (u32, u32) =
                            (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                        if a > b {
                            return Err(format!(
                                "Cannot parse port range {}: start port must be smaller or equal to end port.",
                                crate::yaml::repr(&Value::str(p))
                            ));
                        }
                        for n in a..=b {
                            exposed.insert((n, proto.clone()));
                        }
                    }
                }
            }
        }
        self.ports = exposed
            .into_iter()
            .map(|(p, proto)| format!("{p}/{proto}"))
            .collect();
        if let Some(Value::Bool(b)) = args.get("publish_all_ports") {
            self.values.insert("publish_all_ports", J::Bool(*b));
        }
        Ok(())
    }

    /// Fills in the host IP for bindings without one: `default_host_ip`, or the first
    /// bridge network's `host_binding_ipv4`, or `0.0.0.0`.
    fn resolve_default_ip(&mut self, ip: &str) {
        if let Some(binds) = &mut self.published {
            for (_, list) in binds.iter_mut() {
                for (bind_ip, _) in list.iter_mut() {
                    if bind_ip == "\u{0}default" {
                        *bind_ip = ip.to_string();
                    }
                }
            }
            let j: serde_json::Map<String, J> = binds
                .iter()
                .map(|(k, list)| {
                    let items = list
                        .iter()
                        .map(|(ip, port)| serde_json::json!({"HostIp": ip, "HostPort": port}))
                        .collect();
                    (k.clone(), J::Array(items))
                })
                .collect();
            self.values.insert("published_ports", J::Object(j));
        }
    }
}

fn restart_flag(policy: &str, retries: Option<i64>) -> String {
    match retries {
        Some(r) if policy == "on-failure" => format!("on-failure:{r}"),
        _ => policy.to_string(),
    }
}

/// `container:NAME` with the container's ID, when the query found it.
fn resolve_ref(mode: &str, refs: &HashMap<String, String>, warnings: &mut Vec<String>) -> String {
    let Some(name) = mode.strip_prefix("container:") else {
        return mode.to_string();
    };
    match refs.get(name) {
        Some(id) => format!("container:{id}"),
        None => {
            warnings.push(format!(
                "Cannot find a container with name or ID \"{name}\""
            ));
            mode.to_string()
        }
    }
}

/// `volumes` split into anonymous volumes and binds (`host:container:mode`), as
/// community.docker normalizes them.
fn volumes(
    vols: &[String],
    seen: &mut HashMap<String, &'static str>,
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut normalized = Vec::new();
    for vol in vols {
        let parts: Vec<&str> = vol.split(':').collect();
        let relative = |host: &str| host.starts_with('.') || host.starts_with('~');
        if parts.len() == 3 {
            if !volume_mode_ok(parts[2]) {
                return Err(format!("Found invalid volumes mode: {}", parts[2]));
            }
            if relative(parts[0]) {
                return Err(format!(
                    "kiln needs an absolute host path in volumes: {vol}"
                ));
            }
            collide(seen, parts[1], "volumes")?;
            normalized.push(vol.clone());
            continue;
        }
        if parts.len() == 2 && !volume_mode_ok(parts[1]) && relative(parts[0]) {
            return Err(format!(
                "kiln needs an absolute host path in volumes: {vol}"
            ));
        }
        collide(seen, parts[parts.len().min(2) - 1], "volumes")?;
        normalized.push(vol.clone());
    }
    let mut anon = Vec::new();
    let mut binds = Vec::new();
    for vol in normalized {
        let parts: Vec<&str> = vol.split(':').collect();
        match parts.len() {
            3 => binds.push(vol.clone()),
            2 if !volume_mode_ok(parts[1]) => binds.push(format!("{}:{}:rw", parts[0], parts[1])),
            2 => anon.push(vol.clone()),
            _ => anon.push(vol.clone()),
        }
    }
    Ok((anon, binds))
}

/// A plain option's value as Docker reports it, and its `docker create` words.
fn plain_value(
    p: &Plain,
    v: &Value,
    args: &Args,
    refs: &HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(J, Vec<String>), String> {
    let flag = p.flag.to_string();
    let bytes = |v: &Value| {
        dc::human_to_bytes(&crate::yaml::python_str(v))
            .map_err(|e| format!("Failed to convert {} to bytes: {e}", p.name))
    };
    let pairs = |value: J, words: Vec<String>| -> (J, Vec<String>) {
        let mut f = Vec::new();
        for w in words {
            f.push(flag.clone());
            f.push(w);
        }
        (value, f)
    };
    Ok(match p.conv {
        Conv::Str => {
            let s = crate::yaml::python_str(v);
            (J::String(s.clone()), vec![flag, s])
        }
        Conv::Mac => {
            let s = crate::yaml::python_str(v).replace('-', ":");
            (J::String(s.clone()), vec![flag, s])
        }
        Conv::ContainerRef => {
            let s = resolve_ref(&crate::yaml::python_str(v), refs, warnings);
            (J::String(s.clone()), vec![flag, s])
        }
        Conv::Int => {
            let n = match v {
                Value::Int(i) => *i as i64,
                _ => 0,
            };
            (J::from(n), vec![flag, n.to_string()])
        }
        Conv::Bool => {
            let b = matches!(v, Value::Bool(true));
            (J::Bool(b), vec![format!("{flag}={b}")])
        }
        Conv::Bytes => {
            let n = bytes(v)?;
            (J::from(n), vec![flag, n.to_string()])
        }
        Conv::SwapBytes => {
            let t = crate::yaml::python_str(v);
            let n = if t == "unlimited" || t == "-1" {
                -1
            } else {
                bytes(v)?
            };
            (J::from(n), vec![flag, n.to_string()])
        }
        Conv::Cpus => {
            let f = match v {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                _ => 0.0,
            };
            let nanos = (f * 1e9).round() as i64;
            let cli = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
            (J::from(nanos), vec![flag, cli])
        }
        Conv::StrList => {
            let items = strs(v);
            pairs(jstrs(&items), items)
        }
        Conv::KvDict => {
            let Value::Map(m) = v else {
                return Ok((J::Null, vec![]));
            };
            let items: Vec<(String, String)> = m
                .iter()
                .map(|(k, v)| (crate::yaml::python_str(k), crate::yaml::python_str(v)))
                .collect();
            let j = J::Object(
                items
                    .iter()
                    .map(|(k, v)| (k.clone(), J::String(v.clone())))
                    .collect(),
            );
            pairs(j, items.iter().map(|(k, v)| format!("{k}={v}")).collect())
        }
        Conv::ExtraHosts => {
            let Value::Map(m) = v else {
                return Ok((J::Null, vec![]));
            };
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        crate::yaml::python_str(k),
                        crate::yaml::python_str(v)
                    )
                })
                .collect();
            pairs(jstrs(&items), items)
        }
        Conv::Tmpfs => {
            let mut j = serde_json::Map::new();
            let items = strs(v);
            for spec in &items {
                let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
                j.insert(path.to_string(), J::String(opts.to_string()));
            }
            pairs(J::Object(j), items)
        }
        Conv::Links => {
            let name = args.str("name").unwrap_or_default();
            let items = strs(v);
            let j: Vec<String> = items
                .iter()
                .map(|l| {
                    let (link, alias) = l.split_once(':').unwrap_or((l, l));
                    format!("/{link}:/{name}/{alias}")
                })
                .collect();
            pairs(jstrs(&j), items)
        }
        Conv::Devices => {
            let items = strs(v);
            let j: Vec<J> = items
                .iter()
                .map(|d| {
                    let parts: Vec<&str> = d.split(':').collect();
                    let (host, ctr, perm) = match parts.len() {
                        1 => (parts[0], parts[0], "rwm"),
                        2 => (parts[0], parts[1], "rwm"),
                        _ => (parts[0], parts[1], parts[2]),
                    };
                    serde_json::json!({"CgroupPermissions": perm, "PathInContainer": ctr, "PathOnHost": host})
                })
                .collect();
            pairs(J::Array(j), items)
        }
        Conv::RateBps | Conv::RateIops => {
            let Value::Seq(items) = v else {
                return Ok((J::Null, vec![]));
            };
            let mut j = Vec::new();
            let mut words = Vec::new();
            for item in items {
                let Value::Map(m) = item else { continue };
                let path = get_str(m, "path").unwrap_or_default();
                let rate = if matches!(p.conv, Conv::RateBps) {
                    dc::human_to_bytes(&get_str(m, "rate").unwrap_or_default())
                        .map_err(|e| format!("Failed to convert {} to bytes: {e}", p.name))?
                } else {
                    match m.get(&Value::str("rate")) {
                        Some(Value::Int(i)) => *i as i64,
                        _ => 0,
                    }
                };
                words.push(format!("{path}:{rate}"));
                j.push(serde_json::json!({"Path": path, "Rate": rate}));
            }
            pairs(J::Array(j), words)
        }
        Conv::Ulimits => {
            let items = strs(v);
            let mut j = Vec::new();
            let mut words = Vec::new();
            for limit in &items {
                let pieces: Vec<&str> = limit.split(':').collect();
                let mut m = serde_json::Map::new();
                if pieces.len() >= 2 {
                    let soft: i64 = pieces[1]
                        .parse()
                        .map_err(|_| format!("invalid ulimit {limit}"))?;
                    let hard: i64 = if pieces.len() == 3 {
                        pieces[2]
                            .parse()
                            .map_err(|_| format!("invalid ulimit {limit}"))?
                    } else {
                        soft
                    };
                    m.insert("Name".into(), J::String(pieces[0].into()));
                    m.insert("Soft".into(), J::from(soft));
                    m.insert("Hard".into(), J::from(hard));
                    words.push(format!("{}={soft}:{hard}", pieces[0]));
                }
                j.push(J::Object(m));
            }
            pairs(J::Array(j), words)
        }
    })
}

// ---- what Docker reports --------------------------------------------------------------------------

fn at<'a>(j: &'a J, path: &[&str]) -> &'a J {
    let mut cur = j;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return &J::Null,
        }
    }
    cur
}

/// The container's value for an option, as community.docker reads it from `docker inspect`.
fn current(name: &str, container: &J) -> J {
    if let Some(p) = PLAIN.iter().find(|p| p.name == name) {
        return at(
            container,
            &[
                if p.host_config {
                    "HostConfig"
                } else {
                    "Config"
                },
                p.key,
            ],
        )
        .clone();
    }
    match name {
        "command" => at(container, &["Config", "Cmd"]).clone(),
        "entrypoint" => at(container, &["Config", "Entrypoint"]).clone(),
        "env" => at(container, &["Config", "Env"]).clone(),
        "labels" => at(container, &["Config", "Labels"]).clone(),
        "healthcheck" => {
            let hc = at(container, &["Config", "Healthcheck"]);
            if hc.is_null() || hc.get("Test") == Some(&jstrs(&["NONE".into()])) {
                serde_json::json!({"Test": ["NONE"]})
            } else {
                hc.clone()
            }
        }
        "log_driver" => at(container, &["HostConfig", "LogConfig", "Type"]).clone(),
        "log_options" => at(container, &["HostConfig", "LogConfig", "Config"]).clone(),
        "restart_policy" => at(container, &["HostConfig", "RestartPolicy", "Name"]).clone(),
        "restart_retries" => at(
            container,
            &["HostConfig", "RestartPolicy", "MaximumRetryCount"],
        )
        .clone(),
        "network_mode" => at(container, &["HostConfig", "NetworkMode"]).clone(),
        "interactive" => J::Bool(at(container, &["Config", "OpenStdin"]).as_bool() == Some(true)),
        "detach" => {
            let on = |k| at(container, &["Config", k]).as_bool() == Some(true);
            J::Bool(!(on("AttachStderr") && on("AttachStdout")))
        }
        "volumes" => at(container, &["Config", "Volumes"]).clone(),
        "volume_binds" => at(container, &["HostConfig", "Binds"]).clone(),
        "mounts" => match at(container, &["HostConfig", "Mounts"]) {
            J::Array(ms) => J::Array(ms.iter().map(normalize_mount).collect()),
            other => other.clone(),
        },
        "published_ports" => at(container, &["HostConfig", "PortBindings"]).clone(),
        "publish_all_ports" => at(container, &["HostConfig", "PublishAllPorts"]).clone(),
        "exposed_ports" => {
            let mut out = Vec::new();
            if let J::Object(ports) = at(container, &["Config", "ExposedPorts"]) {
                for key in ports.keys() {
                    let key = if key.contains('/') {
                        key.clone()
                    } else {
                        format!("{key}/tcp")
                    };
                    let (port, proto) = key.rsplit_once('/').unwrap_or((&key, "tcp"));
                    match port
                        .split_once('-')
                        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
                    {
                        Some((a, b)) => out.extend((a..=b).map(|p| format!("{p}/{proto}"))),
                        None => out.push(format!("{port}/{proto}")),
                    }
                }
            }
            jstrs(&out)
        }
        _ => J::Null,
    }
}

fn normalize_mount(m: &J) -> J {
    let g = |path: &[&str]| at(m, path).clone();
    let or = |v: J, d: J| if v.is_null() { d } else { v };
    let subpath = or(
        g(&["VolumeOptions", "Subpath"]),
        g(&["ImageOptions", "Subpath"]),
    );
    serde_json::json!({
        "type": g(&["Type"]),
        "source": g(&["Source"]),
        "target": g(&["Target"]),
        "read_only": or(g(&["ReadOnly"]), J::Bool(false)),
        "consistency": g(&["Consistency"]),
        "propagation": g(&["BindOptions", "Propagation"]),
        "no_copy": or(g(&["VolumeOptions", "NoCopy"]), J::Bool(false)),
        "labels": or(g(&["VolumeOptions", "Labels"]), serde_json::json!({})),
        "volume_driver": g(&["VolumeOptions", "DriverConfig", "Name"]),
        "volume_options": or(g(&["VolumeOptions", "DriverConfig", "Options"]), serde_json::json!({})),
        "tmpfs_size": g(&["TmpfsOptions", "SizeBytes"]),
        "tmpfs_mode": g(&["TmpfsOptions", "Mode"]),
        "non_recursive": g(&["BindOptions", "NonRecursive"]),
        "create_mountpoint": g(&["BindOptions", "CreateMountpoint"]),
        "read_only_non_recursive": g(&["BindOptions", "ReadOnlyNonRecursive"]),
        "read_only_force_recursive": g(&["BindOptions", "ReadOnlyForceRecursive"]),
        "subpath": subpath,
        "tmpfs_options": g(&["TmpfsOptions", "Options"]),
    })
}

/// The task's values with the image's defaults merged in, as community.docker expects them
/// in the container (its `get_expected_values`).
fn expected(w: &Wanted, args: &Args, image: Option<&J>) -> BTreeMap<&'static str, J> {
    let mut out = w.values.clone();
    let img = |k: &str| {
        image
            .map(|i| at(i, &["Config", k]).clone())
            .unwrap_or(J::Null)
    };
    if let Some(env) = &w.env {
        let mut merged: Vec<(String, String)> = Vec::new();
        let mut put = |kv: &str| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match merged.iter_mut().find(|(mk, _)| mk == k) {
                Some(e) => e.1 = v.to_string(),
                None => merged.push((k.to_string(), v.to_string())),
            }
        };
        if let J::Array(items) = img("Env") {
            for i in items {
                put(&text(&i));
            }
        }
        for kv in env {
            put(kv);
        }
        out.insert(
            "env",
            jstrs(
                &merged
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>(),
            ),
        );
    }
    if let Some(labels) = &w.labels {
        let mut m = serde_json::Map::new();
        if args.str("image_label_mismatch").as_deref() != Some("fail")
            && let J::Object(il) = img("Labels")
        {
            m.extend(il);
        }
        for (k, v) in labels {
            m.insert(k.clone(), J::String(v.clone()));
        }
        out.insert("labels", J::Object(m));
    }
    if w.command.as_ref().is_some_and(Vec::is_empty) {
        let cmd = img("Cmd");
        if !cmd.is_null() && py_len(&cmd) > 0 {
            out.insert("command", cmd);
        }
    }
    // Volumes: the image's and the anonymous ones; binds: the task's.
    let mut vols = serde_json::Map::new();
    if let J::Object(iv) = img("Volumes") {
        vols.extend(iv);
    }
    for v in w.volumes.iter().flatten() {
        vols.insert(v.clone(), serde_json::json!({}));
    }
    if !vols.is_empty() {
        out.insert("volumes", J::Object(vols));
    }
    let mut binds: Vec<String> = w.binds.clone().unwrap_or_default();
    binds.sort();
    binds.dedup();
    out.insert("volume_binds", jstrs(&binds));
    // Exposed ports: the image's and the task's.
    let mut ports: std::collections::BTreeSet<String> = w.ports.iter().cloned().collect();
    if let J::Object(ip) = img("ExposedPorts") {
        for k in ip.keys() {
            ports.insert(if k.contains('/') {
                k.clone()
            } else {
                format!("{k}/tcp")
            });
        }
    }
    out.insert(
        "exposed_ports",
        jstrs(&ports.into_iter().collect::<Vec<_>>()),
    );
    out
}

/// One difference for the diff: the option, the task's value, the container's.
struct Difference {
    name: String,
    parameter: J,
    active: J,
}

fn sorted_for_diff(v: &J, cmp: Cmp, name: &str) -> J {
    match (v, cmp) {
        (J::Array(items), Cmp::Set) => {
            let mut items = items.clone();
            items.sort_by_key(|a| a.to_string());
            J::Array(items)
        }
        (J::Array(items), Cmp::SetDict) => {
            let mut items = items.clone();
            if name == "mounts" {
                items.sort_by_key(|m| text(at(m, &["target"])));
            } else {
                items.sort_by_key(|m| {
                    let mut kv: Vec<(String, String)> = m
                        .as_object()
                        .map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                        .unwrap_or_default();
                    kv.sort();
                    kv
                });
            }
            J::Array(items)
        }
        _ => v.clone(),
    }
}

/// The differing options, split into those `docker update` can change and the others.
fn differences(
    expected: &BTreeMap<&'static str, J>,
    container: &J,
    modes: &HashMap<&'static str, Mode>,
) -> (Vec<Difference>, Vec<Difference>) {
    let (mut fixed, mut updatable) = (Vec::new(), Vec::new());
    for (name, want) in expected {
        let Some(o) = comparable(name) else { continue };
        // The image and the networks are compared on their own.
        if matches!(*name, "image" | "networks") {
            continue;
        }
        let have = current(name, container);
        if compare(want, &have, modes[name], o.cmp) {
            continue;
        }
        // Docker 26 reports the default network mode as `bridge`.
        if *name == "network_mode" && want == "default" && have == "bridge" {
            continue;
        }
        let d = Difference {
            name: name.to_string(),
            parameter: sorted_for_diff(want, o.cmp, name),
            active: sorted_for_diff(&have, o.cmp, name),
        };
        if o.updatable {
            updatable.push(d);
        } else {
            fixed.push(d);
        }
    }
    (fixed, updatable)
}

// ---- the run -------------------------------------------------------------------------------------

/// What the first query found.
struct Found {
    container: Option<J>,
    /// The image the task names.
    image: Option<J>,
    /// The image the container runs.
    container_image: Option<J>,
    networks: HashMap<String, J>,
    refs: HashMap<String, String>,
    env_file: Option<String>,
}

fn normalize_ip(ip: &str) -> String {
    ip.parse::<std::net::IpAddr>()
        .map_or_else(|_| ip.to_string(), |a| a.to_string())
}

async fn run(cx: &TaskCx<'_>, args: Args) -> TaskResult {
    match Run::new(cx, args).go().await {
        Ok(r) => r,
        Err(r) => *r,
    }
}

struct Run<'a, 'b> {
    cx: &'a TaskCx<'b>,
    args: Args,
    docker: Docker,
    name: String,
    changed: bool,
    actions: Vec<J>,
    diff: Vec<(String, J, J)>,
    warnings: Vec<String>,
}

/// A failed result on the error path (boxed: results are large).
fn fail(msg: impl Into<String>) -> Box<TaskResult> {
    Box::new(TaskResult::failed(msg))
}

/// One step of the apply script: the message prefix for its failure, and the command.
struct Step {
    what: String,
    cmd: String,
}

impl<'a, 'b> Run<'a, 'b> {
    fn new(cx: &'a TaskCx<'b>, args: Args) -> Self {
        let docker = Docker::new(&args);
        let name = args.str("name").unwrap_or_default();
        Run {
            cx,
            args,
            docker,
            name,
            changed: false,
            actions: Vec::new(),
            diff: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn track(&mut self, name: impl Into<String>, parameter: J, active: J) {
        self.diff.push((name.into(), parameter, active));
    }

    async fn query(
        &self,
        image_ref: Option<&str>,
        networks: &[String],
        refs: &[String],
    ) -> Result<Found, Box<TaskResult>> {
        let d = &self.docker;
        let mut s = d.preamble();
        s.push_str(&dc::section("container"));
        s.push_str(&format!(
            "{} 2>/dev/null\n",
            d.cmd(["container", "inspect", &self.name])
        ));
        s.push_str(&dc::section("container_image"));
        s.push_str(&format!(
            "kiln_i=$({} 2>/dev/null) && {} 2>/dev/null\n",
            d.cmd(["container", "inspect", "--format", "{{.Image}}", &self.name]),
            d.cmd(["image", "inspect"]) + " \"$kiln_i\""
        ));
        if let Some(r) = image_ref {
            s.push_str(&dc::section("image"));
            s.push_str(&format!("{} 2>/dev/null\n", d.cmd(["image", "inspect", r])));
        }
        for n in networks {
            s.push_str(&dc::section(&format!("network:{n}")));
            s.push_str(&format!(
                "{} 2>/dev/null\n",
                d.cmd(["network", "inspect", n])
            ));
        }
        for r in refs {
            s.push_str(&dc::section(&format!("ref:{r}")));
            s.push_str(&format!(
                "{} 2>/dev/null\n",
                d.cmd(["container", "inspect", r])
            ));
        }
        if let Some(f) = self.args.str("env_file") {
            s.push_str(&dc::section("env_file"));
            s.push_str(&format!(
                "cat {} || echo '@@kiln:no_env_file'\n",
                quote::quote(&f)
            ));
        }
        s.push_str(&dc::section("end"));
        let out = self
            .cx
            .sh(s)
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))?;
        if let Some(e) = dc::connect_error(&out) {
            return Err(Box::new(e));
        }
        let text = out.stdout_text();
        let parts = dc::sections(&text);
        if !parts.contains_key("end") {
            return Err(fail(format!(
                "the container query failed: {}",
                out.stderr_text().trim()
            )));
        }
        let get = |k: &str| parts.get(k).and_then(|t| dc::inspect_first(t));
        let mut found = Found {
            container: get("container"),
            image: get("image"),
            container_image: get("container_image"),
            networks: HashMap::new(),
            refs: HashMap::new(),
            env_file: parts.get("env_file").cloned(),
        };
        if found
            .env_file
            .as_deref()
            .is_some_and(|t| t.contains("@@kiln:no_env_file"))
            || parts.contains_key("no_env_file")
        {
            return Err(fail(format!(
                "[Errno 2] No such file or directory: '{}'",
                self.args.str("env_file").unwrap_or_default()
            )));
        }
        for n in networks {
            if let Some(j) = get(&format!("network:{n}")) {
                found.networks.insert(n.clone(), j);
            }
        }
        for r in refs {
            if let Some(j) = get(&format!("ref:{r}")) {
                found.refs.insert(r.clone(), text_of(&j, "Id"));
            }
        }
        Ok(found)
    }

    async fn go(mut self) -> Result<TaskResult, Box<TaskResult>> {
        let modes = comparison_modes(&self.args).map_err(fail)?;
        if let Some(ip) = self.args.str("default_host_ip")
            && !ip.is_empty()
        {
            let ok = is_ipv4(&ip)
                || is_bracketed_ipv6(&ip)
                || ip.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
            if !ok {
                return Err(fail(format!(
                    "The value of default_host_ip must be an empty string, an IPv4 address, or an IPv6 address. Got \"{ip}\" instead."
                )));
            }
        }
        let state = self.args.str("state").unwrap_or_else(|| "started".into());
        let image_param = self.args.str("image");
        let image_ref = image_param.as_ref().map(|i| {
            if dc::is_image_id(i) {
                i.clone()
            } else {
                let (repo, tag) = dc::parse_repository_tag(i);
                dc::image_ref(&repo, tag.as_deref().unwrap_or("latest"))
            }
        });
        let networks: Vec<String> = match self.args.get("networks") {
            Some(Value::Seq(items)) => items
                .iter()
                .filter_map(|i| match i {
                    Value::Map(m) => get_str(m, "name"),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut refs: Vec<String> = Vec::new();
        for k in ["network_mode", "ipc_mode", "pid_mode"] {
            if let Some(r) = self
                .args
                .str(k)
                .and_then(|v| v.strip_prefix("container:").map(str::to_string))
            {
                refs.push(r);
            }
        }
        let mut found = self.query(image_ref.as_deref(), &networks, &refs).await?;

        if state == "absent" {
            return self.absent(found).await;
        }

        // The image: pulled when missing (or always), unless it is an ID.
        let pull = match self.args.str("pull").as_deref() {
            Some("True") | Some("always") => "always",
            Some("never") => "never",
            _ => "missing",
        };
        if let (Some(img), Some(r)) = (&image_param, &image_ref) {
            if dc::is_image_id(img) {
                if found.image.is_none() {
                    return Err(fail(format!("Cannot find image with ID {img}")));
                }
            } else {
                if found.image.is_none() && pull == "never" {
                    return Err(fail(format!(
                        "Cannot find image with name {r}, and pull=never"
                    )));
                }
                if found.image.is_none() || pull == "always" {
                    self.pull(&mut found, r).await?;
                }
            }
        }
        let comparison_image = if image_param.is_none()
            || self.args.str("image_comparison").as_deref() == Some("current-image")
        {
            found.container_image.clone()
        } else {
            found.image.clone()
        };

        let mut wanted = Wanted::new(&self.args, &found.refs).map_err(fail)?;
        self.warnings.append(&mut wanted.warnings);
        if let Some(text) = &found.env_file {
            let mut env: Vec<(String, String)> =
                parse_env_file(text, &self.args.str("env_file").unwrap_or_default())
                    .map_err(fail)?;
            if let Some(Value::Map(e)) = self.args.get("env") {
                merge_env(&mut env, e).map_err(fail)?;
            }
            wanted.env = Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect());
        } else if let Some(Value::Map(e)) = self.args.get("env") {
            let mut env = Vec::new();
            merge_env(&mut env, e).map_err(fail)?;
            wanted.env = Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect());
        }
        if let Some(env) = &wanted.env {
            wanted.values.insert("env", jstrs(env));
        }
        let default_ip = match self.args.str("default_host_ip") {
            Some(ip) => ip.trim_start_matches('[').trim_end_matches(']').to_string(),
            None => networks
                .iter()
                .filter_map(|n| found.networks.get(n))
                .find_map(|n| {
                    (at(n, &["Driver"]) == "bridge")
                        .then(|| {
                            at(
                                n,
                                &["Options", "com.docker.network.bridge.host_binding_ipv4"],
                            )
                            .as_str()
                            .map(str::to_string)
                        })
                        .flatten()
                        .filter(|s| !s.is_empty())
                })
                .unwrap_or_else(|| "0.0.0.0".into()),
        };
        wanted.resolve_default_ip(&default_ip);
        for n in &networks {
            if !found.networks.contains_key(n) {
                return Err(fail(format!(
                    "Parameter error: network named {n} could not be found. Does it exist?"
                )));
            }
        }
        if modes["labels"] == Mode::Strict
            && self.args.str("image_label_mismatch").as_deref() == Some("fail")
            && found.container.is_some()
        {
            let params: Vec<String> = match self.args.get("labels") {
                Some(Value::Map(m)) => m.keys().map(crate::yaml::python_str).collect(),
                _ => Vec::new(),
            };
            if let Some(J::Object(il)) = comparison_image
                .as_ref()
                .map(|i| at(i, &["Config", "Labels"]).clone())
            {
                let extra: Vec<String> = il
                    .keys()
                    .filter(|k| !params.contains(k))
                    .map(|k| format!("\"{k}\""))
                    .collect();
                if !extra.is_empty() {
                    return Err(fail(format!(
                        "Some labels should be removed but are present in the base image. You can set image_label_mismatch to 'ignore' to ignore this error. Labels: {}",
                        extra.join(", ")
                    )));
                }
            }
        }

        let mut steps: Vec<Step> = Vec::new();
        let mut created = false;
        let mut container = found
            .container
            .clone()
            .filter(|c| at(c, &["State", "Status"]) != "removing");
        let was_running = container.as_ref().is_some_and(running);
        let was_paused = container
            .as_ref()
            .is_some_and(|c| at(c, &["State", "Paused"]) == &J::Bool(true));
        // Whether the state after the steps is known without asking Docker again.
        let check = self.cx.check_mode;
        match &container {
            None => {
                if image_param.is_none() {
                    return Err(fail("Cannot create container when image is not specified!"));
                }
                self.track("exists", J::Bool(true), J::Bool(false));
                let img = image_param.clone().unwrap_or_default();
                steps.push(self.create_step(&wanted, &img));
                created = true;
            }
            Some(c) => {
                let exp = expected(&wanted, &self.args, comparison_image.as_ref());
                let (fixed, updatable) = differences(&exp, c, &modes);
                let mut different = !fixed.is_empty();
                let mut image_different = false;
                if modes["image"] == Mode::Strict {
                    if let (Some(img), Some(cur)) = (found.image.as_ref(), c.get("Image")) {
                        let id = at(img, &["Id"]);
                        if !id.is_null() && id != cur {
                            image_different = true;
                            self.track("image", id.clone(), cur.clone());
                        }
                    }
                    let name_in_container = at(c, &["Config", "Image"]);
                    if self.args.str("image_name_mismatch").as_deref() == Some("recreate")
                        && let Some(img) = &image_param
                        && name_in_container.as_str() != Some(img.as_str())
                    {
                        different = true;
                        self.track(
                            "image_name",
                            J::String(img.clone()),
                            name_in_container.clone(),
                        );
                    }
                }
                if image_different || different || self.args.bool("recreate") {
                    let all: Vec<&Difference> = if different {
                        fixed.iter().chain(updatable.iter()).collect()
                    } else {
                        Vec::new()
                    };
                    for d in all {
                        self.track(d.name.clone(), d.parameter.clone(), d.active.clone());
                    }
                    let img = image_param
                        .clone()
                        .or_else(|| c.get("Image").and_then(J::as_str).map(str::to_string));
                    let Some(img) = img else {
                        return Err(fail(
                            "Cannot recreate container when image is not specified or cannot be extracted from current container!",
                        ));
                    };
                    let id = text_of(c, "Id");
                    if running(c) {
                        steps.push(self.stop_step(&id));
                    }
                    steps.push(self.remove_step(&id, false));
                    steps.push(self.create_step(&wanted, &img));
                    created = true;
                } else {
                    self.limits(&mut steps, c, &updatable);
                }
            }
        }
        // A container made by the steps is known from them; Docker is asked again at the end.
        let fresh = created && !check;
        if fresh {
            container = None;
        }
        // Networks, then the running state.
        self.networks(
            &mut steps,
            &wanted,
            container.as_ref(),
            created,
            &modes,
            &found.networks,
        );
        let exists = container.is_some() || fresh;
        let mut status_wait = false;
        let target = if fresh {
            self.name.clone()
        } else {
            container
                .as_ref()
                .map(|c| text_of(c, "Id"))
                .unwrap_or_default()
        };
        let is_running = !fresh && container.as_ref().is_some_and(running);
        if exists {
            let started = state == "started" || state == "healthy";
            if started && !is_running {
                self.track("running", J::Bool(true), J::Bool(was_running));
                self.changed = true;
                self.actions.push(serde_json::json!({"started": target}));
                steps.push(Step {
                    what: format!("Error starting container {target}"),
                    cmd: self.docker.cmd(["start", &target]),
                });
                if self.args.get("detach") == Some(&Value::Bool(false)) {
                    status_wait = true;
                }
            } else if started && self.args.bool("restart") {
                self.track("running", J::Bool(true), J::Bool(was_running));
                self.track("restarted", J::Bool(true), J::Bool(false));
                self.changed = true;
                let t = self.args.get("stop_timeout").map(crate::yaml::python_str);
                self.actions.push(serde_json::json!({"restarted": target, "timeout": t.as_ref().and_then(|t| t.parse::<i64>().ok())}));
                steps.push(Step {
                    what: format!("Error restarting container {target}"),
                    cmd: self.docker.cmd([
                        "restart",
                        "--time",
                        t.as_deref().unwrap_or("10"),
                        &target,
                    ]),
                });
            } else if state == "stopped" && is_running {
                self.track("running", J::Bool(false), J::Bool(was_running));
                steps.push(self.stop_step(&target));
            }
            let paused_now = !fresh && was_paused;
            if started
                && let Some(Value::Bool(want)) = self.args.get("paused").cloned().or_else(|| {
                    (self.args.str("container_default_behavior").as_deref()
                        == Some("compatibility"))
                    .then_some(Value::Bool(false))
                })
                && paused_now != want
            {
                self.track("paused", J::Bool(want), J::Bool(was_paused));
                self.changed = true;
                self.actions.push(serde_json::json!({"set_paused": want}));
                let (verb, what) = if want {
                    ("pause", "pausing")
                } else {
                    ("unpause", "unpausing")
                };
                steps.push(Step {
                    what: format!("Error {what} container {target}"),
                    cmd: self.docker.cmd([verb, &target]),
                });
            }
        }

        let mut result = TaskResult::ok();
        let mut facts = container.clone();
        if !check && (!steps.is_empty() || state == "healthy") {
            let (final_container, status, output) = self.apply(steps, &state, status_wait).await?;
            facts = final_container;
            if let Some(code) = status {
                result = result.with("status", Value::Int(i128::from(code)));
                let out_text = output.unwrap_or_default();
                let mut f = facts.clone().unwrap_or_else(|| serde_json::json!({}));
                if let J::Object(o) = &mut f {
                    o.insert("Output".into(), J::String(out_text.clone()));
                }
                facts = Some(f);
                if code != 0 {
                    result.failed = true;
                    result.msg = Some(out_text);
                }
            }
        }
        result.changed = self.changed;
        if let Some(f) = facts.filter(|f| f.as_object().is_some_and(|o| !o.is_empty())) {
            result = result.with("container", dc::from_json(&f));
        }
        Ok(self.finish(result))
    }

    fn finish(self, mut result: TaskResult) -> TaskResult {
        if self.cx.check_mode || self.args.bool("debug") {
            result = result.with("actions", dc::from_json(&J::Array(self.actions.clone())));
        }
        if self.cx.diff_mode || self.args.bool("debug") {
            let mut before = Map::new();
            let mut after = Map::new();
            for (name, parameter, active) in &self.diff {
                before.insert(Value::str(name.clone()), dc::from_json(active));
                after.insert(Value::str(name.clone()), dc::from_json(parameter));
            }
            if self.cx.diff_mode {
                result.diff.push(dc::json_diff(&before, &after));
            }
        }
        if !self.warnings.is_empty() {
            result = result.with(
                "warnings",
                Value::Seq(self.warnings.into_iter().map(Value::str).collect()),
            );
        }
        result
    }

    /// `docker update` for the limits that differ (all the task's updatable values).
    fn limits(&mut self, steps: &mut Vec<Step>, c: &J, updatable: &[Difference]) {
        if updatable.is_empty() {
            return;
        }
        for d in updatable {
            self.track(d.name.clone(), d.parameter.clone(), d.active.clone());
        }
        let mut words: Vec<String> = vec!["update".into()];
        for (opt, flag) in UPDATE_FLAGS {
            if let Some(p) = PLAIN.iter().find(|p| p.name == *opt)
                && let Some(v) = self.args.get(opt)
                && let Ok((_, w)) = plain_value(p, v, &self.args, &HashMap::new(), &mut Vec::new())
            {
                let value = w.last().cloned().unwrap_or_default();
                words.extend([flag.to_string(), value]);
            }
        }
        if let Some(policy) = self.args.str("restart_policy") {
            let retries = match self.args.get("restart_retries") {
                Some(Value::Int(i)) => Some(*i as i64),
                _ => None,
            };
            words.extend(["--restart".into(), restart_flag(&policy, retries)]);
        }
        let id = text_of(c, "Id");
        words.push(id.clone());
        self.changed = true;
        self.actions.push(serde_json::json!({"updated": id}));
        steps.push(Step {
            what: format!("Error updating container {id}"),
            cmd: self.docker.cmd(&words),
        });
    }

    fn create_step(&mut self, w: &Wanted, image: &str) -> Step {
        let mut words: Vec<String> = vec!["create".into(), "--name".into(), self.name.clone()];
        words.extend(w.flags.iter().cloned());
        if let Some(ep) = &w.entrypoint {
            words.push(format!(
                "--entrypoint={}",
                ep.first().cloned().unwrap_or_default()
            ));
        }
        for kv in w.env.iter().flatten() {
            words.extend(["--env".into(), kv.clone()]);
        }
        for (k, v) in w.labels.iter().flatten() {
            words.extend(["--label".into(), format!("{k}={v}")]);
        }
        for p in &w.ports {
            words.extend(["--expose".into(), p.clone()]);
        }
        for (cport, list) in w.published.iter().flatten() {
            for (ip, hport) in list {
                words.extend([
                    "--publish".into(),
                    format!("{}:{hport}:{cport}", cli_ip(ip)),
                ]);
            }
        }
        if w.values.get("publish_all_ports") == Some(&J::Bool(true)) {
            words.push("--publish-all".into());
        }
        for v in w.volumes.iter().flatten().chain(w.binds.iter().flatten()) {
            words.extend(["--volume".into(), v.clone()]);
        }
        for m in w.mounts.iter().flatten() {
            words.extend(["--mount".into(), mount_flag(m)]);
        }
        let mut networks = serde_json::Map::new();
        if let Some(mode) = w.values.get("network_mode").and_then(J::as_str) {
            words.extend(["--network".into(), mode.to_string()]);
            let first = w
                .networks
                .first()
                .filter(|n| n.name == mode && self.args.bool("networks_cli_compatible"));
            if let Some(n) = first {
                for a in n.aliases.iter().flatten() {
                    words.extend(["--network-alias".into(), a.clone()]);
                }
                if let Some(ip) = &n.ipv4 {
                    words.extend(["--ip".into(), ip.clone()]);
                }
                if let Some(ip) = &n.ipv6 {
                    words.extend(["--ip6".into(), ip.clone()]);
                }
                let mut p = dc::to_json(&Value::Map(n.param.clone()));
                if let J::Object(o) = &mut p {
                    o.remove("name");
                    o.retain(|_, v| !v.is_null());
                }
                networks.insert(n.name.clone(), p);
            }
        }
        words.push(image.to_string());
        words.extend(w.command.iter().flatten().cloned());
        self.changed = true;
        self.actions
            .push(serde_json::json!({"created": "Created container", "networks": networks}));
        Step {
            what: "Error creating container".into(),
            cmd: format!("{} >/dev/null", self.docker.cmd(&words)),
        }
    }

    fn stop_step(&mut self, id: &str) -> Step {
        self.changed = true;
        if self.args.bool("force_kill") {
            let sig = self.args.str("kill_signal");
            self.actions
                .push(serde_json::json!({"killed": id, "signal": sig}));
            let mut words = vec!["kill".to_string()];
            if let Some(s) = sig {
                words.extend(["--signal".into(), s]);
            }
            words.push(id.to_string());
            return Step {
                what: format!("Error killing container {id}"),
                cmd: self.docker.cmd(&words),
            };
        }
        let t = match self.args.get("stop_timeout") {
            Some(Value::Int(i)) if *i != 0 => Some(*i as i64),
            _ => None,
        };
        self.actions
            .push(serde_json::json!({"stopped": id, "timeout": t}));
        let mut words = vec!["stop".to_string()];
        if let Some(t) = t {
            words.extend(["--time".into(), t.to_string()]);
        }
        words.push(id.to_string());
        // A paused container must be unpaused before it stops.
        let unpause = format!(
            "[ \"$({})\" = true ] && {} >/dev/null; ",
            self.docker
                .cmd(["container", "inspect", "--format", "{{.State.Paused}}", id]),
            self.docker.cmd(["unpause", id])
        );
        Step {
            what: format!("Error stopping container {id}"),
            cmd: format!("{unpause}{} >/dev/null", self.docker.cmd(&words)),
        }
    }

    fn remove_step(&mut self, id: &str, force: bool) -> Step {
        let volumes = !self.args.bool("keep_volumes");
        self.changed = true;
        self.actions.push(serde_json::json!({"removed": id, "volume_state": volumes, "link": false, "force": force}));
        let mut words = vec!["rm".to_string()];
        if volumes {
            words.push("--volumes".into());
        }
        if force {
            words.push("--force".into());
        }
        words.push(id.to_string());
        Step {
            what: format!("Error removing container {id}"),
            cmd: format!("{} >/dev/null", self.docker.cmd(&words)),
        }
    }

    /// Connects the requested networks that are missing or differ, and with `networks:
    /// strict` disconnects the others.
    fn networks(
        &mut self,
        steps: &mut Vec<Step>,
        w: &Wanted,
        container: Option<&J>,
        created: bool,
        modes: &HashMap<&'static str, Mode>,
        infos: &HashMap<String, J>,
    ) {
        if container.is_none() && !created {
            return;
        }
        if container.is_none() && self.cx.check_mode {
            return;
        }
        // After a (re)creation the container is connected to what `docker create` gave it.
        let connected: serde_json::Map<String, J> = match container {
            Some(c) => at(c, &["NetworkSettings", "Networks"])
                .as_object()
                .cloned()
                .unwrap_or_default(),
            None => {
                let mut m = serde_json::Map::new();
                let mode = w
                    .values
                    .get("network_mode")
                    .and_then(J::as_str)
                    .unwrap_or("default");
                let first = w
                    .networks
                    .first()
                    .filter(|n| n.name == mode && self.args.bool("networks_cli_compatible"));
                match first {
                    Some(n) => {
                        m.insert(
                            n.name.clone(),
                            serde_json::json!({
                                "IPAMConfig": {"IPv4Address": n.ipv4, "IPv6Address": n.ipv6},
                                "Aliases": n.aliases,
                                "NetworkID": infos.get(&n.name).map(|i| at(i, &["Id"]).clone()),
                            }),
                        );
                    }
                    None => {
                        let net = if mode == "default" { "bridge" } else { mode };
                        if !mode.starts_with("container:") {
                            m.insert(net.to_string(), serde_json::json!({"NetworkID": net}));
                        }
                    }
                }
                m
            }
        };
        let target = if container.is_some() && !created {
            container.map(|c| text_of(c, "Id")).unwrap_or_default()
        } else {
            self.name.clone()
        };
        if modes["networks"] != Mode::Ignore || created {
            for n in &w.networks {
                let info = connected.get(&n.name);
                let differs = match info {
                    None => true,
                    Some(i) => {
                        let ipam = at(i, &["IPAMConfig"]);
                        let ip_differs = |want: &Option<String>, key: &str| {
                            want.as_ref().is_some_and(|ip| {
                                Some(normalize_ip(ip))
                                    != at(ipam, &[key]).as_str().map(normalize_ip)
                            })
                        };
                        let aliases_missing = n.aliases.as_ref().is_some_and(|a| {
                            !a.is_empty()
                                && !compare(&jstrs(a), at(i, &["Aliases"]), Mode::More, Cmp::Set)
                        });
                        let links_missing = n.links.as_ref().is_some_and(|l| {
                            let want: Vec<String> =
                                l.iter().map(|(a, b)| format!("{a}:{b}")).collect();
                            !l.is_empty()
                                && !compare(&jstrs(&want), at(i, &["Links"]), Mode::More, Cmp::Set)
                        });
                        ip_differs(&n.ipv4, "IPv4Address")
                            || ip_differs(&n.ipv6, "IPv6Address")
                            || aliases_missing
                            || links_missing
                    }
                };
                if !differs {
                    continue;
                }
                let param = dc::to_json(&Value::Map(n.param.clone()));
                let active = match info {
                    None => J::Null,
                    Some(i) => serde_json::json!({
                        "name": n.name,
                        "ipv4_address": at(i, &["IPAMConfig", "IPv4Address"]),
                        "ipv6_address": at(i, &["IPAMConfig", "IPv6Address"]),
                        "aliases": at(i, &["Aliases"]),
                        "links": at(i, &["Links"]),
                        "mac_address": at(i, &["MacAddress"]),
                    }),
                };
                self.track(format!("network.{}", n.name), param.clone(), active);
                self.changed = true;
                if info.is_some() {
                    self.actions
                        .push(serde_json::json!({"removed_from_network": n.name}));
                    steps.push(Step {
                        what: format!("Error disconnecting container from network {}", n.name),
                        cmd: self.docker.cmd(["network", "disconnect", &n.name, &target]),
                    });
                }
                self.actions.push(
                    serde_json::json!({"added_to_network": n.name, "network_parameters": param}),
                );
                let mut words: Vec<String> = vec!["network".into(), "connect".into()];
                for a in n.aliases.iter().flatten() {
                    words.extend(["--alias".into(), a.clone()]);
                }
                if let Some(ip) = &n.ipv4 {
                    words.extend(["--ip".into(), ip.clone()]);
                }
                if let Some(ip) = &n.ipv6 {
                    words.extend(["--ip6".into(), ip.clone()]);
                }
                let mut links = n.links.clone().unwrap_or_default();
                links.sort();
                for (a, b) in links {
                    words.extend(["--link".into(), format!("{a}:{b}")]);
                }
                words.extend([n.name.clone(), target.clone()]);
                steps.push(Step {
                    what: format!("Error connecting container to network {}", n.name),
                    cmd: self.docker.cmd(&words),
                });
            }
        }
        if modes["networks"] == Mode::Strict && self.args.get("networks").is_some() {
            for (name, cfg) in &connected {
                if w.networks.iter().any(|n| &n.name == name) {
                    continue;
                }
                self.track(
                    format!("network.{name}"),
                    J::Null,
                    serde_json::json!({"name": name, "id": cfg.get("NetworkID")}),
                );
                self.changed = true;
                self.actions
                    .push(serde_json::json!({"removed_from_network": name}));
                steps.push(Step {
                    what: format!("Error disconnecting container from network {name}"),
                    cmd: self.docker.cmd(["network", "disconnect", name, &target]),
                });
            }
        }
    }

    async fn pull(&mut self, found: &mut Found, r: &str) -> Result<(), Box<TaskResult>> {
        let missing = found.image.is_none();
        if self.cx.check_mode {
            if missing || self.args.str("pull_check_mode_behavior").as_deref() == Some("always") {
                self.changed = true;
                let mut a = serde_json::json!({"pulled_image": r});
                if missing {
                    a["changed"] = J::Bool(true);
                }
                self.actions.push(a);
            }
            return Ok(());
        }
        let d = &self.docker;
        let script = format!(
            "{}{} >/dev/null || exit 3\n{}{}\n",
            d.preamble(),
            d.cmd(["pull", r]),
            dc::section("image"),
            d.cmd(["image", "inspect", r])
        );
        let out = self
            .cx
            .sh(script)
            .await
            .map_err(|e| Box::new(super::conn_failure(e)))?;
        if let Some(e) = dc::connect_error(&out) {
            return Err(Box::new(e));
        }
        if out.rc != 0 {
            return Err(fail(format!(
                "Error pulling image {r} - {}",
                out.stderr_text().trim()
            )));
        }
        let new = dc::sections(&out.stdout_text())
            .get("image")
            .and_then(|t| dc::inspect_first(t));
        let same = match (&found.image, &new) {
            (Some(a), Some(b)) => a.get("Id") == b.get("Id"),
            _ => false,
        };
        self.changed = !same;
        self.actions
            .push(serde_json::json!({"pulled_image": r, "changed": !same}));
        found.image = new;
        Ok(())
    }

    async fn absent(mut self, found: Found) -> Result<TaskResult, Box<TaskResult>> {
        let mut steps = Vec::new();
        if let Some(c) = &found.container {
            let id = text_of(c, "Id");
            if running(c) {
                self.track("running", J::Bool(false), J::Bool(true));
                steps.push(self.stop_step(&id));
            }
            self.track("exists", J::Bool(false), J::Bool(true));
            steps.push(self.remove_step(&id, false));
        }
        if !self.cx.check_mode && !steps.is_empty() {
            self.apply(steps, "absent", false).await?;
        }
        let r = TaskResult::changed(self.changed);
        Ok(self.finish(r))
    }

    /// Runs the steps in one script, then reports the container as Docker sees it, and the
    /// exit status and output when the task waited for the container.
    async fn apply(
        &mut self,
        steps: Vec<Step>,
        state: &str,
        wait: bool,
    ) -> Result<(Option<J>, Option<i32>, Option<String>), Box<TaskResult>> {
        let d = &self.docker;
        let mut s = d.preamble();
        s.push_str("kiln_step() { printf '\\n@@kiln:step\\n%s\\n' \"$1\"; }\n");
        for step in &steps {
            s.push_str(&format!(
                "kiln_step {}\n{} || exit 3\n",
                quote::quote(&step.what),
                step.cmd
            ));
        }
        if wait {
            s.push_str(&dc::section("status"));
            s.push_str(&format!("{}\n", d.cmd(["wait", &self.name])));
            s.push_str(&dc::section("driver"));
            s.push_str(&format!(
                "{}\n",
                d.cmd([
                    "container",
                    "inspect",
                    "--format",
                    "{{.HostConfig.LogConfig.Type}}",
                    &self.name
                ])
            ));
            if !self.args.bool("auto_remove") {
                s.push_str(&dc::section("logs"));
                s.push_str(&format!(
                    "case \"$({})\" in json-file|journald|local) {} 2>&1;; esac\n",
                    d.cmd([
                        "container",
                        "inspect",
                        "--format",
                        "{{.HostConfig.LogConfig.Type}}",
                        &self.name
                    ]),
                    d.cmd(["logs", &self.name])
                ));
            }
            if self.args.bool("cleanup") {
                s.push_str(&format!(
                    "{} >/dev/null 2>&1\n",
                    d.cmd(["rm", "--force", &self.name])
                ));
            }
        }
        if state == "healthy" {
            let timeout = match self.args.get("healthy_wait_timeout") {
                Some(Value::Float(f)) if *f > 0.0 => Some(*f),
                Some(Value::Int(i)) if *i > 0 => Some(*i as f64),
                _ => None,
            };
            let limit = timeout.map_or("0".to_string(), |t| format!("{}", t.ceil() as i64));
            s.push_str(&dc::section("health"));
            s.push_str(&format!(
                "kiln_t=0; while :; do kiln_h=$({}) || exit 4\n case \"$kiln_h\" in healthy|'') break;; starting|unhealthy) ;; *) printf 'unexpected:%s\\n' \"$kiln_h\"; exit 4;; esac\n [ {limit} -gt 0 ] && [ \"$kiln_t\" -ge {limit} ] && {{ echo timeout; exit 4; }}\n sleep 1; kiln_t=$((kiln_t + 1)); done\n",
                d.cmd(["container", "inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", &self.name])
            ));
        }
        s.push_str(&dc::section("final"));
        s.push_str(&format!(
            "{} 2>/dev/null || true\n",
            d.cmd(["container", "inspect", &self.name])
        ));
        let out = try_conn_r(self.cx.sh(s).await)?;
        if let Some(e) = dc::connect_error(&out) {
            return Err(Box::new(e));
        }
        let text = out.stdout_text();
        let parts = dc::sections(&text);
        if out.rc == 3 {
            let what = parts
                .get("step")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            return Err(fail(format!("{what}: {}", out.stderr_text().trim())));
        }
        let final_container = parts.get("final").and_then(|t| dc::inspect_first(t));
        if out.rc == 4 {
            let health = parts
                .get("health")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let id = final_container
                .as_ref()
                .map(|c| text_of(c, "Id"))
                .unwrap_or_else(|| self.name.clone());
            let mut r = if let Some(st) = health.strip_prefix("unexpected:") {
                fail(format!(
                    "Encontered unexpected state \"{st}\" while waiting for container \"{id}\""
                ))
            } else {
                let t = self
                    .args
                    .get("healthy_wait_timeout")
                    .map(crate::yaml::python_str)
                    .unwrap_or_default();
                fail(format!(
                    "Timeout of {t} seconds exceeded while waiting for container \"{id}\""
                ))
            };
            if let Some(c) = &final_container {
                r.data.insert(Value::str("container"), dc::from_json(c));
            }
            return Err(r);
        }
        if out.rc != 0 {
            return Err(fail(format!("docker failed: {}", out.stderr_text().trim())));
        }
        if !wait {
            return Ok((final_container, None, None));
        }
        let status = parts
            .get("status")
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(-1);
        let driver = parts
            .get("driver")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let output = if self.args.bool("auto_remove") {
            "Cannot retrieve result as auto_remove is enabled".to_string()
        } else if ["json-file", "journald", "local"].contains(&driver.as_str()) {
            parts
                .get("logs")
                .cloned()
                .unwrap_or_default()
                .strip_suffix('\n')
                .map(str::to_string)
                .unwrap_or_default()
        } else {
            format!("Result logged using `{driver}` driver")
        };
        Ok((final_container, Some(status), Some(output)))
    }
}

fn try_conn_r(
    r: Result<crate::connection::Output, crate::connection::ConnError>,
) -> Result<crate::connection::Output, Box<TaskResult>> {
    r.map_err(|e| Box::new(super::conn_failure(e)))
}

fn text_of(j: &J, key: &str) -> String {
    j.get(key).map(text).unwrap_or_default()
}

fn running(c: &J) -> bool {
    at(c, &["State", "Running"]) == &J::Bool(true) && at(c, &["State", "Ghost"]) != &J::Bool(true)
}

/// The Docker SDK's `parse_env_file`: `KEY=VALUE` lines, `#` comments.
fn parse_env_file(text: &str, path: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("Invalid line in environment file {path}:\n{line}"));
        };
        match out.iter_mut().find(|(ok, _)| ok == k) {
            Some(e) => e.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    Ok(out)
}

/// The task's `env` over the env file's, refusing values YAML made non-strings.
fn merge_env(env: &mut Vec<(String, String)>, m: &Map) -> Result<(), String> {
    for (k, v) in m {
        let key = crate::yaml::python_str(k);
        if !matches!(v, Value::Str(_) | Value::Unsafe(_)) {
            return Err(format!(
                "Non-string value found for env option. Ambiguous env options must be wrapped in quotes to avoid them being interpreted when directly specified in YAML, or explicitly converted to strings when the option is templated. Key: {key}"
            ));
        }
        let value = crate::yaml::python_str(v);
        match env.iter_mut().find(|(ek, _)| *ek == key) {
            Some(e) => e.1 = value,
            None => env.push((key, value)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generic_comparisons() {
        assert!(compare(
            &json!(["a"]),
            &json!(["a", "b"]),
            Mode::More,
            Cmp::Set
        ));
        assert!(!compare(
            &json!(["a"]),
            &json!(["a", "b"]),
            Mode::Strict,
            Cmp::Set
        ));
        assert!(compare(
            &json!({"a": "1"}),
            &json!({"a": "1", "b": "2"}),
            Mode::More,
            Cmp::Dict
        ));
        assert!(!compare(
            &json!({"a": "2"}),
            &json!({"a": "1"}),
            Mode::More,
            Cmp::Dict
        ));
        assert!(compare(&json!([]), &J::Null, Mode::Strict, Cmp::List));
        assert!(!compare(&json!("x"), &J::Null, Mode::Strict, Cmp::Value));
        assert!(compare(&json!(1), &json!(1.0), Mode::Strict, Cmp::Value));
        // A dict's keys are its set (`volumes`).
        assert!(compare(
            &json!({"/data": {}}),
            &json!({"/data": {}, "/x": {}}),
            Mode::More,
            Cmp::Set
        ));
        assert!(compare(
            &json!(["b", "c"]),
            &json!(["a", "b", "x", "c"]),
            Mode::More,
            Cmp::List
        ));
        assert!(compare(
            &json!([{"Path": "/dev/sda", "Rate": 1}]),
            &json!([{"Path": "/dev/sda", "Rate": 1}]),
            Mode::Strict,
            Cmp::SetDict
        ));
    }

    #[test]
    fn ports_and_durations() {
        assert_eq!(
            split_colon_ipv6("[::1]:80:80").unwrap(),
            vec!["[::1]", "80", "80"]
        );
        assert_eq!(
            split_colon_ipv6("127.0.0.1:8080:80").unwrap(),
            vec!["127.0.0.1", "8080", "80"]
        );
        assert_eq!(port_range("8000-8002").unwrap(), vec![8000, 8001, 8002]);
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert!(duration_ns("30").is_err());
        assert!(duration_ns("1s1m").is_err());
    }

    #[test]
    fn volume_splitting() {
        let mut seen = HashMap::new();
        let (anon, binds) = volumes(
            &[
                "/data".into(),
                "/tmp:/tmp".into(),
                "/a:/b:ro".into(),
                "v:/c".into(),
            ],
            &mut seen,
        )
        .unwrap();
        assert_eq!(anon, vec!["/data"]);
        assert_eq!(binds, vec!["/tmp:/tmp:rw", "/a:/b:ro", "v:/c:rw"]);
        let e = volumes(&["/x:/tmp".into()], &mut seen).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
    }

    #[test]
    fn env_files() {
        let env = parse_env_file("# c\nA=1\n\nB=x=y\nA=2\n", "f").unwrap();
        assert_eq!(
            env,
            vec![("A".into(), "2".into()), ("B".into(), "x=y".into())]
        );
        assert!(parse_env_file("NOEQ\n", "f").is_err());
    }

    #[test]
    fn wildcard_and_aliases_in_comparisons() {
        let mut m = Map::new();
        let mut comp = Map::new();
        comp.insert(Value::str("*"), Value::str("ignore"));
        comp.insert(Value::str("env"), Value::str("strict"));
        m.insert(Value::str("comparisons"), Value::Map(comp));
        let modes = comparison_modes(&Args(m.clone())).unwrap();
        assert_eq!(modes["env"], Mode::Strict);
        assert_eq!(modes["image"], Mode::Ignore);
        // Without `networks`, the wildcard leaves them alone.
        assert_eq!(modes["networks"], Mode::More);
        let mut comp = Map::new();
        comp.insert(Value::str("hostname"), Value::str("allow_more_present"));
        m.insert(Value::str("comparisons"), Value::Map(comp));
        assert!(
            comparison_modes(&Args(m))
                .unwrap_err()
                .contains("is a value")
        );
    }
}
