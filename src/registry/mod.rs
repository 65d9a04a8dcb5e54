//! Pull and push over the registry protocol (Docker distribution v2 with Ollama's media types
//! and auth), as Ollama's `server/download.go`, `upload.go` and `images.go` do it:
//!
//! - [`client`]: the HTTP side: base URL from the model name (`https`, or `http` with
//!   `insecure`), the bearer challenge answered with a request signed by the ed25519 key
//!   ([`auth`]), Ollama's status-to-error rules.
//! - [`download`]: a blob in ranged parts fetched concurrently into `sha256-<hex>-partial`, with
//!   per-part state files so a pull resumes after a restart of the server, retries with backoff,
//!   stall detection, one shared download per digest, and the sha256 checked before the blob
//!   gets its name.
//! - [`pull`] and [`push`]: the flows, reporting progress as [`ProgressResponse`] events through
//!   a callback; the server streams them, the CLI draws them. Nothing here prints.
//!
//! Depends on the store and the API types; never on the server or the CLI.

pub mod auth;
pub mod client;
pub mod download;
pub mod pull;
pub mod push;

use std::path::Path;

pub use download::Downloads;

use crate::api::types::ProgressResponse;
use crate::store::{Store, StoreError};

/// How progress leaves a pull or push.
pub type Progress<'a> = &'a (dyn Fn(ProgressResponse) + Send + Sync);

/// What a pull or push needs from the server: the store, the shared downloads, where the key
/// lives (`~/.ollama`), and whether plain http is allowed.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub store: &'a Store,
    pub downloads: &'a std::sync::Arc<Downloads>,
    pub home: &'a Path,
    pub insecure: bool,
    /// Keep the blobs an older version of a pulled tag leaves unreferenced (`OLLAMA_NOPRUNE`).
    pub keep_orphans: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The name says `http://` but `insecure` is not set.
    #[error("insecure protocol http")]
    InsecureProtocol,
    /// A 404 from the registry (Go's `os.ErrNotExist`).
    #[error("file does not exist")]
    NotExist,
    /// Still 401 after answering the challenge.
    #[error("unauthorized: access denied")]
    Unauthorized,
    /// Any other status >= 400: `<code>: <body>`.
    #[error("{code}: {body}")]
    Status { code: u16, body: String },
    #[error("{0}")]
    Auth(String),
    #[error("digest mismatch, file must be downloaded again: want {want}, got {got}")]
    DigestMismatch { want: String, got: String },
    #[error("max retries exceeded: {0}")]
    MaxRetries(String),
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `model 'x' not found` (push of a model that is not in the store).
    #[error("model '{0}' not found")]
    ModelNotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Context {
        context: &'static str,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("context canceled")]
    Cancelled,
    /// A failure of a download shared with other pulls.
    #[error("{0}")]
    Shared(std::sync::Arc<RegistryError>),
}

impl RegistryError {
    /// Prefixes the error as Go's `fmt.Errorf("%s: %w", ...)` does.
    pub fn context(self, context: &'static str) -> RegistryError {
        RegistryError::Context {
            context,
            source: Box::new(self),
        }
    }

    /// The error under any context prefixes.
    pub fn root(&self) -> &RegistryError {
        match self {
            RegistryError::Context { source, .. } => source.root(),
            RegistryError::Shared(e) => e.root(),
            other => other,
        }
    }
}

impl From<reqwest::Error> for RegistryError {
    fn from(e: reqwest::Error) -> RegistryError {
        // reqwest's Display hides the cause ("error sending request"); keep it.
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        RegistryError::Http(msg)
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> RegistryError {
        RegistryError::Io(e.to_string())
    }
}

/// Ollama's part sizes for downloads and uploads: a sixteenth of the blob, at least 100 MB and
/// at most 1000 MB (decimal), the last part taking the remainder. Returns (offset, size) pairs.
/// There are never more than [`MAX_PARTS`]: past 1 TB the parts grow instead (Ollama plans one
/// per GB whatever the size, which a hostile manifest turns into an allocation that aborts).
pub fn plan_parts(total: u64) -> Vec<(u64, u64)> {
    const PARTS: u64 = 16;
    const MIN: u64 = 100_000_000;
    const MAX: u64 = 1_000_000_000;
    let size = (total / PARTS)
        .clamp(MIN, MAX)
        .max(total.div_ceil(MAX_PARTS));
    let mut parts = Vec::new();
    let mut offset = 0;
    while offset < total {
        let n = size.min(total - offset);
        parts.push((offset, n));
        offset += n;
    }
    parts
}

/// The most parts a blob is cut into.
pub const MAX_PARTS: u64 = 1000;

/// How long a retry waits: 1 s, 2 s, 4 s... (Ollama's upload/download backoff).
fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1u64 << attempt.min(5))
}

/// Ollama retries a failing part this many times.
const MAX_RETRIES: u32 = 6;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_bounded_whatever_the_size() {
        for total in [1u64 << 62, 20_000_000_000_000, u64::MAX] {
            let parts = plan_parts(total);
            assert!(parts.len() as u64 <= MAX_PARTS, "{total}: {}", parts.len());
            assert_eq!(parts.iter().map(|p| p.1).sum::<u64>(), total);
        }
        assert_eq!(plan_parts(1_000_000_000_000).len(), 1000);
    }

    #[test]
    fn parts_follow_ollamas_sizes() {
        assert_eq!(plan_parts(0), vec![]);
        assert_eq!(plan_parts(10), vec![(0, 10)]);
        // 253 MB: 100 MB parts, the last one the rest.
        assert_eq!(
            plan_parts(253_113_024),
            vec![
                (0, 100_000_000),
                (100_000_000, 100_000_000),
                (200_000_000, 53_113_024)
            ]
        );
        // 4 GB: sixteenths.
        let p = plan_parts(4_000_000_000);
        assert_eq!(p.len(), 16);
        assert!(p.iter().all(|&(_, n)| n == 250_000_000));
        // 32 GB: capped at 1000 MB.
        let p = plan_parts(32_000_000_000);
        assert_eq!(p.len(), 32);
        assert_eq!(p.iter().map(|&(_, n)| n).sum::<u64>(), 32_000_000_000);
    }

    #[test]
    fn errors_read_as_ollamas() {
        let e = RegistryError::NotExist.context("pull model manifest");
        assert_eq!(e.to_string(), "pull model manifest: file does not exist");
        assert!(matches!(e.root(), RegistryError::NotExist));
        assert_eq!(
            RegistryError::Status {
                code: 401,
                body: "nope".into()
            }
            .to_string(),
            "401: nope"
        );
    }
}
