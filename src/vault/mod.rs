//! ansible-vault: the 1.1/1.2 format, secrets, and decryption wherever kiln reads data.
//!
//! - `envelope.rs`: the `$ANSIBLE_VAULT;...` header and the 80-column hexadecimal payload.
//! - `cipher.rs`: AES256 (PBKDF2-HMAC-SHA256, AES-256-CTR, HMAC-SHA256), pure Rust.
//! - `secret.rs`: passwords from files, scripts (`*-client` scripts get `--vault-id`) and
//!   prompts.
//! - `setup.rs`: Ansible's settings and the order in which sources become secrets.
//! - `keyring.rs`: the secrets with their ids; which secret decrypts, which encrypts.
//! - `editor.rs`: the file side of `kiln vault` (private temp files, safe writes).
//!
//! One process-wide [`Vault`] holds the secrets of the running command ([`install`]): the
//! YAML loader decrypts vault-encrypted files through [`decrypt_if_encrypted`], templating
//! decrypts `!vault` values through [`decrypt_value`] only when a template reads them, so
//! a play that never reads a secret needs no password, as in Ansible.

mod cipher;
pub mod editor;
mod envelope;
mod error;
mod keyring;
mod secret;
mod setup;

pub use envelope::is_encrypted;
pub use error::VaultError;
pub use keyring::{Decrypted, Vault, encrypt};
pub use secret::{Secret, terminal, unfrack};
pub use setup::{Purpose, SecretSources, VaultSettings, load_secrets};

use std::sync::{Arc, RwLock};

static CURRENT: RwLock<Option<Arc<Vault>>> = RwLock::new(None);

/// Makes `vault` the secrets every later decryption in this process uses.
pub fn install(vault: Vault) {
    if let Ok(mut current) = CURRENT.write() {
        *current = Some(Arc::new(vault));
    }
}

/// The installed secrets (an empty vault before [`install`]).
pub fn current() -> Arc<Vault> {
    CURRENT
        .read()
        .ok()
        .and_then(|c| c.clone())
        .unwrap_or_else(|| Arc::new(Vault::empty()))
}

/// File content as Ansible's loader reads it: decrypted when it is vault text.
pub fn decrypt_if_encrypted(data: Vec<u8>) -> Result<Vec<u8>, VaultError> {
    if is_encrypted(&data) {
        Ok(current().decrypt(&data)?.plaintext)
    } else {
        Ok(data)
    }
}

/// The plaintext of an inline `!vault` value.
pub fn decrypt_value(ciphertext: &str) -> Result<String, VaultError> {
    current().decrypt_value(ciphertext)
}

/// The ciphertext of a value decrypted by [`decrypt_value`] (see [`Vault::ciphertext_of`]).
pub fn ciphertext_of(plaintext: &str) -> Option<String> {
    current().ciphertext_of(plaintext)
}

