//! `rollama run MODEL [PROMPT...]`: one answer to a prompt (from the arguments, stdin, or both),
//! or, with a terminal and no prompt, the interactive session in [`super::repl`].

use std::io::{IsTerminal, Read, Write};

use futures_util::{Stream, StreamExt};

use super::args::RunArgs;
use super::display::Display;
use super::{CliError, repl, stats};
use crate::api::client::{Client, ClientError};
use crate::api::types::{GenerateRequest, Metrics, ShowRequest};
use crate::duration::{KeepAlive, go_duration_error, parse_go_duration};
use crate::envconfig::Config;

/// How an answer ended.
pub enum Answer {
    Done {
        text: String,
        metrics: Metrics,
    },
    /// Ctrl-C: the request was dropped, which cancels it on the server.
    Interrupted {
        text: String,
    },
}

/// One streamed response, as [`print_answer`] needs it.
pub struct Piece<'a> {
    pub thinking: &'a str,
    pub content: &'a str,
    pub done: bool,
    pub metrics: Option<Metrics>,
}

/// How answers are shown and what every request of a `run` carries: the flags, changed later by
/// the REPL's `/set` commands.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub keep_alive: Option<KeepAlive>,
    pub verbose: bool,
    pub word_wrap: bool,
    /// `"json"` or none.
    pub format: Option<String>,
    pub think: Option<serde_json::Value>,
    pub hide_thinking: bool,
}

impl RunOptions {
    pub fn from_args(args: &RunArgs) -> Result<RunOptions, CliError> {
        let keep_alive = args
            .keepalive
            .as_deref()
            .map(parse_keep_alive)
            .transpose()?;
        let format = match args.format.as_deref() {
            None | Some("") => None,
            Some("json") => Some("json".to_string()),
            Some(other) => {
                return Err(CliError(format!(
                    "invalid format '{other}': only 'json' is supported"
                )));
            }
        };
        Ok(RunOptions {
            keep_alive,
            verbose: args.verbose,
            word_wrap: !args.nowordwrap,
            format,
            think: args.think.as_deref().map(parse_think).transpose()?,
            hide_thinking: args.hidethinking,
        })
    }

    pub fn format_value(&self) -> Option<serde_json::Value> {
        self.format.clone().map(serde_json::Value::String)
    }

    /// A fresh display for one answer: wrapped at the terminal width unless word wrap is off or
    /// stdout is not a terminal.
    pub fn display(&self, config: &Config) -> Display {
        let tty = std::io::stdout().is_terminal();
        let width = (self.word_wrap && tty)
            .then(super::display::terminal_width)
            .flatten();
        Display::new(width, self.hide_thinking, tty && !config.no_color)
    }
}

/// An embedding-only model answers with its vector, printed as a JSON array, as Ollama's `run`
/// does; it needs text to embed.
async fn print_embedding(
    client: &Client,
    model: &str,
    prompt: &str,
    opts: &RunOptions,
) -> Result<(), CliError> {
    if prompt.trim().is_empty() {
        return Err(CliError(format!(
            "embedding models require input text. Usage: rollama run {model} \"your text here\""
        )));
    }
    let vectors = client.embed(model, prompt, opts.keep_alive).await?;
    let first = vectors.into_iter().next().unwrap_or_default();
    let json = serde_json::to_string(&first).map_err(|e| CliError(e.to_string()))?;
    super::out(&format!("{json}\n"))
}

/// `--think` / `/set think`: a boolean or a level.
pub fn parse_think(s: &str) -> Result<serde_json::Value, CliError> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "" => Ok(serde_json::Value::Bool(true)),
        "false" => Ok(serde_json::Value::Bool(false)),
        l @ ("low" | "medium" | "high" | "max") => Ok(serde_json::Value::String(l.to_string())),
        _ => Err(CliError(format!(
            "invalid value for --think: {s:?} (must be true, false, high, medium, low, or max)"
        ))),
    }
}

/// Prints each piece of an answer stream as it arrives; Ctrl-C stops it.
pub async fn print_answer<S, T>(
    stream: S,
    mut display: Display,
    piece: impl Fn(&T) -> Piece<'_>,
) -> Result<Answer, CliError>
where
    S: Stream<Item = Result<T, ClientError>>,
{
    let mut stream = std::pin::pin!(stream);
    let mut text = String::new();
    let mut out = std::io::stdout();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(Answer::Interrupted { text }),
            item = stream.next() => {
                let Some(item) = item else {
                    return Ok(Answer::Done { text, metrics: Metrics::default() });
                };
                let item = item?;
                let p = piece(&item);
                let shown = display.piece(p.thinking, p.content);
                if !shown.is_empty() {
                    out.write_all(shown.as_bytes())?;
                    out.flush()?;
                }
                text.push_str(p.content);
                if p.done {
                    return Ok(Answer::Done { text, metrics: p.metrics.unwrap_or_default() });
                }
            }
        }
    }
}

pub fn parse_keep_alive(s: &str) -> Result<KeepAlive, CliError> {
    parse_go_duration(s)
        .map(KeepAlive::from_signed)
        .ok_or_else(|| CliError(go_duration_error(s)))
}

pub async fn run(client: &Client, args: RunArgs, config: &Config) -> Result<(), CliError> {
    let opts = RunOptions::from_args(&args)?;
    // A model the server does not have is pulled first, as Ollama's `run` does; anything else
    // (an invalid name) fails early with the server's message.
    let show = ShowRequest {
        model: args.model.clone(),
        ..ShowRequest::default()
    };
    let info = match client.show(&show).await {
        Err(e) if e.status() == Some(404) => {
            super::transfer::pull(client, &args.model, args.insecure).await?;
            client.show(&show).await?
        }
        other => other?,
    };
    let can = |c: &str| info.capabilities.iter().any(|x| x == c);
    let embedding_only = can("embedding") && !can("completion");

    let mut prompts = args.prompt.clone();
    let mut interactive = true;
    if !std::io::stdin().is_terminal() {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        // Ollama prepends even an empty stdin (and a space); the prompt is sent as typed.
        if !input.is_empty() {
            prompts.insert(0, input);
        }
        interactive = false;
    }
    if !prompts.is_empty() || !std::io::stdout().is_terminal() {
        interactive = false;
    }
    let prompt = prompts.join(" ");
    if embedding_only {
        return print_embedding(client, &args.model, &prompt, &opts).await;
    }
    if interactive {
        return repl::repl(client, &args.model, opts, config).await;
    }

    // A vision model takes the images whose paths the prompt names.
    let (prompt, images) = if can("vision") {
        super::images::extract(&prompt)?
    } else {
        (prompt, Vec::new())
    };
    let req = GenerateRequest {
        model: args.model.clone(),
        prompt: prompt.clone(),
        images,
        keep_alive: opts.keep_alive,
        format: opts.format_value(),
        think: opts.think.clone(),
        ..GenerateRequest::default()
    };
    let stream = client.generate(&req).await?;
    let answer = print_answer(
        stream,
        opts.display(config),
        |r: &crate::api::types::GenerateResponse| Piece {
            thinking: &r.thinking,
            content: &r.response,
            done: r.done,
            metrics: r.done.then(|| r.metrics.clone()),
        },
    )
    .await?;
    if !prompt.is_empty() {
        super::out("\n\n")?;
    }
    match answer {
        Answer::Done { metrics, .. } if opts.verbose => eprint!("{}", stats::summary(&metrics)),
        Answer::Interrupted { .. } => return Err(CliError("interrupted".to_string())),
        _ => {}
    }
    Ok(())
}
