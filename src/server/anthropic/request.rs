//! An Anthropic Messages request as the pipeline's [`InferRequest`], with Ollama's validation
//! (each failure a 400, in Ollama's order) and field mapping: `system` (string or text blocks,
//! joined without a separator), content blocks (text, base64 images, `tool_use`,
//! `tool_result` as tool messages, `thinking`), `max_tokens`, `stop_sequences`,
//! `temperature`/`top_p`/`top_k`, tools, `thinking` / `output_config.effort`. Beyond Ollama,
//! `tool_choice` is honoured (`none` hides the tools, `any` and `tool` force a call).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::api::types::Message;
use crate::server::error::{ApiError, go_json_kind};
use crate::server::infer::{InferRequest, Input};

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// What a Messages request asks for: the pipeline's request and whether to stream.
pub struct Parsed {
    pub request: InferRequest,
    pub stream: bool,
    /// Ollama's estimate of the input tokens (characters / 4), for `message_start`.
    pub estimate: u64,
}

/// Parses a `/v1/messages` body. `count_only` (count_tokens) needs no `max_tokens`.
pub fn parse(body: &[u8], count_only: bool) -> Result<Parsed, ApiError> {
    let r = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(bad("request body must be a JSON object")),
        Err(e) => return Err(bad(e.to_string())),
    };
    let model = match r.get("model") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(bad("model is required"));
        }
        Some(_) => return Err(bad("model must be a string")),
    };
    let max_tokens = r.get("max_tokens").and_then(Value::as_i64).unwrap_or(0);
    if !count_only && max_tokens <= 0 {
        return Err(bad("max_tokens is required and must be positive"));
    }
    let list = match r.get("messages") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(bad("messages is required")),
    };
    let mut messages = Vec::new();
    if let Some(system) = system_text(r.get("system")) {
        messages.push(Message::new("system", system));
    }
    for m in list {
        convert_message(m, &mut messages)?;
    }
    let mut tools = tools(r.get("tools"))?;
    let mut format = None;
    match r
        .get("tool_choice")
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
    {
        Some("none") => tools.clear(),
        Some("any") => format = crate::server::tools::forced_call(&tools, None),
        Some("tool") => {
            let name = r
                .get("tool_choice")
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str);
            format = crate::server::tools::forced_call(&tools, name);
        }
        _ => {}
    }
    let estimate = estimate(&r);
    Ok(Parsed {
        request: InferRequest {
            model,
            route: "chat",
            input: Input::Chat { messages, tools },
            options: Some(options(&r, max_tokens)),
            format,
            think: think(&r),
            relax_thinking: true,
            truncate: true,
            ..InferRequest::default()
        },
        stream: r.get("stream").and_then(Value::as_bool).unwrap_or(false),
        estimate,
    })
}

/// `system` as one text: a string, or the text of its `text` blocks joined without a separator.
fn system_text(system: Option<&Value>) -> Option<String> {
    let text = match system? {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// One Anthropic message as native ones: the combined message (if it has text, images, calls
/// or thinking) and a tool message per `tool_result`, before it for a user, after otherwise.
fn convert_message(m: &Value, out: &mut Vec<Message>) -> Result<(), ApiError> {
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase();
    let blocks = match m.get("content") {
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let mut msg = Message::new(&role, "");
    let mut results = Vec::new();
    for b in &blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => msg
                .content
                .push_str(b.get("text").and_then(Value::as_str).unwrap_or_default()),
            Some("image") => msg.images.push(image(b.get("source"))?),
            Some("tool_use") => {
                let id = b.get("id").and_then(Value::as_str);
                let Some(id) = id else {
                    return Err(bad("tool_use block missing required 'id' field"));
                };
                let Some(name) = b.get("name").and_then(Value::as_str) else {
                    return Err(bad("tool_use block missing required 'name' field"));
                };
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                msg.tool_calls
                    .push(json!({"id": id, "function": {"name": name, "arguments": input}}));
            }
            Some("tool_result") => results.push(tool_result(b)?),
            Some("thinking") => {
                msg.thinking = b
                    .get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
            }
            _ => {}
        }
    }
    let keep = !msg.content.is_empty()
        || !msg.images.is_empty()
        || !msg.tool_calls.is_empty()
        || !msg.thinking.is_empty();
    if role == "user" {
        out.extend(results);
        if keep {
            out.push(msg);
        }
    } else {
        if keep {
            out.push(msg);
        }
        out.extend(results);
    }
    Ok(())
}

/// A `tool_result` block as a tool message.
fn tool_result(b: &Value) -> Result<Message, ApiError> {
    let mut msg = Message::new("tool", "");
    match b.get("content") {
        Some(Value::String(s)) => msg.content = s.clone(),
        Some(Value::Array(parts)) => {
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => msg
                        .content
                        .push_str(p.get("text").and_then(Value::as_str).unwrap_or_default()),
                    Some("image") => match p.get("source") {
                        Some(s @ Value::Object(_)) => msg.images.push(image(Some(s))?),
                        _ => return Err(bad("invalid tool_result image source")),
                    },
                    _ => {}
                }
            }
        }
        _ => {}
    }
    msg.tool_call_id = b
        .get("tool_use_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(msg)
}

