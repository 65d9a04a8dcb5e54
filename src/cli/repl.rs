//! The interactive `run` session: a rustyline prompt (`>>> `, `... ` inside `"""` blocks, with
//! Ollama's placeholder on an empty line, `cli::placeholder`) and a history file, whose lines become a chat conversation answered through `/api/chat`, and
//! Ollama's slash commands: `/set`, `/show`, `/load`, `/save`, `/clear`, `/list`, `/?`, `/bye`.
//! Ctrl-C stops the current answer (or, on an empty line, hints how to leave); Ctrl-D and `/bye`
//! leave. Help goes to stderr, everything else to stdout, as Ollama prints them.

use rustyline::Editor;
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use serde_json::{Map, Value};

use super::placeholder::Placeholder;
use super::run::{Answer, Piece, RunOptions, parse_think, print_answer};
use super::{CliError, list, show, stats};
use crate::api::client::Client;
use crate::api::types::{ChatRequest, ChatResponse, CreateRequest, Message, ShowRequest};
use crate::envconfig::Config;

const HISTORY_ENTRIES: usize = 100;

/// What one input line means.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A message to send.
    Message(String),
    /// The text of `/set system ...`, one line or a `"""` block.
    System(String),
    /// Inside a `"""` block: keep reading.
    More,
    /// A slash command, split into words.
    Command(Vec<String>),
    Empty,
}

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
enum Block {
    #[default]
    None,
    Prompt,
    System,
}

/// Collects lines into messages and commands, handling `"""` blocks as Ollama does: a block
/// starts with `"""` (or `/set system """`) and ends at a line ending with `"""`; its lines are
/// joined with newlines.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: String,
    block: Block,
}

impl LineReader {
    pub fn in_block(&self) -> bool {
        self.block != Block::None
    }

    fn finish(&mut self, before: &str) -> Input {
        self.buf.push_str(before);
        let text = std::mem::take(&mut self.buf);
        match std::mem::take(&mut self.block) {
            Block::System => Input::System(text),
            _ => Input::Message(text),
        }
    }

    pub fn feed(&mut self, line: &str) -> Input {
        if self.in_block() {
            return match line.strip_suffix("\"\"\"") {
                Some(before) => self.finish(before),
                None => {
                    self.buf.push_str(line);
                    self.buf.push('\n');
                    Input::More
                }
            };
        }
        if let Some(rest) = line.strip_prefix("\"\"\"") {
            self.block = Block::Prompt;
            return self.feed_block_start(rest);
        }
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        match words.first().map(String::as_str) {
            None => Input::Empty,
            Some("/set") if words.get(1).is_some_and(|w| w == "system") && words.len() > 2 => {
                // Ollama joins the words with single spaces.
                let text = words[2..].join(" ");
                match text.strip_prefix("\"\"\"") {
                    Some(rest) => {
                        self.block = Block::System;
                        self.feed_block_start(rest)
                    }
                    None => Input::System(text),
                }
            }
            Some(w) if w.starts_with('/') => Input::Command(words),
            Some(_) => Input::Message(line.to_string()),
        }
    }

    /// The rest of a line that opened a block: `"""text"""` on one line is complete.
    fn feed_block_start(&mut self, rest: &str) -> Input {
        match rest.strip_suffix("\"\"\"") {
            Some(inner) => self.finish(inner),
            None => {
                self.buf = format!("{rest}\n");
                Input::More
            }
        }
    }
}

const HELP: &str = "Available Commands:
  /set            Set session variables
  /show           Show model information
  /load <model>   Load a session or model
  /save <model>   Save your current session
  /clear          Clear session context
  /list           List models
  /bye            Exit
  /?, /help       Help for a command
  /? shortcuts    Help for keyboard shortcuts

Use \"\"\" to begin a multi-line message.

";

const HELP_SET: &str = "Available Commands:
  /set parameter ...     Set a parameter
  /set system <string>   Set system message
  /set history           Enable history
  /set nohistory         Disable history
  /set wordwrap          Enable wordwrap
  /set nowordwrap        Disable wordwrap
  /set format json       Enable JSON mode
  /set noformat          Disable formatting
  /set verbose           Show LLM stats
  /set quiet             Disable LLM stats
  /set think             Enable thinking
  /set nothink           Disable thinking

