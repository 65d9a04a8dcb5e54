//! Request and response bodies of Ollama's native API, as serde structs whose field names,
//! order and omission rules mirror Ollama's Go structs (`api/types.go`), so the JSON on the wire
//! is the same. Shared by the server and the client; a leaf module.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::duration::KeepAlive;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Go decodes `null` into a string field as "", and so do we.
fn null_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Timing and token counts of a finished generation (all durations in nanoseconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total_duration: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub load_duration: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_eval_count: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_eval_duration: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub eval_count: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub eval_duration: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GenerateRequest {
    #[serde(default, deserialize_with = "null_string")]
    pub model: String,
    #[serde(default, deserialize_with = "null_string")]
    pub prompt: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub suffix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub system: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub raw: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub logprobs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<i64>,
    #[serde(
        default,
        rename = "_debug_render_only",
        skip_serializing_if = "is_false"
    )]
    pub debug_render_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    pub model: String,
    pub created_at: String,
    pub response: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub thinking: String,
    pub done: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub done_reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<i64>>,
    #[serde(flatten)]
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<Logprob>,
    #[serde(
        default,
        rename = "_debug_info",
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_info: Option<DebugInfo>,
}

/// One token's log-probability (`logprobs` on generate and chat).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Logprob {
    pub token: String,
    pub logprob: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bytes: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DebugInfo {
    pub rendered_template: String,
    pub image_count: usize,
}

/// A chat message. `role` is lower-cased on decode, as Ollama does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(deserialize_with = "lower_role", default)]
    pub role: String,
    #[serde(default, deserialize_with = "null_string")]
    pub content: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub thinking: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<Value>,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub tool_name: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub tool_call_id: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Message {
        Message {
            role: role.to_string(),
            content: content.into(),
            ..Message::default()
        }
    }
}

fn lower_role<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(null_string(d)?.to_lowercase())
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(default, deserialize_with = "null_string")]
    pub model: String,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub logprobs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<i64>,
    #[serde(
        default,
        rename = "_debug_render_only",
        skip_serializing_if = "is_false"
    )]
    pub debug_render_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub model: String,
    pub created_at: String,
    pub message: Message,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub done_reason: String,
    pub done: bool,
    #[serde(flatten)]
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<Logprob>,
    #[serde(
        default,
        rename = "_debug_info",
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_info: Option<DebugInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelDetails {
    #[serde(default)]
    pub parent_model: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub families: Option<Vec<String>>,
    #[serde(default)]
    pub parameter_size: String,
    #[serde(default)]
    pub quantization_level: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListModel {
    pub name: String,
    pub model: String,
    pub modified_at: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListResponse {
    pub models: Vec<ListModel>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ShowRequest {
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub model: String,
    /// Legacy spelling of `model`.
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub verbose: bool,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub shape: Vec<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowResponse {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub license: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub modelfile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parameters: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system: String,
    #[serde(default)]
    pub details: ModelDetails,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub model_info: Map<String, Value>,
    /// The projector's metadata (a vision model's encoder), when the model has one.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub projector_info: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<Tensor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub modified_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requires: String,
}

/// `license` in a create request may be one string or a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateRequest {
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub model: String,
    /// Legacy spelling of `model`.
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapters: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<StringOrList>,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub quantize: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub requires: String,
    /// A Modelfile's `DRAFT` (a draft model for speculative decoding): refused, rollama drafts
    /// from the context instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_files: Option<Map<String, Value>>,
}

/// Why a `DRAFT` model is refused (create, CLI and API).
pub const DRAFT_UNSUPPORTED: &str = "draft models are not supported: rollama drafts from the \
     prompt and its own output instead (speculative decoding is on by default; the \
     draft_num_predict option sets the draft length, 0 turns it off); remove the DRAFT line";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressResponse {
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub completed: u64,
}

impl ProgressResponse {
    pub fn status(s: impl Into<String>) -> ProgressResponse {
        ProgressResponse {
            status: s.into(),
            ..ProgressResponse::default()
        }
    }
}

/// `POST /api/pull` and `POST /api/push` (`username` and `password` are accepted and ignored,
/// as Ollama does).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TransferRequest {
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub model: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

impl TransferRequest {
    pub fn model_name(&self) -> &str {
        model_or_name(&self.model, &self.name)
    }
}

/// A request's model: `model`, or the legacy `name` when `model` is empty.
pub fn model_or_name<'a>(model: &'a str, name: &'a str) -> &'a str {
    if model.is_empty() { name } else { model }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DeleteRequest {
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub model: String,
    #[serde(
        default,
        deserialize_with = "null_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
}

/// `POST /api/copy`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CopyRequest {
    #[serde(default, deserialize_with = "null_string")]
    pub source: String,
    #[serde(default, deserialize_with = "null_string")]
    pub destination: String,
}

/// One loaded model in `GET /api/ps`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessModel {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
    pub expires_at: String,
    pub size_vram: u64,
    #[serde(default)]
    pub context_length: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessResponse {
    pub models: Vec<ProcessModel>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VersionResponse {
    pub version: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
}

/// `created_at` / `modified_at` text: RFC 3339 with nanoseconds, trailing zeros trimmed, the way
/// Go's `time.Time` marshals (`2025-07-07T20:22:19.184789Z`).
pub fn go_time<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::{SecondsFormat, Timelike};
    let base = t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    let frac = frac.trim_end_matches('0');
    // Insert the fraction after the seconds (position 19 in "YYYY-MM-DDTHH:MM:SS").
    format!("{}.{}{}", &base[..19], frac, &base[19..])
}

/// Now, in UTC, as Go formats it.
pub fn now_utc() -> String {
    go_time(&chrono::Utc::now())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_format() {
        let t = chrono::Utc
            .with_ymd_and_hms(2025, 7, 7, 20, 22, 19)
            .unwrap()
            .with_nanosecond(184_789_000)
            .unwrap();
        assert_eq!(go_time(&t), "2025-07-07T20:22:19.184789Z");
        let t = chrono::Utc
            .with_ymd_and_hms(2025, 7, 7, 20, 22, 19)
            .unwrap();
        assert_eq!(go_time(&t), "2025-07-07T20:22:19Z");
        let off = chrono::FixedOffset::west_opt(7 * 3600).unwrap();
        let t = off
            .with_ymd_and_hms(2024, 5, 1, 10, 0, 0)
            .unwrap()
            .with_nanosecond(5)
            .unwrap();
        assert_eq!(go_time(&t), "2024-05-01T10:00:00.000000005-07:00");
    }

    use chrono::Timelike as _;

    #[test]
    fn generate_response_shape() {
        let r = GenerateResponse {
            model: "m".into(),
            created_at: "t".into(),
            response: "".into(),
            done: true,
            done_reason: "stop".into(),
            context: Some(vec![1, 2]),
            metrics: Metrics {
                total_duration: 5,
                eval_count: 2,
                ..Metrics::default()
            },
            ..GenerateResponse::default()
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"model":"m","created_at":"t","response":"","done":true,"done_reason":"stop","context":[1,2],"total_duration":5,"eval_count":2}"#
        );
    }

    #[test]
    fn role_is_lowercased_and_nulls_tolerated() {
        let m: Message = serde_json::from_str(r#"{"role":"USER","content":null}"#).unwrap();
        assert_eq!(m.role, "user");
        assert_eq!(m.content, "");
    }
}
