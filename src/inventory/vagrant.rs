//! `-i vagrant:PATH`: the machines of a Vagrant project as inventory hosts, read from what
//! `vagrant ssh-config` prints — run in PATH when it is a directory, or saved in PATH when it
//! is a file. Each `Host` block becomes a host with the connection variables Vagrant's own
//! Ansible provisioner sets, and the options kiln's SSH client acts on travel in
//! `ansible_ssh_common_args`, so kiln connects exactly as `vagrant ssh` would.

use super::{Inventory, InventoryError};
use crate::connection::quote::quote;
use crate::diag::Span;
use crate::yaml::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// Options Vagrant always prints that say nothing to kiln's client: its log level, and
/// algorithm lists kiln's client already accepts (ssh-rsa among them). Passing them on
/// would only make warnings.
const IGNORED: [&str; 5] = [
    "loglevel",
    "passwordauthentication",
    "pubkeyacceptedkeytypes",
    "pubkeyacceptedalgorithms",
    "hostkeyalgorithms",
];

/// Reads a `vagrant:` source into `inv`.
pub fn parse_source(inv: &mut Inventory, path: &str) -> Result<(), InventoryError> {
    let p = Path::new(path);
    if p.is_dir() {
        let text = run_ssh_config(p)?;
        parse(inv, &text, &format!("vagrant ssh-config in {path}"))
    } else if p.is_file() {
        let text = std::fs::read_to_string(p).map_err(|source| InventoryError::Read {
            path: p.to_path_buf(),
            source,
        })?;
        parse(inv, &text, path)
    } else {
        Err(InventoryError::Unparsed {
            source_name: format!("vagrant:{path}"),
            reasons: "  the path does not exist (give the Vagrant project's directory, or a file holding `vagrant ssh-config` output)".into(),
        })
    }
}

