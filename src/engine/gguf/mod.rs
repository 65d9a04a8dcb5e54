//! Pure-Rust reader for GGUF headers: the metadata key/values and the tensor
//! infos, never the tensor data. It backs `show`/`list`-style output and the
//! config blob written at `create`, which must work for files the engine has
//! never loaded (and for files it cannot load), so this module must not depend
//! on llama.cpp or on anything else in the engine. The derived values
//! (`file_type`, `parameter_count`, `model_info`, `human_number`, tensor type
//! names) follow Ollama's Go implementation so that API output matches it.
//!
//! Every length read from a file is checked against the bytes that are really
//! there before anything is allocated, so a truncated or hostile file yields a
//! [`GgufError`] rather than a panic or a huge allocation.

mod reader;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use serde_json::{Map, Number, Value as Json};

/// GGUF metadata value types, with their on-disk ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    pub fn id(self) -> u32 {
        match self {
            ValueType::U8 => 0,
            ValueType::I8 => 1,
            ValueType::U16 => 2,
            ValueType::I16 => 3,
            ValueType::U32 => 4,
            ValueType::I32 => 5,
            ValueType::F32 => 6,
            ValueType::Bool => 7,
            ValueType::String => 8,
            ValueType::Array => 9,
            ValueType::U64 => 10,
            ValueType::I64 => 11,
            ValueType::F64 => 12,
        }
    }

    pub fn from_id(id: u32) -> Option<ValueType> {
        Some(match id {
            0 => ValueType::U8,
            1 => ValueType::I8,
            2 => ValueType::U16,
            3 => ValueType::I16,
            4 => ValueType::U32,
            5 => ValueType::I32,
            6 => ValueType::F32,
            7 => ValueType::Bool,
            8 => ValueType::String,
            9 => ValueType::Array,
            10 => ValueType::U64,
            11 => ValueType::I64,
            12 => ValueType::F64,
            _ => return None,
        })
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Array),
}

/// An array value. `len` is always the length recorded in the file; `items`
/// holds only the first elements the caller asked to keep, because token
/// tables run to hundreds of thousands of entries that `show` never prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub len: u64,
    pub items: ArrayItems,
}

/// Array items to keep when a file is opened for [`Gguf::check_shape`] (more than any model's
/// layer count).
pub const SHAPE_ITEMS: usize = 4096;

/// The integers among an array's kept items (none for other element types).
fn integers(items: &ArrayItems) -> Vec<i128> {
    match items {
        ArrayItems::U8(v) => v.iter().map(|&x| x.into()).collect(),
        ArrayItems::I8(v) => v.iter().map(|&x| x.into()).collect(),
        ArrayItems::U16(v) => v.iter().map(|&x| x.into()).collect(),
        ArrayItems::I16(v) => v.iter().map(|&x| x.into()).collect(),
        ArrayItems::U32(v) => v.iter().map(|&x| x.into()).collect(),
        ArrayItems::I32(v) => v.iter().map(|&x| x.into()).collect(),
        ArrayItems::U64(v) => v.iter().map(|&x| x.into()).collect(),
        ArrayItems::I64(v) => v.iter().map(|&x| x.into()).collect(),
        _ => Vec::new(),
    }
}

/// The kept elements of an [`Array`], stored per element type so that a
/// fully kept numeric table costs its on-disk size, not a `Value` per entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayItems {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<Array>),
}

impl Array {
    pub fn elem_type(&self) -> ValueType {
        match &self.items {
            ArrayItems::U8(_) => ValueType::U8,
            ArrayItems::I8(_) => ValueType::I8,
            ArrayItems::U16(_) => ValueType::U16,
            ArrayItems::I16(_) => ValueType::I16,
            ArrayItems::U32(_) => ValueType::U32,
            ArrayItems::I32(_) => ValueType::I32,
            ArrayItems::U64(_) => ValueType::U64,
            ArrayItems::I64(_) => ValueType::I64,
            ArrayItems::F32(_) => ValueType::F32,
            ArrayItems::F64(_) => ValueType::F64,
            ArrayItems::Bool(_) => ValueType::Bool,
            ArrayItems::String(_) => ValueType::String,
            ArrayItems::Array(_) => ValueType::Array,
        }
    }

