//! The scheduler: which models are loaded, who is using them, and when they go away.
//!
//! Runners are keyed by the model's weight file, so two names for the same blob share one loaded
//! model. A request takes a [`Lease`]; when the last lease of a runner drops, its `keep_alive`
//! timer starts (zero unloads at once, negative never). Loads happen one at a time. A request
//! whose load parameters differ from the loaded runner's waits for that runner to go idle and
//! reloads it, logging why. At `OLLAMA_MAX_LOADED_MODELS` the least recently used idle runner is
//! evicted. More than `OLLAMA_MAX_QUEUE` requests waiting for a load get 503.
//!
//! Depends on the engine's `Runner` trait only; it never sees HTTP or the store.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::Notify;

use crate::duration::KeepAlive;
use crate::engine::{EngineError, LoadParams, Runner};

/// Loads a runner; blocking. The real one is [`LlamaLoader`]; HTTP-layer tests use fakes.
pub trait Loader: Send + Sync {
    fn load(&self, params: &LoadParams) -> Result<Arc<dyn Runner>, EngineError>;
}

/// Loads models in this process with llama-cpp-2.
pub struct LlamaLoader;

impl Loader for LlamaLoader {
    fn load(&self, params: &LoadParams) -> Result<Arc<dyn Runner>, EngineError> {
        Ok(Arc::new(crate::engine::llama::LlamaRunner::load(
            params.clone(),
        )?))
    }
}

/// Loads each model in its own `rollama runner` child process (see `engine::process`).
pub struct ProcessLoader {
    /// Every runner of this server locks it around each decode: one model computes at a time.
    compute_lock: tempfile::NamedTempFile,
}

impl ProcessLoader {
    pub fn new() -> std::io::Result<ProcessLoader> {
        Ok(ProcessLoader {
            compute_lock: tempfile::Builder::new()
                .prefix("rollama-compute-")
                .suffix(".lock")
                .tempfile()?,
        })
    }
}

impl Loader for ProcessLoader {
    fn load(&self, params: &LoadParams) -> Result<Arc<dyn Runner>, EngineError> {
        Ok(Arc::new(crate::engine::process::ProcessRunner::load(
            params.clone(),
            self.compute_lock.path(),
        )?))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("server busy, please try again.  maximum pending requests exceeded")]
    Busy,
    #[error("{0}")]
    Load(#[from] EngineError),
}

/// Limits the scheduler enforces.
#[derive(Clone, Debug)]
pub struct SchedConfig {
    pub default_keep_alive: KeepAlive,
    pub max_loaded: usize,
    pub max_queue: usize,
}

struct Entry {
    runner: Arc<dyn Runner>,
    params: LoadParams,
    /// The model name that loaded it, for `ps`.
    name: String,
    refs: usize,
    keep_alive: KeepAlive,
    /// Bumped on every use, so a stale keep-alive timer knows it lost.
    generation: u64,
    expires_at: Option<SystemTime>,
    last_used: Instant,
    /// An unload was asked for (keep_alive 0 on an empty request) while requests were running.
    unload_when_idle: bool,
}

/// What `ps` shows about a loaded runner.
#[derive(Clone, Debug)]
pub struct LoadedInfo {
    pub name: String,
    pub model_path: PathBuf,
    pub size: u64,
    pub context_length: u32,
    /// When the idle timer fires; `None` while in use or when kept forever.
    pub expires_at: Option<SystemTime>,
    pub keep_alive: KeepAlive,
}

pub struct Scheduler {
    state: Mutex<HashMap<PathBuf, Entry>>,
    /// Serialises loads (and the evictions/reloads that precede them).
    load_lock: tokio::sync::Mutex<()>,
    /// Signalled whenever a runner becomes idle or is unloaded.
    idle: Notify,
    pending: AtomicUsize,
    config: SchedConfig,
    loader: Arc<dyn Loader>,
}

/// A runner in use by one request; dropping it releases the runner.
pub struct Lease {
    sched: Arc<Scheduler>,
    path: PathBuf,
    pub runner: Arc<dyn Runner>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.sched.release(&self.path);
    }
}

