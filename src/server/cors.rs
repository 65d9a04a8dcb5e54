//! Browser safety, as Ollama (`server/routes.go`, gin-contrib/cors): a CORS policy over
//! Ollama's default origins plus `OLLAMA_ORIGINS`, and the Host-header check that stops a
//! DNS-rebinding page from reaching a server bound to loopback. Both run before any route
//! (also for 404s): a cross-site request from an origin that is not allowed is a 403 with an
//! empty body before its handler could act, so a `text/plain` POST (which a browser sends
//! without a preflight) from `https://evil.example` changes nothing.

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};

const ALLOW_METHODS: &str = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS";
/// Ollama's list, plus (beyond Ollama, whose list lacks them, so a browser's preflight for the
/// Anthropic API fails there) the headers the Anthropic clients send.
const ALLOW_HEADERS: &str = "Authorization,X-Api-Key,Anthropic-Version,Anthropic-Beta,Anthropic-Dangerous-Direct-Browser-Access,Content-Type,User-Agent,Accept,X-Requested-With,Openai-Beta,X-Stainless-Arch,X-Stainless-Async,X-Stainless-Custom-Poll-Interval,X-Stainless-Helper-Method,X-Stainless-Lang,X-Stainless-Os,X-Stainless-Package-Version,X-Stainless-Poll-Helper,X-Stainless-Retry-Count,X-Stainless-Runtime,X-Stainless-Runtime-Version,X-Stainless-Timeout";
const SCHEMES: [&str; 6] = [
    "http://",
    "https://",
    "chrome-extension://",
    "safari-extension://",
    "moz-extension://",
    "ms-browser-extension://",
];

/// The allowed origins: exact entries (trimmed, lower-cased) and one-`*` wildcards.
#[derive(Debug, Clone)]
pub struct Origins {
    all: bool,
    exact: Vec<String>,
    /// (prefix, suffix) around the `*`.
    wild: Vec<(String, String)>,
}

impl Origins {
    /// `OLLAMA_ORIGINS` (already cleaned of spaces and quotes) first, then Ollama's defaults.
    /// An entry with two `*`, or without `*` and without a known scheme, fails the start as it
    /// does Ollama's.
    pub fn parse(env: &str) -> Result<Origins, String> {
        let mut entries: Vec<String> = if env.is_empty() {
            Vec::new()
        } else {
            env.split(',').map(String::from).collect()
        };
        for h in ["localhost", "127.0.0.1", "0.0.0.0"] {
            for f in ["http://", "https://"] {
                entries.push(format!("{f}{h}"));
                entries.push(format!("{f}{h}:*"));
            }
        }
        for s in ["app", "file", "tauri", "vscode-webview", "vscode-file"] {
            entries.push(format!("{s}://*"));
        }
        let mut o = Origins {
            all: false,
            exact: Vec::new(),
            wild: Vec::new(),
        };
        for e in entries {
            if e == "*" {
                o.all = true;
                continue;
            }
            match e.matches('*').count() {
                0 => {
                    if !SCHEMES.iter().any(|s| e.starts_with(s)) {
                        return Err(
                            "bad origin: origins must contain '*' or include http://,https://,chrome-extension://,safari-extension://,moz-extension://,ms-browser-extension://".into(),
                        );
                    }
                    o.exact.push(e.trim().to_lowercase());
                }
                1 => {
                    let (pre, suf) = e.split_once('*').unwrap_or_default();
                    o.wild.push((pre.to_string(), suf.to_string()));
                }
                _ => return Err("only one * is allowed".into()),
            }
        }
        Ok(o)
    }

    fn allows(&self, origin: &str) -> bool {
        self.all
            || self.exact.iter().any(|e| e == origin)
            || self.wild.iter().any(|(p, s)| {
                origin.len() >= p.len() + s.len() && origin.starts_with(p) && origin.ends_with(s)
            })
    }
}

/// The Host-header check, on only when the server listens on a loopback address.
#[derive(Debug, Clone)]
pub struct HostCheck {
    pub on: bool,
    pub hostname: String,
    pub local: Vec<IpAddr>,
}

/// What the policy says of a request: let it through (with headers to add to its response),
/// or answer it now.
pub enum Verdict {
    Pass(Vec<(header::HeaderName, HeaderValue)>),
    Answer(Response<Body>),
}

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

