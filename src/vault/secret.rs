//! Vault secrets and where they come from: a password file, an executable that prints the
//! password (a `*-client` script is asked for a vault id), or a prompt on the terminal.
//!
//! Sources are read once, when a command starts, as Ansible does; what is lazy is the
//! decryption of values, not the reading of passwords.

use super::error::VaultError;
use super::keyring::Vault;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// One password. Its bytes are wiped when the last copy is dropped and never printed.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<Vec<u8>>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Arc::new(Zeroizing::new(bytes)))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// Python's `bytes.strip()`: ASCII whitespace at both ends.
fn strip(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// `bytes.strip(b"\r\n")`.
fn strip_newlines(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = b {
        b = rest;
    }
    while let [b'\r' | b'\n', rest @ ..] = b {
        b = rest;
    }
    b
}

/// The path as Ansible's `unfrackpath(follow=False)` makes it: `~` expanded, absolute,
/// `.` and `..` resolved lexically (symlinks are left alone, so a script next to its
/// configuration still finds it).
pub fn unfrack(path: &Path) -> PathBuf {
    let expanded = match path.strip_prefix("~") {
        Ok(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => path.to_path_buf(),
        },
        Err(_) => path.to_path_buf(),
    };
    let absolute = if expanded.is_absolute() {
        expanded
    } else {
        std::env::current_dir().unwrap_or_default().join(expanded)
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// A client script is named `something-client` (with any extension); it is given
/// `--vault-id <label>` and prints that label's password.
fn is_client(path: &Path) -> bool {
    path.file_stem()
        .is_some_and(|s| s.to_string_lossy().ends_with("-client"))
}

/// What a password file or script must be before it is read (Ansible's
/// `get_file_vault_secret` checks): an error here is "getting" the secret.
pub fn check_file(path: &Path) -> Result<PathBuf, VaultError> {
    let path = unfrack(path);
    if !path.exists() {
        return Err(VaultError::PasswordFileNotFound(path));
    }
    if path.is_dir() {
        return Err(VaultError::PasswordFileIsDir(path));
    }
    Ok(path)
}

/// Reads a secret from a checked file: an executable is run (a client script with
/// `--vault-id label`) and its standard output is the password; another file's content is
/// the password, decrypted with the secrets in `known` first when it is itself
/// vault-encrypted.
pub fn load_file(path: &Path, label: &str, known: &Vault) -> Result<Secret, VaultError> {
    if is_executable(path) {
        return run_script(path, label);
    }
    let raw =
        Zeroizing::new(
            std::fs::read(path).map_err(|source| VaultError::PasswordFileRead {
                path: path.to_path_buf(),
                source,
            })?,
        );
    let mut data = Zeroizing::new(strip(&raw).to_vec());
    if super::envelope::is_encrypted(&data) {
        data = Zeroizing::new(known.decrypt(&data)?.plaintext);
    }
    let pass = strip_newlines(&data);
    if pass.is_empty() {
        return Err(VaultError::EmptyPassword(format!(
            "Invalid vault password was provided from file ({})",
            path.display()
        )));
    }
    Ok(Secret::new(pass.to_vec()))
}

fn run_script(path: &Path, label: &str) -> Result<Secret, VaultError> {
    use std::process::{Command, Stdio};
    let client = is_client(path);
    let mut cmd = Command::new(path);
    // A plain script's stderr stays on the terminal, so it can prompt there itself; a
    // client's is captured for the error message.
    cmd.stdin(Stdio::inherit()).stdout(Stdio::piped());
    if client {
        cmd.arg("--vault-id").arg(label).stderr(Stdio::piped());
    } else {
        cmd.stderr(Stdio::inherit());
    }
    let out = cmd.output().map_err(|source| VaultError::ScriptRun {
        path: path.to_path_buf(),
        source,
    })?;
    let stdout = Zeroizing::new(out.stdout);
    let rc = out
        .status
        .code()
        .map_or_else(|| "killed by a signal".to_string(), |c| c.to_string());
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    if client && out.status.code() == Some(2) {
        return Err(VaultError::ClientUnknownId {
            path: path.to_path_buf(),
            id: label.to_string(),
            stderr,
        });
    }
    if !out.status.success() {
        return Err(if client {
            VaultError::ClientFailed {
                path: path.to_path_buf(),
                rc,
                id: label.to_string(),
                stderr,
            }
        } else {
            VaultError::ScriptFailed {
                path: path.to_path_buf(),
                rc,
            }
        });
    }
    let pass = strip_newlines(&stdout);
    if pass.is_empty() {
        return Err(VaultError::EmptyPassword(format!(
            "Invalid vault password was provided from script ({})",
            path.display()
        )));
    }
    Ok(Secret::new(pass.to_vec()))
}

/// Whether a password can be asked for: kiln reads passwords from the controlling terminal
/// (`/dev/tty`), so a run without one (CI, cron) fails at once instead of waiting.
pub fn terminal() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map(|_| ())
        .map_err(|e| format!("no terminal to read it from ({e})"))
}

/// Asks on the terminal with each prompt in turn (one prompt, or a password and its
/// confirmation); the answers must match. `what` names the request in the error when
/// there is no terminal.
pub fn prompt(prompts: &[String], label: &str, what: &str) -> Result<Secret, VaultError> {
    terminal().map_err(|why| VaultError::NoTerminal {
        what: what.to_string(),
        why,
    })?;
    let mut first: Option<Zeroizing<Vec<u8>>> = None;
    for p in prompts {
        let answer = Zeroizing::new(
            rpassword::prompt_password(p).map_err(|_| VaultError::PromptEof(label.to_string()))?,
        );
        if answer.is_empty() {
            return Err(VaultError::EmptyPassword(
                "Invalid vault password was provided".into(),
            ));
        }
        let answer = Zeroizing::new(strip(answer.as_bytes()).to_vec());
        match &first {
            None => first = Some(answer),
            Some(f) if **f != *answer => return Err(VaultError::PasswordsDiffer),
            Some(_) => {}
        }
    }
    first
        .map(|f| Secret::new(f.to_vec()))
        .ok_or(VaultError::PromptEof(label.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_as_python() {
        assert_eq!(strip_newlines(b"\r\n pw \n\n"), b" pw ");
        assert_eq!(strip(b"\t pw \n"), b"pw");
    }

    #[test]
    fn client_scripts_by_name() {
        assert!(is_client(Path::new("/x/pass-client")));
        assert!(is_client(Path::new("/x/pass-client.sh")));
        assert!(!is_client(Path::new("/x/client-pass.sh")));
    }

    #[test]
    fn unfrack_is_lexical() {
        assert_eq!(unfrack(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(
            format!("{:?}", Secret::new(b"hunter2".to_vec())),
            "Secret(<hidden>)"
        );
    }
}
