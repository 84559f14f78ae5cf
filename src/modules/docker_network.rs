//! `docker_network` (community.docker): a network and the containers connected to it, through
//! the target's `docker network` commands. A network whose driver, options, IPAM or flags differ
//! from the task's is removed (its containers disconnected) and created again, as
//! community.docker does.

use super::docker_common::{self as dc, Docker};
use super::docker_image::docker_sh;
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use serde_json::Value as J;
use std::sync::LazyLock;

pub struct DockerNetwork;

static IPAM: [Opt; 4] = [
    Opt::new("subnet", Kind::Str),
    Opt::new("iprange", Kind::Str),
    Opt::new("gateway", Kind::Str),
    Opt::new("aux_addresses", Kind::Dict),
];

static SPEC: LazyLock<ArgSpec> = LazyLock::new(|| {
    dc::spec(
        &[
            Opt::new("name", Kind::Str)
                .required()
                .aliases(&["network_name"]),
            Opt::new("config_from", Kind::Str),
            Opt::new("config_only", Kind::Bool),
            Opt::new("connected", Kind::List)
                .elements(Kind::Str)
                .aliases(&["containers"]),
            Opt::new("state", Kind::Str)
                .default("present")
                .choices(&["present", "absent"]),
            Opt::new("driver", Kind::Str).default("bridge"),
            Opt::new("driver_options", Kind::Dict),
            Opt::new("force", Kind::Bool).default("false"),
            Opt::new("appends", Kind::Bool)
                .default("false")
                .aliases(&["incremental"]),
            Opt::new("ipam_driver", Kind::Str),
            Opt::new("ipam_driver_options", Kind::Dict),
            Opt::new("ipam_config", Kind::List)
                .elements(Kind::Dict)
                .suboptions(&IPAM),
            Opt::new("enable_ipv4", Kind::Bool).unsupported("needs Docker API 1.47"),
            Opt::new("enable_ipv6", Kind::Bool),
            Opt::new("internal", Kind::Bool),
            Opt::new("labels", Kind::Dict),
            Opt::new("scope", Kind::Str).choices(&["local", "global", "swarm"]),
            Opt::new("attachable", Kind::Bool),
            Opt::new("ingress", Kind::Bool),
        ],
        false,
        &[],
        &[],
    )
});

#[async_trait]
impl Module for DockerNetwork {
    fn name(&self) -> &'static str {
        "docker_network"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        dc::COLLECTIONS
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        match run(cx, &args).await {
            Ok(r) => r,
            Err(msg) => TaskResult::failed(msg),
        }
    }
}

/// An address as Python's `ipaddress` writes it; other text as given.
fn normalize_ip(ip: &str) -> String {
    ip.parse::<std::net::IpAddr>()
        .map_or_else(|_| ip.to_string(), |a| a.to_string())
}

/// A network in CIDR notation as Python's `ip_network(...).compressed` writes it (host bits
/// set: not a network, kept as given).
fn normalize_network(net: &str) -> String {
    let Some((addr, len)) = net.split_once('/') else {
        return net.to_string();
    };
    let (Ok(ip), Ok(len)) = (addr.parse::<std::net::IpAddr>(), len.parse::<u32>()) else {
        return net.to_string();
    };
    let host_bits_clear = match ip {
        std::net::IpAddr::V4(a) if len <= 32 => len == 32 || u32::from(a) & (u32::MAX >> len) == 0,
        std::net::IpAddr::V6(a) if len <= 128 => {
            len == 128 || u128::from(a) & (u128::MAX >> len) == 0
        }
        _ => false,
    };
    if host_bits_clear {
        format!("{ip}/{len}")
    } else {
        net.to_string()
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(n) = len.parse::<u32>() else {
        return false;
    };
    let v4 = addr.split('.').count() == 4
        && addr
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()));
    let v6 = !addr.is_empty() && addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    (v4 && n <= 32 && !len.starts_with('0') || v4 && len == "0") || (v6 && n <= 128)
}

