//! A Go `text/template` engine: the subset Ollama's Modelfile TEMPLATEs use (actions, trim
//! markers, comments, `if`/`else if`/`range`/`with`/`break`/`continue`, variables, pipelines,
//! parenthesised expressions, Go's builtin functions and Ollama's `json`, `currentDate`,
//! `yesterdayDate`, `toTypeScriptType`), executed over `serde_json::Value` data. `define`,
//! `template` and `block` are rejected at parse time. Any input gives a value or an error, never
//! a panic: nesting depth and output size are bounded.
//!
//! Depends on nothing in the crate but `gofmt` (Go's number formatting).

mod exec;
mod funcs;
mod lex;
mod parse;

use serde_json::Value;

/// A parse or execution error, worded like Go's (`template: :3: unexpected EOF`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("template: :{line}{}: {msg}", col.map(|c| format!(":{c}")).unwrap_or_default())]
pub struct Error {
    pub line: usize,
    /// Go's byte column, for errors located at an operand.
    pub col: Option<usize>,
    pub msg: String,
}

impl Error {
    fn parse(line: usize, msg: impl Into<String>) -> Error {
        Error {
            line,
            col: None,
            msg: msg.into(),
        }
    }

    fn exec(line: usize, msg: impl Into<String>) -> Error {
        Error {
            line,
            col: None,
            msg: format!("executing: {}", msg.into()),
        }
    }

    /// An execution error at an operand, worded as Go's `state.errorf`:
    /// `template: :LINE:COL: executing "" at <CONTEXT>: MSG`, the context cut to 20 bytes.
    fn exec_at(at: lex::At, context: &str, msg: impl Into<String>) -> Error {
        let context = match context.char_indices().nth(20) {
            Some((cut, _)) => format!("{}...", &context[..cut]),
            None => context.to_string(),
        };
        Error {
            line: at.0,
            col: Some(at.1),
            msg: format!("executing \"\" at <{context}>: {}", msg.into()),
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, Error> {
        let items = lex::lex(src)?;
        Ok(Template {
            nodes: parse::parse(items)?,
        })
    }

    pub fn execute(&self, data: &Value) -> Result<String, Error> {
        exec::execute(&self.nodes, data)
    }

    /// Every identifier referenced (field and variable chains, conditions included),
    /// lower-cased, sorted, deduplicated: Ollama's `Vars()`.
    pub fn vars(&self) -> Vec<String> {
        let mut ids = Vec::new();
        parse::identifiers(&self.nodes, &mut ids);
        let mut ids: Vec<String> = ids
            .into_iter()
            .filter(|s| s != "$")
            .map(|s| s.to_lowercase())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// A template that renders nothing.
    pub fn empty() -> Template {
        Template { nodes: Vec::new() }
    }

    /// Ollama's legacy-mode cut: everything after the first `.Response` field is dropped.
    pub fn cut_after_response(&self) -> Template {
        Template {
            nodes: parse::cut_after_response(&self.nodes),
        }
    }

    /// Appends `{{ .Response }}` (Ollama does this to templates that use neither `.Messages`
    /// nor `.Response`).
    pub fn append_response(&mut self) {
        self.nodes.push(parse::Node::Action(
            parse::Pipe {
                vars: Vec::new(),
                assign: false,
                cmds: vec![vec![parse::Arg::Field(
                    vec!["Response".to_string()],
                    (0, 0),
                )]],
            },
            0,
        ));
    }
}

#[cfg(test)]
mod tests;
