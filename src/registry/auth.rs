//! The identity registry token requests are signed with, as Ollama keeps it: an ed25519 key in
//! `~/.ollama/id_ed25519` (an unencrypted OpenSSH private key, mode 0600) with its public half
//! in `id_ed25519.pub` (`ssh-ed25519 AAAA...`), created on the first `serve`. A key written by
//! Ollama is read here and the other way round.
//!
//! Also the bearer challenge: `WWW-Authenticate: Bearer realm=..,service=..,scope=..` becomes a
//! signed token request (`GET <realm>?nonce=..&scope=..&service=..&ts=..` with
//! `Authorization: <public key>:<signature of "GET,<url>,<base64(hex(sha256("")))>">`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest as _, Sha256};

const KEY_TYPE: &[u8] = b"ssh-ed25519";
const MAGIC: &[u8] = b"openssh-key-v1\0";
const PEM_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const PEM_END: &str = "-----END OPENSSH PRIVATE KEY-----";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {msg}")]
    Format { path: String, msg: String },
}

/// The ed25519 key pair.
#[derive(Clone)]
pub struct KeyPair {
    key: SigningKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.authorized_key().trim_end())
    }
}

/// `~/.ollama/id_ed25519`.
pub fn key_path(home: &Path) -> PathBuf {
    home.join("id_ed25519")
}

/// Reads the key pair, creating it (and the directory) when there is none, as `serve` does at
/// start-up.
pub fn load_or_create(home: &Path) -> Result<KeyPair, KeyError> {
    let path = key_path(home);
    if path.exists() {
        return load(home);
    }
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| KeyError::Io { path, source }
    };
    fs::create_dir_all(home).map_err(io_err(home))?;
    let pair = KeyPair {
        key: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
    };
    write_private(&path, pair.to_openssh().as_bytes()).map_err(io_err(&path))?;
    let public = home.join("id_ed25519.pub");
    fs::write(&public, pair.authorized_key()).map_err(io_err(&public))?;
    tracing::info!("created a new ed25519 key pair in {}", path.display());
    Ok(pair)
}

