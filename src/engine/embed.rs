//! The runner's embedding context: inputs packed into small decodes, one sequence each, and
//! pooled into one vector per input.
//!
//! A generative model (Gemma, Llama: no pooling of its own) is mean-pooled here, over the final
//! normalised hidden states, and its output layer is never run: llama.cpp builds every graph
//! through the full-vocabulary output layer (with Gemma's 262k vocabulary that is most of an
//! embedding decode's compute), so the context carries a graph-evaluation callback that stops
//! the computation once `result_norm`, the hidden state the embedding is made of, is done. A
//! model with its own pooling (BERT-style embedding models, no output layer to skip) is pooled
//! by llama.cpp as before.

use std::ffi::{CStr, c_void};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};

use llama_cpp_2::EmbeddingsError;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::EmbedError;
use super::llama::{COMPUTE_LOCK, FileLock, LOAD_LOCK, arch_meta, compute_file, lock};
use super::lm_head::with_eval_callback;

/// Tokens of one embedding batch (Ollama's embedding default: min(2048, num_ctx)); a longer
/// input is cut (`truncate`) or refused.
pub(super) const EMBED_BATCH: usize = 2048;
/// Sequences (inputs) in one embedding batch.
const EMBED_SEQS: usize = 64;
/// Tokens one embedding decode packs (a longer input goes alone). llama.cpp still reserves and
/// fills a full-vocabulary logits row for every token of the batch (1 MiB a token with Gemma's
/// 262k vocabulary; uncomputed when the output layer is skipped, but copied), so small decodes
/// keep that memory small; the context then stays for the next request instead of being made
/// (and its memory faulted in) again.
pub(super) const EMBED_CHUNK: usize = 128;

/// The names of the final normalised hidden state (`t_embd`), the last tensor before the output
/// layer: the model graphs call it `result_norm`, and with pooling `none` llama.cpp's pooling
/// step renames that same tensor `result_embd_pooled` (ordered before the output layer).
const HIDDEN_STATE: [&CStr; 2] = [c"result_embd_pooled", c"result_norm"];

/// Set when [`stop_after_hidden_state`] ends a graph; read back after each decode (one decode
/// computes at a time in a process: the compute lock).
static STOPPED: AtomicBool = AtomicBool::new(false);

/// llama.cpp's graph-evaluation callback: asks to see [`HIDDEN_STATE`] (`ask`), and once it is
/// computed answers false, which ends the graph's computation there, before the output layer.
/// A graph without that tensor runs to its end, which is only slower.
#[allow(unsafe_code)]
unsafe extern "C" fn stop_after_hidden_state(
    t: *mut llama_cpp_sys_2::ggml_tensor,
    ask: bool,
    _user_data: *mut c_void,
) -> bool {
    // SAFETY: ggml passes a live tensor whose `name` is a NUL-terminated array.
    let is_hidden =
        !t.is_null() && HIDDEN_STATE.contains(&unsafe { CStr::from_ptr((*t).name.as_ptr()) });
    // Asked: true to observe this node (computing up to it). Observed: false stops the graph.
    if ask {
        return is_hidden;
    }
    if is_hidden {
        STOPPED.store(true, Ordering::Relaxed);
    }
    !is_hidden
}

/// `params` with [`stop_after_hidden_state`] as its evaluation callback.
fn with_output_layer_skipped(params: LlamaContextParams) -> LlamaContextParams {
    with_eval_callback(params, Some(stop_after_hidden_state), std::ptr::null_mut())
}

pub(super) struct EmbedContext<'m> {
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    /// Mean-pooled here from per-token hidden states (the output layer skipped), rather than
    /// by llama.cpp.
    pool_here: bool,
}

