//! `POST /api/generate`, the native completion adapter: a [`GenerateRequest`] becomes the
//! pipeline's [`InferRequest`] (the prompt rendered through the model's template unless
//! `raw`); its events become NDJSON lines or one object ([`super::native`]). An empty prompt
//! only loads the model (or, with `keep_alive: 0`, unloads it).

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;

use super::error::{ApiError, ApiJson};
use super::infer::{Finish, Generate, InferRequest, Input, Piece};
use super::native::{self, Answer};
use crate::api::types::{DebugInfo, GenerateRequest, GenerateResponse, now_utc};

pub async fn generate(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let streaming = req.stream.unwrap_or(true);
    let infer_req = InferRequest {
        model: req.model,
        route: "generate",
        input: Input::Generate(Generate {
            prompt: req.prompt,
            suffix: req.suffix,
            system: req.system,
            template: req.template,
            raw: req.raw,
            context: req.context,
            images: req.images,
        }),
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
    native::respond::<GenerateResponse>(&state, infer_req, started, streaming).await
}

impl Answer for GenerateResponse {
    fn done_only(model: &str, reason: &str) -> GenerateResponse {
        GenerateResponse {
            model: model.to_string(),
            created_at: now_utc(),
            done: true,
            done_reason: reason.to_string(),
            ..GenerateResponse::default()
        }
    }

    fn rendered(model: &str, info: DebugInfo) -> GenerateResponse {
        GenerateResponse {
            done: false,
            debug_info: Some(info),
            ..GenerateResponse::done_only(model, "")
        }
    }

    fn chunk(model: &str, p: Piece) -> GenerateResponse {
        GenerateResponse {
            model: model.to_string(),
            created_at: now_utc(),
            response: p.content,
            thinking: p.thinking,
            logprobs: p.logprobs,
            ..GenerateResponse::default()
        }
    }

    fn last(model: &str, p: Piece, f: Finish) -> GenerateResponse {
        GenerateResponse {
            done: true,
            done_reason: f.reason.to_string(),
            context: f.context,
            metrics: f.metrics,
            ..GenerateResponse::chunk(model, p)
        }
    }
}
