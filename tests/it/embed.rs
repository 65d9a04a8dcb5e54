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
