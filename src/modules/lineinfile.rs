//! `lineinfile`: make sure one line is (or is not) in a file, found by a Python-`re` regexp
//! (lookarounds included, through fancy-regex and the templating's Python translation), a
//! plain search string or the line itself.
//! Insertion rules follow ansible-core 2.19's module exactly (tested against it).

use super::fileattrs::{attr_changes, parse_stat, stat_script};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::{BACKUP_MARKER, Input, PutOptions, VALIDATE_MARKER, quote};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use fancy_regex::{Captures, Regex};

pub struct LineInFile;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("path", Kind::Path)
            .required()
            .aliases(&["dest", "destfile", "name"]),
        Opt::new("state", Kind::Str)
            .default("present")
            .choices(&["absent", "present"]),
        Opt::new("regexp", Kind::Str).aliases(&["regex"]),
        Opt::new("search_string", Kind::Str),
        Opt::new("line", Kind::Str).aliases(&["value"]),
        Opt::new("insertafter", Kind::Str),
        Opt::new("insertbefore", Kind::Str),
        Opt::new("backrefs", Kind::Bool).default("false"),
        Opt::new("create", Kind::Bool).default("false"),
        Opt::new("backup", Kind::Bool).default("false"),
        Opt::new("firstmatch", Kind::Bool).default("false"),
        Opt::new("validate", Kind::Str),
        Opt::new("mode", Kind::Mode),
        Opt::new("owner", Kind::Str),
        Opt::new("group", Kind::Str),
        Opt::new("unsafe_writes", Kind::Bool).default("false"),
    ],
    mutually_exclusive: &[
        &["insertbefore", "insertafter"],
        &["regexp", "search_string"],
        &["backrefs", "search_string"],
    ],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// Python's `re.search` on one line read with `readlines()`: `$` also matches before the
/// line's final newline, so the pattern is tried on the line without it.
fn search<'t>(re: &Regex, line: &'t str) -> Option<Captures<'t>> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    re.captures(body).ok().flatten()
}

/// A Python pattern in fancy-regex syntax (`\Z`, `(?P=name)`, `{,n}`, ...), as the
/// templating's regex filters translate it.
fn compile(pattern: &str) -> Result<Regex, String> {
    crate::template::filters::regex::compile_flags(pattern, false, false)
}

/// `match.expand(template)`: `\1`, `\g<1>`, `\g<name>` and the usual escapes.
fn expand(caps: &Captures<'_>, template: &str) -> String {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        match n {
            '0'..='9' => {
                let mut j = i + 1;
                let mut num = String::new();
                while j < chars.len() && chars[j].is_ascii_digit() && num.len() < 2 {
                    num.push(chars[j]);
                    j += 1;
                }
                if let Ok(g) = num.parse::<usize>() {
                    out.push_str(caps.get(g).map_or("", |m| m.as_str()));
                }
                i = j;
            }
            'g' if chars.get(i + 2) == Some(&'<') => {
                let end = chars[i + 3..]
                    .iter()
                    .position(|&c| c == '>')
                    .map(|p| i + 3 + p);
                if let Some(end) = end {
                    let name: String = chars[i + 3..end].iter().collect();
                    let text = match name.parse::<usize>() {
                        Ok(g) => caps.get(g).map(|m| m.as_str()),
                        Err(_) => caps.name(&name).map(|m| m.as_str()),
                    };
                    out.push_str(text.unwrap_or(""));
                    i = end + 1;
                } else {
                    out.push_str("\\g");
                    i += 2;
                }
            }
            'n' => {
                out.push('\n');
                i += 2;
            }
            't' => {
                out.push('\t');
                i += 2;
            }
            '\\' => {
                out.push('\\');
                i += 2;
            }
            other => {
                out.push('\\');
                out.push(other);
                i += 2;
            }
        }
    }
    out
}

/// Python's `readlines()`: split after each `\n`, keeping it.
fn readlines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

fn strip_eol(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

pub struct Edit {
    pub lines: Vec<String>,
    pub changed: bool,
    pub msg: String,
    pub found: Option<usize>,
}

/// What `state: present` asks for: the line, how to find where it goes.
#[derive(Default)]
pub struct Wanted<'a> {
    pub regexp: Option<&'a str>,
    pub search_string: Option<&'a str>,
    pub line: &'a str,
    pub insertafter: Option<&'a str>,
    pub insertbefore: Option<&'a str>,
    pub backrefs: bool,
    pub firstmatch: bool,
}

