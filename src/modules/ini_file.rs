//! `ini_file` (community.general): one option (or several values of it) in a section of an
//! INI file, added, changed or removed, or a whole section; the file is laid out line for
//! line as community.general's module lays it out (its current algorithm, including the
//! blank first line of a file it creates).

use super::fileattrs::PathKind;
use super::filecommon::{self, Attrs, FILE_ATTRS, WriteOpts};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::template::filters::regex::{compile_flags, py_escape};
use crate::yaml::Value;
use async_trait::async_trait;
use fancy_regex::Regex;

pub struct IniFile;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("path", Kind::Path).required().aliases(&["dest"]),
        Opt::new("section", Kind::Str),
        Opt::new("section_has_values", Kind::List).elements(Kind::Dict),
        Opt::new("option", Kind::Str),
        Opt::new("value", Kind::Str),
        Opt::new("values", Kind::List).elements(Kind::Str),
        Opt::new("backup", Kind::Bool).default("false"),
        Opt::new("state", Kind::Str)
            .default("present")
            .choices(&["absent", "present"]),
        Opt::new("exclusive", Kind::Bool).default("true"),
        Opt::new("no_extra_spaces", Kind::Bool).default("false"),
        Opt::new("ignore_spaces", Kind::Bool).default("false"),
        Opt::new("allow_no_value", Kind::Bool).default("false"),
        Opt::new("modify_inactive_option", Kind::Bool).default("true"),
        Opt::new("create", Kind::Bool).default("true"),
        Opt::new("follow", Kind::Bool).default("false"),
        FILE_ATTRS[0],
        FILE_ATTRS[1],
        FILE_ATTRS[2],
        FILE_ATTRS[3],
    ],
    mutually_exclusive: &[&["value", "values"]],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// One `section_has_values` condition: the section must have `option` with one of
/// `values` (any value when empty).
#[derive(Debug, Clone)]
pub struct Cond {
    pub option: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Want {
    pub section: Option<String>,
    pub section_has_values: Option<Vec<Cond>>,
    pub option: Option<String>,
    pub values: Vec<String>,
    pub present: bool,
    pub exclusive: bool,
    pub no_extra_spaces: bool,
    pub ignore_spaces: bool,
    pub allow_no_value: bool,
    pub modify_inactive_option: bool,
}

/// The name community.general gives the section it pretends comes first, so the lines
/// before any section are a section too.
const FAKE_SECTION: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";

/// An option line, commented out or not: `comment`, `sep` and `value` groups.
struct OptMatcher {
    any: Regex,
    active: Regex,
}

struct OptMatch {
    comment: bool,
    sep: bool,
    value: String,
}

impl OptMatcher {
    fn new(option: &str) -> Result<OptMatcher, String> {
        let o = py_escape(option);
        let any = format!(
            r"\A(?:(?: |\t)*(?P<comment>[#;]?)(?: |\t)*{o}(?: |\t)*(?P<sep>=|$)(?: |\t)*(?P<value>.*))"
        );
        let active =
            format!(r"\A(?:(?: |\t)*(?P<comment>){o}(?: |\t)*(?P<sep>=|$)(?: |\t)*(?P<value>.*))");
        Ok(OptMatcher {
            any: compile_flags(&any, false, false)?,
            active: compile_flags(&active, false, false)?,
        })
    }

    fn get(re: &Regex, line: &str) -> Option<OptMatch> {
        let c = re.captures(line).ok().flatten()?;
        let g = |n: &str| c.name(n).map_or("", |m| m.as_str());
        Some(OptMatch {
            comment: !g("comment").is_empty(),
            sep: !g("sep").is_empty(),
            value: g("value").to_string(),
        })
    }

    fn any(&self, line: &str) -> Option<OptMatch> {
        Self::get(&self.any, line)
    }

