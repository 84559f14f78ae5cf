//! The one place remote command text is built from user data: POSIX single-quote quoting.
//! Every module goes through here; nothing else concatenates user input into shell text.

/// Quotes a string for POSIX sh as Python's `shlex.quote` does: bare when it holds only safe
/// characters, otherwise in single quotes with embedded quotes spliced as `'"'"'`.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Joins words into one command line, each quoted.
pub fn join<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(join(["ls", "-l", "/tmp/a b"]), "ls -l '/tmp/a b'");
    }
}
