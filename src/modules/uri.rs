//! `uri`: an HTTP(S) request made by the host's curl (see `http.rs`), its body built as
//! Ansible builds it (`json`, `form-urlencoded`, `form-multipart`, `raw`, or a file), the
//! response returned in ansible-core 2.19's shape: `status`, `url`, `redirected`, `msg`,
//! every response header lowercased with `-` as `_`, `cookies`, `content` and `json`,
//! optionally saved to `dest`. Like Ansible's action it does not run in check mode.

use super::fileattrs::parse_stat;
use super::filecommon::{self, Attrs, FILE_ATTRS};
use super::get_url::{URL_COMMON, request_from};
use super::http::{self, Follow};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Input, PutOptions, parent_dir, quote, random_tag};
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct Uri;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("url", Kind::Str).required(),
        Opt::new("dest", Kind::Path),
        Opt::new("url_username", Kind::Str).aliases(&["user"]),
        Opt::new("url_password", Kind::Str).aliases(&["password"]),
        Opt::new("body", Kind::Raw),
        Opt::new("body_format", Kind::Str).default("raw").choices(&[
            "form-urlencoded",
            "json",
            "raw",
            "form-multipart",
        ]),
        Opt::new("src", Kind::Path),
        Opt::new("method", Kind::Str).default("GET"),
        Opt::new("return_content", Kind::Bool).default("false"),
        Opt::new("follow_redirects", Kind::Str)
            .default("safe")
            .choices(&["all", "no", "none", "safe", "urllib2", "yes"]),
        Opt::new("creates", Kind::Path),
        Opt::new("removes", Kind::Path),
        Opt::new("status_code", Kind::List)
            .default("200")
            .elements(Kind::Int),
        Opt::new("timeout", Kind::Int).default("30"),
        Opt::new("headers", Kind::Dict),
        Opt::new("unix_socket", Kind::Path),
        Opt::new("remote_src", Kind::Bool).default("false"),
        Opt::new("ca_path", Kind::Path),
        Opt::new("unredirected_headers", Kind::List).elements(Kind::Str),
        Opt::new("decompress", Kind::Bool).default("true"),
        Opt::new("use_netrc", Kind::Bool).default("true"),
        URL_COMMON[0],
        URL_COMMON[1],
        URL_COMMON[2],
        URL_COMMON[3],
        URL_COMMON[4],
        URL_COMMON[5],
        URL_COMMON[6],
        URL_COMMON[7],
        URL_COMMON[8],
        FILE_ATTRS[0],
        FILE_ATTRS[1],
        FILE_ATTRS[2],
        FILE_ATTRS[3],
    ],
    mutually_exclusive: &[&["body", "src"]],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// Python's `json.dumps` with its defaults: keys in order, `, ` and `: `, ASCII only.
pub fn py_json(v: &Value) -> String {
    let mut out = String::new();
    dump(v, &mut out);
    out
}

fn dump(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => {
            out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(f) => out.push_str(&crate::yaml::python_float_repr(*f)),
        Value::Seq(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(x, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let key = match k {
                    Value::Str(_) | Value::Unsafe(_) => crate::yaml::python_str(k),
                    Value::Null => "null".into(),
                    Value::Bool(b) => b.to_string(),
                    other => crate::yaml::python_str(other),
                };
                dump_str(&key, out);
                out.push_str(": ");
                dump(x, out);
            }
            out.push('}');
        }
        other => dump_str(&crate::yaml::python_str(other), out),
    }
}

fn dump_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `form_urlencoded`: a mapping or a list of pairs, list values repeated, `None` left out.
fn form_urlencoded(body: &Value) -> Result<String, String> {
    let pairs: Vec<(Value, Value)> = match body {
        Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Seq(items) => items
            .iter()
            .map(|i| match i {
                Value::Seq(kv) if kv.len() == 2 => Ok((kv[0].clone(), kv[1].clone())),
                _ => Err(
                    "failed to parse body as form_urlencoded: too many values to unpack"
                        .to_string(),
                ),
            })
            .collect::<Result<_, _>>()?,
        other => return Ok(crate::yaml::python_str(other)),
    };
    let mut out = Vec::new();
    for (k, v) in pairs {
        let values = match v {
            Value::Seq(items) => items,
            Value::Map(m) => m.keys().cloned().collect(),
            other => vec![other],
        };
        for v in values.into_iter().filter(|v| !v.is_null()) {
            out.push(format!(
                "{}={}",
                http::quote_plus(&crate::yaml::python_str(&k)),
                http::quote_plus(&crate::yaml::python_str(&v))
            ));
        }
    }
    Ok(out.join("&"))
}

