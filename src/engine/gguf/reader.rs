//! The byte-level parser. Each read is preceded by a check that the bytes
//! exist, so lengths taken from the file can never drive an allocation larger
//! than the file itself, and the caps below bound what a well-formed but
//! hostile header can make us hold.

use std::collections::HashSet;
use std::io::{BufReader, Read, Seek, SeekFrom};

use super::{Array, ArrayItems, Gguf, GgufError, TensorInfo, Value, ValueType};

pub(super) const MAGIC: &[u8; 4] = b"GGUF";

/// Real headers are a few MB (a 262k-token vocabulary is ~6 MB); anything far
/// beyond that is refused so that keeping every array element stays bounded.
const MAX_HEADER_BYTES: u64 = 256 << 20;
/// The spec limits keys to 65535 bytes; tensor names are far shorter still.
const MAX_NAME_LEN: u64 = 65_535;
const MAX_KV: u64 = 1 << 16;
const MAX_TENSORS: u64 = 1 << 20;
/// ggml uses 4; the spec says that may grow, so leave room.
const MAX_DIMS: u32 = 16;
/// Nested arrays recurse; cap the depth so a file cannot exhaust the stack.
const MAX_ARRAY_DEPTH: usize = 8;
const BUFFER_BYTES: usize = 256 << 10;
const DEFAULT_ALIGNMENT: u64 = 32;
/// Up-front capacity is capped: a count that merely fits the remaining bytes
/// could still promise far more entries than the file really holds, and each
/// entry costs more in memory than its smallest encoding on disk.
const MAX_PREALLOC: usize = 4096;

fn prealloc<T>(n: u64) -> Vec<T> {
    Vec::with_capacity(n.min(MAX_PREALLOC as u64) as usize)
}

pub(super) fn parse<R: Read + Seek>(mut source: R, keep: usize) -> Result<Gguf, GgufError> {
    let file_len = source.seek(SeekFrom::End(0))?;
    source.seek(SeekFrom::Start(0))?;
    let mut r = Reader {
        inner: BufReader::with_capacity(BUFFER_BYTES, source),
        pos: 0,
        limit: file_len.min(MAX_HEADER_BYTES),
        file_len,
    };

    if file_len < 4 || &r.bytes::<4>("magic")? != MAGIC {
        return Err(GgufError::NotGguf);
    }
    let version = r.u32("version")?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(GgufError::Unsupported(
                "GGUF version 1 (32-bit lengths); re-convert the model".into(),
            ));
        }
        // A big-endian file stores the version byte-swapped.
        v if (1..=3).contains(&v.swap_bytes()) => {
            return Err(GgufError::Unsupported("big-endian GGUF".into()));
        }
        v => return Err(GgufError::Unsupported(format!("GGUF version {v}"))),
    }

    let n_tensors = r.u64("tensor count")?;
    let n_kv = r.u64("metadata count")?;
    // Smallest possible entries: key length + type + 1-byte value; name
    // length + dim count + type + offset.
    r.check_count(n_kv, 8 + 4 + 1, MAX_KV, "metadata entries")?;
    r.check_count(n_tensors, 8 + 4 + 4 + 8, MAX_TENSORS, "tensor infos")?;

    let mut kv = prealloc(n_kv);
    let mut seen = HashSet::new();
    for _ in 0..n_kv {
        let key = r.string(MAX_NAME_LEN, "metadata key")?;
        let ty = r.u32("metadata type")?;
        let value = r.value(ty, keep, 0, &key)?;
        // llama.cpp refuses duplicate keys, so a file with them cannot run.
        if !seen.insert(key.clone()) {
            return Err(GgufError::Corrupt(format!(
                "duplicate metadata key {key:?}"
            )));
        }
        kv.push((key, value));
    }

    let mut tensors = prealloc(n_tensors);
    let mut names = HashSet::new();
    for _ in 0..n_tensors {
        let t = r.tensor_info()?;
        if !names.insert(t.name.clone()) {
            return Err(GgufError::Corrupt(format!("duplicate tensor {:?}", t.name)));
        }
        tensors.push(t);
    }

    let alignment = alignment(&kv)?;
    let data_offset = r
        .pos
        .div_ceil(alignment)
        .checked_mul(alignment)
        .ok_or_else(|| GgufError::Corrupt("data offset overflows".into()))?;

    Ok(Gguf {
        version,
        kv,
        tensors,
        data_offset,
    })
}

