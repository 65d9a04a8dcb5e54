//! The scheduler: which models are loaded, who is using them, and when they go away.
//!
//! Runners are keyed by the model's weight file, so two names for the same blob share one loaded
//! model. A request takes a [`Lease`]; when the last lease of a runner drops, its `keep_alive`
//! timer starts (zero unloads at once, negative never). Loads happen one at a time. A request
//! whose load parameters differ from the loaded runner's waits for that runner to go idle and
//! reloads it, logging why. At `OLLAMA_MAX_LOADED_MODELS` the least recently used idle runner is
//! evicted. More than `OLLAMA_MAX_QUEUE` requests waiting for a load get 503, and so do requests
//! beyond `num_parallel` running plus `OLLAMA_MAX_QUEUE` waiting on one loaded model.
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
    /// Set from the scheduler-wide counter on every use and release, so a stale keep-alive
    /// timer knows it lost, also to a runner that replaced this one's model (a reload).
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
    /// Source of [`Entry::generation`]: never repeats, even across reloads.
    generations: std::sync::atomic::AtomicU64,
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
            generations: std::sync::atomic::AtomicU64::new(0),
            config,
            loader,
        })
    }

    fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed) + 1
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
        if let Some(lease) = self.try_use(&params, keep_alive)? {
            return Ok(lease);
        }
        if self.pending.fetch_add(1, Ordering::SeqCst) >= self.config.max_queue {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(SchedError::Busy);
        }
        let _pending = PendingGuard(&self.pending);
        let _load = self.load_lock.lock().await;
        // Another request may have loaded it while we queued.
        if let Some(lease) = self.try_use(&params, keep_alive)? {
            return Ok(lease);
        }
        self.make_room(&params).await;

        let loader = Arc::clone(&self.loader);
        let load_params = params.clone();
        let loading = Instant::now();
        let runner = tokio::task::spawn_blocking(move || loader.load(&load_params))
            .await
            .map_err(|e| SchedError::Load(EngineError::Load(e.to_string())))??;
        crate::metrics::model_loaded(loading.elapsed().as_secs_f64());
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
                generation: self.next_generation(),
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

    /// Uses the loaded runner when its load parameters match. A runner already serving
    /// `num_parallel` requests with `max_queue` more waiting for a slot answers busy: requests
    /// queue inside a loaded model only up to the same limit as for a load.
    fn try_use(
        self: &Arc<Self>,
        params: &LoadParams,
        keep_alive: Option<KeepAlive>,
    ) -> Result<Option<Lease>, SchedError> {
        let mut state = self.state();
        // A runner whose engine died is dropped here; the caller loads a fresh one.
        if state
            .get(&params.model_path)
            .is_some_and(|e| !e.runner.is_alive())
        {
            if let Some(e) = state.remove(&params.model_path) {
                tracing::warn!(model = %e.name, "model runner stopped unexpectedly, reloading");
            }
            return Ok(None);
        }
        let Some(entry) = state.get_mut(&params.model_path) else {
            return Ok(None);
        };
        if entry.params != *params {
            return Ok(None);
        }
        let capacity =
            (entry.params.num_parallel.max(1) as usize).saturating_add(self.config.max_queue);
        if entry.refs >= capacity {
            return Err(SchedError::Busy);
        }
        entry.refs += 1;
        entry.generation = self.next_generation();
        entry.expires_at = None;
        entry.last_used = Instant::now();
        entry.unload_when_idle = false;
        if let Some(k) = keep_alive {
            entry.keep_alive = k;
        }
        Ok(Some(Lease {
            sched: Arc::clone(self),
            path: params.model_path.clone(),
            runner: Arc::clone(&entry.runner),
        }))
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
            entry.generation = self.next_generation();
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
    /// Requests waiting: for a load, or for a slot of a loaded model.
    pub fn queue_depth(&self) -> usize {
        let waiting: usize = self
            .state()
            .values()
            .map(|e| e.refs.saturating_sub(e.params.num_parallel.max(1) as usize))
            .sum();
        waiting + self.pending.load(Ordering::SeqCst)
    }

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
        "draft_num_predict",
        old.draft_max.to_string(),
        new.draft_max.to_string(),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::engine::{CompletionRequest, Event, RunnerInfo};

    struct FakeRunner {
        alive: AtomicBool,
        stopped: AtomicBool,
        info: RunnerInfo,
    }

    impl Runner for FakeRunner {
        fn info(&self) -> &RunnerInfo {
            &self.info
        }
        fn is_alive(&self) -> bool {
            self.alive.load(Ordering::SeqCst) && !self.stopped.load(Ordering::SeqCst)
        }
        fn stop(&self) {
            self.stopped.store(true, Ordering::SeqCst);
        }
        fn completion(
            &self,
            _: CompletionRequest,
        ) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
            Err(EngineError::Stopped)
        }
        fn tokenize(&self, _: String) -> Result<oneshot::Receiver<Vec<i32>>, EngineError> {
            Err(EngineError::Stopped)
        }
        fn detokenize(&self, _: Vec<i32>) -> Result<oneshot::Receiver<String>, EngineError> {
            Err(EngineError::Stopped)
        }
    }

    /// Records every runner it makes; a load can be held until the test lets it go.
    #[derive(Default)]
    struct FakeLoader {
        made: Mutex<Vec<Arc<FakeRunner>>>,
        gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    }

    impl Loader for FakeLoader {
        fn load(&self, _: &LoadParams) -> Result<Arc<dyn Runner>, EngineError> {
            if let Some(gate) = self.gate.lock().unwrap().as_ref() {
                let _ = gate.recv();
            }
            let r = Arc::new(FakeRunner {
                alive: AtomicBool::new(true),
                stopped: AtomicBool::new(false),
                info: RunnerInfo {
                    n_ctx_train: 4096,
                    model_size: 1,
                    total_size: 2,
                },
            });
            self.made.lock().unwrap().push(Arc::clone(&r));
            Ok(r)
        }
    }

    impl FakeLoader {
        fn made(&self) -> Vec<Arc<FakeRunner>> {
            self.made.lock().unwrap().clone()
        }
    }

    fn params(path: &str) -> LoadParams {
        LoadParams {
            model_path: PathBuf::from(path),
            adapters: Vec::new(),
            num_ctx: 4096,
            num_batch: 512,
            num_thread: 1,
            num_parallel: 1,
            use_mmap: true,
            flash_attention: None,
            kv_cache_type: Default::default(),
            draft_max: 0,
            llama_lm_head: false,
            projector: None,
        }
    }

    fn sched(max_loaded: usize, max_queue: usize) -> (Arc<Scheduler>, Arc<FakeLoader>) {
        let loader = Arc::new(FakeLoader::default());
        let s = Scheduler::new(
            SchedConfig {
                default_keep_alive: KeepAlive::Duration(Duration::from_secs(300)),
                max_loaded,
                max_queue,
            },
            Arc::clone(&loader) as Arc<dyn Loader>,
        );
        (s, loader)
    }

    async fn eventually(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..500 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened: {what}");
    }

    const ZERO: Option<KeepAlive> = Some(KeepAlive::Duration(Duration::ZERO));

    #[tokio::test]
    async fn names_of_one_blob_share_a_runner() {
        let (s, loader) = sched(3, 10);
        let a = s.acquire("a", params("/m"), None).await.unwrap();
        let b = s.acquire("b", params("/m"), None).await.unwrap();
        assert_eq!(loader.made().len(), 1);
        assert!(Arc::ptr_eq(&a.runner, &b.runner));
        assert_eq!(s.loaded().len(), 1);
        assert_eq!(s.loaded()[0].name, "a", "ps shows the name that loaded it");
    }

    #[tokio::test]
    async fn keep_alive_zero_unloads_when_the_last_request_ends() {
        let (s, loader) = sched(3, 10);
        let a = s.acquire("a", params("/m"), ZERO).await.unwrap();
        let b = s.acquire("a", params("/m"), None).await.unwrap();
        drop(a);
        assert_eq!(s.loaded().len(), 1, "still in use");
        drop(b);
        assert!(s.loaded().is_empty());
        assert!(loader.made()[0].stopped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn negative_keep_alive_keeps_the_model_forever() {
        let (s, loader) = sched(3, 10);
        drop(
            s.acquire("a", params("/m"), Some(KeepAlive::Forever))
                .await
                .unwrap(),
        );
        let l = &s.loaded()[0];
        assert_eq!(l.keep_alive, KeepAlive::Forever);
        assert_eq!(l.expires_at, None);
        assert!(!loader.made()[0].stopped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_duration_expires_and_a_later_request_resets_it() {
        let (s, loader) = sched(3, 10);
        let short = Some(KeepAlive::Duration(Duration::from_millis(200)));
        drop(s.acquire("a", params("/m"), short).await.unwrap());
        assert!(s.loaded()[0].expires_at.is_some());
        // Used again before it fires: the old timer loses, a request without keep_alive keeps
        // the current one.
        let again = s.acquire("a", params("/m"), None).await.unwrap();
        assert_eq!(s.loaded()[0].expires_at, None, "in use: no timer");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(s.loaded().len(), 1, "in use, so never expired");
        drop(again);
        assert_eq!(
            s.loaded()[0].keep_alive,
            KeepAlive::Duration(Duration::from_millis(200))
        );
        eventually("the timer to unload it", || s.loaded().is_empty()).await;
        assert_eq!(loader.made().len(), 1);
        assert!(loader.made()[0].stopped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn at_the_limit_the_least_recently_used_idle_model_is_evicted() {
        let (s, loader) = sched(2, 10);
        drop(s.acquire("a", params("/a"), None).await.unwrap());
        drop(s.acquire("b", params("/b"), None).await.unwrap());
        // `a` is used again, so `b` is now the least recently used.
        drop(s.acquire("a", params("/a"), None).await.unwrap());
        let _c = s.acquire("c", params("/c"), None).await.unwrap();
        let mut names: Vec<String> = s.loaded().into_iter().map(|l| l.name).collect();
        names.sort();
        assert_eq!(names, ["a", "c"]);
        let made = loader.made();
        assert!(made[1].stopped.load(Ordering::SeqCst), "b evicted");
        assert!(!made[0].stopped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn at_the_limit_with_every_model_busy_a_load_waits() {
        let (s, _) = sched(1, 10);
        let a = s.acquire("a", params("/a"), None).await.unwrap();
        let s2 = Arc::clone(&s);
        let b = tokio::spawn(async move { s2.acquire("b", params("/b"), None).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!b.is_finished(), "waits while a is busy");
        drop(a);
        assert!(b.await.unwrap());
        assert_eq!(s.loaded()[0].name, "b");
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let (s, loader) = sched(3, 1);
        let (open, gate) = std::sync::mpsc::channel();
        *loader.gate.lock().unwrap() = Some(gate);
        let s2 = Arc::clone(&s);
        let first = tokio::spawn(async move { s2.acquire("a", params("/a"), None).await.is_ok() });
        eventually("the first load to start", || {
            s.pending.load(Ordering::SeqCst) == 1
        })
        .await;
        let err = s.acquire("b", params("/b"), None).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "server busy, please try again.  maximum pending requests exceeded"
        );
        open.send(()).unwrap();
        assert!(first.await.unwrap());
        // A loaded model is served without queueing.
        assert!(s.acquire("a", params("/a"), None).await.is_ok());
    }

    #[tokio::test]
    async fn a_loaded_model_queues_at_most_max_queue_beyond_its_slots() {
        let (s, _) = sched(3, 2);
        // num_parallel 1: one running and two waiting are served, the fourth is busy.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(s.acquire("a", params("/m"), None).await.unwrap());
        }
        let err = s.acquire("a", params("/m"), None).await.err().unwrap();
        assert!(matches!(err, SchedError::Busy), "{err}");
        drop(held.into_iter().next());
        assert!(
            s.acquire("a", params("/m"), None).await.is_ok(),
            "room again"
        );
    }

    #[tokio::test]
    async fn other_load_parameters_reload_the_model_once_idle() {
        let (s, loader) = sched(3, 10);
        let a = s.acquire("a", params("/m"), None).await.unwrap();
        let mut bigger = params("/m");
        bigger.num_ctx = 8192;
        let s2 = Arc::clone(&s);
        let b = tokio::spawn(async move { s2.acquire("a", bigger, None).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!b.is_finished(), "waits for the running request");
        drop(a);
        assert!(b.await.unwrap());
        let made = loader.made();
        assert_eq!(made.len(), 2);
        assert!(made[0].stopped.load(Ordering::SeqCst));
        assert_eq!(s.loaded()[0].context_length, 8192);
        let mut p = params("/m");
        p.num_thread = 2;
        assert_eq!(
            reload_reason(&params("/m"), &p),
            "options changed: num_thread 1 -> 2",
            "the log says why"
        );
    }

    #[tokio::test]
    async fn a_reload_keeps_the_new_keep_alive_when_the_old_timer_fires() {
        // LangChain and LlamaIndex send different num_ctx values: the second request reloads
        // the model with its own keep_alive, and the replaced runner's timer must not unload it.
        let (s, loader) = sched(3, 10);
        let short = Some(KeepAlive::Duration(Duration::from_millis(200)));
        drop(s.acquire("a", params("/m"), short).await.unwrap());
        let mut other = params("/m");
        other.num_ctx = 2048;
        let long = KeepAlive::Duration(Duration::from_secs(600));
        drop(s.acquire("a", other, Some(long)).await.unwrap());
        assert_eq!(loader.made().len(), 2);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            s.loaded().len(),
            1,
            "the old runner's timer unloaded the new one"
        );
        assert!(!loader.made()[1].stopped.load(Ordering::SeqCst));
        assert_eq!(s.loaded()[0].keep_alive, long);
    }

    #[tokio::test]
    async fn a_dead_runner_is_replaced_by_a_fresh_one() {
        let (s, loader) = sched(3, 10);
        drop(s.acquire("a", params("/m"), None).await.unwrap());
        loader.made()[0].alive.store(false, Ordering::SeqCst);
        let lease = s.acquire("a", params("/m"), None).await.unwrap();
        assert_eq!(loader.made().len(), 2);
        assert!(lease.runner.is_alive());
    }

    #[tokio::test]
    async fn an_unload_request_waits_for_requests_in_flight() {
        let (s, loader) = sched(3, 10);
        let a = s.acquire("a", params("/m"), None).await.unwrap();
        s.unload_model(&PathBuf::from("/m"));
        assert_eq!(s.loaded().len(), 1);
        assert!(!loader.made()[0].stopped.load(Ordering::SeqCst));
        drop(a);
        assert!(s.loaded().is_empty());
        assert!(loader.made()[0].stopped.load(Ordering::SeqCst));
    }
}
