//! The engine in a child process. llama.cpp aborts the whole process on some bad inputs
//! (`GGML_ASSERT`, some corrupt files, some failed allocations), so, as Ollama runs
//! llama-server, each loaded model lives in a `rollama runner` child of the server. A crash
//! costs that model's requests in flight, never the server; unloading ends the process, so all
//! of its memory goes back to the system.
//!
//! The protocol is one JSON object per line: [`ToRunner`] on the child's stdin, [`FromRunner`]
//! on its stdout. The first line loads the model; the child answers `ready` or `load_failed`.
//! Requests carry an id; a completion's events come back tagged with it. The parent's
//! [`ProcessRunner`] implements [`Runner`], so the scheduler and server do not know which side
//! of the boundary the engine is on. The child's stderr is the server's: its logs appear in the
//! server log as they would in-process.
//!
//! Either side going away ends the other: the child exits when its stdin closes (server gone or
//! unloading), and the server sees the child's stdout close when it dies, fails what was in
//! flight with Ollama's "model runner has unexpectedly stopped" and tells the scheduler to load
//! a fresh one next time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{
    CompletionRequest, EmbedError, EmbedRequest, Embedded, EngineError, Event, LoadParams, Runner,
    RunnerInfo,
};

/// Parent to child.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ToRunner {
    Load { params: LoadParams },
    Complete { id: u64, req: CompletionRequest },
    Cancel { id: u64 },
    Tokenize { id: u64, text: String },
    Detokenize { id: u64, tokens: Vec<i32> },
    Embed { id: u64, req: EmbedRequest },
}

/// Child to parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FromRunner {
    Ready {
        info: RunnerInfo,
        pid: u32,
    },
    LoadFailed {
        error: String,
    },
    Event {
        id: u64,
        event: Event,
    },
    Tokens {
        id: u64,
        tokens: Vec<i32>,
    },
    Text {
        id: u64,
        text: String,
    },
    Embedded {
        id: u64,
        result: Result<Embedded, EmbedError>,
    },
}

/// The environment variable naming the lock file every runner of one server takes around each
/// decode, so that only one model computes at a time across processes (see `engine::llama`).
pub const COMPUTE_LOCK_ENV: &str = "ROLLAMA_COMPUTE_LOCK";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Pending {
    completions: HashMap<u64, mpsc::UnboundedSender<Event>>,
    tokenize: HashMap<u64, oneshot::Sender<Vec<i32>>>,
    detokenize: HashMap<u64, oneshot::Sender<String>>,
    embed: HashMap<u64, oneshot::Sender<Result<Embedded, EmbedError>>>,
}

struct Shared {
    stdin: Mutex<Option<ChildStdin>>,
    /// Held until reaped, so killing it can never hit a reused pid.
    child: Mutex<Option<Child>>,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
    alive: AtomicBool,
    stopping: AtomicBool,
}

