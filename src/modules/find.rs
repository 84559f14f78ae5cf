//! `find`: files below directories matching names, age, size, content and mode, returned as
//! ansible-core 2.19's module returns them. The host lists each tree with its own `find` and
//! `stat` (one command; GNU tools give NUL-separated records and nanosecond times, busybox
//! newline-separated records and whole seconds); the walk itself — Python's `os.walk` order
//! (a directory's files, then its directories, shallowest first), depth, hidden names,
//! `limit` and every filter — is replayed on the controller. `contains` reads the candidate
//! files' content in a second command, `get_checksum` asks the host's `*sum` tools in a third.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::template::filters::path::normpath;
use crate::template::filters::regex::{Anchor, PyRegex};
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use std::collections::HashMap;

pub struct Find;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("paths", Kind::List)
            .elements(Kind::Path)
            .required()
            .aliases(&["name", "path"]),
        Opt::new("patterns", Kind::List)
            .aliases(&["pattern"])
            .elements(Kind::Str),
        Opt::new("excludes", Kind::List)
            .aliases(&["exclude"])
            .elements(Kind::Str),
        Opt::new("contains", Kind::Str),
        Opt::new("read_whole_file", Kind::Bool).default("false"),
        Opt::new("file_type", Kind::Str).default("file").choices(&[
            "any",
            "directory",
            "file",
            "link",
        ]),
        Opt::new("age", Kind::Str),
        Opt::new("age_stamp", Kind::Str)
            .default("mtime")
            .choices(&["atime", "ctime", "mtime"]),
        Opt::new("size", Kind::Str),
        Opt::new("recurse", Kind::Bool).default("false"),
        Opt::new("hidden", Kind::Bool).default("false"),
        Opt::new("follow", Kind::Bool).default("false"),
        Opt::new("get_checksum", Kind::Bool).default("false"),
        Opt::new("checksum_algorithm", Kind::Str)
            .default("sha1")
            .aliases(&["checksum", "checksum_algo"])
            .choices(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
        Opt::new("use_regex", Kind::Bool).default("false"),
        Opt::new("depth", Kind::Int),
        Opt::new("mode", Kind::Raw),
        Opt::new("exact_mode", Kind::Bool).default("true"),
        Opt::new("encoding", Kind::Str),
        Opt::new("limit", Kind::Int),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// One filesystem object as `lstat` describes it.
#[derive(Debug, Clone)]
struct Entry {
    /// As the host's `find` printed it.
    raw: String,
    /// `os.path.normpath` of it, the `path` Ansible reports.
    path: String,
    name: String,
    /// Listed among `os.walk`'s directories (a directory, or a link to one).
    dirlike: bool,
    mode: u32,
    size: u64,
    uid: u64,
    gid: u64,
    user: String,
    group: String,
    inode: u64,
    dev: u64,
    nlink: u64,
    atime: f64,
    mtime: f64,
    ctime: f64,
}

const S_IFMT: u32 = 0o170000;

impl Entry {
    fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }
    fn is_dir(&self) -> bool {
        self.kind() == 0o040000
    }
    fn is_reg(&self) -> bool {
        self.kind() == 0o100000
    }
    fn is_link(&self) -> bool {
        self.kind() == 0o120000
    }
    fn stamp(&self, which: &str) -> f64 {
        match which {
            "atime" => self.atime,
            "ctime" => self.ctime,
            _ => self.mtime,
        }
    }

    /// Ansible's `statinfo`, after `path`.
    fn info(&self) -> Map {
        let m = self.mode;
        let b = |bit: u32| Value::Bool(m & bit != 0);
        let mut out = Map::new();
        let mut put = |k: &str, v: Value| {
            out.insert(Value::str(k), v);
        };
        put("path", Value::str(self.path.clone()));
        put("mode", Value::str(format!("{:04o}", m & 0o7777)));
        put("isdir", Value::Bool(self.is_dir()));
        put("ischr", Value::Bool(self.kind() == 0o020000));
        put("isblk", Value::Bool(self.kind() == 0o060000));
        put("isreg", Value::Bool(self.is_reg()));
        put("isfifo", Value::Bool(self.kind() == 0o010000));
        put("islnk", Value::Bool(self.is_link()));
        put("issock", Value::Bool(self.kind() == 0o140000));
        put("uid", Value::Int(i128::from(self.uid)));
        put("gid", Value::Int(i128::from(self.gid)));
        put("size", Value::Int(i128::from(self.size)));
        put("inode", Value::Int(i128::from(self.inode)));
        put("dev", Value::Int(i128::from(self.dev)));
        put("nlink", Value::Int(i128::from(self.nlink)));
        put("atime", Value::Float(self.atime));
        put("mtime", Value::Float(self.mtime));
        put("ctime", Value::Float(self.ctime));
        put("gr_name", Value::str(self.group.clone()));
        put("pw_name", Value::str(self.user.clone()));
        put("wusr", b(0o200));
        put("rusr", b(0o400));
        put("xusr", b(0o100));
        put("wgrp", b(0o020));
        put("rgrp", b(0o040));
        put("xgrp", b(0o010));
        put("woth", b(0o002));
        put("roth", b(0o004));
        put("xoth", b(0o001));
        put("isuid", b(0o4000));
        put("isgid", b(0o2000));
        out
    }
}

