//! The model store on disk, laid out exactly like Ollama's (`$OLLAMA_MODELS`):
//! `manifests/<host>/<namespace>/<model>/<tag>` JSON manifests and content-addressed
//! `blobs/sha256-<hex>`. A store written by Ollama is read here and the other way round.
//!
//! It owns name resolution against the disk (case-insensitive, reusing existing spelling),
//! atomic manifest writes, listing, deletion with reference counting, and start-up pruning.
//! One mutex serialises manifest changes with blob removal, so a blob still referenced by a
//! manifest is never deleted. Must not depend on the engine, server or CLI.

pub mod blob;
pub mod digest;
pub mod manifest;
pub mod model;
pub mod name;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use blob::BlobStore;
use digest::Digest;
use manifest::Manifest;
use name::Name;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid manifest {path}: {msg}")]
    CorruptManifest { path: String, msg: String },
    #[error(transparent)]
    Blob(#[from] blob::BlobError),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// A manifest read from disk, with what `list`/`tags` need.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    pub name: Name,
    pub manifest: Manifest,
    /// sha256 hex of the manifest file's bytes: the model's ID.
    pub digest: String,
    pub modified: SystemTime,
    /// The file byte for byte (what a copy writes and a push sends).
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    blobs: BlobStore,
    /// Serialises manifest writes and deletions with the blob removals they cause.
    lock: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in [root.join("manifests"), root.join("blobs")] {
            fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            blobs: BlobStore::new(root.join("blobs")),
            lock: Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    fn manifests_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns `name` with each part spelled as it already exists on disk, comparing
    /// case-insensitively, so `Llama3:LATEST` finds `llama3:latest` and a new tag of an existing
    /// model reuses the model directory's spelling.
    pub fn resolve(&self, name: &Name) -> Name {
        let mut dir = self.manifests_dir();
        let mut parts: Vec<String> = Vec::with_capacity(4);
        for part in name.parts() {
            let found = existing_spelling(&dir, part);
            let chosen = found.unwrap_or_else(|| part.to_string());
            dir.push(&chosen);
            parts.push(chosen);
        }
        let [host, namespace, model, tag]: [String; 4] = match parts.try_into() {
            Ok(a) => a,
            Err(_) => return name.clone(),
        };
        Name {
            scheme: name.scheme.clone(),
            host,
            namespace,
            model,
            tag,
        }
    }

    pub fn manifest_path(&self, name: &Name) -> PathBuf {
        self.manifests_dir().join(name.filepath())
    }

    /// Reads the manifest of `name` (resolved case-insensitively); `Ok(None)` if absent.
    pub fn read(&self, name: &Name) -> Result<Option<StoredManifest>, StoreError> {
        let name = self.resolve(name);
        let path = self.manifest_path(&name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => return Ok(None),
            Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
        };
        let modified = fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        parse_manifest(name, &path, &bytes, modified).map(Some)
    }

    /// Writes `manifest` for `name` atomically. Every blob it references must exist; checked
    /// under the store lock so a concurrent delete cannot remove one in between.
    pub fn write(&self, name: &Name, manifest: &Manifest) -> Result<(), StoreError> {
        self.write_checked(name, manifest, &manifest.to_bytes())
    }

    /// Writes `bytes`, which are `manifest`, as [`Store::write`] describes.
    fn write_checked(
        &self,
        name: &Name,
        manifest: &Manifest,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let _g = self.guard();
        for layer in manifest.all_layers() {
            let d = Digest::parse(&layer.digest).map_err(|_| StoreError::CorruptManifest {
                path: name.to_string(),
                msg: format!("invalid digest {}", layer.digest),
            })?;
            if !self.blobs.exists(&d) {
                return Err(StoreError::Io {
                    context: format!("layer {}", layer.digest),
                    source: io::Error::new(io::ErrorKind::NotFound, "blob does not exist"),
                });
            }
        }
        write_atomic(&self.manifest_path(name), bytes)
    }

    /// Writes `manifest` for `name` like [`Store::write`]; when that replaces an older manifest,
    /// the old layers no manifest references any more are deleted (unless `keep_orphans`).
    pub fn write_replacing(
        &self,
        name: &Name,
        manifest: &Manifest,
        keep_orphans: bool,
    ) -> Result<(), StoreError> {
        self.replace(name, manifest, &manifest.to_bytes(), keep_orphans)
            .map(|_| ())
    }

    /// Writes a pulled manifest for `name` exactly as the registry served it (the model's ID is
    /// the sha256 of these bytes), after checking it parses and that every blob it names is
    /// here. Returns how many blobs an older manifest of the name left unreferenced and were
    /// removed (none when `keep_orphans`).
    pub fn write_pulled(
        &self,
        name: &Name,
        bytes: &[u8],
        keep_orphans: bool,
    ) -> Result<usize, StoreError> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| StoreError::CorruptManifest {
                path: name.to_string(),
                msg: e.to_string(),
            })?;
        self.replace(name, &manifest, bytes, keep_orphans)
    }

    /// [`Store::write_checked`] under the name's existing spelling, then the removal of what the
    /// manifest it replaced leaves unreferenced; returns how many blobs went.
    fn replace(
        &self,
        name: &Name,
        manifest: &Manifest,
        bytes: &[u8],
        keep_orphans: bool,
    ) -> Result<usize, StoreError> {
        let name = self.resolve(name);
        let old = self.read(&name)?;
        self.write_checked(&name, manifest, bytes)?;
        match old {
            Some(old) if !keep_orphans => {
                let _g = self.guard();
                Ok(self.remove_orphaned_layers(&old.manifest))
            }
            _ => Ok(0),
        }
    }

    /// Every valid manifest in the store. Unreadable or corrupt ones are skipped with a warning.
    pub fn list(&self) -> Vec<StoredManifest> {
        let mut out = Vec::new();
        for (path, parts) in manifest_files(&self.manifests_dir()) {
            let Ok(name) = Name::from_parts(parts) else {
                tracing::warn!(path = %path.display(), "skipping manifest with an invalid name");
                continue;
            };
            let Ok(bytes) = fs::read(&path) else { continue };
            let modified = fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            match parse_manifest(name, &path, &bytes, modified) {
                Ok(m) => out.push(m),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        out
    }

    /// Copies the manifest of `src` to `dst` (blobs are shared).
    pub fn copy(&self, src: &StoredManifest, dst: &Name) -> Result<(), StoreError> {
        let dst = self.resolve(dst);
        if dst.eq_fold(&src.name) {
            return Ok(());
        }
        let _g = self.guard();
        write_atomic(&self.manifest_path(&dst), &src.bytes)
    }

    /// Removes the manifest of `name`, its now-empty directories, and every blob it referenced
    /// that no other manifest references.
    pub fn delete(&self, m: &StoredManifest) -> Result<(), StoreError> {
        let _g = self.guard();
        let path = self.manifest_path(&m.name);
        fs::remove_file(&path).map_err(io_err(format!("remove {}", path.display())))?;
        remove_empty_parents(&path, &self.manifests_dir());
        self.remove_orphaned_layers(&m.manifest);
        Ok(())
    }

    /// Deletes the blobs of `manifest` that no manifest on disk references; returns how many.
    /// Call with the lock.
    fn remove_orphaned_layers(&self, manifest: &Manifest) -> usize {
        let still_used = self.referenced();
        let mut removed = 0;
        for layer in manifest.all_layers() {
            let Ok(d) = Digest::parse(&layer.digest) else {
                continue;
            };
            if still_used.contains(&d) || !self.blobs.exists(&d) {
                continue;
            }
            match self.blobs.remove(&d) {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("couldn't remove blob {d}: {e}"),
            }
        }
        removed
    }

    /// Digests referenced by any manifest on disk.
    fn referenced(&self) -> HashSet<Digest> {
        self.list()
            .iter()
            .flat_map(|m| m.manifest.all_layers())
            .filter_map(|l| Digest::parse(&l.digest).ok())
            .collect()
    }

    /// Start-up clean-up, whatever `OLLAMA_NOPRUNE` says and even when a manifest is corrupt:
    /// - temp files (`.tmp-*`, in `blobs/` and among manifests) that no live writer holds
    ///   locked ([`blob::owned_temp_file`]) are deleted whatever their age: a killed writer's
    ///   file, never a running one's (this server's or another's on the same store);
    /// - partial downloads are kept so pulls resume across restarts, until none of their files
    ///   (`-partial` and its `-partial-N` states) has changed for [`PARTIAL_MAX_AGE`].
    ///
    /// Returns how many files were removed.
    pub fn remove_litter(&self) -> usize {
        let _g = self.guard();
        let now = SystemTime::now();
        let mut removed = 0;
        let mut partials: HashMap<String, (SystemTime, Vec<PathBuf>)> = HashMap::new();
        for entry in fs::read_dir(self.blobs.dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let file_name = entry.file_name().to_string_lossy().to_string();
            if file_name.starts_with(".tmp-") {
                removed += usize::from(blob::remove_unowned_temp(&entry.path()));
            } else if let Some(i) = file_name.find("-partial") {
                let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(now);
                let group = partials
                    .entry(file_name[..i].to_string())
                    .or_insert((SystemTime::UNIX_EPOCH, Vec::new()));
                group.0 = group.0.max(modified);
                group.1.push(entry.path());
            }
        }
        for (blob, (newest, files)) in partials {
            if now.duration_since(newest).unwrap_or_default() >= PARTIAL_MAX_AGE {
                tracing::info!("removing the partial download of {blob}: untouched for 7 days");
                removed += files.iter().filter(|f| fs::remove_file(f).is_ok()).count();
            }
        }
        for temp in temp_files(&self.manifests_dir()) {
            removed += usize::from(blob::remove_unowned_temp(&temp));
        }
        removed
    }

    /// Start-up pruning, as Ollama does unless `OLLAMA_NOPRUNE`: blobs no manifest references
    /// are deleted, except files modified within the last hour (a create in flight uploads its
    /// blobs before it writes the manifest); temp files and partial downloads are left to
    /// [`Store::remove_litter`]. Skipped entirely when any manifest is corrupt, so a damaged
    /// manifest never costs the blobs it names.
    pub fn prune(&self) -> Result<usize, StoreError> {
        let _g = self.guard();
        let mut referenced = HashSet::new();
        for (path, _) in manifest_files(&self.manifests_dir()) {
            let bytes = fs::read(&path).map_err(io_err(format!("read {}", path.display())))?;
            let m: Manifest =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::CorruptManifest {
                    path: path.display().to_string(),
                    msg: e.to_string(),
                })?;
            referenced.extend(m.all_layers().filter_map(|l| Digest::parse(&l.digest).ok()));
        }
        let grace = Duration::from_secs(3600);
        let now = SystemTime::now();
        let mut removed = 0;
        let entries = fs::read_dir(self.blobs.dir()).map_err(io_err("read blobs"))?;
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().to_string();
            if file_name.starts_with(".tmp-") || file_name.contains("-partial") {
                continue;
            }
            // Legacy `sha256:<hex>` names are renamed, as Ollama does at start-up.
            if let Some(hex) = file_name.strip_prefix("sha256:")
                && let Ok(d) = Digest::parse(&format!("sha256:{hex}"))
            {
                let _ = fs::rename(entry.path(), self.blobs.path(&d));
                continue;
            }
            let young = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() < grace)
                .unwrap_or(true);
            if young {
                continue;
            }
            let keep = Digest::parse(&file_name).is_ok_and(|d| referenced.contains(&d));
            if !keep && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        remove_empty_dirs(&self.manifests_dir());
        Ok(removed)
    }
}

