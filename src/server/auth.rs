//! API keys with scopes (`ROLLAMA_API_KEYS`, `ROLLAMA_API_KEYS_FILE`). A key is `KEY` (every
//! scope) or `SCOPE:KEY` with scope `inference` or `admin`; keys hold no `:`. Only their
//! SHA-256 is kept, and a presented key is hashed and compared with every stored hash in
//! constant time, so neither timing nor a log line gives a key away.

use std::path::Path;

use sha2::{Digest as _, Sha256};

/// What a key may do. `Admin` includes `Inference`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Inference,
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Inference => "inference",
            Scope::Admin => "admin",
        }
    }
}

/// The configured keys; empty means the server is open (Ollama's behaviour).
#[derive(Debug, Default)]
pub struct Keys(Vec<([u8; 32], Scope)>);

impl Keys {
    /// The keys of `ROLLAMA_API_KEYS` (comma-separated) and of the file (one a line; blank
    /// lines and `#` comments skipped).
    pub fn load(list: &str, file: Option<&Path>) -> Result<Keys, String> {
        let mut keys = Keys::default();
        for entry in list.split(',') {
            keys.add(entry, "ROLLAMA_API_KEYS")?;
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("read ROLLAMA_API_KEYS_FILE {}: {e}", path.display()))?;
            for line in text.lines() {
                if !line.trim_start().starts_with('#') {
                    keys.add(line, &path.display().to_string())?;
                }
            }
        }
        Ok(keys)
    }

    fn add(&mut self, entry: &str, source: &str) -> Result<(), String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Ok(());
        }
        let (scope, key) = match entry.split_once(':') {
            None => (Scope::Admin, entry),
            Some(("inference", k)) => (Scope::Inference, k),
            Some(("admin", k)) => (Scope::Admin, k),
            Some((s, _)) => {
                return Err(format!(
                    "{source}: unknown API key scope {s:?} (inference or admin; keys hold no ':')"
                ));
            }
        };
        if key.is_empty() || key.contains(':') {
            return Err(format!("{source}: an API key is empty or holds ':'"));
        }
        self.0.push((Sha256::digest(key.as_bytes()).into(), scope));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The widest scope `presented` has, if it is a key; every stored key is compared.
    pub fn scope_of(&self, presented: &str) -> Option<Scope> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut best = None;
        for (stored, scope) in &self.0 {
            let diff = stored
                .iter()
                .zip(hash.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                best = best.max(Some(*scope));
            }
        }
        best
    }
}

/// The scope a request needs: admin for what changes the store, inference for the rest;
/// `None` for the root (`GET /`, `HEAD /`: health checks).
pub fn needed(path: &str) -> Option<Scope> {
    const ADMIN: [&str; 5] = [
        "/api/create",
        "/api/delete",
        "/api/copy",
        "/api/pull",
        "/api/push",
    ];
    if path == "/" {
        None
    } else if ADMIN.contains(&path) || path.starts_with("/api/blobs/") {
        Some(Scope::Admin)
    } else {
        Some(Scope::Inference)
    }
}

/// The key a request carries: `Authorization: Bearer K` or Anthropic's `x-api-key: K`.
pub fn presented(headers: &axum::http::HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "# ops\ninference:reader\n\n  admin:ops  \n").unwrap();
        let k = Keys::load("root, inference:app", Some(&file)).unwrap();
        assert_eq!(k.len(), 4);
        assert_eq!(k.scope_of("root"), Some(Scope::Admin));
        assert_eq!(k.scope_of("app"), Some(Scope::Inference));
        assert_eq!(k.scope_of("reader"), Some(Scope::Inference));
        assert_eq!(k.scope_of("ops"), Some(Scope::Admin));
        assert_eq!(k.scope_of("nope"), None);
        assert_eq!(k.scope_of(""), None);
        assert!(Keys::load("", None).unwrap().is_empty());
        assert!(
            Keys::load("reader:x", None)
                .unwrap_err()
                .contains("unknown API key scope")
        );
        assert!(Keys::load("admin:", None).is_err());
        assert!(Keys::load("k", Some(&dir.path().join("missing"))).is_err());
    }

    #[test]
    fn routes_need_their_scope() {
        assert_eq!(needed("/"), None);
        for p in [
            "/api/generate",
            "/api/chat",
            "/v1/chat/completions",
            "/api/tags",
            "/api/ps",
        ] {
            assert_eq!(needed(p), Some(Scope::Inference), "{p}");
        }
        for p in [
            "/api/create",
            "/api/pull",
            "/api/blobs/sha256:ab",
            "/api/delete",
        ] {
            assert_eq!(needed(p), Some(Scope::Admin), "{p}");
        }
    }
}
