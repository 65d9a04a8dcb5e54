//! Vision through llama.cpp's multimodal library (`mtmd`), on the real test model with a
//! synthetic projector: no real vision model can be downloaded here, so
//! `tests/vision/make_projector.py` writes a LLaVA-style `mlp` projector with random weights
//! whose output width is the test model's 640. What this proves is the plumbing, not sight:
//! the projector loads against the text model, an image becomes its tokens, and different
//! images lead the same prompt to different greedy answers while the same image repeats one.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// Writes the synthetic projector into `dir` (seeded: the same bytes every time).
pub fn projector(dir: &Path) -> PathBuf {
    let out = dir.join("mmproj.gguf");
    let status = Command::new(crate::clients::python())
        .arg(repo().join("tests/vision/make_projector.py"))
        .arg(&out)
        .status()
        .expect("run make_projector.py");
    assert!(status.success(), "make_projector.py failed");
    out
}

/// A 28x28 RGB image: a colour and a diagonal stripe of another, so two differ everywhere.
pub fn image(base: [u8; 3], stripe: [u8; 3]) -> Vec<u8> {
    let mut px = Vec::with_capacity(28 * 28 * 3);
    for y in 0..28 {
        for x in 0..28 {
            px.extend_from_slice(if (x + y) % 7 == 0 { &stripe } else { &base });
        }
    }
    px
}

#[test]
fn mtmd_encodes_images_with_the_synthetic_projector() {
    use llama_cpp_2::context::params::LlamaContextParams;
    use llama_cpp_2::model::LlamaModel;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::mtmd::{
        MtmdBitmap, MtmdContext, MtmdContextParams, MtmdInputChunkType, MtmdInputText,
        mtmd_default_marker,
    };

    let dir = tempdir();
    let proj = projector(dir.path());
    let backend = rollama::engine::llama::backend().expect("llama backend");
    let model = LlamaModel::load_from_file(backend, gguf(), &LlamaModelParams::default())
        .expect("load the test model");
    let params = MtmdContextParams {
        use_gpu: false,
        print_timings: false,
        n_threads: 2,
        media_marker: CString::new(mtmd_default_marker()).unwrap(),
        image_min_tokens: -1,
        image_max_tokens: -1,
    };
    let mut mtmd = MtmdContext::init_from_file(proj.to_str().unwrap(), &model, &params)
        .expect("the projector loads against the test model");
    assert!(mtmd.support_vision());

    let mut answer = |rgb: &[u8]| -> (usize, Vec<i32>) {
        let bitmap = MtmdBitmap::from_image_data(28, 28, rgb).expect("bitmap");
        let prompt = format!(
            "<start_of_turn>user\n{}What is this?<end_of_turn>\n<start_of_turn>model\n",
            mtmd_default_marker()
        );
        let chunks = mtmd
            .tokenize(
                MtmdInputText {
                    text: prompt,
                    add_special: true,
                    parse_special: true,
                },
                &[&bitmap],
            )
            .expect("tokenize");
        let image_tokens: usize = (0..chunks.len())
            .filter_map(|i| chunks.get(i))
            .filter(|c| c.chunk_type() == MtmdInputChunkType::Image)
            .map(|c| c.n_tokens())
            .sum();
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(std::num::NonZeroU32::new(256))
            .with_n_threads(2)
            .with_n_threads_batch(2);
        let mut ctx = model.new_context(backend, ctx_params).expect("context");
        let mut n_past = chunks
            .eval_chunks(&mut mtmd, &mut ctx, 0, 0, 256, true)
            .expect("eval");
        // Greedy: eight tokens.
        let mut out = Vec::new();
        let mut batch = llama_cpp_2::llama_batch::LlamaBatch::new(1, 1);
        let mut last = -1;
        for _ in 0..8 {
            let logits = ctx.get_logits_ith(last);
            let best = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as i32)
                .unwrap();
            out.push(best);
            batch.clear();
            batch
                .add(llama_cpp_2::token::LlamaToken(best), n_past, &[0], true)
                .unwrap();
            ctx.decode(&mut batch).expect("decode");
            n_past += 1;
            last = 0;
        }
        (image_tokens, out)
    };
    let red = image([200, 30, 30], [255, 255, 255]);
    let blue = image([20, 40, 220], [0, 0, 0]);
    let (n, a) = answer(&red);
    assert_eq!(n, 4, "a 28x28 image in 14x14 patches is 4 tokens");
    let (_, b) = answer(&blue);
    let (_, again) = answer(&red);
    assert_eq!(a, again, "the same image gives the same greedy answer");
    assert_ne!(a, b, "different images give different greedy answers");
}

