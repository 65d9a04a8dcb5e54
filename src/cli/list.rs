//! `rollama list` / `ls [PREFIX]`: the NAME ID SIZE MODIFIED table.

use super::args::ListArgs;
use super::format::{human_bytes, human_time, table};
use super::{CliError, out};
use crate::api::client::Client;
use crate::api::types::ListModel;

pub async fn list(client: &Client, args: ListArgs) -> Result<(), CliError> {
    let resp = client.list().await?;
    out(&render(
        &resp.models,
        args.filter.as_deref(),
        chrono::Utc::now(),
    ))?;
    Ok(())
}

pub fn render(
    models: &[ListModel],
    filter: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut rows = vec![vec![
        "NAME".to_string(),
        "ID".to_string(),
        "SIZE".to_string(),
        "MODIFIED".to_string(),
    ]];
    for m in models {
        if let Some(f) = filter
            && !m.name.to_lowercase().starts_with(&f.to_lowercase())
        {
            continue;
        }
        let modified = chrono::DateTime::parse_from_rfc3339(&m.modified_at)
            .map(|t| human_time(t, now))
            .unwrap_or_default();
        rows.push(vec![
            m.name.clone(),
            m.digest.chars().take(12).collect(),
            human_bytes(m.size),
            modified,
        ]);
    }
    table(&rows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ollama_layout() {
        let now = chrono::Utc::now();
        let m = ListModel {
            name: "gemma3-base:270m".into(),
            model: "gemma3-base:270m".into(),
            modified_at: crate::api::types::go_time(&(now - chrono::Duration::days(15))),
            size: 253_113_500,
            digest: "0123456789abcdef".into(),
            ..ListModel::default()
        };
        let out = render(std::slice::from_ref(&m), None, now);
        assert_eq!(
            out,
            "NAME                ID              SIZE      MODIFIED       \n\
             gemma3-base:270m    0123456789ab    253 MB    2 weeks ago    \n"
        );
        assert_eq!(render(&[m], Some("GEMMA3-B"), now).lines().count(), 2);
    }
}
