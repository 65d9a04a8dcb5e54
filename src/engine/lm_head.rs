//! rollama's own output layer (LM head) for a Q8_0 output matrix on x86-64 with AVX-512 VNNI.
//!
//! Small models tie the output layer to the token embeddings, and those are usually Q8_0 (Gemma
//! 3's 262k x 640 matrix is 178 MB, most of the model). llama.cpp keeps a tied matrix in the
//! layout its `get_rows` needs and has no repacked Q8_0 kernel for x86, so every generated token
//! runs its generic dot-product kernel over the whole matrix: with 8 sequences decoding that
//! product is compute-bound and about half of each step. This module keeps its own copy of the
//! matrix repacked for VNNI (16 rows interleaved per 4 bytes, so one `vpdpbusd` advances 16
//! rows), quantizes each hidden state exactly as ggml does (Q8_0 blocks, f16 scales, rounding
//! to nearest even) and computes the logits the same way: per 32-value block an exact integer
//! dot product times the two scales, summed in f32.
//!
//! [`Plan`] finds the matrix in the GGUF; [`Head`] repacks it on a thread of its own while the
//! model loads (the first decode waits for it, so every decode uses the same output layer),
//! dropping llama.cpp's mapped pages of the matrix as it reads, so the copy adds nothing to
//! the peak memory. Per decode the graph-evaluation callback copies the hidden states of the
//! output tokens (`result_norm`) and ends the graph there; [`output_order`] maps them back to
//! batch tokens (llama.cpp computes a multi-stream batch sequence by sequence); [`Head::row`]
//! serves each token's logits to the sampler. Also here: [`with_eval_callback`], the one
//! place the engine sets a llama.cpp parameter llama-cpp-2 does not expose.

use std::ffi::{CStr, c_void};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use llama_cpp_2::context::params::LlamaContextParams;

use super::gguf::Gguf;

/// Values per Q8_0 block.
const QK: usize = 32;
/// Bytes of one Q8_0 block: an f16 scale and 32 signed bytes.
const BLOCK_BYTES: usize = 2 + QK;
/// Rows one tile interleaves: the i32 lanes of a 512-bit register.
const TILE: usize = 16;
/// ggml's type id for Q8_0.
const GGML_Q8_0: u32 = 8;

/// The repacked output matrix.
pub(super) struct LmHead {
    n_vocab: usize,
    blocks: usize,
    tiles: usize,
    /// Per tile, per block: 8 groups of 64 bytes, each 4 consecutive values of the block for
    /// each of the 16 rows, stored as `q + 128` (unsigned, for `vpdpbusd`).
    quants: Vec<u8>,
    /// Per tile, per block: the 16 rows' scales, as the file's f16 bits (converted in the
    /// kernel: half the bytes to stream per token).
    scales: Vec<u16>,
    threads: usize,
}

/// One hidden state quantized to Q8_0 the way ggml quantizes a matrix product's input.
struct Quantized {
    q: Vec<i8>,
    /// `q` as little-endian words of 4 values: what one `vpdpbusd` lane multiplies.
    words: Vec<i32>,
    /// Per block: the scale (rounded through f16, as ggml stores it).
    d: Vec<f32>,
    /// Per block: 128 x the sum of its quants (what the unsigned weights add).
    bias: Vec<i32>,
}

/// Where a model's output matrix lies in its GGUF, when rollama can compute that layer.
pub(super) struct Plan {
    path: PathBuf,
    name: String,
    /// File offsets of the matrix.
    start: u64,
    end: u64,
    n_embd: usize,
    n_vocab: usize,
}

