//! Blob downloads. A blob is fetched in ranged parts ([`super::plan_parts`]), up to 16 at once,
//! into `blobs/sha256-<hex>-partial`; each part's progress is kept in a state file beside it
//! (`sha256-<hex>-partial-<N>`, `{"Completed","N","Offset","Size"}` as Ollama writes them),
//! saved as the bytes land. Start-up pruning keeps these files (until none of them has changed
//! for a week, `store::PARTIAL_MAX_AGE`), so a pull interrupted by a restart (or a crash) of the
//! server continues where its parts stopped; Ollama deletes them at start-up and starts over.
//!
//! A part that fails is retried (6 times, 1 s, 2 s, 4 s... apart); one that receives nothing for
//! 30 s is restarted without using up a retry. When every part is in, the whole file is hashed:
//! only a file whose sha256 is the digest is renamed to its blob name, so a blob that is visible
//! is correct; a mismatch deletes the partial file and its state.
//!
//! Every digest has at most one download: concurrent pulls of the same blob share it and its
//! progress, and it stops when the last of them goes away.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::client::Registry;
use super::{MAX_RETRIES, RegistryError, backoff, plan_parts};
use crate::store::blob::BlobStore;
use crate::store::digest::Digest;

/// A part that receives nothing for this long is restarted.
const STALL: Duration = Duration::from_secs(30);
/// How many parts of one blob download at once.
const PARALLEL_PARTS: usize = 16;
/// Part state is saved at least this often while bytes arrive.
const SAVE_EVERY_BYTES: u64 = 8 << 20;
const SAVE_EVERY: Duration = Duration::from_secs(1);

type Outcome = Option<Result<(), Arc<RegistryError>>>;

/// The downloads running in a server, by digest.
#[derive(Default)]
pub struct Downloads {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    /// Held by the task writing a digest's partial files, so a download started after a
    /// cancelled one waits for it to let go of them.
    files: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct Job {
    completed: AtomicU64,
    total: AtomicU64,
    waiters: AtomicUsize,
    cancel: CancellationToken,
    done: watch::Sender<Outcome>,
}

/// One pull's share of a download. Dropping it stops waiting; the download stops when no
/// handle is left.
pub struct Handle {
    job: Arc<Job>,
    rx: watch::Receiver<Outcome>,
}

impl Handle {
    pub fn completed(&self) -> u64 {
        self.job.completed.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.job.total.load(Ordering::Relaxed)
    }

    /// Waits for the download to end: its blob is in the store, verified, or it failed.
    pub async fn wait(&mut self) -> Result<(), RegistryError> {
        let outcome = self
            .rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| RegistryError::Cancelled)?
            .clone();
        match outcome {
            Some(Ok(())) | None => Ok(()),
            Some(Err(e)) => Err(RegistryError::Shared(e)),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.job.waiters.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.job.cancel.cancel();
        }
    }
}

impl Downloads {
    /// Joins the download of blob `digest` (`size` bytes, as the manifest says) from `reg`,
    /// starting it when none is running.
    pub fn start(
        self: &Arc<Self>,
        reg: Arc<Registry>,
        blobs: BlobStore,
        digest: Digest,
        size: u64,
    ) -> Handle {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(job) = jobs.get(&digest.to_string())
            && !job.cancel.is_cancelled()
        {
            job.waiters.fetch_add(1, Ordering::AcqRel);
            return Handle {
                job: Arc::clone(job),
                rx: job.done.subscribe(),
            };
        }
        let (done, rx) = watch::channel(None);
        let job = Arc::new(Job {
            completed: AtomicU64::new(0),
            total: AtomicU64::new(size),
            waiters: AtomicUsize::new(1),
            cancel: CancellationToken::new(),
            done,
        });
        jobs.insert(digest.to_string(), Arc::clone(&job));
        drop(jobs);
        let files = self.file_lock(&digest);
        let this = Arc::clone(self);
        let task_job = Arc::clone(&job);
        tokio::spawn(async move {
            let _files = files.lock().await;
            let result = fetch(&task_job, &reg, &blobs, &digest, size).await;
            if let Err(e) = &result {
                tracing::warn!(digest = %digest, "download failed: {e}");
            }
            let _ = task_job.done.send(Some(result.map_err(Arc::new)));
            let mut jobs = this.jobs.lock().unwrap_or_else(|p| p.into_inner());
            if jobs
                .get(&digest.to_string())
                .is_some_and(|j| Arc::ptr_eq(j, &task_job))
            {
                jobs.remove(&digest.to_string());
            }
        });
        Handle { job, rx }
    }

    fn file_lock(&self, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(files.entry(digest.to_string()).or_default())
    }
}

/// A part of a blob and how much of it is on disk.
struct Part {
    n: usize,
    offset: u64,
    size: u64,
    completed: AtomicU64,
    state: PathBuf,
}

