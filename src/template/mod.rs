//! Ansible's templating on minijinja, as ansible-core 2.19 behaves.
//!
//! [`Templar`] owns one minijinja environment with Ansible's filters, tests and lookups
//! (`filters/`, `tests.rs`, `lookups.rs`). Each call builds a lazy context over the
//! variables (`vars.rs`), renders (`render.rs`) and finalizes the result into kiln's data
//! model (`value.rs`).
//!
//! The semantics follow 2.19, checked against ansible-core by `tests/template_diff.rs`:
//!
//! - A template whose output is exactly one `{{ }}` value keeps that value's type; any text
//!   around it (even a space) makes the result a string; a template that outputs nothing
//!   is `None`. Trailing newlines of the template are kept.
//! - Variables are templated lazily, when read, with their native type; a variable whose
//!   template uses an undefined name is itself undefined.
//! - Undefined values are errors when printed, iterated (`{% for %}`), tested by
//!   `{% if %}`, passed to a filter, or when they are a conditional's result, except under
//!   `default`, `is defined`, `is undefined` and `mandatory`. Attribute access on an
//!   undefined value stays undefined (so `a.b.c | default(1)` works as in Ansible).
//! - Conditionals must produce a boolean: 2.19 rejects `when: "yes"` or `when: 1` with a
//!   "broken conditional" error, and kiln does the same ([`TemplateError::Conditional`]).
//! - [`Templar::template`] templates values, not map keys (2.19 leaves keys as written).
//! - `omit` is a placeholder string ([`is_omit`]); [`Templar::template`] drops omitted
//!   values from dicts and lists as 2.19 does; a top-level omitted value is returned as the
//!   placeholder for the caller to drop.
//!
//! Known gaps (listed as `known_difference` in the differential test): an undefined value
//! used with `not`, `==`, `in` or `~` inside an expression is treated as falsy/empty
//! instead of failing, because minijinja's chainable undefined cannot fail only there.

mod deps;
pub(crate) mod filters;
mod format;
mod lookups;
mod methods;
mod random;
mod render;
mod source;
mod strict;
mod tests;
mod value;
mod vars;
mod yaml_dump;

pub use lookups::template_vars;
pub use random::{PyRandom, Seed};
pub use value::OMIT;

use crate::yaml::{Map, Value};
use minijinja::value::{Rest, ValueOrKwargs};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use render::{Engine, RenderOpts};
use std::fmt;
use std::sync::Arc;
use vars::Ctx;

/// Why templating failed. Messages are lowercase and quote names in backticks.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A variable or attribute the template needs does not exist.
    #[error("{message}")]
    Undefined { name: String, message: String },
    /// The template or expression does not parse.
    #[error("template syntax error: {message}")]
    Syntax { message: String },
    /// A filter rejected its input.
    #[error("filter `{name}` failed: {message}")]
    Filter { name: String, message: String },
    /// A test rejected its input.
    #[error("test `{name}` failed: {message}")]
    Test { name: String, message: String },
    /// A lookup failed.
    #[error("lookup `{name}` failed: {message}")]
    Lookup { name: String, message: String },
    /// A conditional did not produce a boolean, or was empty.
    #[error("conditional `{condition}`: {message}")]
    Conditional { condition: String, message: String },
    /// Variables refer to each other in a loop, or too deeply.
    #[error("{message}")]
    Recursion { name: String, message: String },
    /// An encrypted value was needed and could not be decrypted.
    #[error("{message}")]
    Vault { message: String },
    /// Any other failure while rendering.
    #[error("template error: {message}")]
    Render { message: String },
}

/// Which kind of plugin produced an error (carried as the minijinja error's source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plugin {
    Filter,
    Test,
    Lookup,
    Vault,
    Recursion,
}

#[derive(Debug)]
struct PluginFailure {
    kind: Plugin,
    name: String,
    message: String,
}

impl fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginFailure {}