/// An image block's base64 data, checked.
fn image(source: Option<&Value>) -> Result<String, ApiError> {
    let Some(source) = source.filter(|s| s.is_object()) else {
        return Err(bad("invalid image source"));
    };
    let kind = source
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "base64" {
        return Err(bad(format!(
            "invalid image source type: {kind}. Only base64 images are supported."
        )));
    }
    let data = source
        .get("data")
        .and_then(Value::as_str)
        .unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| {
            bad(format!(
                "invalid base64 image data: {}",
                go_base64_error(&e)
            ))
        })?;
    Ok(data.to_string())
}

/// A base64 error as Go's `encoding/base64` words it.
fn go_base64_error(e: &base64::DecodeError) -> String {
    use base64::DecodeError::*;
    match e {
        InvalidByte(at, _) | InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        InvalidLength(n) => format!("illegal base64 data at input byte {n}"),
        InvalidPadding => "illegal base64 data at input byte 0".to_string(),
    }
}

/// Anthropic tools as native function tools.
fn tools(tools: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    let Some(Value::Array(list)) = tools else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for t in list {
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        let schema = t.get("input_schema").cloned().unwrap_or(Value::Null);
        if !matches!(schema, Value::Object(_) | Value::Null) {
            return Err(bad(format!(
                "invalid input_schema for tool \"{name}\": json: cannot unmarshal {} into Go value of type api.ToolFunctionParameters",
                go_json_kind(&schema)
            )));
        }
        let mut function = json!({"name": name, "parameters": schema});
        if let Some(d) = t.get("description").and_then(Value::as_str) {
            function["description"] = json!(d);
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// `max_tokens`, `stop_sequences`, and the sampling fields that are present.
fn options(r: &Map<String, Value>, max_tokens: i64) -> Map<String, Value> {
    let mut o = Map::new();
    if max_tokens > 0 {
        o.insert("num_predict".into(), json!(max_tokens));
    }
    if let Some(stop) = r.get("stop_sequences").filter(|s| s.is_array()) {
        o.insert("stop".into(), stop.clone());
    }
    for k in ["temperature", "top_p", "top_k"] {
        if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
            o.insert(k.into(), v.clone());
        }
    }
    o
}

/// `thinking.type` (enabled / disabled), else `output_config.effort` as a level.
fn think(r: &Map<String, Value>) -> Option<Value> {
    match r
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
    {
        Some("enabled") => return Some(json!(true)),
        Some("disabled") => return Some(json!(false)),
        _ => {}
    }
    let effort = r
        .get("output_config")
        .and_then(|c| c.get("effort"))
        .and_then(Value::as_str)?;
    match effort.trim().to_lowercase().as_str() {
        l @ ("low" | "medium" | "high" | "max") => Some(json!(l)),
        "xhigh" => Some(json!("high")),
        _ => None,
    }
}

/// Ollama's input estimate: the characters of the system text, each role and text or thinking,
/// the JSON of tool blocks and the tools, divided by 4, at least 1.
fn estimate(r: &Map<String, Value>) -> u64 {
    let mut chars = system_text(r.get("system")).map_or(0, |s| s.chars().count());
    for m in r
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        chars += m.get("role").and_then(Value::as_str).map_or(0, str::len);
        match m.get("content") {
            Some(Value::String(s)) => chars += s.chars().count(),
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    chars += match b.get("type").and_then(Value::as_str) {
                        Some("text") => b["text"].as_str().map_or(0, |s| s.chars().count()),
                        Some("thinking") => b["thinking"].as_str().map_or(0, |s| s.chars().count()),
                        Some("tool_use" | "tool_result") => b.to_string().len(),
                        _ => 0,
                    };
                }
            }
            _ => {}
        }
    }
    for t in r
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        chars += t.get("name").and_then(Value::as_str).map_or(0, str::len);
        chars += t
            .get("description")
            .and_then(Value::as_str)
            .map_or(0, str::len);
        chars += t.get("input_schema").map_or(0, |s| s.to_string().len());
    }
    (chars as u64 / 4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(v: Value) -> Result<Parsed, ApiError> {
        parse(v.to_string().as_bytes(), false)
    }

    fn messages(p: &Parsed) -> &[Message] {
        match &p.request.input {
            Input::Chat { messages, .. } => messages,
            Input::Generate(_) => &[],
        }
    }

    #[test]
    fn validation_follows_ollamas_order_and_words() {
        let err = |v: Value| parse_json(v).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(err(json!({"max_tokens": 5})), "model is required");
        assert_eq!(
            err(json!({"model": "m", "messages": []})),
            "max_tokens is required and must be positive"
        );
        assert_eq!(
            err(json!({"model": "m", "max_tokens": 5})),
            "messages is required"
        );
        let with = |block: Value| json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [block]}]});
        assert_eq!(err(with(json!({"type": "image"}))), "invalid image source");
        assert_eq!(
            err(with(
                json!({"type": "image", "source": {"type": "url", "url": "http://x"}})
            )),
            "invalid image source type: url. Only base64 images are supported."
        );
        assert_eq!(
            err(with(
                json!({"type": "image", "source": {"type": "base64", "data": "!!"}})
            )),
            "invalid base64 image data: illegal base64 data at input byte 0"
        );
        assert_eq!(
            err(with(json!({"type": "tool_use", "name": "f"}))),
            "tool_use block missing required 'id' field"
        );
        assert_eq!(
            err(with(
                json!({"type": "tool_result", "tool_use_id": "a", "content": [{"type": "image", "source": "x"}]})
            )),
            "invalid tool_result image source"
        );
    }

    #[test]
    fn blocks_map_to_native_messages() {
        let p = parse_json(json!({
            "model": "m", "max_tokens": 7, "stop_sequences": ["END"], "top_k": 3,
            "system": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "call it", "signature": "s"},
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "Thanks"}]},
            ],
            "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
            "thinking": {"type": "enabled", "budget_tokens": 100},
        }))
        .ok()
        .unwrap_or_else(|| panic!("parse failed"));
        let m = messages(&p);
        let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        assert_eq!(m[0].content, "Be brief.");
        assert_eq!(m[2].thinking, "call it");
        assert_eq!(m[2].tool_calls[0]["function"]["arguments"]["city"], "Paris");
        assert_eq!(
            (m[3].content.as_str(), m[3].tool_call_id.as_str()),
            ("sunny", "t1")
        );
        let o = p.request.options.clone().unwrap_or_default();
        assert_eq!(o["num_predict"], 7);
        assert_eq!(o["stop"], json!(["END"]));
        assert_eq!(o["top_k"], 3);
        assert!(o.get("temperature").is_none(), "no forced temperature");
        assert_eq!(p.request.think, Some(json!(true)));
        assert!(p.request.relax_thinking);
        assert!(!p.stream);
    }

    #[test]
    fn tool_choice_is_honoured() {
        let req = |choice: Value| {
            parse_json(json!({"model": "m", "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "a", "input_schema": {"type": "object"}},
                          {"name": "b", "input_schema": {"type": "object"}}],
                "tool_choice": choice}))
            .ok()
            .map(|p| p.request)
        };
        let none = req(json!({"type": "none"}));
        assert!(
            matches!(none.as_ref().map(|r| &r.input), Some(Input::Chat { tools, .. }) if tools.is_empty())
        );
        let any = req(json!({"type": "any"})).and_then(|r| r.format);
        assert_eq!(
            any.as_ref()
                .and_then(|f| f["anyOf"].as_array())
                .map(Vec::len),
            Some(2)
        );
        let one = req(json!({"type": "tool", "name": "b"})).and_then(|r| r.format);
        assert_eq!(
            one.map(|f| f["properties"]["name"]["const"].clone()),
            Some(json!("b"))
        );
        assert_eq!(req(json!({"type": "auto"})).and_then(|r| r.format), None);
    }
}
