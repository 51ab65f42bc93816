//! The admin listener: what an admin looks at, kept apart from the phones' ports.
//!
//! - `/`: the dashboard (phone table, stuck phones first, a live feed, a phone's request
//!   timeline), one HTML page embedded in the binary;
//! - `/metrics`: the Prometheus text exposition (version 0.0.4);
//! - `/api/phones` (`?state=stuck`, `?limit=N`), `/api/phones/{mac}`: JSON;
//! - `/api/events`: server-sent events, one per request (`event: request`) and per state
//!   change (`event: state`).
//!
//! Bound beyond loopback it requires a bearer token (RFC 6750): `Authorization: Bearer T`, or
//! `?access_token=T` for what a browser cannot give a header to (the page and its
//! `EventSource`). [`AdminServer::bind`] refuses to listen beyond loopback without one.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use cnfkit_resolve::Mac;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info};

use crate::monitor::Monitor;
use crate::registry::RegistryLimits;
use crate::state::{StateFile, StateLoaded};
use crate::{ConfigSigner, Error};

/// The dashboard page (HTML, CSS and script in one file: no CDN, no build step).
const DASHBOARD: &str = include_str!("admin/dashboard.html");

/// Connections at once (dashboards, scrapers, feed clients).
const MAX_CONNECTIONS: usize = 64;

/// A live-feed client hears at least this often (a comment line), so that a proxy keeps the
/// stream open and a client that went away is noticed.
const HEARTBEAT: Duration = Duration::from_secs(15);

type AdminBody = BoxBody<Bytes, Infallible>;

/// Why the admin listener cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Bound beyond loopback without a token: anyone on the network would see every phone.
    #[error(
        "the admin listener on {addr} is reachable beyond this machine: give it a token (--admin-token-file) or bind it to 127.0.0.1"
    )]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The token file cannot be read.
    #[error("{}: {source}", path.display())]
    TokenFile {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The token file is empty or holds more than one line.
    #[error("{}: the admin token must be one line of at least 16 characters", path.display())]
    BadToken {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The admin listener.
pub struct AdminServer {
    listener: TcpListener,
    monitor: Arc<Monitor>,
    token: Option<Arc<str>>,
}

impl AdminServer {
    /// Listens on `addr`. The token in `token_file` (one line of at least 16 characters) is
    /// then required for every request; a token file must be given when `addr` is not a
    /// loopback address.
    ///
    /// # Errors
    /// [`AdminError::TokenRequired`], [`AdminError::TokenFile`], [`AdminError::BadToken`],
    /// [`AdminError::Bind`].
    pub async fn bind(
        addr: SocketAddr,
        monitor: Arc<Monitor>,
        token_file: Option<&std::path::Path>,
    ) -> Result<Self, AdminError> {
        let token = match token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| AdminError::TokenFile { path: path.to_owned(), source })?;
                let token = text.trim_end_matches(['\n', '\r']);
                if token.len() < 16 || token.contains(['\n', '\r']) {
                    return Err(AdminError::BadToken { path: path.to_owned() });
                }
                Some(Arc::<str>::from(token))
            }
            None if !addr.ip().is_loopback() => return Err(AdminError::TokenRequired { addr }),
            None => None,
        };
        let listener =
            TcpListener::bind(addr).await.map_err(|source| AdminError::Bind { addr, source })?;
        Ok(Self { listener, monitor, token })
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// As the socket's.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; open feeds are then ended and the connections
    /// closed.
    ///
    /// # Errors
    /// When accepting fails for good.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut connections = JoinSet::new();
        let this = Arc::new(Routes { monitor: self.monitor, token: self.token, stopped });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let Ok((stream, peer)) = accepted else {
                        // Out of descriptors or a reset: try again shortly.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    if connections.len() >= MAX_CONNECTIONS {
                        debug!(%peer, "admin connection over the limit: closed");
                        continue;
                    }
                    let routes = this.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let routes = routes.clone();
                            async move { Ok::<_, Infallible>(routes.respond(&request)) }
                        });
                        let mut builder = hyper::server::conn::http1::Builder::new();
                        builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
                        if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                            debug!(%peer, error = %e, "admin connection ended");
                        }
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        let _ = stop.send(true);
        // Feeds end at once; give their connections a moment to write the end.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        connections.abort_all();
        info!("admin listener stopped");
        Ok(())
    }
}

