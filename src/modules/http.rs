//! HTTP(S) requests made by the host itself (`get_url`, `uri`, `unarchive` from a URL), as
//! Ansible's modules make them from the host with `fetch_url`: the host's `curl` carries one
//! request (HTTP/1.1, options on its stdin so credentials never show in a process list);
//! redirects are followed here, one request each, by urllib's and Ansible's rules
//! (`follow_redirects`: methods kept or turned into GET, bodies and content headers dropped,
//! unredirected headers left out, at most 10); statuses, reasons and errors are reported in
//! `fetch_url`'s words. Where `curl` is missing, `wget` does plain GET downloads.

use super::TaskCx;
use crate::connection::{ConnError, quote};
use std::time::Instant;

/// `follow_redirects`, and urllib's own behaviour (`get_url`, which has no such option).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Follow {
    Urllib2,
    Safe,
    All,
    None,
}

impl Follow {
    pub fn parse(s: &str) -> Follow {
        match s {
            "all" | "yes" => Follow::All,
            "no" | "none" => Follow::None,
            "urllib2" | "urllib" => Follow::Urllib2,
            _ => Follow::Safe,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub method: String,
    /// The user's headers (and those the module adds), in order.
    pub headers: Vec<(String, String)>,
    /// Lowercased names of headers not sent again after a redirect.
    pub unredirected: Vec<String>,
    /// A file on the host sent as the body.
    pub body_file: Option<String>,
    /// Where the host writes the final response's body.
    pub output: String,
    pub timeout: u64,
    pub validate_certs: bool,
    pub ca_path: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub force_basic_auth: bool,
    pub http_agent: Option<String>,
    pub use_proxy: bool,
    pub follow: Follow,
    pub use_netrc: bool,
    /// A file on the host whose mtime is sent as `If-Modified-Since`.
    pub if_modified_since: Option<String>,
    /// `force`: `cache-control: no-cache`.
    pub no_cache: bool,
}

impl Request {
    pub fn get(url: &str, output: &str) -> Request {
        Request {
            url: url.to_string(),
            method: "GET".into(),
            headers: Vec::new(),
            unredirected: Vec::new(),
            body_file: None,
            output: output.to_string(),
            timeout: 10,
            validate_certs: true,
            ca_path: None,
            username: None,
            password: None,
            force_basic_auth: false,
            http_agent: Some("ansible-httpget".into()),
            use_proxy: true,
            follow: Follow::Urllib2,
            use_netrc: true,
            if_modified_since: None,
            no_cache: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Response {
    /// -1 when no response came.
    pub status: i64,
    /// The final URL (after followed redirects).
    pub url: String,
    /// The final response's headers, names lowercased, in order (repeats kept).
    pub headers: Vec<(String, String)>,
    /// `fetch_url`'s `info['msg']`: `OK (N bytes)`, `HTTP Error 404: Not Found`, ...
    pub msg: String,
    /// An HTTP error status (>= 400, or a redirect not followed): urllib raised it.
    pub http_error: bool,
    /// Wall seconds, as Ansible counts them.
    pub elapsed: u64,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Headers as `fetch_url` merges them: repeated names joined with `, `.
    pub fn merged_headers(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.headers {
            match out.iter_mut().find(|(n, _)| n == k) {
                Some((_, old)) => {
                    old.push_str(", ");
                    old.push_str(v);
                }
                None => out.push((k.clone(), v.clone())),
            }
        }
        out
    }

    /// `Set-Cookie` values as (name, value), in the order Python's cookie jar lists them
    /// (by path, then name).
    pub fn cookies(&self) -> Vec<(String, String)> {
        let mut c: Vec<(String, String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| {
                let mut parts = v.split(';');
                let (name, value) = parts.next()?.split_once('=')?;
                let path = parts
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                    .map_or("/".to_string(), |(_, p)| p.to_string());
                Some((path, name.trim().to_string(), value.trim().to_string()))
            })
            .collect();
        c.sort();
        c.into_iter().map(|(_, n, v)| (n, v)).collect()
    }
}

/// A string in a curl config file: double quotes, backslash escapes.
fn cfg_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Standard base64 (for the Basic authorization header).
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The reason phrase Python's `http.client.responses` gives a status (used when a server
/// sends none).
fn default_reason(code: i64) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

const WMARK: &str = "__kiln_w__";

/// One hop: the curl config for `req` at `url` with `method`, `headers`, `body`.
fn curl_config(
    req: &Request,
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: bool,
) -> String {
    let mut c = String::new();
    let mut line = |k: &str, v: Option<String>| {
        c.push_str(k);
        if let Some(v) = v {
            c.push_str(" = ");
            c.push_str(&v);
        }
        c.push('\n');
    };
    line("url", Some(cfg_str(url)));
    line("silent", None);
    line("show-error", None);
    line("http1.1", None);
    line("dump-header", Some(cfg_str("-")));
    line(
        "write-out",
        Some(cfg_str(&format!(
            "\n{WMARK}%{{http_code}}|%{{time_connect}}|%{{url_effective}}|%{{redirect_url}}\n"
        ))),
    );
    if method == "HEAD" {
        line("head", None);
        line("output", Some(cfg_str("/dev/null")));
    } else {
        line("output", Some(cfg_str(&req.output)));
        if method != "GET" || body {
            line("request", Some(cfg_str(method)));
        }
    }
    if body && let Some(b) = &req.body_file {
        line("data-binary", Some(cfg_str(&format!("@{b}"))));
    }
    line("connect-timeout", Some(req.timeout.to_string()));
    line("speed-time", Some(req.timeout.to_string()));
    line("speed-limit", Some("1".into()));
    if !req.validate_certs {
        line("insecure", None);
    }
    if let Some(ca) = &req.ca_path {
        line("cacert", Some(cfg_str(ca)));
    }
    if !req.use_proxy {
        line("noproxy", Some(cfg_str("*")));
    }
    line(
        "user-agent",
        Some(cfg_str(req.http_agent.as_deref().unwrap_or(""))),
    );
    // What urllib sends of its own, instead of curl's `Accept: */*`.
    let given = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !given("accept") {
        line("header", Some(cfg_str("Accept:")));
    }
    if !given("accept-encoding") {
        line("header", Some(cfg_str("Accept-Encoding: identity")));
    }
    if !given("connection") {
        line("header", Some(cfg_str("Connection: close")));
    }
    for (k, v) in headers {
        line("header", Some(cfg_str(&format!("{k}: {v}"))));
    }
    c
}

/// The credentials a request sends: the options', else those in the URL (removed from it).
fn credentials(req: &Request) -> (String, Option<(String, String)>) {
    if let Some(u) = req.username.as_ref().filter(|u| !u.is_empty()) {
        return (
            req.url.clone(),
            Some((u.clone(), req.password.clone().unwrap_or_default())),
        );
    }
    let Some((scheme, rest)) = req.url.split_once("://") else {
        return (req.url.clone(), None);
    };
    let (netloc, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match netloc.rsplit_once('@') {
        Some((cred, host)) if scheme != "ftp" => {
            let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
            (
                format!("{scheme}://{host}{path}"),
                Some((unquote(u), unquote(p))),
            )
        }
        _ => (req.url.clone(), None),
    }
}

/// What a redirect turns the request into, by Ansible's `HTTPRedirectHandler` (`None`: the
/// redirect is not followed and urllib raises it as an HTTP error).
fn redirect(follow: Follow, code: i64, method: &str) -> Option<(String, bool)> {
    let redirect_code = matches!(code, 301 | 302 | 303 | 307 | 308);
    if !redirect_code {
        return None;
    }
    match follow {
        Follow::None => None,
        Follow::Urllib2 => {
            let ok =
                matches!(method, "GET" | "HEAD") || (matches!(code, 301..=303) && method == "POST");
            ok.then(|| {
                let m = if method == "HEAD" { "HEAD" } else { "GET" };
                (m.to_string(), false)
            })
        }
        Follow::Safe if !matches!(method, "GET" | "HEAD") => None,
        Follow::Safe | Follow::All => {
            if matches!(code, 307 | 308) {
                return Some((method.to_string(), true));
            }
            let m = match (code, method) {
                (303 | 302, m) if m != "HEAD" => "GET",
                (301, "POST") => "GET",
                (_, m) => m,
            };
            Some((m.to_string(), false))
        }
    }
}

/// Parses one hop's stdout: header blocks, then the write-out line.
fn parse_hop(out: &str) -> (i64, String, Vec<(String, String)>, bool, String, String) {
    let (head, w) = out.rsplit_once(WMARK).unwrap_or((out, ""));
    let w = w.lines().next().unwrap_or("");
    let f: Vec<&str> = w.splitn(4, '|').collect();
    let code: i64 = f.first().and_then(|c| c.parse().ok()).unwrap_or(0);
    let connected = f
        .get(1)
        .and_then(|t| t.parse::<f64>().ok())
        .is_some_and(|t| t > 0.0);
    let effective = f.get(2).unwrap_or(&"").to_string();
    let location = f.get(3).unwrap_or(&"").trim().to_string();
    // The last block of headers is the final response (an auth challenge may come first).
    let head = head.replace("\r\n", "\n");
    let block = head.split("\n\n").filter(|b| b.starts_with("HTTP/")).last();
    // `file://` transfers have headers but no status line.
    let (block, reason) = match block {
        Some(b) => {
            let (status_line, rest) = b.split_once('\n').unwrap_or((b, ""));
            (
                rest,
                status_line.splitn(3, ' ').nth(2).unwrap_or("").to_string(),
            )
        }
        None => (head.split("\n\n").next().unwrap_or(""), String::new()),
    };
    let lines = block.lines();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    (code, reason, headers, connected, effective, location)
}

/// curl's failure in `fetch_url`'s words.
fn curl_error(rc: i32, connected: bool, stderr: &str) -> String {
    let detail = stderr
        .trim()
        .trim_start_matches("curl: ")
        .split_once(") ")
        .map_or(stderr.trim(), |(_, m)| m)
        .to_string();
    match rc {
        6 => "Request failed: <urlopen error [Errno -2] Name or service not known>".into(),
        7 => "Request failed: <urlopen error [Errno 111] Connection refused>".into(),
        28 if connected => "Connection failure: timed out".into(),
        28 => "Request failed: <urlopen error timed out>".into(),
        35 | 51 | 53 | 54 | 58 | 59 | 60 | 77 | 80 | 82 | 83 | 90 | 91 => format!(
            "Request failed: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {detail}>"
        ),
        52 | 56 => format!(
            "Connection failure: connection was closed before a valid response was received: {detail}"
        ),
        _ => format!("Request failed: <urlopen error {detail}>"),
    }
}

/// Runs `req` on the host, following redirects as Ansible would.
pub async fn fetch(cx: &TaskCx<'_>, req: &Request) -> Result<Response, ConnError> {
    let start = Instant::now();
    let (mut url, creds) = credentials(req);
    let mut method = req.method.clone();
    let mut with_body = req.body_file.is_some();
    let mut headers: Vec<(String, String)> = Vec::new();
    if req.no_cache {
        headers.push(("cache-control".into(), "no-cache".into()));
    }
    headers.extend(req.headers.iter().cloned());
    if let Some((u, p)) = &creds
        && req.force_basic_auth
    {
        headers.push((
            "Authorization".into(),
            format!("Basic {}", base64(format!("{u}:{p}").as_bytes())),
        ));
    }
    let mut redirects = 0;
    let mut redirected = false;
    loop {
        let mut cfg = curl_config(req, &url, &method, &headers, with_body);
        if let Some((u, p)) = &creds
            && !req.force_basic_auth
        {
            cfg.push_str(&format!(
                "user = {}\nanyauth\n",
                cfg_str(&format!("{u}:{p}"))
            ));
        } else if creds.is_none() && req.use_netrc {
            cfg.push_str("netrc-optional\n");
        }
        let ims = match (&req.if_modified_since, redirected) {
            (Some(f), false) => format!(
                "ims=$(date -u -r {} '+%a, %d %b %Y %H:%M:%S GMT' 2>/dev/null) || ims=; ",
                quote::quote(f)
            ),
            _ => "ims=; ".to_string(),
        };
        let script = format!(
            "LC_ALL=C; export LC_ALL; {ims}\
             if command -v curl >/dev/null 2>&1; then \
               curl -K - ${{ims:+-H \"If-Modified-Since: $ims\"}}; \
             else echo __kiln_nocurl__; exit 127; fi"
        );
        let out = cx.sh_with_input(script, cfg.into_bytes()).await?;
        let text = out.stdout_text();
        if text.contains("__kiln_nocurl__") {
            if matches!(method.as_str(), "GET" | "HEAD") && !with_body {
                return wget(cx, req, &url, &method, &headers, creds.as_ref(), start).await;
            }
            return Ok(Response {
                status: -1,
                url: req.url.clone(),
                msg: "Request failed: kiln makes this request with the host's curl, which is not installed".into(),
                elapsed: start.elapsed().as_secs(),
                ..Response::default()
            });
        }
        let (mut code, reason, hdrs, connected, effective, location) = parse_hop(&text);
        // A `file://` URL has no status; urllib reads it as a success.
        if out.rc == 0 && code == 0 && url.starts_with("file:") {
            code = 200;
        }
        if out.rc != 0 || code == 0 {
            return Ok(Response {
                status: -1,
                url: req.url.clone(),
                msg: curl_error(out.rc, connected, &out.stderr_text()),
                elapsed: start.elapsed().as_secs(),
                ..Response::default()
            });
        }
        let reason = if reason.is_empty() {
            default_reason(code).to_string()
        } else {
            reason
        };
        if !location.is_empty()
            && let Some((m, keep_body)) = redirect(req.follow, code, &method)
        {
            redirects += 1;
            if redirects > 10 {
                return Ok(Response {
                    status: code,
                    url: req.url.clone(),
                    headers: hdrs,
                    msg: format!(
                        "HTTP Error {code}: The HTTP server returned a redirect error that would lead to an infinite loop.\nThe last 30x error message was:\n{reason}"
                    ),
                    http_error: true,
                    elapsed: start.elapsed().as_secs(),
                });
            }
            if !keep_body {
                with_body = false;
                headers.retain(|(k, _)| {
                    !matches!(
                        k.to_lowercase().as_str(),
                        "content-length" | "content-type" | "transfer-encoding"
                    )
                });
            }
            headers.retain(|(k, _)| !req.unredirected.contains(&k.to_lowercase()));
            method = m;
            url = location.replace(' ', "%20");
            redirected = true;
            continue;
        }
        let http_error = code >= 400 || (300..400).contains(&code) && code != 304;
        let msg = if code == 304 {
            format!("HTTP Error 304: {reason}")
        } else if http_error {
            format!("HTTP Error {code}: {reason}")
        } else {
            let len = hdrs
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or("unknown".to_string(), |(_, v)| v.clone());
            format!("OK ({len} bytes)")
        };
        return Ok(Response {
            status: code,
            url: if http_error || code == 304 {
                req.url.clone()
            } else {
                effective
            },
            headers: hdrs,
            msg,
            http_error: http_error || code == 304,
            elapsed: start.elapsed().as_secs(),
        });
    }
}

/// A GET or HEAD with the host's `wget` (when it has no curl): `-S` prints the responses' headers.
async fn wget(
    cx: &TaskCx<'_>,
    req: &Request,
    url: &str,
    method: &str,
    headers: &[(String, String)],
    creds: Option<&(String, String)>,
    start: Instant,
) -> Result<Response, ConnError> {
    let mut args = vec![
        "-S".to_string(),
        "-q".to_string(),
        format!("--timeout={}", req.timeout),
        "--tries=1".to_string(),
    ];
    // `--spider` asks with HEAD.
    if method == "HEAD" {
        args.push("--spider".into());
    } else {
        args.push("-O".into());
        args.push(req.output.clone());
    }
    if !req.validate_certs {
        args.push("--no-check-certificate".into());
    }
    if let Some(ca) = &req.ca_path {
        args.push(format!("--ca-certificate={ca}"));
    }
    if !req.use_proxy {
        args.push("--no-proxy".into());
    }
    if req.follow == Follow::None {
        args.push("--max-redirect=0".into());
    }
    args.push(format!(
        "--user-agent={}",
        req.http_agent.as_deref().unwrap_or("")
    ));
    for (k, v) in headers {
        args.push(format!("--header={k}: {v}"));
    }
    // Credentials go in a file only the task's user can read, never on the command line.
    let auth = match creds {
        Some((u, p)) if !req.force_basic_auth => format!(
            "w=$(mktemp) || exit 1; trap 'rm -f \"$w\"' EXIT; printf 'user=%s\\npassword=%s\\n' {} {} > \"$w\"; export WGETRC=\"$w\"; ",
            quote::quote(u),
            quote::quote(p)
        ),
        _ => String::new(),
    };
    let ims = match &req.if_modified_since {
        Some(f) => format!(
            "ims=$(date -u -r {} '+%a, %d %b %Y %H:%M:%S GMT' 2>/dev/null) && set -- --header=\"If-Modified-Since: $ims\"; ",
            quote::quote(f)
        ),
        None => String::new(),
    };
    let script = format!(
        "LC_ALL=C; export LC_ALL; set --; {auth}{ims}wget \"$@\" {} {} 2>&1",
        quote::join(&args),
        quote::quote(url)
    );
    let out = cx.sh(script).await?;
    let text = out.stdout_text();
    // Each response starts with its status line; the last one is the answer.
    let mut code = 0;
    let mut reason = String::new();
    let mut hdrs = Vec::new();
    let mut final_url = url.to_string();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("HTTP/") {
            let mut parts = rest.splitn(3, ' ');
            parts.next();
            code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            reason = parts.next().unwrap_or("").to_string();
            hdrs.clear();
        } else if let Some((k, v)) = l.split_once(": ")
            && code != 0
        {
            let k = k.to_lowercase();
            if k == "location" && (300..400).contains(&code) {
                final_url = v.to_string();
            }
            hdrs.push((k, v.to_string()));
        }
    }
    if code == 0 {
        return Ok(Response {
            status: -1,
            url: req.url.clone(),
            msg: format!("Request failed: <urlopen error {}>", text.trim()),
            elapsed: start.elapsed().as_secs(),
            ..Response::default()
        });
    }
    let http_error = code >= 300;
    let len = hdrs
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or("unknown".to_string(), |(_, v)| v.clone());
    Ok(Response {
        status: code,
        url: if http_error {
            req.url.clone()
        } else {
            final_url
        },
        headers: hdrs,
        msg: if http_error {
            format!("HTTP Error {code}: {reason}")
        } else {
            format!("OK ({len} bytes)")
        },
        http_error,
        elapsed: start.elapsed().as_secs(),
    })
}

/// Ansible's `mask_url`: the password of a URL's credentials as `********`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (netloc, path) = rest.split_at(end);
    match netloc.rsplit_once('@') {
        Some((cred, host)) if cred.contains(':') => {
            let user = cred.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:********@{host}{path}")
        }
        _ => url.to_string(),
    }
}

/// `urllib.parse.unquote`: `%XX` escapes decoded.
pub fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `urllib.parse.quote_plus`: what `urlencode` makes of each key and value.
pub fn quote_plus(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Python's `os.path.basename(urlsplit(url).path)`, or `index.html` for none.
pub fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        "index.html".into()
    } else {
        name.to_string()
    }
}

/// `filename` of a `Content-Disposition` header, without directories.
pub fn disposition_filename(v: &str) -> Option<String> {
    v.split(';').skip(1).find_map(|p| {
        let (k, val) = p.trim().split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let val = val.trim().trim_matches('"');
        let base = val.rsplit('/').next().unwrap_or(val);
        (!base.is_empty()).then(|| base.to_string())
    })
}

/// `urllib.parse.urljoin` for a `Location` against the request URL.
pub fn urljoin(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let host_end = rest.find('/').unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..host_end]);
    if let Some(l) = loc.strip_prefix("//") {
        return format!("{scheme}://{l}");
    }
    if loc.starts_with('/') {
        return format!("{origin}{loc}");
    }
    let path = &rest[host_end..];
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{loc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_rules() {
        assert_eq!(
            redirect(Follow::Safe, 302, "GET"),
            Some(("GET".into(), false))
        );
        assert_eq!(redirect(Follow::Safe, 302, "POST"), None);
        assert_eq!(
            redirect(Follow::All, 307, "POST"),
            Some(("POST".into(), true))
        );
        assert_eq!(
            redirect(Follow::All, 303, "PUT"),
            Some(("GET".into(), false))
        );
        assert_eq!(
            redirect(Follow::Urllib2, 301, "POST"),
            Some(("GET".into(), false))
        );
        assert_eq!(redirect(Follow::Urllib2, 307, "POST"), None);
        assert_eq!(redirect(Follow::None, 301, "GET"), None);
        assert_eq!(redirect(Follow::All, 200, "GET"), None);
    }

    #[test]
    fn hop_output() {
        let out = "HTTP/1.1 401 Unauthorized\r\nA: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\nSet-Cookie: b=2\r\nSet-Cookie: a=1\r\n\r\n\n__kiln_w__200|0.1|http://h/x|\n";
        let (code, reason, headers, connected, eff, loc) = parse_hop(out);
        assert_eq!((code, reason.as_str(), connected), (200, "OK", true));
        assert_eq!(eff, "http://h/x");
        assert!(loc.is_empty());
        assert_eq!(headers[0], ("content-length".to_string(), "6".to_string()));
        let r = Response {
            headers,
            ..Response::default()
        };
        assert_eq!(
            r.cookies(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(r.merged_headers()[1].1, "b=2, a=1");
    }

    #[test]
    fn names_from_urls_and_headers() {
        assert_eq!(url_filename("http://h/a/b.tgz?x=1"), "b.tgz");
        assert_eq!(url_filename("http://h/"), "index.html");
        assert_eq!(
            disposition_filename("attachment; filename=\"../x.txt\""),
            Some("x.txt".into())
        );
        assert_eq!(urljoin("http://h:1/a/b", "/c"), "http://h:1/c");
        assert_eq!(urljoin("http://h/a/b", "c"), "http://h/a/c");
        assert_eq!(
            credentials(&Request::get("http://u:p%40@h/x", "/o")),
            ("http://h/x".to_string(), Some(("u".into(), "p@".into())))
        );
    }
}
