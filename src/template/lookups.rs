//! `lookup()`, `query()` and `q()` with Ansible's lookup plugins: `env`, `file`, `template`,
//! `vars`, `varnames`, `first_found`, `fileglob`, `items`, `list`, `dict`,
//! `indexed_items`, `sequence`, `together`, `nested`, `subelements`, `lines`, `pipe`.
//!
//! Return conventions follow 2.19: `query` (or `wantlist=True`) returns the plugin's list;
//! `lookup` returns the only element of a one-element list, joins several strings with
//! commas, and returns other lists as they are. `errors='ignore'|'warn'` turns a failure
//! into `None` (or `[]` with `wantlist`).
//!
//! Files are searched as Ansible's `find_file_in_search_path` does: for each entry of the
//! `ansible_search_path` variable, `<entry>/<files|templates>/<name>` then
//! `<entry>/<name>`; then the same below `playbook_dir` (Ansible's loader basedir).

use super::filters::path::{dirname, expanduser, glob, join, normpath};
use super::filters::{Call, kiln, mj, text};
use super::format::py_str;
use super::render::{self, RenderOpts};
use super::source::Overrides;
use super::value::{has_template, items, map_pairs};
use super::vars::{Ctx, ctx_of};
use super::{Plugin, fail_plain};
use crate::yaml::{Map, Value};
use minijinja::value::{Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value as Mj};
use std::sync::Arc;

pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", |state: &mut State, args: Rest<ValueOrKwargs>| {
        invoke(state, args.into_values(), false)
    });
    for name in ["query", "q"] {
        env.add_function(name, |state: &mut State, args: Rest<ValueOrKwargs>| {
            invoke(state, args.into_values(), true)
        });
    }
}

fn fail(name: &str, msg: &str) -> Error {
    fail_plain(Plugin::Lookup, name, msg)
}

fn invoke(state: &mut State, values: Vec<Mj>, query: bool) -> Result<Mj, Error> {
    let call = Call::new("lookup", Plugin::Lookup, values)?;
    let Some(name) = call
        .pos
        .first()
        .and_then(|v| v.as_str().map(str::to_string))
    else {
        return Err(fail(
            "lookup",
            "the first argument must be the lookup plugin name",
        ));
    };
    let name = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(&name)
        .to_string();
    let mut wantlist = query;
    let mut errors = "strict".to_string();
    let mut kwargs = Vec::new();
    for (k, v) in &call.kw {
        match k.as_str() {
            "wantlist" => wantlist = wantlist || v.is_true(),
            "errors" => errors = text(v)?,
            _ => kwargs.push((k.clone(), v.clone())),
        }
    }
    let mut terms: Vec<Mj> = call.pos[1..].to_vec();
    let accepts_markers = matches!(name.as_str(), "env" | "first_found" | "vars");
    if !accepts_markers
        && let Some(u) = terms
            .iter()
            .chain(kwargs.iter().map(|(_, v)| v))
            .find(|v| v.is_undefined())
    {
        return Ok(u.clone());
    }
    let ctx = ctx_of(state);
    // Constant terms holding templates are rendered (deprecated embedded templates).
    if let Some(ctx) = &ctx {
        for t in terms.iter_mut() {
            if let Some(s) = t.as_str()
                && has_template(s)
            {
                *t = render::render_str(ctx, s, RenderOpts::VARIABLE)?;
            }
        }
    }
    let lookup = Lookup {
        name: name.clone(),
        ctx,
        kwargs,
    };
    let result = lookup.run(&terms);
    let list = match result {
        Ok(list) => list,
        Err(e) => {
            return match errors.as_str() {
                "ignore" | "warn" => Ok(if wantlist {
                    Mj::from(Vec::<Mj>::new())
                } else {
                    Mj::from(())
                }),
                _ => Err(e),
            };
        }
    };
    if wantlist || list.is_empty() {
        return Ok(Mj::from(list));
    }
    if list.len() == 1 {
        return Ok(list.into_iter().next().unwrap_or(Mj::from(())));
    }
    if list.iter().all(|v| v.kind() == ValueKind::String) {
        let parts: Vec<String> = list.iter().map(text).collect::<Result<_, _>>()?;
        return Ok(Mj::from(parts.join(",")));
    }
    Ok(Mj::from(list))
}

