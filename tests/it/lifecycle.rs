//! Loaded models and names: `/api/ps` and `rollama ps`, `rollama stop`, `/api/copy` and
//! `rollama cp`, `rollama rm` of several models, on the real engine.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ps_lists_the_loaded_model_and_stop_unloads_it() {
    let s = Server::start();
    assert_eq!(get(&s, "/api/ps").await, json!({"models": []}));
    let out = s.cli(&["ps"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]
    );

    let (status, _) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "keep_alive": "10m"}),
    )
    .await;
    assert_eq!(status, 200);
    let ps = get(&s, "/api/ps").await;
    let tags = get(&s, "/api/tags").await;
    let m = &ps["models"][0];
    assert_eq!(ps["models"].as_array().unwrap().len(), 1, "{ps}");
    assert_eq!(m["name"], MODEL);
    assert_eq!(m["model"], MODEL);
    assert_eq!(m["digest"], tags["models"][0]["digest"]);
    assert_eq!(m["details"], tags["models"][0]["details"]);
    assert_eq!(m["size_vram"], 0);
    assert_eq!(m["context_length"], 4096);
    let size = m["size"].as_u64().unwrap();
    let weights = tags["models"][0]["size"].as_u64().unwrap();
    assert!(size > weights, "weights plus KV cache: {size} vs {weights}");
    let expires = chrono::DateTime::parse_from_rfc3339(m["expires_at"].as_str().unwrap()).unwrap();
    let left = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((500..=600).contains(&left), "keep_alive 10m: {left}s left");
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "name",
            "model",
            "size",
            "digest",
            "details",
            "expires_at",
            "size_vram",
            "context_length"
        ]
    );

    let out = s.cli(&["ps"]);
    let text = stdout(&out);
    let row = text.lines().nth(1).unwrap_or_default().to_string();
    assert!(row.starts_with(&format!("{MODEL}    ")), "{text}");
    for cell in [
        &m["digest"].as_str().unwrap()[..12],
        "100% CPU",
        "4096",
        "minutes from now",
    ] {
        assert!(row.contains(cell), "{cell:?} in {row:?}");
    }

    let out = s.cli(&["stop", MODEL]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert_eq!(get(&s, "/api/ps").await, json!({"models": []}));
    wait_until("the runner to exit", || s.runners().is_empty());
    let out = s.cli(&["stop", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error: couldn't find model \"nope\" to stop\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_share_blobs_and_one_loaded_model() {
    let s = Server::start();
    let out = s.cli(&["cp", MODEL, "other/copy:v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("copied '{MODEL}' to 'other/copy:v1'\n")
    );
    let manifests = s.models.join("manifests/registry.ollama.ai");
    assert_eq!(
        std::fs::read(manifests.join("library/gemma3-base/270m")).unwrap(),
        std::fs::read(manifests.join("other/copy/v1")).unwrap(),
        "a copy is the same manifest"
    );
    let list = stdout(&s.cli(&["ls"]));
    let ids: Vec<&str> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    assert_eq!(ids[0], ids[1], "same ID: {list}");

    // Both names use one runner: the weights are the same blob.
    for name in [MODEL, "other/copy:v1"] {
        let (status, body) = post(
            &s,
            "/api/generate",
            json!({"model": name, "prompt": "Hi", "stream": false, "options": {"num_predict": 2}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        get(&s, "/api/ps").await["models"].as_array().unwrap().len(),
        1
    );
    assert_eq!(s.runners().len(), 1);

    // Errors, with Ollama's texts.
    for (body, status, error) in [
        (
            json!({"source": "nope", "destination": "x"}),
            404,
            "model \"nope\" not found",
        ),
        (
            json!({"source": "bad name!", "destination": "x"}),
            400,
            "source \"bad name!\" is invalid",
        ),
        (
            json!({"source": MODEL, "destination": "a//b"}),
            400,
            "destination \"a//b\" is invalid",
        ),
    ] {
        let (got, resp) = post(&s, "/api/copy", body).await;
        assert_eq!((got, resp), (status, json!({"error": error})));
    }

    // rm of several: each unloaded and deleted; blobs the other names use survive.
    let blobs = walk(&s.models.join("blobs")).len();
    let out = s.cli(&["cp", MODEL, "third"]);
    assert!(out.status.success());
    let out = s.cli(&["rm", "other/copy:v1", "third"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "deleted 'other/copy:v1'\ndeleted 'third'\n");
    assert_eq!(
        walk(&s.models.join("blobs")).len(),
        blobs,
        "still used by {MODEL}"
    );
    let (status, _) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Hi", "stream": false, "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(status, 200);
    // The last name goes, and its blobs with it; rm stops at the first failure.
    let out = s.cli(&["rm", MODEL, "nope", "never-reached"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), format!("deleted '{MODEL}'\n"));
    assert_eq!(stderr(&out), "Error: model 'nope' not found\n");
    assert!(walk(&s.models.join("blobs")).is_empty());
    wait_until("the removed model's runner to exit", || {
        s.runners().is_empty()
    });
}
