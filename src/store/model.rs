//! A model as the server uses it: a manifest from the store with its small layers (template,
//! system prompt, parameters, messages, licenses) read into memory, its config blob decoded, and
//! the paths of its weight files. Reading is all this module does; deciding what to do with a
//! model (templates, options, loading) happens above the store.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::digest::Digest;
use super::manifest::*;
use super::{Store, StoreError, StoredManifest};
use crate::api::types::Message;

/// The config blob (`application/vnd.docker.container.image.v1+json`), Ollama's `ConfigV2`, in
/// Go's field order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigV2 {
    #[serde(default)]
    pub model_format: String,
    #[serde(default)]
    pub model_family: String,
    #[serde(default)]
    pub model_families: Option<Vec<String>>,
    #[serde(default)]
    pub model_type: String,
    #[serde(default)]
    pub file_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub renderer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parser: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requires: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub context_length: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub embedding_length: u64,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub rootfs: RootFs,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// A resolved, readable model.
#[derive(Clone, Debug)]
pub struct Model {
    pub stored: StoredManifest,
    pub config: ConfigV2,
    /// The GGUF weights (the `model` layer), if the manifest has one.
    pub model_path: Option<PathBuf>,
    pub model_digest: Option<Digest>,
    /// The `from` of the model layer (parent model name), if any.
    pub parent: String,
    pub adapters: Vec<PathBuf>,
    pub projectors: Vec<PathBuf>,
    pub template: Option<String>,
    pub system: Option<String>,
    pub license: Vec<String>,
    pub params: Map<String, Value>,
    pub messages: Vec<Message>,
}

impl Model {
    /// Reads every small layer of `stored`. A missing blob or an unreadable layer is an error:
    /// a model whose parts are gone must not be served half-configured.
    pub fn load(store: &Store, stored: StoredManifest) -> Result<Model, StoreError> {
        let blobs = store.blobs();
        let read_text = |digest: &str| -> Result<String, StoreError> {
            let d = parse_digest(digest)?;
            let bytes = blobs.read(&d).map_err(|e| StoreError::Io {
                context: format!("read layer {digest}"),
                source: e,
            })?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let config: ConfigV2 = match read_text(&stored.manifest.config.digest) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
            Err(e) => return Err(e),
        };
        let mut m = Model {
            config,
            model_path: None,
            model_digest: None,
            parent: String::new(),
            adapters: Vec::new(),
            projectors: Vec::new(),
            template: None,
            system: None,
            license: Vec::new(),
            params: Map::new(),
            messages: Vec::new(),
            stored: stored.clone(),
        };
        for layer in &stored.manifest.layers {
            match layer.media_type.as_str() {
                MEDIA_TYPE_MODEL => {
                    let d = parse_digest(&layer.digest)?;
                    m.model_path = Some(blobs.path(&d));
                    m.model_digest = Some(d);
                    m.parent = layer.from.clone().unwrap_or_default();
                }
                MEDIA_TYPE_ADAPTER => m.adapters.push(blobs.path(&parse_digest(&layer.digest)?)),
                MEDIA_TYPE_PROJECTOR => {
                    m.projectors.push(blobs.path(&parse_digest(&layer.digest)?))
                }
                MEDIA_TYPE_TEMPLATE | MEDIA_TYPE_PROMPT => {
                    m.template = Some(read_text(&layer.digest)?)
                }
                MEDIA_TYPE_SYSTEM => m.system = Some(read_text(&layer.digest)?),
                MEDIA_TYPE_LICENSE => m.license.push(read_text(&layer.digest)?),
                MEDIA_TYPE_PARAMS => {
                    let text = read_text(&layer.digest)?;
                    m.params =
                        serde_json::from_str(&text).map_err(|e| StoreError::CorruptManifest {
                            path: stored.name.to_string(),
                            msg: format!("params layer: {e}"),
                        })?;
                }
                MEDIA_TYPE_MESSAGES => {
                    let text = read_text(&layer.digest)?;
                    m.messages =
                        serde_json::from_str(&text).map_err(|e| StoreError::CorruptManifest {
                            path: stored.name.to_string(),
                            msg: format!("messages layer: {e}"),
                        })?;
                }
                _ => {}
            }
        }
        Ok(m)
    }

    /// The name as clients see it (`llama3.2:latest`).
    pub fn short_name(&self) -> String {
        self.stored.name.display_shortest()
    }
}

fn parse_digest(s: &str) -> Result<Digest, StoreError> {
    Digest::parse(s).map_err(|_| StoreError::CorruptManifest {
        path: String::new(),
        msg: format!("invalid digest {s}"),
    })
}
