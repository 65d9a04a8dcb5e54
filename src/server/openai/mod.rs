//! The OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//! `/v1/models`), built as Ollama builds it: each request is translated into a native one, the
//! native handler runs, and its answer (one JSON object, or NDJSON lines) is translated back,
//! streaming as server-sent events ending with `data: [DONE]`. Errors take OpenAI's shape.
//! One module per endpoint; this one holds what they share (request fields, the runs of the
//! native handlers, the pieces of an answer).

mod chat;
mod completions;
mod embeddings;
mod models;

pub use chat::chat_completions;
pub use completions::completions;
pub use embeddings::embeddings;
pub use models::{model, models};

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiJson};
use crate::api::types::{ChatRequest, GenerateRequest};

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
    Ok(match effort {
        None => None,
        Some("none") => Some(json!(false)),
        Some("minimal") => Some(json!("low")),
        Some(l @ ("low" | "medium" | "high" | "max")) => Some(json!(l)),
        Some("xhigh" | "ultra") => Some(json!("max")),
        Some(other) => {
            return Err(invalid(&format!(
                "invalid reasoning value: '{other}' (must be \"none\", \"minimal\", \"low\", \"medium\", \"high\", \"xhigh\", or \"max\")"
            )));
        }
    })
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

/// Runs a native handler and collects its whole JSON answer, or its error in OpenAI's shape.
async fn native_json(resp: Result<Response, ApiError>) -> Result<Value, ApiError> {
    let resp = resp?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if !status.is_success() {
        let msg = v.get("error").and_then(Value::as_str).unwrap_or("error");
        return Err(ApiError::new(status, msg));
    }
    Ok(v)
}

/// Runs a native streaming handler; every NDJSON object it writes goes to `each`, which returns
/// the SSE events to send. An error line becomes an error event.
async fn native_sse(
    resp: Result<Response, ApiError>,
    mut each: impl FnMut(&Value) -> Vec<Value> + Send + 'static,
    mut last: impl FnMut() -> Vec<Value> + Send + 'static,
) -> Response {
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    if !resp.status().is_success() {
        let status = resp.status();
        return match native_json(Ok(resp)).await {
            Err(e) => e.openai(),
            Ok(_) => error(status, "error"),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut body = resp.into_body().into_data_stream();
        let mut buf = Vec::new();
        let send = |v: &Value| Bytes::from(format!("data: {v}\n\n"));
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { return };
            buf.extend_from_slice(&chunk);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let events = match v.get("error").and_then(Value::as_str) {
                    Some(msg) => {
                        let e = json!({"error": {"message": msg, "type": "api_error", "param": null, "code": null}});
                        let _ = tx.send(Ok(send(&e))).await;
                        return;
                    }
                    None => each(&v),
                };
                for e in events {
                    if tx.send(Ok(send(&e))).await.is_err() {
                        return;
                    }
                }
            }
        }
        for e in last() {
            let _ = tx.send(Ok(send(&e))).await;
        }
        let _ = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
    });
    let stream = tokio_stream_from(rx);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn usage(v: &Value) -> Value {
    let p = v["prompt_eval_count"].as_u64().unwrap_or(0);
    let c = v["eval_count"].as_u64().unwrap_or(0);
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

fn finish_reason(v: &Value, has_tools: bool) -> Value {
    if has_tools {
        return json!("tool_calls");
    }
    match v["done_reason"].as_str() {
        Some("length") => json!("length"),
        Some(_) | None => json!("stop"),
    }
}

/// Native tool calls in OpenAI's shape, with ids.
fn tool_calls(v: &Value) -> Option<Value> {
    let calls = v.pointer("/message/tool_calls")?.as_array()?;
    if calls.is_empty() {
        return None;
    }
    Some(Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let id = c
                    .get("id")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| format!("call_{}", random_id(8)));
                json!({"id": id, "index": i, "type": "function", "function": {
                    "name": c.pointer("/function/name"),
                    "arguments": c.pointer("/function/arguments").map(|a| a.to_string()).unwrap_or_else(|| "{}".into()),
                }})
            })
            .collect(),
    ))
}

/// Native `logprobs` in OpenAI's chat shape: `{"content": [{token, logprob, bytes,
/// top_logprobs}]}`.
fn openai_logprobs(v: &Value) -> Option<Value> {
    let list = v.get("logprobs")?.as_array()?;
    let entry = |l: &Value| {
        json!({"token": l["token"], "logprob": l["logprob"],
               "bytes": l.get("bytes").cloned().unwrap_or(json!([]))})
    };
    let content: Vec<Value> = list
        .iter()
        .map(|l| {
            let mut e = entry(l);
            let top = l.get("top_logprobs").and_then(Value::as_array);
            e["top_logprobs"] = Value::Array(
                top.map(|t| t.iter().map(entry).collect())
                    .unwrap_or_default(),
            );
            e
        })
        .collect();
    Some(json!({ "content": content }))
}

/// A `/v1/completions` choice from a native generate object; `logprobs` only when asked for
/// (Ollama's `omitempty`).
fn completion_choice(v: &Value, finish_reason: Value) -> Value {
    let mut c = json!({"text": v["response"], "index": 0, "finish_reason": finish_reason});
    if let Some(lp) = openai_logprobs(v) {
        c["logprobs"] = lp;
    }
    c
}

/// How Go's `encoding/json` names a JSON value's kind in an unmarshal error.
fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
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
