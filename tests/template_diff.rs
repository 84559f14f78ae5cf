//! Differential test of templating: every case in tests/fixtures/templates/cases.yml is
//! rendered by kiln's `Templar` and by ansible-core's own engine (tests/oracle/
//! template_oracle.py); the typed results must be equal, or both must fail.
//!
//! A case may carry `known_difference: "why"`; it is still run on both sides and reported,
//! but does not fail the test. Keep that list tiny.

mod common;

use common::*;
use kiln::template::Templar;
use kiln::yaml::{Map, Value, load_file, python_float_repr};
use serde_json::{Value as J, json};
use std::path::Path;

/// The typed encoding the oracle prints (see tests/oracle/template_oracle.py).
fn typed(v: &Value) -> J {
    match v {
        Value::Null => json!({"null": null}),
        Value::Bool(b) => json!({"bool": b}),
        Value::Int(i) => json!({"int": i.to_string()}),
        Value::Float(f) => json!({"float": python_float_repr(*f)}),
        Value::Str(s) | Value::Unsafe(s) | Value::Date(s) | Value::DateTime(s) => {
            json!({"str": s})
        }
        Value::Vault(s) => json!({"vault": s}),
        Value::Bytes(b) => json!({"str": String::from_utf8_lossy(b)}),
        Value::Seq(items) => json!({"list": items.iter().map(typed).collect::<Vec<_>>()}),
        Value::Map(m) => {
            json!({"map": m.iter().map(|(k, v)| json!([typed(k), typed(v)])).collect::<Vec<_>>()})
        }
    }
}

/// Replaces `@FIXTURES@` in every string, as the oracle does.
fn substitute(v: &Value, root: &str) -> Value {
    match v {
        Value::Str(s) => Value::Str(s.replace("@FIXTURES@", root)),
        Value::Unsafe(s) => Value::Unsafe(s.replace("@FIXTURES@", root)),
        Value::Seq(items) => Value::Seq(items.iter().map(|i| substitute(i, root)).collect()),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (substitute(k, root), substitute(v, root)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn field<'a>(case: &'a Map, name: &str) -> Option<&'a Value> {
    case.get(&Value::str(name))
}

/// Renders one case with kiln: `{"ok": typed}` or `{"error": message}`.
fn render(templar: &Templar, case: &Map, root: &str) -> J {
    let kind = field(case, "kind")
        .and_then(Value::as_str)
        .unwrap_or("string");
    let template = substitute(field(case, "template").unwrap_or(&Value::Null), root);
    let vars = match field(case, "vars").map(|v| substitute(v, root)) {
        Some(Value::Map(m)) => m,
        _ => Map::new(),
    };
    let text = template.as_str().unwrap_or_default().to_string();
    let result = match kind {
        "string" => match &template {
            Value::Str(s) => templar.template_str(s, &vars),
            other => templar.template(other, &vars),
        },
        "data" => templar.template(&template, &vars),
        "expr" => templar.eval_expr(&text, &vars),
        "when" => templar
            .evaluate_conditional(&template, &vars)
            .map(Value::Bool),
        "file" => templar.render_file_text(&text, &vars).map(Value::Str),
        other => panic!("unknown case kind `{other}`"),
    };
    match result {
        Ok(v) => json!({"ok": typed(&v)}),
        Err(e) => json!({"error": e.to_string()}),
    }
}

fn same(a: &J, b: &J) -> bool {
    match (a.get("ok"), b.get("ok")) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.get("error").is_some() && b.get("error").is_some(),
        _ => false,
    }
}

#[test]
fn templates_render_like_ansible() {
    let path = fixtures().join("templates/cases.yml");
    let root = path
        .parent()
        .map(Path::to_string_lossy)
        .unwrap_or_default()
        .into_owned();
    let loaded = load_file(&path).expect("cases.yml loads");
    let cases = match loaded.node.map(|n| n.to_value()) {
        Some(Value::Seq(items)) => items,
        other => panic!("cases.yml must be a list, got {other:?}"),
    };
    let out = oracle("template_oracle.py")
        .arg(&path)
        .output()
        .expect("run the oracle");
    assert!(out.status.success(), "oracle failed:\n{}", stderr(&out));
    let expected: J = serde_json::from_str(&stdout(&out)).expect("oracle prints JSON");

    let templar = Templar::new();
    let mut mismatches = Vec::new();
    let mut known = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        let Value::Map(case) = case else {
            panic!("case is not a mapping: {case:?}")
        };
        let name = field(case, "name")
            .map(kiln::yaml::python_str)
            .expect("case has a name");
        assert!(names.insert(name.clone()), "duplicate case name `{name}`");
        let want = expected
            .get(&name)
            .unwrap_or_else(|| panic!("oracle has no result for `{name}`"));
        let got = render(&templar, case, &root);
        if same(&got, want) {
            continue;
        }
        let line = format!(
            "{name}\n    template: {:?}\n    ansible:  {want}\n    kiln:     {got}",
            field(case, "template")
                .map(kiln::yaml::python_str)
                .unwrap_or_default()
        );
        match field(case, "known_difference") {
            Some(why) => known.push(format!(
                "{line}\n    known:    {}",
                kiln::yaml::python_str(why)
            )),
            None => mismatches.push(line),
        }
    }
    if !known.is_empty() {
        eprintln!("{} known differences:\n{}", known.len(), known.join("\n"));
    }
    eprintln!(
        "{} cases, {} match, {} known differences, {} mismatches",
        cases.len(),
        cases.len() - mismatches.len() - known.len(),
        known.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(cases.len() >= 230, "only {} cases", cases.len());
}
