//! `blockinfile`: a block of lines between two marker lines, inserted, updated or removed;
//! the file is edited as bytes and laid out exactly as ansible-core 2.19's module does
//! (markers, `insertafter`/`insertbefore` regexps, `BOF`/`EOF`, blank lines around the block).

use super::fileattrs::PathKind;
use super::filecommon::{self, Attrs, FILE_ATTRS, WriteOpts};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::template::filters::regex::{compile_flags, py_subn};
use crate::yaml::Value;
use async_trait::async_trait;

pub struct BlockInFile;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("path", Kind::Path)
            .required()
            .aliases(&["dest", "destfile", "name"]),
        Opt::new("state", Kind::Str)
            .default("present")
            .choices(&["absent", "present"]),
        Opt::new("marker", Kind::Str).default("# {mark} ANSIBLE MANAGED BLOCK"),
        Opt::new("block", Kind::Str)
            .default("")
            .aliases(&["content"]),
        Opt::new("insertafter", Kind::Str),
        Opt::new("insertbefore", Kind::Str),
        Opt::new("create", Kind::Bool).default("false"),
        Opt::new("backup", Kind::Bool).default("false"),
        Opt::new("validate", Kind::Str),
        Opt::new("marker_begin", Kind::Str).default("BEGIN"),
        Opt::new("marker_end", Kind::Str).default("END"),
        Opt::new("append_newline", Kind::Bool).default("false"),
        Opt::new("prepend_newline", Kind::Bool).default("false"),
        FILE_ATTRS[0],
        FILE_ATTRS[1],
        FILE_ATTRS[2],
        FILE_ATTRS[3],
    ],
    mutually_exclusive: &[&["insertbefore", "insertafter"]],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// What the task asks for.
pub struct Want<'a> {
    pub present: bool,
    pub block: &'a str,
    pub marker: &'a str,
    pub marker_begin: &'a str,
    pub marker_end: &'a str,
    pub insertafter: Option<&'a str>,
    pub insertbefore: Option<&'a str>,
    pub append_newline: bool,
    pub prepend_newline: bool,
}

/// Python's `bytes.splitlines(keepends=True)`: lines end at `\n`, `\r\n` or a lone `\r`.
fn splitlines(b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'\n' => Some(i + 1),
            b'\r' if b.get(i + 1) == Some(&b'\n') => Some(i + 2),
            b'\r' => Some(i + 1),
            _ => None,
        };
        if let Some(e) = end {
            out.push(b[start..e].to_vec());
            start = e;
            i = e;
        } else {
            i += 1;
        }
    }
    if start < b.len() {
        out.push(b[start..].to_vec());
    }
    out
}

/// `re.sub(r'{mark}', repl, marker)`: the replacement's escapes are Python's.
fn mark(marker: &str, repl: &str) -> Result<Vec<u8>, String> {
    let re = compile_flags(r"\{mark\}", false, false)?;
    let (s, _) = py_subn(&re, repl, marker, 0)?;
    let mut b = s.into_bytes();
    b.push(b'\n');
    Ok(b)
}

/// Whether a Python pattern sets MULTILINE with global inline flags at its start (`(?m)`).
fn sets_multiline(p: &str) -> bool {
    p.strip_prefix("(?")
        .and_then(|r| r.split_once(')'))
        .is_some_and(|(flags, _)| {
            !flags.is_empty() && flags.chars().all(|c| "aiLmsux".contains(c)) && flags.contains('m')
        })
}

