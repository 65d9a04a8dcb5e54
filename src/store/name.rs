//! Model names: `[scheme://][host/][namespace/]model[:tag]`, parsed, validated, defaulted and
//! displayed exactly as Ollama does (`types/model/name.go`). A leaf module: pure string rules,
//! no filesystem (case-insensitive resolution against the store lives in `store::mod`).

use std::fmt;
use std::path::PathBuf;

pub const DEFAULT_HOST: &str = "registry.ollama.ai";
pub const DEFAULT_NAMESPACE: &str = "library";
pub const DEFAULT_TAG: &str = "latest";

/// Placeholder for a part that was promised by a separator but left empty ("a/:b"); it can
/// never validate, so such names are rejected.
const MISSING: &str = "!MISSING!";

/// A fully qualified model name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    /// `http` or `https` when the name carried a scheme, for registry access.
    pub scheme: Option<String>,
    pub host: String,
    pub namespace: String,
    pub model: String,
    pub tag: String,
}

/// The error every invalid name produces; its text is the API's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid model name")]
pub struct InvalidName;

impl Name {
    /// Parses and fills Ollama's defaults, then validates every part.
    pub fn parse(s: &str) -> Result<Name, InvalidName> {
        let n = Name::parse_bare(s);
        let n = Name {
            scheme: n.scheme,
            host: or_default(n.host, DEFAULT_HOST),
            namespace: or_default(n.namespace, DEFAULT_NAMESPACE),
            model: n.model,
            tag: or_default(n.tag, DEFAULT_TAG),
        };
        if n.is_valid() {
            Ok(n)
        } else {
            Err(InvalidName)
        }
    }

    /// Splits without defaults: empty parts stay empty.
    fn parse_bare(s: &str) -> Name {
        let mut n = Name {
            scheme: None,
            host: String::new(),
            namespace: String::new(),
            model: String::new(),
            tag: String::new(),
        };
        let mut s = s.to_string();
        // "/" is not a tag character, so a ':' after the last '/' starts the tag; a ':' before it
        // belongs to a host:port.
        if s.rfind(':').map(|i| i as isize).unwrap_or(-1)
            > s.rfind('/').map(|i| i as isize).unwrap_or(-1)
        {
            let (before, after) = cut_promised(&s, ':');
            n.tag = after;
            s = before;
        }
        let (before, after) = match s.rfind('/') {
            Some(_) => cut_promised(&s, '/'),
            None => {
                n.model = s;
                return n;
            }
        };
        n.model = after;
        let s = before;
        let (before, after) = match s.rfind('/') {
            Some(_) => cut_promised(&s, '/'),
            None => {
                n.namespace = s;
                return n;
            }
        };
        n.namespace = after;
        match before.split_once("://") {
            Some((scheme, host)) => {
                n.scheme = Some(scheme.to_string());
                n.host = host.to_string();
            }
            None => n.host = before,
        }
        n
    }

    fn is_valid(&self) -> bool {
        valid_part(Kind::Host, &self.host)
            && valid_part(Kind::Namespace, &self.namespace)
            && valid_part(Kind::Model, &self.model)
            && valid_part(Kind::Tag, &self.tag)
            && self
                .scheme
                .as_deref()
                .is_none_or(|s| s == "http" || s == "https")
    }

    /// The shortest unambiguous form: `llama3.2:latest`, `user/m:tag`, `host/ns/m:tag`.
    pub fn display_shortest(&self) -> String {
        let mut s = String::new();
        if !self.host.eq_ignore_ascii_case(DEFAULT_HOST) {
            s.push_str(&self.host);
            s.push('/');
            s.push_str(&self.namespace);
            s.push('/');
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            s.push_str(&self.namespace);
            s.push('/');
        }
        s.push_str(&self.model);
        s.push(':');
        s.push_str(&self.tag);
        s
    }

    /// `host/namespace/model/tag`, the manifest's path under `manifests/`.
    pub fn filepath(&self) -> PathBuf {
        [&self.host, &self.namespace, &self.model, &self.tag]
            .iter()
            .collect()
    }

    /// The four path parts, in order.
    pub fn parts(&self) -> [&str; 4] {
        [&self.host, &self.namespace, &self.model, &self.tag]
    }

