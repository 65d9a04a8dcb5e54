//! rollama: a single binary that replaces Ollama. `rollama serve` runs llama.cpp (through the
//! `llama-cpp-2` crate) behind Ollama's HTTP API; every other subcommand is a thin REST client.
//!
//! # Map
//!
//! Read `../shared/spec/architecture.md` for the agreed shape; this is where the code stands.
//!
//! - [`envconfig`]: every `OLLAMA_*` variable and rollama's own `ROLLAMA_*` ones; the engine also
//!   reads the internal `ROLLAMA_COMPUTE_LOCK` its server sets for it.
//! - [`api`]: wire types mirroring Ollama's JSON, the option table, the reqwest client.
//! - [`store`]: the on-disk model store (manifests + blobs), byte-compatible with Ollama's.
//! - [`modelfile`]: the Modelfile parser and printer.
//! - [`template`]: Go `text/template` (Modelfile TEMPLATE) and Jinja (GGUF chat template).
//! - [`engine`]: the `Runner` boundary, the llama-cpp-2 runner (slots that share cached prompt
//!   prefixes across each other, prompt-lookup speculative decoding (`engine::draft`),
//!   grammar-constrained sampling with grammars built on a background thread, logprobs, KV cache
//!   types, rollama's own output layer (`engine::lm_head`), an embedding context that skips the
//!   output layer and mean-pools itself (`engine::embed`), images through llama.cpp's `mtmd`
//!   for models with a projector (`engine::vision`)), the runner process and its
//!   protocol (`engine::process`), GGUF metadata, option mapping.
//! - [`registry`]: pull and push over the registry protocol (ranged parallel downloads that
//!   resume across server restarts, verified before visible; chunked uploads; the signed
//!   bearer-token challenge with `~/.ollama/id_ed25519`), reporting progress as events.
//! - [`sched`]: loaded runners, keep-alive, eviction, reloads, queue limit.
//! - [`server`]: the axum router and one module per route family. Every completion goes through
//!   one pipeline, `server::infer`: a protocol adapter maps its request into a protocol-free
//!   `InferRequest`, `infer::prepare` checks it (in Ollama's order), leases the runner, renders
//!   the prompt and builds the thinking and tool-call parsers, and the run yields typed events
//!   (`infer::Out`: pieces of thinking, content, tool calls and log-probabilities, then the
//!   finish with Ollama's metrics) that the adapter writes as NDJSON, SSE (`server::stream`) or
//!   one object. The adapters: native `server::chat` and `server::generate`, `server::openai`
//!   (a module per endpoint: chat, completions, responses, embeddings, models) and
//!   `server::anthropic` (messages, count_tokens); none reads another protocol's bytes.
//!   `server::state` is what handlers share; `server::listen` is the accept loop (hyper HTTP/1 with header-read and idle deadlines,
//!   which `axum::serve` lacks); `server::guard` runs before every route (CORS and the Host
//!   check in `server::cors`, the body limit, API keys with scopes in `server::auth`);
//!   `server::tls` terminates HTTPS when given a certificate.
//! - [`cli`]: clap definitions and one module per subcommand.
//! - [`duration`], [`gofmt`]: Go-compatible durations and number/quote formatting.
//! - [`metrics`]: process-wide counters and histograms for `GET /metrics` (Prometheus text).
//! - [`os`]: free disk space, the open-files limit, dropping a mapped file range's resident
//!   pages (libc calls std lacks).
//!
//! # Where the code departs from architecture.md
//!
//! - Each loaded model runs in a `rollama runner` child process (`engine::process`), speaking
//!   JSON lines over its stdin/stdout; inside it, one engine thread per model as planned. The
//!   runner is not a clap subcommand (`main.rs` checks for it first), so it stays out of help,
//!   completions and man pages. `ROLLAMA_ENGINE_IN_PROCESS=1` keeps models on threads of the
//!   server, for measuring what the boundary costs (`PEER=inprocess benches/compare.sh`).
//! - Only one model decodes at a time across all runners of a server (a mutex plus a `flock`ed
//!   file around each decode, `engine::llama`): with OpenMP's spin-waiting workers, two contexts
//!   decoding at once on the same cores collapse throughput, so several loaded models take
//!   turns instead of oversubscribing the CPU.
//! - The shared llama context keeps one KV stream per sequence slot (`kv_unified` off, as
//!   llama-server), not one buffer: a unified buffer made every sequence attend over all
//!   slots' cells. So a prefix cached in another slot is reused by copying that slot's whole
//!   stream and cutting it (`engine::llama::Engine::reuse_prefix`), and a step's speculative
//!   drafts (`engine::draft`, not in architecture.md) all have one length, since llama.cpp
//!   splits an uneven multi-stream batch into extra passes. `OLLAMA_NUM_PARALLEL` defaults to
//!   4, not Ollama's 1 (README, Benchmarks).
//! - The engine reaches past llama-cpp-2 in one place: llama.cpp's graph-evaluation callback
//!   (`cb_eval`), which the crate does not expose, is set by reinterpreting its single-field
//!   `LlamaContextParams` (`engine::lm_head::with_eval_callback`; the crate is pinned). With it
//!   graphs stop before llama.cpp's output layer: embeddings of generative models pool the
//!   hidden states themselves (`engine::embed`), and where the output matrix is Q8_0 and the
//!   CPU has AVX-512 VNNI the runner computes the logits with its own kernel from the captured
//!   hidden states (`engine::lm_head`; `ROLLAMA_LLAMA_LM_HEAD=1` turns it off), because
//!   llama.cpp has no repacked Q8_0 kernel for x86 and that product was half of each step.
//! - Pull keeps partial downloads across restarts (start-up pruning keeps `-partial` files until
//!   they have been untouched for a week), and
//!   hashes each blob before renaming it into place rather than after, as Ollama does; the
//!   `verifying sha256 digest` status is still sent where Ollama sends it.
//! - The pipeline of architecture.md's "next shape" is built as drawn, with two differences:
//!   `prepare` returns a `Prep` (load-only, unload and render-only requests answer without a
//!   run, as Ollama's handlers do) whose `Ready` holds the `Prepared`, and the typed events
//!   carry a `Piece` (thinking, content and tool calls of one engine step together, with their
//!   log-probabilities) rather than one event per kind, so the native routes keep Ollama's one
//!   line per step. The JSON-schema-to-grammar conversion runs in the runner's grammar thread
//!   (`engine::Grammar::JsonSchema`); the server process makes no llama.cpp call.
//! - Images are evaluated into a sequence through mtmd between decode steps, each as its own
//!   decode (a llama.cpp batch holds tokens or embeddings, not both); in the prompt and the
//!   slot caches they stand as negative placeholder ids drawn from their bytes
//!   (`engine::vision`), so prefix reuse treats them like tokens. A model with a projector does
//!   not use rollama's own output layer (mtmd's decodes run outside its bookkeeping).
//! - Not built yet: context shift (generation stops with `length` when the context is full),
//!   quantization on create, stored responses (`previous_response_id`). See README.md.

pub mod api;
pub mod cli;
pub mod duration;
pub mod engine;
pub mod envconfig;
pub mod gofmt;
pub mod metrics;
pub mod modelfile;
pub mod os;
pub mod registry;
pub mod sched;
pub mod server;
pub mod store;
pub mod template;
