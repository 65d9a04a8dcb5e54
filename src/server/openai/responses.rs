//! `POST /v1/responses`, the OpenAI Responses API as Ollama serves it (stateless: no stored
//! responses, `previous_response_id` ignored): string or item input (messages, function calls
//! and their outputs, reasoning), `instructions`, `max_output_tokens`, function tools, in as
//! the pipeline's chat input; out as one `response` object or its event stream
//! (`response.created`, `response.in_progress`, reasoning and output-text deltas, function-call
//! items, `response.completed`), each event numbered. Beyond Ollama, `tool_choice` is honoured
//! as on chat completions.

use super::*;
use crate::api::types::Message;

/// `POST /v1/responses`.
pub async fn responses(State(state): State<crate::server::State>, body: Bytes) -> Response {
    let started = Instant::now();
    let r = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    let req = match request(&r) {
        Ok(q) => q,
        Err(e) => return e.openai(),
    };
    let streaming = r.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut shape = Shape::new(&r);
    let whole = |w| axum::Json(shape.whole(w)).into_response();
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
    stream::completion(running, Framing::Sse, move |out| shape.events(out))
        .await
        .unwrap_or_else(ApiError::openai)
}

/// The pipeline's request for a Responses request.
fn request(r: &Map<String, Value>) -> Result<InferRequest, ApiError> {
    let mut messages = Vec::new();
    if let Some(i) = r.get("instructions").and_then(Value::as_str) {
        messages.push(Message::new("system", i));
    }
    match r.get("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => messages.push(Message::new("user", s.clone())),
        Some(Value::Array(items)) => input_items(items, &mut messages)?,
        Some(other) => {
            return Err(invalid(&format!(
                "input must be a string or array: {other}"
            )));
        }
    }
    let mut o = Map::new();
    o.insert(
        "temperature".into(),
        r.get("temperature").cloned().unwrap_or(json!(1.0)),
    );
    if let Some(v) = r.get("top_p").filter(|v| !v.is_null()) {
        o.insert("top_p".into(), v.clone());
    }
    if let Some(v) = r.get("max_output_tokens").filter(|v| !v.is_null()) {
        o.insert("num_predict".into(), v.clone());
    }
    let effort = r
        .get("reasoning")
        .and_then(|c| c.get("effort"))
        .and_then(Value::as_str);
    let think = match effort {
        None => None,
        Some(e) => Some(effort_think(e).ok_or_else(|| {
            invalid(&format!(
                "invalid reasoning value: \"{e}\" (must be \"minimal\", \"low\", \"medium\", \"high\", \"xhigh\", \"ultra\", \"max\", or \"none\")"
            ))
        })?),
    };
    let mut format = match r.get("text").and_then(|t| t.get("format")) {
        Some(f) if f.get("type").and_then(Value::as_str) == Some("json_schema") => {
            f.get("schema").cloned()
        }
        _ => None,
    };
    let mut tools = tools(r.get("tools"));
    match r.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => tools.clear(),
        Some(choice @ (Value::String(_) | Value::Object(_))) if choice != "auto" => {
            let wanted = choice.get("name").and_then(Value::as_str);
            if format.is_none() {
                format = crate::server::tools::forced_call(&tools, wanted);
            }
        }
        _ => {}
    }
    Ok(InferRequest {
        model: r
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        route: "chat",
        input: Input::Chat { messages, tools },
        options: Some(o),
        format,
        think,
        truncate: true,
        ..InferRequest::default()
    })
}

