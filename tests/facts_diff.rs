//! Differential test of facts: kiln's probe runs here under each POSIX shell found (dash,
//! busybox sh, sh), its output is parsed, and the result is compared with what ansible-core's
//! setup module reports on this same machine (tests/oracle/facts_oracle.py).
//!
//! Stable facts must be equal; facts that change between two runs (clock, free memory, mount
//! usage, load, uptime) are compared by shape and within a tolerance. Every mismatch is
//! printed, then the test fails if there was any.

mod common;

use common::*;
use kiln::facts::{GatherOptions, PROBE, parse_with, with_prefixes};
use kiln::yaml::{Map, Value};
use serde_json::{Value as J, json};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

/// Facts kiln deliberately does not report (see src/facts/mod.rs), and why.
const NOT_GATHERED: &[(&str, &str)] = &[
    ("python", "no Python on targets"),
    ("python_version", "no Python on targets"),
    ("selinux_python_present", "no Python on targets"),
    ("devices", "block device details are not gathered"),
    ("device_links", "block device details are not gathered"),
];

/// How a fact is compared.
#[derive(Clone, Copy, Debug)]
enum How {
    Exact,
    /// Lists compared as sets (their order is a directory or Python set order).
    Set,
    /// Same shape (keys and value types), values may differ.
    Shape,
    /// An integer within this distance.
    Near(i64),
    Env,
    DateTime,
    Memory,
    Mounts,
}

/// The facts the brief names, with how each is compared. Per-interface dicts are added at run
/// time from `interfaces`.
const KEYS: &[(&str, How)] = &[
    ("hostname", How::Exact),
    ("fqdn", How::Exact),
    ("nodename", How::Exact),
    ("domain", How::Exact),
    ("os_family", How::Exact),
    ("distribution", How::Exact),
    ("distribution_version", How::Exact),
    ("distribution_major_version", How::Exact),
    ("distribution_minor_version", How::Exact),
    ("distribution_release", How::Exact),
    ("distribution_file_path", How::Exact),
    ("distribution_file_variety", How::Exact),
    ("distribution_file_parsed", How::Exact),
    ("lsb", How::Exact),
    ("architecture", How::Exact),
    ("machine", How::Exact),
    ("userspace_bits", How::Exact),
    ("userspace_architecture", How::Exact),
    ("kernel", How::Exact),
    ("kernel_version", How::Exact),
    ("system", How::Exact),
    ("service_mgr", How::Exact),
    ("pkg_mgr", How::Exact),
    ("processor", How::Exact),
    ("processor_count", How::Exact),
    ("processor_cores", How::Exact),
    ("processor_threads_per_core", How::Exact),
    ("processor_vcpus", How::Exact),
    ("processor_nproc", How::Exact),
    ("flags", How::Exact),
    ("memtotal_mb", How::Exact),
    ("memfree_mb", How::Near(512)),
    ("swaptotal_mb", How::Exact),
    ("swapfree_mb", How::Near(512)),
    ("memory_mb", How::Memory),
    ("default_ipv4", How::Exact),
    ("default_ipv6", How::Exact),
    ("all_ipv4_addresses", How::Set),
    ("all_ipv6_addresses", How::Set),
    ("interfaces", How::Set),
    ("locally_reachable_ips", How::Exact),
    ("user_id", How::Exact),
    ("user_uid", How::Exact),
    ("user_gid", How::Exact),
    ("user_dir", How::Exact),
    ("user_shell", How::Exact),
    ("user_gecos", How::Exact),
    ("real_user_id", How::Exact),
    ("effective_user_id", How::Exact),
    ("real_group_id", How::Exact),
    ("effective_group_id", How::Exact),
    ("env", How::Env),
    ("date_time", How::DateTime),
    ("mounts", How::Mounts),
    ("selinux", How::Exact),
    ("apparmor", How::Exact),
    ("virtualization_type", How::Exact),
    ("virtualization_role", How::Exact),
    ("virtualization_tech_guest", How::Set),
    ("virtualization_tech_host", How::Set),
    ("dns", How::Exact),
    ("uptime_seconds", How::Near(30)),
    ("machine_id", How::Exact),
    ("fips", How::Exact),
    ("is_chroot", How::Exact),
    ("gather_subset", How::Exact),
    ("module_setup", How::Exact),
    ("system_capabilities", How::Exact),
    ("system_capabilities_enforced", How::Exact),
    ("cmdline", How::Exact),
    ("proc_cmdline", How::Exact),
    ("loadavg", How::Shape),
    ("ansible_local", How::Exact),
    ("lvm", How::Exact),
    ("iscsi_iqn", How::Exact),
    ("hostnqn", How::Exact),
    ("fibre_channel_wwn", How::Exact),
    ("systemd", How::Exact),
    ("bios_vendor", How::Exact),
    ("product_name", How::Exact),
    ("system_vendor", How::Exact),
    ("form_factor", How::Exact),
];

