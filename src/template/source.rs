//! Source-level preprocessing Ansible applies before Jinja sees a template:
//!
//! - the `#jinja2:` header line, which overrides delimiters and whitespace options;
//! - backslash escaping: in `{{ }}` blocks of task templates, Ansible keeps backslashes in
//!   string literals as written (`'\d'` stays `\d`, `'\n'` stays backslash-n), because YAML
//!   already processed escapes once;
//! - embedded templates in conditionals (`when: x == '{{ y }}'`), which Ansible still
//!   renders (deprecated) and kiln rewrites into a call that renders them.

use std::borrow::Cow;

use super::strict::strict_operands;

/// The `#jinja2:` overrides (Ansible's `TemplateOverrides`).
#[derive(Debug, Clone, PartialEq)]
pub struct Overrides {
    pub block_start: String,
    pub block_end: String,
    pub variable_start: String,
    pub variable_end: String,
    pub comment_start: String,
    pub comment_end: String,
    pub line_statement_prefix: Option<String>,
    pub line_comment_prefix: Option<String>,
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    pub newline_sequence: String,
    pub keep_trailing_newline: bool,
}

impl Default for Overrides {
    fn default() -> Overrides {
        Overrides {
            block_start: "{%".into(),
            block_end: "%}".into(),
            variable_start: "{{".into(),
            variable_end: "}}".into(),
            comment_start: "{#".into(),
            comment_end: "#}".into(),
            line_statement_prefix: None,
            line_comment_prefix: None,
            trim_blocks: true,
            lstrip_blocks: false,
            newline_sequence: "\n".into(),
            keep_trailing_newline: false,
        }
    }
}

impl Overrides {
    pub fn is_default(&self) -> bool {
        *self == Overrides::default()
    }
}

const HEADER: &str = "#jinja2:";

/// Splits off a `#jinja2:` header: the overrides it sets and the template after it.
pub fn split_header(src: &str) -> Result<(Overrides, &str), String> {
    let mut o = Overrides::default();
    let Some(rest) = src.strip_prefix(HEADER) else {
        return Ok((o, src));
    };
    let Some(eol) = rest.find('\n') else {
        return Err("missing newline after `#jinja2:` override".into());
    };
    let line = &rest[..eol];
    for pair in line.split(',') {
        if pair.trim().is_empty() {
            return Err("empty `#jinja2:` override pair not allowed".into());
        }
        let Some((key, val)) = pair.split_once(':') else {
            return Err(format!(
                "missing key-value separator `:` in `#jinja2:` override pair `{pair}`"
            ));
        };
        let key = key.trim();
        let val = literal(val.trim()).ok_or_else(|| format!("invalid value for `{key}`"))?;
        let as_str = |v: &Lit| match v {
            Lit::Str(s) => Ok(s.clone()),
            _ => Err(format!("`{key}` must be a string")),
        };
        let as_bool = |v: &Lit| match v {
            Lit::Bool(b) => Ok(*b),
            _ => Err(format!("`{key}` must be a boolean")),
        };
        match key {
            "block_start_string" => o.block_start = as_str(&val)?,
            "block_end_string" => o.block_end = as_str(&val)?,
            "variable_start_string" => o.variable_start = as_str(&val)?,
            "variable_end_string" => o.variable_end = as_str(&val)?,
            "comment_start_string" => o.comment_start = as_str(&val)?,
            "comment_end_string" => o.comment_end = as_str(&val)?,
            "line_statement_prefix" => {
                o.line_statement_prefix = match val {
                    Lit::None => None,
                    v => Some(as_str(&v)?),
                }
            }
            "line_comment_prefix" => {
                o.line_comment_prefix = match val {
                    Lit::None => None,
                    v => Some(as_str(&v)?),
                }
            }
            "trim_blocks" => o.trim_blocks = as_bool(&val)?,
            "lstrip_blocks" => o.lstrip_blocks = as_bool(&val)?,
            "keep_trailing_newline" => o.keep_trailing_newline = as_bool(&val)?,
            "newline_sequence" => {
                let s = as_str(&val)?;
                if !matches!(s.as_str(), "\n" | "\r\n" | "\r") {
                    return Err("newline_sequence must be one of \\n, \\r\\n or \\r".into());
                }
                o.newline_sequence = s;
            }
            _ => return Err(format!("invalid `#jinja2:` override key `{key}`")),
        }
    }
    Ok((o, &rest[eol + 1..]))
}