/// Input items as native messages, in order.
fn input_items(items: &[Value], out: &mut Vec<Message>) -> Result<(), ApiError> {
    // A reasoning item's text waits for the assistant message or call that follows it.
    let mut thinking: Option<String> = None;
    for (i, item) in items.iter().enumerate() {
        let kind = match item.get("type").and_then(Value::as_str) {
            Some(t) => t,
            None if item.get("role").is_some() => "message",
            None => {
                return Err(invalid(&format!(
                    "input[{i}]: input item missing required 'type' field"
                )));
            }
        };
        match kind {
            "message" => {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
                let mut m = Message::new(role, "");
                content(item.get("content"), &mut m)?;
                if role == "assistant"
                    && let Some(t) = thinking.take()
                {
                    m.thinking = t;
                }
                out.push(m);
            }
            "function_call" => {
                let args = match item.get("arguments") {
                    Some(Value::String(s)) if !s.is_empty() => serde_json::from_str::<Value>(s)
                        .map_err(|e| {
                            invalid(&format!("failed to parse function call arguments: {e}"))
                        })?,
                    _ => json!({}),
                };
                let call = json!({"id": item.get("call_id"),
                                  "function": {"name": item.get("name"), "arguments": args}});
                match out.last_mut().filter(|m| m.role == "assistant") {
                    Some(m) => m.tool_calls.push(call),
                    None => {
                        let mut m = Message::new("assistant", "");
                        m.tool_calls.push(call);
                        out.push(m);
                    }
                }
                if let (Some(t), Some(m)) = (thinking.take(), out.last_mut()) {
                    m.thinking = t;
                }
            }
            "function_call_output" => {
                let mut m = Message::new("tool", "");
                match item.get("output") {
                    Some(Value::String(s)) => m.content = s.clone(),
                    other => content(other, &mut m)?,
                }
                m.tool_call_id = item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                out.push(m);
            }
            "reasoning" => {
                thinking = item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .map(String::from);
            }
            "web_search_call" => {}
            other => {
                return Err(invalid(&format!(
                    "input[{i}]: unknown input item type: \"{other}\""
                )));
            }
        }
    }
    if let Some(t) = thinking {
        let mut m = Message::new("assistant", "");
        m.thinking = t;
        out.push(m);
    }
    Ok(())
}

/// A message's content: a string, or parts (text concatenated, data-URL images kept).
fn content(c: Option<&Value>, m: &mut Message) -> Result<(), ApiError> {
    let parts = match c {
        Some(Value::String(s)) => {
            m.content.push_str(s);
            return Ok(());
        }
        Some(Value::Array(p)) => p,
        _ => return Ok(()),
    };
    for (j, p) in parts.iter().enumerate() {
        match p.get("type").and_then(Value::as_str).unwrap_or_default() {
            "input_text" | "output_text" => {
                m.content
                    .push_str(p.get("text").and_then(Value::as_str).unwrap_or_default());
            }
            "input_image" => {
                let Some(url) = p.get("image_url").and_then(Value::as_str) else {
                    continue;
                };
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
                m.images.push(data.to_string());
            }
            "input_file" => return Err(invalid("file inputs are not currently supported")),
            other => {
                return Err(invalid(&format!(
                    "content[{j}]: unknown content type: {other}"
                )));
            }
        }
    }
    Ok(())
}

/// Responses tools as native ones: flat functions, namespace members as `ns.name`; other types
/// pass with their own `type`.
fn tools(tools: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::new();
    let function = |t: &Value, name: String| {
        json!({"type": "function", "function": {"name": name,
               "description": t.get("description"), "parameters": t.get("parameters")}})
    };
    for t in tools.and_then(Value::as_array).into_iter().flatten() {
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        match t.get("type").and_then(Value::as_str) {
            Some("function") => out.push(function(t, name.to_string())),
            Some("namespace") => {
                for m in t
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let member = m.get("name").and_then(Value::as_str).unwrap_or_default();
                    out.push(function(m, format!("{name}.{member}")));
                }
            }
            _ => out.push(t.clone()),
        }
    }
    out
}

/// The response object as it grows, and the stream's numbering.
struct Shape {
    id: String,
    msg_id: String,
    created: i64,
    /// The request fields the response echoes.
    echo: Map<String, Value>,
    seq: u64,
    output: Vec<Value>,
    thinking: String,
    thinking_open: bool,
    text: String,
    text_open: bool,
    calls: usize,
}

impl Shape {
    fn new(r: &Map<String, Value>) -> Shape {
        let n = rand::random_range(0..999_999);
        Shape {
            id: format!("resp_{n}"),
            msg_id: format!("msg_{}", rand::random_range(0..999_999)),
            created: now_unix(),
            echo: r.clone(),
            seq: 0,
            output: Vec::new(),
            thinking: String::new(),
            thinking_open: false,
            text: String::new(),
            text_open: false,
            calls: 0,
        }
    }

