//! Every `OLLAMA_*` (and rollama's own `ROLLAMA_*`) environment variable rollama understands: its name, meaning, default and
//! typed parse, in one place. Nothing else in the crate reads the environment; the rest of the
//! program receives a [`Config`] value. Values are read the way Ollama reads them: surrounding
//! whitespace and quotes are stripped, unparsable numbers fall back to the default with a
//! warning, and an unparsable non-empty boolean counts as true.

use std::path::PathBuf;
use std::time::Duration;

use crate::duration::{KeepAlive, parse_go_duration};
use crate::engine::KvType;

/// The default port of the server, as in Ollama.
pub const DEFAULT_PORT: u16 = 11434;

/// Documentation of every variable, in the order `rollama serve --help` lists them.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "OLLAMA_HOST",
        "IP address and port of the server, also the server clients talk to (default 127.0.0.1:11434)",
    ),
    (
        "OLLAMA_MODELS",
        "The path to the models directory (default ~/.ollama/models)",
    ),
    (
        "OLLAMA_KEEP_ALIVE",
        "The duration that models stay loaded in memory (default \"5m\")",
    ),
    (
        "OLLAMA_CONTEXT_LENGTH",
        "Context length to use unless otherwise specified (default 0: auto, 4096)",
    ),
    (
        "OLLAMA_NUM_PARALLEL",
        "Maximum number of parallel requests per model (default 4)",
    ),
    (
        "OLLAMA_MAX_LOADED_MODELS",
        "Maximum number of loaded models (default 3)",
    ),
    (
        "OLLAMA_MAX_QUEUE",
        "Maximum number of queued requests (default 512)",
    ),
    (
        "OLLAMA_DEBUG",
        "Show additional debug information (e.g. OLLAMA_DEBUG=1)",
    ),
    (
        "OLLAMA_NOPRUNE",
        "Do not prune unused or partial blobs on startup",
    ),
    ("OLLAMA_NOHISTORY", "Do not preserve readline history"),
    (
        "OLLAMA_FLASH_ATTENTION",
        "Enabled flash attention (1 on, 0 off, unset auto)",
    ),
    (
        "OLLAMA_KV_CACHE_TYPE",
        "Quantization type for the K/V cache (default: f16; q8_0, q4_0 need flash attention)",
    ),
];

/// The context `OLLAMA_CONTEXT_LENGTH=0` (auto, the default) means here: Ollama's tier for
/// machines without 23 GiB of accelerator memory.
pub const AUTO_CONTEXT_LENGTH: u32 = 4096;

/// `OLLAMA_NUM_PARALLEL` when unset or 0.
pub const DEFAULT_PARALLEL: u64 = 4;

/// Where the server listens and where clients connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub scheme: String,
    /// Host part without brackets; empty means "all interfaces" for the server and loopback for
    /// clients (Ollama's `:port` form).
    pub host: String,
    pub port: u16,
    /// Optional path prefix (`http://host/ollama` behind a proxy).
    pub path: String,
}

impl Host {
    /// Whether the server listens on a loopback address only (the Host check is on then).
    pub fn binds_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The address `serve` binds to.
    pub fn bind_addr(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        join_host_port(host, self.port)
    }

