//! The manifest: a Docker distribution v2 manifest naming the config blob and the layers of a
//! model, with Ollama's media types. Serialises with Go's field order and no extra whitespace,
//! so manifests written here are byte-compatible with Ollama's. A leaf of the store.

use serde::{Deserialize, Serialize};

pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_TYPE_MODEL: &str = "application/vnd.ollama.image.model";
pub const MEDIA_TYPE_ADAPTER: &str = "application/vnd.ollama.image.adapter";
pub const MEDIA_TYPE_PROJECTOR: &str = "application/vnd.ollama.image.projector";
pub const MEDIA_TYPE_TEMPLATE: &str = "application/vnd.ollama.image.template";
/// Legacy alias of the template layer found in old registry models.
pub const MEDIA_TYPE_PROMPT: &str = "application/vnd.ollama.image.prompt";
pub const MEDIA_TYPE_SYSTEM: &str = "application/vnd.ollama.image.system";
pub const MEDIA_TYPE_PARAMS: &str = "application/vnd.ollama.image.params";
pub const MEDIA_TYPE_MESSAGES: &str = "application/vnd.ollama.image.messages";
pub const MEDIA_TYPE_LICENSE: &str = "application/vnd.ollama.image.license";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Layer,
    #[serde(default)]
    pub layers: Vec<Layer>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Layer {
    pub fn new(media_type: &str, digest: String, size: u64) -> Layer {
        Layer {
            media_type: media_type.to_string(),
            digest,
            size,
            from: None,
            name: None,
        }
    }
}

impl Manifest {
    pub fn new(config: Layer, layers: Vec<Layer>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST.to_string(),
            config,
            layers,
        }
    }

    /// Config plus layers: every digest this manifest keeps alive.
    pub fn all_layers(&self) -> impl Iterator<Item = &Layer> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }

    /// Sum of the layer sizes and the config size (`/api/tags` `size`).
    pub fn total_size(&self) -> u64 {
        self.all_layers().map(|l| l.size).sum()
    }

    /// Compact JSON, as Go's `json.Marshal` writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_shape() {
        let m = Manifest::new(
            Layer::new(MEDIA_TYPE_CONFIG, "sha256:c".into(), 3),
            vec![Layer::new(MEDIA_TYPE_MODEL, "sha256:m".into(), 10)],
        );
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:c","size":3},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:m","size":10}]}"#
        );
        assert_eq!(m.total_size(), 13);
        let back: Manifest = serde_json::from_slice(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
    }
}
