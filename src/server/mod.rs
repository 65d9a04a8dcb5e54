//! The HTTP server: Ollama's native API on axum. [`router`] builds the route table over an
//! [`AppState`] (so tests drive it on `127.0.0.1:0`), [`serve`] runs it (through
//! [`listen`], with connection deadlines) with graceful shutdown.
//! One file per route family; errors become responses only in `error.rs`.
//!
//! Depends on the store, scheduler, engine and templates; never on the CLI.

pub mod anthropic;
pub mod auth;
pub mod blobs;
pub mod chat;
pub mod cors;
pub mod create;
pub mod embed;
pub mod error;
pub mod generate;
pub mod guard;
pub mod infer;
pub mod listen;
pub mod meta;
pub mod models;
pub mod native;
pub mod openai;
pub mod prompt;
pub mod schema;
pub mod state;
pub mod stream;
pub mod thinking;
pub mod tls;
pub mod tokens;
pub mod tools;
pub mod transfer;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, head, post};

pub use state::{AppState, State, VERSION};

use crate::envconfig::Config;
use crate::store::Store;

/// `GET /metrics`: Prometheus text format.
async fn metrics(
    axum::extract::State(state): axum::extract::State<State>,
) -> impl axum::response::IntoResponse {
    let body = crate::metrics::render(&[
        (
            "rollama_queue_depth",
            "Requests waiting for a model load or a free slot.",
            state.sched.queue_depth() as f64,
        ),
        (
            "rollama_loaded_models",
            "Models loaded now.",
            state.sched.loaded().len() as f64,
        ),
    ]);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// The route table.
pub fn router(state: State) -> Router {
    let guard = Arc::clone(&state.guard);
    Router::new()
        .route("/", get(models::root).head(models::root))
        .route("/api/version", get(models::version).head(models::version))
        .route("/api/tags", get(models::tags).head(models::tags))
        .route("/api/show", post(models::show))
        .route("/api/delete", axum::routing::delete(models::delete))
        .route("/api/ps", get(models::ps))
        .route("/api/copy", post(models::copy))
        .route("/api/generate", post(generate::generate))
        .route("/api/chat", post(chat::chat))
        .route("/api/embed", post(embed::embed))
        .route("/api/tokenize", post(tokens::tokenize))
        .route("/metrics", get(metrics))
        .route("/api/detokenize", post(tokens::detokenize))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/responses", post(openai::responses))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*model}", get(openai::model))
        .route("/api/embeddings", post(embed::embeddings))
        .route("/api/create", post(create::create))
        .route("/api/pull", post(transfer::pull))
        .route("/api/push", post(transfer::push))
        .route(
            "/api/blobs/{digest}",
            head(blobs::head_blob)
                .post(blobs::upload_blob)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found") })
        // Ollama sets no limit on request bodies; a quarter GiB holds any chat history with
        // images, and a body sent without a length is cut there too (a 413).
        .layer(axum::extract::DefaultBodyLimit::max(
            guard::MAX_BODY as usize,
        ))
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
        .with_state(state)
}

/// Runs the server until SIGINT/SIGTERM, then unloads every model.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let store = Store::open(&config.models).map_err(|e| ServeError(e.to_string()))?;
    match store.remove_litter() {
        0 => {}
        n => tracing::info!("removed {n} temp files and stale partial downloads"),
    }
    if config.noprune {
        tracing::info!("OLLAMA_NOPRUNE set, skipping blob pruning");
    } else {
        match store.prune() {
            Ok(n) if n > 0 => tracing::info!("pruned {n} unused blobs"),
            Ok(_) => {}
            Err(e) => tracing::warn!("skipping blob pruning: {e}"),
        }
    }
    // The identity registry token requests are signed with, made on first start as Ollama does.
    if let Err(e) = crate::registry::auth::load_or_create(&config.home) {
        tracing::warn!("couldn't create or read the registry key: {e}");
    }
    // Each connection is a file descriptor: take all the hard limit allows, as Go programs do.
    match crate::os::raise_open_files_limit() {
        Ok(n) => tracing::debug!("open files limit {n}"),
        Err(e) => tracing::warn!("couldn't raise the open files limit: {e}"),
    }
    let addr = config.host.bind_addr();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| ServeError(format!("listen tcp {addr}: {e}")))?;
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    tracing::info!("server config: {}", config.settings().join(" "));
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(ServeError)?),
        (None, None) => None,
        _ => {
            return Err(ServeError(
                "ROLLAMA_TLS_CERT and ROLLAMA_TLS_KEY go together: set both or neither".into(),
            ));
        }
    };
    let scheme = if tls.is_some() { " over TLS" } else { "" };
    tracing::info!("Listening on {local}{scheme} (version {VERSION})");
    let loader: Arc<dyn crate::sched::Loader> = if config.engine_in_process {
        tracing::warn!("ROLLAMA_ENGINE_IN_PROCESS is set: models run inside the server process");
        Arc::new(crate::sched::LlamaLoader)
    } else {
        Arc::new(
            crate::sched::ProcessLoader::new()
                .map_err(|e| ServeError(format!("create the compute lock file: {e}")))?,
        )
    };
    let guard = guard::Guard::from_config(&config).map_err(ServeError)?;
    match guard.key_count() {
        0 => tracing::info!("no API keys set: every request is served (as Ollama)"),
        n => tracing::info!("{n} API keys in force"),
    }
    let state = Arc::new(AppState::with_guard(config, store, loader, guard));
    let reload = Arc::clone(&state.guard);
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match reload.reload_keys() {
                Ok(n) => tracing::info!("SIGHUP: {n} API keys in force"),
                Err(e) => tracing::error!("SIGHUP: keeping the old API keys: {e}"),
            }
        }
    });
    let app = router(Arc::clone(&state));
    let sched = Arc::clone(&state.sched);
    let limits = listen::Limits {
        header: state.config.header_timeout,
        idle: state.config.idle_timeout,
    };
    let grace = state.config.shutdown_grace;
    listen::serve(
        listener,
        app,
        limits,
        tls,
        shutdown_signal(),
        grace,
        move || {
            // Unloading ends what still streams with an error line.
            sched.shutdown();
        },
    )
    .await;
    tracing::info!("server stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(pub String);