struct Routes {
    monitor: Arc<Monitor>,
    token: Option<Arc<str>>,
    stopped: watch::Receiver<bool>,
}

impl Routes {
    fn respond(&self, request: &Request<Incoming>) -> Response<AdminBody> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        }
        if !self.authorized(request) {
            let mut response =
                text(StatusCode::UNAUTHORIZED, "Unauthorized: a bearer token is required\n");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cnfkit\""),
            );
            return response;
        }
        let path = request.uri().path();
        let query = request.uri().query().unwrap_or("");
        match path {
            "/" => with_type(full(DASHBOARD), "text/html; charset=utf-8"),
            "/metrics" => with_type(
                full(self.monitor.metrics_text()),
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            ),
            "/api/phones" => {
                let state = param(query, "state");
                let limit = param(query, "limit").and_then(|l| l.parse().ok()).unwrap_or(10_000);
                json(self.monitor.phones_json(state.as_deref(), limit))
            }
            "/api/events" => self.feed(),
            _ => match path.strip_prefix("/api/phones/").map(Mac::parse) {
                Some(Ok(mac)) => match self.monitor.phone_json(mac) {
                    Some(body) => json(body),
                    None => text(StatusCode::NOT_FOUND, "No such phone\n"),
                },
                Some(Err(_)) => text(StatusCode::BAD_REQUEST, "Not a MAC address\n"),
                None => text(StatusCode::NOT_FOUND, "Not Found\n"),
            },
        }
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else { return true };
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let given = bearer.or_else(|| param(request.uri().query().unwrap_or(""), "access_token"));
        given.is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes()))
    }

    /// A server-sent event stream of the monitor's feed, until the client goes or the
    /// listener stops.
    fn feed(&self) -> Response<AdminBody> {
        let mut events = self.monitor.subscribe();
        let mut stopped = self.stopped.clone();
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        tokio::spawn(async move {
            if tx.send(Bytes::from_static(b": connected\n\n")).await.is_err() {
                return;
            }
            let mut heartbeat = tokio::time::interval(HEARTBEAT);
            heartbeat.tick().await;
            loop {
                let item = tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => break,
                    _ = heartbeat.tick() => Bytes::from_static(b": heartbeat\n\n"),
                    event = events.recv() => match event {
                        Ok(event) => Bytes::copy_from_slice(event.as_bytes()),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            Bytes::from(format!(": missed {missed} events (a slow client)\n\n"))
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                if tx.send(item).await.is_err() {
                    break;
                }
            }
        });
        let mut response = Response::new(FeedBody { rx }.boxed());
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The body of a live feed: what the forwarding task sends, until it ends.
struct FeedBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for FeedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|item| item.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(given: &[u8], token: &[u8]) -> bool {
    given.len() == token.len()
        && given.iter().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A query parameter's value, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn full(body: impl Into<Bytes>) -> AdminBody {
    Full::new(body.into()).boxed()
}

fn with_type(body: AdminBody, content_type: &'static str) -> Response<AdminBody> {
    let mut response = Response::new(body);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json(body: String) -> Response<AdminBody> {
    with_type(full(body), "application/json")
}

fn text(status: StatusCode, body: &'static str) -> Response<AdminBody> {
    let mut response = with_type(full(body), "text/plain; charset=utf-8");
    *response.status_mut() = status;
    response
}

/// What a server keeps for its admins: a registry, optionally saved in a state file and
/// served by an admin listener.
#[derive(Debug, Default)]
pub struct AdminSetup {
    /// Where the admin listener listens, if anywhere.
    pub listen: Option<SocketAddr>,
    /// Its token's file ([`AdminServer::bind`]).
    pub token_file: Option<std::path::PathBuf>,
    /// Whether a listener that cannot bind is only a warning (a demo's default port).
    pub listen_optional: bool,
    /// The state file, if the registry is kept across restarts ([`StateFile`]).
    pub state: Option<std::path::PathBuf>,
    /// The server's signer, whose counts go to the metrics.
    pub signer: Option<ConfigSigner>,
    /// The object-store mirror's counts, for the metrics, when the tree comes from a store.
    pub store: Option<Arc<crate::mirror::MirrorStats>>,
    /// The registry's bounds.
    pub limits: RegistryLimits,
}

/// The registry, its state file and its admin listener, started ([`AdminSetup::start`]).
pub struct Admin {
    /// Feed it to the handler ([`ProvisioningHandler::with_monitor`](crate::ProvisioningHandler::with_monitor))
    /// and give it the TFTP driver's counts ([`Monitor::attach_tftp`]).
    pub monitor: Arc<Monitor>,
    server: Option<AdminServer>,
    state: Option<StateFile>,
    /// What the state file held, when there is one.
    pub loaded: Option<StateLoaded>,
    /// Why the optional listener is not there.
    pub not_listening: Option<AdminError>,
}

impl AdminSetup {
    /// Restores the registry from the state file and binds the listener; `None` when there is
    /// neither.
    ///
    /// # Errors
    /// The state file's [`Error`]; a listener that cannot start ([`Error::Admin`]) unless
    /// it is optional.
    pub async fn start(self) -> Result<Option<Admin>, Error> {
        if self.listen.is_none() && self.state.is_none() {
            return Ok(None);
        }
        let monitor = Monitor::new(self.limits, self.signer);
        if let Some(store) = self.store {
            monitor.attach_store(store);
        }
        let (state, loaded) = match &self.state {
            Some(path) => {
                let (file, loaded) = StateFile::open(path, &mut monitor.lock())?;
                (Some(file), Some(loaded))
            }
            None => (None, None),
        };
        let (server, not_listening) = match self.listen {
            Some(addr) => {
                match AdminServer::bind(addr, monitor.clone(), self.token_file.as_deref()).await {
                    Ok(server) => (Some(server), None),
                    Err(e) if self.listen_optional => (None, Some(e)),
                    Err(e) => return Err(Error::Admin(Box::new(e))),
                }
            }
            None => (None, None),
        };
        Ok(Some(Admin { monitor, server, state, loaded, not_listening }))
    }
}

impl Admin {
    /// Where the listener listens.
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Settles phones every second, saves the registry every second and serves the listener,
    /// until `stop()` resolves; then saves once more.
    ///
    /// # Errors
    /// The listener's.
    pub async fn run<F: Future<Output = ()>>(self, stop: impl Fn() -> F) -> std::io::Result<()> {
        let every = Duration::from_secs(1);
        let ticks = tokio::spawn(self.monitor.clone().run(every));
        let monitor = self.monitor;
        let (served, ()) = tokio::join!(
            async {
                match self.server {
                    Some(server) => server.run(stop()).await,
                    None => Ok(()),
                }
            },
            async {
                if let Some(state) = self.state {
                    state.run(monitor, every, stop()).await;
                }
            },
        );
        ticks.abort();
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_itself() {
        assert!(same_secret(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcdeF", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcde", b"0123456789abcdef"));
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        assert_eq!(param("state=stuck&limit=5", "limit").as_deref(), Some("5"));
        assert_eq!(param("access_token=a%2Bb", "access_token").as_deref(), Some("a+b"));
        assert_eq!(param("", "state"), None);
    }
}
