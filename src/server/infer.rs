//! What generate and chat share: merging options (defaults < model parameters < request), getting
//! a runner from the scheduler, starting a completion, and turning the engine's final numbers
//! into Ollama's metrics. The route handlers only shape requests and responses around this.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::AppState;
use super::error::ApiError;
use super::meta::ModelMeta;
use crate::api::options::Options;
use crate::api::types::Metrics;
use crate::duration::KeepAlive;
use crate::engine::{CompletionRequest, Done, Event, LoadDefaults, options as engine_options};
use crate::sched::Lease;
use crate::store::model::Model;

/// A request's model, resolved and checked: what generate and chat verify before any work.
pub struct Checked {
    pub model: Model,
    pub meta: Arc<ModelMeta>,
    pub caps: Vec<String>,
    /// The grammar `format` asks for.
    pub grammar: Option<String>,
}

impl Checked {
    pub fn can(&self, capability: &str) -> bool {
        self.caps.iter().any(|c| c == capability)
    }
}

/// [`check`] on a blocking thread: it reads the store and, the first time, the GGUF header.
pub async fn check_async(
    state: &Arc<AppState>,
    name: &str,
    route: &'static str,
    top_logprobs: Option<i64>,
    think: Option<Value>,
    format: Option<Value>,
) -> Result<Checked, ApiError> {
    let state = Arc::clone(state);
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        check(
            &state,
            &name,
            route,
            top_logprobs,
            think.as_ref(),
            format.as_ref(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}

/// The checks generate and chat share, in Ollama's order: model given, name valid, model known,
/// `completion` capability (else `"<model>" does not support <route>`), `top_logprobs` range,
/// `think` value and capability, `format`.
pub fn check(
    state: &AppState,
    name: &str,
    route: &str,
    top_logprobs: Option<i64>,
    think: Option<&Value>,
    format: Option<&Value>,
) -> Result<Checked, ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let model = state.model(name)?;
    let meta = state.model_meta(&model)?;
    let caps = super::prompt::capabilities(&model, &meta);
    let mut checked = Checked {
        model,
        meta,
        caps,
        grammar: None,
    };
    if !checked.can("completion") {
        return Err(ApiError::bad_request(format!(
            "\"{name}\" does not support {route}"
        )));
    }
    if let Some(n) = top_logprobs
        && !(0..=20).contains(&n)
    {
        return Err(ApiError::bad_request(
            "top_logprobs must be between 0 and 20",
        ));
    }
    check_think(think, name, &checked.caps)?;
    checked.grammar = format_grammar(format)?;
    Ok(checked)
}

/// What the scheduler made of a request.
pub enum Scheduled {
    /// Empty input with `keep_alive: 0`: the model is being unloaded.
    Unload,
    /// Empty input: the model is loaded, nothing to generate.
    Load,
    Ready {
        lease: Lease,
        opts: Options,
    },
}

/// Empty input with `keep_alive: 0` unloads, other empty input only loads, anything else gets a
/// runner with the request's merged options.
pub async fn schedule(
    state: &Arc<AppState>,
    c: &Checked,
    options: Option<&Map<String, Value>>,
    keep_alive: Option<KeepAlive>,
    empty: bool,
) -> Result<Scheduled, ApiError> {
    if empty && keep_alive.is_some_and(|k| k.is_zero()) {
        if let Some(path) = &c.model.model_path {
            state.sched.unload_model(path);
        }
        return Ok(Scheduled::Unload);
    }
    let opts = merge_options(state, &c.model, options)?;
    let lease = acquire(state, &c.model, &c.meta, &opts, keep_alive).await?;
    if empty {
        return Ok(Scheduled::Load);
    }
    Ok(Scheduled::Ready { lease, opts })
}

/// Ollama's option precedence; unknown keys are logged and ignored, wrong types are errors.
pub fn merge_options(
    state: &AppState,
    model: &Model,
    request: Option<&Map<String, Value>>,
) -> Result<Options, ApiError> {
    let mut opts = Options {
        num_ctx: i64::from(state.config.context_length),
        ..Options::default()
    };
    for layer in [Some(&model.params), request].into_iter().flatten() {
        let unknown = opts
            .apply_map(layer)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for key in unknown {
            tracing::warn!(option = %key, "invalid option provided");
        }
    }
    Ok(opts)
}

/// The model `name` loaded (or found loaded) with the request's `options`: `model is required`
/// (400) for an empty name, 404 for one the store lacks.
pub async fn lease_by_name(
    state: &Arc<AppState>,
    name: &str,
    options: Option<&Map<String, Value>>,
    keep_alive: Option<KeepAlive>,
) -> Result<Lease, ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let (state2, name2) = (Arc::clone(state), name.to_string());
    let (model, meta) = tokio::task::spawn_blocking(move || {
        let model = state2.model(&name2)?;
        let meta = state2.model_meta(&model)?;
        Ok::<_, ApiError>((model, meta))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let opts = merge_options(state, &model, options)?;
    acquire(state, &model, &meta, &opts, keep_alive).await
}

/// A runner for `model` with `opts`, loading it if needed.
pub async fn acquire(
    state: &Arc<AppState>,
    model: &Model,
    meta: &ModelMeta,
    opts: &Options,
    keep_alive: Option<KeepAlive>,
) -> Result<Lease, ApiError> {
    let Some(path) = model.model_path.clone() else {
        return Err(ApiError::internal(format!(
            "model '{}' has no weights",
            model.short_name()
        )));
    };
    if !path.is_file() {
        return Err(ApiError::not_found(format!(
            "model \"{}\" not found, try pulling it first",
            model.short_name()
        )));
    }
    let params = engine_options::load_params(
        opts,
        path,
        model.adapters.clone(),
        meta.context_length,
        LoadDefaults {
            num_parallel: state.config.num_parallel,
            flash_attention: state.config.flash_attention,
            kv_cache_type: state.config.kv_cache_type,
            llama_lm_head: state.config.llama_lm_head,
        },
    );
    Ok(state
        .sched
        .acquire(&model.short_name(), params, keep_alive)
        .await?)
}

/// A completion in flight; the lease keeps the runner loaded until this is dropped.
pub struct Running {
    pub events: mpsc::UnboundedReceiver<Event>,
    pub lease: Lease,
    pub started: Instant,
    pub load_duration: Duration,
}

impl Running {
    pub fn metrics(&self, done: &Done) -> Metrics {
        Metrics {
            total_duration: self.started.elapsed().as_nanos() as u64,
            load_duration: self.load_duration.as_nanos() as u64,
            prompt_eval_count: done.prompt_tokens,
            prompt_eval_duration: done.prompt_ns,
            eval_count: done.eval_tokens,
            eval_duration: done.eval_ns,
        }
    }
}

/// What a request asks of generation beyond its options.
#[derive(Debug, Default)]
pub struct Extras {
    /// The grammar `format` asks for.
    pub grammar: Option<String>,
    pub logprobs: bool,
    pub top_logprobs: i64,
}

/// A parser for the model's thinking when it can think, the request does not turn thinking off
/// (absent means on, as Ollama does), and the template names its tags.
pub fn thinking_parser(
    c: &Checked,
    think: Option<&Value>,
    template: &str,
) -> Option<super::thinking::ThinkingParser> {
    let on = !matches!(think, Some(Value::Bool(false)));
    if !on || !c.can("thinking") {
        return None;
    }
    super::thinking::think_tags(template).map(super::thinking::ThinkingParser::new)
}

/// Engine log-probabilities in Ollama's JSON shape.
pub fn logprobs_json(lps: Vec<crate::engine::TokenLogprob>) -> Vec<crate::api::types::Logprob> {
    use crate::api::types::{Logprob, TopLogprob};
    lps.into_iter()
        .map(|l| Logprob {
            token: l.token,
            logprob: f64::from(l.logprob),
            bytes: l.bytes,
            top_logprobs: l
                .top
                .into_iter()
                .map(|(token, logprob, bytes)| TopLogprob {
                    token,
                    logprob: f64::from(logprob),
                    bytes,
                })
                .collect(),
        })
        .collect()
}

/// Starts generating `prompt` on the leased runner.
pub fn start(
    lease: Lease,
    prompt: String,
    opts: &Options,
    started: Instant,
    load_duration: Duration,
    extras: Extras,
) -> Result<Running, ApiError> {
    let req = CompletionRequest {
        prompt,
        num_predict: opts.num_predict,
        num_keep: opts.num_keep,
        stop: opts.stop.clone(),
        sampling: engine_options::sampling_params(opts),
        grammar: extras.grammar,
        logprobs: extras.logprobs,
        top_logprobs: extras.top_logprobs.clamp(0, 20) as u32,
    };
    let events = lease
        .runner
        .completion(req)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Running {
        events,
        lease,
        started,
        load_duration,
    })
}

/// Tokens of `text` as the runner would evaluate them.
pub async fn tokenize(lease: &Lease, text: String) -> Result<Vec<i32>, ApiError> {
    let rx = lease
        .runner
        .tokenize(text)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    rx.await
        .map_err(|_| ApiError::internal(crate::engine::EngineError::Stopped.to_string()))
}

/// The message when the engine goes away without finishing.
pub fn runner_stopped() -> String {
    crate::engine::EngineError::Stopped.to_string()
}

/// The runner's answer to a one-shot request (tokenize, detokenize, embed): a request it could
/// not take or an answer that never came is a 500.
pub async fn answer<T>(
    rx: Result<tokio::sync::oneshot::Receiver<T>, crate::engine::EngineError>,
) -> Result<T, ApiError> {
    rx.map_err(|e| ApiError::internal(e.to_string()))?
        .await
        .map_err(|_| ApiError::internal(runner_stopped()))
}

/// Ollama's `think` value check for models without the thinking capability.
fn check_think(think: Option<&Value>, model_name: &str, caps: &[String]) -> Result<(), ApiError> {
    let wants = match think {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(Value::String(s)) if ["high", "medium", "low", "max"].contains(&s.as_str()) => true,
        Some(Value::String(s)) => {
            return Err(ApiError::bad_request(format!(
                "invalid think value: \"{s}\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
            )));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid think value: {other} (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
            )));
        }
    };
    if wants && !caps.iter().any(|c| c == "thinking") {
        return Err(ApiError::bad_request(format!(
            "\"{model_name}\" does not support thinking"
        )));
    }
    Ok(())
}

