//! `POST /api/chat`, the native chat adapter: a [`ChatRequest`] becomes the pipeline's
//! [`InferRequest`]; its events become assistant message chunks (NDJSON) or one message. Empty
//! `messages` loads (or with `keep_alive: 0` unloads) the model.

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiJson};
use super::infer::{self, Finish, InferRequest, Input, Out, Piece, Prep};
use super::stream::{self, Framing};
use crate::api::types::{ChatRequest, ChatResponse, DebugInfo, Message, now_utc};

pub async fn chat(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = req.model.clone();
    let streaming = req.stream.unwrap_or(true);
    let infer_req = InferRequest {
        model: req.model,
        route: "chat",
        input: Input::Chat {
            messages: req.messages,
            tools: req.tools,
        },
        options: req.options,
        keep_alive: req.keep_alive,
        format: req.format,
        think: req.think,
        relax_thinking: false,
        logprobs: req.logprobs,
        top_logprobs: req.top_logprobs,
        truncate: req.truncate.unwrap_or(true),
        debug_render_only: req.debug_render_only,
    };
    let done_only = |reason: &str| ChatResponse {
        model: model.clone(),
        created_at: now_utc(),
        message: Message::new("assistant", ""),
        done_reason: reason.to_string(),
        done: true,
        ..ChatResponse::default()
    };
    let prepared = match infer::prepare(&state, infer_req, started).await? {
        Prep::Unload => return Ok(axum::Json(done_only("unload")).into_response()),
        Prep::Load => return Ok(axum::Json(done_only("load")).into_response()),
        Prep::Rendered { prompt, images } => {
            let mut r = done_only("");
            r.done = false;
            r.debug_info = Some(DebugInfo {
                rendered_template: prompt,
                image_count: images,
            });
            return Ok(axum::Json(r).into_response());
        }
        Prep::Ready(p) => p,
    };
    let running = prepared.run()?;
    if !streaming {
        let whole = running.collect().await?;
        return Ok(axum::Json(last(&model, whole.piece, &whole.finish)).into_response());
    }
    stream::completion(running, Framing::Ndjson, move |out| match out {
        Out::Piece(p) => vec![stream::line(&chunk(&model, p))],
        Out::Done(mut f) => {
            let rest = std::mem::take(&mut f.rest);
            vec![stream::line(&last(&model, rest, &f))]
        }
        Out::Error(e) => vec![stream::line(&serde_json::json!({"error": e.message}))],
    })
    .await
}

fn message(p: Piece) -> Message {
    let mut message = Message::new("assistant", p.content);
    message.thinking = p.thinking;
    message.tool_calls = p.tool_calls;
    message
}

fn chunk(model: &str, mut p: Piece) -> ChatResponse {
    let logprobs = std::mem::take(&mut p.logprobs);
    ChatResponse {
        model: model.to_string(),
        created_at: now_utc(),
        message: message(p),
        logprobs,
        ..ChatResponse::default()
    }
}

fn last(model: &str, p: Piece, f: &Finish) -> ChatResponse {
    ChatResponse {
        done_reason: f.reason.to_string(),
        done: true,
        metrics: f.metrics.clone(),
        ..chunk(model, p)
    }
}
