//! `push`: each blob the registry lacks is uploaded (a cross-repo mount first when the layer
//! names the model it came from on the same registry), in Ollama's part sizes sent one after the
//! other as `PATCH` chunks, each retried with backoff from where the registry says the upload
//! stands; then the manifest, byte for byte as it is on disk. Progress: `retrieving manifest`,
//! `pushing <digest12>` with `total`/`completed`, `pushing manifest`, `success`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::client::Registry;
use super::{Context, MAX_RETRIES, Progress, RegistryError, backoff, plan_parts};
use crate::api::types::ProgressResponse;
use crate::store::blob::BlobStore;
use crate::store::digest::Digest;
use crate::store::manifest::{Layer, MEDIA_TYPE_MANIFEST};
use crate::store::name::Name;

const TICK: Duration = Duration::from_millis(60);

pub async fn push(
    ctx: Context<'_>,
    name: &Name,
    progress: Progress<'_>,
) -> Result<(), RegistryError> {
    progress(ProgressResponse::status("retrieving manifest"));
    let stored = ctx
        .store
        .read(name)?
        .ok_or_else(|| RegistryError::ModelNotFound(name.display_shortest()))?;
    let reg = Registry::new(name, ctx.insecure, ctx.home)?;
    for layer in stored
        .manifest
        .layers
        .iter()
        .chain(std::iter::once(&stored.manifest.config))
    {
        upload(&reg, name, ctx.store.blobs(), layer, progress).await?;
    }
    progress(ProgressResponse::status("pushing manifest"));
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MEDIA_TYPE_MANIFEST),
    );
    let body = bytes::Bytes::from(stored.bytes);
    let make = move || reqwest::Body::from(body.clone());
    reg.send(Method::PUT, reg.manifest_url(&name.tag)?, h, Some(&make))
        .await?;
    progress(ProgressResponse::status("success"));
    Ok(())
}

async fn upload(
    reg: &Registry,
    name: &Name,
    blobs: &BlobStore,
    layer: &Layer,
    progress: Progress<'_>,
) -> Result<(), RegistryError> {
    let digest = Digest::parse(&layer.digest)
        .map_err(|_| RegistryError::Invalid(format!("invalid digest {}", layer.digest)))?;
    let path = blobs.path(&digest);
    let total = layer.size;
    let line = |completed: u64| ProgressResponse {
        status: format!("pushing {}", digest.short()),
        digest: digest.to_string(),
        total,
        completed,
    };
    progress(line(0));
    match reg
        .send(
            Method::HEAD,
            reg.blob_url(&digest.to_string())?,
            HeaderMap::new(),
            None,
        )
        .await
    {
        Ok(_) => {
            progress(line(total));
            return Ok(());
        }
        Err(RegistryError::NotExist) => {}
        Err(e) => return Err(e),
    }
    if !path.is_file() {
        return Err(RegistryError::Io(format!(
            "{}: blob is missing from the store",
            path.display()
        )));
    }

    let mut start = reg.uploads_url()?;
    if let Some(from) = layer.from.as_deref().and_then(|f| Name::parse(f).ok())
        && from.host.eq_ignore_ascii_case(&name.host)
        && !(from.namespace == name.namespace && from.model == name.model)
    {
        start
            .query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", &format!("{}/{}", from.namespace, from.model));
    }
    let resp = reg
        .send(Method::POST, start, HeaderMap::new(), None)
        .await?;
    if resp.status() == StatusCode::CREATED {
        tracing::info!(digest = %digest, "mounted from another repository");
        progress(line(total));
        return Ok(());
    }
    let mut location = reg.location(&resp)?;

    for (offset, len) in plan_parts(total) {
        let end = offset + len - 1;
        let mut next = offset;
        let mut tries = 0;
        while next <= end {
            let sent = Arc::new(AtomicU64::new(0));
            let body = file_range(path.clone(), next, end + 1 - next, Arc::clone(&sent));
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Ok(v) = format!("{next}-{end}").parse() {
                h.insert(header::CONTENT_RANGE, v);
            }
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end + 1 - next));
            let send = reg.send(Method::PATCH, location.clone(), h, Some(&body));
            tokio::pin!(send);
            let mut tick = tokio::time::interval(TICK);
            let result = loop {
                tokio::select! {
                    r = &mut send => break r,
                    _ = tick.tick() => progress(line(next + sent.load(Ordering::Relaxed))),
                }
            };
            match result {
                Ok(resp) => {
                    location = reg.location(&resp)?;
                    next = end + 1;
                    progress(line(next));
                }
                Err(e) => {
                    if tries >= MAX_RETRIES {
                        return Err(RegistryError::MaxRetries(e.to_string()));
                    }
                    tracing::info!("{} upload at {next} failed: {e}, retrying", digest.short());
                    tokio::time::sleep(backoff(tries)).await;
                    tries += 1;
                    // Continue from what the registry has, when it says.
                    if let Some(have) = upload_offset(reg, &location).await
                        && (offset..=end + 1).contains(&have)
                    {
                        next = have;
                    }
                }
            }
        }
    }

    let mut finish = location;
    finish
        .query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    let empty = || reqwest::Body::from("");
    reg.send(Method::PUT, finish, h, Some(&empty)).await?;
    progress(line(total));
    Ok(())
}

/// How many bytes an upload holds, from `GET <location>`'s `Range: 0-<last>`. Distribution
/// answers `0-0` both for nothing and for one byte; it is read as nothing (the resend of a whole
/// chunk is then either right or refused, never silently short).
async fn upload_offset(reg: &Registry, location: &Url) -> Option<u64> {
    let resp = reg
        .send(Method::GET, location.clone(), HeaderMap::new(), None)
        .await
        .ok()?;
    let range = resp.headers().get(header::RANGE)?.to_str().ok()?;
    parse_upload_range(range)
}

fn parse_upload_range(range: &str) -> Option<u64> {
    let (first, last) = range.trim().trim_start_matches("bytes=").split_once('-')?;
    let (first, last) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
    match (first, last) {
        (0, 0) => Some(0),
        (0, l) => Some(l + 1),
        _ => None,
    }
}

/// A body maker for `len` bytes of `path` from `start`, counting what is read into `sent`.
fn file_range(
    path: PathBuf,
    start: u64,
    len: u64,
    sent: Arc<AtomicU64>,
) -> impl Fn() -> reqwest::Body + Send + Sync {
    move || {
        sent.store(0, Ordering::Relaxed);
        let path = path.clone();
        let counter = Arc::clone(&sent);
        let stream = futures_util::stream::once(async move {
            let mut f = tokio::fs::File::open(&path).await?;
            f.seek(std::io::SeekFrom::Start(start)).await?;
            Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::new(f.take(len)))
        })
        .try_flatten()
        .inspect(move |chunk| {
            if let Ok(c) = chunk {
                counter.fetch_add(c.len() as u64, Ordering::Relaxed);
            }
        });
        reqwest::Body::wrap_stream(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_upload_range;

    #[test]
    fn upload_ranges() {
        assert_eq!(parse_upload_range("0-0"), Some(0));
        assert_eq!(parse_upload_range("0-99"), Some(100));
        assert_eq!(parse_upload_range("bytes=0-9"), Some(10));
        assert_eq!(parse_upload_range("5-9"), None);
        assert_eq!(parse_upload_range("junk"), None);
    }
}
