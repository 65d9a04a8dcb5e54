//! `POST /api/chat`: a conversation rendered through the model's template, answered as
//! assistant message chunks (NDJSON) or one message. Empty `messages` loads (or with
//! `keep_alive: 0` unloads) the model. Old messages are dropped from the front when the
//! rendered prompt would not fit `num_ctx` (system messages are kept, the last message always).

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiJson};
use super::infer::{self, Running, Scheduled};
use super::prompt::{self, ChatTemplate};
use super::thinking::ThinkingParser;
use super::tools::ToolParser;
use crate::api::types::{ChatRequest, ChatResponse, DebugInfo, Logprob, Message, now_utc};
use crate::engine::Done;
use crate::sched::Lease;

pub async fn chat(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let c = infer::check_async(
        &state,
        &req.model,
        "chat",
        req.top_logprobs,
        req.think.clone(),
        req.format.clone(),
    )
    .await?;
    if !req.tools.is_empty() && !c.can("tools") {
        return Err(ApiError::bad_request(format!(
            "{} does not support tools",
            c.model.stored.name
        )));
    }
    let done_only = |reason: &str| ChatResponse {
        model: req.model.clone(),
        created_at: now_utc(),
        message: Message::new("assistant", ""),
        done_reason: reason.to_string(),
        done: true,
        ..ChatResponse::default()
    };
    let empty = req.messages.is_empty();
    let (lease, opts) =
        match infer::schedule(&state, &c, req.options.as_ref(), req.keep_alive, empty).await? {
            Scheduled::Unload => return Ok(axum::Json(done_only("unload")).into_response()),
            Scheduled::Load => return Ok(axum::Json(done_only("load")).into_response()),
            Scheduled::Ready { lease, opts } => (lease, opts),
        };
    let load_duration = started.elapsed();
    let (model, meta) = (&c.model, &c.meta);

    let tmpl = ChatTemplate::for_model(model, meta)?;
    let msgs = prompt::chat_messages(model, &req.messages);
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

    let running = infer::start(
        lease,
        prompt_text,
        &opts,
        started,
        load_duration,
        infer::Extras {
            grammar: c.grammar.clone(),
            logprobs: req.logprobs || req.top_logprobs.is_some_and(|n| n > 0),
            top_logprobs: req.top_logprobs.unwrap_or(0),
        },
    )?;
    let tools = (!req.tools.is_empty()).then(|| {
        ToolParser::new(
            super::tools::call_tag(tmpl.source()),
            ToolParser::tool_names(&req.tools),
        )
    });
    let thinking = infer::thinking_parser(&c, req.think.as_ref(), tmpl.source());
    infer::respond(
        running,
        ChatShape {
            model: req.model,
            tools,
            thinking,
        },
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
    /// Finds tool calls in the answer when the request offers tools.
    tools: Option<ToolParser>,
    /// Separates the model's thinking from its answer.
    thinking: Option<ThinkingParser>,
}

impl infer::Shape for ChatShape {
    type Out = ChatResponse;

    fn chunk(&mut self, text: String, logprobs: Vec<Logprob>) -> Option<ChatResponse> {
        let mut message = Message::new("assistant", text);
        if let Some(p) = self.thinking.as_mut() {
            (message.thinking, message.content) = p.push(&message.content);
        }
        if let Some(p) = self.tools.as_mut() {
            let (content, calls) = p.push(&message.content);
            message.content = content;
            message.tool_calls = calls;
        }
        let parsing = self.thinking.is_some() || self.tools.is_some();
        if parsing
            && message.content.is_empty()
            && message.thinking.is_empty()
            && message.tool_calls.is_empty()
            && logprobs.is_empty()
        {
            return None;
        }
        Some(ChatResponse {
            model: self.model.clone(),
            created_at: now_utc(),
            message,
            logprobs,
            ..ChatResponse::default()
        })
    }

    fn last(
        &mut self,
        running: &Running,
        done: &Done,
        text: String,
        logprobs: Vec<Logprob>,
    ) -> ChatResponse {
        let mut message = Message::new("assistant", text);
        if let Some(p) = self.thinking.as_mut() {
            let (mut thinking, mut content) = p.push(&message.content);
            let (t, c) = p.finish();
            thinking.push_str(&t);
            content.push_str(&c);
            (message.thinking, message.content) = (thinking, content);
        }
        if let Some(p) = self.tools.as_mut() {
            let (mut content, calls) = p.push(&message.content);
            content.push_str(&p.finish());
            message.content = content;
            message.tool_calls = calls;
        }
        ChatResponse {
            model: self.model.clone(),
            created_at: now_utc(),
            message,
            logprobs,
            done_reason: done.reason.as_str().to_string(),
            done: true,
            metrics: running.metrics(done),
            ..ChatResponse::default()
        }
    }
}
