//! Source positions and the rendering of a position as `file:line:col` with the line and a caret.
//!
//! Every load-time error in kiln points into the user's file this way, so a typo is found by
//! reading one message instead of bisecting a playbook.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a node came from: 1-based line and column, as editors count them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: &Arc<str>, line: usize, col: usize) -> Span {
        Span {
            file: Arc::clone(file),
            line: line as u32,
            col: col as u32,
        }
    }

    /// A span for a whole file, when no finer position exists.
    pub fn file(file: &Arc<str>) -> Span {
        Span::new(file, 0, 0)
    }

    /// The offending line with a caret under the column, read back from the file.
    /// Empty when the file cannot be read again or the span has no line.
    pub fn snippet(&self) -> String {
        if self.line == 0 {
            return String::new();
        }
        let Ok(text) = std::fs::read_to_string(Path::new(&*self.file)) else {
            return String::new();
        };
        let Some(line) = text.lines().nth(self.line as usize - 1) else {
            return String::new();
        };
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Columns count characters; tabs keep their width by copying them into the gutter.
        let lead: String = line
            .chars()
            .take(self.col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{pad} |\n{num} | {line}\n{pad} | {lead}^\n")
    }

    /// The line with up to two lines before it and a caret under the column, in the layout
    /// ansible-playbook uses for a failed task's origin. Empty when the file is unreadable.
    pub fn context(&self) -> String {
        if self.line == 0 {
            return String::new();
        }
        let Ok(text) = std::fs::read_to_string(Path::new(&*self.file)) else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        let last = self.line as usize;
        if last > lines.len() {
            return String::new();
        }
        let first = last.saturating_sub(2).max(1);
        let width = last.to_string().len();
        let mut out = String::new();
        for n in first..=last {
            // An empty line is the number alone, as Ansible prints it.
            let line = format!("{n:>width$} {}", lines[n - 1]);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let lead: String = lines[last - 1]
            .chars()
            .take(self.col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!(
            "{} {lead}^ column {}\n",
            " ".repeat(width),
            self.col
        ));
        out
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

/// An error that points into a file: what is wrong, where, and what to do about it.
#[derive(Debug, Clone)]
pub struct Located {
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
}

impl Located {
    pub fn new(span: Span, message: impl Into<String>) -> Located {
        Located {
            message: message.into(),
            span,
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Located {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        write!(f, "  --> {}", self.span)?;
        let snippet = self.span.snippet();
        if !snippet.is_empty() {
            write!(f, "\n{}", snippet.trim_end_matches('\n'))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Located {}

/// The closest candidate to a misspelt word, if one is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for &c in candidates {
        let d = levenshtein(word, c);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
