//! Serialization filters: `to_json`, `to_nice_json`, `from_json`, `to_yaml`,
//! `to_nice_yaml`, `from_yaml`, `from_yaml_all`, and Jinja's `tojson`, each matching
//! Python's `json` and PyYAML output byte for byte.

use super::{Call, add, int_arg, kiln, mj, py_cmp, text};
use crate::template::yaml_dump::{DumpOptions, dump};
use crate::yaml::{Map, Value, python_float_repr};
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, State, Value as Mj};
use std::sync::Arc;

pub fn register(env: &mut Environment<'static>) {
    add(env, "to_json", to_json, false);
    add(env, "to_nice_json", to_nice_json, false);
    add(env, "from_json", from_json, false);
    add(env, "to_yaml", to_yaml, false);
    add(env, "to_nice_yaml", to_nice_yaml, false);
    add(env, "from_yaml", from_yaml, false);
    add(env, "from_yaml_all", from_yaml_all, false);
    add(env, "tojson", tojson, false);
}

/// Options of Python's `json.dumps`.
pub struct JsonOptions {
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub item_sep: String,
    pub key_sep: String,
    pub ensure_ascii: bool,
}

impl Default for JsonOptions {
    fn default() -> JsonOptions {
        JsonOptions {
            indent: None,
            sort_keys: false,
            item_sep: ", ".into(),
            key_sep: ": ".into(),
            ensure_ascii: true,
        }
    }
}

fn json_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        python_float_repr(f)
    }
}

fn json_key(k: &Value) -> Result<String, String> {
    Ok(match k {
        Value::Str(s) | Value::Unsafe(s) => s.clone(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Null => "null".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => json_float(*f),
        other => {
            return Err(format!(
                "keys must be str, int, float, bool or None, not {}",
                other.type_name()
            ));
        }
    })
}

fn newline(o: &JsonOptions, level: usize, out: &mut String) {
    if let Some(ind) = &o.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

/// Python's `json.dumps(value, **options)`.
pub fn json_dumps(
    v: &Value,
    o: &JsonOptions,
    level: usize,
    out: &mut String,
) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::Str(s) | Value::Unsafe(s) | Value::Date(s) => json_str(s, o.ensure_ascii, out),
        Value::DateTime(s) => json_str(s, o.ensure_ascii, out),
        Value::Vault(c) => {
            let plain = crate::vault::decrypt_value(c)
                .map_err(|e| format!("Attempt to use undecryptable variable: {e}"))?;
            json_str(&plain, o.ensure_ascii, out)
        }
        Value::Bytes(_) => return Err("Object of type bytes is not JSON serializable".into()),
        Value::Seq(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                newline(o, level + 1, out);
                json_dumps(item, o, level + 1, out)?;
            }
            newline(o, level, out);
            out.push(']');
        }
        Value::Map(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            let mut entries: Vec<(&Value, &Value)> = m.iter().collect();
            if o.sort_keys {
                let mut err = None;
                entries.sort_by(|a, b| match py_cmp(a.0, b.0) {
                    Ok(ord) => ord,
                    Err(e) => {
                        err = Some(e);
                        std::cmp::Ordering::Equal
                    }
                });
                if let Some(e) = err {
                    return Err(e);
                }
            }
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                newline(o, level + 1, out);
                json_str(&json_key(k)?, o.ensure_ascii, out);
                out.push_str(&o.key_sep);
                json_dumps(item, o, level + 1, out)?;
            }
            newline(o, level, out);
            out.push('}');
        }
    }
    Ok(())
}

fn json_options(c: &Call, defaults: JsonOptions, nice: bool) -> Result<JsonOptions, Error> {
    let mut o = defaults;
    let mut separators = None;
    for (k, v) in &c.kw {
        match k.as_str() {
            "indent" => {
                o.indent = match v.kind() {
                    ValueKind::None => None,
                    ValueKind::String => Some(text(v)?),
                    _ => Some(" ".repeat(int_arg(c, v)?.max(0) as usize)),
                }
            }
            "sort_keys" => o.sort_keys = v.is_true(),
            "ensure_ascii" => o.ensure_ascii = v.is_true(),
            "separators" if nice => {}
            "separators" => {
                let parts = super::core::iterate(c, v)?;
                if parts.len() != 2 {
                    return Err(c.fail("separators must be a (item, key) pair"));
                }
                separators = Some((text(&parts[0])?, text(&parts[1])?));
            }
            "skipkeys" | "allow_nan" | "check_circular" | "profile" | "vault_to_text"
            | "preprocess_unsafe" => {}
            other => return Err(c.fail(&format!("unexpected keyword argument `{other}`"))),
        }
    }
    if let Some((item, key)) = separators {
        o.item_sep = item;
        o.key_sep = key;
    } else if o.indent.is_some() {
        o.item_sep = ",".into();
    }
    Ok(o)
}