/// The new content for `original` (None: the file does not exist).
pub fn edit(original: Option<&[u8]>, want: &Want<'_>) -> Result<Vec<u8>, String> {
    let mut lines = original.map(splitlines).unwrap_or_default();
    let mut insertafter = want.insertafter;
    let insertbefore = want.insertbefore;
    if insertbefore.is_none() && insertafter.is_none() {
        insertafter = Some("EOF");
    }
    let insert_pattern = match (insertafter, insertbefore) {
        (Some(a), _) if a != "EOF" => Some(a),
        (None, Some(b)) if b != "BOF" => Some(b),
        _ => None,
    };
    let insertre = insert_pattern
        .map(|p| compile_flags(p, false, false))
        .transpose()?;
    let marker0 = mark(want.marker, want.marker_begin)?;
    let marker1 = mark(want.marker, want.marker_end)?;
    let blocklines: Vec<Vec<u8>> = if want.present && !want.block.is_empty() {
        let mut block = want.block.as_bytes().to_vec();
        if !block.ends_with(b"\n") {
            block.push(b'\n');
        }
        let mut v = vec![marker0.clone()];
        v.extend(splitlines(&block));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };
    let (mut n0, mut n1) = (None, None);
    for (i, line) in lines.iter().enumerate() {
        if *line == marker0 {
            n0 = Some(i);
        }
        if *line == marker1 {
            n1 = Some(i);
        }
    }
    let mut at = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => {
            if let Some(re) = &insertre {
                let mut found = None;
                if insert_pattern.is_some_and(sets_multiline) {
                    let text = filecommon::decode_escaped(original.unwrap_or_default());
                    if let Some(m) = re.find(&text).map_err(|e| e.to_string())? {
                        let upto = if insertafter.is_some() {
                            m.end()
                        } else {
                            m.start()
                        };
                        found = Some(text[..upto].matches('\n').count());
                    }
                } else {
                    for (i, line) in lines.iter().enumerate() {
                        let text = filecommon::decode_escaped(line);
                        // Python's `$` also matches before a final newline.
                        if re.is_match(&text).map_err(|e| e.to_string())? {
                            found = Some(i);
                        }
                    }
                }
                match found {
                    None => lines.len(),
                    Some(i) if insertafter.is_some() => i + 1,
                    Some(i) => i,
                }
            } else if insertbefore.is_some() {
                0
            } else {
                lines.len()
            }
        }
    };
    if at > 0 && !lines[at - 1].ends_with(b"\n") {
        lines[at - 1].push(b'\n');
    }
    if want.prepend_newline && want.present && at != 0 && lines[at - 1] != b"\n" {
        lines.insert(at, b"\n".to_vec());
        at += 1;
    }
    let after_block = at + blocklines.len();
    lines.splice(at..at, blocklines);
    if want.append_newline
        && want.present
        && after_block < lines.len()
        && lines[after_block] != b"\n"
    {
        lines.insert(after_block, b"\n".to_vec());
    }
    Ok(lines.concat())
}

