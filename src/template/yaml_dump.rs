//! YAML output byte-for-byte as Ansible's `to_yaml`/`to_nice_yaml` produce it: PyYAML's
//! `SafeRepresenter` (sorted keys, YAML 1.1 quoting of strings that would resolve to
//! something else) and libyaml's emitter (what `CSafeDumper` uses), including its
//! line folding at 80 columns and its choice between plain, single- and double-quoted
//! scalars.
//!
//! The emitter is a port of the state machine PyYAML and libyaml share, with libyaml's two
//! differences from the pure-Python one: no `...` after an open-ended root scalar, and an
//! empty string is allowed as a simple mapping key.

use crate::template::filters::py_cmp;
use crate::yaml::{Value, python_float_repr};
use regex::Regex;
use std::sync::LazyLock;

/// Options of `yaml.dump` that the filters pass through.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    pub indent: usize,
    pub width: usize,
    /// `None`: flow style for collections of plain scalars only (PyYAML's default).
    pub default_flow_style: Option<bool>,
    pub sort_keys: bool,
    pub explicit_start: bool,
    pub explicit_end: bool,
}

impl Default for DumpOptions {
    fn default() -> DumpOptions {
        DumpOptions {
            indent: 2,
            width: 80,
            default_flow_style: None,
            sort_keys: true,
            explicit_start: false,
            explicit_end: false,
        }
    }
}

// ---- representer ----

enum Node {
    Scalar {
        tag: Option<&'static str>,
        value: String,
        /// (plain resolves to the node's type, non-plain resolves to it)
        implicit: (bool, bool),
        style: Option<char>,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        flow: bool,
    },
}

static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("static regex")
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .expect("static regex")
});
static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
    .expect("static regex")
});
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
    )
    .expect("static regex")
});

/// The implicit type PyYAML's resolver gives a plain scalar (same rules as the loader).
fn plain_kind(text: &str) -> &'static str {
    let Some(first) = text.chars().next() else {
        return "null";
    };
    if "yYnNtTfFoO".contains(first) && BOOL.is_match(text) {
        return "bool";
    }
    if "-+0123456789.".contains(first) && FLOAT.is_match(text) {
        return "float";
    }
    if "-+0123456789".contains(first) && INT.is_match(text) {
        return "int";
    }
    if text == "<<" {
        return "merge";
    }
    if matches!(text, "~" | "null" | "Null" | "NULL") {
        return "null";
    }
    if first.is_ascii_digit() && TIMESTAMP.is_match(text) {
        return "timestamp";
    }
    if text == "=" {
        return "value";
    }
    "str"
}

fn scalar(kind: &'static str, value: String) -> Node {
    let plain = plain_kind(&value) == kind;
    Node::Scalar {
        tag: None,
        value,
        implicit: (plain, kind == "str"),
        style: None,
    }
}

/// PyYAML's `represent_float`.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let v = python_float_repr(f).to_lowercase();
    if !v.contains('.') && v.contains('e') {
        v.replacen('e', ".0e", 1)
    } else {
        v
    }
}