impl Plan {
    /// The output layer of the GGUF at `path` (whose header is `gguf`), if this machine has the kernel and the matrix
    /// is Q8_0 with `n_embd` x `n_vocab` values and nothing after it (no logit soft-capping, no
    /// output scale); `None` otherwise (llama.cpp's own output layer is used).
    pub(super) fn new(path: &Path, gguf: &Gguf, n_embd: usize, n_vocab: usize) -> Option<Plan> {
        if !supported() || n_embd == 0 || !n_embd.is_multiple_of(QK) || n_vocab == 0 {
            return None;
        }
        let arch = gguf.architecture().unwrap_or_default().to_string();
        let capped = gguf
            .get(&format!("{arch}.final_logit_softcapping"))
            .and_then(|v| v.as_f64())
            .is_some_and(|c| c != 0.0);
        let scaled = gguf.tensors.iter().any(|t| t.name.starts_with("output.s"));
        if capped || scaled {
            return None;
        }
        let info = gguf
            .tensors
            .iter()
            .find(|t| t.name == "output.weight")
            .or_else(|| gguf.tensors.iter().find(|t| t.name == "token_embd.weight"))?;
        if info.kind != GGML_Q8_0 || info.shape != [n_embd as u64, n_vocab as u64] {
            return None;
        }
        let start = gguf.data_offset.checked_add(info.offset)?;
        Some(Plan {
            path: path.to_path_buf(),
            name: info.name.clone(),
            start,
            end: start + (n_vocab * (n_embd / QK) * BLOCK_BYTES) as u64,
            n_embd,
            n_vocab,
        })
    }

    /// Reads and repacks the matrix (about 0.2 s for Gemma 3's 178 MB), dropping llama.cpp's
    /// resident pages of each part once read, so the copy never adds to the peak memory (the
    /// caller guarantees llama.cpp's output layer is not run meanwhile).
    fn repack(&self, threads: usize) -> Option<LmHead> {
        let started = std::time::Instant::now();
        let mut file = File::open(&self.path).ok()?;
        file.seek(SeekFrom::Start(self.start)).ok()?;
        let mut src = BufReader::with_capacity(
            1 << 20,
            Releasing {
                inner: file,
                plan: self,
                maps: crate::os::file_mappings(&self.path),
                pos: self.start,
                released: self.start,
                total: 0,
            },
        );
        let head = LmHead::repack(&mut src, self.n_embd, self.n_vocab, threads).ok();
        let released = src.into_inner().finish();
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            tensor = %self.name,
            ok = head.is_some(),
            released_mb = released >> 20,
            "output layer repacked"
        );
        head
    }
}

/// A reader of the output matrix that drops llama.cpp's mapped pages of what it has read,
/// every [`RELEASE_STEP`] bytes: with llama.cpp's output layer unused only the rows `get_rows`
/// embeds are read there again (they fault back in from the page cache).
struct Releasing<'p> {
    inner: File,
    plan: &'p Plan,
    /// llama.cpp's mappings of the file, looked up once.
    maps: Vec<crate::os::FileMapping>,
    /// File offset after the last read, and up to which pages were released.
    pos: u64,
    released: u64,
    total: u64,
}

const RELEASE_STEP: u64 = 8 << 20;

impl Releasing<'_> {
    fn release(&mut self) {
        let upto = self.pos.min(self.plan.end);
        if upto > self.released {
            self.total += crate::os::release_file_range(&self.maps, self.released, upto);
            self.released = upto;
        }
    }

    /// Releases the rest; returns the bytes released in all.
    fn finish(mut self) -> u64 {
        self.release();
        self.total
    }
}

impl Read for Releasing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        if self.pos.min(self.plan.end) >= self.released + RELEASE_STEP {
            self.release();
        }
        Ok(n)
    }
}

impl LmHead {
    /// Reads `n_vocab` Q8_0 rows of `n_embd` values from `src` into the tiled layout.
    fn repack(
        src: &mut impl Read,
        n_embd: usize,
        n_vocab: usize,
        threads: usize,
    ) -> std::io::Result<LmHead> {
        let blocks = n_embd / QK;
        let tiles = n_vocab.div_ceil(TILE);
        // Zeroed (untouched pages until written, so the copy grows as llama.cpp's pages are
        // released); padding rows get zero weights (128 unsigned) below, and zero scales.
        let mut quants = vec![0u8; tiles * blocks * TILE * QK];
        let mut scales = vec![0u16; tiles * blocks * TILE];
        // A tile's rows at a time; each 4-byte group moves as one word.
        let row_bytes = blocks * BLOCK_BYTES;
        let mut rows = vec![0u8; TILE * row_bytes];
        for tile in 0..tiles {
            let n = (n_vocab - tile * TILE).min(TILE);
            src.read_exact(&mut rows[..n * row_bytes])?;
            for lane in n..TILE {
                for b in 0..blocks {
                    let at = (tile * blocks + b) * TILE * QK;
                    for g in 0..QK / 4 {
                        let i = at + g * 64 + lane * 4;
                        quants[i..i + 4].fill(128);
                    }
                }
            }
            for (lane, row) in rows[..n * row_bytes].chunks_exact(row_bytes).enumerate() {
                for (b, block) in row.chunks_exact(BLOCK_BYTES).enumerate() {
                    let at = tile * blocks + b;
                    scales[at * TILE + lane] = u16::from_le_bytes([block[0], block[1]]);
                    let dst = &mut quants[at * TILE * QK..(at + 1) * TILE * QK];
                    for (g, four) in block[2..].chunks_exact(4).enumerate() {
                        let word = u32::from_le_bytes([four[0], four[1], four[2], four[3]]);
                        let at = g * 64 + lane * 4;
                        dst[at..at + 4].copy_from_slice(&(word ^ 0x8080_8080).to_le_bytes());
                    }
                }
            }
        }
        Ok(LmHead {
            n_vocab,
            blocks,
            tiles,
            quants,
            scales,
            threads: threads.max(1),
        })
    }

