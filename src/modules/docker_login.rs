//! `docker_login` (community.docker): credentials for a registry, checked by the daemon with
//! `docker login --password-stdin` (into a throwaway config directory, so check mode writes
//! nothing) and kept in the Docker config file, or in the credential helper it names, as
//! community.docker keeps them. The password travels on stdin only: never in a command line.

use super::docker_common::{self as dc, Docker};
use super::docker_image::docker_sh;
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Input, Output, PutOptions, quote};
use async_trait::async_trait;
use base64::Engine as _;
use serde_json::Value as J;
use std::sync::LazyLock;

pub struct DockerLogin;

const INDEX_URL: &str = "https://index.docker.io/v1/";

static SPEC: LazyLock<ArgSpec> = LazyLock::new(|| {
    dc::spec(
        &[
            Opt::new("registry_url", Kind::Str)
                .default(INDEX_URL)
                .aliases(&["registry", "url"]),
            Opt::new("username", Kind::Str),
            Opt::new("password", Kind::Str),
            Opt::new("reauthorize", Kind::Bool)
                .default("false")
                .aliases(&["reauth"]),
            Opt::new("state", Kind::Str)
                .default("present")
                .choices(&["present", "absent"])
                .required_if(&[("present", &["username", "password"])]),
            Opt::new("config_path", Kind::Path)
                .default("~/.docker/config.json")
                .aliases(&["dockercfg_path"]),
        ],
        false,
        &[],
        &[],
    )
});

#[async_trait]
impl Module for DockerLogin {
    fn name(&self) -> &'static str {
        "docker_login"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        dc::COLLECTIONS
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        match run(cx, &args).await {
            Ok(r) => r,
            Err(msg) => TaskResult::failed(msg),
        }
    }
}

/// A registry URL reduced to its host, as the Docker SDK matches config entries.
fn hostname(url: &str) -> String {
    let u = url.replace("http://", "").replace("https://", "");
    let host = u.split('/').next().unwrap_or_default().to_string();
    if host == "index.docker.io" {
        "docker.io".into()
    } else {
        host
    }
}

fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Shell text for a path that may start with `~/`: the home of the user the task runs as.
fn shell_path(path: &str) -> String {
    match path.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quote::quote(rest)),
        None => quote::quote(path),
    }
}