fn to_json(_: &mut State, c: &Call) -> Result<Mj, Error> {
    if c.pos.len() > 1 {
        return Err(c.fail("to_json takes no positional arguments"));
    }
    let v = kiln(c.pos.first().unwrap_or(&Mj::from(())))?;
    let o = json_options(c, JsonOptions::default(), false)?;
    let mut out = String::new();
    json_dumps(&v, &o, 0, &mut out).map_err(|e| c.fail(&e))?;
    Ok(Mj::from(out))
}

fn to_nice_json(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let v = kiln(c.pos.first().unwrap_or(&Mj::from(())))?;
    let mut o = JsonOptions {
        indent: Some("    ".into()),
        sort_keys: true,
        ..JsonOptions::default()
    };
    if let Some(i) = c.pos.get(1) {
        o.indent = Some(" ".repeat(int_arg(c, i)?.max(0) as usize));
    }
    if let Some(s) = c.pos.get(2) {
        o.sort_keys = s.is_true();
    }
    let mut o = json_options(c, o, true)?;
    o.item_sep = ",".into();
    o.key_sep = ": ".into();
    let mut out = String::new();
    json_dumps(&v, &o, 0, &mut out).map_err(|e| c.fail(&e))?;
    Ok(Mj::from(out))
}

/// Jinja's `tojson`: sorted keys, HTML-safe escapes.
fn tojson(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let a = c.bind(&["value", "indent"])?;
    let v = kiln(a[0].as_ref().unwrap_or(&Mj::from(())))?;
    let mut o = JsonOptions {
        sort_keys: true,
        ..JsonOptions::default()
    };
    if let Some(i) = &a[1]
        && !i.is_none()
    {
        o.indent = Some(" ".repeat(int_arg(c, i)?.max(0) as usize));
        o.item_sep = ",".into();
    }
    let mut out = String::new();
    json_dumps(&v, &o, 0, &mut out).map_err(|e| c.fail(&e))?;
    let out = out
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(Mj::from_safe_string(out))
}

/// Python's `json.loads`: exact integers, NaN/Infinity accepted, last duplicate key wins.
pub fn json_loads(s: &str) -> Result<Value, String> {
    let mut p = JsonParser {
        s: s.as_bytes(),
        src: s,
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!(
            "Extra data: line 1 column {} (char {})",
            p.i + 1,
            p.i
        ));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what}: char {}", self.i))
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.src[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 500 {
            return self.err("maximum recursion depth exceeded");
        }
        let Some(&c) = self.s.get(self.i) else {
            return self.err("Expecting value");
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut m = Map::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Value::Map(m));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("Expecting property name enclosed in double quotes");
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return self.err("Expecting ':' delimiter");
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    m.shift_remove(&Value::Str(k.clone()));
                    m.insert(Value::Str(k), v);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Value::Map(m));
                    }
                    return self.err("Expecting ',' delimiter");
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Value::Seq(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Value::Seq(items));
                    }
                    return self.err("Expecting ',' delimiter");
                }
            }
            b'"' => Ok(Value::Str(self.string()?)),
            b't' if self.eat("true") => Ok(Value::Bool(true)),
            b'f' if self.eat("false") => Ok(Value::Bool(false)),
            b'n' if self.eat("null") => Ok(Value::Null),
            b'N' if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            b'I' if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            b'-' if self.eat("-Infinity") => Ok(Value::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.err("Expecting value"),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits_start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i == digits_start {
            return self.err("Expecting value");
        }
        // A leading zero ends the integer part, as in Python.
        if self.s[digits_start] == b'0' && self.i > digits_start + 1 {
            self.i = digits_start + 1;
        }
        let mut float = false;
        if self.s.get(self.i) == Some(&b'.')
            && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit)
        {
            float = true;
            self.i += 1;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            let save = self.i;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let exp_start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if self.i == exp_start {
                self.i = save;
            } else {
                float = true;
            }
        }
        let text = &self.src[start..self.i];
        if float {
            text.parse::<f64>()
                .map(Value::Float)
                .map_err(|e| e.to_string())
        } else {
            match text.parse::<i128>() {
                Ok(i) => Ok(Value::Int(i)),
                Err(_) => text
                    .parse::<f64>()
                    .map(Value::Float)
                    .map_err(|e| e.to_string()),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("Unterminated string starting at");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let Some(&e) = self.s.get(self.i + 1) else {
                        return self.err("Unterminated string starting at");
                    };
                    self.i += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi)
                                && self.src[self.i..].starts_with("\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    self.i = save;
                                    hi
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        _ => return self.err("Invalid \\escape"),
                    }
                }
                c if c < 0x20 => return self.err("Invalid control character at"),
                _ => {
                    let rest = &self.src[self.i..];
                    let ch = rest.chars().next().unwrap_or('\u{fffd}');
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .src
            .get(self.i..self.i + 4)
            .ok_or("Invalid \\uXXXX escape")?;
        let v = u32::from_str_radix(h, 16).map_err(|_| "Invalid \\uXXXX escape".to_string())?;
        self.i += 4;
        Ok(v)
    }
}

