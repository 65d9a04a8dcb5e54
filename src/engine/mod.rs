//! The inference engine boundary. A [`Runner`] is one loaded model: requests go in as messages,
//! results come back as a stream of [`Event`]s. Every type crossing the boundary is plain data
//! (serde-serialisable), so the engine can move into a child process without the scheduler or
//! server noticing. [`llama`] is the llama-cpp-2 implementation; [`gguf`] reads model metadata
//! without loading tensors; [`options`] maps Ollama's options onto engine parameters; [`vision`]
//! loads a vision model's projector and evaluates images (llama.cpp's `mtmd`).
//!
//! A leaf: depends on nothing above it (no server, scheduler, store or CLI).

mod draft;
mod embed;
pub mod gguf;
mod grammar;
pub mod llama;
mod lm_head;
pub mod options;
pub mod process;
mod sampling;
pub mod text;
pub mod vision;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// What a model is loaded with. Two requests can share a runner only when these are equal; a
/// difference forces a reload (Ollama's "runner options").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadParams {
    pub model_path: PathBuf,
    pub adapters: Vec<PathBuf>,
    /// Context length of each parallel sequence.
    pub num_ctx: u32,
    pub num_batch: u32,
    pub num_thread: u32,
    pub num_parallel: u32,
    pub use_mmap: bool,
    pub flash_attention: Option<bool>,
    /// Element type of the KV cache (`OLLAMA_KV_CACHE_TYPE`).
    #[serde(default)]
    pub kv_cache_type: KvType,
    /// Longest prompt-lookup draft verified per step (`draft_num_predict`); 0 turns
    /// speculative decoding off.
    #[serde(default)]
    pub draft_max: u32,
    /// Logits from llama.cpp's output layer, not rollama's (`ROLLAMA_LLAMA_LM_HEAD`).
    #[serde(default)]
    pub llama_lm_head: bool,
    /// A vision model's projector (mmproj GGUF), loaded beside the model.
    #[serde(default)]
    pub projector: Option<PathBuf>,
}

/// What the server's environment sets for every model it loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadDefaults {
    pub num_parallel: u32,
    pub flash_attention: Option<bool>,
    pub kv_cache_type: KvType,
    pub llama_lm_head: bool,
}

/// KV cache element types llama.cpp can store (`--cache-type-k/-v`); Ollama documents `f16`,
/// `q8_0` and `q4_0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvType {
    #[default]
    F16,
    F32,
    Bf16,
    Q8_0,
    Q5_1,
    Q5_0,
    Q4_1,
    Q4_0,
    Iq4Nl,
}

impl KvType {
    const ALL: [KvType; 9] = [
        KvType::F16,
        KvType::F32,
        KvType::Bf16,
        KvType::Q8_0,
        KvType::Q5_1,
        KvType::Q5_0,
        KvType::Q4_1,
        KvType::Q4_0,
        KvType::Iq4Nl,
    ];

    /// llama.cpp's name for the type (what `OLLAMA_KV_CACHE_TYPE` takes).
    pub fn name(self) -> &'static str {
        match self {
            KvType::F16 => "f16",
            KvType::F32 => "f32",
            KvType::Bf16 => "bf16",
            KvType::Q8_0 => "q8_0",
            KvType::Q5_1 => "q5_1",
            KvType::Q5_0 => "q5_0",
            KvType::Q4_1 => "q4_1",
            KvType::Q4_0 => "q4_0",
            KvType::Iq4Nl => "iq4_nl",
        }
    }

    /// The type named `s` (any case).
    pub fn parse(s: &str) -> Option<KvType> {
        let s = s.trim().to_ascii_lowercase();
        KvType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Quantized types need flash attention (llama.cpp cannot quantize V without it).
    pub fn is_quantized(self) -> bool {
        !matches!(self, KvType::F16 | KvType::F32 | KvType::Bf16)
    }

    /// Bytes per 32 elements (one quantization block).
    pub fn bytes_per_32(self) -> u64 {
        match self {
            KvType::F32 => 128,
            KvType::F16 | KvType::Bf16 => 64,
            KvType::Q8_0 => 34,
            KvType::Q5_1 => 24,
            KvType::Q5_0 => 22,
            KvType::Q4_1 => 20,
            KvType::Q4_0 | KvType::Iq4Nl => 18,
        }
    }
}

/// Sampler settings of one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub typical_p: f32,
    /// Negative means "pick a random seed".
    pub seed: i64,
    pub repeat_last_n: i32,
    pub repeat_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
}