enum Lit {
    Str(String),
    Bool(bool),
    None,
}

/// A Python literal as `ast.literal_eval` reads the simple ones the header uses.
fn literal(s: &str) -> Option<Lit> {
    match s {
        "True" => return Some(Lit::Bool(true)),
        "False" => return Some(Lit::Bool(false)),
        "None" => return Some(Lit::None),
        _ => {}
    }
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = s.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(Lit::Str(out))
}

/// Whether a string starts and ends with Jinja delimiters (Ansible's `is_possibly_all_template`).
pub fn is_all_template(s: &str) -> bool {
    s.starts_with(HEADER)
        || ((s.starts_with("{{") || s.starts_with("{%") || s.starts_with("{#"))
            && (s.ends_with("}}") || s.ends_with("%}") || s.ends_with("#}")))
}

/// A string literal found in an expression: its byte range (quotes included) and the raw
/// text between the quotes.
struct StrLit {
    start: usize,
    end: usize,
    raw: String,
}

/// Scans an expression from `pos`, calling `on_str` for each string literal, until the end
/// of input or (when `end` is given) the end delimiter at bracket depth zero. Returns the
/// position after the end delimiter (or the input length).
fn scan_expr(src: &str, mut pos: usize, end: Option<&str>, lits: &mut Vec<StrLit>) -> usize {
    let bytes = src.as_bytes();
    let mut depth: usize = 0;
    while pos < bytes.len() {
        let c = bytes[pos];
        if depth == 0
            && let Some(end) = end
            && bytes[pos..].starts_with(end.as_bytes())
        {
            return pos + end.len();
        }
        match c {
            b'\'' | b'"' => {
                let start = pos;
                let mut i = pos + 1;
                let mut closed = false;
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == c {
                        closed = true;
                        break;
                    }
                    i += 1;
                }
                if !closed {
                    return bytes.len();
                }
                lits.push(StrLit {
                    start,
                    end: i + 1,
                    raw: src[start + 1..i].to_string(),
                });
                pos = i + 1;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        pos += 1;
    }
    bytes.len()
}

/// A minijinja string literal whose value is exactly `raw`.
fn literal_for(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    out.push('\'');
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn rewrite(src: &str, lits: Vec<StrLit>, f: impl Fn(&StrLit) -> Option<String>) -> Cow<'_, str> {
    let mut out = String::new();
    let mut last = 0;
    for lit in &lits {
        if let Some(new) = f(lit) {
            out.push_str(&src[last..lit.start]);
            out.push_str(&new);
            last = lit.end;
        }
    }
    if last == 0 {
        return Cow::Borrowed(src);
    }
    out.push_str(&src[last..]);
    Cow::Owned(out)
}

/// String literals inside the `{{ }}` blocks of a template.
fn variable_block_literals(src: &str, o: &Overrides) -> Vec<StrLit> {
    let mut lits = Vec::new();
    let mut pos = 0;
    let starts = [&o.variable_start, &o.block_start, &o.comment_start];
    while pos < src.len() {
        let next = starts
            .iter()
            .enumerate()
            .filter_map(|(k, d)| src[pos..].find(d.as_str()).map(|i| (pos + i, k)))
            .min();
        let Some((at, kind)) = next else { break };
        match kind {
            0 => {
                pos = scan_expr(
                    src,
                    at + o.variable_start.len(),
                    Some(&o.variable_end),
                    &mut lits,
                );
            }
            1 => {
                let after = at + o.block_start.len();
                let mut ignored = Vec::new();
                let end = scan_expr(src, after, Some(&o.block_end), &mut ignored);
                let tag = src[after..end.saturating_sub(o.block_end.len()).max(after)]
                    .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
                pos = end;
                if tag == "raw" {
                    // Skip to the matching endraw.
                    let mut search = pos;
                    loop {
                        let Some(i) = src[search..].find(o.block_start.as_str()) else {
                            return lits;
                        };
                        let b = search + i + o.block_start.len();
                        let e = scan_expr(src, b, Some(&o.block_end), &mut ignored);
                        let tag = src[b..e.saturating_sub(o.block_end.len()).max(b)]
                            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
                        search = e;
                        if tag == "endraw" {
                            break;
                        }
                    }
                    pos = search;
                }
            }
            _ => {
                let after = at + o.comment_start.len();
                pos = match src[after..].find(o.comment_end.as_str()) {
                    Some(i) => after + i + o.comment_end.len(),
                    None => src.len(),
                };
            }
        }
    }
    lits
}

/// Keeps backslashes in `{{ }}` string literals as written (Ansible's `escape_backslashes`).
pub fn escape_backslashes<'a>(src: &'a str, o: &Overrides) -> Cow<'a, str> {
    if !src.contains('\\') {
        return Cow::Borrowed(src);
    }
    let lits = variable_block_literals(src, o);
    rewrite(src, lits, |lit| {
        lit.raw.contains('\\').then(|| literal_for(&lit.raw))
    })
}

