//! The llama-cpp-2 runner: one OS thread per loaded model owns the `LlamaModel` and its single
//! `LlamaContext` (one KV stream for each of `num_parallel` sequence slots) and runs
//! llama-server's slot loop: admit queued requests into free slots (keeping the longest prefix
//! of the new prompt any slot has cached, so the next chat turn only evaluates new tokens),
//! build one batch of prompt chunks plus one token (and a prompt-lookup draft) per generating
//! sequence, decode, sample per sequence, stream text. The async side talks to the thread over
//! channels only.
//!
//! Process-wide facts live here too: the llama backend is initialised once, contexts are created
//! one at a time (the crate documents concurrent creation as unsound), and only one context
//! decodes at a time. The last rule is how rollama keeps OpenMP's spin-waiting worker threads
//! from oversubscribing the cores when several models are loaded: each context uses up to all
//! cores, but never two at once.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::mpsc as std_mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{mpsc, oneshot};

use super::embed::{EMBED_BATCH, EMBED_CHUNK, EmbedContext};
use super::lm_head::{Head, Plan};
use super::sampling::{Shortlist, build_sampler, sample_all, sample_constrained, token_logprob};
use super::text::{StopMatcher, Utf8Buffer};
use super::vision::is_placeholder;
use super::{
    CompletionRequest, Done, DoneReason, EmbedError, EmbedRequest, Embedded, EngineError, Event,
    KvType, LoadParams, Runner, RunnerInfo,
};
use super::{draft, grammar};

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
/// Model loading and context creation, one at a time.
pub(super) static LOAD_LOCK: Mutex<()> = Mutex::new(());
/// Only one context computes at a time (see the module doc).
pub(super) static COMPUTE_LOCK: Mutex<()> = Mutex::new(());

/// The process-wide llama backend, initialised on first use (llama-cpp-2 allows one `init` per
/// process, so code beside the engine that calls llama.cpp, such as a test, takes it here).
pub fn backend() -> Result<&'static LlamaBackend, EngineError> {
    BACKEND
        .get_or_init(|| {
            // Before init, so llama.cpp's start-up lines reach tracing instead of stderr.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Load(format!("llama backend: {e}")))
}

/// The cross-process half of the compute lock: in a runner process, the file the server named
/// in [`super::process::COMPUTE_LOCK_ENV`], shared by all its runners.
pub(super) fn compute_file() -> Option<&'static std::fs::File> {
    static FILE: OnceLock<Option<std::fs::File>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::var_os(super::process::COMPUTE_LOCK_ENV)?;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .inspect_err(|e| tracing::warn!("compute lock {}: {e}", path.to_string_lossy()))
            .ok()
    })
    .as_ref()
}

/// Holds the compute lock file for one decode.
pub(super) struct FileLock(&'static std::fs::File);

impl FileLock {
    pub(super) fn take(f: &'static std::fs::File) -> Option<FileLock> {
        f.lock().ok().map(|()| FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

pub(super) fn lock<T>(m: &'static Mutex<T>) -> std::sync::MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The number of threads to use when the request does not say: the CPUs this process may use.
pub fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

enum Command {
    Complete(Box<CompletionRequest>, mpsc::UnboundedSender<Event>),
    Tokenize(String, oneshot::Sender<Vec<i32>>),
    Detokenize(Vec<i32>, oneshot::Sender<String>),
    Embed(EmbedRequest, oneshot::Sender<Result<Embedded, EmbedError>>),
}

/// A model loaded in this process, served by its engine thread.
pub struct LlamaRunner {
    tx: Mutex<Option<std_mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    info: RunnerInfo,
}

impl LlamaRunner {
    /// Loads the model on a new engine thread; blocks until loaded (call from a blocking task).
    pub fn load(params: LoadParams) -> Result<LlamaRunner, EngineError> {
        backend()?;
        let (tx, rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let name = format!(
            "engine-{}",
            params
                .model_path
                .file_name()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default()
        );
        let thread = std::thread::Builder::new()
            .name(name.chars().take(15).collect())
            .spawn(move || {
                // A panic (llama-cpp-2 asserts on values llama.cpp hands it) ends this model's
                // engine, never the process: a load that panics fails with the panic's
                // message; one after the load fails the requests in flight (their channels
                // close) and is logged.
                let report = ready_tx.clone();
                let path = params.model_path.clone();
                let run = std::panic::AssertUnwindSafe(|| engine_main(params, rx, ready_tx));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let msg = panic_message(&*panic);
                    tracing::error!(model = %path.display(), "engine panicked: {msg}");
                    let _ = report.send(Err(format!(
                        "unable to load model: {} (engine panicked: {msg})",
                        path.display()
                    )));
                }
            })
            .map_err(|e| EngineError::Load(format!("spawn engine thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(info)) => Ok(LlamaRunner {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                info,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(EngineError::Load(e))
            }
            Err(_) => {
                let _ = thread.join();
                Err(EngineError::Stopped)
            }
        }
    }

    fn send(&self, cmd: Command) -> Result<(), EngineError> {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tx) => tx.send(cmd).map_err(|_| EngineError::Stopped),
            None => Err(EngineError::Stopped),
        }
    }
}

impl Drop for LlamaRunner {
    /// Never blocks: the engine thread sees its command channel close, fails what is in
    /// flight, frees the model and exits on its own.
    fn drop(&mut self) {
        self.stop();
    }
}

impl Runner for LlamaRunner {
    fn info(&self) -> &RunnerInfo {
        &self.info
    }

    fn is_alive(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    fn stop(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn completion(
        &self,
        req: CompletionRequest,
    ) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.send(Command::Complete(Box::new(req), tx))?;
        Ok(rx)
    }

    fn tokenize(&self, text: String) -> Result<oneshot::Receiver<Vec<i32>>, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Tokenize(text, tx))?;
        Ok(rx)
    }

    fn detokenize(&self, tokens: Vec<i32>) -> Result<oneshot::Receiver<String>, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Detokenize(tokens, tx))?;
        Ok(rx)
    }

    fn embed(
        &self,
        req: EmbedRequest,
    ) -> Result<oneshot::Receiver<Result<Embedded, EmbedError>>, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Embed(req, tx))?;
        Ok(rx)
    }
}

