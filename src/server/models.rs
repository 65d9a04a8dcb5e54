//! Model-management routes that need no inference: `GET|HEAD /`, `/api/version`, `/api/tags`,
//! `GET /api/ps`, `POST /api/show`, `POST /api/copy`, `DELETE /api/delete`. Their JSON mirrors Ollama's, field for field.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiJson};
use super::prompt::{self, ChatTemplate};
use super::{AppState, VERSION};
use crate::api::types::{
    CopyRequest, DeleteRequest, ListModel, ListResponse, ModelDetails, ProcessModel,
    ProcessResponse, ShowRequest, ShowResponse, Tensor, VersionResponse, go_time, model_or_name,
};
use crate::duration::KeepAlive;
use crate::engine::gguf::Gguf;
use crate::gofmt;
use crate::modelfile::{Command, Modelfile};
use crate::store::model::Model;
use crate::store::name::Name;

pub async fn root() -> &'static str {
    "Ollama is running"
}

pub async fn version() -> axum::Json<VersionResponse> {
    axum::Json(VersionResponse {
        version: VERSION.to_string(),
    })
}

fn local_time(t: std::time::SystemTime) -> String {
    go_time(&chrono::DateTime::<chrono::Local>::from(t))
}

fn details(model: &Model) -> ModelDetails {
    let c = &model.config;
    ModelDetails {
        parent_model: model.parent.clone(),
        format: c.model_format.clone(),
        family: c.model_family.clone(),
        families: c.model_families.clone(),
        parameter_size: c.model_type.clone(),
        quantization_level: c.file_type.clone(),
    }
}

/// `GET /api/tags`: every model, most recently modified first.
pub async fn tags(State(state): State<super::State>) -> Result<axum::Json<ListResponse>, ApiError> {
    let state2 = state.clone();
    let models = tokio::task::spawn_blocking(move || list_models(&state2))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(ListResponse { models }))
}

fn list_models(state: &AppState) -> Vec<ListModel> {
    let mut stored = state.store.list();
    stored.sort_by_key(|m| std::cmp::Reverse(m.modified));
    stored
        .into_iter()
        .filter_map(|s| {
            let size = s.manifest.total_size();
            let digest = s.digest.clone();
            let modified = s.modified;
            let model = match Model::load(&state.store, s) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("skipping unreadable model: {e}");
                    return None;
                }
            };
            let capabilities = state
                .model_meta(&model)
                .map(|meta| prompt::capabilities(&model, &meta))
                .unwrap_or_default();
            let name = model.short_name();
            Some(ListModel {
                model: name.clone(),
                name,
                modified_at: local_time(modified),
                size,
                digest,
                details: details(&model),
                capabilities,
            })
        })
        .collect()
}

/// `POST /api/show`.
pub async fn show(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<ShowRequest>,
) -> Result<axum::Json<ShowResponse>, ApiError> {
    let name = model_or_name(&req.model, &req.name).to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || show_model(&state2, &name, &req))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map(axum::Json)
}

fn show_model(state: &AppState, name: &str, req: &ShowRequest) -> Result<ShowResponse, ApiError> {
    let mut model = state.model(name)?;
    if !req.system.is_empty() {
        model.system = Some(req.system.clone());
    }
    if let Some(opts) = &req.options {
        for (k, v) in opts {
            model.params.insert(k.clone(), v.clone());
        }
    }
    let meta = state.model_meta(&model)?;
    let template = ChatTemplate::for_model(&model, &meta)?;

    let mut model_info = meta.model_info.clone();
    let mut tensors = Vec::new();
    if req.verbose
        && let Some(path) = &model.model_path
    {
        let g = Gguf::open(path, usize::MAX).map_err(|e| ApiError::internal(e.to_string()))?;
        model_info = g.model_info(true);
        tensors = g
            .tensors
            .iter()
            .map(|t| Tensor {
                name: t.name.clone(),
                kind: t.type_name().to_string(),
                shape: t.shape.clone(),
            })
            .collect();
    }

    let projector_info = match model.projectors.first() {
        Some(p) => Gguf::open(p, 8)
            .map_err(|e| ApiError::internal(format!("reading the projector: {e}")))?
            .model_info(req.verbose),
        None => serde_json::Map::new(),
    };
    Ok(ShowResponse {
        projector_info,
        license: model.license.join("\n"),
        modelfile: modelfile_text(&model, template.source()),
        parameters: parameters_text(&model),
        template: template.source().to_string(),
        system: model.system.clone().unwrap_or_default(),
        details: details(&model),
        messages: model.messages.clone(),
        model_info,
        tensors,
        capabilities: prompt::capabilities(&model, &meta),
        modified_at: local_time(model.stored.modified),
        requires: model.config.requires.clone(),
    })
}

