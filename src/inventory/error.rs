use crate::diag::{Located, Span};
use crate::yaml::YamlError;
use std::path::PathBuf;

/// Why an inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}")]
    At(Located),
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("could not read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not parse `{source_name}` as an inventory source:\n{reasons}")]
    Unparsed {
        source_name: String,
        reasons: String,
    },
    #[error("{0}")]
    Pattern(String),
}

impl InventoryError {
    pub fn at(span: Span, message: impl Into<String>, hint: &str) -> InventoryError {
        InventoryError::At(Located::new(span, message).hint(hint))
    }

    /// The message with its position and snippet, as kiln prints it.
    pub fn render(&self) -> String {
        match self {
            InventoryError::Yaml(e) => match e.located() {
                Some(l) => l.to_string(),
                None => e.to_string(),
            },
            other => other.to_string(),
        }
    }
}