/// The text a panic was raised with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn engine_main(
    params: LoadParams,
    rx: std_mpsc::Receiver<Command>,
    ready: std_mpsc::Sender<Result<RunnerInfo, String>>,
) {
    let backend = match backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    // What llama-cpp-2 would panic on is refused first, with a message.
    let header = super::gguf::Gguf::open(&params.model_path, super::gguf::SHAPE_ITEMS).ok();
    if let Some(Err(e)) = header.as_ref().map(|g| g.check_shape()) {
        let _ = ready.send(Err(format!(
            "unable to load model: {} ({e})",
            params.model_path.display()
        )));
        return;
    }
    let guard = lock(&LOAD_LOCK);
    let started = Instant::now();
    let model_params = LlamaModelParams::default().with_use_mmap(params.use_mmap);
    let model = match LlamaModel::load_from_file(backend, &params.model_path, &model_params) {
        Ok(m) => m,
        Err(e) => {
            drop(guard);
            let _ = ready.send(Err(format!(
                "unable to load model: {} ({e})",
                params.model_path.display()
            )));
            return;
        }
    };
    let mut model = model;
    let mut adapters = Vec::new();
    for path in &params.adapters {
        match model.lora_adapter_init(path) {
            Ok(a) => adapters.push(a),
            Err(e) => {
                drop(guard);
                let _ = ready.send(Err(format!(
                    "unable to load adapter {}: {e}",
                    path.display()
                )));
                return;
            }
        }
    }
    let model = model;
    let vision = match &params.projector {
        Some(path) => {
            match super::vision::Vision::load(path, &model, params.num_thread.max(1) as i32) {
                Ok(v) => Some(v),
                Err(e) => {
                    drop(guard);
                    let _ = ready.send(Err(e));
                    return;
                }
            }
        }
        None => None,
    };
    let n_parallel = params.num_parallel.max(1);
    let n_ctx_slot = params.num_ctx.clamp(4, model.n_ctx_train().max(4));
    let n_ctx_total = n_ctx_slot.saturating_mul(n_parallel);
    let n_batch = params.num_batch.clamp(1, n_ctx_total);
    let threads = params.num_thread.max(1) as i32;
    let mut ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx_total))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_seq_max(n_parallel)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        // One KV stream per slot, as llama-server: attention reads only the slot's own cells.
        // A unified buffer made every sequence attend over the extent of all slots' cells: with
        // eight slots holding a few hundred tokens each, a 1,000-token prompt evaluated at 0.6x
        // (benches). The price: a copy between slots is whole-sequence only (partial copies
        // abort, shared/spec/llama-cpp-2-notes.md), see `reuse_prefix`.
        .with_kv_unified(false)
        // Sliding-window layers keep their window plus one ubatch, as llama-server does, not
        // the whole context (llama-cpp-2's default): a quarter of the KV memory for Gemma 3 at
        // 4096 tokens. A prefix is then reusable while its window is still held (`reuse_prefix`
        // checks).
        .with_swa_full(false);
    let kv = params.kv_cache_type;
    ctx_params = ctx_params.with_type_k(kv_type(kv)).with_type_v(kv_type(kv));
    // rollama's own output layer where it has one for the model and machine (CPU builds, no
    // adapters: a LoRA may touch the output layer).
    let gpu = cfg!(any(feature = "cuda", feature = "metal", feature = "vulkan"));
    // Not beside a projector either: mtmd's image decodes run outside its bookkeeping.
    let head = (!params.llama_lm_head && !gpu && adapters.is_empty() && vision.is_none())
        .then(|| {
            Plan::new(
                &params.model_path,
                header.as_ref()?,
                model.n_embd().max(0) as usize,
                model.n_vocab().max(0) as usize,
            )
        })
        .flatten()
        .map(|plan| Head::start(plan, threads as usize));
    drop(header);
    if let Some(h) = &head {
        ctx_params = h.params(ctx_params);
    }
    // A quantized V cache needs flash attention: on unless the user turned it off (the server
    // already fell back to f16 then).
    match params.flash_attention {
        Some(fa) => ctx_params = ctx_params.with_flash_attention_policy(i32::from(fa)),
        None if kv.is_quantized() => ctx_params = ctx_params.with_flash_attention_policy(1),
        None => {}
    }
    drop(guard);
    // The generation context is made now, so a load that cannot have one fails here, then
    // freed: it is made again for the first completion, and a model only asked for embeddings
    // never holds its slots' KV cache.
    if let Err(e) = generation_context(&model, backend, &ctx_params, &mut adapters) {
        let _ = ready.send(Err(e));
        return;
    }

    let kv_bytes = kv_cache_bytes(&model, n_ctx_total, kv);
    let info = RunnerInfo {
        n_ctx_train: model.n_ctx_train(),
        model_size: model.size(),
        total_size: model.size() + kv_bytes,
    };
    tracing::info!(
        model = %params.model_path.display(),
        num_ctx = n_ctx_slot,
        num_parallel = n_parallel,
        num_batch = n_batch,
        kv_cache_type = kv.name(),
        draft_max = params.draft_max,
        lm_head = if head.is_some() { "rollama" } else { "llama.cpp" },
        threads,
        load_ms = started.elapsed().as_millis() as u64,
        "model loaded"
    );
    let batch = LlamaBatch::new(n_batch.max(n_parallel) as usize, 1);
    if ready.send(Ok(info)).is_err() {
        return;
    }
    let slots = (0..n_parallel as i32).map(Slot::new).collect();
    let model = &model;
    std::thread::scope(|scope| {
        let mut engine = Engine {
            model,
            backend,
            threads,
            ctx: None,
            ctx_params,
            adapters: &mut adapters,
            embed: None,
            batch,
            slots,
            queue: VecDeque::new(),
            grammars: grammar::Builder::start(scope, model),
            building: Vec::new(),
            n_ctx_slot: n_ctx_slot as usize,
            n_batch: n_batch as usize,
            draft_max: params.draft_max as usize,
            n_swa: sliding_window(model),
            head,
            vision,
        };
        engine.run(rx);
    });
    tracing::debug!(model = %params.model_path.display(), "engine stopped");
}

