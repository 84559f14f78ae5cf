//! Rendering one template string or expression the way Ansible 2.19's engine does.
//!
//! Jinja in Ansible runs in "native" mode: the output nodes of a template are concatenated
//! only when there is more than one; a template that produces exactly one `{{ }}` value
//! returns that value with its type (`"{{ [1, 2] }}"` is a list), one that produces nothing
//! returns `None`. kiln records what each `{{ }}` emitted in a [`State`] extension through
//! its formatter and decides after rendering.

use super::format::emit_text;
use super::source::{self, Overrides};
use super::vars::Ctx;
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, Output, State, Value as Mj};
use std::sync::Arc;

thread_local! {
    /// Directories `{% include %}`/`{% import %}` search while a file template renders.
    static INCLUDE_PATHS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `dirs` as the include search path (restored afterwards).
pub fn with_include_paths<T>(dirs: Vec<String>, f: impl FnOnce() -> T) -> T {
    let saved = INCLUDE_PATHS.with(|p| std::mem::replace(&mut *p.borrow_mut(), dirs));
    let out = f();
    INCLUDE_PATHS.with(|p| *p.borrow_mut() = saved);
    out
}

/// Resolves an include name against the current search path (an absolute path names the
/// template in minijinja's cache, so the same name in two roles does not collide).
pub fn join_include_path<'s>(name: &'s str, _parent: &'s str) -> std::borrow::Cow<'s, str> {
    if name.starts_with('/') {
        return std::borrow::Cow::Borrowed(name);
    }
    INCLUDE_PATHS.with(|p| {
        for dir in p.borrow().iter() {
            let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
            if std::path::Path::new(&candidate).is_file() {
                return std::borrow::Cow::Owned(candidate);
            }
        }
        std::borrow::Cow::Borrowed(name)
    })
}

/// Loads an included template from disk, prepared as top-level templates are.
pub fn load_include(name: &str) -> Result<Option<String>, Error> {
    if !name.starts_with('/') {
        return Ok(None);
    }
    let Ok(text) = std::fs::read_to_string(name) else {
        return Ok(None);
    };
    let o = Overrides::default();
    let text = normalize_newlines(&text, false);
    Ok(Some(
        source::strict_blocks(&text, &o, super::RESULT_FN).into_owned(),
    ))
}

/// What every templating call shares: the environment.
pub struct Engine {
    pub env: Environment<'static>,
}

/// Ansible's per-call template options.
#[derive(Debug, Clone, Copy)]
pub struct RenderOpts {
    /// Keep backslashes of `{{ }}` string literals as written.
    pub escape_backslashes: bool,
    /// Restore trailing newlines Jinja drops.
    pub preserve_trailing_newlines: bool,
}

impl RenderOpts {
    /// `Templar.template()` on task data and variables.
    pub const VARIABLE: RenderOpts = RenderOpts {
        escape_backslashes: true,
        preserve_trailing_newlines: true,
    };
    /// The `template` module.
    pub const FILE: RenderOpts = RenderOpts {
        escape_backslashes: false,
        preserve_trailing_newlines: true,
    };
}

/// What the `{{ }}` blocks of one render produced.
#[derive(Default)]
struct Emitted {
    count: usize,
    first: Option<(Mj, String)>,
}

/// The formatter: Python `str()` of each value (None prints nothing), recording the values
/// for native results. An undefined value is an error naming it.
pub fn formatter(out: &mut Output, state: &mut State, value: &Mj) -> Result<(), Error> {
    let text = emit_text(value)?;
    let e = state.get_or_insert_extension_with(Emitted::default);
    e.count += 1;
    if e.count == 1 {
        e.first = Some((value.clone(), text.clone()));
    }
    out.write_str(&text)
        .map_err(|_| Error::new(ErrorKind::WriteFailure, "failed to write output"))
}

/// The syntax configuration for a set of overrides.
pub fn syntax(o: &Overrides) -> Result<SyntaxConfig, Error> {
    let mut b = SyntaxConfig::builder();
    b.block_delimiters(o.block_start.clone(), o.block_end.clone())
        .variable_delimiters(o.variable_start.clone(), o.variable_end.clone())
        .comment_delimiters(o.comment_start.clone(), o.comment_end.clone())
        .trim_blocks(o.trim_blocks)
        .lstrip_blocks(o.lstrip_blocks)
        .keep_trailing_newline(o.keep_trailing_newline);
    if let Some(p) = &o.line_statement_prefix {
        b.line_statement_prefix(p.clone());
    }
    if let Some(p) = &o.line_comment_prefix {
        b.line_comment_prefix(p.clone());
    }
    b.build()
}

fn count_trailing_newlines(s: &str) -> usize {
    s.bytes().rev().take_while(|&b| b == b'\n').count()
}

/// Jinja's lexer splits the source on `\r\n`, `\r` and `\n` and joins the lines with
/// `\n`, so Windows line endings in template text become `\n` (a template without any
/// Jinja markup is never rendered and keeps them).
fn normalize_newlines(src: &str, keep_trailing: bool) -> std::borrow::Cow<'_, str> {
    if !src.contains('\r') {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut out = src.replace("\r\n", "\n").replace('\r', "\n");
    if !keep_trailing && out.ends_with('\n') && !src.ends_with('\n') {
        // A lone trailing `\r` counts as the trailing newline Jinja drops.
        out.pop();
    }
    std::borrow::Cow::Owned(out)
}

/// Renders a template string to its native value.
pub fn render_str(ctx: &Arc<Ctx>, src: &str, opts: RenderOpts) -> Result<Mj, Error> {
    let (overrides, body) =
        source::split_header(src).map_err(|m| Error::new(ErrorKind::SyntaxError, m))?;
    let overlay;
    let env: &Environment<'_> = if overrides.is_default() {
        &ctx.engine.env
    } else {
        let mut e = ctx.engine.env.clone();
        e.set_syntax(syntax(&overrides)?);
        overlay = e;
        &overlay
    };
    use std::borrow::Cow;
    let body = normalize_newlines(body, overrides.keep_trailing_newline);
    let body = match opts.escape_backslashes {
        true => match source::escape_backslashes(&body, &overrides) {
            Cow::Owned(s) => Cow::Owned(s),
            Cow::Borrowed(_) => body,
        },
        false => body,
    };
    let body = match source::percent_in_template(&body, &overrides) {
        Cow::Owned(s) => Cow::Owned(s),
        Cow::Borrowed(_) => body,
    };
    let body = match source::strict_blocks(&body, &overrides, super::RESULT_FN) {
        Cow::Owned(s) => Cow::Owned(s),
        Cow::Borrowed(_) => body,
    };
    let tmpl = env.template_from_str(&body)?;
    let captured = tmpl.render_captured(ctx.root())?;
    let output = captured.output();
    let emitted = captured.state().get_extension::<Emitted>();
    let result = match emitted {
        Some(Emitted {
            count: 1,
            first: Some((value, text)),
        }) if text == output => value.clone(),
        Some(Emitted { count, .. }) if *count > 0 => Mj::from(output),
        _ if output.is_empty() => Mj::from(()),
        _ => Mj::from(output),
    };
    if opts.preserve_trailing_newlines
        && let Some(s) = result.as_str()
    {
        let want = count_trailing_newlines(src);
        let have = count_trailing_newlines(s);
        if want > have {
            let mut s = s.to_string();
            for _ in 0..want - have {
                s.push_str(&overrides.newline_sequence);
            }
            return Ok(Mj::from(s));
        }
    }
    Ok(result)
}

/// Evaluates a bare Jinja expression.
pub fn eval_expr(ctx: &Arc<Ctx>, expr: &str) -> Result<Mj, Error> {
    let compiled = ctx.engine.env.compile_expression_owned(expr.to_string())?;
    compiled.eval(ctx.root())
}
