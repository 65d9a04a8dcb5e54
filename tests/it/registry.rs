//! Pull and push against a real registry: Debian's `docker-registry` (Distribution) on a
//! loopback port, started per test. Transfers that need a middle go through a throttling proxy
//! written here, which also logs what was asked of the registry and counts the blob bytes it
//! served. The bearer-token flow is checked against a small registry stand-in written here
//! (Distribution's token auth needs a JWT issuer with certificates).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::harness::*;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A `docker-registry serve` on a free loopback port, storing into a temp dir.
pub(crate) struct DockerRegistry {
    child: Child,
    port: u16,
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl DockerRegistry {
    pub(crate) fn start() -> DockerRegistry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is needed: apt-get install docker-registry (scripts/test.sh installs it)"
        );
        let dir = tempdir();
        let storage = dir.path().join("storage");
        let port = free_port();
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        DockerRegistry {
            child,
            port,
            storage,
            _dir: dir,
        }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps a blob's bytes (Distribution's filesystem layout).
    fn blob_data(&self, hex: &str) -> PathBuf {
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request the proxy forwarded.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    range: Option<String>,
}

struct ProxyState {
    upstream: String,
    /// Bytes per second per response; 0 is no limit.
    rate: AtomicU64,
    seen: Mutex<Vec<Seen>>,
    /// Response body bytes sent, by request path.
    served: Mutex<HashMap<String, u64>>,
    /// This many blob GETs are cut off after 4 MB (the connection drops).
    cut_gets: AtomicU64,
    /// This many PATCH requests are answered 500 without reaching the registry.
    fail_patches: AtomicU64,
    /// Blob requests are redirected to the registry itself (another host:port, as a CDN is).
    redirect_blobs: std::sync::atomic::AtomicBool,
}

/// An axum app served on a loopback port from its own thread and runtime (the tests around it
/// block); stopped when dropped.
struct Background {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Background {
    fn serve(app: axum::Router) -> Background {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Background {
            port,
            stop: Some(stop),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// An HTTP proxy in front of a registry.
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
    _server: Background,
}

impl Proxy {
    fn start(upstream_port: u16, rate: u64) -> Proxy {
        let state = Arc::new(ProxyState {
            upstream: format!("http://127.0.0.1:{upstream_port}"),
            rate: AtomicU64::new(rate),
            seen: Mutex::new(Vec::new()),
            served: Mutex::new(HashMap::new()),
            cut_gets: AtomicU64::new(0),
            fail_patches: AtomicU64::new(0),
            redirect_blobs: std::sync::atomic::AtomicBool::new(false),
        });
        let server = Background::serve(
            axum::Router::new()
                .fallback(forward)
                .with_state(Arc::clone(&state)),
        );
        Proxy {
            port: server.port,
            state,
            _server: server,
        }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn set_rate(&self, rate: u64) {
        self.state.rate.store(rate, Ordering::Relaxed);
    }

    fn reset(&self) {
        self.state.seen.lock().unwrap().clear();
        self.state.served.lock().unwrap().clear();
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn served(&self, path_suffix: &str) -> u64 {
        self.state
            .served
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.ends_with(path_suffix))
            .map(|(_, n)| n)
            .sum()
    }
}

async fn forward(
    axum::extract::State(s): axum::extract::State<Arc<ProxyState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use futures_util::StreamExt;
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    s.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        range: headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
    });
    let take = |n: &AtomicU64| {
        n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
    };
    if method == "PATCH" && take(&s.fail_patches) {
        return axum::response::Response::builder()
            .status(500)
            .body(axum::body::Body::from("injected failure"))
            .unwrap();
    }
    if s.redirect_blobs.load(Ordering::SeqCst) && uri.path().contains("/blobs/sha256:") {
        return axum::response::Response::builder()
            .status(307)
            .header("location", format!("{}{}", s.upstream, uri.path()))
            .body(axum::body::Body::empty())
            .unwrap();
    }
    let cut = method == "GET" && uri.path().contains("/blobs/sha256:") && take(&s.cut_gets);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let target = format!(
        "{}{}",
        s.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut rb = client.request(method, target).body(body);
    // The Host header goes along, so the absolute upload URLs the registry answers with point
    // back at the proxy.
    for (k, v) in &headers {
        rb = rb.header(k, v);
    }
    let resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            return axum::response::Response::builder()
                .status(502)
                .body(axum::body::Body::from(e.to_string()))
                .unwrap();
        }
    };
    let mut out = axum::response::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v);
        }
    }
    let path = uri.path().to_string();
    let st = Arc::clone(&s);
    let mut sent = 0usize;
    let stream = resp
        .bytes_stream()
        .map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            sent += chunk.len();
            if cut && sent > 4_000_000 {
                return Err(std::io::Error::other("injected cut"));
            }
            Ok(chunk)
        })
        .then(move |chunk| {
            let st = Arc::clone(&st);
            let path = path.clone();
            async move {
                if let Ok(c) = &chunk {
                    let rate = st.rate.load(Ordering::Relaxed);
                    if rate > 0 {
                        tokio::time::sleep(Duration::from_secs_f64(c.len() as f64 / rate as f64))
                            .await;
                    }
                    *st.served.lock().unwrap().entry(path).or_default() += c.len() as u64;
                }
                chunk
            }
        });
    out.body(axum::body::Body::from_stream(stream)).unwrap()
}