    /// The base URL clients use, without a trailing slash.
    pub fn base_url(&self) -> String {
        let host = match self.host.as_str() {
            "" | "0.0.0.0" => "127.0.0.1",
            "::" => "::1",
            h => h,
        };
        let mut url = format!("{}://{}", self.scheme, join_host_port(host, self.port));
        if !self.path.is_empty() {
            url.push('/');
            url.push_str(self.path.trim_end_matches('/'));
        }
        url
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Logging verbosity from `OLLAMA_DEBUG`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Debug,
    Trace,
}

/// The resolved configuration of one process.
#[derive(Clone, Debug)]
pub struct Config {
    pub host: Host,
    pub models: PathBuf,
    pub keep_alive: KeepAlive,
    pub context_length: u32,
    pub num_parallel: u32,
    pub max_loaded_models: usize,
    pub max_queue: usize,
    pub log_level: LogLevel,
    pub noprune: bool,
    pub nohistory: bool,
    pub flash_attention: Option<bool>,
    /// `OLLAMA_KV_CACHE_TYPE`; a quantized type with flash attention turned off falls back to
    /// f16 with a warning, as Ollama did before it left the check to llama.cpp.
    pub kv_cache_type: KvType,
    /// `NO_COLOR` is set: no ANSI colours anywhere.
    pub no_color: bool,
    /// `ROLLAMA_ENGINE_IN_PROCESS`: run models on threads of the server instead of in runner
    /// processes (for measuring what the process boundary costs; a crash then takes the server).
    pub engine_in_process: bool,
    /// `ROLLAMA_LLAMA_LM_HEAD`: compute logits with llama.cpp's output layer instead of
    /// rollama's own (Q8_0 output matrices on AVX-512 VNNI CPUs; a check and an escape hatch).
    pub llama_lm_head: bool,
    /// `ROLLAMA_HEADER_TIMEOUT` (10 s): how long a client may take to send a request's headers
    /// once it has begun; `None` (0) waits for ever.
    pub header_timeout: Option<Duration>,
    /// `ROLLAMA_IDLE_TIMEOUT` (75 s): how long a kept-alive connection may sit with no request
    /// before it is closed; `None` (0) keeps it for ever.
    pub idle_timeout: Option<Duration>,
    /// `ROLLAMA_SHUTDOWN_GRACE` (10 s): on SIGTERM/SIGINT, how long requests in flight may run
    /// on before they are ended with an error.
    pub shutdown_grace: Duration,
    /// `OLLAMA_ORIGINS`: extra allowed CORS origins (comma list, `*` wildcards).
    pub origins: String,
    /// `ROLLAMA_API_KEYS`: `KEY` or `SCOPE:KEY`, comma-separated; none means open.
    pub api_keys: String,
    /// `ROLLAMA_API_KEYS_FILE`: more keys, one a line, re-read on SIGHUP.
    pub api_keys_file: Option<PathBuf>,
    /// `ROLLAMA_TLS_CERT` and `ROLLAMA_TLS_KEY`: PEM files; with both, `serve` speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `OLLAMA_API_KEY`: the key the CLI sends (`Authorization: Bearer`).
    pub api_key: Option<String>,
    /// `~/.ollama`: history file and keys live here.
    pub home: PathBuf,
    /// Warnings produced while reading the variables (logged by the caller).
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Config {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Config {
        let var = |k: &str| clean(lookup(k).unwrap_or_default());
        let mut warnings = Vec::new();
        let home_dir = dirs::home_dir().unwrap_or_else(|| PathBuf::from("."));
        let home = home_dir.join(".ollama");

        let models = match var("OLLAMA_MODELS") {
            s if s.is_empty() => home.join("models"),
            s => PathBuf::from(s),
        };

        let keep_alive = match var("OLLAMA_KEEP_ALIVE") {
            s if s.is_empty() => KeepAlive::Duration(Duration::from_secs(300)),
            s => match parse_keep_alive_env(&s) {
                Some(k) => k,
                None => {
                    warnings.push(format!("invalid OLLAMA_KEEP_ALIVE {s:?}, using 5m"));
                    KeepAlive::Duration(Duration::from_secs(300))
                }
            },
        };

        let mut uint = |name: &str, default: u64| -> u64 {
            let s = var(name);
            if s.is_empty() {
                return default;
            }
            match s.parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    warnings.push(format!("invalid {name} {s:?}, using default {default}"));
                    default
                }
            }
        };
        // 0 is Ollama's "auto": tiers by accelerator memory, 4096 without one (rollama does not
        // measure GPU memory, so 4096 everywhere).
        let context_length = match uint("OLLAMA_CONTEXT_LENGTH", 0) {
            0 => AUTO_CONTEXT_LENGTH,
            n => n.clamp(4, u32::MAX as u64) as u32,
        };
        // rollama's default is 4 where Ollama's is 1: four slots serve 2.2x the tokens of one
        // at four clients and cost a single client nothing (README, Benchmarks); 0 = default.
        let num_parallel = match uint("OLLAMA_NUM_PARALLEL", DEFAULT_PARALLEL) {
            0 => DEFAULT_PARALLEL,
            n => n.min(64),
        } as u32;
        let max_loaded = match uint("OLLAMA_MAX_LOADED_MODELS", 0) {
            0 => 3,
            n => n as usize,
        };
        let max_queue = match uint("OLLAMA_MAX_QUEUE", 512) {
            0 => 512,
            n => n as usize,
        };
        let log_level = match var("OLLAMA_DEBUG").to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "f" => LogLevel::Info,
            "2" => LogLevel::Trace,
            _ => LogLevel::Debug,
        };

