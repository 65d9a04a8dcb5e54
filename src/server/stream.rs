//! Streaming responses: NDJSON (`application/x-ndjson`, one JSON object per line, flushed per
//! line) fed from a channel, so the producer notices at once when the client goes away (its
//! sends fail) and can cancel the work behind it. Must not depend on the CLI.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream_shim::ReceiverStream;

/// The producing end of an NDJSON response.
pub struct NdjsonSender {
    tx: mpsc::Sender<bytes::Bytes>,
}

impl NdjsonSender {
    /// Sends one object as a line; false when the client has gone away.
    pub async fn send<T: Serialize>(&self, value: &T) -> bool {
        let mut line = match serde_json::to_vec(value) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("serialising a stream line: {e}");
                return true;
            }
        };
        line.push(b'\n');
        self.tx.send(bytes::Bytes::from(line)).await.is_ok()
    }

    /// The last line of a stream that failed after it started.
    pub async fn send_error(&self, message: &str) -> bool {
        self.send(&serde_json::json!({ "error": message })).await
    }

    /// Resolves when the client has gone away.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// A 200 NDJSON response and the sender that fills it.
pub fn ndjson() -> (NdjsonSender, Response) {
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(64);
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>));
    let response = ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
    (NdjsonSender { tx }, response)
}

/// A tiny stand-in for `tokio_stream::wrappers::ReceiverStream`, to avoid a dependency for
/// twenty lines.
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc;

    pub struct ReceiverStream<T>(mpsc::Receiver<T>);

    impl<T> ReceiverStream<T> {
        pub fn new(rx: mpsc::Receiver<T>) -> Self {
            ReceiverStream(rx)
        }
    }

    impl<T> futures_util::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}