/// Known vectors: texts ansible-vault (ansible-core 2.19) encrypted, committed in
/// `tests/fixtures/vault/vectors` (made by `tests/oracle/vault_vectors.sh`).
#[cfg(test)]
mod vectors {
    use super::*;
    use std::path::{Path, PathBuf};

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault")
    }

    /// The fixtures' secrets, read the way a command reads them: a password file with
    /// surrounding blanks, and a client script asked for `--vault-id prod`.
    fn fixture_vault(id_match: bool) -> Vault {
        let p = dir().join("passwords");
        let settings = VaultSettings {
            id_match,
            ..VaultSettings::default()
        };
        let secrets = load_secrets(
            &settings,
            &[
                format!("dev@{}", p.join("dev.txt").display()),
                format!("prod@{}", p.join("prod-client.sh").display()),
            ],
            &[p.join("default.txt")],
            false,
            Purpose::Run,
            &mut |w| panic!("unexpected warning: {w}"),
        )
        .expect("fixture secrets");
        settings.vault(secrets)
    }

    #[test]
    fn ansible_vault_texts_decrypt() {
        let v = fixture_vault(false);
        let mut seen = 0;
        for entry in std::fs::read_dir(dir().join("vectors")).expect("vectors") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "plain") {
                continue;
            }
            let plain = std::fs::read(&path).expect("plain");
            let cipher = std::fs::read(path.with_extension("vault")).expect("vault");
            let d = v.decrypt(&cipher).expect("decrypt");
            assert_eq!(d.plaintext, plain, "{}", path.display());
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let want_id = match stem.as_deref() {
                Some(s) if s.ends_with("_dev") => "dev",
                Some(s) if s.ends_with("_prod") => "prod",
                _ => "default",
            };
            assert_eq!(d.vault_id, want_id, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 5, "only {seen} vectors");
    }

    #[test]
    fn fixed_salt_output_is_byte_identical() {
        let v = dir().join("vectors");
        let plain = std::fs::read(v.join("fixed_salt.txt")).expect("plain");
        let vault = fixture_vault(false);
        let salt = b"kiln-fixed-salt-for-vectors";
        for (file, id) in [
            ("fixed_salt.vault", "default"),
            ("fixed_salt_dev.vault", "dev"),
        ] {
            let (_, secret) = vault.encrypt_secret(Some(id)).expect("secret");
            let ours = encrypt(&plain, &secret, Some(id), Some(salt)).expect("encrypt");
            let theirs = std::fs::read_to_string(v.join(file)).expect("vector");
            assert_eq!(ours, theirs, "{file}");
        }
    }

    #[test]
    fn wrong_or_unmatched_secrets_fail() {
        let cipher = std::fs::read(dir().join("vectors/app_dev.vault")).expect("vault");
        let wrong = Vault::new(
            vec![("dev".into(), Secret::new(b"not-the-password".to_vec()))],
            false,
            "default",
        );
        assert_eq!(
            wrong
                .decrypt(&cipher)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("Decryption failed (no vault secrets were found that could decrypt).")
        );
        // With vault_id_match, only the `dev` secret may open a `dev` text.
        let strict = fixture_vault(true);
        assert!(strict.decrypt(&cipher).is_ok());
        let relabeled = String::from_utf8_lossy(&cipher).replacen(";dev", ";prod", 1);
        assert!(matches!(
            strict.decrypt(relabeled.as_bytes()),
            Err(VaultError::DecryptFailed)
        ));
        assert!(fixture_vault(false).decrypt(relabeled.as_bytes()).is_ok());
    }

    #[test]
    fn a_tampered_text_is_refused() {
        let text = std::fs::read_to_string(dir().join("vectors/db_default.vault")).expect("vault");
        // Change one hexadecimal digit of the ciphertext (the end of the payload): an outer
        // pair `3d` encodes the inner digit `d`, so `30`..`38` become `31`..`39`.
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let last = lines.len() - 1;
        let mut bytes = lines[last].clone().into_bytes();
        let at = (0..bytes.len() / 2)
            .rev()
            .map(|i| 2 * i)
            .find(|&i| bytes[i] == b'3' && (b'0'..=b'8').contains(&bytes[i + 1]))
            .expect("a digit to change");
        bytes[at + 1] += 1;
        lines[last] = String::from_utf8(bytes).expect("ascii");
        let tampered = lines.join("\n") + "\n";
        assert!(matches!(
            fixture_vault(false).decrypt(tampered.as_bytes()),
            Err(VaultError::DecryptFailed)
        ));
    }

    #[test]
    fn encrypt_string_output_loads_as_a_vault_value() {
        let path = dir().join("vectors/encrypt_string_dev.txt");
        let loaded = crate::yaml::load_file(&path).expect("yaml");
        let value = loaded.node.expect("node").to_value();
        let Some(crate::yaml::Value::Vault(cipher)) = value
            .as_map()
            .and_then(|m| m.get(&crate::yaml::Value::str("token")))
        else {
            panic!("not a vault value: {value:?}");
        };
        assert_eq!(
            fixture_vault(false).decrypt_value(cipher).expect("decrypt"),
            "Str1ng-t0ken"
        );
    }
}
