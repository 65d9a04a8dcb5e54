//! The REST client every CLI subcommand except `serve` uses: one async function per endpoint,
//! NDJSON streams decoded line by line into typed objects. Errors keep the server's message
//! (`{"error": ...}`) so the CLI can print it as Ollama does. Knows nothing of the terminal.

use std::path::Path;
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::*;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not connect to rollama server, run 'rollama serve' to start it")]
    Connect,
    /// The server answered with an error status; `message` is its `error` text.
    #[error("{message}")]
    Status { code: u16, message: String },
    /// An `{"error": ...}` line inside a stream.
    #[error("{0}")]
    Stream(String),
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> ClientError {
        if e.is_connect() {
            ClientError::Connect
        } else {
            ClientError::Other(e.to_string())
        }
    }
}

/// `rollama/<version> (<arch> <os>)`, what rollama's HTTP clients say they are.
pub fn user_agent() -> String {
    format!(
        "rollama/{} ({} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// A stream of decoded NDJSON objects.
pub type Lines<T> = Pin<Box<dyn Stream<Item = Result<T, ClientError>> + Send>>;

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for the server at `base` (`http://127.0.0.1:11434`). With an API key
    /// (`OLLAMA_API_KEY`), every request carries `Authorization: Bearer <key>`, as the official
    /// clients send it.
    pub fn new(base: impl Into<String>, api_key: Option<&str>) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(mut v) = api_key
            .filter(|k| !k.is_empty())
            .and_then(|k| reqwest::header::HeaderValue::from_str(&format!("Bearer {k}")).ok())
        {
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .user_agent(user_agent())
            .default_headers(headers)
            .build()
            .unwrap_or_default();
        Client {
            http,
            base: base.into(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `HEAD /`: is a server there?
    pub async fn heartbeat(&self) -> Result<(), ClientError> {
        let r = self.http.head(self.url("/")).send().await?;
        check(r).await.map(|_| ())
    }

    pub async fn version(&self) -> Result<String, ClientError> {
        let r = self.http.get(self.url("/api/version")).send().await?;
        let v: VersionResponse = decode(check(r).await?).await?;
        Ok(v.version)
    }

    pub async fn list(&self) -> Result<ListResponse, ClientError> {
        let r = self.http.get(self.url("/api/tags")).send().await?;
        decode(check(r).await?).await
    }

    pub async fn show(&self, req: &ShowRequest) -> Result<ShowResponse, ClientError> {
        let r = self
            .http
            .post(self.url("/api/show"))
            .json(req)
            .send()
            .await?;
        decode(check(r).await?).await
    }

    pub async fn ps(&self) -> Result<ProcessResponse, ClientError> {
        let r = self.http.get(self.url("/api/ps")).send().await?;
        decode(check(r).await?).await
    }

    pub async fn copy(&self, source: &str, destination: &str) -> Result<(), ClientError> {
        let req = CopyRequest {
            source: source.to_string(),
            destination: destination.to_string(),
        };
        let r = self
            .http
            .post(self.url("/api/copy"))
            .json(&req)
            .send()
            .await?;
        check(r).await.map(|_| ())
    }

    pub async fn delete(&self, model: &str) -> Result<(), ClientError> {
        let req = DeleteRequest {
            model: model.to_string(),
            ..DeleteRequest::default()
        };
        let r = self
            .http
            .delete(self.url("/api/delete"))
            .json(&req)
            .send()
            .await?;
        check(r).await.map(|_| ())
    }

    /// Does the server hold this blob (`sha256:<hex>`)?
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, ClientError> {
        let r = self
            .http
            .head(self.url(&format!("/api/blobs/{digest}")))
            .send()
            .await?;
        match r.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => check(r).await.map(|_| true),
        }
    }

    /// Streams the file at `path` to the server as blob `digest`.
    pub async fn upload_blob(&self, digest: &str, path: &Path) -> Result<(), ClientError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| ClientError::Other(format!("open {}: {e}", path.display())))?;
        let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let r = self
            .http
            .post(self.url(&format!("/api/blobs/{digest}")))
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await?;
        check(r).await.map(|_| ())
    }

    pub async fn create(
        &self,
        req: &CreateRequest,
    ) -> Result<Lines<ProgressResponse>, ClientError> {
        self.stream("/api/create", req).await
    }

    pub async fn pull(
        &self,
        req: &TransferRequest,
    ) -> Result<Lines<ProgressResponse>, ClientError> {
        self.stream("/api/pull", req).await
    }

    pub async fn push(
        &self,
        req: &TransferRequest,
    ) -> Result<Lines<ProgressResponse>, ClientError> {
        self.stream("/api/push", req).await
    }

    pub async fn generate(
        &self,
        req: &GenerateRequest,
    ) -> Result<Lines<GenerateResponse>, ClientError> {
        self.stream("/api/generate", req).await
    }

    /// `POST /api/embed` with `input`; the vectors, one per input.
    pub async fn embed(
        &self,
        model: &str,
        input: &str,
        keep_alive: Option<crate::duration::KeepAlive>,
    ) -> Result<Vec<Vec<f32>>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Embedded {
            embeddings: Vec<Vec<f32>>,
        }
        let mut body = serde_json::json!({"model": model, "input": input});
        if let Some(k) = keep_alive {
            body["keep_alive"] = serde_json::to_value(k).unwrap_or_default();
        }
        let r = self
            .http
            .post(self.url("/api/embed"))
            .json(&body)
            .send()
            .await?;
        let e: Embedded = decode(check(r).await?).await?;
        Ok(e.embeddings)
    }

    pub async fn chat(&self, req: &ChatRequest) -> Result<Lines<ChatResponse>, ClientError> {
        self.stream("/api/chat", req).await
    }

    /// POSTs `body` and yields each NDJSON line as a `T`; an `{"error": ...}` line ends the
    /// stream with that error. Dropping the stream closes the connection, which cancels the
    /// request on the server.
    async fn stream<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Lines<T>, ClientError> {
        let r = self.http.post(self.url(path)).json(body).send().await?;
        let r = check(r).await?;
        Ok(Box::pin(ndjson_lines(r.bytes_stream()).map(|line| {
            let line = line?;
            let v: serde_json::Value =
                serde_json::from_slice(&line).map_err(|e| ClientError::Other(e.to_string()))?;
            if let Some(msg) = v.get("error").and_then(|e| e.as_str()) {
                return Err(ClientError::Stream(msg.to_string()));
            }
            serde_json::from_value(v).map_err(|e| ClientError::Other(e.to_string()))
        })))
    }
}

