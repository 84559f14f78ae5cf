//! Ansible's `k=v` argument strings (`file: path=/x state=touch`, `command: ls creates=/y`):
//! splitting that respects quotes and Jinja blocks, then key=value extraction.

use crate::yaml::{Map, Value};

/// Splits on spaces outside quotes and `{{ }}`/`{% %}`/`{# #}`, as Ansible's `split_args`:
/// quotes stay in the words, and the text's own spacing survives inside them (a run of
/// spaces extends the word before it; a line break ends the line's last word), so that
/// free-form scripts keep their lines. A lone `\` at the end of a line joins the next one.
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut params: Vec<String> = Vec::new();
    let mut quote: Option<char> = None;
    let (mut print, mut block, mut comment) = (0usize, 0usize, 0usize);
    let lines: Vec<&str> = text.split('\n').collect();
    for (line_no, line) in lines.iter().enumerate() {
        let mut continued = false;
        for (idx, token) in line.split(' ').enumerate() {
            if token.is_empty() && idx != 0 {
                match params.last_mut() {
                    Some(last) => last.push(' '),
                    None => params.push(" ".into()),
                }
                continue;
            }
            if token == "\\" && quote.is_none() {
                continued = true;
                continue;
            }
            let was_quoted = quote.is_some();
            quote = quote_state(token, quote);
            let in_jinja = print > 0 || block > 0 || comment > 0;
            let mut appended = false;
            if quote.is_some() && !was_quoted && !in_jinja {
                params.push(token.to_string());
                appended = true;
            } else if in_jinja || quote.is_some() || was_quoted {
                if let Some(last) = params.last_mut() {
                    if idx > 0 {
                        last.push(' ');
                    }
                    last.push_str(token);
                } else {
                    params.push(token.to_string());
                }
                appended = true;
            }
            for (depth, open, close) in [
                (&mut print, "{{", "}}"),
                (&mut block, "{%", "%}"),
                (&mut comment, "{#", "#}"),
            ] {
                let before = *depth;
                *depth = jinja_depth(token, before, open, close);
                if *depth != before && !appended {
                    params.push(token.to_string());
                    appended = true;
                }
            }
            let in_jinja = print > 0 || block > 0 || comment > 0;
            if !in_jinja && quote.is_none() && !appended && !token.is_empty() {
                params.push(token.to_string());
            }
        }
        if lines.len() > 1 && line_no != lines.len() - 1 && !continued {
            match params.last_mut() {
                Some(last) => last.push('\n'),
                None => params.push("\n".into()),
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in `{text}`"));
    }
    if print > 0 || block > 0 || comment > 0 {
        return Err(format!("unbalanced jinja2 block in `{text}`"));
    }
    Ok(params)
}

/// The quote a word leaves open, given the one open before it; `\"` does not count.
fn quote_state(token: &str, mut quote: Option<char>) -> Option<char> {
    let mut prev = None;
    for c in token.chars() {
        if (c == '"' || c == '\'') && prev != Some('\\') {
            match quote {
                Some(q) if q == c => quote = None,
                Some(_) => {}
                None => quote = Some(c),
            }
        }
        prev = Some(c);
    }
    quote
}

fn jinja_depth(token: &str, depth: usize, open: &str, close: &str) -> usize {
    let (o, c) = (token.matches(open).count(), token.matches(close).count());
    (depth + o).saturating_sub(c)
}

/// Joins free-form words back: a space between words, none after a line break.
pub fn join_args(words: &[String]) -> String {
    let mut out = String::new();
    for w in words {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Strips one pair of matching outer quotes.
pub fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Keys `command`-like modules take out of their free-form text; the rest stays text.
const RAW_KEYS: [&str; 8] = [
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

/// Parses `k=v` words into a mapping. With `check_raw` (command-like modules) only the
/// special keys are taken; other words form `_raw_params`, as written.
pub fn parse_kv(text: &str, check_raw: bool) -> Result<Map, String> {
    let mut out = Map::new();
    let mut raw: Vec<String> = Vec::new();
    for word in split_args(text)? {
        let eq = find_unquoted_eq(&word);
        match eq {
            Some(i) => {
                let (k, v) = (&word[..i], &word[i + 1..]);
                if check_raw && !RAW_KEYS.contains(&k) {
                    raw.push(word.clone());
                } else {
                    out.insert(
                        Value::str(k.trim()),
                        Value::str(unquote(v.trim()).replace("\\=", "=")),
                    );
                }
            }
            None => raw.push(word),
        }
    }
    if !raw.is_empty() {
        out.insert(Value::str("_raw_params"), Value::str(join_args(&raw)));
    }
    Ok(out)
}

fn find_unquoted_eq(word: &str) -> Option<usize> {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in word.char_indices() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') => quote = Some(c),
            None if c == '=' && prev != '\\' => {
                // `{{ a == b }}` is not an assignment.
                return (!word[..i].contains('{')).then_some(i);
            }
            None => {}
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv() {
        let m = parse_kv("path=/tmp/x state=touch mode='0644'", false).unwrap();
        assert_eq!(m.get(&Value::str("mode")), Some(&Value::str("0644")));
        let m = parse_kv("echo \"a  b\" creates=/tmp/y", true).unwrap();
        assert_eq!(
            m.get(&Value::str("_raw_params")),
            Some(&Value::str("echo \"a  b\""))
        );
        assert_eq!(m.get(&Value::str("creates")), Some(&Value::str("/tmp/y")));
        let m = parse_kv("msg={{ a ~ ' b' }}", false).unwrap();
        assert_eq!(
            m.get(&Value::str("msg")),
            Some(&Value::str("{{ a ~ ' b' }}"))
        );
    }

    #[test]
    fn free_form_keeps_its_lines_and_spacing() {
        // Expected values printed by ansible-core 2.19's parse_kv(text, check_raw=True).
        for (text, raw) in [
            (
                "false && exit 0\necho second line\n",
                "false && exit 0\necho second line\n",
            ),
            ("echo  a   b creates=/x", "echo  a   b"),
            (
                "printf \"%s\\n\" \"a  b\"\nls \\\n -l",
                "printf \"%s\\n\" \"a  b\"\nls -l",
            ),
            ("echo {{ x  }} y", "echo {{ x  }} y"),
        ] {
            let m = parse_kv(text, true).unwrap();
            assert_eq!(
                m.get(&Value::str("_raw_params")),
                Some(&Value::str(raw)),
                "{text:?}"
            );
        }
    }
}
