//! `POST /api/tokenize` and `POST /api/detokenize` (beyond Ollama; llama-server has them as
//! `/tokenize` and `/detokenize`): a model's tokens for a text, and the text of tokens. The
//! model is loaded as for a generate (same options and `keep_alive`); the text is tokenized as
//! a prompt is (special-token text such as `<start_of_turn>` becomes its token, and BOS is
//! added when the model wants one), so the count is what the text costs as a prompt.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{ApiError, ApiJson};
use super::infer;
use crate::duration::KeepAlive;

#[derive(Debug, Default, Deserialize)]
pub struct TokenizeRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub keep_alive: Option<KeepAlive>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize)]
pub struct TokenizeResponse {
    pub model: String,
    pub tokens: Vec<i32>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DetokenizeRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub tokens: Vec<i32>,
    #[serde(default)]
    pub keep_alive: Option<KeepAlive>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize)]
pub struct DetokenizeResponse {
    pub model: String,
    pub content: String,
}

/// `POST /api/tokenize`: `{"model", "content"}` -> `{"model", "tokens"}`.
pub async fn tokenize(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<TokenizeRequest>,
) -> Result<axum::Json<TokenizeResponse>, ApiError> {
    let lease =
        infer::lease_by_name(&state, &req.model, req.options.as_ref(), req.keep_alive).await?;
    let tokens = infer::answer(lease.runner.tokenize(req.content)).await?;
    Ok(axum::Json(TokenizeResponse {
        model: req.model,
        tokens,
    }))
}

/// `POST /api/detokenize`: `{"model", "tokens"}` -> `{"model", "content"}`; ids outside the
/// vocabulary are skipped.
pub async fn detokenize(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<DetokenizeRequest>,
) -> Result<axum::Json<DetokenizeResponse>, ApiError> {
    let lease =
        infer::lease_by_name(&state, &req.model, req.options.as_ref(), req.keep_alive).await?;
    let content = infer::answer(lease.runner.detokenize(req.tokens)).await?;
    Ok(axum::Json(DetokenizeResponse {
        model: req.model,
        content,
    }))
}
