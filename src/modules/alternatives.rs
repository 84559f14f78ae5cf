//! `alternatives` (community.general.alternatives): one alternative of a link group through
//! the target's `update-alternatives`: installed (with its priority and subcommands), selected,
//! the group back in auto mode, or removed. The group is read from `--display` as the
//! module reads it, and the same commands are run in the same cases.

use super::sections::{marker, missing_bin, need_bin, section, sections};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

pub struct Alternatives;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("name", Kind::Str).required(),
        Opt::new("path", Kind::Path),
        Opt::new("family", Kind::Str),
        Opt::new("link", Kind::Path),
        Opt::new("priority", Kind::Int),
        Opt::new("state", Kind::Str)
            .default("selected")
            .choices(&["present", "selected", "auto", "absent"]),
        Opt::new("subcommands", Kind::List).aliases(&["slaves"]),
    ],
    mutually_exclusive: &[],
    required_one_of: &[&["path", "family"]],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Alternatives {
    fn name(&self) -> &'static str {
        "alternatives"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        run(cx, &args).await
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Sub {
    name: String,
    path: String,
    link: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Alt {
    path: String,
    priority: i64,
    family: String,
    subs: Vec<Sub>,
}

/// The group as `update-alternatives --display` shows it.
#[derive(Debug, Default, PartialEq)]
struct Group {
    mode: Option<String>,
    current: Option<String>,
    link: Option<String>,
    alts: Vec<Alt>,
}

fn re(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("built-in pattern {p}: {e}"))
}

static MODE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)\s-\s(?:status\sis\s)?(\w*)(?:\smode|.)$"));
static CURRENT: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*link currently points to (.*)$"));
static LINK: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s*link \w+ is (.*)$"));
static SUB_LINK: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^\s*(?:slave|follower) (\S+) is (.*)$"));
static ALT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?m)^(/.*)\s-\s(?:family\s(\S+)\s)?priority\s(\d+)((?:\s+(?:slave|follower).*)*)")
});
static SUB: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s+(?:slave|follower) (.*): (.*)$"));

/// Parses `--display` output; `given` are the task's subcommands, whose links stand in when
/// the output names none.
fn parse_display(text: &str, given: &[Sub]) -> Group {
    let mut g = Group::default();
    let Some(m) = MODE.captures(text) else {
        return g;
    };
    g.mode = Some(m[1].to_string());
    g.current = CURRENT.captures(text).map(|c| c[1].to_string());
    g.link = LINK.captures(text).map(|c| c[1].to_string());
    let mut links: Vec<(String, String)> = SUB_LINK
        .captures_iter(text)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    if links.is_empty() {
        links = given
            .iter()
            .map(|s| (s.name.clone(), s.link.clone().unwrap_or_default()))
            .collect();
    }
    for c in ALT.captures_iter(text) {
        let subs = SUB
            .captures_iter(c.get(4).map_or("", |m| m.as_str()))
            .filter(|s| &s[2] != "(null)")
            .map(|s| Sub {
                name: s[1].to_string(),
                path: s[2].to_string(),
                link: links
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == s[1])
                    .map(|(_, l)| l.clone()),
            })
            .collect();
        let alt = Alt {
            path: c[1].to_string(),
            priority: c[3].parse().unwrap_or(0),
            family: c.get(2).map_or("", |m| m.as_str()).to_string(),
            subs,
        };
        g.alts.retain(|a| a.path != alt.path);
        g.alts.push(alt);
    }
    g
}

fn subcommands(args: &Args) -> Result<Option<Vec<Sub>>, String> {
    let Some(Value::Seq(items)) = args.get("subcommands") else {
        return match args.get("subcommands") {
            None => Ok(None),
            Some(_) => Err("subcommands must be a list of dicts".into()),
        };
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Map(m) = item else {
            return Err(
                "Elements value for option 'subcommands' is of type str and we were unable to convert to dict".into(),
            );
        };
        let get = |k: &str| {
            m.get(&Value::str(k))
                .filter(|v| !v.is_null())
                .map(crate::yaml::python_str)
        };
        for k in m.keys() {
            let k = crate::yaml::python_str(k);
            if !matches!(k.as_str(), "name" | "path" | "link") {
                return Err(format!(
                    "Unsupported parameters for (alternatives) module: {k} found in subcommands. Supported parameters include: link, name, path"
                ));
            }
        }
        let mut missing: Vec<&str> = ["link", "name", "path"]
            .into_iter()
            .filter(|k| get(k).is_none())
            .collect();
        missing.sort();
        if !missing.is_empty() {
            return Err(format!(
                "missing required arguments: {} found in subcommands",
                missing.join(", ")
            ));
        }
        out.push(Sub {
            name: get("name").unwrap_or_default(),
            path: get("path").unwrap_or_default(),
            link: get("link"),
        });
    }
    Ok(Some(out))
}

