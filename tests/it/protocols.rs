//! Anthropic Messages and OpenAI Responses over real HTTP on the real model, for what the
//! official clients do not show: the exact SSE event sequences (Anthropic's `ping`, numbered
//! Responses events), error shapes and statuses, `count_tokens`, and that every protocol gives
//! the same greedy answer as the native `/api/chat` it shares a pipeline with.

use serde_json::{Value, json};

use crate::harness::*;

/// POSTs JSON with headers; returns status, content type and the raw body.
async fn post_raw(
    s: &Server,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = http().post(s.url(path)).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ctype, r.text().await.expect("body"))
}

/// The `(event, data)` pairs of an SSE body.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d)
                        .unwrap_or_else(|err| panic!("bad data {d:?}: {err}"));
                }
            }
            (name, data)
        })
        .collect()
}

fn greedy() -> Value {
    json!([{"role": "user", "content": "Name three colours."}])
}

/// The native answer the other protocols must match.
async fn native_text(s: &Server) -> String {
    let (status, r) = post(
        s,
        "/api/chat",
        json!({"model": MODEL, "messages": greedy(), "stream": false,
               "options": {"temperature": 0, "num_predict": 12}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    r["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_messages_match_native_chat_and_stream_the_full_event_sequence() {
    let s = Server::start();
    let native = native_text(&s).await;
    assert!(!native.is_empty());
    let body = json!({"model": MODEL, "max_tokens": 12, "temperature": 0, "messages": greedy()});
    let headers = [
        ("x-api-key", "anything"),
        ("anthropic-version", "2023-06-01"),
    ];
    let (status, ctype, text) =
        post_raw(&s, "/v1/messages?beta=true", body.clone(), &headers).await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "application/json"),
        "{text}"
    );
    let m: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        m["content"][0],
        json!({"type": "text", "text": native}),
        "{m}"
    );
    let id = m["id"].as_str().unwrap();
    assert!(id.len() == 28 && id.starts_with("msg_"), "{id}");
    assert_eq!(m["usage"]["output_tokens"], 12, "{m}");
    assert_eq!(m["stop_reason"], "max_tokens");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, ctype, text) = post_raw(&s, "/v1/messages", streamed, &headers).await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "text/event-stream"),
        "{text}"
    );
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..3],
        ["message_start", "ping", "content_block_start"],
        "{names:?}"
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "each event's type is its name");
    }
    let deltas: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(deltas, native);
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(
        delta["usage"], m["usage"],
        "the final counts are the whole answer's"
    );
    assert!(
        events[0].1["message"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_errors_and_count_tokens() {
    let s = Server::start();
    let cases = [
        (
            json!({"max_tokens": 5, "messages": greedy()}),
            400,
            "invalid_request_error",
            "model is required",
        ),
        (
            json!({"model": MODEL, "messages": greedy()}),
            400,
            "invalid_request_error",
            "max_tokens is required and must be positive",
        ),
        (
            json!({"model": MODEL, "max_tokens": 5}),
            400,
            "invalid_request_error",
            "messages is required",
        ),
        (
            json!({"model": "nope", "max_tokens": 5, "messages": greedy()}),
            404,
            "not_found_error",
            "model 'nope' not found",
        ),
        (
            json!({"model": MODEL, "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "http://x/y.png"}}]}]}),
            400,
            "invalid_request_error",
            "invalid image source type: url. Only base64 images are supported.",
        ),
    ];
    for (body, want_status, kind, message) in cases {
        let (status, ctype, text) = post_raw(&s, "/v1/messages", body.clone(), &[]).await;
        assert_eq!(
            (status, ctype.as_str()),
            (want_status, "application/json"),
            "{body}: {text}"
        );
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(e["type"], "error", "{e}");
        assert_eq!(e["error"]["type"], kind, "{e}");
        assert_eq!(e["error"]["message"], message, "{e}");
        assert!(
            e["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_")),
            "{e}"
        );
    }
    let (status, bad) = post(&s, "/v1/messages", json!("not an object")).await;
    assert_eq!(status, 400, "{bad}");
    // count_tokens: the rendered prompt's tokens, which is what generation then evaluates.
    let ask = json!({"model": MODEL, "system": "Be brief.", "messages": greedy()});
    let (status, n) = post(&s, "/v1/messages/count_tokens", ask.clone()).await;
    assert_eq!(status, 200, "{n}");
    let mut gen_req = ask.clone();
    gen_req["max_tokens"] = json!(1);
    let (_, m) = post(&s, "/v1/messages", gen_req).await;
    assert_eq!(n["input_tokens"], m["usage"]["input_tokens"], "{n} {m}");
    let mut longer = ask.clone();
    longer["system"] = json!("Be brief, and answer in full sentences every time.");
    let (_, more) = post(&s, "/v1/messages/count_tokens", longer).await;
    assert!(
        more["input_tokens"].as_u64() > n["input_tokens"].as_u64(),
        "{more} {n}"
    );
    let (status, e) = post(
        &s,
        "/v1/messages/count_tokens",
        json!({"model": "nope", "messages": greedy()}),
    )
    .await;
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (404, Some("not_found_error")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_match_native_chat_with_numbered_events() {
    let s = Server::start();
    let native = native_text(&s).await;
    let body = json!({"model": MODEL, "input": "Name three colours.", "max_output_tokens": 12, "temperature": 0});
    let (status, r) = post(&s, "/v1/responses", body.clone()).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    let out = r["output"].as_array().unwrap();
    assert_eq!(out.len(), 1, "{r}");
    assert_eq!(out[0]["type"], "message");
    assert_eq!(out[0]["content"][0]["text"], native.as_str(), "{r}");
    assert_eq!(r["usage"]["output_tokens"], 12, "{r}");
    assert_eq!(r["max_output_tokens"], 12, "echoed");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, ctype, text) = post_raw(&s, "/v1/responses", streamed, &[]).await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "text/event-stream"),
        "{text}"
    );
    assert!(
        !text.contains("[DONE]"),
        "Responses streams end without [DONE]"
    );
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ],
        "{names:?}"
    );
    assert_eq!(
        &names[names.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i, "{name}");
    }
    let deltas: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(deltas, native);
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["usage"], r["usage"], "{done}");
    assert_eq!(done["output"][0]["content"][0]["text"], native.as_str());
    assert!(events[0].1["response"]["usage"].is_null());

    let (status, e) = post(&s, "/v1/responses", json!({"model": "nope", "input": "hi"})).await;
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (404, Some("not_found_error")),
        "{e}"
    );
    let (status, e) = post(
        &s,
        "/v1/responses",
        json!({"model": MODEL, "input": "hi", "reasoning": {"effort": "loud"}}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid reasoning value: \"loud\""),
        "{e}"
    );
}