";

const HELP_SHOW: &str = "Available Commands:
  /show info         Show details for this model
  /show license      Show model license
  /show modelfile    Show Modelfile for this model
  /show parameters   Show parameters for this model
  /show system       Show system message
  /show template     Show prompt template

";

const HELP_SHORTCUTS: &str = "Available keyboard shortcuts:
  Ctrl + a            Move to the beginning of the line (Home)
  Ctrl + e            Move to the end of the line (End)
   Alt + b            Move back (left) one word
   Alt + f            Move forward (right) one word
  Ctrl + k            Delete the sentence after the cursor
  Ctrl + u            Delete the sentence before the cursor
  Ctrl + w            Delete the word before the cursor

  Ctrl + l            Clear the screen
  Ctrl + c            Stop the model from responding
  Ctrl + d            Exit rollama (/bye)

";

const HELP_PARAMETERS: &str = "Available Parameters:
  /set parameter seed <int>             Random number seed
  /set parameter num_predict <int>      Max number of tokens to predict
  /set parameter top_k <int>            Pick from top k num of tokens
  /set parameter top_p <float>          Pick token based on sum of probabilities
  /set parameter min_p <float>          Pick token based on top token probability * min_p
  /set parameter num_ctx <int>          Set the context size
  /set parameter temperature <float>    Set creativity level
  /set parameter repeat_penalty <float> How strongly to penalize repetitions
  /set parameter repeat_last_n <int>    Set how far back to look for repetitions
  /set parameter num_gpu <int>          The number of layers to send to the GPU
  /set parameter stop <string> <string> ...   Set the stop parameters

";

/// Everything a session carries between turns.
struct Session {
    model: String,
    /// The model the current one was created from, for `/save`.
    parent: String,
    opts: RunOptions,
    system: String,
    /// Parameters set with `/set parameter`, sent as `options`.
    options: Map<String, Value>,
    messages: Vec<Message>,
    history: bool,
    /// The model sees images: paths in a line are sent as images (`cli::images`).
    vision: bool,
}

impl Session {
    fn set_system(&mut self, text: String) {
        self.system = text.clone();
        let msg = Message::new("system", text);
        match self.messages.last_mut() {
            Some(last) if last.role == "system" => *last = msg,
            _ => self.messages.push(msg),
        }
        println!("Set system message.");
    }

    fn show_request(&self) -> ShowRequest {
        ShowRequest {
            model: self.model.clone(),
            system: self.system.clone(),
            options: (!self.options.is_empty()).then(|| self.options.clone()),
            ..ShowRequest::default()
        }
    }
}

/// Loads the model (an empty chat, as Ollama does, so the first answer is not slowed by it) and
/// returns the stored MESSAGE history to show, and the parent model name.
async fn load(client: &Client, session: &mut Session) -> Result<(Vec<Message>, String), CliError> {
    let req = ChatRequest {
        model: session.model.clone(),
        keep_alive: session.opts.keep_alive,
        think: session.opts.think.clone(),
        ..ChatRequest::default()
    };
    let mut s = client.chat(&req).await?;
    while let Some(r) = futures_util::StreamExt::next(&mut s).await {
        r?;
    }
    let show = client.show(&session.show_request()).await?;
    session.vision = show.capabilities.iter().any(|c| c == "vision");
    Ok((show.messages, show.details.parent_model))
}

fn print_history(messages: &[Message]) {
    for m in messages {
        match m.role.as_str() {
            "user" => println!(">>> {}", m.content),
            "assistant" => println!("{}\n", m.content),
            _ => {}
        }
    }
}