    /// The `response` object with `status`, `output` and `usage`.
    fn response(&self, status: &str, usage: Option<Value>) -> Value {
        let e = |k: &str, default: Value| {
            self.echo
                .get(k)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or(default)
        };
        let completed = status == "completed";
        json!({
            "id": self.id, "object": "response", "created_at": self.created,
            "completed_at": if completed { json!(now_unix()) } else { Value::Null },
            "status": status, "incomplete_details": null, "model": e("model", json!("")),
            "previous_response_id": null, "instructions": e("instructions", Value::Null),
            "output": self.output, "error": null, "tools": e("tools", json!([])),
            "tool_choice": "auto", "truncation": e("truncation", json!("disabled")),
            "parallel_tool_calls": true, "text": e("text", json!({"format": {"type": "text"}})),
            "top_p": e("top_p", json!(1.0)), "presence_penalty": 0, "frequency_penalty": 0,
            "top_logprobs": 0, "temperature": e("temperature", json!(1.0)),
            "reasoning": e("reasoning", Value::Null), "usage": usage,
            "max_output_tokens": e("max_output_tokens", Value::Null), "max_tool_calls": null,
            "store": false, "background": e("background", json!(false)),
            "service_tier": "default", "metadata": {}, "safety_identifier": null,
            "prompt_cache_key": null,
        })
    }

    fn reasoning_item(&self) -> Value {
        json!({"id": format!("rs_{}", self.id), "type": "reasoning",
               "summary": [{"type": "summary_text", "text": self.thinking}],
               "encrypted_content": self.thinking})
    }