/// CORS, then the Host check, in Ollama's order.
pub fn check(origins: &Origins, host: &HostCheck, req: &Request<Body>) -> Verdict {
    let headers = req.headers();
    let host_header = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut add = Vec::new();
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin != format!("http://{host_header}")
        && origin != format!("https://{host_header}")
    {
        if !origins.allows(origin) {
            return Verdict::Answer(status(StatusCode::FORBIDDEN));
        }
        let value = if origins.all {
            HeaderValue::from_static("*")
        } else {
            HeaderValue::from_str(origin).unwrap_or(HeaderValue::from_static("null"))
        };
        if req.method() == Method::OPTIONS {
            let mut r = status(StatusCode::NO_CONTENT);
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("43200"),
            );
            for v in [
                "Origin",
                "Access-Control-Request-Method",
                "Access-Control-Request-Headers",
            ] {
                h.append(header::VARY, HeaderValue::from_static(v));
            }
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            return Verdict::Answer(r);
        }
        add.push((header::VARY, HeaderValue::from_static("Origin")));
        add.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, value));
    }
    if !host.on {
        return Verdict::Pass(add);
    }
    match host_allowed(host, host_header) {
        HostKind::Ip => Verdict::Pass(add),
        HostKind::Name if req.method() == Method::OPTIONS => {
            Verdict::Answer(status(StatusCode::NO_CONTENT))
        }
        HostKind::Name => Verdict::Pass(add),
        HostKind::Refused => Verdict::Answer(status(StatusCode::FORBIDDEN)),
    }
}

/// Adds the CORS headers a passed request earned to its response.
pub fn decorate(headers: &mut HeaderMap, add: Vec<(header::HeaderName, HeaderValue)>) {
    for (k, v) in add {
        headers.append(k, v);
    }
}

enum HostKind {
    Ip,
    Name,
    Refused,
}

/// Ollama's `allowedHost`: local IPs and local names pass.
fn host_allowed(check: &HostCheck, host_header: &str) -> HostKind {
    let host = split_host(host_header);
    if let Ok(ip) = host.parse::<IpAddr>() {
        let private = match ip {
            IpAddr::V4(v4) => v4.is_private(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
        if ip.is_loopback() || ip.is_unspecified() || private || check.local.contains(&ip) {
            return HostKind::Ip;
        }
        return HostKind::Refused;
    }
    let name = host.to_lowercase();
    if name.is_empty()
        || name == "localhost"
        || name == check.hostname.to_lowercase()
        || [".localhost", ".local", ".internal"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        return HostKind::Name;
    }
    HostKind::Refused
}

/// Go's `net.SplitHostPort`'s host, or the whole value when it does not split (so a bare
/// `[::1]` stays bracketed and a bare `::1` is an address).
fn split_host(v: &str) -> &str {
    if let Some(rest) = v.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((h, _)) => h,
            None => v,
        };
    }
    match v.matches(':').count() {
        1 => v.split_once(':').map_or(v, |(h, _)| h),
        _ => v,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn host_check() -> HostCheck {
        HostCheck {
            on: true,
            hostname: "MyBox".into(),
            local: vec!["10.1.2.3".parse().unwrap(), "8.8.4.4".parse().unwrap()],
        }
    }

    #[test]
    fn ollamas_default_origins_and_wildcards() {
        let o = Origins::parse("").unwrap();
        for ok in [
            "http://localhost",
            "https://127.0.0.1:8080",
            "http://0.0.0.0:3000",
            "app://anything",
            "vscode-webview://x",
            "tauri://localhost",
        ] {
            assert!(o.allows(ok), "{ok}");
        }
        for no in [
            "https://evil.example",
            "http://localhost.evil.example",
            "null",
        ] {
            assert!(!o.allows(no), "{no}");
        }
        let o = Origins::parse("https://*.example.com,chrome-extension://abc").unwrap();
        assert!(o.allows("https://app.example.com"));
        assert!(o.allows("chrome-extension://abc"));
        assert!(!o.allows("https://example.org"));
        assert!(Origins::parse("*").unwrap().allows("https://evil.example"));
        assert_eq!(
            Origins::parse("example.com").unwrap_err(),
            "bad origin: origins must contain '*' or include http://,https://,chrome-extension://,safari-extension://,moz-extension://,ms-browser-extension://"
        );
        assert!(
            Origins::parse("a, http://b").is_err(),
            "entries are not trimmed"
        );
        assert_eq!(
            Origins::parse("http://*.*").unwrap_err(),
            "only one * is allowed"
        );
    }

    #[test]
    fn the_host_check_follows_allowed_host() {
        let c = host_check();
        for ok in [
            "localhost:11434",
            "LOCALHOST",
            "a.localhost",
            "box.local",
            "host.docker.internal",
            "127.0.0.1",
            "[::1]:11434",
            "::1",
            "192.168.1.5",
            "0.0.0.0",
            "10.1.2.3:11434",
            "8.8.4.4",
            "mybox",
            "",
        ] {
            assert!(!matches!(host_allowed(&c, ok), HostKind::Refused), "{ok}");
        }
        for no in [
            "example.com",
            "localhost.",
            "169.254.1.1",
            "100.64.0.1",
            "[::1]",
            "8.8.8.8",
        ] {
            assert!(matches!(host_allowed(&c, no), HostKind::Refused), "{no}");
        }
    }
}
