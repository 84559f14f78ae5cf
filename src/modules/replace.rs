//! `replace`: every match of a Python regexp (compiled with `re.MULTILINE`, as Ansible does)
//! replaced in a file, optionally only between `after` and `before`; decided and worded as
//! ansible-core 2.19's module.

use super::fileattrs::PathKind;
use super::filecommon::{self, Attrs, FILE_ATTRS, WriteOpts};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::template::filters::regex::{compile_flags, py_subn};
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Replace;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("path", Kind::Path)
            .required()
            .aliases(&["dest", "destfile", "name"]),
        Opt::new("regexp", Kind::Str).required(),
        Opt::new("replace", Kind::Str).default(""),
        Opt::new("after", Kind::Str),
        Opt::new("before", Kind::Str),
        Opt::new("backup", Kind::Bool).default("false"),
        Opt::new("validate", Kind::Str),
        Opt::new("encoding", Kind::Str).default("utf-8"),
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

/// A file's bytes as text in one of the encodings kiln reads (Python's codec names).
pub enum Codec {
    /// UTF-8, with undecodable bytes kept (Python's `surrogateescape`).
    Utf8,
    Latin1,
}

impl Codec {
    pub fn named(name: &str) -> Result<Codec, String> {
        match name.to_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" | "u8" | "ascii" | "us-ascii" => Ok(Codec::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => Ok(Codec::Latin1),
            _ => Err(format!(
                "encoding `{name}` is not supported by kiln (utf-8, ascii and latin-1 are)"
            )),
        }
    }

    pub fn decode(&self, bytes: &[u8]) -> String {
        match self {
            Codec::Utf8 => filecommon::decode_escaped(bytes),
            Codec::Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
        }
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            Codec::Utf8 => Ok(filecommon::encode_escaped(text, true)),
            Codec::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("`{c}` is not latin-1")))
                .collect(),
        }
    }
}

/// The edit itself: the new text and the number of replacements, or why nothing changes.
pub enum Outcome {
    Replaced {
        text: String,
        count: usize,
    },
    Unchanged,
    /// `after`/`before` matched nothing: Ansible stops there with this message.
    NoSection(String),
}

