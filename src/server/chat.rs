//! `POST /api/chat`: a conversation rendered through the model's template, answered as
//! assistant message chunks (NDJSON) or one message. Empty `messages` loads (or with
//! `keep_alive: 0` unloads) the model. Old messages are dropped from the front when the
//! rendered prompt would not fit `num_ctx` (system messages are kept, the last message always).

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiJson};
use super::infer::{self, Running};
use super::prompt::{self, ChatTemplate};
use crate::api::types::{ChatRequest, ChatResponse, DebugInfo, Message, now_utc};
use crate::engine::Done;
use crate::sched::Lease;

pub async fn chat(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if req.model.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let model = state.model(&req.model)?;
    let meta = state.model_meta(&model)?;
    let caps = prompt::capabilities(&model, &meta);
    if !caps.iter().any(|c| c == "completion") {
        return Err(ApiError::bad_request(format!(
            "\"{}\" does not support chat",
            req.model
        )));
    }
    if !req.tools.is_empty() && !caps.iter().any(|c| c == "tools") {
        return Err(ApiError::bad_request(format!(
            "{} does not support tools",
            model.stored.name
        )));
    }
    if let Some(n) = req.top_logprobs
        && !(0..=20).contains(&n)
    {
        return Err(ApiError::bad_request(
            "top_logprobs must be between 0 and 20",
        ));
    }
    infer::check_think(req.think.as_ref(), &req.model, &caps)?;
    infer::check_format(req.format.as_ref())?;

    let done_only = |reason: &str| ChatResponse {
        model: req.model.clone(),
        created_at: now_utc(),
        message: Message::new("assistant", ""),
        done_reason: reason.to_string(),
        done: true,
        ..ChatResponse::default()
    };
    if req.messages.is_empty() && req.keep_alive.is_some_and(|k| k.is_zero()) {
        if let Some(path) = &model.model_path {
            state.sched.unload_model(path);
        }
        return Ok(axum::Json(done_only("unload")).into_response());
    }

    let opts = infer::merge_options(&state, &model, req.options.as_ref())?;
    let lease = infer::acquire(&state, &model, &meta, &opts, req.keep_alive).await?;
    let load_duration = started.elapsed();
    if req.messages.is_empty() {
        return Ok(axum::Json(done_only("load")).into_response());
    }

    let tmpl = ChatTemplate::for_model(&model, &meta)?;
    let msgs = prompt::chat_messages(&model, &req.messages);
    let truncate = req.truncate.unwrap_or(true);
    let prompt_text =
        fit_to_context(&lease, &tmpl, &msgs, &req.tools, opts.num_ctx, truncate).await?;
    if req.debug_render_only {
        let mut r = done_only("");
        r.done = false;
        r.debug_info = Some(DebugInfo {
            rendered_template: prompt_text,
            image_count: msgs.iter().map(|m| m.images.len()).sum(),
        });
        return Ok(axum::Json(r).into_response());
    }

    let running = infer::start(lease, prompt_text, &opts, started, load_duration)?;
    infer::respond(
        running,
        ChatShape { model: req.model },
        req.stream.unwrap_or(true),
    )
    .await
}

/// Renders `msgs`, dropping the oldest non-system messages until the prompt fits `num_ctx`
/// tokens, as Ollama's `chatPrompt` does. One tokenization when it already fits.
async fn fit_to_context(
    lease: &Lease,
    tmpl: &ChatTemplate,
    msgs: &[Message],
    tools: &[serde_json::Value],
    num_ctx: i64,
    truncate: bool,
) -> Result<String, ApiError> {
    let full = tmpl.render(msgs, tools)?;
    if !truncate || msgs.len() <= 1 {
        return Ok(full);
    }
    if (infer::tokenize(lease, full.clone()).await?.len() as i64) <= num_ctx {
        return Ok(full);
    }
    let with_systems_before = |i: usize| -> Vec<Message> {
        let mut v: Vec<Message> = msgs[..i]
            .iter()
            .filter(|m| m.role == "system")
            .cloned()
            .collect();
        v.extend_from_slice(&msgs[i..]);
        v
    };
    // Walk back from the last message while the suffix still fits.
    let mut start = msgs.len() - 1;
    for i in (0..msgs.len() - 1).rev() {
        let p = tmpl.render(&with_systems_before(i), tools)?;
        if (infer::tokenize(lease, p).await?.len() as i64) > num_ctx {
            break;
        }
        start = i;
    }
    tracing::debug!(
        dropped = start,
        "truncating input messages which exceed context length"
    );
    tmpl.render(&with_systems_before(start), tools)
}

struct ChatShape {
    model: String,
}

impl infer::Shape for ChatShape {
    type Out = ChatResponse;

    fn chunk(&self, text: String) -> ChatResponse {
        ChatResponse {
            model: self.model.clone(),
            created_at: now_utc(),
            message: Message::new("assistant", text),
            ..ChatResponse::default()
        }
    }

    fn last(&self, running: &Running, done: &Done, text: String) -> ChatResponse {
        ChatResponse {
            model: self.model.clone(),
            created_at: now_utc(),
            message: Message::new("assistant", text),
            done_reason: done.reason.as_str().to_string(),
            done: true,
            metrics: running.metrics(done),
            ..ChatResponse::default()
        }
    }
}