impl Shared {
    fn send(&self, msg: &ToRunner) -> Result<(), EngineError> {
        let mut guard = lock(&self.stdin);
        let stdin = guard.as_mut().ok_or(EngineError::Stopped)?;
        let mut line = serde_json::to_vec(msg).map_err(|e| EngineError::Load(e.to_string()))?;
        line.push(b'\n');
        stdin
            .write_all(&line)
            .and_then(|()| stdin.flush())
            .map_err(|_| EngineError::Stopped)
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A model loaded in a `rollama runner` child process.
pub struct ProcessRunner {
    info: RunnerInfo,
    pid: u32,
    shared: Arc<Shared>,
}

/// libgomp's spin count for runner processes (see [`ProcessRunner::load`]).
const GOMP_SPINCOUNT: &str = "20000";

impl ProcessRunner {
    /// Starts a runner process and loads the model in it. Blocking (call from a blocking task).
    /// `compute_lock` is the file all runners of this server lock around each decode.
    pub fn load(
        params: LoadParams,
        compute_lock: &std::path::Path,
    ) -> Result<ProcessRunner, EngineError> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe()
            .map_err(|e| EngineError::Load(format!("locate the rollama binary: {e}")))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("runner")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env(COMPUTE_LOCK_ENV, compute_lock)
            // OpenMP reads its settings once, at process start: this is where they go. Its
            // pool never needs more threads than the model computes with.
            .env("OMP_NUM_THREADS", params.num_thread.max(1).to_string())
            // Its own process group: a Ctrl-C in the server's terminal reaches the server,
            // which then unloads its runners, instead of killing them under running requests.
            .process_group(0);
        // OpenMP workers spin a shorter while before sleeping than libgomp's default
        // (300,000 turns): between decodes the runner samples and computes the output layer on
        // the same cores, and a worker still spinning there takes a core from it (README,
        // Benchmarks). A value the user set wins.
        if std::env::var_os("GOMP_SPINCOUNT").is_none() {
            cmd.env("GOMP_SPINCOUNT", GOMP_SPINCOUNT);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| EngineError::Load(format!("start model runner: {e}")))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(EngineError::Load("model runner has no pipes".into()));
        };
        let mut reader = BufReader::new(stdout);
        let handshake = (|| -> Result<(RunnerInfo, u32), EngineError> {
            let mut line = serde_json::to_vec(&ToRunner::Load {
                params: params.clone(),
            })
            .map_err(|e| EngineError::Load(e.to_string()))?;
            line.push(b'\n');
            stdin
                .write_all(&line)
                .and_then(|()| stdin.flush())
                .map_err(|e| EngineError::Load(format!("model runner: {e}")))?;
            let mut answer = String::new();
            let n = reader
                .read_line(&mut answer)
                .map_err(|e| EngineError::Load(format!("model runner: {e}")))?;
            if n == 0 {
                // It died while loading (llama.cpp aborts on some corrupt files).
                let status = child
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                return Err(EngineError::Load(format!(
                    "llama runner process has terminated: {status}"
                )));
            }
            match serde_json::from_str(&answer) {
                Ok(FromRunner::Ready { info, pid }) => Ok((info, pid)),
                Ok(FromRunner::LoadFailed { error }) => Err(EngineError::Load(error)),
                Ok(other) => Err(EngineError::Load(format!(
                    "model runner: unexpected answer {other:?}"
                ))),
                Err(e) => Err(EngineError::Load(format!("model runner: {e}: {answer}"))),
            }
        })();
        let (info, pid) = match handshake {
            Ok(ok) => ok,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        tracing::debug!(pid, "model runner started");
        let shared = Arc::new(Shared {
            stdin: Mutex::new(Some(stdin)),
            child: Mutex::new(Some(child)),
            pending: Mutex::new(Pending::default()),
            next_id: AtomicU64::new(1),
            alive: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
        });
        let for_reader = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("runner-{pid}").chars().take(15).collect())
            .spawn(move || read_replies(reader, &for_reader))
            .map_err(|e| EngineError::Load(format!("spawn runner reader: {e}")))?;
        Ok(ProcessRunner { info, pid, shared })
    }

    /// The runner process's id.
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// The parent's side of the pipe: hands each reply to whoever waits for it, and when the pipe
/// closes (the runner died or was stopped) fails everything still waiting and reaps the child.
fn read_replies(mut reader: BufReader<std::process::ChildStdout>, shared: &Shared) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let msg: FromRunner = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("model runner sent a bad line ({e}): {}", line.trim_end());
                continue;
            }
        };
        let mut pending = lock(&shared.pending);
        match msg {
            FromRunner::Event { id, event } => {
                let last = event.is_final();
                if let Some(tx) = pending.completions.get(&id)
                    && (tx.send(event).is_err() || last)
                {
                    pending.completions.remove(&id);
                }
            }
            FromRunner::Tokens { id, tokens } => {
                if let Some(tx) = pending.tokenize.remove(&id) {
                    let _ = tx.send(tokens);
                }
            }
            FromRunner::Text { id, text } => {
                if let Some(tx) = pending.detokenize.remove(&id) {
                    let _ = tx.send(text);
                }
            }
            FromRunner::Embedded { id, result } => {
                if let Some(tx) = pending.embed.remove(&id) {
                    let _ = tx.send(result);
                }
            }
            FromRunner::Ready { .. } | FromRunner::LoadFailed { .. } => {}
        }
    }
    shared.alive.store(false, Ordering::SeqCst);
    let stopping = shared.stopping.load(Ordering::SeqCst);
    let message = if stopping {
        "model unloaded".to_string()
    } else {
        EngineError::Stopped.to_string()
    };
    let pending = std::mem::take(&mut *lock(&shared.pending));
    for (_, tx) in pending.completions {
        let _ = tx.send(Event::Error(message.clone()));
    }
    lock(&shared.stdin).take();
    if let Some(mut child) = lock(&shared.child).take() {
        // Its stdout is closed: it is exiting or has exited. Make sure, then reap it.
        let _ = child.kill();
        match child.wait() {
            Ok(status) if !stopping => {
                crate::metrics::runner_crashed();
                tracing::error!(pid = child.id(), %status, "model runner stopped unexpectedly");
            }
            Ok(_) => tracing::debug!(pid = child.id(), "model runner ended"),
            Err(e) => tracing::warn!("reaping model runner: {e}"),
        }
    }
}

