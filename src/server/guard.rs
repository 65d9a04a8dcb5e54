//! The middleware in front of every route, in this order: the browser policy ([`super::cors`]:
//! CORS, then the Host check), the body size (a `Content-Length` over the limit is a 413), and
//! the API keys ([`super::auth`]: 401 without a valid key, 403 with too narrow a scope). Its
//! errors take the shape of the route family they answer: `{"error": ...}` under `/api`,
//! OpenAI's under `/v1`, Anthropic's under `/v1/messages`.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{self, Keys};
use super::cors::{self, HostCheck, Origins, Verdict};
use crate::envconfig::Config;

/// The largest JSON request body (`/api/blobs` uploads are not limited).
pub const MAX_BODY: u64 = 256 << 20;

/// The 413's message, from here and from the JSON extractor (a body sent without a length).
pub fn too_large() -> String {
    format!("request body too large: the limit is {MAX_BODY} bytes")
}

pub struct Guard {
    origins: Origins,
    host: HostCheck,
    keys: RwLock<Arc<Keys>>,
    keys_env: String,
    keys_file: Option<PathBuf>,
}

impl Guard {
    /// From the configuration; `Err` (a bad `OLLAMA_ORIGINS`, an unreadable key file) fails
    /// the start.
    pub fn from_config(config: &Config) -> Result<Guard, String> {
        let origins = Origins::parse(&config.origins)?;
        let keys = Keys::load(&config.api_keys, config.api_keys_file.as_deref())?;
        Ok(Guard {
            origins,
            host: HostCheck {
                on: config.host.binds_loopback(),
                hostname: crate::os::hostname(),
                local: crate::os::interface_addresses(),
            },
            keys: RwLock::new(Arc::new(keys)),
            keys_env: config.api_keys.clone(),
            keys_file: config.api_keys_file.clone(),
        })
    }

    /// Open, for tests that build a router without a configuration of their own.
    pub fn open() -> Guard {
        Guard {
            origins: Origins::parse("").unwrap_or_else(|_| unreachable!("the defaults parse")),
            host: HostCheck {
                on: false,
                hostname: String::new(),
                local: Vec::new(),
            },
            keys: RwLock::new(Arc::default()),
            keys_env: String::new(),
            keys_file: None,
        }
    }

    fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn key_count(&self) -> usize {
        self.keys().len()
    }

    /// Re-reads the keys (on SIGHUP); a file that no longer parses keeps the old keys.
    pub fn reload_keys(&self) -> Result<usize, String> {
        let keys = Keys::load(&self.keys_env, self.keys_file.as_deref())?;
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(n)
    }
}

/// The route family's error response.
pub fn family_error(path: &str, status: StatusCode, message: &str) -> Response {
    let body = if path.starts_with("/v1/messages") {
        let kind = match status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            413 => "request_too_large",
            _ => "invalid_request_error",
        };
        json!({"type": "error", "error": {"type": kind, "message": message}})
    } else if path.starts_with("/v1/") {
        let kind = match status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            _ => "invalid_request_error",
        };
        json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
    } else {
        json!({"error": message})
    };
    (status, axum::Json(body)).into_response()
}

pub async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let add = match cors::check(&g.origins, &g.host, &req) {
        Verdict::Answer(r) => return r,
        Verdict::Pass(add) => add,
    };
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let too_big = !path.starts_with("/api/blobs/")
        && req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > MAX_BODY);
    let mut resp = if too_big {
        family_error(&path, StatusCode::PAYLOAD_TOO_LARGE, &too_large())
    } else if let Some(refused) = authorize(&g, &req, &path) {
        refused
    } else {
        next.run(req).await
    };
    cors::decorate(resp.headers_mut(), add);
    crate::metrics::request(&route, resp.status().as_u16());
    resp
}

fn authorize(g: &Guard, req: &Request<Body>, path: &str) -> Option<Response> {
    let keys = g.keys();
    if keys.is_empty() {
        return None;
    }
    let need = auth::needed(path)?;
    match auth::presented(req.headers()).and_then(|k| keys.scope_of(k)) {
        Some(scope) if scope >= need => None,
        Some(_) => Some(family_error(
            path,
            StatusCode::FORBIDDEN,
            &format!("forbidden: this API key lacks the {} scope", need.name()),
        )),
        None => {
            let mut r = family_error(
                path,
                StatusCode::UNAUTHORIZED,
                "unauthorized: a valid API key is required",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Some(r)
        }
    }
}
