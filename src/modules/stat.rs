//! `stat`: facts about a path, in Ansible's `stat` result shape.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::try_conn;
use crate::yaml::{Map, Value};
use async_trait::async_trait;

pub struct Stat;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("path", Kind::Path)
            .required()
            .aliases(&["dest", "name"]),
        Opt::new("follow", Kind::Bool).default("false"),
        Opt::new("get_checksum", Kind::Bool).default("true"),
        Opt::new("checksum_algorithm", Kind::Str)
            .default("sha1")
            .aliases(&["checksum", "checksum_algo"])
            .choices(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
        Opt::new("get_mime", Kind::Bool).default("true").aliases(&[
            "mime",
            "mime_type",
            "mime-type",
        ]),
        Opt::new("get_attributes", Kind::Bool)
            .default("true")
            .aliases(&["attr", "attributes"]),
        Opt::new("get_selinux_context", Kind::Bool).default("false"),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Stat {
    fn name(&self) -> &'static str {
        "stat"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let path = args.str("path").unwrap_or_default();
        let q = quote::quote(&path);
        let l = if args.bool("follow") { "-L " } else { "" };
        let algo = args
            .str("checksum_algorithm")
            .unwrap_or_else(|| "sha1".into());
        let sum = if args.bool("get_checksum") {
            format!(
                "if [ -f {q} ] && [ -r {q} ]; then {algo}sum {q} | cut -d' ' -f1; else echo; fi"
            )
        } else {
            "echo".into()
        };
        let script = format!(
            "if [ -e {q} ] || [ -L {q} ]; then stat {l}-c '%F|%a|%U|%G|%s|%u|%g|%Y|%X|%Z|%i|%d|%h' {q}; \
             {sum}; readlink -f {q} 2>/dev/null || echo; readlink {q} 2>/dev/null || echo; \
             p=''; [ -r {q} ] && p=${{p}}r; [ -w {q} ] && p=${{p}}w; [ -x {q} ] && p=${{p}}x; echo \"$p\"; \
             else echo absent; fi"
        );
        let out = try_conn!(cx.sh(script).await);
        let text = out.stdout_text();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("absent");
        let mut st = Map::new();
        let mut put = |k: &str, v: Value| {
            st.insert(Value::str(k), v);
        };
        if first == "absent" {
            put("exists", Value::Bool(false));
            return TaskResult::changed(false).with("stat", Value::Map(st));
        }
        let f: Vec<&str> = first.split('|').collect();
        let field = |i: usize| f.get(i).copied().unwrap_or("");
        let num = |i: usize| Value::Int(field(i).parse::<i128>().unwrap_or(0));
        let kind = field(0);
        let mode = u32::from_str_radix(field(1), 8).unwrap_or(0);
        let checksum = lines.next().unwrap_or("").trim().to_string();
        let real = lines.next().unwrap_or("").to_string();
        let link_target = lines.next().unwrap_or("").to_string();
        let access = lines.next().unwrap_or("").to_string();
        put("exists", Value::Bool(true));
        put("path", Value::str(path.clone()));
        put("mode", Value::str(format!("{mode:04o}")));
        put("isdir", Value::Bool(kind == "directory"));
        put("isreg", Value::Bool(kind.starts_with("regular")));
        put("islnk", Value::Bool(kind == "symbolic link"));
        put("isblk", Value::Bool(kind == "block special file"));
        put("ischr", Value::Bool(kind == "character special file"));
        put("isfifo", Value::Bool(kind == "fifo"));
        put("issock", Value::Bool(kind == "socket"));
        put("pw_name", Value::str(field(2).to_string()));
        put("gr_name", Value::str(field(3).to_string()));
        put("size", num(4));
        put("uid", num(5));
        put("gid", num(6));
        put("mtime", num(7));
        put("atime", num(8));
        put("ctime", num(9));
        put("inode", num(10));
        put("dev", num(11));
        put("nlink", num(12));
        for (name, bit) in [
            ("rusr", 0o400),
            ("wusr", 0o200),
            ("xusr", 0o100),
            ("rgrp", 0o040),
            ("wgrp", 0o020),
            ("xgrp", 0o010),
            ("roth", 0o004),
            ("woth", 0o002),
            ("xoth", 0o001),
            ("isuid", 0o4000),
            ("isgid", 0o2000),
        ] {
            put(name, Value::Bool(mode & bit != 0));
        }
        put("readable", Value::Bool(access.contains('r')));
        put("writeable", Value::Bool(access.contains('w')));
        put("executable", Value::Bool(access.contains('x')));
        if !checksum.is_empty() {
            put("checksum", Value::str(checksum));
        }
        if kind == "symbolic link" {
            put("lnk_source", Value::str(real));
            put("lnk_target", Value::str(link_target));
        }
        TaskResult::changed(false).with("stat", Value::Map(st))
    }
}