impl Drop for ProcessRunner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Runner for ProcessRunner {
    fn info(&self) -> &RunnerInfo {
        &self.info
    }

    fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        lock(&self.shared.stdin).take();
        if let Some(child) = lock(&self.shared.child).as_mut() {
            let _ = child.kill();
        }
    }

    fn completion(
        &self,
        req: CompletionRequest,
    ) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        if !self.is_alive() {
            return Err(EngineError::Stopped);
        }
        let id = self.shared.next_id();
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.pending)
            .completions
            .insert(id, tx.clone());
        if let Err(e) = self.shared.send(&ToRunner::Complete { id, req }) {
            lock(&self.shared.pending).completions.remove(&id);
            return Err(e);
        }
        // A caller that drops the receiver cancels the request in the runner, at once, even
        // while it is queued or evaluating its prompt.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let shared = Arc::clone(&self.shared);
            rt.spawn(async move {
                tx.closed().await;
                let in_flight = lock(&shared.pending).completions.remove(&id).is_some();
                if in_flight {
                    let _ = shared.send(&ToRunner::Cancel { id });
                }
            });
        }
        Ok(rx)
    }

    fn tokenize(&self, text: String) -> Result<oneshot::Receiver<Vec<i32>>, EngineError> {
        let id = self.shared.next_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).tokenize.insert(id, tx);
        self.shared.send(&ToRunner::Tokenize { id, text })?;
        Ok(rx)
    }

    fn detokenize(&self, tokens: Vec<i32>) -> Result<oneshot::Receiver<String>, EngineError> {
        let id = self.shared.next_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).detokenize.insert(id, tx);
        self.shared.send(&ToRunner::Detokenize { id, tokens })?;
        Ok(rx)
    }

    fn embed(
        &self,
        req: EmbedRequest,
    ) -> Result<oneshot::Receiver<Result<Embedded, EmbedError>>, EngineError> {
        let id = self.shared.next_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).embed.insert(id, tx);
        self.shared.send(&ToRunner::Embed { id, req })?;
        Ok(rx)
    }
}

/// `rollama runner`: the child's side. Reads the load request, loads the model in this process
/// and serves requests from stdin until stdin closes.
pub async fn runner_main() -> Result<(), String> {
    let out = protocol_output()?;
    let (wtx, wrx) = std::sync::mpsc::channel::<FromRunner>();
    let writer = std::thread::Builder::new()
        .name("runner-writer".into())
        .spawn(move || write_replies(out, wrx))
        .map_err(|e| e.to_string())?;

    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let first = lines.next_line().await.map_err(|e| e.to_string())?;
    let Some(first) = first else { return Ok(()) };
    let params = match serde_json::from_str(&first) {
        Ok(ToRunner::Load { params }) => params,
        Ok(other) => return Err(format!("expected a load request, got {other:?}")),
        Err(e) => return Err(format!("bad load request: {e}")),
    };
    let loaded = tokio::task::spawn_blocking(move || super::llama::LlamaRunner::load(params)).await;
    let runner = match loaded {
        Ok(Ok(r)) => Arc::new(r),
        Ok(Err(e)) => {
            let _ = wtx.send(FromRunner::LoadFailed {
                error: e.to_string(),
            });
            drop(wtx);
            let _ = writer.join();
            return Ok(());
        }
        Err(e) => return Err(e.to_string()),
    };
    let _ = wtx.send(FromRunner::Ready {
        info: runner.info().clone(),
        pid: std::process::id(),
    });

    let cancels: Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>> = Arc::default();
    while let Ok(Some(line)) = lines.next_line().await {
        let msg: ToRunner = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("runner: bad request line ({e})");
                continue;
            }
        };
        match msg {
            ToRunner::Load { .. } => tracing::warn!("runner: model already loaded"),
            ToRunner::Complete { id, req } => match runner.completion(req) {
                Ok(mut rx) => {
                    let (cancel_tx, mut cancel_rx) = oneshot::channel::<()>();
                    lock(&cancels).insert(id, cancel_tx);
                    let (wtx, cancels, runner) =
                        (wtx.clone(), Arc::clone(&cancels), Arc::clone(&runner));
                    tokio::spawn(async move {
                        loop {
                            tokio::select! {
                                event = rx.recv() => {
                                    let Some(event) = event else {
                                        // The engine thread is gone: nothing more can be served.
                                        if !runner.is_alive() {
                                            tracing::error!("engine stopped; runner exits");
                                            std::process::exit(1);
                                        }
                                        break;
                                    };
                                    let last = event.is_final();
                                    let _ = wtx.send(FromRunner::Event { id, event });
                                    if last {
                                        break;
                                    }
                                }
                                // Cancelled: dropping `rx` frees the sequence at the engine's
                                // next step.
                                _ = &mut cancel_rx => break,
                            }
                        }
                        lock(&cancels).remove(&id);
                    });
                }
                Err(e) => {
                    let _ = wtx.send(FromRunner::Event {
                        id,
                        event: Event::Error(e.to_string()),
                    });
                }
            },
            ToRunner::Cancel { id } => {
                lock(&cancels).remove(&id);
            }
            ToRunner::Tokenize { id, text } => {
                if let Ok(rx) = runner.tokenize(text) {
                    let wtx = wtx.clone();
                    tokio::spawn(async move {
                        if let Ok(tokens) = rx.await {
                            let _ = wtx.send(FromRunner::Tokens { id, tokens });
                        }
                    });
                }
            }
            ToRunner::Embed { id, req } => match runner.embed(req) {
                Ok(rx) => {
                    let wtx = wtx.clone();
                    tokio::spawn(async move {
                        let result = rx
                            .await
                            .unwrap_or_else(|_| Err(EmbedError::Failed("engine stopped".into())));
                        let _ = wtx.send(FromRunner::Embedded { id, result });
                    });
                }
                Err(e) => {
                    let _ = wtx.send(FromRunner::Embedded {
                        id,
                        result: Err(EmbedError::Failed(e.to_string())),
                    });
                }
            },
            ToRunner::Detokenize { id, tokens } => {
                if let Ok(rx) = runner.detokenize(tokens) {
                    let wtx = wtx.clone();
                    tokio::spawn(async move {
                        if let Ok(text) = rx.await {
                            let _ = wtx.send(FromRunner::Text { id, text });
                        }
                    });
                }
            }
        }
    }
    // Stdin closed: the server unloads this model or is gone. Nothing is left to do; exiting
    // now returns the memory without waiting for a decode step to finish.
    std::process::exit(0);
}

