//! `POST /v1/completions`: a prompt in (as the pipeline's generate input), a text completion
//! (or its chunks) out.

use super::*;

/// `POST /v1/completions`.
pub async fn completions(State(state): State<crate::server::State>, body: Bytes) -> Response {
    let started = Instant::now();
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
    // `logprobs: N` (the legacy completions field, an integer) asks for each token's
    // log-probability and its N best alternatives.
    let (logprobs, top_logprobs) = match r.get("logprobs") {
        None | Some(Value::Null) => (false, None),
        Some(Value::Number(n)) if n.as_u64().is_some() => (true, n.as_i64()),
        Some(other) => {
            return bad(&format!(
                "json: cannot unmarshal {} into Go struct field CompletionRequest.logprobs of type int",
                go_json_kind(other)
            ));
        }
    };
    let req = InferRequest {
        model: model.clone(),
        route: "generate",
        input: Input::Generate(infer::Generate {
            prompt,
            suffix: r
                .get("suffix")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            ..infer::Generate::default()
        }),
        options: Some(o),
        logprobs,
        top_logprobs,
        ..InferRequest::default()
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
    let id = format!("cmpl-{}", rand::random_range(0..999));
    let created = now_unix();
    let body_of = move |choices: Value, usage: Option<Value>| {
        let mut c = json!({"id": id, "object": "text_completion", "created": created,
                           "model": model, "system_fingerprint": "fp_ollama", "choices": choices});
        if let Some(u) = usage {
            c["usage"] = u;
        }
        stream::sse_data(&c)
    };
    let zero = include_usage
        .then(|| json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}));
    sse(running, move |out| match out {
        Out::Piece(p) => vec![body_of(
            json!([choice(&p.content, &p.logprobs, Value::Null)]),
            zero.clone(),
        )],
        Out::Done(f) => {
            let reason = finish_reason(&f, false);
            let mut events = vec![body_of(
                json!([choice(&f.rest.content, &f.rest.logprobs, reason)]),
                zero.clone(),
            )];
            if include_usage {
                events.push(body_of(json!([]), Some(usage(&f))));
            }
            events
        }
        Out::Error(_) => Vec::new(),
    })
    .await
}

/// A choice; `logprobs` only when asked for (Ollama's `omitempty`).
fn choice(text: &str, logprobs: &[Logprob], finish_reason: Value) -> Value {
    let mut c = json!({"text": text, "index": 0, "finish_reason": finish_reason});
    if let Some(lp) = openai_logprobs(logprobs) {
        c["logprobs"] = lp;
    }
    c
}

/// A whole text completion.
fn answer(model: &str, whole: infer::Whole) -> Response {
    let p = &whole.piece;
    axum::Json(json!({
        "id": format!("cmpl-{}", rand::random_range(0..999)),
        "object": "text_completion", "created": now_unix(), "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [choice(&p.content, &p.logprobs, finish_reason(&whole.finish, false))],
        "usage": usage(&whole.finish),
    }))
    .into_response()
}
