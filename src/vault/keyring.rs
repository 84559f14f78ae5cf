//! The known secrets, each with its vault id, and Ansible's rules for which of them decrypt a
//! vault text and which one encrypts.

use super::cipher;
use super::envelope::{self, CIPHER};
use super::error::VaultError;
use super::secret::Secret;
use std::collections::HashMap;
use std::sync::Mutex;

/// What decrypting produced, and with which secret.
pub struct Decrypted {
    pub plaintext: Vec<u8>,
    /// The id of the secret that worked.
    pub vault_id: String,
    pub secret: Secret,
    /// The id the text's header names (1.2), which an edit keeps.
    pub header_id: Option<String>,
}

/// Secrets in the order they were given (configured identities first, then `--vault-id`,
/// then password files, then a prompt), as Ansible orders them.
pub struct Vault {
    secrets: Vec<(String, Secret)>,
    /// `DEFAULT_VAULT_ID_MATCH`: only a secret whose id matches the header's may decrypt.
    id_match: bool,
    /// `DEFAULT_VAULT_IDENTITY`: the id of a 1.1 text (which names none).
    default_id: String,
    /// Inline values already decrypted, by ciphertext (`None`: no secret fits), since the
    /// same value is read by every host and each attempt costs a key derivation.
    values: Mutex<HashMap<String, Option<String>>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.secrets.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Vault({ids:?})")
    }
}

impl Vault {
    pub fn new(secrets: Vec<(String, Secret)>, id_match: bool, default_id: &str) -> Vault {
        Vault {
            secrets,
            id_match,
            default_id: default_id.to_string(),
            values: Mutex::new(HashMap::new()),
        }
    }

    /// A vault with no secrets: decrypting fails with Ansible's "no vault secrets found".
    pub fn empty() -> Vault {
        Vault::new(Vec::new(), false, "default")
    }

    pub fn secrets(&self) -> &[(String, Secret)] {
        &self.secrets
    }

