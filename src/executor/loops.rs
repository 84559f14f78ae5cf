//! A task's loop items and the variables each item adds: `loop:` (a list after templating),
//! `with_<lookup>:` (the terms templated, made a list, then given to the lookup as
//! `query()` would), and `loop_control` (`loop_var`, `index_var`, `extended`).

use crate::playbook::{Loop, LoopControl, LoopKind};
use crate::template::Templar;
use crate::yaml::{Map, Value};

/// The hidden variables holding a `with_` loop's lookup and terms while the lookup runs.
const LOOKUP: &str = "__kiln_loop_lookup__";
const TERMS: &str = "__kiln_loop_terms__";

/// The items a loop runs over, or why it cannot run (the task fails with that).
pub fn items(templar: &Templar, l: &Loop, vars: &Map) -> Result<Vec<Value>, String> {
    match &l.kind {
        LoopKind::Loop => {
            let templated = templar
                .template(&l.terms, vars)
                .map_err(|e| format!("error while evaluating the loop: {e}"))?;
            match templated {
                Value::Seq(items) => Ok(items),
                other => Err(format!(
                    "Invalid data passed to 'loop', it requires a list, got this instead: {}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup.",
                    crate::yaml::python_str(&other)
                )),
            }
        }
        LoopKind::With(lookup) => {
            // Ansible's listify_lookup_plugin_terms: template, then make it a list.
            let terms = templar
                .template(&l.terms, vars)
                .map_err(|e| format!("error while evaluating `with_{lookup}`: {e}"))?;
            let terms = match terms {
                Value::Seq(items) => items,
                other => vec![other],
            };
            let mut v = vars.clone();
            v.insert(Value::str(TERMS), Value::Seq(terms));
            v.insert(Value::str(LOOKUP), Value::str(lookup.clone()));
            match templar.eval_expr(&format!("query({LOOKUP}, *{TERMS})"), &v) {
                Ok(Value::Seq(items)) => Ok(items),
                Ok(other) => Ok(vec![other]),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// The variables one item adds: the loop variable, `ansible_loop_var`, the index variable,
/// and with `extended`, `ansible_loop`.
pub fn item_vars(
    lc: &LoopControl,
    items: &[Value],
    i: usize,
    extended: bool,
    allitems: bool,
) -> Map {
    let mut m = Map::new();
    m.insert(Value::str(lc.loop_var.clone()), items[i].clone());
    m.insert(
        Value::str("ansible_loop_var"),
        Value::str(lc.loop_var.clone()),
    );
    if let Some(iv) = &lc.index_var {
        m.insert(Value::str(iv.clone()), Value::Int(i as i128));
        m.insert(Value::str("ansible_index_var"), Value::str(iv.clone()));
    }
    if extended {
        let n = items.len();
        let mut l = Map::new();
        if allitems {
            l.insert(Value::str("allitems"), Value::Seq(items.to_vec()));
        }
        let int = |x: usize| Value::Int(x as i128);
        l.insert(Value::str("index"), int(i + 1));
        l.insert(Value::str("index0"), int(i));
        l.insert(Value::str("first"), Value::Bool(i == 0));
        l.insert(Value::str("last"), Value::Bool(i + 1 == n));
        l.insert(Value::str("length"), int(n));
        l.insert(Value::str("revindex"), int(n - i));
        l.insert(Value::str("revindex0"), int(n - i - 1));
        if i > 0 {
            l.insert(Value::str("previtem"), items[i - 1].clone());
        }
        if i + 1 < n {
            l.insert(Value::str("nextitem"), items[i + 1].clone());
        }
        m.insert(Value::str("ansible_loop"), Value::Map(l));
    }
    m
}
