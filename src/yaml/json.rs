//! JSON as Python's `json` module reads it for Ansible: exact big integers, `NaN` and
//! `Infinity`, duplicate keys (last wins), and Ansible's `{"__ansible_unsafe": ...}` /
//! `{"__ansible_vault": ...}` markers. Nodes carry positions like YAML nodes do.

use super::loader::{Node, NodeKind};
use super::value::Value;
use crate::diag::Span;
use std::sync::Arc;

/// Parses `text` as one JSON document; `None` when it is not JSON (the caller tries YAML).
pub fn parse(text: &str, file: &Arc<str>) -> Option<Node> {
    let mut p = P {
        s: text.as_bytes(),
        text,
        i: 0,
        line: 1,
        line_start: 0,
        file,
    };
    p.ws();
    let node = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(node)
}

struct P<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    line: usize,
    line_start: usize,
    file: &'a Arc<str>,
}

impl P<'_> {
    fn span(&self) -> Span {
        let col = self.text[self.line_start..self.i].chars().count() + 1;
        Span::new(self.file, self.line, col)
    }

    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > 500 {
            return None;
        }
        let span = self.span();
        let scalar = |v: Value| {
            Some(Node {
                span: span.clone(),
                kind: NodeKind::Scalar(v),
            })
        };
        match *self.s.get(self.i)? {
            b'{' => self.object(span, depth),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Some(Node {
                        span,
                        kind: NodeKind::Seq(items),
                    });
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat("]") {
                        return Some(Node {
                            span,
                            kind: NodeKind::Seq(items),
                        });
                    }
                    if !self.eat(",") {
                        return None;
                    }
                }
            }
            b'"' => scalar(Value::Str(self.string()?)),
            b't' if self.eat("true") => scalar(Value::Bool(true)),
            b'f' if self.eat("false") => scalar(Value::Bool(false)),
            b'n' if self.eat("null") => scalar(Value::Null),
            b'N' if self.eat("NaN") => scalar(Value::Float(f64::NAN)),
            b'I' if self.eat("Infinity") => scalar(Value::Float(f64::INFINITY)),
            b'-' if self.s[self.i..].starts_with(b"-Infinity") => {
                self.i += 9;
                scalar(Value::Float(f64::NEG_INFINITY))
            }
            b'-' | b'0'..=b'9' => scalar(self.number()?),
            _ => None,
        }
    }

    fn object(&mut self, span: Span, depth: usize) -> Option<Node> {
        self.i += 1;
        let mut entries: Vec<(Node, Node)> = Vec::new();
        self.ws();
        if !self.eat("}") {
            loop {
                self.ws();
                let kspan = self.span();
                if self.s.get(self.i) != Some(&b'"') {
                    return None;
                }
                let key = self.string()?;
                self.ws();
                if !self.eat(":") {
                    return None;
                }
                self.ws();
                let value = self.value(depth + 1)?;
                let knode = Node {
                    span: kspan,
                    kind: NodeKind::Scalar(Value::Str(key.clone())),
                };
                // A repeated key keeps its first position and takes the last value, as a dict.
                match entries
                    .iter_mut()
                    .find(|(k, _)| k.as_str() == Some(key.as_str()))
                {
                    Some(e) => e.1 = value,
                    None => entries.push((knode, value)),
                }
                self.ws();
                if self.eat("}") {
                    break;
                }
                if !self.eat(",") {
                    return None;
                }
            }
        }
        if let [(k, v)] = entries.as_slice() {
            let marker = match (k.as_str(), &v.kind) {
                (Some("__ansible_unsafe"), NodeKind::Scalar(Value::Str(s))) => {
                    Some(Value::Unsafe(s.clone()))
                }
                (Some("__ansible_vault"), NodeKind::Scalar(Value::Str(s))) => {
                    Some(Value::Vault(s.clone()))
                }
                _ => None,
            };
            if let Some(m) = marker {
                return Some(Node {
                    span,
                    kind: NodeKind::Scalar(m),
                });
            }
        }
        Some(Node {
            span,
            kind: NodeKind::Map(entries),
        })
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = *self.s.get(self.i)?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    let e = *self.s.get(self.i + 1)?;
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
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    self.i = save;
                                    hi
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        }
                        _ => return None,
                    }
                }
                // Python's strict mode refuses raw control characters in strings.
                0..=0x1f => return None,
                _ => {
                    let rest = &self.text[self.i..];
                    let ch = rest.chars().next()?;
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.text.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        self.eat("-");
        match self.s.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
            }
            _ => return None,
        }
        let mut float = false;
        if self.s.get(self.i) == Some(&b'.')
            && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit)
        {
            float = true;
            self.i += 1;
            while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            let save = self.i;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                float = true;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
            } else {
                self.i = save;
            }
        }
        let lit = &self.text[start..self.i];
        if float {
            lit.parse::<f64>().ok().map(Value::Float)
        } else {
            match lit.parse::<i128>() {
                Ok(i) => Some(Value::Int(i)),
                // Beyond i128, keep the value as Python would print it closest: a float.
                Err(_) => lit.parse::<f64>().ok().map(Value::Float),
            }
        }
    }
}
