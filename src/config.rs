//! Ansible's configuration: `ansible.cfg`, found as Ansible finds it (`ANSIBLE_CONFIG`, then
//! `./ansible.cfg`, `~/.ansible.cfg`, `/etc/ansible/ansible.cfg`; the first that exists is the
//! only one read), and the `ANSIBLE_*` environment variables, which win over the file. kiln
//! honours the settings listed in [`SETTINGS`]; the others are Ansible's business and ignored,
//! as Ansible ignores settings it does not know.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A setting kiln reads: its ansible.cfg section and key, and its environment variable.
pub struct Setting {
    pub section: &'static str,
    pub key: &'static str,
    pub env: &'static str,
}

const fn s(section: &'static str, key: &'static str, env: &'static str) -> Setting {
    Setting { section, key, env }
}

/// The settings kiln honours (docs/compat.md lists them with what they do).
pub const SETTINGS: &[Setting] = &[
    s("defaults", "inventory", "ANSIBLE_INVENTORY"),
    s("defaults", "roles_path", "ANSIBLE_ROLES_PATH"),
    s("defaults", "forks", "ANSIBLE_FORKS"),
    s("defaults", "remote_user", "ANSIBLE_REMOTE_USER"),
    s("defaults", "host_key_checking", "ANSIBLE_HOST_KEY_CHECKING"),
    s("defaults", "private_key_file", "ANSIBLE_PRIVATE_KEY_FILE"),
    s("defaults", "timeout", "ANSIBLE_TIMEOUT"),
    s("defaults", "hash_behaviour", "ANSIBLE_HASH_BEHAVIOUR"),
    s(
        "defaults",
        "retry_files_enabled",
        "ANSIBLE_RETRY_FILES_ENABLED",
    ),
    s(
        "defaults",
        "retry_files_save_path",
        "ANSIBLE_RETRY_FILES_SAVE_PATH",
    ),
    s(
        "defaults",
        "vault_password_file",
        "ANSIBLE_VAULT_PASSWORD_FILE",
    ),
    s(
        "defaults",
        "vault_identity_list",
        "ANSIBLE_VAULT_IDENTITY_LIST",
    ),
    s("defaults", "vault_id_match", "ANSIBLE_VAULT_ID_MATCH"),
    s("defaults", "vault_identity", "ANSIBLE_VAULT_IDENTITY"),
    s(
        "defaults",
        "vault_encrypt_identity",
        "ANSIBLE_VAULT_ENCRYPT_IDENTITY",
    ),
    s("defaults", "ask_vault_pass", "ANSIBLE_ASK_VAULT_PASS"),
    s("defaults", "any_errors_fatal", "ANSIBLE_ANY_ERRORS_FATAL"),
    s("defaults", "force_handlers", "ANSIBLE_FORCE_HANDLERS"),
    s("defaults", "strategy", "ANSIBLE_STRATEGY"),
    s("defaults", "gathering", "ANSIBLE_GATHERING"),
    s("privilege_escalation", "become", "ANSIBLE_BECOME"),
    s(
        "privilege_escalation",
        "become_method",
        "ANSIBLE_BECOME_METHOD",
    ),
    s("privilege_escalation", "become_user", "ANSIBLE_BECOME_USER"),
    s(
        "privilege_escalation",
        "become_flags",
        "ANSIBLE_BECOME_FLAGS",
    ),
    s(
        "privilege_escalation",
        "become_ask_pass",
        "ANSIBLE_BECOME_ASK_PASS",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the configuration file `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("`{key}` ({origin}) must be {expected}, not `{value}`")]
    Value {
        key: String,
        origin: String,
        value: String,
        expected: &'static str,
    },
}

/// The configuration in effect: the file that was read, if any, and its values.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub file: Option<PathBuf>,
    /// `section.key` → value, as written in the file.
    values: HashMap<String, String>,
    /// Environment variables, read once (tests pass their own).
    env: HashMap<String, String>,
}

impl Config {
    /// Finds and reads the configuration as Ansible does, with this process's environment.
    pub fn load() -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let cwd = std::env::current_dir().ok();
        Config::load_from(env, cwd.as_deref())
    }

    pub fn load_from(
        env: HashMap<String, String>,
        cwd: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let file = find_file(&env, cwd);
        let values = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                parse(&text, path)?
            }
            None => HashMap::new(),
        };
        Ok(Config { file, values, env })
    }

    fn setting(key: &str) -> Option<&'static Setting> {
        SETTINGS.iter().find(|s| s.key == key)
    }

    /// A setting's value and where it came from: the environment, then the file.
    pub fn get(&self, key: &str) -> Option<(String, String)> {
        let s = Config::setting(key)?;
        if let Some(v) = self.env.get(s.env) {
            return Some((v.clone(), s.env.to_string()));
        }
        let v = self.values.get(&format!("{}.{}", s.section, s.key))?;
        let file = self
            .file
            .as_ref()
            .map_or_else(String::new, |f| f.display().to_string());
        Some((v.clone(), format!("[{}] in {file}", s.section)))
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(|(v, _)| v).filter(|v| !v.is_empty())
    }

    /// A boolean as Ansible's config reads one (`yes/no/true/false/on/off/1/0`, any case).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some((v, origin)) = self.get(key) else {
            return Ok(None);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Ok(Some(true)),
            "n" | "no" | "off" | "0" | "false" | "f" | "" => Ok(Some(false)),
            _ => Err(ConfigError::Value {
                key: key.into(),
                origin,
                value: v,
                expected: "a boolean",
            }),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        let Some((v, origin)) = self.get(key) else {
            return Ok(None);
        };
        v.trim().parse().map(Some).map_err(|_| ConfigError::Value {
            key: key.into(),
            origin,
            value: v,
            expected: "a whole number",
        })
    }

    /// A list of paths (`:`-separated for path lists, `,` for `inventory`), with `~`
    /// expanded and relative paths taken from the configuration file's directory when the
    /// value came from the file, as Ansible resolves them.
    pub fn paths(&self, key: &str) -> Vec<PathBuf> {
        let Some((v, origin)) = self.get(key) else {
            return Vec::new();
        };
        let from_file = !origin.starts_with("ANSIBLE_");
        let base = self
            .file
            .as_ref()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf);
        let sep = if key == "inventory" { ',' } else { ':' };
        v.split(sep)
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let p = expand_home(p, self.env.get("HOME").map(String::as_str));
                match (&base, from_file && p.is_relative()) {
                    (Some(b), true) => b.join(p),
                    _ => p,
                }
            })
            .collect()
    }
}

fn expand_home(p: &str, home: Option<&str>) -> PathBuf {
    match (p.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(format!("{h}{rest}"))
        }
        _ => PathBuf::from(p),
    }
}

/// Ansible's search order. `ANSIBLE_CONFIG` may name a file or a directory holding
/// `ansible.cfg`; `./ansible.cfg` is skipped when the current directory is world-writable
/// (anyone could plant a configuration there), as Ansible does.
fn find_file(env: &HashMap<String, String>, cwd: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(c) = env.get("ANSIBLE_CONFIG").filter(|c| !c.is_empty()) {
        let p = expand_home(c, env.get("HOME").map(String::as_str));
        candidates.push(if p.is_dir() { p.join("ansible.cfg") } else { p });
    }
    if let Some(cwd) = cwd
        && !world_writable(cwd)
    {
        candidates.push(cwd.join("ansible.cfg"));
    }
    if let Some(home) = env.get("HOME") {
        candidates.push(Path::new(home).join(".ansible.cfg"));
    }
    candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    candidates.into_iter().find(|p| p.is_file())
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

/// INI as Python's configparser reads ansible.cfg: `[section]`, `key = value` or
/// `key: value`, `#`/`;` comment lines, `;` comments after whitespace, indented lines
/// continuing the previous value, `%%` for a literal `%`.
fn parse(text: &str, path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let mut out: HashMap<String, String> = HashMap::new();
    let mut section: Option<String> = None;
    let mut last: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let err = |message: String| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: n + 1,
            message,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let value_text = strip_inline_comment(trimmed);
        if raw.starts_with([' ', '\t'])
            && let Some(k) = &last
        {
            let v = out.entry(k.clone()).or_default();
            v.push('\n');
            v.push_str(&value_text.replace("%%", "%"));
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| err(format!("`{trimmed}` is not a section header")))?;
            section = Some(name.trim().to_string());
            last = None;
            continue;
        }
        let Some(sec) = &section else {
            return Err(err(
                "the file has a setting before any `[section]` header".into()
            ));
        };
        let split = value_text.find(['=', ':']).ok_or_else(|| {
            err(format!(
                "`{trimmed}` is neither `key = value` nor a section"
            ))
        })?;
        let key = value_text[..split].trim().to_ascii_lowercase();
        let value = value_text[split + 1..].trim().replace("%%", "%");
        let full = format!("{sec}.{key}");
        out.insert(full.clone(), value);
        last = Some(full);
    }
    Ok(out)
}

