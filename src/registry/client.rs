//! One registry repository over HTTP: URLs from the model name, Ollama's request rules
//! (`makeRequestWithRetry`: a 401 is answered once with a signed token request, 404 is "file
//! does not exist", any other status >= 400 is `<code>: <body>`), and the bearer token kept for
//! the next requests to the same host.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};

use super::RegistryError;
use super::auth::{self, Challenge};
use crate::store::manifest::MEDIA_TYPE_MANIFEST;
use crate::store::name::Name;

/// A request body that can be made again (a retry after the auth challenge sends it twice).
pub type MakeBody<'a> = &'a (dyn Fn() -> reqwest::Body + Send + Sync);

pub struct Registry {
    http: reqwest::Client,
    base: Url,
    repo: String,
    home: PathBuf,
    token: std::sync::Mutex<Option<String>>,
}

impl Registry {
    /// The registry of `name`: `https://<host>`, or `http://` when the name says so or
    /// `insecure` is set (a name saying `http://` without `insecure` is refused, as Ollama does).
    pub fn new(name: &Name, insecure: bool, home: &Path) -> Result<Registry, RegistryError> {
        let scheme = match name.scheme.as_deref() {
            Some("http") if !insecure => return Err(RegistryError::InsecureProtocol),
            _ if insecure => "http",
            Some(s) => s,
            None => "https",
        };
        let base = Url::parse(&format!("{scheme}://{}/", name.host))
            .map_err(|e| RegistryError::Invalid(format!("invalid registry host: {e}")))?;
        let http = reqwest::Client::builder()
            .user_agent(crate::api::client::user_agent())
            // Redirects are followed by hand: only within the registry's host (see
            // `download::direct_url`).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(RegistryError::from)?;
        Ok(Registry {
            http,
            base,
            repo: format!("{}/{}", name.namespace, name.model),
            home: home.to_path_buf(),
            token: std::sync::Mutex::new(None),
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base
            .join(path)
            .map_err(|e| RegistryError::Invalid(format!("invalid registry URL {path}: {e}")))
    }

    pub fn manifest_url(&self, tag: &str) -> Result<Url, RegistryError> {
        self.url(&format!("/v2/{}/manifests/{tag}", self.repo))
    }

    pub fn blob_url(&self, digest: &str) -> Result<Url, RegistryError> {
        self.url(&format!("/v2/{}/blobs/{digest}", self.repo))
    }

    pub fn uploads_url(&self) -> Result<Url, RegistryError> {
        self.url(&format!("/v2/{}/blobs/uploads/", self.repo))
    }

    /// Resolves a `Location` header value against the registry (it may be relative).
    pub fn location(&self, resp: &Response) -> Result<Url, RegistryError> {
        let value = resp
            .headers()
            .get("Docker-Upload-Location")
            .or_else(|| resp.headers().get(header::LOCATION))
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Invalid("the registry sent no upload location".into()))?;
        resp.url()
            .join(value)
            .map_err(|e| RegistryError::Invalid(format!("invalid upload location: {e}")))
    }

    /// Fetches the manifest of `tag`: its bytes exactly as served.
    pub async fn manifest(&self, tag: &str) -> Result<Vec<u8>, RegistryError> {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(MEDIA_TYPE_MANIFEST),
        );
        let resp = self
            .send(Method::GET, self.manifest_url(tag)?, h, None)
            .await?;
        read_limited(resp, MAX_MANIFEST).await?.ok_or_else(|| {
            RegistryError::Invalid(format!("manifest larger than {MAX_MANIFEST} bytes"))
        })
    }

