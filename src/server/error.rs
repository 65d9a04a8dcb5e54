//! The one place where errors become HTTP responses: [`ApiError`] carries a status and Ollama's
//! message and renders as `{"error": "..."}`; [`ApiJson`] is the JSON extractor whose rejections
//! (empty body, malformed JSON, wrong types) are 400s in that same shape, never axum's plain
//! text. Must not depend on the CLI.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::sched::SchedError;
use crate::store::StoreError;
use crate::store::name::InvalidName;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// `model 'x' not found`, the 404 of generate, chat, show and delete.
    pub fn model_not_found(name: &str) -> ApiError {
        ApiError::not_found(format!("model '{name}' not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<InvalidName> for ApiError {
    fn from(e: InvalidName) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<SchedError> for ApiError {
    fn from(e: SchedError) -> ApiError {
        match e {
            SchedError::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            SchedError::Load(e) => ApiError::internal(e.to_string()),
        }
    }
}

/// A JSON body; every way it can be wrong is a 400 with Ollama's error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(e.status(), super::guard::too_large())
            } else {
                ApiError::bad_request(e.body_text())
            }
        })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// Decodes a request body the way Ollama's handlers do: an empty body is `missing request body`,
/// anything else that does not decode is a 400 with the decoder's message.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("missing request body"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// How Go's `encoding/json` names a JSON value's kind in an unmarshal error.
pub fn go_json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct R {
        #[allow(dead_code)]
        model: String,
    }

    #[test]
    fn body_errors() {
        assert_eq!(
            parse_body::<R>(b"").unwrap_err().message,
            "missing request body"
        );
        assert_eq!(
            parse_body::<R>(b"  \n").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let e = parse_body::<R>(b"{\"model\": 3}").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("invalid type"), "{}", e.message);
        assert!(parse_body::<R>(b"{nope").is_err());
    }
}
