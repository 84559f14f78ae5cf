//! What kiln prints: JSON as Ansible's tools print it, and warnings.

pub mod json;

/// Prints warnings to stderr as Ansible does, so they never mix with data on stdout.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("[WARNING]: {w}");
    }
}
