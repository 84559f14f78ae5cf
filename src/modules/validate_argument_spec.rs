//! `validate_argument_spec`: checks arguments against an argument spec given as data, the
//! way Ansible checks a role's `meta/argument_specs.yml` before its tasks run (kiln inserts
//! that task into roles as Ansible does). Values come from the task's variables for every
//! option the spec names, overridden by `provided_arguments`; the checks and their messages
//! are ansible-core's role variant (lenient string conversion).

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct ValidateArgumentSpec;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("argument_spec", Kind::Dict).required(),
        Opt::new("provided_arguments", Kind::Dict),
        Opt::new("validate_args_context", Kind::Dict),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for ValidateArgumentSpec {
    fn name(&self) -> &'static str {
        "validate_argument_spec"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn controller_only(&self) -> bool {
        true
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let spec = match args.get("argument_spec") {
            Some(Value::Map(m)) => m.clone(),
            _ => return TaskResult::failed("\"argument_spec\" arg is required in args"),
        };
        let context = args
            .get("validate_args_context")
            .cloned()
            .unwrap_or(Value::Map(Map::new()));
        let mut params = Map::new();
        for name in spec.keys() {
            if let Some(v) = cx.vars.get(name) {
                match cx.templar.template(v, cx.vars) {
                    Ok(t) => {
                        params.insert(name.clone(), t);
                    }
                    Err(e) => return TaskResult::failed(e.to_string()),
                }
            }
        }
        if let Some(Value::Map(p)) = args.get("provided_arguments") {
            for (k, v) in p {
                params.insert(k.clone(), v.clone());
            }
        }
        let mut errors = Vec::new();
        validate(&spec, &mut params, None, &mut errors);
        let result = TaskResult::changed(false).with("validate_args_context", context);
        if errors.is_empty() {
            return result.msg("The arg spec validation passed");
        }
        let mut r = result
            .msg(format!(
                "Validation of arguments failed:\n{}",
                errors.join("\n")
            ))
            .with("argument_spec_data", Value::Map(spec))
            .with(
                "argument_errors",
                Value::Seq(errors.into_iter().map(Value::Str).collect()),
            );
        r.failed = true;
        r
    }
}

fn attr<'a>(opt: &'a Value, key: &str) -> Option<&'a Value> {
    opt.as_map()
        .and_then(|m| m.get(&Value::str(key)))
        .filter(|v| !v.is_null())
}

fn type_of(opt: &Value) -> String {
    attr(opt, "type").map_or_else(|| "str".to_string(), crate::yaml::python_str)
}

fn py_type(v: &Value) -> &'static str {
    v.type_name()
}