pub async fn repl(
    client: &Client,
    model: &str,
    opts: RunOptions,
    config: &Config,
) -> Result<(), CliError> {
    let mut session = Session {
        model: model.to_string(),
        parent: String::new(),
        opts,
        system: String::new(),
        options: Map::new(),
        messages: Vec::new(),
        history: !config.nohistory,
        vision: false,
    };
    let (stored, parent) = load(client, &mut session).await?;
    session.parent = parent;
    print_history(&stored);

    let mut rl: Editor<Placeholder, DefaultHistory> =
        Editor::new().map_err(|e| CliError(e.to_string()))?;
    rl.set_helper(Some(Placeholder::default()));
    let history_file = config.home.join("history");
    let _ = rl.set_max_history_size(HISTORY_ENTRIES);
    let _ = rl.load_history(&history_file);

    let mut reader = LineReader::default();
    loop {
        let prompt = if reader.in_block() { "... " } else { ">>> " };
        if let Some(h) = rl.helper_mut() {
            h.block = reader.in_block();
        }
        let line = match tokio::task::block_in_place(|| rl.readline(prompt)) {
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
        if session.history && !line.trim().is_empty() {
            let _ = rl.add_history_entry(line.as_str());
            if let Some(dir) = history_file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = rl.save_history(&history_file);
        }
        match reader.feed(&line) {
            Input::More | Input::Empty => {}
            Input::System(text) => session.set_system(text),
            // A line that starts with an image's path is a message to a vision model.
            Input::Command(words)
                if session.vision
                    && words
                        .first()
                        .is_some_and(|w| super::images::is_image_path(w)) =>
            {
                answer(client, &mut session, line.trim().to_string(), config).await?
            }
            Input::Command(words) => {
                if !command(client, &mut session, &words).await? {
                    break;
                }
            }
            Input::Message(text) => answer(client, &mut session, text, config).await?,
        }
    }
    Ok(())
}

/// One turn: the message goes out with the conversation so far; the answer joins it. An
/// interrupted answer drops the question, so the next one starts clean.
async fn answer(
    client: &Client,
    session: &mut Session,
    text: String,
    config: &Config,
) -> Result<(), CliError> {
    let mut message = Message::new("user", text);
    if session.vision {
        match super::images::extract(&message.content) {
            Ok((text, images)) => (message.content, message.images) = (text, images),
            Err(e) => {
                println!("error: {e}");
                return Ok(());
            }
        }
    }
    session.messages.push(message);
    let req = ChatRequest {
        model: session.model.clone(),
        messages: session.messages.clone(),
        keep_alive: session.opts.keep_alive,
        format: session.opts.format_value(),
        think: session.opts.think.clone(),
        options: (!session.options.is_empty()).then(|| session.options.clone()),
        ..ChatRequest::default()
    };
    // A request the server refuses (a model without thinking, `format` not supported) costs
    // the question, not the session.
    let stream = match client.chat(&req).await {
        Ok(s) => s,
        Err(e) if e.status().is_some() => {
            session.messages.pop();
            println!("error: {e}");
            return Ok(());
        }
        Err(e) => {
            session.messages.pop();
            return Err(e.into());
        }
    };
    let result = print_answer(stream, session.opts.display(config), |r: &ChatResponse| {
        Piece {
            thinking: &r.message.thinking,
            content: &r.message.content,
            done: r.done,
            metrics: r.done.then(|| r.metrics.clone()),
        }
    })
    .await;
    println!();
    let result = match result {
        // An error line mid-answer (the model runner stopped, ...): the session goes on.
        Err(e) if !e.is_broken_pipe() => {
            session.messages.pop();
            println!("error: {e}\n");
            return Ok(());
        }
        other => other?,
    };
    match result {
        Answer::Done { text, metrics } => {
            println!();
            session.messages.push(Message::new("assistant", text));
            if session.opts.verbose {
                eprint!("{}", stats::summary(&metrics));
            }
        }
        Answer::Interrupted { .. } => {
            session.messages.pop();
        }
    }
    Ok(())
}

/// A slash command. Returns false to leave the session.
async fn command(
    client: &Client,
    session: &mut Session,
    words: &[String],
) -> Result<bool, CliError> {
    let arg = |i: usize| words.get(i).map(String::as_str);
    match arg(0).unwrap_or_default() {
        "/bye" | "/exit" => return Ok(false),
        "/?" | "/help" => match arg(1) {
            Some("set") => eprint!("{HELP_SET}"),
            Some("show") => eprint!("{HELP_SHOW}"),
            Some("shortcut" | "shortcuts") => eprint!("{HELP_SHORTCUTS}"),
            // Ollama's extra line for multimodal models (rollama takes no audio yet).
            _ if session.vision => eprint!(
                "{}",
                HELP.replace(
                    "message.\n\n",
                    "message.\nUse /path/to/file to include .jpg, .png, or .webp images.\n\n"
                )
            ),
            _ => eprint!("{HELP}"),
        },
        "/clear" => {
            session.messages.clear();
            if !session.system.is_empty() {
                session
                    .messages
                    .push(Message::new("system", session.system.clone()));
            }
            println!("Cleared session context");
        }
        "/list" => {
            let resp = client.list().await?;
            print!("{}", list::render(&resp.models, arg(1), chrono::Utc::now()));
        }
        "/set" => set(client, session, words).await?,
        "/show" => show_command(client, session, arg(1)).await?,
        "/load" => {
            let Some(name) = arg(1).filter(|_| words.len() == 2) else {
                println!("Usage:\n  /load <modelname>");
                return Ok(true);
            };
            let previous = (session.model.clone(), std::mem::take(&mut session.messages));
            session.model = name.to_string();
            println!("Loading model '{name}'");
            match load(client, session).await {
                Ok((stored, parent)) => {
                    session.parent = parent;
                    print_history(&stored);
                }
                Err(e) if e.to_string().contains("not found") => {
                    println!("Couldn't find model '{name}'");
                    (session.model, session.messages) = previous;
                }
                Err(e) => return Err(e),
            }
        }
        "/save" => {
            let Some(name) = arg(1).filter(|_| words.len() == 2) else {
                println!("Usage:\n  /save <modelname>");
                return Ok(true);
            };
            save(client, session, name).await?;
        }
        other => println!("Unknown command '{other}'. Type /? for help"),
    }
    Ok(true)
}

async fn set(client: &Client, session: &mut Session, words: &[String]) -> Result<(), CliError> {
    let Some(what) = words.get(1) else {
        eprint!("{HELP_SET}");
        return Ok(());
    };
    match what.as_str() {
        "history" => session.history = true,
        "nohistory" => session.history = false,
        "wordwrap" => {
            session.opts.word_wrap = true;
            println!("Set 'wordwrap' mode.");
        }
        "nowordwrap" => {
            session.opts.word_wrap = false;
            println!("Set 'nowordwrap' mode.");
        }
        "verbose" => {
            session.opts.verbose = true;
            println!("Set 'verbose' mode.");
        }
        "quiet" => {
            session.opts.verbose = false;
            println!("Set 'quiet' mode.");
        }
        "format" => match words.get(2).map(String::as_str) {
            Some("json") => {
                session.opts.format = Some("json".into());
                println!("Set format to 'json' mode.");
            }
            _ => println!("Invalid or missing format. For 'json' mode use '/set format json'"),
        },
        "noformat" => {
            session.opts.format = None;
            println!("Disabled format.");
        }
        "think" | "nothink" => {
            let value = if what == "nothink" {
                Value::Bool(false)
            } else {
                match parse_think(words.get(2).map(String::as_str).unwrap_or("true")) {
                    Ok(v) => v,
                    Err(e) => {
                        println!("{e}");
                        return Ok(());
                    }
                }
            };
            let show = client.show(&session.show_request()).await?;
            if value != Value::Bool(false) && !show.capabilities.iter().any(|c| c == "thinking") {
                eprintln!(
                    "warning: model \"{}\" does not support thinking output",
                    session.model
                );
            }
            match &value {
                Value::String(level) => println!("Set 'think' mode to '{level}'."),
                Value::Bool(true) => println!("Set 'think' mode."),
                _ => println!("Set 'nothink' mode."),
            }
            session.opts.think = Some(value);
        }
        "parameter" => {
            if words.len() < 4 {
                eprint!("{HELP_PARAMETERS}");
                return Ok(());
            }
            let (name, values) = (&words[2], &words[3..]);
            match crate::api::options::format_params(&[(name.clone(), values.to_vec())]) {
                Ok(typed) => {
                    println!("Set parameter '{name}' to '{}'", values.join(", "));
                    session.options.extend(typed);
                }
                Err(e) => println!(
                    "Couldn't set parameter: {}",
                    crate::gofmt::quote(&e.to_string())
                ),
            }
        }
        // `/set system` alone (its text is handled by the line reader).
        "system" => eprint!("{HELP_SET}"),
        other => println!("Unknown command '/set {other}'. Type /? for help"),
    }
    Ok(())
}

async fn show_command(
    client: &Client,
    session: &Session,
    what: Option<&str>,
) -> Result<(), CliError> {
    let Some(what) = what else {
        eprint!("{HELP_SHOW}");
        return Ok(());
    };
    let resp = match client.show(&session.show_request()).await {
        Ok(r) => r,
        Err(e) => {
            println!("error: couldn't get model");
            return Err(e.into());
        }
    };
    let or = |s: &str, none: &str| {
        if s.is_empty() {
            none.to_string()
        } else {
            s.to_string()
        }
    };
    match what {
        "info" => print!("{}", show::summary(&resp, false)),
        "license" => println!(
            "{}",
            or(&resp.license, "No license was specified for this model.")
        ),
        "modelfile" => println!("{}", resp.modelfile),
        "parameters" => {
            if resp.parameters.is_empty() {
                println!("No parameters were specified for this model.");
            } else {
                if !session.options.is_empty() {
                    println!("Model defined parameters:");
                }
                println!("{}", resp.parameters);
            }
            if !session.options.is_empty() {
                println!("\nUser defined parameters:");
                for (k, v) in &session.options {
                    println!("{k:<30} {}", crate::gofmt::plain_v(v));
                }
            }
        }
        "system" => println!(
            "{}",
            or(
                &resp.system,
                "No system message was specified for this model."
            )
        ),
        "template" => println!(
            "{}",
            or(
                &resp.template,
                "No prompt template was specified for this model."
            )
        ),
        other => println!("Unknown command '/show {other}'. Type /? for help"),
    }
    Ok(())
}

/// `/save NAME`: a new model from the current one with this session's system message,
/// parameters and conversation.
async fn save(client: &Client, session: &Session, name: &str) -> Result<(), CliError> {
    let from = if session.parent.is_empty() {
        session.model.clone()
    } else {
        session.parent.clone()
    };
    let req = CreateRequest {
        model: name.to_string(),
        from,
        system: session.system.clone(),
        parameters: (!session.options.is_empty()).then(|| session.options.clone()),
        messages: session.messages.clone(),
        ..CreateRequest::default()
    };
    let result = async {
        let mut s = client.create(&req).await?;
        while let Some(r) = futures_util::StreamExt::next(&mut s).await {
            r?;
        }
        Ok::<(), crate::api::client::ClientError>(())
    }
    .await;
    match result {
        Ok(()) => println!("Created new model '{name}'"),
        Err(e) if e.to_string().contains("invalid model name") => {
            println!("error: The model name '{name}' is invalid");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Input {
        Input::Command(s.split_whitespace().map(String::from).collect())
    }

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
        // A `/` inside a block is text.
        assert_eq!(r.feed("\"\"\""), Input::More);
        assert_eq!(r.feed("/bye"), Input::More);
        assert_eq!(r.feed("\"\"\""), Input::Message("\n/bye\n".into()));
    }

    #[test]
    fn system_messages() {
        let mut r = LineReader::default();
        assert_eq!(
            r.feed("/set system   You are   terse."),
            Input::System("You are terse.".into())
        );
        assert_eq!(r.feed("/set system \"\"\"Line one"), Input::More);
        assert!(r.in_block());
        assert_eq!(
            r.feed("Line two\"\"\""),
            Input::System("Line one\nLine two".into())
        );
        assert_eq!(
            r.feed("/set system \"\"\"Short.\"\"\""),
            Input::System("Short.".into())
        );
        assert_eq!(r.feed("/set system"), words("/set system"));
    }

    #[test]
    fn commands_and_messages() {
        let mut r = LineReader::default();
        assert_eq!(r.feed("/bye"), words("/bye"));
        assert_eq!(
            r.feed(" /set  parameter top_k 5"),
            words("/set parameter top_k 5")
        );
        assert_eq!(r.feed("   "), Input::Empty);
        assert_eq!(
            r.feed("hello /there"),
            Input::Message("hello /there".into())
        );
    }
}
