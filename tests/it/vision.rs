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
        let n_past = chunks
            .eval_chunks(&mut mtmd, &mut ctx, 0, 0, 256, true)
            .expect("eval");
        // Greedy: eight tokens.
        let mut out = Vec::new();
        let mut batch = llama_cpp_2::llama_batch::LlamaBatch::new(1, 1);
        let mut last = -1;
        for pos in n_past..n_past + 8 {
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
                .add(llama_cpp_2::token::LlamaToken(best), pos, &[0], true)
                .unwrap();
            ctx.decode(&mut batch).expect("decode");
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
    seer(&s);
    // The projector `seer` was made from (the generator is seeded: the same bytes).
    let dir = tempdir();
    let proj = projector(dir.path());

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

/// `rgb` (width x height x 3 bytes) as a PNG file: stored (uncompressed) deflate blocks.
pub fn png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    for row in rgb.chunks(width as usize * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        z.extend_from_slice(&(b.len() as u16).to_le_bytes());
        z.extend_from_slice(&(!(b.len() as u16)).to_le_bytes());
        z.extend_from_slice(b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Creates `seer`: the test model with the synthetic projector.
fn seer(s: &Server) {
    let dir = tempdir();
    projector(dir.path());
    std::fs::copy(gguf(), dir.path().join("text.gguf")).unwrap();
    std::fs::write(
        dir.path().join("Modelfile"),
        "FROM ./text.gguf\nFROM ./mmproj.gguf\nPARAMETER num_predict 16\n",
    )
    .unwrap();
    let mf = dir.path().join("Modelfile");
    let out = s.cli(&["create", "seer", "-f", mf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Images go through the projector into the prompt: counted, different images give different
/// greedy answers, the same image the same one; a cached image is not encoded again on the
/// next turn; images to a model without a projector and corrupt images are 400s that leave the
/// server and runner serving.
#[tokio::test(flavor = "multi_thread")]
async fn images_reach_the_model_through_the_projector() {
    use serde_json::json;
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    seer(&s);
    let red = b64(&png(28, 28, &image([200, 30, 30], [255, 255, 255])));
    let blue = b64(&png(28, 28, &image([20, 40, 220], [0, 0, 0])));
    let ask = |img: Option<&str>| {
        let mut m = json!({"role": "user", "content": "What is this?"});
        if let Some(i) = img {
            m["images"] = json!([i]);
        }
        json!({"model": "seer", "messages": [m], "stream": false,
               "options": {"temperature": 0, "num_predict": 8}})
    };
    let (status, plain) = post(&s, "/api/chat", ask(None)).await;
    assert_eq!(status, 200, "{plain}");
    let (status, a) = post(&s, "/api/chat", ask(Some(&red))).await;
    assert_eq!(status, 200, "{a}");
    let with = a["prompt_eval_count"].as_u64().unwrap();
    let without = plain["prompt_eval_count"].as_u64().unwrap();
    assert!(
        with >= without + 4,
        "the image's 4 tokens are counted: {with} vs {without}"
    );
    let (_, b) = post(&s, "/api/chat", ask(Some(&blue))).await;
    let (_, again) = post(&s, "/api/chat", ask(Some(&red))).await;
    let text = |v: &serde_json::Value| v["message"]["content"].as_str().unwrap().to_string();
    assert_eq!(
        text(&a),
        text(&again),
        "the same image, the same greedy answer"
    );
    assert_ne!(
        text(&a),
        text(&b),
        "different images, different greedy answers"
    );

    // The next turn over the same image: the slot's cache holds it, so it is not encoded again.
    let encoded = || s.log_text().matches("image encoded").count();
    let before = encoded();
    assert!(
        before >= 3,
        "each new image was encoded and logged: {before}"
    );
    let turn2 = json!({"model": "seer", "stream": false,
        "options": {"temperature": 0, "num_predict": 4},
        "messages": [{"role": "user", "content": "What is this?", "images": [red]},
                     {"role": "assistant", "content": text(&a)},
                     {"role": "user", "content": "And the colour?"}]});
    let (status, t2) = post(&s, "/api/chat", turn2).await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(encoded(), before, "the cached image was encoded again");
    assert!(t2["prompt_eval_count"].as_u64().unwrap() > with);

    // The other routes carry images too.
    let (status, g) = post(
        &s,
        "/api/generate",
        json!({"model": "seer", "prompt": "What is this?",
        "images": [red], "stream": false, "options": {"temperature": 0, "num_predict": 8}}),
    )
    .await;
    assert_eq!(status, 200, "{g}");
    assert!(g["prompt_eval_count"].as_u64().unwrap() >= 4);
    let url = format!("data:image/png;base64,{red}");
    let (status, o) = post(
        &s,
        "/v1/chat/completions",
        json!({"model": "seer", "temperature": 0, "max_tokens": 8,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                  {"type": "text", "text": "What is this?"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{o}");
    // Each OpenAI content part is its own message: the image's tokens and a second turn.
    assert!(
        o["usage"]["prompt_tokens"].as_u64().unwrap() >= without + 4,
        "{o}"
    );
    let (status, m) = post(
        &s,
        "/v1/messages",
        json!({"model": "seer", "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": red}},
            {"type": "text", "text": "What is this?"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["usage"]["input_tokens"].as_u64(), Some(with), "{m}");

    // A vision model's context is at least 2048 tokens, as in Ollama.
    let mut small = ask(Some(&red));
    small["options"]["num_ctx"] = json!(512);
    let (status, r) = post(&s, "/api/chat", small).await;
    assert_eq!(status, 200, "{r}");
    let ps = get(&s, "/api/ps").await;
    let ctx = ps["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "seer:latest")
        .map(|m| m["context_length"].clone());
    assert_eq!(ctx, Some(json!(2048)), "{ps}");

    // A large image is resized to the projector's input by llama.cpp: still 4 tokens.
    let big = b64(&png(1024, 768, &{
        let mut px = Vec::with_capacity(1024 * 768 * 3);
        for i in 0..1024 * 768 {
            px.extend_from_slice(&[(i % 251) as u8, (i % 13) as u8 * 19, 90]);
        }
        px
    }));
    let (status, large) = post(&s, "/api/chat", ask(Some(&big))).await;
    assert_eq!(status, 200, "{large}");
    assert_eq!(large["prompt_eval_count"].as_u64(), Some(with), "{large}");

    // Errors: no projector, a corrupt image, a truncated one; each a 400, and both models
    // answer afterwards.
    let mut text_only = ask(Some(&red));
    text_only["model"] = json!(MODEL);
    let (status, e) = post(&s, "/api/chat", text_only).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (
            400,
            Some("this model is missing data required for image input")
        ),
        "{e}"
    );
    for bad in [b64(b"not an image at all"), red[..40].to_string()] {
        let (status, e) = post(&s, "/api/chat", ask(Some(&bad))).await;
        assert_eq!(status, 400, "{e}");
        assert!(e["error"].as_str().unwrap().contains("image"), "{e}");
    }
    let (status, ok) = post(&s, "/api/chat", ask(Some(&red))).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(text(&ok), text(&a));
    let (status, _) = post(
        &s,
        "/api/chat",
        json!({"model": MODEL, "stream": false,
        "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(status, 200);
}

/// `rollama run` picks up image paths in the prompt for a vision model, as Ollama's CLI does,
/// and a missing file is a clear error; a text model gets the path as text.
#[test]
fn run_sends_the_images_a_prompt_names() {
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    seer(&s);
    let dir = tempdir();
    let path = dir.path().join("red square.png");
    std::fs::write(&path, png(28, 28, &image([200, 30, 30], [255, 255, 255]))).unwrap();
    let quoted = format!("what is in '{}'", path.display());
    let out = s.cli(&["run", "seer", &quoted]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("Added image '{}'", path.display())),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).is_empty());
    assert!(
        s.log_text().contains("image encoded"),
        "the image reached the runner"
    );
    let escaped = format!(
        "what is in {}",
        path.display().to_string().replace(' ', "\\ ")
    );
    let out = s.cli(&["run", "seer", &escaped]);
    assert!(out.status.success(), "{}", stderr(&out));
    let missing = dir.path().join("missing.png");
    let out = s.cli(&["run", "seer", &format!("what is in {}", missing.display())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!(
            "Error: couldn't read image '{}': ",
            missing.display()
        )),
        "{}",
        stderr(&out)
    );
    let out = s.cli(&["run", MODEL, &format!("what is in {}", missing.display())]);
    assert!(
        out.status.success(),
        "a text model takes the path as text: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("Added image"));
}

/// The REPL of a vision model: `/?` says how to include images, `/show info` shows the
/// projector, and a line that starts with an image's path sends the image.
#[test]
fn the_repl_takes_image_paths() {
    use crate::repl::run_in_tmux;
    let s = Server::start_env(&[("OLLAMA_DEBUG", "1")]);
    seer(&s);
    let dir = tempdir();
    let path = dir.path().join("red.png");
    std::fs::write(&path, png(28, 28, &image([200, 30, 30], [255, 255, 255]))).unwrap();
    let t = run_in_tmux(&s, "v", "seer");
    t.wait_for("the prompt", |s| s.contains(">>> "));
    t.line("/?");
    t.wait_for("the image hint", |s| {
        s.contains("Use /path/to/file to include .jpg, .png, or .webp images.")
    });
    t.line("/show info");
    t.wait_for("the projector section", |s| {
        s.contains("  Projector") && s.contains("dimensions")
    });
    t.line(&format!("{} what is this?", path.display()));
    t.wait_for("the image added", |s| {
        s.contains(&format!("Added image '{}'", path.display()))
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !s.log_text().contains("image encoded") {
        assert!(
            std::time::Instant::now() < deadline,
            "no image reached the runner"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    t.line("/bye");
    let end = t.wait_for("exit", |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}

/// A vision model pushed to a registry and pulled into another store keeps its projector layer
/// and sees images there.
#[tokio::test(flavor = "multi_thread")]
async fn a_pulled_vision_model_keeps_its_projector() {
    use serde_json::json;
    let reg = crate::registry::DockerRegistry::start();
    let a = Server::start();
    seer(&a);
    let name = format!("{}/test/seer:latest", reg.host());
    assert!(a.cli(&["cp", "seer", &name]).status.success());
    let out = a.cli(&["push", "--insecure", &name]);
    assert!(out.status.success(), "push: {}", stderr(&out));
    let b = Server::start_empty();
    let out = b.cli(&["pull", "--insecure", &name]);
    assert!(out.status.success(), "pull: {}", stderr(&out));
    let (_, show) = post(&b, "/api/show", json!({"model": name})).await;
    assert!(
        show["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("vision")),
        "{show}"
    );
    assert_eq!(show["projector_info"]["clip.projector_type"], "mlp");
    let red = b64(&png(28, 28, &image([200, 30, 30], [255, 255, 255])));
    let ask = |model: &str| {
        json!({"model": model, "stream": false, "options": {"temperature": 0, "num_predict": 8},
        "messages": [{"role": "user", "content": "What is this?", "images": [red]}]})
    };
    let (status, there) = post(&b, "/api/chat", ask(&name)).await;
    assert_eq!(status, 200, "{there}");
    let (_, here) = post(&a, "/api/chat", ask("seer")).await;
    assert_eq!(
        there["message"]["content"], here["message"]["content"],
        "the same weights answer alike"
    );
    assert_eq!(there["prompt_eval_count"], here["prompt_eval_count"]);
}
