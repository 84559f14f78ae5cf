//! `deb822_repository`: an apt source in deb822 format at
//! `/etc/apt/sources.list.d/<slug>.sources`, written byte for byte as ansible-core 2.19
//! writes it (fields sorted by option name, booleans as yes/no, lists space-separated,
//! multi-line values indented with `.` for blank lines), with `signed_by` as a host file, an
//! inline key or a URL the host downloads into `/etc/apt/keyrings/<slug>.asc|gpg`.

use super::pkgutil::{download_script, read_files, title, write_file};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::connection::quote;
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Deb822Repository;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        Opt::new("allow_downgrade_to_insecure", Kind::Bool),
        Opt::new("allow_insecure", Kind::Bool),
        Opt::new("allow_weak", Kind::Bool),
        Opt::new("architectures", Kind::List),
        Opt::new("by_hash", Kind::Bool),
        Opt::new("check_date", Kind::Bool),
        Opt::new("check_valid_until", Kind::Bool),
        Opt::new("components", Kind::List),
        Opt::new("date_max_future", Kind::Int),
        Opt::new("enabled", Kind::Bool),
        Opt::new("inrelease_path", Kind::Str),
        Opt::new("languages", Kind::List),
        Opt::new("name", Kind::Str).required(),
        Opt::new("pdiffs", Kind::Bool),
        Opt::new("signed_by", Kind::Str),
        Opt::new("suites", Kind::List),
        Opt::new("targets", Kind::List),
        Opt::new("trusted", Kind::Bool),
        Opt::new("types", Kind::List).default("deb"),
        Opt::new("uris", Kind::List),
        Opt::new("mode", Kind::Raw).default("0644"),
        Opt::new("state", Kind::Str)
            .default("present")
            .choices(&["present", "absent"]),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