    fn message_item(&self, status: &str) -> Value {
        let content = if status == "completed" {
            json!([{"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}])
        } else {
            json!([])
        };
        json!({"id": self.msg_id, "type": "message", "status": status, "role": "assistant",
               "content": content})
    }

    fn call_item(&self, call: &Value, i: usize, status: &str) -> Value {
        let args = call
            .pointer("/function/arguments")
            .map(|a| a.to_string())
            .unwrap_or_else(|| "{}".into());
        json!({"id": format!("fc_{}_{i}", self.id), "type": "function_call", "status": status,
               "call_id": call_id(call), "name": call.pointer("/function/name"),
               "arguments": if status == "completed" { json!(args) } else { json!("") }})
    }

    /// The whole response.
    fn whole(&mut self, whole: infer::Whole) -> Value {
        let p = whole.piece;
        if !p.thinking.is_empty() {
            self.thinking = p.thinking;
            self.output.push(self.reasoning_item());
        }
        if p.tool_calls.is_empty() {
            self.text = p.content;
            self.output.push(self.message_item("completed"));
        }
        for (i, c) in p.tool_calls.iter().enumerate() {
            self.output.push(self.call_item(c, i, "completed"));
        }
        self.response("completed", Some(usage_of(&whole.finish)))
    }

    fn event(&mut self, name: &str, mut data: Value) -> Bytes {
        data["type"] = json!(name);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        stream::sse_event(name, &data)
    }

    /// The stream events for one pipeline event.
    fn events(&mut self, out: Out) -> Vec<Bytes> {
        let mut ev = Vec::new();
        if self.seq == 0 {
            let r = self.response("in_progress", None);
            ev.push(self.event("response.created", json!({"response": r})));
            let r = self.response("in_progress", None);
            ev.push(self.event("response.in_progress", json!({"response": r})));
        }
        match out {
            Out::Piece(p) => self.piece(p, &mut ev),
            Out::Done(mut f) => {
                self.piece(std::mem::take(&mut f.rest), &mut ev);
                self.close_reasoning(&mut ev);
                self.close_text(&mut ev);
                let r = self.response("completed", Some(usage_of(&f)));
                ev.push(self.event("response.completed", json!({"response": r})));
            }
            Out::Error(e) => {
                let data = json!({"code": null, "message": e.message, "param": null});
                ev.push(self.event("error", data));
            }
        }
        ev
    }

    fn piece(&mut self, p: infer::Piece, ev: &mut Vec<Bytes>) {
        let index = self.output.len();
        if !p.thinking.is_empty() && self.text.is_empty() && self.calls == 0 {
            if !self.thinking_open {
                self.thinking_open = true;
                let item =
                    json!({"id": format!("rs_{}", self.id), "type": "reasoning", "summary": []});
                ev.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                ));
            }
            self.thinking.push_str(&p.thinking);
            let data = json!({"item_id": format!("rs_{}", self.id), "output_index": index,
                              "summary_index": 0, "delta": p.thinking});
            ev.push(self.event("response.reasoning_summary_text.delta", data));
        }
        if !p.content.is_empty() && self.calls == 0 {
            self.close_reasoning(ev);
            let index = self.output.len();
            if !self.text_open {
                self.text_open = true;
                let item = self.message_item("in_progress");
                ev.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                ));
                let part =
                    json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
                let data = json!({"item_id": self.msg_id, "output_index": index, "content_index": 0, "part": part});
                ev.push(self.event("response.content_part.added", data));
            }
            self.text.push_str(&p.content);
            let data = json!({"item_id": self.msg_id, "output_index": index, "content_index": 0,
                              "delta": p.content, "logprobs": []});
            ev.push(self.event("response.output_text.delta", data));
        }
        for call in &p.tool_calls {
            self.close_reasoning(ev);
            // Text next to calls is dropped, as Ollama drops it.
            self.text_open = false;
            let i = self.calls;
            self.calls += 1;
            let index = self.output.len();
            let item = self.call_item(call, i, "in_progress");
            let done = self.call_item(call, i, "completed");
            let id = done["id"].clone();
            let args = done["arguments"].clone();
            ev.push(self.event(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            ));
            let data = json!({"item_id": id, "output_index": index, "delta": args});
            ev.push(self.event("response.function_call_arguments.delta", data));
            let data = json!({"item_id": id, "output_index": index, "arguments": args});
            ev.push(self.event("response.function_call_arguments.done", data));
            ev.push(self.event(
                "response.output_item.done",
                json!({"output_index": index, "item": done}),
            ));
            self.output.push(done);
        }
    }

    fn close_reasoning(&mut self, ev: &mut Vec<Bytes>) {
        if !self.thinking_open {
            return;
        }
        self.thinking_open = false;
        let index = self.output.len();
        let item = self.reasoning_item();
        let data = json!({"item_id": item["id"], "output_index": index, "summary_index": 0,
                          "text": self.thinking});
        ev.push(self.event("response.reasoning_summary_text.done", data));
        ev.push(self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
        self.output.push(item);
    }

    fn close_text(&mut self, ev: &mut Vec<Bytes>) {
        if !self.text_open {
            return;
        }
        self.text_open = false;
        let index = self.output.len();
        let data = json!({"item_id": self.msg_id, "output_index": index, "content_index": 0,
                          "text": self.text, "logprobs": []});
        ev.push(self.event("response.output_text.done", data));
        let part =
            json!({"type": "output_text", "text": self.text, "annotations": [], "logprobs": []});
        let data = json!({"item_id": self.msg_id, "output_index": index, "content_index": 0, "part": part});
        ev.push(self.event("response.content_part.done", data));
        let item = self.message_item("completed");
        ev.push(self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
        self.output.push(item);
    }
}

/// Usage in the Responses shape; `cached_tokens` counts the prompt cache's reuse.
fn usage_of(f: &Finish) -> Value {
    let (i, o) = (f.metrics.prompt_eval_count, f.metrics.eval_count);
    json!({"input_tokens": i, "output_tokens": o, "total_tokens": i + o,
           "input_tokens_details": {"cached_tokens": f.cached_tokens},
           "output_tokens_details": {"reasoning_tokens": 0}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Result<InferRequest, ApiError> {
        match v {
            Value::Object(m) => request(&m),
            _ => Err(invalid("not an object")),
        }
    }

    #[test]
    fn items_become_messages() {
        let r = req(json!({"model": "m", "instructions": "Be brief.", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "reasoning", "encrypted_content": "look it up", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ], "max_output_tokens": 9}))
        .ok();
        let Some(InferRequest {
            input: Input::Chat { messages, .. },
            options,
            ..
        }) = r
        else {
            panic!("not a chat request");
        };
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool"]);
        assert_eq!(messages[2].thinking, "look it up");
        assert_eq!(
            messages[2].tool_calls[0]["function"]["arguments"]["city"],
            "Paris"
        );
        assert_eq!(messages[3].tool_call_id, "c1");
        let o = options.unwrap_or_default();
        assert_eq!(
            (o["num_predict"].clone(), o["temperature"].clone()),
            (json!(9), json!(1.0))
        );
    }

    #[test]
    fn bad_items_are_ollamas_400s() {
        let err = |v: Value| req(v).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(
            err(json!({"input": [{"content": "x"}]})),
            "input[0]: input item missing required 'type' field"
        );
        assert_eq!(
            err(json!({"input": [{"type": "bogus"}]})),
            "input[0]: unknown input item type: \"bogus\""
        );
        assert_eq!(
            err(json!({"input": 5})),
            "input must be a string or array: 5"
        );
        assert!(
            err(json!({"input": "x", "reasoning": {"effort": "loud"}}))
                .starts_with("invalid reasoning value: \"loud\"")
        );
        assert_eq!(
            err(
                json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]})
            ),
            "file inputs are not currently supported"
        );
    }
}