/// Turns a success response through, and an error status into [`ClientError::Status`] with the
/// server's `error` text (or the status line when the body has none).
async fn check(r: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = r.status();
    if status.is_success() {
        return Ok(r);
    }
    let text = r.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorResponse>(&text)
        .map(|e| e.error)
        .unwrap_or_else(|_| {
            let t = text.trim();
            if t.is_empty() {
                status.to_string()
            } else {
                format!("{status}: {t}")
            }
        });
    Err(ClientError::Status {
        code: status.as_u16(),
        message,
    })
}

async fn decode<T: DeserializeOwned>(r: reqwest::Response) -> Result<T, ClientError> {
    let bytes = r.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Other(e.to_string()))
}

/// Splits a byte stream into non-empty lines.
fn ndjson_lines<S>(bytes: S) -> impl Stream<Item = Result<Vec<u8>, ClientError>>
where
    S: Stream<Item = Result<bytes::Bytes, reqwest::Error>>,
{
    futures_util::stream::unfold(
        (Box::pin(bytes), Vec::<u8>::new(), false),
        |(mut bytes, mut buf, mut ended)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let line = line[..line.len() - 1].to_vec();
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some((Ok(line), (bytes, buf, ended)));
                }
                if ended {
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    let line = std::mem::take(&mut buf);
                    return Some((Ok(line), (bytes, buf, ended)));
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        ended = true;
                        buf.clear();
                        return Some((Err(ClientError::from(e)), (bytes, buf, ended)));
                    }
                    None => ended = true,
                }
            }
        },
    )
}
