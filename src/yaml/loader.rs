//! Builds a tree of spanned nodes from saphyr-parser events, resolving scalars, anchors,
//! aliases, merge keys and the Ansible tags `!vault` and `!unsafe` the way Ansible's loader does.

use super::error::YamlError;
use super::resolve::{self, ScalarKind};
use super::value::{Map, Value};
use crate::diag::Span;
use saphyr_parser::{Event, Parser, ScalarStyle, Span as PSpan, Tag};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

const CORE: &str = "tag:yaml.org,2002:";

/// A loaded YAML node: its value and where it starts in the file.
#[derive(Debug, Clone)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar(Value),
    Seq(Vec<Node>),
    /// Entries in Python dict order: merge keys flattened, duplicate keys resolved (last wins,
    /// first position kept).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The plain data, without positions.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Scalar(v) => v.clone(),
            NodeKind::Seq(items) => Value::Seq(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_value(), v.to_value()))
                    .collect::<Map>(),
            ),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(v) => v.as_str(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(Value::Null))
    }

    /// Looks a string key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn into_unsafe(self) -> Node {
        let kind = match self.kind {
            NodeKind::Scalar(v) => NodeKind::Scalar(v.into_unsafe()),
            NodeKind::Seq(items) => {
                NodeKind::Seq(items.into_iter().map(Node::into_unsafe).collect())
            }
            NodeKind::Map(entries) => NodeKind::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_unsafe()))
                    .collect(),
            ),
        };
        Node {
            span: self.span,
            kind,
        }
    }
}

/// What loading a document produced besides the node: Ansible warns about these.
#[derive(Debug, Clone)]
pub struct Warning {
    pub span: Span,
    pub message: String,
}

pub struct Loaded {
    /// `None` for an empty document (Ansible's `None`).
    pub node: Option<Node>,
    pub warnings: Vec<Warning>,
}

/// Loads the single document in `text`; `file` names it in spans and errors.
pub fn load_str(text: &str, file: &Arc<str>) -> Result<Loaded, YamlError> {
    check_printable(text, file)?;
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        text,
        file: Arc::clone(file),
        anchors: HashMap::new(),
        anchor_names: HashMap::new(),
        warnings: Vec::new(),
    };
    builder.stream()
}