/// A model whose template writes thinking between `<think>` tags. Shown one earlier turn with
/// thinking, the test model copies the pattern greedily: `<think>Two plus two.</think>It is 4.`
async fn thinker(s: &Server) {
    let template = "{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}user{{ end }}\n{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n";
    let (status, r) = post(
        s,
        "/api/create",
        json!({"model": "thinker", "from": MODEL, "template": template, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn thinking_comes_back_as_each_protocol_words_it() {
    let s = Server::start();
    thinker(&s).await;
    // Native first: the thinking the others must report.
    let native_history = json!([
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "thinking": "Two plus two.", "content": "It is 4."},
        {"role": "user", "content": "2+2?"}]);
    let (_, n) = post(
        &s,
        "/api/chat",
        json!({"model": "thinker", "messages": native_history, "stream": false,
               "options": {"temperature": 0, "num_predict": 16}}),
    )
    .await;
    assert_eq!(n["message"]["thinking"], "Two plus two.", "{n}");
    let content = n["message"]["content"].as_str().unwrap().to_string();
    assert!(content.starts_with("It is 4."), "{n}");

    // Anthropic: the history's thinking block goes in; a thinking block and a text block come out.
    let history = json!([
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "Two plus two.", "signature": ""},
                                           {"type": "text", "text": "It is 4."}]},
        {"role": "user", "content": "2+2?"}]);
    let body = json!({"model": "thinker", "max_tokens": 16, "temperature": 0, "messages": history});
    let (status, m) = post(&s, "/v1/messages", body.clone()).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["content"][0]["type"], "thinking", "{m}");
    assert_eq!(m["content"][0]["thinking"], "Two plus two.");
    assert_eq!(m["content"][1], json!({"type": "text", "text": content}));
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (_, _, text) = post_raw(&s, "/v1/messages", streamed, &[]).await;
    let events = sse_events(&text);
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(starts.len(), 2, "{text}");
    assert_eq!(
        starts[0]["content_block"],
        json!({"type": "thinking", "thinking": ""})
    );
    assert_eq!(
        (starts[0]["index"].as_u64(), starts[1]["index"].as_u64()),
        (Some(0), Some(1))
    );
    let thinking: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["thinking"].as_str())
        .collect();
    assert_eq!(thinking, "Two plus two.");
    // thinking disabled: the tags stay in the text.
    let mut off = body.clone();
    off["thinking"] = json!({"type": "disabled"});
    let (_, plain) = post(&s, "/v1/messages", off).await;
    assert_eq!(plain["content"][0]["type"], "text", "{plain}");
    assert!(
        plain["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("<think>"),
        "{plain}"
    );

    // Responses: a reasoning item (its text also in encrypted_content, which goes back in as
    // thinking), then the message.
    let input = json!([
        {"role": "user", "content": "2+2?"},
        {"type": "reasoning", "summary": [], "encrypted_content": "Two plus two."},
        {"role": "assistant", "content": [{"type": "output_text", "text": "It is 4."}]},
        {"role": "user", "content": "2+2?"}]);
    let (status, r) = post(
        &s,
        "/v1/responses",
        json!({"model": "thinker", "input": input, "max_output_tokens": 16, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["output"][0]["type"], "reasoning", "{r}");
    assert_eq!(r["output"][0]["summary"][0]["text"], "Two plus two.");
    assert_eq!(r["output"][1]["content"][0]["text"], content.as_str());
    let (_, _, text) = post_raw(
        &s,
        "/v1/responses",
        json!({"model": "thinker", "input": input, "max_output_tokens": 16, "temperature": 0, "stream": true}),
        &[],
    )
    .await;
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let at = |name: &str| names.iter().position(|n| *n == name).unwrap_or(usize::MAX);
    assert!(
        at("response.reasoning_summary_text.delta") < at("response.reasoning_summary_text.done")
            && at("response.reasoning_summary_text.done") < at("response.output_text.delta"),
        "reasoning streams first and closes before the text: {names:?}"
    );
    let summary: String = events
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(summary, "Two plus two.");
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["output"][0]["type"], "reasoning", "{done}");
    assert_eq!(done["output"][1]["content"][0]["text"], content.as_str());

    // OpenAI chat: `reasoning` beside the content.
    let (_, c) = post(
        &s,
        "/v1/chat/completions",
        json!({"model": "thinker", "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "reasoning": "Two plus two.", "content": "It is 4."},
            {"role": "user", "content": "2+2?"}], "max_tokens": 16, "temperature": 0}),
    )
    .await;
    assert_eq!(
        c["choices"][0]["message"]["reasoning"], "Two plus two.",
        "{c}"
    );
    assert_eq!(c["choices"][0]["message"]["content"], content.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_may_call_the_anthropic_api_from_an_allowed_origin() {
    let s = Server::start();
    let r = http()
        .request(reqwest::Method::OPTIONS, s.url("/v1/messages"))
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-api-key,anthropic-version,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let allowed = r
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_lowercase();
    for h in ["x-api-key", "anthropic-version", "content-type"] {
        assert!(allowed.split(',').any(|a| a == h), "{h} in {allowed}");
    }
}
