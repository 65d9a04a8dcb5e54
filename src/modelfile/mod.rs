//! Ollama's Modelfile format (Go package `parser`): the parsed command list, the
//! reader ([`parse`], [`parse_bytes`]) with Ollama's exact quirks and error texts, the
//! writer (`Display`, used by `show --modelfile`) and the mapping of commands onto the
//! fields of an `/api/create` request ([`Modelfile::create_parts`]).
//!
//! It may use `crate::api::options` (parameter typing) and nothing else from the
//! crate. It never touches the filesystem: resolving FROM/ADAPTER/DRAFT paths, hashing
//! and uploading belong to the CLI.

use std::fmt;

mod create;
mod parser;
mod semver;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_create;

pub use create::{CreateError, CreateParts, Located};
pub use parser::{parse, parse_bytes};

/// Ollama's message for an unknown instruction (Go `errInvalidCommand`).
pub const INVALID_COMMAND: &str = "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"";

/// Ollama's message for a MESSAGE role other than system/user/assistant
/// (Go `errInvalidMessageRole`).
pub const INVALID_MESSAGE_ROLE: &str =
    "message role must be one of \"system\", \"user\", or \"assistant\"";

/// A parsed Modelfile: its commands in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Modelfile {
    pub commands: Vec<Command>,
}

/// One instruction, in Ollama's `parser.Command` shape.
///
/// `name` is `model` for FROM, the lower-cased instruction for `adapter`, `template`,
/// `system`, `license`, `message`, `requires`, `draft`, `renderer` and `parser`, and the
/// parameter name, case kept, for PARAMETER. `args` is the unquoted value; for MESSAGE
/// it is `role: content`.
///
/// `line` is the 1-based physical line where the instruction starts (a CRLF counts as
/// one line break here, unlike the numbers in Ollama's error messages, see
/// [`ParseError`]). It is 0 for commands built by hand. Equality compares it too; use
/// [`Command::same`] to compare only what Ollama compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub args: String,
    pub line: usize,
}

impl Command {
    /// A command with no source line.
    pub fn new(name: impl Into<String>, args: impl Into<String>) -> Self {
        Command {
            name: name.into(),
            args: args.into(),
            line: 0,
        }
    }

    /// Equal name and args, ignoring `line` (Ollama's `Command` equality).
    pub fn same(&self, other: &Command) -> bool {
        self.name == other.name && self.args == other.args
    }
}

/// Why a Modelfile could not be read. `Display` is exactly what Ollama's CLI prints
/// after `Error: `.
///
/// Line numbers are Ollama's own count, in which every `\r` and every `\n` starts a new
/// line (so CRLF files count double) and a newline that ends an instruction early is
/// already counted: `FROM foo\nSYSTEM\n` reports line 3.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `(line N): command must be one of ...`
    #[error("(line {line}): {}", INVALID_COMMAND)]
    InvalidCommand { line: usize },
    /// `(line N): message role must be one of ...`
    #[error("(line {line}): {}", INVALID_MESSAGE_ROLE)]
    InvalidMessageRole { line: usize },
    /// The text ended inside an instruction or an open quote: `unexpected EOF`.
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// A PARAMETER name or MESSAGE role was cut short by a character other than a
    /// space or tab. Ollama reports it as `unexpected EOF: ` plus what it had read of
    /// that name, with no line number.
    #[error("unexpected EOF: {0}")]
    UnexpectedEofAfter(String),
    /// No FROM instruction: `no FROM line`.
    #[error("no FROM line")]
    MissingFrom,
}

impl ParseError {
    /// The line Ollama reports, for the errors that carry one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::InvalidCommand { line } | ParseError::InvalidMessageRole { line } => {
                Some(*line)
            }
            _ => None,
        }
    }
}

/// Go's `strings.Cut`.
fn cut<'a>(s: &'a str, sep: &str) -> (&'a str, &'a str) {
    s.split_once(sep).unwrap_or((s, ""))
}

/// Ollama's `quote`: quote only values a bare rewrite would lose (a newline, or a
/// leading/trailing space), with `"""` when the value itself holds a `"`.
pub fn quote(s: &str) -> String {
    if s.contains('\n') || s.starts_with(' ') || s.ends_with(' ') {
        if s.contains('"') {
            return format!("\"\"\"{s}\"\"\"");
        }
        return format!("\"{s}\"");
    }
    s.to_string()
}

impl fmt::Display for Command {
    /// Ollama's `Command.String()`. FROM is written unquoted even when its value has
    /// edge spaces, exactly as Ollama does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name.as_str() {
            "model" => write!(f, "FROM {}", self.args),
            "license" | "template" | "system" | "adapter" | "renderer" | "parser" | "requires"
            | "draft" => {
                write!(f, "{} {}", self.name.to_uppercase(), quote(&self.args))
            }
            "message" => {
                let (role, content) = cut(&self.args, ": ");
                write!(f, "MESSAGE {} {}", role, quote(content))
            }
            _ => write!(f, "PARAMETER {} {}", self.name, quote(&self.args)),
        }
    }
}

impl fmt::Display for Modelfile {
    /// Ollama's `Modelfile.String()`: one command per line, each ending in `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.commands {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}