/// How many more prompt tokens another slot must hold than the chosen one for its cache to be
/// copied instead (a copy of one stream, cheap next to evaluating the tokens again).
const SHARE_MIN: usize = 16;

/// Draft rows one step adds over all sequences: each costs a row of the output layer (262k
/// logits on Gemma), so many clients share a bounded amount of guessing.
const DRAFT_ROWS: usize = 32;

/// The model's `<architecture>.<key>` metadata value (`gemma3.attention.sliding_window`).
pub(super) fn arch_meta(model: &LlamaModel, key: &str) -> Option<String> {
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    model.meta_val_str(&format!("{arch}.{key}")).ok()
}

/// The sliding attention window of the model's SWA layers, from its metadata; 0 if none.
fn sliding_window(model: &LlamaModel) -> usize {
    arch_meta(model, "attention.sliding_window")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A context for the slots, with the model's adapter applied (Ollama supports one adapter per
/// model, at full strength).
fn generation_context<'m>(
    model: &'m LlamaModel,
    backend: &LlamaBackend,
    params: &LlamaContextParams,
    adapters: &mut [LlamaLoraAdapter],
) -> Result<LlamaContext<'m>, String> {
    let guard = lock(&LOAD_LOCK);
    let mut ctx = model
        .new_context(backend, params.clone())
        .map_err(|e| format!("unable to create context: {e}"))?;
    drop(guard);
    for adapter in adapters {
        ctx.lora_adapter_set(adapter, 1.0)
            .map_err(|e| format!("unable to apply adapter: {e}"))?;
    }
    Ok(ctx)
}

fn kv_type(t: KvType) -> KvCacheType {
    match t {
        KvType::F16 => KvCacheType::F16,
        KvType::F32 => KvCacheType::F32,
        KvType::Bf16 => KvCacheType::BF16,
        KvType::Q8_0 => KvCacheType::Q8_0,
        KvType::Q5_1 => KvCacheType::Q5_1,
        KvType::Q5_0 => KvCacheType::Q5_0,
        KvType::Q4_1 => KvCacheType::Q4_1,
        KvType::Q4_0 => KvCacheType::Q4_0,
        KvType::Iq4Nl => KvCacheType::IQ4_NL,
    }
}

/// Rough KV-cache size for `ps`: layers x context x (K + V) x head width x element size.
fn kv_cache_bytes(model: &LlamaModel, n_ctx: u32, kv: KvType) -> u64 {
    let key = |k: &str| arch_meta(model, k).and_then(|v| v.parse::<u64>().ok());
    let head_k = key("attention.key_length")
        .unwrap_or_else(|| model.n_embd() as u64 / u64::from(model.n_head().max(1)));
    let head_v = key("attention.value_length").unwrap_or(head_k);
    u64::from(model.n_layer())
        * u64::from(n_ctx)
        * u64::from(model.n_head_kv())
        * (head_k + head_v)
        * kv.bytes_per_32()
        / 32
}

/// A sequence slot of the shared context and the tokens its KV cache currently holds.
struct Slot {
    id: i32,
    /// Tokens whose KV entries are in this sequence, at positions 0..len.
    cache: Vec<LlamaToken>,
    seq: Option<Sequence>,
}

impl Slot {
    fn new(id: i32) -> Slot {
        Slot {
            id,
            cache: Vec::new(),
            seq: None,
        }
    }
}

/// An image of a prompt and the index of its first placeholder.
type PlacedImage = (usize, super::vision::Image);

/// One request being served in a slot.
struct Sequence {
    tx: mpsc::UnboundedSender<Event>,
    /// Text tokens and, for each image, its placeholders ([`super::vision`]).
    prompt: Vec<LlamaToken>,
    /// The prompt's images, by the index of their first placeholder.
    images: Vec<PlacedImage>,
    /// Index of the next prompt token to evaluate.
    next_prompt: usize,
    reused: usize,
    generated: Vec<LlamaToken>,
    /// Sampled but not yet evaluated.
    pending: Option<LlamaToken>,
    /// Guessed continuation evaluated after the pending token in the current batch
    /// ([`draft`]); its tokens are in the slot's cache until sampling confirms or drops them.
    draft: Vec<LlamaToken>,
    /// Batch row of the draft's first token (the others follow it).
    draft_row: i32,
    /// How often this sequence's drafts are confirmed: sets how long they are, or whether
    /// there are any (text that does not repeat itself costs almost nothing).
    acceptance: draft::Acceptance,
    /// Draft tokens evaluated and confirmed, for the log.
    drafted: usize,
    confirmed: usize,
    /// Row of this sequence's logits in the last batch.
    logits_row: Option<i32>,
    /// Prompt tokens placed in the current batch.
    in_batch: usize,
    sampler: LlamaSampler,
    /// The candidates `sampler` can pick from, when its chain allows a shortlist.
    shortlist: Option<Shortlist>,
    /// `format`: the grammar every token must keep the output inside.
    grammar: Option<LlamaSampler>,
    /// Report log-probabilities, with this many alternatives.
    logprobs: Option<u32>,
    max_tokens: usize,
    eval_count: u64,
    utf8: Utf8Buffer,
    stops: StopMatcher,
    /// A stop string ended generation.
    stopped: bool,
    admitted: Instant,
    first_token: Option<Instant>,
}

