//! What the community.docker modules share in kiln: their connection options turned into the
//! `docker` CLI's global flags (kiln drives the CLI on the target; no Python, no API socket
//! from the controller), image references, and the JSON that `docker ... inspect` prints.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, TaskResult};
use crate::connection::{Output, quote};
use crate::yaml::{Map, Value};
use serde_json::Value as J;

/// The collection whose names (`community.docker.docker_container`) resolve to these modules.
pub const COLLECTIONS: &[&str] = &["community.docker"];

/// community.docker's options for reaching the daemon, as the CLI takes them.
const API_OPTS: [Opt; 13] = [
    Opt::new("docker_host", Kind::Str).aliases(&["docker_url"]),
    Opt::new("tls_hostname", Kind::Str)
        .unsupported("the docker CLI checks the daemon's certificate against `docker_host`"),
    Opt::new("api_version", Kind::Str)
        .aliases(&["docker_api_version"])
        .default("auto"),
    Opt::new("ca_path", Kind::Path).aliases(&["ca_cert", "tls_ca_cert", "cacert_path"]),
    Opt::new("client_cert", Kind::Path).aliases(&["tls_client_cert", "cert_path"]),
    Opt::new("client_key", Kind::Path).aliases(&["tls_client_key", "key_path"]),
    Opt::new("tls", Kind::Bool).default("false"),
    Opt::new("validate_certs", Kind::Bool)
        .aliases(&["tls_verify"])
        .default("false"),
    // The modules community.docker runs through its API client.
    Opt::new("timeout", Kind::Int).default("60"),
    Opt::new("use_ssh_client", Kind::Bool).default("false"),
    Opt::new("debug", Kind::Bool).default("false"),
    // The modules it runs through the docker CLI (compose).
    Opt::new("docker_cli", Kind::Path),
    Opt::new("cli_context", Kind::Str),
];

/// Which of `API_OPTS` a module takes: the API client's or the CLI's.
fn takes(name: &str, cli: bool) -> bool {
    match name {
        "timeout" | "use_ssh_client" | "debug" => !cli,
        "docker_cli" | "cli_context" => cli,
        _ => true,
    }
}

