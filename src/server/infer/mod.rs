//! The one inference pipeline every protocol shares. A protocol adapter (native `/api/chat` and
//! `/api/generate`, OpenAI chat completions, completions and responses, Anthropic messages)
//! turns its request into a protocol-free [`InferRequest`]; [`prepare`] checks it in Ollama's
//! order, leases the runner from the scheduler, renders the prompt and builds the output
//! parsers, giving a [`Prepared`] that can always run; [`Prepared::run`] starts it, and the
//! [`Running`] yields typed [`Out`] events that the adapter maps to its wire format (NDJSON
//! lines, SSE events, one JSON object). No adapter reads another protocol's bytes, and nothing
//! here calls llama.cpp: grammars are built by the runner.

mod check;
mod render;
mod run;

use check::{Checked, acquire, check_async, merge_options};
pub use check::{answer, lease_by_name, runner_stopped, tokenize};
pub use run::{Finish, Out, Parsers, Piece, Running, Whole};

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::api::options::Options;
use crate::api::types::Message;
use crate::duration::KeepAlive;
use crate::engine::{CompletionRequest, options as engine_options};
use crate::sched::Lease;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::prompt::ChatTemplate;
use crate::server::thinking::{ThinkingParser, think_tags};
use crate::server::tools::{ToolParser, call_tag};

/// A request for a completion, whatever protocol it came in by.
#[derive(Debug, Default)]
pub struct InferRequest {
    pub model: String,
    /// How the route names itself in `"<model>" does not support <route>`.
    pub route: &'static str,
    pub input: Input,
    pub options: Option<Map<String, Value>>,
    pub keep_alive: Option<KeepAlive>,
    /// Native `format`: `"json"` or a JSON schema.
    pub format: Option<Value>,
    /// Native `think`: a bool or a level.
    pub think: Option<Value>,
    /// Thinking asked of a model that cannot think is dropped with a warning, not a 400.
    pub relax_thinking: bool,
    pub logprobs: bool,
    pub top_logprobs: Option<i64>,
    /// Drop old messages to fit the context (Ollama's `truncate`, default true).
    pub truncate: bool,
    /// Render the prompt and stop (`_debug_render_only`).
    pub debug_render_only: bool,
}

/// What the model is asked to continue.
#[derive(Debug)]
pub enum Input {
    /// A conversation, with the tools the model may call.
    Chat {
        messages: Vec<Message>,
        tools: Vec<Value>,
    },
    Generate(Generate),
}

impl Default for Input {
    fn default() -> Input {
        Input::Chat {
            messages: Vec::new(),
            tools: Vec::new(),
        }
    }
}

/// `/api/generate`'s input.
#[derive(Debug, Default)]
pub struct Generate {
    pub prompt: String,
    pub suffix: String,
    pub system: String,
    pub template: String,
    pub raw: bool,
    pub context: Option<Vec<i64>>,
    pub images: Vec<String>,
}

impl Input {
    /// Nothing to generate from: the request only loads (or unloads) the model.
    fn is_empty(&self) -> bool {
        match self {
            Input::Chat { messages, .. } => messages.is_empty(),
            Input::Generate(g) => g.prompt.is_empty() && g.suffix.is_empty(),
        }
    }
}

/// What [`prepare`] made of a request.
pub enum Prep {
    /// Empty input with `keep_alive: 0`: the model is being unloaded.
    Unload,
    /// Empty input: the model is loaded, nothing to generate.
    Load,
    /// `_debug_render_only`: the prompt, how many images it holds, and the runner it was
    /// rendered for (to count its tokens).
    Rendered {
        prompt: String,
        images: usize,
        lease: Lease,
    },
    Ready(Prepared),
}

/// A checked request with its runner and prompt: it can always run.
pub struct Prepared {
    lease: Lease,
    request: CompletionRequest,
    parsers: Parsers,
    started: Instant,
    load_duration: Duration,
    with_context: bool,
}

