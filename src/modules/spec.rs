//! Module argument specifications: names, aliases, types, defaults, choices, required and
//! mutually exclusive options, checked before a module runs (and at load time when the
//! arguments are literal), converting values the way Ansible's argument validation does.

use crate::yaml::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Any string; numbers and booleans are converted as Ansible does.
    Str,
    /// A path (a string).
    Path,
    Bool,
    Int,
    /// A number (Ansible's `float`): ints and numeric strings are converted.
    Float,
    /// A list; a comma-separated string becomes a list.
    List,
    Dict,
    /// A file mode: an octal string (`"0644"`), an int (`0644` read by YAML as 420) or
    /// symbolic (`u+rwx,g-w`); kept as given and interpreted by the module.
    Mode,
    /// Anything, untouched.
    Raw,
}

#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub required: bool,
    pub default: Option<&'static str>,
    pub choices: &'static [&'static str],
    /// The type of each element of a list (Ansible's `elements`).
    pub elements: Option<Kind>,
    /// The options of a dict, or of each dict of a list (Ansible's `options`): checked and
    /// defaulted like the module's own.
    pub suboptions: &'static [Opt],
    /// Ansible's `required_by`: when this option is set, these must be set too.
    pub requires: &'static [&'static str],
    /// Ansible's `required_if`: when this option has the value, these must be set.
    pub required_if: &'static [(&'static str, &'static [&'static str])],
    /// An option of the Ansible module that kiln refuses when it is set, saying why.
    pub unsupported: Option<&'static str>,
}

impl Opt {
    pub const fn new(name: &'static str, kind: Kind) -> Opt {
        Opt {
            name,
            aliases: &[],
            kind,
            required: false,
            default: None,
            choices: &[],
            elements: None,
            suboptions: &[],
            requires: &[],
            required_if: &[],
            unsupported: None,
        }
    }

    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Opt {
        self.aliases = aliases;
        self
    }

    pub const fn required(mut self) -> Opt {
        self.required = true;
        self
    }

    pub const fn default(mut self, d: &'static str) -> Opt {
        self.default = Some(d);
        self
    }