/// llama.cpp's grammar for any JSON object, the one `format: "json"` asks for (Ollama's
/// `grammarJSON`): an object at the top, optional whitespace between tokens.
const JSON_GRAMMAR: &str = r#"root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? ws "}"
array  ::= "[" ws ( value ("," ws value)* )? ws "]"
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F]) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]*)) ("." [0-9]+)? ([eE] [-+]? [0-9]+)? ws
ws     ::= ([ \t\n] ws)?
"#;

/// `format`: nothing, `"json"` (any JSON object) or a JSON schema (llama.cpp's schema-to-grammar
/// conversion). A schema past [`super::schema`]'s bounds or one it cannot convert is a 400
/// before anything runs; one whose grammar llama.cpp then refuses is a 400 from the engine.
fn format_grammar(format: Option<&Value>) -> Result<Option<String>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(JSON_GRAMMAR.to_string())),
        Some(schema @ Value::Object(_)) => {
            use super::schema::Refused;
            super::schema::check_cost(schema).map_err(|e| match e {
                Refused::TooLarge(e) => {
                    ApiError::bad_request(format!("invalid JSON schema in format: {e}"))
                }
                Refused::Unbuildable(e) => {
                    tracing::debug!("JSON schema llama.cpp cannot build: {e}");
                    ApiError::bad_request("invalid JSON schema in format")
                }
            })?;
            llama_cpp_2::json_schema_to_grammar(&schema.to_string())
                .map(Some)
                .map_err(|e| {
                    tracing::debug!("JSON schema to grammar: {e}");
                    ApiError::bad_request("invalid JSON schema in format")
                })
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid format: {other}; expected \"json\" or a valid JSON Schema object"
        ))),
    }
}