/// `prepare_multipart`: text fields and file parts (`content` or a controller `filename`,
/// `mime_type`), as `multipart/form-data`.
fn multipart(cx: &TaskCx<'_>, body: &Value) -> Result<(String, Vec<u8>), String> {
    let Value::Map(fields) = body else {
        return Err(format!(
            "body must be mapping, cannot be type {}",
            body.type_name()
        ));
    };
    let boundary = format!("==============={}==", random_tag());
    let mut out = Vec::new();
    for (k, v) in fields {
        let name = crate::yaml::python_str(k);
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match v {
            Value::Map(m) => {
                let get = |f: &str| {
                    m.get(&Value::str(f))
                        .filter(|x| !x.is_null())
                        .map(crate::yaml::python_str)
                };
                let filename = get("filename");
                let (data, shown) = match (get("content"), &filename) {
                    (Some(c), f) => (c.into_bytes(), f.clone().unwrap_or_else(|| name.clone())),
                    (None, Some(f)) => {
                        let path = cx.search.find("files", f).ok_or_else(|| {
                            format!(
                                "could not find or access `{f}` in files/ or the playbook directory"
                            )
                        })?;
                        let data = std::fs::read(&path).map_err(|e| format!("{f}: {e}"))?;
                        let base = f.rsplit('/').next().unwrap_or(f).to_string();
                        (data, base)
                    }
                    (None, None) => {
                        return Err(
                            "form-multipart: a file part needs `content` or `filename`".into()
                        );
                    }
                };
                let mime = get("mime_type").unwrap_or_else(|| "application/octet-stream".into());
                out.extend_from_slice(
                    format!(
                        "Content-Type: {mime}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{shown}\"\r\n\r\n"
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(&data);
            }
            Value::Seq(_) => {
                return Err(format!(
                    "failed to parse body as form-multipart: value of {name} must be a string or mapping"
                ));
            }
            other => {
                out.extend_from_slice(
                    format!(
                        "Content-Type: text/plain\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}",
                        crate::yaml::python_str(other)
                    )
                    .as_bytes(),
                );
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary=\"{boundary}\""), out))
}

/// `parse_content_type`: (main type, sub type, charset).
fn content_type(v: Option<&str>) -> (String, String, String) {
    let Some(v) = v else {
        return ("application".into(), "octet-stream".into(), "utf-8".into());
    };
    let mut parts = v.split(';');
    let t = parts.next().unwrap_or("").trim().to_lowercase();
    let (main, sub) = t.split_once('/').unwrap_or((&t, ""));
    let charset = parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map_or("utf-8".to_string(), |(_, c)| {
            c.trim_matches('"').to_string()
        });
    (main.to_string(), sub.to_string(), charset)
}

fn status_codes(args: &Args) -> Result<Vec<i64>, String> {
    args.list("status_code")
        .iter()
        .map(|v| match v {
            Value::Int(i) => Ok(*i as i64),
            other => crate::yaml::python_str(other).trim().parse::<i64>().map_err(|_| {
                format!(
                    "Elements value for option 'status_code' is of type {} and we were unable to convert to int",
                    other.type_name()
                )
            }),
        })
        .collect()
}

#[async_trait]
impl Module for Uri {
    fn name(&self) -> &'static str {
        "uri"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        if cx.check_mode {
            return TaskResult::skipped("This action (uri) does not support check mode.");
        }
        if args.str("unix_socket").is_some() {
            return TaskResult::failed("`unix_socket` is not supported by kiln yet");
        }
        let url = args.str("url").unwrap_or_default();
        let method = args.str("method").unwrap_or_default().to_uppercase();
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
            return TaskResult::failed(
                "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
            );
        }
        let codes = match status_codes(&args) {
            Ok(c) => c,
            Err(e) => return TaskResult::failed(e),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(Value::Map(h)) = args.get("headers") {
            headers = h
                .iter()
                .map(|(k, v)| (crate::yaml::python_str(k), crate::yaml::python_str(v)))
                .collect();
        }
        let has_ct = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let format = args
            .str("body_format")
            .unwrap_or_else(|| "raw".into())
            .to_lowercase();
        let mut body: Option<Vec<u8>> = None;
        if let Some(b) = args.get("body") {
            let text = match (format.as_str(), b) {
                ("json", Value::Str(s) | Value::Unsafe(s)) => s.clone().into_bytes(),
                ("json", other) => py_json(other).into_bytes(),
                ("form-urlencoded", Value::Str(s) | Value::Unsafe(s)) => s.clone().into_bytes(),
                ("form-urlencoded", other) => match form_urlencoded(other) {
                    Ok(t) => t.into_bytes(),
                    Err(e) => return TaskResult::failed(e).with("elapsed", Value::Int(0)),
                },
                ("form-multipart", other) => match multipart(cx, other) {
                    Ok((ct, data)) => {
                        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                        headers.push(("Content-Type".into(), ct));
                        data
                    }
                    Err(e) => return TaskResult::failed(e),
                },
                (_, Value::Str(s) | Value::Unsafe(s)) => s.clone().into_bytes(),
                (_, other) => crate::yaml::python_str(other).into_bytes(),
            };
            body = Some(text);
        }
        let default_ct = match format.as_str() {
            "json" => Some("application/json"),
            "form-urlencoded" => Some("application/x-www-form-urlencoded"),
            _ => None,
        };
        if let Some(ct) = default_ct
            && !has_ct
        {
            headers.push(("Content-Type".into(), ct.into()));
        }
        // creates/removes, the destination and a remote `src`, in one look.
        let dest = args.str("dest");
        let mut q = String::new();
        for p in [args.str("creates"), args.str("removes"), dest.clone()] {
            match p {
                Some(p) => {
                    let qp = quote::quote(&p);
                    q.push_str(&format!(
                        "if [ -d {qp} ]; then echo dir; elif [ -e {qp} ]; then echo file; else echo absent; fi; "
                    ));
                }
                None => q.push_str("echo -; "),
            }
        }
        q.push_str("printf '%s\\n' \"${TMPDIR:-/tmp}\"");
        let out = try_conn!(cx.sh(q).await);
        let text = out.stdout_text();
        let l: Vec<&str> = text.lines().collect();
        if let Some(c) = args.str("creates")
            && l.first().is_some_and(|k| *k != "absent")
        {
            return TaskResult::changed(false)
                .with("stdout", Value::str(format!("skipped, since '{c}' exists")));
        }
        if let Some(r) = args.str("removes")
            && l.get(1) == Some(&"absent")
        {
            return TaskResult::changed(false).with(
                "stdout",
                Value::str(format!("skipped, since '{r}' does not exist")),
            );
        }
        let dest_kind = l.get(2).copied().unwrap_or("-");
        // The body and the response travel through temp files on the host.
        let work = match &dest {
            Some(d) if dest_kind == "dir" => d.clone(),
            Some(d) => parent_dir(d),
            None => l.get(3).copied().unwrap_or("/tmp").to_string(),
        };
        let tag = random_tag();
        let work = work.trim_end_matches('/');
        let resp_file = format!("{work}/.kiln.response.{tag}");
        let body_file = format!("{work}/.kiln.body.{tag}");
        let mut req = match request_from(&args, &url, &resp_file) {
            Ok(r) => r,
            Err(e) => return TaskResult::failed(e),
        };
        if let Some(Value::Int(t)) = args.get("timeout") {
            req.timeout = u64::try_from(*t).unwrap_or(30);
        }
        req.method = method.clone();
        req.headers = headers;
        req.follow = Follow::parse(&args.str("follow_redirects").unwrap_or_default());
        req.no_cache = args.bool("force");
        req.ca_path = args.str("ca_path");
        if dest_kind == "file" {
            req.if_modified_since = dest.clone();
        }
        let mut uploaded = false;
        if let Some(src) = args.str("src") {
            if args.bool("remote_src") {
                req.body_file = Some(src);
            } else {
                let Some(path) = cx.search.find("files", &src) else {
                    return TaskResult::failed(format!("Unable to open source file {src}"))
                        .with("elapsed", Value::Int(0));
                };
                body = match std::fs::read(&path) {
                    Ok(b) => Some(b),
                    Err(_) => {
                        return TaskResult::failed(format!("Unable to open source file {src}"));
                    }
                };
            }
        }
        if let Some(b) = body {
            let opts = PutOptions::default();
            let out = try_conn!(cx.put(Input::Bytes(b), &body_file, &opts).await);
            if out.rc != 0 {
                return TaskResult::failed(format!(
                    "could not stage the request body: {}",
                    out.stderr_text().trim()
                ));
            }
            req.body_file = Some(body_file.clone());
            uploaded = true;
        }
        let resp = try_conn!(http::fetch(cx, &req).await);
        let cleanup = format!(
            "rm -f {}{}",
            quote::quote(&resp_file),
            if uploaded {
                format!(" {}", quote::quote(&body_file))
            } else {
                String::new()
            }
        );
        let (_, sub, charset) = content_type(resp.header("content-type"));
        let suffix = sub
            .split_once('+')
            .map(|(_, s)| s.to_string())
            .unwrap_or(sub.clone());
        let maybe_json = resp.header("content-type").is_some()
            && ["json", "javascript"].contains(&suffix.to_lowercase().as_str());
        let return_content = args.bool("return_content");
        let in_codes = codes.contains(&resp.status);
        let maybe_output = maybe_json || return_content || !in_codes;
        let need_body = resp.status != -1 && (maybe_output || resp.http_error);
        let content: Option<Vec<u8>> = if need_body {
            let o = try_conn!(cx.sh(format!("cat {}", quote::quote(&resp_file))).await);
            Some(o.stdout)
        } else {
            None
        };
        let mut r = TaskResult::changed(false);
        let mut put = |k: &str, v: Value| {
            r.data.insert(Value::str(k), v);
        };
        let masked = http::mask_url(&url);
        put(
            "redirected",
            Value::Bool(resp.status != -1 && http::mask_url(&resp.url) != masked),
        );
        put(
            "url",
            Value::str(if resp.status == -1 {
                masked.clone()
            } else {
                http::mask_url(&resp.url)
            }),
        );
        put("status", Value::Int(resp.status as i128));
        let mut headers_out = Map::new();
        for (k, v) in resp.merged_headers() {
            headers_out.insert(Value::str(k.replace('-', "_")), Value::str(v));
        }
        if let Some(Value::Str(loc)) = headers_out.get(&Value::str("location")).cloned() {
            headers_out.insert(
                Value::str("location"),
                Value::str(http::urljoin(&masked, &loc)),
            );
        }
        for (k, v) in headers_out {
            r.data.insert(k, v);
        }
        let mut put = |k: &str, v: Value| {
            r.data.insert(Value::str(k), v);
        };
        if resp.status != -1 && !resp.http_error {
            let cookies = resp.cookies();
            let mut cm = Map::new();
            for (k, v) in &cookies {
                cm.insert(Value::str(k.clone()), Value::str(v.clone()));
            }
            put(
                "cookies_string",
                Value::str(
                    cookies
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            );
            put("cookies", Value::Map(cm));
        }
        put("elapsed", Value::Int(resp.elapsed as i128));
        let decode = |b: &[u8]| -> String {
            if charset.eq_ignore_ascii_case("latin-1") || charset.eq_ignore_ascii_case("iso-8859-1")
            {
                b.iter().map(|&c| char::from(c)).collect()
            } else {
                String::from_utf8_lossy(b).into_owned()
            }
        };
        let u_content = content.as_deref().filter(|_| maybe_output).map(decode);
        if resp.http_error
            && !maybe_output
            && let Some(b) = &content
        {
            put("body", Value::str(decode(b)));
        }
        if maybe_json
            && let Some(t) = &u_content
            && let Ok(j) = serde_json::from_str::<serde_json::Value>(t)
        {
            put("json", crate::facts::from_json(j));
        }
        if let Some(d) = &dest {
            let mut final_dest = d.clone();
            if resp.status != -1 && dest_kind == "dir" {
                let from_url = http::url_filename(resp.url.trim_end_matches('/'));
                let name = resp
                    .header("content-disposition")
                    .and_then(http::disposition_filename)
                    .or_else(|| (from_url != "index.html").then(|| http::unquote(&from_url)))
                    .unwrap_or_else(|| "index.html".into());
                final_dest = format!("{}/{name}", d.trim_end_matches('/'));
            }
            if resp.status != -1 && in_codes && resp.status != 304 {
                let qd = quote::quote(&final_dest);
                let qr = quote::quote(&resp_file);
                let s = format!(
                    "a=$(sha1sum < {qr}); b=$(sha1sum < {qd} 2>/dev/null) || b=; \
                     if [ \"$a\" != \"$b\" ]; then if [ -e {qd} ]; then s=$(stat -c '%a %u:%g' {qd}); chmod \"${{s% *}}\" {qr}; \
                     chown \"${{s#* }}\" {qr} 2>/dev/null || true; else chmod =rw {qr}; fi; mv -f {qr} {qd}; fi; {}",
                    super::fileattrs::stat_script(&final_dest)
                );
                let out = try_conn!(cx.sh(s).await);
                if out.rc != 0 {
                    let _ = cx.sh(&cleanup).await;
                    return TaskResult::failed(format!(
                        "failed to copy {resp_file} to {final_dest}: {}",
                        out.stderr_text().trim()
                    ));
                }
                let state = parse_stat(&out.stdout_text());
                let attrs = Attrs::from_args(&args);
                let fix = match filecommon::attr_cmds(&final_dest, &state, &attrs) {
                    Ok(c) => c,
                    Err(f) => return *f,
                };
                if let Err(f) = filecommon::apply_attrs(cx, &fix).await {
                    return *f;
                }
                r.changed = true;
            }
            // A result naming a `path` gets its details, as Ansible's `add_path_info` adds them.
            let info = try_conn!(cx.sh(filecommon::path_info_script(&final_dest)).await);
            filecommon::add_path_info(&mut r, &info.stdout_text());
            r.data.insert(Value::str("path"), Value::str(final_dest));
        }
        let _ = cx.sh(&cleanup).await;
        if let Some(c) = u_content.filter(|_| return_content) {
            r.data.insert(Value::str("content"), Value::str(c));
        }
        let codes_repr = format!(
            "[{}]",
            codes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !in_codes {
            r.failed = true;
            r.msg = Some(format!(
                "Status code was {} and not {codes_repr}: {}",
                resp.status, resp.msg
            ));
            if return_content && !r.data.contains_key(&Value::str("content")) {
                r.data.insert(Value::str("content"), Value::str(""));
            }
        } else {
            r.msg = Some(resp.msg.clone());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_as_python_dumps() {
        let mut m = Map::new();
        m.insert(Value::str("b"), Value::Int(1));
        m.insert(
            Value::str("a"),
            Value::Seq(vec![Value::Bool(true), Value::Null, Value::str("é\n")]),
        );
        assert_eq!(
            py_json(&Value::Map(m)),
            r#"{"b": 1, "a": [true, null, "\u00e9\n"]}"#
        );
    }

    #[test]
    fn form_bodies() {
        let mut m = Map::new();
        m.insert(Value::str("name"), Value::str("a b&c"));
        m.insert(
            Value::str("list"),
            Value::Seq(vec![Value::Int(1), Value::Int(2)]),
        );
        m.insert(Value::str("none"), Value::Null);
        assert_eq!(
            form_urlencoded(&Value::Map(m)),
            Ok("name=a+b%26c&list=1&list=2".into())
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Some("application/vnd.api+json; charset=\"latin-1\"")),
            (
                "application".into(),
                "vnd.api+json".into(),
                "latin-1".into()
            )
        );
    }
}
