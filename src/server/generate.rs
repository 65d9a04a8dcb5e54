//! `POST /api/generate`, the native completion adapter: a [`GenerateRequest`] becomes the
//! pipeline's [`InferRequest`] (the prompt rendered through the model's template unless
//! `raw`); its events become NDJSON lines or one object. An empty prompt only loads the model
//! (or, with `keep_alive: 0`, unloads it).

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiJson};
use super::infer::{self, Finish, Generate, InferRequest, Input, Out, Piece, Prep};
use super::stream::{self, Framing};
use crate::api::types::{DebugInfo, GenerateRequest, GenerateResponse, now_utc};

pub async fn generate(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = req.model.clone();
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
    let done_only = |reason: &str| GenerateResponse {
        model: model.clone(),
        created_at: now_utc(),
        done: true,
        done_reason: reason.to_string(),
        ..GenerateResponse::default()
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
        return Ok(axum::Json(last(&model, whole.piece, whole.finish)).into_response());
    }
    stream::completion(running, Framing::Ndjson, move |out| match out {
        Out::Piece(p) => vec![stream::line(&chunk(&model, p))],
        Out::Done(mut f) => {
            let rest = std::mem::take(&mut f.rest);
            vec![stream::line(&last(&model, rest, f))]
        }
        Out::Error(e) => vec![stream::line(&serde_json::json!({"error": e.message}))],
    })
    .await
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
        ..chunk(model, p)
    }
}
