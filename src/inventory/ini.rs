//! INI inventories: `[group]` host lines, `[group:vars]`, `[group:children]`, as Ansible's
//! `ini` plugin reads them (values typed by `pyliteral`).

use super::pyliteral::{parse_value, shlex_split};
use super::range::expand_host_pattern;
use super::{Inventory, InventoryError};
use crate::diag::Span;
use indexmap::IndexMap;
use regex::Regex;
use std::path::Path;
use std::sync::{Arc, LazyLock};

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("static regex"));
static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("static regex"));

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Children,
    Vars,
}

struct Pending {
    line: usize,
    state: State,
    parents: Vec<String>,
}

/// Parses INI text into `inv`. Errors point at the offending line.
pub fn parse(inv: &mut Inventory, text: &str, path: &Path) -> Result<(), InventoryError> {
    let file: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    let source = path.to_path_buf();
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        let at = |col: usize, msg: String, hint: &str| {
            InventoryError::at(Span::new(&file, lineno, col), msg, hint)
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        let col = raw.find(line).unwrap_or(0) + 1;
        if let Some(c) = SECTION.captures(line) {
            group = c[1].to_string();
            let tag = c.get(2).map_or("hosts", |m| m.as_str());
            state = match tag {
                "hosts" => State::Hosts,
                "children" => State::Children,
                "vars" => State::Vars,
                other => {
                    return Err(at(
                        col,
                        format!("section `[{group}:{other}]` has unknown type `{other}`"),
                        "a section is `[group]`, `[group:vars]` or `[group:children]`",
                    ));
                }
            };
            if !inv.groups.contains_key(&group) {
                if state == State::Vars && !pending.contains_key(&group) {
                    pending.insert(
                        group.clone(),
                        Pending {
                            line: lineno,
                            state,
                            parents: Vec::new(),
                        },
                    );
                }
                inv.add_group(&group);
            }
            if state != State::Vars
                && let Some(p) = pending.get(&group)
            {
                if p.state == State::Children {
                    add_pending_children(inv, &group, &mut pending)
                        .map_err(|e| at(col, e, "remove the cycle between these groups"))?;
                } else {
                    pending.shift_remove(&group);
                }
            }
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(at(
                col,
                format!("invalid section entry `{line}`"),
                "make sure the section has no spaces and no other invalid characters",
            ));
        }
        match state {
            State::Hosts => {
                let tokens = shlex_split(line).map_err(|e| {
                    at(
                        col,
                        format!("error parsing host definition `{line}`: {e}"),
                        "close the quote or escape it",
                    )
                })?;
                let Some(first) = tokens.first() else {
                    continue;
                };
                let (names, port) = expand_host_pattern(first).map_err(|e| {
                    at(
                        col,
                        format!("invalid host range in `{first}`: {e}"),
                        "a range is `[begin:end]` or `[begin:end:step]`, e.g. `web[01:20]`",
                    )
                })?;
                if first.trim_end().ends_with(':') && port.is_none() {
                    return Err(at(
                        col,
                        format!(
                            "invalid host pattern `{first}`: ending in `:` is not allowed, this character is reserved to provide a port"
                        ),
                        "write `host:PORT` or drop the trailing `:`",
                    ));
                }
                if names.iter().any(|n| n.trim() == "---") {
                    return Err(at(
                        col,
                        format!(
                            "invalid host pattern `{first}`: `---` is normally a sign this is a YAML file"
                        ),
                        "give the file a `.yml` extension",
                    ));
                }
                let mut vars = Vec::new();
                for t in &tokens[1..] {
                    let Some((k, v)) = t.split_once('=') else {
                        return Err(at(
                            raw.find(t.as_str()).map_or(col, |i| i + 1),
                            format!("expected key=value host variable assignment, got: `{t}`"),
                            "host variables are written `name=value` after the host name",
                        ));
                    };
                    vars.push((k.to_string(), parse_value(v)));
                }
                let g = inv.groups.get_index_of(&group);
                for name in names {
                    let h = inv.add_host(&name, g, port, Some(&source));
                    for (k, v) in &vars {
                        inv.set_host_var(h, k.clone(), v.clone());
                    }
                }
            }
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(at(
                        col,
                        format!("expected key=value, got: `{line}`"),
                        "variables in a `[group:vars]` section are written `name=value`",
                    ));
                };
                let g = inv.add_group(&group);
                inv.set_group_var(g, k.trim().to_string(), parse_value(v.trim()))
                    .map_err(|e| at(col, e, "set `ansible_group_priority` to a whole number"))?;
            }
            State::Children => {
                let Some(c) = GROUP_NAME.captures(line) else {
                    return Err(at(
                        col,
                        format!("expected group name, got: `{line}`"),
                        "list one group name per line",
                    ));
                };
                let child = c[1].to_string();
                if inv.groups.contains_key(&child) {
                    let parent = inv.add_group(&group);
                    let child = inv.add_group(&child);
                    inv.add_child_group(parent, child)
                        .map_err(|e| at(col, e, "remove the cycle between these groups"))?;
                } else {
                    pending
                        .entry(child)
                        .or_insert(Pending {
                            line: lineno,
                            state: State::Children,
                            parents: Vec::new(),
                        })
                        .parents
                        .push(group.clone());
                }
            }
        }
    }
    if let Some((name, decl)) = pending.into_iter().next() {
        let span = Span::new(&file, decl.line, 1);
        let message = match decl.state {
            State::Vars => {
                format!("section `[{name}:vars]` is not valid for undefined group `{name}`")
            }
            _ => format!(
                "section `[{}:children]` includes undefined group `{name}`",
                decl.parents.last().map_or("", String::as_str)
            ),
        };
        return Err(InventoryError::at(
            span,
            message,
            "declare the group with a `[group]` or `[group:children]` section",
        ));
    }
    Ok(())
}

fn add_pending_children(
    inv: &mut Inventory,
    group: &str,
    pending: &mut IndexMap<String, Pending>,
) -> Result<(), String> {
    let Some(decl) = pending.shift_remove(group) else {
        return Ok(());
    };
    let child = inv.add_group(group);
    for parent in decl.parents {
        let p = inv.add_group(&parent);
        inv.add_child_group(p, child)?;
        if pending
            .get(&parent)
            .is_some_and(|d| d.state == State::Children)
        {
            add_pending_children(inv, &parent, pending)?;
        }
    }
    Ok(())
}
