//! Test fixtures: the real `rollama` binary serving the real test model on an ephemeral port,
//! with a temporary `OLLAMA_MODELS` and `HOME` per server, so no test touches `~/.ollama`, a
//! fixed port or the network.
//!
//! The model store with `gemma3-base:270m` is built once per test run by the real CLI
//! (`rollama create` against a real server) and then given to each test server as hard links,
//! so a test can change its own store freely.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const MODEL: &str = "gemma3-base:270m";
pub const BIN: &str = env!("CARGO_BIN_EXE_rollama");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("it-")
        .tempdir_in(tmp_root())
        .expect("temp dir")
}

/// The test GGUF, fetched and verified by the project's own script (cached outside the repo).
pub fn gguf() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new(repo().join("scripts/fetch-model.sh"))
            .output()
            .expect("run scripts/fetch-model.sh");
        assert!(
            out.status.success(),
            "fetch-model.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// A directory holding the starter Modelfile next to (a link to) the test GGUF, with
/// `num_thread 1` so two test servers decoding at once never oversubscribe two cores, and
/// `num_predict 48` so open-ended answers (`run` has no limit flag) end quickly: a base model
/// otherwise rambles until the context is full.
pub fn modelfile_dir(dir: &Path) -> PathBuf {
    let gguf = gguf();
    let target = dir.join("gemma-3-270m-q4_k_m.gguf");
    if !target.exists() {
        fs::hard_link(gguf, &target)
            .or_else(|_| std::os::unix::fs::symlink(gguf, &target))
            .expect("link gguf");
    }
    let mut text =
        fs::read_to_string(repo().join("models/gemma3-base.Modelfile")).expect("Modelfile");
    // The first PARAMETER of a name wins (Ollama's FormatParams), so replace, don't append.
    text = text.replace("PARAMETER num_predict 256", "PARAMETER num_predict 48");
    assert!(
        text.contains("num_predict 48"),
        "starter Modelfile changed: {text}"
    );
    text.push_str("PARAMETER num_thread 1\n");
    let path = dir.join("Modelfile");
    fs::write(&path, text).expect("write Modelfile");
    path
}

/// The store with the test model, created once per run through the real CLI.
pub fn fixture_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        // Stores of earlier runs (each holds a copy of the model) go first.
        if let Ok(rd) = fs::read_dir(tmp_root()) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("fixture-") {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let root = tmp_root().join(format!("fixture-{}", std::process::id()));
        fs::create_dir_all(root.join("src")).expect("fixture dir");
        let modelfile = modelfile_dir(&root.join("src"));
        let models = root.join("models");
        let server = Server::start_on(&models);
        let out = server.cli(&["create", MODEL, "-f", modelfile.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        drop(server);
        models
    })
}

/// Copies a store with hard-linked blobs (blobs are never modified in place, only replaced).
pub fn clone_store(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).expect("prefix");
        let dest = to.join(rel);
        fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        if rel.starts_with("blobs") {
            fs::hard_link(&entry, &dest)
                .or_else(|_| fs::copy(&entry, &dest).map(|_| ()))
                .expect("link blob");
        } else {
            fs::copy(&entry, &dest).expect("copy manifest");
        }
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A running `rollama serve`.
pub struct Server {
    child: Child,
    pub base: String,
    pub models: PathBuf,
    pub home: PathBuf,
    pub log: PathBuf,
    _dirs: Vec<tempfile::TempDir>,
}

impl Server {
    /// A server whose store holds the test model.
    pub fn start() -> Server {
        Server::start_env(&[])
    }

    /// A server whose store holds the test model, with extra environment variables.
    pub fn start_env(env: &[(&str, &str)]) -> Server {
        let dir = tempdir();
        let models = dir.path().join("models");
        clone_store(fixture_store(), &models);
        let mut s = Server::start_with(&models, env);
        s._dirs.push(dir);
        s
    }

    /// A server on an empty store.
    pub fn start_empty() -> Server {
        let dir = tempdir();
        let mut s = Server::start_with(&dir.path().join("models"), &[]);
        s._dirs.push(dir);
        s
    }

    pub fn start_on(models: &Path) -> Server {
        Server::start_with(models, &[])
    }

    pub fn start_with(models: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(models, env, None)
    }

    /// A server on an empty store started with its soft open-files limit lowered to `soft`, as
    /// a shell's `ulimit -Sn` would.
    pub fn start_with_open_files(soft: u64, env: &[(&str, &str)]) -> Server {
        let dir = tempdir();
        let mut s = Server::spawn(&dir.path().join("models"), env, Some(soft));
        s._dirs.push(dir);
        s
    }

    #[allow(unsafe_code)]
    fn spawn(models: &Path, env: &[(&str, &str)], soft_open_files: Option<u64>) -> Server {
        let home = tempdir();
        let log = home.path().join("server.log");
        let logfile = fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("OLLAMA_HOST", "127.0.0.1:0")
            .env("OLLAMA_MODELS", models)
            .env("HOME", home.path())
            .env_remove("OLLAMA_KEEP_ALIVE")
            .env_remove("OLLAMA_DEBUG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(soft) = soft_open_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls (getrlimit, setrlimit) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let mut lim = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    lim.rlim_cur = soft.min(lim.rlim_max);
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().expect("spawn rollama serve");
        let base = wait_for_listen(&log);
        Server {
            child,
            base,
            models: models.to_path_buf(),
            home: home.path().to_path_buf(),
            log,
            _dirs: vec![home],
        }
    }

    pub fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The CLI pointed at this server.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("OLLAMA_HOST", self.host())
            .env("HOME", &self.home)
            .env_remove("OLLAMA_MODELS");
        c
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run rollama")
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's live child processes (its model runners), from /proc.
    pub fn runners(&self) -> Vec<u32> {
        let me = self.child.id();
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
            let mut rest = stat
                .rsplit_once(')')
                .map(|(_, r)| r)
                .unwrap_or("")
                .split_whitespace();
            let state = rest.next().unwrap_or("");
            let ppid = rest.next().and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(me) && state != "Z" {
                out.push(pid);
            }
        }
        out
    }

    /// Waits up to `limit` for the server to exit by itself; its exit status.
    pub fn exit_status(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    /// SIGKILL: the server gets no chance to clean up (a crash, or a power cut for its files).
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM first so the server unloads and exits cleanly.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn wait_for_listen(log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(f) = fs::File::open(log) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().expect("address");
                    return format!("http://{addr}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "server did not start; log:\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
}

/// A blocking HTTP client for tests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client")
}

/// GETs a path and parses its JSON body.
pub async fn get(server: &Server, path: &str) -> Value {
    http()
        .get(server.url(path))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body")
}

/// The number after `key=` in a log line (`reused=12`).
pub fn log_field(line: &str, key: &str) -> u64 {
    line.split(&format!("{key}="))
        .nth(1)
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key}= in {line}"))
}

/// POSTs JSON; returns status and the parsed body (`Value::Null` when empty or not JSON).
pub async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = http()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// POSTs JSON and reads an NDJSON stream into objects, checking the content type.
pub async fn post_stream(server: &Server, path: &str, body: Value) -> Vec<Value> {
    let r = http()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200, "stream status");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let text = r.text().await.expect("body");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