    /// Logits for each hidden state in `hidden` (rows of `n_embd` values), written to `out` as
    /// rows of `n_vocab` values. The tiles are split between the threads.
    pub(super) fn logits(&self, hidden: &[f32], out: &mut Vec<f32>) {
        let rows: Vec<Quantized> = hidden
            .chunks_exact(self.blocks * QK)
            .map(quantize)
            .collect();
        let per = self.tiles.div_ceil(self.threads);
        let ranges: Vec<(usize, usize)> = (0..self.threads)
            .map(|t| (t * per, ((t + 1) * per).min(self.tiles)))
            .filter(|(t0, t1)| t0 < t1)
            .collect();
        let run = |(t0, t1): (usize, usize)| {
            let mut part = vec![0f32; rows.len() * (t1 - t0) * TILE];
            self.tiles_into(&rows, t0, t1, &mut part);
            (t0, part)
        };
        let parts: Vec<(usize, Vec<f32>)> = if ranges.len() == 1 {
            vec![run(ranges[0])]
        } else {
            // The calling thread takes the first range, helpers the others.
            std::thread::scope(|scope| {
                let helpers: Vec<_> = ranges[1..]
                    .iter()
                    .map(|&r| scope.spawn(move || run(r)))
                    .collect();
                let mut parts = vec![run(ranges[0])];
                parts.extend(helpers.into_iter().filter_map(|h| h.join().ok()));
                parts
            })
        };
        out.clear();
        out.resize(rows.len() * self.n_vocab, 0.0);
        for (t0, part) in parts {
            let width = part.len() / rows.len().max(1);
            let first = t0 * TILE;
            let n = width.min(self.n_vocab - first);
            for r in 0..rows.len() {
                let at = r * self.n_vocab + first;
                out[at..at + n].copy_from_slice(&part[r * width..r * width + n]);
            }
        }
    }

    /// Tiles `t0..t1` for every row, into `part` (row-major, `(t1 - t0) * TILE` per row).
    fn tiles_into(&self, rows: &[Quantized], t0: usize, t1: usize, part: &mut [f32]) {
        let width = (t1 - t0) * TILE;
        let mut acc = [[0f32; TILE]; 8];
        for tile in t0..t1 {
            for (g, group) in rows.chunks(8).enumerate() {
                self.tile(tile, group, &mut acc);
                for (c, a) in acc.iter().take(group.len()).enumerate() {
                    let r = g * 8 + c;
                    let at = r * width + (tile - t0) * TILE;
                    part[at..at + TILE].copy_from_slice(a);
                }
            }
        }
    }

    /// One tile (16 output rows) against up to 8 hidden states.
    fn tile(&self, tile: usize, group: &[Quantized], acc: &mut [[f32; TILE]; 8]) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `supported()` checked the CPU features when the head was loaded.
            #[allow(unsafe_code)]
            unsafe {
                x86::tile(self, tile, group, acc)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (tile, group, acc);
            unreachable!("Plan::new refuses machines without the kernel")
        }
    }
}

/// What the generation graph's evaluation callback collects: the final hidden states of each
/// micro-batch's output tokens, in the order llama.cpp computes them.
#[derive(Default)]
pub(super) struct Capture {
    /// Stop graphs before the output layer and keep their hidden states (off: llama.cpp runs
    /// its own output layer).
    pub(super) on: bool,
    pub(super) hidden: Vec<f32>,
    /// Set when a hidden state could not be read (not f32, not contiguous).
    pub(super) failed: bool,
}

