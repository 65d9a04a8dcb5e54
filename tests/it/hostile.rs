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

/// A registry stand-in that serves one manifest (whatever the test gives) for `ns/m:t` and
/// counts the blob requests it gets.
async fn hostile_registry(
    manifest: Vec<u8>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let blob_requests = Arc::new(AtomicU64::new(0));
    let counted = blob_requests.clone();
    let manifest = bytes::Bytes::from(manifest);
    let app = axum::Router::new()
        .route(
            "/v2/ns/m/manifests/t",
            axum::routing::get(move || {
                let m = manifest.clone();
                async move {
                    (
                        [(
                            "content-type",
                            "application/vnd.docker.distribution.manifest.v2+json",
                        )],
                        m,
                    )
                }
            }),
        )
        .fallback(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            async { "x" }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("{addr}/ns/m:t"), blob_requests)
}

fn manifest_with(layers: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": format!("sha256:{}", "c".repeat(64)), "size": 10},
        "layers": layers,
    }))
    .unwrap()
}

fn layer(n: u64, size: u64) -> serde_json::Value {
    json!({"mediaType": "application/vnd.ollama.image.model",
           "digest": format!("sha256:{n:064x}"), "size": size})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_cannot_crash_the_server_or_fill_its_disk() {
    use std::sync::atomic::Ordering;
    let s = Server::start_empty();
    let two_thirds = rollama::os::free_space(&s.models).unwrap() / 3 * 2;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // 2^62 bytes: Ollama (and rollama before) planned one part per GB and aborted.
        (
            manifest_with(vec![layer(1, 1 << 62)]),
            "not enough free disk space",
        ),
        // 2e13 bytes: 20,001 part files were written before the pull failed.
        (
            manifest_with(vec![layer(2, 20_000_000_000_000)]),
            "not enough free disk space",
        ),
        // Each layer fits, both together do not.
        (
            manifest_with(vec![layer(1, two_thirds), layer(2, two_thirds)]),
            "not enough free disk space",
        ),
        (
            manifest_with((1..=1001).map(|i| layer(i, 1)).collect()),
            "1001 layers",
        ),
        // A manifest of 5 MiB is not read to its end.
        (vec![b' '; 5 << 20], "manifest larger than"),
    ];
    for (manifest, want) in cases {
        let (name, blob_requests) = hostile_registry(manifest).await;
        let (status, body) = post(
            &s,
            "/api/pull",
            json!({"model": name, "insecure": true, "stream": false}),
        )
        .await;
        let error = body["error"].as_str().unwrap_or_default().to_string();
        assert_eq!(status, 500, "{body}");
        assert!(error.contains(want), "{want}: {error}");
        assert_eq!(
            blob_requests.load(Ordering::Relaxed),
            0,
            "{want}: no blob was asked for"
        );
        let blobs = s.models.join("blobs");
        let left: Vec<_> = std::fs::read_dir(&blobs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{want}: nothing written to blobs/: {left:?}"
        );
        let (status, _) = post(&s, "/api/show", json!({"model": name})).await;
        assert_eq!(
            status, 404,
            "{want}: the server still answers, and has no such model"
        );
    }
}

/// Reads until the peer closes (EOF or a reset); panics if it is still open after `within`.
async fn closed_by_peer(c: &mut tokio::net::TcpStream, within: std::time::Duration, what: &str) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(within, async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{what}: the server left the connection open"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_idle_connections_are_closed_and_cannot_exhaust_the_server() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let s = Server::start_with_open_files(
        128,
        &[
            ("ROLLAMA_HEADER_TIMEOUT", "1s"),
            ("ROLLAMA_IDLE_TIMEOUT", "2s"),
        ],
    );
    // The soft open-files limit was raised to the hard one at start-up.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert!(
        f[4] == "unlimited" || f[4].parse::<u64>().unwrap() > 400,
        "hard limit: {line}"
    );
    assert_eq!(f[3], f[4], "soft raised to hard: {line}");

    // 300 half-sent request lines (more than the 128 files the server was started with) ...
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut c = TcpStream::connect(s.host()).await.unwrap();
        c.write_all(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Le")
            .await
            .unwrap();
        slow.push(c);
    }
    let mut silent = TcpStream::connect(s.host()).await.unwrap();
    // ... do not keep a new client from being served,
    let r = http().get(s.url("/api/version")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // and the server closes each of them once the header timeout has passed.
    for c in &mut slow {
        closed_by_peer(c, Duration::from_secs(30), "half-sent headers").await;
    }
    closed_by_peer(
        &mut silent,
        Duration::from_secs(30),
        "a connection that sent nothing",
    )
    .await;

    // A kept-alive connection is closed once it has been idle for the idle timeout.
    let mut idle = TcpStream::connect(s.host()).await.unwrap();
    idle.write_all(b"GET /api/version HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"}") {
        let mut buf = [0u8; 1024];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the response came: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    closed_by_peer(
        &mut idle,
        Duration::from_secs(30),
        "an idle keep-alive connection",
    )
    .await;

    // A request in flight has no deadline: a pull whose registry takes 3 s (longer than both
    // timeouts) to answer still gets its answer.
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        axum::http::StatusCode::NOT_FOUND
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, body) = post(
        &s,
        "/api/pull",
        json!({"model": format!("{addr}/ns/m:t"), "insecure": true, "stream": false}),
    )
    .await;
    assert_eq!(
        (status, &body),
        (
            500,
            &json!({"error": "pull model manifest: file does not exist"})
        )
    );
}