fn alignment(kv: &[(String, Value)]) -> Result<u64, GgufError> {
    let Some((_, v)) = kv.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v.as_u64() {
        Some(a) if a.is_power_of_two() && a <= 1 << 30 => Ok(a),
        _ => Err(GgufError::Corrupt(format!(
            "general.alignment {v:?} is not a power of two"
        ))),
    }
}

struct Reader<R> {
    inner: BufReader<R>,
    /// Bytes consumed so far; tracked here so checks need no seek calls.
    pos: u64,
    /// How far the header may extend: the file end or `MAX_HEADER_BYTES`.
    limit: u64,
    file_len: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn ensure(&self, n: u64, what: &str) -> Result<(), GgufError> {
        if n <= self.limit - self.pos {
            return Ok(());
        }
        if self
            .pos
            .checked_add(n)
            .is_some_and(|end| end <= self.file_len)
        {
            Err(GgufError::Unsupported(format!(
                "header larger than {} MiB (at {what})",
                MAX_HEADER_BYTES >> 20
            )))
        } else {
            Err(GgufError::Corrupt(format!(
                "{what} at offset {} needs {n} bytes but the file is {} bytes",
                self.pos, self.file_len
            )))
        }
    }

    /// Rejects counts whose minimal encoding could not fit in what is left.
    fn check_count(&self, n: u64, min_size: u64, max: u64, what: &str) -> Result<(), GgufError> {
        if n > max {
            return Err(GgufError::Corrupt(format!("{n} {what} (limit {max})")));
        }
        self.ensure(n.saturating_mul(min_size), what)
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        self.ensure(N as u64, what)?;
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.bytes(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.bytes(what).map(u64::from_le_bytes)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        self.ensure(n, what)?;
        // `ensure` bounds n by MAX_HEADER_BYTES, so it fits an i64.
        self.inner.seek_relative(n as i64)?;
        self.pos += n;
        Ok(())
    }

    fn string_len(&mut self, max: u64, what: &str) -> Result<u64, GgufError> {
        let len = self.u64(what)?;
        if len > max {
            return Err(GgufError::Corrupt(format!("{what} of {len} bytes")));
        }
        self.ensure(len, what)?;
        Ok(len)
    }

    /// Invalid UTF-8 is replaced rather than rejected: Go keeps the bytes and
    /// its JSON encoder substitutes U+FFFD, which is what callers end up with.
    fn string(&mut self, max: u64, what: &str) -> Result<String, GgufError> {
        let len = self.string_len(max, what)?;
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf)?;
        self.pos += len;
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn skip_string(&mut self, what: &str) -> Result<(), GgufError> {
        let len = self.string_len(u64::MAX, what)?;
        self.skip(len, what)
    }

    fn value(&mut self, ty: u32, keep: usize, depth: usize, key: &str) -> Result<Value, GgufError> {
        let ty = ValueType::from_id(ty)
            .ok_or_else(|| GgufError::Corrupt(format!("{key:?} has unknown value type {ty}")))?;
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.bytes(key)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.bytes(key)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.bytes(key)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.bytes(key)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.bytes(key)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.bytes(key)?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.bytes(key)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.bytes(key)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.bytes(key)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.bytes(key)?)),
            ValueType::Bool => Value::Bool(self.bytes::<1>(key)?[0] != 0),
            ValueType::String => Value::String(self.string(MAX_HEADER_BYTES, key)?),
            ValueType::Array => Value::Array(self.array(keep, depth, key)?),
        })
    }

    fn array(&mut self, keep: usize, depth: usize, key: &str) -> Result<Array, GgufError> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(GgufError::Corrupt(format!(
                "{key:?}: arrays nested too deeply"
            )));
        }
        let ty = self.u32(key)?;
        let elem = ValueType::from_id(ty).ok_or_else(|| {
            GgufError::Corrupt(format!("{key:?} has unknown array element type {ty}"))
        })?;
        let len = self.u64(key)?;
        self.check_count(len, min_size(elem), u64::MAX, key)?;
        // `len` fits in the remaining bytes, so `kept` is a real, bounded count.
        let kept = len.min(keep as u64) as usize;

        macro_rules! fixed {
            ($variant:ident, $t:ty) => {{
                let mut v = Vec::with_capacity(kept);
                for _ in 0..kept {
                    v.push(<$t>::from_le_bytes(self.bytes(key)?));
                }
                let rest = (len - kept as u64) * std::mem::size_of::<$t>() as u64;
                self.skip(rest, key)?;
                ArrayItems::$variant(v)
            }};
        }

        let items = match elem {
            ValueType::U8 => fixed!(U8, u8),
            ValueType::I8 => fixed!(I8, i8),
            ValueType::U16 => fixed!(U16, u16),
            ValueType::I16 => fixed!(I16, i16),
            ValueType::U32 => fixed!(U32, u32),
            ValueType::I32 => fixed!(I32, i32),
            ValueType::U64 => fixed!(U64, u64),
            ValueType::I64 => fixed!(I64, i64),
            ValueType::F32 => fixed!(F32, f32),
            ValueType::F64 => fixed!(F64, f64),
            ValueType::Bool => {
                let mut v = Vec::with_capacity(kept);
                for _ in 0..kept {
                    v.push(self.bytes::<1>(key)?[0] != 0);
                }
                self.skip(len - kept as u64, key)?;
                ArrayItems::Bool(v)
            }
            ValueType::String => {
                let mut v = prealloc(kept as u64);
                for _ in 0..kept {
                    v.push(self.string(MAX_HEADER_BYTES, key)?);
                }
                // Each skipped string still needs its length read; the
                // buffered seek keeps that cheap.
                for _ in kept as u64..len {
                    self.skip_string(key)?;
                }
                ArrayItems::String(v)
            }
            ValueType::Array => {
                let mut v = prealloc(kept as u64);
                for i in 0..len {
                    // Inner arrays must be walked to find their end anyway.
                    let inner = self.array(keep, depth + 1, key)?;
                    if i < kept as u64 {
                        v.push(inner);
                    }
                }
                ArrayItems::Array(v)
            }
        };
        Ok(Array { len, items })
    }

    fn tensor_info(&mut self) -> Result<TensorInfo, GgufError> {
        let name = self.string(MAX_NAME_LEN, "tensor name")?;
        let n_dims = self.u32("tensor dimension count")?;
        if n_dims > MAX_DIMS {
            return Err(GgufError::Corrupt(format!(
                "tensor {name:?} has {n_dims} dimensions"
            )));
        }
        let mut shape = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            shape.push(self.u64("tensor shape")?);
        }
        // The element count feeds the parameter count; refuse shapes whose
        // product cannot be represented, as llama.cpp does.
        if shape
            .iter()
            .try_fold(1i64, |n, &d| {
                i64::try_from(d).ok().and_then(|d| n.checked_mul(d))
            })
            .is_none()
        {
            return Err(GgufError::Corrupt(format!(
                "tensor {name:?} shape {shape:?} overflows"
            )));
        }
        let kind = self.u32("tensor type")?;
        let offset = self.u64("tensor offset")?;
        Ok(TensorInfo {
            name,
            kind,
            shape,
            offset,
        })
    }
}

/// Bytes the smallest element of this type takes on disk.
fn min_size(t: ValueType) -> u64 {
    match t {
        ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
        ValueType::U16 | ValueType::I16 => 2,
        ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
        ValueType::U64 | ValueType::I64 | ValueType::F64 | ValueType::String => 8,
        // element type + length
        ValueType::Array => 12,
    }
}