/// The name of the final normalised hidden state in llama.cpp's model graphs (`t_embd`), the
/// input of the output layer.
const RESULT_NORM: &CStr = c"result_norm";

/// The generation context's graph-evaluation callback (`user_data`: a `Mutex<Capture>` that
/// outlives the context). With capture on it asks to observe `result_norm`, copies it and ends
/// the graph there, before the output layer; off, it observes nothing.
#[allow(unsafe_code)]
unsafe extern "C" fn capture_hidden_state(
    t: *mut llama_cpp_sys_2::ggml_tensor,
    ask: bool,
    user_data: *mut c_void,
) -> bool {
    if t.is_null() || user_data.is_null() {
        return !ask;
    }
    // SAFETY: the runner passes a pointer to a Mutex<Capture> it keeps alive while the context
    // lives; ggml passes a live tensor whose name is NUL-terminated.
    let (capture, t) = unsafe { (&*(user_data as *const Mutex<Capture>), &*t) };
    let is_norm = unsafe { CStr::from_ptr(t.name.as_ptr()) } == RESULT_NORM;
    let mut cap = lock(capture);
    if ask {
        return cap.on && is_norm;
    }
    if !(cap.on && is_norm) {
        return true;
    }
    let (n0, n1) = (t.ne[0] as usize, t.ne[1] as usize);
    let contiguous = t.type_ == llama_cpp_sys_2::GGML_TYPE_F32
        && t.nb[0] == 4
        && t.nb[1] == n0 * 4
        && t.ne[2] == 1
        && t.ne[3] == 1;
    if n0 * n1 > 0 {
        if contiguous && !t.data.is_null() {
            // SAFETY: a computed contiguous f32 tensor in host memory (CPU backend) holds
            // ne0 x ne1 values at `data`.
            let values = unsafe { std::slice::from_raw_parts(t.data as *const f32, n0 * n1) };
            cap.hidden.extend_from_slice(values);
        } else {
            cap.failed = true;
        }
    }
    false
}

/// `params` with `cb` as llama.cpp's graph-evaluation callback. llama-cpp-2 (pinned at 0.1.160)
/// keeps the raw `llama_context_params` in a private single-field struct and has no setter for
/// `cb_eval`, so the struct is reinterpreted as the raw value it wraps (`transmute` refuses to
/// compile should the two ever differ in size).
#[allow(unsafe_code)]
pub(super) fn with_eval_callback(
    params: LlamaContextParams,
    cb: llama_cpp_sys_2::ggml_backend_sched_eval_callback,
    user_data: *mut c_void,
) -> LlamaContextParams {
    // SAFETY: LlamaContextParams is `struct { context_params: llama_context_params }`, one
    // layout for both.
    let mut raw: llama_cpp_sys_2::llama_context_params = unsafe { std::mem::transmute(params) };
    raw.cb_eval = cb;
    raw.cb_eval_user_data = user_data;
    unsafe { std::mem::transmute(raw) }
}

/// The runner's side of the output layer for one generation context: which batch tokens are
/// outputs, the captured hidden states, and the logits computed from them.
pub(super) struct Head {
    /// Present once repacked (`None` after a failed repack: llama.cpp's output layer is used).
    lm: Option<LmHead>,
    /// The repack running on a thread of its own, so a load does not wait for it (the first
    /// decode does).
    pending: Option<std::sync::mpsc::Receiver<Option<LmHead>>>,
    capture: Arc<Mutex<Capture>>,
    /// Per batch token: its sequence and whether it is an output.
    seqs: Vec<i32>,
    outputs: Vec<bool>,
    logits: Vec<f32>,
    /// Per batch token: its row in `logits` (`usize::MAX`: not an output).
    row_of: Vec<usize>,
    /// This step's logits are here (not in llama.cpp's buffer).
    ready: bool,
}

