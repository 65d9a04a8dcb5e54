//! A completion in flight, as typed events: the engine's text goes through the request's
//! thinking and tool-call parsers and comes out as [`Out::Piece`]s (thinking, content, tool
//! calls and the log-probabilities of the tokens that made them), then one [`Out::Done`] with
//! Ollama's metrics, or an [`Out::Error`]. Every protocol adapter reads these; none reads
//! another protocol's bytes.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use super::check::{invalid_grammar, runner_stopped};
use crate::api::types::{Logprob, Metrics, TopLogprob};
use crate::engine::{Done, Event, TokenLogprob};
use crate::sched::Lease;
use crate::server::error::ApiError;
use crate::server::thinking::ThinkingParser;
use crate::server::tools::ToolParser;

/// What one piece of engine text became; any part may be empty.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Piece {
    pub thinking: String,
    pub content: String,
    /// Native tool calls: `{"function": {"name", "arguments"}}`.
    pub tool_calls: Vec<Value>,
    pub logprobs: Vec<Logprob>,
}

impl Piece {
    pub fn is_empty(&self) -> bool {
        self.thinking.is_empty()
            && self.content.is_empty()
            && self.tool_calls.is_empty()
            && self.logprobs.is_empty()
    }

    /// Appends `other` (collecting a whole answer).
    pub fn extend(&mut self, other: Piece) {
        self.thinking.push_str(&other.thinking);
        self.content.push_str(&other.content);
        self.tool_calls.extend(other.tool_calls);
        self.logprobs.extend(other.logprobs);
    }
}

/// How a completion ended.
#[derive(Debug, Clone)]
pub struct Finish {
    /// Ollama's `done_reason`: `stop` or `length`.
    pub reason: &'static str,
    pub metrics: Metrics,
    /// Prompt tokens reused from the prompt cache (part of `metrics.prompt_eval_count`).
    pub cached_tokens: u64,
    /// Prompt and generated token ids, when the route reports them (generate's `context`).
    pub context: Option<Vec<i64>>,
    /// What the parsers held back until the end.
    pub rest: Piece,
}

/// An event of a completion in flight.
#[derive(Debug)]
pub enum Out {
    Piece(Piece),
    /// The last event.
    Done(Finish),
    /// The last event: the run failed.
    Error(ApiError),
}

/// A whole answer: every piece and the finish.
#[derive(Debug)]
pub struct Whole {
    pub piece: Piece,
    pub finish: Finish,
}

impl Whole {
    /// The answer of a request that generated nothing (`load`, `unload`).
    pub fn nothing(reason: &'static str) -> Whole {
        Whole {
            piece: Piece::default(),
            finish: Finish {
                reason,
                metrics: Metrics::default(),
                cached_tokens: 0,
                context: None,
                rest: Piece::default(),
            },
        }
    }
}

/// The parsers a request's output goes through.
#[derive(Debug, Default)]
pub struct Parsers {
    pub thinking: Option<ThinkingParser>,
    pub tools: Option<ToolParser>,
}

impl Parsers {
    fn active(&self) -> bool {
        self.thinking.is_some() || self.tools.is_some()
    }

    fn push(&mut self, text: &str) -> Piece {
        let mut piece = Piece::default();
        let mut content = text.to_string();
        if let Some(p) = self.thinking.as_mut() {
            (piece.thinking, content) = p.push(&content);
        }
        if let Some(p) = self.tools.as_mut() {
            (content, piece.tool_calls) = p.push(&content);
        }
        piece.content = content;
        piece
    }

    /// What the parsers still hold, at the end.
    fn finish(&mut self) -> Piece {
        let mut piece = Piece::default();
        let mut content = String::new();
        if let Some(p) = self.thinking.as_mut() {
            (piece.thinking, content) = p.finish();
        }
        if let Some(p) = self.tools.as_mut() {
            let (mut c, calls) = p.push(&content);
            c.push_str(&p.finish());
            (content, piece.tool_calls) = (c, calls);
        }
        piece.content = content;
        piece
    }
}

/// A completion in flight; the lease keeps the runner loaded until this is dropped, and
/// dropping it cancels the sequence at the engine's next step.
pub struct Running {
    pub(super) events: mpsc::UnboundedReceiver<Event>,
    pub(super) _lease: Lease,
    pub(super) started: Instant,
    pub(super) load_duration: Duration,
    pub(super) parsers: Parsers,
    pub(super) with_context: bool,
    /// Log-probabilities wait for the text they belong to.
    pub(super) logprobs: Vec<Logprob>,
    /// Set until the first token, for the time-to-first-token histogram.
    pub(super) first_token: Option<Instant>,
    pub(super) ended: bool,
}

