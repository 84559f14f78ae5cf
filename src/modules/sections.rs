//! Output of one remote script split into named sections, so a module reads several
//! things from the host in one round trip.

use crate::connection::{Output, random_tag};

/// Markers that split one command's output into named sections. The tag is random per
/// command, so nothing a file or a database holds can fake a section.
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
        let text = out.stdout_text();
        let mut parts: Vec<(String, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            if let Some(name) = line.trim_end_matches('\n').strip_prefix(&self.tag) {
                parts.push((name.to_string(), String::new()));
            } else if let Some((_, body)) = parts.last_mut() {
                body.push_str(line);
            }
        }
        parts
    }
}

impl Default for Sections {
    fn default() -> Sections {
        Sections::new()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_output() {
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
}