struct Lookup {
    name: String,
    ctx: Option<Arc<Ctx>>,
    kwargs: Vec<(String, Mj)>,
}

impl Lookup {
    fn fail(&self, msg: &str) -> Error {
        fail(&self.name, msg)
    }

    fn kw(&self, key: &str) -> Option<&Mj> {
        self.kwargs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn check_kwargs(&self, allowed: &[&str]) -> Result<(), Error> {
        match self
            .kwargs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(self.fail(&format!("unknown option `{k}`"))),
            None => Ok(()),
        }
    }

    fn var(&self, name: &str) -> Option<Mj> {
        self.ctx
            .as_ref()
            .and_then(|c| c.get(name))
            .filter(|v| !v.is_undefined())
    }

    fn run(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        match self.name.as_str() {
            "env" => self.env(terms),
            "file" => self.file(terms),
            "template" => self.template(terms),
            "vars" => self.vars(terms),
            "varnames" => self.varnames(terms),
            "first_found" => self.first_found(terms),
            "fileglob" => self.fileglob(terms),
            "items" => Ok(flatten_once(terms)?),
            "list" => Ok(terms.to_vec()),
            "dict" => self.dict(terms),
            "indexed_items" => Ok(flatten_once(terms)?
                .into_iter()
                .enumerate()
                .map(|(i, v)| Mj::from(vec![Mj::from(i), v]))
                .collect()),
            "together" => self.together(terms),
            "nested" => self.nested(terms),
            "sequence" => self.sequence(terms),
            "subelements" => self.subelements(terms),
            "lines" => self.lines(terms),
            "pipe" => self.pipe(terms),
            other => Err(self.fail(&format!("lookup plugin `{other}` not found"))),
        }
    }

    fn env(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        self.check_kwargs(&["default"])?;
        let default = self.kw("default").cloned().unwrap_or(Mj::from(""));
        let mut out = Vec::new();
        for t in terms {
            let s = text(t)?;
            let var = s.split_whitespace().next().unwrap_or("");
            out.push(match std::env::var(var) {
                Ok(v) => Mj::from(v),
                Err(_) => default.clone(),
            });
        }
        Ok(out)
    }

    /// The directories searched for relative names, in order.
    fn search_roots(&self) -> Vec<String> {
        let mut roots = Vec::new();
        if let Some(sp) = self.var("ansible_search_path") {
            match sp.kind() {
                ValueKind::String => roots.push(text(&sp).unwrap_or_default()),
                _ => {
                    if let Ok(all) = items(&sp) {
                        roots.extend(all.iter().filter_map(|v| text(v).ok()));
                    }
                }
            }
        }
        roots
    }

