//! Modules: each turns validated arguments into a result, reading the host's state before
//! changing anything (query, then create/modify/remove), honouring check and diff mode.
//! They run on the controller and speak POSIX sh to the target through a `Connection`.

mod accountdb;
mod alternatives;
mod apt;
mod apt_key;
mod apt_repository;
mod assert;
mod authorized_key;
mod blockinfile;
mod command;
mod copy;
mod cron;
mod deb822_repository;
mod debug;
mod dnf;
mod docker_common;
mod docker_compose_v2;
mod docker_container;
mod docker_image;
mod docker_login;
mod docker_network;
mod docker_volume;
mod fail;
mod fetch;
mod file;
mod fileattrs;
mod filecommon;
mod find;
mod get_url;
mod getent;
mod git;
mod group;
mod hostname;
mod http;
mod include_vars;
mod ini_file;
mod lineinfile;
mod meta;
mod modprobe;
mod mount;
mod package;
mod package_facts;
mod pause;
mod ping;
mod pkgutil;
mod reboot;
mod registry;
mod replace;
mod result;
mod sections;
mod service_facts;
mod set_fact;
mod setup;
mod slurp;
pub mod spec;
mod stat;
mod sysctl;
mod systemd;
mod tempfile;
mod template;
mod timezone;
mod ufw;
mod unarchive;
mod uri;
mod user;
mod validate_argument_spec;
mod wait_for;
mod wait_for_connection;
mod yum_repository;

pub use registry::{canonical_name, lookup, names};
pub use result::{Diff, TaskResult};
pub use spec::{ArgSpec, Args};

use crate::connection::{self, Become, ConnError, Connection, Output, RemoteCommand};
use crate::template::Templar;
use crate::yaml::Map;
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Directories searched for `files/` and `templates/` content: the role's directory first,
/// then the playbook's, as Ansible's search path.
#[derive(Debug, Clone, Default)]
pub struct SearchPaths(pub Vec<PathBuf>);

impl SearchPaths {
    /// Finds `rel` under `<base>/<kind>/` or `<base>/` for each base; absolute paths as given.
    pub fn find(&self, kind: &str, rel: &str) -> Option<PathBuf> {
        let p = Path::new(rel);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        self.0.iter().find_map(|base| {
            [base.join(kind).join(rel), base.join(rel)]
                .into_iter()
                .find(|c| c.exists())
        })
    }
}

/// What a module may use while it runs on one host.
pub struct TaskCx<'a> {
    pub host: &'a str,
    pub conn: &'a dyn Connection,
    pub become_: Option<Become>,
    pub check_mode: bool,
    pub diff_mode: bool,
    pub templar: &'a Templar,
    /// The task's variables on this host (for templating and `debug: var=`).
    pub vars: &'a Map,
    pub search: &'a SearchPaths,
    /// `export` statements for the task's `environment`, run before every command.
    pub env: String,
}

impl TaskCx<'_> {
    /// Runs a script on the host, with the task's become settings.
    pub async fn sh(&self, script: impl Into<String>) -> Result<Output, ConnError> {
        let cmd = RemoteCommand::new(format!("{}{}", self.env, script.into()))
            .with_become(self.become_.clone());
        self.conn.exec(&cmd, None).await
    }

    /// Runs a script that must end within `limit` (a stuck command or a connection that
    /// hangs is then a `ConnError::Timeout`): for modules that poll a host coming and going.
    pub async fn sh_within(
        &self,
        script: impl Into<String>,
        limit: std::time::Duration,
    ) -> Result<Output, ConnError> {
        let cmd = RemoteCommand::new(format!("{}{}", self.env, script.into()))
            .with_become(self.become_.clone());
        // The limit covers opening the session too, which happens inside `exec`.
        match tokio::time::timeout(limit, self.conn.exec(&cmd, None)).await {
            Ok(r) => r,
            Err(_) => Err(ConnError::Timeout(limit)),
        }
    }

    /// Runs a script feeding `stdin`.
    pub async fn sh_with_input(
        &self,
        script: impl Into<String>,
        stdin: Vec<u8>,
    ) -> Result<Output, ConnError> {
        let cmd = RemoteCommand::new(format!("{}{}", self.env, script.into()))
            .with_become(self.become_.clone());
        self.conn.exec(&cmd, Some(stdin)).await
    }

    /// Streams a host's file into the controller file `local`.
    pub async fn download(&self, src: &str, local: &Path) -> Result<Output, ConnError> {
        connection::get_to_file(self.conn, src, local, self.become_.clone()).await
    }

    /// Writes a file atomically on the host.
    pub async fn put(
        &self,
        content: connection::Input,
        dest: &str,
        opts: &connection::PutOptions,
    ) -> Result<Output, ConnError> {
        connection::put(self.conn, content, dest, opts, self.become_.clone()).await
    }
}

#[async_trait]
pub trait Module: Send + Sync {
    fn name(&self) -> &'static str;
    fn spec(&self) -> &'static ArgSpec;
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult;
    /// Modules that only compute on the controller (`debug`, `set_fact`) never touch the host.
    fn controller_only(&self) -> bool {
        false
    }
    /// Runs once for all the hosts of a task, on the first of them (Ansible's
    /// `BYPASS_HOST_LOOP` action plugins: `pause`), its result shared by all.
    fn bypass_host_loop(&self) -> bool {
        false
    }
    /// Collections outside ansible.builtin whose name for this module resolves to it
    /// (`ansible.posix` for `sysctl`): kiln implements those modules natively.
    fn collections(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A connection error as a task result: a lost or failed transport is "unreachable".
pub fn conn_failure(e: ConnError) -> TaskResult {
    match e {
        ConnError::Unreachable(m) => TaskResult::unreachable(m),
        other => TaskResult::failed(other.to_string()),
    }
}

/// `?` for connection calls inside `run`: turns the error into the task's result.
#[macro_export]
macro_rules! try_conn {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::modules::conn_failure(e),
        }
    };
}
