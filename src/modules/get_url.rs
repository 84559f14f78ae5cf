//! `get_url`: a file downloaded by the host (its curl, or wget) into a temp file beside the
//! destination, checked against `checksum` before it replaces the old file with an atomic
//! `mv`; decided as ansible-core 2.19's module decides (an existing file with a matching
//! checksum is not fetched, otherwise the request carries `If-Modified-Since` and a 304
//! leaves it; the content's SHA-1 says whether it changed), with its result keys and
//! messages. In check mode the request is a HEAD, as Ansible's.

use super::fileattrs::{PathKind, parse_stat, resolve_mode};
use super::filecommon::{self, Attrs, FILE_ATTRS};
use super::http::{self, Request, Response};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{parent_dir, quote, random_tag};
use crate::template::filters::regex::compile_flags;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct GetUrl;

/// The request options `get_url`, `uri` and `unarchive` share (Ansible's
/// `url_argument_spec`).
pub const URL_COMMON: [Opt; 9] = [
    Opt::new("force", Kind::Bool).default("false"),
    Opt::new("http_agent", Kind::Str).default("ansible-httpget"),
    Opt::new("use_proxy", Kind::Bool).default("true"),
    Opt::new("validate_certs", Kind::Bool).default("true"),
    Opt::new("force_basic_auth", Kind::Bool).default("false"),
    Opt::new("client_cert", Kind::Path),
    Opt::new("client_key", Kind::Path),
    Opt::new("use_gssapi", Kind::Bool).default("false"),
    Opt::new("ciphers", Kind::List).elements(Kind::Str),
];

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("url", Kind::Str).required(),
        Opt::new("dest", Kind::Path).required(),
        Opt::new("backup", Kind::Bool).default("false"),
        Opt::new("checksum", Kind::Str).default(""),
        Opt::new("timeout", Kind::Int).default("10"),
        Opt::new("headers", Kind::Dict),
        Opt::new("tmp_dest", Kind::Path),
        Opt::new("unredirected_headers", Kind::List).elements(Kind::Str),
        Opt::new("decompress", Kind::Bool).default("true"),
        Opt::new("use_netrc", Kind::Bool).default("true"),
        Opt::new("url_username", Kind::Str).aliases(&["username"]),
        Opt::new("url_password", Kind::Str).aliases(&["password"]),
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
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// Digests the host's `*sum` tools compute.
pub const ALGORITHMS: [&str; 6] = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// The request the URL options describe (`method` GET, body none, output `output`).
pub fn request_from(args: &Args, url: &str, output: &str) -> Result<Request, String> {
    if args.bool("use_gssapi") {
        return Err("`use_gssapi` is not supported by kiln".into());
    }
    let mut req = Request::get(url, output);
    req.validate_certs = args.bool("validate_certs");
    req.use_proxy = args.bool("use_proxy");
    req.force_basic_auth = args.bool("force_basic_auth");
    req.http_agent = args.str("http_agent");
    req.username = args.str("url_username");
    req.password = args.str("url_password");
    req.use_netrc = args
        .get("use_netrc")
        .is_none_or(|v| matches!(v, Value::Bool(true)));
    if let Some(Value::Int(t)) = args.get("timeout") {
        req.timeout = u64::try_from(*t).unwrap_or(10);
    }
    if let Some(Value::Map(h)) = args.get("headers") {
        req.headers = h
            .iter()
            .map(|(k, v)| (crate::yaml::python_str(k), crate::yaml::python_str(v)))
            .collect();
    }
    req.unredirected = args
        .list("unredirected_headers")
        .iter()
        .map(|h| crate::yaml::python_str(h).to_lowercase())
        .collect();
    if !args.list("ciphers").is_empty() || args.str("client_cert").is_some() {
        return Err(
            "`ciphers`, `client_cert` and `client_key` are not supported by kiln yet".into(),
        );
    }
    Ok(req)
}

