//! Differential test: the hosts (and their order) that host patterns select, kiln against
//! `ansible PATTERN --list-hosts`, for every line of tests/fixtures/patterns.txt.

mod common;

use common::*;

#[test]
fn patterns_select_what_ansible_selects() {
    let text = std::fs::read_to_string(fixtures().join("patterns.txt")).expect("patterns.txt");
    let jobs: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(c, p)| (c.to_string(), p.trim().to_string()))
        })
        .collect();
    assert!(
        jobs.len() >= 40,
        "the corpus needs at least 40 patterns, has {}",
        jobs.len()
    );
    let failures: Vec<String> = parallel(jobs, |(case, pattern)| {
        let dir = fixtures().join("inventories").join(&case);
        let want = oracle("hosts_oracle.py")
            .arg(&dir)
            .arg(&pattern)
            .output()
            .expect("oracle");
        let (flag, value) = if pattern.starts_with('@') {
            ("--limit", pattern.as_str())
        } else {
            ("--list-hosts", pattern.as_str())
        };
        let mut cmd = kiln();
        cmd.arg("inventory").args(case_args(&dir)).current_dir(&dir);
        if flag == "--limit" {
            cmd.args(["--list-hosts", "all", "--limit", value]);
        } else {
            cmd.args([flag, value]);
        }
        let got = cmd.output().expect("kiln");
        let want_hosts: Vec<String> = stdout(&want).lines().map(str::to_string).collect();
        let got_hosts: Vec<String> = stdout(&got).lines().map(str::to_string).collect();
        if want.status.success() != got.status.success() {
            return Some(format!(
                "{case} `{pattern}`: ansible exit {:?}, kiln exit {:?} ({})",
                want.status.code(),
                got.status.code(),
                stderr(&got).trim()
            ));
        }
        (want_hosts != got_hosts).then(|| {
            format!("{case} `{pattern}`:\n  ansible: {want_hosts:?}\n  kiln:    {got_hosts:?}")
        })
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{} pattern(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
