//! Output of one remote script split into named sections, so a module reads several things
//! from the host in one round trip: each section starts with a marker line and holds
//! everything up to the next one.
//!
//! `Sections` makes markers with a tag random per command, so nothing a file or a database
//! holds can fake a section. `marker`/`sections` use a fixed tag (`@@kiln:`), for scripts
//! whose sections only hold command output that cannot start a line with it.

use crate::connection::{Output, random_tag};

/// The fixed tag of `marker` and `sections`.
const FIXED: &str = "@@kiln:";

/// Markers with a tag random per command.
pub struct Sections {
    tag: String,
}

impl Sections {
    pub fn new() -> Sections {
        Sections {
            tag: format!("__kiln_{}_", random_tag()),
        }
    }

    /// Shell text that starts section `name`.
    pub fn start(&self, name: &str) -> String {
        format!("echo {}{name}", self.tag)
    }

    /// The sections of `out`, in order; text before the first marker is dropped.
    pub fn split(&self, out: &Output) -> Vec<(String, String)> {
        split_on(&out.stdout_text(), &self.tag)
    }
}

impl Default for Sections {
    fn default() -> Sections {
        Sections::new()
    }
}

fn split_on(text: &str, tag: &str) -> Vec<(String, String)> {
    let mut parts: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.trim_end_matches('\n').strip_prefix(tag) {
            parts.push((name.to_string(), String::new()));
        } else if let Some((_, body)) = parts.last_mut() {
            body.push_str(line);
        }
    }
    parts
}

/// The sections of `text` made with `marker`.
pub fn sections(text: &str) -> Vec<(String, String)> {
    split_on(text, FIXED)
}

/// Shell text that starts section `name` with the fixed tag.
pub fn marker(name: &str) -> String {
    format!("echo '{FIXED}{name}'")
}

/// The body of the first section called `name`.
pub fn section<'a>(parts: &'a [(String, String)], name: &str) -> Option<&'a str> {
    parts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.as_str())
}

/// A section that holds a file's bytes as they are: the script follows the content with
/// `echo`, so the marker after it starts a line even when the file does not end with a
/// newline, and that one added newline is dropped here.
pub fn section_raw<'a>(parts: &'a [(String, String)], name: &str) -> Option<&'a str> {
    section(parts, name).map(|b| b.strip_suffix('\n').unwrap_or(b))
}

/// A section's lines, for sections that list database entries.
pub fn section_lines<'a>(parts: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    section(parts, name)
        .map(|b| b.lines().filter(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

/// Script text that extends PATH as Ansible's `get_bin_path` searches (PATH, then the sbin
/// directories) and, when `bin` is not found, prints a `missing` section with the PATH
/// searched and ends the script.
pub fn need_bin(bin: &str) -> String {
    format!(
        "PATH=\"$PATH:/sbin:/usr/sbin:/usr/local/sbin\"; if ! command -v {b} >/dev/null 2>&1; then {m}; echo \"$PATH\"; exit 0; fi; ",
        b = crate::connection::quote::quote(bin),
        m = marker("missing")
    )
}

/// Ansible's failure for a required program the host lacks, when `need_bin` said so.
pub fn missing_bin(all: &[(String, String)], bin: &str) -> Option<String> {
    section(all, "missing").map(|path| {
        format!(
            "Failed to find required executable \"{bin}\" in paths: {}",
            path.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_markers_split_output() {
        let s = Sections::new();
        let out = Output {
            rc: 0,
            stdout: format!("junk\n{}a\none\ntwo\n{}b\n", s.tag, s.tag).into_bytes(),
            stderr: Vec::new(),
        };
        let parts = s.split(&out);
        assert_eq!(section(&parts, "a"), Some("one\ntwo\n"));
        assert_eq!(section(&parts, "b"), Some(""));
        assert_eq!(section_lines(&parts, "a"), vec!["one", "two"]);
        assert_eq!(section_raw(&parts, "a"), Some("one\ntwo"));
    }

    #[test]
    fn fixed_markers_keep_bodies_verbatim() {
        let all = sections("junk\n@@kiln:a\none\ntwo\n@@kiln:b\n@@kiln:c\nlast");
        assert_eq!(section(&all, "a"), Some("one\ntwo\n"));
        assert_eq!(section(&all, "b"), Some(""));
        assert_eq!(section(&all, "c"), Some("last"));
        assert_eq!(section(&all, "d"), None);
    }
}