    fn basedir(&self) -> String {
        self.var("playbook_dir")
            .and_then(|v| text(&v).ok())
            .unwrap_or_else(|| {
                std::env::current_dir()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| ".".into())
            })
    }

    /// Ansible's `find_file_in_search_path` (`path_dwim_relative_stack`).
    fn find_file(&self, subdir: Option<&str>, needle: &str) -> Option<String> {
        if needle.starts_with('~') || needle.starts_with('/') {
            let p = normpath(&expanduser(needle));
            return std::path::Path::new(&p).exists().then_some(p);
        }
        let is_role = self.var("role_path").is_some();
        let first = needle.split('/').next().unwrap_or("");
        let mut search = Vec::new();
        let mut roots: Vec<String> = self.search_roots();
        if roots.is_empty() {
            roots.push(self.basedir());
        }
        for root in &roots {
            let upath = absolute(root);
            let base = dirname(&upath);
            if let Some(sub) = subdir {
                if is_role && base.ends_with("/tasks") {
                    search.push(join(&[dirname(&base), sub.to_string(), needle.to_string()]));
                    search.push(join(&[base.clone(), needle.to_string()]));
                }
                if first != sub {
                    search.push(join(&[upath.clone(), sub.to_string(), needle.to_string()]));
                }
            }
            search.push(join(&[upath.clone(), needle.to_string()]));
        }
        let basedir = absolute(&self.basedir());
        if let Some(sub) = subdir
            && first != sub
        {
            search.push(join(&[
                basedir.clone(),
                sub.to_string(),
                needle.to_string(),
            ]));
        }
        search.push(join(&[basedir, needle.to_string()]));
        search
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
    }

    fn file(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        self.check_kwargs(&["lstrip", "rstrip"])?;
        let lstrip = self.kw("lstrip").is_some_and(Mj::is_true);
        let rstrip = self.kw("rstrip").is_none_or(Mj::is_true);
        let mut out = Vec::new();
        for t in terms {
            let term = text(t)?;
            let Some(path) = self.find_file(Some("files"), &term) else {
                return Err(self.fail(&format!(
                    "unable to access the file `{term}`: file not found"
                )));
            };
            // Vault-encrypted files are decrypted, as Ansible's loader does.
            let mut contents =
                crate::yaml::read_file(std::path::Path::new(&path)).map_err(|e| {
                    self.fail(&format!(
                        "unable to access the file `{term}`: {}",
                        e.with_cause()
                    ))
                })?;
            if lstrip {
                contents = contents
                    .trim_start_matches(super::filters::text::is_py_space)
                    .to_string();
            }
            if rstrip {
                contents = contents
                    .trim_end_matches(super::filters::text::is_py_space)
                    .to_string();
            }
            out.push(Mj::from(contents));
        }
        Ok(out)
    }

    fn template(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        self.check_kwargs(&[
            "template_vars",
            "variable_start_string",
            "variable_end_string",
            "comment_start_string",
            "comment_end_string",
            "trim_blocks",
            "convert_data",
            "jinja2_native",
        ])?;
        let Some(ctx) = &self.ctx else {
            return Err(self.fail("no variables available"));
        };
        let mut out = Vec::new();
        for t in terms {
            let term = text(t)?;
            let Some(path) = self.find_file(Some("templates"), &term) else {
                return Err(self.fail(&format!(
                    "the template file {term} could not be found for the lookup"
                )));
            };
            let source = crate::yaml::read_file(std::path::Path::new(&path))
                .map_err(|e| self.fail(&e.with_cause()))?;
            let mut vars: Map = ctx.vars().clone();
            for (k, v) in template_vars(&term, &path, None) {
                if k.as_str() == Some("ansible_managed") && vars.contains_key(&k) {
                    continue;
                }
                vars.insert(k, v);
            }
            if let Some(extra) = self.kw("template_vars") {
                for (k, v) in map_pairs(extra)? {
                    vars.insert(kiln(&k)?, kiln(&v)?);
                }
            }
            let mut o = Overrides::default();
            let s = |k: &str| self.kw(k).map(text).transpose();
            if let Some(v) = s("variable_start_string")? {
                o.variable_start = v;
            }
            if let Some(v) = s("variable_end_string")? {
                o.variable_end = v;
            }
            if let Some(v) = s("comment_start_string")? {
                o.comment_start = v;
            }
            if let Some(v) = s("comment_end_string")? {
                o.comment_end = v;
            }
            if let Some(v) = self.kw("trim_blocks") {
                o.trim_blocks = v.is_true();
            }
            let source = if o.is_default() {
                source
            } else {
                with_header(&o, &source)
            };
            let mut dirs = vec![dirname(&path)];
            for root in self.search_roots() {
                dirs.push(join(&[root.clone(), "templates".into()]));
                dirs.push(root);
            }
            let sub = Ctx::new(ctx.engine.clone(), Arc::new(vars));
            let rendered = render::with_include_paths(dirs, || {
                render::render_str(&sub, &source, RenderOpts::FILE)
            });
            // Finalize while the context is alive, then drop its cache.
            let result = rendered.and_then(|v| kiln(&v));
            sub.finish();
            out.push(mj(&result?));
        }
        Ok(out)
    }

    fn vars(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        self.check_kwargs(&["default"])?;
        let default = self.kw("default").filter(|v| !v.is_none()).cloned();
        let mut out = Vec::new();
        for t in terms {
            let Some(name) = t.as_str() else {
                return Err(self.fail(&format!(
                    "variable name must be 'str' not '{}'",
                    super::filters::core::type_name(t)
                )));
            };
            let found = self.ctx.as_ref().and_then(|c| {
                c.vars()
                    .contains_key(&Value::str(name))
                    .then(|| c.get(name))
                    .flatten()
            });
            out.push(match (found, &default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.clone(),
                (None, None) => {
                    return Err(self.fail(&format!("no variable named `{name}` was found")));
                }
            });
        }
        Ok(out)
    }

    fn varnames(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        let names: Vec<String> = self
            .ctx
            .as_ref()
            .map(|c| c.vars().keys().map(crate::yaml::python_str).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for t in terms {
            let Some(pattern) = t.as_str() else {
                return Err(self.fail("invalid setting identifier: not a string"));
            };
            let re = super::filters::regex::PyRegex::new(
                pattern,
                false,
                false,
                super::filters::regex::Anchor::Search,
            )
            .map_err(|e| self.fail(&e))?;
            for n in &names {
                if re.is_match(n).map_err(|e| self.fail(&e))? {
                    out.push(Mj::from(n.as_str()));
                }
            }
        }
        Ok(out)
    }

    fn first_found(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        self.check_kwargs(&["files", "paths", "skip"])?;
        let mut candidates = Vec::new();
        let top_files = self.kw("files").cloned();
        let top_paths = self.kw("paths").cloned();
        let mut skip = self.kw("skip").is_some_and(Mj::is_true);
        let mut terms: Vec<Mj> = terms.to_vec();
        if terms.is_empty()
            && let Some(f) = &top_files
        {
            terms.push(Mj::from_pairs([(Mj::from("files"), f.clone())]));
        }
        for t in &terms {
            self.first_found_term(t, &top_paths, &mut candidates, &mut skip)?;
        }
        for c in candidates {
            if let Some(p) = self.find_file(None, &c) {
                return Ok(vec![Mj::from(normpath(&absolute(&p)))]);
            }
        }
        if skip {
            return Ok(Vec::new());
        }
        Err(self.fail("no file was found when using first_found"))
    }

    fn first_found_term(
        &self,
        term: &Mj,
        top_paths: &Option<Mj>,
        out: &mut Vec<String>,
        skip: &mut bool,
    ) -> Result<(), Error> {
        if term.is_undefined() {
            return Err(super::value::undefined_error(term));
        }
        let split = |v: &Mj, seps: &[char]| -> Result<Vec<String>, Error> {
            let mut parts = Vec::new();
            let list = if v.kind() == ValueKind::String {
                vec![v.clone()]
            } else if v.is_none() {
                Vec::new()
            } else {
                items(v)?
            };
            for item in list {
                let s = text(&item)?;
                parts.extend(s.split(seps).map(str::to_string));
            }
            Ok(parts)
        };
        let (files, paths) = match term.kind() {
            ValueKind::Map => {
                let get = |k: &str| {
                    term.get_item(&Mj::from(k))
                        .ok()
                        .filter(|v| !v.is_undefined())
                };
                if let Some(s) = get("skip") {
                    *skip = s.is_true();
                }
                let files = get("files")
                    .map(|f| split(&f, &[',', ';']))
                    .transpose()?
                    .unwrap_or_default();
                let paths = get("paths")
                    .or_else(|| top_paths.clone())
                    .map(|p| split(&p, &[',', ':', ';']))
                    .transpose()?
                    .unwrap_or_default();
                (files, paths)
            }
            ValueKind::String => {
                let paths = top_paths
                    .as_ref()
                    .map(|p| split(p, &[',', ':', ';']))
                    .transpose()?
                    .unwrap_or_default();
                (split(term, &[',', ';'])?, paths)
            }
            ValueKind::Seq | ValueKind::Iterable => {
                for t in items(term)? {
                    self.first_found_term(&t, top_paths, out, skip)?;
                }
                return Ok(());
            }
            _ => {
                return Err(self.fail(&format!(
                    "invalid term supplied; a string, dict or list is required, not '{}'",
                    super::filters::core::type_name(term)
                )));
            }
        };
        if paths.is_empty() {
            out.extend(files);
        } else {
            for p in &paths {
                for f in &files {
                    out.push(join(&[p.clone(), f.clone()]));
                }
            }
        }
        Ok(())
    }

    fn fileglob(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        let mut out = Vec::new();
        for t in terms {
            let term = text(t)?;
            let file = super::filters::path::basename(&term);
            let mut found = Vec::new();
            if file != term {
                found.push(self.find_file(Some("files"), &dirname(&term)));
            } else {
                let mut roots = self.search_roots();
                if roots.is_empty() {
                    roots.push(self.basedir());
                }
                for r in roots {
                    found.push(Some(join(&[r.clone(), "files".into()])));
                    found.push(Some(r));
                }
            }
            for dir in found.into_iter().flatten() {
                let hits: Vec<String> = glob(&join(&[dir, file.clone()]))
                    .into_iter()
                    .filter(|p| std::path::Path::new(p).is_file())
                    .collect();
                if !hits.is_empty() {
                    out.extend(hits.into_iter().map(Mj::from));
                    break;
                }
            }
        }
        Ok(out)
    }

    fn dict(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        let mut out = Vec::new();
        for t in terms {
            if t.kind() != ValueKind::Map {
                return Err(self.fail(&format!(
                    "the 'dict' lookup plugin expects a dictionary, got '{}'",
                    py_str(t)?
                )));
            }
            for (k, v) in map_pairs(t)? {
                out.push(Mj::from_pairs([
                    (Mj::from("key"), k),
                    (Mj::from("value"), v),
                ]));
            }
        }
        Ok(out)
    }

    fn together(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        if terms.is_empty() {
            return Err(self.fail("with_together requires at least one element in each list"));
        }
        let lists: Vec<Vec<Mj>> = terms.iter().map(items).collect::<Result<_, _>>()?;
        let n = lists.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = Vec::new();
        for i in 0..n {
            let row: Vec<Mj> = lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or(Mj::from(())))
                .collect();
            out.push(Mj::from(flatten_once(&row)?));
        }
        Ok(out)
    }

    fn nested(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        if terms.is_empty() {
            return Err(self.fail("with_nested requires at least one element in the nested list"));
        }
        let mut result: Vec<Mj> = items(&terms[0])?;
        for t in &terms[1..] {
            let b = items(t)?;
            let mut next = Vec::new();
            for x in &result {
                for y in &b {
                    next.push(Mj::from(flatten_once(&[x.clone(), y.clone()])?));
                }
            }
            result = next;
        }
        result
            .iter()
            .map(|x| {
                if x.kind() == ValueKind::Seq {
                    Ok(Mj::from(flatten_once(&items(x)?)?))
                } else {
                    Ok(Mj::from(vec![x.clone()]))
                }
            })
            .collect()
    }

    fn sequence(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        let mut terms: Vec<String> = terms.iter().map(text).collect::<Result<_, _>>()?;
        if terms.is_empty() && !self.kwargs.is_empty() {
            terms.push(String::new());
        }
        let mut out = Vec::new();
        for term in terms {
            let mut opts = SeqOpts::default();
            for (k, v) in &self.kwargs {
                opts.set(k, &text(v)?).map_err(|e| self.fail(&e))?;
            }
            if !opts.parse_shortcut(&term) {
                for part in term.split_whitespace() {
                    let Some((k, v)) = part.split_once('=') else {
                        return Err(
                            self.fail(&format!("unrecognized arguments to with_sequence: {part}"))
                        );
                    };
                    opts.set(k, v).map_err(|e| self.fail(&e))?;
                }
            }
            out.extend(
                opts.generate()
                    .map_err(|e| self.fail(&e))?
                    .into_iter()
                    .map(Mj::from),
            );
        }
        Ok(out)
    }

    fn subelements(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        let terms_error = |msg: &str| {
            self.fail(&format!(
                "subelements lookup expects a list of two or three items, {msg}"
            ))
        };
        if terms.len() < 2 || terms.len() > 3 {
            return Err(terms_error(""));
        }
        let key = match terms[1].as_str() {
            Some(k) if matches!(terms[0].kind(), ValueKind::Map | ValueKind::Seq) => k.to_string(),
            _ => {
                return Err(terms_error(
                    "first a dict or a list, second a string pointing to the subkey",
                ));
            }
        };
        let subkeys: Vec<&str> = key.split('.').collect();
        let elements: Vec<Value> = match kiln(&terms[0])? {
            Value::Map(m) => {
                if m.get(&Value::str("skipped"))
                    .is_some_and(|s| *s != Value::Bool(false))
                {
                    return Ok(Vec::new());
                }
                m.into_values().collect()
            }
            Value::Seq(items) => items,
            _ => Vec::new(),
        };
        let skip_missing = match terms.get(2) {
            Some(f) if f.kind() == ValueKind::Map => f
                .get_item(&Mj::from("skip_missing"))
                .ok()
                .filter(|v| !v.is_undefined())
                .is_some_and(|v| {
                    super::filters::core::bool_of(&v) || v.is_true() && v.kind() == ValueKind::Bool
                }),
            Some(_) => {
                return Err(terms_error(
                    "the optional third item must be a dict with flags ['skip_missing']",
                ));
            }
            None => false,
        };
        let mut out = Vec::new();
        for mut item0 in elements {
            let Value::Map(_) = &item0 else {
                return Err(self.fail(&format!(
                    "subelements lookup expects a dictionary, got '{}'",
                    crate::yaml::python_str(&item0)
                )));
            };
            if item0
                .as_map()
                .and_then(|m| m.get(&Value::str("skipped")))
                .is_some_and(|s| *s != Value::Bool(false))
            {
                continue;
            }
            // Ansible pops the list out of the item it returns.
            let mut descended: Vec<Value> = Vec::new();
            let mut list_path: Option<Vec<Value>> = None;
            for (i, subkey) in subkeys.iter().enumerate() {
                let last = i + 1 == subkeys.len();
                let Some(Value::Map(m)) = descend(&item0, &descended) else {
                    break;
                };
                let k = Value::str(*subkey);
                let Some(found) = m.get(&k) else {
                    if skip_missing {
                        continue;
                    }
                    return Err(
                        self.fail(&format!("could not find '{subkey}' key in iterated item"))
                    );
                };
                if !last {
                    if !matches!(found, Value::Map(_)) {
                        if skip_missing {
                            continue;
                        }
                        return Err(
                            self.fail(&format!("the key {subkey} should point to a dictionary"))
                        );
                    }
                    descended.push(k);
                } else {
                    if !matches!(found, Value::Seq(_)) {
                        return Err(self.fail(&format!("the key {subkey} should point to a list")));
                    }
                    let mut p = descended.clone();
                    p.push(k);
                    list_path = Some(p);
                }
            }
            let sublist = match list_path {
                Some(p) => pop_path(&mut item0, &p).unwrap_or_default(),
                None => Vec::new(),
            };
            for item1 in sublist {
                out.push(Mj::from(vec![mj(&item0), mj(&item1)]));
            }
        }
        Ok(out)
    }

    fn lines(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        let mut out = Vec::new();
        for t in terms {
            let cmd = text(t)?;
            let stdout = self.shell(&cmd)?;
            out.extend(
                super::filters::text::py_splitlines(&stdout)
                    .into_iter()
                    .map(Mj::from),
            );
        }
        Ok(out)
    }

    fn pipe(&self, terms: &[Mj]) -> Result<Vec<Mj>, Error> {
        let mut out = Vec::new();
        for t in terms {
            let cmd = py_str(t)?;
            let stdout = self.shell(&cmd)?;
            out.push(Mj::from(
                stdout.trim_end_matches(super::filters::text::is_py_space),
            ));
        }
        Ok(out)
    }

    fn shell(&self, cmd: &str) -> Result<String, Error> {
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(self.basedir())
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| self.fail(&format!("cannot run `{cmd}`: {e}")))?;
        if !output.status.success() {
            return Err(self.fail(&format!(
                "lookup_plugin.{}({cmd}) returned {}",
                self.name,
                output.status.code().unwrap_or(-1)
            )));
        }
        String::from_utf8(output.stdout).map_err(|_| self.fail("output is not valid UTF-8"))
    }
}