fn parse_manifest(
    name: Name,
    path: &Path,
    bytes: &[u8],
    modified: SystemTime,
) -> Result<StoredManifest, StoreError> {
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|e| StoreError::CorruptManifest {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
    Ok(StoredManifest {
        name,
        manifest,
        digest: Digest::of(bytes).hex().to_string(),
        modified,
        bytes: bytes.to_vec(),
    })
}

/// The entry of `dir` equal to `part`, exactly or else ignoring case.
fn existing_spelling(dir: &Path, part: &str) -> Option<String> {
    if dir.join(part).exists() {
        return Some(part.to_string());
    }
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| n.eq_ignore_ascii_case(part))
}

/// Every file exactly four levels below `root`, with its four path parts.
/// A partial download none of whose files changed for this long is not going to be resumed.
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The writers' temp files (`.tmp-*`) anywhere under `root`.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if e.file_name().to_string_lossy().starts_with(".tmp-") {
                out.push(path);
            }
        }
    }
    out
}

fn manifest_files(root: &Path) -> Vec<(PathBuf, [String; 4])> {
    fn subdirs(p: &Path) -> Vec<(PathBuf, String)> {
        let Ok(rd) = fs::read_dir(p) else {
            return Vec::new();
        };
        rd.flatten()
            .map(|e| (e.path(), e.file_name().to_string_lossy().to_string()))
            .collect()
    }
    let mut out = Vec::new();
    for (h, host) in subdirs(root).into_iter().filter(|(p, _)| p.is_dir()) {
        for (n, ns) in subdirs(&h).into_iter().filter(|(p, _)| p.is_dir()) {
            for (m, model) in subdirs(&n).into_iter().filter(|(p, _)| p.is_dir()) {
                for (t, tag) in subdirs(&m).into_iter().filter(|(p, _)| p.is_file()) {
                    if tag.starts_with('.') {
                        continue; // our own temp files
                    }
                    out.push((t, [host.clone(), ns.clone(), model.clone(), tag]));
                }
            }
        }
    }
    out
}

