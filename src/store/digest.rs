//! Content digests (`sha256:<64 hex>`), as they appear in manifests and API paths, and as blob
//! file names (`sha256-<hex>`). A leaf module.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A sha256 digest; always 64 lower-case hex characters inside.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest format")]
pub struct InvalidDigest;

impl Digest {
    /// Accepts `sha256:<hex>` or `sha256-<hex>` (Ollama's `^sha256[:-][0-9a-fA-F]{64}$`).
    pub fn parse(s: &str) -> Result<Digest, InvalidDigest> {
        let hex = s
            .strip_prefix("sha256:")
            .or_else(|| s.strip_prefix("sha256-"))
            .ok_or(InvalidDigest)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidDigest);
        }
        Ok(Digest(hex.to_ascii_lowercase()))
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(data))
    }

    pub fn from_hasher(h: Sha256) -> Digest {
        Digest(hex::encode(h.finalize()))
    }

    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The blob's file name: `sha256-<hex>`.
    pub fn file_name(&self) -> String {
        format!("sha256-{}", self.0)
    }

    /// The first 12 hex characters, as progress lines and `list` show them.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let hex = "a".repeat(64);
        assert_eq!(Digest::parse(&format!("sha256:{hex}")).unwrap().hex(), hex);
        assert_eq!(Digest::parse(&format!("sha256-{hex}")).unwrap().hex(), hex);
        let upper = "A".repeat(64);
        assert_eq!(
            Digest::parse(&format!("sha256:{upper}")).unwrap().hex(),
            hex
        );
        assert!(Digest::parse(&format!("sha512:{hex}")).is_err());
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "g".repeat(64))).is_err());
    }

    #[test]
    fn of_empty() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