/// `parse_digest_lines`: (digest, file name) pairs of a checksum file.
fn digest_lines(filename: &str, lines: &[String]) -> Vec<(String, String)> {
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return vec![(lines[0].clone(), filename.to_string())];
    }
    let bsd = compile_flags(
        r"^(\w+) ?\((?P<path>.+)\) ?= (?P<digest>[\w.]+)$",
        false,
        false,
    );
    let gnu = compile_flags(
        r"^(?P<digest>[\w.]+)\s+(\*|\./|\.)?(?P<path>.+)$",
        false,
        false,
    );
    let (Ok(bsd), Ok(gnu)) = (bsd, gnu) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in lines {
        if let Ok(Some(c)) = bsd.captures(line) {
            out.push((c["digest"].to_string(), c["path"].to_string()));
        } else if let Ok(Some(c)) = gnu.captures(line) {
            out.push((
                c["digest"].to_string(),
                c["path"].trim_start_matches(['.', '/']).to_string(),
            ));
        }
    }
    out
}

/// The shell words printing `file`'s digest with `algo`, or `-` when it cannot be read.
fn digest_cmd(algo: &str, file: &str) -> String {
    format!(
        "s=$({algo}sum < {} 2>/dev/null) && printf '%s\\n' \"${{s%% *}}\" || echo -",
        quote::quote(file)
    )
}

fn fail_with(msg: impl Into<String>, fields: &[(&str, Value)]) -> TaskResult {
    let mut r = TaskResult::failed(msg);
    for (k, v) in fields {
        r.data.insert(Value::str(*k), v.clone());
    }
    r
}

