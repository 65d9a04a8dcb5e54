//! `HEAD /api/blobs/:digest` (does the server have it) and `POST /api/blobs/:digest` (upload a
//! file's bytes, verified against the digest before they become visible). The CLI's `create`
//! uses these to send only what the server lacks.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::store::blob::BlobError;
use crate::store::digest::Digest;

fn parse(digest: &str) -> Result<Digest, ApiError> {
    Digest::parse(digest).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub async fn head_blob(
    State(state): State<super::State>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    let d = parse(&digest)?;
    if state.store.blobs().exists(&d) {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::not_found(format!("blob \"{d}\" not found")))
    }
}

pub async fn upload_blob(
    State(state): State<super::State>,
    Path(digest): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let d = parse(&digest)?;
    if state.store.blobs().exists(&d) {
        // Read and discard the upload so a client that sends anyway gets the 200, not a reset
        // connection halfway through its body.
        let mut body = body.into_data_stream();
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            if chunk.is_err() {
                break;
            }
        }
        return Ok(StatusCode::OK.into_response());
    }
    match state
        .store
        .blobs()
        .write_stream(&d, body.into_data_stream())
        .await
    {
        Ok(true) => Ok(StatusCode::CREATED.into_response()),
        Ok(false) => Ok(StatusCode::OK.into_response()),
        Err(e @ BlobError::Mismatch { .. }) => Err(ApiError::bad_request(e.to_string())),
        Err(e @ BlobError::Body(_)) => Err(ApiError::bad_request(e.to_string())),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}