fn from_json(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    let Some(s) = v.as_str() else {
        return Err(c.fail(&format!(
            "the JSON object must be str, bytes or bytearray, not {}",
            super::core::type_name(&v)
        )));
    };
    let parsed = json_loads(s).map_err(|e| c.fail(&e))?;
    Ok(mj(&parsed))
}

fn yaml_options(
    c: &Call,
    mut o: DumpOptions,
    positional_indent: bool,
) -> Result<DumpOptions, Error> {
    if positional_indent && let Some(i) = c.pos.get(1) {
        o.indent = int_arg(c, i)?.max(0) as usize;
    }
    for (k, v) in &c.kw {
        match k.as_str() {
            "indent" => o.indent = int_arg(c, v)?.max(0) as usize,
            "width" => {
                o.width = match v.kind() {
                    ValueKind::Number if !v.is_integer() => usize::MAX,
                    _ => int_arg(c, v)?.max(0) as usize,
                }
            }
            "default_flow_style" => {
                o.default_flow_style = if v.is_none() { None } else { Some(v.is_true()) }
            }
            "sort_keys" => o.sort_keys = v.is_true(),
            "explicit_start" => o.explicit_start = v.is_true(),
            "explicit_end" => o.explicit_end = v.is_true(),
            "allow_unicode" | "encoding" | "line_break" | "canonical" => {
                return Err(c.fail(&format!("got multiple values for keyword argument '{k}'")));
            }
            other => return Err(c.fail(&format!("unexpected keyword argument `{other}`"))),
        }
    }
    Ok(o)
}

fn to_yaml(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let v = kiln(c.pos.first().unwrap_or(&Mj::from(())))?;
    let o = yaml_options(c, DumpOptions::default(), false)?;
    dump(&v, &o).map(Mj::from).map_err(|e| c.fail(&e))
}

fn to_nice_yaml(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let v = kiln(c.pos.first().unwrap_or(&Mj::from(())))?;
    let o = DumpOptions {
        indent: 4,
        default_flow_style: Some(false),
        ..DumpOptions::default()
    };
    let o = yaml_options(c, o, true)?;
    dump(&v, &o).map(Mj::from).map_err(|e| c.fail(&e))
}

fn load_yaml(c: &Call, s: &str) -> Result<Vec<Value>, Error> {
    let name: Arc<str> = Arc::from("<from_yaml>");
    // Split on document markers only when there are several documents.
    let docs = split_documents(s);
    let mut out = Vec::new();
    for doc in docs {
        let loaded = crate::yaml::load_str(&doc, &name).map_err(|e| c.fail(&e.to_string()))?;
        out.push(loaded.node.map(|n| n.to_value()).unwrap_or(Value::Null));
    }
    Ok(out)
}

/// Splits a YAML stream into documents at `---` lines.
fn split_documents(s: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut seen_content = false;
    for line in s.split_inclusive('\n') {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            if seen_content {
                docs.push(std::mem::take(&mut cur));
            }
            seen_content = true;
            cur.push_str(line);
            continue;
        }
        if !t.is_empty() && !t.starts_with('#') {
            seen_content = true;
        }
        cur.push_str(line);
    }
    if seen_content || docs.is_empty() {
        docs.push(cur);
    }
    docs
}

fn from_yaml(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    if v.is_none() {
        return Ok(v);
    }
    let Some(s) = v.as_str() else {
        return Ok(v);
    };
    let name: Arc<str> = Arc::from("<from_yaml>");
    let loaded = crate::yaml::load_str(s, &name).map_err(|e| c.fail(&e.to_string()))?;
    Ok(mj(&loaded
        .node
        .map(|n| n.to_value())
        .unwrap_or(Value::Null)))
}

fn from_yaml_all(_: &mut State, c: &Call) -> Result<Mj, Error> {
    let v = c.pos.first().cloned().unwrap_or(Mj::from(()));
    if v.is_none() {
        return Ok(Mj::from(Vec::<Mj>::new()));
    }
    let Some(s) = v.as_str() else {
        return Ok(v);
    };
    let docs = load_yaml(c, s)?;
    Ok(Mj::from(docs.iter().map(mj).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_like_python() {
        let v = json_loads(r#"{"b": [1, 2.5, "é"], "a": null, "big": 123456789012345678901234}"#)
            .expect("parses");
        let mut out = String::new();
        json_dumps(&v, &JsonOptions::default(), 0, &mut out).expect("dumps");
        assert_eq!(
            out,
            r#"{"b": [1, 2.5, "\u00e9"], "a": null, "big": 123456789012345678901234}"#
        );
        let nice = JsonOptions {
            indent: Some("    ".into()),
            sort_keys: true,
            item_sep: ",".into(),
            ensure_ascii: false,
            ..JsonOptions::default()
        };
        let mut out = String::new();
        json_dumps(&v, &nice, 0, &mut out).expect("dumps");
        assert_eq!(
            out,
            "{\n    \"a\": null,\n    \"b\": [\n        1,\n        2.5,\n        \"é\"\n    ],\n    \"big\": 123456789012345678901234\n}"
        );
    }
}