    pub const fn choices(mut self, c: &'static [&'static str]) -> Opt {
        self.choices = c;
        self
    }

    pub const fn elements(mut self, k: Kind) -> Opt {
        self.elements = Some(k);
        self
    }

    pub const fn suboptions(mut self, o: &'static [Opt]) -> Opt {
        self.suboptions = o;
        self
    }

    pub const fn requires(mut self, r: &'static [&'static str]) -> Opt {
        self.requires = r;
        self
    }

    pub const fn required_if(
        mut self,
        r: &'static [(&'static str, &'static [&'static str])],
    ) -> Opt {
        self.required_if = r;
        self
    }

    pub const fn unsupported(mut self, why: &'static str) -> Opt {
        self.unsupported = Some(why);
        self
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    pub options: &'static [Opt],
    pub mutually_exclusive: &'static [&'static [&'static str]],
    pub required_one_of: &'static [&'static [&'static str]],
    /// Ansible's `required_together`: set one of a group, set all of it.
    pub required_together: &'static [&'static [&'static str]],
    /// Whether a free-form string (`command: ls -l`) is accepted, stored as `_raw_params`.
    pub free_form: bool,
    /// Whether options not in the list are accepted (action plugins like `set_fact`).
    pub open: bool,
}

impl ArgSpec {
    pub const fn new(options: &'static [Opt]) -> ArgSpec {
        ArgSpec {
            options,
            mutually_exclusive: &[],
            required_one_of: &[],
            required_together: &[],
            free_form: false,
            open: false,
        }
    }
}

/// Validated arguments: canonical names to converted values.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map);

impl Args {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(&Value::str(name)).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Option<String> {
        self.get(name).map(crate::yaml::python_str)
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    pub fn list(&self, name: &str) -> Vec<Value> {
        match self.get(name) {
            Some(Value::Seq(items)) => items.clone(),
            Some(v) => vec![v.clone()],
            None => Vec::new(),
        }
    }
}

/// Ansible's boolean conversion for module arguments.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Int(1) => Some(true),
        Value::Int(0) => Some(false),
        Value::Float(f) if *f == 1.0 => Some(true),
        Value::Float(f) if *f == 0.0 => Some(false),
        Value::Str(s) | Value::Unsafe(s) => match s.to_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Converts `v` to `kind` as Ansible's argument validation does; `name` and `ctx` word errors.
fn convert_kind(name: &str, kind: Kind, v: Value, ctx: &str) -> Result<Value, String> {
    let bad = |what: &str, v: &Value| {
        format!(
            "argument `{name}` is of type {} and we were unable to convert to {what}{ctx}",
            v.type_name()
        )
    };
    Ok(match kind {
        Kind::Raw | Kind::Mode => v,
        Kind::Str | Kind::Path => match v {
            Value::Str(_) | Value::Unsafe(_) => v,
            Value::Seq(_) | Value::Map(_) => return Err(bad("str", &v)),
            other => Value::Str(crate::yaml::python_str(&other)),
        },
        Kind::Bool => Value::Bool(to_bool(&v).ok_or_else(|| bad("bool", &v))?),
        Kind::Int => match &v {
            Value::Int(_) => v,
            Value::Float(f) if f.fract() == 0.0 => Value::Int(*f as i128),
            Value::Str(s) => Value::Int(s.trim().parse::<i128>().map_err(|_| bad("int", &v))?),
            _ => return Err(bad("int", &v)),
        },
        Kind::Float => match &v {
            Value::Float(_) => v,
            Value::Int(i) => Value::Float(*i as f64),
            Value::Str(s) | Value::Unsafe(s) => {
                Value::Float(s.trim().parse::<f64>().map_err(|_| bad("float", &v))?)
            }
            _ => return Err(bad("float", &v)),
        },
        Kind::List => match v {
            Value::Seq(_) => v,
            Value::Str(s) | Value::Unsafe(s) => Value::Seq(
                s.split(',')
                    .map(|p| Value::str(p.trim().to_string()))
                    .filter(|p| p.as_str() != Some(""))
                    .collect(),
            ),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                Value::Seq(vec![Value::Str(crate::yaml::python_str(&v))])
            }
            other => return Err(bad("list", &other)),
        },
        Kind::Dict => match v {
            Value::Map(_) => v,
            other => return Err(bad("dict", &other)),
        },
    })
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Str => "str",
        Kind::Path => "path",
        Kind::Bool => "bool",
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::List => "list",
        Kind::Dict => "dict",
        Kind::Mode | Kind::Raw => "raw",
    }
}

/// An option's value: its type, then its elements' types and suboptions.
fn convert(module: &str, opt: &Opt, v: Value, ctx: &str) -> Result<Value, String> {
    let v = convert_kind(opt.name, opt.kind, v, ctx)?;
    let inner = |item: Value| -> Result<Value, String> {
        let item = match opt.elements {
            Some(k) => {
                let got = item.type_name();
                convert_kind(opt.name, k, item, ctx).map_err(|_| {
                    format!(
                        "elements of `{}` must be of type {}, got {got}{ctx}",
                        opt.name,
                        kind_name(k)
                    )
                })?
            }
            None => item,
        };
        match (&item, opt.suboptions.is_empty()) {
            (Value::Map(m), false) => {
                let sub = format!(" found in {}{ctx}", opt.name);
                check(module, opt.suboptions, m, false, false, &sub, &[]).map(Value::Map)
            }
            _ => Ok(item),
        }
    };
    match v {
        Value::Seq(items) if opt.kind == Kind::List => Ok(Value::Seq(
            items.into_iter().map(inner).collect::<Result<_, _>>()?,
        )),
        Value::Map(_) if opt.kind == Kind::Dict && !opt.suboptions.is_empty() => inner(v),
        other => Ok(other),
    }
}

/// Checks the keys of `raw` against `options` (a module's, or a dict option's suboptions,
/// where `ctx` says which: ` found in networks`), converting values and filling defaults.
fn check(
    module: &str,
    options: &[Opt],
    raw: &Map,
    open: bool,
    free_form: bool,
    ctx: &str,
    exclusive: &[&[&str]],
) -> Result<Map, String> {
    let mut out = Map::new();
    let mut unknown = Vec::new();
    for (k, v) in raw {
        let key = k.as_str().unwrap_or_default();
        // Free-form text is taken as is, unless the spec describes it (`meta`'s choices).
        if key == "_raw_params" && free_form && !options.iter().any(|o| o.name == "_raw_params") {
            out.insert(Value::str("_raw_params"), v.clone());
            continue;
        }
        let Some(opt) = options
            .iter()
            .find(|o| o.name == key || o.aliases.contains(&key))
        else {
            if open {
                out.insert(k.clone(), v.clone());
            } else {
                unknown.push(key.to_string());
            }
            continue;
        };
        if out.contains_key(&Value::str(opt.name)) {
            return Err(format!(
                "`{key}` and another alias of `{}` are both set in {module}{ctx}",
                opt.name
            ));
        }
        let value = if v.is_null() {
            Value::Null
        } else {
            convert(module, opt, v.clone(), ctx)?
        };
        if !opt.choices.is_empty() && !value.is_null() {
            let text = crate::yaml::python_str(&value);
            if !opt.choices.contains(&text.as_str()) {
                return Err(format!(
                    "value of `{}` must be one of: {}, got: {text}{ctx}",
                    opt.name,
                    opt.choices.join(", ")
                ));
            }
        }
        if let (Some(why), false) = (opt.unsupported, value.is_null()) {
            return Err(format!(
                "`{}`{ctx} is not supported by kiln's {module} yet: {why}",
                opt.name
            ));
        }
        out.insert(Value::str(opt.name), value);
    }
    if !unknown.is_empty() {
        let mut names: Vec<&str> = options
            .iter()
            .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()))
            .collect();
        names.sort();
        return Err(format!(
            "unsupported parameters for ({module}) module: {}{ctx}. Supported parameters include: {}",
            unknown.join(", "),
            names.join(", ")
        ));
    }
    // Mutual exclusion is about what the task set, before defaults.
    for group in exclusive {
        let set: Vec<&str> = group.iter().copied().filter(|n| raw_has(&out, n)).collect();
        if set.len() > 1 {
            return Err(format!(
                "parameters are mutually exclusive: {}{ctx}",
                group.join("|")
            ));
        }
    }
    for opt in options {
        let key = Value::str(opt.name);
        if out.get(&key).is_none_or(Value::is_null) {
            if opt.required {
                return Err(format!("missing required arguments: {}{ctx}", opt.name));
            }
            if let Some(d) = opt.default {
                out.insert(key, convert(module, opt, Value::str(d), ctx)?);
            }
        }
    }
    for opt in options {
        let Some(value) = out.get(&Value::str(opt.name)).filter(|v| !v.is_null()) else {
            continue;
        };
        let missing: Vec<&str> = opt
            .requires
            .iter()
            .copied()
            .filter(|n| !raw_has(&out, n))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing parameter(s) required by '{}': {}{ctx}",
                opt.name,
                missing.join(", ")
            ));
        }
        for (when, needed) in opt.required_if {
            // The rule's value is written as in YAML and converted like the option's own
            // values, so `("true", ...)` matches `yes` on a bool option.
            if convert_kind(opt.name, opt.kind, Value::str(*when), ctx)
                .ok()
                .as_ref()
                != Some(value)
            {
                continue;
            }
            let missing: Vec<&str> = needed
                .iter()
                .copied()
                .filter(|n| !raw_has(&out, n))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{} is {} but all of the following are missing: {}{ctx}",
                    opt.name,
                    crate::yaml::python_str(value),
                    missing.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

impl ArgSpec {
    /// Checks and converts `raw` against the spec. `module` names the module in messages.
    pub fn validate(&self, module: &str, raw: &Map) -> Result<Args, String> {
        let out = check(
            module,
            self.options,
            raw,
            self.open,
            self.free_form,
            "",
            self.mutually_exclusive,
        )?;
        for group in self.required_together {
            let set = group.iter().filter(|n| raw_has(&out, n)).count();
            if set > 0 && set < group.len() {
                return Err(format!(
                    "parameters are required together: {}",
                    group.join(", ")
                ));
            }
        }
        for group in self.required_one_of {
            if !group.iter().any(|n| raw_has(&out, n)) {
                return Err(format!(
                    "one of the following is required: {}",
                    group.join(", ")
                ));
            }
        }
        Ok(Args(out))
    }
}

fn raw_has(m: &Map, name: &str) -> bool {
    m.get(&Value::str(name)).is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(yaml: &str) -> Map {
        let name: std::sync::Arc<str> = std::sync::Arc::from("t");
        let loaded = crate::yaml::load_text(yaml, &name).expect("yaml");
        match loaded.node.map(|n| n.to_value()) {
            Some(Value::Map(m)) => m,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    static NET: [Opt; 2] = [
        Opt::new("name", Kind::Str).required(),
        Opt::new("aliases", Kind::List).elements(Kind::Str),
    ];
    static SPEC: ArgSpec = ArgSpec::new(&[
        Opt::new("networks", Kind::List)
            .elements(Kind::Dict)
            .suboptions(&NET),
        Opt::new("ports", Kind::List).elements(Kind::Str),
        Opt::new("state", Kind::Str)
            .default("started")
            .required_if(&[("present", &["image"])]),
        Opt::new("image", Kind::Str),
        Opt::new("restart_retries", Kind::Int).requires(&["restart_policy"]),
        Opt::new("restart_policy", Kind::Str),
        Opt::new("cpus", Kind::Float),
        Opt::new("links", Kind::List).unsupported("the docker CLI has no such flag"),
    ]);

    #[test]
    fn suboptions_and_elements() {
        let a = SPEC
            .validate(
                "m",
                &map("networks: [{name: a, aliases: [1, x]}]\nports: [80, '81:81']"),
            )
            .expect("valid");
        let nets = a.list("networks");
        let Value::Map(n) = &nets[0] else { panic!() };
        assert_eq!(
            n.get(&Value::str("aliases")),
            Some(&Value::Seq(vec![Value::str("1"), Value::str("x")]))
        );
        assert_eq!(a.list("ports"), vec![Value::str("80"), Value::str("81:81")]);
        let e = SPEC
            .validate("m", &map("networks: [{aliases: [x]}]"))
            .unwrap_err();
        assert_eq!(e, "missing required arguments: name found in networks");
        let e = SPEC
            .validate("m", &map("networks: [{name: a, foo: 1}]"))
            .unwrap_err();
        assert!(
            e.starts_with("unsupported parameters for (m) module: foo found in networks."),
            "{e}"
        );
        let e = SPEC.validate("m", &map("networks: [3]")).unwrap_err();
        assert!(e.contains("must be of type dict, got int"), "{e}");
    }

    #[test]
    fn conditional_requirements() {
        let e = SPEC.validate("m", &map("state: present")).unwrap_err();
        assert_eq!(
            e,
            "state is present but all of the following are missing: image"
        );
        assert!(SPEC.validate("m", &map("state: present\nimage: x")).is_ok());
        // The default does not trigger the rule for another value.
        assert!(SPEC.validate("m", &map("{}")).is_ok());
        let e = SPEC.validate("m", &map("restart_retries: 3")).unwrap_err();
        assert_eq!(
            e,
            "missing parameter(s) required by 'restart_retries': restart_policy"
        );
        let a = SPEC.validate("m", &map("cpus: '1.5'")).expect("float");
        assert_eq!(a.get("cpus"), Some(&Value::Float(1.5)));
        static TLS: ArgSpec = ArgSpec {
            required_together: &[&["client_cert", "client_key"]],
            ..ArgSpec::new(&[
                Opt::new("client_cert", Kind::Path),
                Opt::new("client_key", Kind::Path),
            ])
        };
        let e = TLS.validate("m", &map("client_key: /k")).unwrap_err();
        assert_eq!(
            e,
            "parameters are required together: client_cert, client_key"
        );
        assert!(
            TLS.validate("m", &map("client_key: /k\nclient_cert: /c"))
                .is_ok()
        );
        assert!(TLS.validate("m", &map("{}")).is_ok());
        let e = SPEC.validate("m", &map("links: [a]")).unwrap_err();
        assert_eq!(
            e,
            "`links` is not supported by kiln's m yet: the docker CLI has no such flag"
        );
    }

    fn args(pairs: &[(&str, Value)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| (Value::str(*k), v.clone()))
            .collect()
    }

    static GROUP: ArgSpec = ArgSpec::new(&[
        Opt::new("gid", Kind::Int),
        Opt::new("non_unique", Kind::Bool)
            .default("false")
            .required_if(&[("true", &["gid"])]),
        Opt::new("expires", Kind::Float),
    ]);

    #[test]
    fn required_if_applies_to_the_converted_value() {
        let e = GROUP
            .validate("group", &args(&[("non_unique", Value::str("yes"))]))
            .unwrap_err();
        assert_eq!(
            e,
            "non_unique is True but all of the following are missing: gid"
        );
        assert!(GROUP.validate("group", &args(&[])).is_ok());
        assert!(
            GROUP
                .validate(
                    "group",
                    &args(&[("non_unique", Value::Bool(true)), ("gid", Value::Int(5))])
                )
                .is_ok()
        );
    }

    #[test]
    fn floats() {
        let a = GROUP
            .validate("user", &args(&[("expires", Value::Int(-1))]))
            .unwrap();
        assert_eq!(a.get("expires"), Some(&Value::Float(-1.0)));
        let a = GROUP
            .validate("user", &args(&[("expires", Value::str("1.5"))]))
            .unwrap();
        assert_eq!(a.get("expires"), Some(&Value::Float(1.5)));
        assert!(
            GROUP
                .validate("user", &args(&[("expires", Value::str("soon"))]))
                .unwrap_err()
                .contains("unable to convert to float")
        );
    }

    #[test]
    fn required_by() {
        static BY: ArgSpec = ArgSpec::new(&[
            Opt::new("interface", Kind::Str).requires(&["direction"]),
            Opt::new("direction", Kind::Str),
        ]);
        assert_eq!(
            BY.validate("m", &args(&[("interface", Value::str("eth0"))]))
                .map(|_| ()),
            Err("missing parameter(s) required by 'interface': direction".into())
        );
        assert!(
            BY.validate(
                "m",
                &args(&[
                    ("interface", Value::str("eth0")),
                    ("direction", Value::str("in"))
                ])
            )
            .is_ok()
        );
    }

    static LISTS: ArgSpec = ArgSpec::new(&[
        Opt::new("codes", Kind::List).elements(Kind::Int),
        Opt::new("names", Kind::List).elements(Kind::Str),
    ]);

    fn lists(codes: Value, names: Value) -> Result<Args, String> {
        let mut m = Map::new();
        m.insert(Value::str("codes"), codes);
        m.insert(Value::str("names"), names);
        LISTS.validate("t", &m)
    }

    #[test]
    fn list_elements_are_converted() {
        let a = lists(
            Value::Seq(vec![Value::Int(200), Value::str("404")]),
            Value::Seq(vec![Value::Int(1), Value::Bool(true)]),
        )
        .expect("valid");
        assert_eq!(a.list("codes"), [Value::Int(200), Value::Int(404)]);
        assert_eq!(a.list("names"), [Value::str("1"), Value::str("True")]);
        // A comma-separated string is a list first, then its elements are converted.
        let a = lists(Value::str("200, 201"), Value::str("a,b")).expect("valid");
        assert_eq!(a.list("codes"), [Value::Int(200), Value::Int(201)]);
        let e = lists(Value::Seq(vec![Value::str("ok")]), Value::Seq(vec![])).unwrap_err();
        assert_eq!(e, "elements of `codes` must be of type int, got str");
    }
}