/// A plugin error that [`TemplateError`] can tell apart from engine errors.
pub(crate) fn fail_plain(kind: Plugin, name: &str, message: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.to_string()).with_source(PluginFailure {
        kind,
        name: name.to_string(),
        message: message.to_string(),
    })
}

/// Whether a value is the `omit` placeholder (drop the module argument it is bound to).
pub fn is_omit(v: &Value) -> bool {
    matches!(v, Value::Str(s) | Value::Unsafe(s) if s == OMIT)
}

/// The variable name in an undefined error's message ("`foo.bar` is undefined").
pub(crate) fn undefined_name(e: &Error) -> Option<String> {
    let detail = e.detail()?;
    let end = detail.find("` is undefined")?;
    let start = detail[..end].rfind('`')?;
    Some(detail[start + 1..end].to_string())
}

fn convert(e: Error) -> TemplateError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = src {
        if let Some(p) = s.downcast_ref::<PluginFailure>() {
            let (name, message) = (p.name.clone(), p.message.clone());
            return match p.kind {
                Plugin::Filter => TemplateError::Filter { name, message },
                Plugin::Test => TemplateError::Test { name, message },
                Plugin::Lookup => TemplateError::Lookup { name, message },
                Plugin::Vault => TemplateError::Vault { message },
                Plugin::Recursion => TemplateError::Recursion { name, message },
            };
        }
        src = s.source();
    }
    match e.kind() {
        ErrorKind::UndefinedError => {
            let name = undefined_name(&e).unwrap_or_else(|| "<unknown>".to_string());
            let message = match vars::root_cause(&name) {
                Some(cause) => format!("`{cause}` is undefined (needed by `{name}`)"),
                None => format!("`{name}` is undefined"),
            };
            let name = vars::root_cause(&name).unwrap_or(name);
            TemplateError::Undefined { name, message }
        }
        ErrorKind::SyntaxError | ErrorKind::BadEscape => TemplateError::Syntax {
            message: e.to_string(),
        },
        _ => TemplateError::Render {
            message: e.to_string(),
        },
    }
}

/// Ansible's template engine: filters, tests and lookups on one minijinja environment.
#[derive(Clone)]
pub struct Templar {
    engine: Arc<Engine>,
}

impl Default for Templar {
    fn default() -> Templar {
        Templar::new()
    }
}

impl fmt::Debug for Templar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Templar")
    }
}

/// The name of the function that fails on an undefined final result, so the error names
/// the expression.
pub(crate) const RESULT_FN: &str = "__kiln_result";

fn result_fn(v: minijinja::Value) -> Result<minijinja::Value, Error> {
    if v.is_undefined() {
        return Err(value::undefined_error(&v));
    }
    Ok(v)
}

/// Python's `fmt % args` (see [`source::percent_in_template`]).
fn percent_fn(
    fmt: String,
    args: minijinja::Value,
    is_tuple: bool,
) -> Result<minijinja::Value, Error> {
    if args.is_undefined() {
        return Err(value::undefined_error(&args));
    }
    let (list, named) = if is_tuple {
        (value::items(&args)?, None)
    } else if args.kind() == minijinja::value::ValueKind::Map {
        (vec![args.clone()], Some(args))
    } else {
        (vec![args], None)
    };
    filters::text::percent_format(&fmt, &list, named.as_ref())
        .map(minijinja::Value::from)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
}

/// Ansible's `undef(hint)` global: an undefined value (kiln cannot carry the hint).
fn undef_fn(hint: Option<minijinja::Value>) -> Result<minijinja::Value, Error> {
    if let Some(h) = &hint
        && !h.is_none()
        && h.as_str().is_none()
    {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "undef() hint must be a string",
        ));
    }
    Ok(minijinja::Value::UNDEFINED)
}

