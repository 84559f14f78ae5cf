//! Differential test: `kiln inventory --list` against `ansible-inventory --list` on every
//! inventory case in tests/fixtures/inventories, compared as parsed JSON.

mod common;

use common::*;

#[test]
fn inventory_list_matches_ansible() {
    let cases = case_dirs(&fixtures().join("inventories"));
    assert!(
        cases.len() >= 30,
        "the corpus needs at least 30 inventories, has {}",
        cases.len()
    );
    let failures: Vec<String> = parallel(cases, |case| {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let want = oracle("inventory_oracle.py")
            .arg(&case)
            .output()
            .expect("run oracle");
        let got = kiln()
            .arg("inventory")
            .args(case_args(&case))
            .arg("--list")
            .current_dir(&case)
            .output()
            .expect("run kiln");
        if !want.status.success() {
            return Some(format!("{name}: the oracle failed: {}", stderr(&want)));
        }
        if !got.status.success() {
            return Some(format!("{name}: kiln failed: {}", stderr(&got)));
        }
        let want: serde_json::Value = serde_json::from_slice(&want.stdout).expect("oracle JSON");
        let got: serde_json::Value = match serde_json::from_slice(&got.stdout) {
            Ok(v) => v,
            Err(e) => {
                return Some(format!(
                    "{name}: kiln printed invalid JSON ({e}): {}",
                    stdout(&got)
                ));
            }
        };
        (want != got).then(|| {
            format!(
                "{name}: kiln differs from ansible-inventory\n--- ansible\n{}\n--- kiln\n{}",
                serde_json::to_string_pretty(&want).unwrap_or_default(),
                serde_json::to_string_pretty(&got).unwrap_or_default()
            )
        })
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn host_and_limit_match_ansible() {
    // `--host` and `--list --limit` on a few cases, beyond plain `--list`.
    let cases = case_dirs(&fixtures().join("inventories"));
    let jobs: Vec<_> = cases.into_iter().take(8).collect();
    let failures: Vec<String> = parallel(jobs, |case| {
        let listed = kiln()
            .arg("inventory")
            .args(case_args(&case))
            .args(["--list-hosts", "all"])
            .current_dir(&case)
            .output()
            .expect("run kiln");
        let first = stdout(&listed).lines().next().map(str::to_string)?;
        let want = oracle("inventory_oracle.py")
            .arg(&case)
            .args(["--limit", &first])
            .output()
            .expect("oracle");
        let got = kiln()
            .arg("inventory")
            .args(case_args(&case))
            .args(["--list", "--limit", &first])
            .current_dir(&case)
            .output()
            .expect("kiln");
        let want: serde_json::Value = serde_json::from_slice(&want.stdout).ok()?;
        let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap_or_default();
        (want != got).then(|| format!("{}: --limit {first} differs", case.display()))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
