//! `POST /v1/chat/completions`: OpenAI messages in, the native chat run, a chat completion (or
//! its chunks) out.

use super::*;
use crate::server::chat;

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
    let (streaming, include_usage, model) = stream_and_model(&r);
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
