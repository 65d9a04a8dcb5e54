//! What the native completion adapters (`/api/chat`, `/api/generate`) share: the run of the
//! pipeline answered as Ollama's objects, one per step as NDJSON or one whole, a `load` /
//! `unload` / `_debug_render_only` answer without a run, an error after the first line as a
//! last `{"error": ...}` line. Each route says how its object is made ([`Answer`]).

use std::sync::Arc;
use std::time::Instant;

use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::infer::{self, Finish, InferRequest, Out, Piece, Prep};
use super::stream::{self, Framing};
use crate::api::types::DebugInfo;

/// A native route's answer object.
pub trait Answer: serde::Serialize + Send + 'static {
    /// The final object of a request that generated nothing (`load`, `unload`).
    fn done_only(model: &str, reason: &str) -> Self;
    /// The object of a `_debug_render_only` request.
    fn rendered(model: &str, info: DebugInfo) -> Self;
    /// One step's piece.
    fn chunk(model: &str, p: Piece) -> Self;
    /// The final object: the last piece, the done reason and metrics.
    fn last(model: &str, p: Piece, f: Finish) -> Self;
}

/// Runs `req` and answers it as `A`.
pub async fn respond<A: Answer>(
    state: &Arc<AppState>,
    req: InferRequest,
    started: Instant,
    streaming: bool,
) -> Result<Response, ApiError> {
    let model = req.model.clone();
    let prepared = match infer::prepare(state, req, started).await? {
        Prep::Unload => return Ok(axum::Json(A::done_only(&model, "unload")).into_response()),
        Prep::Load => return Ok(axum::Json(A::done_only(&model, "load")).into_response()),
        Prep::Rendered { prompt, images, .. } => {
            let info = DebugInfo {
                rendered_template: prompt,
                image_count: images,
            };
            return Ok(axum::Json(A::rendered(&model, info)).into_response());
        }
        Prep::Ready(p) => p,
    };
    let running = prepared.run()?;
    if !streaming {
        let whole = running.collect().await?;
        return Ok(axum::Json(A::last(&model, whole.piece, whole.finish)).into_response());
    }
    stream::completion(running, Framing::Ndjson, move |out| match out {
        Out::Piece(p) => vec![stream::line(&A::chunk(&model, p))],
        Out::Done(mut f) => {
            let rest = std::mem::take(&mut f.rest);
            vec![stream::line(&A::last(&model, rest, f))]
        }
        Out::Error(e) => vec![stream::line(&serde_json::json!({"error": e.message}))],
    })
    .await
}
