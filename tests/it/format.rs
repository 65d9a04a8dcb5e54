//! `format`: output constrained by a grammar, `"json"` or a JSON schema, on the real model.

use serde_json::{Value, json};

use crate::harness::*;

async fn generate(s: &Server, body: Value) -> (u16, Value) {
    post(s, "/api/generate", body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_shapes_the_answer() {
    let s = Server::start();
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0, "maximum": 120}, "cat": {"type": "boolean"}},
        "required": ["name", "age", "cat"]
    });
    for seed in [1, 2, 3] {
        let (status, r) = generate(
            &s,
            json!({"model": MODEL, "prompt": "Describe a person.", "format": schema, "stream": false,
                   "options": {"seed": seed, "num_predict": 200}}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["done_reason"], "stop", "the grammar ends the answer: {r}");
        let answer: Value = serde_json::from_str(r["response"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {r}"));
        assert!(answer["name"].is_string(), "{answer}");
        assert!(
            answer["name"].as_str().unwrap().chars().count() <= 12,
            "{answer}"
        );
        assert!(
            (0..=120).contains(&answer["age"].as_i64().unwrap()),
            "{answer}"
        );
        assert!(answer["cat"].is_boolean(), "{answer}");
    }
    // Chat too, streamed: the pieces join into the same kind of object.
    let lines = post_stream(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": [{"role": "user", "content": "Who are you?"}], "format": schema,
               "options": {"seed": 4, "num_predict": 200}}),
    )
    .await;
    let text: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(answer["age"].is_i64(), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_mode_always_starts_an_object() {
    let s = Server::start();
    for seed in [1, 2] {
        let (status, r) = generate(
            &s,
            json!({"model": MODEL, "prompt": "A cat, as JSON.", "format": "json", "stream": false,
                   "options": {"seed": seed, "num_predict": 300}}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        let text = r["response"].as_str().unwrap();
        assert!(text.starts_with('{'), "{text:?}");
        if r["done_reason"] == "stop" {
            serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
    }
    // The CLI flag asks for the same.
    let out = s.cli(&["run", "--format", "json", MODEL, "A dog, as JSON."]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with('{'), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_formats_are_refused_up_front() {
    let s = Server::start();
    for (format, error) in [
        (
            json!("yaml"),
            "invalid format: \"yaml\"; expected \"json\" or a valid JSON Schema object",
        ),
        (
            json!(42),
            "invalid format: 42; expected \"json\" or a valid JSON Schema object",
        ),
        (
            json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}),
            "invalid JSON schema in format",
        ),
    ] {
        let (status, r) =
            generate(&s, json!({"model": MODEL, "prompt": "x", "format": format})).await;
        assert_eq!((status, r), (400, json!({"error": error})));
    }
    // An empty format is no format.
    let (status, _) = generate(
        &s,
        json!({"model": MODEL, "prompt": "x", "format": "", "stream": false, "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(status, 200);
}