    /// Number of elements held in `items`.
    pub fn kept(&self) -> usize {
        match &self.items {
            ArrayItems::U8(v) => v.len(),
            ArrayItems::I8(v) => v.len(),
            ArrayItems::U16(v) => v.len(),
            ArrayItems::I16(v) => v.len(),
            ArrayItems::U32(v) => v.len(),
            ArrayItems::I32(v) => v.len(),
            ArrayItems::U64(v) => v.len(),
            ArrayItems::I64(v) => v.len(),
            ArrayItems::F32(v) => v.len(),
            ArrayItems::F64(v) => v.len(),
            ArrayItems::Bool(v) => v.len(),
            ArrayItems::String(v) => v.len(),
            ArrayItems::Array(v) => v.len(),
        }
    }

    /// True when every element (recursively) was kept.
    pub fn is_complete(&self) -> bool {
        self.kept() as u64 == self.len
            && match &self.items {
                ArrayItems::Array(v) => v.iter().all(Array::is_complete),
                _ => true,
            }
    }

    /// The kept strings, for string arrays.
    pub fn strings(&self) -> Option<&[String]> {
        match &self.items {
            ArrayItems::String(v) => Some(v),
            _ => None,
        }
    }

    /// JSON array of the elements, or `null` when some were not kept: Ollama
    /// collects an array's values all-or-nothing, and a silently shortened
    /// list would be worse than none.
    pub fn to_json(&self) -> Json {
        if !self.is_complete() {
            return Json::Null;
        }
        fn list<T: Copy>(v: &[T], f: impl Fn(T) -> Json) -> Json {
            Json::Array(v.iter().map(|x| f(*x)).collect())
        }
        match &self.items {
            ArrayItems::U8(v) => list(v, Json::from),
            ArrayItems::I8(v) => list(v, Json::from),
            ArrayItems::U16(v) => list(v, Json::from),
            ArrayItems::I16(v) => list(v, Json::from),
            ArrayItems::U32(v) => list(v, Json::from),
            ArrayItems::I32(v) => list(v, Json::from),
            ArrayItems::U64(v) => list(v, Json::from),
            ArrayItems::I64(v) => list(v, Json::from),
            ArrayItems::F32(v) => list(v, f32_json),
            ArrayItems::F64(v) => list(v, f64_json),
            ArrayItems::Bool(v) => list(v, Json::Bool),
            ArrayItems::String(v) => {
                Json::Array(v.iter().map(|s| Json::from(s.as_str())).collect())
            }
            ArrayItems::Array(v) => Json::Array(v.iter().map(Array::to_json).collect()),
        }
    }
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F32(_) => ValueType::F32,
            Value::F64(_) => ValueType::F64,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Any integer that fits in `i64`. Converters disagree on the width they
    /// write (u32 vs u64 vs i32), so readers should not insist on one.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::I8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Any non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            _ => self.as_i64().and_then(|v| u64::try_from(v).ok()),
        }
    }

    /// Any float or integer.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// JSON as Ollama marshals it: numbers as numbers, arrays as JSON arrays
    /// (`null` when not all elements were kept), non-finite floats as `null`.
    pub fn to_json(&self) -> Json {
        match self {
            Value::U8(v) => Json::from(*v),
            Value::I8(v) => Json::from(*v),
            Value::U16(v) => Json::from(*v),
            Value::I16(v) => Json::from(*v),
            Value::U32(v) => Json::from(*v),
            Value::I32(v) => Json::from(*v),
            Value::U64(v) => Json::from(*v),
            Value::I64(v) => Json::from(*v),
            Value::F32(v) => f32_json(*v),
            Value::F64(v) => f64_json(*v),
            Value::Bool(v) => Json::Bool(*v),
            Value::String(s) => Json::from(s.as_str()),
            Value::Array(a) => a.to_json(),
        }
    }
}

/// Widening through the shortest decimal form keeps `1e-6f32` as `1e-6`
/// rather than `9.999999974752427e-7`, which is what Go prints for a float32.
fn f32_json(v: f32) -> Json {
    if !v.is_finite() {
        return Json::Null;
    }
    let wide = v.to_string().parse::<f64>().unwrap_or(f64::from(v));
    f64_json(wide)
}

fn f64_json(v: f64) -> Json {
    Number::from_f64(v).map_or(Json::Null, Json::Number)
}

