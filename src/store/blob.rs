//! Content-addressed blob files under `blobs/`. Every write goes to a temporary file in the same
//! directory, is hashed while copied, verified against the expected digest, fsynced and only
//! then renamed into place, so a blob that is visible is always complete and correct. Must not
//! depend on manifests or on anything above the store.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use futures_util::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use super::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("digest mismatch, expected \"{expected}\", got \"{got}\"")]
    Mismatch { expected: Digest, got: Digest },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Body(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io { context, source }
}

/// The `blobs/` directory.
#[derive(Clone, Debug)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn new(dir: PathBuf) -> BlobStore {
        BlobStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.file_name())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Size in bytes of a stored blob.
    pub fn size(&self, d: &Digest) -> io::Result<u64> {
        Ok(fs::metadata(self.path(d))?.len())
    }

    pub fn read(&self, d: &Digest) -> io::Result<Vec<u8>> {
        fs::read(self.path(d))
    }

    /// Stores small in-memory content (template, params, config...). An existing identical blob
    /// is reused and its mtime refreshed so start-up pruning's grace period covers it. Returns
    /// the digest and whether the blob was newly created.
    pub fn write_bytes(&self, data: &[u8]) -> Result<(Digest, bool), BlobError> {
        let digest = Digest::of(data);
        let path = self.path(&digest);
        if path.is_file() {
            touch(&path);
            return Ok((digest, false));
        }
        fs::create_dir_all(&self.dir).map_err(io_err(format!("create {}", self.dir.display())))?;
        let mut tmp = owned_temp_file(&self.dir, ".tmp-blob-").map_err(io_err(format!(
            "create temp file in {}",
            self.dir.display()
        )))?;
        tmp.write_all(data)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(io_err("write blob"))?;
        publish(tmp.into_temp_path(), &path)?;
        Ok((digest, true))
    }

    /// Streams `body` into the blob `expected`, verifying its sha256 before it becomes visible.
    /// Returns false (and reads nothing) when the blob already exists.
    pub async fn write_stream<S, E>(&self, expected: &Digest, body: S) -> Result<bool, BlobError>
    where
        S: Stream<Item = Result<bytes::Bytes, E>>,
        E: std::fmt::Display,
    {
        let path = self.path(expected);
        if path.is_file() {
            return Ok(false);
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io_err(format!("create {}", self.dir.display())))?;
        // The temp file is owned by a guard that deletes it on every early return.
        let tmp = owned_temp_file(&self.dir, ".tmp-blob-").map_err(io_err(format!(
            "create temp file in {}",
            self.dir.display()
        )))?;
        let (std_file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut hasher = Sha256::new();
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_err("write blob"))?;
        }
        file.flush().await.map_err(io_err("write blob"))?;
        file.sync_all().await.map_err(io_err("sync blob"))?;
        drop(file);
        let got = Digest::from_hasher(hasher);
        if &got != expected {
            return Err(BlobError::Mismatch {
                expected: expected.clone(),
                got,
            });
        }
        publish(tmp_path, &path)?;
        Ok(true)
    }

    /// Gives a complete file in the blobs directory, whose hash the caller has checked, its
    /// blob name (synced first, 0644).
    pub fn publish_file(&self, path: &Path, d: &Digest) -> io::Result<()> {
        fs::File::open(path)?.sync_all()?;
        set_blob_permissions(path);
        fs::rename(path, self.path(d))
    }

    /// Hashes a file on disk (used to re-verify blobs).
    pub fn hash_file(path: &Path) -> io::Result<Digest> {
        let mut f = fs::File::open(path)?;
        let mut h = Sha256::new();
        io::copy(&mut f, &mut h)?;
        Ok(Digest::from_hasher(h))
    }

    pub fn remove(&self, d: &Digest) -> io::Result<()> {
        match fs::remove_file(self.path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A temp file in `dir` that its writer owns: it holds an exclusive `flock` on it for as long
/// as the file is open, so start-up pruning ([`remove_unowned_temp`]) can tell a live writer's
/// file (in this server or another on the same store) from what a killed one left behind.
pub(crate) fn owned_temp_file(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    let tmp = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    tmp.as_file().lock()?;
    Ok(tmp)
}

/// Deletes the temp file at `path` unless a live writer holds its lock; true when deleted.
/// (A writer between creating its file and locking it, a few instructions, could lose it: its
/// rename then fails with an error; nothing half-written becomes visible.)
pub(crate) fn remove_unowned_temp(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    match f.try_lock() {
        Ok(()) => fs::remove_file(path).is_ok(),
        Err(_) => false,
    }
}

/// Makes a fully written, synced temp file visible under its final name (0644, like Ollama's).
fn publish(tmp: tempfile::TempPath, path: &Path) -> Result<(), BlobError> {
    set_blob_permissions(&tmp);
    tmp.persist(path).map_err(|e| BlobError::Io {
        context: format!("rename to {}", path.display()),
        source: e.error,
    })
}

/// Refreshes a file's mtime; failure only shortens a grace period, so it is ignored.
fn touch(path: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

fn set_blob_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o644));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn write_bytes_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let (d1, created1) = store.write_bytes(b"hello").unwrap();
        let (d2, created2) = store.write_bytes(b"hello").unwrap();
        assert_eq!(d1, d2);
        assert!(created1 && !created2);
        assert_eq!(store.read(&d1).unwrap(), b"hello");
        let entries: Vec<_> = fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temp files left behind");
    }

    #[tokio::test]
    async fn stream_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("blobs"));
        let chunks = || {
            futures_util::stream::iter(vec![
                Ok::<_, io::Error>(bytes::Bytes::from_static(b"hel")),
                Ok(bytes::Bytes::from_static(b"lo")),
            ])
        };
        let wrong = Digest::of(b"other");
        let err = store.write_stream(&wrong, chunks()).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("digest mismatch, expected \"sha256:")
        );
        assert!(!store.exists(&wrong));
        assert_eq!(
            fs::read_dir(store.dir()).unwrap().count(),
            0,
            "temp removed"
        );

        let right = Digest::of(b"hello");
        assert!(store.write_stream(&right, chunks()).await.unwrap());
        assert!(!store.write_stream(&right, chunks()).await.unwrap());
        assert_eq!(store.read(&right).unwrap(), b"hello");
    }
}
