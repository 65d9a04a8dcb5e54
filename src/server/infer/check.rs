//! The checks before any work, in Ollama's order (model, capability, `top_logprobs`, `think`,
//! `format`), merging options (defaults < model parameters < request), getting a runner from
//! the scheduler, and the runner's one-shot answers (tokenize, detokenize, embed).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::api::options::Options;
use crate::duration::KeepAlive;
use crate::engine::{Grammar, LoadDefaults, options as engine_options};
use crate::sched::Lease;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::meta::ModelMeta;
use crate::store::model::Model;

/// A request's model, resolved and checked: what generate and chat verify before any work.
pub struct Checked {
    pub model: Model,
    pub meta: Arc<ModelMeta>,
    pub caps: Vec<String>,
    /// The grammar `format` asks for.
    pub grammar: Option<Grammar>,
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
    relax_thinking: bool,
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
            relax_thinking,
            format.as_ref(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}

/// The checks generate and chat share, in Ollama's order: model given, name valid, model known,
/// `completion` capability (else `"<model>" does not support <route>`), `top_logprobs` range,
/// `think` value and capability (with `relax_thinking`, thinking asked of a model that cannot
/// think is dropped with a warning, as Ollama's Anthropic middleware does), `format`.
pub fn check(
    state: &AppState,
    name: &str,
    route: &str,
    top_logprobs: Option<i64>,
    think: Option<&Value>,
    relax_thinking: bool,
    format: Option<&Value>,
) -> Result<Checked, ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let model = state.model(name)?;
    let meta = state.model_meta(&model)?;
    let caps = crate::server::prompt::capabilities(&model, &meta);
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
    match check_think(think, name, &checked.caps) {
        Err(e) if relax_thinking && e.message.ends_with("does not support thinking") => {
            tracing::warn!(
                model = name,
                "thinking requested but not supported by the model"
            );
        }
        other => other?,
    }
    checked.grammar = format_grammar(format)?;
    Ok(checked)
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
    let mut params = engine_options::load_params(
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
    params.projector = model.projectors.first().cloned();
    // A vision model gets at least 2048 tokens of context, as in Ollama (an image alone can
    // take hundreds).
    if params.projector.is_some() {
        let floor = meta
            .context_length
            .filter(|&t| t > 0)
            .unwrap_or(2048)
            .min(2048) as u32;
        params.num_ctx = params.num_ctx.max(floor);
    }
    Ok(state
        .sched
        .acquire(&model.short_name(), params, keep_alive)
        .await?)
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

/// `format`: nothing, `"json"` (any JSON object) or a JSON schema, which the runner turns into
/// a grammar (llama.cpp's converter). A schema past [`crate::server::schema`]'s bounds is a 400
/// before anything runs; one llama.cpp cannot convert, or whose grammar it refuses, is a 400
/// from the engine before the first token.
fn format_grammar(format: Option<&Value>) -> Result<Option<Grammar>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(Grammar::Gbnf(JSON_GRAMMAR.to_string()))),
        Some(schema @ Value::Object(_)) => {
            use crate::server::schema::Refused;
            crate::server::schema::check_cost(schema).map_err(|e| match e {
                Refused::TooLarge(e) => {
                    ApiError::bad_request(format!("invalid JSON schema in format: {e}"))
                }
                Refused::Unbuildable(e) => {
                    tracing::debug!("JSON schema llama.cpp cannot build: {e}");
                    ApiError::bad_request("invalid JSON schema in format")
                }
            })?;
            Ok(Some(Grammar::JsonSchema(schema.to_string())))
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid format: {other}; expected \"json\" or a valid JSON Schema object"
        ))),
    }
}

/// A schema llama.cpp could not convert or whose grammar it refused (left recursion through
/// `$ref`, a repetition over its limit of 2000: `minItems` 1e8, `^a{100000000}$`): Ollama's 400.
pub fn invalid_grammar(detail: &str) -> ApiError {
    tracing::debug!("grammar refused by llama.cpp: {detail}");
    ApiError::bad_request("invalid JSON schema in format")
}
