//! The OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`, `/v1/responses`,
//! `/v1/embeddings`, `/v1/models`), with Ollama's mappings: each completion endpoint is an
//! adapter of the inference pipeline ([`crate::server::infer`]), mapping its request into an
//! `InferRequest` and the typed events out, streaming as server-sent events. Errors take
//! OpenAI's shape. One module per endpoint; this one holds what they share (request fields,
//! the pieces of an answer, the SSE framing).

mod chat;
mod completions;
mod embeddings;
mod models;
mod responses;

pub use chat::chat_completions;
pub use completions::completions;
pub use embeddings::embeddings;
pub use models::{model, models};
pub use responses::responses;

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiJson, go_json_kind};
use super::infer::{self, Finish, InferRequest, Input, Out, Running};
use super::stream::{self, Framing};
use crate::api::types::Logprob;

/// An error in OpenAI's shape, with the status the native handler chose.
fn error(status: StatusCode, message: &str) -> Response {
    let kind = match status.as_u16() {
        400 => "invalid_request_error",
        404 => "not_found_error",
        _ => "api_error",
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

impl ApiError {
    fn openai(self) -> Response {
        error(self.status, &self.message)
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(invalid("request body must be a JSON object")),
        Err(e) => Err(invalid(&e.to_string())),
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request(message)
}

/// The sampling fields both completion endpoints share, as native options. Absent
/// `temperature` and `top_p` are 1.0, overriding the Modelfile, as Ollama does.
fn options(r: &Map<String, Value>) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert(
        "temperature".into(),
        r.get("temperature").cloned().unwrap_or(json!(1.0)),
    );
    o.insert(
        "top_p".into(),
        r.get("top_p").cloned().unwrap_or(json!(1.0)),
    );
    for (from, to) in [
        ("max_tokens", "num_predict"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ] {
        if let Some(v) = r.get(from).filter(|v| !v.is_null()) {
            o.insert(to.into(), v.clone());
        }
    }
    match r.get("stop") {
        Some(Value::String(s)) => {
            o.insert("stop".into(), json!([s]));
        }
        Some(Value::Array(a)) => {
            o.insert("stop".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    o
}

/// `response_format` as a native `format`.
fn format(r: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    let Some(rf) = r.get("response_format").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("json_object") => Ok(Some(json!("json"))),
        Some("json_schema") => Ok(rf.get("json_schema").and_then(|s| s.get("schema")).cloned()),
        Some("text") | None => Ok(None),
        Some(other) => Err(invalid(&format!("invalid response_format type: {other}"))),
    }
}

/// `reasoning_effort` / `reasoning.effort` as a native `think`.
fn think(r: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    let effort = r
        .get("reasoning_effort")
        .or_else(|| r.get("reasoning").and_then(|x| x.get("effort")))
        .and_then(Value::as_str);
    match effort {
        None => Ok(None),
        Some(e) => effort_think(e).map(Some).ok_or_else(|| {
            invalid(&format!(
                "invalid reasoning value: '{e}' (must be \"none\", \"minimal\", \"low\", \"medium\", \"high\", \"xhigh\", or \"max\")"
            ))
        }),
    }
}

/// A reasoning effort as a native `think`, as Ollama maps it; `None` for an unknown effort.
fn effort_think(effort: &str) -> Option<Value> {
    match effort {
        "none" => Some(json!(false)),
        "minimal" => Some(json!("low")),
        l @ ("low" | "medium" | "high" | "max") => Some(json!(l)),
        "xhigh" | "ultra" => Some(json!("max")),
        _ => None,
    }
}

/// What both completion endpoints read alike: `stream`, `stream_options.include_usage` and
/// `model`.
fn stream_and_model(r: &Map<String, Value>) -> (bool, bool, String) {
    let streaming = r.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = r
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model = r.get("model").and_then(Value::as_str).unwrap_or_default();
    (streaming, include_usage, model.to_string())
}

/// Usage counts from a finish (`cached_tokens` beyond Ollama, which reports none).
fn usage(f: &Finish) -> Value {
    let p = f.metrics.prompt_eval_count;
    let c = f.metrics.eval_count;
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
           "prompt_tokens_details": {"cached_tokens": f.cached_tokens}})
}

fn finish_reason(f: &Finish, has_tools: bool) -> Value {
    if has_tools {
        return json!("tool_calls");
    }
    match f.reason {
        "length" => json!("length"),
        _ => json!("stop"),
    }
}

/// Native tool calls in OpenAI's shape, with ids, numbered from `first`.
fn tool_calls(calls: &[Value], first: usize) -> Value {
    Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": call_id(c), "index": first + i, "type": "function", "function": {
                    "name": c.pointer("/function/name"),
                    "arguments": c.pointer("/function/arguments").map(|a| a.to_string()).unwrap_or_else(|| "{}".into()),
                }})
            })
            .collect(),
    )
}

/// A native call's id, or a new one in Ollama's form.
fn call_id(call: &Value) -> String {
    call.get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| format!("call_{}", random_id(8)))
}

/// Log-probabilities in OpenAI's chat shape: `{"content": [{token, logprob, bytes,
/// top_logprobs}]}`; `None` when there are none.
fn openai_logprobs(list: &[Logprob]) -> Option<Value> {
    if list.is_empty() {
        return None;
    }
    let content: Vec<Value> = list
        .iter()
        .map(|l| {
            let top: Vec<Value> = l
                .top_logprobs
                .iter()
                .map(|t| json!({"token": t.token, "logprob": t.logprob, "bytes": t.bytes}))
                .collect();
            json!({"token": l.token, "logprob": l.logprob, "bytes": l.bytes, "top_logprobs": top})
        })
        .collect();
    Some(json!({ "content": content }))
}

/// Streams a run as server-sent `data:` events ending with `data: [DONE]`; an error after the
/// start is an error event in OpenAI's shape, and no `[DONE]`.
async fn sse(
    running: Running,
    mut each: impl FnMut(Out) -> Vec<Bytes> + Send + 'static,
) -> Response {
    let r = stream::completion(running, Framing::Sse, move |out| match out {
        Out::Error(e) => {
            let e = json!({"error": {"message": e.message, "type": "api_error", "param": null, "code": null}});
            vec![stream::sse_data(&e)]
        }
        out => {
            let last = matches!(out, Out::Done(_));
            let mut v = each(out);
            if last {
                v.push(Bytes::from_static(b"data: [DONE]\n\n"));
            }
            v
        }
    })
    .await;
    r.unwrap_or_else(ApiError::openai)
}

fn random_id(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_maps_to_think() {
        let t = |e: &str| {
            let mut m = Map::new();
            m.insert("reasoning_effort".into(), json!(e));
            think(&m).ok().flatten()
        };
        assert_eq!(t("none"), Some(json!(false)));
        assert_eq!(t("minimal"), Some(json!("low")));
        assert_eq!(t("high"), Some(json!("high")));
        assert_eq!(t("ultra"), Some(json!("max")));
        assert_eq!(t("loud"), None);
    }
}