#[async_trait]
impl Module for BlockInFile {
    fn name(&self) -> &'static str {
        "blockinfile"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let path = args.str("path").unwrap_or_default();
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
        let exists = cur.state.kind != PathKind::Absent;
        let present = args.str("state").as_deref() != Some("absent");
        if !exists && !args.bool("create") {
            return fail(257, format!("Path {path} does not exist !"));
        }
        if !present && !exists {
            return TaskResult::changed(false).msg(format!("File {path} not present"));
        }
        let s = |k: &str| args.str(k).unwrap_or_default();
        let (block, marker, begin, end) =
            (s("block"), s("marker"), s("marker_begin"), s("marker_end"));
        let (ia, ib) = (args.str("insertafter"), args.str("insertbefore"));
        let want = Want {
            present,
            block: &block,
            marker: &marker,
            marker_begin: &begin,
            marker_end: &end,
            insertafter: ia.as_deref(),
            insertbefore: ib.as_deref(),
            append_newline: args.bool("append_newline"),
            prepend_newline: args.bool("prepend_newline"),
        };
        let original = cur.content.as_deref();
        let new = match edit(original, &want) {
            Ok(n) => n,
            Err(e) => return TaskResult::failed(e),
        };
        let (changed, msg) = match original {
            Some(o) if o == new.as_slice() => (false, ""),
            None if !exists => (true, "File created"),
            _ if !present || (block.is_empty()) => (true, "Block removed"),
            _ => (true, "Block inserted"),
        };
        let mut result = TaskResult::changed(changed);
        if cx.diff_mode && changed {
            result.diff.push(Diff {
                before_header: format!("{path} (content)"),
                after_header: format!("{path} (content)"),
                before: String::from_utf8_lossy(original.unwrap_or_default()).into_owned(),
                after: String::from_utf8_lossy(&new).into_owned(),
            });
        }
        let attrs = Attrs::from_args(&args);
        let mut state = cur.state.clone();
        if changed && !cx.check_mode {
            // A new file is written plain and then given its attributes, so that the message
            // says they changed, as Ansible's does.
            let plain = Attrs {
                mode: None,
                owner: None,
                group: None,
            };
            let opts = WriteOpts {
                attrs: if exists { &attrs } else { &plain },
                validate: args.str("validate"),
                backup: args.bool("backup"),
                make_parent: true,
            };
            match filecommon::write(cx, &cur.real, &cur.state, new, &opts).await {
                Ok(Some(b)) => {
                    result.data.insert(Value::str("backup_file"), Value::str(b));
                }
                Ok(None) => {}
                Err(r) => return *r,
            }
            if !exists && attrs.any() {
                state = match filecommon::stat(cx, &cur.real).await {
                    Ok(s) => s,
                    Err(r) => return *r,
                };
            }
        }
        if cx.check_mode && !exists {
            return result.msg(msg);
        }
        let fix = match filecommon::attr_cmds(&cur.real, &state, &attrs) {
            Ok(c) => c,
            Err(r) => return *r,
        };
        if (!changed || !exists)
            && let Err(r) = filecommon::apply_attrs(cx, &fix).await
        {
            return *r;
        }
        if fix.is_empty() {
            result.msg(msg)
        } else {
            result.changed = true;
            result.msg(filecommon::attrs_message(msg, changed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want<'a>(block: &'a str) -> Want<'a> {
        Want {
            present: true,
            block,
            marker: "# {mark} ANSIBLE MANAGED BLOCK",
            marker_begin: "BEGIN",
            marker_end: "END",
            insertafter: None,
            insertbefore: None,
            append_newline: false,
            prepend_newline: false,
        }
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).expect("utf-8")
    }

    #[test]
    fn appends_then_updates_in_place() {
        let once = text(edit(Some(b"a\nb"), &want("x=1")).expect("edit"));
        assert_eq!(
            once,
            "a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\n"
        );
        let twice = text(edit(Some(once.as_bytes()), &want("x=2\ny=3\n")).expect("edit"));
        assert_eq!(
            twice,
            "a\nb\n# BEGIN ANSIBLE MANAGED BLOCK\nx=2\ny=3\n# END ANSIBLE MANAGED BLOCK\n"
        );
        let removed = text(edit(Some(twice.as_bytes()), &want("")).expect("edit"));
        assert_eq!(removed, "a\nb\n");
    }

    #[test]
    fn insert_positions_and_blank_lines() {
        let w = Want {
            insertbefore: Some("BOF"),
            ..want("top")
        };
        assert!(text(edit(Some(b"a\n"), &w).expect("edit")).ends_with("BLOCK\na\n"));
        let w = Want {
            insertafter: Some("^a"),
            prepend_newline: true,
            append_newline: true,
            ..want("mid")
        };
        assert_eq!(
            text(edit(Some(b"a\nb\n"), &w).expect("edit")),
            "a\n\n# BEGIN ANSIBLE MANAGED BLOCK\nmid\n# END ANSIBLE MANAGED BLOCK\n\nb\n"
        );
        let w = Want {
            insertbefore: Some("(?m)^b"),
            ..want("mid")
        };
        assert_eq!(
            text(edit(Some(b"a\nb\n"), &w).expect("edit")),
            "a\n# BEGIN ANSIBLE MANAGED BLOCK\nmid\n# END ANSIBLE MANAGED BLOCK\nb\n"
        );
    }

    #[test]
    fn crlf_lines_are_kept() {
        assert_eq!(
            splitlines(b"a\r\nb\rc\n"),
            [b"a\r\n".to_vec(), b"b\r".to_vec(), b"c\n".to_vec()]
        );
    }
}