/// One entry of the tensor-info table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml type id (`ggml_type`), see [`ggml_type_name`].
    pub kind: u32,
    /// Dimensions, innermost first, as stored in the file.
    pub shape: Vec<u64>,
    /// Offset of the data relative to [`Gguf::data_offset`].
    pub offset: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().fold(1u64, |n, d| n.saturating_mul(*d))
    }

    /// Ollama's name for the tensor type.
    pub fn type_name(&self) -> &'static str {
        ggml_type_name(self.kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("reading GGUF file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a GGUF file")]
    NotGguf,
    #[error("unsupported GGUF file: {0}")]
    Unsupported(String),
    #[error("corrupt GGUF file: {0}")]
    Corrupt(String),
}

/// A parsed GGUF header.
#[derive(Debug, Clone, PartialEq)]
pub struct Gguf {
    pub version: u32,
    /// Metadata in file order.
    pub kv: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// Absolute file offset where tensor data starts (end of the header,
    /// rounded up to `general.alignment`).
    pub data_offset: u64,
}

/// True if the file starts with the GGUF magic; reads four bytes, no more.
pub fn is_gguf(path: impl AsRef<Path>) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == reader::MAGIC
}

impl Gguf {
    /// Parses the header of the file at `path`. Arrays keep at most
    /// `keep_array_items` elements, at every nesting level (their length is
    /// always recorded); pass `usize::MAX` to keep everything. Skipped
    /// elements cost a buffered seek, so a small limit keeps `show` fast on
    /// large vocabularies.
    pub fn open(path: impl AsRef<Path>, keep_array_items: usize) -> Result<Gguf, GgufError> {
        let file = File::open(path)?;
        Gguf::from_reader(file, keep_array_items)
    }