struct Queued {
    req: Box<CompletionRequest>,
    tx: mpsc::UnboundedSender<Event>,
    /// The request's grammar, built ([`grammar::Builder`]) before it joins the queue.
    grammar: Option<LlamaSampler>,
}

struct Engine<'m, 'a> {
    model: &'m LlamaModel,
    backend: &'m LlamaBackend,
    threads: i32,
    /// The slots' context, made when the first completion arrives.
    ctx: Option<LlamaContext<'m>>,
    ctx_params: LlamaContextParams,
    adapters: &'a mut Vec<LlamaLoraAdapter>,
    /// A second context for embeddings (pooled outputs), made at the first embedding request
    /// and kept (dropped after an input longer than one small decode).
    embed: Option<EmbedContext<'m>>,
    batch: LlamaBatch<'static>,
    slots: Vec<Slot>,
    queue: VecDeque<Queued>,
    grammars: grammar::Builder,
    /// Requests whose grammar is being built, by build id; they join `queue` when it is done.
    building: Vec<(u64, Queued)>,
    n_ctx_slot: usize,
    n_batch: usize,
    /// Longest prompt-lookup draft per sequence and step; 0: no speculation.
    draft_max: usize,
    /// Sliding attention window of the model's SWA layers (Gemma 3: 512); 0 for none.
    n_swa: usize,
    /// rollama's output layer, when it computes the logits instead of llama.cpp.
    head: Option<Head>,
    /// The projector of a vision model.
    vision: Option<super::vision::Vision>,
}

