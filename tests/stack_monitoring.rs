//! The monitoring and k3s half of the stack (issue 9): `roles/{node_exporter,prometheus,
//! alertmanager,grafana,cadvisor,k3s_common,k3s_server,k3s_agent}` and
//! `playbooks/{monitoring,k3s,k3s-upgrade,k3s-reset}.yml`.
//!
//! - Every playbook passes `kiln validate` and ansible-playbook's `--syntax-check`.
//! - The roles' templates, rendered by kiln with the roles' own defaults
//!   (tests/fixtures/stack_monitoring/render.yml), are valid files: YAML and JSON read by
//!   PyYAML (the oracle's) and serde_json hold what a cluster needs, systemd-analyze verifies
//!   the units, `sh -n` the reset script; on a lab host promtool and amtool (from Debian's
//!   packages) accept the rendered Prometheus configuration, rules and Alertmanager file.
//! - On lab 10 (two Debian hosts): monitoring.yml installs the Debian packages; Prometheus'
//!   HTTP API reports every node_exporter target up, Alertmanager takes a test alert and
//!   lists it; the rerun reports changed=0. k3s, Grafana and cAdvisor come from upstream
//!   downloads the lab cannot reach: `-C` runs of k3s.yml and of the grafana and cadvisor
//!   roles (local files stand in for the downloads) report their planned changes and leave
//!   the hosts as they were.
//!
//! Needs root, the lab (tests/setup), curl and systemd-analyze on this machine.

mod common;

use common::lab::*;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PLAYBOOKS: &[&str] = &[
    "playbooks/monitoring.yml",
    "playbooks/k3s.yml",
    "playbooks/k3s-upgrade.yml",
    "playbooks/k3s-reset.yml",
];

fn fixture(name: &str) -> PathBuf {
    fixtures().join("stack_monitoring").join(name)
}

/// kiln from the repository's root, where ansible.cfg points roles_path at roles/.
fn kiln_at_root(args: &[&str]) -> Output {
    kiln()
        .current_dir(repo())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run kiln")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

#[test]
fn playbooks_validate_and_pass_ansible_syntax_check() {
    for pb in PLAYBOOKS {
        ok(
            &kiln_at_root(&["validate", pb]),
            &format!("kiln validate {pb}"),
        );
        let out = oracle_bin("ansible-playbook")
            .current_dir(repo())
            .args(["--syntax-check", "-i"])
            .arg(fixture("render-hosts.yml"))
            .arg(pb)
            .env(
                "ANSIBLE_COLLECTIONS_PATH",
                repo().join(".venv-oracle/collections"),
            )
            .output()
            .expect("run ansible-playbook");
        ok(&out, &format!("ansible-playbook --syntax-check {pb}"));
    }
}

#[test]
fn hostvars_of_hosts_outside_the_play_as_ansible() {
    let python = oracle_python();
    let mut files = Vec::new();
    for tool in ["kiln", "ansible"] {
        let dir = work_dir(&format!("hostvars-{tool}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut cmd = if tool == "kiln" {
            let mut c = kiln();
            c.arg("run");
            c
        } else {
            let mut c = oracle_bin("ansible-playbook");
            c.env("ANSIBLE_PYTHON_INTERPRETER", python.as_os_str());
            c
        };
        let out = cmd
            .arg(fixture("hostvars.yml"))
            .arg("-i")
            .arg(fixture("render-hosts.yml"))
            .arg("-e")
            .arg(format!("render_dir={}", dir.display()))
            .output()
            .expect("run");
        ok(&out, &format!("{tool} hostvars.yml"));
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        files.push((read("peers.json"), read("first-server.txt")));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(files[0], files[1]);
    assert_eq!(
        files[0],
        (
            "[\"192.0.2.31\", \"192.0.2.32\", \"192.0.2.41\"]\n".to_string(),
            "192.0.2.31\n".to_string()
        )
    );
}

/// Renders every template of the roles into `dir/<host>/` (render.yml).
fn render(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let vars = format!("@{}", fixture("render-vars.yml").display());
    let out_dir = format!("render_dir={}", dir.display());
    let out = kiln_at_root(&[
        "run",
        fixture("render.yml").to_str().expect("path"),
        "-i",
        fixture("render-hosts.yml").to_str().expect("path"),
        "-e",
        &vars,
        "-e",
        &out_dir,
    ]);
    ok(&out, "kiln run render.yml");
}

/// YAML files read by PyYAML (the oracle's), as JSON.
fn yaml_as_json(files: &[PathBuf]) -> BTreeMap<String, serde_json::Value> {
    let out = Command::new(oracle_python())
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
             print(json.dumps({f: yaml.safe_load(open(f)) for f in sys.argv[1:]}))",
        )
        .args(files)
        .output()
        .expect("run python");
    let text = ok(&out, "PyYAML");
    serde_json::from_str(&text).expect("json from python")
}

/// A scratch directory of this run (the tests run in parallel: one each).
fn work_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "kiln-stack-monitoring-{}-{name}",
        std::process::id()
    ))
}