    /// Like [`Gguf::open`], for any seekable source (an in-memory blob, a file
    /// already open). Parsing starts at offset 0 whatever the source's
    /// position, and the source is wrapped in its own buffer.
    pub fn from_reader<R: Read + Seek>(
        source: R,
        keep_array_items: usize,
    ) -> Result<Gguf, GgufError> {
        reader::parse(source, keep_array_items)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `<architecture>.<suffix>`, e.g. `arch_get("block_count")`.
    pub fn arch_get(&self, suffix: &str) -> Option<&Value> {
        let arch = self.architecture()?;
        self.get(&format!("{arch}.{suffix}"))
    }

    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// The model's shape, as llama.cpp will read it: each of these integers must be a
    /// non-negative `i32` (llama.cpp stores them as `uint32_t` and hands them out as `int32_t`,
    /// and llama-cpp-2 panics on the negative it gets for 0xFFFFFFFF). Per-layer arrays are
    /// checked as far as they were kept: open with [`SHAPE_ITEMS`].
    pub fn check_shape(&self) -> Result<(), String> {
        const KEYS: [&str; 6] = [
            "context_length",
            "block_count",
            "embedding_length",
            "feed_forward_length",
            "attention.head_count",
            "attention.head_count_kv",
        ];
        let Some(arch) = self.architecture() else {
            return Ok(());
        };
        for suffix in KEYS {
            let key = format!("{arch}.{suffix}");
            let values: Vec<i128> = match self.get(&key) {
                None => continue,
                Some(Value::Array(a)) => integers(&a.items),
                Some(v) => v.as_i64().map(i128::from).into_iter().collect(),
            };
            if let Some(bad) = values
                .into_iter()
                .find(|v| !(0..=i128::from(i32::MAX)).contains(v))
            {
                return Err(format!(
                    "invalid model metadata: {key} is {bad}, out of the range llama.cpp accepts (0 to {})",
                    i32::MAX
                ));
            }
        }
        Ok(())
    }

    /// `general.type`: "model" when absent; otherwise as written
    /// ("adapter", "mmproj", ...).
    pub fn kind(&self) -> &str {
        self.get("general.type")
            .and_then(Value::as_str)
            .unwrap_or("model")
    }

    /// Sum of the tensors' element counts, as Ollama reports it (it overwrites
    /// any `general.parameter_count` in the file with this sum). Only a file
    /// without tensors falls back to `general.parameter_count`.
    pub fn parameter_count(&self) -> u64 {
        if self.tensors.is_empty() {
            return self
                .get("general.parameter_count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        }
        self.tensors
            .iter()
            .fold(0u64, |n, t| n.saturating_add(t.n_elements()))
    }

    /// `general.file_type` under Ollama's names ("Q4_K_M", "F16", ...), or
    /// "unknown" for ids Ollama does not name. When the key is absent the
    /// type is inferred from the tensors where that is unambiguous.
    pub fn file_type(&self) -> String {
        match self.get("general.file_type").and_then(Value::as_u64) {
            Some(id) => u32::try_from(id)
                .map_or("unknown", file_type_name)
                .to_string(),
            None => self.infer_file_type().to_string(),
        }
    }

    /// The weight type holding most elements decides; 1-D tensors (norms,
    /// biases) are kept in F32 by every quantizer and would only add noise.
    /// K-quant mixes (Q4_K_S vs Q4_K_M ...) cannot be told apart this way.
    fn infer_file_type(&self) -> &'static str {
        let mut totals: Vec<(u32, u64)> = Vec::new();
        for t in self.tensors.iter().filter(|t| t.shape.len() >= 2) {
            match totals.iter_mut().find(|(k, _)| *k == t.kind) {
                Some((_, n)) => *n = n.saturating_add(t.n_elements()),
                None => totals.push((t.kind, t.n_elements())),
            }
        }
        let Some((kind, _)) = totals.iter().max_by_key(|(_, n)| *n) else {
            return "unknown";
        };
        match *kind {
            0 => "F32",
            1 => "F16",
            2 => "Q4_0",
            3 => "Q4_1",
            6 => "Q5_0",
            7 => "Q5_1",
            8 => "Q8_0",
            10 => "Q2_K",
            14 => "Q6_K",
            30 => "BF16",
            39 => "MXFP4",
            _ => "unknown",
        }
    }

    pub fn context_length(&self) -> Option<u64> {
        self.arch_get("context_length").and_then(Value::as_u64)
    }

    pub fn embedding_length(&self) -> Option<u64> {
        self.arch_get("embedding_length").and_then(Value::as_u64)
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.get("tokenizer.chat_template").and_then(Value::as_str)
    }

    /// Ollama's `/api/show` `model_info`: every key except `general.name` and
    /// `tokenizer.chat_template`, sorted (Go marshals maps by key), with
    /// `general.parameter_count` set to [`Gguf::parameter_count`].
    ///
    /// Arrays: Ollama decodes with a collection limit of 0 unless verbose, so
    /// a non-empty array comes out as `null` and an empty one as `[]`. With
    /// `verbose` the elements are listed, which needs the header opened with
    /// `keep_array_items = usize::MAX`; arrays not fully kept still give
    /// `null`.
    pub fn model_info(&self, verbose: bool) -> Map<String, Json> {
        let mut entries: Vec<(&str, Json)> = self
            .kv
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "general.name" | "tokenizer.chat_template" | "general.parameter_count"
                )
            })
            .map(|(k, v)| {
                let json = match v {
                    Value::Array(a) if !verbose && a.len > 0 => Json::Null,
                    Value::Array(a) if !verbose => Json::Array(Vec::new()),
                    v => v.to_json(),
                };
                (k.as_str(), json)
            })
            .collect();
        entries.push((
            "general.parameter_count",
            Json::from(self.parameter_count()),
        ));
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

pub use crate::gofmt::human_number;

/// Ollama's tensor type string (`TensorType.String()`) for a ggml type id.
/// Ollama names only the types it supports; the rest are "unknown", and id 4
/// (a retired ggml slot) is MXFP4 because early Ollama gpt-oss files used it.
pub fn ggml_type_name(kind: u32) -> &'static str {
    match kind {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        4 | 39 => "MXFP4",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        28 => "F64",
        30 => "BF16",
        _ => "unknown",
    }
}

/// Ollama's `FileType.String()` for a `general.file_type` (llama_ftype) id.
/// Id 4 is Ollama's MXFP4; llama.cpp's own MXFP4_MOE (38) is "unknown" there.
pub fn file_type_name(id: u32) -> &'static str {
    match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        4 => "MXFP4",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        21 => "Q2_K_S",
        32 => "BF16",
        _ => "unknown",
    }
}