/// A module's spec: its own options, then the connection options (`cli`: the set
/// community.docker's CLI-based modules take).
pub fn spec(
    own: &[Opt],
    cli: bool,
    mutually_exclusive: &'static [&'static [&'static str]],
    required_one_of: &'static [&'static [&'static str]],
) -> ArgSpec {
    let mut options: Vec<Opt> = own.to_vec();
    options.extend(API_OPTS.iter().copied().filter(|o| takes(o.name, cli)));
    ArgSpec {
        options: Vec::leak(options),
        mutually_exclusive,
        required_one_of,
        // community.docker's common arguments: a client certificate goes with its key.
        required_together: &[&["client_cert", "client_key"]],
        free_form: false,
        open: false,
    }
}

/// The `docker` command with the task's connection flags, ready for more (quoted) words.
pub struct Docker {
    prefix: String,
}

impl Docker {
    pub fn new(args: &Args) -> Docker {
        let mut words: Vec<String> =
            vec![args.str("docker_cli").unwrap_or_else(|| "docker".into())];
        if let Some(host) = args.str("docker_host") {
            words.extend(["-H".into(), host]);
        }
        if let Some(ctx) = args.str("cli_context") {
            words.extend(["--context".into(), ctx]);
        }
        if args.bool("validate_certs") {
            words.push("--tlsverify".into());
        } else if args.bool("tls") {
            words.push("--tls".into());
        }
        for (opt, flag) in [
            ("ca_path", "--tlscacert"),
            ("client_cert", "--tlscert"),
            ("client_key", "--tlskey"),
        ] {
            if let Some(v) = args.str(opt) {
                words.extend([flag.into(), v]);
            }
        }
        let mut prefix = String::new();
        if let Some(v) = args.str("api_version").filter(|v| v != "auto") {
            prefix = format!("DOCKER_API_VERSION={} ", quote::quote(&v));
        }
        prefix.push_str(&quote::join(&words));
        Docker { prefix }
    }

    /// `docker [flags] WORDS...`, each word quoted.
    pub fn cmd<I, S>(&self, words: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let rest = quote::join(words);
        if rest.is_empty() {
            self.prefix.clone()
        } else {
            format!("{} {rest}", self.prefix)
        }
    }

    /// A script's first lines: fail early, with the daemon's own words, when the CLI or the
    /// daemon cannot be reached (exit 125, which `connect_error` reads).
    pub fn preamble(&self) -> String {
        format!(
            "kiln_v=$({} 2>&1) || {{ printf '%s\\n' \"$kiln_v\" >&2; exit 125; }}\n",
            self.cmd(["version", "--format", "{{.Server.APIVersion}}"])
        )
    }
}

/// The failure a script's preamble reported, if it did.
pub fn connect_error(out: &Output) -> Option<TaskResult> {
    (out.rc == 125).then(|| {
        TaskResult::failed(format!(
            "Error connecting: Error while fetching server API version: {}",
            out.stderr_text().trim()
        ))
    })
}

/// Marks a section of a script's output: `section NAME` prints the marker line.
pub fn section(name: &str) -> String {
    format!("printf '\\n@@kiln:%s\\n' {}\n", quote::quote(name))
}

/// Splits output made with `section` markers into named parts.
pub fn sections(text: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for part in text.split("\n@@kiln:").skip(1) {
        let (name, body) = part.split_once('\n').unwrap_or((part, ""));
        out.insert(name.to_string(), body.to_string());
    }
    out
}

/// The first object of a `docker ... inspect` array (`None` for `[]` or no output).
pub fn inspect_first(text: &str) -> Option<J> {
    match serde_json::from_str::<J>(text.trim()) {
        Ok(J::Array(items)) => items.into_iter().next().filter(J::is_object),
        _ => None,
    }
}

/// An image name split as the Docker SDK's `parse_repository_tag` does: a digest after `@`,
/// or a tag after the last `:` that is not part of a registry's `host:port/`.
pub fn parse_repository_tag(name: &str) -> (String, Option<String>) {
    if let Some((repo, digest)) = name.rsplit_once('@') {
        return (repo.to_string(), Some(digest.to_string()));
    }
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
        _ => (name.to_string(), None),
    }
}

/// `repo:tag`, or `repo@sha256:...` for a digest, as the CLI names an image.
pub fn image_ref(repo: &str, tag: &str) -> String {
    if tag.contains(':') {
        format!("{repo}@{tag}")
    } else {
        format!("{repo}:{tag}")
    }
}

/// An image ID (`sha256:` and 64 hex digits) rather than a name.
pub fn is_image_id(name: &str) -> bool {
    name.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

#[allow(dead_code)]
/// A tag Docker accepts (empty allowed where the caller says so).
pub fn is_valid_tag(tag: &str, allow_empty: bool) -> bool {
    if tag.is_empty() {
        return allow_empty;
    }
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok && tag.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// JSON as a result value.
pub fn from_json(j: &J) -> Value {
    crate::facts::from_json(j.clone())
}

/// A task value as JSON, for comparing with what Docker reports.
pub fn to_json(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => i64::try_from(*i).map_or(J::Null, J::from),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| (crate::yaml::python_str(k), to_json(v)))
                .collect(),
        ),
        other => J::String(crate::yaml::python_str(other)),
    }
}

/// Go booleans and numbers in option maps (driver options, labels) as the Docker API wants
/// strings: `true`/`false`, and Python's `str()` for the rest.
pub fn clean_booleans(m: &Map) -> Vec<(String, String)> {
    m.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Bool(true) => "true".to_string(),
                Value::Bool(false) => "false".to_string(),
                other => crate::yaml::python_str(other),
            };
            (crate::yaml::python_str(k), text)
        })
        .collect()
}