struct PendingGuard<'a>(&'a AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Scheduler {
    pub fn new(config: SchedConfig, loader: Arc<dyn Loader>) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            state: Mutex::new(HashMap::new()),
            load_lock: tokio::sync::Mutex::new(()),
            idle: Notify::new(),
            pending: AtomicUsize::new(0),
            config,
            loader,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Entry>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A runner for `params`, loading (or reloading) it if needed. `keep_alive`, when given,
    /// becomes the runner's idle timeout; otherwise a new load gets the server default and a
    /// loaded runner keeps its current one.
    pub async fn acquire(
        self: &Arc<Self>,
        name: &str,
        params: LoadParams,
        keep_alive: Option<KeepAlive>,
    ) -> Result<Lease, SchedError> {
        if let Some(lease) = self.try_use(&params, keep_alive) {
            return Ok(lease);
        }
        if self.pending.fetch_add(1, Ordering::SeqCst) >= self.config.max_queue {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(SchedError::Busy);
        }
        let _pending = PendingGuard(&self.pending);
        let _load = self.load_lock.lock().await;
        // Another request may have loaded it while we queued.
        if let Some(lease) = self.try_use(&params, keep_alive) {
            return Ok(lease);
        }
        self.make_room(&params).await;

        let loader = Arc::clone(&self.loader);
        let load_params = params.clone();
        let runner = tokio::task::spawn_blocking(move || loader.load(&load_params))
            .await
            .map_err(|e| SchedError::Load(EngineError::Load(e.to_string())))??;
        let path = params.model_path.clone();
        let mut state = self.state();
        state.insert(
            path.clone(),
            Entry {
                runner: Arc::clone(&runner),
                params,
                name: name.to_string(),
                refs: 1,
                keep_alive: keep_alive.unwrap_or(self.config.default_keep_alive),
                generation: 0,
                expires_at: None,
                last_used: Instant::now(),
                unload_when_idle: false,
            },
        );
        Ok(Lease {
            sched: Arc::clone(self),
            path,
            runner,
        })
    }

    /// Uses the loaded runner when its load parameters match.
    fn try_use(
        self: &Arc<Self>,
        params: &LoadParams,
        keep_alive: Option<KeepAlive>,
    ) -> Option<Lease> {
        let mut state = self.state();
        // A runner whose engine died is dropped here; the caller loads a fresh one.
        if state
            .get(&params.model_path)
            .is_some_and(|e| !e.runner.is_alive())
        {
            if let Some(e) = state.remove(&params.model_path) {
                tracing::warn!(model = %e.name, "model runner stopped unexpectedly, reloading");
            }
            return None;
        }
        let entry = state.get_mut(&params.model_path)?;
        if entry.params != *params {
            return None;
        }
        entry.refs += 1;
        entry.generation += 1;
        entry.expires_at = None;
        entry.last_used = Instant::now();
        entry.unload_when_idle = false;
        if let Some(k) = keep_alive {
            entry.keep_alive = k;
        }
        Some(Lease {
            sched: Arc::clone(self),
            path: params.model_path.clone(),
            runner: Arc::clone(&entry.runner),
        })
    }

    /// Before loading `params`: unload a stale runner of the same model (once idle), and evict
    /// idle runners while at the loaded-model limit.
    async fn make_room(&self, params: &LoadParams) {
        loop {
            let notified = self.idle.notified();
            let mut to_unload = Vec::new();
            let mut wait = false;
            {
                let mut state = self.state();
                if let Some(old) = state.get(&params.model_path) {
                    if old.refs == 0 {
                        tracing::info!(
                            model = %old.name,
                            reason = %reload_reason(&old.params, params),
                            "reloading model"
                        );
                        if let Some(e) = state.remove(&params.model_path) {
                            to_unload.push(e.runner);
                        }
                    } else {
                        wait = true;
                    }
                }
                while !wait && state.len() >= self.config.max_loaded {
                    let victim = state
                        .iter()
                        .filter(|(_, e)| e.refs == 0)
                        .min_by_key(|(_, e)| e.last_used)
                        .map(|(p, _)| p.clone());
                    match victim.and_then(|p| state.remove(&p)) {
                        Some(e) => {
                            tracing::info!(model = %e.name, "evicting idle model to make room");
                            to_unload.push(e.runner);
                        }
                        None => wait = true,
                    }
                }
            }
            for runner in to_unload {
                unload(runner);
            }
            if !wait {
                return;
            }
            notified.await;
        }
    }

