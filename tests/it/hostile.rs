//! Issue 10: what hostile input and third-party clients broke, each with the test that failed
//! before its fix: small API mismatches, oversized names, the CLI's stdin quirk.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn v1_model_echoes_the_name_asked_for_and_long_hosts_are_invalid_names() {
    let s = Server::start();
    let (status, _) = post(
        &s,
        "/api/copy",
        json!({"source": MODEL, "destination": "g"}),
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = http()
        .get(s.url("/v1/models/g"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["id"], "g", "{v}");

    // A host of 256-350 characters cannot be a directory name: an invalid name, not a 500.
    for len in [256, 300, 350] {
        let name = format!("{}/ns/m:t", "h".repeat(len));
        let (status, body) = post(&s, "/api/show", json!({"model": name})).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid model name"))
        );
        let (status, body) = post(&s, "/api/pull", json!({"model": name, "stream": false})).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid model name"))
        );
    }
    let (status, _) = post(
        &s,
        "/api/show",
        json!({"model": format!("{}/ns/m", "h".repeat(255))}),
    )
    .await;
    assert_eq!(status, 404, "255 characters is still a valid host");
}

/// `rollama run` against a stand-in server that records the generate request it gets.
#[tokio::test(flavor = "multi_thread")]
async fn run_with_an_empty_stdin_sends_exactly_the_prompt() {
    use axum::routing::post as route;
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "Ollama is running" }))
        .route("/api/show", route(|| async { axum::Json(json!({})) }))
        .route(
            "/api/generate",
            route(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push(body);
                    axum::Json(json!({"model": "m", "created_at": "2026-01-01T00:00:00Z", "response": "ok", "done": true}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let home = tempdir();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(["run", "m", "The three primary colors are"])
            .env("OLLAMA_HOST", addr.to_string())
            .env("HOME", home.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0]["prompt"], "The three primary colors are",
        "run </dev/null sends the prompt as typed, nothing prepended"
    );
}