/// Checks `req`, leases its runner and renders its prompt. `started` is when the request
/// arrived (Ollama's `total_duration` counts from there).
pub async fn prepare(
    state: &Arc<AppState>,
    req: InferRequest,
    started: Instant,
) -> Result<Prep, ApiError> {
    if let Input::Generate(g) = &req.input {
        let has_context = g.context.as_ref().is_some_and(|c| !c.is_empty());
        if g.raw && (!g.template.is_empty() || !g.system.is_empty() || has_context) {
            return Err(ApiError::bad_request(
                "raw mode does not support template, system, or context",
            ));
        }
    }
    let c = check_async(
        state,
        &req.model,
        req.route,
        req.top_logprobs,
        req.think.clone(),
        req.relax_thinking,
        req.format.clone(),
    )
    .await?;
    match &req.input {
        Input::Chat { tools, .. } if !tools.is_empty() && !c.can("tools") => {
            return Err(ApiError::bad_request(format!(
                "{} does not support tools",
                c.model.stored.name
            )));
        }
        Input::Generate(g) if !g.suffix.is_empty() && !c.can("insert") => {
            return Err(ApiError::bad_request(format!(
                "{} does not support insert",
                c.model.stored.name
            )));
        }
        _ => {}
    }
    if req.input.is_empty() && req.keep_alive.is_some_and(|k| k.is_zero()) {
        if let Some(path) = &c.model.model_path {
            state.sched.unload_model(path);
        }
        return Ok(Prep::Unload);
    }
    let opts = merge_options(state, &c.model, req.options.as_ref())?;
    let lease = acquire(state, &c.model, &c.meta, &opts, req.keep_alive).await?;
    if req.input.is_empty() {
        return Ok(Prep::Load);
    }
    let load_duration = started.elapsed();
    // The model's template, parsed once for the prompt and the parsers (a raw prompt has none).
    let raw = matches!(&req.input, Input::Generate(g) if g.raw);
    let tmpl = match raw {
        true => None,
        false => Some(ChatTemplate::for_model(&c.model, &c.meta)?),
    };
    let (prompt, images) = render::prompt(
        &lease,
        &c.model,
        tmpl.as_ref(),
        &req.input,
        opts.num_ctx,
        req.truncate,
    )
    .await?;
    if req.debug_render_only {
        let images = images.len();
        return Ok(Prep::Rendered {
            prompt,
            images,
            lease,
        });
    }
    let (prompt, images) = render::place_images(&prompt, &images);
    if !images.is_empty() && c.model.projectors.is_empty() {
        return Err(ApiError::bad_request(
            crate::engine::llama::IMAGES_UNSUPPORTED,
        ));
    }
    let parsers = parsers(&c, &req, tmpl.as_ref());
    let with_context = matches!(&req.input, Input::Generate(g) if !g.raw);
    let mut request = completion(prompt, &opts, &c, &req);
    request.images = images;
    Ok(Prep::Ready(Prepared {
        lease,
        request,
        parsers,
        started,
        load_duration,
        with_context,
    }))
}

/// A started request: a run, or the answer of one that generates nothing.
pub enum Started {
    Running(Running),
    Nothing(Whole),
}

/// [`prepare`] and [`Prepared::run`], for adapters without a load-only or render-only answer
/// of their own: those requests answer as nothing generated.
pub async fn start(
    state: &Arc<AppState>,
    req: InferRequest,
    started: Instant,
) -> Result<Started, ApiError> {
    Ok(match prepare(state, req, started).await? {
        Prep::Ready(p) => Started::Running(p.run()?),
        Prep::Load | Prep::Rendered { .. } => Started::Nothing(Whole::nothing("load")),
        Prep::Unload => Started::Nothing(Whole::nothing("unload")),
    })
}

/// [`start`] for adapters that answer in one piece unless streaming: the run to stream, or
/// (as `Err`) the adapter's answer, made by `whole` from the collected run or a request that
/// generated nothing, or by `error`.
pub async fn run_or_answer<R>(
    state: &Arc<AppState>,
    req: InferRequest,
    started: Instant,
    streaming: bool,
    whole: impl FnOnce(Whole) -> R,
    error: impl FnOnce(ApiError) -> R,
) -> Result<Running, R> {
    let running = match start(state, req, started).await {
        Ok(Started::Running(running)) => running,
        Ok(Started::Nothing(w)) => return Err(whole(w)),
        Err(e) => return Err(error(e)),
    };
    if streaming {
        return Ok(running);
    }
    Err(match running.collect().await {
        Ok(w) => whole(w),
        Err(e) => error(e),
    })
}

impl Prepared {
    /// Starts generating on the leased runner.
    pub fn run(self) -> Result<Running, ApiError> {
        let events = self
            .lease
            .runner
            .completion(self.request)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Running {
            events,
            _lease: self.lease,
            started: self.started,
            load_duration: self.load_duration,
            parsers: self.parsers,
            with_context: self.with_context,
            logprobs: Vec::new(),
            first_token: Some(Instant::now()),
            ended: false,
        })
    }
}

/// The engine's request.
fn completion(
    prompt: String,
    opts: &Options,
    c: &Checked,
    req: &InferRequest,
) -> CompletionRequest {
    let top_logprobs = req.top_logprobs.unwrap_or(0);
    CompletionRequest {
        prompt,
        num_predict: opts.num_predict,
        num_keep: opts.num_keep,
        stop: opts.stop.clone(),
        sampling: engine_options::sampling_params(opts),
        grammar: c.grammar.clone(),
        images: Vec::new(),
        logprobs: req.logprobs || top_logprobs > 0,
        top_logprobs: top_logprobs.clamp(0, 20) as u32,
    }
}

/// The thinking parser when the model can think, the request does not turn thinking off
/// (absent means on, as Ollama does) and the template names its tags (raw prompts skip the
/// template, so have none); the tool-call parser when the request offers tools.
fn parsers(c: &Checked, req: &InferRequest, tmpl: Option<&ChatTemplate>) -> Parsers {
    let mut parsers = Parsers::default();
    let Some(tmpl) = tmpl else {
        return parsers;
    };
    let on = !matches!(req.think, Some(Value::Bool(false)));
    if on && c.can("thinking") {
        parsers.thinking = think_tags(tmpl.source()).map(ThinkingParser::new);
    }
    if let Input::Chat { tools, .. } = &req.input
        && !tools.is_empty()
    {
        parsers.tools = Some(ToolParser::new(
            call_tag(tmpl.source()),
            ToolParser::tool_names(tools),
        ));
    }
    parsers
}
