//! Ansible's `k=v` argument strings (`file: path=/x state=touch`, `command: ls creates=/y`):
//! splitting that respects quotes and Jinja blocks, then key=value extraction.

use crate::yaml::{Map, Value};

/// Splits on whitespace outside quotes and `{{ }}`/`{% %}`/`{# #}`; quotes stay in the words.
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if quote.is_none() && c == '{' && matches!(next, Some('{' | '%' | '#')) {
            depth += 1;
            cur.push(c);
            cur.push(next.unwrap_or('{'));
            i += 2;
            continue;
        }
        if depth > 0
            && matches!(c, '}' | '%' | '#')
            && next == Some('}')
            && (c != '}' || quote.is_none())
        {
            depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 2;
            continue;
        }
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' {
                    if let Some(n) = next {
                        cur.push(n);
                        i += 2;
                        continue;
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if (c == '"' || c == '\'') && depth == 0 => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
        i += 1;
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in `{text}`"));
    }
    if depth > 0 {
        return Err(format!("unbalanced jinja2 block in `{text}`"));
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
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
        out.insert(Value::str("_raw_params"), Value::str(raw.join(" ")));
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
}
