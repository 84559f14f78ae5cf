//! The lazy template context: variables are templated only when an expression reads them,
//! as Ansible 2.19's lazy containers do.
//!
//! A [`Ctx`] lives for one top-level call (`template_str`, `evaluate_conditional`, ...). It
//! owns the variables and a cache of what has been templated so far, keyed by the path of
//! the value inside the variables. The template sees the variables through [`VarsObject`],
//! and nested dicts and lists through [`LazyMap`] and [`LazySeq`], which all resolve values
//! through [`Ctx::resolve`]: a string holding a template is rendered (keeping its native
//! type), with a recursion guard that turns `a: "{{ b }}"`, `b: "{{ a }}"` into an error.
//!
//! A variable whose template fails because something it uses is undefined is itself
//! undefined, so `default()` and `is defined` see through it as in Ansible.

use super::render::{self, Engine, RenderOpts};
use super::value::{OMIT, has_template, key_from_mj, to_mj};
use super::{Plugin, fail_plain};
use crate::yaml::{Map, Value};
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{ErrorKind, Value as Mj};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// How deep variables may refer to variables before kiln gives up (Ansible hits Python's
/// recursion limit at a similar depth).
const MAX_DEPTH: usize = 48;

/// The hidden variable through which filters and lookups reach the context.
pub const CTX_VAR: &str = "__kiln_ctx__";

thread_local! {
    /// Values being templated right now on this thread: (context, path).
    static ACTIVE: RefCell<Vec<(usize, Vec<u32>)>> = const { RefCell::new(Vec::new()) };
    /// Variables that turned out undefined because of another undefined name.
    static CAUSES: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// One top-level templating call's variables and cache.
pub struct Ctx {
    pub engine: Arc<Engine>,
    vars: Arc<Map>,
    cache: Mutex<HashMap<Vec<u32>, Mj>>,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<vars: {} names>", self.vars.len())
    }
}

