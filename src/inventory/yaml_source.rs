//! YAML (and JSON) inventories: `all: {hosts, vars, children}` at any depth, as Ansible's
//! `yaml` plugin reads them.

use super::range::expand_host_pattern;
use super::{Inventory, InventoryError};
use crate::yaml::{Node, NodeKind, Value};
use std::path::Path;

/// Why a file is not a YAML inventory; the caller then tries the next format.
pub enum NotYaml {
    /// The file is not a mapping of groups (so it may be INI).
    Structure(String),
    /// A real error inside a YAML inventory.
    Error(InventoryError),
}

impl From<InventoryError> for NotYaml {
    fn from(e: InventoryError) -> NotYaml {
        NotYaml::Error(e)
    }
}

pub fn parse(inv: &mut Inventory, root: Option<&Node>, path: &Path) -> Result<(), NotYaml> {
    let Some(root) = root else {
        return Err(NotYaml::Structure("parsed empty YAML file".into()));
    };
    let NodeKind::Map(entries) = &root.kind else {
        return Err(NotYaml::Structure(format!(
            "YAML inventory has invalid structure, it should be a dictionary, got: {}",
            root.to_value().type_name()
        )));
    };
    if entries.is_empty() {
        return Err(NotYaml::Structure("parsed empty YAML file".into()));
    }
    if root.get("plugin").is_some_and(|p| p.to_value().truthy()) {
        return Err(NotYaml::Structure(
            "plugin configuration YAML file, not YAML inventory (inventory plugins are not supported by kiln)".into(),
        ));
    }
    let source = path.to_path_buf();
    for (name, data) in entries {
        parse_group(inv, name, data, &source)?;
    }
    Ok(())
}

fn key_text(node: &Node) -> Result<String, InventoryError> {
    match node.to_value() {
        Value::Str(s) | Value::Unsafe(s) => Ok(s),
        other => Err(InventoryError::at(
            node.span.clone(),
            format!(
                "host or group name must be a string, got {} `{}`",
                other.type_name(),
                crate::yaml::python_str(&other)
            ),
            "enclose the name in quotation marks",
        )),
    }
}

fn parse_group(
    inv: &mut Inventory,
    name_node: &Node,
    data: &Node,
    source: &std::path::PathBuf,
) -> Result<String, InventoryError> {
    let name = key_text(name_node)?;
    let NodeKind::Map(sections) = &data.kind else {
        if data.is_null() {
            inv.add_group(&name);
        } else {
            inv.warn(format!(
                "Skipping '{name}' as this is not a valid group definition"
            ));
        }
        return Ok(name);
    };
    let group = inv.add_group(&name);
    for (key_node, value) in sections {
        let key = key_text(key_node)?;
        let is_section = matches!(key.as_str(), "vars" | "children" | "hosts");
        // A bare string is shorthand for a one-entry mapping.
        let value_owned;
        let value = match (&value.kind, is_section) {
            (NodeKind::Scalar(Value::Str(s) | Value::Unsafe(s)), true) => {
                value_owned = Node {
                    span: value.span.clone(),
                    kind: NodeKind::Map(vec![(
                        Node {
                            span: value.span.clone(),
                            kind: NodeKind::Scalar(Value::Str(s.clone())),
                        },
                        Node {
                            span: value.span.clone(),
                            kind: NodeKind::Scalar(Value::Null),
                        },
                    )]),
                };
                &value_owned
            }
            _ => value,
        };
        let entries = match &value.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Scalar(Value::Null) => continue,
            _ if is_section => {
                return Err(InventoryError::at(
                    value.span.clone(),
                    format!(
                        "invalid `{key}` entry for `{name}` group, requires a dictionary, found `{}` instead",
                        value.to_value().type_name()
                    ),
                    "write the entries as a mapping (`name:` on its own line, indented)",
                ));
            }
            _ => {
                inv.warn(format!(
                    "Skipping key ({key}) in group ({name}) as it is not a mapping, it is a {}",
                    value.to_value().type_name()
                ));
                continue;
            }
        };
        match key.as_str() {
            "vars" => {
                for (k, v) in entries {
                    let k = key_text(k)?;
                    inv.set_group_var(group, k, v.to_value()).map_err(|e| {
                        InventoryError::at(v.span.clone(), e, "set `ansible_group_priority` to a whole number")
                    })?;
                }
            }
            "children" => {
                for (child_name, child_data) in entries {
                    let child = parse_group(inv, child_name, child_data, source)?;
                    let Some(ci) = inv.groups.get_index_of(&child) else {
                        return Err(InventoryError::at(
                            child_name.span.clone(),
                            format!("`{child}` is not a known host nor group"),
                            "a child group is a mapping (or empty), e.g. `web: {hosts: {...}}`",
                        ));
                    };
                    inv.add_child_group(group, ci).map_err(|e| {
                        InventoryError::at(child_name.span.clone(), e, "remove the cycle between these groups")
                    })?;
                }
            }
            "hosts" => {
                for (pattern_node, host_vars) in entries {
                    let pattern = match pattern_node.to_value() {
                        Value::Str(s) | Value::Unsafe(s) => s,
                        _ => {
                            return Err(InventoryError::at(
                                pattern_node.span.clone(),
                                format!(
                                    "host pattern {} must be a string; enclose integers/floats in quotation marks",
                                    crate::yaml::python_str(&pattern_node.to_value())
                                ),
                                "quote the host name",
                            ));
                        }
                    };
                    let (names, port) = expand_host_pattern(&pattern).map_err(|e| {
                        InventoryError::at(pattern_node.span.clone(), format!("invalid host range in `{pattern}`: {e}"), "a range is `[begin:end]` or `[begin:end:step]`")
                    })?;
                    let vars = match &host_vars.kind {
                        NodeKind::Map(v) => v.as_slice(),
                        NodeKind::Scalar(Value::Null) => &[],
                        _ => {
                            return Err(InventoryError::at(
                                host_vars.span.clone(),
                                format!("invalid data for host `{pattern}`, expected a dictionary of variables"),
                                "host entries are `name:` followed by an indented mapping of variables",
                            ));
                        }
                    };
                    for host in names {
                        let h = inv.add_host(&host, Some(group), port, Some(source));
                        for (k, v) in vars {
                            let k = key_text(k)?;
                            inv.set_host_var(h, k, v.to_value());
                        }
                    }
                }
            }
            _ => inv.warn(format!(
                "Skipping unexpected key ({key}) in group ({name}), only \"vars\", \"children\" and \"hosts\" are valid"
            )),
        }
    }
    Ok(name)
}