/// Python's `float(st_mtime)` from the host's `SECONDS[.FRACTION]` text.
fn py_time(s: &str) -> f64 {
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().unwrap_or(0);
    let digits: String = frac.chars().take(9).collect();
    let ns: f64 = format!("{digits:0<9}").parse().unwrap_or(0.0);
    sec as f64 + ns * 1e-9
}

/// The listing of one `paths` entry.
#[derive(Default)]
struct Listing {
    is_dir: bool,
    /// Children of each directory (by normalised path), in the host's order: files and
    /// directories apart, as `os.walk` splits them.
    children: HashMap<String, (Vec<usize>, Vec<usize>)>,
}

/// The host script: `now`, then per path its kind and every entry below it.
fn list_script(paths: &[String], follow: bool, maxdepth: Option<i64>) -> String {
    let mut s = String::from(
        "LC_ALL=C; export LC_ALL; \
         if stat --version 2>/dev/null | grep -q coreutils; then \
           S=--printf; T='\\0'; F='%f|%s|%u|%g|%U|%G|%i|%d|%h|%.9X|%.9Y|%.9Z|%n\\0'; \
         else S=-c; T='\\n'; F='%f|%s|%u|%g|%U|%G|%i|%d|%h|%X|%Y|%Z|%n'; fi; \
         X=; find / -maxdepth 0 -xtype d >/dev/null 2>&1 && X='-o -xtype d'; \
         n=$(date +%s.%N 2>/dev/null) || n=$(date +%s); printf \"now|%s$T\" \"$n\"; ",
    );
    let hl = if follow { "-L" } else { "-H" };
    let depth = format!(
        "-mindepth 1{}",
        maxdepth.map_or(String::new(), |d| format!(" -maxdepth {d}"))
    );
    for (i, p) in paths.iter().enumerate() {
        let q = quote::quote(p);
        s.push_str(&format!(
            "if [ -d {q} ]; then printf \"path|{i}|dir$T\"; \
             find {hl} {q} {depth} \\( -type d $X \\) -exec stat \"$S\" \"D|$F\" {{}} + -o -exec stat \"$S\" \"F|$F\" {{}} +; \
             else printf \"path|{i}|notdir$T\"; fi; "
        ));
    }
    s
}

struct Parsed {
    now: f64,
    entries: Vec<Entry>,
    listings: Vec<Listing>,
}