fn base64_lines(b: &[u8]) -> String {
    use base64::Engine as _;
    let s = base64::engine::general_purpose::STANDARD.encode(b);
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

fn is_plain_scalar(n: &Node) -> bool {
    matches!(n, Node::Scalar { style: None, .. })
}

fn vault_node(ciphertext: String) -> Node {
    Node::Scalar {
        tag: Some("!vault"),
        value: ciphertext,
        implicit: (false, false),
        style: Some('|'),
    }
}

fn represent(v: &Value, o: &DumpOptions) -> Result<Node, String> {
    Ok(match v {
        Value::Null => scalar("null", "null".into()),
        Value::Bool(b) => scalar("bool", if *b { "true" } else { "false" }.into()),
        Value::Int(i) => scalar("int", i.to_string()),
        Value::Float(f) => scalar("float", float_text(*f)),
        Value::Str(s) | Value::Unsafe(s) => match crate::vault::ciphertext_of(s) {
            // A decrypted vault value is dumped as its ciphertext, as 2.19 does.
            Some(c) => vault_node(c),
            None => scalar("str", s.clone()),
        },
        Value::Date(s) => scalar("timestamp", s.clone()),
        Value::DateTime(s) => scalar("timestamp", s.replacen('T', " ", 1)),
        Value::Vault(c) => vault_node(c.clone()),
        Value::Bytes(b) => Node::Scalar {
            tag: Some("!!binary"),
            value: base64_lines(b),
            implicit: (false, false),
            style: Some('|'),
        },
        Value::Seq(items) => {
            let items: Vec<Node> = items
                .iter()
                .map(|i| represent(i, o))
                .collect::<Result<_, _>>()?;
            let best = items.iter().all(is_plain_scalar);
            Node::Seq {
                flow: o.default_flow_style.unwrap_or(best),
                items,
            }
        }
        Value::Map(m) => {
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
            let mut pairs = Vec::with_capacity(entries.len());
            let mut best = true;
            for (k, val) in entries {
                let kn = represent(k, o)?;
                let vn = represent(val, o)?;
                best &= is_plain_scalar(&kn) && is_plain_scalar(&vn);
                pairs.push((kn, vn));
            }
            Node::Map {
                flow: o.default_flow_style.unwrap_or(best),
                pairs,
            }
        }
    })
}

// ---- events ----

enum Event {
    DocStart,
    DocEnd,
    StreamEnd,
    Scalar {
        tag: Option<&'static str>,
        value: String,
        implicit: (bool, bool),
        style: Option<char>,
    },
    SeqStart {
        flow: bool,
    },
    SeqEnd,
    MapStart {
        flow: bool,
    },
    MapEnd,
}

fn serialize(n: Node, out: &mut Vec<Event>) {
    match n {
        Node::Scalar {
            tag,
            value,
            implicit,
            style,
        } => out.push(Event::Scalar {
            tag,
            value,
            implicit,
            style,
        }),
        Node::Seq { items, flow } => {
            out.push(Event::SeqStart { flow });
            for i in items {
                serialize(i, out);
            }
            out.push(Event::SeqEnd);
        }
        Node::Map { pairs, flow } => {
            out.push(Event::MapStart { flow });
            for (k, v) in pairs {
                serialize(k, out);
                serialize(v, out);
            }
            out.push(Event::MapEnd);
        }
    }
}

// ---- emitter ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    DocumentStart,
    DocumentRoot,
    DocumentEnd,
    FirstFlowSeqItem,
    FlowSeqItem,
    FirstFlowMapKey,
    FlowMapKey,
    FlowMapSimpleValue,
    FlowMapValue,
    FirstBlockSeqItem,
    BlockSeqItem,
    FirstBlockMapKey,
    BlockMapKey,
    BlockMapSimpleValue,
    BlockMapValue,
    Nothing,
}

struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
    allow_block: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_space_or_break(c: char) -> bool {
    matches!(
        c,
        '\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

fn printable(c: char) -> bool {
    let n = c as u32;
    n == 0x0a
        || (0x20..=0x7e).contains(&n)
        || n == 0x85
        || (0xa0..=0xd7ff).contains(&n)
        || ((0xe000..=0xfffd).contains(&n) && n != 0xfeff)
        || (0x10000..=0x10ffff).contains(&n)
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
            allow_block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_ws = true;
    let mut followed_by_ws = chars.len() == 1 || is_space_or_break(chars[1]);
    let mut previous_space = false;
    let mut previous_break = false;
    for (index, &ch) in chars.iter().enumerate() {
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_indicators = true;
                block_indicators = true;
            }
            if ch == '?' || ch == ':' {
                flow_indicators = true;
                if followed_by_ws {
                    block_indicators = true;
                }
            }
            if ch == '-' && followed_by_ws {
                flow_indicators = true;
                block_indicators = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_indicators = true;
            }
            if ch == ':' {
                flow_indicators = true;
                if followed_by_ws {
                    block_indicators = true;
                }
            }
            if ch == '#' && preceded_by_ws {
                flow_indicators = true;
                block_indicators = true;
            }
        }
        if is_break(ch) {
            line_breaks = true;
        }
        if !printable(ch) {
            special = true;
        }
        if ch == ' ' {
            if index == 0 {
                leading_space = true;
            }
            if index == chars.len() - 1 {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            if index == 0 {
                leading_break = true;
            }
            if index == chars.len() - 1 {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = is_space_or_break(ch);
        followed_by_ws = index + 2 >= chars.len() || is_space_or_break(chars[index + 2]);
    }
    let mut a = Analysis {
        empty: false,
        multiline: line_breaks,
        allow_flow_plain: true,
        allow_block_plain: true,
        allow_single_quoted: true,
        allow_block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if trailing_space {
        a.allow_block = false;
    }
    if break_space {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if space_break || special {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
        a.allow_block = false;
    }
    if line_breaks {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if flow_indicators {
        a.allow_flow_plain = false;
    }
    if block_indicators {
        a.allow_block_plain = false;
    }
    a
}

struct Emitter {
    out: String,
    events: Vec<Event>,
    pos: usize,
    states: Vec<State>,
    state: State,
    indents: Vec<Option<usize>>,
    indent: Option<usize>,
    flow_level: usize,
    mapping_context: bool,
    simple_key_context: bool,
    column: usize,
    whitespace: bool,
    indention: bool,
    best_indent: usize,
    best_width: usize,
    explicit_start: bool,
    explicit_end: bool,
}

impl Emitter {
    fn event(&self) -> Option<&Event> {
        self.events.get(self.pos)
    }

    fn next_event(&self) -> Option<&Event> {
        self.events.get(self.pos + 1)
    }

    fn run(mut self) -> String {
        while self.pos < self.events.len() {
            self.step();
            self.pos += 1;
        }
        self.out
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        match self.indent {
            None => self.indent = Some(if flow { self.best_indent } else { 0 }),
            Some(i) if !indentless => self.indent = Some(i + self.best_indent),
            _ => {}
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::Nothing);
    }

    fn step(&mut self) {
        match self.state {
            State::DocumentStart => match self.event() {
                Some(Event::DocStart) => {
                    let empty_doc = matches!(
                        self.next_event(),
                        Some(Event::Scalar { tag: None, value, implicit: (true, _), .. }) if value.is_empty()
                    );
                    if self.explicit_start || empty_doc {
                        self.write_indent();
                        self.write_indicator("---", true, false, false);
                    }
                    self.state = State::DocumentRoot;
                }
                _ => self.state = State::Nothing,
            },
            State::DocumentRoot => {
                self.states.push(State::DocumentEnd);
                self.expect_node(true, false, false, false);
            }
            State::DocumentEnd => {
                if let Some(Event::DocEnd) = self.event() {
                    self.write_indent();
                    if self.explicit_end {
                        self.write_indicator("...", true, false, false);
                        self.write_indent();
                    }
                    self.state = State::DocumentStart;
                }
            }
            State::FirstFlowSeqItem | State::FlowSeqItem => {
                let first = self.state == State::FirstFlowSeqItem;
                if let Some(Event::SeqEnd) = self.event() {
                    self.pop_indent();
                    self.flow_level -= 1;
                    self.write_indicator("]", false, false, false);
                    self.pop_state();
                } else {
                    if !first {
                        self.write_indicator(",", false, false, false);
                    }
                    if self.column > self.best_width {
                        self.write_indent();
                    }
                    self.states.push(State::FlowSeqItem);
                    self.expect_node(false, true, false, false);
                }
            }
            State::FirstFlowMapKey | State::FlowMapKey => {
                let first = self.state == State::FirstFlowMapKey;
                if let Some(Event::MapEnd) = self.event() {
                    self.pop_indent();
                    self.flow_level -= 1;
                    self.write_indicator("}", false, false, false);
                    self.pop_state();
                } else {
                    if !first {
                        self.write_indicator(",", false, false, false);
                    }
                    if self.column > self.best_width {
                        self.write_indent();
                    }
                    if self.check_simple_key() {
                        self.states.push(State::FlowMapSimpleValue);
                        self.expect_node(false, false, true, true);
                    } else {
                        self.write_indicator("?", true, false, false);
                        self.states.push(State::FlowMapValue);
                        self.expect_node(false, false, true, false);
                    }
                }
            }
            State::FlowMapSimpleValue => {
                self.write_indicator(":", false, false, false);
                self.states.push(State::FlowMapKey);
                self.expect_node(false, false, true, false);
            }
            State::FlowMapValue => {
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
                self.states.push(State::FlowMapKey);
                self.expect_node(false, false, true, false);
            }
            State::FirstBlockSeqItem | State::BlockSeqItem => {
                let first = self.state == State::FirstBlockSeqItem;
                if !first && matches!(self.event(), Some(Event::SeqEnd)) {
                    self.pop_indent();
                    self.pop_state();
                } else {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.states.push(State::BlockSeqItem);
                    self.expect_node(false, true, false, false);
                }
            }
            State::FirstBlockMapKey | State::BlockMapKey => {
                let first = self.state == State::FirstBlockMapKey;
                if !first && matches!(self.event(), Some(Event::MapEnd)) {
                    self.pop_indent();
                    self.pop_state();
                } else {
                    self.write_indent();
                    if self.check_simple_key() {
                        self.states.push(State::BlockMapSimpleValue);
                        self.expect_node(false, false, true, true);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.states.push(State::BlockMapValue);
                        self.expect_node(false, false, true, false);
                    }
                }
            }
            State::BlockMapSimpleValue => {
                self.write_indicator(":", false, false, false);
                self.states.push(State::BlockMapKey);
                self.expect_node(false, false, true, false);
            }
            State::BlockMapValue => {
                self.write_indent();
                self.write_indicator(":", true, false, true);
                self.states.push(State::BlockMapKey);
                self.expect_node(false, false, true, false);
            }
            State::Nothing => {}
        }
    }

    fn expect_node(&mut self, root: bool, _sequence: bool, mapping: bool, simple_key: bool) {
        let _ = root;
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        let empty_next = |e: &Emitter, end: fn(&Event) -> bool| e.next_event().is_some_and(end);
        match self.event() {
            Some(Event::Scalar { .. }) => {
                self.increase_indent(true, false);
                self.process_scalar();
                self.pop_indent();
                self.pop_state();
            }
            Some(Event::SeqStart { flow }) => {
                let flow = *flow;
                if self.flow_level > 0 || flow || empty_next(self, |e| matches!(e, Event::SeqEnd)) {
                    self.write_indicator("[", true, true, false);
                    self.flow_level += 1;
                    self.increase_indent(true, false);
                    self.state = State::FirstFlowSeqItem;
                } else {
                    let indentless = self.mapping_context && !self.indention;
                    self.increase_indent(false, indentless);
                    self.state = State::FirstBlockSeqItem;
                }
            }
            Some(Event::MapStart { flow }) => {
                let flow = *flow;
                if self.flow_level > 0 || flow || empty_next(self, |e| matches!(e, Event::MapEnd)) {
                    self.write_indicator("{", true, true, false);
                    self.flow_level += 1;
                    self.increase_indent(true, false);
                    self.state = State::FirstFlowMapKey;
                } else {
                    self.increase_indent(false, false);
                    self.state = State::FirstBlockMapKey;
                }
            }
            _ => {}
        }
    }

    fn check_simple_key(&self) -> bool {
        match self.event() {
            Some(Event::Scalar { value, tag, .. }) => {
                let a = analyze(value);
                let len = value.chars().count() + tag.map_or(0, str::len);
                len < 128 && !a.multiline
            }
            Some(Event::SeqStart { .. }) => matches!(self.next_event(), Some(Event::SeqEnd)),
            Some(Event::MapStart { .. }) => matches!(self.next_event(), Some(Event::MapEnd)),
            _ => false,
        }
    }

    fn choose_style(&self, a: &Analysis, implicit: (bool, bool), style: Option<char>) -> char {
        if style == Some('"') {
            return '"';
        }
        if style.is_none()
            && implicit.0
            && !(self.simple_key_context && (a.empty || a.multiline))
            && ((self.flow_level > 0 && a.allow_flow_plain)
                || (self.flow_level == 0 && a.allow_block_plain))
        {
            return ' ';
        }
        if let Some(s @ ('|' | '>')) = style
            && self.flow_level == 0
            && !self.simple_key_context
            && a.allow_block
        {
            return s;
        }
        if (style.is_none() || style == Some('\''))
            && a.allow_single_quoted
            && !(self.simple_key_context && a.multiline)
        {
            return '\'';
        }
        '"'
    }

    fn process_scalar(&mut self) {
        let Some(Event::Scalar {
            tag,
            value,
            implicit,
            style,
        }) = self.event()
        else {
            return;
        };
        let (tag, value, implicit, style) = (*tag, value.clone(), *implicit, *style);
        let a = analyze(&value);
        let chosen = self.choose_style(&a, implicit, style);
        let tag_needed = !((chosen == ' ' && implicit.0) || (chosen != ' ' && implicit.1));
        if tag_needed {
            let t = tag.unwrap_or("!");
            self.write_indicator(t, true, false, false);
        }
        let split = !self.simple_key_context;
        match chosen {
            '"' => self.write_double_quoted(&value, split),
            '\'' => self.write_single_quoted(&value, split),
            '|' => self.write_literal(&value),
            _ => self.write_plain(&value, split),
        }
    }

    fn write(&mut self, s: &str) {
        self.column += s.chars().count();
        self.out.push_str(s);
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, whitespace: bool, indention: bool) {
        if !self.whitespace && need_ws {
            self.write(" ");
        }
        self.write(ind);
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break(None);
        }
        if self.column < indent {
            self.whitespace = true;
            let pad = " ".repeat(indent - self.column);
            self.write(&pad);
        }
    }

    fn write_line_break(&mut self, br: Option<char>) {
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
        match br {
            Some(c) => self.out.push(c),
            None => self.out.push('\n'),
        }
    }

    fn write_plain(&mut self, text: &str, split: bool) {
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0, 0);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > self.best_width && split {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        let s: String = chars[start..end].iter().collect();
                        self.write(&s);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    if chars[start] == '\n' {
                        self.write_line_break(None);
                    }
                    for &br in &chars[start..end] {
                        self.write_line_break(if br == '\n' { None } else { Some(br) });
                    }
                    self.write_indent();
                    self.whitespace = false;
                    self.indention = false;
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c)) {
                let s: String = chars[start..end].iter().collect();
                self.write(&s);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
    }

    fn write_single_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0, 0);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > self.best_width
                        && split
                        && start != 0
                        && end != chars.len()
                    {
                        self.write_indent();
                    } else {
                        let s: String = chars[start..end].iter().collect();
                        self.write(&s);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    if chars[start] == '\n' {
                        self.write_line_break(None);
                    }
                    for &br in &chars[start..end] {
                        self.write_line_break(if br == '\n' { None } else { Some(br) });
                    }
                    self.write_indent();
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c) || c == '\'') && start < end {
                let s: String = chars[start..end].iter().collect();
                self.write(&s);
                start = end;
            }
            if ch == Some('\'') {
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
        self.write_indicator("'", false, false, false);
    }

    fn write_double_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut start, mut end) = (0, 0);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            let needs_escape = match ch {
                None => true,
                Some(c) => {
                    matches!(
                        c,
                        '"' | '\\' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
                    ) || !(('\x20'..='\x7e').contains(&c)
                        || ('\u{a0}'..='\u{d7ff}').contains(&c)
                        || ('\u{e000}'..='\u{fffd}').contains(&c)
                        || ('\u{10000}'..='\u{10ffff}').contains(&c))
                }
            };
            if needs_escape {
                if start < end {
                    let s: String = chars[start..end].iter().collect();
                    self.write(&s);
                    start = end;
                }
                if let Some(c) = ch {
                    let esc = match c {
                        '\0' => "\\0".to_string(),
                        '\x07' => "\\a".to_string(),
                        '\x08' => "\\b".to_string(),
                        '\t' => "\\t".to_string(),
                        '\n' => "\\n".to_string(),
                        '\x0b' => "\\v".to_string(),
                        '\x0c' => "\\f".to_string(),
                        '\r' => "\\r".to_string(),
                        '\x1b' => "\\e".to_string(),
                        '"' => "\\\"".to_string(),
                        '\\' => "\\\\".to_string(),
                        '\u{85}' => "\\N".to_string(),
                        '\u{a0}' => "\\_".to_string(),
                        '\u{2028}' => "\\L".to_string(),
                        '\u{2029}' => "\\P".to_string(),
                        c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                        c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                        c => format!("\\U{:08X}", c as u32),
                    };
                    self.write(&esc);
                    start = end + 1;
                }
            }
            if end > 0
                && end + 1 < chars.len()
                && (ch == Some(' ') || start >= end)
                && self.column as isize + end as isize - start as isize > self.best_width as isize
                && split
            {
                let mut s: String = chars[start.min(end)..end].iter().collect();
                s.push('\\');
                if start < end {
                    start = end;
                }
                self.write(&s);
                self.write_indent();
                self.whitespace = false;
                self.indention = false;
                if chars.get(start) == Some(&' ') {
                    self.write("\\");
                }
            }
            end += 1;
        }
        self.write_indicator("\"", false, false, false);
    }

    fn write_literal(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        let mut hints = String::new();
        if let Some(&first) = chars.first() {
            if first == ' ' || is_break(first) {
                hints.push_str(&self.best_indent.to_string());
            }
            let last = chars[chars.len() - 1];
            if !is_break(last) {
                hints.push('-');
            } else if chars.len() == 1 || is_break(chars[chars.len() - 2]) {
                hints.push('+');
            }
        }
        self.write_indicator(&format!("|{hints}"), true, false, false);
        self.write_line_break(None);
        let mut breaks = true;
        let (mut start, mut end) = (0, 0);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if breaks {
                if !ch.is_some_and(is_break) {
                    for &br in &chars[start..end] {
                        self.write_line_break(if br == '\n' { None } else { Some(br) });
                    }
                    if ch.is_some() {
                        self.write_indent();
                    }
                    start = end;
                }
            } else if ch.is_none_or(is_break) {
                let s: String = chars[start..end].iter().collect();
                self.out.push_str(&s);
                if ch.is_none() {
                    self.write_line_break(None);
                }
                start = end;
            }
            if let Some(c) = ch {
                breaks = is_break(c);
            }
            end += 1;
        }
    }
}