impl Part {
    fn done(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// Writes the state file (atomically), as Ollama's JSON: `{"Completed","N","Offset","Size"}`.
    fn save(&self) -> Result<(), RegistryError> {
        let v = serde_json::json!({
            "Completed": self.done(), "N": self.n, "Offset": self.offset, "Size": self.size,
        });
        crate::store::write_atomic(&self.state, v.to_string().as_bytes())?;
        Ok(())
    }
}

fn partial_path(blobs: &BlobStore, digest: &Digest) -> PathBuf {
    blobs.dir().join(format!("{}-partial", digest.file_name()))
}

/// The bytes a partial download of `digest` holds on disk (its allocated blocks: the file is
/// sparse until its parts land), 0 when there is none.
pub fn partial_on_disk(blobs: &BlobStore, digest: &Digest) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(partial_path(blobs, digest)).map_or(0, |m| m.blocks().saturating_mul(512))
}

/// The part state files of a partial download, in part order; empty when there are none or
/// they do not describe one consistent plan for `total` bytes.
fn load_parts(partial: &Path, total: u64) -> Vec<Part> {
    let mut parts = Vec::new();
    for n in 0.. {
        let state = PathBuf::from(format!("{}-{n}", partial.display()));
        let Ok(text) = std::fs::read_to_string(&state) else {
            break;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Vec::new();
        };
        let field = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
        let (Some(offset), Some(size), Some(completed)) =
            (field("Offset"), field("Size"), field("Completed"))
        else {
            return Vec::new();
        };
        parts.push(Part {
            n,
            offset,
            size,
            completed: AtomicU64::new(completed.min(size)),
            state,
        });
    }
    let mut expect = 0;
    for p in &parts {
        if p.offset != expect {
            return Vec::new();
        }
        expect += p.size;
    }
    if expect != total || !partial.is_file() {
        return Vec::new();
    }
    parts
}

fn remove_partial(partial: &Path) {
    let _ = std::fs::remove_file(partial);
    for n in 0.. {
        if std::fs::remove_file(format!("{}-{n}", partial.display())).is_err() {
            break;
        }
    }
}

async fn fetch(
    job: &Job,
    reg: &Registry,
    blobs: &BlobStore,
    digest: &Digest,
    size: u64,
) -> Result<(), RegistryError> {
    if blobs.exists(digest) {
        job.completed.store(size, Ordering::Relaxed);
        return Ok(());
    }
    std::fs::create_dir_all(blobs.dir())?;
    let partial = partial_path(blobs, digest);
    let mut parts = load_parts(&partial, size);
    if parts.is_empty() {
        remove_partial(&partial);
        for (n, (offset, len)) in plan_parts(size).into_iter().enumerate() {
            let p = Part {
                n,
                offset,
                size: len,
                completed: AtomicU64::new(0),
                state: PathBuf::from(format!("{}-{n}", partial.display())),
            };
            p.save()?;
            parts.push(p);
        }
    } else {
        let done: u64 = parts.iter().map(Part::done).sum();
        tracing::info!(digest = %digest, "resuming download at {done} of {size} bytes");
    }
    job.completed
        .store(parts.iter().map(Part::done).sum(), Ordering::Relaxed);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&partial)?;
    file.set_len(size)?;
    drop(file);

    let (url, authorized) = direct_url(reg, reg.blob_url(&digest.to_string())?).await?;
    let parts: Vec<Arc<Part>> = parts.into_iter().map(Arc::new).collect();
    futures_util::stream::iter(parts.iter().cloned().map(|part| {
        let url = url.clone();
        let partial = partial.clone();
        async move { download_part(job, reg, &url, authorized, &partial, &part, digest).await }
    }))
    .buffer_unordered(PARALLEL_PARTS)
    .try_collect::<Vec<()>>()
    .await?;

    // Every part is in: the file becomes the blob only if its bytes are the digest's.
    let check = partial.clone();
    let got = tokio::task::spawn_blocking(move || BlobStore::hash_file(&check))
        .await
        .map_err(|e| RegistryError::Io(e.to_string()))??;
    if &got != digest {
        remove_partial(&partial);
        return Err(RegistryError::DigestMismatch {
            want: digest.to_string(),
            got: got.to_string(),
        });
    }
    blobs.publish_file(&partial, digest)?;
    remove_partial(&partial);
    Ok(())
}

/// Where the blob's bytes come from: its registry URL, or the first redirect that leaves the
/// registry's host (a CDN), which gets no credentials. Redirects within the host are followed.
async fn direct_url(reg: &Registry, mut url: Url) -> Result<(Url, bool), RegistryError> {
    for _ in 0..10 {
        let resp = reg
            .send(Method::HEAD, url.clone(), HeaderMap::new(), None)
            .await?;
        if !resp.status().is_redirection() {
            return Ok((url, true));
        }
        let next = redirect_target(&resp, &url)?;
        if !reg.same_host(&next) {
            return Ok((next, false));
        }
        url = next;
    }
    Err(RegistryError::Invalid("too many redirects".into()))
}