fn parse_listing(out: &[u8], count: usize) -> Parsed {
    let text = String::from_utf8_lossy(out);
    let sep = if text.contains('\0') { '\0' } else { '\n' };
    let mut p = Parsed {
        now: 0.0,
        entries: Vec::new(),
        listings: (0..count).map(|_| Listing::default()).collect(),
    };
    let mut current: Option<usize> = None;
    for rec in text.split(sep).filter(|r| !r.is_empty()) {
        let rec = rec.strip_prefix('\n').unwrap_or(rec);
        if let Some(n) = rec.strip_prefix("now|") {
            p.now = py_time(n.trim());
            continue;
        }
        if let Some(rest) = rec.strip_prefix("path|") {
            let (i, kind) = rest.split_once('|').unwrap_or((rest, ""));
            current = i.parse().ok().filter(|i: &usize| *i < count);
            if let Some(i) = current {
                p.listings[i].is_dir = kind == "dir";
            }
            continue;
        }
        let (Some(i), Some((tag, rest))) = (current, rec.split_once('|')) else {
            continue;
        };
        let f: Vec<&str> = rest.splitn(13, '|').collect();
        if f.len() < 13 {
            continue;
        }
        let num = |k: usize| f[k].parse::<u64>().unwrap_or(0);
        // Ansible reports an empty name for an id without one.
        let name = |k: usize| {
            if f[k] == "UNKNOWN" {
                String::new()
            } else {
                f[k].to_string()
            }
        };
        let raw = f[12].to_string();
        let path = normpath(&raw);
        let base = raw.rsplit('/').next().unwrap_or(&raw).to_string();
        let parent = normpath(raw.rsplit_once('/').map_or(".", |(d, _)| d));
        let e = Entry {
            path,
            name: base,
            dirlike: tag == "D",
            mode: u32::from_str_radix(f[0], 16).unwrap_or(0),
            size: num(1),
            uid: num(2),
            gid: num(3),
            user: name(4),
            group: name(5),
            inode: num(6),
            dev: num(7),
            nlink: num(8),
            atime: py_time(f[9]),
            mtime: py_time(f[10]),
            ctime: py_time(f[11]),
            raw,
        };
        let idx = p.entries.len();
        let slot = p.listings[i].children.entry(parent).or_default();
        if e.dirlike {
            slot.1.push(idx);
        } else {
            slot.0.push(idx);
        }
        p.entries.push(e);
    }
    p
}

/// The part of `find`'s arguments that filter, converted as Ansible converts them.
struct Filters {
    patterns: Vec<String>,
    excludes: Vec<String>,
    use_regex: bool,
    contains: Option<fancy_regex::Regex>,
    read_whole_file: bool,
    file_type: String,
    age: Option<i64>,
    age_stamp: String,
    size: Option<i64>,
    mode: Option<u32>,
    exact_mode: bool,
    hidden: bool,
    recurse: bool,
    follow: bool,
    depth: Option<i64>,
    limit: Option<i64>,
    encoding: Option<String>,
}