/// Ollama's `parameters` text: the key padded to 30 columns, then the value as Go's `%#v`, one
/// line per value (arrays repeat the key).
fn parameters_text(model: &Model) -> String {
    let mut lines = Vec::new();
    for (k, v) in &model.params {
        match v {
            serde_json::Value::Array(items) => {
                for item in items {
                    lines.push(format!("{k:<30} {}", gofmt::sharp_v(item)));
                }
            }
            v => lines.push(format!("{k:<30} {}", gofmt::sharp_v(v))),
        }
    }
    lines.join("\n")
}

/// The Modelfile `show --modelfile` prints: Ollama's header comments, then FROM the weight blob,
/// ADAPTERs, TEMPLATE, SYSTEM, PARAMETERs, LICENSEs and MESSAGEs.
pub fn modelfile_text(model: &Model, template: &str) -> String {
    let mut commands = Vec::new();
    if let Some(p) = &model.model_path {
        commands.push(Command::new("model", p.display().to_string()));
    }
    for a in &model.adapters {
        commands.push(Command::new("adapter", a.display().to_string()));
    }
    for p in &model.projectors {
        commands.push(Command::new("model", p.display().to_string()));
    }
    commands.push(Command::new("template", template));
    if let Some(s) = model.system.as_ref().filter(|s| !s.is_empty()) {
        commands.push(Command::new("system", s.clone()));
    }
    for (k, v) in &model.params {
        match v {
            serde_json::Value::Array(items) => {
                for item in items {
                    commands.push(Command::new(k.clone(), gofmt::plain_v(item)));
                }
            }
            v => commands.push(Command::new(k.clone(), gofmt::plain_v(v))),
        }
    }
    for l in &model.license {
        commands.push(Command::new("license", l.clone()));
    }
    for m in &model.messages {
        commands.push(Command::new(
            "message",
            format!("{}: {}", m.role, m.content),
        ));
    }
    format!(
        "# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM {}\n\n{}",
        model.short_name(),
        Modelfile { commands }
    )
}

/// `GET /api/ps`: the loaded models, the one that stays loaded longest first.
pub async fn ps(
    State(state): State<super::State>,
) -> Result<axum::Json<ProcessResponse>, ApiError> {
    let loaded = state.sched.loaded();
    let mut models = tokio::task::spawn_blocking(move || {
        let now = std::time::SystemTime::now();
        loaded
            .into_iter()
            .map(|l| {
                // While in use the timer has not started: it will fire keep_alive after the
                // last request. Kept forever is Go's now + MaxInt64 nanoseconds.
                let expires = l.expires_at.unwrap_or_else(|| match l.keep_alive {
                    KeepAlive::Duration(d) => now + d,
                    KeepAlive::Forever => now + std::time::Duration::from_nanos(i64::MAX as u64),
                });
                let model = Name::parse(&l.name)
                    .ok()
                    .and_then(|n| state.store.read(&n).ok().flatten())
                    .and_then(|s| Model::load(&state.store, s).ok());
                let (name, digest, details) = match &model {
                    Some(m) => (m.short_name(), m.stored.digest.clone(), details(m)),
                    None => (l.name.clone(), String::new(), ModelDetails::default()),
                };
                (
                    expires,
                    ProcessModel {
                        model: name.clone(),
                        name,
                        size: l.size,
                        digest,
                        details,
                        expires_at: local_time(expires),
                        size_vram: 0,
                        context_length: l.context_length,
                    },
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    models.sort_by_key(|m| std::cmp::Reverse(m.0));
    Ok(axum::Json(ProcessResponse {
        models: models.into_iter().map(|(_, m)| m).collect(),
    }))
}

/// `POST /api/copy`: a second name for the same manifest (blobs are shared).
pub async fn copy(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<CopyRequest>,
) -> Result<Response, ApiError> {
    let src = Name::parse(&req.source).map_err(|_| {
        ApiError::bad_request(format!("source {} is invalid", gofmt::quote(&req.source)))
    })?;
    let dst = Name::parse(&req.destination).map_err(|_| {
        ApiError::bad_request(format!(
            "destination {} is invalid",
            gofmt::quote(&req.destination)
        ))
    })?;
    tokio::task::spawn_blocking(move || {
        let stored = state.store.read(&src)?.ok_or_else(|| {
            ApiError::not_found(format!("model {} not found", gofmt::quote(&req.source)))
        })?;
        state.store.copy(&stored, &dst).map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /api/delete`: removes the manifest and every blob no other model uses.
pub async fn delete(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<DeleteRequest>,
) -> Result<Response, ApiError> {
    let name = model_or_name(&req.model, &req.name).to_string();
    let parsed = Name::parse(&name)
        .map_err(|_| ApiError::bad_request(format!("name \"{name}\" is invalid")))?;
    tokio::task::spawn_blocking(move || {
        let stored = state
            .store
            .read(&parsed)?
            .ok_or_else(|| ApiError::model_not_found(&name))?;
        state.store.delete(&stored).map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(StatusCode::OK.into_response())
}
