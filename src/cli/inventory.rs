//! `kiln inventory`: the inventory as Ansible would read it, in `ansible-inventory`'s formats.

use super::{Failure, exit};
use crate::inventory::{InventoryError, Loader, read_limit};
use crate::output::{json, print_warnings};
use crate::yaml::{Map, Value, python_str};
use clap::{ArgGroup, Args};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["list", "host", "graph", "list_hosts"])))]
pub struct InventoryArgs {
    /// Inventory source: a file, a directory, or a comma-separated host list (`h1,h2,`).
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE")]
    pub inventory: Vec<String>,
    /// Print the whole inventory as JSON, like `ansible-inventory --list`.
    #[arg(long)]
    pub list: bool,
    /// Print one host's variables.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Print the group tree from GROUP (default `all`).
    #[arg(long, value_name = "GROUP", num_args = 0..=1, default_missing_value = "all")]
    pub graph: Option<String>,
    /// Print the hosts a pattern selects, one per line, in play order.
    #[arg(long, value_name = "PATTERN", num_args = 0..=1, default_missing_value = "all")]
    pub list_hosts: Option<String>,
    /// Restrict to hosts matching PATTERN (`@file` reads patterns from a file).
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// With `--graph`, show variables too.
    #[arg(long)]
    pub vars: bool,
    /// Treat DIR as the playbook directory for `group_vars/` and `host_vars/`.
    #[arg(long, value_name = "DIR")]
    pub playbook_dir: Option<PathBuf>,
    /// Vault secrets for encrypted inventory and vars files.
    #[command(flatten)]
    pub vault: super::vault::VaultArgs,
}

impl From<InventoryError> for Failure {
    fn from(e: InventoryError) -> Failure {
        // ansible-inventory exits 1 when a source fails to parse (in its strict mode, which
        // is kiln's only mode) and when a pattern is invalid.
        Failure::new(exit::ERROR, e.render())
    }
}

pub fn run(args: &InventoryArgs) -> Result<String, Failure> {
    let config = super::run::config()?;
    args.vault
        .install_with(super::run::vault_settings(&config)?)?;
    // Without `-i`, the `inventory` setting, as ansible-inventory.
    let sources: Vec<String> = if args.inventory.is_empty() {
        config
            .paths("inventory")
            .into_iter()
            .map(|p| p.display().to_string())
            .collect()
    } else {
        args.inventory.clone()
    };
    let mut loader = Loader::load(&sources, args.playbook_dir.as_deref())?;
    let limit = args.limit.as_deref().map(read_limit).transpose()?;
    let result = if args.list {
        list(&mut loader, limit.as_deref())
    } else if let Some(host) = &args.host {
        host_vars(&mut loader, host, limit.as_deref())
    } else if let Some(group) = &args.graph {
        graph(&mut loader, group, args.vars)
    } else if let Some(pattern) = &args.list_hosts {
        list_hosts(&mut loader, pattern, limit.as_deref())
    } else {
        Err(Failure::new(
            exit::OPTIONS,
            "no action given: use --list, --host, --graph or --list-hosts",
        ))
    };
    print_warnings(&loader.take_warnings());
    result
}

fn host_vars_clean(loader: &mut Loader, host: usize) -> Result<Map, Failure> {
    let mut vars = loader.host_vars(host)?;
    vars.retain(|k, _| {
        !k.as_str()
            .is_some_and(|k| crate::inventory::INTERNAL_VARS.contains(&k))
    });
    Ok(vars)
}