/// A schema that converted to a grammar llama.cpp then refused (left recursion through `$ref`,
/// a repetition over its limit of 2000: `minItems` 1e8, `^a{100000000}$`): Ollama's 400.
fn invalid_grammar(detail: &str) -> ApiError {
    tracing::debug!("grammar refused by llama.cpp: {detail}");
    ApiError::bad_request("invalid JSON schema in format")
}

/// How a route shapes engine output: one chunk per piece of text, and a final object carrying
/// the metrics (with all the text when not streaming).
pub trait Shape: Send + 'static {
    type Out: serde::Serialize + Send + Sync;
    /// A piece of text and the log-probabilities of the tokens that made it (when asked for);
    /// `None` when there is nothing to send yet (text held back by a tool-call parser).
    fn chunk(
        &mut self,
        text: String,
        logprobs: Vec<crate::api::types::Logprob>,
    ) -> Option<Self::Out>;
    fn last(
        &mut self,
        running: &Running,
        done: &Done,
        text: String,
        logprobs: Vec<crate::api::types::Logprob>,
    ) -> Self::Out;
}

/// Notes the time to a completion's first token, once.
struct FirstToken(Option<std::time::Instant>);

impl FirstToken {
    fn new() -> FirstToken {
        FirstToken(Some(std::time::Instant::now()))
    }

