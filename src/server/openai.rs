//! The OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//! `/v1/models`), built as Ollama builds it: each request is translated into a native one, the
//! native handler runs, and its answer (one JSON object, or NDJSON lines) is translated back,
//! streaming as server-sent events ending with `data: [DONE]`. Errors take OpenAI's shape.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiJson};
use super::{chat, embed, generate};
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

/// OpenAI messages as native ones: each content part its own message, image data URLs as
/// images, tool call arguments parsed, tool results named after their call.
fn messages(list: &[Value]) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<Value> = Vec::new();
    for m in list {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let mut base = json!({"role": role});
        if let Some(r) = m.get("reasoning").and_then(Value::as_str) {
            base["thinking"] = json!(r);
        }
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            let mut native = Vec::new();
            for c in calls {
                let f = c.get("function").cloned().unwrap_or_default();
                let args = match f.get("arguments") {
                    Some(Value::String(s)) if s.is_empty() => json!({}),
                    Some(Value::String(s)) => serde_json::from_str(s)
                        .map_err(|_| invalid("invalid tool call arguments"))?,
                    Some(v) => v.clone(),
                    None => json!({}),
                };
                native.push(json!({"id": c.get("id"), "function": {"name": f.get("name"), "arguments": args}}));
            }
            base["tool_calls"] = Value::Array(native);
        }
        if role == "tool"
            && let Some(id) = m.get("tool_call_id").and_then(Value::as_str)
        {
            base["tool_call_id"] = json!(id);
            let name = list
                .iter()
                .filter_map(|p| p.get("tool_calls").and_then(Value::as_array))
                .flatten()
                .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
                .and_then(|c| c.pointer("/function/name").cloned());
            if let Some(n) = name {
                base["tool_name"] = n;
            }
        }
        match m.get("content") {
            None | Some(Value::Null) => {
                if base.get("tool_calls").is_none() {
                    return Err(invalid("invalid message content type: <nil>"));
                }
                out.push(base);
            }
            Some(Value::String(s)) => {
                base["content"] = json!(s);
                out.push(base);
            }
            Some(Value::Array(parts)) => {
                for p in parts {
                    let mut msg = base.clone();
                    match p.get("type").and_then(Value::as_str) {
                        Some("text") => msg["content"] = p.get("text").cloned().unwrap_or_default(),
                        Some("image_url") => {
                            let url = p
                                .get("image_url")
                                .and_then(|u| u.get("url").or(Some(u)))
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            if url.starts_with("http://") || url.starts_with("https://") {
                                return Err(invalid(
                                    "image URLs are not currently supported, please use base64 encoded data instead",
                                ));
                            }
                            let Some((_, data)) = url
                                .strip_prefix("data:")
                                .and_then(|u| u.split_once(";base64,"))
                            else {
                                return Err(invalid("invalid image input"));
                            };
                            msg["content"] = json!("");
                            msg["images"] = json!([data]);
                        }
                        _ => return Err(invalid("invalid message format")),
                    }
                    out.push(msg);
                }
            }
            Some(_) => return Err(invalid("invalid message content type")),
        }
    }
    Ok(out)
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

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(state): State<super::State>, body: Bytes) -> Response {
    let r = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    let list = r
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        return bad("[] is too short - 'messages'");
    }
    let (msgs, format, think) = match (messages(&list), format(&r), think(&r)) {
        (Ok(m), Ok(f), Ok(t)) => (m, f, t),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e.openai(),
    };
    let streaming = r.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = r
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model = r
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut native = json!({
        "model": model, "messages": msgs, "stream": streaming, "options": options(&r),
    });
    if r.get("logprobs").and_then(Value::as_bool) == Some(true) {
        native["logprobs"] = json!(true);
        if let Some(n) = r.get("top_logprobs").filter(|n| !n.is_null()) {
            native["top_logprobs"] = n.clone();
        }
    }
    // Beyond Ollama, which ignores `tool_choice`: "none" hides the tools from the model;
    // "required" (or one named function) makes the answer a call, through the grammar.
    let mut tools = r.get("tools").cloned();
    let mut format = format;
    match r.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => tools = None,
        Some(choice @ (Value::String(_) | Value::Object(_))) if choice != "auto" => {
            let offered: Vec<Value> = tools
                .as_ref()
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let wanted = choice.pointer("/function/name").and_then(Value::as_str);
            // One branch per callable tool: its name, and arguments that follow its own
            // parameter schema (any object when it has none), as llama-server constrains them.
            let branches: Vec<Value> = offered
                .iter()
                .filter_map(|t| {
                    let name = t.pointer("/function/name").and_then(Value::as_str)?;
                    if wanted.is_some_and(|w| w != name) {
                        return None;
                    }
                    let params = t
                        .pointer("/function/parameters")
                        .filter(|p| p.is_object())
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object"}));
                    Some(json!({
                        "type": "object",
                        "properties": {"name": {"const": name}, "arguments": params},
                        "required": ["name", "arguments"],
                    }))
                })
                .collect();
            let call = match branches.len() {
                0 => wanted.map(|w| {
                    json!({"type": "object",
                           "properties": {"name": {"const": w}, "arguments": {"type": "object"}},
                           "required": ["name", "arguments"]})
                }),
                1 => branches.into_iter().next(),
                _ => Some(json!({"anyOf": branches})),
            };
            if format.is_none() {
                format = call;
            }
        }
        _ => {}
    }
    for (k, v) in [("format", format), ("think", think), ("tools", tools)] {
        if let Some(v) = v {
            native[k] = v;
        }
    }
    let req: ChatRequest = match serde_json::from_value(native) {
        Ok(q) => q,
        Err(e) => return bad(&e.to_string()),
    };
    let id = format!("chatcmpl-{}", rand::random_range(0..999));
    let created = now_unix();
    let resp = chat::chat(State(Arc::clone(&state)), ApiJson(req)).await;
    if !streaming {
        let v = match native_json(resp).await {
            Ok(v) => v,
            Err(e) => return e.openai(),
        };
        let calls = tool_calls(&v);
        let mut message = json!({"role": "assistant", "content": v.pointer("/message/content")});
        if let Some(t) = v
            .pointer("/message/thinking")
            .filter(|t| t.as_str().is_some_and(|s| !s.is_empty()))
        {
            message["reasoning"] = t.clone();
        }
        if let Some(c) = &calls {
            message["tool_calls"] = c.clone();
        }
        let mut choice = json!({"index": 0, "message": message, "finish_reason": finish_reason(&v, calls.is_some())});
        if let Some(lp) = openai_logprobs(&v) {
            choice["logprobs"] = lp;
        }
        return axum::Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": [choice],
            "usage": usage(&v),
        }))
        .into_response();
    }
    let chunk = {
        let (id, model) = (id.clone(), model.clone());
        move |choices: Value, usage: Option<Value>| {
            let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created,
                               "model": model, "system_fingerprint": "fp_ollama", "choices": choices});
            if let Some(u) = usage {
                c["usage"] = u;
            }
            c
        }
    };
    let last_chunk = chunk.clone();
    let usage_slot = Arc::new(std::sync::Mutex::new(None::<Value>));
    let usage_out = Arc::clone(&usage_slot);
    native_sse(
        resp,
        move |v| {
            let mut events = Vec::new();
            let delta = |k: &str, s: &Value| json!({"role": "assistant", k: s});
            if let Some(t) = v.pointer("/message/thinking").filter(|t| t.as_str().is_some_and(|s| !s.is_empty())) {
                events.push(chunk(json!([{"index": 0, "delta": delta("reasoning", t), "finish_reason": null}]), None));
            }
            if let Some(c) = v.pointer("/message/content").filter(|c| c.as_str().is_some_and(|s| !s.is_empty())) {
                let mut choice = json!({"index": 0, "delta": delta("content", c), "finish_reason": null});
                if let Some(lp) = openai_logprobs(v) {
                    choice["logprobs"] = lp;
                }
                events.push(chunk(json!([choice]), None));
            }
            let calls = tool_calls(v);
            if let Some(c) = &calls {
                events.push(chunk(json!([{"index": 0, "delta": {"role": "assistant", "tool_calls": c}, "finish_reason": null}]), None));
            }
            if v["done"].as_bool() == Some(true) {
                events.push(chunk(json!([{"index": 0, "delta": {}, "finish_reason": finish_reason(v, calls.is_some())}]), None));
                if let Ok(mut u) = usage_slot.lock() {
                    *u = Some(usage(v));
                }
            }
            events
        },
        move || match usage_out.lock().ok().and_then(|u| u.clone()) {
            Some(u) if include_usage => vec![last_chunk(json!([]), Some(u))],
            _ => Vec::new(),
        },
    )
    .await
}

