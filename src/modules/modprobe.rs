//! `modprobe` (community.general.modprobe): a kernel module loaded or unloaded through the
//! target's `modprobe`, and kept across reboots or not by the files the module writes:
//! `/etc/modules-load.d/NAME.conf` (the name) and `/etc/modprobe.d/NAME.conf` (one
//! `options NAME PARAM` line per parameter), older lines commented out with `#`.

use super::sections::{marker, missing_bin, need_bin, sections};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::{Input, PutOptions, quote};
use crate::try_conn;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Modprobe;

const MODULES_LOAD: &str = "/etc/modules-load.d";
const PARAMETERS: &str = "/etc/modprobe.d";

static SPEC: ArgSpec = ArgSpec::new(&[
    Opt::new("name", Kind::Str).required(),
    Opt::new("state", Kind::Str)
        .default("present")
        .choices(&["absent", "present"]),
    Opt::new("params", Kind::Str).default(""),
    Opt::new("persistent", Kind::Str)
        .default("disabled")
        .choices(&["disabled", "present", "absent"]),
]);

#[async_trait]
impl Module for Modprobe {
    fn name(&self) -> &'static str {
        "modprobe"
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

/// What the query found on the host.
struct Host {
    loaded: Result<bool, String>,
    /// (path, content) of the regular files in each directory.
    load_files: Vec<(String, String)>,
    option_files: Vec<(String, String)>,
}

/// The module's patterns: the name alone on a line (a comment may follow), and
/// `options NAME key=value`.
struct Patterns {
    module: regex::Regex,
    params: regex::Regex,
}

impl Patterns {
    fn new(name: &str) -> Result<Patterns, String> {
        // The module puts the name into its patterns unescaped; a name is a plain word.
        let n = regex::escape(name);
        let build = |p: String| regex::Regex::new(&p).map_err(|e| e.to_string());
        Ok(Patterns {
            module: build(format!(r"^ *{n} *(?:[#;].*)?\n?\z"))?,
            params: build(format!(r"^options {n} (\w+=\S+) *(?:[#;].*)?\n?\z"))?,
        })
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
}

fn loaded_persistently(h: &Host, p: &Patterns) -> bool {
    h.load_files
        .iter()
        .any(|(_, c)| lines(c).any(|l| p.module.is_match(l)))
}

fn permanent_params(h: &Host, p: &Patterns) -> std::collections::BTreeSet<String> {
    h.option_files
        .iter()
        .flat_map(|(_, c)| lines(c).filter_map(|l| p.params.captures(l).map(|m| m[1].to_string())))
        .collect()
}

/// Each file with its matching lines commented out, when any did.
fn comment_out(files: &[(String, String)], re: &regex::Regex) -> Vec<(String, String)> {
    files
        .iter()
        .filter_map(|(path, content)| {
            let mut hit = false;
            let text: String = lines(content)
                .map(|l| {
                    if re.is_match(l) {
                        hit = true;
                        format!("#{l}")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            hit.then(|| (path.clone(), text))
        })
        .collect()
}

fn parse(text: &str, name: &str) -> Host {
    let all = sections(text);
    let mut h = Host {
        loaded: Ok(false),
        load_files: Vec::new(),
        option_files: Vec::new(),
    };
    let mut proc_modules: Option<&str> = None;
    let mut builtin: Option<&str> = None;
    let mut release = String::new();
    for (head, body) in &all {
        if let Some(p) = head.strip_prefix("load ") {
            h.load_files.push((p.to_string(), body.clone()));
        } else if let Some(p) = head.strip_prefix("options ") {
            h.option_files.push((p.to_string(), body.clone()));
        } else if head == "proc" {
            proc_modules = Some(body);
        } else if head == "builtin" {
            builtin = Some(body);
        } else if head == "release" {
            release = body.trim().to_string();
        }
    }
    let Some(pm) = proc_modules else {
        h.loaded = Err("[Errno 2] No such file or directory: '/proc/modules'".into());
        return h;
    };
    let prefix = format!("{} ", name.replace('-', "_"));
    if pm.lines().any(|l| l.starts_with(&prefix)) {
        h.loaded = Ok(true);
        return h;
    }
    let ko = format!("/{name}.ko");
    h.loaded = match builtin {
        Some(b) => Ok(b.lines().any(|l| l.trim_end().ends_with(&ko))),
        None => Err(format!(
            "[Errno 2] No such file or directory: '/lib/modules/{release}/modules.builtin'"
        )),
    };
    h
}

fn query_script() -> String {
    let dump = |dir: &str, tag: &str| {
        format!(
            "for f in {dir}/* {dir}/.*; do [ -f \"$f\" ] || continue; echo \"@@kiln:{tag} $f\"; cat \"$f\"; echo; done; ",
            dir = quote::quote(dir)
        )
    };
    format!(
        "{need}r=$(uname -r); {rel}; echo \"$r\"; \
         if [ -r /proc/modules ]; then {proc}; cat /proc/modules; fi; \
         if [ -r \"/lib/modules/$r/modules.builtin\" ]; then {bi}; cat \"/lib/modules/$r/modules.builtin\"; fi; \
         {load}{opts}",
        need = need_bin("modprobe"),
        rel = marker("release"),
        proc = marker("proc"),
        bi = marker("builtin"),
        load = dump(MODULES_LOAD, "load"),
        opts = dump(PARAMETERS, "options"),
    )
}

/// `cat` adds nothing, but the dump adds one newline after each file so the next marker
/// starts a line: take it off again.
fn strip_dump_newline(files: &mut [(String, String)]) {
    for (_, c) in files.iter_mut() {
        if c.ends_with('\n') {
            c.pop();
        }
    }
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> TaskResult {
    let name = args.str("name").unwrap_or_default();
    let params = args.str("params").unwrap_or_default();
    let state = args.str("state").unwrap_or_else(|| "present".into());
    let persistent = args.str("persistent").unwrap_or_else(|| "disabled".into());
    let result = |changed: bool| {
        TaskResult::changed(changed)
            .with("name", Value::str(name.clone()))
            .with("params", Value::str(params.clone()))
            .with("state", Value::str(state.clone()))
    };
    let patterns = match Patterns::new(&name) {
        Ok(p) => p,
        Err(e) => return TaskResult::failed(e),
    };
    let out = try_conn!(cx.sh(query_script()).await);
    let text = out.stdout_text();
    if let Some(e) = missing_bin(&sections(&text), "modprobe") {
        return TaskResult::failed(e);
    }
    let mut host = parse(&text, &name);
    strip_dump_newline(&mut host.load_files);
    strip_dump_newline(&mut host.option_files);
    let loaded = match &host.loaded {
        Ok(l) => *l,
        Err(e) => {
            let mut r = result(false);
            r.failed = true;
            r.msg = Some(e.clone());
            return r;
        }
    };
    let words: Vec<String> = params.split_whitespace().map(str::to_string).collect();
    let le = "LANGUAGE=C; LC_ALL=C; export LANGUAGE LC_ALL; PATH=\"$PATH:/sbin:/usr/sbin:/usr/local/sbin\"; ";
    let mut changed = false;
    let mut warnings: Vec<Value> = Vec::new();
    let fail = |out: &crate::connection::Output, changed: bool| {
        let mut r = result(changed);
        r.failed = true;
        r.msg = Some(out.stderr_text());
        r.rc = Some(out.rc);
        r.stdout = Some(out.stdout_text());
        r.stderr = Some(out.stderr_text());
        r
    };

    if state == "present" && !loaded {
        let dry = if cx.check_mode { "-n " } else { "" };
        // After loading, whether the module is there now decides `changed`, as in the module;
        // when it is not, modprobe is asked why and its answer becomes a warning.
        let q = quote::join(std::iter::once(name.clone()).chain(words.iter().cloned()));
        let script = format!(
            "{le}modprobe {dry}{q} || exit $?; {m}; if grep -q {pre} /proc/modules; then echo yes; else modprobe -n --first-time {q} 2>&1 >/dev/null; echo; fi",
            m = marker("after"),
            pre = quote::quote(&format!("^{} ", name.replace('-', "_"))),
        );
        let out = try_conn!(cx.sh(script).await);
        if out.rc != 0 {
            return fail(&out, changed);
        }
        let all = sections(&out.stdout_text());
        let after = super::sections::section(&all, "after").unwrap_or_default();
        if cx.check_mode || after.trim() == "yes" {
            changed = true;
        } else if !after.trim().is_empty() {
            warnings.push(Value::str(after.trim().to_string()));
        }
    } else if state == "absent" && loaded {
        let dry = if cx.check_mode { " -n" } else { "" };
        let out = try_conn!(
            cx.sh(format!("{le}modprobe -r {}{dry}", quote::quote(&name)))
                .await
        );
        if out.rc != 0 {
            return fail(&out, changed);
        }
        changed = true;
    }

    let is_persistent = loaded_persistently(&host, &patterns);
    let current: std::collections::BTreeSet<String> = permanent_params(&host, &patterns);
    let wanted: std::collections::BTreeSet<String> = words.iter().cloned().collect();
    let mut writes: Vec<(String, String)> = Vec::new();
    if persistent == "present" && !(is_persistent && wanted == current) {
        if !is_persistent {
            writes.push((format!("{MODULES_LOAD}/{name}.conf"), format!("{name}\n")));
            changed = true;
        }
        if wanted != current {
            writes.extend(comment_out(&host.option_files, &patterns.params));
            let body: Vec<String> = words
                .iter()
                .map(|p| format!("options {name} {p}"))
                .collect();
            writes.push((
                format!("{PARAMETERS}/{name}.conf"),
                format!("{}\n", body.join("\n")),
            ));
            changed = true;
        }
    } else if persistent == "absent" && (is_persistent || !current.is_empty()) {
        if is_persistent {
            writes.extend(comment_out(&host.load_files, &patterns.module));
            changed = true;
        }
        if !current.is_empty() {
            writes.extend(comment_out(&host.option_files, &patterns.params));
            changed = true;
        }
    }
    if !cx.check_mode {
        // A later write of the same file (the new options file after its old lines were
        // commented out) is the one that counts.
        let mut done: Vec<&str> = Vec::new();
        for (path, content) in writes.iter().rev() {
            if done.contains(&path.as_str()) {
                continue;
            }
            done.push(path);
            let out = try_conn!(
                cx.put(
                    Input::Bytes(content.clone().into_bytes()),
                    path,
                    &PutOptions::default()
                )
                .await
            );
            if out.rc != 0 {
                let mut r = result(changed);
                r.failed = true;
                r.msg = Some(format!(
                    "could not write `{path}`: {}",
                    out.stderr_text().trim()
                ));
                return r;
            }
        }
    }
    let mut r = result(changed);
    if !warnings.is_empty() {
        r = r.with("warnings", Value::Seq(warnings));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_from_proc_modules_or_builtin() {
        let q = "@@kiln:release\n6.1.0-1-cloud-amd64\n@@kiln:proc\nfoo_bar 16384 0 - Live 0x0\n@@kiln:builtin\nkernel/drivers/net/dummy.ko\n";
        assert_eq!(parse(q, "foo-bar").loaded, Ok(true));
        assert_eq!(parse(q, "dummy").loaded, Ok(true));
        assert_eq!(parse(q, "8021q").loaded, Ok(false));
        assert!(
            parse("@@kiln:release\nx\n", "dummy")
                .loaded
                .is_err_and(|e| e.contains("/proc/modules"))
        );
    }

    #[test]
    fn persistent_files() {
        let p = Patterns::new("dummy").unwrap();
        let host = Host {
            loaded: Ok(true),
            load_files: vec![(
                "/etc/modules-load.d/x.conf".into(),
                "# c\ndummy # why\nloop\n".into(),
            )],
            option_files: vec![(
                "/etc/modprobe.d/x.conf".into(),
                "options dummy numdummies=2\noptions loop max_loop=4\n".into(),
            )],
        };
        assert!(loaded_persistently(&host, &p));
        assert_eq!(
            permanent_params(&host, &p).into_iter().collect::<Vec<_>>(),
            vec!["numdummies=2"]
        );
        assert_eq!(
            comment_out(&host.load_files, &p.module),
            vec![(
                "/etc/modules-load.d/x.conf".to_string(),
                "# c\n#dummy # why\nloop\n".to_string()
            )]
        );
        assert!(comment_out(&host.load_files, &Patterns::new("nbd").unwrap().module).is_empty());
    }
}
