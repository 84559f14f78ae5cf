//! Differential test of the YAML loader: every file in tests/fixtures/yaml loaded by kiln and
//! by ansible-core's own loader must give the same types and values, or both fail.

mod common;

use common::*;
use kiln::yaml::{Value, load_file, python_float_repr};
use serde_json::{Value as J, json};

/// The typed encoding the oracle prints (see tests/fixtures/README.md).
fn typed(v: &Value) -> J {
    match v {
        Value::Null => json!({"null": null}),
        Value::Bool(b) => json!({"bool": b}),
        Value::Int(i) => json!({"int": i.to_string()}),
        Value::Float(f) => json!({"float": python_float_repr(*f)}),
        Value::Str(s) => json!({"str": s}),
        Value::Unsafe(s) => json!({"unsafe": {"str": s}}),
        Value::Vault(s) => json!({"vault": s}),
        Value::Date(s) => json!({"date": s}),
        Value::DateTime(s) => json!({"datetime": s}),
        Value::Bytes(b) => json!({"binary": base64(b)}),
        Value::Seq(items) => json!({"list": items.iter().map(typed).collect::<Vec<_>>()}),
        Value::Map(m) => {
            json!({"map": m.iter().map(|(k, v)| json!([typed(k), typed(v)])).collect::<Vec<_>>()})
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn yaml_loads_like_ansible() {
    let dir = fixtures().join("yaml");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/yaml")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yml" || e == "yaml" || e == "json")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 150,
        "the corpus needs at least 150 YAML cases, has {}",
        files.len()
    );
    let out = oracle("yaml_oracle.py")
        .args(&files)
        .output()
        .expect("run the YAML oracle");
    assert!(
        out.status.success(),
        "the YAML oracle failed: {}",
        stderr(&out)
    );
    let want: serde_json::Map<String, J> =
        serde_json::from_slice(&out.stdout).expect("oracle JSON");
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(expected) = want.get(&name) else {
            failures.push(format!("{name}: the oracle gave no result"));
            continue;
        };
        let got = std::panic::catch_unwind(|| load_file(file));
        let got = match got {
            Ok(r) => r,
            Err(_) => {
                failures.push(format!("{name}: kiln panicked"));
                continue;
            }
        };
        match (expected.get("ok"), got) {
            (Some(ok), Ok(loaded)) => {
                let value = loaded.node.map(|n| n.to_value()).unwrap_or(Value::Null);
                let mine = typed(&value);
                if &mine != ok {
                    failures.push(format!("{name}:\n  ansible: {ok}\n  kiln:    {mine}"));
                }
            }
            (Some(ok), Err(e)) => failures.push(format!(
                "{name}: kiln failed ({e}) where ansible loaded {ok}"
            )),
            (None, Ok(loaded)) => failures.push(format!(
                "{name}: ansible failed ({}) where kiln loaded {}",
                expected.get("error").unwrap_or(&J::Null),
                typed(&loaded.node.map(|n| n.to_value()).unwrap_or(Value::Null))
            )),
            (None, Err(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} case(s) differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