/// PyYAML refuses control characters anywhere in a stream (YAML 1.1's printable set).
fn check_printable(text: &str, file: &Arc<str>) -> Result<(), YamlError> {
    let (mut line, mut col) = (1, 1);
    for c in text.chars() {
        let ok = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
            || c == '\u{feff}';
        if !ok {
            return Err(YamlError::Syntax {
                span: Span::new(file, line, col),
                message: format!(
                    "unacceptable character #x{:04x}: control characters are not allowed",
                    c as u32
                ),
            });
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    Ok(())
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    text: &'a str,
    file: Arc<str>,
    anchors: HashMap<usize, Node>,
    /// Anchor names seen in this document: PyYAML refuses to define one twice.
    anchor_names: HashMap<String, Span>,
    warnings: Vec<Warning>,
}

/// How a scalar was written, which decides how it resolves.
struct ScalarSource<'t> {
    text: Cow<'t, str>,
    style: ScalarStyle,
    tag: Option<String>,
}

impl<'a> Builder<'a> {
    fn span(&self, s: &PSpan) -> Span {
        Span::new(&self.file, s.start.line(), s.start.col() + 1)
    }

    fn next(&mut self) -> Result<(Event<'a>, PSpan), YamlError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => {
                let m = e.marker();
                Err(YamlError::Syntax {
                    span: Span::new(&self.file, m.line(), m.col() + 1),
                    message: e.info().to_string(),
                })
            }
            None => Err(YamlError::Syntax {
                span: Span::file(&self.file),
                message: "unexpected end of the stream".into(),
            }),
        }
    }

    fn stream(&mut self) -> Result<Loaded, YamlError> {
        let mut node = None;
        let mut documents = 0;
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(YamlError::Syntax {
                            span: self.span(&span),
                            message: "expected a single document in the stream, but found another document".into(),
                        });
                    }
                    self.anchors.clear();
                    self.anchor_names.clear();
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::DocumentEnd) {
                        continue;
                    }
                    node = Some(self.node(ev, span)?);
                }
                other => {
                    return Err(YamlError::Syntax {
                        span: self.span(&span),
                        message: format!("unexpected event {other:?}"),
                    });
                }
            }
        }
        Ok(Loaded {
            node,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn node(&mut self, ev: Event<'a>, pspan: PSpan) -> Result<Node, YamlError> {
        let span = self.span(&pspan);
        match ev {
            Event::Alias(id) => self.anchors.get(&id).cloned().ok_or(YamlError::Syntax {
                span,
                message: "found undefined alias".into(),
            }),
            Event::Scalar(text, style, anchor, tag) => {
                let src = ScalarSource {
                    text,
                    style,
                    tag: tag.map(|t| full_tag(&t)),
                };
                let node = self.scalar(src, span)?;
                self.remember(anchor, &node, &pspan)?;
                Ok(node)
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = tag.map(|t| full_tag(&t));
                let mut items = Vec::new();
                loop {
                    let (ev, s) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, s)?);
                }
                let node = Node {
                    span: span.clone(),
                    kind: NodeKind::Seq(items),
                };
                let node = self.apply_collection_tag(node, tag.as_deref(), "seq")?;
                self.remember(anchor, &node, &pspan)?;
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                let tag = tag.map(|t| full_tag(&t));
                let node = self.mapping(span)?;
                let node = self.apply_collection_tag(node, tag.as_deref(), "map")?;
                self.remember(anchor, &node, &pspan)?;
                Ok(node)
            }
            other => Err(YamlError::Syntax {
                span,
                message: format!("unexpected event {other:?}"),
            }),
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node, pspan: &PSpan) -> Result<(), YamlError> {
        if anchor == 0 {
            return Ok(());
        }
        if let Some(name) = self.anchor_name_at(pspan.start.index()) {
            if let Some(first) = self.anchor_names.get(&name) {
                return Err(YamlError::Syntax {
                    span: node.span.clone(),
                    message: format!(
                        "found duplicate anchor `{name}`; first occurrence at {first}"
                    ),
                });
            }
            self.anchor_names.insert(name, node.span.clone());
        }
        self.anchors.insert(anchor, node.clone());
        Ok(())
    }

    /// The anchor name among the node properties (`&name`, `!tag &name`) starting at the
    /// character index `at`.
    fn anchor_name_at(&self, at: usize) -> Option<String> {
        let rest: String = self.text.chars().skip(at).take(1024).collect();
        let mut props = rest.split_whitespace().take(2);
        props.find_map(|p| p.strip_prefix('&')).map(|n| {
            n.chars()
                .take_while(|c| !matches!(c, ',' | '[' | ']' | '{' | '}'))
                .collect()
        })
    }

    fn apply_collection_tag(
        &self,
        node: Node,
        tag: Option<&str>,
        own: &str,
    ) -> Result<Node, YamlError> {
        match tag {
            None | Some("!") => Ok(node),
            Some("!unsafe") => Ok(node.into_unsafe()),
            Some(t) if t.strip_prefix(CORE) == Some(own) => Ok(node),
            Some(t @ "!vault") => Err(YamlError::Construct {
                span: node.span,
                message: format!("the `{t}` tag requires a string value"),
            }),
            Some(t) => Err(YamlError::Construct {
                span: node.span,
                message: format!("could not determine a constructor for the tag `{t}`"),
            }),
        }
    }

    fn scalar(&mut self, src: ScalarSource<'_>, span: Span) -> Result<Node, YamlError> {
        let text: &str = &src.text;
        let plain = matches!(src.style, ScalarStyle::Plain);
        let construct = |kind: ScalarKind| {
            resolve::construct(kind, text).map_err(|message| YamlError::Construct {
                span: span.clone(),
                message,
            })
        };
        let value = match src.tag.as_deref() {
            None if plain => construct(resolve::implicit_kind(text))?,
            None | Some("!") => Value::Str(text.to_string()),
            // Ansible resolves the text under `!unsafe`/`!vault` as if it were plain.
            Some("!unsafe") => construct(resolve::implicit_kind(text))?.into_unsafe(),
            Some("!vault") | Some("!vault-encrypted") => {
                match construct(resolve::implicit_kind(text))? {
                    Value::Str(s) => Value::Vault(s),
                    _ => {
                        return Err(YamlError::Construct {
                            span,
                            message: "the `!vault` tag requires a string value".into(),
                        });
                    }
                }
            }
            Some(t) => match t.strip_prefix(CORE).and_then(resolve::tag_kind) {
                Some(kind) => construct(kind)?,
                None => {
                    return Err(YamlError::Construct {
                        span,
                        message: format!("could not determine a constructor for the tag `{t}`"),
                    });
                }
            },
        };
        Ok(Node {
            span,
            kind: NodeKind::Scalar(value),
        })
    }

    fn mapping(&mut self, span: Span) -> Result<Node, YamlError> {
        let mut merged: Vec<(Node, Node)> = Vec::new();
        let mut explicit: Vec<(Node, Node)> = Vec::new();
        loop {
            let (ev, s) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let is_merge = matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<")
                || matches!(&ev, Event::Scalar(_, _, _, Some(tag)) if full_tag(tag) == format!("{CORE}merge"));
            // The merge key `<<` is not data: it only says where the value goes.
            let key = if is_merge {
                None
            } else {
                Some(self.node(ev, s)?)
            };
            let (ev, s) = self.next()?;
            let value = self.node(ev, s)?;
            match key {
                None => merged.extend(self.merge_sources(value)?),
                Some(key) => explicit.push((key, value)),
            }
        }
        // PyYAML puts merged pairs first, so explicit keys win; Ansible warns on every repeat.
        let mut entries: Vec<(Node, Node)> = Vec::new();
        let mut index: HashMap<Value, usize> = HashMap::new();
        for (key, value) in merged.into_iter().chain(explicit) {
            let k = key.to_value();
            if matches!(k, Value::Seq(_) | Value::Map(_)) {
                return Err(YamlError::Construct {
                    span: key.span,
                    message: "found unhashable key".into(),
                });
            }
            match index.get(&k) {
                Some(&i) => {
                    self.warnings.push(Warning {
                        span: key.span.clone(),
                        message: format!("Found duplicate mapping key {}.", crate::yaml::repr(&k)),
                    });
                    entries[i].1 = value;
                }
                None => {
                    index.insert(k, entries.len());
                    entries.push((key, value));
                }
            }
        }
        Ok(Node {
            span,
            kind: NodeKind::Map(entries),
        })
    }

    /// The pairs a `<<` value contributes: one mapping, or a list of them where earlier ones win.
    fn merge_sources(&self, value: Node) -> Result<Vec<(Node, Node)>, YamlError> {
        let not_map = |span: Span| YamlError::Construct {
            span,
            message: "expected a mapping or list of mappings for merging".into(),
        };
        match value.kind {
            NodeKind::Map(entries) => Ok(entries),
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                for item in items.into_iter().rev() {
                    match item.kind {
                        NodeKind::Map(entries) => out.extend(entries),
                        _ => return Err(not_map(item.span)),
                    }
                }
                Ok(out)
            }
            NodeKind::Scalar(_) => Err(not_map(value.span)),
        }
    }
}

fn full_tag(tag: &Tag) -> String {
    if tag.handle.is_empty() && tag.suffix == "!" {
        return "!".into();
    }
    format!("{}{}", tag.handle, tag.suffix)
}