impl Engine<'_, '_> {
    fn run(&mut self, rx: std_mpsc::Receiver<Command>) {
        loop {
            let busy = self.slots.iter().any(|s| s.seq.is_some()) || !self.queue.is_empty();
            if !busy && self.building.is_empty() {
                match rx.recv() {
                    Ok(cmd) => self.handle(cmd),
                    Err(_) => return,
                }
            } else if !busy {
                // Only grammars being built: wake for a command or to collect them.
                match rx.recv_timeout(grammar::Builder::POLL) {
                    Ok(cmd) => self.handle(cmd),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                        self.fail_all("model unloaded");
                        return;
                    }
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(cmd) => self.handle(cmd),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => {
                        self.fail_all("model unloaded");
                        return;
                    }
                }
            }
            self.collect_grammars();
            self.drop_cancelled();
            self.admit();
            self.step();
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Complete(_, ref tx) if self.ctx.is_none() && !self.make_context(tx) => {}
            Command::Complete(mut req, tx) => match req.grammar.take() {
                Some(g) => {
                    let id = self.grammars.submit(g, tx.clone());
                    let q = Queued {
                        req,
                        tx,
                        grammar: None,
                    };
                    self.building.push((id, q));
                }
                None => self.queue.push_back(Queued {
                    req,
                    tx,
                    grammar: None,
                }),
            },
            Command::Tokenize(text, reply) => {
                let tokens = self.tokenize(&text).iter().map(|t| t.0).collect();
                let _ = reply.send(tokens);
            }
            Command::Detokenize(tokens, reply) => {
                let n_vocab = self.model.n_vocab();
                let tokens: Vec<LlamaToken> = tokens
                    .into_iter()
                    .filter(|t| (0..n_vocab).contains(t))
                    .map(LlamaToken)
                    .collect();
                let text = if tokens.is_empty() {
                    String::new()
                } else {
                    // Control tokens (`<start_of_turn>`) stay as text: re-tokenizing the result
                    // must give back the conversation's structure.
                    let bytes = self.model.vocab().detokenize(&tokens, true, true);
                    String::from_utf8_lossy(&bytes).into_owned()
                };
                let _ = reply.send(text);
            }
            Command::Embed(req, reply) => {
                let _ = reply.send(self.embed(req));
            }
        }
    }

    /// Makes the slots' context if there is none; a failure goes to `tx`. Returns whether
    /// there is a context now.
    fn make_context(&mut self, tx: &mpsc::UnboundedSender<Event>) -> bool {
        match generation_context(self.model, self.backend, &self.ctx_params, self.adapters) {
            Ok(c) => {
                self.ctx = Some(c);
                true
            }
            Err(e) => {
                tracing::error!("{e}");
                let _ = tx.send(Event::Error(e));
                false
            }
        }
    }

    /// Embeds the inputs in as few decodes as the embedding batch allows: each input is one
    /// sequence, mean-pooled (unless the model names its own pooling), raw (not normalised).
    fn embed(&mut self, req: EmbedRequest) -> Result<Embedded, EmbedError> {
        let limit = self.n_ctx_slot.min(EMBED_BATCH);
        let mut all = Vec::with_capacity(req.inputs.len());
        for text in &req.inputs {
            let mut tokens = self.tokenize(text);
            if tokens.len() > limit {
                if !req.truncate {
                    return Err(EmbedError::TooLong);
                }
                tokens.truncate(limit);
            }
            all.push(tokens);
        }
        let prompt_tokens = all.iter().map(|t| t.len() as u64).sum();
        if self.embed.is_none() {
            self.embed = Some(EmbedContext::new(
                self.model,
                self.backend,
                self.threads,
                limit,
            )?);
        }
        let Some(e) = self.embed.as_mut() else {
            return Err(EmbedError::Failed("no embedding context".into()));
        };
        let (embeddings, largest) = e.embed_all(&all)?;
        // A long input grew the logits buffer: give that memory back now instead of holding it
        // for the life of the model.
        if largest > EMBED_CHUNK {
            self.embed = None;
        }
        Ok(Embedded {
            embeddings,
            prompt_tokens,
        })
    }

    /// Tokenizes a rendered prompt: special-token text becomes control tokens and BOS is added
    /// when the model wants it, but never twice (templates that print `<bos>` themselves).
    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let mut tokens = vocab.tokenize(text.as_bytes(), true, true);
        let bos = vocab.bos();
        if tokens.len() >= 2 && tokens[0] == bos && tokens[1] == bos {
            tokens.remove(0);
        }
        tokens
    }

    /// A request's prompt tokens and images: the text between the image markers tokenized as
    /// usual (BOS only at the start), each image as its placeholders.
    fn prompt_with_images(
        &self,
        req: &CompletionRequest,
    ) -> Result<(Vec<LlamaToken>, Vec<PlacedImage>), String> {
        use base64::Engine as _;
        if req.images.is_empty() {
            return Ok((self.tokenize(&req.prompt), Vec::new()));
        }
        let Some(vision) = self.vision.as_ref() else {
            return Err(IMAGES_UNSUPPORTED.to_string());
        };
        let parts: Vec<&str> = req.prompt.split(super::vision::MARKER).collect();
        if parts.len() != req.images.len() + 1 {
            return Err(format!(
                "the prompt has {} image markers for {} images",
                parts.len() - 1,
                req.images.len()
            ));
        }
        let mut prompt = self.tokenize(parts[0]);
        let mut images = Vec::new();
        for (data, text) in req.images.iter().zip(&parts[1..]) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| format!("invalid image data: {e}"))?;
            let image = vision.image(&bytes)?;
            let at = prompt.len();
            prompt.extend(image.placeholders());
            images.push((at, image));
            prompt.extend(self.model.vocab().tokenize(text.as_bytes(), false, true));
        }
        Ok((prompt, images))
    }

    /// Evaluates the images that start where sequences' prompts stand, before the step's batch
    /// (an image is evaluated alone, through mtmd).
    fn eval_images(&mut self) {
        let (Some(ctx), Some(vision)) = (self.ctx.as_mut(), self.vision.as_mut()) else {
            return;
        };
        for slot in &mut self.slots {
            let Some(seq) = slot.seq.as_mut() else {
                continue;
            };
            while seq.pending.is_none() {
                let at = seq.next_prompt;
                let Some((_, image)) = seq.images.iter().find(|(start, _)| *start == at) else {
                    break;
                };
                let started = Instant::now();
                let result = {
                    let _compute = lock(&COMPUTE_LOCK);
                    let _across = compute_file().and_then(FileLock::take);
                    vision.eval(image, ctx, at, slot.id, self.n_batch)
                };
                match result {
                    Ok(_) => {
                        let end = at + image.positions;
                        slot.cache.extend_from_slice(&seq.prompt[at..end]);
                        seq.next_prompt = end;
                        tracing::debug!(
                            slot = slot.id,
                            tokens = image.positions,
                            ms = started.elapsed().as_millis() as u64,
                            "image encoded"
                        );
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        let _ = seq.tx.send(Event::Error(e));
                        let _ = ctx.clear_kv_cache_seq(Some(slot.id as u32), None, None);
                        slot.cache.clear();
                        slot.seq = None;
                        break;
                    }
                }
            }
        }
    }

    /// Moves requests whose grammar is built into the queue; one llama.cpp refused fails.
    fn collect_grammars(&mut self) {
        loop {
            let done = match self.grammars.try_take() {
                Ok(Some(d)) => d,
                Ok(None) => return,
                Err(()) => {
                    for (_, q) in self.building.drain(..) {
                        let _ =
                            q.tx.send(Event::Error("the grammar builder stopped".into()));
                    }
                    return;
                }
            };
            let Some(i) = self.building.iter().position(|(id, _)| *id == done.id) else {
                continue; // its client left while it was built
            };
            let (_, mut q) = self.building.remove(i);
            match done.result {
                Ok(g) => {
                    q.grammar = Some(g.0);
                    self.queue.push_back(q);
                }
                Err(e) => {
                    let _ = q.tx.send(Event::InvalidGrammar(e));
                }
            }
        }
    }

    fn fail_all(&mut self, msg: &str) {
        for slot in &mut self.slots {
            if let Some(seq) = slot.seq.take() {
                let _ = seq.tx.send(Event::Error(msg.to_string()));
            }
        }
        for q in self
            .queue
            .drain(..)
            .chain(self.building.drain(..).map(|(_, q)| q))
        {
            let _ = q.tx.send(Event::Error(msg.to_string()));
        }
    }

    /// A client that went away frees its slot now; its evaluated tokens stay cached.
    fn drop_cancelled(&mut self) {
        for slot in &mut self.slots {
            if slot.seq.as_ref().is_some_and(|s| s.tx.is_closed()) {
                tracing::debug!(slot = slot.id, "request cancelled by the client");
                slot.seq = None;
            }
        }
        self.queue.retain(|q| !q.tx.is_closed());
        self.building.retain(|(_, q)| !q.tx.is_closed());
    }

    fn admit(&mut self) {
        while !self.queue.is_empty() {
            let Some(mut q) = self.queue.pop_front() else {
                break;
            };
            let (mut prompt, images) = match self.prompt_with_images(&q.req) {
                Ok(p) => p,
                Err(e) => {
                    let _ = q.tx.send(Event::InvalidInput(e));
                    continue;
                }
            };
            if prompt.is_empty() {
                let _ = q.tx.send(Event::Error("empty prompt".to_string()));
                continue;
            }
            if prompt.len() >= self.n_ctx_slot {
                if !images.is_empty() {
                    let _ = q.tx.send(Event::InvalidInput(format!(
                        "the prompt and its images take {} tokens, more than the context ({})",
                        prompt.len(),
                        self.n_ctx_slot
                    )));
                    continue;
                }
                prompt = truncate_prompt(prompt, self.n_ctx_slot, q.req.num_keep);
            }
            // The free slot sharing the longest prefix with this prompt.
            let best = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.seq.is_none())
                .map(|(i, s)| (i, common_prefix(&s.cache, &prompt)))
                .max_by_key(|&(_, n)| n);
            let Some((index, own)) = best else {
                self.queue.push_front(q);
                break;
            };
            // The last prompt token is always evaluated again: its logits start generation.
            let reuse = self.reuse_prefix(index, own, &prompt);
            let slot = &mut self.slots[index];
            let max_tokens = match q.req.num_predict {
                n if n >= 0 => n as usize,
                -2 => usize::MAX,
                _ => self.n_ctx_slot.saturating_mul(10),
            };
            let text: Vec<LlamaToken> = prompt
                .iter()
                .copied()
                .filter(|&t| !is_placeholder(t))
                .collect();
            let sampler = build_sampler(&q.req.sampling, self.model, self.n_ctx_slot, &text);
            let shortlist = Shortlist::for_params(&q.req.sampling, self.n_ctx_slot);
            let grammar = q.grammar.take();
            tracing::debug!(
                slot = slot.id,
                prompt = prompt.len(),
                reused = reuse,
                "request admitted"
            );
            slot.seq = Some(Sequence {
                tx: q.tx,
                next_prompt: reuse,
                reused: reuse,
                prompt,
                images,
                generated: Vec::new(),
                pending: None,
                draft: Vec::new(),
                draft_row: 0,
                acceptance: draft::Acceptance::default(),
                drafted: 0,
                confirmed: 0,
                logits_row: None,
                in_batch: 0,
                sampler,
                shortlist,
                grammar,
                logprobs: q.req.logprobs.then_some(q.req.top_logprobs),
                max_tokens,
                eval_count: 0,
                utf8: Utf8Buffer::default(),
                stops: StopMatcher::new(q.req.stop.clone()),
                stopped: false,
                admitted: Instant::now(),
                first_token: None,
            });
            if max_tokens == 0 {
                self.finish(index, DoneReason::Length);
            }
        }
    }

    /// Prepares free slot `index` for `prompt`, whose first `own` tokens its cache already
    /// holds: keeps the longest prefix any slot holds (another slot's stream is copied whole,
    /// llama.cpp's only cross-stream copy, then cut to the prefix) and drops the rest. Returns
    /// the tokens kept, never the whole prompt (its last token's logits start generation).
    fn reuse_prefix(&mut self, index: usize, own: usize, prompt: &[LlamaToken]) -> usize {
        let id = self.slots[index].id;
        let Some(ctx) = self.ctx.as_mut() else {
            return 0;
        };
        let limit = image_boundary(prompt, prompt.len() - 1);
        let donor = self
            .slots
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != index)
            .map(|(i, s)| {
                (
                    i,
                    image_boundary(prompt, common_prefix(&s.cache, prompt).min(limit)),
                )
            })
            .max_by_key(|&(_, n)| n)
            .filter(|&(_, n)| n > own.min(limit) + SHARE_MIN)
            // Recurrent state cannot be shared up to a position.
            .filter(|_| !self.model.is_recurrent() && !self.model.is_hybrid());
        let mut reuse = image_boundary(prompt, own.min(limit));
        // `Ok(false)`: the model cannot drop part of a sequence (recurrent and hybrid
        // architectures), so nothing is reused.
        let mut kept = match donor {
            Some((from, n)) => {
                let src = self.slots[from].id;
                let _ = ctx.clear_kv_cache_seq(Some(id as u32), None, None);
                let ok = ctx.copy_kv_cache_seq(src, id, None, None).is_ok()
                    && matches!(
                        ctx.clear_kv_cache_seq(Some(id as u32), Some(n as u32), None),
                        Ok(true)
                    );
                if ok {
                    reuse = n;
                    self.slots[index].cache = self.slots[from].cache[..n].to_vec();
                }
                ok
            }
            None => matches!(
                ctx.clear_kv_cache_seq(Some(id as u32), Some(reuse as u32), None),
                Ok(true)
            ),
        };
        // A sliding-window layer must still hold the window before the first new token (other
        // sequences may have taken its older cells): else the prefix is evaluated again.
        if kept && self.n_swa > 0 && reuse > 0 {
            let pos_min = ctx.kv_cache_seq_pos_min(id);
            kept = pos_min <= reuse.saturating_sub(self.n_swa) as i32;
        }
        if !kept {
            reuse = 0;
            let _ = ctx.clear_kv_cache_seq(Some(id as u32), None, None);
        }
        self.slots[index].cache.truncate(reuse);
        reuse
    }

    /// One decode step over every active sequence.
    fn step(&mut self) {
        if self.vision.is_some() {
            self.eval_images();
        }
        self.batch.clear();
        if let Some(h) = self.head.as_mut() {
            // Every decode uses one output layer, so results never depend on timing: the
            // first waits for the repack still running (it began with the load).
            h.poll();
            h.clear();
        }
        let mut budget = self.n_batch;
        let mut rows: i32 = 0;
        let generating = self
            .slots
            .iter()
            .filter(|s| s.seq.as_ref().is_some_and(|q| q.pending.is_some()))
            .count();
        // Generating sequences first: one token each, so prompts never starve them. What goes
        // in the batch goes in the slot's cache now; a failed decode clears both.
        for slot in &mut self.slots {
            let Some(seq) = slot.seq.as_mut() else {
                continue;
            };
            seq.logits_row = None;
            seq.in_batch = 0;
            let Some(tok) = seq.pending else { continue };
            let pos = slot.cache.len();
            if self.batch.add(tok, pos as i32, &[slot.id], true).is_err() {
                continue;
            }
            if let Some(h) = self.head.as_mut() {
                h.note(slot.id, true);
            }
            seq.pending = None;
            slot.cache.push(tok);
            seq.logits_row = Some(rows);
            rows += 1;
            budget = budget.saturating_sub(1);
            if self.draft_max == 0 {
                continue;
            }
            // Room: what pays, the context, the tokens still allowed.
            let room = seq
                .acceptance
                .length(generating, self.draft_max)
                .min(self.n_ctx_slot.saturating_sub(slot.cache.len() + 1))
                .min(seq.max_tokens.saturating_sub(seq.generated.len() + 1));
            seq.draft = draft::lookup(&slot.cache, room);
            // An image's placeholders are never evaluated as tokens.
            if let Some(cut) = seq.draft.iter().position(|&t| is_placeholder(t)) {
                seq.draft.truncate(cut);
            }
        }
        // Then their drafts, all of one length: with a KV stream per slot llama.cpp splits a
        // batch into micro-batches holding the same number of tokens of each sequence, so one
        // longer draft would cost a whole extra pass over the weights.
        let drafting = self.slots.iter().filter_map(|s| s.seq.as_ref());
        let mut len = drafting
            .filter(|q| q.logits_row.is_some())
            .map(|q| q.draft.len())
            .min()
            .unwrap_or(0);
        len = len
            .min(budget / generating.max(1))
            .min(DRAFT_ROWS / generating.max(1));
        for slot in &mut self.slots {
            let Some(seq) = slot.seq.as_mut() else {
                continue;
            };
            seq.draft.truncate(len);
            seq.draft_row = rows;
            let mut added = 0;
            for &t in &seq.draft {
                let p = slot.cache.len() as i32;
                if self.batch.add(t, p, &[slot.id], true).is_err() {
                    break;
                }
                if let Some(h) = self.head.as_mut() {
                    h.note(slot.id, true);
                }
                slot.cache.push(t);
                rows += 1;
                added += 1;
            }
            seq.draft.truncate(added);
            budget = budget.saturating_sub(added);
        }
        // Then prompt chunks, as much as the batch has room for.
        for slot in &mut self.slots {
            let Some(seq) = slot.seq.as_mut() else {
                continue;
            };
            if budget == 0 || seq.pending.is_some() || seq.next_prompt >= seq.prompt.len() {
                continue;
            }
            let next_image = seq
                .images
                .iter()
                .map(|(start, _)| *start)
                .filter(|&start| start > seq.next_prompt)
                .min()
                .unwrap_or(usize::MAX);
            let end = (seq.next_prompt + budget)
                .min(seq.prompt.len())
                .min(next_image);
            for i in seq.next_prompt..end {
                let last = i + 1 == seq.prompt.len();
                if self
                    .batch
                    .add(seq.prompt[i], i as i32, &[slot.id], last)
                    .is_err()
                {
                    break;
                }
                if let Some(h) = self.head.as_mut() {
                    h.note(slot.id, last);
                }
                if last {
                    seq.logits_row = Some(rows);
                }
                rows += 1;
                seq.in_batch += 1;
            }
            budget = budget.saturating_sub(seq.in_batch);
        }
        if rows == 0 {
            return;
        }

        let Some(ctx) = self.ctx.as_mut() else {
            return;
        };
        let result = {
            let _compute = lock(&COMPUTE_LOCK);
            let _across = compute_file().and_then(FileLock::take);
            let batch = &mut self.batch;
            match self.head.as_mut() {
                Some(h) => {
                    let n_ubatch = ctx.n_ubatch() as usize;
                    h.decode(n_ubatch, || ctx.decode(batch))
                }
                None => ctx.decode(batch).map_err(|e| e.to_string()),
            }
        };
        if let Err(e) = result {
            tracing::error!("decode failed: {e}");
            for slot in &mut self.slots {
                if let Some(seq) = slot.seq.take() {
                    let _ = seq.tx.send(Event::Error(format!(
                        "an error was encountered while running the model: {e}"
                    )));
                    let _ = ctx.clear_kv_cache_seq(Some(slot.id as u32), None, None);
                    slot.cache.clear();
                }
            }
            return;
        }

        // Record the prompt tokens now in each sequence's KV cache, then sample where logits
        // were asked.
        for slot in &mut self.slots {
            let Some(seq) = slot.seq.as_mut() else {
                continue;
            };
            let end = seq.next_prompt + seq.in_batch;
            slot.cache
                .extend_from_slice(&seq.prompt[seq.next_prompt..end]);
            seq.next_prompt = end;
        }
        for index in 0..self.slots.len() {
            self.sample(index);
        }
    }

    /// Samples a sequence's next token where its logits are, then checks its draft: each draft
    /// token the sampler also chooses is kept (already evaluated), the first disagreement ends
    /// the step and its sampled token is the next to evaluate.
    fn sample(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let Some(seq) = slot.seq.as_mut() else { return };
        let Some(row) = seq.logits_row.take() else {
            return;
        };
        let draft = std::mem::take(&mut seq.draft);
        let first_draft = seq.draft_row;
        seq.drafted += draft.len();
        // The cache up to and including the token this step evaluated for it.
        let base = slot.cache.len() - draft.len();
        let mut kept = 0;
        let mut next = None;
        for i in 0..=draft.len() {
            let at = if i == 0 {
                row
            } else {
                first_draft + i as i32 - 1
            };
            let Some(token) = self.take_token(index, at, base + i) else {
                break;
            };
            if draft.get(i) == Some(&token) {
                kept += 1;
                if let Some(seq) = self.slots[index].seq.as_mut() {
                    seq.confirmed += 1;
                }
                continue;
            }
            next = Some(token);
            break;
        }
        let slot = &mut self.slots[index];
        if kept < draft.len() {
            slot.cache.truncate(base + kept);
            if let Some(ctx) = self.ctx.as_mut() {
                let _ =
                    ctx.clear_kv_cache_seq(Some(slot.id as u32), Some((base + kept) as u32), None);
            }
        }
        if let Some(seq) = slot.seq.as_mut() {
            seq.pending = next;
            seq.acceptance.record(draft.len(), kept);
        }
    }

    /// Samples the token at `row` for the sequence in slot `index`, whose cache then holds
    /// `cached` tokens, and streams it. `None`: the sequence ended (stop, length, client gone).
    fn take_token(&mut self, index: usize, row: i32, cached: usize) -> Option<LlamaToken> {
        let ctx = self.ctx.as_ref()?;
        let slot = &mut self.slots[index];
        let seq = slot.seq.as_mut()?;
        let now = Instant::now();
        if seq.first_token.is_none() {
            seq.first_token = Some(now);
        }
        // This step's logits: computed by rollama's output layer, or in llama.cpp's buffer.
        let ours = self.head.as_ref().and_then(|h| h.row(row));
        let logits = ours.unwrap_or_else(|| ctx.get_logits_ith(row));
        let token = match (seq.grammar.as_mut(), seq.shortlist) {
            (None, Some(list)) => {
                let mut few = list.candidates(logits, &seq.prompt, &seq.generated);
                seq.sampler.apply(&mut few);
                let t = few.selected_token().unwrap_or(self.model.vocab().eos());
                seq.sampler.accept(t);
                t
            }
            (None, None) if ours.is_some() => {
                sample_all(&mut seq.sampler, logits, self.model.vocab().eos())
            }
            (None, None) => seq.sampler.sample(ctx, row),
            (Some(grammar), _) => {
                sample_constrained(&mut seq.sampler, grammar, logits, self.model.vocab().eos())
            }
        };
        seq.eval_count += 1;
        let vocab = self.model.vocab();
        if vocab.is_eog(token) {
            self.finish(index, DoneReason::Stop);
            return None;
        }
        if seq.logprobs.is_some() {
            let top = seq.logprobs.unwrap_or(0) as usize;
            let lp = token_logprob(self.model, logits, token, top);
            let _ = seq.tx.send(Event::Logprob(lp));
        }
        seq.generated.push(token);
        let piece = vocab.token_to_piece(token, false, None);
        let text = seq.utf8.push(&piece);
        let matched = seq.stops.push(&text);
        if !matched.emit.is_empty() && seq.tx.send(Event::Text(matched.emit)).is_err() {
            tracing::debug!(slot = slot.id, "request cancelled by the client");
            slot.seq = None;
            return None;
        }
        if matched.stopped {
            seq.stopped = true;
            self.finish(index, DoneReason::Stop);
            return None;
        }
        let full = cached + 1 >= self.n_ctx_slot;
        if seq.generated.len() >= seq.max_tokens || full {
            self.finish(index, DoneReason::Length);
            return None;
        }
        Some(token)
    }

    fn finish(&mut self, index: usize, reason: DoneReason) {
        let slot = &mut self.slots[index];
        let Some(mut seq) = slot.seq.take() else {
            return;
        };
        let now = Instant::now();
        // After a stop string nothing more is shown; otherwise held-back text (a partial stop
        // string, an incomplete character) is released.
        let mut rest = String::new();
        if !seq.stopped {
            let m = seq.stops.push(&seq.utf8.finish());
            rest.push_str(&m.emit);
            if !m.stopped {
                rest.push_str(&seq.stops.flush());
            }
        }
        if !rest.is_empty() {
            let _ = seq.tx.send(Event::Text(rest));
        }
        let first = seq.first_token.unwrap_or(now);
        let context = seq
            .prompt
            .iter()
            .chain(seq.generated.iter())
            .filter(|&&t| !is_placeholder(t))
            .map(|t| t.0)
            .collect();
        tracing::debug!(
            slot = slot.id,
            generated = seq.generated.len(),
            drafted = seq.drafted,
            confirmed = seq.confirmed,
            "request done"
        );
        let done = Done {
            reason,
            prompt_tokens: seq.prompt.len() as u64,
            prompt_evaluated: (seq.prompt.len() - seq.reused) as u64,
            prompt_ns: first.duration_since(seq.admitted).as_nanos() as u64,
            eval_tokens: seq.eval_count,
            eval_ns: now.duration_since(first).as_nanos() as u64,
            context,
        };
        let _ = seq.tx.send(Event::Done(done));
    }
}

