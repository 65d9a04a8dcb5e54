//! `POST /v1/chat/completions`: OpenAI messages in (as the pipeline's chat input), a chat
//! completion (or its chunks) out.

use super::*;

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

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(state): State<crate::server::State>, body: Bytes) -> Response {
    let started = Instant::now();
    let r = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    let (streaming, include_usage, model) = stream_and_model(&r);
    let req = match request(&r, model.clone()) {
        Ok(q) => q,
        Err(e) => return e.openai(),
    };
    let whole = |w| answer(&model, w);
    let running = match infer::run_or_answer(
        &state,
        req,
        started,
        streaming,
        whole,
        ApiError::openai,
    )
    .await
    {
        Ok(running) => running,
        Err(response) => return response,
    };
    let id = format!("chatcmpl-{}", rand::random_range(0..999));
    let created = now_unix();
    let mut calls_sent = 0;
    sse(running, move |out| {
        let chunk = |delta: Delta<'_>, finish_reason: Option<&str>, logprobs: Option<Value>| {
            let choices = [Choice {
                index: 0,
                delta,
                finish_reason,
                logprobs,
            }];
            stream::sse_data(&Chunk::new(&id, created, &model, &choices))
        };
        let mut events = Vec::new();
        let mut piece = |p: infer::Piece, events: &mut Vec<Bytes>| {
            if !p.thinking.is_empty() {
                events.push(chunk(Delta::reasoning(&p.thinking), None, None));
            }
            if !p.content.is_empty() || !p.logprobs.is_empty() {
                let logprobs = openai_logprobs(&p.logprobs);
                events.push(chunk(Delta::content(&p.content), None, logprobs));
            }
            if !p.tool_calls.is_empty() {
                let calls = tool_calls(&p.tool_calls, calls_sent);
                calls_sent += p.tool_calls.len();
                let delta = Delta {
                    tool_calls: Some(calls),
                    ..Delta::default()
                };
                events.push(chunk(delta, None, None));
            }
        };
        match out {
            Out::Piece(p) => piece(p, &mut events),
            Out::Done(mut f) => {
                piece(std::mem::take(&mut f.rest), &mut events);
                let reason = finish_reason(&f, calls_sent > 0);
                let empty = Delta {
                    role: None,
                    ..Delta::default()
                };
                events.push(chunk(empty, reason.as_str(), None));
                if include_usage {
                    let mut c = Chunk::new(&id, created, &model, &[] as &[Choice<'_>]);
                    c.usage = Some(usage(&f));
                    events.push(stream::sse_data(&c));
                }
            }
            Out::Error(_) => {}
        }
        events
    })
    .await
}

/// A `chat.completion.chunk`, written without building a JSON tree for every token.
#[derive(serde::Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Value>,
}

impl<'a> Chunk<'a> {
    fn new(id: &'a str, created: i64, model: &'a str, choices: &'a [Choice<'a>]) -> Chunk<'a> {
        Chunk {
            id,
            object: "chat.completion.chunk",
            created,
            model,
            system_fingerprint: "fp_ollama",
            choices,
            usage: None,
        }
    }
}

#[derive(serde::Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Value>,
}

#[derive(serde::Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Value>,
}

impl Default for Delta<'_> {
    fn default() -> Self {
        Delta {
            role: Some("assistant"),
            content: None,
            reasoning: None,
            tool_calls: None,
        }
    }
}

impl<'a> Delta<'a> {
    fn content(text: &'a str) -> Delta<'a> {
        Delta {
            content: Some(text),
            ..Delta::default()
        }
    }

    fn reasoning(text: &'a str) -> Delta<'a> {
        Delta {
            reasoning: Some(text),
            ..Delta::default()
        }
    }
}

/// The pipeline's request for an OpenAI chat request.
fn request(r: &Map<String, Value>, model: String) -> Result<InferRequest, ApiError> {
    let list = r
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        return Err(invalid("[] is too short - 'messages'"));
    }
    let native = messages(&list)?;
    let mut format = format(r)?;
    let think = think(r)?;
    let messages =
        serde_json::from_value(Value::Array(native)).map_err(|e| invalid(&e.to_string()))?;
    let mut tools: Vec<Value> = match r.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(t) => serde_json::from_value(t.clone()).map_err(|e| invalid(&e.to_string()))?,
    };
    // Beyond Ollama, which ignores `tool_choice`: "none" hides the tools from the model;
    // "required" (or one named function) makes the answer a call, through the grammar.
    match r.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => tools.clear(),
        Some(choice @ (Value::String(_) | Value::Object(_))) if choice != "auto" => {
            let wanted = choice.pointer("/function/name").and_then(Value::as_str);
            if format.is_none() {
                format = crate::server::tools::forced_call(&tools, wanted);
            }
        }
        _ => {}
    }
    let logprobs = r.get("logprobs").and_then(Value::as_bool) == Some(true);
    let top_logprobs = match r.get("top_logprobs").filter(|n| logprobs && !n.is_null()) {
        None => None,
        Some(n) => Some(n.as_i64().ok_or_else(|| {
            invalid(&format!(
                "json: cannot unmarshal {} into Go struct field ChatRequest.top_logprobs of type int",
                go_json_kind(n)
            ))
        })?),
    };
    Ok(InferRequest {
        model,
        route: "chat",
        input: Input::Chat { messages, tools },
        options: Some(options(r)),
        format,
        think,
        logprobs,
        top_logprobs,
        truncate: true,
        ..InferRequest::default()
    })
}

/// A whole chat completion.
fn answer(model: &str, whole: infer::Whole) -> Response {
    let p = whole.piece;
    let mut message = json!({"role": "assistant", "content": p.content});
    if !p.thinking.is_empty() {
        message["reasoning"] = json!(p.thinking);
    }
    if !p.tool_calls.is_empty() {
        message["tool_calls"] = tool_calls(&p.tool_calls, 0);
    }
    let reason = finish_reason(&whole.finish, !p.tool_calls.is_empty());
    let mut choice = json!({"index": 0, "message": message, "finish_reason": reason});
    if let Some(lp) = openai_logprobs(&p.logprobs) {
        choice["logprobs"] = lp;
    }
    axum::Json(json!({
        "id": format!("chatcmpl-{}", rand::random_range(0..999)),
        "object": "chat.completion", "created": now_unix(), "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [choice],
        "usage": usage(&whole.finish),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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
