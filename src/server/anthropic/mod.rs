//! The Anthropic Messages API (`POST /v1/messages`), as Ollama serves it for Claude Code and
//! the `anthropic` clients: an adapter of the inference pipeline. The request maps in
//! ([`request`]); the typed events map out to one `message` object or the SSE event sequence
//! (`message_start`, `ping`, `content_block_start` / `_delta` / `_stop` per thinking, text and
//! tool-use block, `message_delta` with `stop_reason` and usage, `message_stop`). Errors take
//! Anthropic's shape (`{"type":"error","error":{"type","message"},"request_id"}`), also after
//! a stream began (an `error` event, where Ollama just stops). `x-api-key`,
//! `anthropic-version` and `anthropic-beta` are accepted and not read. Beyond Ollama:
//! `POST /v1/messages/count_tokens` counts the rendered prompt's tokens with the model's own
//! tokenizer.

mod request;

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::infer::{self, Finish, Out, Piece, Prep, Whole};
use super::stream::{self, Framing};

/// Random lower-case hex, `n` bytes of it.
fn hex_id(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// An error in Anthropic's shape, with its status.
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": error_type(status), "message": message},
                      "request_id": format!("req_{}", hex_id(12))});
    (status, axum::Json(body)).into_response()
}

fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

impl ApiError {
    fn anthropic(self) -> Response {
        error(self.status, &self.message)
    }
}

/// `POST /v1/messages`.
pub async fn messages(State(state): State<super::State>, body: Bytes) -> Response {
    let started = Instant::now();
    let parsed = match request::parse(&body, false) {
        Ok(p) => p,
        Err(e) => return e.anthropic(),
    };
    let model = parsed.request.model.clone();
    let whole = |w| answer(&model, w);
    let (req, streaming) = (parsed.request, parsed.stream);
    let running =
        match infer::run_or_answer(&state, req, started, streaming, whole, ApiError::anthropic)
            .await
        {
            Ok(running) => running,
            Err(response) => return response,
        };
    let mut events = Events::new(model, parsed.estimate);
    stream::completion(running, Framing::Sse, move |out| events.next(out))
        .await
        .unwrap_or_else(ApiError::anthropic)
}

/// `POST /v1/messages/count_tokens` (beyond Ollama, which does not route it): the request's
/// prompt rendered through the model's template and counted by its tokenizer.
pub async fn count_tokens(State(state): State<super::State>, body: Bytes) -> Response {
    let started = Instant::now();
    let mut parsed = match request::parse(&body, true) {
        Ok(p) => p,
        Err(e) => return e.anthropic(),
    };
    parsed.request.debug_render_only = true;
    let counted = async {
        match infer::prepare(&state, parsed.request, started).await? {
            Prep::Rendered { prompt, lease, .. } => infer::tokenize(&lease, prompt).await,
            _ => Err(ApiError::internal("the prompt was not rendered")),
        }
    };
    match counted.await {
        Ok(tokens) => axum::Json(json!({"input_tokens": tokens.len()})).into_response(),
        Err(e) => e.anthropic(),
    }
}

/// Ollama's `stop_reason` for how a run ended.
fn stop_reason(f: &Finish, called: bool) -> Option<&'static str> {
    if called {
        return Some("tool_use");
    }
    match f.reason {
        "stop" => Some("end_turn"),
        "length" => Some("max_tokens"),
        "" => None,
        _ => Some("stop_sequence"),
    }
}

fn usage(f: &Finish) -> Value {
    json!({"input_tokens": f.metrics.prompt_eval_count, "output_tokens": f.metrics.eval_count})
}

/// A native tool call as a `tool_use` block.
fn tool_use(call: &Value) -> Value {
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| format!("call_{}", hex_id(4)));
    json!({"type": "tool_use", "id": id, "name": call.pointer("/function/name"),
           "input": call.pointer("/function/arguments").cloned().unwrap_or_else(|| json!({}))})
}

/// A whole `message`: a thinking block, a text block (each only if not empty), a `tool_use`
/// block per call.
fn answer(model: &str, whole: Whole) -> Response {
    let p = whole.piece;
    let mut content = Vec::new();
    if !p.thinking.is_empty() {
        content.push(json!({"type": "thinking", "thinking": p.thinking, "signature": ""}));
    }
    if !p.content.is_empty() {
        content.push(json!({"type": "text", "text": p.content}));
    }
    content.extend(p.tool_calls.iter().map(tool_use));
    let mut m = json!({"id": format!("msg_{}", hex_id(12)), "type": "message", "role": "assistant",
                       "model": model, "content": content, "stop_sequence": null,
                       "usage": usage(&whole.finish)});
    if let Some(r) = stop_reason(&whole.finish, !p.tool_calls.is_empty()) {
        m["stop_reason"] = json!(r);
    }
    axum::Json(m).into_response()
}

/// The block a stream has open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Thinking,
    Text,
}

/// The streaming event sequence, built event by event.
struct Events {
    model: String,
    estimate: u64,
    started: bool,
    open: Block,
    /// The index the next block gets.
    index: usize,
    /// Thinking is over once a text or tool block has begun; later thinking is dropped.
    thinking_done: bool,
    called: bool,
}