/// The message for images sent to a model without a projector.
pub const IMAGES_UNSUPPORTED: &str = "this model is missing data required for image input";

/// `n`, or where the image it falls inside begins: a reused prefix never ends inside an image
/// (its rest could not be evaluated alone).
fn image_boundary(prompt: &[LlamaToken], mut n: usize) -> usize {
    while n > 0 && n < prompt.len() && is_placeholder(prompt[n]) && is_placeholder(prompt[n - 1]) {
        n -= 1;
    }
    n
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Keeps the first `num_keep` tokens and the most recent ones so the prompt fills at most half
/// the context, leaving the other half for the answer (Ollama truncates before the runner sees
/// the prompt; rollama does not shift the context during generation yet).
fn truncate_prompt(prompt: Vec<LlamaToken>, n_ctx: usize, num_keep: i64) -> Vec<LlamaToken> {
    let target = (n_ctx / 2).max(1);
    let keep = (num_keep.max(0) as usize).min(target.saturating_sub(1));
    let tail = target - keep;
    let mut out = prompt[..keep].to_vec();
    out.extend_from_slice(&prompt[prompt.len() - tail..]);
    tracing::warn!(
        limit = n_ctx,
        prompt = prompt.len(),
        keep,
        new = out.len(),
        "truncating input prompt"
    );
    out
}