/// The protocol's output: this process's original stdout. File descriptor 1 is then pointed at
/// stderr, so nothing printed by C code can corrupt the protocol.
#[allow(unsafe_code)]
fn protocol_output() -> Result<std::fs::File, String> {
    use std::os::fd::AsFd;
    let out = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("dup stdout: {e}"))?;
    // SAFETY: dup2 on two descriptors this process owns (1 and 2); no Rust object owns fd 1's
    // file description exclusively, and `std::io::stdout` keeps writing to fd 1 (now stderr).
    if unsafe { libc::dup2(2, 1) } < 0 {
        return Err(format!("dup2: {}", std::io::Error::last_os_error()));
    }
    Ok(std::fs::File::from(out))
}

/// Writes replies as JSON lines, flushing whenever no more are waiting. The server gone means
/// there is no one to serve: exit.
fn write_replies(out: std::fs::File, rx: std::sync::mpsc::Receiver<FromRunner>) {
    let mut w = BufWriter::new(out);
    let write = |w: &mut BufWriter<std::fs::File>, msg: &FromRunner| {
        if serde_json::to_writer(&mut *w, msg).is_err() || w.write_all(b"\n").is_err() {
            std::process::exit(0);
        }
    };
    while let Ok(msg) = rx.recv() {
        write(&mut w, &msg);
        while let Ok(more) = rx.try_recv() {
            write(&mut w, &more);
        }
        if w.flush().is_err() {
            std::process::exit(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines_round_trip() {
        let msg = FromRunner::Event {
            id: 7,
            event: Event::Text("hé\n".into()),
        };
        let line = serde_json::to_string(&msg).unwrap_or_default();
        assert_eq!(line, r#"{"op":"event","id":7,"event":{"Text":"hé\n"}}"#);
        assert!(!line.contains('\n'), "one message, one line");
        let back: FromRunner = serde_json::from_str(&line).unwrap_or(FromRunner::LoadFailed {
            error: String::new(),
        });
        assert!(matches!(back, FromRunner::Event { id: 7, event: Event::Text(t) } if t == "hé\n"));
        let cancel = serde_json::to_string(&ToRunner::Cancel { id: 3 }).unwrap_or_default();
        assert_eq!(cancel, r#"{"op":"cancel","id":3}"#);
    }
}
