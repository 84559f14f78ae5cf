//! Which secrets a command has: Ansible's vault settings and the command-line sources,
//! turned into the ordered list of secrets as `CLI.setup_vault_secrets` builds it.
//!
//! [`VaultSettings`] holds what ansible.cfg and the environment configure; it starts at
//! Ansible's defaults, and whoever reads a configuration file sets its fields before
//! [`VaultSettings::apply_env`] (the environment wins over the file, as in Ansible).

use super::error::VaultError;
use super::keyring::Vault;
use super::secret::{self, Secret};
use std::path::PathBuf;

/// Ansible's vault settings (ansible.cfg `[defaults]` keys, `ANSIBLE_*` variables).
#[derive(Debug, Clone)]
pub struct VaultSettings {
    /// `vault_identity` / `ANSIBLE_VAULT_IDENTITY`: the label of unlabeled secrets.
    pub identity: String,
    /// `vault_identity_list` / `ANSIBLE_VAULT_IDENTITY_LIST`: `label@source` entries tried
    /// before the command line's.
    pub identity_list: Vec<String>,
    /// `vault_password_file` / `ANSIBLE_VAULT_PASSWORD_FILE`.
    pub password_file: Option<PathBuf>,
    /// `ask_vault_pass` / `ANSIBLE_ASK_VAULT_PASS`.
    pub ask_vault_pass: bool,
    /// `vault_id_match` / `ANSIBLE_VAULT_ID_MATCH`.
    pub id_match: bool,
    /// `vault_encrypt_identity` / `ANSIBLE_VAULT_ENCRYPT_IDENTITY`.
    pub encrypt_identity: Option<String>,
    /// `vault_encrypt_salt` / `ANSIBLE_VAULT_ENCRYPT_SALT`.
    pub encrypt_salt: Option<String>,
}

impl Default for VaultSettings {
    fn default() -> VaultSettings {
        VaultSettings {
            identity: "default".into(),
            identity_list: Vec::new(),
            password_file: None,
            ask_vault_pass: false,
            id_match: false,
            encrypt_identity: None,
            encrypt_salt: None,
        }
    }
}

/// Ansible's `boolean()` of a setting's text.
fn truthy(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "y" | "yes" | "on" | "1" | "true" | "t"
    )
}

impl VaultSettings {
    /// Ansible's defaults overridden by the environment.
    pub fn from_env() -> VaultSettings {
        let mut s = VaultSettings::default();
        s.apply_env();
        s
    }

    /// Overrides settings with the `ANSIBLE_*` variables that are set (and not empty).
    pub fn apply_env(&mut self) {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("ANSIBLE_VAULT_IDENTITY") {
            self.identity = v;
        }
        if let Some(v) = var("ANSIBLE_VAULT_IDENTITY_LIST") {
            self.identity_list = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = var("ANSIBLE_VAULT_PASSWORD_FILE") {
            self.password_file = Some(secret::unfrack(std::path::Path::new(&v)));
        }
        if let Some(v) = var("ANSIBLE_ASK_VAULT_PASS") {
            self.ask_vault_pass = truthy(&v);
        }
        if let Some(v) = var("ANSIBLE_VAULT_ID_MATCH") {
            self.id_match = truthy(&v);
        }
        if let Some(v) = var("ANSIBLE_VAULT_ENCRYPT_IDENTITY") {
            self.encrypt_identity = Some(v);
        }
        if let Some(v) = var("ANSIBLE_VAULT_ENCRYPT_SALT") {
            self.encrypt_salt = Some(v);
        }
    }

    /// A vault over `secrets` with these settings' matching rules.
    pub fn vault(&self, secrets: Vec<(String, Secret)>) -> Vault {
        Vault::new(secrets, self.id_match, &self.identity)
    }
}

/// The secret sources of one command line (`--vault-id`, `--vault-password-file`,
/// `--ask-vault-pass`).
#[derive(Debug, Clone, Default)]
pub struct SecretSources {
    /// `label@source` or `source`; a source is a file, an executable, or `prompt`.
    pub vault_ids: Vec<String>,
    pub password_files: Vec<PathBuf>,
    pub ask_vault_pass: bool,
}

impl SecretSources {
    /// Refuses vault ids Ansible refuses (`;` would break the 1.2 header).
    pub fn check(&self) -> Result<(), VaultError> {
        match self.vault_ids.iter().find(|v| v.contains(';')) {
            Some(bad) => Err(VaultError::InvalidVaultId(bad.clone())),
            None => Ok(()),
        }
    }

    /// The secrets of a command: the configured identity list, then these sources.
    pub fn load(
        &self,
        settings: &VaultSettings,
        purpose: Purpose,
        warn: &mut dyn FnMut(String),
    ) -> Result<Vec<(String, Secret)>, VaultError> {
        self.check()?;
        let mut ids = settings.identity_list.clone();
        ids.extend(self.vault_ids.iter().cloned());
        load_secrets(
            settings,
            &ids,
            &self.password_files,
            self.ask_vault_pass || settings.ask_vault_pass,
            purpose,
            warn,
        )
    }
}

/// How a command uses its secrets, which decides the prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Decrypting during a run: nothing is asked unless requested.
    Run,
    /// Decrypting in `kiln vault` (view, decrypt, edit, rekey): without any source, ask.
    Read,
    /// Encrypting: without any source, ask for a new password twice.
    Create,
}

