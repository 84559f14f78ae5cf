//! The parser on recorded probe outputs: an Alpine VM (busybox tools, openrc), an Ubuntu VM
//! (iproute2, systemd, Python lsb_release, local facts), a Debian container without `ip`, and
//! release files of other distributions. The expected values are what ansible-core 2.19
//! reports for the same inputs (worked out from its collectors, and for the distribution
//! matrix computed by running its own distribution collector on these files).

use super::*;
use serde_json::{Value as J, json};

fn to_json(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(*i as i64),
        Value::Float(f) => json!(f),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or("?").to_string(), to_json(v)))
                .collect(),
        ),
        other => json!(other.as_str().unwrap_or("?")),
    }
}

fn expected(text: &str) -> J {
    serde_json::from_str(text).expect("expected JSON")
}

fn facts_of(output: &str) -> J {
    let facts = parse_with(output, &GatherOptions::default()).expect("complete fixture");
    to_json(&Value::Map(facts))
}

/// Asserts each expected key, printing all differences before failing.
fn check(facts: &J, expected: &J) {
    let mut bad = Vec::new();
    for (k, want) in expected.as_object().expect("expected is a dict") {
        let got = facts.get(k).cloned().unwrap_or(json!("<absent>"));
        if &got != want {
            bad.push(format!("{k}:\n  got  {got}\n  want {want}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn alpine_vm() {
    let f = facts_of(include_str!("testdata/alpine.out"));
    check(&f, &expected(include_str!("testdata/alpine.expected.json")));
    for absent in [
        "machine_id",
        "systemd",
        "python_version",
        "ssh_host_key_dsa_public",
    ] {
        assert!(f.get(absent).is_none(), "{absent} should be absent");
    }
}

#[test]
fn ubuntu_vm() {
    let f = facts_of(include_str!("testdata/ubuntu.out"));
    check(&f, &expected(include_str!("testdata/ubuntu.expected.json")));
}

#[test]
fn network_without_ip_comes_from_proc() {
    let f = facts_of(include_str!("testdata/debian-noip.out"));
    let expected: J = serde_json::from_str(include_str!("testdata/debian-noip.expected.json"))
        .expect("expected JSON");
    check(&f, &expected);
}

/// Release files of several distributions, and what Ansible's distribution collector says.
#[test]
fn distribution_matrix() {
    let os = |lines: &[&str]| lines.join("\n");
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, J);
    let cases: Vec<Case> = vec![
        (
            "rocky9",
            vec![
                (
                    "/etc/os-release",
                    os(&[
                        "NAME=\"Rocky Linux\"",
                        "VERSION=\"9.3 (Blue Onyx)\"",
                        "ID=\"rocky\"",
                        "ID_LIKE=\"rhel centos fedora\"",
                        "VERSION_ID=\"9.3\"",
                        "PLATFORM_ID=\"platform:el9\"",
                        "PRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"",
                    ]),
                ),
                (
                    "/etc/rocky-release",
                    "Rocky Linux release 9.3 (Blue Onyx)".into(),
                ),
                (
                    "/etc/redhat-release",
                    "Rocky Linux release 9.3 (Blue Onyx)".into(),
                ),
                (
                    "/etc/system-release",
                    "Rocky Linux release 9.3 (Blue Onyx)".into(),
                ),
            ],
            json!({"distribution": "Rocky", "distribution_file_parsed": true,
                   "distribution_file_path": "/etc/redhat-release", "distribution_file_variety": "RedHat",
                   "distribution_major_version": "9", "distribution_release": "Blue Onyx",
                   "distribution_version": "9.3", "os_family": "RedHat"}),
        ),
        (
            "centos7",
            vec![
                (
                    "/etc/os-release",
                    os(&[
                        "NAME=\"CentOS Linux\"",
                        "VERSION=\"7 (Core)\"",
                        "ID=\"centos\"",
                        "ID_LIKE=\"rhel fedora\"",
                        "VERSION_ID=\"7\"",
                        "PRETTY_NAME=\"CentOS Linux 7 (Core)\"",
                    ]),
                ),
                (
                    "/etc/centos-release",
                    "CentOS Linux release 7.9.2009 (Core)".into(),
                ),
                (
                    "/etc/redhat-release",
                    "CentOS Linux release 7.9.2009 (Core)".into(),
                ),
                (
                    "/etc/system-release",
                    "CentOS Linux release 7.9.2009 (Core)".into(),
                ),
            ],
            json!({"distribution": "CentOS", "distribution_file_parsed": true,
                   "distribution_file_path": "/etc/redhat-release", "distribution_file_variety": "RedHat",
                   "distribution_major_version": "7", "distribution_release": "Core",
                   "distribution_version": "7.9", "os_family": "RedHat"}),
        ),
        (
            "amazon2023",
            vec![
                (
                    "/etc/os-release",
                    os(&[
                        "NAME=\"Amazon Linux\"",
                        "VERSION=\"2023\"",
                        "ID=\"amzn\"",
                        "ID_LIKE=\"fedora\"",
                        "VERSION_ID=\"2023\"",
                        "PRETTY_NAME=\"Amazon Linux 2023.4.20240416\"",
                    ]),
                ),
                (
                    "/etc/system-release",
                    "Amazon Linux release 2023.4.20240416 (Amazon Linux)".into(),
                ),
            ],
            json!({"distribution": "Amazon", "distribution_file_parsed": true,
                   "distribution_file_path": "/etc/os-release", "distribution_file_variety": "Amazon",
                   "distribution_major_version": "2023", "distribution_minor_version": "NA",
                   "distribution_release": "NA", "distribution_version": "2023", "os_family": "RedHat"}),
        ),
        (
            "debian11",
            vec![
                (
                    "/etc/os-release",
                    os(&[
                        "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"",
                        "NAME=\"Debian GNU/Linux\"",
                        "VERSION_ID=\"11\"",
                        "VERSION=\"11 (bullseye)\"",
                        "VERSION_CODENAME=bullseye",
                        "ID=debian",
                    ]),
                ),
                ("/etc/debian_version", "11.9".into()),
            ],
            json!({"distribution": "Debian", "distribution_file_parsed": true,
                   "distribution_file_path": "/etc/os-release", "distribution_file_variety": "Debian",
                   "distribution_major_version": "11", "distribution_minor_version": "9",
                   "distribution_release": "bullseye", "distribution_version": "11.9", "os_family": "Debian"}),
        ),
    ];
    for (name, files, expected) in cases {
        let mut out = String::from(
            "@@kiln:probe 1\n@@kiln:vars\nsystem=Linux\nkernel=5.14.0\nf=/etc/os-release\n",
        );
        out.push_str("@@kiln:files\n");
        for (path, text) in &files {
            for line in text.lines() {
                out.push_str(&format!("{path}:{line}\n"));
            }
        }
        out.push_str("@@kiln:end\n");
        let opts = GatherOptions {
            gather_subset: vec!["!all".into(), "!min".into(), "distribution".into()],
            filter: vec![],
        };
        let facts = to_json(&Value::Map(parse_with(&out, &opts).expect("fixture")));
        let got: serde_json::Map<String, J> = facts
            .as_object()
            .expect("dict")
            .iter()
            .filter(|(k, _)| k.starts_with("distribution") || *k == "os_family")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(J::Object(got), expected, "{name}");
    }
}

#[test]
fn prefixed_names_follow_inject_facts_as_vars() {
    let facts = parse(include_str!("testdata/ubuntu.out"));
    let vars = with_prefixes(&facts);
    let has = |k: &str| vars.contains_key(&Value::str(k));
    assert!(has("ansible_distribution") && has("ansible_ens3_web") && has("ansible_local"));
    assert!(has("gather_subset") && has("module_setup"));
    assert!(!has("ansible_gather_subset") && !has("ansible_ansible_local"));
    // An interface named like a connection variable would shadow one: Ansible drops it.
    let mut m = Map::new();
    put(&mut m, "ssh_port", s("eth9"));
    put(&mut m, "ssh_host_key_rsa_public", s("AAAA"));
    put(&mut m, "docker_gwbridge", s("bridge"));
    put(&mut m, "local_br0", s("bridge"));
    let v = with_prefixes(&m);
    assert!(!v.contains_key(&Value::str("ansible_ssh_port")));
    assert!(v.contains_key(&Value::str("ansible_ssh_host_key_rsa_public")));
    assert!(v.contains_key(&Value::str("ansible_docker_gwbridge")));
    assert!(!v.contains_key(&Value::str("ansible_local_br0")));
}

#[test]
fn incomplete_output_is_an_error_but_parse_keeps_what_it_has() {
    let full = include_str!("testdata/alpine.out");
    let cut = &full[..full.find("@@kiln:cmd:ip-addr").unwrap_or(full.len())];
    assert!(matches!(
        parse_with(cut, &GatherOptions::default()),
        Err(FactsError::Incomplete)
    ));
    let facts = parse(cut);
    assert_eq!(facts.get(&Value::str("distribution")), Some(&s("Alpine")));
}

#[test]
fn bad_subset_is_refused() {
    let opts = GatherOptions {
        gather_subset: vec!["hardwar".into()],
        filter: vec![],
    };
    assert!(matches!(opts.validate(), Err(FactsError::BadSubset { .. })));
}
