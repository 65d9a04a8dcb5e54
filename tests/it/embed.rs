//! `/api/embed` and `/api/embeddings` on the real model.

use serde_json::{Value, json};

use crate::harness::*;

fn vectors(r: &Value) -> Vec<Vec<f64>> {
    r["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

const TEXTS: [&str; 5] = [
    "The sky is blue today.",
    "Cats sleep most of the day and hunt at night.",
    "The ocean looks blue from the beach.",
    "Quarterly revenue grew by twelve percent.",
    "A short one.",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_embeds_like_each_text_alone() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    let (status, batch) = post(&s, "/api/embed", json!({"model": MODEL, "input": TEXTS})).await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["model"], MODEL);
    assert!(batch["total_duration"].as_u64().unwrap() > 0);
    assert!(batch["load_duration"].as_u64().unwrap() > 0);
    let together = vectors(&batch);
    assert_eq!(together.len(), TEXTS.len());
    for v in &together {
        assert_eq!(v.len(), 640);
        assert!((norm(v) - 1.0).abs() < 1e-4, "L2-normalised: {}", norm(v));
    }
    // All five in one decode.
    let log = s.log_text();
    let batches: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("embedding batch"))
        .collect();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert!(batches[0].contains("inputs=5"), "{batches:?}");

    let mut tokens = 0;
    for (i, text) in TEXTS.iter().enumerate() {
        let (_, alone) = post(&s, "/api/embed", json!({"model": MODEL, "input": text})).await;
        tokens += alone["prompt_eval_count"].as_u64().unwrap();
        let v = &vectors(&alone)[0];
        let cos = dot(v, &together[i]);
        assert!(cos >= 0.999, "text {i}: cosine {cos}");
    }
    assert_eq!(batch["prompt_eval_count"].as_u64().unwrap(), tokens);
    // Similar texts are closer than unrelated ones.
    assert!(dot(&together[0], &together[2]) > dot(&together[0], &together[3]));
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate_dimensions_and_the_legacy_endpoint() {
    let s = Server::start();
    let long = "word ".repeat(400);
    // Longer than the context (a small one here, to stay quick): cut by default, refused with
    // truncate:false.
    let (status, r) = post(
        &s,
        "/api/embed",
        json!({"model": MODEL, "input": long, "options": {"num_ctx": 256}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["prompt_eval_count"], 256);
    let (status, r) = post(
        &s,
        "/api/embed",
        json!({"model": MODEL, "input": long, "truncate": false, "options": {"num_ctx": 256}}),
    )
    .await;
    assert_eq!(
        (status, r),
        (
            400,
            json!({"error": "the input length exceeds the context length"})
        )
    );
    // dimensions: cut, then normalised again.
    let (_, full) = post(&s, "/api/embed", json!({"model": MODEL, "input": TEXTS[0]})).await;
    let (_, cut) = post(
        &s,
        "/api/embed",
        json!({"model": MODEL, "input": TEXTS[0], "dimensions": 64}),
    )
    .await;
    let (full, cut) = (&vectors(&full)[0], &vectors(&cut)[0]);
    assert_eq!(cut.len(), 64);
    assert!((norm(cut) - 1.0).abs() < 1e-4);
    let scale = norm(&full[..64]);
    for (a, b) in cut.iter().zip(&full[..64]) {
        assert!((a - b / scale).abs() < 1e-4);
    }
    // Empty input: loaded, nothing embedded. Bad input: 400.
    for empty in [json!(""), json!([]), Value::Null] {
        let (status, r) = post(&s, "/api/embed", json!({"model": MODEL, "input": empty})).await;
        assert_eq!(status, 200);
        assert_eq!(r["embeddings"], json!([]), "{r}");
    }
    for bad in [json!(5), json!(["a", 1])] {
        let (status, r) = post(&s, "/api/embed", json!({"model": MODEL, "input": bad})).await;
        assert_eq!((status, r), (400, json!({"error": "invalid input type"})));
    }
    let (status, r) = post(&s, "/api/embed", json!({"model": "nope", "input": "x"})).await;
    assert_eq!(
        (status, r),
        (404, json!({"error": "model 'nope' not found"}))
    );
    let (status, r) = post(&s, "/api/embed", json!({"input": "x"})).await;
    assert_eq!((status, r), (400, json!({"error": "model is required"})));

    // Legacy: one unit vector under "embedding", the same as /api/embed gives.
    let (status, r) = post(
        &s,
        "/api/embeddings",
        json!({"model": MODEL, "prompt": TEXTS[0]}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let legacy: Vec<f64> = r["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(dot(&legacy, full) > 0.9999);
    let (status, r) = post(&s, "/api/embeddings", json!({"model": MODEL, "prompt": ""})).await;
    assert_eq!((status, r), (200, json!({"embedding": []})));
}

/// llama.cpp's own mean pooling of `tokens`, computed in this process over the whole graph
/// (output layer included), L2-normalised: what the server's embedding must equal.
fn llama_cpp_mean_pooled(tokens: &[i32]) -> Vec<f64> {
    use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
    use llama_cpp_2::llama_batch::LlamaBatch;
    use llama_cpp_2::model::LlamaModel;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::token::LlamaToken;

    // The engine's backend: one llama.cpp initialisation per process, and this test binary also
    // runs the engine in-process elsewhere (hostile.rs).
    let backend = rollama::engine::llama::backend().expect("llama backend");
    let model = LlamaModel::load_from_file(backend, gguf(), &LlamaModelParams::default())
        .expect("load the test model");
    let n = tokens.len() as u32;
    let params = LlamaContextParams::default()
        .with_n_ctx(std::num::NonZeroU32::new(n.max(64)))
        .with_n_batch(n)
        .with_n_ubatch(n)
        .with_n_threads(1)
        .with_n_threads_batch(1)
        .with_embeddings(true)
        .with_pooling_type(LlamaPoolingType::Mean);
    let mut ctx = model.new_context(backend, params).expect("context");
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    for (pos, &t) in tokens.iter().enumerate() {
        batch
            .add(LlamaToken(t), pos as i32, &[0], true)
            .expect("batch");
    }
    ctx.decode(&mut batch).expect("decode");
    let v: Vec<f64> = ctx
        .embeddings_seq_ith(0)
        .expect("pooled embedding")
        .iter()
        .map(|&x| f64::from(x))
        .collect();
    let n = norm(&v);
    v.into_iter().map(|x| x / n).collect()
}

/// A generative model's embedding skips its output layer (the full-vocabulary product that is
/// most of the compute) and mean-pools the hidden states itself: the vector must be the one
/// llama.cpp's own pooling makes over the whole graph.
#[tokio::test(flavor = "multi_thread")]
async fn skipping_the_output_layer_gives_llama_cpps_mean_pooling() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    let text = TEXTS[1];
    let (status, r) = post(&s, "/api/embed", json!({"model": MODEL, "input": text})).await;
    assert_eq!(status, 200, "{r}");
    let ours = &vectors(&r)[0];
    let log = s.log_text();
    let batch = log
        .lines()
        .find(|l| l.contains("embedding batch"))
        .expect("an embedding batch line");
    assert!(
        batch.contains("output_layer=\"skipped\"") || batch.contains("output_layer=skipped"),
        "{batch}"
    );

    let (status, t) = post(
        &s,
        "/api/tokenize",
        json!({"model": MODEL, "content": text}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let tokens: Vec<i32> = t["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() as i32)
        .collect();
    assert_eq!(
        tokens.len() as u64,
        r["prompt_eval_count"].as_u64().unwrap()
    );
    let theirs = tokio::task::spawn_blocking(move || llama_cpp_mean_pooled(&tokens))
        .await
        .unwrap();
    assert_eq!(theirs.len(), ours.len());
    let cos = dot(ours, &theirs);
    assert!(cos > 0.9999, "cosine {cos}");
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-3, "largest difference {worst}");
}