    /// Sends a request the way Ollama's `makeRequestWithRetry` does: with the cached token for
    /// this host, answering one 401 challenge; 404 is [`RegistryError::NotExist`] and other
    /// statuses >= 400 are [`RegistryError::Status`]. Redirects come back as they are.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<MakeBody<'_>>,
    ) -> Result<Response, RegistryError> {
        for _ in 0..2 {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if self.same_host(&url)
                && let Some(t) = self.token.lock().ok().and_then(|t| t.clone())
            {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.body(b());
            }
            let resp = req.send().await?;
            match resp.status() {
                StatusCode::UNAUTHORIZED => {
                    let challenge = resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(Challenge::parse)
                        .ok_or(RegistryError::Unauthorized)?;
                    let token = self.token_for(&challenge, &url).await?;
                    if let Ok(mut t) = self.token.lock() {
                        *t = Some(token);
                    }
                }
                StatusCode::NOT_FOUND => return Err(RegistryError::NotExist),
                s if s.as_u16() >= 400 => {
                    let body = error_body(resp).await;
                    return Err(RegistryError::Status {
                        code: s.as_u16(),
                        body: body.trim().to_string(),
                    });
                }
                _ => return Ok(resp),
            }
        }
        Err(RegistryError::Unauthorized)
    }

    /// Whether `url` is on the registry's own host and port (where its token is sent).
    pub fn same_host(&self, url: &Url) -> bool {
        url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Asks the challenge's realm for a token, signing the request with `~/.ollama/id_ed25519`.
    /// The realm must be on the host the challenge came from, so a registry cannot send our
    /// signature elsewhere.
    async fn token_for(&self, c: &Challenge, request: &Url) -> Result<String, RegistryError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let url = c
            .token_url(now, &auth::nonce())
            .map_err(RegistryError::Auth)?;
        if url.host_str() != request.host_str() {
            return Err(RegistryError::Auth(format!(
                "realm host {:?} does not match request host {:?}",
                url.host_str().unwrap_or_default(),
                request.host_str().unwrap_or_default()
            )));
        }
        let key = auth::load(&self.home).map_err(|e| RegistryError::Auth(e.to_string()))?;
        let signature = key.sign(&auth::token_request_data(url.as_str()));
        let resp = self
            .http
            .get(url)
            .header(header::AUTHORIZATION, signature)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let body = error_body(resp).await;
            return Err(RegistryError::Status {
                code: status.as_u16(),
                body: body.trim().to_string(),
            });
        }
        let body = read_limited(resp, MAX_TOKEN_RESPONSE)
            .await?
            .ok_or_else(|| RegistryError::Auth("the token response is too large".into()))?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Auth(format!("invalid token response: {e}")))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(String::from)
            .ok_or_else(|| RegistryError::Auth("the token response has no token".into()))
    }
}

/// The largest manifest read (Docker distribution's own limit).
const MAX_MANIFEST: usize = 4 << 20;
/// The largest token response read.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;
/// How much of an error response is kept for the message.
const MAX_ERROR_BODY: usize = 4 << 10;

/// The body, or `None` when it is longer than `limit` bytes (read no further than that).
async fn read_limited(mut resp: Response, limit: usize) -> Result<Option<Vec<u8>>, RegistryError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// The start of an error response's body, for its message; a registry that sends gigabytes
/// with a 500 is cut off after [`MAX_ERROR_BODY`] bytes.
async fn error_body(mut resp: Response) -> String {
    let mut out = Vec::new();
    while out.len() < MAX_ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            _ => break,
        }
    }
    out.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reg(name: &str, insecure: bool) -> Result<Registry, RegistryError> {
        Registry::new(
            &Name::parse(name).unwrap(),
            insecure,
            Path::new("/nonexistent"),
        )
    }

    #[test]
    fn urls_come_from_the_name() {
        let r = reg("llama3.2", false).unwrap();
        assert_eq!(
            r.manifest_url("latest").unwrap().as_str(),
            "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest"
        );
        let r = reg("127.0.0.1:5000/ns/model:tag", true).unwrap();
        assert_eq!(
            r.blob_url("sha256:ab").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/ns/model/blobs/sha256:ab"
        );
        assert_eq!(
            r.uploads_url().unwrap().as_str(),
            "http://127.0.0.1:5000/v2/ns/model/blobs/uploads/"
        );
        let r = reg("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", false).unwrap();
        assert_eq!(
            r.manifest_url("Q4_K_M").unwrap().as_str(),
            "https://hf.co/v2/bartowski/Llama-3.2-1B-Instruct-GGUF/manifests/Q4_K_M"
        );
        assert!(matches!(
            reg("http://127.0.0.1:5000/ns/m", false),
            Err(RegistryError::InsecureProtocol)
        ));
        assert_eq!(
            reg("http://127.0.0.1:5000/ns/m", true)
                .unwrap()
                .base()
                .as_str(),
            "http://127.0.0.1:5000/"
        );
    }
}