/// An IPAM block's values normalized for comparison.
fn normalize_ipam(m: &serde_json::Map<String, J>) -> serde_json::Map<String, J> {
    m.iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("subnet" | "iprange", J::String(s)) => J::String(normalize_network(s)),
                ("gateway", J::String(s)) => J::String(normalize_ip(s)),
                ("aux_addresses", J::Object(o)) => J::Object(
                    o.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or(v.clone(), |s| J::String(normalize_ip(s))),
                            )
                        })
                        .collect(),
                ),
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

fn container_names(net: &J) -> Vec<String> {
    net.get("Containers")
        .and_then(J::as_object)
        .map(|cs| {
            cs.values()
                .filter_map(|c| c.get("Name").and_then(J::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

struct Tracker(Vec<(String, J, J)>);

impl Tracker {
    fn add(&mut self, name: impl Into<String>, parameter: J, active: J) {
        self.0.push((name.into(), parameter, active));
    }
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, String> {
    let docker = Docker::new(args);
    let name = args.str("name").unwrap_or_default();
    let check = cx.check_mode;
    let labels = match args.get("labels") {
        Some(Value::Map(l)) => dc::sanitize_labels(l, "labels")?,
        _ => Vec::new(),
    };
    let mut connected: Vec<String> = args
        .list("connected")
        .iter()
        .map(crate::yaml::python_str)
        .collect();
    let mut script = format!(
        "{}{} 2>/dev/null\n",
        dc::section("network"),
        docker.cmd(["network", "inspect", &name])
    );
    for c in &connected {
        script.push_str(&dc::section(&format!("container:{c}")));
        script.push_str(&format!(
            "{} >/dev/null 2>&1 && echo yes\n",
            docker.cmd(["container", "inspect", c])
        ));
    }
    let out = docker_sh(cx, &docker, &script).await?;
    let parts = dc::sections(&out.stdout_text());
    let mut existing = parts.get("network").and_then(|t| dc::inspect_first(t));
    let exists_container = |c: &str| {
        parts
            .get(&format!("container:{c}"))
            .is_some_and(|t| t.trim() == "yes")
    };
    if connected.is_empty()
        && let Some(net) = &existing
    {
        connected = container_names(net);
    }
    let ipam: Vec<serde_json::Map<String, J>> = args
        .list("ipam_config")
        .iter()
        .filter_map(|v| match dc::to_json(v) {
            J::Object(o) => Some(o),
            _ => None,
        })
        .collect();
    for block in &ipam {
        let subnet = block.get("subnet").and_then(J::as_str).unwrap_or_default();
        if !is_cidr(subnet) {
            return Err(format!("\"{subnet}\" is not a valid CIDR"));
        }
    }
    let driver_options: Vec<(String, String)> = match args.get("driver_options") {
        Some(Value::Map(m)) => dc::clean_booleans(m),
        _ => Vec::new(),
    };
    let driver = if args.bool("config_only") {
        "null".to_string()
    } else {
        args.str("driver").unwrap_or_else(|| "bridge".into())
    };

    let mut tracker = Tracker(Vec::new());
    let mut actions: Vec<String> = Vec::new();
    let mut changed = false;
    let mut steps: Vec<(String, String)> = Vec::new();
    let state = args.str("state").unwrap_or_else(|| "present".into());
    let mut difference_names: Vec<String> = Vec::new();

    let remove = |existing: &mut Option<J>,
                  steps: &mut Vec<(String, String)>,
                  tracker: &mut Tracker,
                  actions: &mut Vec<String>,
                  changed: &mut bool| {
        let Some(net) = existing.take() else { return };
        for c in container_names(&net) {
            steps.push((
                format!("Error disconnecting container {c}"),
                docker.cmd(["network", "disconnect", "--force", &name, &c]),
            ));
            actions.push(format!("Disconnected container {c}"));
            tracker.add(format!("connected.{c}"), J::Bool(false), J::Bool(true));
        }
        steps.push((
            format!("Error removing network {name}"),
            docker.cmd(["network", "rm", &name]),
        ));
        actions.push(format!("Removed network {name}"));
        *changed = true;
    };

    if state == "absent" {
        tracker.add("exists", J::Bool(false), J::Bool(existing.is_some()));
        remove(
            &mut existing,
            &mut steps,
            &mut tracker,
            &mut actions,
            &mut changed,
        );
    } else {
        let mut differences = Tracker(Vec::new());
        if let Some(net) = &existing {
            differ(
                args,
                net,
                &driver,
                &driver_options,
                &labels,
                &ipam,
                &mut differences,
            );
        }
        tracker.add("exists", J::Bool(true), J::Bool(existing.is_some()));
        if args.bool("force") || !differences.0.is_empty() {
            remove(
                &mut existing,
                &mut steps,
                &mut tracker,
                &mut actions,
                &mut changed,
            );
        }
        if existing.is_none() {
            steps.push((
                format!("Error creating network {name}"),
                create_cmd(
                    &docker,
                    args,
                    &name,
                    &driver,
                    &driver_options,
                    &labels,
                    &ipam,
                ),
            ));
            actions.push(format!("Created network {name} with driver {driver}"));
            changed = true;
        }
        let in_net = existing.as_ref().map(container_names).unwrap_or_default();
        for c in &connected {
            if !in_net.contains(c) && exists_container(c) {
                steps.push((
                    format!("Error connecting container {c}"),
                    docker.cmd(["network", "connect", &name, c]),
                ));
                actions.push(format!("Connected container {c}"));
                changed = true;
                tracker.add(format!("connected.{c}"), J::Bool(true), J::Bool(false));
            }
        }
        if !args.bool("appends") {
            for c in &in_net {
                if !connected.contains(c) {
                    steps.push((
                        format!("Error disconnecting container {c}"),
                        docker.cmd(["network", "disconnect", "--force", &name, c]),
                    ));
                    actions.push(format!("Disconnected container {c}"));
                    changed = true;
                    tracker.add(format!("connected.{c}"), J::Bool(false), J::Bool(true));
                }
            }
        }
        difference_names = differences.0.iter().map(|d| d.0.clone()).collect();
        tracker.0.extend(differences.0);
    }

    let mut network = existing.clone();
    if !check {
        let mut s = String::new();
        s.push_str("kiln_step() { printf '\\n@@kiln:step\\n%s\\n' \"$1\"; }\n");
        for (what, cmd) in &steps {
            s.push_str(&format!(
                "kiln_step {}\n{cmd} >/dev/null || exit 3\n",
                crate::connection::quote::quote(what)
            ));
        }
        s.push_str(&dc::section("final"));
        s.push_str(&format!(
            "{} 2>/dev/null || true\n",
            docker.cmd(["network", "inspect", &name])
        ));
        let out = docker_sh(cx, &docker, &s).await?;
        let parts = dc::sections(&out.stdout_text());
        if out.rc != 0 {
            let what = parts
                .get("step")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            return Err(format!("{what}: {}", out.stderr_text().trim()));
        }
        network = parts.get("final").and_then(|t| dc::inspect_first(t));
    }
    let mut r = TaskResult::changed(changed);
    if state != "absent" {
        r = r.with(
            "network",
            network.as_ref().map_or(Value::Null, dc::from_json),
        );
    }
    if check || args.bool("debug") {
        r = r.with(
            "actions",
            Value::Seq(actions.into_iter().map(Value::str).collect()),
        );
    }
    if cx.diff_mode || check || args.bool("debug") {
        let mut diff = Map::new();
        if state != "absent" {
            diff.insert(
                Value::str("differences"),
                Value::Seq(difference_names.into_iter().map(Value::str).collect()),
            );
        }
        if cx.diff_mode {
            let (mut before, mut after) = (Map::new(), Map::new());
            for (n, p, a) in &tracker.0 {
                before.insert(Value::str(n.clone()), dc::from_json(a));
                after.insert(Value::str(n.clone()), dc::from_json(p));
            }
            r.diff.push(dc::json_diff(&before, &after));
        } else {
            r = r.with("diff", Value::Map(diff));
        }
    }
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
fn create_cmd(
    docker: &Docker,
    args: &Args,
    name: &str,
    driver: &str,
    driver_options: &[(String, String)],
    labels: &[(String, String)],
    ipam: &[serde_json::Map<String, J>],
) -> String {
    let mut w: Vec<String> = vec![
        "network".into(),
        "create".into(),
        "--driver".into(),
        driver.into(),
    ];
    for (k, v) in driver_options {
        w.extend(["--opt".into(), format!("{k}={v}")]);
    }
    if let Some(Value::Bool(b)) = args.get("config_only") {
        w.push(format!("--config-only={b}"));
    }
    if let Some(c) = args.str("config_from") {
        w.extend(["--config-from".into(), c]);
    }
    if args.bool("enable_ipv6") {
        w.push("--ipv6".into());
    }
    if args.bool("internal") {
        w.push("--internal".into());
    }
    if let Some(s) = args.str("scope") {
        w.extend(["--scope".into(), s]);
    }
    for k in ["attachable", "ingress"] {
        if let Some(Value::Bool(b)) = args.get(k) {
            w.push(format!("--{k}={b}"));
        }
    }
    for (k, v) in labels {
        w.extend(["--label".into(), format!("{k}={v}")]);
    }
    if let Some(d) = args.str("ipam_driver") {
        w.extend(["--ipam-driver".into(), d]);
    }
    if let Some(Value::Map(o)) = args.get("ipam_driver_options") {
        for (k, v) in dc::clean_booleans(o) {
            w.extend(["--ipam-opt".into(), format!("{k}={v}")]);
        }
    }
    for block in ipam {
        for (key, flag) in [
            ("subnet", "--subnet"),
            ("iprange", "--ip-range"),
            ("gateway", "--gateway"),
        ] {
            if let Some(J::String(v)) = block.get(key) {
                w.extend([flag.into(), v.clone()]);
            }
        }
        if let Some(J::Object(aux)) = block.get("aux_addresses") {
            for (h, ip) in aux {
                w.extend([
                    "--aux-address".into(),
                    format!("{h}={}", ip.as_str().unwrap_or_default()),
                ]);
            }
        }
    }
    w.push(name.into());
    docker.cmd(&w)
}

/// A dict option (`labels`, `driver_options`) against the network's: the whole dict when the
/// network has none, else each wanted key that differs (more keys on the network are fine).
fn compare_dict(d: &mut Tracker, name: &str, wanted: &[(String, String)], have: Option<&J>) {
    if wanted.is_empty() {
        return;
    }
    match have.and_then(J::as_object).filter(|o| !o.is_empty()) {
        None => d.add(
            name,
            J::Object(
                wanted
                    .iter()
                    .map(|(k, v)| (k.clone(), J::String(v.clone())))
                    .collect(),
            ),
            have.cloned().unwrap_or(J::Null),
        ),
        Some(o) => {
            for (k, v) in wanted {
                if o.get(k).and_then(J::as_str) != Some(v.as_str()) {
                    d.add(
                        format!("{name}.{k}"),
                        J::String(v.clone()),
                        o.get(k).cloned().unwrap_or(J::Null),
                    );
                }
            }
        }
    }
}

/// community.docker's comparison of an existing network with the task.
fn differ(
    args: &Args,
    net: &J,
    driver: &str,
    driver_options: &[(String, String)],
    labels: &[(String, String)],
    ipam: &[serde_json::Map<String, J>],
    d: &mut Tracker,
) {
    let get = |k: &str| net.get(k).cloned().unwrap_or(J::Null);
    let flag = |k: &str| net.get(k).and_then(J::as_bool).unwrap_or(false);
    if let Some(Value::Bool(b)) = args.get("config_only")
        && *b != flag("ConfigOnly")
    {
        d.add("config_only", J::Bool(*b), J::Bool(flag("ConfigOnly")));
    }
    if let Some(c) = args.str("config_from") {
        let cur = net
            .get("ConfigFrom")
            .and_then(|c| c.get("Network"))
            .and_then(J::as_str)
            .unwrap_or_default()
            .to_string();
        if c != cur {
            d.add("config_from", J::String(c), J::String(cur));
        }
    }
    if !driver.is_empty() && Some(driver) != net.get("Driver").and_then(J::as_str) {
        d.add("driver", J::String(driver.into()), get("Driver"));
    }
    compare_dict(d, "driver_options", driver_options, net.get("Options"));
    let ipam_info = net.get("IPAM").filter(|i| !i.is_null());
    if let Some(drv) = args.str("ipam_driver")
        && ipam_info.and_then(|i| i.get("Driver")).and_then(J::as_str) != Some(drv.as_str())
    {
        d.add(
            "ipam_driver",
            J::String(drv),
            ipam_info.cloned().unwrap_or(J::Null),
        );
    }
    if let Some(Value::Map(o)) = args.get("ipam_driver_options") {
        let want = J::Object(
            dc::clean_booleans(o)
                .into_iter()
                .map(|(k, v)| (k, J::String(v)))
                .collect(),
        );
        let cur = ipam_info
            .and_then(|i| i.get("Options"))
            .filter(|o| !o.is_null())
            .cloned()
            .unwrap_or_else(|| J::Object(Default::default()));
        if want != cur {
            d.add("ipam_driver_options", want, cur);
        }
    }
    if !ipam.is_empty() {
        let configs: Vec<serde_json::Map<String, J>> = ipam_info
            .and_then(|i| i.get("Config"))
            .and_then(J::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(J::as_object)
                    .map(|c| {
                        c.iter()
                            .map(|(k, v)| {
                                let key = if k == "AuxiliaryAddresses" {
                                    "aux_addresses".to_string()
                                } else {
                                    k.to_lowercase()
                                };
                                (key, v.clone())
                            })
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if configs.is_empty() {
            d.add(
                "ipam_config",
                J::Array(ipam.iter().cloned().map(J::Object).collect()),
                ipam_info
                    .and_then(|i| i.get("Config"))
                    .cloned()
                    .unwrap_or(J::Null),
            );
        } else {
            let normalized: Vec<_> = configs.iter().map(normalize_ipam).collect();
            for (idx, block) in ipam.iter().enumerate() {
                let want = normalize_ipam(block);
                let matching = configs
                    .iter()
                    .zip(&normalized)
                    .find(|(_, n)| want.iter().all(|(k, v)| v.is_null() || n.get(k) == Some(v)));
                let empty = serde_json::Map::new();
                let (raw, norm) = matching.unwrap_or((&empty, &empty));
                for (k, v) in block {
                    if v.is_null() {
                        continue;
                    }
                    if want.get(k) != norm.get(k) {
                        d.add(
                            format!("ipam_config[{idx}].{k}"),
                            v.clone(),
                            raw.get(k).cloned().unwrap_or(J::Null),
                        );
                    }
                }
            }
        }
    }
    for (opt, key) in [
        ("enable_ipv6", "EnableIPv6"),
        ("internal", "Internal"),
        ("attachable", "Attachable"),
        ("ingress", "Ingress"),
    ] {
        if let Some(Value::Bool(b)) = args.get(opt)
            && *b != flag(key)
        {
            let active = if opt == "enable_ipv6" {
                J::Bool(flag(key))
            } else {
                get(key)
            };
            d.add(opt, J::Bool(*b), active);
        }
    }
    if let Some(s) = args.str("scope")
        && Some(s.as_str()) != net.get("Scope").and_then(J::as_str)
    {
        d.add("scope", J::String(s), get("Scope"));
    }
    compare_dict(d, "labels", labels, net.get("Labels"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(normalize_network("10.1.0.0/24"), "10.1.0.0/24");
        assert_eq!(normalize_network("10.1.0.1/24"), "10.1.0.1/24");
        assert_eq!(normalize_network("fd00:0::/64"), "fd00::/64");
        assert_eq!(normalize_ip("fd00:0::1"), "fd00::1");
        assert!(is_cidr("10.1.0.0/24"));
        assert!(is_cidr("fd00::/64"));
        assert!(!is_cidr("10.1.0.0"));
        assert!(!is_cidr("10.1.0.0/33"));
    }
}
