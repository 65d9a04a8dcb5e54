//! Facts about a model's weights that requests need but that live in the GGUF header, not the
//! manifest: architecture, context length, the Jinja chat template, BOS/EOS texts, whether it is
//! an embedding model. Read once per blob and cached, since every generate and show needs them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::engine::gguf::Gguf;
use crate::store::digest::Digest;

#[derive(Clone, Debug, Default)]
pub struct ModelMeta {
    pub architecture: String,
    pub context_length: Option<u64>,
    pub embedding_length: Option<u64>,
    pub parameter_count: u64,
    pub file_type: String,
    pub chat_template: Option<String>,
    /// `<arch>.pooling_type` present: an embedding model.
    pub is_embedding: bool,
    pub has_vision: bool,
    pub bos_text: String,
    pub eos_text: String,
    pub model_info: Map<String, Value>,
}

impl ModelMeta {
    pub fn read(path: &Path) -> Result<ModelMeta, String> {
        let g = Gguf::open(path, 8).map_err(|e| e.to_string())?;
        let arch = g.architecture().unwrap_or_default().to_string();
        let mut meta = ModelMeta {
            context_length: g.context_length(),
            embedding_length: g.embedding_length(),
            parameter_count: g.parameter_count(),
            file_type: g.file_type(),
            chat_template: g.chat_template().map(str::to_string),
            is_embedding: g.arch_get("pooling_type").is_some(),
            has_vision: g.arch_get("vision.block_count").is_some(),
            model_info: g.model_info(false),
            architecture: arch,
            ..ModelMeta::default()
        };
        // Only a Jinja template needs the BOS/EOS texts, and finding them means reading the
        // whole vocabulary, so only then.
        if meta.chat_template.is_some() {
            let full = Gguf::open(path, usize::MAX).map_err(|e| e.to_string())?;
            let tokens = full
                .get("tokenizer.ggml.tokens")
                .and_then(|v| v.as_array())
                .and_then(|a| a.strings());
            let text = |key: &str| -> String {
                let id = full.get(key).and_then(|v| v.as_u64());
                match (tokens, id) {
                    (Some(t), Some(id)) => t.get(id as usize).cloned().unwrap_or_default(),
                    _ => String::new(),
                }
            };
            meta.bos_text = text("tokenizer.ggml.bos_token_id");
            meta.eos_text = text("tokenizer.ggml.eos_token_id");
        }
        Ok(meta)
    }
}

/// Cache of [`ModelMeta`] by weight blob.
#[derive(Default)]
pub struct MetaCache {
    entries: Mutex<HashMap<Digest, Arc<ModelMeta>>>,
}

impl MetaCache {
    pub fn get(&self, digest: &Digest, path: &Path) -> Result<Arc<ModelMeta>, String> {
        if let Some(m) = self.lock().get(digest) {
            return Ok(Arc::clone(m));
        }
        let meta = Arc::new(ModelMeta::read(path)?);
        self.lock().insert(digest.clone(), Arc::clone(&meta));
        Ok(meta)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Arc<ModelMeta>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