fn embedded_template(state: &State, args: Rest<ValueOrKwargs>) -> Result<minijinja::Value, Error> {
    let args = args.into_values();
    let text = args.first().and_then(|v| v.as_str()).unwrap_or_default();
    let Some(ctx) = vars::ctx_of(state) else {
        return Ok(minijinja::Value::from(text));
    };
    render::render_str(&ctx, text, RenderOpts::VARIABLE)
}

impl Templar {
    pub fn new() -> Templar {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_debug(true);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        if let Ok(syntax) = render::syntax(&source::Overrides::default()) {
            env.set_syntax(syntax);
        }
        env.set_formatter(render::formatter);
        env.set_unknown_method_callback(methods::callback);
        env.set_path_join_callback(render::join_include_path);
        env.set_loader(render::load_include);
        filters::register(&mut env);
        tests::register(&mut env);
        lookups::register(&mut env);
        env.add_global("omit", OMIT);
        env.add_function(RESULT_FN, result_fn);
        env.add_function(source::EMBEDDED_FN, embedded_template);
        env.add_function("dict", filters::dict_global);
        env.add_function("undef", undef_fn);
        env.add_function(source::PERCENT_FN, percent_fn);
        env.add_function("cycler", minijinja_contrib::globals::cycler);
        env.add_function("joiner", minijinja_contrib::globals::joiner);
        Templar {
            engine: Arc::new(Engine { env }),
        }
    }

    /// A scope over shared variables: several calls reuse what was templated already.
    /// Prefer this over the `&Map` methods when templating many values with the same vars.
    pub fn scope(&self, vars: Arc<Map>) -> Scope {
        Scope {
            ctx: Ctx::new(self.engine.clone(), vars),
        }
    }

