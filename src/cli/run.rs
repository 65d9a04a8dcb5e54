//! `rollama run MODEL [PROMPT...]`: one answer to a prompt (from the arguments, stdin, or both),
//! or, with a terminal and no prompt, the interactive session in [`super::repl`].

use std::io::{IsTerminal, Read, Write};

use futures_util::{Stream, StreamExt};

use super::args::RunArgs;
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

/// Prints each piece of an answer stream as it arrives; Ctrl-C stops it.
pub async fn print_answer<S, T>(
    stream: S,
    piece: impl Fn(&T) -> (&str, bool, Option<Metrics>),
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
                let (s, done, metrics) = piece(&item);
                if !s.is_empty() {
                    out.write_all(s.as_bytes())?;
                    out.flush()?;
                    text.push_str(s);
                }
                if done {
                    return Ok(Answer::Done { text, metrics: metrics.unwrap_or_default() });
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
    let keep_alive = args
        .keepalive
        .as_deref()
        .map(parse_keep_alive)
        .transpose()?;
    // Fails early, with the server's message, for a missing or invalid model.
    client
        .show(&ShowRequest {
            model: args.model.clone(),
            ..ShowRequest::default()
        })
        .await?;

    let mut prompts = args.prompt.clone();
    let mut interactive = true;
    if !std::io::stdin().is_terminal() {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        prompts.insert(0, input);
        interactive = false;
    }
    if !prompts.is_empty() || !std::io::stdout().is_terminal() {
        interactive = false;
    }
    let prompt = prompts.join(" ");
    if interactive {
        return repl::repl(client, &args.model, keep_alive, args.verbose, config).await;
    }

    let req = GenerateRequest {
        model: args.model.clone(),
        prompt: prompt.clone(),
        keep_alive,
        ..GenerateRequest::default()
    };
    let stream = client.generate(&req).await?;
    let answer = print_answer(stream, |r: &crate::api::types::GenerateResponse| {
        (
            r.response.as_str(),
            r.done,
            r.done.then(|| r.metrics.clone()),
        )
    })
    .await?;
    if !prompt.is_empty() {
        super::out("\n\n")?;
    }
    match answer {
        Answer::Done { metrics, .. } if args.verbose => eprint!("{}", stats::summary(&metrics)),
        Answer::Interrupted { .. } => return Err(CliError("interrupted".to_string())),
        _ => {}
    }
    Ok(())
}
