#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::*;

/// Minimal GGUF writer, just enough to produce test files.
struct W(Vec<u8>);

impl W {
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> W {
        let mut w = W(b"GGUF".to_vec());
        w.u32(version);
        w.u64(n_tensors);
        w.u64(n_kv);
        w
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn kv(&mut self, key: &str, v: &Value) {
        self.str(key);
        self.u32(v.value_type().id());
        self.payload(v);
    }
    fn payload(&mut self, v: &Value) {
        match v {
            Value::U8(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::I8(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::U16(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::I16(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::U32(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::I32(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::U64(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::I64(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::F32(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::F64(x) => self.0.extend_from_slice(&x.to_le_bytes()),
            Value::Bool(x) => self.0.push(u8::from(*x)),
            Value::String(s) => self.str(s),
            Value::Array(a) => self.array(a),
        }
    }
    fn array(&mut self, a: &Array) {
        self.u32(a.elem_type().id());
        self.u64(a.kept() as u64);
        macro_rules! each {
            ($v:expr, $variant:ident) => {
                for x in $v {
                    self.payload(&Value::$variant(x.clone()));
                }
            };
        }
        match &a.items {
            ArrayItems::U8(v) => each!(v, U8),
            ArrayItems::I8(v) => each!(v, I8),
            ArrayItems::U16(v) => each!(v, U16),
            ArrayItems::I16(v) => each!(v, I16),
            ArrayItems::U32(v) => each!(v, U32),
            ArrayItems::I32(v) => each!(v, I32),
            ArrayItems::U64(v) => each!(v, U64),
            ArrayItems::I64(v) => each!(v, I64),
            ArrayItems::F32(v) => each!(v, F32),
            ArrayItems::F64(v) => each!(v, F64),
            ArrayItems::Bool(v) => each!(v, Bool),
            ArrayItems::String(v) => each!(v, String),
            ArrayItems::Array(v) => each!(v, Array),
        }
    }
    fn tensor(&mut self, name: &str, shape: &[u64], kind: u32, offset: u64) {
        self.str(name);
        self.u32(shape.len() as u32);
        for d in shape {
            self.u64(*d);
        }
        self.u32(kind);
        self.u64(offset);
    }
}

fn arr(items: ArrayItems) -> Array {
    let mut a = Array { len: 0, items };
    a.len = a.kept() as u64;
    a
}

fn strings(n: usize) -> ArrayItems {
    ArrayItems::String((0..n).map(|i| format!("tok{i}")).collect())
}

/// Every value type, nested and empty arrays, and a long token list.
fn sample_kv() -> Vec<(String, Value)> {
    let nested = arr(ArrayItems::Array(vec![
        arr(ArrayItems::U32(vec![1, 2, 3])),
        arr(ArrayItems::Array(vec![
            arr(strings(2)),
            arr(ArrayItems::Bool(vec![])),
        ])),
        arr(ArrayItems::String(vec![])),
    ]));
    [
        ("general.architecture", Value::String("llama".into())),
        ("general.name", Value::String("Tiny".into())),
        ("llama.context_length", Value::U32(4096)),
        ("llama.embedding_length", Value::U64(256)),
        ("llama.block_count", Value::I32(2)),
        ("llama.rms_eps", Value::F32(1e-6)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("t.u8", Value::U8(255)),
        ("t.i8", Value::I8(-128)),
        ("t.u16", Value::U16(65535)),
        ("t.i16", Value::I16(-32768)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.f64", Value::F64(0.1)),
        ("t.bool", Value::Bool(true)),
        (
            "t.short",
            Value::Array(arr(ArrayItems::I16(vec![-1, 2, -3]))),
        ),
        ("t.empty", Value::Array(arr(ArrayItems::F64(vec![])))),
        ("t.nested", Value::Array(nested)),
        (
            "t.bools",
            Value::Array(arr(ArrayItems::Bool(vec![true, false]))),
        ),
        (
            "t.all_ints",
            Value::Array(arr(ArrayItems::U8(vec![0, 1, 2, 3, 4, 5, 6]))),
        ),
        ("t.i8s", Value::Array(arr(ArrayItems::I8(vec![-1, 1])))),
        ("t.u16s", Value::Array(arr(ArrayItems::U16(vec![7])))),
        ("t.i64s", Value::Array(arr(ArrayItems::I64(vec![-7, 7])))),
        ("t.u64s", Value::Array(arr(ArrayItems::U64(vec![u64::MAX])))),
        ("tokenizer.chat_template", Value::String("{{ x }}".into())),
        ("tokenizer.ggml.tokens", Value::Array(arr(strings(300)))),
        (
            "tokenizer.ggml.scores",
            Value::Array(arr(ArrayItems::F32(vec![0.5; 300]))),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(arr(ArrayItems::I32(vec![1; 300]))),
        ),
        ("general.file_type", Value::U32(7)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

type TensorSpec = (&'static str, &'static [u64], u32, u64);

const SAMPLE_TENSORS: &[TensorSpec] = &[
    ("token_embd.weight", &[256, 300], 8, 0),
    ("blk.0.attn_norm.weight", &[256], 0, 81600),
    ("output.weight", &[256, 300, 1, 1], 8, 82688),
];

fn build(version: u32, kv: &[(String, Value)], tensors: &[TensorSpec]) -> Vec<u8> {
    let mut w = W::header(version, tensors.len() as u64, kv.len() as u64);
    for (k, v) in kv {
        w.kv(k, v);
    }
    for (name, shape, kind, offset) in tensors {
        w.tensor(name, shape, *kind, *offset);
    }
    w.0
}

fn sample() -> Vec<u8> {
    build(3, &sample_kv(), SAMPLE_TENSORS)
}

fn parse(bytes: &[u8], keep: usize) -> Result<Gguf, GgufError> {
    Gguf::from_reader(Cursor::new(bytes), keep)
}

fn kv_of(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn round_trips_every_value_type() {
    let g = parse(&sample(), usize::MAX).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.kv, sample_kv());
    for (_, v) in &g.kv {
        if let Value::Array(a) = v {
            assert!(a.is_complete());
        }
    }
}

#[test]
fn version_2_is_read() {
    let g = parse(&build(2, &sample_kv(), SAMPLE_TENSORS), usize::MAX).unwrap();
    assert_eq!(g.version, 2);
    assert_eq!(g.kv, sample_kv());
}

#[test]
fn keep_limit_truncates_items_but_keeps_lengths() {
    let g = parse(&sample(), 2).unwrap();
    let tokens = g.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap();
    assert_eq!(tokens.len, 300);
    assert_eq!(tokens.strings().unwrap(), ["tok0", "tok1"]);
    assert!(!tokens.is_complete());
    let scores = g.get("tokenizer.ggml.scores").unwrap().as_array().unwrap();
    assert_eq!((scores.len, scores.kept()), (300, 2));
    assert_eq!(scores.elem_type(), ValueType::F32);

    let nested = g.get("t.nested").unwrap().as_array().unwrap();
    assert_eq!((nested.len, nested.kept()), (3, 2));
    let ArrayItems::Array(inner) = &nested.items else {
        panic!("nested items")
    };
    assert_eq!((inner[0].len, inner[0].kept()), (3, 2));
    assert_eq!(inner[1].len, 2);

    // Everything after the arrays still parses in place.
    assert_eq!(g.get("general.file_type"), Some(&Value::U32(7)));
    assert_eq!(g.tensors.len(), 3);

    let g0 = parse(&sample(), 0).unwrap();
    let tokens = g0.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap();
    assert_eq!((tokens.len, tokens.kept()), (300, 0));
    assert_eq!(g0.tensors, g.tensors);
}

#[test]
fn tensors_and_data_offset() {
    let bytes = sample();
    let g = parse(&bytes, 0).unwrap();
    let names: Vec<_> = g.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "token_embd.weight",
            "blk.0.attn_norm.weight",
            "output.weight"
        ]
    );
    assert_eq!(g.tensors[0].shape, [256, 300]);
    assert_eq!(g.tensors[2].shape, [256, 300, 1, 1]);
    assert_eq!(g.tensors[1].kind, 0);
    assert_eq!(g.tensors[1].offset, 81600);
    assert_eq!(g.tensors[0].type_name(), "Q8_0");
    assert_eq!(g.tensors[1].type_name(), "F32");
    assert_eq!(g.tensors[0].n_elements(), 76800);
    assert_eq!(g.data_offset, (bytes.len() as u64).div_ceil(32) * 32);

    let mut kv = kv_of(&[("general.alignment", Value::U32(64))]);
    kv.extend(sample_kv());
    let bytes = build(3, &kv, SAMPLE_TENSORS);
    let g = parse(&bytes, 0).unwrap();
    assert_eq!(g.data_offset % 64, 0);
    assert!(g.data_offset >= bytes.len() as u64 && g.data_offset < bytes.len() as u64 + 64);
}

#[test]
fn accessors() {
    let g = parse(&sample(), 0).unwrap();
    assert_eq!(g.architecture(), Some("llama"));
    assert_eq!(g.kind(), "model");
    assert_eq!(g.parameter_count(), 76800 + 256 + 76800);
    assert_eq!(g.file_type(), "Q8_0");
    assert_eq!(g.context_length(), Some(4096));
    assert_eq!(g.embedding_length(), Some(256));
    assert_eq!(g.chat_template(), Some("{{ x }}"));
    assert_eq!(g.arch_get("block_count").and_then(Value::as_u64), Some(2));
    assert_eq!(g.get("t.i64").and_then(Value::as_i64), Some(i64::MIN));
    assert_eq!(g.get("t.i64").and_then(Value::as_u64), None);
    assert_eq!(g.get("t.u64").and_then(Value::as_u64), Some(u64::MAX));
    assert_eq!(g.get("t.u64").and_then(Value::as_i64), None);
    assert_eq!(g.get("t.bool").and_then(Value::as_bool), Some(true));
    assert_eq!(g.get("t.f64").and_then(Value::as_f64), Some(0.1));
    assert_eq!(g.get("general.name").and_then(Value::as_u64), None);
    assert_eq!(g.get("missing"), None);

    let g = parse(
        &build(
            3,
            &kv_of(&[
                ("general.type", Value::String("adapter".into())),
                ("general.parameter_count", Value::U64(42)),
            ]),
            &[],
        ),
        0,
    )
    .unwrap();
    assert_eq!(g.kind(), "adapter");
    assert_eq!(g.architecture(), None);
    assert_eq!(g.context_length(), None);
    assert_eq!(g.chat_template(), None);
    // No tensors: the recorded count is all there is.
    assert_eq!(g.parameter_count(), 42);
    assert_eq!(g.file_type(), "unknown");
}

#[test]
fn parameter_count_prefers_tensor_sum_like_ollama() {
    let kv = kv_of(&[("general.parameter_count", Value::U64(5))]);
    let g = parse(&build(3, &kv, SAMPLE_TENSORS), 0).unwrap();
    assert_eq!(g.parameter_count(), 153856);
    assert_eq!(
        g.model_info(false)["general.parameter_count"],
        json!(153856)
    );
}

#[test]
fn file_type_names_and_inference() {
    let ft = |v: Value, tensors: &[TensorSpec]| {
        parse(&build(3, &kv_of(&[("general.file_type", v)]), tensors), 0)
            .unwrap()
            .file_type()
    };
    assert_eq!(ft(Value::U32(15), &[]), "Q4_K_M");
    assert_eq!(ft(Value::U32(1), &[]), "F16");
    assert_eq!(ft(Value::I32(7), &[]), "Q8_0");
    assert_eq!(ft(Value::U32(0), &[]), "F32");
    assert_eq!(ft(Value::U32(30), &[]), "unknown");
    assert_eq!(ft(Value::I32(-1), SAMPLE_TENSORS), "Q8_0");

    let infer = |tensors: &[TensorSpec]| parse(&build(3, &[], tensors), 0).unwrap().file_type();
    assert_eq!(infer(SAMPLE_TENSORS), "Q8_0");
    assert_eq!(
        infer(&[("a", &[4096, 4096], 1, 0), ("n", &[1 << 30], 0, 0)]),
        "F16"
    );
    assert_eq!(infer(&[("a", &[64, 64], 30, 0)]), "BF16");
    assert_eq!(infer(&[("a", &[256, 256], 12, 0)]), "unknown");
    assert_eq!(infer(&[("n", &[256], 0, 0)]), "unknown");
    assert_eq!(infer(&[]), "unknown");

    for (id, name) in [(2, "Q4_0"), (4, "MXFP4"), (14, "Q4_K_S"), (18, "Q6_K")] {
        assert_eq!(file_type_name(id), name);
    }
    for (id, name) in [(32, "BF16"), (21, "Q2_K_S"), (38, "unknown")] {
        assert_eq!(file_type_name(id), name);
    }
}

#[test]
fn ggml_type_names() {
    let cases = [
        (0, "F32"),
        (1, "F16"),
        (2, "Q4_0"),
        (8, "Q8_0"),
        (12, "Q4_K"),
        (14, "Q6_K"),
        (30, "BF16"),
        (39, "MXFP4"),
        (4, "MXFP4"),
        (28, "F64"),
        (23, "unknown"),
        (5, "unknown"),
        (u32::MAX, "unknown"),
    ];
    for (id, name) in cases {
        assert_eq!(ggml_type_name(id), name, "type {id}");
    }
}

#[test]
fn model_info_non_verbose() {
    let g = parse(&sample(), 0).unwrap();
    let info = g.model_info(false);
    let keys: Vec<_> = info.keys().cloned().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(!info.contains_key("general.name"));
    assert!(!info.contains_key("tokenizer.chat_template"));
    assert_eq!(info["general.parameter_count"], json!(153856));
    assert_eq!(info["general.architecture"], json!("llama"));
    assert_eq!(info["llama.context_length"], json!(4096));
    assert_eq!(info["llama.rms_eps"].as_f64(), Some(1e-6));
    assert_eq!(info["llama.rope.freq_base"].as_f64(), Some(10000.0));
    assert_eq!(info["t.i64"], json!(i64::MIN));
    assert_eq!(info["t.u64"], json!(u64::MAX));
    assert_eq!(info["t.bool"], json!(true));
    // Ollama collects no array values unless verbose: non-empty -> null.
    assert_eq!(info["tokenizer.ggml.tokens"], Json::Null);
    assert_eq!(info["t.short"], Json::Null);
    assert_eq!(info["t.nested"], Json::Null);
    assert_eq!(info["t.empty"], json!([]));
    assert_eq!(info.len(), sample_kv().len() - 2 + 1);
    // Same answer whatever was kept.
    assert_eq!(
        parse(&sample(), usize::MAX).unwrap().model_info(false),
        info
    );
}

#[test]
fn model_info_verbose() {
    let g = parse(&sample(), usize::MAX).unwrap();
    let info = g.model_info(true);
    let tokens = info["tokenizer.ggml.tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 300);
    assert_eq!(tokens[299], json!("tok299"));
    assert_eq!(info["tokenizer.ggml.scores"][0], json!(0.5));
    assert_eq!(info["t.short"], json!([-1, 2, -3]));
    assert_eq!(info["t.bools"], json!([true, false]));
    assert_eq!(info["t.u64s"], json!([u64::MAX]));
    assert_eq!(
        info["t.nested"],
        json!([[1, 2, 3], [["tok0", "tok1"], []], []])
    );
    assert!(!info.contains_key("general.name"));

    // Arrays that were not fully kept are not passed off as complete.
    let info = parse(&sample(), 5).unwrap().model_info(true);
    assert_eq!(info["tokenizer.ggml.tokens"], Json::Null);
    assert_eq!(info["t.short"], json!([-1, 2, -3]));
    assert_eq!(info["t.all_ints"], Json::Null);
}

#[test]
fn json_of_special_values() {
    assert_eq!(Value::F32(f32::NAN).to_json(), Json::Null);
    assert_eq!(Value::F64(f64::INFINITY).to_json(), Json::Null);
    assert_eq!(Value::F32(0.1).to_json().as_f64(), Some(0.1));
    assert_eq!(Value::F32(-2.5).to_json(), json!(-2.5));
}

#[test]
fn invalid_utf8_is_replaced() {
    let mut w = W::header(3, 0, 1);
    w.str("k");
    w.u32(ValueType::String.id());
    w.u64(3);
    w.0.extend_from_slice(&[b'a', 0xff, b'b']);
    let g = parse(&w.0, 0).unwrap();
    assert_eq!(g.get("k").and_then(Value::as_str), Some("a\u{fffd}b"));
}

#[test]
fn every_prefix_is_an_error() {
    let bytes = sample();
    for n in 0..bytes.len() {
        match parse(&bytes[..n], usize::MAX) {
            Err(GgufError::NotGguf) => assert!(n < 4, "prefix {n}"),
            Err(GgufError::Corrupt(_)) => assert!(n >= 4, "prefix {n}"),
            other => panic!("prefix {n}: {other:?}"),
        }
    }
    assert!(parse(&bytes, usize::MAX).is_ok());
}

#[test]
fn random_corruption_never_panics() {
    let bytes = sample();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut errors = 0;
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        let keep = [0, 3, usize::MAX][(next() % 3) as usize];
        if let Ok(g) = parse(&b, keep) {
            // Derived values must not panic either.
            let _ = (g.parameter_count(), g.file_type(), g.model_info(true));
        } else {
            errors += 1;
        }
    }
    assert!(errors > 0);
}

fn expect_err(bytes: &[u8], want: fn(&GgufError) -> bool) {
    match parse(bytes, usize::MAX) {
        Err(e) if want(&e) => {}
        other => panic!("unexpected {other:?}"),
    }
}

fn corrupt(e: &GgufError) -> bool {
    matches!(e, GgufError::Corrupt(_))
}

fn unsupported(e: &GgufError) -> bool {
    matches!(e, GgufError::Unsupported(_))
}

#[test]
fn hostile_headers_are_rejected() {
    // Counts far beyond what the file could hold.
    expect_err(&W::header(3, 0, u64::MAX).0, corrupt);
    expect_err(&W::header(3, u64::MAX, 0).0, corrupt);
    expect_err(&W::header(3, 1_000_000, 0).0, corrupt);

    // Huge key length.
    let mut w = W::header(3, 0, 1);
    w.u64(u64::MAX);
    expect_err(&w.0, corrupt);

    // Huge string value length.
    let mut w = W::header(3, 0, 1);
    w.str("k");
    w.u32(ValueType::String.id());
    w.u64(1 << 40);
    expect_err(&w.0, corrupt);

    // Array claiming 2^62 elements, and one whose size overflows u64.
    for len in [1u64 << 62, u64::MAX] {
        for elem in [ValueType::U64, ValueType::String, ValueType::Array] {
            let mut w = W::header(3, 0, 1);
            w.str("k");
            w.u32(ValueType::Array.id());
            w.u32(elem.id());
            w.u64(len);
            expect_err(&w.0, corrupt);
        }
    }

    // Unknown value type and array element type.
    let mut w = W::header(3, 0, 1);
    w.str("k");
    w.u32(13);
    w.u64(0);
    expect_err(&w.0, corrupt);
    let mut w = W::header(3, 0, 1);
    w.str("k");
    w.u32(ValueType::Array.id());
    w.u32(99);
    w.u64(0);
    expect_err(&w.0, corrupt);

    // Arrays nested deeper than the cap.
    let mut w = W::header(3, 0, 1);
    w.str("k");
    w.u32(ValueType::Array.id());
    for _ in 0..100 {
        w.u32(ValueType::Array.id());
        w.u64(1);
    }
    w.0.resize(w.0.len() + 64, 0);
    expect_err(&w.0, corrupt);

    // Duplicate keys and tensor names.
    let kv = kv_of(&[("a", Value::U8(1)), ("a", Value::U8(2))]);
    expect_err(&build(3, &kv, &[]), corrupt);
    expect_err(
        &build(3, &[], &[("t", &[1], 0, 0), ("t", &[1], 0, 32)]),
        corrupt,
    );

    // Too many dimensions; element count overflow.
    let mut w = W::header(3, 1, 0);
    w.str("t");
    w.u32(1000);
    w.0.resize(w.0.len() + 8000, 0);
    expect_err(&w.0, corrupt);
    expect_err(&build(3, &[], &[("t", &[u64::MAX, 2], 0, 0)]), corrupt);
    expect_err(&build(3, &[], &[("t", &[1 << 32, 1 << 32], 0, 0)]), corrupt);

    // Bad alignment.
    let kv = kv_of(&[("general.alignment", Value::U32(48))]);
    expect_err(&build(3, &kv, &[]), corrupt);
    let kv = kv_of(&[("general.alignment", Value::U32(0))]);
    expect_err(&build(3, &kv, &[]), corrupt);
}

#[test]
fn versions_and_magic() {
    expect_err(&W::header(1, 0, 0).0, unsupported);
    expect_err(&W::header(4, 0, 0).0, unsupported);
    expect_err(&W::header(0, 0, 0).0, unsupported);
    let mut be = b"GGUF".to_vec();
    be.extend_from_slice(&3u32.to_be_bytes());
    be.extend_from_slice(&[0; 16]);
    match parse(&be, 0) {
        Err(GgufError::Unsupported(m)) => assert!(m.contains("big-endian"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut w = W::header(3, 0, 0);
    w.0[0] = b'g';
    expect_err(&w.0, |e| matches!(e, GgufError::NotGguf));
    assert_eq!(GgufError::NotGguf.to_string(), "not a GGUF file");
    assert!(parse(&W::header(3, 0, 0).0, 0).is_ok());
}

#[test]
fn open_and_is_gguf_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.gguf");
    std::fs::write(&good, sample()).unwrap();
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"GGML and more").unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, b"GG").unwrap();
    let missing = dir.path().join("missing");

    assert!(is_gguf(&good));
    assert!(!is_gguf(&bad));
    assert!(!is_gguf(&short));
    assert!(!is_gguf(&missing));

    let g = Gguf::open(&good, 0).unwrap();
    assert_eq!(g, parse(&sample(), 0).unwrap());
    assert!(matches!(Gguf::open(&bad, 0), Err(GgufError::NotGguf)));
    assert!(matches!(Gguf::open(&short, 0), Err(GgufError::NotGguf)));
    assert!(matches!(Gguf::open(&missing, 0), Err(GgufError::Io(_))));
}

#[test]
fn human_number_matches_ollama() {
    let cases = [
        (0, "0"),
        (999, "999"),
        (1000, "1K"),
        (1001, "1K"),
        (1500, "2K"),
        (2500, "2K"),
        (1_000_000, "1M"),
        (125_000_000, "125M"),
        (500_500_000, "500.50M"),
        (500_550_000, "500.55M"),
        (268_098_176, "268.10M"),
        (1_000_000_000, "1B"),
        (2_800_000_000, "2.8B"),
        (2_850_000_000, "2.9B"),
        (8_030_261_248, "8.0B"),
        (1_000_000_000_000, "1000B"),
    ];
    for (n, want) in cases {
        assert_eq!(human_number(n), want, "{n}");
    }
}

const REAL_MODEL: &str = "/root/.cache/rollama/gemma-3-270m-q4_k_m.gguf";

#[test]
fn real_model_if_present() {
    let path = Path::new(REAL_MODEL);
    if !path.exists() {
        println!("skipping: {REAL_MODEL} not found");
        return;
    }
    assert!(is_gguf(path));
    let start = Instant::now();
    let g = Gguf::open(path, 8).unwrap();
    let elapsed = start.elapsed();
    println!("opened {REAL_MODEL} in {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(200),
        "open took {elapsed:?}"
    );

    assert_eq!(g.architecture(), Some("gemma3"));
    assert_eq!(g.parameter_count(), 268_098_176);
    assert_eq!(g.file_type(), "Q4_K_M");
    assert_eq!(g.context_length(), Some(32768));
    assert_eq!(g.embedding_length(), Some(640));
    assert_eq!(g.chat_template(), None);
    assert_eq!(g.kind(), "model");
    assert_eq!(human_number(g.parameter_count()), "268.10M");
    let tokens = g.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap();
    assert_eq!((tokens.len, tokens.kept()), (262_144, 8));
    assert_eq!(g.tensors.len(), 236);
    assert_eq!(g.data_offset % 32, 0);

    let info = g.model_info(false);
    assert!(info.contains_key("general.architecture"));
    assert_eq!(info["gemma3.context_length"], json!(32768));
    assert_eq!(info["general.parameter_count"], json!(268_098_176));
    assert_eq!(info["tokenizer.ggml.tokens"], Json::Null);
    assert_eq!(
        info["gemma3.attention.layer_norm_rms_epsilon"].as_f64(),
        Some(1e-6)
    );

    let start = Instant::now();
    let full = Gguf::open(path, usize::MAX).unwrap();
    println!("opened with every array element in {:?}", start.elapsed());
    let info = full.model_info(true);
    assert_eq!(
        info["tokenizer.ggml.tokens"].as_array().map(Vec::len),
        Some(262_144)
    );
    assert_eq!(full.tensors, g.tensors);
}

#[test]
fn shape_values_llama_cpp_cannot_take_are_refused() {
    let shape = |pairs: &[(&str, Value)]| {
        let mut kv = vec![("general.architecture", Value::String("gemma3".into()))];
        kv.extend_from_slice(pairs);
        parse(&build(3, &kv_of(&kv), &[]), SHAPE_ITEMS)
            .unwrap()
            .check_shape()
    };
    assert_eq!(
        shape(&[
            ("gemma3.context_length", Value::U32(32768)),
            ("gemma3.block_count", Value::U64(18)),
        ]),
        Ok(())
    );
    assert_eq!(
        shape(&[("gemma3.context_length", Value::U32(u32::MAX))]),
        Err("invalid model metadata: gemma3.context_length is 4294967295, out of the range llama.cpp accepts (0 to 2147483647)".into())
    );
    assert!(shape(&[("gemma3.block_count", Value::I32(-1))]).is_err());
    let per_layer = Value::Array(Array {
        len: 3,
        items: ArrayItems::U32(vec![8, 8, 1 << 31]),
    });
    assert!(
        shape(&[("gemma3.attention.head_count", per_layer)])
            .unwrap_err()
            .contains("gemma3.attention.head_count is 2147483648")
    );
}