/// Where a redirect response points, resolved against the URL it answered.
fn redirect_target(resp: &reqwest::Response, from: &Url) -> Result<Url, RegistryError> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| from.join(l).ok())
        .ok_or_else(|| RegistryError::Invalid("redirect without a location".into()))
}

enum Attempt {
    Stalled,
    Failed(RegistryError),
}

impl From<RegistryError> for Attempt {
    fn from(e: RegistryError) -> Attempt {
        Attempt::Failed(e)
    }
}

impl From<std::io::Error> for Attempt {
    fn from(e: std::io::Error) -> Attempt {
        Attempt::Failed(e.into())
    }
}

async fn download_part(
    job: &Job,
    reg: &Registry,
    url: &Url,
    authorized: bool,
    partial: &Path,
    part: &Part,
    digest: &Digest,
) -> Result<(), RegistryError> {
    let mut tries = 0;
    while part.done() < part.size {
        let attempt = tokio::select! {
            r = attempt(job, reg, url, authorized, partial, part) => r,
            _ = job.cancel.cancelled() => {
                let _ = part.save();
                return Err(RegistryError::Cancelled);
            }
        };
        match attempt {
            Ok(()) => {}
            Err(Attempt::Stalled) => tracing::info!(
                "{} part {} stalled; retrying. If this persists, press ctrl-c to exit, then 'rollama pull' to find a faster connection.",
                digest.short(),
                part.n
            ),
            Err(Attempt::Failed(e)) => {
                if tries >= MAX_RETRIES {
                    return Err(RegistryError::MaxRetries(e.to_string()));
                }
                tracing::info!(
                    "{} part {} attempt {tries} failed: {e}, retrying",
                    digest.short(),
                    part.n
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff(tries)) => {}
                    _ = job.cancel.cancelled() => return Err(RegistryError::Cancelled),
                }
                tries += 1;
            }
        }
    }
    Ok(())
}

/// One ranged GET for what is left of `part`, written at its offset as it arrives.
async fn attempt(
    job: &Job,
    reg: &Registry,
    url: &Url,
    authorized: bool,
    partial: &Path,
    part: &Part,
) -> Result<(), Attempt> {
    let start = part.offset + part.done();
    let end = part.offset + part.size - 1;
    let mut headers = HeaderMap::new();
    if let Ok(v) = format!("bytes={start}-{end}").parse() {
        headers.insert(header::RANGE, v);
    }
    // A registry may redirect each blob request (to a CDN): followed here, with credentials
    // only while on the registry's own host.
    let (mut url, mut authorized) = (url.clone(), authorized);
    let mut hops = 0;
    let resp = loop {
        let resp = if authorized {
            reg.send(Method::GET, url.clone(), headers.clone(), None)
                .await?
        } else {
            reg.http()
                .get(url.clone())
                .headers(headers.clone())
                .send()
                .await
                .map_err(RegistryError::from)?
        };
        if !resp.status().is_redirection() || hops >= 10 {
            break resp;
        }
        hops += 1;
        url = redirect_target(&resp, &url)?;
        authorized = reg.same_host(&url);
    };
    let whole = start == 0 && end + 1 == job.total.load(Ordering::Relaxed);
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => {}
        StatusCode::OK if whole => {}
        s => {
            return Err(Attempt::Failed(RegistryError::Status {
                code: s.as_u16(),
                body: "unexpected response to a ranged request".into(),
            }));
        }
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(partial)
        .await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut body = resp.bytes_stream();
    let mut unsaved = 0u64;
    let mut saved_at = Instant::now();
    while part.done() < part.size {
        let chunk = match tokio::time::timeout(STALL, body.next()).await {
            Err(_) => {
                file.flush().await?;
                part.save()?;
                return Err(Attempt::Stalled);
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                file.flush().await?;
                part.save()?;
                return Err(Attempt::Failed(e.into()));
            }
            Ok(Some(Ok(c))) => c,
        };
        let room = (part.size - part.done()) as usize;
        let bytes = &chunk[..chunk.len().min(room)];
        file.write_all(bytes).await?;
        let n = bytes.len() as u64;
        part.completed.fetch_add(n, Ordering::Relaxed);
        job.completed.fetch_add(n, Ordering::Relaxed);
        unsaved += n;
        // The state never claims more than has been handed to the OS.
        if unsaved >= SAVE_EVERY_BYTES || saved_at.elapsed() >= SAVE_EVERY {
            file.flush().await?;
            part.save()?;
            unsaved = 0;
            saved_at = Instant::now();
        }
    }
    file.flush().await?;
    part.save()?;
    if part.done() < part.size {
        return Err(Attempt::Failed(RegistryError::Http(
            "unexpected EOF".into(),
        )));
    }
    Ok(())
}
