//! Host patterns for `hosts:` and `--limit`: names, groups, `a:b`, `a,b`, `a:&b`, `a:!b`,
//! globs, `~regex`, subscripts and `@file`, evaluated as Ansible's `InventoryManager` does.

use super::range::parse_address;
use super::{Inventory, InventoryError, LOCALHOST};
use indexmap::IndexSet;
use std::path::Path;
use std::sync::LazyLock;

static SPLIT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("static regex"));
static SUBSCRIPT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").expect("static regex")
});

/// Splits `a,b`, or the older `a:b:&c`, into single patterns; whitespace is ignored.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        SPLIT
            .find_iter(pattern)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `--limit` patterns, with `@file` entries replaced by the file's lines.
pub fn read_limit(limit: &str) -> Result<Vec<String>, InventoryError> {
    let mut out = Vec::new();
    for p in split_host_pattern(limit) {
        if let Some(file) = p.strip_prefix('@') {
            let path = Path::new(file);
            if !path.exists() {
                return Err(InventoryError::Pattern(format!(
                    "unable to find limit file `{file}`"
                )));
            }
            if !path.is_file() {
                return Err(InventoryError::Pattern(format!(
                    "limit starting with `@` must be a file, not a directory: `{file}`"
                )));
            }
            let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            out.extend(text.split('\n').map(|l| l.trim().to_string()));
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

impl Inventory {
    /// The hosts a pattern selects, restricted by `limit` patterns when given, in Ansible's order.
    pub fn select(
        &mut self,
        pattern: &str,
        limit: Option<&[String]>,
    ) -> Result<Vec<usize>, InventoryError> {
        let patterns = split_host_pattern(pattern);
        let mut hosts = self.evaluate(&patterns)?;
        if let Some(limit) = limit {
            let allowed: IndexSet<usize> = self.evaluate(limit)?.into_iter().collect();
            hosts.retain(|h| allowed.contains(h));
        }
        let mut seen = IndexSet::new();
        hosts.retain(|h| seen.insert(*h));
        Ok(hosts)
    }

    fn evaluate(&mut self, patterns: &[String]) -> Result<Vec<usize>, InventoryError> {
        let mut regular = Vec::new();
        let mut intersect = Vec::new();
        let mut exclude = Vec::new();
        for p in patterns.iter().filter(|p| !p.is_empty()) {
            match p.as_bytes()[0] {
                b'!' => exclude.push(p.as_str()),
                b'&' => intersect.push(p.as_str()),
                _ => regular.push(p.as_str()),
            }
        }
        if regular.is_empty() {
            regular.push("all");
        }
        let mut hosts: Vec<usize> = Vec::new();
        for p in regular.into_iter().chain(intersect).chain(exclude) {
            if let Some(h) = self.hosts.get_index_of(p) {
                hosts.push(h);
                continue;
            }
            let that = self.match_one(p)?;
            match p.as_bytes()[0] {
                b'!' => {
                    let that: IndexSet<usize> = that.into_iter().collect();
                    hosts.retain(|h| !that.contains(h));
                }
                b'&' => {
                    let that: IndexSet<usize> = that.into_iter().collect();
                    hosts.retain(|h| that.contains(h));
                }
                _ => {
                    let existing: IndexSet<usize> = hosts.iter().copied().collect();
                    hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
                }
            }
        }
        Ok(hosts)
    }

    fn match_one(&mut self, pattern: &str) -> Result<Vec<usize>, InventoryError> {
        let pattern = pattern.strip_prefix(['&', '!']).unwrap_or(pattern);
        let (expr, subscript) = split_subscript(pattern)?;
        if let Some((_, _, true)) = subscript {
            self.warn("Use [x:y] inclusive subscripts instead of [x-y] which has been removed");
        }
        let hosts = self.enumerate(&expr)?;
        match subscript {
            None => Ok(hosts),
            Some(_) if hosts.is_empty() => Ok(hosts),
            Some((start, end, _)) => match apply_subscript(&hosts, start, end) {
                Some(h) => Ok(h),
                // Ansible reports this and goes on with no hosts for the pattern.
                None => {
                    self.warn(format!(
                        "No hosts matched the subscripted pattern '{pattern}'"
                    ));
                    Ok(Vec::new())
                }
            },
        }
    }

    fn enumerate(&mut self, pattern: &str) -> Result<Vec<usize>, InventoryError> {
        let matcher = Matcher::new(pattern)?;
        let groups: Vec<usize> = (0..self.groups.len())
            .filter(|&g| matcher.is_match(&self.groups[g].name))
            .collect();
        let mut results = Vec::new();
        for &g in &groups {
            results.extend(self.group_hosts(g));
        }
        if groups.is_empty() || pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']) {
            results
                .extend((0..self.hosts.len()).filter(|&h| matcher.is_match(&self.hosts[h].name)));
        }
        if results.is_empty()
            && LOCALHOST.contains(&pattern)
            && let Some(h) = self.get_host(pattern)
        {
            results.push(h);
        }
        if results.is_empty() && groups.is_empty() && pattern != "all" {
            self.warn(format!(
                "Could not match supplied host pattern, ignoring: {pattern}"
            ));
        }
        Ok(results)
    }
}

type Subscript = (i64, Option<i64>, bool);

fn split_subscript(pattern: &str) -> Result<(String, Option<Subscript>), InventoryError> {
    if pattern.starts_with('~') {
        return Ok((pattern.to_string(), None));
    }
    let Some(c) = SUBSCRIPT.captures(pattern) else {
        return Ok((pattern.to_string(), None));
    };
    let bad = || InventoryError::Pattern(format!("invalid subscript in pattern `{pattern}`"));
    let expr = c[1].to_string();
    if let Some(idx) = c.get(2) {
        return Ok((
            expr,
            Some((idx.as_str().parse().map_err(|_| bad())?, None, false)),
        ));
    }
    let start: i64 = c[3].parse().map_err(|_| bad())?;
    let end: i64 = if c[5].is_empty() {
        -1
    } else {
        c[5].parse().map_err(|_| bad())?
    };
    Ok((expr, Some((start, Some(end), &c[4] == "-"))))
}

/// Python slicing as Ansible applies it: `[i]` one host (negative from the end), `[a:b]`
/// inclusive, `[a:]` to the end. `None` where Python raises `IndexError`.
fn apply_subscript(hosts: &[usize], start: i64, end: Option<i64>) -> Option<Vec<usize>> {
    let len = hosts.len() as i64;
    match end {
        // Python treats an end of 0 as "no end": `hosts[start]`.
        None | Some(0) => {
            let i = if start < 0 { len + start } else { start };
            (0..len).contains(&i).then(|| vec![hosts[i as usize]])
        }
        Some(end) => {
            let end = if end == -1 { len - 1 } else { end };
            let clamp = |i: i64| -> usize {
                let i = if i < 0 { (len + i).max(0) } else { i.min(len) };
                i as usize
            };
            let (s, e) = (clamp(start), clamp(end + 1));
            Some(if s < e {
                hosts[s..e].to_vec()
            } else {
                Vec::new()
            })
        }
    }
}

/// A glob (`fnmatch`, whole name) or a `~regex` (Python `re.match`, anchored at the start only).
enum Matcher {
    Exact(String),
    Regex(fancy_regex::Regex),
}

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher, InventoryError> {
        let source = if let Some(re) = pattern.strip_prefix('~') {
            format!(r"\A(?:{re})")
        } else if pattern.contains(['*', '?', '[']) {
            format!(r"\A(?s:{})\z", fnmatch_to_regex(pattern))
        } else {
            return Ok(Matcher::Exact(pattern.to_string()));
        };
        fancy_regex::Regex::new(&source)
            .map(Matcher::Regex)
            .map_err(|_| InventoryError::Pattern(format!("invalid host list pattern: `{pattern}`")))
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(p) => p == name,
            Matcher::Regex(re) => re.is_match(name).unwrap_or(false),
        }
    }
}

