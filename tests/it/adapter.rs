//! ADAPTER end to end with a real LoRA GGUF: the test writes one for the test model (rank 1 on
//! layer 0's query projection, in the layout llama.cpp reads) and checks that the engine applies
//! it: a zero update leaves greedy output unchanged, a large one changes it.

use std::path::Path;

use serde_json::json;

use crate::harness::*;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_kv_str(out: &mut Vec<u8>, key: &str, value: &str) {
    put_str(out, key);
    out.extend_from_slice(&8u32.to_le_bytes());
    put_str(out, value);
}

/// A LoRA adapter GGUF: `lora_a` [640 x 1] and `lora_b` [1 x 1024] (F32) for
/// `blk.0.attn_q.weight` [640 x 1024], every `lora_b` value `b`.
fn write_lora(path: &Path, b: f32) {
    const ALIGN: usize = 32;
    let tensors: [(&str, [u64; 2], Vec<f32>); 2] = [
        (
            "blk.0.attn_q.weight.lora_a",
            [640, 1],
            (0..640)
                .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
                .collect(),
        ),
        ("blk.0.attn_q.weight.lora_b", [1, 1024], vec![b; 1024]),
    ];
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&4u64.to_le_bytes());
    put_kv_str(&mut out, "general.architecture", "gemma3");
    put_kv_str(&mut out, "general.type", "adapter");
    put_kv_str(&mut out, "adapter.type", "lora");
    put_str(&mut out, "adapter.lora.alpha");
    out.extend_from_slice(&6u32.to_le_bytes());
    out.extend_from_slice(&1.0f32.to_le_bytes());
    let mut offset = 0usize;
    for (name, dims, data) in &tensors {
        put_str(&mut out, name);
        out.extend_from_slice(&2u32.to_le_bytes());
        for d in dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes()); // F32
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        offset += (data.len() * 4).div_ceil(ALIGN) * ALIGN;
    }
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    for (_, _, data) in &tensors {
        let start = out.len();
        for v in data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.resize(start + (out.len() - start).div_ceil(ALIGN) * ALIGN, 0);
    }
    std::fs::write(path, out).unwrap();
}

async fn answer(s: &Server, model: &str) -> String {
    let body = json!({"model": model, "prompt": "The capital of France is", "raw": true,
                      "stream": false, "options": {"temperature": 0, "num_predict": 12}});
    let (status, r) = post(s, "/api/generate", body).await;
    assert_eq!(status, 200, "{model}: {r}");
    r["response"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lora_adapter_changes_what_the_model_says() {
    let s = Server::start();
    let dir = tempdir();
    let base = std::fs::read_to_string(modelfile_dir(dir.path())).unwrap();
    for (name, b) in [("lora-zero", 0.0f32), ("lora-big", 4.0)] {
        write_lora(&dir.path().join(format!("{name}.gguf")), b);
        let path = dir.path().join(format!("{name}.Modelfile"));
        std::fs::write(&path, format!("{base}ADAPTER ./{name}.gguf\n")).unwrap();
        let out = s.cli(&["create", name, "-f", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let plain = answer(&s, MODEL).await;
    assert_eq!(
        answer(&s, "lora-zero").await,
        plain,
        "a zero update changes nothing"
    );
    assert_ne!(
        answer(&s, "lora-big").await,
        plain,
        "the adapter is applied"
    );
    let log = s.log_text();
    assert!(log.contains("reloading model"), "{log}");
}