    pub fn ids(&self) -> Vec<String> {
        self.secrets.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The secrets tried for a text whose header names `vault_id`, in the order of the
    /// secrets: ansible-core 2.19 lists the header's id and (unless `vault_id_match`) every
    /// other id, then keeps the secrets whose id is listed, so the header's id selects but
    /// does not reorder.
    fn candidates(&self, vault_id: &str) -> impl Iterator<Item = &(String, Secret)> {
        self.secrets.iter().filter(move |(id, _)| {
            (!vault_id.is_empty() && id == vault_id) || (!self.id_match && id != vault_id)
        })
    }

    /// Decrypts vault text, reporting the secret that worked. Errors in the order Ansible
    /// checks: not vault text, envelope, cipher, no secrets, payload format, no secret fits.
    pub fn decrypt(&self, data: &[u8]) -> Result<Decrypted, VaultError> {
        let env = envelope::parse(data)?;
        let vault_id = env
            .vault_id
            .clone()
            .unwrap_or_else(|| self.default_id.clone());
        if env.cipher != CIPHER {
            return Err(VaultError::UnknownCipher(env.cipher));
        }
        if self.secrets.is_empty() {
            return Err(VaultError::NoSecrets);
        }
        let mut parsed = None;
        for (id, secret) in self.candidates(&vault_id) {
            let p = match &parsed {
                Some(p) => p,
                None => parsed.insert(cipher::parse(&env.payload)?),
            };
            if let Some(plaintext) = p.decrypt(secret.bytes())? {
                return Ok(Decrypted {
                    plaintext,
                    vault_id: id.clone(),
                    secret: secret.clone(),
                    header_id: env.vault_id.clone(),
                });
            }
        }
        Err(VaultError::DecryptFailed)
    }

    /// An inline `!vault` value as text, decrypted once per run. Hosts asking at the same
    /// moment wait for the first one rather than each deriving the keys again.
    pub fn decrypt_value(&self, ciphertext: &str) -> Result<String, VaultError> {
        let Ok(mut values) = self.values.lock() else {
            return self.decrypt_text(ciphertext);
        };
        match values.get(ciphertext) {
            Some(Some(plain)) => return Ok(plain.clone()),
            Some(None) => return Err(VaultError::DecryptFailed),
            None => {}
        }
        let result = self.decrypt_text(ciphertext);
        match &result {
            Ok(plain) => {
                values.insert(ciphertext.to_string(), Some(plain.clone()));
            }
            Err(VaultError::DecryptFailed) => {
                values.insert(ciphertext.to_string(), None);
            }
            Err(_) => {}
        }
        result
    }

    fn decrypt_text(&self, ciphertext: &str) -> Result<String, VaultError> {
        let plain = self.decrypt(ciphertext.as_bytes())?.plaintext;
        Ok(String::from_utf8_lossy(&plain).into_owned())
    }

    /// The ciphertext a decrypted inline value came from. ansible-core 2.19 tags decrypted
    /// values with their ciphertext (`to_yaml` writes them back as `!vault`, `is
    /// vault_encrypted` stays true); kiln's strings carry no tags, so it recognises a
    /// string equal to a plaintext it decrypted during this run.
    pub fn ciphertext_of(&self, plaintext: &str) -> Option<String> {
        if plaintext.is_empty() {
            return None;
        }
        let values = self.values.lock().ok()?;
        values
            .iter()
            .filter(|(_, p)| p.as_deref() == Some(plaintext))
            .map(|(c, _)| c.clone())
            .min()
    }

    /// The secret to encrypt with: the one with `encrypt_id` when given (an unknown id is an
    /// error, never a fallback), else the first.
    pub fn encrypt_secret(&self, encrypt_id: Option<&str>) -> Result<(String, Secret), VaultError> {
        match encrypt_id {
            Some(want) => self
                .secrets
                .iter()
                .find(|(id, _)| id == want)
                .cloned()
                .ok_or_else(|| VaultError::EncryptIdNotFound {
                    id: want.to_string(),
                    known: self
                        .secrets
                        .iter()
                        .map(|(id, _)| crate::yaml::python_str_repr(id))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            None => self
                .secrets
                .first()
                .cloned()
                .ok_or(VaultError::NoEncryptSecret),
        }
    }
}

/// Encrypts `plaintext` into vault text (1.2 with `vault_id` in the header when it is not
/// `default`). `salt` is Ansible's `VAULT_ENCRYPT_SALT` setting when set: a fixed salt
/// makes the output reproducible; otherwise 32 random bytes.
pub fn encrypt(
    plaintext: &[u8],
    secret: &Secret,
    vault_id: Option<&str>,
    salt: Option<&[u8]>,
) -> Result<String, VaultError> {
    if envelope::is_encrypted(plaintext) {
        return Err(VaultError::AlreadyEncrypted);
    }
    let salt = match salt {
        Some(s) if !s.is_empty() => s.to_vec(),
        _ => {
            let mut s = vec![0u8; cipher::SALT_LEN];
            getrandom::fill(&mut s).map_err(|e| VaultError::Random(e.to_string()))?;
            s
        }
    };
    let payload = cipher::encrypt(plaintext, secret.bytes(), &salt);
    Ok(envelope::format(&payload, vault_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: &str) -> Secret {
        Secret::new(p.as_bytes().to_vec())
    }

    fn vault(id_match: bool) -> Vault {
        Vault::new(
            vec![
                ("a".into(), s("pa")),
                ("b".into(), s("pb")),
                ("default".into(), s("pd")),
            ],
            id_match,
            "default",
        )
    }

    fn order(v: &Vault, id: &str) -> Vec<String> {
        v.candidates(id).map(|(i, _)| i.clone()).collect()
    }

    #[test]
    fn candidates_keep_the_secrets_order() {
        assert_eq!(order(&vault(false), "b"), ["a", "b", "default"]);
        assert_eq!(order(&vault(true), "b"), ["b"]);
        assert_eq!(order(&vault(true), "nope"), Vec::<String>::new());
        assert_eq!(order(&vault(true), "default"), ["default"]);
    }

    #[test]
    fn decrypt_reports_the_secret_used_and_honours_id_match() {
        let text = encrypt(b"x: 1\n", &s("pb"), Some("b"), None).expect("encrypt");
        let d = vault(false).decrypt(text.as_bytes()).expect("decrypt");
        assert_eq!(
            (d.plaintext.as_slice(), d.vault_id.as_str()),
            (&b"x: 1\n"[..], "b")
        );
        // The header's id is only a hint: another id's secret may decrypt it...
        let relabeled = text.replace(";b\n", ";a\n");
        assert_eq!(
            vault(false)
                .decrypt(relabeled.as_bytes())
                .expect("any")
                .vault_id,
            "b"
        );
        // ...unless ids must match.
        assert!(matches!(
            vault(true).decrypt(relabeled.as_bytes()),
            Err(VaultError::DecryptFailed)
        ));
    }

    #[test]
    fn errors_in_ansibles_order() {
        assert!(matches!(
            Vault::empty().decrypt(b"plain"),
            Err(VaultError::NotEncrypted)
        ));
        assert!(matches!(
            Vault::empty().decrypt(b"$ANSIBLE_VAULT;1.1;AES128\n00\n"),
            Err(VaultError::UnknownCipher(_))
        ));
        assert!(matches!(
            Vault::empty().decrypt(b"$ANSIBLE_VAULT;1.1;AES256\nzz\n"),
            Err(VaultError::NoSecrets)
        ));
        assert!(matches!(
            vault(false).decrypt(b"$ANSIBLE_VAULT;1.1;AES256\nzz\n"),
            Err(VaultError::Unhexlify(_))
        ));
        assert!(matches!(
            encrypt(b"$ANSIBLE_VAULT;1.1;AES256\n", &s("p"), None, None),
            Err(VaultError::AlreadyEncrypted)
        ));
    }

    #[test]
    fn inline_values_are_decrypted_once_and_remembered() {
        let good = encrypt(b"remembered", &s("pa"), Some("a"), None).expect("encrypt");
        let bad = encrypt(b"locked", &s("nobody"), None, None).expect("encrypt");
        let v = vault(true);
        assert_eq!(v.decrypt_value(&good).expect("good"), "remembered");
        assert_eq!(v.decrypt_value(&good).expect("cached"), "remembered");
        assert_eq!(v.ciphertext_of("remembered"), Some(good));
        assert_eq!(v.ciphertext_of("locked"), None);
        for _ in 0..2 {
            assert!(matches!(
                v.decrypt_value(&bad),
                Err(VaultError::DecryptFailed)
            ));
        }
        assert_eq!(v.ciphertext_of(""), None);
    }

    #[test]
    fn encrypt_secret_selection() {
        let v = vault(false);
        assert_eq!(v.encrypt_secret(None).expect("first").0, "a");
        assert_eq!(v.encrypt_secret(Some("b")).expect("b").0, "b");
        assert_eq!(
            v.encrypt_secret(Some("c"))
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "Did not find a match for --encrypt-vault-id=c in the known vault-ids ['a', 'b', 'default']"
            )
        );
    }

    #[test]
    fn a_fixed_salt_is_reproducible() {
        let a = encrypt(b"x", &s("p"), None, Some(b"salt")).expect("a");
        let b = encrypt(b"x", &s("p"), None, Some(b"salt")).expect("b");
        let c = encrypt(b"x", &s("p"), None, None).expect("c");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