#[async_trait]
impl Module for GetUrl {
    fn name(&self) -> &'static str {
        "get_url"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let url = args.str("url").unwrap_or_default();
        let mut dest = args.str("dest").unwrap_or_default();
        let force = args.bool("force");
        let attrs = Attrs::from_args(&args);
        let mut result = TaskResult::changed(false);
        let put = |r: &mut TaskResult, k: &str, v: Value| {
            r.data.insert(Value::str(k), v);
        };
        put(&mut result, "checksum_dest", Value::Null);
        put(&mut result, "checksum_src", Value::Null);
        put(&mut result, "dest", Value::str(dest.clone()));
        put(&mut result, "elapsed", Value::Int(0));
        put(&mut result, "url", Value::str(http::mask_url(&url)));
        // `algorithm:checksum`, the checksum perhaps a URL of a checksum file.
        let mut checksum = String::new();
        let mut algorithm = String::new();
        let spec = args.str("checksum").unwrap_or_default();
        if !spec.is_empty() {
            let Some((a, c)) = spec.split_once(':') else {
                let mut r = result;
                r.failed = true;
                return r.msg("The checksum parameter has to be in format <algorithm>:<checksum>");
            };
            algorithm = a.to_string();
            checksum = c.to_string();
        }
        if !algorithm.is_empty() && !ALGORITHMS.contains(&algorithm.as_str()) {
            return TaskResult::failed(format!(
                "Could not hash file '{dest}' with algorithm '{algorithm}'. Available algorithms: {}",
                ALGORITHMS.join(", ")
            ));
        }
        // One look at the host: what dest is, its digests, whether tmp_dest is a directory.
        let qd = quote::quote(&dest);
        let tmp_dest = args.str("tmp_dest");
        let mut q = format!(
            "if [ -d {qd} ]; then echo dir; elif [ -e {qd} ]; then echo file; else echo absent; fi; "
        );
        if !checksum.is_empty() && !force {
            q.push_str(&format!(
                "if [ -f {qd} ]; then {}; else echo -; fi; ",
                digest_cmd(&algorithm, &dest)
            ));
        } else {
            q.push_str("echo -; ");
        }
        match &tmp_dest {
            Some(t) => {
                let qt = quote::quote(t);
                q.push_str(&format!(
                    "if [ -d {qt} ]; then echo dir; elif [ -e {qt} ]; then echo file; else echo absent; fi"
                ));
            }
            None => q.push_str("echo dir"),
        }
        let out = try_conn!(cx.sh(q).await);
        let text = out.stdout_text();
        let mut lines = text.lines();
        let kind = lines.next().unwrap_or("absent").to_string();
        let dest_digest = lines.next().unwrap_or("-").to_string();
        let tmp_kind = lines.next().unwrap_or("dir").to_string();
        let dest_is_dir = kind == "dir";
        let base_req = match request_from(&args, &url, "/dev/null") {
            Ok(r) => r,
            Err(e) => return TaskResult::failed(e),
        };
        let work_dir = match &tmp_dest {
            Some(t) if tmp_kind == "file" => {
                return TaskResult::failed(format!("{t} is a file but should be a directory."));
            }
            Some(t) if tmp_kind != "dir" => {
                return TaskResult::failed(format!("{t} directory does not exist."));
            }
            Some(t) => t.clone(),
            None if dest_is_dir => dest.clone(),
            None => parent_dir(&dest),
        };
        let temp = format!("{}/.kiln.{}", work_dir.trim_end_matches('/'), random_tag());
        let cleanup = format!("rm -f {}", quote::quote(&temp));
        if checksum.contains("://") {
            let checksum_url = checksum.clone();
            let mut req = base_req.clone();
            req.url = checksum_url.clone();
            req.output = temp.clone();
            req.no_cache = force;
            let resp = try_conn!(http::fetch(cx, &req).await);
            let body = try_conn!(
                cx.sh(format!("cat {0}; rm -f {0}", quote::quote(&temp)))
                    .await
            );
            if let Some(r) = request_failed(&resp, &url, &dest) {
                return r;
            }
            let text = String::from_utf8_lossy(&body.stdout).replace("\r\n", "\n");
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            let filename = http::url_filename(&url);
            match digest_lines(&filename, &lines)
                .into_iter()
                .find(|(_, f)| *f == filename)
            {
                Some((d, _)) => checksum = d,
                None => {
                    return TaskResult::failed(format!(
                        "Unable to find a checksum for file '{filename}' in '{checksum_url}'"
                    ));
                }
            }
        }
        if !spec.is_empty() {
            checksum = checksum
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
                .to_lowercase();
            if checksum.is_empty() || !checksum.chars().all(|c| c.is_ascii_hexdigit()) {
                let mut r = result;
                r.failed = true;
                return r.msg("The checksum format is invalid");
            }
        }
        let mut req = base_req;
        if kind == "file" {
            let mismatch = !force && !checksum.is_empty() && dest_digest != checksum;
            if !force && !checksum.is_empty() && !mismatch {
                let st = try_conn!(cx.sh(super::fileattrs::stat_script(&dest)).await);
                let state = parse_stat(&st.stdout_text());
                let fix = match filecommon::attr_cmds(&dest, &state, &attrs) {
                    Ok(c) => c,
                    Err(r) => return *r,
                };
                if let Err(r) = filecommon::apply_attrs(cx, &fix).await {
                    return *r;
                }
                result.changed = !fix.is_empty();
                let msg = if result.changed {
                    "file already exists but file attributes changed"
                } else {
                    "file already exists"
                };
                return finish(cx, result.msg(msg), &dest).await;
            }
            // Ask only for something newer than the file we have, unless it must be replaced.
            if !(force || mismatch) {
                req.if_modified_since = Some(dest.clone());
            }
            req.no_cache = force || mismatch;
        } else {
            req.no_cache = force;
        }
        if cx.check_mode {
            req.method = "HEAD".into();
        }
        req.output = temp.clone();
        let resp = try_conn!(http::fetch(cx, &req).await);
        put(&mut result, "elapsed", Value::Int(resp.elapsed as i128));
        if resp.status == 304 {
            let _ = cx.sh(&cleanup).await;
            let mut r = TaskResult::changed(false).msg(resp.msg.clone());
            for (k, v) in [
                ("url", Value::str(http::mask_url(&url))),
                ("dest", Value::str(dest.clone())),
                ("status_code", Value::Int(304)),
                ("elapsed", Value::Int(resp.elapsed as i128)),
            ] {
                put(&mut r, k, v);
            }
            return finish(cx, r, &dest).await;
        }
        if let Some(r) = request_failed(&resp, &url, &dest) {
            let _ = cx.sh(&cleanup).await;
            return r;
        }
        put(&mut result, "src", Value::str(temp.clone()));
        if dest_is_dir {
            let name = resp
                .header("content-disposition")
                .and_then(http::disposition_filename)
                .unwrap_or_else(|| http::url_filename(&resp.url));
            dest = format!("{}/{name}", dest.trim_end_matches('/'));
            put(&mut result, "dest", Value::str(dest.clone()));
        }
        // The downloaded file and the destination, in one look.
        let (qt, qd) = (quote::quote(&temp), quote::quote(&dest));
        let qparent = quote::quote(&parent_dir(&dest));
        let mut s = format!(
            "if [ -f {qt} ]; then wc -c < {qt}; else echo -; fi; {}; {}; ",
            digest_cmd("sha1", &temp),
            digest_cmd("md5", &temp)
        );
        if !checksum.is_empty() {
            s.push_str(&digest_cmd(&algorithm, &temp));
        } else {
            s.push_str("echo -");
        }
        s.push_str(&format!(
            "; if [ -e {qd} ]; then echo exists; [ -w {qd} ] && echo w || echo -; [ -r {qd} ] && echo r || echo -; {}; {}; \
             else echo absent; [ -d {qparent} ] && echo d || echo -; [ -w {qparent} ] && echo w || echo -; fi",
            digest_cmd("sha1", &dest),
            super::fileattrs::stat_script(&dest)
        ));
        let out = try_conn!(cx.sh(s).await);
        let text = out.stdout_text();
        let l: Vec<&str> = text.lines().collect();
        let get = |i: usize| l.get(i).copied().unwrap_or("-");
        // A HEAD (check mode) leaves the temp file empty, as Ansible's.
        let size: Option<u64> = if cx.check_mode {
            Some(0)
        } else {
            get(0).trim().parse().ok()
        };
        let sha1_src = if cx.check_mode {
            "da39a3ee5e6b4b0d3255bfef95601890afd80709".to_string()
        } else {
            get(1).to_string()
        };
        let (md5_src, algo_src) = (get(2).to_string(), get(3));
        let fail = |msg: String, result: TaskResult| -> TaskResult {
            let mut r = result;
            r.failed = true;
            r.msg(msg)
        };
        if size.is_none() {
            return fail_with(
                "Request failed",
                &[
                    ("status_code", Value::Int(resp.status as i128)),
                    ("response", Value::str(resp.msg.clone())),
                ],
            );
        }
        if !cx.check_mode
            && let (Some(cl), Some(sz)) = (
                resp.header("content-length")
                    .and_then(|v| v.trim().parse::<u64>().ok()),
                size,
            )
            && cl != sz
            && resp.header("content-encoding") != Some("gzip")
        {
            let _ = cx.sh(&cleanup).await;
            return TaskResult::failed(format!(
                "Incomplete read, (rsp.length=0, cl={cl}, st.st_size={sz}) failed to read remaining {} bytes",
                cl as i64 - sz as i64
            ));
        }
        put(&mut result, "checksum_src", Value::str(sha1_src.clone()));
        let dest_exists = get(4) == "exists";
        let mut state = super::fileattrs::PathState {
            kind: PathKind::Absent,
            mode: 0,
            owner: String::new(),
            group: String::new(),
            size: 0,
            uid: String::new(),
            gid: String::new(),
            target: String::new(),
        };
        if dest_exists {
            if get(5) != "w" {
                let _ = cx.sh(&cleanup).await;
                return fail(format!("Destination {dest} is not writable"), result);
            }
            if get(6) != "r" {
                let _ = cx.sh(&cleanup).await;
                return fail(format!("Destination {dest} is not readable"), result);
            }
            put(&mut result, "checksum_dest", Value::str(get(7).to_string()));
            state = parse_stat(&format!("{}\n{}\n", get(8), get(9)));
        } else {
            let parent = parent_dir(&dest);
            if get(5) != "d" {
                let _ = cx.sh(&cleanup).await;
                return fail(format!("Destination {parent} does not exist"), result);
            }
            if get(6) != "w" {
                let _ = cx.sh(&cleanup).await;
                return fail(format!("Destination {parent} is not writable"), result);
            }
        }
        let checksum_dest = dest_exists.then(|| get(7).to_string());
        if cx.check_mode {
            let _ = cx.sh(&cleanup).await;
            result.changed = checksum_dest.as_deref() != Some(sha1_src.as_str());
            return finish(cx, result.msg(resp.msg.clone()), &dest).await;
        }
        if !checksum.is_empty() && algo_src != checksum {
            let _ = cx.sh(&cleanup).await;
            return fail(
                format!("The checksum for {temp} did not match {checksum}; it was {algo_src}."),
                result,
            );
        }
        if checksum_dest.as_deref() != Some(sha1_src.as_str()) {
            // The atomic move: the old file's mode and owner (or a new file's default mode),
            // then the requested attributes, a backup, and `mv`.
            let mut s = format!(
                "set -e; t={qt}; if [ -e {qd} ]; then s=$(stat -c '%a %u:%g' {qd}); chmod \"${{s% *}}\" \"$t\"; \
                 chown \"${{s#* }}\" \"$t\" 2>/dev/null || true; else chmod =rw \"$t\"; fi; "
            );
            if let Some(m) = attrs.mode {
                match resolve_mode(m, if dest_exists { state.mode } else { 0o644 }, false) {
                    Ok(v) => s.push_str(&format!("chmod {v:04o} \"$t\"; ")),
                    Err(e) => {
                        let _ = cx.sh(&cleanup).await;
                        return TaskResult::failed(e);
                    }
                }
            }
            if let Some(o) = &attrs.owner {
                s.push_str(&format!("chown {} \"$t\"; ", quote::quote(o)));
            }
            if let Some(g) = &attrs.group {
                s.push_str(&format!("chgrp {} \"$t\"; ", quote::quote(g)));
            }
            if args.bool("backup") && dest_exists {
                s.push_str(&format!(
                    "b={qd}.$$.$(date +%Y-%m-%d@%H:%M:%S~); cp -p {qd} \"$b\"; echo \"__kiln_backup__$b\"; "
                ));
            }
            s.push_str(&format!("mv -f \"$t\" {qd}"));
            let out = try_conn!(cx.sh(s).await);
            if out.rc != 0 {
                let _ = cx.sh(&cleanup).await;
                return TaskResult::failed(format!(
                    "failed to copy {temp} to {dest}: {}",
                    out.stderr_text().trim()
                ));
            }
            if let Some(b) = out
                .stdout_text()
                .lines()
                .find_map(|l| l.strip_prefix("__kiln_backup__"))
            {
                put(&mut result, "backup_file", Value::str(b.to_string()));
            }
            result.changed = true;
        } else {
            let _ = cx.sh(&cleanup).await;
            let fix = match filecommon::attr_cmds(&dest, &state, &attrs) {
                Ok(c) => c,
                Err(r) => return *r,
            };
            if let Err(r) = filecommon::apply_attrs(cx, &fix).await {
                return *r;
            }
            result.changed = !fix.is_empty();
        }
        put(&mut result, "md5sum", Value::str(md5_src));
        put(&mut result, "status_code", Value::Int(resp.status as i128));
        let r = result.msg(resp.msg.clone());
        finish(cx, r, &dest).await
    }
}