/// The value below `v` at a path of map keys.
fn descend<'a>(v: &'a Value, path: &[Value]) -> Option<&'a Value> {
    let mut node = v;
    for k in path {
        node = node.as_map()?.get(k)?;
    }
    Some(node)
}

/// Removes the list at a path of map keys and returns it.
fn pop_path(v: &mut Value, path: &[Value]) -> Option<Vec<Value>> {
    let (last, rest) = path.split_last()?;
    let mut node = v;
    for k in rest {
        match node {
            Value::Map(m) => node = m.get_mut(k)?,
            _ => return None,
        }
    }
    match node {
        Value::Map(m) => match m.shift_remove(last) {
            Some(Value::Seq(l)) => Some(l),
            _ => None,
        },
        _ => None,
    }
}

/// `LookupBase._flatten`: one level of lists is spliced in.
fn flatten_once(terms: &[Mj]) -> Result<Vec<Mj>, Error> {
    let mut out = Vec::new();
    for t in terms {
        if t.kind() == ValueKind::Seq {
            out.extend(items(t)?);
        } else {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn absolute(p: &str) -> String {
    let p = expanduser(p);
    if p.starts_with('/') {
        normpath(&p)
    } else {
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
        normpath(&format!("{cwd}/{p}"))
    }
}

fn with_header(o: &Overrides, source: &str) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    format!(
        "#jinja2: variable_start_string: {}, variable_end_string: {}, comment_start_string: {}, comment_end_string: {}, trim_blocks: {}\n{source}",
        q(&o.variable_start),
        q(&o.variable_end),
        q(&o.comment_start),
        q(&o.comment_end),
        if o.trim_blocks { "True" } else { "False" }
    )
}

/// The variables Ansible adds when rendering a template file (`template` module and
/// lookup): `template_path`, `template_fullpath`, `template_destpath`, `template_host`,
/// `template_uid`, `template_mtime`, `template_run_date` and `ansible_managed`.
pub fn template_vars(path: &str, fullpath: &str, dest: Option<&str>) -> Map {
    use std::os::unix::fs::MetadataExt;
    let mut m = Map::new();
    let meta = std::fs::metadata(fullpath).ok();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let uid = meta.as_ref().map(|m| m.uid());
    let user = uid.and_then(|u| {
        std::fs::read_to_string("/etc/passwd").ok().and_then(|pw| {
            pw.lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 2 && f[2] == u.to_string()).then(|| f[0].to_string())
                })
                .next()
        })
    });
    m.insert(Value::str("template_host"), Value::str(host));
    m.insert(Value::str("template_path"), Value::str(path));
    m.insert(
        Value::str("template_uid"),
        match (user, uid) {
            (Some(u), _) => Value::str(u),
            (None, Some(u)) => Value::Int(u as i128),
            (None, None) => Value::Null,
        },
    );
    m.insert(
        Value::str("template_destpath"),
        dest.map(Value::str).unwrap_or(Value::Null),
    );
    m.insert(Value::str("template_fullpath"), Value::str(fullpath));
    m.insert(Value::str("ansible_managed"), Value::str("Ansible managed"));
    m
}

