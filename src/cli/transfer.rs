//! `rollama pull MODEL` and `rollama push MODEL` (`--insecure` for a plain-http registry): the
//! server's progress stream drawn on stderr ([`super::progress`]); a push ends by saying where
//! the model now is.

use futures_util::StreamExt;

use super::progress::Progress;
use super::{CliError, out};
use crate::api::client::{Client, Lines};
use crate::api::types::{ProgressResponse, TransferRequest};
use crate::store::name::Name;

pub async fn pull(client: &Client, model: &str, insecure: bool) -> Result<(), CliError> {
    let lines = client.pull(&request(model, insecure)).await?;
    draw(lines).await
}

pub async fn push(client: &Client, model: &str, insecure: bool) -> Result<(), CliError> {
    let lines = client.push(&request(model, insecure)).await?;
    draw(lines).await?;
    let destination = match Name::parse(model) {
        Ok(n)
            if n.host.to_ascii_lowercase().ends_with(".ollama.ai")
                || n.host.to_ascii_lowercase().ends_with(".ollama.com") =>
        {
            let short = n.display_shortest();
            format!(
                "https://ollama.com/{}",
                short.strip_suffix(":latest").unwrap_or(&short)
            )
        }
        Ok(n) => n.to_string(),
        Err(_) => model.to_string(),
    };
    out(&format!(
        "\nYou can find your model at:\n\n\t{destination}\n"
    ))
}

fn request(model: &str, insecure: bool) -> TransferRequest {
    TransferRequest {
        model: model.to_string(),
        insecure,
        ..TransferRequest::default()
    }
}

async fn draw(mut lines: Lines<ProgressResponse>) -> Result<(), CliError> {
    let mut progress = Progress::new();
    while let Some(line) = lines.next().await {
        match line {
            Ok(p) => progress.update(&p),
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        }
    }
    progress.finish();
    Ok(())
}