fn strip_inline_comment(line: &str) -> String {
    let bytes = line.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b';' && bytes[i - 1].is_ascii_whitespace() {
            return line[..i].trim_end().to_string();
        }
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str, env: &[(&str, &str)]) -> (Config, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "kiln-config-{}-{}",
            std::process::id(),
            crate::connection::random_tag()
        ));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("ansible.cfg"), text).expect("write");
        let mut e: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        e.insert("HOME".into(), "/home/u".into());
        (Config::load_from(e, Some(&dir)).expect("config"), dir)
    }

    #[test]
    fn reads_the_file_in_the_current_directory() {
        let (c, dir) = cfg(
            "# comment\n[defaults]\ninventory = hosts.ini, other ; trailing\nforks: 7\nroles_path = roles:~/more:/abs\n\
             [privilege_escalation]\nbecome = True\nbecome_user=deploy\n",
            &[],
        );
        assert_eq!(c.file.as_deref(), Some(dir.join("ansible.cfg").as_path()));
        assert_eq!(
            c.paths("inventory"),
            vec![dir.join("hosts.ini"), dir.join("other")]
        );
        assert_eq!(c.int("forks").expect("int"), Some(7));
        assert_eq!(
            c.paths("roles_path"),
            vec![
                dir.join("roles"),
                PathBuf::from("/home/u/more"),
                PathBuf::from("/abs")
            ]
        );
        assert_eq!(c.bool("become").expect("bool"), Some(true));
        assert_eq!(c.string("become_user").as_deref(), Some("deploy"));
    }

    #[test]
    fn environment_wins_and_bad_values_name_their_origin() {
        let (c, _) = cfg(
            "[defaults]\nforks = 7\n",
            &[("ANSIBLE_FORKS", "x"), ("ANSIBLE_ROLES_PATH", "rel")],
        );
        let e = c.int("forks").expect_err("not a number");
        assert!(e.to_string().contains("ANSIBLE_FORKS"), "{e}");
        // From the environment, a relative path stays relative to the current directory.
        assert_eq!(c.paths("roles_path"), vec![PathBuf::from("rel")]);
    }

    #[test]
    fn syntax_errors_are_located() {
        let dir = std::env::temp_dir().join(format!("kiln-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("ansible.cfg");
        let e = parse("forks = 5\n", &path).expect_err("no section");
        assert!(
            e.to_string()
                .ends_with(":1: the file has a setting before any `[section]` header")
        );
        let e = parse("[defaults]\njunk\n", &path).expect_err("no separator");
        assert!(e.to_string().contains(":2: "), "{e}");
    }
}