    /// A scope holding a copy of just the variables `sources` can read.
    fn scope_for(&self, sources: &[deps::Source<'_>], vars: &Map) -> Scope {
        self.scope(Arc::new(deps::needed_vars(&self.engine.env, sources, vars)))
    }

    /// Templates a string. A string that is exactly one `{{ expr }}` keeps the expression's
    /// native type (list, dict, int, bool); otherwise the result is a string, as Ansible
    /// 2.19 does. Strings without `{{`/`{%`/`{#` are returned untouched.
    pub fn template_str(&self, s: &str, vars: &Map) -> Result<Value, TemplateError> {
        if !value::has_template(s) {
            return Ok(Value::str(s));
        }
        self.scope_for(&[deps::Source::Template(s)], vars)
            .template_str(s)
    }

    /// Recursively templates every string value inside a value; `Unsafe` values are left
    /// alone, `Vault` values are decrypted (their plaintext is never templated, as 2.19
    /// does not trust it), omitted values drop out of containers. Map keys are not
    /// templated: ansible-core 2.19 leaves them as written (checked by the oracle).
    pub fn template(&self, v: &Value, vars: &Map) -> Result<Value, TemplateError> {
        if !needs_templating(v) {
            return Ok(v.clone());
        }
        let mut strings = Vec::new();
        template_strings(v, &mut strings);
        let sources: Vec<deps::Source<'_>> =
            strings.into_iter().map(deps::Source::Template).collect();
        self.scope_for(&sources, vars).template(v)
    }

    /// Evaluates a conditional as `when:`/`failed_when:`/`changed_when:`/`assert that:` do.
    ///
    /// A bool is itself; a list is the `and` of its items (stopping at the first false);
    /// a string is a bare Jinja expression (one wrapped in `{{ }}` is templated first, as
    /// Ansible still allows). The result must be a boolean: ansible-core 2.19 rejects
    /// non-boolean results such as the string `"yes"`, `1` or a list as a "broken
    /// conditional", and so does kiln. Empty conditionals are errors too.
    pub fn evaluate_conditional(&self, cond: &Value, vars: &Map) -> Result<bool, TemplateError> {
        if let Value::Bool(b) = cond {
            return Ok(*b);
        }
        let mut sources = Vec::new();
        conditional_sources(cond, &mut sources);
        self.scope_for(&sources, vars).evaluate_conditional(cond)
    }

    /// Evaluates a bare expression to its native value, as `Templar.evaluate_expression`
    /// does. Template delimiters are a syntax error here, as in Ansible: values written
    /// as `"{{ ... }}"` (`loop:`) go through [`Templar::template_str`].
    pub fn eval_expr(&self, expr: &str, vars: &Map) -> Result<Value, TemplateError> {
        self.scope_for(&[deps::Source::Expr(expr)], vars)
            .eval_expr(expr)
    }

    /// Renders a template file as the `template` module does: [`Templar::render_file_text`]
    /// on its contents, with Ansible's template variables (`template_path`,
    /// `template_fullpath`, `template_host`, `template_uid`, `ansible_managed` unless set)
    /// and `{% include %}` resolved against the file's directory and `ansible_search_path`
    /// (each entry and its `templates/`).
    pub fn render_file(&self, path: &std::path::Path, vars: &Map) -> Result<String, TemplateError> {
        let text = crate::yaml::read_file(path).map_err(|e| TemplateError::Render {
            message: e.with_cause(),
        })?;
        let full = path.to_string_lossy().into_owned();
        let mut all = vars.clone();
        for (k, v) in template_vars(&full, &full, None) {
            if k.as_str() == Some("ansible_managed") && all.contains_key(&k) {
                continue;
            }
            all.insert(k, v);
        }
        let mut dirs = include_dirs(&all);
        if let Some(parent) = path.parent() {
            dirs.push(parent.to_string_lossy().into_owned());
        }
        let scope = self.scope(Arc::new(all));
        render::with_include_paths(dirs, || scope.render_file_text(&text))
    }

    /// Renders a whole template file's text as the `template` module does: `trim_blocks`
    /// on, `lstrip_blocks` off, backslashes processed by Jinja, trailing newlines kept,
    /// `#jinja2:` header overrides honoured. Always a string.
    pub fn render_file_text(&self, text: &str, vars: &Map) -> Result<String, TemplateError> {
        if !value::has_template(text) {
            return Ok(text.to_string());
        }
        let dirs = include_dirs(vars);
        let scope = self.scope_for(&[deps::Source::Template(text)], vars);
        render::with_include_paths(dirs, || scope.render_file_text(text))
    }
}

/// The include search path of the `template` action: each `ansible_search_path` entry's
/// `templates/`, then the entry itself.
fn include_dirs(vars: &Map) -> Vec<String> {
    let mut dirs = Vec::new();
    let entries: Vec<String> = match vars.get(&Value::str("ansible_search_path")) {
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::Str(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    for e in entries {
        dirs.push(format!("{}/templates", e.trim_end_matches('/')));
        dirs.push(e);
    }
    dirs
}

fn template_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Str(s) if value::has_template(s) => out.push(s),
        Value::Seq(items) => items.iter().for_each(|i| template_strings(i, out)),
        Value::Map(m) => m.values().for_each(|i| template_strings(i, out)),
        _ => {}
    }
}

fn conditional_sources<'a>(cond: &'a Value, out: &mut Vec<deps::Source<'a>>) {
    match cond {
        Value::Str(s) | Value::Unsafe(s) => {
            // A wrapped conditional may template to an expression naming anything;
            // `Expr` with delimiters makes the copy complete.
            out.push(deps::Source::Expr(s.trim()));
        }
        Value::Seq(items) => items.iter().for_each(|i| conditional_sources(i, out)),
        _ => {}
    }
}

fn needs_templating(v: &Value) -> bool {
    match v {
        Value::Str(s) => value::has_template(s),
        Value::Vault(_) => true,
        Value::Seq(items) => items.iter().any(needs_templating),
        Value::Map(m) => m.values().any(needs_templating),
        _ => false,
    }
}

