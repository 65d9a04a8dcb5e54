//! The engine's speed features, checked for what they must not change: speculative decoding
//! (prompt-lookup drafts) leaves greedy output as it is, a quantized KV cache shrinks what `ps`
//! reports and still generates, a prompt reuses a prefix another slot holds, and a Modelfile's
//! DRAFT is refused clearly. How fast each is lives in `benches/`, never here.

use std::fs;

use serde_json::{Value, json};

use crate::harness::*;

/// A passage the model is asked to copy: the edit-style workload drafts are for.
fn copy_prompt() -> String {
    let passage = "The committee met on Tuesday to review the annual budget. After a long \
        discussion about the public library, the members agreed to increase the funding for new \
        books and to repair the roof before winter. The treasurer reported that the town had \
        collected more taxes than expected, mostly because two new shops opened on Main Street.";
    format!("Here is a text:\n\n{passage}\n\nHere is the same text, copied exactly:\n\n")
}

async fn greedy(s: &Server, prompt: &str, draft: i64) -> Value {
    let (status, body) = post(
        s,
        "/api/generate",
        json!({"model": MODEL, "prompt": prompt, "raw": true, "stream": false,
               "options": {"temperature": 0, "num_predict": 96, "draft_num_predict": draft}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `(drafted, confirmed)` of each finished request, from the debug log.
fn draft_counts(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter(|l| l.contains("request done"))
        .map(|l| (log_field(l, "drafted"), log_field(l, "confirmed")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn speculation_leaves_greedy_output_unchanged() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    let prompts = [
        copy_prompt(),
        "Once upon a time, in a small village by the sea,".to_string(),
    ];
    for prompt in &prompts {
        let plain = greedy(&s, prompt, 0).await;
        let drafted = greedy(&s, prompt, 16).await;
        assert_eq!(
            plain["response"], drafted["response"],
            "the same tokens with and without drafts"
        );
        assert_eq!(plain["eval_count"], drafted["eval_count"]);
        assert_eq!(plain["prompt_eval_count"], drafted["prompt_eval_count"]);
    }
    // Speculation did run: with drafts off nothing was drafted; on the copy it confirmed most
    // of what it guessed.
    let counts = draft_counts(&s.log_text());
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert_eq!(counts[0], (0, 0), "draft_num_predict 0 turns drafting off");
    assert_eq!(counts[2], (0, 0));
    let (drafted, confirmed) = counts[1];
    assert!(
        confirmed >= 48 && confirmed * 2 >= drafted,
        "copying confirms most drafts: {confirmed} of {drafted}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quantized_kv_cache_is_smaller_and_generates() {
    let mut size = Vec::new();
    for t in ["f16", "q8_0", "q4_0"] {
        let s = Server::start_env(&[("OLLAMA_KV_CACHE_TYPE", t), ("OLLAMA_DEBUG", "1")]);
        let (status, body) = post(
            &s,
            "/api/generate",
            json!({"model": MODEL, "prompt": "The sea is", "stream": false,
                   "options": {"temperature": 0, "num_predict": 8}}),
        )
        .await;
        assert_eq!(status, 200, "{t}: {body}");
        assert_eq!(body["eval_count"], 8, "{t}: {body}");
        let log = s.log_text();
        assert!(log.contains(&format!("OLLAMA_KV_CACHE_TYPE={t}")), "{log}");
        assert!(log.contains(&format!("kv_cache_type=\"{t}\"")), "{log}");
        size.push(
            get(&s, "/api/ps").await["models"][0]["size"]
                .as_u64()
                .unwrap(),
        );
    }
    // The same weights; the cache at 64, 34 and 18 bytes per 32 elements (f16, q8_0, q4_0).
    let (f16, q8, q4) = (size[0], size[1], size[2]);
    assert!(f16 > q8 && q8 > q4, "{size:?}");
    let ratio = (f16 - q4) as f64 / (f16 - q8) as f64;
    assert!((ratio - 46.0 / 30.0).abs() < 0.01, "{size:?}: {ratio}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quantized_kv_cache_without_flash_attention_falls_back() {
    let s = Server::start_env(&[
        ("OLLAMA_KV_CACHE_TYPE", "q4_0"),
        ("OLLAMA_FLASH_ATTENTION", "0"),
    ]);
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "The sea is", "stream": false,
               "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let log = s.log_text();
    assert!(
        log.contains(
            "OLLAMA_FLASH_ATTENTION must be enabled to use a quantized OLLAMA_KV_CACHE_TYPE"
        ),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_reuses_a_prefix_held_by_another_slot() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1"), ("OLLAMA_NUM_PARALLEL", "2")]);
    let shared = copy_prompt();
    // Fill slot A's cache with the shared prefix, then keep A busy with a long answer.
    greedy(&s, &shared, 0).await;
    let busy = {
        let s_url = s.url("/api/generate");
        let body = json!({"model": MODEL, "prompt": format!("{shared} The"), "raw": true,
                          "stream": false, "options": {"num_predict": 400, "draft_num_predict": 0}});
        tokio::spawn(async move { http().post(s_url).json(&body).send().await })
    };
    // Wait until A is generating, then ask for another continuation of the same prefix: the
    // free slot B holds nothing, so only A's cache can serve it.
    for _ in 0..100 {
        if s.log_text().matches("request admitted").count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": format!("{shared} A"), "raw": true, "stream": false,
               "options": {"num_predict": 4, "draft_num_predict": 0}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let log = s.log_text();
    let admitted: Vec<(u64, u64)> = log
        .lines()
        .filter(|l| l.contains("request admitted"))
        .map(|l| (log_field(l, "slot"), log_field(l, "reused")))
        .collect();
    assert_eq!(admitted.len(), 3, "{log}");
    let (slot_a, _) = admitted[1];
    let (slot_b, reused) = admitted[2];
    assert_ne!(
        slot_a, slot_b,
        "the second continuation ran beside the first: {log}"
    );
    let prefix = body["prompt_eval_count"].as_u64().unwrap();
    assert!(
        reused + 4 >= prefix,
        "slot {slot_b} reused {reused} of {prefix} prompt tokens from slot {slot_a}"
    );
    busy.abort();
}

#[test]
fn a_draft_model_is_refused_clearly() {
    let s = Server::start();
    let dir = tempdir();
    let path = modelfile_dir(dir.path());
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("DRAFT ./gemma-3-270m-q4_k_m.gguf\n");
    fs::write(&path, text).unwrap();
    let out = s.cli(&["create", "drafted", "-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("Error: (line ") && err.contains("draft models are not supported"),
        "{err}"
    );
    // The API says the same with a 400, and nothing is created.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = rt.block_on(post(
        &s,
        "/api/create",
        json!({"model": "drafted", "from": MODEL, "draft_files": {"d.gguf": "sha256:00"}, "stream": false}),
    ));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("draft models are not supported")
    );
    let list = stdout(&s.cli(&["list"]));
    assert!(!list.contains("drafted"), "{list}");
}

/// The output layer the load chose, from the debug log's `model loaded` line.
fn lm_head(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("model loaded"))
        .expect("a model loaded line");
    let rest = &line[line.find("lm_head=").expect("lm_head field") + "lm_head=".len()..];
    rest.split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

/// rollama's own output layer (the default where the CPU has AVX-512 VNNI and the matrix is
/// Q8_0, as the test model's is) and llama.cpp's (`ROLLAMA_LLAMA_LM_HEAD=1`) give the same
/// greedy answers (drafts on, so steps verify several rows). The two round differently in the
/// last bits, so they may part only where the two best tokens tie to within 0.01 in both.
#[tokio::test(flavor = "multi_thread")]
async fn the_output_layer_switch_leaves_greedy_output_unchanged() {
    let prompts = [
        copy_prompt(),
        "Once upon a time, in a small village by the sea,".to_string(),
        "The three primary colours are".to_string(),
    ];
    let mut runs = Vec::new();
    let mut heads = Vec::new();
    for env in [
        &[("OLLAMA_DEBUG", "1")][..],
        &[("OLLAMA_DEBUG", "1"), ("ROLLAMA_LLAMA_LM_HEAD", "1")],
    ] {
        let s = Server::start_env(env);
        // One at a time: with several in flight the batches (and so llama.cpp's own rounding)
        // depend on timing; mixed batches are checked logit by logit in `engine::lm_head`.
        let mut out = Vec::new();
        for p in &prompts {
            let (status, r) = post(
                &s,
                "/api/generate",
                json!({"model": MODEL, "prompt": p, "raw": true, "stream": false,
                       "logprobs": true, "top_logprobs": 2,
                       "options": {"temperature": 0, "num_predict": 64, "draft_num_predict": 16}}),
            )
            .await;
            assert_eq!(status, 200, "{r}");
            out.push(r["logprobs"].as_array().unwrap().clone());
        }
        runs.push(out);
        heads.push(lm_head(&s.log_text()));
    }
    assert_eq!(heads[1], "llama.cpp");
    if heads[0] != "rollama" {
        eprintln!("this CPU has no AVX-512 VNNI: both runs used llama.cpp's output layer");
    }
    let gap = |l: &Value| {
        let top = l["top_logprobs"].as_array().unwrap();
        top[0]["logprob"].as_f64().unwrap() - top[1]["logprob"].as_f64().unwrap()
    };
    for (p, (ours, theirs)) in runs[0].iter().zip(&runs[1]).enumerate() {
        assert!(!ours.is_empty() && !theirs.is_empty(), "prompt {p}");
        let same = ours
            .iter()
            .zip(theirs)
            .take_while(|(a, b)| a["token"] == b["token"])
            .count();
        if same < ours.len().min(theirs.len()) {
            let (a, b) = (&ours[same], &theirs[same]);
            assert!(
                gap(a) < 0.01 && gap(b) < 0.01,
                "prompt {p} parts at token {same} without a tie: {a} vs {b}"
            );
        } else {
            assert_eq!(ours.len(), theirs.len(), "prompt {p}: one ended first");
        }
        for (a, b) in ours.iter().zip(theirs).take(same) {
            let (x, y) = (
                a["logprob"].as_f64().unwrap(),
                b["logprob"].as_f64().unwrap(),
            );
            assert!((x - y).abs() < 0.01, "prompt {p}: {a} vs {b}");
        }
    }
}
