//! Every error case of generate, chat, show and delete: status, `{"error": ...}` body, and the
//! server still serving afterwards.

use serde_json::{Value, json};

use crate::harness::*;

async fn raw_post(s: &Server, path: &str, body: &'static str) -> (u16, Value) {
    let r = http()
        .post(s.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "error bodies are JSON, got {ct}"
    );
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn request_errors_have_ollamas_status_and_text() {
    let s = Server::start();
    for path in ["/api/generate", "/api/chat", "/api/show"] {
        let (status, body) = post(&s, path, json!({"model": "nope"})).await;
        assert_eq!(
            (status, &body),
            (404, &json!({"error": "model 'nope' not found"})),
            "{path}"
        );
        let (status, body) = post(&s, path, json!({})).await;
        assert_eq!(
            (status, &body),
            (400, &json!({"error": "model is required"})),
            "{path}"
        );
        let (status, body) = raw_post(&s, path, "").await;
        assert_eq!(
            (status, &body),
            (400, &json!({"error": "missing request body"})),
            "{path}"
        );
        let (status, body) = raw_post(&s, path, "{\"model\": ").await;
        assert_eq!(status, 400, "{path} malformed JSON");
        assert!(body["error"].as_str().unwrap().len() > 5);
        let (status, body) = post(&s, path, json!({"model": "bad/na me"})).await;
        assert_eq!(
            (status, &body),
            (400, &json!({"error": "invalid model name"})),
            "{path}"
        );
    }
    // Wrong types are 400 with the decoder's message.
    let (status, body) = raw_post(&s, "/api/generate", r#"{"model": "m", "prompt": 5}"#).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("invalid type"),
        "{body}"
    );
    let (status, _) = raw_post(&s, "/api/chat", r#"{"model": "m", "messages": "hi"}"#).await;
    assert_eq!(status, 400);
    let (status, _) = raw_post(&s, "/api/generate", r#"{"model": "m", "keep_alive": true}"#).await;
    assert_eq!(status, 400);
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x", "raw": true, "system": "s"}),
    )
    .await;
    assert_eq!(
        (status, &body),
        (
            400,
            &json!({"error": "raw mode does not support template, system, or context"})
        )
    );
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x", "think": "sideways"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "invalid think value: \"sideways\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
    );
    let (status, body) = post(
        &s,
        "/api/chat",
        json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "think": true}),
    )
    .await;
    assert_eq!(
        (status, &body),
        (
            400,
            &json!({"error": "\"gemma3-base:270m\" does not support thinking"})
        )
    );
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x", "options": {"top_k": "many"}}),
    )
    .await;
    assert_eq!(
        (status, &body),
        (
            500,
            &json!({"error": "option \"top_k\" must be of type integer"})
        )
    );
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x", "top_logprobs": 21}),
    )
    .await;
    assert_eq!(
        (status, &body),
        (
            400,
            &json!({"error": "top_logprobs must be between 0 and 20"})
        )
    );

    // Delete has its own texts.
    let del = |body: Value| {
        let s = &s;
        async move {
            let r = http()
                .delete(s.url("/api/delete"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(
        del(json!({"model": "nope"})).await,
        (404, json!({"error": "model 'nope' not found"}))
    );
    assert_eq!(
        del(json!({"model": "a b"})).await,
        (400, json!({"error": "name \"a b\" is invalid"}))
    );

    // Still serving.
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "ok", "stream": false, "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_weights_and_unknown_options() {
    let s = Server::start();
    // Unknown options are ignored (with a warning in the log), as Ollama does.
    let (status, _) = post(&s, "/api/generate", json!({"model": MODEL, "prompt": "x", "stream": false, "options": {"num_predict": 1, "not_an_option": 3}})).await;
    assert_eq!(status, 200);
    assert!(s.log_text().contains("invalid option provided"));
    // A model whose weight blob vanished is a 404 that says so.
    for blob in walk(&s.models.join("blobs")) {
        if std::fs::metadata(&blob).unwrap().len() > 1_000_000 {
            std::fs::remove_file(blob).unwrap();
        }
    }
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x", "keep_alive": 0}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["error"],
        "model \"gemma3-base:270m\" not found, try pulling it first"
    );
}
