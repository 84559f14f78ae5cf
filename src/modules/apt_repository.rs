//! `apt_repository`: one-line apt sources in `/etc/apt/sources.list` and
//! `/etc/apt/sources.list.d/*.list`, as ansible-core 2.19 keeps them: lines are normalized
//! (one space between words, `# ` before disabled ones, ` # ` before comments), a source
//! that exists disabled is enabled again, a new one goes into its own file named after its
//! URL (or `filename`), and a file left without lines is deleted. The cache is updated after
//! a change, and the files are put back when that fails.

use super::pkgutil::{HostFile, apt_update, read_files, write_file};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Diff, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct AptRepository;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("repo", Kind::Str).required(),
        Opt::new("state", Kind::Str)
            .default("present")
            .choices(&["absent", "present"]),
        Opt::new("mode", Kind::Raw),
        Opt::new("update_cache", Kind::Bool)
            .default("true")
            .aliases(&["update-cache"]),
        Opt::new("update_cache_retries", Kind::Int).default("5"),
        Opt::new("update_cache_retry_max_delay", Kind::Int).default("12"),
        Opt::new("filename", Kind::Str),
        Opt::new("install_python_apt", Kind::Bool).default("true"),
        Opt::new("validate_certs", Kind::Bool).default("true"),
        Opt::new("codename", Kind::Str),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";

