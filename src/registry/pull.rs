//! `pull`: the manifest, then each layer and the config blob (already-present blobs count as
//! complete at once), then the manifest written last, byte for byte and atomically, so a model
//! is visible only when everything it names is in the store and verified. Progress follows
//! Ollama's stream: `pulling manifest`, `pulling <digest12>` with `total`/`completed` every
//! 60 ms, `verifying sha256 digest`, `writing manifest`, `removing unused layers` (when an older
//! version of the tag left some), `success`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::client::Registry;
use super::{Context, Progress, RegistryError};
use crate::api::types::ProgressResponse;
use crate::store::blob::BlobStore;
use crate::store::digest::Digest;
use crate::store::manifest::{Layer, Manifest};
use crate::store::name::Name;

/// The most layers a manifest may list (Ollama's models have a handful).
const MAX_LAYERS: usize = 1000;

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
    let layers = parsed_layers(&manifest)?;
    check_fits(ctx.store.blobs(), &layers)?;

    for (layer, digest) in layers {
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

/// The layers (then the config blob, in Ollama's pull order) with their digests: at most
/// [`MAX_LAYERS`] of them, every digest valid.
fn parsed_layers(manifest: &Manifest) -> Result<Vec<(&Layer, Digest)>, RegistryError> {
    if manifest.layers.len() > MAX_LAYERS {
        return Err(RegistryError::Invalid(format!(
            "invalid manifest: {} layers, at most {MAX_LAYERS} are allowed",
            manifest.layers.len()
        )));
    }
    manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
        .map(|layer| {
            Digest::parse(&layer.digest)
                .map(|d| (layer, d))
                .map_err(|_| RegistryError::Invalid(format!("invalid digest {}", layer.digest)))
        })
        .collect()
}

/// Before anything is written: the sizes of the blobs still missing (less what partial
/// downloads already hold) must fit the free disk space, so a manifest declaring a 2^62-byte
/// layer is refused instead of planned.
fn check_fits(blobs: &BlobStore, layers: &[(&Layer, Digest)]) -> Result<(), RegistryError> {
    let mut seen = HashSet::new();
    let mut need: u64 = 0;
    for (layer, digest) in layers {
        if blobs.exists(digest) || !seen.insert(digest.to_string()) {
            continue;
        }
        let held = super::download::partial_on_disk(blobs, digest);
        need = need.saturating_add(layer.size.saturating_sub(held));
    }
    std::fs::create_dir_all(blobs.dir())?;
    let free = crate::os::free_space(blobs.dir())?;
    if need > free {
        return Err(RegistryError::Invalid(format!(
            "not enough free disk space: the model needs {}, {} is free",
            gigabytes(need),
            gigabytes(free)
        )));
    }
    Ok(())
}

fn gigabytes(n: u64) -> String {
    format!("{:.1} GB", n as f64 / 1e9)
}
