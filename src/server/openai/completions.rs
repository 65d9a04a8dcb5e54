//! `POST /v1/completions`: a prompt in, the native generate run, a text completion (or its
//! chunks) out.

use super::*;
use crate::server::generate;

/// `POST /v1/completions`.
pub async fn completions(State(state): State<crate::server::State>, body: Bytes) -> Response {
    let r = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.openai(),
    };
    let prompt = match r.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return bad("invalid prompt: only a string is supported"),
    };
    let (streaming, include_usage, model) = stream_and_model(&r);
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
