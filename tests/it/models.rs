//! Model endpoints: tags, show, delete, version, root, blobs and create, against the real store.

use std::fs;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_created_store_has_ollamas_layout() {
    let store = fixture_store();
    let manifest_path = store.join("manifests/registry.ollama.ai/library/gemma3-base/270m");
    let bytes = fs::read(&manifest_path).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    let types: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.ollama.image.model",
            "application/vnd.ollama.image.template",
            "application/vnd.ollama.image.license",
            "application/vnd.ollama.image.params",
        ]
    );
    // Every layer is a blob named by its content's sha256, with the size the manifest says.
    for layer in m["layers"].as_array().unwrap().iter().chain([&m["config"]]) {
        let digest = layer["digest"].as_str().unwrap();
        let path = store.join("blobs").join(digest.replace(':', "-"));
        let data = fs::read(&path).unwrap();
        assert_eq!(data.len() as u64, layer["size"].as_u64().unwrap());
        assert_eq!(
            format!("sha256:{}", hex::encode(Sha256::digest(&data))),
            digest
        );
    }
    let model_layer = &m["layers"][0];
    assert_eq!(model_layer["size"], 253_113_024u64);
    let config_path = store
        .join("blobs")
        .join(m["config"]["digest"].as_str().unwrap().replace(':', "-"));
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(config_path).unwrap()).unwrap();
    assert_eq!(config["model_format"], "gguf");
    assert_eq!(config["model_family"], "gemma3");
    assert_eq!(config["model_type"], "268.10M");
    assert_eq!(config["file_type"], "Q4_K_M");
    let params_digest = m["layers"][3]["digest"].as_str().unwrap().replace(':', "-");
    let params = fs::read_to_string(store.join("blobs").join(params_digest)).unwrap();
    assert_eq!(
        params,
        r#"{"num_predict":48,"num_thread":1,"stop":["<end_of_turn>"],"temperature":1,"top_k":64,"top_p":0.95}"#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_lists_models_newest_first() {
    let s = Server::start();
    // A second model made from the first through the API, so it is the newest.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (status, body) = post(
        &s,
        "/api/create",
        json!({"model": "me/second:v1", "from": MODEL, "system": "Be brief.", "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    let r = http().get(s.url("/api/tags")).send().await.unwrap();
    let tags: serde_json::Value = r.json().await.unwrap();
    let models = tags["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["me/second:v1", MODEL]);
    let m = &models[1];
    assert_eq!(m["model"], MODEL);
    assert!(m["size"].as_u64().unwrap() > 253_000_000);
    assert_eq!(m["digest"].as_str().unwrap().len(), 64);
    assert_eq!(m["details"]["format"], "gguf");
    assert_eq!(m["details"]["family"], "gemma3");
    assert_eq!(m["details"]["families"], json!(["gemma3"]));
    assert_eq!(m["details"]["parameter_size"], "268.10M");
    assert_eq!(m["details"]["quantization_level"], "Q4_K_M");
    assert_eq!(m["capabilities"], json!(["completion"]));
    assert!(chrono::DateTime::parse_from_rfc3339(m["modified_at"].as_str().unwrap()).is_ok());
    assert_eq!(models[0]["details"]["parent_model"], MODEL);
    // The shared weights are one blob: the derived model adds only small layers.
    let head = http().head(s.url("/api/tags")).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn show_reports_modelfile_parameters_template_details_and_info() {
    let s = Server::start();
    let (status, body) = post(&s, "/api/show", json!({"model": MODEL})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["details"]["family"], "gemma3");
    assert_eq!(body["details"]["parameter_size"], "268.10M");
    assert_eq!(body["details"]["quantization_level"], "Q4_K_M");
    assert_eq!(body["capabilities"], json!(["completion"]));
    assert_eq!(body["model_info"]["general.architecture"], "gemma3");
    assert_eq!(
        body["model_info"]["general.parameter_count"],
        268_098_176u64
    );
    assert_eq!(body["model_info"]["gemma3.context_length"], 32768);
    assert!(body["model_info"].get("general.name").is_none());
    assert!(
        body["template"]
            .as_str()
            .unwrap()
            .contains("<start_of_turn>model")
    );
    assert!(
        body["license"]
            .as_str()
            .unwrap()
            .contains("Gemma Terms of Use")
    );
    let params = body["parameters"].as_str().unwrap();
    assert!(
        params.contains(&format!("{:<30} {}", "stop", "\"<end_of_turn>\"")),
        "{params}"
    );
    assert!(
        params.contains(&format!("{:<30} {}", "top_p", "0.95")),
        "{params}"
    );
    let mf = body["modelfile"].as_str().unwrap();
    assert!(mf.starts_with("# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM gemma3-base:270m\n\nFROM "), "{mf}");
    assert!(mf.contains("\nPARAMETER stop <end_of_turn>\n"), "{mf}");
    assert!(
        mf.contains("TEMPLATE \"\"\"") || mf.contains("TEMPLATE \""),
        "{mf}"
    );
    assert!(body.get("tensors").is_none());

    let (_, verbose) = post(&s, "/api/show", json!({"model": MODEL, "verbose": true})).await;
    let tensors = verbose["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 236);
    assert!(
        verbose["model_info"]["tokenizer.ggml.tokens"]
            .as_array()
            .unwrap()
            .len()
            > 1000
    );

    // The legacy `name` field works too, and the name is case-insensitive.
    let (status, _) = post(&s, "/api/show", json!({"name": "GEMMA3-BASE:270M"})).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_unreferenced_blobs_only() {
    let s = Server::start();
    let (status, _) = post(
        &s,
        "/api/create",
        json!({"model": "copy-with-system", "from": MODEL, "system": "Only mine.", "stream": false}),
    )
    .await;
    assert_eq!(status, 200);
    let blobs_before = walk(&s.models.join("blobs")).len();
    let r = http()
        .delete(s.url("/api/delete"))
        .json(&json!({"model": "copy-with-system"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let blobs_after = walk(&s.models.join("blobs"));
    // The system layer and the derived config are gone; the shared weights stay.
    assert_eq!(blobs_before - blobs_after.len(), 2);
    assert!(
        blobs_after
            .iter()
            .any(|p| fs::metadata(p).unwrap().len() == 253_113_024)
    );
    let (status, _) = post(
        &s,
        "/api/generate",
        json!({"model": MODEL, "prompt": "hi", "stream": false, "options": {"num_predict": 1}}),
    )
    .await;
    assert_eq!(status, 200, "the original still works");
    assert!(
        !s.models
            .join("manifests/registry.ollama.ai/library/copy-with-system")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn version_and_root() {
    let s = Server::start_empty();
    let r = http().get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "Ollama is running");
    let r = http().head(s.url("/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = http()
        .get(s.url("/api/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let r = http().get(s.url("/api/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = http().get(s.url("/api/generate")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_upload_verify_and_create_from_files() {
    let s = Server::start_empty();
    let data = fs::read(gguf()).unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let head = http()
        .head(s.url(&format!("/api/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 404);

    // Wrong bytes for the digest: 400, and nothing visible in the store.
    let r = http()
        .post(s.url(&format!("/api/blobs/{digest}")))
        .body(data[..1000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let err: serde_json::Value = r.json().await.unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("digest mismatch, expected \"sha256:"),
        "{err}"
    );
    assert!(walk(&s.models.join("blobs")).is_empty());

    let r = http()
        .post(s.url("/api/blobs/sha256:abc"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid digest format"
    );

    let r = http()
        .post(s.url(&format!("/api/blobs/{digest}")))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = http()
        .post(s.url(&format!("/api/blobs/{digest}")))
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "already there");

    let lines = post_stream(
        &s,
        "/api/create",
        json!({"model": "from-files", "files": {"model.gguf": digest}, "parameters": {"temperature": 0.5, "stop": ["a", "b"]}, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}),
    )
    .await;
    let statuses: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "parsing GGUF");
    assert!(
        statuses
            .iter()
            .any(|s| s.starts_with("using existing layer sha256:"))
    );
    assert!(
        statuses
            .iter()
            .any(|s| s.starts_with("creating new layer sha256:"))
    );
    assert_eq!(
        &statuses[statuses.len() - 2..],
        ["writing manifest", "success"]
    );

    let (_, show) = post(&s, "/api/show", json!({"model": "from-files"})).await;
    assert_eq!(
        show["messages"],
        json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    );
    assert_eq!(show["template"], "{{ .Prompt }}");
    let params = show["parameters"].as_str().unwrap();
    assert!(
        params.contains(&format!("{:<30} \"a\"\n{:<30} \"b\"", "stop", "stop")),
        "{params}"
    );

    // Not a GGUF: refused before anything is written.
    let junk = b"not a gguf at all".to_vec();
    let jd = format!("sha256:{}", hex::encode(Sha256::digest(&junk)));
    http()
        .post(s.url(&format!("/api/blobs/{jd}")))
        .body(junk)
        .send()
        .await
        .unwrap();
    let (status, body) = post(
        &s,
        "/api/create",
        json!({"model": "junk", "files": {"x.gguf": jd}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "supplied file was not in GGUF format");
    let (status, body) = post(
        &s,
        "/api/create",
        json!({"model": "junk", "files": {"../x.gguf": jd}}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "file path must be relative")
    );
    let (status, body) = post(&s, "/api/create", json!({"model": "junk"})).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "neither 'from' or 'files' was specified")
    );
    let (status, body) = post(
        &s,
        "/api/create",
        json!({"model": "bad name!", "from": "from-files"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "invalid model name")
    );
    let (status, body) = post(
        &s,
        "/api/create",
        json!({"model": "t", "from": "from-files", "template": "{{ .Prompt"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("template error: "),
        "{body}"
    );
}