/// The credential helper the config names for a registry (`credHelpers`, then `credsStore`).
fn helper_for(config: &J, registry: &str) -> Option<String> {
    let key = if registry.is_empty() || registry == "docker.io" {
        INDEX_URL
    } else {
        registry
    };
    config
        .get("credHelpers")
        .and_then(|h| h.get(key))
        .and_then(J::as_str)
        .or_else(|| config.get("credsStore").and_then(J::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A credential helper's store or erase: its message on stdout when it fails.
fn helper_result(out: &Output) -> Result<(), String> {
    if out.rc != 0 {
        return Err(format!(
            "Credentials store error: {}",
            out.stdout_text().trim()
        ));
    }
    Ok(())
}

struct Store<'a, 'b> {
    cx: &'a TaskCx<'b>,
    helper: Option<String>,
    config: J,
    path: String,
}

impl Store<'_, '_> {
    /// `docker-credential-HELPER ACTION` on the target, `input` on its stdin (the protocol
    /// the docker CLI speaks to credential helpers).
    async fn helper_call(
        &self,
        helper: &str,
        action: &str,
        input: Vec<u8>,
    ) -> Result<Output, String> {
        self.cx
            .sh_with_input(
                format!("docker-credential-{} {action}", quote::quote(helper)),
                input,
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// The stored user and secret for exactly this server name, as the store keeps them.
    async fn get(&self, server: &str) -> Result<Option<(String, String)>, String> {
        match &self.helper {
            Some(h) => {
                let out = self
                    .helper_call(h, "get", server.as_bytes().to_vec())
                    .await?;
                if out.rc != 0 {
                    let msg = out.stdout_text();
                    if msg.contains("credentials not found") {
                        return Ok(None);
                    }
                    return Err(format!("Credentials store error: {}", msg.trim()));
                }
                let j: J = serde_json::from_slice(&out.stdout)
                    .map_err(|e| format!("Credentials store error: {e}"))?;
                let s = |k: &str| j.get(k).and_then(J::as_str).unwrap_or_default().to_string();
                Ok(Some((s("Username"), s("Secret"))))
            }
            None => Ok(self
                .config
                .get("auths")
                .and_then(|a| a.get(server))
                .and_then(|e| e.get("auth"))
                .and_then(J::as_str)
                .and_then(decode_auth)),
        }
    }

    /// The config file as community.docker writes it: sorted keys, four-space indents, 0600.
    async fn write(&self) -> Result<(), String> {
        let text = python_json(&sorted(&self.config))?;
        let dir = crate::connection::parent_dir(&self.path);
        self.cx
            .sh(format!("mkdir -p {}", quote::quote(&dir)))
            .await
            .map_err(|e| e.to_string())?;
        let opts = PutOptions {
            on_temp: vec!["chmod 0600 \"$t\"".into()],
            ..PutOptions::default()
        };
        let out = self
            .cx
            .put(Input::Bytes(text.into_bytes()), &self.path, &opts)
            .await
            .map_err(|e| e.to_string())?;
        if out.rc != 0 {
            return Err(format!(
                "Error writing {}: {}",
                self.path,
                out.stderr_text().trim()
            ));
        }
        Ok(())
    }

    async fn store(&mut self, server: &str, user: &str, password: &str) -> Result<(), String> {
        match &self.helper {
            Some(h) => {
                let body =
                    serde_json::json!({"ServerURL": server, "Username": user, "Secret": password});
                let out = self
                    .helper_call(h, "store", body.to_string().into_bytes())
                    .await?;
                helper_result(&out)
            }
            None => {
                let auth =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                if let J::Object(c) = &mut self.config {
                    let auths = c
                        .entry("auths")
                        .or_insert_with(|| J::Object(Default::default()));
                    if let J::Object(a) = auths {
                        a.insert(server.to_string(), serde_json::json!({"auth": auth}));
                    }
                }
                self.write().await
            }
        }
    }

    async fn erase(&mut self, server: &str) -> Result<(), String> {
        match &self.helper {
            Some(h) => {
                let out = self
                    .helper_call(h, "erase", server.as_bytes().to_vec())
                    .await?;
                helper_result(&out)
            }
            None => {
                let removed = self
                    .config
                    .get_mut("auths")
                    .and_then(J::as_object_mut)
                    .and_then(|a| a.remove(server))
                    .is_some();
                if removed {
                    self.write().await?;
                }
                Ok(())
            }
        }
    }
}

/// JSON as Python's `json.dumps(indent=4)` lays it out.
fn python_json(j: &J) -> Result<String, String> {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    j.serialize(&mut ser).map_err(|e| e.to_string())?;
    String::from_utf8(buf).map_err(|e| e.to_string())
}

/// JSON with its object keys in order, as Python's `sort_keys=True`.
fn sorted(j: &J) -> J {
    match j {
        J::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            J::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&o[k])))
                    .collect(),
            )
        }
        J::Array(a) => J::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, String> {
    let docker = Docker::new(args);
    let registry = args.str("registry_url").unwrap_or_else(|| INDEX_URL.into());
    let config_path = args
        .str("config_path")
        .unwrap_or_else(|| "~/.docker/config.json".into());
    let query = format!(
        "{}printf '%s\\n' \"$HOME\"\n{}cat {} 2>/dev/null\n",
        dc::section("home"),
        dc::section("config"),
        shell_path(&config_path)
    );
    let out = docker_sh(cx, &docker, &query).await?;
    let parts = dc::sections(&out.stdout_text());
    let home = parts
        .get("home")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let path = match config_path.strip_prefix("~/") {
        Some(rest) => format!("{home}/{rest}"),
        None => config_path.clone(),
    };
    // An unreadable or invalid config counts as an empty one, as community.docker reads it.
    let mut config: J = parts
        .get("config")
        .and_then(|t| serde_json::from_str(t).ok())
        .filter(J::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    if config.get("auths").is_none()
        && let J::Object(c) = &mut config
    {
        c.insert("auths".into(), serde_json::json!({}));
    }
    let helper = helper_for(&config, &registry);
    let mut store = Store {
        cx,
        helper,
        config: config.clone(),
        path,
    };

    if args.str("state").as_deref() == Some("absent") {
        if store.get(&registry).await?.is_none() {
            return Ok(TaskResult::changed(false));
        }
        if !cx.check_mode {
            store.erase(&registry).await?;
        }
        return Ok(TaskResult::changed(true));
    }

    let user = args.str("username").unwrap_or_default();
    let password = args.str("password").unwrap_or_default();
    let reauth = args.bool("reauthorize");
    // Credentials already in the config for this registry and user answer without asking
    // the daemon, unless the password differs or a new login is asked for.
    let known = known_auth(&config, &registry);
    let mut login_result = match known.filter(|(_, u, _)| *u == user && !reauth) {
        Some((server, u, p)) if p == password => {
            serde_json::json!({"username": u, "email": J::Null, "serveraddress": server})
        }
        _ => login(cx, &docker, &registry, &user, &password).await?,
    };
    if let J::Object(o) = &mut login_result {
        o.remove("password");
    }
    let current = store.get(&registry).await?.unwrap_or_default();
    let mut changed = false;
    if current.0 != user || current.1 != password || reauth {
        if !cx.check_mode {
            store.store(&registry, &user, &password).await?;
        }
        changed = true;
    }
    Ok(TaskResult::changed(changed).with("login_result", dc::from_json(&login_result)))
}

/// The config's entry for the registry (by its exact name or its host), as the Docker SDK
/// resolves it: (server key, user, password).
fn known_auth(config: &J, registry: &str) -> Option<(String, String, String)> {
    let auths = config.get("auths")?.as_object()?;
    let want = hostname(registry);
    let want = if want.is_empty() {
        "docker.io".to_string()
    } else {
        want
    };
    let (key, entry) = auths
        .get_key_value(&want)
        .or_else(|| auths.iter().find(|(k, _)| hostname(k) == want))?;
    let (u, p) = decode_auth(entry.get("auth")?.as_str()?)?;
    Some((key.clone(), u, p))
}

/// `docker login` with the password on stdin, into a config directory of its own that is
/// removed afterwards: the daemon checks the credentials, nothing of the user's is written.
async fn login(
    cx: &TaskCx<'_>,
    docker: &Docker,
    registry: &str,
    user: &str,
    password: &str,
) -> Result<J, String> {
    let script = format!(
        "{}kiln_d=$(mktemp -d) || exit 3\n{} --config \"$kiln_d\" login --username {} --password-stdin {} >\"$kiln_d/out\" 2>\"$kiln_d/err\"\nkiln_rc=$?\n{}cat \"$kiln_d/out\"\n{}cat \"$kiln_d/err\" >&2\n{}cat \"$kiln_d/config.json\" 2>/dev/null\nrm -rf \"$kiln_d\"\nexit $kiln_rc\n",
        docker.preamble(),
        // The connection flags come before `--config`, which the CLI takes as a global flag too.
        docker.cmd(Vec::<String>::new()),
        quote::quote(user),
        quote::quote(registry),
        dc::section("out"),
        dc::section("err"),
        dc::section("config"),
    );
    let out = cx
        .sh_with_input(script, password.as_bytes().to_vec())
        .await
        .map_err(|e| super::conn_failure(e).msg.unwrap_or_default())?;
    if let Some(e) = dc::connect_error(&out) {
        return Err(e.msg.unwrap_or_default());
    }
    let parts = dc::sections(&out.stdout_text());
    if out.rc != 0 {
        return Err(format!(
            "Logging into {registry} for user {user} failed - {}",
            out.stderr_text().trim()
        ));
    }
    let status = parts
        .get("out")
        .and_then(|o| {
            o.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Login Succeeded".into());
    let token = parts
        .get("config")
        .and_then(|c| serde_json::from_str::<J>(c).ok())
        .and_then(|c| {
            c.get("auths")?.as_object()?.values().find_map(|e| {
                e.get("identitytoken")
                    .and_then(J::as_str)
                    .map(str::to_string)
            })
        })
        .unwrap_or_default();
    Ok(serde_json::json!({"IdentityToken": token, "Status": status}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_auth() {
        assert_eq!(hostname("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(hostname("10.99.3.12:5000"), "10.99.3.12:5000");
        assert_eq!(hostname("https://10.99.3.12:5000/v2/"), "10.99.3.12:5000");
        assert_eq!(decode_auth("dTpwOng="), Some(("u".into(), "p:x".into())));
        let c = serde_json::json!({"auths": {"https://10.99.3.12:5000": {"auth": "dTpw"}}});
        assert_eq!(
            known_auth(&c, "10.99.3.12:5000"),
            Some(("https://10.99.3.12:5000".into(), "u".into(), "p".into()))
        );
        assert_eq!(
            shell_path("~/.docker/config.json"),
            "\"$HOME\"/.docker/config.json"
        );
    }
}
