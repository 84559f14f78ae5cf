//! `package_facts`: `ansible_facts.packages`, every installed package as
//! `{name: [{name, version, ..., source}]}` in ansible-core 2.19's shape, read with the
//! host's own tools instead of Python bindings: `dpkg-query` and `apt-cache policy` for apt
//! (`arch`, `category`, `origin`), `rpm -qa --queryformat` for rpm (`release`, `epoch`,
//! `arch`). Other managers are refused by name.

use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::{Map, Value};
use async_trait::async_trait;
use std::collections::BTreeMap;

pub struct PackageFacts;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("manager", Kind::List).default("auto"),
        Opt::new("strategy", Kind::Str)
            .default("first")
            .choices(&["first", "all"]),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

/// Ansible's managers (sorted, as its module lists them), then the aliases.
const MANAGERS: &[&str] = &[
    "apk",
    "apt",
    "pacman",
    "pkg",
    "pkg_info",
    "portage",
    "rpm",
    "dnf",
    "dnf5",
    "yum",
    "zypper",
    "pkg5",
    "pkgng",
    "openbsd_pkg",
];

fn canonical(m: &str) -> &str {
    match m {
        "dnf" | "dnf5" | "yum" | "zypper" => "rpm",
        "pkg5" | "pkgng" => "pkg",
        "openbsd_pkg" => "pkg_info",
        other => other,
    }
}

