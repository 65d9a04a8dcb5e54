//! `GET /v1/models` and `GET /v1/models/{model}`: the store as OpenAI model objects.

use super::*;

fn model_object(name: &str, modified: std::time::SystemTime) -> Value {
    let created = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The namespace: `library` for `gemma3`, `me` for `me/model`.
    let owner = name
        .split(':')
        .next()
        .and_then(|n| n.rsplit('/').nth(1))
        .unwrap_or("library");
    json!({"id": name, "object": "model", "created": created, "owned_by": owner})
}

/// `GET /v1/models`.
pub async fn models(State(state): State<crate::server::State>) -> Response {
    let list = tokio::task::spawn_blocking(move || {
        let mut stored = state.store.list();
        stored.sort_by_key(|m| std::cmp::Reverse(m.modified));
        stored
            .into_iter()
            .map(|m| model_object(&m.name.display_shortest(), m.modified))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    axum::Json(json!({"object": "list", "data": list})).into_response()
}

/// `GET /v1/models/{model}`.
pub async fn model(
    State(state): State<crate::server::State>,
    Path(name): Path<String>,
) -> Response {
    // The id is the name asked for, as Ollama echoes it (`g`, not `g:latest`).
    let asked = name.clone();
    let found = tokio::task::spawn_blocking(move || state.model(&name).map(|m| m.stored))
        .await
        .map_err(|e| ApiError::internal(e.to_string()));
    match found {
        Ok(Ok(stored)) => axum::Json(model_object(&asked, stored.modified)).into_response(),
        Ok(Err(e)) | Err(e) => e.openai(),
    }
}