#[async_trait]
impl Module for Deb822Repository {
    fn name(&self) -> &'static str {
        "deb822_repository"
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

/// The file-name part of `name`: lower case, runs of `_` and spaces as `-`, and nothing but
/// `a-z0-9-` left.
fn slug(name: &str) -> String {
    let mut dashed = String::new();
    let mut in_run = false;
    for c in name.to_lowercase().chars() {
        if c == '_' || c.is_whitespace() {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

fn field_name(option: &str) -> String {
    match option {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        o => title(&o.replace('_', "-")),
    }
}

/// A value with several lines: on the lines after the field, indented by four spaces, an
/// empty line written as `.`.
fn multiline(v: &str) -> String {
    let lines: Vec<String> = v
        .trim()
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.is_empty() { ".".into() } else { t.into() }
        })
        .collect();
    let mut out = String::from("\n");
    out.push_str(
        &lines
            .iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    out
}

/// Whether Python's `urlparse` finds a scheme: letters first, then letters, digits, `+-.`
/// up to a colon (tabs and newlines are dropped first, leading blanks stripped).
fn has_scheme(v: &str) -> bool {
    let cleaned: String = v
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let Some(i) = cleaned.find(':') else {
        return false;
    };
    let scheme = &cleaned[..i];
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn render(args: &Args, signed_by: Option<&str>) -> String {
    let mut out = String::new();
    for opt in SPEC.options {
        let key = opt.name;
        if key == "mode" || key == "state" {
            continue;
        }
        let Some(v) = args.get(key) else { continue };
        let mut value = match v {
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
            Value::Seq(items) => items
                .iter()
                .map(crate::yaml::python_str)
                .collect::<Vec<_>>()
                .join(" "),
            _ if key == "signed_by" => signed_by.unwrap_or_default().to_string(),
            other => crate::yaml::python_str(other),
        };
        if value.contains('\n') {
            value = multiline(&value);
        }
        let name = field_name(key);
        // python-debian writes no space after the colon when the value starts a new line.
        if value.is_empty() || value.starts_with('\n') {
            out.push_str(&format!("{name}:{value}\n"));
        } else {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    out
}

/// `signed_by` as Ansible treats it: a file on the host is used as it is; a URL is
/// downloaded into the keyrings directory; anything else (a key, fingerprints) is written
/// into the source. Returns (changed, key file, inline data).
async fn signed_by_key(
    cx: &TaskCx<'_>,
    v: &str,
    slug: &str,
) -> Result<(bool, Option<String>, Option<String>), TaskResult> {
    let is_url = has_scheme(v);
    let q = quote::quote(v);
    if !is_url {
        let out = cx
            .sh(format!("[ -f {q} ]"))
            .await
            .map_err(super::conn_failure)?;
        return Ok(if out.rc == 0 {
            (false, Some(v.to_string()), None)
        } else {
            (false, None, Some(v.to_string()))
        });
    }
    let base = quote::quote(&format!("{KEYRINGS_DIR}/{slug}"));
    let d = quote::quote(KEYRINGS_DIR);
    let check = if cx.check_mode { "1" } else { "" };
    // Downloaded into a temp file, named .asc when armored, moved into place when it
    // differs; the keyrings directory made (root, 0755) only then, as Ansible does.
    let script = format!(
        "if [ -f {q} ]; then echo given; exit 0; fi; \
         t=$(mktemp) || exit 1; trap 'rm -f \"$t\"' EXIT; \
         {dl} || exit 3; \
         if [ ! -s \"$t\" ]; then echo given; exit 0; fi; \
         if grep -q -e '-----BEGIN PGP PUBLIC KEY BLOCK-----' \"$t\"; then f={base}.asc; else f={base}.gpg; fi; \
         echo \"file $f\"; c=0; check={check}; \
         if ! cmp -s \"$t\" \"$f\"; then c=1; \
           if [ ! -d {d} ] && [ -z \"$check\" ]; then mkdir -m 0755 {d} || exit 1; fi; \
           if [ -d {d} ]; then \
             if [ \"$(stat -c '%a %U %G' {d})\" != '755 root root' ]; then [ -z \"$check\" ] && {{ chown root:root {d} && chmod 0755 {d} || exit 1; }}; fi; \
           fi; \
           if [ -z \"$check\" ]; then cp \"$t\" \"$f.kiln-tmp\" && chmod 0644 \"$f.kiln-tmp\" && mv \"$f.kiln-tmp\" \"$f\" || exit 1; fi; \
         fi; \
         if [ -e \"$f\" ] && [ \"$(stat -c %a \"$f\")\" != 644 ]; then c=1; [ -z \"$check\" ] && chmod 0644 \"$f\"; fi; \
         echo \"changed $c\"",
        dl = download_script(v, "\"$t\"", true),
    );
    let out = cx.sh(script).await.map_err(super::conn_failure)?;
    let text = out.stdout_text();
    if out.rc != 0 {
        return Err(TaskResult::failed(format!(
            "Could not fetch signed_by key: {}",
            out.stderr_text().trim()
        )));
    }
    // A host file, or an empty download, leaves the value as the key file's name, as in
    // Ansible.
    let file = if text.lines().any(|l| l == "given") {
        Some(v.to_string())
    } else {
        text.lines()
            .find_map(|l| l.strip_prefix("file "))
            .map(str::to_string)
    };
    let changed = text.lines().any(|l| l == "changed 1");
    Ok((changed, file, None))
}

async fn run(cx: &TaskCx<'_>, args: &Args) -> Result<TaskResult, TaskResult> {
    let name = args.str("name").unwrap_or_default();
    let slug = slug(&name);
    let dest = format!("/etc/apt/sources.list.d/{slug}.sources");
    let key_gpg = format!("{KEYRINGS_DIR}/{slug}.gpg");
    for t in args.list("types") {
        let t = crate::yaml::python_str(&t);
        if t != "deb" && t != "deb-src" {
            return Err(TaskResult::failed(format!(
                "value of types must be one or more of: deb, deb-src. Got no match for: {t}"
            )));
        }
    }
    if args.str("state").as_deref() == Some("absent") {
        let key_asc = format!("{KEYRINGS_DIR}/{slug}.asc");
        let paths = [dest.as_str(), key_asc.as_str(), key_gpg.as_str()];
        let rm = if cx.check_mode { "" } else { "rm -f \"$p\"; " };
        let script = format!(
            "c=0; for p in {}; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then c=1; {rm}fi; done; echo $c",
            quote::join(paths)
        );
        let out = cx.sh(script).await.map_err(super::conn_failure)?;
        if out.rc != 0 {
            return Err(TaskResult::failed(out.stderr_text().trim().to_string()));
        }
        return Ok(TaskResult::changed(out.stdout_text().trim() == "1")
            .with("repo", Value::Null)
            .with("dest", Value::str(dest))
            .with("key_filename", Value::str(key_gpg)));
    }
    let mut changed = false;
    let mut key_file = None;
    let mut inline = None;
    if let Some(v) = args.str("signed_by") {
        let (c, f, d) = signed_by_key(cx, &v, &slug).await?;
        changed |= c;
        key_file = f;
        inline = d;
    }
    let repo = render(args, key_file.as_deref().or(inline.as_deref()));
    let current = read_files(cx, std::slice::from_ref(&dest)).await?;
    changed |= write_file(
        cx,
        &dest,
        repo.as_bytes(),
        current.first().and_then(|c| c.as_ref()),
        args.get("mode"),
    )
    .await?;
    Ok(TaskResult::changed(changed)
        .with("repo", Value::str(repo))
        .with("dest", Value::str(dest))
        .with(
            "key_filename",
            key_file.map(Value::str).unwrap_or(Value::Null),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_fields() {
        assert_eq!(slug("Kiln Test_Repo  x!"), "kiln-test-repo-x");
        assert_eq!(field_name("uris"), "URIs");
        assert_eq!(field_name("name"), "X-Repolib-Name");
        assert_eq!(field_name("check_valid_until"), "Check-Valid-Until");
        assert!(has_scheme("http://10.99.1.1/key.asc") && has_scheme("file:///k"));
        assert!(!has_scheme(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n"
        ));
        assert!(!has_scheme("/etc/apt/keyrings/x.gpg") && !has_scheme("0xABCDEF"));
    }

    #[test]
    fn multi_line_values() {
        assert_eq!(
            multiline("-----BEGIN-----\n\nabc\n-----END-----\n"),
            "\n    -----BEGIN-----\n    .\n    abc\n    -----END-----"
        );
    }
}