/// Finds a keyword (`in`, `if`, `recursive`) at bracket depth zero, outside strings, as a
/// whole word, starting at `from`.
fn find_keyword(s: &str, from: usize, word: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ if depth == 0 && bytes[i..].starts_with(word.as_bytes()) => {
                let before = i == 0 || !is_ident(bytes[i - 1]);
                let after = bytes.get(i + word.len()).is_none_or(|b| !is_ident(*b));
                if before && after {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Makes `{% if %}`, `{% elif %}` and `{% for %}` fail on an undefined value, as Ansible's
/// strict undefined does, by wrapping their expression in `wrapper(...)`; operands inside
/// every expression get the same treatment (see [`strict_operands`]).
pub fn strict_blocks<'a>(src: &'a str, o: &Overrides, wrapper: &str) -> Cow<'a, str> {
    if !src.contains(o.block_start.as_str()) && !src.contains(o.variable_start.as_str()) {
        return Cow::Borrowed(src);
    }
    // (start, end, replacement) edits on the source.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut pos = 0;
    let mut ignored = Vec::new();
    while pos < src.len() {
        let next = [&o.variable_start, &o.block_start, &o.comment_start]
            .iter()
            .enumerate()
            .filter_map(|(k, d)| src[pos..].find(d.as_str()).map(|i| (pos + i, k)))
            .min();
        let Some((at, kind)) = next else { break };
        match kind {
            0 => {
                let mut b = at + o.variable_start.len();
                pos = scan_expr(src, b, Some(&o.variable_end), &mut ignored);
                if src[b..].starts_with(['-', '+']) {
                    b += 1;
                }
                let mut e = pos.saturating_sub(o.variable_end.len()).max(b);
                if e > b && src[..e].ends_with('-') {
                    e -= 1;
                }
                if let Cow::Owned(strict) = strict_operands(&src[b..e], wrapper) {
                    edits.push((b, e, strict));
                }
            }
            2 => {
                let after = at + o.comment_start.len();
                pos = match src[after..].find(o.comment_end.as_str()) {
                    Some(i) => after + i + o.comment_end.len(),
                    None => src.len(),
                };
            }
            _ => {
                let mut b = at + o.block_start.len();
                if src[b..].starts_with(['-', '+']) {
                    b += 1;
                }
                let end = scan_expr(src, b, Some(&o.block_end), &mut ignored);
                let mut e = end.saturating_sub(o.block_end.len()).max(b);
                if e > b && src[..e].ends_with(['-', '+']) {
                    e -= 1;
                }
                pos = end;
                let content = &src[b..e];
                let lead = content.len() - content.trim_start().len();
                let body = content.trim();
                let tag = body
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or("");
                let body_start = b + lead;
                match tag {
                    "raw" => {
                        // Skip to the matching endraw.
                        let mut search = pos;
                        loop {
                            let Some(i) = src[search..].find(o.block_start.as_str()) else {
                                pos = src.len();
                                break;
                            };
                            let bb = search + i + o.block_start.len();
                            let ee = scan_expr(src, bb, Some(&o.block_end), &mut ignored);
                            let t = src[bb..ee.saturating_sub(o.block_end.len()).max(bb)]
                                .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
                            search = ee;
                            if t == "endraw" {
                                pos = search;
                                break;
                            }
                        }
                    }
                    "if" | "elif" => {
                        let expr_start = body_start + tag.len();
                        let expr = src[expr_start..body_start + body.len()].trim();
                        if !expr.is_empty() {
                            edits.push((
                                expr_start,
                                body_start + body.len(),
                                format!(" {wrapper}(({}))", strict_operands(expr, wrapper)),
                            ));
                        }
                    }
                    "for" => {
                        let body_end = body_start + body.len();
                        if let Some(i) = find_keyword(&src[..body_end], body_start + 3, "in") {
                            let iter_start = i + 2;
                            let iter_end = [
                                find_keyword(&src[..body_end], iter_start, "if"),
                                find_keyword(&src[..body_end], iter_start, "recursive"),
                            ]
                            .into_iter()
                            .flatten()
                            .min()
                            .unwrap_or(body_end);
                            let iter = src[iter_start..iter_end].trim();
                            if !iter.is_empty() {
                                edits.push((
                                    iter_start,
                                    iter_end,
                                    format!(" {wrapper}(({iter})) "),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if edits.is_empty() {
        return Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + edits.len() * 20);
    let mut last = 0;
    for (s, e, r) in edits {
        out.push_str(&src[last..s]);
        out.push_str(&r);
        last = e;
    }
    out.push_str(&src[last..]);
    Cow::Owned(out)
}

/// The name of the function that applies Python's `str % args` formatting.
pub const PERCENT_FN: &str = "__kiln_percent";

/// The end of a bracketed group starting at `i` (which holds the opening bracket).
fn group_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

fn skip_ws(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn ident_end(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && (is_ident(b[i]) || b[i] >= 0x80) {
        i += 1;
    }
    i
}

/// The end of the operand of `%`: a unary expression with attribute, item, call and
/// filter postfixes (what binds tighter than `%` in Jinja).
fn operand_end(b: &[u8], start: usize, end: usize) -> Option<usize> {
    let mut i = skip_ws(b, start, end);
    while i < end && (b[i] == b'-' || b[i] == b'+') {
        i = skip_ws(b, i + 1, end);
    }
    if i >= end {
        return None;
    }
    i = match b[i] {
        b'\'' | b'"' | b'(' | b'[' | b'{' => {
            if b[i] == b'\'' || b[i] == b'"' {
                let q = b[i];
                let mut j = i + 1;
                while j < end && b[j] != q {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                j + 1
            } else {
                group_end(b, i)
            }
        }
        c if c.is_ascii_digit() => {
            let mut j = i;
            while j < end && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || b[j] == b'_') {
                j += 1;
            }
            j
        }
        c if is_ident(c) || c >= 0x80 => ident_end(b, i, end),
        _ => return None,
    }
    .min(end);
    loop {
        let j = skip_ws(b, i, end);
        if j >= end {
            return Some(i);
        }
        match b[j] {
            b'.' if j + 1 < end && (is_ident(b[j + 1]) || b[j + 1] >= 0x80) => {
                i = ident_end(b, j + 1, end);
            }
            b'[' | b'(' => i = group_end(b, j).min(end),
            b'|' => {
                let mut k = skip_ws(b, j + 1, end);
                let name_end = ident_end(b, k, end);
                if name_end == k {
                    return Some(i);
                }
                k = name_end;
                while k < end && b[k] == b'.' {
                    k = ident_end(b, k + 1, end);
                }
                let after = skip_ws(b, k, end);
                i = if after < end && b[after] == b'(' {
                    group_end(b, after).min(end)
                } else {
                    k
                };
            }
            _ => return Some(i),
        }
    }
}

/// Rewrites `'fmt' % args` (a string literal formatted with `%`, which minijinja does not
/// support) into a call that formats as Python does.
fn rewrite_percent_in(
    src: &str,
    start: usize,
    end: usize,
    edits: &mut Vec<(usize, usize, String)>,
) {
    let mut lits = Vec::new();
    scan_expr(&src[..end], start, None, &mut lits);
    let b = src.as_bytes();
    let mut after_last = 0;
    for lit in lits {
        if lit.start < after_last {
            continue;
        }
        let p = skip_ws(b, lit.end, end);
        if p >= end || b[p] != b'%' || b.get(p + 1) == Some(&b'}') {
            continue;
        }
        let Some(op_end) = operand_end(b, p + 1, end) else {
            continue;
        };
        let operand = src[p + 1..op_end].trim();
        let is_tuple = operand.starts_with('(')
            && group_end(operand.as_bytes(), 0) == operand.len()
            && has_top_level_comma(&operand[1..operand.len() - 1]);
        let literal = &src[lit.start..lit.end];
        edits.push((
            lit.start,
            op_end,
            format!("{PERCENT_FN}({literal}, ({operand}), {is_tuple})"),
        ));
        after_last = op_end;
    }
}

fn apply_edits(src: &str, mut edits: Vec<(usize, usize, String)>) -> Cow<'_, str> {
    if edits.is_empty() {
        return Cow::Borrowed(src);
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(src.len() + 32);
    let mut last = 0;
    for (s, e, r) in edits {
        if s < last {
            continue;
        }
        out.push_str(&src[last..s]);
        out.push_str(&r);
        last = e;
    }
    out.push_str(&src[last..]);
    Cow::Owned(out)
}

fn has_top_level_comma(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'(' | b'[' | b'{' => {
                i = if b[i] == b'\'' || b[i] == b'"' {
                    let q = b[i];
                    let mut j = i + 1;
                    while j < b.len() && b[j] != q {
                        if b[j] == b'\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                    j + 1
                } else {
                    group_end(b, i)
                };
                continue;
            }
            b',' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// `'fmt' % args` support in a bare expression.
pub fn percent_in_expr(expr: &str) -> Cow<'_, str> {
    if !expr.contains('%') {
        return Cow::Borrowed(expr);
    }
    let mut edits = Vec::new();
    rewrite_percent_in(expr, 0, expr.len(), &mut edits);
    apply_edits(expr, edits)
}

/// `'fmt' % args` support in the `{{ }}` and `{% %}` blocks of a template.
pub fn percent_in_template<'a>(src: &'a str, o: &Overrides) -> Cow<'a, str> {
    if !src.contains('%') || !(src.contains('\'') || src.contains('"')) {
        return Cow::Borrowed(src);
    }
    let mut edits = Vec::new();
    let mut pos = 0;
    let mut ignored = Vec::new();
    while pos < src.len() {
        let next = [&o.variable_start, &o.block_start, &o.comment_start]
            .iter()
            .enumerate()
            .filter_map(|(k, d)| src[pos..].find(d.as_str()).map(|i| (pos + i, k)))
            .min();
        let Some((at, kind)) = next else { break };
        match kind {
            2 => {
                let after = at + o.comment_start.len();
                pos = match src[after..].find(o.comment_end.as_str()) {
                    Some(i) => after + i + o.comment_end.len(),
                    None => src.len(),
                };
            }
            k => {
                let (open, close) = if k == 0 {
                    (&o.variable_start, &o.variable_end)
                } else {
                    (&o.block_start, &o.block_end)
                };
                let b = at + open.len();
                let end = scan_expr(src, b, Some(close), &mut ignored);
                let e = end.saturating_sub(close.len()).max(b);
                let tag =
                    src[b..e].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
                if k == 1 && tag == "raw" {
                    // Leave raw blocks alone.
                    let rest = &src[end..];
                    let stop = rest.find("endraw").map_or(src.len(), |i| end + i);
                    pos = stop.max(end);
                    continue;
                }
                rewrite_percent_in(src, b, e, &mut edits);
                pos = end;
            }
        }
    }
    apply_edits(src, edits)
}

/// The name of the function that renders an embedded template at run time.
pub const EMBEDDED_FN: &str = "__kiln_embedded_template";

/// Rewrites string constants that hold templates inside a bare expression (a conditional)
/// into calls that render them, as Ansible (deprecated) still does.
pub fn embed_constant_templates(expr: &str) -> Cow<'_, str> {
    if !super::value::has_template(expr) {
        return Cow::Borrowed(expr);
    }
    let mut lits = Vec::new();
    scan_expr(expr, 0, None, &mut lits);
    rewrite(expr, lits, |lit| {
        let text = &expr[lit.start..lit.end];
        super::value::has_template(&lit.raw).then(|| format!("{EMBEDDED_FN}({text})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_overrides() {
        let (o, rest) = split_header("#jinja2: trim_blocks: False, variable_start_string: '[['\nx")
            .expect("header");
        assert!(!o.trim_blocks);
        assert_eq!(o.variable_start, "[[");
        assert_eq!(rest, "x");
        assert!(split_header("#jinja2: foo: True\n").is_err());
    }

    #[test]
    fn backslashes_kept_only_in_variable_blocks() {
        let o = Overrides::default();
        let src = r#"a\d {{ 'x\d' ~ "y\n" }} {% set z = '\n' %}"#;
        let want = r"a\d {{ 'x\\d' ~ 'y\\n' }} {% set z = '\n' %}";
        assert_eq!(escape_backslashes(src, &o), want);
        let nested = r"{{ {'a': {'b': '\1'}} }}{{ '\2' }}";
        assert_eq!(
            escape_backslashes(nested, &o),
            r"{{ {'a': {'b': '\\1'}} }}{{ '\\2' }}"
        );
        let raw = r"{% raw %}{{ '\1' }}{% endraw %}{{ '\1' }}";
        assert_eq!(
            escape_backslashes(raw, &o),
            r"{% raw %}{{ '\1' }}{% endraw %}{{ '\\1' }}"
        );
    }

    #[test]
    fn strict_blocks_wrap_conditions_and_iterables() {
        let o = Overrides::default();
        assert_eq!(
            strict_blocks("{% if a %}x{%- elif b.c -%}y{% endif %}", &o, "f"),
            "{% if f((a)) %}x{%- elif f((b.c)) -%}y{% endif %}"
        );
        assert_eq!(
            strict_blocks("{% for k, v in d.items() if v %}{% endfor %}", &o, "f"),
            "{% for k, v in f((d.items())) if v %}{% endfor %}"
        );
        assert_eq!(
            strict_blocks("{% raw %}{% if a %}{% endraw %}", &o, "f"),
            "{% raw %}{% if a %}{% endraw %}"
        );
    }

    #[test]
    fn scanning_survives_multibyte_text() {
        let o = Overrides::default();
        let src = "é{{ 'ü\\d' }}ä{% for é in [1] %}ö{% endfor %}";
        assert!(escape_backslashes(src, &o).contains("ü\\\\d"));
        assert!(strict_blocks(src, &o, "f").contains("f(([1]))"));
    }

    #[test]
    fn percent_formatting_becomes_a_call() {
        let o = Overrides::default();
        assert_eq!(
            percent_in_template("{{ '%02d' % item | int }}", &o),
            format!("{{{{ {PERCENT_FN}('%02d', (item | int), false) }}}}")
        );
        assert_eq!(
            percent_in_expr("'%s-%s' % (a, b.c) ~ 'x'"),
            format!("{PERCENT_FN}('%s-%s', ((a, b.c)), true) ~ 'x'")
        );
        assert_eq!(
            percent_in_template("{% set x = 'a' %}", &o),
            "{% set x = 'a' %}"
        );
        assert_eq!(percent_in_expr("10 % 3"), "10 % 3");
    }

    #[test]
    fn embedded_templates_become_calls() {
        assert_eq!(
            embed_constant_templates("x == '{{ y }}'"),
            format!("x == {EMBEDDED_FN}('{{{{ y }}}}')")
        );
        assert_eq!(embed_constant_templates("x == 'y'"), "x == 'y'");
    }
}
