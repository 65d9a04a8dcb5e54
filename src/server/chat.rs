//! `POST /api/chat`, the native chat adapter: a [`ChatRequest`] becomes the pipeline's
//! [`InferRequest`]; its events become assistant message chunks (NDJSON) or one message
//! ([`super::native`]). Empty `messages` loads (or with `keep_alive: 0` unloads) the model.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;

use super::error::{ApiError, ApiJson};
use super::infer::{Finish, InferRequest, Input, Piece};
use super::native::{self, Answer};
use crate::api::types::{ChatRequest, ChatResponse, DebugInfo, Message, now_utc};

pub async fn chat(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
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
    native::respond::<ChatResponse>(&state, infer_req, started, streaming).await
}

impl Answer for ChatResponse {
    fn done_only(model: &str, reason: &str) -> ChatResponse {
        ChatResponse {
            model: model.to_string(),
            created_at: now_utc(),
            message: Message::new("assistant", ""),
            done_reason: reason.to_string(),
            done: true,
            ..ChatResponse::default()
        }
    }

    fn rendered(model: &str, info: DebugInfo) -> ChatResponse {
        ChatResponse {
            done: false,
            debug_info: Some(info),
            ..ChatResponse::done_only(model, "")
        }
    }

    fn chunk(model: &str, mut p: Piece) -> ChatResponse {
        let logprobs = std::mem::take(&mut p.logprobs);
        let mut message = Message::new("assistant", p.content);
        message.thinking = p.thinking;
        message.tool_calls = p.tool_calls;
        ChatResponse {
            model: model.to_string(),
            created_at: now_utc(),
            message,
            logprobs,
            ..ChatResponse::default()
        }
    }

    fn last(model: &str, p: Piece, f: Finish) -> ChatResponse {
        ChatResponse {
            done_reason: f.reason.to_string(),
            done: true,
            metrics: f.metrics,
            ..ChatResponse::chunk(model, p)
        }
    }
}
