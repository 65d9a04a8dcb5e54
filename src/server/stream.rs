//! Streaming responses: NDJSON (`application/x-ndjson`, one JSON object per line, flushed per
//! line) and server-sent events (`text/event-stream`), fed from a channel, so the producer
//! notices at once when the client goes away (its sends fail) and can cancel the work behind
//! it. [`completion`] streams a run of the inference pipeline in either framing. Must not
//! depend on the CLI.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream_shim::ReceiverStream;

use super::error::ApiError;
use super::infer::{Out, Running};

/// The producing end of an NDJSON response.
pub struct NdjsonSender {
    tx: mpsc::Sender<bytes::Bytes>,
}

impl NdjsonSender {
    /// Sends one object as a line; false when the client has gone away.
    pub async fn send<T: Serialize>(&self, value: &T) -> bool {
        match encode_line(value) {
            Some(line) => self.tx.send(line).await.is_ok(),
            None => true,
        }
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

/// How a streamed completion is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Ndjson,
    Sse,
}

/// One NDJSON line (`{}` if the value cannot be serialised, which is logged).
pub fn line<T: Serialize>(value: &T) -> bytes::Bytes {
    encode_line(value).unwrap_or_else(|| bytes::Bytes::from_static(b"{}\n"))
}

fn encode_line<T: Serialize>(value: &T) -> Option<bytes::Bytes> {
    match serde_json::to_vec(value) {
        Ok(mut line) => {
            line.push(b'\n');
            Some(bytes::Bytes::from(line))
        }
        Err(e) => {
            tracing::error!("serialising a stream line: {e}");
            None
        }
    }
}

/// One server-sent event without a name (`data: ...`).
pub fn sse_data<T: Serialize + ?Sized>(value: &T) -> bytes::Bytes {
    sse(b"data: ", value)
}

/// One named server-sent event (`event: name` + `data: ...`).
pub fn sse_event<T: Serialize + ?Sized>(name: &str, value: &T) -> bytes::Bytes {
    sse(format!("event: {name}\ndata: ").as_bytes(), value)
}

fn sse<T: Serialize + ?Sized>(head: &[u8], value: &T) -> bytes::Bytes {
    let mut out = Vec::with_capacity(head.len() + 128);
    out.extend_from_slice(head);
    if let Err(e) = serde_json::to_writer(&mut out, value) {
        tracing::error!("serialising an event: {e}");
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    bytes::Bytes::from(out)
}

/// Streams a completion: waits for its first event (an error before it is the error's status,
/// as Ollama answers while nothing has been written), then writes what `each` makes of every
/// event, flushed as it comes, through the last one. A client that goes away drops the run,
/// which cancels the sequence at the engine's next step.
pub async fn completion(
    mut running: Running,
    framing: Framing,
    mut each: impl FnMut(Out) -> Vec<bytes::Bytes> + Send + 'static,
) -> Result<Response, ApiError> {
    let first = match running.next().await {
        None => return Err(ApiError::internal(crate::server::infer::runner_stopped())),
        Some(Out::Error(e)) => return Err(e),
        Some(out) => out,
    };
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(64);
    tokio::spawn(async move {
        let mut next = Some(first);
        loop {
            let out = match next.take() {
                Some(out) => out,
                None => tokio::select! {
                    out = running.next() => match out {
                        Some(out) => out,
                        None => return,
                    },
                    _ = tx.closed() => return,
                },
            };
            let last = matches!(out, Out::Done(_) | Out::Error(_));
            for bytes in each(out) {
                if tx.send(bytes).await.is_err() {
                    return;
                }
            }
            if last {
                return;
            }
        }
    });
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>));
    Ok(match framing {
        Framing::Ndjson => ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response(),
        Framing::Sse => (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
    })
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