#[async_trait]
impl Module for PackageFacts {
    fn name(&self) -> &'static str {
        "package_facts"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let requested: Vec<String> = args
            .list("manager")
            .iter()
            .map(|v| crate::yaml::python_str(v).to_lowercase())
            .collect();
        let strategy = args.str("strategy").unwrap_or_else(|| "first".into());
        let auto = requested.iter().any(|m| m == "auto");
        let mut managers: Vec<String> =
            requested.iter().filter(|m| *m != "auto").cloned().collect();
        if auto {
            managers.extend(MANAGERS.iter().map(|m| m.to_string()));
        }
        let unsupported: Vec<&String> = managers
            .iter()
            .filter(|m| !MANAGERS.contains(&m.as_str()))
            .collect();
        if !unsupported.is_empty() {
            return TaskResult::failed(if auto {
                "Could not auto detect a usable package manager, check warnings for details."
                    .to_string()
            } else {
                format!(
                    "Unsupported package managers requested: {}",
                    unsupported
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        let mut order: Vec<&str> = Vec::new();
        for m in &managers {
            let c = canonical(m);
            if !order.contains(&c) {
                order.push(c);
            }
        }
        // Managers kiln cannot read: refused when asked for, passed over by `auto`.
        if let Some(m) = order.iter().find(|m| {
            !matches!(**m, "apt" | "rpm") && requested.iter().any(|r| canonical(r) == **m)
        }) {
            return TaskResult::failed(format!(
                "kiln's package_facts reads apt and rpm packages; the `{m}` manager is not supported yet"
            ));
        }
        order.retain(|m| matches!(*m, "apt" | "rpm"));
        let out = match cx.sh(query_script(&order)).await {
            Ok(o) => o,
            Err(e) => return super::conn_failure(e),
        };
        let text = out.stdout_text();
        let mut packages: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut found = 0;
        let mut warnings = Vec::new();
        for m in &order {
            if strategy == "first" && found > 0 {
                break;
            }
            let Some(section) = section(&text, m) else {
                continue;
            };
            let got = if *m == "apt" {
                parse_apt(
                    section,
                    self::section(&text, "section").unwrap_or(""),
                    self::section(&text, "policy").unwrap_or(""),
                )
            } else {
                parse_rpm(section)
            };
            if got.is_empty() {
                warnings.push(format!("Found \"{m}\" but no associated packages"));
                continue;
            }
            found += 1;
            for (name, mut list) in got {
                packages.entry(name).or_default().append(&mut list);
            }
        }
        if found == 0 {
            let list: Vec<String> = managers.iter().map(|m| format!("'{m}'")).collect();
            return TaskResult::failed(format!(
                "Could not detect a supported package manager from the following list: [{}], or the required Python library is not installed. Check warnings for details.",
                list.join(", ")
            ));
        }
        let mut pm = Map::new();
        for (k, v) in packages {
            pm.insert(Value::str(k), Value::Seq(v));
        }
        let mut facts = Map::new();
        facts.insert(Value::str("packages"), Value::Map(pm));
        let mut r = TaskResult::ok();
        r.facts = Some(facts);
        if !warnings.is_empty() {
            r = r.with(
                "warnings",
                Value::Seq(warnings.into_iter().map(Value::str).collect()),
            );
        }
        r
    }
}

/// What each manager prints, between `@@name` markers; a manager whose tool is missing
/// prints no section.
fn query_script(order: &[&str]) -> String {
    let mut s = String::from("export LC_ALL=C.UTF-8; ");
    for m in order {
        match *m {
            "apt" => s.push_str(
                "if command -v dpkg-query >/dev/null 2>&1; then echo '@@apt'; na=$(dpkg --print-architecture); \
                 dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t${Section}\\n' | \
                 awk -F '\\t' -v na=\"$na\" 'BEGIN {OFS=\"\\t\"} $4 != na && $4 != \"all\" {$2 = $2 \":\" $4} {print}'; \
                 echo '@@section'; dpkg-query -W -f='${db:Status-Abbrev} ${Package}=${Version}\\n' | awk '$1 ~ /^.[iUFHWt]/ {print $2}' | \
                 xargs -r apt-cache show 2>/dev/null | awk '/^Package: / {p=$2} /^Version: / {v=$2} /^Section: / {print p \"=\" v \" \" $2}'; \
                 echo '@@policy'; apt-cache policy 2>/dev/null; \
                 dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' | awk '$1 ~ /^.[iUFHWt]/ {print $2}' | xargs -r apt-cache policy 2>/dev/null; fi; ",
            ),
            "rpm" => s.push_str(
                "if command -v rpm >/dev/null 2>&1; then echo '@@rpm'; \
                 rpm -qa --queryformat '%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\n'; fi; ",
            ),
            _ => {}
        }
    }
    s.push_str("echo '@@end'");
    s
}

fn section<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = format!("@@{name}\n");
    let i = if text.starts_with(&start) {
        0
    } else {
        text.find(&format!("\n{start}"))? + 1
    };
    let rest = &text[i + start.len()..];
    let end = rest.find("\n@@").map_or(rest.len(), |e| e + 1);
    Some(&rest[..end])
}

fn entry(pairs: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(Value::str(*k), v.clone());
    }
    Value::Map(m)
}

/// Each installed package's origin, as python-apt's `origins[0].origin`: the `o=` of the
/// release its installed version was first found in (none for dpkg's status file alone).
fn origins(policy: &str) -> BTreeMap<String, Value> {
    let mut release_origin: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut lines = policy.lines().peekable();
    let mut out = BTreeMap::new();
    let mut in_files = false;
    let mut last_file: Option<String> = None;
    let mut pkg: Option<String> = None;
    let mut installed_block = false;
    while let Some(line) = lines.next() {
        if line == "Package files:" {
            in_files = true;
            continue;
        }
        if line == "Pinned packages:" {
            in_files = false;
            continue;
        }
        if in_files {
            let t = line.trim_start();
            if let Some(rel) = t.strip_prefix("release ") {
                if let Some(f) = &last_file {
                    let o = rel
                        .split(',')
                        .find_map(|kv| kv.strip_prefix("o="))
                        .map(str::to_string);
                    release_origin.insert(f.clone(), o);
                }
            } else if line.starts_with(' ') && !t.starts_with("origin ") {
                // " 500 http://... Packages": the file, after its priority.
                last_file = t.split_once(' ').map(|(_, f)| f.to_string());
            }
            continue;
        }
        if !line.starts_with(' ') && line.ends_with(':') {
            pkg = Some(line.trim_end_matches(':').to_string());
            installed_block = false;
            continue;
        }
        if line.starts_with(" *** ") {
            installed_block = true;
            // The first file the installed version is in.
            if let Some(next) = lines.peek()
                && let (Some(p), Some((_, file))) = (&pkg, next.trim_start().split_once(' '))
            {
                let o = release_origin.get(file).cloned().flatten();
                out.insert(p.clone(), o.map(Value::str).unwrap_or(Value::Null));
            }
            continue;
        }
        if installed_block && !line.starts_with("        ") {
            installed_block = false;
        }
    }
    out
}

/// The section of each `name=version` in the first index that has it (the cache keeps
/// that one, not dpkg's), as `apt-cache show` prints them.
fn sections(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some((nv, sec)) = line.split_once(' ') {
            out.entry(nv.to_string()).or_insert_with(|| sec.to_string());
        }
    }
    out
}

