//! `POST /api/pull` and `POST /api/push`: the registry flows (`crate::registry`) run in a task
//! whose progress objects are streamed as NDJSON, or, with `stream: false`, only the last one
//! is returned (an error is then a 500, a push of an unknown model a 404). An error after the
//! stream began is its last line. A client that goes away stops its pull; a download shared
//! with other pulls goes on for them.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::error::{ApiError, ApiJson};
use super::stream;
use crate::api::types::{ProgressResponse, TransferRequest};
use crate::registry::{self, Context, RegistryError};
use crate::store::name::Name;

enum Op {
    Pull(Name),
    Push(Name),
}

pub async fn pull(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<TransferRequest>,
) -> Result<Response, ApiError> {
    let name = Name::parse(req.model_name())?;
    Ok(transfer(state, &req, Op::Pull(name)).await)
}

pub async fn push(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<TransferRequest>,
) -> Result<Response, ApiError> {
    if req.model_name().is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let name = Name::parse(req.model_name())?;
    Ok(transfer(state, &req, Op::Push(name)).await)
}

/// Aborts the transfer task when the request that started it goes away.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), RegistryError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn transfer(state: super::State, req: &TransferRequest, op: Op) -> Response {
    let insecure = req.insecure;
    let (tx, mut rx) = mpsc::unbounded_channel::<ProgressResponse>();
    let task = AbortOnDrop(tokio::spawn(async move {
        let progress = move |p: ProgressResponse| {
            let _ = tx.send(p);
        };
        let ctx = Context {
            store: &state.store,
            downloads: &state.downloads,
            home: &state.config.home,
            insecure,
            keep_orphans: state.config.noprune,
        };
        match op {
            Op::Pull(name) => registry::pull::pull(ctx, &name, &progress).await,
            Op::Push(name) => registry::push::push(ctx, &name, &progress).await,
        }
    }));

    if !req.stream.unwrap_or(true) {
        let mut last = ProgressResponse::status("success");
        while let Some(p) = rx.recv().await {
            last = p;
        }
        return match finish(task).await {
            Ok(()) => axum::Json(last).into_response(),
            Err(e) => error_status(&e).into_response(),
        };
    }

    let (sender, response) = stream::ndjson();
    tokio::spawn(async move {
        let task = task;
        loop {
            tokio::select! {
                p = rx.recv() => match p {
                    Some(p) => {
                        if !sender.send(&p).await {
                            return; // the client left: dropping `task` stops the transfer
                        }
                    }
                    None => break,
                },
                _ = sender.closed() => return,
            }
        }
        if let Err(e) = finish(task).await {
            sender.send_error(&e.to_string()).await;
        }
    });
    response
}

async fn finish(mut task: AbortOnDrop) -> Result<(), RegistryError> {
    match (&mut task.0).await {
        Ok(r) => r,
        Err(e) => Err(RegistryError::Io(format!("transfer task failed: {e}"))),
    }
}

fn error_status(e: &RegistryError) -> ApiError {
    match e.root() {
        RegistryError::ModelNotFound(_) => ApiError::not_found(e.to_string()),
        _ => ApiError::internal(e.to_string()),
    }
}
