//! `pull`: the manifest, then each layer and the config blob (already-present blobs count as
//! complete at once), then the manifest written last, byte for byte and atomically, so a model
//! is visible only when everything it names is in the store and verified. Progress follows
//! Ollama's stream: `pulling manifest`, `pulling <digest12>` with `total`/`completed` every
//! 60 ms, `verifying sha256 digest`, `writing manifest`, `removing unused layers` (when an older
//! version of the tag left some), `success`.

use std::sync::Arc;
use std::time::Duration;

use super::client::Registry;
use super::{Context, Progress, RegistryError};
use crate::api::types::ProgressResponse;
use crate::store::digest::Digest;
use crate::store::manifest::Manifest;
use crate::store::name::Name;

/// How often a running download reports its progress.
const TICK: Duration = Duration::from_millis(60);

pub async fn pull(
    ctx: Context<'_>,
    name: &Name,
    progress: Progress<'_>,
) -> Result<(), RegistryError> {
    let reg = Arc::new(Registry::new(name, ctx.insecure, ctx.home)?);
    progress(ProgressResponse::status("pulling manifest"));
    let bytes = reg
        .manifest(&name.tag)
        .await
        .map_err(|e| e.context("pull model manifest"))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        RegistryError::Invalid(format!("invalid manifest: {e}")).context("pull model manifest")
    })?;

    for layer in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
    {
        let digest = Digest::parse(&layer.digest)
            .map_err(|_| RegistryError::Invalid(format!("invalid digest {}", layer.digest)))?;
        let line = |completed: u64, total: u64| ProgressResponse {
            status: format!("pulling {}", digest.short()),
            digest: digest.to_string(),
            total,
            completed,
        };
        let blobs = ctx.store.blobs();
        if blobs.exists(&digest) {
            progress(line(layer.size, layer.size));
            continue;
        }
        let mut handle =
            ctx.downloads
                .start(Arc::clone(&reg), blobs.clone(), digest.clone(), layer.size);
        progress(line(handle.completed(), handle.total()));
        let mut tick = tokio::time::interval(TICK);
        tick.tick().await;
        let result = loop {
            tokio::select! {
                r = handle.wait() => break r,
                _ = tick.tick() => progress(line(handle.completed(), handle.total())),
            }
        };
        result?;
        progress(line(handle.total(), handle.total()));
    }

    // Each blob was hashed before it got its name (see `download`); this is where Ollama's
    // stream says so.
    progress(ProgressResponse::status("verifying sha256 digest"));
    progress(ProgressResponse::status("writing manifest"));
    let removed = ctx.store.write_pulled(name, &bytes, ctx.keep_orphans)?;
    if removed > 0 {
        progress(ProgressResponse::status("removing unused layers"));
    }
    progress(ProgressResponse::status("success"));
    Ok(())
}
