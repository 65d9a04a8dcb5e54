//! `POST /api/generate`: completion of a prompt, rendered through the model's template unless
//! `raw`, streamed as NDJSON or returned whole. An empty prompt only loads the model (or, with
//! `keep_alive: 0`, unloads it).

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiJson};
use super::infer::{self, Running, Scheduled};
use super::prompt::{self, ChatTemplate};
use crate::api::types::{DebugInfo, GenerateRequest, GenerateResponse, Logprob, Message, now_utc};
use crate::engine::Done;
use crate::template;

pub async fn generate(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let has_context = req.context.as_ref().is_some_and(|c| !c.is_empty());
    if req.raw && (!req.template.is_empty() || !req.system.is_empty() || has_context) {
        return Err(ApiError::bad_request(
            "raw mode does not support template, system, or context",
        ));
    }
    let c = infer::check_async(
        &state,
        &req.model,
        "generate",
        req.top_logprobs,
        req.think.clone(),
        req.format.clone(),
    )
    .await?;
    if !req.suffix.is_empty() && !c.can("insert") {
        return Err(ApiError::bad_request(format!(
            "{} does not support insert",
            c.model.stored.name
        )));
    }
    let done_only = |reason: &str| GenerateResponse {
        model: req.model.clone(),
        created_at: now_utc(),
        done: true,
        done_reason: reason.to_string(),
        ..GenerateResponse::default()
    };
    let empty = req.prompt.is_empty() && req.suffix.is_empty();
    let (lease, opts) =
        match infer::schedule(&state, &c, req.options.as_ref(), req.keep_alive, empty).await? {
            Scheduled::Unload => return Ok(axum::Json(done_only("unload")).into_response()),
            Scheduled::Load => return Ok(axum::Json(done_only("load")).into_response()),
            Scheduled::Ready { lease, opts } => (lease, opts),
        };
    let load_duration = started.elapsed();
    let (model, meta) = (&c.model, &c.meta);

    let mut prompt_text = String::new();
    if let Some(ctx) = &req.context {
        tracing::warn!("the context field is deprecated and will be removed in a future version");
        let tokens = ctx.iter().map(|&t| t as i32).collect();
        prompt_text.push_str(&infer::answer(lease.runner.detokenize(tokens)).await?);
    }
    if req.raw {
        prompt_text.push_str(&req.prompt);
    } else {
        prompt_text.push_str(&render(model, meta, &req)?);
    }
    if req.debug_render_only {
        let mut r = done_only("");
        r.done = false;
        r.debug_info = Some(DebugInfo {
            rendered_template: prompt_text,
            image_count: req.images.len(),
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
    // Raw prompts skip the template, so there are no thinking tags to look for.
    let thinking = if req.raw {
        None
    } else {
        let source = ChatTemplate::for_model(&c.model, &c.meta)?;
        infer::thinking_parser(&c, req.think.as_ref(), source.source())
    };
    let shape = GenerateShape {
        model: req.model,
        with_context: !req.raw,
        thinking,
    };
    infer::respond(running, shape, req.stream.unwrap_or(true)).await
}

/// The prompt as Ollama renders it for generate: a template override or `suffix` executes the Go
/// template directly; otherwise system + MESSAGE history (unless `context`) + the user prompt go
/// through the model's template.
fn render(
    model: &crate::store::model::Model,
    meta: &super::meta::ModelMeta,
    req: &GenerateRequest,
) -> Result<String, ApiError> {
    let tmpl = if req.template.is_empty() {
        ChatTemplate::for_model(model, meta)?
    } else {
        ChatTemplate::Go(prompt::parse_go(&req.template)?)
    };
    if !req.suffix.is_empty() {
        let ChatTemplate::Go(t) = &tmpl else {
            return Err(ApiError::bad_request(format!(
                "{} does not support insert",
                model.stored.name
            )));
        };
        let values = template::Values {
            prompt: req.prompt.clone(),
            suffix: req.suffix.clone(),
            ..template::Values::default()
        };
        return t
            .render(&values)
            .map_err(|e| ApiError::internal(format!("template error: {e}")));
    }
    let mut msgs = Vec::new();
    if !req.system.is_empty() {
        msgs.push(Message::new("system", req.system.clone()));
    } else if let Some(s) = model.system.as_ref().filter(|s| !s.is_empty()) {
        msgs.push(Message::new("system", s.clone()));
    }
    if req.context.is_none() {
        msgs.extend(model.messages.iter().cloned());
    }
    let mut user = Message::new("user", req.prompt.clone());
    user.images = req.images.clone();
    msgs.push(user);
    tmpl.render(&msgs, &[])
}

struct GenerateShape {
    model: String,
    with_context: bool,
    thinking: Option<super::thinking::ThinkingParser>,
}

impl infer::Shape for GenerateShape {
    type Out = GenerateResponse;

    fn chunk(&mut self, text: String, logprobs: Vec<Logprob>) -> Option<GenerateResponse> {
        let (thinking, text) = match self.thinking.as_mut() {
            Some(p) => p.push(&text),
            None => (String::new(), text),
        };
        if self.thinking.is_some() && thinking.is_empty() && text.is_empty() && logprobs.is_empty()
        {
            return None;
        }
        Some(GenerateResponse {
            model: self.model.clone(),
            created_at: now_utc(),
            response: text,
            thinking,
            logprobs,
            ..GenerateResponse::default()
        })
    }

    fn last(
        &mut self,
        running: &Running,
        done: &Done,
        text: String,
        logprobs: Vec<Logprob>,
    ) -> GenerateResponse {
        let (thinking, text) = match self.thinking.as_mut() {
            Some(p) => {
                let (mut t, mut c) = p.push(&text);
                let (t2, c2) = p.finish();
                t.push_str(&t2);
                c.push_str(&c2);
                (t, c)
            }
            None => (String::new(), text),
        };
        GenerateResponse {
            thinking,
            model: self.model.clone(),
            created_at: now_utc(),
            response: text,
            logprobs,
            done: true,
            done_reason: done.reason.as_str().to_string(),
            context: self
                .with_context
                .then(|| done.context.iter().map(|&t| i64::from(t)).collect()),
            metrics: running.metrics(done),
            ..GenerateResponse::default()
        }
    }
}
