//! `template`: render a Jinja template from `templates/` on the controller, then write it
//! like `copy` (checksum compare, atomic write, attributes, backup, validate).

use super::copy::{DiffAfter, FILE_COMMON, Source, write_content};
use super::spec::{ArgSpec, Kind, Opt};
use super::{Args, Module, TaskCx, TaskResult};
use crate::yaml::Value;
use async_trait::async_trait;

pub struct Template;

static SPEC: ArgSpec = ArgSpec {
    options: &[
        FILE_COMMON[0],
        FILE_COMMON[1],
        FILE_COMMON[2],
        FILE_COMMON[3],
        FILE_COMMON[4],
        FILE_COMMON[5],
        FILE_COMMON[6],
        Opt::new("src", Kind::Path).required(),
        Opt::new("newline_sequence", Kind::Str)
            .default("\n")
            .choices(&["\n", "\r", "\r\n"]),
        Opt::new("follow", Kind::Bool).default("false"),
        Opt::new("unsafe_writes", Kind::Bool).default("false"),
        Opt::new("output_encoding", Kind::Str)
            .default("utf-8")
            .choices(&["utf-8"]),
    ],
    mutually_exclusive: &[],
    required_one_of: &[],
    required_together: &[],
    free_form: false,
    open: false,
};

#[async_trait]
impl Module for Template {
    fn name(&self) -> &'static str {
        "template"
    }
    fn spec(&self) -> &'static ArgSpec {
        &SPEC
    }
    async fn run(&self, cx: &TaskCx<'_>, args: Args) -> TaskResult {
        let src = args.str("src").unwrap_or_default();
        let dest = args.str("dest").unwrap_or_default();
        let Some(path) = cx.search.find("templates", &src) else {
            return TaskResult::failed(format!(
                "could not find or access `{src}` in templates/ or the playbook directory"
            ));
        };
        // A vault-encrypted template is decrypted first, as Ansible's loader does.
        let text = match crate::yaml::read_file(&path) {
            Ok(t) => t,
            Err(e) => return TaskResult::failed(e.with_cause()),
        };
        let mut vars = cx.vars.clone();
        let full = path.canonicalize().unwrap_or_else(|_| path.clone());
        for (k, v) in [
            ("template_path", src.clone()),
            ("template_fullpath", full.display().to_string()),
            ("template_destpath", dest.clone()),
            ("template_host", controller_hostname()),
        ] {
            vars.insert(Value::str(k), Value::str(v));
        }
        vars.insert(Value::str("ansible_managed"), Value::str("Ansible managed"));
        let rendered = match cx.templar.render_file_text(&text, &vars) {
            Ok(r) => r,
            Err(e) => return TaskResult::failed(format!("{}: {e}", path.display())),
        };
        let newline = args.str("newline_sequence").unwrap_or_else(|| "\n".into());
        let rendered = if newline == "\n" {
            rendered
        } else {
            rendered.replace('\n', &newline)
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut r = write_content(
            cx,
            &args,
            Source::Bytes(rendered.into_bytes()),
            &dest,
            name.as_deref(),
            DiffAfter::Generated,
        )
        .await;
        r.data
            .insert(Value::str("src"), Value::str(full.display().to_string()));
        r
    }
}

/// The controller's host name, for `template_host`.
fn controller_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