/// Python's `fnmatch.translate` without the anchors: `*`, `?`, `[seq]`, `[!seq]`.
fn fnmatch_to_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while i < chars.len() && chars[i] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    let mut stuff: String =
                        chars[i..j].iter().collect::<String>().replace('\\', "\\\\");
                    i = j + 1;
                    if let Some(rest) = stuff.strip_prefix('!') {
                        stuff = format!("^{rest}");
                    } else if stuff.starts_with('^') || stuff.starts_with('[') {
                        stuff = format!("\\{stuff}");
                    }
                    out.push('[');
                    out.push_str(&stuff);
                    out.push(']');
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(split_host_pattern("a:b:&c:!d"), ["a", "b", "&c", "!d"]);
        assert_eq!(split_host_pattern("a, b"), ["a", "b"]);
        assert_eq!(split_host_pattern("web[1:3]"), ["web[1:3]"]);
        assert_eq!(split_host_pattern("web[0]:db"), ["web[0]", "db"]);
    }

    #[test]
    fn subscripts() {
        let h = [10, 11, 12, 13];
        assert_eq!(apply_subscript(&h, 0, None), Some(vec![10]));
        assert_eq!(apply_subscript(&h, -1, None), Some(vec![13]));
        assert_eq!(apply_subscript(&h, 1, Some(2)), Some(vec![11, 12]));
        assert_eq!(apply_subscript(&h, 2, Some(-1)), Some(vec![12, 13]));
        assert_eq!(apply_subscript(&h, 9, None), None);
    }
}