/// Checks `params` against `spec` (options by name), filling defaults and converting values
/// in place; `within` names the enclosing option for nested messages.
pub fn validate(spec: &Map, params: &mut Map, within: Option<&str>, errors: &mut Vec<String>) {
    let suffix = within.map(|w| format!(" found in {w}")).unwrap_or_default();
    // Aliases: a value given under an alias counts under the option's name.
    for (name, opt) in spec {
        if let Some(Value::Seq(aliases)) = attr(opt, "aliases") {
            for a in aliases {
                if let Some(v) = params.shift_remove(a) {
                    params.entry(name.clone()).or_insert(v);
                }
            }
        }
    }
    let mut unknown: Vec<String> = params
        .keys()
        .filter(|k| !spec.contains_key(*k))
        .map(crate::yaml::python_str)
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        let mut supported: Vec<String> = spec.keys().map(crate::yaml::python_str).collect();
        for opt in spec.values() {
            if let Some(Value::Seq(aliases)) = attr(opt, "aliases") {
                supported.extend(aliases.iter().map(crate::yaml::python_str));
            }
        }
        supported.sort();
        errors.push(format!(
            "{}{suffix}. Supported parameters include: {}.",
            unknown.join(", "),
            supported.join(", ")
        ));
    }
    let mut missing: Vec<String> = spec
        .iter()
        .filter(|(name, opt)| {
            attr(opt, "required").is_some_and(|r| super::spec::to_bool(r) == Some(true))
                && params.get(*name).is_none_or(Value::is_null)
        })
        .map(|(name, _)| crate::yaml::python_str(name))
        .collect();
    if !missing.is_empty() {
        missing.sort();
        errors.push(format!(
            "missing required arguments: {}{suffix}",
            missing.join(", ")
        ));
    }
    for (name, opt) in spec {
        if !params.contains_key(name) {
            let d = attr(opt, "default").cloned().unwrap_or(Value::Null);
            params.insert(name.clone(), d);
        }
    }
    for (name, opt) in spec {
        let key = crate::yaml::python_str(name);
        let Some(v) = params.get(name).cloned().filter(|v| !v.is_null()) else {
            continue;
        };
        let kind = type_of(opt);
        let converted = match convert(&kind, &v) {
            Ok(c) => c,
            Err(why) => {
                errors.push(format!(
                    "argument '{key}' is of type {} and we were unable to convert to {kind}: {why}",
                    py_type(&v)
                ));
                continue;
            }
        };
        let converted = match (&kind[..], attr(opt, "elements"), converted) {
            ("list", Some(el), Value::Seq(items)) => {
                let el = crate::yaml::python_str(el);
                let mut out = Vec::new();
                for item in items {
                    match convert(&el, &item) {
                        Ok(c) => out.push(c),
                        Err(why) => errors.push(format!(
                            "Elements value for option '{key}'{suffix} is of type {} and we were unable to convert to {el}: {why}",
                            py_type(&item)
                        )),
                    }
                }
                Value::Seq(out)
            }
            (_, _, c) => c,
        };
        if let Some(Value::Seq(choices)) = attr(opt, "choices") {
            let bad: Vec<String> = match &converted {
                Value::Seq(items) => items
                    .iter()
                    .filter(|i| {
                        !choices
                            .iter()
                            .any(|c| crate::yaml::python_str(c) == crate::yaml::python_str(i))
                    })
                    .map(crate::yaml::python_str)
                    .collect(),
                other => {
                    let s = crate::yaml::python_str(other);
                    if choices.iter().any(|c| crate::yaml::python_str(c) == s) {
                        Vec::new()
                    } else {
                        vec![s]
                    }
                }
            };
            if !bad.is_empty() {
                let listed: Vec<String> = choices.iter().map(crate::yaml::python_str).collect();
                errors.push(format!(
                    "value of {key} must be one of: {}, got: {}{suffix}",
                    listed.join(", "),
                    bad.join(", ")
                ));
            }
        }
        let converted = match (attr(opt, "options"), converted) {
            (Some(Value::Map(sub)), Value::Map(mut m)) => {
                validate(sub, &mut m, Some(&key), errors);
                Value::Map(m)
            }
            (Some(Value::Map(sub)), Value::Seq(items)) => Value::Seq(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Map(mut m) => {
                            validate(sub, &mut m, Some(&key), errors);
                            Value::Map(m)
                        }
                        other => other,
                    })
                    .collect(),
            ),
            (_, c) => c,
        };
        params.insert(name.clone(), converted);
    }
}

/// Converts a value to an argument type as Ansible's role validation does, or says why not.
fn convert(kind: &str, v: &Value) -> Result<Value, String> {
    let s = || crate::yaml::python_str(v);
    Ok(match kind {
        "str" | "path" | "jsonarg" | "json" => match v {
            Value::Str(_) | Value::Unsafe(_) => v.clone(),
            other => Value::Str(crate::yaml::python_str(other)),
        },
        "raw" | "bytes" | "bits" => v.clone(),
        "int" => match v {
            Value::Int(_) => v.clone(),
            Value::Float(f) if f.fract() == 0.0 => Value::Int(*f as i128),
            Value::Str(t) => Value::Int(
                t.trim()
                    .parse::<i128>()
                    .map_err(|_| format!("\"'{t}'\" cannot be converted to an int"))?,
            ),
            other => {
                return Err(format!(
                    "{} cannot be converted to an int",
                    crate::yaml::repr(other)
                ));
            }
        },
        "float" => match v {
            Value::Float(_) => v.clone(),
            Value::Int(i) => Value::Float(*i as f64),
            Value::Str(t) => Value::Float(
                t.trim()
                    .parse::<f64>()
                    .map_err(|_| "<class 'str'> cannot be converted to a float".to_string())?,
            ),
            _ => {
                return Err(format!(
                    "<class '{}'> cannot be converted to a float",
                    v.type_name()
                ));
            }
        },
        "bool" => match super::spec::to_bool(v) {
            Some(b) => Value::Bool(b),
            None => {
                return Err(format!(
                    "The value '{}' is not a valid boolean. Valid booleans include: 0, 1, 'f', '0', 'yes', 'off', 't', '1', 'no', 'on', 'n', 'y', 'true', 'false'",
                    s()
                ));
            }
        },
        "list" => match v {
            Value::Seq(_) => v.clone(),
            Value::Str(t) => Value::Seq(t.split(',').map(|p| Value::str(p.trim())).collect()),
            Value::Int(_) | Value::Float(_) => Value::Seq(vec![Value::Str(s())]),
            _ => return Err(format!("{} cannot be converted to a list", v.type_name())),
        },
        "dict" => match v {
            Value::Map(_) => v.clone(),
            _ => {
                return Err("dictionary requested, could not parse JSON or key=value".to_string());
            }
        },
        _ => v.clone(),
    })
}
