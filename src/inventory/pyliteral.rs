//! The two pieces of Python that decide how INI inventory values are typed: `shlex.split`
//! (POSIX mode, `#` comments) for host lines, and `ast.literal_eval` for each value.
//! A value that is not a Python literal stays the text it was.

use crate::yaml::{Map, Value};

/// `shlex.split(line, comments=True)` in POSIX mode.
pub fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut in_token = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() && c != '\u{a0}' && c.is_ascii() => {
                if in_token {
                    tokens.push(std::mem::take(&mut token));
                    in_token = false;
                }
            }
            '#' => break,
            '\'' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => token.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => token.push(e),
                            Some(e) => {
                                token.push('\\');
                                token.push(e);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(ch) => token.push(ch),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_token = true;
                match chars.next() {
                    Some(e) => token.push(e),
                    None => return Err("No escaped character".into()),
                }
            }
            c => {
                in_token = true;
                token.push(c);
            }
        }
    }
    if in_token {
        tokens.push(token);
    }
    Ok(tokens)
}

/// The value of an INI inventory value: a Python literal when it is one, else the text.
pub fn parse_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::Str(text.to_string()))
}

/// `ast.literal_eval` for the literal forms inventories use; `None` where Python would raise.
pub fn literal_eval(text: &str) -> Option<Value> {
    let mut p = Parser {
        chars: text.trim_start_matches([' ', '\t']).chars().collect(),
        pos: 0,
    };
    let value = p.expression()?;
    p.skip_space();
    if p.pos != p.chars.len() {
        return None;
    }
    Some(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || c == '\x0c' {
                self.pos += 1;
            } else if c == '#' {
                // A comment runs to the end of the line.
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn skip_space_nl(&mut self) {
        loop {
            self.skip_space();
            match self.peek() {
                Some('\n' | '\r') => self.pos += 1,
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A top-level expression: one atom, or a bare tuple `1, 2`.
    fn expression(&mut self) -> Option<Value> {
        self.skip_space();
        let first = self.atom(false)?;
        self.skip_space();
        if self.peek() != Some(',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(',') {
            self.skip_space();
            if self.pos >= self.chars.len() {
                break;
            }
            items.push(self.atom(false)?);
            self.skip_space();
        }
        Some(Value::Seq(items))
    }

    fn atom(&mut self, nested: bool) -> Option<Value> {
        if nested {
            self.skip_space_nl();
        } else {
            self.skip_space();
        }
        let c = self.peek()?;
        match c {
            '[' => {
                self.pos += 1;
                Some(Value::Seq(self.items(']')?))
            }
            '(' => {
                self.pos += 1;
                self.skip_space_nl();
                if self.eat(')') {
                    return Some(Value::Seq(Vec::new()));
                }
                let first = self.atom(true)?;
                self.skip_space_nl();
                if self.eat(')') {
                    // Parentheses without a comma only group.
                    return Some(first);
                }
                if !self.eat(',') {
                    return None;
                }
                let mut items = vec![first];
                items.extend(self.items(')')?);
                Some(Value::Seq(items))
            }
            '{' => {
                self.pos += 1;
                self.dict_or_set()
            }
            '\'' | '"' => self.strings(),
            '-' | '+' => {
                self.pos += 1;
                self.skip_space();
                match self.atom(nested)? {
                    Value::Int(i) => Some(Value::Int(if c == '-' { -i } else { i })),
                    Value::Float(f) => Some(Value::Float(if c == '-' { -f } else { f })),
                    Value::Bool(_) => None,
                    _ => None,
                }
            }
            c if c.is_ascii_digit() || c == '.' => self.number(),
            c if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_alphanumeric() || c == '_' {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    // String prefixes: r'', b'', u'' and their combinations.
                    w if matches!(self.peek(), Some('\'' | '"'))
                        && w.len() <= 2
                        && w.chars().all(|c| "rRbBuU".contains(c)) =>
                    {
                        self.pos = start;
                        self.strings()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn items(&mut self, close: char) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            self.skip_space_nl();
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.atom(true)?);
            self.skip_space_nl();
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(',') {
                return None;
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        self.skip_space_nl();
        if self.eat('}') {
            return Some(Value::Map(Map::new()));
        }
        let first = self.atom(true)?;
        self.skip_space_nl();
        if self.peek() != Some(':') {
            // A set literal: Ansible turns it into a list.
            let mut items = vec![first];
            if !self.eat('}') {
                if !self.eat(',') {
                    return None;
                }
                items.extend(self.items('}')?);
            }
            let mut unique: Vec<Value> = Vec::new();
            for item in items {
                if !unique.contains(&item) {
                    unique.push(item);
                }
            }
            return Some(Value::Seq(unique));
        }
        let mut map = Map::new();
        let mut key = first;
        loop {
            if matches!(key, Value::Seq(_) | Value::Map(_)) {
                return None;
            }
            if !self.eat(':') {
                return None;
            }
            let value = self.atom(true)?;
            map.insert(key, value);
            self.skip_space_nl();
            if self.eat('}') {
                return Some(Value::Map(map));
            }
            if !self.eat(',') {
                return None;
            }
            self.skip_space_nl();
            if self.eat('}') {
                return Some(Value::Map(map));
            }
            key = self.atom(true)?;
            self.skip_space_nl();
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let prev = if self.pos > start {
                self.chars[self.pos - 1]
            } else {
                ' '
            };
            if c.is_ascii_alphanumeric()
                || c == '_'
                || c == '.'
                || ((c == '+' || c == '-') && (prev == 'e' || prev == 'E'))
            {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        python_number(&text)
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.skip_space();
            let start = self.pos;
            let mut raw = false;
            while let Some(c) = self.peek() {
                if "rRbBuU".contains(c) && self.pos - start < 2 {
                    raw |= c == 'r' || c == 'R';
                    self.pos += 1;
                } else {
                    break;
                }
            }
            let Some(q @ ('\'' | '"')) = self.peek() else {
                self.pos = start;
                break;
            };
            self.pos += 1;
            let triple = self.chars.get(self.pos..self.pos + 2) == Some(&[q, q]);
            if triple {
                self.pos += 2;
            }
            loop {
                let c = self.peek()?;
                self.pos += 1;
                if c == q {
                    if !triple {
                        break;
                    }
                    if self.chars.get(self.pos..self.pos + 2) == Some(&[q, q]) {
                        self.pos += 2;
                        break;
                    }
                    out.push(c);
                    continue;
                }
                if c == '\n' && !triple {
                    return None;
                }
                if c == '\\' {
                    let e = self.peek()?;
                    self.pos += 1;
                    if raw {
                        out.push('\\');
                        out.push(e);
                        continue;
                    }
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0'..='7' => {
                            let mut v = e.to_digit(8)?;
                            for _ in 0..2 {
                                match self.peek().and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        v = v * 8 + d;
                                        self.pos += 1;
                                    }
                                    None => break,
                                }
                            }
                            out.push(char::from_u32(v)?);
                        }
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String =
                                self.chars.get(self.pos..self.pos + n)?.iter().collect();
                            self.pos += n;
                            out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                        }
                        'a' => out.push('\x07'),
                        'b' => out.push('\x08'),
                        'f' => out.push('\x0c'),
                        'v' => out.push('\x0b'),
                        '\\' | '\'' | '"' => out.push(e),
                        '\n' => {}
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                    continue;
                }
                out.push(c);
            }
            any = true;
        }
        any.then_some(Value::Str(out))
    }
}

/// A Python numeric literal: ints (no leading zeros, `0x`/`0o`/`0b`, `_` between digits) and
/// floats. Complex numbers are refused, so they stay text.
fn python_number(text: &str) -> Option<Value> {
    if text.starts_with('_') || text.ends_with('_') || text.contains("__") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            let digits = digits.strip_prefix('_').unwrap_or(digits);
            if digits.is_empty() || digits.contains("__") || digits.ends_with('_') {
                return None;
            }
            return i128::from_str_radix(&digits.replace('_', ""), radix)
                .ok()
                .map(Value::Int);
        }
    }
    let cleaned = lower.replace('_', "");
    if cleaned.chars().all(|c| c.is_ascii_digit()) {
        // Python refuses leading zeros in non-zero decimals ("0755").
        if cleaned.len() > 1 && cleaned.starts_with('0') && cleaned.chars().any(|c| c != '0') {
            return None;
        }
        return cleaned.parse::<i128>().ok().map(Value::Int);
    }
    if lower.ends_with('j')
        || lower.contains("_.")
        || lower.contains("._")
        || lower.contains("e_")
        || lower.contains("_e")
    {
        return None;
    }
    let valid = cleaned
        .chars()
        .all(|c| c.is_ascii_digit() || "e.+-".contains(c));
    if !valid {
        return None;
    }
    cleaned.parse::<f64>().ok().map(Value::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlex_posix() {
        assert_eq!(
            shlex_split(r#"h a="two words" b='x y' c=1 # note"#).unwrap(),
            ["h", "a=two words", "b=x y", "c=1"]
        );
        assert_eq!(shlex_split("h a=b#c").unwrap(), ["h", "a=b"]);
        assert!(shlex_split("h a='open").is_err());
    }

    #[test]
    fn literals() {
        assert_eq!(parse_value("1"), Value::Int(1));
        assert_eq!(parse_value("0755"), Value::str("0755"));
        assert_eq!(parse_value("True"), Value::Bool(true));
        assert_eq!(parse_value("true"), Value::str("true"));
        assert_eq!(parse_value("1.5"), Value::Float(1.5));
        assert_eq!(
            parse_value("[1, 'a']"),
            Value::Seq(vec![Value::Int(1), Value::str("a")])
        );
        assert_eq!(
            parse_value("1,2"),
            Value::Seq(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(parse_value("'quoted'"), Value::str("quoted"));
        assert_eq!(parse_value("1 # note"), Value::Int(1));
        assert_eq!(parse_value("-3"), Value::Int(-3));
        assert_eq!(parse_value("1j"), Value::str("1j"));
        assert_eq!(parse_value("{k:None}"), Value::str("{k:None}"));
        assert_eq!(parse_value("hello world"), Value::str("hello world"));
    }
}