fn parse_apt(text: &str, section_text: &str, policy: &str) -> BTreeMap<String, Vec<Value>> {
    let origin = origins(policy);
    let sections = sections(section_text);
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        // Installed in apt's sense: a current version, not only config files or nothing.
        let current = f[0].chars().nth(1).unwrap_or('n');
        if current == 'n' || current == 'c' {
            continue;
        }
        let name = f[1].to_string();
        let base = name.split(':').next().unwrap_or(&name);
        let category = sections
            .get(&format!("{base}={}", f[2]))
            .map_or(f[4], String::as_str);
        let v = entry(&[
            ("name", Value::str(name.clone())),
            ("version", Value::str(f[2])),
            ("arch", Value::str(f[3])),
            ("category", Value::str(category)),
            ("origin", origin.get(&name).cloned().unwrap_or(Value::Null)),
            ("source", Value::str("apt")),
        ]);
        out.entry(name).or_default().push(v);
    }
    out
}

fn parse_rpm(text: &str) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        // rpm prints `(none)` for a missing epoch; Ansible's bindings give None, as text.
        let epoch = if f[3] == "(none)" { "None" } else { f[3] };
        let v = entry(&[
            ("name", Value::str(f[0])),
            ("version", Value::str(f[1])),
            ("release", Value::str(f[2])),
            ("epoch", Value::str(epoch)),
            ("arch", Value::str(f[4])),
            ("source", Value::str("rpm")),
        ]);
        out.entry(f[0].to_string()).or_default().push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_origins_from_policy() {
        let policy = "Package files:\n 100 /var/lib/dpkg/status\n     release a=now\n 500 http://mirror.example/debian bookworm/main amd64 Packages\n     release v=12.15,o=Debian,a=oldstable,n=bookworm,l=Debian,c=main,b=amd64\n     origin mirror.example\nPinned packages:\nhello:\n  Installed: 2.10-3\n  Candidate: 2.10-3\n  Version table:\n *** 2.10-3 500\n        500 http://mirror.example/debian bookworm/main amd64 Packages\n        100 /var/lib/dpkg/status\nlocal:\n  Installed: 1.0\n  Candidate: 1.0\n  Version table:\n *** 1.0 100\n        100 /var/lib/dpkg/status\n";
        let o = origins(policy);
        assert_eq!(o["hello"], Value::str("Debian"));
        assert_eq!(o["local"], Value::Null);
        let pk = parse_apt(
            "ii \thello\t2.10-3\tamd64\tmisc\nrc \told\t1\tall\tx\n",
            "hello=2.10-3 devel\n",
            policy,
        );
        assert_eq!(pk.len(), 1);
        assert_eq!(
            crate::output::json::to_string(&Value::Seq(pk["hello"].clone()), None),
            r#"[{"arch": "amd64", "category": "devel", "name": "hello", "origin": "Debian", "source": "apt", "version": "2.10-3"}]"#
        );
    }

    #[test]
    fn rpm_lines() {
        let pk = parse_rpm("kiln-hello\t1.0\t1\t(none)\tnoarch\n");
        assert_eq!(
            crate::output::json::to_string(&pk["kiln-hello"][0], None),
            r#"{"arch": "noarch", "epoch": "None", "name": "kiln-hello", "release": "1", "source": "rpm", "version": "1.0"}"#
        );
    }
}
