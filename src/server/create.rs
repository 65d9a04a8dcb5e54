//! `POST /api/create`: a new model from uploaded GGUF blobs (`files`) or an existing model
//! (`from`), with template, system, parameters, messages and licenses as layers. Everything that
//! can be checked is checked before the response starts (so errors carry a status); then the
//! status lines stream (`parsing GGUF`, `using existing layer` / `creating new layer`,
//! `writing manifest`, `success`). Overwriting a name deletes layers nothing references any more.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::{ApiError, ApiJson};
use super::{AppState, prompt, stream};
use crate::api::types::{CreateRequest, ProgressResponse, model_or_name};
use crate::engine::gguf::{Gguf, human_number};
use crate::store::digest::Digest;
use crate::store::manifest::*;
use crate::store::model::{ConfigV2, Model, RootFs};
use crate::store::name::Name;

/// One layer of the new model and whether its blob is new.
struct Built {
    layer: Layer,
    created: bool,
}

pub async fn create(
    State(state): State<super::State>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, ApiError> {
    let name = Name::parse(model_or_name(&req.model, &req.name))?;
    let streaming = req.stream.unwrap_or(true);
    let state2 = state.clone();
    // Validation and layer building read and write files: off the async runtime.
    let plan = tokio::task::spawn_blocking(move || plan(&state2, &req))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;

    let mut lines: Vec<ProgressResponse> = Vec::new();
    if plan.parsed_gguf {
        lines.push(ProgressResponse::status("parsing GGUF"));
    }
    for b in &plan.layers {
        let verb = if b.created {
            "creating new"
        } else {
            "using existing"
        };
        lines.push(ProgressResponse::status(format!(
            "{verb} layer {}",
            b.layer.digest
        )));
    }
    lines.push(ProgressResponse::status("writing manifest"));
    let manifest = Manifest::new(
        plan.config,
        plan.layers.into_iter().map(|b| b.layer).collect(),
    );
    let state2 = state.clone();
    let keep = state.config.noprune;
    tokio::task::spawn_blocking(move || state2.store.write_replacing(&name, &manifest, keep))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    lines.push(ProgressResponse::status("success"));

    if !streaming {
        let last = lines.pop().unwrap_or_default();
        return Ok(axum::Json(last).into_response());
    }
    let (tx, response) = stream::ndjson();
    tokio::spawn(async move {
        for l in &lines {
            if !tx.send(l).await {
                return;
            }
        }
    });
    Ok(response)
}

struct Plan {
    parsed_gguf: bool,
    config: Layer,
    layers: Vec<Built>,
}

fn plan(state: &AppState, req: &CreateRequest) -> Result<Plan, ApiError> {
    let files = req.files.as_ref().filter(|f| !f.is_empty());
    if req.from.is_empty() && files.is_none() {
        return Err(ApiError::bad_request(
            "neither 'from' or 'files' was specified",
        ));
    }
    if req.draft_files.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(ApiError::bad_request(crate::api::types::DRAFT_UNSUPPORTED));
    }
    if !req.quantize.is_empty() {
        return Err(ApiError::bad_request(
            "quantization is not implemented in rollama yet",
        ));
    }
    let blobs = state.store.blobs();
    let mut layers: Vec<Built> = Vec::new();
    let mut config: ConfigV2;
    let mut params: Map<String, Value> = Map::new();
    let mut base: Option<Model> = None;
    let mut parsed_gguf = false;

    if let Some(files) = files {
        // Each file is classified as Ollama's `create` does: model weights, a projector (the
        // vision encoder of a multimodal model), or an adapter.
        let mut models = Vec::new();
        let mut extra = Vec::new();
        for (file, digest) in files {
            let d = blob_digest(state, file, digest)?;
            let g = Gguf::open(blobs.path(&d), 8)
                .map_err(|_| ApiError::bad_request("supplied file was not in GGUF format"))?;
            let size = blobs
                .size(&d)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            match layer_kind(&g) {
                MEDIA_TYPE_MODEL => models.push((d, g, size)),
                kind => extra.push(Built {
                    layer: Layer::new(kind, d.to_string(), size),
                    created: false,
                }),
            }
        }
        if models.len() > 1 {
            return Err(ApiError::bad_request(
                "split GGUF files are not supported in rollama yet; merge them first",
            ));
        }
        let Some((d, g, size)) = models.pop() else {
            return Err(ApiError::bad_request(
                "no model weights among the files (only projectors or adapters)",
            ));
        };
        Gguf::open(blobs.path(&d), crate::engine::gguf::SHAPE_ITEMS)
            .map_err(|_| ApiError::bad_request("supplied file was not in GGUF format"))?
            .check_shape()
            .map_err(ApiError::bad_request)?;
        parsed_gguf = true;
        config = config_from_gguf(&g);
        layers.push(Built {
            layer: Layer::new(MEDIA_TYPE_MODEL, d.to_string(), size),
            created: false,
        });
        layers.extend(extra);
    } else {
        let from = state.model(&req.from).map_err(|e| match e.status {
            axum::http::StatusCode::NOT_FOUND => {
                ApiError::not_found(format!("model '{}' not found", req.from))
            }
            _ => e,
        })?;
        let cfg_bytes = Digest::parse(&from.stored.manifest.config.digest)
            .ok()
            .and_then(|d| blobs.read(&d).ok())
            .unwrap_or_default();
        config = serde_json::from_slice(&cfg_bytes).unwrap_or_default();
        for l in &from.stored.manifest.layers {
            let mut layer = l.clone();
            if layer.media_type == MEDIA_TYPE_MODEL && layer.from.is_none() {
                layer.from = Some(from.short_name());
            }
            layers.push(Built {
                layer,
                created: false,
            });
        }
        params = from.params.clone();
        base = Some(from);
    }

    if let Some(adapters) = req.adapters.as_ref().filter(|a| !a.is_empty()) {
        if adapters.len() > 1 {
            return Err(ApiError::bad_request(
                "only one adapter is currently supported",
            ));
        }
        for (file, digest) in adapters {
            let d = blob_digest(state, file, digest)?;
            Gguf::open(blobs.path(&d), 8)
                .map_err(|_| ApiError::bad_request("supplied file was not in GGUF format"))?;
            let size = blobs
                .size(&d)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            replace(&mut layers, MEDIA_TYPE_ADAPTER, Vec::new());
            layers.push(Built {
                layer: Layer::new(MEDIA_TYPE_ADAPTER, d.to_string(), size),
                created: false,
            });
        }
    }

    if !req.template.is_empty() {
        prompt::parse_go(&req.template)?;
        let l = text_layer(state, MEDIA_TYPE_TEMPLATE, req.template.as_bytes())?;
        replace(&mut layers, MEDIA_TYPE_TEMPLATE, vec![l]);
        layers.retain(|b| b.layer.media_type != MEDIA_TYPE_PROMPT);
    }
    if !req.system.is_empty() {
        let l = text_layer(state, MEDIA_TYPE_SYSTEM, req.system.as_bytes())?;
        replace(&mut layers, MEDIA_TYPE_SYSTEM, vec![l]);
    }
    if let Some(license) = &req.license {
        let mut ls = Vec::new();
        for text in license.clone().into_vec() {
            ls.push(text_layer(state, MEDIA_TYPE_LICENSE, text.as_bytes())?);
        }
        replace(&mut layers, MEDIA_TYPE_LICENSE, ls);
    }
    if let Some(p) = &req.parameters {
        check_parameters(p)?;
        for (k, v) in p {
            params.insert(k.clone(), v.clone());
        }
    }
    if req.parameters.is_some() || base.is_none() {
        let mut sorted: Vec<(&String, &Value)> = params.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let sorted: Map<String, Value> = sorted
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let layers_new = if sorted.is_empty() {
            Vec::new()
        } else {
            let json = serde_json::to_vec(&sorted).unwrap_or_default();
            vec![text_layer(state, MEDIA_TYPE_PARAMS, &json)?]
        };
        replace(&mut layers, MEDIA_TYPE_PARAMS, layers_new);
    }
    if !req.messages.is_empty() {
        for m in &req.messages {
            if !["system", "user", "assistant", "tool"].contains(&m.role.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "invalid message role: {}",
                    m.role
                )));
            }
        }
        let json = serde_json::to_vec(&req.messages).unwrap_or_default();
        let l = text_layer(state, MEDIA_TYPE_MESSAGES, &json)?;
        replace(&mut layers, MEDIA_TYPE_MESSAGES, vec![l]);
    }
    if !req.requires.is_empty() {
        config.requires = req.requires.clone();
    }

    config.rootfs = RootFs {
        kind: "layers".to_string(),
        diff_ids: layers.iter().map(|b| b.layer.digest.clone()).collect(),
    };
    let config_json = serde_json::to_vec(&config).unwrap_or_default();
    let (cd, _) = blobs
        .write_bytes(&config_json)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Plan {
        parsed_gguf,
        config: Layer::new(MEDIA_TYPE_CONFIG, cd.to_string(), config_json.len() as u64),
        layers,
    })
}