        let mut timeout = |name: &str, default: u64| -> Option<Duration> {
            let s = var(name);
            let parsed = if s.is_empty() {
                Some(Duration::from_secs(default))
            } else {
                parse_duration_env(&s)
            };
            let d = parsed.unwrap_or_else(|| {
                warnings.push(format!("invalid {name} {s:?}, using {default}s"));
                Duration::from_secs(default)
            });
            (!d.is_zero()).then_some(d)
        };
        let header_timeout = timeout("ROLLAMA_HEADER_TIMEOUT", 10);
        let idle_timeout = timeout("ROLLAMA_IDLE_TIMEOUT", 75);
        let shutdown_grace = timeout("ROLLAMA_SHUTDOWN_GRACE", 10).unwrap_or_default();

        let flash_attention = match var("OLLAMA_FLASH_ATTENTION") {
            s if s.is_empty() => None,
            s => Some(parse_bool(&s)),
        };
        let kv_cache_type = match var("OLLAMA_KV_CACHE_TYPE") {
            s if s.is_empty() => KvType::F16,
            s => match KvType::parse(&s) {
                Some(t) if t.is_quantized() && flash_attention == Some(false) => {
                    warnings.push(
                        "OLLAMA_FLASH_ATTENTION must be enabled to use a quantized \
                         OLLAMA_KV_CACHE_TYPE, using f16"
                            .into(),
                    );
                    KvType::F16
                }
                Some(t) => t,
                None => {
                    warnings.push(format!(
                        "invalid OLLAMA_KV_CACHE_TYPE {s:?} (use f16, q8_0 or q4_0), using f16"
                    ));
                    KvType::F16
                }
            },
        };
        Config {
            host: parse_host(&var("OLLAMA_HOST"), &mut warnings),
            models,
            keep_alive,
            context_length,
            num_parallel,
            max_loaded_models: max_loaded,
            max_queue,
            log_level,
            noprune: parse_bool(&var("OLLAMA_NOPRUNE")),
            nohistory: parse_bool(&var("OLLAMA_NOHISTORY")),
            flash_attention,
            kv_cache_type,
            no_color: lookup("NO_COLOR").is_some_and(|v| !v.is_empty()),
            engine_in_process: parse_bool(&var("ROLLAMA_ENGINE_IN_PROCESS")),
            llama_lm_head: parse_bool(&var("ROLLAMA_LLAMA_LM_HEAD")),
            header_timeout,
            idle_timeout,
            shutdown_grace,
            origins: var("OLLAMA_ORIGINS"),
            api_keys: var("ROLLAMA_API_KEYS"),
            api_keys_file: Some(var("ROLLAMA_API_KEYS_FILE"))
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            api_key: Some(var("OLLAMA_API_KEY")).filter(|s| !s.is_empty()),
            tls_cert: Some(var("ROLLAMA_TLS_CERT"))
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            tls_key: Some(var("ROLLAMA_TLS_KEY"))
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            home,
            warnings,
        }
    }
}