/// `POST /v1/completions`.
pub async fn completions(State(state): State<super::State>, body: Bytes) -> Response {
    let r = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    let prompt = match r.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return bad("invalid prompt: only a string is supported"),
    };
    let streaming = r.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = r
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model = r
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut o = options(&r);
    o.entry("frequency_penalty").or_insert(json!(0.0));
    o.entry("presence_penalty").or_insert(json!(0.0));
    let mut native = json!({
        "model": model, "prompt": prompt, "stream": streaming, "options": o,
        "suffix": r.get("suffix").and_then(Value::as_str).unwrap_or_default(),
    });
    // `logprobs: N` (the legacy completions field, an integer) asks for each token's
    // log-probability and its N best alternatives.
    match r.get("logprobs") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64().is_some() => {
            native["logprobs"] = json!(true);
            native["top_logprobs"] = Value::Number(n.clone());
        }
        Some(other) => {
            return bad(&format!(
                "json: cannot unmarshal {} into Go struct field CompletionRequest.logprobs of type int",
                go_json_kind(other)
            ));
        }
    }
    let req: GenerateRequest = match serde_json::from_value(native) {
        Ok(q) => q,
        Err(e) => return bad(&e.to_string()),
    };
    let id = format!("cmpl-{}", rand::random_range(0..999));
    let created = now_unix();
    let resp = generate::generate(State(Arc::clone(&state)), ApiJson(req)).await;
    let body_of = {
        let (id, model) = (id.clone(), model.clone());
        move |choices: Value, usage: Option<Value>| {
            let mut c = json!({"id": id, "object": "text_completion", "created": created,
                               "model": model, "system_fingerprint": "fp_ollama", "choices": choices});
            if let Some(u) = usage {
                c["usage"] = u;
            }
            c
        }
    };
    if !streaming {
        let v = match native_json(resp).await {
            Ok(v) => v,
            Err(e) => return e.openai(),
        };
        return axum::Json(body_of(
            json!([completion_choice(&v, finish_reason(&v, false))]),
            Some(usage(&v)),
        ))
        .into_response();
    }
    let usage_slot = Arc::new(std::sync::Mutex::new(None::<Value>));
    let usage_out = Arc::clone(&usage_slot);
    let last_body = body_of.clone();
    native_sse(
        resp,
        move |v| {
            let done = v["done"].as_bool() == Some(true);
            let reason = if done {
                finish_reason(v, false)
            } else {
                Value::Null
            };
            if done && let Ok(mut u) = usage_slot.lock() {
                *u = Some(usage(v));
            }
            let zero = include_usage
                .then(|| json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}));
            vec![body_of(json!([completion_choice(v, reason)]), zero)]
        },
        move || match usage_out.lock().ok().and_then(|u| u.clone()) {
            Some(u) if include_usage => vec![last_body(json!([]), Some(u))],
            _ => Vec::new(),
        },
    )
    .await
}