    fn release(self: &Arc<Self>, path: &PathBuf) {
        let mut state = self.state();
        let Some(entry) = state.get_mut(path) else {
            return;
        };
        entry.refs = entry.refs.saturating_sub(1);
        entry.last_used = Instant::now();
        if entry.refs > 0 {
            return;
        }
        if entry.keep_alive.is_zero() || entry.unload_when_idle || !entry.runner.is_alive() {
            if let Some(e) = state.remove(path) {
                unload(e.runner);
            }
            drop(state);
            self.idle.notify_waiters();
            return;
        }
        if let KeepAlive::Duration(d) = entry.keep_alive {
            entry.generation += 1;
            entry.expires_at = Some(SystemTime::now() + d);
            let generation = entry.generation;
            let sched = Arc::clone(self);
            let path = path.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    tokio::time::sleep(d).await;
                    sched.expire_if(&path, generation);
                });
            }
        }
        drop(state);
        self.idle.notify_waiters();
    }

    fn expire_if(&self, path: &PathBuf, generation: u64) {
        let mut state = self.state();
        let current = state
            .get(path)
            .is_some_and(|e| e.generation == generation && e.refs == 0);
        if current && let Some(e) = state.remove(path) {
            tracing::info!(model = %e.name, "keep_alive expired, unloading");
            unload(e.runner);
        }
        drop(state);
        self.idle.notify_waiters();
    }

    /// An unload request (`keep_alive: 0` with no prompt): unload now if idle, else as soon as
    /// the requests in flight finish.
    pub fn unload_model(&self, path: &PathBuf) {
        let mut state = self.state();
        let Some(entry) = state.get_mut(path) else {
            return;
        };
        entry.expires_at = Some(SystemTime::now());
        if entry.refs > 0 {
            entry.unload_when_idle = true;
            return;
        }
        if let Some(e) = state.remove(path) {
            tracing::info!(model = %e.name, "unloading model");
            unload(e.runner);
        }
        drop(state);
        self.idle.notify_waiters();
    }

    /// Every loaded runner, for `ps`.
    pub fn loaded(&self) -> Vec<LoadedInfo> {
        self.state()
            .iter()
            .map(|(path, e)| LoadedInfo {
                name: e.name.clone(),
                model_path: path.clone(),
                size: e.runner.info().total_size,
                context_length: e.params.num_ctx,
                expires_at: e.expires_at,
                keep_alive: e.keep_alive,
            })
            .collect()
    }

    /// Unloads everything (server shutdown): requests in flight end with an error line at the
    /// engine's next step, so the server does not wait for long generations to finish.
    pub fn shutdown(&self) {
        let runners: Vec<_> = self.state().drain().map(|(_, e)| e.runner).collect();
        for r in runners {
            unload(r);
        }
        self.idle.notify_waiters();
    }
}

fn reload_reason(old: &LoadParams, new: &LoadParams) -> String {
    let mut why = Vec::new();
    let mut cmp = |name: &str, a: String, b: String| {
        if a != b {
            why.push(format!("{name} {a} -> {b}"));
        }
    };
    cmp("num_ctx", old.num_ctx.to_string(), new.num_ctx.to_string());
    cmp(
        "num_batch",
        old.num_batch.to_string(),
        new.num_batch.to_string(),
    );
    cmp(
        "num_thread",
        old.num_thread.to_string(),
        new.num_thread.to_string(),
    );
    cmp(
        "num_parallel",
        old.num_parallel.to_string(),
        new.num_parallel.to_string(),
    );
    cmp(
        "use_mmap",
        old.use_mmap.to_string(),
        new.use_mmap.to_string(),
    );
    cmp(
        "adapters",
        format!("{:?}", old.adapters),
        format!("{:?}", new.adapters),
    );
    if why.is_empty() {
        "load parameters changed".to_string()
    } else {
        format!("options changed: {}", why.join(", "))
    }
}

/// Stops a runner the scheduler lets go of. Non-blocking: the engine frees its memory on its
/// own thread once the requests still holding it are gone.
fn unload(runner: Arc<dyn Runner>) {
    runner.stop();
}
