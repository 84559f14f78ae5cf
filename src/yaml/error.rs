use crate::diag::{Located, Span};
use std::path::PathBuf;

/// Why a YAML (or JSON) document could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("could not read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A vault-encrypted file that could not be decrypted (Ansible's message follows).
    #[error("could not decrypt `{path}`: {source}")]
    Vault {
        path: PathBuf,
        #[source]
        source: crate::vault::VaultError,
    },
    #[error("YAML syntax error: {message}")]
    Syntax { span: Span, message: String },
    #[error("YAML value error: {message}")]
    Construct { span: Span, message: String },
}

impl YamlError {
    pub fn span(&self) -> Option<&Span> {
        match self {
            YamlError::Read { .. } | YamlError::Vault { .. } => None,
            YamlError::Syntax { span, .. } | YamlError::Construct { span, .. } => Some(span),
        }
    }

    /// The message with the cause of a read error (`could not read `f`: No such file...`).
    pub fn with_cause(&self) -> String {
        match self {
            YamlError::Read { source, .. } => format!("{self}: {source}"),
            other => other.to_string(),
        }
    }

    /// The error as a message pointing into the file, with a hint for the usual causes.
    pub fn located(&self) -> Option<Located> {
        let span = self.span()?.clone();
        let hint = match self {
            YamlError::Syntax { .. } => {
                "check the indentation (spaces, not tabs) and that quotes and brackets are closed"
            }
            _ => "quote the value if it is meant to be a string",
        };
        Some(Located::new(span, self.to_string()).hint(hint))
    }
}
