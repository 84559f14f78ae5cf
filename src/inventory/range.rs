//! Host names with `[a:b:step]` ranges and `:port` suffixes, as Ansible's inventory plugins
//! read them (`parse_address` and `expand_hostname_range`).

use fancy_regex::Regex;
use std::sync::LazyLock;

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

static BRACKETED_HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").expect("static regex"));
static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").expect("static regex"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    Regex::new(&format!(r"(?i)^(?:{c}\.){{3}}{c}$")).expect("static regex")
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let i4 = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    let alts = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{i4}\.){{3}}{i4}"),
        format!(r"::(?:ffff:)?(?:{i4}\.){{3}}{i4}"),
        format!(r"(?:0:){{5}}ffff:(?:{i4}\.){{3}}{i4}"),
    ];
    Regex::new(&format!(r"(?i)^({})$", alts.join("|"))).expect("static regex")
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    let label = format!(r"(?:\w|{ALNUM_RANGE})(?:[\w_-]|{ALNUM_RANGE})*(?<![_-])");
    Regex::new(&format!(r"(?i)^{label}(?:\.{label})*$")).expect("static regex")
});

fn matches(re: &Regex, text: &str) -> bool {
    re.is_match(text).unwrap_or(false)
}

/// Splits `host:port`, `[v6]:port` and friends; `None` when the text is not a valid host
/// identifier, in which case Ansible takes the whole text as the name and no port.
pub fn parse_address(address: &str) -> Option<(String, Option<u16>)> {
    let mut host = address.to_string();
    let mut port = None;
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Ok(Some(c)) = re.captures(&host) {
            let h = c.get(1).map_or("", |m| m.as_str()).to_string();
            port = Some(c.get(2).map_or("", |m| m.as_str()).parse::<u16>().ok()?);
            host = h;
        }
    }
    if matches(&IPV4, &host) || matches(&IPV6, &host) || matches(&HOSTNAME, &host) {
        Some((host, port))
    } else {
        None
    }
}

/// The host names and port a host entry stands for.
pub fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (name, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    let names = if name.contains('[') {
        expand_range(&name)?
    } else {
        vec![name]
    };
    Ok((names, port))
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Expands the first `[begin:end(:step)]` in a name, then any later ones.
pub fn expand_range(line: &str) -> Result<Vec<String>, String> {
    let (head, rest) = line.split_once('[').ok_or("host range must contain `[`")?;
    let (nrange, tail) = rest
        .split_once(']')
        .ok_or_else(|| format!("host range `{line}` has no closing `]`"))?;
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let step: usize = match bounds.get(2) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("host range step `{s}` is not a number"))?,
        None => 1,
    };
    if step == 0 {
        return Err("host range step must not be zero".into());
    }
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        beg.len()
    } else {
        0
    };
    let items: Vec<String> = match (LETTERS.find(beg), LETTERS.find(end)) {
        (Some(b), Some(e)) if !beg.is_empty() => {
            if b > e {
                return Err("host range must have begin <= end".into());
            }
            LETTERS[b..=e]
                .chars()
                .step_by(step)
                .map(String::from)
                .collect()
        }
        _ => {
            let b: u64 = beg
                .parse()
                .map_err(|_| format!("invalid literal for int() with base 10: `{beg}`"))?;
            let e: u64 = end
                .parse()
                .map_err(|_| format!("invalid literal for int() with base 10: `{end}`"))?;
            (b..=e)
                .step_by(step)
                .map(|n| format!("{n:0width$}"))
                .collect()
        }
    };
    let mut out = Vec::new();
    for item in items {
        let name = format!("{head}{item}{tail}");
        if name.contains('[') {
            out.extend(expand_range(&name)?);
        } else {
            out.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            expand_range("web[01:03]").unwrap(),
            ["web01", "web02", "web03"]
        );
        assert_eq!(expand_range("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand_range("x[1:10:4]").unwrap(), ["x1", "x5", "x9"]);
        assert_eq!(
            expand_range("r[1:2]c[a:b]").unwrap(),
            ["r1ca", "r1cb", "r2ca", "r2cb"]
        );
        assert!(expand_range("web[1:]").is_err());
        assert!(expand_range("web[01:3]").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_address("h1:2222"), Some(("h1".into(), Some(2222))));
        assert_eq!(parse_address("[::1]:22"), Some(("::1".into(), Some(22))));
        assert_eq!(parse_address("10.0.0.1"), Some(("10.0.0.1".into(), None)));
        assert_eq!(
            parse_address("web[01:03]"),
            Some(("web[01:03]".into(), None))
        );
        assert_eq!(parse_address("bad-"), None);
    }
}
