//! The output of a query script made of sections: each starts with a `@@kiln:NAME` line and
//! holds everything up to the next one. Modules that ask several things in one command print
//! their answers this way, so one answer's text cannot be taken for another's.

/// The sections of `text` in order; text before the first marker is dropped.
pub fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("@@kiln:") {
            out.push((name.trim_end().to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
        }
    }
    out
}

/// The first section called `name`.
pub fn section<'a>(all: &'a [(String, String)], name: &str) -> Option<&'a str> {
    all.iter()
        .find(|(n, _)| n == name)
        .map(|(_, body)| body.as_str())
}

/// The marker line that starts section `name`, for scripts (`echo` it).
pub fn marker(name: &str) -> String {
    format!("echo '@@kiln:{name}'")
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
    fn splits_on_markers_keeping_bodies_verbatim() {
        let all = sections("junk\n@@kiln:a\none\ntwo\n@@kiln:b\n@@kiln:c\nlast");
        assert_eq!(section(&all, "a"), Some("one\ntwo\n"));
        assert_eq!(section(&all, "b"), Some(""));
        assert_eq!(section(&all, "c"), Some("last"));
        assert_eq!(section(&all, "d"), None);
    }
}