/// One text-generation request for a loaded model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The fully rendered prompt; special-token text (`<start_of_turn>`) is parsed as tokens.
    pub prompt: String,
    /// -1: until a stop (bounded to 10 x num_ctx); -2: until the context is full.
    pub num_predict: i64,
    /// Prompt tokens kept from the start when a too-long prompt is truncated.
    pub num_keep: i64,
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    /// The grammar the output must follow (`format`).
    #[serde(default)]
    pub grammar: Option<Grammar>,
    /// The images of the prompt, base64, one per [`vision::MARKER`] in it, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Report each generated token's log-probability, with this many alternatives.
    #[serde(default)]
    pub logprobs: bool,
    #[serde(default)]
    pub top_logprobs: u32,
}

/// What a request's output must follow. A JSON schema is turned into a grammar by the runner
/// (llama.cpp's converter), on its grammar thread, so the server never calls llama.cpp.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grammar {
    /// A GBNF grammar, rule `root`.
    Gbnf(String),
    /// A JSON schema (its JSON text).
    JsonSchema(String),
}

/// A generated token's log-probability under the model (before sampling changes), and the
/// most likely alternatives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top: Vec<(String, f32, Vec<u8>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DoneReason {
    /// End-of-generation token or stop string.
    Stop,
    /// `num_predict` reached or the context is full.
    Length,
}

impl DoneReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            DoneReason::Stop => "stop",
            DoneReason::Length => "length",
        }
    }
}

/// Final statistics of a completion.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Done {
    pub reason: DoneReason,
    /// All prompt tokens, including those reused from the cache.
    pub prompt_tokens: u64,
    /// Prompt tokens actually evaluated (not reused).
    pub prompt_evaluated: u64,
    pub prompt_ns: u64,
    pub eval_tokens: u64,
    pub eval_ns: u64,
    /// Prompt and generated token ids (generate's `context`).
    pub context: Vec<i32>,
}

/// What a runner streams back for one completion.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// Text to show (never a partial UTF-8 character or a partial stop string).
    Text(String),
    /// The log-probability of the token just generated (only when asked for); it belongs to
    /// the text that follows.
    Logprob(TokenLogprob),
    Done(Done),
    Error(String),
    /// The request's grammar is one llama.cpp cannot build (the server's 400 for `format`).
    InvalidGrammar(String),
    /// The request's input cannot be used (an image the model cannot take, or that does not
    /// decode): the server's 400.
    InvalidInput(String),
}

impl Event {
    /// Done or an error: nothing follows.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Event::Done(_) | Event::Error(_) | Event::InvalidGrammar(_) | Event::InvalidInput(_)
        )
    }
}

/// Texts to embed in one go.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmbedRequest {
    pub inputs: Vec<String>,
    /// Cut inputs longer than the context instead of failing.
    pub truncate: bool,
}

/// One raw (not normalised) pooled vector per input, and the tokens they took.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Embedded {
    pub embeddings: Vec<Vec<f32>>,
    pub prompt_tokens: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, thiserror::Error)]
pub enum EmbedError {
    #[error("the input length exceeds the context length")]
    TooLong,
    #[error("{0}")]
    Failed(String),
}

/// Facts about a loaded model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunnerInfo {
    pub n_ctx_train: u32,
    /// Bytes the model weights take.
    pub model_size: u64,
    /// Bytes of weights plus KV cache and compute buffers, roughly (for `ps`).
    pub total_size: u64,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Load(String),
    #[error(
        "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details"
    )]
    Stopped,
}

/// A loaded model. Methods never block: they enqueue work and hand back a channel.
pub trait Runner: Send + Sync {
    fn info(&self) -> &RunnerInfo;

    /// False once the engine behind this runner has gone (crashed or stopped): the scheduler
    /// then loads a fresh one instead of handing this out.
    fn is_alive(&self) -> bool;

    /// Stops the engine without waiting: requests in flight end with an error event.
    fn stop(&self);

    /// Starts a completion; events arrive on the returned channel. Dropping the receiver cancels
    /// the request at the engine's next step.
    fn completion(
        &self,
        req: CompletionRequest,
    ) -> Result<mpsc::UnboundedReceiver<Event>, EngineError>;

    /// Tokenizes `text` as a prompt would be (special tokens parsed, BOS added when the model
    /// wants one).
    fn tokenize(&self, text: String) -> Result<oneshot::Receiver<Vec<i32>>, EngineError>;

    /// The text of `tokens` (generate's deprecated `context`).
    fn detokenize(&self, tokens: Vec<i32>) -> Result<oneshot::Receiver<String>, EngineError>;

    /// Embeds every input, batched together as far as the batch size allows.
    fn embed(
        &self,
        _req: EmbedRequest,
    ) -> Result<oneshot::Receiver<Result<Embedded, EmbedError>>, EngineError> {
        Err(EngineError::Load("this runner cannot embed".into()))
    }
}