/// Labels as community.docker accepts them: string keys, and no booleans or floats as values
/// (they would not survive the trip to a string unchanged).
pub fn sanitize_labels(m: &Map, field: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (k, v) in m {
        let key = match k {
            Value::Str(s) | Value::Unsafe(s) => s.clone(),
            other => {
                return Err(format!(
                    "The key {} of {field} is not a string!",
                    crate::yaml::repr(other)
                ));
            }
        };
        if matches!(v, Value::Bool(_) | Value::Float(_)) {
            return Err(format!(
                "The value {} for {} of {field} is not a string or something than can be safely converted to a string!",
                crate::yaml::repr(v),
                crate::yaml::repr(k)
            ));
        }
        out.push((key, crate::yaml::python_str(v)));
    }
    Ok(out)
}

/// A module's `diff` as Ansible's callback shows dict diffs: JSON with sorted keys and
/// four-space indents, `before` against `after`.
pub fn json_diff(before: &Map, after: &Map) -> super::Diff {
    super::Diff {
        before_header: String::new(),
        after_header: String::new(),
        before: crate::output::json::to_string(&Value::Map(before.clone()), Some(4)) + "\n",
        after: crate::output::json::to_string(&Value::Map(after.clone()), Some(4)) + "\n",
    }
}

/// Ansible's `human_to_bytes` for sizes like `512M`, `1.5G`, `100` (bytes).
pub fn human_to_bytes(text: &str) -> Result<i64, String> {
    let t = text.trim_end();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim_start());
    let bad = || format!("human_to_bytes() can't interpret following string: {text}");
    if num.is_empty()
        || num.matches('.').count() > 1
        || num.ends_with('.')
        || !unit.chars().all(|c| c.is_ascii_alphabetic())
    {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    if unit.is_empty() {
        return Ok(n.round() as i64);
    }
    let key = unit
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or('B');
    let names = ["B", "K", "M", "G", "T", "P", "E", "Z", "Y"];
    let Some(power) = names.iter().position(|n| n.starts_with(key)) else {
        return Err(format!(
            "human_to_bytes() failed to convert {text} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B"
        ));
    };
    if unit.len() > 1 {
        let long = [
            "byte",
            "kilobyte",
            "megabyte",
            "gigabyte",
            "terabyte",
            "petabyte",
            "exabyte",
            "zetabyte",
            "yottabyte",
        ][power];
        let short = if key == 'B' {
            "B".to_string()
        } else {
            format!("{key}B")
        };
        if unit.to_lowercase() != long && unit != short {
            let expect = if key == 'B' {
                "expect B or byte".to_string()
            } else {
                format!("expect {key}B or {key}")
            };
            return Err(format!(
                "human_to_bytes() failed to convert {text}. Value is not a valid string ({expect})"
            ));
        }
    }
    Ok((n * (1u128 << (10 * power)) as f64).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(parse_repository_tag("busybox"), ("busybox".into(), None));
        assert_eq!(
            parse_repository_tag("10.99.3.12:5000/app:1.2"),
            ("10.99.3.12:5000/app".into(), Some("1.2".into()))
        );
        assert_eq!(
            parse_repository_tag("10.99.3.12:5000/app"),
            ("10.99.3.12:5000/app".into(), None)
        );
        assert_eq!(
            parse_repository_tag("app@sha256:abc"),
            ("app".into(), Some("sha256:abc".into()))
        );
        assert_eq!(image_ref("app", "sha256:abc"), "app@sha256:abc");
        assert!(is_image_id(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_image_id("sha256:abc"));
        assert!(is_valid_tag("v1.2_3-x", false));
        assert!(!is_valid_tag(".x", false));
        assert!(is_valid_tag("", true));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_to_bytes("100"), Ok(100));
        assert_eq!(human_to_bytes("512M"), Ok(512 << 20));
        assert_eq!(human_to_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(human_to_bytes("2KB"), Ok(2048));
        assert!(human_to_bytes("2Kb").is_err());
        assert!(human_to_bytes("x").is_err());
    }

    #[test]
    fn output_sections() {
        let s = sections("junk\n@@kiln:a\n[1]\n\n@@kiln:b\nx\n");
        assert_eq!(s["a"], "[1]\n");
        assert_eq!(s["b"], "x\n");
    }
}