/// `systemd-analyze verify` of a rendered unit, offline in a root of its own (systemd's
/// units copied in, the unit's ExecStart programs as stand-in executables).
fn verify_unit(unit: &Path) {
    let root = unit.with_extension("root");
    let _ = std::fs::remove_dir_all(&root);
    let name = unit.file_name().expect("unit name").to_string_lossy();
    let sys = root.join("etc/systemd/system");
    std::fs::create_dir_all(&sys).expect("mkdir");
    std::fs::create_dir_all(root.join("usr/lib/systemd")).expect("mkdir");
    let cp = Command::new("cp")
        .args(["-r", "/lib/systemd/system"])
        .arg(root.join("usr/lib/systemd/"))
        .output()
        .expect("cp");
    ok(&cp, "copying systemd's units");
    let text = std::fs::read_to_string(unit).expect("read unit");
    for line in text.lines() {
        if let Some((_, cmd)) = line.split_once('=').filter(|(k, _)| k.starts_with("Exec")) {
            let cmd = cmd.trim_start_matches(['-', '@', ':', '+', '!']);
            let prog = cmd.split_whitespace().next().expect("program");
            let path = root.join(prog.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, "#!/bin/sh\n").expect("write");
            let chmod = Command::new("chmod").arg("755").arg(&path).output();
            ok(&chmod.expect("chmod"), "chmod");
        }
    }
    std::fs::write(sys.join(&*name), &text).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(format!("/etc/systemd/system/{name}"))
        .output()
        .expect("run systemd-analyze");
    ok(&out, &format!("systemd-analyze verify {name}"));
    assert!(
        stderr(&out).trim().is_empty(),
        "systemd-analyze complains about {name}:\n{}",
        stderr(&out)
    );
}