    fn active(&self, line: &str) -> Option<OptMatch> {
        Self::get(&self.active, line)
    }
}

/// Python's text-mode `readlines()` of a UTF-8 file (a BOM dropped, universal newlines).
pub fn read_lines(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.split_inclusive('\n').map(str::to_string).collect()
}

pub struct Edit {
    pub lines: Vec<String>,
    pub changed: bool,
    pub msg: String,
}

/// community.general's `do_ini` on the file's lines.
pub fn edit(mut ini_lines: Vec<String>, want: &Want) -> Result<Edit, String> {
    let mut values: Vec<String> = Vec::new();
    for v in &want.values {
        if !values.contains(v) {
            values.push(v.clone());
        }
    }
    let mut changed = false;
    if ini_lines.is_empty() {
        ini_lines.push("\n".into());
    }
    if ini_lines.last().is_some_and(|l| !l.ends_with('\n')) {
        if let Some(l) = ini_lines.last_mut() {
            l.push('\n');
        }
        changed = true;
    }
    ini_lines.insert(0, format!("[{FAKE_SECTION}]"));
    ini_lines.push("[".into());
    let section = match want.section.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => FAKE_SECTION.to_string(),
    };
    let mut msg = "OK".to_string();
    let sep = if want.no_extra_spaces { "=" } else { " = " };
    let mut option_no_value_present = false;
    let blank_or_comment = compile_flags(r"^[ \t]*([#;].*)?$", false, false)?;
    let section_re = compile_flags(
        &format!(r"^\[\s*{}\s*]", py_escape(section.trim())),
        false,
        false,
    )?;
    let is = |re: &Regex, l: &str| re.is_match(l).unwrap_or(false);
    let matcher = want.option.as_deref().map(OptMatcher::new).transpose()?;
    let has_values = |lines: &[String]| -> Result<bool, String> {
        let Some(conds) = &want.section_has_values else {
            return Ok(true);
        };
        for c in conds {
            let m = OptMatcher::new(&c.option)?;
            let ok = lines.iter().any(|l| {
                m.any(l)
                    .is_some_and(|o| c.values.is_empty() || c.values.contains(&o.value))
            });
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let mut within = false;
    let (mut start, mut end) = (0, 0);
    for (i, line) in ini_lines.iter().enumerate() {
        if within && line.starts_with('[') {
            if has_values(&ini_lines[start..i])? {
                end = i;
                break;
            }
            within = false;
            start = 0;
            end = 0;
        }
        if is(&section_re, line) {
            within = true;
            start = i;
        }
    }
    let after: Vec<String> = ini_lines[end..].to_vec();
    let mut section_lines: Vec<String> = ini_lines[start..end].to_vec();
    let before: Vec<String> = ini_lines[..start].to_vec();
    let mut changed_lines = vec![false; section_lines.len()];
    let no_option = || "an option is required to set values".to_string();
    let find = |m: &OptMatcher, l: &str| {
        if want.modify_inactive_option {
            m.any(l)
        } else {
            m.active(l)
        }
    };
    let option = want.option.clone().unwrap_or_default();
    let update = |lines: &mut Vec<String>,
                  done: &mut Vec<bool>,
                  i: usize,
                  newline: String,
                  changed: &mut bool,
                  msg: &mut String,
                  m: &OptMatcher| {
        let mut option_changed = None;
        if want.ignore_spaces
            && let Some(old) = m.any(&lines[i])
            && !old.comment
        {
            let new = m.any(&newline).map(|n| n.value);
            option_changed = Some(Some(old.value) != new);
        }
        let option_changed = option_changed.unwrap_or(lines[i] != newline);
        if option_changed {
            lines[i] = newline;
            *changed = true;
            *msg = "option changed".into();
        }
        done[i] = true;
    };
    if want.present
        && let Some(m) = &matcher
    {
        for i in 0..section_lines.len() {
            let Some(found) = find(m, &section_lines[i]) else {
                continue;
            };
            if !values.is_empty() && values.contains(&found.value) {
                let newline = if found.value.is_empty() && want.allow_no_value {
                    option_no_value_present = true;
                    format!("{option}\n")
                } else {
                    format!("{option}{sep}{}\n", found.value)
                };
                update(
                    &mut section_lines,
                    &mut changed_lines,
                    i,
                    newline,
                    &mut changed,
                    &mut msg,
                    m,
                );
                if let Some(p) = values.iter().position(|v| *v == found.value) {
                    values.remove(p);
                }
            } else if values.is_empty() && want.allow_no_value {
                update(
                    &mut section_lines,
                    &mut changed_lines,
                    i,
                    format!("{option}\n"),
                    &mut changed,
                    &mut msg,
                    m,
                );
                option_no_value_present = true;
                break;
            }
        }
    }
    if want.present && want.exclusive && !want.allow_no_value {
        // Without an option, community.general fails as soon as it has a line to look at.
        let looks = (!values.is_empty() && !section_lines.is_empty()) || section_lines.len() > 1;
        let m = match &matcher {
            Some(m) => m,
            None if looks => return Err(no_option()),
            None => &OptMatcher::new(FAKE_SECTION)?,
        };
        let replaceable = |l: &str| find(m, l).is_some_and(|o| !o.comment || o.sep);
        if !values.is_empty() {
            for i in 0..section_lines.len() {
                if changed_lines[i] || !replaceable(&section_lines[i]) {
                    continue;
                }
                let newline = format!("{option}{sep}{}\n", values.remove(0));
                update(
                    &mut section_lines,
                    &mut changed_lines,
                    i,
                    newline,
                    &mut changed,
                    &mut msg,
                    m,
                );
                if values.is_empty() {
                    break;
                }
            }
        }
        for i in (1..section_lines.len()).rev() {
            if !changed_lines[i] && replaceable(&section_lines[i]) {
                section_lines.remove(i);
                changed_lines.remove(i);
                changed = true;
                msg = "option changed".into();
            }
        }
    }
    if want.present {
        for i in (1..=section_lines.len()).rev() {
            if is(&blank_or_comment, &section_lines[i - 1]) {
                continue;
            }
            if want.option.is_some() && !values.is_empty() {
                for v in values.iter().rev() {
                    section_lines.insert(i, format!("{option}{sep}{v}\n"));
                    msg = "option added".into();
                    changed = true;
                }
            } else if want.option.is_some()
                && values.is_empty()
                && want.allow_no_value
                && !option_no_value_present
            {
                section_lines.insert(i, format!("{option}\n"));
                msg = "option added".into();
                changed = true;
            }
            break;
        }
    } else if let Some(m) = &matcher {
        let kept: Vec<String> = if want.exclusive {
            section_lines
                .iter()
                .filter(|l| m.active(l).is_none())
                .cloned()
                .collect()
        } else if !values.is_empty() {
            section_lines
                .iter()
                .filter(|l| !m.active(l).is_some_and(|o| values.contains(&o.value)))
                .cloned()
                .collect()
        } else {
            section_lines.clone()
        };
        if kept != section_lines {
            changed = true;
            msg = "option changed".into();
            section_lines = kept;
        }
    } else if !section_lines.is_empty() {
        section_lines.clear();
        msg = "section removed".into();
        changed = true;
    }
    let mut lines: Vec<String> = before;
    lines.extend(section_lines);
    lines.extend(after);
    if !lines.is_empty() {
        lines.remove(0);
    }
    lines.pop();
    if !within && want.present {
        lines.push(format!("[{section}]\n"));
        msg = "section and option added".into();
        if let Some(conds) = &want.section_has_values {
            for c in conds {
                if Some(&c.option) != want.option.as_ref() {
                    if !c.values.is_empty() {
                        for v in &c.values {
                            lines.push(format!("{}{sep}{v}\n", c.option));
                        }
                    } else if want.allow_no_value {
                        lines.push(format!("{}\n", c.option));
                    }
                } else if !want.exclusive {
                    for v in &c.values {
                        if !values.contains(v) {
                            values.push(v.clone());
                        }
                    }
                }
            }
        }
        if want.option.is_some() && !values.is_empty() {
            for v in &values {
                lines.push(format!("{option}{sep}{v}\n"));
            }
        } else if want.option.is_some() && want.allow_no_value {
            lines.push(format!("{option}\n"));
        } else {
            msg = "only section added".into();
        }
        changed = true;
    }
    Ok(Edit {
        lines,
        changed,
        msg,
    })
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Seq(items) => items
            .iter()
            .filter(|i| !i.is_null())
            .map(crate::yaml::python_str)
            .collect(),
        Value::Null => Vec::new(),
        other => vec![crate::yaml::python_str(other)],
    }
}

fn conditions(args: &Args) -> Result<Option<Vec<Cond>>, String> {
    let Some(v) = args.get("section_has_values") else {
        return Ok(None);
    };
    let Value::Seq(items) = v else {
        return Err("section_has_values must be a list of dicts".into());
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Map(m) = item else {
            return Err("section_has_values must be a list of dicts".into());
        };
        let get = |k: &str| m.get(&Value::str(k)).filter(|v| !v.is_null());
        for k in m.keys() {
            let k = k.as_str().unwrap_or_default();
            if !["option", "value", "values"].contains(&k) {
                return Err(format!(
                    "unsupported parameters for (ini_file) module: section_has_values.{k}. Supported parameters include: option, value, values"
                ));
            }
        }
        let option = get("option")
            .map(crate::yaml::python_str)
            .ok_or("missing required arguments: option found in section_has_values")?;
        if get("value").is_some() && get("values").is_some() {
            return Err(
                "parameters are mutually exclusive: value|values found in section_has_values"
                    .into(),
            );
        }
        let values = match (get("value"), get("values")) {
            (Some(v), _) => vec![crate::yaml::python_str(v)],
            (None, Some(vs)) => strings(vs),
            (None, None) => Vec::new(),
        };
        out.push(Cond { option, values });
    }
    Ok(Some(out))
}

#[async_trait]
impl Module for IniFile {
    fn name(&self) -> &'static str {
        "ini_file"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let path = args.str("path").unwrap_or_default();
        let present = args.str("state").as_deref() != Some("absent");
        let value = args.str("value");
        let mut values = args.get("values").map(strings).unwrap_or_default();
        if present && !args.bool("allow_no_value") && value.is_none() && values.is_empty() {
            return TaskResult::failed(
                "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
            );
        }
        if let Some(v) = value {
            values = vec![v];
        }
        let section_has_values = match conditions(&args) {
            Ok(c) => c,
            Err(e) => return TaskResult::failed(e),
        };
        let want = Want {
            section: args.str("section"),
            section_has_values,
            option: args.str("option").filter(|o| !o.is_empty()),
            values,
            present,
            exclusive: args.bool("exclusive"),
            no_extra_spaces: args.bool("no_extra_spaces"),
            ignore_spaces: args.bool("ignore_spaces"),
            allow_no_value: args.bool("allow_no_value"),
            modify_inactive_option: args.bool("modify_inactive_option"),
        };
        let cur = match filecommon::read(cx, &path).await {
            Ok(c) => c,
            Err(r) => return *r,
        };
        let follow = args.bool("follow");
        let target = if follow {
            cur.real.clone()
        } else {
            path.clone()
        };
        let exists = cur.state.kind != PathKind::Absent;
        if !exists && !args.bool("create") {
            let mut r = TaskResult::failed(format!("Destination {target} does not exist!"));
            r.rc = Some(257);
            return r;
        }
        let before = match &cur.content {
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(t) => read_lines(t),
                Err(e) => {
                    return TaskResult::failed(format!("could not read `{path}` as UTF-8: {e}"));
                }
            },
            None => Vec::new(),
        };
        let before_text = before.concat();
        let edit = match edit(before, &want) {
            Ok(e) => e,
            Err(e) => return TaskResult::failed(e),
        };
        let after_text = edit.lines.concat();
        let mut result = TaskResult::changed(edit.changed).msg(edit.msg.clone());
        if cx.diff_mode && edit.changed {
            result.diff.push(Diff {
                before_header: format!("{target} (content)"),
                after_header: format!("{target} (content)"),
                before: before_text,
                after: after_text.clone(),
            });
        }
        let attrs = Attrs::from_args(&args);
        // Writing over a symlink (no `follow`) leaves a file with the mode of what the
        // link pointed to, as Ansible's atomic move copies it.
        let link_mode = Value::Int(i128::from(cur.state.mode));
        let over_link = Attrs {
            mode: attrs.mode.or(Some(&link_mode)),
            owner: attrs.owner.clone(),
            group: attrs.group.clone(),
        };
        let writing_over_link = !follow && cur.real != path && exists;
        if !cx.check_mode {
            if edit.changed {
                let opts = WriteOpts {
                    attrs: if writing_over_link {
                        &over_link
                    } else {
                        &attrs
                    },
                    validate: None,
                    backup: args.bool("backup"),
                    make_parent: true,
                };
                match filecommon::write(cx, &target, &cur.state, after_text.into_bytes(), &opts)
                    .await
                {
                    Ok(Some(b)) => {
                        result.data.insert(Value::str("backup_file"), Value::str(b));
                    }
                    Ok(None) => {}
                    Err(r) => return *r,
                }
            } else if exists {
                let fix = match filecommon::attr_cmds(&cur.real, &cur.state, &attrs) {
                    Ok(c) => c,
                    Err(r) => return *r,
                };
                if let Err(r) = filecommon::apply_attrs(cx, &fix).await {
                    return *r;
                }
                result.changed |= !fix.is_empty();
            }
        }
        let info = match cx.sh(filecommon::path_info_script(&path)).await {
            Ok(o) => o.stdout_text(),
            Err(e) => return super::conn_failure(e),
        };
        filecommon::add_path_info(&mut result, &info);
        result.data.insert(Value::str("path"), Value::str(path));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(section: Option<&str>, option: &str, values: &[&str]) -> Want {
        Want {
            section: section.map(str::to_string),
            option: Some(option.to_string()),
            values: values.iter().map(|v| v.to_string()).collect(),
            present: true,
            exclusive: true,
            modify_inactive_option: true,
            ..Want::default()
        }
    }

