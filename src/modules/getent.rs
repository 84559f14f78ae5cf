//! `getent`: one of the target's NSS databases (or one key of it) read with its `getent`,
//! into the fact `getent_<database>` shaped as ansible-core 2.19 shapes it (each entry's
//! first field maps to the others; a key seen twice maps to a list of entries).

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote::join;
use crate::template::filters::text::py_split;
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct Getent;

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("database", Kind::Str).required(),
    Opt::new("key", Kind::Str),
    Opt::new("service", Kind::Str),
    Opt::new("split", Kind::Str),
    Opt::new("fail_key", Kind::Bool).default("true"),
]);

/// Databases whose entries are colon-separated unless `split` says otherwise.
const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

/// The entries of `getent` output, keyed by their first field, as the module builds them.
fn entries(out: &str, split: Option<&str>) -> Result<Map, String> {
    let mut tree = Map::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for line in crate::template::filters::text::py_splitlines(out) {
        let record = py_split(line, split, -1)?;
        let Some(first) = record.first().cloned() else {
            // Python's `''.split()` is empty and `record[0]` fails: the module crashes.
            return Err(format!("list index out of range (line {line:?})"));
        };
        let rest = Value::Seq(record[1..].iter().map(Value::str).collect());
        let key = Value::str(&first);
        match seen.iter_mut().find(|(k, _)| *k == first) {
            Some((_, count)) => {
                if *count == 1
                    && let Some(v) = tree.get_mut(&key)
                {
                    *v = Value::Seq(vec![v.clone()]);
                }
                if let Some(Value::Seq(list)) = tree.get_mut(&key) {
                    list.push(rest);
                }
                *count += 1;
            }
            None => {
                tree.insert(key, rest);
                seen.push((first, 1));
            }
        }
    }
    Ok(tree)
}

#[async_trait]
impl Module for Getent {
    fn name(&self) -> &'static str {
        "getent"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let database = args.str("database").unwrap_or_default();
        let key = args.str("key");
        let mut split = args.str("split");
        if split.is_none() && COLON.contains(&database.as_str()) {
            split = Some(":".into());
        }
        let mut cmd = vec!["getent".to_string(), database.clone()];
        cmd.extend(key.clone());
        if let Some(s) = args.str("service") {
            cmd.extend(["-s".to_string(), s]);
        }
        let out = try_conn!(cx.sh(join(&cmd)).await);
        let fact = format!("getent_{database}");
        let with_fact = |tree: Map, r: TaskResult| {
            let mut facts = Map::new();
            facts.insert(Value::str(&fact), Value::Map(tree));
            TaskResult {
                facts: Some(facts),
                ..r
            }
        };
        let msg = match out.rc {
            0 => {
                return match entries(&out.stdout_text(), split.as_deref()) {
                    Ok(tree) => with_fact(tree, TaskResult::changed(false)),
                    Err(e) => TaskResult::failed(e),
                };
            }
            1 => "Missing arguments, or database unknown.",
            2 => {
                let msg = "One or more supplied key could not be found in the database.";
                if !args.bool("fail_key") {
                    let mut tree = Map::new();
                    tree.insert(Value::str(key.unwrap_or_default()), Value::Null);
                    return with_fact(tree, TaskResult::changed(false).msg(msg));
                }
                msg
            }
            3 => "Enumeration not supported on this database.",
            127 => "Failed to find required executable \"getent\" in paths",
            _ => "Unexpected failure!",
        };
        TaskResult::failed(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keyed_by_first_field() {
        let t = entries("root:x:0:0:root:/root:/bin/bash\n", Some(":")).unwrap();
        assert_eq!(
            t.get(&Value::str("root")),
            Some(&Value::Seq(
                ["x", "0", "0", "root", "/root", "/bin/bash"]
                    .iter()
                    .map(|s| Value::str(*s))
                    .collect()
            ))
        );
        // Whitespace splitting, and a key seen twice becomes a list of entries.
        let t = entries("127.0.0.1  localhost\n127.0.0.1 lab1\n", None).unwrap();
        let Some(Value::Seq(list)) = t.get(&Value::str("127.0.0.1")) else {
            panic!("{t:?}")
        };
        assert_eq!(list.len(), 2);
        assert_eq!(list[1], Value::Seq(vec![Value::str("lab1")]));
    }
}
