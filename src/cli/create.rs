//! `rollama create NAME -f Modelfile`: parse the Modelfile, resolve FROM/ADAPTER paths relative
//! to it, upload only the files the server lacks (`HEAD` then `POST /api/blobs`), then stream
//! `/api/create`'s status lines to stderr.

use std::io::Read;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::CliError;
use super::args::CreateArgs;
use crate::api::client::Client;
use crate::api::types::{CreateRequest, Message, StringOrList};
use crate::modelfile::{self, CreateError};

pub async fn create(client: &Client, args: CreateArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| CliError(format!("open {}: {e}", args.file.display())))?;
    let parsed = modelfile::parse_bytes(&bytes).map_err(|e| CliError(e.to_string()))?;
    let parts = parsed
        .create_parts(|w| eprintln!("{w}"))
        .map_err(|e: CreateError| CliError(format!("(line {}): {e}", e.line())))?;
    let base = args
        .file
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));

    if let Some(d) = parts.drafts.first() {
        return Err(CliError(format!(
            "(line {}): {}",
            d.line,
            crate::api::types::DRAFT_UNSUPPORTED
        )));
    }
    eprintln!("gathering model components");
    let mut req = CreateRequest {
        model: args.model.clone(),
        template: parts.template.clone().unwrap_or_default(),
        system: parts.system.clone().unwrap_or_default(),
        requires: parts.requires.clone().unwrap_or_default(),
        ..CreateRequest::default()
    };
    let mut files = Map::new();
    for from in &parts.models {
        let path = resolve(&base, &from.value);
        if path.is_file() {
            let digest = upload(client, &path).await?;
            files.insert(file_name(&path), Value::String(digest));
        } else if path.is_dir() {
            return Err(CliError(format!(
                "(line {}): importing a model directory is not supported yet: {}",
                from.line,
                path.display()
            )));
        } else {
            // Not a path: the name of a model on the server.
            req.from = from.value.clone();
        }
    }
    if !files.is_empty() {
        req.files = Some(files);
        req.from.clear();
    }
    let mut adapters = Map::new();
    for a in &parts.adapters {
        let path = resolve(&base, &a.value);
        if !path.is_file() {
            return Err(CliError(format!(
                "(line {}): adapter {} does not exist",
                a.line,
                path.display()
            )));
        }
        let digest = upload(client, &path).await?;
        adapters.insert(file_name(&path), Value::String(digest));
    }
    if !adapters.is_empty() {
        req.adapters = Some(adapters);
    }
    if !parts.license.is_empty() {
        req.license = Some(StringOrList::Many(parts.license.clone()));
    }
    if !parts.parameters.is_empty() {
        req.parameters = Some(parts.parameters.clone());
    }
    req.messages = parts
        .messages
        .iter()
        .map(|(role, content)| Message::new(role, content.clone()))
        .collect();

    let mut stream = client.create(&req).await?;
    while let Some(progress) = stream.next().await {
        eprintln!("{}", progress?.status);
    }
    Ok(())
}

/// A Modelfile path: `~` expanded, relative paths taken from the Modelfile's directory.
fn resolve(base: &Path, value: &str) -> PathBuf {
    let expanded = match value.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().map(|h| h.join(rest)),
        None if value == "~" => dirs::home_dir(),
        None => None,
    };
    let p = expanded.unwrap_or_else(|| PathBuf::from(value));
    if p.is_absolute() { p } else { base.join(p) }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.gguf".to_string())
}

/// Hashes `path` and uploads it unless the server already has it; returns `sha256:<hex>`.
async fn upload(client: &Client, path: &Path) -> Result<String, CliError> {
    let p = path.to_path_buf();
    let digest = tokio::task::spawn_blocking(move || sha256_file(&p))
        .await
        .map_err(|e| CliError(e.to_string()))?
        .map_err(|e| CliError(format!("read {}: {e}", path.display())))?;
    if !client.blob_exists(&digest).await? {
        eprintln!("copying file {digest}");
        client.upload_blob(&digest, path).await?;
    }
    Ok(digest)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}
