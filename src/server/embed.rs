//! `POST /api/embed` (several inputs, L2-normalised, `truncate`, `dimensions`) and the legacy
//! `POST /api/embeddings` (one prompt). Every input of a request goes to the runner at once,
//! which embeds them in as few decodes as its batch allows.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{ApiError, ApiJson};
use super::{AppState, infer};
use crate::duration::KeepAlive;
use crate::engine::{EmbedError, EmbedRequest, Embedded};

#[derive(Debug, Default, Deserialize)]
pub struct EmbedApiRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub input: Value,
    #[serde(default)]
    pub truncate: Option<bool>,
    #[serde(default)]
    pub dimensions: Option<i64>,
    #[serde(default)]
    pub keep_alive: Option<KeepAlive>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize)]
pub struct EmbedApiResponse {
    pub model: String,
    pub embeddings: Vec<Vec<f32>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub total_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub load_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub prompt_eval_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Default, Deserialize)]
pub struct EmbeddingsRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub keep_alive: Option<KeepAlive>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize)]
pub struct EmbeddingsResponse {
    pub embedding: Vec<f64>,
}

/// `input` as Ollama reads it: a string, an array of strings, or nothing.
fn inputs(v: &Value) -> Result<Vec<String>, ApiError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::bad_request("invalid input type")),
            })
            .collect(),
        _ => Err(ApiError::bad_request("invalid input type")),
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

/// Loads the model (or finds it loaded) and embeds `texts`; an empty list only loads.
async fn run(
    state: &Arc<AppState>,
    name: &str,
    texts: Vec<String>,
    truncate: bool,
    options: Option<&Map<String, Value>>,
    keep_alive: Option<KeepAlive>,
) -> Result<(Option<Embedded>, std::time::Duration), ApiError> {
    let loading = Instant::now();
    let lease = infer::lease_by_name(state, name, options, keep_alive).await?;
    let load_duration = loading.elapsed();
    if texts.is_empty() {
        return Ok((None, load_duration));
    }
    let req = EmbedRequest {
        inputs: texts,
        truncate,
    };
    match infer::answer(lease.runner.embed(req)).await? {
        Ok(e) => Ok((Some(e), load_duration)),
        Err(EmbedError::TooLong) => Err(ApiError::bad_request(EmbedError::TooLong.to_string())),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

fn check_finite(v: &[f32]) -> Result<(), ApiError> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(ApiError::internal("embedding contains NaN or Inf values"))
    }
}

/// `POST /api/embed`.
pub async fn embed(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<EmbedApiRequest>,
) -> Result<axum::Json<EmbedApiResponse>, ApiError> {
    let started = Instant::now();
    let texts = inputs(&req.input)?;
    let (result, load_duration) = run(
        &state,
        &req.model,
        texts,
        req.truncate.unwrap_or(true),
        req.options.as_ref(),
        req.keep_alive,
    )
    .await?;
    let (mut embeddings, prompt_eval_count) = match result {
        Some(e) => (e.embeddings, e.prompt_tokens),
        None => (Vec::new(), 0),
    };
    for v in &mut embeddings {
        check_finite(v)?;
        normalize(v);
        if let Some(d) = req.dimensions
            && d > 0
            && (d as usize) < v.len()
        {
            v.truncate(d as usize);
            normalize(v);
        }
    }
    Ok(axum::Json(EmbedApiResponse {
        model: req.model,
        embeddings,
        total_duration: started.elapsed().as_nanos() as u64,
        load_duration: load_duration.as_nanos() as u64,
        prompt_eval_count,
    }))
}

/// `POST /api/embeddings` (legacy): one vector, unit length as llama-server returns it.
pub async fn embeddings(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<EmbeddingsRequest>,
) -> Result<axum::Json<EmbeddingsResponse>, ApiError> {
    let texts = if req.prompt.is_empty() {
        Vec::new()
    } else {
        vec![req.prompt.clone()]
    };
    let (result, _) = run(
        &state,
        &req.model,
        texts,
        true,
        req.options.as_ref(),
        req.keep_alive,
    )
    .await?;
    let mut embedding = result
        .and_then(|e| e.embeddings.into_iter().next())
        .unwrap_or_default();
    check_finite(&embedding)?;
    normalize(&mut embedding);
    Ok(axum::Json(EmbeddingsResponse {
        embedding: embedding.into_iter().map(f64::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_as_ollama_reads_them() {
        let ok = |v: Value| inputs(&v).unwrap_or_default();
        assert_eq!(ok(Value::Null), Vec::<String>::new());
        assert_eq!(ok(serde_json::json!("")), Vec::<String>::new());
        assert_eq!(ok(serde_json::json!("a")), ["a"]);
        assert_eq!(ok(serde_json::json!(["a", "b"])), ["a", "b"]);
        for bad in [
            serde_json::json!(1),
            serde_json::json!(["a", 2]),
            serde_json::json!({}),
        ] {
            assert!(inputs(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalised_to_unit_length() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut zero = vec![0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, [0.0, 0.0]);
    }
}