impl Ctx {
    pub fn new(engine: Arc<Engine>, vars: Arc<Map>) -> Arc<Ctx> {
        Arc::new(Ctx {
            engine,
            vars,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The variables as the template sees them.
    pub fn root(self: &Arc<Ctx>) -> Mj {
        Mj::from_object(VarsObject(self.clone()))
    }

    /// The raw (untemplated) variables.
    pub fn vars(&self) -> &Map {
        &self.vars
    }

    /// Breaks the reference cycles the cache holds (cached lazy containers point back at
    /// the context); called when a top-level call ends.
    pub fn finish(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// A top-level variable, templated.
    pub fn get(self: &Arc<Ctx>, name: &str) -> Option<Mj> {
        let i = self.vars.get_index_of(&Value::str(name))?;
        Some(self.resolve(&[i as u32]))
    }

    /// The value at `path`, templated if it is a template string, wrapped lazily if it is a
    /// container.
    pub fn resolve(self: &Arc<Ctx>, path: &[u32]) -> Mj {
        if let Ok(cache) = self.cache.lock()
            && let Some(v) = cache.get(path)
        {
            return v.clone();
        }
        let Some(node) = walk(&self.vars, path) else {
            return Mj::UNDEFINED;
        };
        let v = match node {
            Value::Str(s) if has_template(s) => self.render_lazy(path, s),
            Value::Str(s) | Value::Unsafe(s) => Mj::from(s.as_str()),
            Value::Vault(cipher) => self.decrypt(cipher),
            Value::Map(_) => Mj::from_object(LazyMap {
                ctx: self.clone(),
                path: path.to_vec(),
            }),
            Value::Seq(_) => Mj::from_object(LazySeq {
                ctx: self.clone(),
                path: path.to_vec(),
            }),
            other => to_mj(other),
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(path.to_vec(), v.clone());
        }
        v
    }

    /// A `!vault` value is decrypted when a template reads it (never before, so a secret
    /// that is not used needs no password); failing, it is an error value that fails only
    /// the expression using it.
    fn decrypt(&self, cipher: &str) -> Mj {
        super::value::decrypted(cipher)
    }

    fn render_lazy(self: &Arc<Ctx>, path: &[u32], text: &str) -> Mj {
        let key = (Arc::as_ptr(self) as usize, path.to_vec());
        let depth = ACTIVE.with(|a| {
            let a = a.borrow();
            if a.contains(&key) {
                None
            } else {
                Some(a.len())
            }
        });
        let name = self.path_name(path);
        match depth {
            None => {
                return Mj::from(fail_plain(
                    Plugin::Recursion,
                    &name,
                    &format!("recursive loop detected in template: `{name}` refers to itself"),
                ));
            }
            Some(d) if d >= MAX_DEPTH => {
                return Mj::from(fail_plain(
                    Plugin::Recursion,
                    &name,
                    &format!("recursion limit reached while templating `{name}`"),
                ));
            }
            Some(_) => {}
        }
        ACTIVE.with(|a| a.borrow_mut().push(key));
        let result = render::render_str(self, text, RenderOpts::VARIABLE);
        ACTIVE.with(|a| {
            a.borrow_mut().pop();
        });
        match result {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::UndefinedError => {
                if let Some(inner) = super::undefined_name(&e) {
                    CAUSES.with(|c| c.borrow_mut().push((name, inner)));
                }
                Mj::UNDEFINED
            }
            Err(e) => Mj::from(e),
        }
    }

    /// A readable name for the value at `path`: `a.b[0]`.
    fn path_name(&self, path: &[u32]) -> String {
        let mut name = String::new();
        let mut node: Option<&Value> = None;
        for (depth, &i) in path.iter().enumerate() {
            let map = if depth == 0 {
                Some(&*self.vars)
            } else {
                node.and_then(Value::as_map)
            };
            if let Some(map) = map {
                let Some((k, v)) = map.get_index(i as usize) else {
                    break;
                };
                let k = crate::yaml::python_str(k);
                if depth == 0 {
                    name.push_str(&k);
                } else {
                    name.push('.');
                    name.push_str(&k);
                }
                node = Some(v);
            } else if let Some(Value::Seq(items)) = node {
                name.push_str(&format!("[{i}]"));
                node = items.get(i as usize);
            }
        }
        name
    }
}

/// Forgets the recorded causes of undefined variables (start of a top-level call).
pub fn clear_causes() {
    CAUSES.with(|c| c.borrow_mut().clear());
}

/// The undefined name that made variable `name` undefined, following chains.
pub fn root_cause(name: &str) -> Option<String> {
    CAUSES.with(|c| {
        let c = c.borrow();
        let mut current = name.to_string();
        let mut found = None;
        for _ in 0..MAX_DEPTH {
            match c.iter().rev().find(|(var, _)| *var == current) {
                Some((_, inner)) => {
                    found = Some(inner.clone());
                    current = inner.clone();
                }
                None => break,
            }
        }
        found
    })
}

fn walk<'a>(vars: &'a Map, path: &[u32]) -> Option<&'a Value> {
    let (&first, rest) = path.split_first()?;
    let mut node = vars.get_index(first as usize)?.1;
    for &i in rest {
        node = match node {
            Value::Map(m) => m.get_index(i as usize)?.1,
            Value::Seq(items) => items.get(i as usize)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Whether anything below `v` needs templating (or decryption).
fn needs_work(v: &Value) -> bool {
    match v {
        Value::Str(s) => has_template(s) || s == OMIT,
        Value::Vault(_) => true,
        Value::Seq(items) => items.iter().any(needs_work),
        Value::Map(m) => m.iter().any(|(k, v)| needs_work(k) || needs_work(v)),
        _ => false,
    }
}

/// When `v` is a lazy container whose content needs no templating, a copy of it (the fast
/// path of finalizing a result that is just a variable).
pub fn untemplated_subtree(v: &Mj) -> Option<Value> {
    let (ctx, path) = if let Some(m) = v.downcast_object_ref::<LazyMap>() {
        (&m.ctx, &m.path)
    } else if let Some(s) = v.downcast_object_ref::<LazySeq>() {
        (&s.ctx, &s.path)
    } else {
        return None;
    };
    let node = walk(&ctx.vars, path)?;
    if needs_work(node) {
        None
    } else {
        Some(node.clone())
    }
}

/// The context of the template being rendered, for filters and lookups.
pub fn ctx_of(state: &minijinja::State) -> Option<Arc<Ctx>> {
    let v = state.lookup(CTX_VAR)?;
    v.downcast_object_ref::<VarsObject>().map(|o| o.0.clone())
}

/// The top-level variables: a mapping from names to lazily templated values.
pub struct VarsObject(pub Arc<Ctx>);

impl fmt::Debug for VarsObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Object for VarsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Mj) -> Option<Mj> {
        let name = key.as_str()?;
        if let Some(v) = self.0.get(name) {
            // An undefined result is reported as missing, so the engine's undefined value
            // remembers which expression produced it (for the error message).
            return (!v.is_undefined()).then_some(v);
        }
        match name {
            "omit" => Some(Mj::from(OMIT)),
            "vars" | CTX_VAR => Some(Mj::from_dyn_object(self.clone())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.vars.keys().map(to_mj).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.vars.len())
    }
}

/// A dict inside the variables.
pub struct LazyMap {
    ctx: Arc<Ctx>,
    path: Vec<u32>,
}

impl LazyMap {
    fn map(&self) -> Option<&Map> {
        walk(&self.ctx.vars, &self.path).and_then(Value::as_map)
    }
}

impl fmt::Debug for LazyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<dict {:?}>", self.path)
    }
}

impl Object for LazyMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Mj) -> Option<Mj> {
        let map = self.map()?;
        let i = map.get_index_of(&key_from_mj(key)?)?;
        let mut path = self.path.clone();
        path.push(i as u32);
        Some(self.ctx.resolve(&path)).filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.map() {
            Some(map) => Enumerator::Values(map.keys().map(to_mj).collect()),
            None => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.map().map_or(0, Map::len))
    }
}

/// A list inside the variables.
pub struct LazySeq {
    ctx: Arc<Ctx>,
    path: Vec<u32>,
}

impl LazySeq {
    fn len(&self) -> usize {
        match walk(&self.ctx.vars, &self.path) {
            Some(Value::Seq(items)) => items.len(),
            _ => 0,
        }
    }
}

impl fmt::Debug for LazySeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<list {:?}>", self.path)
    }
}

impl Object for LazySeq {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Mj) -> Option<Mj> {
        let len = self.len() as i64;
        let mut i = key.as_i64()?;
        if i < 0 {
            i += len;
        }
        if i < 0 || i >= len {
            return None;
        }
        let mut path = self.path.clone();
        path.push(i as u32);
        Some(self.ctx.resolve(&path)).filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.len())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.len())
    }
}