fn list(loader: &mut Loader, limit: Option<&[String]>) -> Result<String, Failure> {
    let hosts = loader.inventory.select("all", limit)?;
    let available: indexmap::IndexSet<usize> = hosts.iter().copied().collect();
    let inv = &loader.inventory;
    let mut top = Map::new();
    let mut seen = indexmap::IndexSet::new();
    let mut stack = vec![0usize];
    // Ansible walks from `all` through children; every group reached once.
    while let Some(g) = stack.pop() {
        let mut entry = Map::new();
        if g != 0 {
            let names: Vec<Value> = inv
                .direct_hosts(g)
                .iter()
                .filter(|h| available.contains(*h))
                .map(|&h| Value::str(inv.hosts[h].name.clone()))
                .collect();
            if !names.is_empty() {
                entry.insert(Value::str("hosts"), Value::Seq(names));
            }
        }
        let children: Vec<Value> = inv
            .children(g)
            .iter()
            .map(|&c| Value::str(inv.groups[c].name.clone()))
            .collect();
        if !children.is_empty() {
            entry.insert(Value::str("children"), Value::Seq(children));
        }
        for &c in inv.children(g).iter().rev() {
            if seen.insert(c) {
                stack.push(c);
            }
        }
        if !entry.is_empty() {
            top.insert(Value::str(inv.groups[g].name.clone()), Value::Map(entry));
        }
    }
    let mut hostvars = Map::new();
    for h in hosts {
        let vars = host_vars_clean(loader, h)?;
        if !vars.is_empty() {
            hostvars.insert(
                Value::str(loader.inventory.hosts[h].name.clone()),
                Value::Map(vars),
            );
        }
    }
    let mut meta = Map::new();
    meta.insert(Value::str("hostvars"), Value::Map(hostvars));
    meta.insert(Value::str("profile"), Value::str("inventory_legacy"));
    top.insert(Value::str("_meta"), Value::Map(meta));
    Ok(json::to_string(&Value::Map(top), Some(4)))
}

fn host_vars(loader: &mut Loader, host: &str, limit: Option<&[String]>) -> Result<String, Failure> {
    let hosts = loader.inventory.select(host, limit)?;
    let [h] = hosts[..] else {
        return Err(Failure::new(
            exit::OPTIONS,
            format!(
                "you must pass a single valid host to --host, `{host}` matched {} hosts",
                hosts.len()
            ),
        ));
    };
    let vars = host_vars_clean(loader, h)?;
    Ok(json::to_string(&Value::Map(vars), Some(4)))
}

fn graph(loader: &mut Loader, group: &str, with_vars: bool) -> Result<String, Failure> {
    let Some(g) = loader.inventory.groups.get_index_of(group) else {
        return Err(Failure::new(
            exit::OPTIONS,
            format!("pattern must be a valid group name when using --graph, got `{group}`"),
        ));
    };
    let mut lines = Vec::new();
    graph_group(loader, g, 0, with_vars, &mut lines)?;
    Ok(lines.join("\n"))
}

fn graph_name(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{}", "  |".repeat(depth), name)
    }
}

fn show_vars(vars: &Map, depth: usize, lines: &mut Vec<String>) {
    let mut entries: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (python_str(k), python_str(v)))
        .collect();
    entries.sort();
    for (k, v) in entries {
        lines.push(graph_name(&format!("{{{k} = {v}}}"), depth));
    }
}

fn graph_group(
    loader: &mut Loader,
    g: usize,
    depth: usize,
    with_vars: bool,
    lines: &mut Vec<String>,
) -> Result<(), Failure> {
    lines.push(graph_name(
        &format!("@{}:", loader.inventory.groups[g].name),
        depth,
    ));
    let children = loader.inventory.children(g).to_vec();
    for c in children {
        graph_group(loader, c, depth + 1, with_vars, lines)?;
    }
    if g != 0 {
        let hosts = loader.inventory.direct_hosts(g).to_vec();
        for h in hosts {
            lines.push(graph_name(&loader.inventory.hosts[h].name, depth + 1));
            if with_vars {
                let vars = host_vars_clean(loader, h)?;
                show_vars(&vars, depth + 2, lines);
            }
        }
    }
    if with_vars {
        let mut vars = loader.group_vars(g)?;
        vars.retain(|k, _| {
            !k.as_str()
                .is_some_and(|k| crate::inventory::INTERNAL_VARS.contains(&k))
        });
        show_vars(&vars, depth + 1, lines);
    }
    Ok(())
}

fn list_hosts(
    loader: &mut Loader,
    pattern: &str,
    limit: Option<&[String]>,
) -> Result<String, Failure> {
    let hosts = loader.inventory.select(pattern, limit)?;
    let names: Vec<String> = hosts
        .iter()
        .map(|&h| loader.inventory.hosts[h].name.clone())
        .collect();
    Ok(names.join("\n"))
}
