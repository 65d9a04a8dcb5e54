//! `rollama ps [PREFIX]` (the NAME ID SIZE PROCESSOR CONTEXT UNTIL table) and
//! `rollama stop MODEL` (an empty request with `keep_alive: 0`).

use super::args::{PsArgs, StopArgs};
use super::format::{human_bytes, human_time, table};
use super::{CliError, out};
use crate::api::client::Client;
use crate::api::types::{GenerateRequest, ProcessModel};
use crate::duration::KeepAlive;

pub async fn ps(client: &Client, args: PsArgs) -> Result<(), CliError> {
    let resp = client.ps().await?;
    out(&render(
        &resp.models,
        args.filter.as_deref(),
        chrono::Utc::now(),
    ))
}

/// Ollama's `ps` table. The prefix filter is case-sensitive there (unlike `list`'s).
pub fn render(
    models: &[ProcessModel],
    filter: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut rows = vec![
        ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]
            .map(String::from)
            .to_vec(),
    ];
    for m in models {
        if filter.is_some_and(|f| !m.name.starts_with(f)) {
            continue;
        }
        let processor = match (m.size_vram, m.size) {
            (0, _) => "100% CPU".to_string(),
            (v, s) if v == s => "100% GPU".to_string(),
            (v, s) if v > s || s == 0 => "Unknown".to_string(),
            (v, s) => {
                let cpu = ((s - v) as f64 / s as f64 * 100.0).round() as u64;
                format!("{cpu}%/{}% CPU/GPU", 100 - cpu)
            }
        };
        let until = match chrono::DateTime::parse_from_rfc3339(&m.expires_at) {
            Ok(t) if t < now => "Stopping...".to_string(),
            Ok(t) => human_time(t, now),
            Err(_) => "Never".to_string(),
        };
        rows.push(vec![
            m.name.clone(),
            m.digest.chars().take(12).collect(),
            human_bytes(m.size),
            processor,
            m.context_length.to_string(),
            until,
        ]);
    }
    table(&rows)
}

pub async fn stop(client: &Client, args: StopArgs) -> Result<(), CliError> {
    let req = GenerateRequest {
        model: args.model.clone(),
        keep_alive: Some(KeepAlive::Duration(std::time::Duration::ZERO)),
        ..GenerateRequest::default()
    };
    match client.generate(&req).await {
        Ok(mut s) => {
            while let Some(r) = futures_util::StreamExt::next(&mut s).await {
                r?;
            }
            Ok(())
        }
        Err(e) if e.status() == Some(404) => Err(CliError(format!(
            "couldn't find model \"{}\" to stop",
            args.model
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::types::go_time;

    #[test]
    fn ollama_layout() {
        let now = chrono::Utc::now();
        let m = ProcessModel {
            name: "gemma3-base:270m".into(),
            model: "gemma3-base:270m".into(),
            size: 655_000_000,
            digest: "0123456789abcdef".into(),
            expires_at: go_time(&(now + chrono::Duration::seconds(4 * 60 + 30))),
            context_length: 4096,
            ..ProcessModel::default()
        };
        assert_eq!(
            render(std::slice::from_ref(&m), None, now),
            "NAME                ID              SIZE      PROCESSOR    CONTEXT    UNTIL                 \n\
             gemma3-base:270m    0123456789ab    655 MB    100% CPU     4096       4 minutes from now    \n"
        );
        let forever = ProcessModel {
            expires_at: go_time(&(now + chrono::Duration::days(365 * 292))),
            size_vram: 300_000_000,
            ..m.clone()
        };
        let out = render(&[forever], None, now);
        assert!(out.contains("54%/46% CPU/GPU"), "{out}");
        assert!(out.contains("Forever"), "{out}");
        let gone = ProcessModel {
            expires_at: go_time(&(now - chrono::Duration::seconds(1))),
            ..m.clone()
        };
        assert!(render(&[gone], None, now).contains("Stopping..."));
        assert_eq!(render(&[m], Some("GEMMA"), now).lines().count(), 1);
    }
}