fn run_ssh_config(dir: &Path) -> Result<String, InventoryError> {
    let source_name = format!("vagrant:{}", dir.display());
    let out = Command::new("vagrant")
        .arg("ssh-config")
        .current_dir(dir)
        .output()
        .map_err(|e| InventoryError::Unparsed {
            source_name: source_name.clone(),
            reasons: format!(
                "  could not run `vagrant ssh-config`: {e}\n  hint: install Vagrant, or save `vagrant ssh-config` output to a file and pass `-i vagrant:FILE`"
            ),
        })?;
    if !out.status.success() {
        return Err(InventoryError::Unparsed {
            source_name,
            reasons: format!(
                "  `vagrant ssh-config` failed: {}\n  hint: are the machines up (`vagrant up`)?",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One `Host` block being read.
struct Machine {
    name: String,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    keys: Vec<String>,
    options: Vec<String>,
}

/// Parses `vagrant ssh-config` output (ssh_config syntax: `Key Value` or `Key=Value` lines
/// under `Host NAME` lines).
pub fn parse(inv: &mut Inventory, text: &str, source: &str) -> Result<(), InventoryError> {
    let file: Arc<str> = Arc::from(source);
    let mut machines: Vec<Machine> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let col = raw.len() - raw.trim_start().len() + 1;
        let at =
            |msg: String, hint: &str| InventoryError::at(Span::new(&file, n + 1, col), msg, hint);
        let (key, value) = split_option(line)
            .ok_or_else(|| at(format!("`{line}` has no value"), "lines are `Key Value`"))?;
        let lower = key.to_ascii_lowercase();
        if lower == "host" {
            machines.push(Machine {
                name: value.to_string(),
                host: None,
                port: None,
                user: None,
                keys: Vec::new(),
                options: Vec::new(),
            });
            continue;
        }
        let Some(m) = machines.last_mut() else {
            return Err(at(
                format!("`{key}` comes before any `Host` line"),
                "this does not look like `vagrant ssh-config` output",
            ));
        };
        match lower.as_str() {
            "hostname" => m.host = Some(value.to_string()),
            "port" => {
                m.port =
                    Some(value.parse().map_err(|_| {
                        at(format!("`{value}` is not a port"), "Port takes a number")
                    })?)
            }
            "user" => m.user = Some(value.to_string()),
            "identityfile" => m.keys.push(unquote(value)),
            k if IGNORED.contains(&k) => {}
            _ => m.options.push(format!("{key}={}", unquote(value))),
        }
    }
    if machines.is_empty() {
        return Err(InventoryError::Unparsed {
            source_name: format!("vagrant:{source}"),
            reasons: "  no `Host` entries: is any machine of the project running?".into(),
        });
    }
    for m in machines {
        let h = inv.add_host(&m.name, None, m.port, None);
        let mut set = |k: &str, v: Value| inv.set_host_var(h, k.to_string(), v);
        set(
            "ansible_host",
            Value::str(m.host.unwrap_or_else(|| m.name.clone())),
        );
        if let Some(u) = m.user {
            set("ansible_user", Value::str(u));
        }
        let mut args: Vec<String> = Vec::new();
        let mut keys = m.keys.into_iter();
        if let Some(k) = keys.next() {
            set("ansible_ssh_private_key_file", Value::str(k));
        }
        for k in keys {
            args.push(format!("-i {}", quote(&k)));
        }
        for o in m.options {
            args.push(format!("-o {}", quote(&o)));
        }
        if !args.is_empty() {
            set("ansible_ssh_common_args", Value::str(args.join(" ")));
        }
    }
    Ok(())
}

/// `Key Value` or `Key=Value` (a trimmed line), as ssh_config separates them.
fn split_option(line: &str) -> Option<(&str, &str)> {
    let end = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (!key.is_empty() && !rest.is_empty()).then_some((key, rest))
}

/// Vagrant quotes paths that hold spaces.
fn unquote(v: &str) -> String {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_as_ssh_config() {
        assert_eq!(split_option("Port 2222"), Some(("Port", "2222")));
        assert_eq!(split_option("Port=2222"), Some(("Port", "2222")));
        assert_eq!(split_option("=x"), None);
        assert_eq!(split_option("User   vagrant"), Some(("User", "vagrant")));
        assert_eq!(split_option("Host"), None);
        assert_eq!(unquote("\"/a b/key\""), "/a b/key");
    }

    #[test]
    fn hosts_from_ssh_config() {
        let mut inv = Inventory::new();
        let text = "Host server1\n  HostName 127.0.0.1\n  User vagrant\n  Port 2222\n  \
                    UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  \
                    IdentityFile \"/home/me/my lab/.vagrant/machines/server1/virtualbox/private_key\"\n  \
                    IdentitiesOnly yes\n  LogLevel FATAL\n";
        parse(&mut inv, text, "recorded").expect("parses");
        let h = &inv.hosts["server1"];
        let get = |k: &str| h.vars.get(&Value::str(k)).cloned();
        assert_eq!(get("ansible_host"), Some(Value::str("127.0.0.1")));
        assert_eq!(get("ansible_port"), Some(Value::Int(2222)));
        assert_eq!(get("ansible_user"), Some(Value::str("vagrant")));
        assert_eq!(
            get("ansible_ssh_private_key_file"),
            Some(Value::str(
                "/home/me/my lab/.vagrant/machines/server1/virtualbox/private_key"
            ))
        );
        assert_eq!(
            get("ansible_ssh_common_args"),
            Some(Value::str(
                "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o IdentitiesOnly=yes"
            ))
        );
    }

    #[test]
    fn bad_output_is_located() {
        let mut inv = Inventory::new();
        let e = parse(&mut inv, "HostName 1.2.3.4\n", "f").expect_err("no Host");
        assert!(e.render().contains("before any `Host`"), "{}", e.render());
        let e = parse(&mut inv, "Host a\n  Port x\n", "f").expect_err("bad port");
        assert!(e.render().contains("f:2:3"), "{}", e.render());
        assert!(parse(&mut inv, "", "f").is_err());
    }
}
