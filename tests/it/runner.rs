//! Each loaded model runs in a `rollama runner` child process: a crash costs that model's
//! requests, not the server, and unloading ends the process.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_runs_in_a_child_process_that_unloading_ends() {
    let s = Server::start();
    assert!(s.runners().is_empty(), "nothing loaded yet");
    let (status, _) = post(&s, "/api/generate", json!({"model": MODEL})).await;
    assert_eq!(status, 200);
    let runners = s.runners();
    assert_eq!(runners.len(), 1, "one runner per loaded model");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", runners[0])).unwrap();
    assert!(
        cmdline.split(|&b| b == 0).any(|a| a == b"runner"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "keep_alive": 0}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["done_reason"], "unload");
    wait_until("the runner to exit", || s.runners().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_that_dies_costs_its_requests_not_the_server() {
    let s = Server::start();
    let mut r = http()
        .post(s.url("/api/generate"))
        .json(&json!({"model": MODEL, "prompt": "Write a long story.", "options": {"num_predict": -1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut body = String::new();
    while !body.contains('\n') {
        let chunk = r.chunk().await.unwrap().expect("stream open");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let runners = s.runners();
    assert_eq!(runners.len(), 1);
    // What llama.cpp's abort() would do to the process, from outside.
    std::process::Command::new("kill")
        .args(["-KILL", &runners[0].to_string()])
        .status()
        .unwrap();
    while let Ok(Some(chunk)) = r.chunk().await {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["error"],
        "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details"
    );
    // The server keeps serving, and the next request starts a fresh runner.
    let tags = http().get(s.url("/api/tags")).send().await.unwrap();
    assert_eq!(tags.status().as_u16(), 200);
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Hi", "stream": false, "options": {"num_predict": 3}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["done"], true);
    let now = s.runners();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], runners[0], "a new runner process");
    assert!(s.log_text().contains("model runner stopped unexpectedly"));
}
