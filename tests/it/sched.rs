//! The scheduler on the real engine: keep_alive forms, the loaded-model limit, reloads for
//! other load options, the queue limit, and cancellation of streaming and queued requests.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

async fn ps(s: &Server) -> Vec<Value> {
    get(s, "/api/ps").await["models"]
        .as_array()
        .unwrap()
        .clone()
}

fn expires_in(m: &Value) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(m["expires_at"].as_str().unwrap()).unwrap();
    t.signed_duration_since(chrono::Utc::now()).num_seconds()
}

async fn wait_for_log(s: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.log_text().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in log:\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a long streamed generation and returns it once the first line has arrived.
async fn long_stream(s: &Server) -> reqwest::Response {
    let mut r = http()
        .post(s.url("/api/generate"))
        .json(&json!({"model": MODEL, "prompt": "Write a very long story.", "options": {"num_predict": -1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let first = r.chunk().await.unwrap().expect("a first line");
    assert!(!first.is_empty());
    r
}

fn short(model: &str) -> Value {
    json!({"model": model, "prompt": "Hi", "stream": false, "options": {"num_predict": 3}})
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_comes_from_the_request_or_the_environment() {
    // Negative: forever.
    let s = Server::start_env(&[("OLLAMA_KEEP_ALIVE", "-1")]);
    assert_eq!(post(&s, "/api/generate", short(MODEL)).await.0, 200);
    let m = &ps(&s).await[0];
    assert!(expires_in(m) > 200 * 365 * 86400, "{m}");
    let table = stdout(&s.cli(&["ps"]));
    assert!(table.contains("Forever"), "{table}");
    // Plain seconds, then a Go duration, each replacing the model's keep_alive.
    let mut body = short(MODEL);
    body["keep_alive"] = json!(3600);
    assert_eq!(post(&s, "/api/generate", body.clone()).await.0, 200);
    assert!((3500..=3600).contains(&expires_in(&ps(&s).await[0])));
    body["keep_alive"] = json!("90s");
    assert_eq!(post(&s, "/api/generate", body.clone()).await.0, 200);
    assert!((60..=90).contains(&expires_in(&ps(&s).await[0])));
    // A request without keep_alive keeps the model's current one.
    assert_eq!(post(&s, "/api/generate", short(MODEL)).await.0, 200);
    assert!((60..=90).contains(&expires_in(&ps(&s).await[0])));
    // Zero: unloaded as soon as the request is done.
    body["keep_alive"] = json!(0);
    let (status, answer) = post(&s, "/api/generate", body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["done_reason"], "length", "it still answers");
    assert!(ps(&s).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_loaded_model_limit_evicts_an_idle_model() {
    let s = Server::start_env(&[("OLLAMA_MAX_LOADED_MODELS", "1")]);
    let dir = tempdir();
    crate::jinja::gguf_with_template(dir.path());
    std::fs::write(
        dir.path().join("Modelfile"),
        "FROM ./chatml.gguf\nPARAMETER num_thread 1\n",
    )
    .unwrap();
    let out = s.cli(&[
        "create",
        "other",
        "-f",
        dir.path().join("Modelfile").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(post(&s, "/api/generate", short(MODEL)).await.0, 200);
    assert_eq!(post(&s, "/api/generate", short("other")).await.0, 200);
    let loaded = ps(&s).await;
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0]["name"], "other:latest");
    assert!(s.log_text().contains("evicting idle model to make room"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.runners().len() != 1 {
        assert!(Instant::now() < deadline, "the evicted runner exits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_context_size_reloads_and_the_log_says_why() {
    let s = Server::start();
    assert_eq!(post(&s, "/api/generate", short(MODEL)).await.0, 200);
    let mut body = short(MODEL);
    body["options"]["num_ctx"] = json!(2048);
    assert_eq!(post(&s, "/api/generate", body).await.0, 200);
    let log = s.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("reloading model"))
        .unwrap_or_else(|| panic!("no reload in log:\n{log}"));
    assert!(line.contains("num_ctx 4096 -> 2048"), "{line}");
    assert_eq!(ps(&s).await[0]["context_length"], 2048);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503() {
    let s = Server::start_env(&[("OLLAMA_MAX_QUEUE", "1")]);
    // Two requests for a model not loaded yet: one waits for the load, the other finds the
    // queue full.
    let load = || post(&s, "/api/generate", json!({"model": MODEL}));
    let (a, b) = tokio::join!(load(), load());
    let mut answers = [a, b];
    answers.sort_by_key(|(status, _)| *status);
    assert_eq!(answers[0].0, 200);
    assert_eq!(
        answers[1],
        (
            503,
            json!({"error": "server busy, please try again.  maximum pending requests exceeded"})
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_leaves_frees_its_slot_at_once() {
    // One slot: the next request can only run once the first one's sequence is freed.
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1"), ("OLLAMA_NUM_PARALLEL", "1")]);
    let first = long_stream(&s).await;
    drop(first);
    wait_for_log(&s, "request cancelled by the client").await;
    let (status, body) = post(&s, "/api/generate", short(MODEL)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["done_reason"], "length");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_cancelled_while_queued_is_never_run() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1"), ("OLLAMA_NUM_PARALLEL", "1")]);
    let running = long_stream(&s).await;
    // Queued behind the running one (one slot), then abandoned by its client.
    let url = s.url("/api/generate");
    let queued = tokio::spawn(async move {
        let _ = http()
            .post(url)
            .json(
                &json!({"model": MODEL, "prompt": "Never answered", "options": {"num_predict": 5}}),
            )
            .send()
            .await;
    });
    let admitted = |s: &Server| s.log_text().matches("request admitted").count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admitted(&s), 1, "the second request waits for the slot");
    queued.abort();
    let _ = queued.await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(running);
    wait_for_log(&s, "request cancelled by the client").await;
    let (status, _) = post(&s, "/api/generate", short(MODEL)).await;
    assert_eq!(status, 200);
    assert_eq!(
        admitted(&s),
        2,
        "the abandoned request never took the slot:\n{}",
        s.log_text()
    );
}
