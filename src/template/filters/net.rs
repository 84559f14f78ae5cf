//! URL and network filters: `urlsplit`, `ipwrap`.

use super::{Call, add, text};
use minijinja::{Environment, Error, State, Value as Mj};

pub fn register(env: &mut Environment<'static>) {
    add(env, "urlsplit", urlsplit, false);
    add(env, "ipwrap", ipwrap, false);
}

/// The parts `urllib.parse.urlsplit` returns.
#[derive(Debug, Default, PartialEq)]
pub struct UrlParts {
    pub scheme: String,
    pub netloc: String,
    pub path: String,
    pub query: String,
    pub fragment: String,
}

/// Python's `urllib.parse.urlsplit` (without the deprecated parameter handling).
pub fn url_parts(url: &str) -> UrlParts {
    // Python strips leading C0 controls/space and removes tab/newline characters.
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = cleaned.as_str();
    let mut parts = UrlParts::default();
    if let Some(i) = rest.find(':') {
        let scheme = &rest[..i];
        if !scheme.is_empty()
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            parts.scheme = scheme.to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        parts.netloc = after[..end].to_string();
        rest = &after[end..];
    }
    if let Some(i) = rest.find('#') {
        parts.fragment = rest[i + 1..].to_string();
        rest = &rest[..i];
    }
    if let Some(i) = rest.find('?') {
        parts.query = rest[i + 1..].to_string();
        rest = &rest[..i];
    }
    parts.path = rest.to_string();
    parts
}

fn netloc_fields(netloc: &str) -> (Mj, Mj, Mj, Mj) {
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Mj::from(n), Mj::from(p)),
            None => (Mj::from(u), Mj::from(())),
        },
        None => (Mj::from(()), Mj::from(())),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h.to_string(), p.strip_prefix(':').unwrap_or("").to_string()),
            None => (rest.to_string(), String::new()),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.to_string()),
            None => (hostport.to_string(), String::new()),
        }
    };
    let hostname = if host.is_empty() {
        Mj::from(())
    } else {
        Mj::from(host.to_lowercase())
    };
    let port = match port.parse::<i64>() {
        Ok(p) if !port.is_empty() => Mj::from(p),
        _ => Mj::from(()),
    };
    (username, password, hostname, port)
}

fn urlsplit(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "query", "alias"])?;
    let url = text(a[0].as_ref().unwrap_or(&Mj::from("")))?;
    let p = url_parts(&url);
    let (username, password, hostname, port) = netloc_fields(&p.netloc);
    let fields = [
        ("fragment", Mj::from(p.fragment.as_str())),
        ("hostname", hostname),
        ("netloc", Mj::from(p.netloc.as_str())),
        ("password", password),
        ("path", Mj::from(p.path.as_str())),
        ("port", port),
        ("query", Mj::from(p.query.as_str())),
        ("scheme", Mj::from(p.scheme.as_str())),
        ("username", username),
    ];
    match &a[1] {
        Some(q) if q.is_true() => {
            let q = text(q)?;
            fields
                .iter()
                .find(|(k, _)| *k == q)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| c.fail(&format!("urlsplit: unknown URL component: {q}")))
        }
        _ => Ok(Mj::from_pairs(
            fields.into_iter().map(|(k, v)| (Mj::from(k), v)),
        )),
    }
}

/// Wraps IPv6 addresses in brackets (ansible.utils `ipwrap`); other values pass through.
fn wrap_one(s: &str) -> String {
    let (addr, suffix) = match s.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (s, String::new()),
    };
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{addr}]{suffix}")
    } else {
        s.to_string()
    }
}

fn ipwrap(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "query"])?;
    let v = a[0].clone().unwrap_or(Mj::from(()));
    if let Some(s) = v.as_str() {
        return Ok(Mj::from(wrap_one(s)));
    }
    if matches!(
        v.kind(),
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Iterable
    ) {
        let mut out = Vec::new();
        for item in crate::template::value::items(&v)? {
            match item.as_str() {
                Some(s) => out.push(Mj::from(wrap_one(s))),
                None => out.push(item),
            }
        }
        return Ok(Mj::from(out));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python() {
        let p = url_parts("http://user:pw@www.acme.com:9000/dir/index.html?query=term#frag");
        assert_eq!(p.scheme, "http");
        assert_eq!(p.netloc, "user:pw@www.acme.com:9000");
        assert_eq!(p.path, "/dir/index.html");
        assert_eq!(p.query, "query=term");
        assert_eq!(p.fragment, "frag");
    }

    #[test]
    fn ipwrap_brackets_v6_only() {
        assert_eq!(wrap_one("::1"), "[::1]");
        assert_eq!(wrap_one("fe80::1/64"), "[fe80::1]/64");
        assert_eq!(wrap_one("192.168.0.1"), "192.168.0.1");
        assert_eq!(wrap_one("example.com"), "example.com");
    }
}
