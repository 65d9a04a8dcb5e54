//! The store is the product's memory: what one server writes, a second server (a restart) reads.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_reads_what_the_first_wrote() {
    let dir = tempdir();
    let models = dir.path().join("models");
    clone_store(fixture_store(), &models);
    let first = Server::start_on(&models);
    let (status, _) = post(
        &first,
        "/api/create",
        json!({"model": "Custom/Pirate:Latest", "from": MODEL, "system": "Arr.", "parameters": {"num_predict": 3}, "stream": false}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, show1) = post(&first, "/api/show", json!({"model": "custom/pirate"})).await;
    let tags1: serde_json::Value = http()
        .get(first.url("/api/tags"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    first.stop();

    let second = Server::start_on(&models);
    let tags2: serde_json::Value = http()
        .get(second.url("/api/tags"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags1, tags2);
    let (_, show2) = post(
        &second,
        "/api/show",
        json!({"model": "CUSTOM/PIRATE:latest"}),
    )
    .await;
    assert_eq!(show1, show2);
    assert_eq!(show2["system"], "Arr.");
    let (status, body) = post(
        &second,
        "/api/generate",
        json!({"model": "custom/pirate", "prompt": "Hello", "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["eval_count"], 3, "the model's own parameters apply");
    // The existing directory spelling was reused, not a second lower-case copy.
    let ns = models.join("manifests/registry.ollama.ai");
    let names: Vec<String> = std::fs::read_dir(&ns)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"Custom".to_string()), "{names:?}");
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn startup_prunes_orphans_but_keeps_fresh_and_referenced_blobs() {
    let dir = tempdir();
    let models = dir.path().join("models");
    clone_store(fixture_store(), &models);
    let blobs = models.join("blobs");
    let orphan = blobs.join(format!("sha256-{}", "0".repeat(64)));
    std::fs::write(&orphan, b"old orphan").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .append(true)
        .open(&orphan)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let fresh = blobs.join(format!("sha256-{}", "1".repeat(64)));
    std::fs::write(&fresh, b"being written by someone").unwrap();
    let count = walk(&blobs).len();
    let s = Server::start_on(&models);
    assert!(!orphan.exists());
    assert!(fresh.exists());
    assert_eq!(walk(&blobs).len(), count - 1);
    let (status, _) = post(&s, "/api/show", json!({"model": MODEL})).await;
    assert_eq!(status, 200);
}