/// Templating calls that share one set of variables and what was templated from them.
pub struct Scope {
    ctx: Arc<Ctx>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.ctx.finish();
    }
}

impl Scope {
    fn run<T>(&self, f: impl FnOnce(&Arc<Ctx>) -> Result<T, Error>) -> Result<T, TemplateError> {
        vars::clear_causes();
        f(&self.ctx).map_err(convert)
    }

    /// See [`Templar::template_str`].
    pub fn template_str(&self, s: &str) -> Result<Value, TemplateError> {
        if !value::has_template(s) {
            return Ok(Value::str(s));
        }
        self.run(|ctx| {
            let v = render::render_str(ctx, s, RenderOpts::VARIABLE)?;
            value::from_mj(&v)
        })
    }

    /// See [`Templar::template`].
    pub fn template(&self, v: &Value) -> Result<Value, TemplateError> {
        match v {
            Value::Str(s) => self.template_str(s),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let t = self.template(item)?;
                    if !is_omit(&t) {
                        out.push(t);
                    }
                }
                Ok(Value::Seq(out))
            }
            Value::Map(m) => {
                // 2.19 templates values only; keys stay as written.
                let mut out = Map::with_capacity(m.len());
                for (k, item) in m {
                    let t = self.template(item)?;
                    if is_omit(&t) {
                        continue;
                    }
                    out.insert(k.clone(), t);
                }
                Ok(Value::Map(out))
            }
            Value::Vault(c) => match crate::vault::decrypt_value(c) {
                Ok(plain) if value::has_template(&plain) => Ok(Value::Unsafe(plain)),
                Ok(plain) => Ok(Value::Str(plain)),
                Err(e) => Err(TemplateError::Vault {
                    message: format!("Attempt to use undecryptable variable: {e}"),
                }),
            },
            other => Ok(other.clone()),
        }
    }

    /// See [`Templar::evaluate_conditional`].
    pub fn evaluate_conditional(&self, cond: &Value) -> Result<bool, TemplateError> {
        let broken = |condition: &str, message: String| TemplateError::Conditional {
            condition: condition.to_string(),
            message,
        };
        let text = match cond {
            Value::Bool(b) => return Ok(*b),
            Value::Seq(items) => {
                for item in items {
                    if !self.evaluate_conditional(item)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            Value::Str(s) | Value::Unsafe(s) => s.trim(),
            Value::Null => {
                return Err(broken(
                    "",
                    "empty conditional expressions are not allowed".into(),
                ));
            }
            other => {
                return Err(broken(
                    &crate::yaml::python_str(other),
                    "conditional expressions must be strings".into(),
                ));
            }
        };
        if text.is_empty() {
            return Err(broken(
                text,
                "empty conditional expressions are not allowed".into(),
            ));
        }
        let result = if source::is_all_template(text) {
            match self.template_str(text)? {
                Value::Str(s) | Value::Unsafe(s) => {
                    let expr = s.trim().to_string();
                    if expr.is_empty() {
                        return Err(broken(
                            text,
                            "empty conditional expressions are not allowed".into(),
                        ));
                    }
                    self.eval_bare(&expr, true)?
                }
                other => other,
            }
        } else {
            self.eval_bare(text, true)?
        };
        match result {
            Value::Bool(b) => Ok(b),
            other => Err(broken(
                text,
                format!(
                    "conditional result ({}) was derived from a value of type `{}`; conditionals must have a boolean result",
                    if other.truthy() { "True" } else { "False" },
                    other.type_name()
                ),
            )),
        }
    }

    fn eval_bare(&self, expr: &str, conditional: bool) -> Result<Value, TemplateError> {
        let expr = if conditional {
            source::embed_constant_templates(expr)
        } else {
            std::borrow::Cow::Borrowed(expr)
        };
        let expr = source::percent_in_expr(&expr);
        let expr = strict::strict_operands(&expr, RESULT_FN);
        let wrapped = format!("{RESULT_FN}((\n{expr}\n))");
        self.run(|ctx| {
            let v = render::eval_expr(ctx, &wrapped)?;
            value::from_mj(&v)
        })
    }

    /// See [`Templar::eval_expr`].
    pub fn eval_expr(&self, expr: &str) -> Result<Value, TemplateError> {
        self.eval_bare(expr, false).map_err(|e| match e {
            TemplateError::Syntax { message } if value::has_template(expr) => {
                TemplateError::Syntax {
                    message: format!(
                        "{message} (template delimiters are not supported in expressions)"
                    ),
                }
            }
            other => other,
        })
    }

    /// See [`Templar::render_file_text`].
    pub fn render_file_text(&self, text: &str) -> Result<String, TemplateError> {
        if !value::has_template(text) {
            return Ok(text.to_string());
        }
        self.run(|ctx| {
            let v = render::render_str(ctx, text, RenderOpts::FILE)?;
            if v.is_none() {
                return Ok(String::new());
            }
            match v.as_str() {
                Some(s) => Ok(s.to_string()),
                None => format::py_str(&v),
            }
        })
    }
}

#[cfg(test)]
mod api_tests {
    use super::*;

    fn vars(pairs: &[(&str, Value)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| (Value::str(*k), v.clone()))
            .collect()
    }

    #[test]
    fn native_types_and_text() {
        let t = Templar::new();
        let v = vars(&[("n", Value::Int(2))]);
        assert_eq!(t.template_str("{{ n + 1 }}", &v).ok(), Some(Value::Int(3)));
        assert_eq!(
            t.template_str("{{ [n] }}", &v).ok(),
            Some(Value::Seq(vec![Value::Int(2)]))
        );
        assert_eq!(
            t.template_str("n={{ n }}", &v).ok(),
            Some(Value::str("n=2"))
        );
        assert_eq!(t.template_str("plain", &v).ok(), Some(Value::str("plain")));
    }

    #[test]
    fn undefined_errors_name_the_variable() {
        let t = Templar::new();
        let v = vars(&[("a", Value::str("{{ missing_thing }}"))]);
        match t.template_str("{{ a }}", &v) {
            Err(TemplateError::Undefined { name, message }) => {
                assert_eq!(name, "missing_thing", "{message}");
                assert!(
                    message.contains("`missing_thing` is undefined"),
                    "{message}"
                );
            }
            other => panic!("expected an undefined error, got {other:?}"),
        }
        let direct = t.template_str("x {{ nope2 }}", &Map::new());
        assert!(
            matches!(direct, Err(TemplateError::Undefined { ref name, .. }) if name == "nope2"),
            "{direct:?}"
        );
        match t.evaluate_conditional(&Value::str("nope"), &Map::new()) {
            Err(TemplateError::Undefined { name, .. }) => assert_eq!(name, "nope"),
            other => panic!("expected an undefined error, got {other:?}"),
        }
    }

    #[test]
    fn vault_values_decrypt_when_read() {
        use crate::vault::{Secret, Vault, encrypt};
        let secret = Secret::new(b"template-test-pw".to_vec());
        let cipher = encrypt(b"pl{{ain", &secret, Some("tt"), None).expect("encrypt");
        let wrong = encrypt(b"x", &Secret::new(b"other".to_vec()), None, None).expect("encrypt");
        crate::vault::install(Vault::new(vec![("tt".into(), secret)], false, "default"));
        let t = Templar::new();
        let v = vars(&[
            ("s", Value::Vault(cipher.clone())),
            ("bad", Value::Vault(wrong.clone())),
        ]);
        // The plaintext is data, not a template.
        assert_eq!(
            t.template_str("{{ s }}", &v).ok(),
            Some(Value::Unsafe("pl{{ain".into()))
        );
        assert_eq!(
            t.template(&Value::Vault(cipher), &Map::new()).ok(),
            Some(Value::Unsafe("pl{{ain".into()))
        );
        // An undecryptable value fails only what reads it.
        assert_eq!(
            t.template_str("{{ s | length }}", &v).ok(),
            Some(Value::Int(7))
        );
        let err = t.template_str("{{ bad }}", &v).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "Attempt to use undecryptable variable: Decryption failed (no vault secrets were found that could decrypt)."
            )
        );
    }

    #[test]
    fn omit_is_a_placeholder() {
        let t = Templar::new();
        let v = t.template_str("{{ x | default(omit) }}", &Map::new()).ok();
        assert!(v.as_ref().is_some_and(is_omit));
        let mut args = Map::new();
        args.insert(Value::str("mode"), Value::str("{{ omit }}"));
        args.insert(Value::str("path"), Value::str("/x"));
        let out = t.template(&Value::Map(args), &Map::new()).ok();
        assert_eq!(
            out.and_then(|v| v.as_map().map(Map::len)),
            Some(1),
            "omitted argument dropped"
        );
    }

    #[test]
    fn vars_magic_and_conditional_lists() {
        let t = Templar::new();
        let v = vars(&[("x", Value::Int(5)), ("name", Value::str("x"))]);
        assert_eq!(
            t.template_str("{{ vars[name] }}", &v).ok(),
            Some(Value::Int(5))
        );
        let cond = Value::Seq(vec![Value::str("x > 1"), Value::str("name == 'x'")]);
        assert_eq!(t.evaluate_conditional(&cond, &v).ok(), Some(true));
        assert!(matches!(
            t.evaluate_conditional(&Value::str("name"), &v),
            Err(TemplateError::Conditional { .. })
        ));
    }

    #[test]
    fn scope_reuses_templated_variables() {
        let t = Templar::new();
        let scope = t.scope(Arc::new(vars(&[
            ("a", Value::str("{{ b * 2 }}")),
            ("b", Value::Int(21)),
        ])));
        assert_eq!(scope.template_str("{{ a }}").ok(), Some(Value::Int(42)));
        assert_eq!(scope.eval_expr("a + 1").ok(), Some(Value::Int(43)));
        assert_eq!(
            scope
                .render_file_text("{% if a %}\nyes\n{% endif %}\n")
                .ok()
                .as_deref(),
            Some("yes\n")
        );
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn templar_is_shareable_across_threads() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Templar>();
        fn sendable<T: Send + Sync>() {}
        sendable::<Scope>();
    }

    #[test]
    fn long_variable_chains_fit_the_stack() {
        let t = Templar::new();
        let mut v = Map::new();
        let n = 40;
        for i in 0..n {
            v.insert(
                Value::str(format!("a{i}")),
                Value::str(format!("{{{{ a{} }}}}", i + 1)),
            );
        }
        v.insert(Value::str(format!("a{n}")), Value::Int(7));
        assert_eq!(t.template_str("{{ a0 }}", &v).ok(), Some(Value::Int(7)));
        v.insert(Value::str(format!("a{n}")), Value::str("{{ a0 }}"));
        assert!(matches!(
            t.template_str("{{ a0 }}", &v),
            Err(TemplateError::Recursion { .. })
        ));
    }
}

#[cfg(test)]
mod include_tests {
    use super::*;

    #[test]
    fn includes_resolve_against_the_search_path() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/templates/search"
        );
        let mut v = Map::new();
        v.insert(
            Value::str("ansible_search_path"),
            Value::Seq(vec![Value::str(dir)]),
        );
        v.insert(Value::str("name"), Value::str("db"));
        let t = Templar::new();
        let out = t.render_file_text("{% include 'parts/header.j2' %}\nend\n", &v);
        assert_eq!(
            out.as_ref().ok().map(String::as_str),
            Some("header for dbend\n"),
            "{out:?}"
        );
    }
}
