//! Why a vault operation failed.
//!
//! Messages that users and scripts match on are ansible-vault's, word for word (they are
//! what ansible-core 2.19 prints, checked by `tests/vault.rs`); kiln's own additions are
//! lowercase with values in backticks.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Input is not vault encrypted data.")]
    NotEncrypted,
    #[error("Vault envelope format error.")]
    Envelope,
    /// A payload that is not hexadecimal; the detail is Python's `binascii` wording.
    #[error("Vault format unhexlify error: {0}")]
    Unhexlify(&'static str),
    #[error("Vault vaulttext format error: {0}")]
    Vaulttext(String),
    #[error("Cipher '{0}' could not be found.")]
    UnknownCipher(String),
    /// The ciphertext decrypted (its HMAC matched) but its padding is not PKCS#7.
    #[error("Invalid padding bytes.")]
    Padding,
    #[error("Attempting to decrypt but no vault secrets found.")]
    NoSecrets,
    #[error("Decryption failed (no vault secrets were found that could decrypt).")]
    DecryptFailed,
    #[error("input is already encrypted")]
    AlreadyEncrypted,
    #[error("A vault password must be specified to encrypt data")]
    NoEncryptSecret,
    #[error("Did not find a match for --encrypt-vault-id={id} in the known vault-ids [{known}]")]
    EncryptIdNotFound { id: String, known: String },
    #[error("'{0}' is not a valid vault id. The character ';' is not allowed in vault ids")]
    InvalidVaultId(String),
    #[error("The vault password file {0} was not found")]
    PasswordFileNotFound(PathBuf),
    #[error("The vault password file provided '{0}' can not be a directory")]
    PasswordFileIsDir(PathBuf),
    #[error("Could not read vault password file '{path}'.")]
    PasswordFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An empty password, with Ansible's message naming where it came from.
    #[error("{0}")]
    EmptyPassword(String),
    #[error(
        "Problem running vault password script {path} ({source}). If this is not a script, remove the executable bit from the file."
    )]
    ScriptRun {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Vault password script {path} returned non-zero ({rc})")]
    ScriptFailed { path: PathBuf, rc: String },
    #[error(
        "Vault password client script {path} did not find a secret for vault-id={id}: {stderr}"
    )]
    ClientUnknownId {
        path: PathBuf,
        id: String,
        stderr: String,
    },
    #[error(
        "Vault password client script {path} returned non-zero ({rc}) when getting secret for vault-id={id}: {stderr}"
    )]
    ClientFailed {
        path: PathBuf,
        rc: String,
        id: String,
        stderr: String,
    },
    /// Asking for a password needs a terminal; kiln never waits on a pipe for one.
    #[error("{what} needs a terminal to ask for the vault password: {why}")]
    NoTerminal { what: String, why: String },
    #[error("EOFError (ctrl-d) on prompt for ({0})")]
    PromptEof(String),
    #[error("Passwords do not match")]
    PasswordsDiffer,
    #[error("could not get random bytes for the salt: {0}")]
    Random(String),
}