impl Running {
    /// The next event; `None` after the last one.
    pub async fn next(&mut self) -> Option<Out> {
        if self.ended {
            return None;
        }
        loop {
            let event = self.events.recv().await;
            let out = match event {
                None => Out::Error(ApiError::internal(runner_stopped())),
                Some(Event::Logprob(l)) => {
                    self.logprobs.push(logprob_json(l));
                    continue;
                }
                Some(Event::Text(text)) => {
                    if let Some(t) = self.first_token.take() {
                        crate::metrics::first_token(t.elapsed().as_secs_f64());
                    }
                    let mut piece = self.parsers.push(&text);
                    piece.logprobs = std::mem::take(&mut self.logprobs);
                    if self.parsers.active() && piece.is_empty() {
                        continue;
                    }
                    return Some(Out::Piece(piece));
                }
                Some(Event::Done(done)) => Out::Done(self.finish(&done)),
                Some(Event::Error(e)) => Out::Error(ApiError::internal(e)),
                Some(Event::InvalidGrammar(e)) => Out::Error(invalid_grammar(&e)),
                Some(Event::InvalidInput(e)) => Out::Error(ApiError::bad_request(e)),
            };
            self.ended = true;
            return Some(out);
        }
    }

    fn finish(&mut self, done: &Done) -> Finish {
        crate::metrics::completion(done.prompt_tokens, done.eval_tokens, done.eval_ns);
        let mut rest = self.parsers.finish();
        rest.logprobs = std::mem::take(&mut self.logprobs);
        Finish {
            reason: done.reason.as_str(),
            metrics: Metrics {
                total_duration: self.started.elapsed().as_nanos() as u64,
                load_duration: self.load_duration.as_nanos() as u64,
                prompt_eval_count: done.prompt_tokens,
                prompt_eval_duration: done.prompt_ns,
                eval_count: done.eval_tokens,
                eval_duration: done.eval_ns,
            },
            cached_tokens: done.prompt_tokens.saturating_sub(done.prompt_evaluated),
            context: self
                .with_context
                .then(|| done.context.iter().map(|&t| i64::from(t)).collect()),
            rest,
        }
    }

    /// The whole answer, or the error that ended it.
    pub async fn collect(mut self) -> Result<Whole, ApiError> {
        let mut piece = Piece::default();
        loop {
            match self.next().await {
                Some(Out::Piece(p)) => piece.extend(p),
                Some(Out::Done(mut finish)) => {
                    piece.extend(std::mem::take(&mut finish.rest));
                    return Ok(Whole { piece, finish });
                }
                Some(Out::Error(e)) => return Err(e),
                None => return Err(ApiError::internal(runner_stopped())),
            }
        }
    }
}

/// An engine log-probability in Ollama's JSON shape.
fn logprob_json(l: TokenLogprob) -> Logprob {
    Logprob {
        token: l.token,
        logprob: f64::from(l.logprob),
        bytes: l.bytes,
        top_logprobs: l
            .top
            .into_iter()
            .map(|(token, logprob, bytes)| TopLogprob {
                token,
                logprob: f64::from(logprob),
                bytes,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_split_thinking_and_calls_and_keep_the_rest_for_the_end() {
        let mut p = Parsers {
            thinking: Some(ThinkingParser::new(("<think>".into(), "</think>".into()))),
            tools: Some(ToolParser::new(
                Some("<tool_call>".into()),
                vec!["get_weather".into()],
            )),
        };
        let mut all = Piece::default();
        for t in [
            "<think>hm",
            "m</think>Sure",
            " <tool_",
            "call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}",
        ] {
            all.extend(p.push(t));
        }
        all.extend(p.finish());
        assert_eq!(all.thinking, "hmm");
        assert_eq!(all.content.trim(), "Sure");
        assert_eq!(all.tool_calls.len(), 1, "{all:?}");
        assert_eq!(all.tool_calls[0]["function"]["name"], "get_weather");
        assert_eq!(all.tool_calls[0]["function"]["arguments"]["city"], "Paris");
    }
}