/// `yaml.dump(value, Dumper=CSafeDumper, allow_unicode=True, ...)`.
pub fn dump(v: &Value, o: &DumpOptions) -> Result<String, String> {
    let node = represent(v, o)?;
    let mut events = vec![Event::DocStart];
    serialize(node, &mut events);
    events.push(Event::DocEnd);
    events.push(Event::StreamEnd);
    let best_indent = if (2..=9).contains(&o.indent) {
        o.indent
    } else {
        2
    };
    let best_width = if o.width > best_indent * 2 {
        o.width
    } else {
        80
    };
    let e = Emitter {
        out: String::new(),
        events,
        pos: 0,
        states: Vec::new(),
        state: State::DocumentStart,
        indents: Vec::new(),
        indent: None,
        flow_level: 0,
        mapping_context: false,
        simple_key_context: false,
        column: 0,
        whitespace: true,
        indention: true,
        best_indent,
        best_width,
        explicit_start: o.explicit_start,
        explicit_end: o.explicit_end,
    };
    Ok(e.run())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Map;

    fn nice(v: &Value) -> String {
        let o = DumpOptions {
            indent: 4,
            default_flow_style: Some(false),
            ..DumpOptions::default()
        };
        dump(v, &o).unwrap_or_default()
    }

    // Expected texts come from PyYAML 6 with libyaml (CSafeDumper).
    #[test]
    fn nice_yaml_like_ansible() {
        let mut inner = Map::new();
        inner.insert(Value::str("c"), Value::str("d"));
        let mut m = Map::new();
        m.insert(
            Value::str("b"),
            Value::Seq(vec![Value::Int(1), Value::Map(inner)]),
        );
        m.insert(Value::str("a"), Value::str("x"));
        assert_eq!(nice(&Value::Map(m)), "a: x\nb:\n- 1\n-   c: d\n");
        assert_eq!(nice(&Value::str("yes")), "'yes'\n");
        assert_eq!(nice(&Value::str("abc")), "abc\n");
        assert_eq!(nice(&Value::Seq(vec![])), "[]\n");
    }

    #[test]
    fn flow_yaml_like_ansible() {
        let v = Value::Seq(vec![Value::str("a"), Value::Int(1), Value::Null]);
        assert_eq!(
            dump(&v, &DumpOptions::default()).ok().as_deref(),
            Some("[a, 1, null]\n")
        );
    }
}