impl Config {
    /// Every setting in effect, as `NAME=value` (the start-up log line; API keys are counted,
    /// never shown).
    pub fn settings(&self) -> Vec<String> {
        let d = |d: Option<Duration>| d.map_or("0".to_string(), |d| format!("{d:?}"));
        let keys = self
            .api_keys
            .split(',')
            .filter(|k| !k.trim().is_empty())
            .count();
        vec![
            format!("OLLAMA_HOST={}", self.host.base_url()),
            format!("OLLAMA_MODELS={}", self.models.display()),
            format!("OLLAMA_KEEP_ALIVE={:?}", self.keep_alive),
            format!("OLLAMA_CONTEXT_LENGTH={}", self.context_length),
            format!("OLLAMA_NUM_PARALLEL={}", self.num_parallel),
            format!("OLLAMA_MAX_LOADED_MODELS={}", self.max_loaded_models),
            format!("OLLAMA_MAX_QUEUE={}", self.max_queue),
            format!("OLLAMA_DEBUG={:?}", self.log_level),
            format!("OLLAMA_NOPRUNE={}", self.noprune),
            format!("OLLAMA_NOHISTORY={}", self.nohistory),
            format!(
                "OLLAMA_FLASH_ATTENTION={}",
                self.flash_attention
                    .map_or("auto".into(), |b| b.to_string())
            ),
            format!("OLLAMA_KV_CACHE_TYPE={}", self.kv_cache_type.name()),
            format!("OLLAMA_ORIGINS={:?}", self.origins),
            format!("ROLLAMA_API_KEYS=({keys} keys)"),
            format!(
                "ROLLAMA_API_KEYS_FILE={}",
                self.api_keys_file
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string())
            ),
            format!(
                "ROLLAMA_TLS_CERT={}",
                self.tls_cert
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string())
            ),
            format!("ROLLAMA_HEADER_TIMEOUT={}", d(self.header_timeout)),
            format!("ROLLAMA_IDLE_TIMEOUT={}", d(self.idle_timeout)),
            format!("ROLLAMA_SHUTDOWN_GRACE={:?}", self.shutdown_grace),
            format!("ROLLAMA_ENGINE_IN_PROCESS={}", self.engine_in_process),
            format!("ROLLAMA_LLAMA_LM_HEAD={}", self.llama_lm_head),
        ]
    }
}

/// Strips whitespace, then quotes, as Ollama's `envconfig.Var` does.
fn clean(s: String) -> String {
    s.trim().trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// Ollama's boolean rule: empty is false, Go's `ParseBool` values are honoured, anything else
/// non-empty is true.
fn parse_bool(s: &str) -> bool {
    !matches!(s, "" | "0" | "f" | "F" | "false" | "FALSE" | "False")
}

/// `OLLAMA_KEEP_ALIVE` accepts a Go duration or an integer number of seconds.
fn parse_keep_alive_env(s: &str) -> Option<KeepAlive> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(KeepAlive::from_seconds(n as f64));
    }
    parse_go_duration(s).map(KeepAlive::from_signed)
}

/// A Go duration (`10s`, `1m30s`) or a whole number of seconds, not negative.
fn parse_duration_env(s: &str) -> Option<Duration> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    let nanos = u64::try_from(parse_go_duration(s)?).ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Ollama's `envconfig.Host`: `host`, `host:port`, `:port`, `[::1]:port`,
/// `scheme://host[:port][/path]`. A bare host gets port 11434; an explicit `http://` gets 80 and
/// `https://` 443; an invalid port falls back to the default.
pub fn parse_host(s: &str, warnings: &mut Vec<String>) -> Host {
    let s = s.trim();
    let mut default_port: u16 = DEFAULT_PORT;
    let (mut scheme, mut hostport) = match s.split_once("://") {
        Some((scheme, rest)) => {
            match scheme {
                "http" => default_port = 80,
                "https" => default_port = 443,
                _ => {}
            }
            (scheme.to_string(), rest.to_string())
        }
        None => ("http".to_string(), s.to_string()),
    };
    if s == "ollama.com" {
        scheme = "https".to_string();
        hostport = "ollama.com:443".to_string();
    }
    let (hostport, path) = match hostport.split_once('/') {
        Some((hp, path)) => (hp.to_string(), path.to_string()),
        None => (hostport, String::new()),
    };
    let (host, port_text) = match split_host_port(&hostport) {
        Some((h, p)) => (h, p),
        None => {
            let trimmed = hostport.trim_matches(|c| c == '[' || c == ']');
            let host = if hostport.is_empty() {
                "127.0.0.1".to_string()
            } else {
                trimmed.to_string()
            };
            (host, default_port.to_string())
        }
    };
    let port = match port_text.parse::<u16>() {
        Ok(p) => p,
        Err(_) => {
            warnings.push(format!(
                "invalid port {port_text:?}, using default {default_port}"
            ));
            default_port
        }
    };
    Host {
        scheme,
        host,
        port,
        path,
    }
}