/// Both lists hold the same subcommands (order aside), as the module compares them.
fn same_subs(a: &[Sub], b: &[Sub]) -> bool {
    a.iter().all(|s| b.contains(s)) && b.iter().all(|s| a.contains(s))
}

fn json_sub(s: &Sub) -> serde_json::Value {
    serde_json::json!({"link": s.link, "name": s.name, "path": s.path})
}

/// A dict of the module's diff, as Ansible prints dicts in a diff: sorted JSON, 4 spaces.
fn render(m: &serde_json::Map<String, serde_json::Value>) -> String {
    use serde::Serialize;
    let mut sorted: Vec<(&String, &serde_json::Value)> = m.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let obj: serde_json::Map<String, serde_json::Value> = sorted
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if serde_json::Value::Object(obj).serialize(&mut ser).is_err() {
        return String::new();
    }
    format!("{}\n", String::from_utf8_lossy(&buf))
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let name = args.str("name").unwrap_or_default();
    let path = args.str("path");
    let family = args.str("family");
    let state = args.str("state").unwrap_or_else(|| "selected".into());
    let given = match subcommands(args) {
        Ok(s) => s,
        Err(e) => return TaskResult::failed(e),
    };
    let qn = quote::quote(&name);
    let mut query = format!(
        "LC_ALL=C; LANGUAGE=C; export LC_ALL LANGUAGE; {need}{d}; update-alternatives --display {qn} 2>/dev/null; {rc}; echo $?",
        need = need_bin("update-alternatives"),
        d = marker("display"),
        rc = marker("rc"),
    );
    if let Some(p) = &path {
        query.push_str(&format!(
            "; if [ -e {} ]; then {}; fi",
            quote::quote(p),
            marker("exists")
        ));
    }
    let out = try_conn!(cx.sh(query).await);
    let all = sections(&out.stdout_text());
    if let Some(e) = missing_bin(&all, "update-alternatives") {
        return TaskResult::failed(e);
    }
    let group = if section(&all, "rc").map(str::trim) == Some("0") {
        parse_display(
            section(&all, "display").unwrap_or_default(),
            given.as_deref().unwrap_or(&[]),
        )
    } else {
        Group::default()
    };
    let current_alt = |p: &str| group.alts.iter().find(|a| a.path == p);
    let mine = path.as_deref().and_then(current_alt);
    let link = args.str("link").or_else(|| group.link.clone());
    let priority = args
        .get("priority")
        .and_then(|v| match v {
            Value::Int(i) => Some(*i as i64),
            _ => None,
        })
        .unwrap_or_else(|| mine.map_or(50, |a| a.priority));
    let subs: Option<Vec<Sub>> = match &given {
        Some(g) => Some(g.clone()),
        None => mine.filter(|a| !a.subs.is_empty()).map(|a| a.subs.clone()),
    };

    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    match mine {
        Some(a) => {
            before.insert("state".into(), "present".into());
            before.insert("path".into(), a.path.clone().into());
            before.insert("priority".into(), a.priority.into());
            before.insert("link".into(), group.link.clone().into());
            if !a.subs.is_empty() {
                before.insert(
                    "subcommands".into(),
                    a.subs.iter().map(json_sub).collect::<Vec<_>>().into(),
                );
            }
            if group.mode.as_deref() == Some("manual") && group.current != path {
                before.insert("state".into(), "selected".into());
            }
        }
        None if group.mode.is_some() => {
            before.insert("state".into(), "absent".into());
        }
        None => {}
    }

    let mut commands: Vec<String> = Vec::new();
    let mut messages: Vec<String> = Vec::new();
    let mut changed = false;
    let ua = "update-alternatives";
    if state != "absent" {
        if let Some(p) = &path {
            let reinstall = match mine {
                None => true,
                Some(a) => {
                    args.get("priority").is_some() && a.priority != priority
                        || given.as_ref().is_some_and(|g| !same_subs(&a.subs, g))
                }
            };
            if reinstall {
                if section(&all, "exists").is_none() {
                    return TaskResult::failed(format!("Specified path {p} does not exist"));
                }
                let Some(l) = &link else {
                    return TaskResult::failed(
                        "Needed to install the alternative, but unable to do so as we are missing the link",
                    );
                };
                let mut cmd = format!(
                    "{ua} --install {} {qn} {} {priority}",
                    quote::quote(l),
                    quote::quote(p)
                );
                if let Some(f) = &family {
                    cmd.push_str(&format!(" --family {}", quote::quote(f)));
                }
                if given.is_some() {
                    for s in subs.iter().flatten() {
                        cmd.push_str(&format!(
                            " --slave {} {} {}",
                            quote::quote(s.link.as_deref().unwrap_or("")),
                            quote::quote(&s.name),
                            quote::quote(&s.path)
                        ));
                    }
                }
                changed = true;
                messages.push(format!("Install alternative '{p}' for '{name}'."));
                commands.push(cmd);
                after.insert("state".into(), "present".into());
                after.insert("path".into(), p.clone().into());
                after.insert("family".into(), family.clone().into());
                after.insert("priority".into(), priority.into());
                after.insert("link".into(), link.clone().into());
                if let Some(s) = subs.as_ref().filter(|s| !s.is_empty()) {
                    after.insert(
                        "subcommands".into(),
                        s.iter().map(json_sub).collect::<Vec<_>>().into(),
                    );
                }
            }
        }
        let same_path = path.is_some() && group.current == path;
        let same_family = group
            .current
            .as_deref()
            .and_then(current_alt)
            .is_some_and(|a| Some(a.family.as_str()) == family.as_deref());
        if state == "selected" && !(same_path || same_family) {
            let arg = path.clone().or(family.clone()).unwrap_or_default();
            changed = true;
            messages.push(format!("Set alternative '{arg}' for '{name}'."));
            commands.push(format!("{ua} --set {qn} {}", quote::quote(&arg)));
            after.insert("state".into(), "selected".into());
        }
        if state == "auto" && group.mode.as_deref() == Some("manual") {
            changed = true;
            messages.push(format!("Set alternative to auto for '{name}'."));
            commands.push(format!("{ua} --auto {qn}"));
            after.insert("state".into(), "present".into());
        }
    } else if let (Some(p), Some(_)) = (&path, mine) {
        changed = true;
        messages.push(format!("Remove alternative '{p}' from '{name}'."));
        commands.push(format!("{ua} --remove {qn} {}", quote::quote(p)));
        after.insert("state".into(), "absent".into());
    }

    if !cx.check_mode {
        for cmd in &commands {
            let script = format!(
                "LC_ALL=C; LANGUAGE=C; export LC_ALL LANGUAGE; {}{cmd}",
                need_bin(ua)
            );
            let out = try_conn!(cx.sh(script).await);
            if out.rc != 0 {
                let mut r = TaskResult::failed(out.stderr_text().trim_end().to_string());
                r.rc = Some(out.rc);
                r.stdout = Some(out.stdout_text());
                r.stderr = Some(out.stderr_text());
                r.data.insert(Value::str("cmd"), Value::str(cmd.clone()));
                return r;
            }
        }
    }
    let mut r = TaskResult::changed(changed).msg(messages.join(" "));
    if cx.diff_mode && changed {
        r.diff.push(Diff {
            before: render(&before),
            after: render(&after),
            ..Diff::default()
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWK: &str = "awk - manual mode\n  link best version is /usr/bin/mawk\n  link currently points to /usr/bin/kiln-awk\n  link awk is /usr/bin/awk\n  slave awk.1.gz is /usr/share/man/man1/awk.1.gz\n  slave nawk is /usr/bin/nawk\n/usr/bin/kiln-awk - priority 1\n  slave awk.1.gz: (null)\n  slave nawk: /usr/bin/kiln-awk\n/usr/bin/mawk - priority 5\n  slave awk.1.gz: /usr/share/man/man1/mawk.1.gz\n  slave nawk: /usr/bin/mawk\n";

    #[test]
    fn display_output() {
        let g = parse_display(AWK, &[]);
        assert_eq!(g.mode.as_deref(), Some("manual"));
        assert_eq!(g.current.as_deref(), Some("/usr/bin/kiln-awk"));
        assert_eq!(g.link.as_deref(), Some("/usr/bin/awk"));
        assert_eq!(g.alts.len(), 2);
        assert_eq!(g.alts[0].priority, 1);
        // `(null)` slaves are not subcommands of that alternative.
        assert_eq!(
            g.alts[0].subs,
            vec![Sub {
                name: "nawk".into(),
                path: "/usr/bin/kiln-awk".into(),
                link: Some("/usr/bin/nawk".into())
            }]
        );
        assert_eq!(g.alts[1].subs.len(), 2);
        assert_eq!(parse_display("", &[]), Group::default());
    }

    #[test]
    fn diff_dicts_as_ansible_prints_them() {
        let mut m = serde_json::Map::new();
        m.insert("state".into(), "present".into());
        m.insert("link".into(), serde_json::Value::Null);
        assert_eq!(
            render(&m),
            "{\n    \"link\": null,\n    \"state\": \"present\"\n}\n"
        );
    }
}
