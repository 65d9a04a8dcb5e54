//! `/api/generate` end to end on the real model.

use serde_json::{Value, json};

use crate::harness::*;

/// Reads a stream until its first line has come, then sends the server SIGTERM; returns what
/// was read.
async fn first_line_then_sigterm(s: &Server, r: &mut reqwest::Response) -> String {
    let mut body = String::new();
    while !body.contains('\n') {
        let chunk = r.chunk().await.unwrap().expect("stream open");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    body
}

fn text_of(lines: &[Value]) -> String {
    lines
        .iter()
        .filter_map(|l| l["response"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_generation_has_chunks_and_final_metrics() {
    let s = Server::start();
    let lines = post_stream(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "The capital of France is", "options": {"num_predict": 12, "temperature": 0}}),
    )
    .await;
    assert!(lines.len() >= 2, "{lines:?}");
    for l in &lines[..lines.len() - 1] {
        assert_eq!(l["done"], false);
        assert_eq!(l["model"], MODEL);
        assert!(l["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(matches!(
        last["done_reason"].as_str(),
        Some("stop" | "length")
    ));
    for key in [
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ] {
        assert!(last[key].as_u64().unwrap() > 0, "{key} in {last}");
    }
    let ctx = last["context"].as_array().unwrap();
    assert!(ctx.len() as u64 >= last["prompt_eval_count"].as_u64().unwrap());
    assert!(!text_of(&lines).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn non_streamed_generation_is_one_object() {
    let s = Server::start();
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Once upon a time", "stream": false, "options": {"num_predict": 8, "temperature": 0}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["done"], true);
    assert!(!body["response"].as_str().unwrap().is_empty());
    assert_eq!(body["eval_count"], 8);
    assert_eq!(body["done_reason"], "length");
}

#[tokio::test(flavor = "multi_thread")]
async fn temperature_zero_and_fixed_seed_are_deterministic() {
    let s = Server::start();
    let run = |opts: Value| {
        let s = &s;
        async move {
            let (status, body) = post(
                s,
                "/api/generate",
                json!({"model": MODEL, "prompt": "Write a list of fruits:", "stream": false, "options": opts}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["response"].as_str().unwrap().to_string()
        }
    };
    let greedy = json!({"temperature": 0, "num_predict": 24});
    let a = run(greedy.clone()).await;
    let b = run(greedy).await;
    assert_eq!(a, b);
    assert!(!a.is_empty());

    let seeded = json!({"temperature": 1.0, "seed": 1234, "num_predict": 24});
    let c = run(seeded.clone()).await;
    let d = run(seeded).await;
    assert_eq!(c, d, "same seed, same text");
    let other: Vec<String> = futures_util::future::join_all(
        (0..3).map(|i| run(json!({"temperature": 1.0, "seed": 99 + i, "num_predict": 24}))),
    )
    .await;
    assert!(
        other.iter().any(|o| *o != c),
        "different seeds should differ somewhere"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn num_predict_limits_eval_count() {
    let s = Server::start();
    let lines = post_stream(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Count: one, two, three,", "options": {"num_predict": 5, "temperature": 0}}),
    )
    .await;
    let last = lines.last().unwrap();
    assert_eq!(last["eval_count"], 5);
    assert_eq!(last["done_reason"], "length");
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_string_ends_output_without_emitting_it() {
    let s = Server::start();
    let prompt = "Alice went to the market and bought";
    let (_, free) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": prompt, "stream": false, "options": {"num_predict": 40, "temperature": 0}}),
    )
    .await;
    let full = free["response"].as_str().unwrap().to_string();
    // A stop string taken from the middle of what the model says unconstrained.
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 4, "need some words: {full:?}");
    let stop = words[words.len() / 2];
    let cut = full.find(stop).unwrap();
    let lines = post_stream(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": prompt, "options": {"num_predict": 40, "temperature": 0, "stop": [stop]}}),
    )
    .await;
    let text = text_of(&lines);
    assert_eq!(
        text,
        full[..cut],
        "output ends right before the stop string {stop:?}"
    );
    assert!(!text.contains(stop));
    assert_eq!(lines.last().unwrap()["done_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_mode_skips_the_template_and_context_round_trips() {
    let s = Server::start();
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "1, 2, 3,", "raw": true, "stream": false, "options": {"num_predict": 4, "temperature": 0}}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.get("context").is_none(),
        "raw responses carry no context"
    );
    // The rendered prompt of a templated request is visible with _debug_render_only.
    let (_, dbg) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "hi", "system": "Be brief.", "_debug_render_only": true}),
    )
    .await;
    assert_eq!(
        dbg["_debug_info"]["rendered_template"],
        "<start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"
    );
    // `context` from a previous answer continues it.
    let (_, first) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Say a color.", "stream": false, "options": {"num_predict": 3, "temperature": 0}}),
    )
    .await;
    let (status, second) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Another.", "context": first["context"], "stream": false, "options": {"num_predict": 3, "temperature": 0}}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert!(
        second["prompt_eval_count"].as_u64().unwrap()
            > first["prompt_eval_count"].as_u64().unwrap(),
        "the earlier exchange is part of the prompt"
    );
    // The context comes back as the earlier turn's text, control tokens included, followed by
    // the new turn.
    let (_, dbg) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Another.", "context": first["context"], "_debug_render_only": true}),
    )
    .await;
    let rendered = dbg["_debug_info"]["rendered_template"].as_str().unwrap();
    let turn = "<start_of_turn>user\nSay a color.<end_of_turn>\n<start_of_turn>model\n";
    assert!(rendered.starts_with(turn), "{rendered:?}");
    assert!(
        rendered.ends_with("<start_of_turn>user\nAnother.<end_of_turn>\n<start_of_turn>model\n"),
        "{rendered:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_prompt_loads_and_keep_alive_zero_unloads() {
    let s = Server::start();
    let (status, body) = post(&s, "/api/generate", json!({"model": MODEL})).await;
    assert_eq!(status, 200);
    assert_eq!(body["done"], true);
    assert_eq!(body["done_reason"], "load");
    assert_eq!(body["response"], "");
    assert!(s.log_text().contains("model loaded"));
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "keep_alive": 0}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["done_reason"], "unload");
    assert!(s.log_text().contains("unloading model"), "{}", s.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn utf8_is_never_split_in_stream_chunks() {
    let s = Server::start();
    // Every line is valid JSON text; a split multi-byte character would show up as U+FFFD.
    let lines = post_stream(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "日本語の文章を書いてください。東京は", "raw": true, "options": {"num_predict": 30, "temperature": 0}}),
    )
    .await;
    let text = text_of(&lines);
    assert!(!text.contains('\u{FFFD}'), "{text:?}");
    assert!(
        !text.is_ascii(),
        "the answer has multi-byte characters: {text:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_unloads_an_idle_model_when_it_expires() {
    let s = Server::start();
    let (status, _) = post(&s, "/api/generate", json!({"model": MODEL, "prompt": "Hi", "keep_alive": "1s", "stream": false, "options": {"num_predict": 2}})).await;
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !s.log_text().contains("keep_alive expired") {
        assert!(
            std::time::Instant::now() < deadline,
            "not unloaded:\n{}",
            s.log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A string keep_alive without a unit is Go's error, as a 400.
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "keep_alive": "-1"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing unit in duration"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_slots_give_each_request_its_own_answer() {
    let s = Server::start_env(&[("OLLAMA_NUM_PARALLEL", "4")]);
    let prompts = [
        "The capital of France is",
        "1, 2, 3, 4,",
        "Roses are red,",
        "Once upon a",
    ];
    let body = |p: &str| {
        json!({"model": MODEL, "prompt": p, "raw": true, "stream": false,
               "options": {"num_predict": 8, "temperature": 0}})
    };
    let mut solo = Vec::new();
    for p in prompts {
        let (status, r) = post(&s, "/api/generate", body(p)).await;
        assert_eq!(status, 200, "{r}");
        solo.push(r["response"].as_str().unwrap().to_string());
    }
    // All four at once share the batch; greedy answers stay each prompt's own. Batched and
    // single decoding may differ in the last bits of a float, so only the start is compared.
    let together =
        futures_util::future::join_all(prompts.iter().map(|p| post(&s, "/api/generate", body(p))))
            .await;
    for ((status, r), alone) in together.iter().zip(&solo) {
        assert_eq!(*status, 200, "{r}");
        let got = r["response"].as_str().unwrap();
        let n = alone.chars().take(8).count().min(got.chars().count());
        assert!(n > 0, "empty answer: {r}");
        let head = |t: &str| t.chars().take(n).collect::<String>();
        assert_eq!(head(got), head(alone), "together vs alone");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_open_streams_and_the_server() {
    // A story without end outlasts the grace period: it is ended with an error line.
    let mut s = Server::start_env(&[("ROLLAMA_SHUTDOWN_GRACE", "1s")]);
    let r = http()
        .post(s.url("/api/generate"))
        .json(&json!({"model": MODEL, "prompt": "Write a long story.", "options": {"num_predict": -1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut r = r;
    // Wait for the first token, then ask the server to stop.
    let mut body = first_line_then_sigterm(&s, &mut r).await;
    while let Ok(Some(chunk)) = r.chunk().await {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert!(
        last.get("error").is_some(),
        "the stream ends with an error line: {last}"
    );
    assert!(
        s.exit_status(std::time::Duration::from_secs(20))
            .is_some_and(|st| st.success()),
        "server exited with 0:\n{}",
        s.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_streams_in_flight_finish_and_refuses_new_clients() {
    let mut s = Server::start_env(&[("ROLLAMA_SHUTDOWN_GRACE", "60s")]);
    let mut r = http()
        .post(s.url("/api/generate"))
        .json(&json!({"model": MODEL, "prompt": "Write a long story.",
                      "options": {"num_predict": 40, "temperature": 0}}))
        .send()
        .await
        .unwrap();
    let mut body = first_line_then_sigterm(&s, &mut r).await;
    // The listener closes at once: a new client is refused while the stream goes on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(s.host()).is_ok() {
        assert!(std::time::Instant::now() < deadline, "still accepting");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    while let Ok(Some(chunk)) = r.chunk().await {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["done"], true, "the stream ran to its end: {last}");
    assert_eq!(last["eval_count"], 40, "{last}");
    assert!(
        s.exit_status(std::time::Duration::from_secs(20))
            .is_some_and(|st| st.success()),
        "server exited with 0:\n{}",
        s.log_text()
    );
    let log = s.log_text();
    assert!(log.contains("shutting down: "), "{log}");
    assert!(log.contains("server stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logprobs_report_each_token_and_its_alternatives() {
    let s = Server::start();
    let body = json!({"model": MODEL, "prompt": "1, 2, 3,", "raw": true, "stream": false,
                      "logprobs": true, "top_logprobs": 3,
                      "options": {"num_predict": 6, "temperature": 0}});
    let (status, r) = post(&s, "/api/generate", body.clone()).await;
    assert_eq!(status, 200, "{r}");
    let lps = r["logprobs"].as_array().unwrap();
    assert_eq!(lps.len() as u64, r["eval_count"].as_u64().unwrap(), "{r}");
    let joined: String = lps.iter().map(|l| l["token"].as_str().unwrap()).collect();
    assert_eq!(joined, r["response"].as_str().unwrap());
    for l in lps {
        let lp = l["logprob"].as_f64().unwrap();
        assert!(lp <= 0.0, "{l}");
        let top = l["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        // Greedy: the chosen token is the most likely one; alternatives come best first.
        assert_eq!(top[0]["token"], l["token"], "{l}");
        assert!((top[0]["logprob"].as_f64().unwrap() - lp).abs() < 1e-6);
        assert!(
            top.windows(2)
                .all(|w| w[0]["logprob"].as_f64() >= w[1]["logprob"].as_f64())
        );
        let bytes: Vec<u8> = l["bytes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            l["token"].as_str().unwrap()
        );
    }
    // Streamed, each chunk carries the log-probabilities of its own tokens.
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let lines = post_stream(&s, "/api/generate", streamed).await;
    let chunked: Vec<Value> = lines
        .iter()
        .filter_map(|l| l["logprobs"].as_array())
        .flatten()
        .cloned()
        .collect();
    assert_eq!(&chunked, lps);
    // Off unless asked for; top_logprobs is bounded.
    let (_, plain) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x", "stream": false, "options": {"num_predict": 2}}),
    )
    .await;
    assert!(plain.get("logprobs").is_none(), "{plain}");
    let (status, r) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "x", "top_logprobs": 21}),
    )
    .await;
    assert_eq!(
        (status, r),
        (
            400,
            json!({"error": "top_logprobs must be between 0 and 20"})
        )
    );
}

/// A `num_ctx` beyond what the model was trained for is capped to it, with a warning.
#[tokio::test(flavor = "multi_thread")]
async fn a_context_beyond_the_trained_one_is_capped_with_a_warning() {
    let s = Server::start_env(&[("OLLAMA_NUM_PARALLEL", "1")]);
    let (status, r) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "Hi", "stream": false,
               "options": {"num_ctx": 1_000_000, "num_predict": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let ps = get(&s, "/api/ps").await;
    assert_eq!(ps["models"][0]["context_length"], 32768, "{ps}");
    assert!(
        s.log_text().contains("capping to the trained context"),
        "{}",
        s.log_text()
    );
}
