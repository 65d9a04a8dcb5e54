//! The accept loop, in place of `axum::serve`, which has no deadlines: each connection (over
//! TLS when the server has a certificate, the handshake bounded by the header timeout) is
//! served by hyper's HTTP/1 and closed when its client takes longer than the header timeout to
//! send a request's headers (from the first byte, or from the accept for a connection's first
//! request, as Go's `ReadHeaderTimeout`), or sits idle between requests for longer than the
//! idle timeout. A request in flight (until its response body ends) has no deadline. Accept
//! errors (`Too many open files`) back off instead of spinning. On shutdown the listener
//! closes (new clients are refused), idle connections close, and requests in flight get a
//! grace period to finish; then `stop` runs (the server unloads its models, which ends what
//! still streams with an error line) and `serve` returns once every connection is gone.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// A connection's deadlines; `None` waits for ever.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header: Option<Duration>,
    pub idle: Option<Duration>,
}

/// How long connections get to close after `stop` before `serve` returns regardless.
const AFTER_STOP: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves, then drains as the module says.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    stop: impl FnOnce(),
) {
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let tracker = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                let _ = stream.set_nodelay(true);
                let (app, stopped, tls) = (app.clone(), stopped.clone(), tls.clone());
                tracker.spawn(async move {
                    match tls {
                        None => connection(stream, app, limits, stopped).await,
                        Some(acceptor) => {
                            let wait = limits.header.unwrap_or(Duration::from_secs(60));
                            match tokio::time::timeout(wait, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => connection(tls, app, limits, stopped).await,
                                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        }
                    }
                });
            }
            Err(e) => {
                // Go's backoff for temporary accept errors: 5 ms, doubling, at most 1 s.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                tracing::warn!("accept error: {e}; retrying in {backoff:?}");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break,
                }
            }
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    tracker.close();
    tracing::info!(
        "shutting down: {} connections open, {grace:?} for requests in flight",
        tracker.len()
    );
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::info!("grace period over: ending {} connections", tracker.len());
    }
    stop();
    let _ = tokio::time::timeout(AFTER_STOP, tracker.wait()).await;
}

async fn connection<S>(
    stream: S,
    app: Router,
    limits: Limits,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = Arc::new(Clock::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        clock: Arc::clone(&clock),
    });
    let service = Service {
        app,
        clock: Arc::clone(&clock),
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let tick = [limits.header, limits.idle]
        .into_iter()
        .flatten()
        .min()
        .map_or(Duration::from_secs(1), |d| d / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut stopping = false;
    loop {
        let now = Instant::now();
        let wake = match clock.deadline(limits) {
            Some(d) if d <= now => {
                tracing::debug!("closing a connection that missed its deadline");
                return;
            }
            Some(d) => d.min(now + tick),
            None => now + tick,
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection error: {e}");
                }
                return;
            }
            _ = stopped.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// What a connection is doing, for its deadlines.
struct Clock(Mutex<ClockState>);

struct ClockState {
    /// Requests whose responses have not ended.
    active: usize,
    /// The last byte read or written.
    last: Instant,
    /// When the headers now being read began (the accept, for the first request).
    head_since: Option<Instant>,
}

impl Clock {
    fn new() -> Clock {
        let now = Instant::now();
        Clock(Mutex::new(ClockState {
            active: 0,
            last: now,
            head_since: Some(now),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deadline(&self, limits: Limits) -> Option<Instant> {
        let s = self.state();
        if s.active > 0 {
            return None;
        }
        match s.head_since {
            Some(t) => limits.header.map(|h| t + h),
            None => limits.idle.map(|i| s.last + i),
        }
    }

    fn read(&self) {
        let mut s = self.state();
        s.last = Instant::now();
        if s.active == 0 && s.head_since.is_none() {
            s.head_since = Some(s.last);
        }
    }

    fn wrote(&self) {
        self.state().last = Instant::now();
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut s = self.state();
        s.active += 1;
        s.head_since = None;
        InFlight(Arc::clone(self))
    }
}

/// A request in flight; dropped when its response body ends (or the connection goes).
struct InFlight(Arc<Clock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.active = s.active.saturating_sub(1);
        s.last = Instant::now();
    }
}

/// The connection's stream, noting each read and write on its clock.
struct Watched<S> {
    inner: S,
    clock: Arc<Clock>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.read();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router as hyper's service, marking each request in flight until its body ends.
#[derive(Clone)]
struct Service {
    app: Router,
    clock: Arc<Clock>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        let in_flight = self.clock.request_started();
        let mut app = self.app.clone();
        Box::pin(async move {
            let resp = tower_service::Service::call(&mut app, req).await?;
            Ok(resp.map(|inner| {
                Body::new(Tracked {
                    inner,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// A response body that keeps its request in flight until it ends or is dropped.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