impl Head {
    /// Starts repacking `plan`'s matrix in the background.
    pub(super) fn start(plan: Plan, threads: usize) -> Head {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = crate::os::lower_this_threads_priority();
            // No decode runs llama.cpp's output layer meanwhile: the first waits for this.
            let _ = tx.send(plan.repack(threads));
        });
        Head {
            lm: None,
            pending: Some(rx),
            capture: Arc::default(),
            seqs: Vec::new(),
            outputs: Vec::new(),
            logits: Vec::new(),
            row_of: Vec::new(),
            ready: false,
        }
    }

    /// Takes the repacked matrix, waiting for the repack if it is still running.
    pub(super) fn poll(&mut self) {
        let Some(rx) = self.pending.take() else {
            return;
        };
        self.lm = rx.recv().ok().flatten();
    }

    /// The generation context's parameters with the capture callback.
    pub(super) fn params(&self, params: LlamaContextParams) -> LlamaContextParams {
        let user = Arc::as_ptr(&self.capture) as *mut c_void;
        with_eval_callback(params, Some(capture_hidden_state), user)
    }

    /// A new batch: no tokens yet, the last step's logits gone.
    pub(super) fn clear(&mut self) {
        self.seqs.clear();
        self.outputs.clear();
        self.ready = false;
    }

    /// The batch's next token belongs to `seq`; `output`: its logits are wanted.
    pub(super) fn note(&mut self, seq: i32, output: bool) {
        self.seqs.push(seq);
        self.outputs.push(output);
    }

    /// Runs `decode` with the capture on, then computes the logits of the batch's outputs from
    /// the hidden states it left. `Err`: the decode failed (its message), or the capture does
    /// not match the batch (then no logits are valid).
    pub(super) fn decode<E: std::fmt::Display>(
        &mut self,
        n_ubatch: usize,
        decode: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), String> {
        let Some(lm) = self.lm.as_ref() else {
            return decode().map_err(|e| e.to_string());
        };
        {
            let mut cap = lock(&self.capture);
            cap.on = true;
            cap.failed = false;
            cap.hidden.clear();
        }
        let result = decode();
        let mut cap = lock(&self.capture);
        cap.on = false;
        result.map_err(|e| e.to_string())?;
        let n_embd = lm.blocks * QK;
        let wanted = self.outputs.iter().filter(|&&o| o).count();
        if cap.failed || cap.hidden.len() != wanted * n_embd {
            return Err(format!(
                "output layer: {} hidden values captured for {wanted} outputs",
                cap.hidden.len()
            ));
        }
        let order = output_order(&self.seqs, &self.outputs, n_ubatch);
        self.row_of.clear();
        self.row_of.resize(self.seqs.len(), usize::MAX);
        for (k, &i) in order.iter().enumerate() {
            self.row_of[i] = k;
        }
        lm.logits(&cap.hidden, &mut self.logits);
        self.ready = true;
        Ok(())
    }

    /// The logits of batch token `i`, when this step computed them here.
    pub(super) fn row(&self, i: i32) -> Option<&[f32]> {
        let n = self.lm.as_ref()?.n_vocab;
        let k = *self.row_of.get(usize::try_from(i).ok()?)?;
        (self.ready && k != usize::MAX).then(|| &self.logits[k * n..(k + 1) * n])
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The batch indices of the output tokens in the order llama.cpp computes them, given each
/// batch token's (single) sequence and whether it is an output. With a KV stream per sequence
/// llama.cpp splits a batch "equally" (`llama_batch_allocr::split_equal`, sequential): each
/// micro-batch takes runs of consecutive sequence ids and the same number of tokens (in batch
/// order) from each, at most `n_ubatch` in all, and lists them sequence by sequence.
pub(super) fn output_order(seqs: &[i32], outputs: &[bool], n_ubatch: usize) -> Vec<usize> {
    let mut by_seq: std::collections::BTreeMap<i32, Vec<usize>> = Default::default();
    for (i, &s) in seqs.iter().enumerate() {
        by_seq.entry(s).or_default().push(i);
    }
    let mut used = vec![false; seqs.len()];
    let mut order = Vec::new();
    let n_ubatch = n_ubatch.max(1);
    loop {
        let mut set: Vec<i32> = Vec::new();
        for (i, &s) in seqs.iter().enumerate() {
            if used[i] || set.contains(&s) {
                continue;
            }
            if set.last().is_none_or(|&last| s == last + 1) {
                set.push(s);
                if set.len() > n_ubatch {
                    break;
                }
            }
        }
        if set.is_empty() {
            break;
        }
        let lists: Vec<&Vec<usize>> = set.iter().map(|s| &by_seq[s]).collect();
        let mut next: Vec<usize> = lists
            .iter()
            .map(|l| l.iter().position(|&i| !used[i]).unwrap_or(l.len()))
            .collect();
        let mut taken: Vec<Vec<usize>> = vec![Vec::new(); set.len()];
        while lists.iter().zip(&next).all(|(l, &n)| n < l.len()) {
            for (k, l) in lists.iter().enumerate() {
                let i = l[next[k]];
                taken[k].push(i);
                used[i] = true;
                next[k] += 1;
            }
            if (taken[0].len() + 1) * set.len() > n_ubatch {
                break;
            }
        }
        order.extend(taken.iter().flatten().filter(|&&i| outputs[i]));
    }
    order
}

/// Whether this CPU runs the kernel.
fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// ggml's `quantize_row_q8_0`: per block d = max|x| / 127 (stored as f16), q = round(x * 127 /
/// max|x|) to nearest even.
fn quantize(x: &[f32]) -> Quantized {
    let blocks = x.len() / QK;
    let mut out = Quantized {
        q: Vec::with_capacity(x.len()),
        words: Vec::new(),
        d: Vec::with_capacity(blocks),
        bias: Vec::with_capacity(blocks),
    };
    for block in x.chunks_exact(QK) {
        let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        out.d.push(f16_to_f32(f32_to_f16(max / 127.0)));
        let id = if max != 0.0 { 127.0 / max } else { 0.0 };
        let mut sum = 0i32;
        for &v in block {
            let q = (v * id).round_ties_even() as i8;
            sum += i32::from(q);
            out.q.push(q);
        }
        out.bias.push(128 * sum);
    }
    out.words = out
        .q
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8]))
        .collect();
    out
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let shift = man.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((man << shift) & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// Single to half precision, rounding to nearest even (what F16C's `vcvtps2ph` does).
fn f32_to_f16(f: f32) -> u16 {
    let bits = f.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1 << shift) - 1);
        let mut out = m >> shift;
        if rest > half || (rest == half && out & 1 == 1) {
            out += 1;
        }
        return sign | out as u16;
    }
    let mut out = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && out & 1 == 1) {
        out += 1;
    }
    sign | out as u16
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{LmHead, QK, Quantized, TILE};

    /// `acc[c]` = the 16 logits of `tile` for hidden state `group[c]` (at most 8).
    pub(super) unsafe fn tile(
        head: &LmHead,
        tile: usize,
        group: &[Quantized],
        acc: &mut [[f32; TILE]; 8],
    ) {
        // One instance per group size, so the accumulators stay in registers.
        // SAFETY: the caller checked the CPU features.
        unsafe {
            match group.len() {
                8 => tile_n::<8>(head, tile, group, acc),
                7 => tile_n::<7>(head, tile, group, acc),
                6 => tile_n::<6>(head, tile, group, acc),
                5 => tile_n::<5>(head, tile, group, acc),
                4 => tile_n::<4>(head, tile, group, acc),
                3 => tile_n::<3>(head, tile, group, acc),
                2 => tile_n::<2>(head, tile, group, acc),
                1 => tile_n::<1>(head, tile, group, acc),
                _ => {}
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile_n<const N: usize>(
        head: &LmHead,
        tile: usize,
        group: &[Quantized],
        acc: &mut [[f32; TILE]; 8],
    ) {
        let group: &[Quantized; N] = group.try_into().expect("N hidden states");
        let mut sums = [_mm512_setzero_ps(); N];
        let base = tile * head.blocks;
        for b in 0..head.blocks {
            let at = base + b;
            // SAFETY: `at * TILE * QK + 512 <= quants.len()` and `at * TILE + 16 <=
            // scales.len()` for every tile and block the head was built with.
            let (w, ws) = unsafe {
                let q = head.quants.as_ptr().add(at * TILE * QK);
                let w: [__m512i; 8] =
                    std::array::from_fn(|g| _mm512_loadu_si512(q.add(g * 64).cast()));
                let ws = _mm256_loadu_si256(head.scales.as_ptr().add(at * TILE).cast());
                (w, _mm512_cvtph_ps(ws))
            };
            for c in 0..N {
                let x = &group[c];
                let words = &x.words[b * 8..b * 8 + 8];
                let mut s = _mm512_setzero_si512();
                for g in 0..8 {
                    s = _mm512_dpbusd_epi32(s, w[g], _mm512_set1_epi32(words[g]));
                }
                s = _mm512_sub_epi32(s, _mm512_set1_epi32(x.bias[b]));
                let d = _mm512_mul_ps(ws, _mm512_set1_ps(x.d[b]));
                sums[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, sums[c]);
            }
        }
        for c in 0..N {
            // SAFETY: `acc[c]` holds 16 f32.
            unsafe { _mm512_storeu_ps(acc[c].as_mut_ptr(), sums[c]) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Q8_0 matrix of `rows` x `n` values, as GGUF stores it.
    fn matrix(rows: usize, n: usize, seed: u32) -> Vec<u8> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        };
        let mut out = Vec::new();
        for _ in 0..rows * n / QK {
            let scale = f32_to_f16(0.001 + f32::from(next()) / 4000.0);
            out.extend_from_slice(&scale.to_le_bytes());
            for _ in 0..QK {
                out.push(next());
            }
        }
        out
    }

    /// The plain definition: per block, the integer dot product times both f16-rounded scales.
    fn reference(data: &[u8], n: usize, x: &[f32]) -> Vec<f32> {
        let q = quantize(x);
        data.chunks(n / QK * BLOCK_BYTES)
            .map(|row| {
                let mut sum = 0f32;
                for (b, block) in row.chunks(BLOCK_BYTES).enumerate() {
                    let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
                    let dot: i32 = block[2..]
                        .iter()
                        .zip(&q.q[b * QK..(b + 1) * QK])
                        .map(|(&w, &a)| i32::from(w as i8) * i32::from(a))
                        .sum();
                    sum += dot as f32 * (d * q.d[b]);
                }
                sum
            })
            .collect()
    }

    #[test]
    fn output_order_follows_llama_cpps_equal_split() {
        // One token each, consecutive sequences: batch order.
        assert_eq!(output_order(&[0, 1, 2], &[true; 3], 512), vec![0, 1, 2]);
        // Pending tokens first, then drafts: sequence by sequence.
        let seqs = [0, 1, 0, 0, 1, 1];
        assert_eq!(output_order(&seqs, &[true; 6], 512), vec![0, 2, 3, 1, 4, 5]);
        // A gap in the sequence ids starts another micro-batch.
        assert_eq!(
            output_order(&[0, 2, 0, 2], &[true; 4], 512),
            vec![0, 2, 1, 3]
        );
        // A prompt chunk beside generating sequences: one token of each, then the rest of the
        // chunk, whose last token is its output.
        let seqs = [0, 2, 1, 1, 1, 1];
        let outputs = [true, true, false, false, false, true];
        assert_eq!(output_order(&seqs, &outputs, 512), vec![0, 1, 5]);
        // The micro-batch limit splits equal runs.
        let seqs = [0, 0, 0, 1, 1, 1];
        assert_eq!(output_order(&seqs, &[true; 6], 4), vec![0, 1, 3, 4, 2, 5]);
    }

    #[test]
    fn half_precision_round_trips_and_rounds_to_nearest_even() {
        for h in [
            0u16, 1, 0x3ff, 0x400, 0x3c00, 0x7bff, 0x8001, 0xc000, 0x7c00,
        ] {
            assert_eq!(f32_to_f16(f16_to_f32(h)), h, "{h:#x}");
        }
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): to even, 1.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16(65520.0), 0x7c00);
    }

    #[test]
    fn quantize_matches_ggml_rounding() {
        let mut x = vec![0f32; 64];
        x[0] = 2.54;
        x[1] = -1.27;
        x[2] = 0.01; // 0.5 exactly: to even, 0
        let q = quantize(&x);
        assert_eq!(&q.q[..3], &[127, -64, 0]);
        assert_eq!(q.d[1], 0.0);
        assert_eq!(q.bias[0], 128 * (127 - 64));
    }

    #[test]
    fn kernel_matches_the_definition_for_any_row_count() {
        if !supported() {
            eprintln!("no AVX-512 VNNI here: kernel not run");
            return;
        }
        let (vocab, n) = (100, 128); // a partial last tile
        let data = matrix(vocab, n, 7);
        let head = LmHead::repack(&mut data.as_slice(), n, vocab, 2).expect("repack");
        for rows in [1, 3, 8, 11] {
            let hidden: Vec<f32> = (0..rows * n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
                .collect();
            let mut out = Vec::new();
            head.logits(&hidden, &mut out);
            assert_eq!(out.len(), rows * vocab);
            for (r, x) in hidden.chunks(n).enumerate() {
                let want = reference(&data, n, x);
                for (v, (a, b)) in out[r * vocab..(r + 1) * vocab]
                    .iter()
                    .zip(&want)
                    .enumerate()
                {
                    assert!(
                        (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                        "rows {rows}, row {r}, vocab {v}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// The test model (Gemma 3 270M, a tied Q8_0 output matrix), fetched by the project's script.
    fn test_gguf() -> std::path::PathBuf {
        let out = std::process::Command::new(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-model.sh"),
        )
        .output()
        .expect("run scripts/fetch-model.sh");
        assert!(out.status.success(), "fetch-model.sh failed");
        String::from_utf8_lossy(&out.stdout).trim().into()
    }

    /// The real model, one mixed batch (drafts, a prompt chunk split over micro-batches, a gap
    /// in the sequence ids) decoded by two identical contexts: one stopped before the output
    /// layer with the logits computed here, one running llama.cpp's own. Every output row must
    /// agree, which also checks the order the hidden states are matched to batch tokens.
    #[test]
    fn own_logits_match_llama_cpps_on_a_mixed_batch() {
        use std::num::NonZeroU32;

        use llama_cpp_2::llama_batch::LlamaBatch;
        use llama_cpp_2::model::LlamaModel;
        use llama_cpp_2::model::params::LlamaModelParams;
        use llama_cpp_2::token::LlamaToken;

        if !supported() {
            eprintln!("no AVX-512 VNNI here: rollama's output layer is not used");
            return;
        }
        let path = test_gguf();
        let backend = super::super::llama::backend().expect("backend");
        let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
            .expect("load the test model");
        let (n_embd, n_vocab) = (model.n_embd() as usize, model.n_vocab() as usize);
        let gguf = Gguf::open(&path, 0).expect("the test model's header");
        let plan = Plan::new(&path, &gguf, n_embd, n_vocab).expect("a Q8_0 output matrix");
        let mut head = Head::start(plan, 2);
        head.poll();
        assert!(head.lm.is_some(), "repacked");
        let params = || {
            LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(4 * 256))
                .with_n_batch(256)
                .with_n_ubatch(16)
                .with_n_seq_max(4)
                .with_n_threads(2)
                .with_n_threads_batch(2)
                .with_kv_unified(false)
                .with_swa_full(false)
        };
        let mut ours = model
            .new_context(backend, head.params(params()))
            .expect("context");
        let mut theirs = model.new_context(backend, params()).expect("context");

        // (seq, pos, output): seq 0 a token and three drafts, seq 3 two tokens, seq 1 a
        // 30-token prompt (its last token the output), interleaved as the runner builds them.
        let mut tokens: Vec<(i32, i32, bool)> = vec![(0, 0, true), (3, 0, true)];
        tokens.extend((0..30).map(|p| (1, p, p == 29)));
        tokens.extend([(0, 1, true), (0, 2, true), (0, 3, true), (3, 1, true)]);
        let mut batch = LlamaBatch::new(tokens.len(), 1);
        head.clear();
        for (i, &(seq, pos, out)) in tokens.iter().enumerate() {
            let t = LlamaToken(1000 + (i as i32 * 7919) % 20000);
            batch.add(t, pos, &[seq], out).expect("batch");
            head.note(seq, out);
        }
        head.decode(16, || ours.decode(&mut batch))
            .expect("our decode");
        theirs.decode(&mut batch).expect("llama.cpp's decode");
        let mut checked = 0;
        for (i, &(_, _, out)) in tokens.iter().enumerate() {
            if !out {
                assert!(head.row(i as i32).is_none());
                continue;
            }
            let a = head.row(i as i32).expect("our logits");
            let b = theirs.get_logits_ith(i as i32);
            let argmax = |v: &[f32]| {
                v.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |m, (j, &x)| if x > m.1 { (j, x) } else { m })
                    .0
            };
            assert_eq!(argmax(a), argmax(b), "token {i}: the same best token");
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-2, "token {i}: logits differ by {worst}");
            checked += 1;
        }
        assert_eq!(checked, 7);
    }
}