/// The `present` algorithm of ansible-core 2.19's lineinfile.
pub fn present(mut lines: Vec<String>, want: &Wanted<'_>) -> Result<Edit, String> {
    let Wanted {
        regexp,
        search_string,
        line,
        insertafter,
        insertbefore,
        backrefs,
        firstmatch,
    } = *want;
    let bre_m = regexp.map(compile).transpose()?;
    let bre_ins = match (insertafter, insertbefore) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(compile(a)?),
        (_, Some(b)) if b != "BOF" => Some(compile(b)?),
        _ => None,
    };
    let mut index: [i64; 2] = [-1, -1];
    let mut matched = false;
    let mut new_line = line.to_string();
    let mut exact = false;
    if let Some(re) = &bre_m {
        for (n, cur) in lines.iter().enumerate() {
            if let Some(caps) = search(re, cur) {
                index[0] = n as i64;
                matched = true;
                new_line = if backrefs {
                    expand(&caps, line)
                } else {
                    line.to_string()
                };
                if firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = search_string {
        for (n, cur) in lines.iter().enumerate() {
            if cur.contains(s) {
                index[0] = n as i64;
                matched = true;
                if firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (n, cur) in lines.iter().enumerate() {
            if line == strip_eol(cur) {
                index[0] = n as i64;
                exact = true;
            } else if bre_ins.as_ref().is_some_and(|re| search(re, cur).is_some()) {
                if insertafter.is_some() {
                    index[1] = n as i64 + 1;
                    if firstmatch {
                        break;
                    }
                }
                if insertbefore.is_some() {
                    index[1] = n as i64;
                    if firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let mut changed = false;
    let mut msg = String::new();
    let add = |lines: &mut Vec<String>, at: usize, msg: &mut String, changed: &mut bool| {
        lines.insert(at, format!("{line}\n"));
        *msg = "line added".into();
        *changed = true;
    };
    let ends_without_newline =
        |lines: &Vec<String>| lines.last().is_some_and(|l| !l.ends_with(['\n', '\r']));
    if index[0] != -1 {
        if !(backrefs && matched) {
            new_line = line.to_string();
        }
        if !new_line.ends_with('\n') {
            new_line.push('\n');
        }
        if regexp.is_none() && search_string.is_none() && !matched && !exact {
            if let Some(a) = insertafter.filter(|a| *a != "EOF") {
                let _ = a;
                if ends_without_newline(&lines)
                    && let Some(last) = lines.last_mut()
                {
                    last.push('\n');
                }
                let i = index[1].max(0) as usize;
                if lines.len() == i {
                    if i == 0 || strip_eol(&lines[i - 1]) != line {
                        add(&mut lines, i, &mut msg, &mut changed);
                    }
                } else if strip_eol(&lines[i]) != line {
                    add(&mut lines, i, &mut msg, &mut changed);
                }
            } else if insertbefore.is_some_and(|b| b != "BOF") {
                let i = index[1];
                if i <= 0 {
                    let at = i.max(0) as usize;
                    if lines.get(at).is_none_or(|l| strip_eol(l) != line) {
                        add(&mut lines, at, &mut msg, &mut changed);
                    }
                } else if strip_eol(&lines[i as usize - 1]) != line {
                    add(&mut lines, i as usize, &mut msg, &mut changed);
                }
            }
        } else if lines[index[0] as usize] != new_line {
            lines[index[0] as usize] = new_line;
            msg = "line replaced".into();
            changed = true;
        }
    } else if backrefs {
        // With backrefs, a regexp that matches nothing leaves the file alone.
    } else if insertbefore == Some("BOF") || insertafter == Some("BOF") {
        add(&mut lines, 0, &mut msg, &mut changed);
    } else if insertafter == Some("EOF") || index[1] == -1 {
        if ends_without_newline(&lines) {
            lines.push("\n".into());
        }
        let at = lines.len();
        add(&mut lines, at, &mut msg, &mut changed);
    } else if insertafter.is_some() && index[1] != -1 {
        let i = index[1] as usize;
        if lines.len() == i {
            if strip_eol(&lines[i - 1]) != line {
                add(&mut lines, i, &mut msg, &mut changed);
            }
        } else if line != strip_eol(&lines[i]) {
            add(&mut lines, i, &mut msg, &mut changed);
        }
    } else {
        add(&mut lines, index[1] as usize, &mut msg, &mut changed);
    }
    Ok(Edit {
        lines,
        changed,
        msg,
        found: None,
    })
}

/// The `absent` algorithm: drop every matching line.
pub fn absent(
    lines: Vec<String>,
    regexp: Option<&str>,
    search_string: Option<&str>,
    line: &str,
) -> Result<Edit, String> {
    let re = regexp.map(compile).transpose()?;
    let mut found = 0;
    let kept: Vec<String> = lines
        .into_iter()
        .filter(|cur| {
            let hit = match (&re, search_string) {
                (Some(re), _) => search(re, cur).is_some(),
                (None, Some(s)) => cur.contains(s),
                (None, None) => line == strip_eol(cur),
            };
            found += hit as usize;
            !hit
        })
        .collect();
    Ok(Edit {
        lines: kept,
        changed: found > 0,
        msg: if found > 0 {
            format!("{found} line(s) removed")
        } else {
            String::new()
        },
        found: Some(found),
    })
}

#[async_trait]
impl Module for LineInFile {
    fn name(&self) -> &'static str {
        "lineinfile"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let path = args.str("path").unwrap_or_default();
        let q = quote::quote(&path);
        let regexp = args.str("regexp");
        let search_string = args.str("search_string");
        let line = args.str("line");
        let state_present = args.str("state").as_deref() != Some("absent");
        if state_present && line.is_none() {
            return TaskResult::failed("line is required with state=present");
        }
        if !state_present && regexp.is_none() && search_string.is_none() && line.is_none() {
            return TaskResult::failed(
                "one of line, search_string, or regexp is required with state=absent",
            );
        }
        if args.bool("backrefs") && regexp.is_none() {
            return TaskResult::failed("regexp is required with backrefs=true");
        }
        let out = try_conn!(
            cx.sh(format!(
                "{}; echo __kiln_content__; [ -f {q} ] && cat {q}",
                stat_script(&path)
            ))
            .await
        );
        let text = out.stdout_text();
        let (head, body) = text.split_once("__kiln_content__\n").unwrap_or((&text, ""));
        let state = parse_stat(head);
        let exists = state.kind != super::fileattrs::PathKind::Absent;
        if !exists {
            if !state_present {
                return TaskResult::changed(false).msg("file not present");
            }
            if !args.bool("create") {
                let mut r = TaskResult::failed(format!("Destination {path} does not exist !"));
                r.rc = Some(257);
                return r;
            }
        }
        let lines = readlines(body);
        let line_text = line.clone().unwrap_or_default();
        let edit = if state_present {
            present(
                lines,
                &Wanted {
                    regexp: regexp.as_deref(),
                    search_string: search_string.as_deref(),
                    line: &line_text,
                    insertafter: args.str("insertafter").as_deref(),
                    insertbefore: args.str("insertbefore").as_deref(),
                    backrefs: args.bool("backrefs"),
                    firstmatch: args.bool("firstmatch"),
                },
            )
        } else {
            absent(
                lines,
                regexp.as_deref(),
                search_string.as_deref(),
                &line_text,
            )
        };
        let edit = match edit {
            Ok(e) => e,
            Err(e) => return TaskResult::failed(e),
        };
        let mut result = TaskResult::changed(edit.changed).msg(edit.msg.clone());
        let after = edit.lines.concat();
        if cx.diff_mode && edit.changed {
            result.diff.push(Diff {
                before_header: format!("{path} (content)"),
                after_header: format!("{path} (content)"),
                before: body.to_string(),
                after: after.clone(),
            });
        }
        let owner = args.str("owner");
        let group = args.str("group");
        let mode = args.get("mode");
        if edit.changed && !cx.check_mode {
            if !exists {
                let parent = crate::connection::parent_dir(&path);
                try_conn!(cx.sh(format!("mkdir -p {}", quote::quote(&parent))).await);
            }
            let mut on_temp = Vec::new();
            if let Some(m) = mode {
                match super::fileattrs::resolve_mode(
                    m,
                    if exists { state.mode } else { 0o644 },
                    false,
                ) {
                    Ok(v) => on_temp.push(format!("chmod {v:04o} \"$t\"")),
                    Err(e) => return TaskResult::failed(e),
                }
            }
            if let Some(o) = &owner {
                on_temp.push(format!("chown {} \"$t\"", quote::quote(o)));
            }
            if let Some(g) = &group {
                on_temp.push(format!("chgrp {} \"$t\"", quote::quote(g)));
            }
            let opts = PutOptions {
                validate: args.str("validate"),
                on_temp,
                backup: args.bool("backup") && exists,
            };
            let out = try_conn!(cx.put(Input::Bytes(after.into_bytes()), &path, &opts).await);
            let stdout = out.stdout_text();
            if stdout.contains(VALIDATE_MARKER) {
                return TaskResult::failed(format!(
                    "failed to validate: {}",
                    out.stderr_text().trim()
                ));
            }
            if out.rc != 0 {
                return TaskResult::failed(format!(
                    "could not write `{path}`: {}",
                    out.stderr_text().trim()
                ));
            }
            if let Some(b) = stdout.lines().find_map(|l| l.strip_prefix(BACKUP_MARKER)) {
                result
                    .data
                    .insert(Value::str("backup"), Value::str(b.to_string()));
            }
        } else if exists {
            let (cmds, _) = match attr_changes(
                &path,
                &state,
                mode,
                owner.as_deref(),
                group.as_deref(),
                true,
            ) {
                Ok(c) => c,
                Err(e) => return TaskResult::failed(e),
            };
            if !cmds.is_empty() {
                if !cx.check_mode {
                    let out = try_conn!(cx.sh(cmds.join(" && ")).await);
                    if out.rc != 0 {
                        return TaskResult::failed(out.stderr_text().trim().to_string());
                    }
                }
                result.changed = true;
                let note = "ownership, perms or SE linux context changed";
                result.msg = Some(if edit.msg.is_empty() {
                    note.to_string()
                } else {
                    format!("{} and {note}", edit.msg)
                });
            }
        }
        if let Some(found) = edit.found {
            result
                .data
                .insert(Value::str("found"), Value::Int(found as i128));
        }
        result.data.insert(
            Value::str("backup"),
            result
                .data
                .get(&Value::str("backup"))
                .cloned()
                .unwrap_or(Value::str("")),
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        readlines(s)
    }

    #[test]
    fn replace_by_regexp_with_lookahead() {
        let e = present(
            lines("a=1\nb=2\n"),
            &Wanted {
                regexp: Some(r"^b=(?!3)"),
                search_string: None,
                line: "b=3",
                insertafter: None,
                insertbefore: None,
                backrefs: false,
                firstmatch: false,
            },
        )
        .unwrap();
        assert_eq!(e.lines.concat(), "a=1\nb=3\n");
        assert!(e.changed);
    }

    #[test]
    fn add_at_eof_once() {
        let e = present(
            lines("x\n"),
            &Wanted {
                regexp: None,
                search_string: None,
                line: "debug=false",
                insertafter: None,
                insertbefore: None,
                backrefs: false,
                firstmatch: false,
            },
        )
        .unwrap();
        assert_eq!(e.lines.concat(), "x\ndebug=false\n");
        let again = present(
            e.lines,
            &Wanted {
                regexp: None,
                search_string: None,
                line: "debug=false",
                insertafter: None,
                insertbefore: None,
                backrefs: false,
                firstmatch: false,
            },
        )
        .unwrap();
        assert!(!again.changed);
    }

    #[test]
    fn backrefs() {
        let e = present(
            lines("port=80\n"),
            &Wanted {
                regexp: Some(r"^port=(\d+)$"),
                search_string: None,
                line: r"port=\g<1>0",
                insertafter: None,
                insertbefore: None,
                backrefs: true,
                firstmatch: false,
            },
        )
        .unwrap();
        assert_eq!(e.lines.concat(), "port=800\n");
    }

    #[test]
    fn insertafter_regexp() {
        let e = present(
            lines("[a]\nx=1\n[b]\n"),
            &Wanted {
                regexp: None,
                search_string: None,
                line: "y=2",
                insertafter: Some(r"^\[a\]"),
                insertbefore: None,
                backrefs: false,
                firstmatch: false,
            },
        )
        .unwrap();
        assert_eq!(e.lines.concat(), "[a]\ny=2\nx=1\n[b]\n");
    }
}