    /// Builds a name from the four parts of a manifest path (no validation of defaults).
    pub fn from_parts(parts: [String; 4]) -> Result<Name, InvalidName> {
        let [host, namespace, model, tag] = parts;
        let n = Name {
            scheme: None,
            host,
            namespace,
            model,
            tag,
        };
        if n.is_valid() {
            Ok(n)
        } else {
            Err(InvalidName)
        }
    }

    /// Case-insensitive equality of all four parts.
    pub fn eq_fold(&self, other: &Name) -> bool {
        self.parts()
            .iter()
            .zip(other.parts())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl fmt::Display for Name {
    /// The full form, `host/namespace/model:tag`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}:{}",
            self.host, self.namespace, self.model, self.tag
        )
    }
}

fn or_default(s: String, default: &str) -> String {
    if s.is_empty() { default.to_string() } else { s }
}

/// Cuts at the last `sep`; empty sides become the never-valid placeholder.
fn cut_promised(s: &str, sep: char) -> (String, String) {
    match s.rsplit_once(sep) {
        Some((before, after)) => (
            if before.is_empty() { MISSING } else { before }.to_string(),
            if after.is_empty() { MISSING } else { after }.to_string(),
        ),
        None => (s.to_string(), String::new()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    Namespace,
    Model,
    Tag,
}

fn valid_part(kind: Kind, s: &str) -> bool {
    // Ollama allows 350 for a host, but the host is a directory name under `manifests/`, and
    // no file system takes a name longer than 255 bytes.
    let max = if kind == Kind::Host { 255 } else { 80 };
    if s.is_empty() || s.len() > max {
        return false;
    }
    for (i, b) in s.bytes().enumerate() {
        let alnum = b.is_ascii_alphanumeric() || b == b'_';
        if i == 0 {
            if !alnum {
                return false;
            }
            continue;
        }
        match b {
            b'-' => {}
            b'.' if kind == Kind::Namespace => return false,
            b'.' => {}
            b':' if kind != Kind::Host => return false,
            b':' => {}
            _ if alnum => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Name::parse(s).unwrap().to_string()
    }

    #[test]
    fn defaults() {
        assert_eq!(full("llama3"), "registry.ollama.ai/library/llama3:latest");
        assert_eq!(full("llama3:8b"), "registry.ollama.ai/library/llama3:8b");
        assert_eq!(full("me/m"), "registry.ollama.ai/me/m:latest");
        assert_eq!(full("example.com/me/m:t"), "example.com/me/m:t");
        assert_eq!(full("127.0.0.1:5000/ns/m:tag"), "127.0.0.1:5000/ns/m:tag");
        assert_eq!(full("127.0.0.1:5000/ns/m"), "127.0.0.1:5000/ns/m:latest");
        assert_eq!(full("hf.co/user/repo:Q4_K_M"), "hf.co/user/repo:Q4_K_M");
        let n = Name::parse("http://127.0.0.1:5000/ns/m").unwrap();
        assert_eq!(n.scheme.as_deref(), Some("http"));
        assert_eq!(n.host, "127.0.0.1:5000");
    }

    #[test]
    fn invalid() {
        for s in [
            "",
            ":tag",
            "model:",
            "/model",
            "ns/",
            "a/b/c/d",
            "-model",
            "mo del",
            "m@x",
            "ns.dot/m",
            "m:ta:g/",
            "ftp://h/n/m",
            &"x".repeat(81),
            &format!("{}/ns/m", "h".repeat(256)),
        ] {
            assert!(Name::parse(s).is_err(), "{s:?} should be invalid");
        }
        assert_eq!(InvalidName.to_string(), "invalid model name");
    }

    #[test]
    fn shortest() {
        let d = |s: &str| Name::parse(s).unwrap().display_shortest();
        assert_eq!(d("llama3.2"), "llama3.2:latest");
        assert_eq!(d("user/m:tag"), "user/m:tag");
        assert_eq!(d("host.io/library/m"), "host.io/library/m:latest");
        assert_eq!(d("REGISTRY.ollama.ai/Library/m:x"), "m:x");
    }

    #[test]
    fn filepath() {
        let n = Name::parse("me/m:t").unwrap();
        assert_eq!(n.filepath(), PathBuf::from("registry.ollama.ai/me/m/t"));
    }
}