fn to_json(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => i64::try_from(*i)
            .map(|i| json!(i))
            .unwrap_or_else(|_| json!(i.to_string())),
        Value::Float(f) => json!(f),
        Value::Str(s)
        | Value::Unsafe(s)
        | Value::Vault(s)
        | Value::Date(s)
        | Value::DateTime(s) => json!(s),
        Value::Bytes(b) => json!(String::from_utf8_lossy(b)),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{k:?}")),
                        to_json(v),
                    )
                })
                .collect(),
        ),
    }
}

/// One way to run the probe: a shell, and optionally a PATH to put in front.
struct Runner {
    label: String,
    shell: Vec<String>,
    path_prefix: Option<std::path::PathBuf>,
}

/// Runs the probe and returns its output and how long it took.
fn run_probe(r: &Runner) -> (String, Duration) {
    let mut cmd = Command::new(&r.shell[0]);
    cmd.args(&r.shell[1..]).arg("-c").arg(PROBE);
    // The environment the oracle's module sees, so the `env` facts are comparable.
    oracle_env(&mut cmd);
    if let Some(prefix) = &r.path_prefix {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", prefix.display()));
    }
    let start = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", r.label));
    let took = start.elapsed();
    assert!(out.status.success(), "{} failed: {}", r.label, stderr(&out));
    (stdout(&out), took)
}

fn oracle_facts(args: Option<&str>) -> (J, Vec<String>) {
    let mut cmd = oracle("facts_oracle.py");
    if let Some(a) = args {
        cmd.arg(a);
    }
    let out = cmd.output().expect("running the facts oracle");
    assert!(
        out.status.success(),
        "facts oracle failed: {}",
        stderr(&out)
    );
    let j: J = serde_json::from_str(&stdout(&out)).expect("oracle JSON");
    let injected = j["injected"]
        .as_array()
        .expect("injected list")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    (j["facts"].clone(), injected)
}

/// The ways to run the probe: dash and busybox sh when installed, the system sh, and busybox
/// sh with busybox's own tools first in PATH (as on Alpine: no %N in date, busybox ip/stat/grep).
fn runners() -> Vec<Runner> {
    let mut runners = Vec::new();
    let which = |bin: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {bin}"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| stdout(&o).trim().to_string())
    };
    let runner = |label: &str, shell: &[&str], path_prefix| Runner {
        label: label.to_string(),
        shell: shell.iter().map(|s| s.to_string()).collect(),
        path_prefix,
    };
    if which("dash").is_some() {
        runners.push(runner("dash", &["dash"], None));
    }
    if let Some(busybox) = which("busybox") {
        runners.push(runner("busybox sh", &["busybox", "sh"], None));
        let dir = std::env::temp_dir().join("kiln-busybox-tools");
        let _ = std::fs::create_dir_all(&dir);
        for applet in [
            "sh", "cat", "date", "grep", "ip", "stat", "ls", "readlink", "timeout", "uname", "id",
            "tr",
        ] {
            let _ = std::os::unix::fs::symlink(&busybox, dir.join(applet));
        }
        runners.push(runner("busybox tools", &["busybox", "sh"], Some(dir)));
    }
    runners.push(runner("sh", &["sh"], None));
    runners
}