/// Writes `data` to `path` via a temp file in the same directory, fsync and rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
    let mut tmp = blob::owned_temp_file(dir, ".tmp-")
        .map_err(io_err(format!("create temp file in {}", dir.display())))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io_err(format!("write {}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| StoreError::Io {
        context: format!("rename to {}", path.display()),
        source: e.error,
    })?;
    Ok(())
}

fn remove_empty_parents(path: &Path, stop: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || !d.starts_with(stop) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                remove_empty_dirs(&p);
                let _ = fs::remove_dir(&p);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::manifest::*;
    use super::*;

    fn manifest_with(store: &Store, contents: &[&[u8]]) -> Manifest {
        let config = store.blobs().write_bytes(b"{}").unwrap().0;
        let layers = contents
            .iter()
            .map(|c| {
                let (d, _) = store.blobs().write_bytes(c).unwrap();
                Layer::new(MEDIA_TYPE_MODEL, d.to_string(), c.len() as u64)
            })
            .collect();
        Manifest::new(Layer::new(MEDIA_TYPE_CONFIG, config.to_string(), 2), layers)
    }

    #[test]
    fn write_read_resolve_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = Name::parse("Foo:Bar").unwrap();
        let m = manifest_with(&store, &[b"shared", b"only-a"]);
        store.write(&a, &m).unwrap();
        assert!(
            dir.path()
                .join("manifests/registry.ollama.ai/library/Foo/Bar")
                .is_file()
        );

        let found = store
            .read(&Name::parse("foo:bar").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(found.name.model, "Foo", "existing spelling is reused");
        assert_eq!(found.manifest, m);

        let b = Name::parse("other").unwrap();
        store
            .write(&b, &manifest_with(&store, &[b"shared"]))
            .unwrap();
        assert_eq!(store.list().len(), 2);

        store.delete(&found).unwrap();
        assert!(store.read(&a).unwrap().is_none());
        assert!(!store.blobs().exists(&Digest::of(b"only-a")));
        assert!(
            store.blobs().exists(&Digest::of(b"shared")),
            "still used by b"
        );
        assert!(
            !dir.path()
                .join("manifests/registry.ollama.ai/library/Foo")
                .exists()
        );
    }

    #[test]
    fn write_refuses_missing_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut m = manifest_with(&store, &[b"x"]);
        m.layers[0].digest = Digest::of(b"absent").to_string();
        assert!(store.write(&Name::parse("m").unwrap(), &m).is_err());
        assert!(store.list().is_empty());
    }

    #[test]
    fn prune_keeps_young_and_referenced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let m = manifest_with(&store, &[b"kept"]);
        store.write(&Name::parse("m").unwrap(), &m).unwrap();
        let (orphan, _) = store.blobs().write_bytes(b"orphan").unwrap();
        let (young, _) = store.blobs().write_bytes(b"young").unwrap();
        let old = SystemTime::now() - Duration::from_secs(7200);
        for d in [&orphan, &Digest::of(b"kept")] {
            let f = fs::File::options()
                .append(true)
                .open(store.blobs().path(d))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        assert_eq!(store.prune().unwrap(), 1);
        assert!(!store.blobs().exists(&orphan));
        assert!(store.blobs().exists(&young));
        assert!(store.blobs().exists(&Digest::of(b"kept")));
    }

    fn age(path: &Path, by: Duration) {
        let f = fs::File::options().append(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn prune_removes_unowned_temp_files_whatever_their_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blobs = store.blobs().dir().to_path_buf();
        fs::create_dir_all(&blobs).unwrap();
        // A killed writer's file: just written, nobody holds it.
        fs::write(blobs.join(".tmp-blob-left"), b"half a blob").unwrap();
        let tag_dir = store.manifests_dir().join("registry.ollama.ai/library/m");
        fs::create_dir_all(&tag_dir).unwrap();
        fs::write(tag_dir.join(".tmp-abc"), b"{").unwrap();
        // A live writer's file, however old.
        let live = blob::owned_temp_file(&blobs, ".tmp-blob-").unwrap();
        age(live.path(), Duration::from_secs(7200));
        assert_eq!(store.remove_litter(), 2);
        assert!(!blobs.join(".tmp-blob-left").exists());
        assert!(!tag_dir.join(".tmp-abc").exists());
        assert!(live.path().exists(), "a locked temp file is a writer's");
        drop(live);
    }

    #[test]
    fn partial_downloads_age_out_as_a_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blobs = store.blobs().dir().to_path_buf();
        fs::create_dir_all(&blobs).unwrap();
        let files = |hex: char| {
            let base = format!("sha256-{}-partial", hex.to_string().repeat(64));
            [base.clone(), format!("{base}-0"), format!("{base}-1")].map(|n| blobs.join(n))
        };
        let week = PARTIAL_MAX_AGE + Duration::from_secs(60);
        for (hex, ages) in [
            ('a', [week, week, week]),                  // abandoned: removed
            ('b', [week, Duration::ZERO, week]),        // one part still moving: kept
            ('c', [Duration::from_secs(3600 * 24); 3]), // a day old: kept
        ] {
            for (f, by) in files(hex).iter().zip(ages) {
                fs::write(f, b"x").unwrap();
                age(f, by);
            }
        }
        assert_eq!(store.remove_litter(), 3);
        assert!(files('a').iter().all(|f| !f.exists()));
        assert!(files('b').iter().chain(&files('c')).all(|f| f.exists()));
    }
}