/// Reads `~/.ollama/id_ed25519`.
pub fn load(home: &Path) -> Result<KeyPair, KeyError> {
    let path = key_path(home);
    let text = fs::read_to_string(&path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    KeyPair::from_openssh(&text).map_err(|msg| KeyError::Format {
        path: path.display().to_string(),
        msg,
    })
}

fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

impl KeyPair {
    /// The public key in SSH wire format (`string "ssh-ed25519", string key`).
    pub fn public_blob(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_string(&mut b, KEY_TYPE);
        put_string(&mut b, self.key.verifying_key().as_bytes());
        b
    }

    /// `ssh-ed25519 AAAA...\n`, the `.pub` file's line (what a registry account registers).
    pub fn authorized_key(&self) -> String {
        format!("ssh-ed25519 {}\n", STANDARD.encode(self.public_blob()))
    }

    /// Ollama's signature header value: `<base64 public key blob>:<base64 signature>`.
    pub fn sign(&self, data: &[u8]) -> String {
        let sig = self.key.sign(data);
        format!(
            "{}:{}",
            STANDARD.encode(self.public_blob()),
            STANDARD.encode(sig.to_bytes())
        )
    }

    /// The unencrypted OpenSSH private key file (PEM, 70-column base64 as ssh-keygen writes).
    fn to_openssh(&self) -> String {
        let public = self.public_blob();
        let mut private = Vec::new();
        let check = rand::random::<u32>().to_be_bytes();
        private.extend_from_slice(&check);
        private.extend_from_slice(&check);
        put_string(&mut private, KEY_TYPE);
        put_string(&mut private, self.key.verifying_key().as_bytes());
        let mut secret = self.key.to_bytes().to_vec();
        secret.extend_from_slice(self.key.verifying_key().as_bytes());
        put_string(&mut private, &secret);
        put_string(&mut private, b""); // comment
        let mut pad = 1u8;
        while private.len() % 8 != 0 {
            private.push(pad);
            pad += 1;
        }
        let mut body = MAGIC.to_vec();
        put_string(&mut body, b"none"); // cipher
        put_string(&mut body, b"none"); // kdf
        put_string(&mut body, b""); // kdf options
        body.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut body, &public);
        put_string(&mut body, &private);
        let b64 = STANDARD.encode(body);
        let mut out = format!("{PEM_BEGIN}\n");
        for chunk in b64.as_bytes().chunks(70) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(PEM_END);
        out.push('\n');
        out
    }

    fn from_openssh(text: &str) -> Result<KeyPair, String> {
        let start = text.find(PEM_BEGIN).ok_or("not an OpenSSH private key")? + PEM_BEGIN.len();
        let end = text[start..]
            .find(PEM_END)
            .ok_or("unterminated OpenSSH private key")?
            + start;
        let b64: String = text[start..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let body = STANDARD
            .decode(b64)
            .map_err(|e| format!("bad base64: {e}"))?;
        let mut r = Reader(&body);
        if r.take(MAGIC.len())? != MAGIC {
            return Err("not an openssh-key-v1 key".into());
        }
        let cipher = r.string()?;
        let kdf = r.string()?;
        if cipher != b"none" || kdf != b"none" {
            return Err("passphrase-protected keys are not supported".into());
        }
        r.string()?; // kdf options
        if r.u32()? != 1 {
            return Err("expected exactly one key".into());
        }
        r.string()?; // public key, repeated in the private section
        let mut p = Reader(r.string()?);
        if p.u32()? != p.u32()? {
            return Err("corrupt private key (check bytes differ)".into());
        }
        if p.string()? != KEY_TYPE {
            return Err("not an ed25519 key".into());
        }
        let public = p.string()?;
        let secret = p.string()?;
        if secret.len() != 64 || public.len() != 32 || &secret[32..] != public {
            return Err("corrupt ed25519 key".into());
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&secret[..32]);
        Ok(KeyPair {
            key: SigningKey::from_bytes(&seed),
        })
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated key".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// A parsed `WWW-Authenticate: Bearer ...` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: String,
    pub scope: String,
}

impl Challenge {
    /// Parses `Bearer realm="..",service="..",scope=".."`; None for other schemes.
    pub fn parse(header: &str) -> Option<Challenge> {
        let rest = header.trim();
        let rest = rest
            .strip_prefix("Bearer ")
            .or_else(|| rest.strip_prefix("bearer "))?;
        let mut c = Challenge {
            realm: String::new(),
            service: String::new(),
            scope: String::new(),
        };
        let mut s = rest.trim_start();
        while !s.is_empty() {
            let eq = s.find('=')?;
            let key = s[..eq].trim().to_ascii_lowercase();
            s = &s[eq + 1..];
            let value;
            if let Some(q) = s.strip_prefix('"') {
                let close = q.find('"')?;
                value = q[..close].to_string();
                s = &q[close + 1..];
            } else {
                let end = s.find(',').unwrap_or(s.len());
                value = s[..end].trim().to_string();
                s = &s[end..];
            }
            s = s.trim_start().trim_start_matches(',').trim_start();
            match key.as_str() {
                "realm" => c.realm = value,
                "service" => c.service = value,
                "scope" => c.scope = value,
                _ => {}
            }
        }
        (!c.realm.is_empty()).then_some(c)
    }

    /// The token request URL: the realm with `nonce`, `scope` (one per space-separated scope),
    /// `service` and `ts` added, keys sorted as Go's `url.Values.Encode` writes them.
    pub fn token_url(&self, now_unix: u64, nonce: &str) -> Result<reqwest::Url, String> {
        let mut url =
            reqwest::Url::parse(&self.realm).map_err(|e| format!("invalid realm: {e}"))?;
        let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        pairs.push(("service".into(), self.service.clone()));
        for s in self.scope.split(' ').filter(|s| !s.is_empty()) {
            pairs.push(("scope".into(), s.to_string()));
        }
        pairs.push(("ts".into(), now_unix.to_string()));
        pairs.push(("nonce".into(), nonce.to_string()));
        pairs.sort_by(|a, b| a.0.cmp(&b.0)); // stable: a key's values keep their order
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        url.set_query(Some(&query));
        Ok(url)
    }
}

/// 16 random bytes, base64url without padding (Ollama's `auth.NewNonce`).
pub fn nonce() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// What is signed for a token request: `GET,<url>,<base64 of the hex sha256 of an empty body>`.
pub fn token_request_data(url: &str) -> Vec<u8> {
    let empty = hex::encode(Sha256::digest(b""));
    format!("GET,{url},{}", STANDARD.encode(empty)).into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    #[test]
    fn a_created_key_reads_back_and_signs_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join(".ollama");
        let a = load_or_create(&home).unwrap();
        let b = load_or_create(&home).unwrap();
        assert_eq!(
            a.public_blob(),
            b.public_blob(),
            "the second call reads the first key"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(key_path(&home)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let pub_line = fs::read_to_string(home.join("id_ed25519.pub")).unwrap();
        assert!(
            pub_line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"),
            "{pub_line}"
        );

        let header = a.sign(b"hello");
        let (key_b64, sig_b64) = header.split_once(':').unwrap();
        let blob = STANDARD.decode(key_b64).unwrap();
        assert_eq!(&blob[..15], b"\0\0\0\x0bssh-ed25519");
        let vk = VerifyingKey::from_bytes(blob[19..51].try_into().unwrap()).unwrap();
        let sig = Signature::from_slice(&STANDARD.decode(sig_b64).unwrap()).unwrap();
        vk.verify(b"hello", &sig).unwrap();
        assert!(vk.verify(b"other", &sig).is_err());
    }

    /// ssh-keygen (OpenSSH itself) reads the key we write and derives the same public key.
    #[test]
    fn ssh_keygen_reads_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let pair = load_or_create(dir.path()).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(key_path(dir.path()))
            .output()
            .expect("ssh-keygen (openssh-client) must be installed for this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let derived = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            derived.split_whitespace().take(2).collect::<Vec<_>>(),
            pair.authorized_key().split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn challenges_parse_and_token_urls_are_go_shaped() {
        let c = Challenge::parse(r#"Bearer realm="https://reg.example/token",service="reg.example",scope="repository:ns/m:pull,push""#).unwrap();
        assert_eq!(c.realm, "https://reg.example/token");
        assert_eq!(c.service, "reg.example");
        assert_eq!(c.scope, "repository:ns/m:pull,push");
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        let u = c.token_url(1700000000, "abc").unwrap();
        assert_eq!(
            u.as_str(),
            "https://reg.example/token?nonce=abc&scope=repository%3Ans%2Fm%3Apull%2Cpush&service=reg.example&ts=1700000000"
        );
        let data = token_request_data(u.as_str());
        assert!(String::from_utf8(data).unwrap().ends_with(
            ",ZTNiMGM0NDI5OGZjMWMxNDlhZmJmNGM4OTk2ZmI5MjQyN2FlNDFlNDY0OWI5MzRjYTQ5NTk5MWI3ODUyYjg1NQ=="
        ));
    }
}
