//! A model with no Modelfile TEMPLATE is rendered with its GGUF's own Jinja chat template. The
//! test model has none, so this writes a copy of its GGUF with `tokenizer.chat_template` added
//! (header rewritten, tensor data untouched) and creates a model from it through the API.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::*;

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Byte offsets in a GGUF header: end of the key/value section, end of the tensor infos, start
/// of the tensor data, and the KV count.
struct Layout {
    n_kv: u64,
    kv_end: u64,
    infos_end: u64,
    data_start: u64,
    alignment: u64,
}

fn read_u32(f: &mut impl Read) -> u32 {
    let mut b = [0; 4];
    f.read_exact(&mut b).unwrap();
    u32::from_le_bytes(b)
}

fn read_u64(f: &mut impl Read) -> u64 {
    let mut b = [0; 8];
    f.read_exact(&mut b).unwrap();
    u64::from_le_bytes(b)
}

fn read_string(f: &mut impl Read) -> String {
    let n = read_u64(f);
    let mut b = vec![0; n as usize];
    f.read_exact(&mut b).unwrap();
    String::from_utf8_lossy(&b).into_owned()
}

/// Skips one value of GGUF type `t`, returning it as u64 when it is an unsigned integer.
fn skip_value(f: &mut (impl Read + Seek), t: u32) -> Option<u64> {
    let fixed = |t: u32| match t {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    };
    match t {
        8 => {
            read_string(f);
            None
        }
        9 => {
            let et = read_u32(f);
            let n = read_u64(f);
            match fixed(et) {
                Some(size) => {
                    f.seek(SeekFrom::Current((size * n) as i64)).unwrap();
                }
                None => {
                    for _ in 0..n {
                        skip_value(f, et);
                    }
                }
            }
            None
        }
        4 => Some(u64::from(read_u32(f))),
        10 => Some(read_u64(f)),
        t => {
            f.seek(SeekFrom::Current(fixed(t).unwrap() as i64)).unwrap();
            None
        }
    }
}

fn layout(path: &Path) -> Layout {
    let mut f = std::io::BufReader::new(fs::File::open(path).unwrap());
    let mut magic = [0; 4];
    f.read_exact(&mut magic).unwrap();
    assert_eq!(&magic, b"GGUF");
    assert_eq!(read_u32(&mut f), 3);
    let n_tensors = read_u64(&mut f);
    let n_kv = read_u64(&mut f);
    let mut alignment = 32;
    for _ in 0..n_kv {
        let key = read_string(&mut f);
        let t = read_u32(&mut f);
        let v = skip_value(&mut f, t);
        if key == "general.alignment" {
            alignment = v.unwrap();
        }
    }
    let kv_end = f.stream_position().unwrap();
    for _ in 0..n_tensors {
        read_string(&mut f);
        let dims = read_u32(&mut f);
        f.seek(SeekFrom::Current(i64::from(dims) * 8 + 4 + 8))
            .unwrap();
    }
    let infos_end = f.stream_position().unwrap();
    Layout {
        n_kv,
        kv_end,
        infos_end,
        data_start: infos_end.div_ceil(alignment) * alignment,
        alignment,
    }
}

/// Writes the test GGUF with `tokenizer.chat_template` set to [`CHATML`] into `dir`.
pub fn gguf_with_template(dir: &Path) -> PathBuf {
    let mut value = (CHATML.len() as u64).to_le_bytes().to_vec();
    value.extend_from_slice(CHATML.as_bytes());
    gguf_with_kv(dir, "chatml.gguf", "tokenizer.chat_template", 8, &value)
}

/// Writes a copy of the test GGUF into `dir/file` with one more metadata entry: `key` of GGUF
/// type `type_id` (4 u32, 8 string, ...) holding the little-endian `value` bytes.
pub fn gguf_with_kv(dir: &Path, file: &str, key: &str, type_id: u32, value: &[u8]) -> PathBuf {
    let src = gguf();
    let l = layout(src);
    let dest = dir.join(file);
    let mut input = fs::File::open(src).unwrap();
    let mut header = vec![0; l.infos_end as usize];
    input.read_exact(&mut header).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(&header[..16]);
    out.extend_from_slice(&(l.n_kv + 1).to_le_bytes());
    out.extend_from_slice(&header[24..l.kv_end as usize]);
    out.extend_from_slice(&(key.len() as u64).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&type_id.to_le_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(&header[l.kv_end as usize..]);
    let padded = (out.len() as u64).div_ceil(l.alignment) * l.alignment;
    out.resize(padded as usize, 0);
    let mut w = fs::File::create(&dest).unwrap();
    w.write_all(&out).unwrap();
    input.seek(SeekFrom::Start(l.data_start)).unwrap();
    std::io::copy(&mut input, &mut w).unwrap();
    dest
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_without_template_uses_the_ggufs_jinja_template() {
    let dir = tempdir();
    let path = gguf_with_template(dir.path());
    let data = fs::read(path).unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let s = Server::start_empty();
    let r = http()
        .post(s.url(&format!("/api/blobs/{digest}")))
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (status, body) = post(
        &s,
        "/api/create",
        json!({"model": "chatml", "files": {"m.gguf": digest}, "parameters": {"num_thread": 1, "stop": ["<|im_end|>"]}, "stream": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (_, show) = post(&s, "/api/show", json!({"model": "chatml"})).await;
    assert_eq!(show["template"], CHATML, "show reports the GGUF's template");
    assert!(show["model_info"].get("tokenizer.chat_template").is_none());

    let messages =
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Hi "}]);
    let (_, dbg) = post(
        &s,
        "/api/chat",
        json!({"model": "chatml", "messages": messages, "_debug_render_only": true}),
    )
    .await;
    assert_eq!(
        dbg["_debug_info"]["rendered_template"],
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let (status, body) = post(
        &s,
        "/api/chat",
        json!({"model": "chatml", "messages": messages, "stream": false, "options": {"num_predict": 8, "temperature": 0}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["eval_count"].as_u64().unwrap() > 0);
}