/// Go's `net.SplitHostPort`: `host:port`, `[v6]:port` or `:port`; `None` when there is no port.
fn split_host_port(s: &str) -> Option<(String, String)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host.to_string(), port.to_string()));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        // A bare IPv6 address without brackets has no port.
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn host(s: &str) -> Host {
        parse_host(s, &mut Vec::new())
    }

    #[test]
    fn host_forms() {
        let cases = [
            ("", "127.0.0.1:11434", "http://127.0.0.1:11434"),
            ("1.2.3.4", "1.2.3.4:11434", "http://1.2.3.4:11434"),
            (":1234", "0.0.0.0:1234", "http://127.0.0.1:1234"),
            ("1.2.3.4:1234", "1.2.3.4:1234", "http://1.2.3.4:1234"),
            (
                "example.com",
                "example.com:11434",
                "http://example.com:11434",
            ),
            (
                "example.com:1234",
                "example.com:1234",
                "http://example.com:1234",
            ),
            ("http://1.2.3.4", "1.2.3.4:80", "http://1.2.3.4:80"),
            ("https://1.2.3.4", "1.2.3.4:443", "https://1.2.3.4:443"),
            (
                "https://1.2.3.4:1234",
                "1.2.3.4:1234",
                "https://1.2.3.4:1234",
            ),
            ("[::1]", "[::1]:11434", "http://[::1]:11434"),
            ("[::1]:1337", "[::1]:1337", "http://[::1]:1337"),
            ("::1", "[::1]:11434", "http://[::1]:11434"),
            ("0.0.0.0", "0.0.0.0:11434", "http://127.0.0.1:11434"),
            ("1.2.3.4:99999", "1.2.3.4:11434", "http://1.2.3.4:11434"),
            ("ollama.com", "ollama.com:443", "https://ollama.com:443"),
            (
                "http://example.com/ollama",
                "example.com:80",
                "http://example.com:80/ollama",
            ),
        ];
        for (input, bind, url) in cases {
            let h = host(input);
            assert_eq!(h.bind_addr(), bind, "bind of {input:?}");
            assert_eq!(h.base_url(), url, "url of {input:?}");
        }
    }

    #[test]
    fn quotes_and_spaces_are_stripped() {
        let env: HashMap<&str, &str> = [("OLLAMA_HOST", "  \"127.0.0.1:5555\" ")].into();
        let c = Config::from_lookup(|k| env.get(k).map(|s| s.to_string()));
        assert_eq!(c.host.port, 5555);
    }

    #[test]
    fn a_zero_context_length_is_auto() {
        let c = Config::from_lookup(|k| (k == "OLLAMA_CONTEXT_LENGTH").then(|| "0".to_string()));
        assert_eq!(c.context_length, AUTO_CONTEXT_LENGTH);
        let c = Config::from_lookup(|k| (k == "OLLAMA_CONTEXT_LENGTH").then(|| "8192".to_string()));
        assert_eq!(c.context_length, 8192);
    }

    #[test]
    fn defaults() {
        let c = Config::from_lookup(|_| None);
        assert_eq!(c.host.bind_addr(), "127.0.0.1:11434");
        assert!(c.models.ends_with(".ollama/models"));
        assert_eq!(c.keep_alive, KeepAlive::Duration(Duration::from_secs(300)));
        assert_eq!(c.context_length, 4096);
        assert_eq!(c.max_loaded_models, 3);
        assert_eq!(c.max_queue, 512);
        assert_eq!(c.log_level, LogLevel::Info);
        assert!(!c.noprune);
        assert_eq!(c.header_timeout, Some(Duration::from_secs(10)));
        assert_eq!(c.idle_timeout, Some(Duration::from_secs(75)));
    }

    #[test]
    fn connection_timeouts() {
        let c = |h: &str, i: &str| {
            let env: HashMap<&str, &str> =
                [("ROLLAMA_HEADER_TIMEOUT", h), ("ROLLAMA_IDLE_TIMEOUT", i)].into();
            Config::from_lookup(|k| env.get(k).map(|s| s.to_string()))
        };
        let got = c("1500ms", "2m");
        assert_eq!(got.header_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(got.idle_timeout, Some(Duration::from_secs(120)));
        let got = c("3", "0");
        assert_eq!(got.header_timeout, Some(Duration::from_secs(3)));
        assert_eq!(got.idle_timeout, None, "0 turns the timeout off");
        let got = c("-5s", "soon");
        assert_eq!(got.header_timeout, Some(Duration::from_secs(10)));
        assert_eq!(got.idle_timeout, Some(Duration::from_secs(75)));
        assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
    }

    #[test]
    fn kv_cache_type() {
        let c = |kv: &str, fa: &str| {
            let env: HashMap<&str, &str> =
                [("OLLAMA_KV_CACHE_TYPE", kv), ("OLLAMA_FLASH_ATTENTION", fa)].into();
            Config::from_lookup(|k| env.get(k).map(|s| s.to_string()))
        };
        assert_eq!(c("", "").kv_cache_type, KvType::F16);
        assert_eq!(c(" Q8_0 ", "").kv_cache_type, KvType::Q8_0);
        assert_eq!(c("q4_0", "1").kv_cache_type, KvType::Q4_0);
        let off = c("q4_0", "0");
        assert_eq!(
            off.kv_cache_type,
            KvType::F16,
            "quantized needs flash attention"
        );
        assert!(off.warnings[0].contains("OLLAMA_FLASH_ATTENTION must be enabled"));
        assert_eq!(c("f32", "0").kv_cache_type, KvType::F32);
        let bad = c("q3", "");
        assert_eq!(bad.kv_cache_type, KvType::F16);
        assert!(
            bad.warnings[0].contains("invalid OLLAMA_KV_CACHE_TYPE"),
            "{:?}",
            bad.warnings
        );
        assert!(
            c("q8_0", "")
                .settings()
                .contains(&"OLLAMA_KV_CACHE_TYPE=q8_0".to_string())
        );
    }

    #[test]
    fn typed_values() {
        let env: HashMap<&str, &str> = [
            ("OLLAMA_MODELS", "/tmp/m"),
            ("OLLAMA_KEEP_ALIVE", "-1"),
            ("OLLAMA_DEBUG", "2"),
            ("OLLAMA_NOPRUNE", "yes"),
            ("OLLAMA_NUM_PARALLEL", "bogus"),
        ]
        .into();
        let c = Config::from_lookup(|k| env.get(k).map(|s| s.to_string()));
        assert_eq!(c.models, PathBuf::from("/tmp/m"));
        assert_eq!(c.keep_alive, KeepAlive::Forever);
        assert_eq!(c.log_level, LogLevel::Trace);
        assert!(c.noprune, "an unparsable non-empty boolean is true");
        assert_eq!(c.num_parallel, 4, "unparsable: the default");
        assert_eq!(c.warnings.len(), 1);

        let env: HashMap<&str, &str> = [("OLLAMA_KEEP_ALIVE", "10m"), ("OLLAMA_DEBUG", "1")].into();
        let c = Config::from_lookup(|k| env.get(k).map(|s| s.to_string()));
        assert_eq!(c.keep_alive, KeepAlive::Duration(Duration::from_secs(600)));
        assert_eq!(c.log_level, LogLevel::Debug);
        let env: HashMap<&str, &str> = [("OLLAMA_KEEP_ALIVE", "120")].into();
        let c = Config::from_lookup(|k| env.get(k).map(|s| s.to_string()));
        assert_eq!(c.keep_alive, KeepAlive::Duration(Duration::from_secs(120)));
    }
}
