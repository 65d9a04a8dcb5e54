//! The interactive `run` session: a rustyline prompt (`>>> `, `... ` inside `"""` blocks) with a
//! history file, whose lines become a chat conversation answered through `/api/chat`. Ctrl-C
//! stops the current answer (or, on an empty line, hints how to leave); Ctrl-D and `/bye` leave.

use rustyline::DefaultEditor;
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;

use super::run::{Answer, print_answer};
use super::{CliError, stats};
use crate::api::client::Client;
use crate::api::types::{ChatRequest, ChatResponse, Message, ShowRequest};
use crate::duration::KeepAlive;
use crate::envconfig::Config;

const HISTORY_ENTRIES: usize = 100;

/// What one input line means.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A message to send.
    Message(String),
    /// Inside a `"""` block: keep reading.
    More,
    Bye,
    Help,
    Clear,
    Unknown(String),
    Empty,
}

/// Collects lines into messages, handling `"""` multi-line blocks as Ollama does.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: String,
    multiline: bool,
}

impl LineReader {
    pub fn in_block(&self) -> bool {
        self.multiline
    }

    pub fn feed(&mut self, line: &str) -> Input {
        if self.multiline {
            match line.strip_suffix("\"\"\"") {
                Some(before) => {
                    self.buf.push_str(before);
                    self.multiline = false;
                    return Input::Message(std::mem::take(&mut self.buf));
                }
                None => {
                    self.buf.push_str(line);
                    self.buf.push('\n');
                    return Input::More;
                }
            }
        }
        if let Some(rest) = line.strip_prefix("\"\"\"") {
            match rest.strip_suffix("\"\"\"") {
                Some(inner) => return Input::Message(inner.to_string()),
                None => {
                    self.buf = format!("{rest}\n");
                    self.multiline = true;
                    return Input::More;
                }
            }
        }
        let trimmed = line.trim();
        match trimmed {
            "" => Input::Empty,
            "/bye" | "/exit" => Input::Bye,
            "/?" | "/help" => Input::Help,
            "/clear" => Input::Clear,
            s if s.starts_with('/') => {
                Input::Unknown(s.split_whitespace().next().unwrap_or(s).to_string())
            }
            _ => Input::Message(line.to_string()),
        }
    }
}

const HELP: &str = "Available Commands:
  /clear          Clear session context
  /bye            Exit
  /?, /help       Help for a command

Use \"\"\" to begin a multi-line message.
";

pub async fn repl(
    client: &Client,
    model: &str,
    keep_alive: Option<KeepAlive>,
    verbose: bool,
    config: &Config,
) -> Result<(), CliError> {
    // Load the model first, as Ollama does, so the first answer is not slowed by the load.
    let load = ChatRequest {
        model: model.to_string(),
        keep_alive,
        ..ChatRequest::default()
    };
    let mut s = client.chat(&load).await?;
    while let Some(r) = futures_util::StreamExt::next(&mut s).await {
        r?;
    }
    let show = client
        .show(&ShowRequest {
            model: model.to_string(),
            ..ShowRequest::default()
        })
        .await?;
    for m in &show.messages {
        match m.role.as_str() {
            "user" => println!(">>> {}", m.content),
            "assistant" => println!("{}\n", m.content),
            _ => {}
        }
    }

    let mut rl = DefaultEditor::new().map_err(|e| CliError(e.to_string()))?;
    let history = (!config.nohistory).then(|| config.home.join("history"));
    if let Some(h) = &history {
        let _ = rl.set_max_history_size(HISTORY_ENTRIES);
        let _ = rl.load_history(h);
    }

    let mut messages: Vec<Message> = Vec::new();
    let mut reader = LineReader::default();
    loop {
        let prompt = if reader.in_block() { "... " } else { ">>> " };
        let line = tokio::task::block_in_place(|| rl.readline(prompt));
        let line = match line {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                if reader.in_block() {
                    reader = LineReader::default();
                } else {
                    println!("Use Ctrl + d or /bye to exit.");
                }
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError(e.to_string())),
        };
        // Every non-empty line goes to the history file at once, `"""` block lines and `/bye`
        // included, as Ollama's readline does.
        if !line.trim().is_empty() {
            let _ = rl.add_history_entry(line.as_str());
            if let Some(h) = &history {
                if let Some(dir) = h.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = rl.save_history(h);
            }
        }
        let input = reader.feed(&line);
        match input {
            Input::More | Input::Empty => continue,
            Input::Bye => break,
            Input::Help => eprint!("{HELP}"),
            Input::Clear => {
                messages.clear();
                println!("Cleared session context");
            }
            Input::Unknown(cmd) => println!("Unknown command '{cmd}'. Type /? for help"),
            Input::Message(text) => {
                messages.push(Message::new("user", text));
                let req = ChatRequest {
                    model: model.to_string(),
                    messages: messages.clone(),
                    keep_alive,
                    ..ChatRequest::default()
                };
                let stream = client.chat(&req).await?;
                let answer = print_answer(stream, |r: &ChatResponse| {
                    (
                        r.message.content.as_str(),
                        r.done,
                        r.done.then(|| r.metrics.clone()),
                    )
                })
                .await;
                println!();
                match answer? {
                    Answer::Done { text, metrics } => {
                        println!();
                        messages.push(Message::new("assistant", text));
                        if verbose {
                            eprint!("{}", stats::summary(&metrics));
                        }
                    }
                    Answer::Interrupted { .. } => {
                        // The unanswered question is dropped so the next one starts clean.
                        messages.pop();
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_blocks() {
        let mut r = LineReader::default();
        assert_eq!(r.feed("\"\"\"first"), Input::More);
        assert!(r.in_block());
        assert_eq!(r.feed("second"), Input::More);
        assert_eq!(
            r.feed("third\"\"\""),
            Input::Message("first\nsecond\nthird".into())
        );
        assert!(!r.in_block());
        assert_eq!(
            r.feed("\"\"\"one line\"\"\""),
            Input::Message("one line".into())
        );
    }

    #[test]
    fn commands() {
        let mut r = LineReader::default();
        assert_eq!(r.feed("/bye"), Input::Bye);
        assert_eq!(r.feed(" /exit "), Input::Bye);
        assert_eq!(r.feed("/?"), Input::Help);
        assert_eq!(r.feed("/clear"), Input::Clear);
        assert_eq!(r.feed("/nope x"), Input::Unknown("/nope".into()));
        assert_eq!(r.feed("   "), Input::Empty);
        assert_eq!(r.feed("hello"), Input::Message("hello".into()));
    }
}