/// The fixture model's manifest and the digest (hex) of its GGUF layer.
fn fixture_manifest() -> (Vec<u8>, String) {
    let path = fixture_store().join("manifests/registry.ollama.ai/library/gemma3-base/270m");
    let bytes = fs::read(path).unwrap();
    let m: Value = serde_json::from_slice(&bytes).unwrap();
    let model = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.ollama.image.model")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    (bytes, model)
}

fn manifest_digests(bytes: &[u8]) -> Vec<(String, u64)> {
    let m: Value = serde_json::from_slice(bytes).unwrap();
    let mut out: Vec<(String, u64)> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&m["config"]))
        .map(|l| {
            (
                l["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:")
                    .to_string(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap();
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    hex::encode(h.finalize())
}

/// A server holding the test model, pushed to `reg` as `<reg>/test/gemma:latest`, and what
/// the push printed.
fn pushed(reg_host: &str) -> (Server, String, std::process::Output) {
    let s = Server::start();
    let name = format!("{reg_host}/test/gemma:latest");
    let out = s.cli(&["cp", MODEL, &name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = s.cli(&["push", "--insecure", &name]);
    assert!(out.status.success(), "push: {}", stderr(&out));
    (s, name, out)
}

/// The test model pushed to a registry (by `source`, as `name`), with a proxy in front of it
/// (`rate` bytes per second per response, 0 for no limit) and the name through the proxy.
struct Proxied {
    reg: DockerRegistry,
    source: Server,
    name: String,
    /// The GGUF layer's digest, hex.
    model_hex: String,
    proxy: Proxy,
    via_proxy: String,
}

fn pushed_behind_proxy(rate: u64) -> Proxied {
    let reg = DockerRegistry::start();
    let (source, name, _) = pushed(&reg.host());
    let (_, model_hex) = fixture_manifest();
    let proxy = Proxy::start(reg.port, rate);
    let via_proxy = name.replace(&reg.host(), &proxy.host());
    Proxied {
        reg,
        source,
        name,
        model_hex,
        proxy,
        via_proxy,
    }
}

fn manifest_file(models: &Path, name: &str) -> PathBuf {
    // host/ns/model:tag -> manifests/host/ns/model/tag
    let (rest, tag) = name.rsplit_once(':').unwrap();
    models.join("manifests").join(rest).join(tag)
}

#[tokio::test(flavor = "multi_thread")]
async fn push_then_pull_gives_back_the_same_bytes_and_a_working_model() {
    let reg = DockerRegistry::start();
    let (s, name, out) = pushed(&reg.host());
    let (manifest, model_hex) = fixture_manifest();
    let log = stderr(&out);
    for line in [
        "retrieving manifest\n",
        &format!("pushing {}: 100% 253 MB\n", &model_hex[..12]),
        "pushing manifest\n",
        "success\n",
    ] {
        assert!(log.contains(line), "{line:?} in push output:\n{log}");
    }
    assert_eq!(
        stdout(&out),
        format!("\nYou can find your model at:\n\n\t{name}\n")
    );
    // The registry holds the manifest byte for byte and every blob.
    let served = http()
        .get(format!(
            "http://{}/v2/test/gemma/manifests/latest",
            reg.host()
        ))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), manifest.as_slice());
    for (hex, size) in manifest_digests(&manifest) {
        assert_eq!(fs::metadata(reg.blob_data(&hex)).unwrap().len(), size);
    }

    // A second push finds every blob there already.
    let again = s.cli(&["push", "--insecure", &name]);
    assert!(again.status.success(), "{}", stderr(&again));

    // Remove every local copy: the store is empty.
    let out = s.cli(&["rm", MODEL, &name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(walk(&s.models.join("blobs")).is_empty());

    // Pull it back through the API: Ollama's progress objects, then identical bytes.
    let lines = post_stream(&s, "/api/pull", json!({"model": name, "insecure": true})).await;
    let statuses: Vec<&str> = lines.iter().filter_map(|l| l["status"].as_str()).collect();
    assert_eq!(statuses.first(), Some(&"pulling manifest"), "{lines:?}");
    let tail = &statuses[statuses.len() - 3..];
    assert_eq!(
        tail,
        ["verifying sha256 digest", "writing manifest", "success"],
        "{lines:?}"
    );
    let first_model = lines
        .iter()
        .find(|l| l["digest"] == format!("sha256:{model_hex}"))
        .unwrap();
    assert_eq!(
        first_model["status"],
        format!("pulling {}", &model_hex[..12])
    );
    assert_eq!(first_model["total"], 253_113_024);
    assert!(
        first_model.get("completed").is_none(),
        "the first line omits completed: {first_model}"
    );
    let last_model = lines
        .iter()
        .rev()
        .find(|l| l["digest"] == format!("sha256:{model_hex}"))
        .unwrap();
    assert_eq!(last_model["completed"], 253_113_024);
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");

    assert_eq!(
        fs::read(manifest_file(&s.models, &name)).unwrap(),
        manifest,
        "the manifest is stored byte for byte"
    );
    for (hex, _) in manifest_digests(&manifest) {
        let ours = s.models.join(format!("blobs/sha256-{hex}"));
        assert_eq!(sha256_file(&ours), hex);
        assert_eq!(
            fs::read(&ours).unwrap().len() as u64,
            fs::metadata(fixture_store().join(format!("blobs/sha256-{hex}")))
                .unwrap()
                .len()
        );
    }
    assert!(
        walk(&s.models.join("blobs"))
            .iter()
            .all(|p| !p.to_string_lossy().contains("partial")),
        "no partial files left"
    );

    // stream:false answers with the last object; a pull of what is there is quick.
    let (status, body) = post(
        &s,
        "/api/pull",
        json!({"model": name, "insecure": true, "stream": false}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"status": "success"})));

    // The pulled model generates.
    let out = s.cli(&["run", &name, "The sky is"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).trim().is_empty());

    // `run` pulls a model the server does not have; a model made FROM it is pushed with a
    // cross-repository mount of the shared weights.
    let empty = Server::start_empty();
    let out = empty.cli(&["run", "--insecure", &name, "The sky is"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pulling manifest\n"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).trim().is_empty());
    let dir = tempdir();
    let modelfile = dir.path().join("Modelfile");
    fs::write(&modelfile, format!("FROM {name}\nSYSTEM be brief\n")).unwrap();
    let derived = format!("{}/other/derived:v1", reg.host());
    let out = empty.cli(&["create", &derived, "-f", modelfile.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = empty.cli(&["push", "--insecure", &derived]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        empty.log_text().contains("mounted from another repository"),
        "{}",
        empty.log_text()
    );
    let tags = http()
        .get(format!("http://{}/v2/other/derived/tags/list", reg.host()))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["v1"]));
}

/// The part state files of a partial download: (offset, size, completed) per part.
fn part_states(models: &Path, hex: &str) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for n in 0.. {
        let p = models.join(format!("blobs/sha256-{hex}-partial-{n}"));
        let Ok(text) = fs::read_to_string(p) else {
            break;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            break;
        };
        out.push((
            v["Offset"].as_u64().unwrap(),
            v["Size"].as_u64().unwrap(),
            v["Completed"].as_u64().unwrap(),
        ));
    }
    out
}

#[test]
fn a_pull_killed_midway_resumes_after_a_restart() {
    // 20 MB/s per ranged request: the 53 MB last part ends well before the two 100 MB ones.
    let Proxied {
        reg: _reg,
        source: _source,
        model_hex,
        proxy,
        via_proxy,
        ..
    } = pushed_behind_proxy(20_000_000);

    let dir = tempdir();
    let models = dir.path().join("models");
    let mut first = Server::start_on(&models);
    let mut pull = first
        .command(&["pull", "--insecure", &via_proxy])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the server once one part is complete and another is on its way.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let parts = part_states(&models, &model_hex);
        let full = parts.iter().filter(|(_, size, done)| done == size).count();
        let partial = parts
            .iter()
            .filter(|(_, size, done)| *done > 0 && done < size)
            .count();
        if full >= 1 && partial >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no middle to kill in: {parts:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill_hard();
    let _ = pull.wait();
    let at_kill = part_states(&models, &model_hex);
    assert_eq!(at_kill.len(), 3, "{at_kill:?}");
    let kept: u64 = at_kill.iter().map(|(_, _, done)| done).sum();
    assert!(kept > 0 && kept < 253_113_024, "{at_kill:?}");
    assert!(
        !models.join(format!("blobs/sha256-{model_hex}")).exists(),
        "nothing half-written is visible"
    );

    // A new server on the same store; the pull goes on from where each part stopped.
    let second = Server::start_on(&models);
    proxy.set_rate(0);
    proxy.reset();
    let out = second.cli(&["pull", "--insecure", &via_proxy]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blob_path = format!("/blobs/sha256:{model_hex}");
    assert_eq!(
        proxy.served(&blob_path),
        253_113_024 - kept,
        "only what was missing is downloaded again"
    );
    for req in proxy.seen() {
        if req.method != "GET" || !req.path.ends_with(&blob_path) {
            continue;
        }
        let range = req.range.expect("ranged requests only");
        let start: u64 = range
            .trim_start_matches("bytes=")
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let (offset, size, done) = *at_kill
            .iter()
            .find(|(o, s, _)| (*o..o + s).contains(&start))
            .unwrap();
        assert!(done < size, "a completed part was asked for again: {range}");
        assert_eq!(
            start,
            offset + done,
            "part resumes where it stopped: {range}"
        );
    }
    assert!(second.log_text().contains("resuming download at"));
    let blob = models.join(format!("blobs/sha256-{model_hex}"));
    assert_eq!(sha256_file(&blob), model_hex);
    assert!(
        part_states(&models, &model_hex).is_empty(),
        "state files removed"
    );
    assert!(
        !models
            .join(format!("blobs/sha256-{model_hex}-partial"))
            .exists()
    );
    let out = second.cli(&["list"]);
    assert!(stdout(&out).contains(&via_proxy), "{}", stdout(&out));
}

/// Reads a pull's NDJSON stream, noting when each line arrived.
async fn timed_pull(url: String, name: String) -> Vec<(Instant, Value)> {
    use futures_util::StreamExt;
    let resp = http()
        .post(url)
        .json(&json!({"model": name, "insecure": true}))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.unwrap());
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            out.push((Instant::now(), serde_json::from_slice(&line).unwrap()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pulls_share_one_download() {
    let Proxied {
        reg: _reg,
        source: _source,
        model_hex,
        proxy,
        via_proxy,
        ..
    } = pushed_behind_proxy(60_000_000);
    let s = Server::start_empty();
    let first = tokio::spawn(timed_pull(s.url("/api/pull"), via_proxy.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = tokio::spawn(timed_pull(s.url("/api/pull"), via_proxy.clone()));
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    for lines in [&first, &second] {
        assert_eq!(
            lines.last().unwrap().1,
            json!({"status": "success"}),
            "{lines:?}"
        );
    }
    // The second pull follows the first one's download as it runs, instead of waiting for it.
    let first_done = first.last().unwrap().0;
    let digest = format!("sha256:{model_hex}");
    let midway = second.iter().any(|(t, l)| {
        let done = l["completed"].as_u64().unwrap_or(0);
        l["digest"] == digest && done > 0 && done < 253_113_024 && *t < first_done
    });
    assert!(midway, "{second:?}");
    assert_eq!(
        proxy.served(&format!("/blobs/{digest}")),
        253_113_024,
        "the blob was downloaded once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_registry_blob_fails_the_pull_and_leaves_nothing() {
    let reg = DockerRegistry::start();
    let (_source, name, _) = pushed(&reg.host());
    let (manifest, _) = fixture_manifest();
    // The template layer: same length, one byte changed.
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let template = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.ollama.image.template")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let data = reg.blob_data(&template);
    let mut bytes = fs::read(&data).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&data, &bytes).unwrap();
    let got = hex::encode(sha2::Sha256::digest(&bytes));

    let s = Server::start_empty();
    let out = s.cli(&["pull", "--insecure", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with(&format!(
            "Error: digest mismatch, file must be downloaded again: want sha256:{template}, got sha256:{got}\n"
        )),
        "{}",
        stderr(&out)
    );
    let files = walk(&s.models);
    assert!(
        !files
            .iter()
            .any(|p| p.to_string_lossy().contains(&template)),
        "no file of the bad blob stays: {files:?}"
    );
    assert!(
        !manifest_file(&s.models, &name).exists(),
        "no manifest for a failed pull"
    );
    let tags = http()
        .get(s.url("/api/tags"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(tags["models"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_models_and_bad_names_fail_cleanly() {
    let reg = DockerRegistry::start();
    let s = Server::start_empty();
    let missing = format!("{}/test/nope:latest", reg.host());
    let out = s.cli(&["pull", "--insecure", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with("Error: pull model manifest: file does not exist\n"),
        "{}",
        stderr(&out)
    );
    let lines = post_stream(&s, "/api/pull", json!({"model": missing, "insecure": true})).await;
    assert_eq!(lines.first().unwrap()["status"], "pulling manifest");
    assert_eq!(
        lines.last().unwrap(),
        &json!({"error": "pull model manifest: file does not exist"})
    );
    let (status, body) = post(
        &s,
        "/api/pull",
        json!({"model": missing, "insecure": true, "stream": false}),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"error": "pull model manifest: file does not exist"})
    );

    // `run` of a model the registry lacks ends with the pull's error.
    let out = s.cli(&["run", "--insecure", &missing, "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with("Error: pull model manifest: file does not exist\n"),
        "{}",
        stderr(&out)
    );
    // http:// without --insecure is refused.
    let out = s.cli(&["pull", &format!("http://{}/test/nope", reg.host())]);
    assert_eq!(stderr(&out), "Error: insecure protocol http\n");

    let (status, body) = post(&s, "/api/pull", json!({"model": "bad name!"})).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "invalid model name"}))
    );
    let (status, body) = post(&s, "/api/push", json!({})).await;
    assert_eq!((status, body), (400, json!({"error": "model is required"})));
    let (status, body) = post(
        &s,
        "/api/push",
        json!({"model": missing, "insecure": true, "stream": false}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": format!("model '{missing}' not found")})
        )
    );
    assert!(walk(&s.models.join("manifests")).is_empty());
    assert!(walk(&s.models.join("blobs")).is_empty());
}

/// A registry stand-in that demands a bearer token and issues one only for a token request
/// signed by the rollama server's own key.
struct AuthRegistry {
    port: u16,
    state: Arc<AuthState>,
    _server: Background,
}

struct AuthState {
    /// Where the stand-in listens (the realm it names, the URL signatures cover).
    port: std::sync::OnceLock<u16>,
    /// base64 of the server's public key blob, from its `id_ed25519.pub`.
    key: String,
    manifest: Vec<u8>,
    blobs: HashMap<String, Vec<u8>>,
    token_requests: Mutex<Vec<String>>,
}

impl AuthRegistry {
    fn start(key: String) -> AuthRegistry {
        let model = (0..5000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>();
        let config = br#"{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"1B","file_type":"Q4_0","architecture":"amd64","os":"linux"}"#.to_vec();
        let d = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": d(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": d(&model), "size": model.len()}],
        }))
        .unwrap();
        let blobs = HashMap::from([(d(&model), model), (d(&config), config)]);
        let state = Arc::new(AuthState {
            port: std::sync::OnceLock::new(),
            key,
            manifest,
            blobs,
            token_requests: Mutex::new(Vec::new()),
        });
        let server = Background::serve(
            axum::Router::new()
                .fallback(auth_registry)
                .with_state(Arc::clone(&state)),
        );
        let _ = state.port.set(server.port);
        AuthRegistry {
            port: server.port,
            state,
            _server: server,
        }
    }
}

async fn auth_registry(
    axum::extract::State(s): axum::extract::State<Arc<AuthState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let path = req.uri().path().to_string();
    let header = |k: &str| {
        req.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if path == "/token" {
        // Verify Ollama's signature: "<key>:<sig>" over "GET,<url>,<base64(hex(sha256("")))>".
        let url = format!(
            "http://127.0.0.1:{}{}",
            s.port.get().copied().unwrap_or(0),
            req.uri()
        );
        s.token_requests.lock().unwrap().push(url.clone());
        let auth = header("authorization");
        let Some((key, sig)) = auth.split_once(':') else {
            return (axum::http::StatusCode::UNAUTHORIZED, "no signature").into_response();
        };
        let blob = b64.decode(key).unwrap_or_default();
        let data = format!(
            "GET,{url},{}",
            b64.encode(hex::encode(sha2::Sha256::digest(b"")))
        );
        let verified = key == s.key
            && blob.len() == 51
            && ed25519_dalek::VerifyingKey::from_bytes(blob[19..51].try_into().unwrap())
                .ok()
                .zip(
                    b64.decode(sig)
                        .ok()
                        .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok()),
                )
                .is_some_and(|(vk, sig)| {
                    use ed25519_dalek::Verifier;
                    vk.verify(data.as_bytes(), &sig).is_ok()
                });
        let q = req.uri().query().unwrap_or_default();
        let scoped =
            q.contains("scope=repository%3Aauth%2Ftiny%3Apull") && q.contains("service=fake");
        if !(verified && scoped && q.contains("nonce=") && q.contains("ts=")) {
            return (axum::http::StatusCode::UNAUTHORIZED, "bad signature").into_response();
        }
        return axum::Json(json!({"token": "good-token"})).into_response();
    }
    let realm = if path.starts_with("/v2/auth/evil/") {
        "http://evil.example/token".to_string()
    } else {
        format!(
            "http://127.0.0.1:{}/token",
            s.port.get().copied().unwrap_or(0)
        )
    };
    if header("authorization") != "Bearer good-token" {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                format!(
                    r#"Bearer realm="{realm}",service="fake",scope="repository:auth/tiny:pull""#
                ),
            )],
            "unauthorized",
        )
            .into_response();
    }
    if path == "/v2/auth/tiny/manifests/latest" {
        return s.manifest.clone().into_response();
    }
    let Some(blob) = path
        .strip_prefix("/v2/auth/tiny/blobs/")
        .and_then(|d| s.blobs.get(d))
    else {
        return (axum::http::StatusCode::NOT_FOUND, "not found").into_response();
    };
    let range = header("range");
    let Some((a, b)) = range.strip_prefix("bytes=").and_then(|r| r.split_once('-')) else {
        return ([("content-length", blob.len().to_string())], blob.clone()).into_response();
    };
    let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
    (
        axum::http::StatusCode::PARTIAL_CONTENT,
        blob[a..=b.min(blob.len() - 1)].to_vec(),
    )
        .into_response()
}

#[test]
fn the_bearer_challenge_is_answered_with_the_servers_signed_key() {
    let s = Server::start_empty();
    let key_file = s.home.join(".ollama/id_ed25519.pub");
    let public = fs::read_to_string(&key_file).expect("serve creates ~/.ollama/id_ed25519.pub");
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    assert!(s.home.join(".ollama/id_ed25519").is_file());
    let key = public.split_whitespace().nth(1).unwrap().to_string();
    let reg = AuthRegistry::start(key);

    let name = format!("127.0.0.1:{}/auth/tiny:latest", reg.port);
    let out = s.cli(&["pull", "--insecure", &name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(manifest_file(&s.models, &name)).unwrap(),
        reg.state.manifest
    );
    let asked = reg.state.token_requests.lock().unwrap().clone();
    assert!(!asked.is_empty(), "a token was requested");
    assert!(
        asked
            .iter()
            .all(|u| u.contains("&ts=") && u.contains("?nonce=")),
        "{asked:?}"
    );

    // A challenge pointing at another host gets no signed request.
    let evil = format!("127.0.0.1:{}/auth/evil:latest", reg.port);
    let out = s.cli(&["pull", "--insecure", &evil]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with(
            "Error: pull model manifest: realm host \"evil.example\" does not match request host \"127.0.0.1\"\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pull_and_push_draw_ollamas_progress_bars_in_a_terminal() {
    use crate::repl::Tmux;
    let Proxied {
        reg: _reg,
        source,
        name,
        model_hex,
        proxy: _proxy,
        via_proxy,
    } = pushed_behind_proxy(25_000_000);
    let short = &model_hex[..12];
    let s = Server::start_empty();
    let command = format!(
        "env OLLAMA_HOST={} HOME={} TERM=xterm {BIN} pull --insecure {via_proxy}; echo EXIT=$?; sleep 600",
        s.host(),
        s.home.display()
    );
    let t = Tmux::start_sized("pull", &command, 100);
    // Mid-transfer: percentage, bar, sizes, rate and time left.
    let mid = t.wait_for("a moving bar", |s| s.contains("MB/s"));
    let bar = mid
        .lines()
        .find(|l| l.starts_with(&format!("pulling {short}:")))
        .unwrap_or_else(|| panic!("{mid}"));
    assert!(
        bar.contains("% ▕") && bar.contains("▏") && bar.contains("/253 MB"),
        "{bar}"
    );
    assert_eq!(
        mid.lines().next().map(str::trim_end),
        Some("pulling manifest"),
        "{mid}"
    );
    let done = t.wait_for("the end", |s| s.contains("EXIT="));
    assert!(done.contains("EXIT=0"), "{done}");
    let rows = t.rows();
    let bar = rows
        .iter()
        .find(|l| l.starts_with(&format!("pulling {short}:")))
        .unwrap();
    assert!(
        bar.starts_with(&format!("pulling {short}: 100% ▕███")) && bar.ends_with("█▏ 253 MB"),
        "{bar}"
    );
    // As wide as the terminal, less the 25 columns rate and time left took.
    assert_eq!(bar.chars().count(), 75, "{bar}");
    for status in ["verifying sha256 digest", "writing manifest", "success"] {
        assert!(rows.iter().any(|r| r == status), "{status} in\n{rows:#?}");
    }
    drop(t);

    // push draws the same way, and says where the model is.
    let command = format!(
        "env OLLAMA_HOST={} HOME={} TERM=xterm {BIN} push --insecure {name}; echo EXIT=$?; sleep 600",
        source.host(),
        source.home.display()
    );
    let t = Tmux::start_sized("push", &command, 100);
    t.wait_for("the end", |s| s.contains("EXIT="));
    let rows = t.rows();
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("pushing {short}: 100% ▕"))),
        "{rows:#?}"
    );
    let at = rows.iter().position(|r| r == "success").unwrap();
    assert_eq!(
        rows[at + 1..at + 6],
        [
            "",
            "You can find your model at:",
            "",
            &format!("        {name}"),
            "EXIT=0"
        ],
        "{rows:#?}"
    );
}

#[test]
fn failed_transfers_are_retried() {
    let Proxied {
        reg,
        source,
        model_hex,
        proxy,
        via_proxy,
        ..
    } = pushed_behind_proxy(0);

    // Two ranged downloads drop their connection after 4 MB: those parts are fetched again
    // from where they stopped, and the pull succeeds.
    proxy.state.cut_gets.store(2, Ordering::SeqCst);
    let s = Server::start_empty();
    let out = s.cli(&["pull", "--insecure", &via_proxy]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        proxy.state.cut_gets.load(Ordering::SeqCst),
        0,
        "both cuts happened"
    );
    assert_eq!(
        s.log_text().matches("failed: ").count(),
        2,
        "{}",
        s.log_text()
    );
    let blob = s.models.join(format!("blobs/sha256-{model_hex}"));
    assert_eq!(sha256_file(&blob), model_hex);
    let gets = proxy
        .seen()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&model_hex))
        .count();
    assert_eq!(gets, 3 + 2, "three parts, two of them asked again");

    // A chunk upload that fails is sent again, from where the registry says the upload is.
    proxy.state.fail_patches.store(1, Ordering::SeqCst);
    let again = format!("{}/test/again:latest", proxy.host());
    let out = source.cli(&["cp", MODEL, &again]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = source.cli(&["push", "--insecure", &again]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(proxy.state.fail_patches.load(Ordering::SeqCst), 0);
    assert!(
        source
            .log_text()
            .contains("upload at 0 failed: 500: injected failure, retrying"),
        "{}",
        source.log_text()
    );
    let back = Server::start_empty();
    let out = back.cli(&["pull", "--insecure", &format!("{}/test/again", reg.host())]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn blobs_redirected_to_another_host_come_from_there() {
    let Proxied {
        reg: _reg,
        source: _source,
        model_hex,
        proxy,
        via_proxy,
        ..
    } = pushed_behind_proxy(0);
    proxy.state.redirect_blobs.store(true, Ordering::SeqCst);
    let s = Server::start_empty();
    let out = s.cli(&["pull", "--insecure", &via_proxy]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blob = s.models.join(format!("blobs/sha256-{model_hex}"));
    assert_eq!(sha256_file(&blob), model_hex);
    assert_eq!(
        proxy.served(&model_hex),
        0,
        "the bytes came from the other host"
    );
    assert!(
        proxy.seen().iter().any(|r| r.path.ends_with(&model_hex)),
        "the registry was asked first"
    );
}