    fn run(text: &str, w: &Want) -> (String, bool, String) {
        let e = edit(read_lines(text), w).expect("edit");
        (e.lines.concat(), e.changed, e.msg)
    }

    #[test]
    fn new_file_starts_with_a_blank_line() {
        let (t, c, m) = run("", &want(Some("drinks"), "fav", &["lemonade"]));
        assert_eq!(t, "\n[drinks]\nfav = lemonade\n");
        assert!(c);
        assert_eq!(m, "section and option added");
        let (t2, c2, m2) = run(&t, &want(Some("drinks"), "fav", &["lemonade"]));
        assert_eq!((t2.as_str(), c2, m2.as_str()), (t.as_str(), false, "OK"));
    }

    #[test]
    fn change_comment_and_global_options() {
        let text = "top=1\n[s]\n# a = 0\nb = 2\n";
        let (t, _, m) = run(text, &want(Some("s"), "a", &["1"]));
        assert_eq!(t, "top=1\n[s]\na = 1\nb = 2\n");
        assert_eq!(m, "option changed");
        let (t, _, m) = run(text, &want(None, "top", &["3"]));
        assert_eq!(t, "top = 3\n[s]\n# a = 0\nb = 2\n");
        assert_eq!(m, "option changed");
        let (t, _, m) = run(text, &want(None, "new", &["x"]));
        assert_eq!(t, "top=1\nnew = x\n[s]\n# a = 0\nb = 2\n");
        assert_eq!(m, "option added");
    }