/// `fetch_url`'s failures as get_url reports them (`None`: a 200 to go on with).
fn request_failed(resp: &Response, url: &str, dest: &str) -> Option<TaskResult> {
    if resp.status == -1 {
        return Some(fail_with(
            resp.msg.clone(),
            &[
                ("url", Value::str(http::mask_url(url))),
                ("dest", Value::str(dest)),
                ("elapsed", Value::Int(resp.elapsed as i128)),
            ],
        ));
    }
    if resp.status != 200 && !url.starts_with("file:/") {
        return Some(fail_with(
            "Request failed",
            &[
                ("status_code", Value::Int(resp.status as i128)),
                ("response", Value::str(resp.msg.clone())),
                ("url", Value::str(http::mask_url(url))),
                ("dest", Value::str(dest)),
                ("elapsed", Value::Int(resp.elapsed as i128)),
            ],
        ));
    }
    None
}

/// Adds the destination's details (Ansible's `add_path_info` for `dest`).
async fn finish(cx: &TaskCx<'_>, mut r: TaskResult, dest: &str) -> TaskResult {
    let out = try_conn!(cx.sh(filecommon::path_info_script(dest)).await);
    filecommon::add_path_info(&mut r, &out.stdout_text());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files() {
        let l = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            digest_lines("a.tgz", &l(&["abc123"])),
            [("abc123".to_string(), "a.tgz".to_string())]
        );
        assert_eq!(
            digest_lines(
                "a.tgz",
                &l(&["111  b.tgz", "222 *a.tgz", "SHA256 (c.tgz) = 333"])
            ),
            [
                ("111".to_string(), "b.tgz".to_string()),
                ("222".to_string(), "a.tgz".to_string()),
                ("333".to_string(), "c.tgz".to_string())
            ]
        );
        assert_eq!(digest_lines("x", &l(&["444  ./dir/x"]))[0].1, "dir/x");
    }
}