fn pfilter(name: &str, f: &Filters) -> Result<bool, String> {
    let hit = |p: &str| -> Result<bool, String> {
        if f.use_regex {
            PyRegex::new(p, false, false, Anchor::Match)?.is_match(name)
        } else {
            Ok(crate::facts::fnmatch(p, name))
        }
    };
    for p in &f.patterns {
        if hit(p)? {
            for e in &f.excludes {
                if hit(e)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// A file's content as the `contains` filter reads it.
enum Content {
    Unreadable,
    Bytes(Vec<u8>),
}

/// Python's text-mode reading with universal newlines: `\r\n` and `\r` end lines as `\n`.
fn universal(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// `contentfilter`: `Err` is the encoding error that makes Ansible skip the whole path.
fn content_matches(path: &str, c: &Content, f: &Filters) -> Result<bool, String> {
    let Some(re) = &f.contains else {
        return Ok(true);
    };
    let Content::Bytes(bytes) = c else {
        return Ok(false);
    };
    let latin1 = f.encoding.as_deref().is_some_and(|e| {
        matches!(
            e.to_lowercase().as_str(),
            "latin-1" | "latin1" | "iso-8859-1"
        )
    });
    let encoding_error = || {
        let enc = f.encoding.clone().unwrap_or_else(|| {
            "None (default determined by the Python built-in function \"open\")".into()
        });
        format!("Failed to read the file {path} due to an encoding error. current encoding: {enc}")
    };
    let (text, bad_at) = if latin1 {
        (
            bytes.iter().map(|&b| char::from(b)).collect::<String>(),
            None,
        )
    } else {
        match std::str::from_utf8(bytes) {
            Ok(t) => (t.to_string(), None),
            Err(e) => (
                String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
                Some(e.valid_up_to()),
            ),
        }
    };
    if f.read_whole_file {
        return match bad_at {
            Some(_) => Err(encoding_error()),
            None => Ok(re.is_match(&universal(&text)).unwrap_or(false)),
        };
    }
    // Python decodes 8 KiB at a time: lines in chunks before the bad one are read first.
    let readable = match bad_at {
        Some(b) => &text[..text.len().min((b / 8192) * 8192)],
        None => &text,
    };
    let lines = universal(readable);
    let mut pieces: Vec<&str> = lines.split_inclusive('\n').collect();
    if bad_at.is_some() && !lines.ends_with('\n') {
        pieces.pop();
    }
    for line in pieces {
        if is_match_at_start(re, line) {
            return Ok(true);
        }
    }
    match bad_at {
        Some(_) => Err(encoding_error()),
        None => Ok(false),
    }
}

/// `re.match`: a match that begins at the start of the text.
fn is_match_at_start(re: &fancy_regex::Regex, t: &str) -> bool {
    re.captures(t)
        .ok()
        .flatten()
        .and_then(|c| c.get(0))
        .is_some_and(|m| m.start() == 0)
}

struct Walk<'a> {
    f: &'a Filters,
    p: &'a Parsed,
    contents: &'a HashMap<String, Content>,
    /// Gathering candidates for `contains` (no limit, content taken as matching).
    gathering: bool,
    wanted: Vec<String>,
    found: Vec<usize>,
    looked: usize,
    msg: &'static str,
}

impl Walk<'_> {
    fn limit_hit(&self) -> bool {
        !self.gathering && self.f.limit == Some(self.found.len() as i64)
    }

    /// One directory of `os.walk`; `Ok(true)` stops the walk of this path.
    fn visit(&mut self, listing: &Listing, key: &str, npath: &str) -> Result<bool, String> {
        let empty = (Vec::new(), Vec::new());
        let (files, dirs) = listing.children.get(key).unwrap_or(&empty);
        self.looked += files.len() + dirs.len();
        let mut walk_into: Vec<usize> = dirs.clone();
        let wpath = format!("{}/", npath.trim_end_matches('/'));
        for &i in files.iter().chain(dirs.iter()) {
            let e = &self.p.entries[i];
            if let Some(d) = self.f.depth.filter(|d| *d != 0) {
                let depth =
                    e.path.matches('/').count() as i64 - wpath.matches('/').count() as i64 + 1;
                if depth > d {
                    walk_into.clear();
                    continue;
                }
            }
            if e.name.starts_with('.') && !self.f.hidden {
                continue;
            }
            if self.matches(e)? {
                self.found.push(i);
            }
            if self.limit_hit() {
                self.msg = "Limit of matches reached";
                break;
            }
        }
        if !self.f.recurse || self.limit_hit() {
            return Ok(true);
        }
        for i in walk_into {
            let e = &self.p.entries[i];
            if (self.f.follow || !e.is_link()) && self.visit(listing, &e.path.clone(), npath)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn matches(&mut self, e: &Entry) -> Result<bool, String> {
        let f = self.f;
        let common = |e: &Entry| -> Result<bool, String> {
            Ok(pfilter(&e.name, f)? && agefilter(e, self.p.now, f) && mode_filter(e, f))
        };
        Ok(match f.file_type.as_str() {
            "any" => common(e)? && (!e.is_reg() || sizefilter(e, f)),
            "directory" => e.is_dir() && common(e)?,
            "link" => e.is_link() && common(e)?,
            _ => {
                if !(e.is_reg()
                    && pfilter(&e.name, f)?
                    && agefilter(e, self.p.now, f)
                    && sizefilter(e, f))
                {
                    return Ok(false);
                }
                if f.contains.is_some() {
                    if self.gathering {
                        self.wanted.push(e.raw.clone());
                    } else {
                        let c = self.contents.get(&e.raw).unwrap_or(&Content::Unreadable);
                        if !content_matches(&e.path, c, f)? {
                            return Ok(false);
                        }
                    }
                }
                mode_filter(e, f)
            }
        })
    }
}

fn agefilter(e: &Entry, now: f64, f: &Filters) -> bool {
    match f.age {
        None => true,
        Some(a) if a >= 0 => now - e.stamp(&f.age_stamp) >= a.abs() as f64,
        Some(a) => now - e.stamp(&f.age_stamp) <= a.abs() as f64,
    }
}

fn sizefilter(e: &Entry, f: &Filters) -> bool {
    match f.size {
        None => true,
        Some(s) if s >= 0 => e.size as i64 >= s,
        Some(s) => e.size as i64 <= s.abs(),
    }
}

fn mode_filter(e: &Entry, f: &Filters) -> bool {
    let Some(m) = f.mode else {
        return true;
    };
    let st = e.mode & 0o7777;
    if f.exact_mode { st == m } else { st & m != 0 }
}

/// `age` and `size` as Ansible parses them: a number and an optional unit letter.
fn parse_unit(v: &str, units: &[(char, i64)]) -> Option<i64> {
    let v = v.to_lowercase();
    let (num, mult) = match v.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m = units.iter().find(|(u, _)| *u == c)?.1;
            (&v[..v.len() - 1], m)
        }
        _ => (v.as_str(), 1),
    };
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<i64>().ok().map(|n| n * mult)
}

fn filters(args: &Args) -> Result<Filters, Box<TaskResult>> {
    let strings =
        |k: &str| -> Vec<String> { args.list(k).iter().map(crate::yaml::python_str).collect() };
    let use_regex = args.bool("use_regex");
    let mut patterns = strings("patterns");
    if patterns.is_empty() {
        patterns = vec![if use_regex { ".*" } else { "*" }.to_string()];
    }
    let mode = match args.get("mode") {
        None => None,
        Some(Value::Str(s)) | Some(Value::Unsafe(s)) if s.is_empty() => None,
        Some(Value::Str(s)) | Some(Value::Unsafe(s)) => Some(match u32::from_str_radix(s, 8) {
            Ok(m) => m & 0o7777,
            Err(_) => {
                super::fileattrs::resolve_mode(&Value::str(s.clone()), 0, false)
                    .map_err(|e| Box::new(TaskResult::failed(e)))?
                    & 0o7777
            }
        }),
        Some(other) => {
            return Err(Box::new(TaskResult::failed(format!(
                "argument 'mode' is not a string and conversion is not allowed, value is of type {}",
                match other {
                    Value::Int(_) => "int",
                    Value::Float(_) => "float",
                    Value::Bool(_) => "bool",
                    Value::Seq(_) => "list",
                    Value::Map(_) => "dict",
                    _ => "NoneType",
                }
            ))));
        }
    };
    let age = match args.str("age") {
        None => None,
        Some(a) => Some(
            parse_unit(
                &a,
                &[
                    ('s', 1),
                    ('m', 60),
                    ('h', 3600),
                    ('d', 86400),
                    ('w', 604800),
                ],
            )
            .ok_or_else(|| {
                Box::new(
                    TaskResult::failed("failed to process age").with("age", Value::str(a.clone())),
                )
            })?,
        ),
    };
    let size = match args.str("size") {
        None => None,
        Some(s) => Some(
            parse_unit(
                &s,
                &[
                    ('b', 1),
                    ('k', 1 << 10),
                    ('m', 1 << 20),
                    ('g', 1 << 30),
                    ('t', 1 << 40),
                ],
            )
            .ok_or_else(|| {
                Box::new(
                    TaskResult::failed("failed to process size")
                        .with("size", Value::str(s.clone())),
                )
            })?,
        ),
    };
    let limit = args.get("limit").and_then(|v| match v {
        Value::Int(i) => i64::try_from(*i).ok(),
        _ => None,
    });
    if let Some(l) = limit.filter(|l| *l <= 0) {
        return Err(Box::new(TaskResult::failed(format!(
            "limit cannot be {l} (use None for unlimited)"
        ))));
    }
    let encoding = args.str("encoding");
    if let Some(e) = &encoding
        && !matches!(
            e.to_lowercase().replace('_', "-").as_str(),
            "utf-8" | "utf8" | "latin-1" | "latin1" | "iso-8859-1"
        )
    {
        return Err(Box::new(TaskResult::failed(format!(
            "encoding `{e}` is not supported by kiln (utf-8 and latin-1 are)"
        ))));
    }
    let contains = match args.str("contains") {
        None => None,
        Some(c) => Some(
            PyRegex::new(&c, false, false, Anchor::Search)
                .map_err(|e| Box::new(TaskResult::failed(e)))?
                .re
                .clone(),
        ),
    };
    Ok(Filters {
        patterns,
        excludes: strings("excludes"),
        use_regex,
        contains,
        read_whole_file: args.bool("read_whole_file"),
        file_type: args.str("file_type").unwrap_or_else(|| "file".into()),
        age,
        age_stamp: args.str("age_stamp").unwrap_or_else(|| "mtime".into()),
        size,
        mode,
        exact_mode: args.bool("exact_mode"),
        hidden: args.bool("hidden"),
        recurse: args.bool("recurse"),
        follow: args.bool("follow"),
        depth: args.get("depth").and_then(|v| match v {
            Value::Int(i) => i64::try_from(*i).ok(),
            _ => None,
        }),
        limit,
        encoding,
    })
}

/// Reads the candidates' content: for each, its length (or -1) on a line, then the bytes.
async fn fetch_contents(
    cx: &TaskCx<'_>,
    files: &[String],
) -> Result<HashMap<String, Content>, TaskResult> {
    let mut out = HashMap::new();
    if files.is_empty() {
        return Ok(out);
    }
    let script: String = files
        .iter()
        .map(|f| {
            let q = quote::quote(f);
            format!(
                "if [ -f {q} ] && [ -r {q} ]; then n=$(wc -c < {q}); printf '%s\\n' $n; cat {q}; else echo -1; fi; "
            )
        })
        .collect();
    let o = cx.sh(script).await.map_err(super::conn_failure)?;
    let mut rest: &[u8] = &o.stdout;
    for f in files {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        let n: i64 = String::from_utf8_lossy(&rest[..nl])
            .trim()
            .parse()
            .unwrap_or(-1);
        rest = &rest[nl + 1..];
        if n < 0 {
            out.insert(f.clone(), Content::Unreadable);
            continue;
        }
        let n = (n as usize).min(rest.len());
        out.insert(f.clone(), Content::Bytes(rest[..n].to_vec()));
        rest = &rest[n..];
    }
    Ok(out)
}

#[async_trait]
impl Module for Find {
    fn name(&self) -> &'static str {
        "find"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let f = match filters(&args) {
            Ok(f) => f,
            Err(r) => return *r,
        };
        let paths: Vec<String> = args
            .list("paths")
            .iter()
            .map(crate::yaml::python_str)
            .collect();
        // Entries one level deeper than `depth` are still listed (and counted) by os.walk.
        let maxdepth = if !f.recurse {
            Some(1)
        } else {
            f.depth.filter(|d| *d > 0).map(|d| d + 1)
        };
        let out = try_conn!(cx.sh(list_script(&paths, f.follow, maxdepth)).await);
        let parsed = parse_listing(&out.stdout, paths.len());
        let mut skipped = Map::new();
        for line in out.stderr_text().lines() {
            // `find: 'X': Permission denied` (LC_ALL=C), as os.walk's error for X.
            if let Some(rest) = line.strip_prefix("find: '")
                && let Some((name, why)) = rest.rsplit_once("': ")
            {
                let errno = match why {
                    "Permission denied" => "[Errno 13] Permission denied",
                    "No such file or directory" => "[Errno 2] No such file or directory",
                    other => other,
                };
                skipped.insert(
                    Value::str(name),
                    Value::str(format!("{errno}: {}", crate::yaml::python_str_repr(name))),
                );
            }
        }
        let no_content = HashMap::new();
        let contents = if f.contains.is_some() {
            let mut gather = Walk {
                f: &f,
                p: &parsed,
                contents: &no_content,
                gathering: true,
                wanted: Vec::new(),
                found: Vec::new(),
                looked: 0,
                msg: "",
            };
            for (i, p) in paths.iter().enumerate() {
                let listing = &parsed.listings[i];
                if listing.is_dir {
                    let _ = gather.visit(listing, &normpath(p), p);
                }
            }
            match fetch_contents(cx, &gather.wanted).await {
                Ok(c) => c,
                Err(r) => return r,
            }
        } else {
            HashMap::new()
        };
        let mut walk = Walk {
            f: &f,
            p: &parsed,
            contents: &contents,
            gathering: false,
            wanted: Vec::new(),
            found: Vec::new(),
            looked: 0,
            msg: "All paths examined",
        };
        let mut warnings = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            let listing = &parsed.listings[i];
            let problem = if !listing.is_dir {
                Some(format!("'{p}' is not a directory"))
            } else {
                walk.visit(listing, &normpath(p), p).err()
            };
            if let Some(why) = problem {
                warnings.push(Value::str(format!(
                    "Skipped '{p}' path due to this access issue: {why}\n"
                )));
                skipped.insert(Value::str(p.clone()), Value::str(why));
            }
        }
        let msg = if warnings.is_empty() {
            walk.msg
        } else {
            "Not all paths examined, check warnings for details"
        };
        let mut files: Vec<Map> = walk
            .found
            .iter()
            .map(|&i| parsed.entries[i].info())
            .collect();
        if args.bool("get_checksum") {
            let algo = args
                .str("checksum_algorithm")
                .unwrap_or_else(|| "sha1".into());
            let regular: Vec<usize> = walk
                .found
                .iter()
                .enumerate()
                .filter(|(_, i)| parsed.entries[**i].is_reg())
                .map(|(n, _)| n)
                .collect();
            if !regular.is_empty() {
                let script: String = regular
                    .iter()
                    .map(|&n| {
                        let q = quote::quote(&parsed.entries[walk.found[n]].raw);
                        format!("s=$({algo}sum < {q}) || s=-; printf '%s\\n' \"${{s%% *}}\"; ")
                    })
                    .collect();
                let out = try_conn!(cx.sh(script).await);
                let text = out.stdout_text();
                for (&n, sum) in regular.iter().zip(text.lines()) {
                    files[n].insert(Value::str("checksum"), Value::str(sum.to_string()));
                }
            }
        }
        let mut r = TaskResult::changed(false).msg(msg);
        let matched = files.len();
        r.data.insert(
            Value::str("files"),
            Value::Seq(files.into_iter().map(Value::Map).collect()),
        );
        r.data
            .insert(Value::str("matched"), Value::Int(matched as i128));
        r.data
            .insert(Value::str("examined"), Value::Int(walk.looked as i128));
        r.data
            .insert(Value::str("skipped_paths"), Value::Map(skipped));
        if !warnings.is_empty() {
            r.data.insert(Value::str("warnings"), Value::Seq(warnings));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_like_python() {
        assert_eq!(normpath("/tmp//x/"), "/tmp/x");
        assert_eq!(normpath("//a/b"), "//a/b");
        assert_eq!(normpath("///a"), "/a");
        assert_eq!(normpath("a/../../b"), "../b");
        assert_eq!(normpath("/../a/./b"), "/a/b");
    }

    #[test]
    fn times_as_python_floats() {
        assert_eq!(py_time("1796147587.5013488530"), 1796147587.5013487);
        assert_eq!(py_time("1700000000"), 1700000000.0);
    }

    #[test]
    fn units() {
        let age = [('s', 1), ('m', 60), ('d', 86400)];
        assert_eq!(parse_unit("2d", &age), Some(172800));
        assert_eq!(parse_unit("-1m", &age), Some(-60));
        assert_eq!(parse_unit("10", &age), Some(10));
        assert_eq!(parse_unit("x", &age), None);
        assert_eq!(parse_unit("1y", &age), None);
    }
}