pub fn edit(
    contents: &str,
    regexp: &str,
    replace: &str,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Outcome, String> {
    // Empty strings count as unset, as Python's truthiness does.
    let after = after.filter(|s| !s.is_empty());
    let before = before.filter(|s| !s.is_empty());
    let pattern = match (after, before) {
        (Some(a), Some(b)) => format!("{a}(?P<subsection>.*?){b}"),
        (Some(a), None) => format!("{a}(?P<subsection>.*)"),
        (None, Some(b)) => format!("(?P<subsection>.*){b}"),
        (None, None) => String::new(),
    };
    let (start, end) = if pattern.is_empty() {
        (0, contents.len())
    } else {
        let section = compile_flags(&pattern, false, true)?;
        let found = section
            .captures(contents)
            .map_err(|e| e.to_string())?
            .and_then(|c| c.name("subsection").map(|m| (m.start(), m.end())));
        match found {
            Some(range) => range,
            None => {
                return Ok(Outcome::NoSection(format!(
                    "Pattern for before/after params did not match the given file: {pattern}"
                )));
            }
        }
    };
    let section = &contents[start..end];
    let re = compile_flags(regexp, true, false)
        .map_err(|e| format!("Unable to process replace due to error: {e}"))?;
    let (new, count) = py_subn(&re, replace, section, 0)
        .map_err(|e| format!("Unable to process replace due to error: {e}"))?;
    if count == 0 || new == section {
        return Ok(Outcome::Unchanged);
    }
    Ok(Outcome::Replaced {
        text: format!("{}{new}{}", &contents[..start], &contents[end..]),
        count,
    })
}

#[async_trait]
impl Module for Replace {
    fn name(&self) -> &'static str {
        "replace"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let path = args.str("path").unwrap_or_default();
        let codec = match Codec::named(&args.str("encoding").unwrap_or_default()) {
            Ok(c) => c,
            Err(e) => return TaskResult::failed(e),
        };
        let cur = match filecommon::read(cx, &path).await {
            Ok(c) => c,
            Err(r) => return *r,
        };
        let fail = |rc: i32, msg: String| {
            let mut r = TaskResult::failed(msg);
            r.rc = Some(rc);
            r
        };
        if cur.state.kind == PathKind::Directory {
            return fail(256, format!("Path {path} is a directory !"));
        }
        let Some(bytes) = &cur.content else {
            return fail(257, format!("Path {path} does not exist !"));
        };
        let contents = codec.decode(bytes);
        let outcome = match edit(
            &contents,
            &args.str("regexp").unwrap_or_default(),
            &args.str("replace").unwrap_or_default(),
            args.str("after").as_deref(),
            args.str("before").as_deref(),
        ) {
            Ok(o) => o,
            Err(e) => return TaskResult::failed(e),
        };
        let mut result = TaskResult::changed(false);
        result.rc = Some(0);
        let (text, count) = match outcome {
            Outcome::NoSection(msg) => return result.msg(msg),
            Outcome::Unchanged => (None, 0),
            Outcome::Replaced { text, count } => (Some(text), count),
        };
        let attrs = Attrs::from_args(&args);
        let fix = match filecommon::attr_cmds(&cur.real, &cur.state, &attrs) {
            Ok(c) => c,
            Err(r) => return *r,
        };
        let mut msg = String::new();
        if let Some(text) = text {
            msg = format!("{count} replacements made");
            result.changed = true;
            if cx.diff_mode {
                result.diff.push(Diff {
                    before_header: path.clone(),
                    after_header: path.clone(),
                    before: contents.clone(),
                    after: text.clone(),
                });
            }
            if !cx.check_mode {
                let bytes = match codec.encode(&text) {
                    Ok(b) => b,
                    Err(e) => return TaskResult::failed(e),
                };
                let opts = WriteOpts {
                    attrs: &attrs,
                    validate: args.str("validate"),
                    backup: args.bool("backup"),
                    make_parent: false,
                };
                match filecommon::write(cx, &cur.real, &cur.state, bytes, &opts).await {
                    Ok(Some(b)) => {
                        result.data.insert(Value::str("backup_file"), Value::str(b));
                    }
                    Ok(None) => {}
                    Err(r) => return *r,
                }
            }
        } else if let Err(r) = filecommon::apply_attrs(cx, &fix).await {
            return *r;
        }
        if !fix.is_empty() {
            msg = filecommon::attrs_message(&msg, result.changed);
            result.changed = true;
        }
        result.msg(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, re: &str, rep: &str, after: Option<&str>, before: Option<&str>) -> String {
        match edit(text, re, rep, after, before).expect("edit") {
            Outcome::Replaced { text, .. } => text,
            Outcome::Unchanged => text.to_string(),
            Outcome::NoSection(m) => m,
        }
    }

    #[test]
    fn multiline_anchors_and_backrefs() {
        assert_eq!(
            run(
                "port=80\nhost=a\n",
                r"^port=(\d+)$",
                r"port=\g<1>0",
                None,
                None
            ),
            "port=800\nhost=a\n"
        );
        assert_eq!(
            run("a b\nc d\n", r"^(\w) (\w)$", r"\2 \1", None, None),
            "b a\nd c\n"
        );
    }

    #[test]
    fn only_between_after_and_before() {
        let t = "x=1\n[s]\nx=1\n[t]\nx=1\n";
        assert_eq!(
            run(t, "^x=1$", "x=2", Some(r"\[s\]"), Some(r"\[t\]")),
            "x=1\n[s]\nx=2\n[t]\nx=1\n"
        );
        assert_eq!(
            run(t, "^x=1$", "x=2", Some(r"\[t\]"), None),
            "x=1\n[s]\nx=1\n[t]\nx=2\n"
        );
        assert!(run(t, "x", "y", Some("nomatch"), None).starts_with("Pattern for before/after"));
    }

    #[test]
    fn same_text_is_no_change() {
        assert!(matches!(
            edit("a\n", "a", "a", None, None),
            Ok(Outcome::Unchanged)
        ));
    }
}