/// `POST /v1/embeddings`.
pub async fn embeddings(State(state): State<super::State>, body: Bytes) -> Response {
    let r = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    let input = match r.get("input") {
        Some(Value::String(s)) => json!([s]),
        Some(Value::Array(a)) if !a.is_empty() => Value::Array(a.clone()),
        _ => return bad("invalid input"),
    };
    let encoding = r
        .get("encoding_format")
        .and_then(Value::as_str)
        .unwrap_or("float")
        .to_string();
    if encoding != "float" && encoding != "base64" {
        return bad(&format!(
            "Invalid value for 'encoding_format' = {encoding}. Supported values: ['float', 'base64']."
        ));
    }
    let model = r
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let native = json!({"model": model, "input": input, "dimensions": r.get("dimensions")});
    let req: embed::EmbedApiRequest = match serde_json::from_value(native) {
        Ok(q) => q,
        Err(e) => return bad(&e.to_string()),
    };
    let resp = match embed::embed(State(state), ApiJson(req)).await {
        Ok(j) => j.0,
        Err(e) => return e.openai(),
    };
    let data: Vec<Value> = resp
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if encoding == "base64" {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64(&bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "embedding": embedding, "index": i})
        })
        .collect();
    let tokens = resp.prompt_eval_count;
    axum::Json(json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn model_object(name: &str, modified: std::time::SystemTime) -> Value {
    let created = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The namespace: `library` for `gemma3`, `me` for `me/model`.
    let owner = name
        .split(':')
        .next()
        .and_then(|n| n.rsplit('/').nth(1))
        .unwrap_or("library");
    json!({"id": name, "object": "model", "created": created, "owned_by": owner})
}

/// `GET /v1/models`.
pub async fn models(State(state): State<super::State>) -> Response {
    let list = tokio::task::spawn_blocking(move || {
        let mut stored = state.store.list();
        stored.sort_by_key(|m| std::cmp::Reverse(m.modified));
        stored
            .into_iter()
            .map(|m| model_object(&m.name.display_shortest(), m.modified))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    axum::Json(json!({"object": "list", "data": list})).into_response()
}

/// `GET /v1/models/{model}`.
pub async fn model(State(state): State<super::State>, Path(name): Path<String>) -> Response {
    // The id is the name asked for, as Ollama echoes it (`g`, not `g:latest`).
    let asked = name.clone();
    let found = tokio::task::spawn_blocking(move || state.model(&name).map(|m| m.stored))
        .await
        .map_err(|e| ApiError::internal(e.to_string()));
    match found {
        Ok(Ok(stored)) => axum::Json(model_object(&asked, stored.modified)).into_response(),
        Ok(Err(e)) | Err(e) => e.openai(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

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

    #[test]
    fn parts_become_messages() {
        let m = messages(&[json!({"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]})])
        .unwrap_or_default();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["content"], "What is this?");
        assert_eq!(m[1]["images"], json!(["AAAA"]));
        assert!(messages(&[json!({"role": "user", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]})]).is_err());
    }
}