fn prompts(source: &str, label: &str, purpose: Purpose) -> Vec<String> {
    let new = purpose == Purpose::Create;
    match (source, new) {
        ("prompt", true) => vec![
            format!("New vault password ({label}): "),
            format!("Confirm new vault password ({label}): "),
        ],
        ("prompt", false) => vec![format!("Vault password ({label}): ")],
        (_, true) => vec![
            "New Vault password: ".into(),
            "Confirm New Vault password: ".into(),
        ],
        (_, false) => vec!["Vault password: ".into()],
    }
}

/// Reads every source into secrets, in Ansible's order: `vault_ids` (the caller puts the
/// configured identity list first), then the password files and the configured one, then a
/// prompt for `--ask-vault-pass` (or when nothing else was given and `purpose` asks).
///
/// A password file that is missing or fails is a warning while another source works, and
/// the error when none does; a failed prompt is an error at once.
pub fn load_secrets(
    settings: &VaultSettings,
    vault_ids: &[String],
    password_files: &[PathBuf],
    ask_vault_pass: bool,
    purpose: Purpose,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<(String, Secret)>, VaultError> {
    let mut slugs: Vec<String> = vault_ids.to_vec();
    let mut files = password_files.to_vec();
    if let Some(f) = &settings.password_file {
        files.push(f.clone());
    }
    for f in &files {
        slugs.push(format!("{}@{}", settings.identity, f.display()));
    }
    if ask_vault_pass || (slugs.is_empty() && purpose != Purpose::Run) {
        slugs.push(format!("{}@prompt_ask_vault_pass", settings.identity));
    }
    let mut secrets: Vec<(String, Secret)> = Vec::new();
    let mut last_error = None;
    for slug in &slugs {
        let (name, source) = match slug.split_once('@') {
            Some((n, s)) => (Some(n), s),
            None => (None, slug.as_str()),
        };
        let label = name.unwrap_or(&settings.identity).to_string();
        let shown = name.unwrap_or("None");
        if source == "prompt" || source == "prompt_ask_vault_pass" {
            let what = if source == "prompt" {
                format!("--vault-id {slug}")
            } else if ask_vault_pass {
                "--ask-vault-pass".to_string()
            } else {
                "without --vault-id or --vault-password-file, kiln vault".to_string()
            };
            let s = secret::prompt(&prompts(source, &label, purpose), &label, &what)
                .inspect_err(|e| warn(format!("Error in vault password prompt ({shown}): {e}")))?;
            secrets.push((label, s));
            continue;
        }
        let path = match secret::check_file(std::path::Path::new(source)) {
            Ok(p) => p,
            Err(e) => {
                warn(format!("Error getting vault password file ({shown}): {e}"));
                last_error = Some(e);
                continue;
            }
        };
        // A password file may itself be encrypted with a secret read before it.
        let known = settings.vault(secrets.clone());
        match secret::load_file(&path, &label, &known) {
            Ok(s) => secrets.push((label, s)),
            Err(e) => {
                warn(format!(
                    "Error in vault password file loading ({shown}): {e}"
                ));
                last_error = Some(e);
            }
        }
    }
    match last_error {
        Some(e) if secrets.is_empty() => Err(e),
        _ => Ok(secrets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("kiln-vault-setup-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    }

    #[test]
    fn order_labels_and_warnings() {
        let d = dir();
        std::fs::write(d.join("p1"), "one\n").expect("write");
        std::fs::write(d.join("p2"), "  two  \n").expect("write");
        let settings = VaultSettings::default();
        let mut warnings = Vec::new();
        let secrets = load_secrets(
            &settings,
            &[
                format!("dev@{}", d.join("p1").display()),
                format!("{}", d.join("missing").display()),
            ],
            &[d.join("p2")],
            false,
            Purpose::Run,
            &mut |w| warnings.push(w),
        )
        .expect("secrets");
        let ids: Vec<&str> = secrets.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(ids, ["dev", "default"]);
        assert_eq!(secrets[0].1.bytes(), b"one");
        assert_eq!(secrets[1].1.bytes(), b"two");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0]
                .starts_with("Error getting vault password file (None): The vault password file /")
        );
    }

    #[test]
    fn the_last_error_when_nothing_works() {
        let settings = VaultSettings::default();
        let err = load_secrets(
            &settings,
            &["a@/nonexistent/kiln-pw".into()],
            &[],
            false,
            Purpose::Run,
            &mut |_| {},
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("The vault password file /nonexistent/kiln-pw was not found")
        );
        // A run with no source has no secrets and asks nothing.
        let none = load_secrets(&settings, &[], &[], false, Purpose::Run, &mut |_| {});
        assert!(none.is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn bad_vault_ids() {
        let s = SecretSources {
            vault_ids: vec!["a;b@x".into()],
            ..SecretSources::default()
        };
        assert_eq!(
            s.check().err().map(|e| e.to_string()).as_deref(),
            Some("'a;b@x' is not a valid vault id. The character ';' is not allowed in vault ids")
        );
    }

    #[test]
    fn booleans_as_ansible() {
        assert!(truthy("Yes") && truthy("1") && truthy("on") && !truthy("no") && !truthy("2"));
    }
}