/// The digest of an uploaded file named in `files`/`adapters`; its name must be a relative path
/// inside the model directory and its blob must be on the server.
fn blob_digest(state: &AppState, file: &str, digest: &Value) -> Result<Digest, ApiError> {
    let path = std::path::Path::new(file);
    if path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(ApiError::bad_request("file path must be relative"));
    }
    let text = digest.as_str().unwrap_or_default();
    let d = Digest::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if !state.store.blobs().exists(&d) {
        return Err(ApiError::bad_request(format!("blob \"{d}\" not found")));
    }
    Ok(d)
}

/// Parameter values must have the option's type, as they will be applied to every request.
fn check_parameters(p: &Map<String, Value>) -> Result<(), ApiError> {
    let mut opts = crate::api::options::Options::default();
    let unknown = opts
        .apply_map(p)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(k) = unknown.first() {
        return Err(ApiError::bad_request(format!("unknown parameter '{k}'")));
    }
    Ok(())
}

fn text_layer(state: &AppState, media_type: &str, data: &[u8]) -> Result<Built, ApiError> {
    let (d, created) = state
        .store
        .blobs()
        .write_bytes(data)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Built {
        layer: Layer::new(media_type, d.to_string(), data.len() as u64),
        created,
    })
}

/// The layer a GGUF becomes, first match wins (Ollama's `server/create.go`): `general.type`
/// `adapter`; `general.type` `projector` or `mmproj`; a file with vision blocks and no text
/// blocks; a `clip` file with a vision or audio encoder; else model weights.
fn layer_kind(g: &Gguf) -> &'static str {
    use crate::engine::gguf::Value as V;
    match g.kind() {
        "adapter" => return MEDIA_TYPE_ADAPTER,
        "projector" | "mmproj" => return MEDIA_TYPE_PROJECTOR,
        _ => {}
    }
    let count = |suffix: &str| g.arch_get(suffix).and_then(V::as_u64).unwrap_or(0);
    if count("block_count") == 0 && count("vision.block_count") > 0 {
        return MEDIA_TYPE_PROJECTOR;
    }
    let flag = |key: &str| g.get(key).and_then(V::as_bool).unwrap_or(false);
    if g.architecture() == Some("clip")
        && g.get("clip.block_count").is_none()
        && (flag("clip.has_vision_encoder") || flag("clip.has_audio_encoder"))
    {
        return MEDIA_TYPE_PROJECTOR;
    }
    MEDIA_TYPE_MODEL
}

/// Replaces every layer of `media_type` with `new` (Ollama's `setTemplate`, `setSystem`...).
fn replace(layers: &mut Vec<Built>, media_type: &str, new: Vec<Built>) {
    layers.retain(|b| b.layer.media_type != media_type);
    layers.extend(new);
}

/// The config blob Ollama writes for a GGUF model.
fn config_from_gguf(g: &Gguf) -> ConfigV2 {
    let arch = g.architecture().unwrap_or_default().to_string();
    ConfigV2 {
        model_format: "gguf".to_string(),
        model_families: Some(vec![arch.clone()]),
        model_family: arch,
        model_type: human_number(g.parameter_count()),
        file_type: g.file_type(),
        architecture: go_arch().to_string(),
        os: std::env::consts::OS.to_string(),
        ..ConfigV2::default()
    }
}

/// Go's name for this CPU architecture (`GOARCH`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