impl<'m> EmbedContext<'m> {
    pub(super) fn new(
        model: &'m LlamaModel,
        backend: &LlamaBackend,
        threads: i32,
        n_batch: usize,
    ) -> Result<EmbedContext<'m>, EmbedError> {
        // Generative models name no pooling; their embedding is the mean of the token states.
        let pool_here = arch_meta(model, "pooling_type").is_none();
        let n = n_batch.max(1) as u32;
        let mut params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n))
            .with_n_batch(n)
            .with_n_ubatch(n)
            .with_n_seq_max(EMBED_SEQS as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_embeddings(true)
            // Several sequences in one decode pool correctly only with one KV buffer.
            .with_kv_unified(true)
            .with_swa_full(false);
        params = if pool_here {
            with_output_layer_skipped(params.with_pooling_type(LlamaPoolingType::None))
        } else {
            params.with_pooling_type(LlamaPoolingType::Unspecified)
        };
        let _guard = lock(&LOAD_LOCK);
        let ctx = model
            .new_context(backend, params)
            .map_err(|e| EmbedError::Failed(format!("unable to create embedding context: {e}")))?;
        Ok(EmbedContext {
            ctx,
            batch: LlamaBatch::new(n_batch.max(1), EMBED_SEQS as i32),
            pool_here,
        })
    }

    /// Embeds all inputs in as few decodes as the batch allows (whole inputs, up to
    /// [`EMBED_CHUNK`] tokens a decode); returns the vectors in order and the most tokens one
    /// decode held.
    pub(super) fn embed_all(
        &mut self,
        all: &[Vec<LlamaToken>],
    ) -> Result<(Vec<Vec<f32>>, usize), EmbedError> {
        let mut embeddings = Vec::with_capacity(all.len());
        let mut start = 0;
        let mut largest = 0;
        while start < all.len() {
            let mut end = start;
            let mut used = 0;
            while end < all.len()
                && end - start < EMBED_SEQS
                && (end == start || used + all[end].len() <= EMBED_CHUNK)
            {
                used += all[end].len();
                end += 1;
            }
            largest = largest.max(used);
            embeddings.extend(self.run(&all[start..end])?);
            start = end;
        }
        Ok((embeddings, largest))
    }

    /// One decode: each input its own sequence; returns their pooled vectors in order.
    fn run(&mut self, inputs: &[Vec<LlamaToken>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let failed = |e: &dyn std::fmt::Display| EmbedError::Failed(e.to_string());
        self.ctx.clear_kv_cache();
        self.batch.clear();
        for (seq, tokens) in inputs.iter().enumerate() {
            for (pos, &t) in tokens.iter().enumerate() {
                self.batch
                    .add(t, pos as i32, &[seq as i32], true)
                    .map_err(|e| failed(&e))?;
            }
        }
        let mut skipped = false;
        if self.batch.n_tokens() > 0 {
            let _compute = lock(&COMPUTE_LOCK);
            let _across = compute_file().and_then(FileLock::take);
            STOPPED.store(false, Ordering::Relaxed);
            self.ctx.decode(&mut self.batch).map_err(|e| failed(&e))?;
            skipped = STOPPED.swap(false, Ordering::Relaxed);
        }
        tracing::debug!(
            inputs = inputs.len(),
            tokens = self.batch.n_tokens(),
            output_layer = if skipped { "skipped" } else { "run" },
            "embedding batch"
        );
        let mut out = Vec::with_capacity(inputs.len());
        let mut first = 0;
        for (seq, tokens) in inputs.iter().enumerate() {
            if tokens.is_empty() {
                out.push(Vec::new());
            } else if self.pool_here {
                out.push(self.mean(first, tokens.len()).map_err(|e| failed(&e))?);
            } else {
                let v = self
                    .ctx
                    .embeddings_seq_ith(seq as i32)
                    .map_err(|e| failed(&e))?;
                out.push(v.to_vec());
            }
            first += tokens.len();
        }
        Ok(out)
    }

    /// The mean of the hidden states of batch tokens `first..first + n`.
    fn mean(&self, first: usize, n: usize) -> Result<Vec<f32>, EmbeddingsError> {
        let mut sum: Vec<f64> = Vec::new();
        for i in first..first + n {
            let row = self.ctx.embeddings_ith(i as i32)?;
            sum.resize(row.len(), 0.0);
            for (s, &x) in sum.iter_mut().zip(row) {
                *s += f64::from(x);
            }
        }
        Ok(sum.into_iter().map(|s| (s / n as f64) as f32).collect())
    }
}