/// A vision model is the text GGUF plus a projector GGUF, stored as Ollama stores it: the
/// projector becomes an `application/vnd.ollama.image.projector` layer, from a Modelfile with
/// two FROM lines and from `/api/create` `files`.
#[tokio::test(flavor = "multi_thread")]
async fn create_stores_the_projector_as_its_own_layer() {
    use sha2::Digest as _;
    let s = Server::start();
    let dir = tempdir();
    let proj = projector(dir.path());
    std::fs::copy(gguf(), dir.path().join("text.gguf")).unwrap();
    std::fs::write(
        dir.path().join("Modelfile"),
        "FROM ./text.gguf\nFROM ./mmproj.gguf\n",
    )
    .unwrap();
    let mf = dir.path().join("Modelfile");
    let out = s.cli(&["create", "seer", "-f", mf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (status, show) = post(&s, "/api/show", serde_json::json!({"model": "seer"})).await;
    assert_eq!(status, 200, "{show}");
    let caps: Vec<&str> = show["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(caps[..2], ["completion", "vision"], "{caps:?}");
    let info = &show["projector_info"];
    assert_eq!(info["general.architecture"], "clip", "{show}");
    assert_eq!(info["clip.projector_type"], "mlp");
    assert_eq!(info["clip.vision.projection_dim"], 640);
    let (_, plain) = post(&s, "/api/show", serde_json::json!({"model": MODEL})).await;
    assert!(plain.get("projector_info").is_none(), "{plain}");

    // The manifest: the model layer, then the projector layer, with the file's digest.
    let bytes = std::fs::read(&proj).unwrap();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            s.models
                .join("manifests/registry.ollama.ai/library/seer/latest"),
        )
        .unwrap(),
    )
    .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let proj_layer = layers
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.ollama.image.projector")
        .unwrap_or_else(|| panic!("{manifest}"));
    assert_eq!(proj_layer["digest"], digest.as_str());
    assert_eq!(proj_layer["size"], bytes.len() as u64);

    // The CLI's show has Ollama's Projector section; list counts the projector in the size.
    let text = stdout(&s.cli(&["show", "seer"]));
    assert!(text.contains("  Projector"), "{text}");
    assert!(
        text.contains("architecture        clip") || text.contains("architecture    clip"),
        "{text}"
    );
    assert!(
        text.contains("dimensions") && text.contains("640"),
        "{text}"
    );
    let list = stdout(&s.cli(&["list"]));
    let size = |name: &str| -> String {
        list.lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let tags = get(&s, "/api/tags").await;
    let sizes: std::collections::HashMap<String, u64> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["size"].as_u64().unwrap(),
            )
        })
        .collect();
    // Ollama's size: every layer and the config.
    let layer_sum: u64 = layers
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum::<u64>()
        + manifest["config"]["size"].as_u64().unwrap();
    assert_eq!(sizes["seer:latest"], layer_sum, "{sizes:?} {manifest}");
    assert!(layer_sum > std::fs::metadata(gguf()).unwrap().len() + bytes.len() as u64 - 1);
    assert!(!size("seer").is_empty(), "{list}");

    // /api/create with `files`: the same classification.
    let text_digest = layers
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.ollama.image.model")
        .map(|l| l["digest"].clone())
        .unwrap();
    let (status, r) = post(
        &s,
        "/api/create",
        serde_json::json!({"model": "seer2", "stream": false, "files": {
            "text.gguf": text_digest, "mmproj.gguf": digest}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let (_, show2) = post(&s, "/api/show", serde_json::json!({"model": "seer2"})).await;
    assert_eq!(show2["projector_info"], show["projector_info"]);
    // Only a projector: no weights to run.
    let (status, r) = post(
        &s,
        "/api/create",
        serde_json::json!({"model": "eyes", "stream": false, "files": {"mmproj.gguf": digest}}),
    )
    .await;
    assert_eq!(status, 400, "{r}");
}