fn temp_blobs(models: &std::path::Path) -> Vec<(String, u64)> {
    std::fs::read_dir(models.join("blobs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_an_upload_leaves_no_temp_file_after_the_next_start() {
    use futures_util::StreamExt;
    let dir = tempdir();
    let models = dir.path().join("models");
    let mut a = Server::start_on(&models);
    // An upload that sends 1 MiB and then stalls, as a client that died mid-blob.
    let chunk = bytes::Bytes::from(vec![7u8; 1 << 20]);
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(chunk)])
        .chain(futures_util::stream::pending());
    let url = a.url(&format!("/api/blobs/sha256:{}", "e".repeat(64)));
    let upload = tokio::spawn(async move {
        let _ = http()
            .post(url)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await;
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !temp_blobs(&models).iter().any(|(_, len)| *len >= 1 << 20) {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never reached the disk"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A second server on the same store while the first still writes: its start-up pruning
    // leaves the live writer's file alone.
    let b = Server::start_on(&models);
    assert_eq!(temp_blobs(&models).len(), 1, "a live upload's file is kept");
    b.stop();

    // kill -9 of the writer, then a start: the file it left is gone at once (not in an hour).
    a.kill_hard();
    upload.abort();
    assert_eq!(temp_blobs(&models).len(), 1);
    // Pruning runs before the server listens, so it is done once `start_on` returns.
    let _c = Server::start_on(&models);
    assert_eq!(
        temp_blobs(&models),
        vec![],
        "start-up removed the killed writer's file"
    );
}

/// A copy of the test model whose `gemma3.context_length` says 0xFFFFFFFF.
fn gguf_with_huge_context(dir: &std::path::Path) -> std::path::PathBuf {
    let mut bytes = std::fs::read(gguf()).unwrap();
    let key = b"gemma3.context_length";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the key is in the header")
        + key.len();
    assert_eq!(&bytes[at..at + 4], &4u32.to_le_bytes(), "a u32 value");
    bytes[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let path = dir.join("huge-context.gguf");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_llama_cpp_2_would_panic_on_is_a_clear_error() {
    use sha2::Digest as _;
    let s = Server::start();
    let dir = tempdir();
    let bad = gguf_with_huge_context(dir.path());
    let want = "invalid model metadata: gemma3.context_length is 4294967295";

    // create refuses it.
    std::fs::write(dir.path().join("Modelfile"), "FROM ./huge-context.gguf\n").unwrap();
    let out = s.cli(&[
        "create",
        "huge",
        "-f",
        dir.path().join("Modelfile").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("Error: {want}")),
        "{}",
        stderr(&out)
    );

    // One that came in another way (a pull: no create checks it) fails its load with the
    // same message, every time, and the server and its other models keep serving.
    let hex = hex::encode(sha2::Sha256::digest(std::fs::read(&bad).unwrap()));
    std::fs::rename(&bad, s.models.join(format!("blobs/sha256-{hex}"))).unwrap();
    let lib = s.models.join("manifests/registry.ollama.ai/library");
    let (model, tag) = MODEL.split_once(':').unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lib.join(model).join(tag)).unwrap()).unwrap();
    for layer in manifest["layers"].as_array_mut().unwrap() {
        if layer["mediaType"] == "application/vnd.ollama.image.model" {
            layer["digest"] = json!(format!("sha256:{hex}"));
        }
    }
    std::fs::create_dir_all(lib.join("pulled")).unwrap();
    std::fs::write(lib.join("pulled/latest"), manifest.to_string()).unwrap();
    for _ in 0..2 {
        let (status, body) = post(
            &s,
            "/api/generate",
            json!({"model": "pulled", "prompt": "hi", "stream": false}),
        )
        .await;
        assert_eq!(status, 500, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(want), "{error}");
        assert!(!error.contains("unexpectedly stopped"), "{error}");
    }
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "hi", "stream": false, "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// A request for the real engine, greedy, with an optional raw GBNF grammar.
fn engine_request(
    prompt: &str,
    num_predict: i64,
    grammar: Option<String>,
) -> rollama::engine::CompletionRequest {
    let opts = rollama::api::options::Options {
        temperature: 0.0,
        ..Default::default()
    };
    rollama::engine::CompletionRequest {
        prompt: prompt.into(),
        num_predict,
        num_keep: 0,
        stop: vec![],
        sampling: rollama::engine::options::sampling_params(&opts),
        grammar: grammar.map(rollama::engine::Grammar::Gbnf),
        images: Vec::new(),
        logprobs: false,
        top_logprobs: 0,
    }
}

async fn until_done(rx: &mut tokio::sync::mpsc::UnboundedReceiver<rollama::engine::Event>) {
    use rollama::engine::Event;
    loop {
        match rx.recv().await {
            Some(Event::Done(_)) => return,
            Some(Event::Error(e)) | Some(Event::InvalidGrammar(e)) => panic!("{e}"),
            None => panic!("the engine stopped"),
            Some(_) => {}
        }
    }
}

/// The engine itself, below the server's schema bounds: a grammar whose build takes seconds
/// (30,000 alternatives: llama.cpp deduplicates its parse stacks pairwise) is built beside the
/// decode loop, not in it.
#[tokio::test(flavor = "multi_thread")]
async fn a_grammar_being_built_stalls_no_running_sequence() {
    use rollama::engine::llama::LlamaRunner;
    use rollama::engine::{Event, LoadParams, Runner};
    let runner = tokio::task::spawn_blocking(|| {
        LlamaRunner::load(LoadParams {
            model_path: gguf().to_path_buf(),
            adapters: vec![],
            num_ctx: 512,
            num_batch: 512,
            num_thread: 2,
            num_parallel: 2,
            use_mmap: true,
            flash_attention: None,
            kv_cache_type: Default::default(),
            draft_max: 0,
            llama_lm_head: false,
            projector: None,
        })
    })
    .await
    .unwrap()
    .unwrap();
    let huge = format!(
        "root ::= {}",
        (0..30_000)
            .map(|i| format!("\"v{i}\""))
            .collect::<Vec<_>>()
            .join(" | ")
    );

    let mut a = runner
        .completion(engine_request("Once upon a time", 20, None))
        .unwrap();
    assert!(
        matches!(a.recv().await, Some(Event::Text(_))),
        "a is running"
    );
    let mut b = runner
        .completion(engine_request("Answer:", 1, Some(huge.clone())))
        .unwrap();
    // `a` finishes its 20 tokens while `b`'s grammar is still being built (before, the build
    // ran on the engine thread: `a` stood still until it was done and `b` had started).
    until_done(&mut a).await;
    assert!(
        matches!(
            b.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Empty)
        ),
        "b has not started"
    );
    // A request that leaves while its grammar is built is dropped (its sampler too, when the
    // build ends), as is one that leaves before its build started; the model serves on.
    drop(b);
    let c = runner
        .completion(engine_request("Answer:", 1, Some(huge)))
        .unwrap();
    drop(c);
    let mut d = runner
        .completion(engine_request("Once upon a time", 5, None))
        .unwrap();
    until_done(&mut d).await;
    let mut e = runner
        .completion(engine_request("x", 1, Some("root ::= root \"a\"".into())))
        .unwrap();
    assert!(matches!(e.recv().await, Some(Event::InvalidGrammar(_))));
    // And the builder goes on building for those who stay.
    let mut f = runner
        .completion(engine_request(
            "Answer:",
            3,
            Some("root ::= \"v\" [0-9]+".into()),
        ))
        .unwrap();
    let mut text = String::new();
    loop {
        match f.recv().await {
            Some(Event::Text(t)) => text.push_str(&t),
            Some(Event::Done(_)) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(text.starts_with('v'), "{text:?}");
    assert!(runner.is_alive());
}

#[tokio::test(flavor = "multi_thread")]
async fn schemas_too_costly_or_unbuildable_are_a_400_and_stall_nothing() {
    let s = Server::start();
    let many: Vec<String> = (0..100_000).map(|i| format!("value number {i}")).collect();
    let wide = json!({"type": "object",
        "properties": (0..10_000).map(|i| (format!("p{i}"), json!({"type": "string"})))
            .collect::<serde_json::Map<_, _>>(),
        "required": (0..10_000).map(|i| format!("p{i}")).collect::<Vec<_>>()});
    for (format, want) in [
        (
            json!({"enum": many}),
            "invalid JSON schema in format: more than 1000 alternatives at one place (enum, anyOf, oneOf)",
        ),
        (
            wide,
            "invalid JSON schema in format: an object with 10000 properties, at most 1000",
        ),
        // What llama.cpp cannot turn into a grammar: Ollama's 400, not a 500.
        (
            json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                   "$ref": "#/$defs/a"}),
            "invalid JSON schema in format",
        ),
        (
            json!({"type": "array", "items": {"type": "integer"}, "minItems": 100_000_000}),
            "invalid JSON schema in format",
        ),
        (
            json!({"type": "string", "minLength": 100_000_000}),
            "invalid JSON schema in format",
        ),
        (
            json!({"type": "string", "pattern": "^a{100000000}$"}),
            "invalid JSON schema in format",
        ),
    ] {
        for stream in [false, true] {
            let (status, body) = post(
                &s,
                "/api/generate",
                json!({"model": MODEL, "prompt": "x", "format": format, "stream": stream}),
            )
            .await;
            assert_eq!((status, body), (400, json!({"error": want})), "{want}");
        }
    }
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Answer:", "stream": false,
               "format": {"enum": ["yes", "no"]}, "options": {"num_predict": 16}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer = body["response"].as_str().unwrap();
    assert!(answer == "\"yes\"" || answer == "\"no\"", "{answer}");
}