/// The `sequence` lookup's options.
struct SeqOpts {
    start: i128,
    end: Option<i128>,
    count: Option<i128>,
    stride: i128,
    format: String,
}

impl Default for SeqOpts {
    fn default() -> SeqOpts {
        SeqOpts {
            start: 1,
            end: None,
            count: None,
            stride: 1,
            format: "%d".into(),
        }
    }
}

/// Ansible's `integer` option type: Python's `int(str)` (decimal only).
fn parse_num(s: &str) -> Result<i128, String> {
    let t = s.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty()
        || body.starts_with('_')
        || body.ends_with('_')
        || body.contains("__")
        || !body.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return Err(format!("invalid value provided for 'integer': '{s}'"));
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    clean
        .parse::<i128>()
        .map_err(|_| format!("invalid value provided for 'integer': '{s}'"))
}

impl SeqOpts {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "start" => self.start = parse_num(value)?,
            "end" => self.end = Some(parse_num(value)?),
            "count" => self.count = Some(parse_num(value)?),
            "stride" => self.stride = parse_num(value)?,
            "format" => self.format = value.to_string(),
            other => {
                return Err(format!(
                    "unrecognized arguments to with_sequence: ['{other}']"
                ));
            }
        }
        Ok(())
    }

    fn parse_shortcut(&mut self, term: &str) -> bool {
        let Ok(re) = regex::Regex::new(
            r"(?i)^((0?x?[0-9a-f]+)-)?(0?x?[0-9a-f]+)(/(0?x?[0-9a-f]+))?(:(.+))?$",
        ) else {
            return false;
        };
        let Some(caps) = re.captures(term) else {
            return false;
        };
        let mut ok = true;
        let mut set = |k: &str, i: usize| {
            if let Some(m) = caps.get(i)
                && self.set(k, m.as_str()).is_err()
            {
                ok = false;
            }
        };
        set("start", 2);
        set("end", 3);
        set("stride", 5);
        set("format", 7);
        ok
    }

    fn generate(&mut self) -> Result<Vec<String>, String> {
        match (self.count, self.end) {
            (None, None) => return Err("must specify count or end in with_sequence".into()),
            (Some(_), Some(_)) => {
                return Err("can't specify both count and end in with_sequence".into());
            }
            (Some(0), None) => return Ok(Vec::new()),
            (Some(c), None) => self.end = Some(self.start + c * self.stride - 1),
            _ => {}
        }
        let end = self.end.unwrap_or(0);
        if self.stride > 0 && end < self.start {
            return Err("to count backwards make stride negative".into());
        }
        if self.stride < 0 && end > self.start {
            return Err("to count forward don't make stride negative".into());
        }
        if self.stride == 0 {
            return Ok(Vec::new());
        }
        if self.format.matches('%').count() != 1 {
            return Err(format!("bad formatting string: {}", self.format));
        }
        let adjust = if self.stride >= 0 { 1 } else { -1 };
        let stop = end + adjust;
        let mut out = Vec::new();
        let mut i = self.start;
        while (self.stride > 0 && i < stop) || (self.stride < 0 && i > stop) {
            let s = super::filters::text::percent_format(&self.format, &[Mj::from(i as i64)], None)
                .map_err(|_| format!("problem formatting {i} with {}", self.format))?;
            out.push(s);
            i += self.stride;
        }
        Ok(out)
    }
}
