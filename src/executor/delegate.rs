//! Connections: each host's own (`local`, or kiln's SSH client with the host's connection
//! variables), made once per run and reused by every task; connections for `delegate_to`
//! targets; and connections for tasks that ask for another user, port or connection type.

use super::Executor;
use super::vars::PlayCx;
use crate::connection::{Connection, Local};
use crate::yaml::{Map, Value};
use std::sync::Arc;

/// Names the controller itself answers to when they are not inventory hosts.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Connection settings a task may change from the host's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ConnOverride {
    pub connection: Option<String>,
    pub remote_user: Option<String>,
    pub port: Option<u16>,
}

impl ConnOverride {
    pub fn is_empty(&self) -> bool {
        *self == ConnOverride::default()
    }
}

impl Executor<'_> {
    /// Gives each host its connection, kept for the rest of the run. A host whose SSH
    /// settings are wrong gets none and is reported unreachable with the reason.
    pub(super) fn connect(&self, hosts: &[String], pcx: &PlayCx<'_>) {
        for h in hosts {
            if self.state().hosts.get(h).is_none_or(|s| s.conn.is_some()) {
                continue;
            }
            match self.make_connection(h, pcx, &ConnOverride::default()) {
                Ok(c) => {
                    if let Some(state) = self.state().hosts.get_mut(h) {
                        state.conn = Some(c);
                    }
                }
                Err(e) => {
                    self.state().conn_errors.insert(h.clone(), e);
                }
            }
        }
    }

    /// A new connection to inventory host `h`, with the play's (or `over`'s) settings.
    fn make_connection(
        &self,
        h: &str,
        pcx: &PlayCx<'_>,
        over: &ConnOverride,
    ) -> Result<Arc<dyn Connection>, String> {
        let conn_name = over
            .connection
            .clone()
            .unwrap_or_else(|| self.connection_name(h, pcx));
        match conn_name.as_str() {
            "local" => Ok(Arc::new(Local)),
            "ssh" | "smart" | "paramiko" => {
                let view = self.host_view(h, pcx);
                let vars = self.connection_vars(&view)?;
                let mut opts = self.opts.ssh.clone();
                if let Some(u) = &over.remote_user {
                    opts.remote_user = Some(u.clone());
                } else if opts.remote_user.is_none() {
                    opts.remote_user = pcx
                        .play
                        .common
                        .remote_user
                        .as_ref()
                        .map(crate::yaml::python_str)
                        .or_else(|| self.opts.remote_user.clone());
                }
                let mut vars = vars;
                if let Some(p) = over.port {
                    vars.insert(Value::str("ansible_port"), Value::Int(i128::from(p)));
                }
                match crate::connection::ssh::resolve::target(h, &vars, &opts) {
                    Ok((target, ignored)) => {
                        for i in ignored {
                            if self.state().ssh_ignored.insert(i.clone()) {
                                self.cb().on_warning(&format!(
                                    "ssh_config option not supported by kiln, ignored: {i}"
                                ));
                            }
                        }
                        Ok(Arc::new(crate::connection::ssh::Ssh::new(target)))
                    }
                    Err(e) => Err(format!("bad SSH settings for {h}: {e}")),
                }
            }
            other => Err(format!("the `{other}` connection is not supported by kiln")),
        }
    }

    /// The connection variables of a host's view, templated (lazily, as Ansible: only
    /// these are).
    fn connection_vars(&self, view: &Map) -> Result<Map, String> {
        let mut vars = Map::new();
        for (k, v) in view {
            let is_conn = k.as_str().is_some_and(|k| {
                k.starts_with("ansible_ssh_")
                    || matches!(
                        k,
                        "ansible_host"
                            | "ansible_port"
                            | "ansible_user"
                            | "ansible_password"
                            | "ansible_private_key_file"
                            | "ansible_timeout"
                            | "ansible_host_key_checking"
                    )
            });
            if !is_conn {
                continue;
            }
            match self.templar.template(v, view) {
                Ok(t) => {
                    vars.insert(k.clone(), t);
                }
                Err(e) => {
                    return Err(format!(
                        "cannot template `{}`: {e}",
                        crate::yaml::python_str(k)
                    ));
                }
            }
        }
        Ok(vars)
    }

    /// Why `host` has no connection.
    pub(super) fn conn_error(&self, host: &str, pcx: &PlayCx<'_>) -> String {
        let known = self.state().conn_errors.get(host).cloned();
        known.unwrap_or_else(|| {
            format!(
                "the `{}` connection is not supported by kiln",
                self.connection_name(host, pcx)
            )
        })
    }

    pub(super) fn connection_name(&self, host: &str, pcx: &PlayCx<'_>) -> String {
        if let Some(c) = &self.opts.connection {
            return c.clone();
        }
        let from_inventory = self.state().hosts.get(host).and_then(|s| {
            s.inventory_vars
                .get(&Value::str("ansible_connection"))
                .cloned()
        });
        if let Some(v) = from_inventory {
            return crate::yaml::python_str(&v);
        }
        if let Some(c) = &pcx.play.common.connection {
            return crate::yaml::python_str(c);
        }
        let implicit = self
            .inventory()
            .inventory
            .hosts
            .get(host)
            .is_some_and(|h| h.implicit);
        if implicit {
            "local".into()
        } else {
            "ssh".into()
        }
    }

    /// The connection to a `delegate_to` target: an inventory host's own (made now if the
    /// play has not made it), the controller for `localhost` when the inventory has no such
    /// host, or a new SSH connection to a name or address outside the inventory.
    pub(super) fn delegate_connection(
        &self,
        target: &str,
        pcx: &PlayCx<'_>,
    ) -> Result<(Arc<dyn Connection>, String), String> {
        let c = self.delegate_conn(target, pcx)?;
        // Results name the target, and its address when that differs, as Ansible's do.
        let address = self.state().hosts.get(target).and_then(|s| {
            s.inventory_vars
                .get(&Value::str("ansible_host"))
                .map(crate::yaml::python_str)
        });
        let label = match address {
            Some(a) if a != target => format!("{target}({a})"),
            _ => target.to_string(),
        };
        Ok((c, label))
    }

    fn delegate_conn(&self, target: &str, pcx: &PlayCx<'_>) -> Result<Arc<dyn Connection>, String> {
        let index = self.inventory().inventory.hosts.get_index_of(target);
        if let Some(i) = index {
            if let Some(c) = self.state().hosts.get(target).and_then(|s| s.conn.clone()) {
                return Ok(c);
            }
            if !self.state().hosts.contains_key(target) {
                let vars = self.inventory().host_vars(i).map_err(|e| e.render())?;
                self.state()
                    .hosts
                    .insert(target.to_string(), super::host::HostState::new(vars));
            }
            let c = self.make_connection(target, pcx, &ConnOverride::default())?;
            if let Some(s) = self.state().hosts.get_mut(target) {
                s.conn = Some(c.clone());
            }
            return Ok(c);
        }
        if let Some(c) = self.state().delegated.get(target) {
            return Ok(c.clone());
        }
        let c: Arc<dyn Connection> = if LOCAL_NAMES.contains(&target) {
            Arc::new(Local)
        } else {
            let mut opts = self.opts.ssh.clone();
            if opts.remote_user.is_none() {
                opts.remote_user = pcx
                    .play
                    .common
                    .remote_user
                    .as_ref()
                    .map(crate::yaml::python_str)
                    .or_else(|| self.opts.remote_user.clone());
            }
            let (t, _) = crate::connection::ssh::resolve::target(target, &Map::new(), &opts)
                .map_err(|e| format!("bad SSH settings for {target}: {e}"))?;
            Arc::new(crate::connection::ssh::Ssh::new(t))
        };
        self.state().delegated.insert(target.to_string(), c.clone());
        Ok(c)
    }

    /// A connection to `h` with a task's own `connection`, `remote_user` or `port`, made once
    /// per combination and kept.
    pub(super) fn override_connection(
        &self,
        h: &str,
        over: &ConnOverride,
        pcx: &PlayCx<'_>,
    ) -> Result<Arc<dyn Connection>, String> {
        let key = format!(
            "{h}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
            over.connection, over.remote_user, over.port
        );
        if let Some(c) = self.state().delegated.get(&key) {
            return Ok(c.clone());
        }
        let c = self.make_connection(h, pcx, over)?;
        self.state().delegated.insert(key, c.clone());
        Ok(c)
    }
}
