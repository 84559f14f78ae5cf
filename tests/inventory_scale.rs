//! A 10,000-host inventory (100 groups, group_vars files) is listed correctly and fast.
//! The time bound is only asserted for optimised builds (`cargo test --release`, as CI runs).

mod common;

use common::*;
use std::fmt::Write;
use std::time::{Duration, Instant};

fn generate(dir: &std::path::Path) {
    let gv = dir.join("group_vars");
    std::fs::create_dir_all(&gv).expect("mkdir");
    let mut ini = String::new();
    for g in 0..100 {
        writeln!(ini, "[g{g:02}]").unwrap();
        for h in 0..100 {
            let n = g * 100 + h;
            writeln!(
                ini,
                "h{n:05}.example.com ansible_host=10.{g}.{}.{} idx={n}",
                h / 256,
                h % 256
            )
            .unwrap();
        }
        writeln!(ini, "[g{g:02}:vars]\ngroup_no={g}").unwrap();
        std::fs::write(
            gv.join(format!("g{g:02}.yml")),
            format!("tier: t{}\nweight: {g}\n", g % 7),
        )
        .expect("write");
    }
    writeln!(ini, "[dc1:children]").unwrap();
    for g in 0..50 {
        writeln!(ini, "g{g:02}").unwrap();
    }
    writeln!(ini, "[all:vars]\nenv=prod").unwrap();
    std::fs::write(dir.join("hosts"), ini).expect("write");
}

#[test]
fn ten_thousand_hosts_list_under_a_second() {
    let dir = std::env::temp_dir().join(format!("kiln-scale-{}", std::process::id()));
    generate(&dir);
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..3 {
        let start = Instant::now();
        let out = kiln()
            .args(["inventory", "-i", "hosts", "--list"])
            .current_dir(&dir)
            .output()
            .expect("kiln");
        best = best.min(start.elapsed());
        assert!(out.status.success(), "{}", stderr(&out));
        last = Some(out);
    }
    let out = last.expect("ran");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let hostvars = v["_meta"]["hostvars"].as_object().expect("hostvars");
    assert_eq!(hostvars.len(), 10_000);
    let h = &hostvars["h04217.example.com"];
    assert_eq!(h["group_no"], 42);
    assert_eq!(h["tier"], "t0");
    assert_eq!(h["env"], "prod");
    assert_eq!(h["idx"], 4217);
    assert_eq!(v["dc1"]["children"].as_array().map(Vec::len), Some(50));
    let _ = std::fs::remove_dir_all(&dir);
    if !cfg!(debug_assertions) {
        assert!(
            best < Duration::from_secs(1),
            "listing 10,000 hosts took {best:?}"
        );
    }
    eprintln!("kiln inventory --list, 10,000 hosts: {best:?}");
}