#[async_trait]
impl Module for AptRepository {
    fn name(&self) -> &'static str {
        "apt_repository"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        match run(cx, &args).await {
            Ok(r) | Err(r) => r,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Line {
    valid: bool,
    enabled: bool,
    source: String,
    comment: String,
}

/// One line of a sources file, read as Ansible reads it.
fn parse_line(raw: &str) -> Line {
    let mut line = raw.trim();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let mut comment = "";
    if let Some(i) = line.find('#')
        && i > 0
    {
        comment = line[i + 1..].trim();
        line = &line[..i];
    }
    let mut source = line.trim().to_string();
    let words: Vec<&str> = source.split_whitespace().collect();
    let valid = matches!(words.first(), Some(&("deb" | "deb-src")));
    if valid {
        source = words.join(" ");
    }
    Line {
        valid,
        enabled,
        source,
        comment: comment.to_string(),
    }
}

fn dump(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        if !l.enabled {
            out.push_str("# ");
        }
        out.push_str(&l.source);
        if !l.comment.is_empty() {
            out.push_str(" # ");
            out.push_str(&l.comment);
        }
        out.push('\n');
    }
    out
}

/// The file a new source goes to: `filename` plus `.list`, or the source's host and path
/// with everything but letters and digits turned into `_`.
fn suggest_filename(source: &str, filename: Option<&str>) -> String {
    let name = match filename {
        Some(f) => f.to_string(),
        None => {
            // Options in brackets and URL schemes go, then the types.
            let no_opts = regex::Regex::new(r"\[[^\]]+\]")
                .map(|r| r.replace_all(source, "").into_owned())
                .unwrap_or_else(|_| source.to_string());
            let no_scheme = regex::Regex::new(r"\w+://")
                .map(|r| r.replace_all(&no_opts, "").into_owned())
                .unwrap_or(no_opts);
            let first = no_scheme
                .split_whitespace()
                .find(|p| *p != "deb" && *p != "deb-src")
                .unwrap_or("");
            let first = first.split_once('@').map_or(first, |(_, host)| host);
            first
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("_")
        }
    };
    let file = format!("{name}.list");
    if file.contains('/') {
        file
    } else {
        format!("{SOURCES_DIR}/{file}")
    }
}

/// A sources file: where it is read, where it is written (a link's target), its lines.
struct SourceFile {
    path: String,
    write_to: String,
    raw: Option<HostFile>,
    lines: Vec<Line>,
}

async fn load(cx: &TaskCx<'_>) -> Result<Vec<SourceFile>, TaskResult> {
    let list = cx
        .sh(format!(
            "for f in {} {}/*.list; do [ -f \"$f\" ] || continue; \
             if [ -L \"$f\" ]; then echo \"$f\t$(readlink -f \"$f\")\"; else echo \"$f\t$f\"; fi; done",
            quote::quote(SOURCES_LIST),
            quote::quote(SOURCES_DIR)
        ))
        .await
        .map_err(super::conn_failure)?;
    let text = list.stdout_text();
    let entries: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let paths: Vec<String> = entries.iter().map(|(p, _)| p.clone()).collect();
    let contents = read_files(cx, &paths).await?;
    Ok(entries
        .into_iter()
        .zip(contents)
        .map(|((path, write_to), raw)| {
            let text = raw
                .as_ref()
                .map(|f| String::from_utf8_lossy(&f.content).into_owned())
                .unwrap_or_default();
            SourceFile {
                path,
                write_to,
                lines: text.lines().map(parse_line).collect(),
                raw,
            }
        })
        .collect())
}

fn dumps(files: &[SourceFile]) -> Vec<(String, String)> {
    files
        .iter()
        .filter(|f| !f.lines.is_empty())
        .map(|f| (f.path.clone(), dump(&f.lines)))
        .collect()
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, TaskResult> {
    let repo = args.str("repo").unwrap_or_default();
    let state = args.str("state").unwrap_or_else(|| "present".into());
    if repo.is_empty() {
        return Err(TaskResult::failed(
            "Please set argument 'repo' to a non-empty value",
        ));
    }
    if repo.starts_with("ppa:") {
        return Err(TaskResult::failed(
            "kiln's apt_repository does not support `ppa:` repositories (they need Launchpad's API); give the repository's deb line",
        ));
    }
    let mut files = load(cx).await?;
    let before = dumps(&files);
    let parsed = parse_line(&repo);
    if !parsed.valid || !parsed.enabled {
        let mut line = repo.trim();
        line = line.strip_prefix('#').unwrap_or(line);
        if let Some(i) = line.find('#').filter(|i| *i > 0) {
            line = &line[..i];
        }
        return Err(TaskResult::failed(format!(
            "Invalid repository string: {line}"
        )));
    }
    let source = parsed.source;
    let mut new_file = None;
    if state == "present" {
        let mut found = false;
        for f in &mut files {
            for l in &mut f.lines {
                if l.valid && l.source == source {
                    l.enabled = true;
                    found = true;
                }
            }
        }
        if !found {
            let target = suggest_filename(&source, args.str("filename").as_deref());
            let line = Line {
                valid: true,
                enabled: true,
                source: source.clone(),
                comment: String::new(),
            };
            match files.iter_mut().find(|f| f.path == target) {
                Some(f) => f.lines.push(line),
                None => files.push(SourceFile {
                    path: target.clone(),
                    write_to: target.clone(),
                    raw: None,
                    lines: vec![line],
                }),
            }
            new_file = Some(target);
        }
    } else {
        for f in &mut files {
            f.lines
                .retain(|l| !(l.valid && l.enabled && l.source == source));
        }
    }
    let after = dumps(&files);
    let changed = before != after;
    let names =
        |d: &[(String, String)]| -> Vec<String> { d.iter().map(|(p, _)| p.clone()).collect() };
    let (bn, an) = (names(&before), names(&after));
    let mut added: Vec<String> = an.iter().filter(|p| !bn.contains(p)).cloned().collect();
    let mut removed: Vec<String> = bn.iter().filter(|p| !an.contains(p)).cloned().collect();
    added.sort();
    removed.sort();
    let mut result = TaskResult::changed(changed);
    if changed && cx.diff_mode {
        let text = |d: &[(String, String)], p: &str| {
            d.iter()
                .find(|(n, _)| n == p)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        };
        for p in added.iter().chain(&removed) {
            result.diff.push(Diff {
                before_header: if bn.contains(p) {
                    p.clone()
                } else {
                    "/dev/null".into()
                },
                after_header: if an.contains(p) {
                    p.clone()
                } else {
                    "/dev/null".into()
                },
                before: text(&before, p),
                after: text(&after, p),
            });
        }
    }
    if changed && !cx.check_mode {
        save(cx, &files, new_file.as_deref(), args.get("mode")).await?;
        if args.bool("update_cache") {
            let retries = int(args, "update_cache_retries", 5);
            let delay = int(args, "update_cache_retry_max_delay", 12);
            match apt_update(cx, retries, delay, 60).await {
                Ok(w) if !w.is_empty() => {
                    result = result.with(
                        "warnings",
                        Value::Seq(w.into_iter().map(Value::str).collect()),
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    revert(cx, &files).await;
                    return Err(e);
                }
            }
        }
    }
    Ok(result
        .with("repo", Value::str(repo))
        .with(
            "sources_added",
            Value::Seq(added.into_iter().map(Value::str).collect()),
        )
        .with(
            "sources_removed",
            Value::Seq(removed.into_iter().map(Value::str).collect()),
        )
        .with("state", Value::str(state)))
}

/// Writes every file whose normalized text differs from what it holds, and deletes files
/// left without lines, as Ansible's save (which rewrites them all) leaves them.
async fn save(
    cx: &TaskCx<'_>,
    files: &[SourceFile],
    new_file: Option<&str>,
    mode: Option<&Value>,
) -> Result<(), TaskResult> {
    let mut gone = Vec::new();
    for f in files {
        if f.lines.is_empty() {
            if f.raw.is_some() {
                gone.push(f.path.clone());
            }
            continue;
        }
        let mode = mode.filter(|_| new_file == Some(f.path.as_str()));
        write_file(
            cx,
            &f.write_to,
            dump(&f.lines).as_bytes(),
            f.raw.as_ref(),
            mode,
        )
        .await?;
    }
    if !gone.is_empty() {
        let out = cx
            .sh(format!("rm -f {}", quote::join(&gone)))
            .await
            .map_err(super::conn_failure)?;
        if out.rc != 0 {
            return Err(TaskResult::failed(out.stderr_text().trim().to_string()));
        }
    }
    Ok(())
}

/// Puts the files back as they were: new ones removed, the others with their old content.
async fn revert(cx: &TaskCx<'_>, files: &[SourceFile]) {
    for f in files {
        match &f.raw {
            Some(raw) => {
                let _ = write_file(cx, &f.write_to, &raw.content, None, None).await;
            }
            None => {
                let _ = cx.sh(format!("rm -f {}", quote::quote(&f.path))).await;
            }
        }
    }
}

fn int(args: &Args, key: &str, default: i128) -> i128 {
    match args.get(key) {
        Some(Value::Int(i)) => *i,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_ansible_reads_them() {
        let l =
            parse_line("  deb   [signed-by=/k.gpg]  http://10.99.1.1:8000/repo  ./   # local  \n");
        assert!(l.valid && l.enabled);
        assert_eq!(
            l.source,
            "deb [signed-by=/k.gpg] http://10.99.1.1:8000/repo ./"
        );
        assert_eq!(l.comment, "local");
        let d = parse_line("#deb http://x bookworm main");
        assert!(d.valid && !d.enabled);
        assert_eq!(
            dump(&[d, parse_line("")]),
            "# deb http://x bookworm main\n\n"
        );
        assert!(!parse_line("# a comment").valid);
    }

    #[test]
    fn file_names_from_urls() {
        assert_eq!(
            suggest_filename(
                "deb [signed-by=/k.gpg] http://user:pw@10.99.1.1:8000/repo ./",
                None
            ),
            "/etc/apt/sources.list.d/10_99_1_1_8000_repo.list"
        );
        assert_eq!(
            suggest_filename("deb http://x ./", Some("kiln")),
            "/etc/apt/sources.list.d/kiln.list"
        );
        assert_eq!(
            suggest_filename("deb http://x ./", Some("/etc/apt/sources.list.d/a")),
            "/etc/apt/sources.list.d/a.list"
        );
    }
}
