//! The REPL's placeholder, as Ollama's prompt shows it: grey text on an empty line (`Send a
//! message (/? for help)`, or inside a `"""` block `Use """ to end multi-line input`) that
//! goes away as soon as anything is typed and can never be accepted as input.

use std::borrow::Cow;

use rustyline::Context;
use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::Validator;

pub const MESSAGE: &str = "Send a message (/? for help)";
pub const BLOCK: &str = "Use \"\"\" to end multi-line input";

/// The rustyline helper that shows the placeholder.
#[derive(Debug, Default)]
pub struct Placeholder {
    /// Inside a `"""` block.
    pub block: bool,
}

/// A hint that is only shown: the right arrow does not insert it.
pub struct Shown(&'static str);

impl Hint for Shown {
    fn display(&self) -> &str {
        self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Hinter for Placeholder {
    type Hint = Shown;

    fn hint(&self, line: &str, _pos: usize, _ctx: &Context<'_>) -> Option<Shown> {
        line.is_empty()
            .then_some(Shown(if self.block { BLOCK } else { MESSAGE }))
    }
}

impl Highlighter for Placeholder {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        // Ollama's grey.
        Cow::Owned(format!("\x1b[38;5;245m{hint}\x1b[0m"))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Completer for Placeholder {
    type Candidate = String;
}

impl Validator for Placeholder {}

impl rustyline::Helper for Placeholder {}