    #[test]
    fn several_values_and_absent() {
        let w = Want {
            exclusive: true,
            ..want(Some("s"), "v", &["1", "2"])
        };
        let (t, _, _) = run("[s]\nv = 0\nv = 3\nv = 2\n", &w);
        assert_eq!(t, "[s]\nv = 1\nv = 2\n");
        let w = Want {
            present: false,
            ..want(Some("s"), "v", &[])
        };
        assert_eq!(run("[s]\nv = 1\nw = 2\n", &w).0, "[s]\nw = 2\n");
        let w = Want {
            present: false,
            option: None,
            ..want(Some("s"), "v", &[])
        };
        assert_eq!(run("[r]\na=1\n[s]\nv = 1\n[t]\n", &w).0, "[r]\na=1\n[t]\n");
    }
}

/// The cases in `tests/fixtures/modules_files/ini_file_cases.json` were run through
/// community.general's module once (its `do_ini`, with the same arguments); kiln must give
/// the same text, `changed` and message for each.
#[cfg(test)]
mod oracle_cases {
    use super::*;

    #[test]
    fn same_as_community_general() {
        let cases: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/modules_files/ini_file_cases.json"
        ))
        .expect("json");
        let mut failures = Vec::new();
        for c in cases.as_array().expect("list") {
            let a = &c["args"];
            let s = |k: &str| a[k].as_str().map(str::to_string);
            let b = |k: &str, d: bool| a[k].as_bool().unwrap_or(d);
            let list = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let want = Want {
                section: s("section"),
                section_has_values: a["section_has_values"].as_array().map(|l| {
                    l.iter()
                        .map(|c| Cond {
                            option: c["option"].as_str().unwrap_or_default().to_string(),
                            values: list(&c["values"]),
                        })
                        .collect()
                }),
                option: s("option"),
                values: list(&a["values"]),
                present: s("state").as_deref() != Some("absent"),
                exclusive: b("exclusive", true),
                no_extra_spaces: b("no_extra_spaces", false),
                ignore_spaces: b("ignore_spaces", false),
                allow_no_value: b("allow_no_value", false),
                modify_inactive_option: b("modify_inactive_option", true),
            };
            let lines = read_lines(c["text"].as_str().unwrap_or_default());
            let name = c["name"].as_str().unwrap_or_default();
            match edit(lines, &want) {
                Ok(e) => {
                    let got = (e.lines.concat(), e.changed, e.msg);
                    let exp = (
                        c["after"].as_str().unwrap_or_default().to_string(),
                        c["changed"].as_bool().unwrap_or_default(),
                        c["msg"].as_str().unwrap_or_default().to_string(),
                    );
                    if got != exp {
                        failures.push(format!("{name}: got {got:?}, want {exp:?}"));
                    }
                }
                Err(e) => failures.push(format!("{name}: error {e}")),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