    fn seen(&mut self) {
        if let Some(t) = self.0.take() {
            crate::metrics::first_token(t.elapsed().as_secs_f64());
        }
    }
}

fn record(done: &Done) {
    crate::metrics::completion(done.prompt_tokens, done.eval_tokens, done.eval_ns);
}

/// Streams (NDJSON) or collects the completion. Streaming: an engine error after the first line
/// becomes a last `{"error": ...}` line; before it, a proper error status.
pub async fn respond<S: Shape>(
    mut running: Running,
    mut shape: S,
    streaming: bool,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    // Log-probabilities wait for the text they belong to.
    let mut lps = Vec::new();
    let mut ttft = FirstToken::new();
    if !streaming {
        let mut text = String::new();
        loop {
            match running.events.recv().await {
                None => return Err(ApiError::internal(runner_stopped())),
                Some(Event::Text(t)) => {
                    ttft.seen();
                    text.push_str(&t);
                }
                Some(Event::Logprob(l)) => lps.push(l),
                Some(Event::Error(e)) => return Err(ApiError::internal(e)),
                Some(Event::InvalidGrammar(e)) => return Err(invalid_grammar(&e)),
                Some(Event::Done(done)) => {
                    record(&done);
                    let last = shape.last(&running, &done, text, logprobs_json(lps));
                    return Ok(axum::Json(last).into_response());
                }
            }
        }
    }
    // Nothing is written until the first event: an error before it is a proper status, as
    // Ollama answers when nothing has been written yet.
    let first = match running.events.recv().await {
        None => return Err(ApiError::internal(runner_stopped())),
        Some(Event::Error(e)) => return Err(ApiError::internal(e)),
        Some(Event::InvalidGrammar(e)) => return Err(invalid_grammar(&e)),
        Some(event) => event,
    };
    let (tx, response) = super::stream::ndjson();
    tokio::spawn(async move {
        let mut next = Some(first);
        loop {
            let event = match next.take() {
                Some(e) => Some(e),
                None => tokio::select! {
                    e = running.events.recv() => e,
                    // The client left: dropping `running` cancels the sequence at the engine's
                    // next step, even while it is still evaluating the prompt.
                    _ = tx.closed() => return,
                },
            };
            match event {
                None => {
                    tx.send_error(&runner_stopped()).await;
                    return;
                }
                Some(Event::Logprob(l)) => lps.push(l),
                Some(Event::Text(text)) => {
                    ttft.seen();
                    let chunk = shape.chunk(text, logprobs_json(std::mem::take(&mut lps)));
                    if let Some(chunk) = chunk
                        && !tx.send(&chunk).await
                    {
                        return;
                    }
                }
                Some(Event::Done(done)) => {
                    record(&done);
                    let lps = logprobs_json(std::mem::take(&mut lps));
                    tx.send(&shape.last(&running, &done, String::new(), lps))
                        .await;
                    return;
                }
                Some(Event::Error(e)) => {
                    tx.send_error(&e).await;
                    return;
                }
                Some(Event::InvalidGrammar(e)) => {
                    tx.send_error(&invalid_grammar(&e).message).await;
                    return;
                }
            }
        }
    });
    Ok(response)
}