fn shape(v: &J) -> J {
    match v {
        J::Object(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        J::Array(a) => json!(["list", a.first().map(shape)]),
        J::Null => json!("null"),
        J::Bool(_) => json!("bool"),
        J::Number(n) if n.is_f64() => json!("float"),
        J::Number(_) => json!("int"),
        J::String(_) => json!("str"),
    }
}

fn sorted_set(v: &J) -> Option<BTreeSet<String>> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.to_string()).collect())
}

/// Compares one fact; returns the mismatch descriptions.
fn compare(key: &str, how: How, kiln: &J, oracle: &J) -> Vec<String> {
    let mut bad = Vec::new();
    let mut diff = |what: String| bad.push(format!("{key}: {what}"));
    match how {
        How::Exact => {
            if kiln != oracle {
                diff(format!("kiln {kiln} != ansible {oracle}"));
            }
        }
        How::Set => {
            if sorted_set(kiln) != sorted_set(oracle) {
                diff(format!("kiln {kiln} != ansible {oracle} (as sets)"));
            }
        }
        How::Shape => {
            if shape(kiln) != shape(oracle) {
                diff(format!("shape {} != {}", shape(kiln), shape(oracle)));
            }
        }
        How::Near(tol) => match (kiln.as_i64(), oracle.as_i64()) {
            (Some(a), Some(b)) if (a - b).abs() <= tol => {}
            _ => diff(format!("kiln {kiln} not within {tol} of ansible {oracle}")),
        },
        How::Env => {
            let (Some(k), Some(o)) = (kiln.as_object(), oracle.as_object()) else {
                return vec![format!("{key}: not a dict")];
            };
            // The module process inherits the same environment; the ansible CLI adds a few.
            let added_by_ansible = |name: &str| {
                name == "_" || name.starts_with("ANSIBLE_") || name.starts_with("PYTHON")
            };
            for (name, v) in k {
                match o.get(name) {
                    None => diff(format!("`{name}` only in kiln's env")),
                    // The shell between sshd (or the test) and the probe may change these.
                    Some(ov)
                        if ov != v
                            && !["PATH", "SHLVL", "PWD", "OLDPWD"].contains(&name.as_str()) =>
                    {
                        diff(format!("env `{name}`: kiln {v} != ansible {ov}"))
                    }
                    _ => {}
                }
                if !v.is_string() {
                    diff(format!("env `{name}` is not a string"));
                }
            }
            for name in o.keys() {
                if !k.contains_key(name) && !added_by_ansible(name) {
                    diff(format!("`{name}` only in ansible's env"));
                }
            }
        }
        How::DateTime => {
            if shape(kiln) != shape(oracle) {
                diff(format!("shape {} != {}", shape(kiln), shape(oracle)));
            }
            for k in ["tz", "tz_dst", "tz_offset"] {
                if kiln[k] != oracle[k] {
                    diff(format!("{k}: kiln {} != ansible {}", kiln[k], oracle[k]));
                }
            }
            let epoch = |j: &J| j["epoch"].as_str().and_then(|e| e.parse::<i64>().ok());
            match (epoch(kiln), epoch(oracle)) {
                (Some(a), Some(b)) if (a - b).abs() <= 120 => {}
                (a, b) => diff(format!("epoch kiln {a:?} vs ansible {b:?}")),
            }
            for k in [
                "iso8601",
                "iso8601_micro",
                "iso8601_basic",
                "iso8601_basic_short",
                "date",
                "time",
            ] {
                let (a, b) = (
                    kiln[k].as_str().unwrap_or(""),
                    oracle[k].as_str().unwrap_or(""),
                );
                if a.len() != b.len() {
                    diff(format!("{k} layout: kiln {a:?} vs ansible {b:?}"));
                }
            }
        }
        How::Memory => {
            if shape(kiln) != shape(oracle) {
                diff(format!("shape {} != {}", shape(kiln), shape(oracle)));
            }
            for path in [["real", "total"], ["swap", "total"], ["swap", "cached"]] {
                if kiln[path[0]][path[1]] != oracle[path[0]][path[1]] {
                    diff(format!(
                        "{}.{}: kiln {} != ansible {}",
                        path[0], path[1], kiln[path[0]][path[1]], oracle[path[0]][path[1]]
                    ));
                }
            }
        }
        How::Mounts => {
            let by_mount = |j: &J| -> Vec<(String, J)> {
                let mut v: Vec<(String, J)> = j
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|m| (m["mount"].as_str().unwrap_or("").to_string(), m.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            };
            let (k, o) = (by_mount(kiln), by_mount(oracle));
            let names = |v: &[(String, J)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            if names(&k) != names(&o) {
                diff(format!(
                    "mount points kiln {:?} != ansible {:?}",
                    names(&k),
                    names(&o)
                ));
                return bad;
            }
            for ((mount, km), (_, om)) in k.iter().zip(&o) {
                if shape(km) != shape(om) {
                    diff(format!(
                        "mount {mount} shape {} != {}",
                        shape(km),
                        shape(om)
                    ));
                    continue;
                }
                for f in [
                    "device",
                    "fstype",
                    "options",
                    "dump",
                    "passno",
                    "uuid",
                    "size_total",
                    "block_size",
                    "block_total",
                    "inode_total",
                ] {
                    if km[f] != om[f] {
                        diff(format!(
                            "mount {mount} {f}: kiln {} != ansible {}",
                            km[f], om[f]
                        ));
                    }
                }
                for f in [
                    "size_available",
                    "block_available",
                    "block_used",
                    "inode_available",
                    "inode_used",
                ] {
                    let (a, b) = (km[f].as_i64().unwrap_or(0), om[f].as_i64().unwrap_or(0));
                    // Usage moves while tests run; allow 2% of the total.
                    let total = om["size_total"]
                        .as_i64()
                        .unwrap_or(0)
                        .max(om["inode_total"].as_i64().unwrap_or(0));
                    if (a - b).abs() > total / 50 + 1 {
                        diff(format!("mount {mount} {f}: kiln {a} far from ansible {b}"));
                    }
                }
            }
        }
    }
    bad
}

/// All mismatches between kiln's facts and the oracle's.
fn compare_all(kiln: &Map, oracle: &J) -> Vec<String> {
    let k = to_json(&Value::Map(kiln.clone()));
    let (Some(kobj), Some(oobj)) = (k.as_object(), oracle.as_object()) else {
        return vec!["facts are not dicts".into()];
    };
    let mut bad = Vec::new();
    let mut keys: Vec<(String, How)> = KEYS.iter().map(|(k, h)| (k.to_string(), *h)).collect();
    // Every interface dict, exactly.
    for name in oobj
        .get("interfaces")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .filter_map(J::as_str)
    {
        keys.push((name.replace([':', '-'], "_"), How::Exact));
    }
    for (key, how) in &keys {
        match (kobj.get(key), oobj.get(key)) {
            (Some(a), Some(b)) => bad.extend(compare(key, *how, a, b)),
            (None, None) => {}
            (Some(a), None) => bad.push(format!("{key}: only kiln reports it ({a})")),
            (None, Some(b)) => bad.push(format!("{key}: only ansible reports it ({b})")),
        }
    }
    // Nothing beyond the list may be missing or extra, except what kiln documents.
    for key in oobj.keys() {
        if !kobj.contains_key(key)
            && !NOT_GATHERED.iter().any(|(n, _)| n == key)
            && !keys.iter().any(|(k, _)| k == key)
        {
            bad.push(format!("{key}: only ansible reports it"));
        }
    }
    for key in kobj.keys() {
        if !oobj.contains_key(key) && !keys.iter().any(|(k, _)| k == key) {
            bad.push(format!("{key}: only kiln reports it"));
        }
    }
    bad
}

fn report(label: &str, bad: &[String]) {
    for b in bad {
        eprintln!("[{label}] {b}");
    }
}

#[test]
fn facts_match_ansible_setup() {
    let (oracle, injected) = oracle_facts(None);
    let mut failures = 0;
    for runner in runners() {
        let label = runner.label.clone();
        let (out, took) = run_probe(&runner);
        eprintln!("[{label}] probe took {took:?}, {} bytes", out.len());
        let facts = parse_with(&out, &GatherOptions::default()).expect("complete probe output");
        // KILN_FACTS_DUMP=DIR keeps both sides for a closer look.
        if let Some(dir) = std::env::var_os("KILN_FACTS_DUMP") {
            let dir = std::path::PathBuf::from(dir);
            let name = label.replace(' ', "-");
            let pretty = |j: &J| serde_json::to_string_pretty(j).unwrap_or_default();
            let _ = std::fs::write(
                dir.join(format!("kiln-{name}.json")),
                pretty(&to_json(&Value::Map(facts.clone()))),
            );
            let _ = std::fs::write(dir.join("ansible.json"), pretty(&oracle));
            let _ = std::fs::write(dir.join(format!("probe-{name}.out")), &out);
        }
        let bad = compare_all(&facts, &oracle);
        report(&label, &bad);
        failures += bad.len();

        // The legacy top-level names are Ansible's, minus what kiln does not gather.
        let ours: BTreeSet<String> = with_prefixes(&facts)
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect();
        let theirs: BTreeSet<String> = injected
            .iter()
            .filter(|n| {
                !NOT_GATHERED
                    .iter()
                    .any(|(g, _)| n.strip_prefix("ansible_") == Some(*g))
            })
            .cloned()
            .collect();
        for n in theirs.symmetric_difference(&ours) {
            eprintln!(
                "[{label}] injected variable `{n}` only in {}",
                if ours.contains(n) { "kiln" } else { "ansible" }
            );
            failures += 1;
        }
    }
    assert_eq!(
        failures, 0,
        "kiln's facts differ from ansible-core's (see above)"
    );
}

#[test]
fn subsets_and_filters_match_ansible() {
    let cases: Vec<(&str, GatherOptions)> = vec![
        (
            "gather_subset=!all,!min,network",
            GatherOptions {
                gather_subset: vec!["!all".into(), "!min".into(), "network".into()],
                filter: vec![],
            },
        ),
        (
            "gather_subset=!all",
            GatherOptions {
                gather_subset: vec!["!all".into()],
                filter: vec![],
            },
        ),
        (
            "filter=ansible_*_mb",
            GatherOptions {
                gather_subset: vec!["all".into()],
                filter: vec!["ansible_*_mb".into()],
            },
        ),
    ];
    let oracles = parallel(cases.iter().map(|(a, _)| *a).collect(), |a| {
        oracle_facts(Some(a)).0
    });
    let sh = Runner {
        label: "sh".into(),
        shell: vec!["sh".into()],
        path_prefix: None,
    };
    let (out, _) = run_probe(&sh);
    let mut failures = 0;
    for ((args, opts), oracle) in cases.iter().zip(&oracles) {
        let facts = parse_with(&out, opts).expect("complete probe output");
        let ours: BTreeSet<String> = facts
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect();
        let theirs: BTreeSet<String> = oracle
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| !NOT_GATHERED.iter().any(|(n, _)| n == k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for n in theirs.symmetric_difference(&ours) {
            eprintln!(
                "[{args}] `{n}` only in {}",
                if ours.contains(n) { "kiln" } else { "ansible" }
            );
            failures += 1;
        }
        if facts
            .get(&Value::str("gather_subset"))
            .map(to_json)
            .as_ref()
            != oracle.get("gather_subset")
        {
            eprintln!("[{args}] gather_subset differs");
            failures += 1;
        }
    }
    assert_eq!(
        failures, 0,
        "subset/filter selection differs from ansible-core's (see above)"
    );
}

#[test]
fn probe_output_is_complete_under_every_shell() {
    for runner in runners() {
        let (out, took) = run_probe(&runner);
        let label = &runner.label;
        assert!(out.starts_with("@@kiln:probe 1\n"), "{label}: {out:.200}");
        assert!(
            out.ends_with("@@kiln:end\n"),
            "{label}: output was cut short"
        );
        assert!(took < Duration::from_secs(5), "{label}: took {took:?}");
    }
}

/// The probe's output as a host without `ip` would print it: no `ip` sections, /proc/net
/// dumped instead.
fn without_ip(out: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut skipping = false;
    for line in out.split('\n') {
        if line.starts_with("@@kiln:") {
            skipping = line.starts_with("@@kiln:cmd:ip-");
        }
        if skipping || line.starts_with("bin.ip=") {
            continue;
        }
        lines.push(line.to_string());
        if line == "@@kiln:files" {
            for path in [
                "/proc/net/route",
                "/proc/net/if_inet6",
                "/proc/net/ipv6_route",
                "/proc/net/fib_trie",
            ] {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                lines.extend(text.lines().map(|l| format!("{path}:{l}")));
            }
        }
    }
    lines.join("\n")
}

#[test]
fn network_without_ip_matches_ansible_with_ip() {
    let args = "gather_subset=!all,!min,network";
    let (oracle, _) = oracle_facts(Some(args));
    let sh = Runner {
        label: "sh".into(),
        shell: vec!["sh".into()],
        path_prefix: None,
    };
    let (out, _) = run_probe(&sh);
    let opts = GatherOptions {
        gather_subset: vec!["!all".into(), "!min".into(), "network".into()],
        filter: vec![],
    };
    let facts = to_json(&Value::Map(
        parse_with(&without_ip(&out), &opts).expect("complete output"),
    ));
    let mut keys: Vec<(String, How)> = ["default_ipv4", "default_ipv6"]
        .iter()
        .map(|k| (k.to_string(), How::Exact))
        .collect();
    for k in ["interfaces", "all_ipv4_addresses", "all_ipv6_addresses"] {
        keys.push((k.to_string(), How::Set));
    }
    for name in oracle["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(J::as_str)
    {
        keys.push((name.replace([':', '-'], "_"), How::Exact));
    }
    // /proc lists an interface's IPv4 addresses in address order, `ip` in the order they were
    // added: the secondaries are the same set, in another order.
    let by_address = |v: &J| {
        let mut v = v.clone();
        if let Some(list) = v.get_mut("ipv4_secondaries").and_then(J::as_array_mut) {
            list.sort_by_key(|a| a["address"].as_str().map(str::to_string));
        }
        v
    };
    let mut bad = Vec::new();
    for (key, how) in &keys {
        bad.extend(compare(
            key,
            *how,
            &by_address(&facts[key.as_str()]),
            &by_address(&oracle[key.as_str()]),
        ));
    }
    for fam in ["ipv4", "ipv6"] {
        let (a, b) = (
            &facts["locally_reachable_ips"][fam],
            &oracle["locally_reachable_ips"][fam],
        );
        bad.extend(compare(
            &format!("locally_reachable_ips.{fam}"),
            How::Set,
            a,
            b,
        ));
    }
    report("without ip", &bad);
    assert!(
        bad.is_empty(),
        "network facts from /proc differ from ansible-core's (see above)"
    );
}