impl Events {
    fn new(model: String, estimate: u64) -> Events {
        Events {
            model,
            estimate,
            started: false,
            open: Block::None,
            index: 0,
            thinking_done: false,
            called: false,
        }
    }

    fn next(&mut self, out: Out) -> Vec<Bytes> {
        let mut ev = Vec::new();
        if !self.started {
            self.started = true;
            let message = json!({"id": format!("msg_{}", hex_id(12)), "type": "message",
                "role": "assistant", "model": self.model, "content": [],
                "usage": {"input_tokens": self.estimate, "output_tokens": 0}});
            ev.push(event(
                "message_start",
                json!({"type": "message_start", "message": message}),
            ));
            ev.push(event("ping", json!({"type": "ping"})));
        }
        match out {
            Out::Piece(p) => self.piece(p, &mut ev),
            Out::Done(mut f) => {
                self.piece(std::mem::take(&mut f.rest), &mut ev);
                self.close(&mut ev);
                let mut delta = json!({});
                if let Some(r) = stop_reason(&f, self.called) {
                    delta["stop_reason"] = json!(r);
                }
                ev.push(event(
                    "message_delta",
                    json!({"type": "message_delta", "delta": delta, "usage": usage(&f)}),
                ));
                ev.push(event("message_stop", json!({"type": "message_stop"})));
            }
            Out::Error(e) => ev.push(event(
                "error",
                json!({"type": "error", "error": {"type": error_type(e.status), "message": e.message}}),
            )),
        }
        ev
    }

    fn piece(&mut self, p: Piece, ev: &mut Vec<Bytes>) {
        if !p.thinking.is_empty() && !self.thinking_done {
            self.open_block(
                Block::Thinking,
                json!({"type": "thinking", "thinking": ""}),
                ev,
            );
            ev.push(self.delta(json!({"type": "thinking_delta", "thinking": p.thinking})));
        }
        if !p.content.is_empty() {
            self.open_block(Block::Text, json!({"type": "text", "text": ""}), ev);
            ev.push(self.delta(json!({"type": "text_delta", "text": p.content})));
        }
        for call in &p.tool_calls {
            self.close(ev);
            self.thinking_done = true;
            self.called = true;
            let mut block = tool_use(call);
            let input = block["input"].take();
            block["input"] = json!({});
            ev.push(self.block_event("content_block_start", "content_block", block));
            ev.push(
                self.delta(json!({"type": "input_json_delta", "partial_json": input.to_string()})),
            );
            ev.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": self.index}),
            ));
            self.index += 1;
        }
    }

    /// Opens a block of `kind` unless it is the open one, closing any other first.
    fn open_block(&mut self, kind: Block, start: Value, ev: &mut Vec<Bytes>) {
        if self.open == kind {
            return;
        }
        self.close(ev);
        if kind != Block::Thinking {
            self.thinking_done = true;
        }
        ev.push(self.block_event("content_block_start", "content_block", start));
        self.open = kind;
    }

    fn close(&mut self, ev: &mut Vec<Bytes>) {
        if self.open == Block::None {
            return;
        }
        if self.open == Block::Thinking {
            self.thinking_done = true;
        }
        ev.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": self.index}),
        ));
        self.index += 1;
        self.open = Block::None;
    }

    fn delta(&self, delta: Value) -> Bytes {
        self.block_event("content_block_delta", "delta", delta)
    }

    fn block_event(&self, name: &str, key: &str, value: Value) -> Bytes {
        event(name, json!({"type": name, "index": self.index, key: value}))
    }
}

fn event(name: &str, data: Value) -> Bytes {
    stream::sse_event(name, &data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Metrics;

    fn names(ev: &[Bytes]) -> Vec<String> {
        ev.iter()
            .filter_map(|b| {
                let s = String::from_utf8_lossy(b);
                s.strip_prefix("event: ")
                    .and_then(|r| r.split('\n').next())
                    .map(String::from)
            })
            .collect()
    }

    #[test]
    fn a_stream_opens_and_closes_blocks_in_order() {
        let mut e = Events::new("m".into(), 3);
        let mut all = Vec::new();
        let piece = |thinking: &str, content: &str| Piece {
            thinking: thinking.into(),
            content: content.into(),
            ..Piece::default()
        };
        all.extend(e.next(Out::Piece(piece("hmm", ""))));
        all.extend(e.next(Out::Piece(piece("", "Hi"))));
        all.extend(e.next(Out::Piece(piece("late", " there"))));
        let mut rest = Piece::default();
        rest.tool_calls
            .push(json!({"function": {"name": "f", "arguments": {"x": 1}}}));
        all.extend(e.next(Out::Done(Finish {
            reason: "stop",
            metrics: Metrics {
                prompt_eval_count: 9,
                eval_count: 4,
                ..Metrics::default()
            },
            cached_tokens: 0,
            context: None,
            rest,
        })));
        assert_eq!(
            names(&all),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let text: String = all
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert!(!text.contains("late"), "thinking after the text is dropped");
        assert!(text.contains(r#""stop_reason":"tool_use""#), "{text}");
        assert!(text.contains(r#""index":2"#), "{text}");
        assert!(
            text.contains(r#""usage":{"input_tokens":9,"output_tokens":4}"#),
            "{text}"
        );
    }
}