#[test]
fn templates_render_to_valid_files() {
    let dir = work_dir("render");
    render(&dir);
    let f = |host: &str, name: &str| dir.join(host).join(name);
    let yaml = yaml_as_json(&[
        f("srv1", "config.yaml"),
        f("srv2", "config.yaml"),
        f("agt1", "config.yaml"),
        f("agt1", "registries.yaml"),
        f("mon1", "prometheus.yml"),
        f("mon1", "kiln.rules.yml"),
        f("mon1", "alertmanager.yml"),
        f("mon1", "datasources.yml"),
        f("mon1", "dashboards.yml"),
    ]);
    let y = |host: &str, name: &str| &yaml[f(host, name).to_str().expect("path")];

    // k3s: the first server forms the cluster, the second joins it, the agent joins through
    // the stable address; the token is only in token-file, the certificate covers the API
    // address and the extra names.
    let first = y("srv1", "config.yaml");
    assert_eq!(first["cluster-init"], true, "{first}");
    assert!(first.get("server").is_none(), "{first}");
    assert_eq!(first["node-ip"], "192.0.2.31");
    assert_eq!(first["token-file"], "/etc/rancher/k3s/cluster-token");
    assert_eq!(
        first["tls-san"],
        serde_json::json!([
            "k3s-api.example.internal",
            "192.0.2.31",
            "k3s.example.internal"
        ])
    );
    assert_eq!(first["disable"], serde_json::json!(["traefik"]));
    let second = y("srv2", "config.yaml");
    assert_eq!(second["server"], "https://192.0.2.31:6443", "{second}");
    assert!(second.get("cluster-init").is_none(), "{second}");
    let agent = y("agt1", "config.yaml");
    assert_eq!(agent["server"], "https://k3s-api.example.internal:6443");
    assert_eq!(agent["node-name"], "agt1");
    assert_eq!(agent["token-file"], "/etc/rancher/k3s/cluster-token");
    for path in yaml.keys() {
        let text = std::fs::read_to_string(path).expect("read");
        assert!(
            !text.contains("render-test-token"),
            "{path} holds the token"
        );
    }
    let registries = y("agt1", "registries.yaml");
    assert_eq!(
        registries["mirrors"]["registry.example.internal:5000"]["endpoint"][0],
        "https://registry.example.internal:5000"
    );

    // Prometheus: one node target per inventory host at its address, cAdvisor on the
    // Docker hosts, the Alertmanager of the monitoring group, the extra job kept.
    let prom = y("mon1", "prometheus.yml");
    let jobs: BTreeMap<String, &serde_json::Value> = prom["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .map(|j| (j["job_name"].as_str().expect("job").to_string(), j))
        .collect();
    let targets = |job: &str| -> Vec<(String, String)> {
        jobs[job]["static_configs"]
            .as_array()
            .expect("static_configs")
            .iter()
            .map(|c| {
                (
                    c["targets"][0].as_str().expect("target").to_string(),
                    c["labels"]["instance"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let pair = |t: &str, i: &str| (t.to_string(), i.to_string());
    assert_eq!(
        targets("node"),
        vec![
            pair("192.0.2.10:9100", "mon1"),
            pair("192.0.2.20:9100", "dock1"),
            pair("192.0.2.31:9100", "srv1"),
            pair("192.0.2.32:9100", "srv2"),
            pair("192.0.2.41:9100", "agt1"),
        ]
    );
    assert_eq!(targets("cadvisor"), vec![pair("192.0.2.20:8080", "dock1")]);
    assert_eq!(
        targets("alertmanager"),
        vec![pair("192.0.2.10:9093", "mon1")]
    );
    assert!(jobs.contains_key("pushgateway"), "{prom}");
    assert_eq!(
        prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"],
        serde_json::json!(["192.0.2.10:9093"])
    );
    let rules = y("mon1", "kiln.rules.yml");
    let alerts: Vec<&str> = rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .map(|r| r["alert"].as_str().expect("alert"))
        .collect();
    assert_eq!(
        alerts,
        [
            "HostDown",
            "DiskSpaceLow",
            "MemoryLow",
            "ContainerRestarting"
        ]
    );
    assert_eq!(
        rules["groups"][0]["rules"][0]["annotations"]["summary"],
        "{{ $labels.instance }} is down"
    );
    let am = y("mon1", "alertmanager.yml");
    assert_eq!(am["route"]["routes"][0]["receiver"], "pager");
    assert_eq!(
        am["receivers"][1]["webhook_configs"][0]["url"],
        "http://192.0.2.50:8080/hook"
    );

    // Grafana: Prometheus as the default data source at the monitoring host, Alertmanager
    // and the extra one; the dashboards provider reads the directory the role fills.
    let ds = y("mon1", "datasources.yml");
    assert_eq!(ds["apiVersion"], 1);
    let by_name: BTreeMap<&str, &serde_json::Value> = ds["datasources"]
        .as_array()
        .expect("datasources")
        .iter()
        .map(|d| (d["name"].as_str().expect("name"), d))
        .collect();
    assert_eq!(by_name["Prometheus"]["url"], "http://192.0.2.10:9090");
    assert_eq!(by_name["Prometheus"]["isDefault"], true);
    assert_eq!(by_name["Prometheus"]["uid"], "prometheus");
    assert_eq!(by_name["Alertmanager"]["url"], "http://192.0.2.10:9093");
    assert_eq!(by_name["Loki"]["type"], "loki");
    let provider = &y("mon1", "dashboards.yml")["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(provider["options"]["path"], "/var/lib/grafana/dashboards");
    let dashboards = repo().join("roles/grafana/files/dashboards");
    let mut uids = Vec::new();
    for entry in std::fs::read_dir(&dashboards).expect("dashboards") {
        let path = entry.expect("entry").path();
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        uids.push(d["uid"].as_str().expect("uid").to_string());
        let panels = d["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{}", path.display());
        for p in panels {
            assert_eq!(p["datasource"]["uid"], "prometheus", "{}", path.display());
            assert!(
                p["targets"][0]["expr"]
                    .as_str()
                    .is_some_and(|e| !e.is_empty())
            );
        }
    }
    uids.sort();
    assert_eq!(uids, ["kiln-containers", "kiln-hosts"]);
    let ini = Command::new(oracle_python())
        .arg("-c")
        .arg(
            "import configparser, sys\n\
             c = configparser.RawConfigParser(); c.read_file(open(sys.argv[1]))\n\
             print(c['security']['admin_user'], c['server']['http_port'], c['paths']['provisioning'])",
        )
        .arg(f("mon1", "grafana.ini"))
        .output()
        .expect("python");
    assert_eq!(
        ok(&ini, "configparser").trim(),
        "admin 3000 /etc/grafana/provisioning"
    );

    // systemd units, the flags files and the reset script.
    for (host, unit) in [
        ("srv1", "k3s.service"),
        ("agt1", "k3s-agent.service"),
        ("dock1", "cadvisor.service"),
        ("dock1", "node_exporter.service"),
        ("mon1", "prometheus.service"),
        ("mon1", "alertmanager.service"),
    ] {
        verify_unit(&f(host, unit));
    }
    let k3s_unit = std::fs::read_to_string(f("srv1", "k3s.service")).expect("read");
    assert!(
        k3s_unit
            .contains("ExecStart=/usr/local/bin/k3s server --config /etc/rancher/k3s/config.yaml")
    );
    assert!(!k3s_unit.contains("token"), "{k3s_unit}");
    let args = std::fs::read_to_string(f("mon1", "default-alertmanager")).expect("read");
    assert!(args.contains("--cluster.listen-address=\""), "{args}");
    let sh = Command::new("sh")
        .arg("-n")
        .arg(f("srv1", "k3s-killall.sh"))
        .output()
        .expect("sh");
    ok(&sh, "sh -n k3s-killall.sh");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An inventory for lab 10's two hosts in the stack's groups: lab1 runs the monitoring
/// server and is the k3s server, lab2 is a k3s agent and a Docker host; the upstream
/// downloads are local stand-in files (only ever used in check mode).
fn lab_inventory(lab: &Lab, dir: &Path) -> PathBuf {
    let fake = dir.join("upstream-download");
    std::fs::write(&fake, "#!/bin/sh\necho stand-in for an upstream download\n").expect("write");
    let state = lab.state();
    let text = format!(
        "all:
  vars:
    ansible_user: kiln
    ansible_ssh_private_key_file: {key}
    ansible_ssh_common_args: -o UserKnownHostsFile={known}
    prometheus_scrape_interval: 2s
    k3s_token: lab-token-not-for-real-use
    k3s_binary_local_path: {fake}
    k3s_kubeconfig_dest: {dir}/kubeconfig.yaml
    grafana_install_method: deb
    grafana_deb_local_path: {fake}
    grafana_admin_password: lab-admin-password
    cadvisor_binary_local_path: {fake}
  children:
    monitoring:
      hosts:
        lab1:
          ansible_host: {ip1}
    docker_hosts:
      hosts:
        lab2:
          ansible_host: {ip2}
          ansible_become_password: {pw}
    k3s_cluster:
      children:
        k3s_server:
          hosts:
            lab1:
        k3s_agents:
          hosts:
            lab2:
",
        key = state.join("id_ed25519").display(),
        known = state.join("known_hosts").display(),
        fake = fake.display(),
        dir = dir.display(),
        ip1 = lab.ip_of("lab1"),
        ip2 = lab.ip_of("lab2"),
        pw = SUDO_PASSWORD,
    );
    let path = dir.join("hosts.yml");
    std::fs::write(&path, text).expect("write inventory");
    path
}

fn http_json(url: &str, post: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "--max-time", "10"]);
    if let Some(body) = post {
        cmd.args(["-H", "Content-Type: application/json", "--data", body]);
    }
    let out = cmd.arg(url).output().expect("run curl");
    let text = ok(&out, &format!("curl {url}"));
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

/// The node job's targets, instance → (health, scrape URL).
fn node_targets(ip: &str) -> BTreeMap<String, (String, String)> {
    let t = http_json(&format!("http://{ip}:9090/api/v1/targets"), None);
    t["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets")
        .iter()
        .filter(|t| t["labels"]["job"] == "node")
        .map(|t| {
            (
                t["labels"]["instance"]
                    .as_str()
                    .expect("instance")
                    .to_string(),
                (
                    t["health"].as_str().expect("health").to_string(),
                    t["scrapeUrl"].as_str().expect("url").to_string(),
                ),
            )
        })
        .collect()
}

/// A listing of what check mode must not touch on a host: paths, sizes, modes, times.
fn snapshot(lab: &Lab, host: &str) -> String {
    lab.on_host(
        host,
        "find /etc /usr/local /opt /var/cache/grafana-install /var/lib/grafana -xdev \
         -printf '%p %s %m %T@\\n' 2>/dev/null | sort | sha256sum",
    )
}

#[test]
fn monitoring_on_the_lab_and_plans_for_the_upstream_parts() {
    let Some(lab) = Lab::up(10, 2) else { return };
    let dir = work_dir("lab");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let inv = lab_inventory(&lab, &dir);
    let inv = inv.to_str().expect("path");
    let ip1 = lab.ip_of("lab1");
    let skip = ["--skip-tags", "grafana,cadvisor"];
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "playbooks/monitoring.yml", "-i", inv];
        args.extend_from_slice(extra);
        kiln_at_root(&args)
    };

    // monitoring.yml with Debian's packages: everything changes on the first run.
    let first = run(&skip);
    for (host, changed) in changed_per_host(&first) {
        assert!(changed > 0, "{host} did not change:\n{}", stdout(&first));
    }
    for (host, cmd) in [
        (
            "lab1",
            "systemctl is-active prometheus prometheus-alertmanager prometheus-node-exporter",
        ),
        ("lab2", "systemctl is-active prometheus-node-exporter"),
    ] {
        let out = lab.on_host(host, cmd);
        assert!(out.lines().all(|l| l == "active"), "{host}: {out}");
    }

    // Prometheus reports every node_exporter target up, at each host's address.
    let deadline = Instant::now() + Duration::from_secs(90);
    let targets = loop {
        let t = node_targets(&ip1);
        if t.len() == 2 && t.values().all(|(h, _)| h == "up") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let want: BTreeMap<String, (String, String)> = ["lab1", "lab2"]
        .iter()
        .map(|h| {
            let url = format!("http://{}:9100/metrics", lab.ip_of(h));
            (h.to_string(), ("up".to_string(), url))
        })
        .collect();
    assert_eq!(targets, want);
    let up = http_json(
        &format!("http://{ip1}:9090/api/v1/query?query=up%7Bjob%3D%22node%22%7D"),
        None,
    );
    // (The package's own configuration, live for a moment after apt installed it, leaves a
    // `localhost:9100` series behind for a few minutes.)
    let values: BTreeMap<&str, &str> = up["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|r| {
            (
                r["metric"]["instance"].as_str().expect("instance"),
                r["value"][1].as_str().expect("value"),
            )
        })
        .collect();
    assert_eq!(values.get("lab1"), Some(&"1"), "{up}");
    assert_eq!(values.get("lab2"), Some(&"1"), "{up}");

    // Prometheus sends alerts to the Alertmanager; a test alert posted to it is listed.
    let ams = http_json(&format!("http://{ip1}:9090/api/v1/alertmanagers"), None);
    assert_eq!(
        ams["data"]["activeAlertmanagers"][0]["url"],
        format!("http://{ip1}:9093/api/v2/alerts"),
        "{ams}"
    );
    let alert = r#"[{"labels":{"alertname":"KilnTestAlert","severity":"warning","instance":"lab2"},
        "annotations":{"summary":"posted by tests/stack_monitoring.rs"}}]"#;
    http_json(&format!("http://{ip1}:9093/api/v2/alerts"), Some(alert));
    let listed = http_json(
        &format!("http://{ip1}:9093/api/v2/alerts?filter=alertname%3D%22KilnTestAlert%22"),
        None,
    );
    let listed = listed.as_array().expect("alerts");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["labels"]["instance"], "lab2");
    assert_eq!(listed[0]["status"]["state"], "active");

    // The installed files pass promtool and amtool; so do the files render.yml renders
    // (extra jobs, rule groups, routes and receivers).
    let checks = lab.on_host_output(
        "lab1",
        "promtool check config /etc/prometheus/prometheus.yml && \
         promtool check rules /etc/prometheus/rules/kiln.rules.yml && \
         amtool check-config /etc/prometheus/alertmanager.yml",
    );
    ok(&checks, "promtool/amtool on the installed files");
    let rendered = dir.join("rendered");
    render(&rendered);
    for name in [
        "prometheus.yml",
        "kiln.rules.yml",
        "extra.rules.yml",
        "alertmanager.yml",
    ] {
        let text = std::fs::read_to_string(rendered.join("mon1").join(name)).expect("read");
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(text)
        };
        let put = lab.on_host_output(
            "lab1",
            &format!("mkdir -p /tmp/rendered && echo {b64} | base64 -d > /tmp/rendered/{name}"),
        );
        ok(&put, "copying a rendered file");
    }
    let checks = lab.on_host_output(
        "lab1",
        "cd /tmp/rendered && promtool check config prometheus.yml && \
         promtool check rules kiln.rules.yml extra.rules.yml && \
         amtool check-config alertmanager.yml && rm -r /tmp/rendered",
    );
    let text = ok(&checks, "promtool/amtool on the rendered files");
    assert!(text.contains("SUCCESS: 4 rules found"), "{text}");

    // The rerun changes nothing.
    let second = run(&skip);
    for (host, changed) in changed_per_host(&second) {
        assert_eq!(
            changed,
            0,
            "{host} changed on the rerun:\n{}",
            stdout(&second)
        );
    }

    // Check mode of the upstream-only parts: k3s.yml, and the grafana and cadvisor roles
    // through monitoring.yml's tags. They plan changes on both hosts and make none.
    let before: Vec<String> = lab.hosts.iter().map(|h| snapshot(&lab, h)).collect();
    let plan = kiln_at_root(&["run", "playbooks/k3s.yml", "-i", inv, "-C", "-D"]);
    let text = stdout(&plan);
    for (host, changed) in changed_per_host(&plan) {
        assert!(changed >= 6, "{host} plans {changed} changes:\n{text}");
    }
    for planned in [
        "TASK [k3s_common : Copy the k3s binary from the controller]",
        "TASK [k3s_common : Write the cluster token]",
        "TASK [k3s_server : Write the k3s server configuration]",
        "TASK [k3s_agent : Write the k3s agent configuration]",
        "+cluster-init: true",
        &format!("+server: https://{ip1}:6443"),
        "+token-file: /etc/rancher/k3s/cluster-token",
        "+ExecStart=/usr/local/bin/k3s agent --config /etc/rancher/k3s/config.yaml",
    ] {
        assert!(
            text.contains(planned),
            "no `{planned}` in the plan:\n{text}"
        );
    }
    assert!(
        !text.contains("lab-token-not-for-real-use"),
        "the token is shown:\n{text}"
    );
    let plan = run(&["-C", "-D", "--tags", "grafana,cadvisor"]);
    let text = stdout(&plan);
    let changed: BTreeMap<String, u32> = changed_per_host(&plan).into_iter().collect();
    assert!(changed["lab1"] >= 5, "grafana plans too little:\n{text}");
    assert!(changed["lab2"] >= 2, "cadvisor plans too little:\n{text}");
    for planned in [
        "TASK [grafana : Copy the Grafana .deb from the controller]",
        "TASK [grafana : Provision the data sources]",
        &format!("+  url: http://{ip1}:9090"),
        "TASK [cadvisor : Install the cAdvisor systemd unit]",
        "+ExecStart=/usr/local/bin/cadvisor-",
    ] {
        assert!(
            text.contains(planned),
            "no `{planned}` in the plan:\n{text}"
        );
    }
    assert!(
        !text.contains("lab-admin-password"),
        "the password is shown:\n{text}"
    );
    let after: Vec<String> = lab.hosts.iter().map(|h| snapshot(&lab, h)).collect();
    assert_eq!(before, after, "check mode changed files on the hosts");
    for host in &lab.hosts {
        let left = lab.on_host(
            host,
            "ls -d /usr/local/bin/k3s* /etc/rancher /etc/systemd/system/k3s*.service \
             /etc/grafana /usr/local/bin/cadvisor* /etc/systemd/system/cadvisor.service 2>/dev/null; true",
        );
        assert_eq!(left, "", "{host} has files from check mode");
    }
    assert!(!dir.join("kubeconfig.yaml").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
