//! The admin listener: what an admin looks at, kept apart from the phones' ports.
//!
//! - `/`: the dashboard (phone table, stuck phones first, a live feed, a phone's request
//!   timeline), one HTML page embedded in the binary;
//! - `/metrics`: the Prometheus text exposition (version 0.0.4);
//! - `/api/phones` (`?state=stuck`, `?limit=N`, `?offset=K`; the count of matching phones in
//!   `X-Total-Count`), `/api/phones/{mac}`: JSON;
//! - `/api/events`: server-sent events, one per request (`event: request`) and per state
//!   change (`event: state`).
//!
//! Bound beyond loopback it requires a bearer token (RFC 6750): `Authorization: Bearer T`, or
//! `?access_token=T` for what a browser cannot give a header to (the page and its
//! `EventSource`). [`AdminServer::bind`] refuses to listen beyond loopback without one, and
//! a token that is blank or holds characters a bearer token cannot (RFC 6750, section 2.1).
//!
//! A request whose `Host` is a name other than `localhost` (on loopback) or one the admin
//! configured ([`AdminServer::with_hosts`]) is refused: a web page that rebinds its own DNS name
//! to this address (DNS rebinding) cannot read the API through a visitor's browser. Connections
//! that have not yet made an authorized request hold at most a quarter of the slots, and the
//! oldest of them gives its slot to a new connection: idle sockets cannot starve scrapes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
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
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};
use tracing::{debug, info};

use crate::monitor::Monitor;
use crate::registry::RegistryLimits;
use crate::state::{StateFile, StateLoaded};
use crate::{ConfigSigner, Error};

/// The dashboard page (HTML, CSS and script in one file: no CDN, no build step).
const DASHBOARD: &str = include_str!("admin/dashboard.html");

/// Connections at once (dashboards, scrapers, feed clients).
const MAX_CONNECTIONS: usize = 64;

/// Of those, connections that have not yet made an authorized request.
const MAX_UNAUTHENTICATED: usize = MAX_CONNECTIONS / 4;

/// `/api/phones` answers at most this many phones per request (`?offset=` pages on).
const MAX_PAGE: usize = 10_000;

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
    /// The token file is empty, blank, holds more than one line, or characters a bearer token
    /// cannot hold.
    #[error(
        "{}: the admin token must be one line of at least 16 characters, letters, digits and - . _ ~ + / = only (RFC 6750)",
        path.display()
    )]
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
    hosts: Vec<String>,
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
                if !is_bearer_token(token) {
                    return Err(AdminError::BadToken { path: path.to_owned() });
                }
                Some(Arc::<str>::from(token))
            }
            None if !addr.ip().is_loopback() => return Err(AdminError::TokenRequired { addr }),
            None => None,
        };
        let listener =
            TcpListener::bind(addr).await.map_err(|source| AdminError::Bind { addr, source })?;
        Ok(Self { listener, monitor, token, hosts: Vec::new() })
    }

    /// Also answers requests whose `Host` is one of `hosts` (the names admins reach it by),
    /// besides IP addresses and, on loopback, `localhost`.
    #[must_use]
    pub fn with_hosts(mut self, hosts: Vec<String>) -> Self {
        self.hosts = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        self
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
        let loopback = self.listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
        let this = Arc::new(Routes {
            monitor: self.monitor,
            token: self.token,
            hosts: self.hosts,
            loopback,
            stopped,
        });
        // Connections that have not made an authorized request yet, oldest first.
        let mut unauthenticated: VecDeque<(Arc<AtomicBool>, AbortHandle)> = VecDeque::new();
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
                    unauthenticated
                        .retain(|(authed, task)| !authed.load(Relaxed) && !task.is_finished());
                    if connections.len() >= MAX_CONNECTIONS
                        || unauthenticated.len() >= MAX_UNAUTHENTICATED
                    {
                        // The connection that has waited longest without an authorized
                        // request gives its slot; when every slot is an admin's, the new one
                        // is closed.
                        match unauthenticated.pop_front() {
                            Some((_, oldest)) => {
                                debug!(%peer, "admin connections full: the oldest unauthenticated one closed");
                                oldest.abort();
                            }
                            None => {
                                debug!(%peer, "admin connection over the limit: closed");
                                continue;
                            }
                        }
                    }
                    let routes = this.clone();
                    let authed = Arc::new(AtomicBool::new(false));
                    let flag = authed.clone();
                    let task = connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let (routes, flag) = (routes.clone(), flag.clone());
                            async move { Ok::<_, Infallible>(routes.respond(&request, &flag)) }
                        });
                        let mut builder = hyper::server::conn::http1::Builder::new();
                        builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
                        if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                            debug!(%peer, error = %e, "admin connection ended");
                        }
                    });
                    unauthenticated.push_back((authed, task));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        let _ = stop.send(true);
        // Feeds end at once; give their connections a moment to write the end.
        crate::drain::drain_then_abort(&mut connections, Duration::from_secs(1)).await;
        info!("admin listener stopped");
        Ok(())
    }
}

struct Routes {
    monitor: Arc<Monitor>,
    token: Option<Arc<str>>,
    /// Names besides IP addresses that `Host` may give, lower case.
    hosts: Vec<String>,
    /// Whether the listener is on loopback (`localhost` is then a name of its own).
    loopback: bool,
    stopped: watch::Receiver<bool>,
}

impl Routes {
    /// Answers a request; marks the connection as authenticated once one is authorized.
    fn respond(&self, request: &Request<Incoming>, authed: &AtomicBool) -> Response<AdminBody> {
        if !self.host_allowed(request) {
            return text(StatusCode::MISDIRECTED_REQUEST, "Misdirected Request: unknown Host\n");
        }
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
        authed.store(true, Relaxed);
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
                let limit = param(query, "limit").and_then(|l| l.parse().ok()).unwrap_or(MAX_PAGE);
                let offset = param(query, "offset").and_then(|o| o.parse().ok()).unwrap_or(0);
                let (body, total) =
                    self.monitor.phones_page(state.as_deref(), offset, limit.min(MAX_PAGE));
                let mut response = json(body);
                response.headers_mut().insert("x-total-count", HeaderValue::from(total));
                response
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

    /// Whether `Host` names this listener: an IP address (a rebinding page has a DNS name),
    /// `localhost` on loopback, or a configured name; no `Host` at all (HTTP/1.0) is allowed,
    /// as browsers always send one.
    fn host_allowed(&self, request: &Request<Incoming>) -> bool {
        let Some(host) = request.headers().get(header::HOST) else { return true };
        let Ok(host) = host.to_str() else { return false };
        let host = host.trim().to_ascii_lowercase();
        // Without its port: `[::1]:6980`, `127.0.0.1:6980`, `admin.example:6980`.
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or(rest, |(ip, _)| ip),
            None => host.rsplit_once(':').map_or(host.as_str(), |(name, _)| name),
        };
        let name = name.trim_end_matches('.');
        name.parse::<std::net::IpAddr>().is_ok()
            || (self.loopback && name == "localhost")
            || self.hosts.iter().any(|h| h == name)
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else { return true };
        // RFC 7235: the scheme is case-insensitive.
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned());
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

/// Whether `token` may be a bearer token: at least 16 characters of RFC 6750's `b64token`
/// (letters, digits, `-._~+/`, then `=` padding), so never blank and never with a space.
fn is_bearer_token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    token.len() >= 16
        && !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
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
    pub store: Option<Arc<crate::store_stats::MirrorStats>>,
    /// The registry's bounds.
    pub limits: RegistryLimits,
    /// Names the listener answers to besides IP addresses ([`AdminServer::with_hosts`]).
    pub hosts: Vec<String>,
}

/// The registry, its state file and its admin listener, started ([`AdminSetup::start`]).
pub struct Admin {
    /// Feed it to the handler ([`ProvisioningHandler::with_monitor`](crate::ProvisioningHandler::with_monitor))
    /// and give it the TFTP driver's counts ([`Monitor::attach_tftp`]).
    pub monitor: Arc<Monitor>,
    server: Option<AdminServer>,
    state: Option<(StateFile, oneshot::Sender<StateLoaded>)>,
    /// What the state file held, once it is loaded: [`Admin::run`] loads it while the phones
    /// are already answered.
    pub restored: Option<oneshot::Receiver<StateLoaded>>,
    /// Why the optional listener is not there.
    pub not_listening: Option<AdminError>,
}

impl AdminSetup {
    /// Checks the state file ([`StateFile::prepare`]; [`Admin::run`] loads it) and binds the
    /// listener; `None` when there is neither.
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
        let (state, restored) = match &self.state {
            Some(path) => {
                let (tell, told) = oneshot::channel();
                (Some((StateFile::prepare(path)?, tell)), Some(told))
            }
            None => (None, None),
        };
        let (server, not_listening) = match self.listen {
            Some(addr) => {
                match AdminServer::bind(addr, monitor.clone(), self.token_file.as_deref()).await {
                    Ok(server) => (Some(server.with_hosts(self.hosts)), None),
                    Err(e) if self.listen_optional => (None, Some(e)),
                    Err(e) => return Err(Error::Admin(Box::new(e))),
                }
            }
            None => (None, None),
        };
        Ok(Some(Admin { monitor, server, state, restored, not_listening }))
    }
}

impl Admin {
    /// Where the listener listens.
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Settles phones every second, loads the state file then saves the registry every second,
    /// and serves the listener, until `stop()` resolves; then saves once more.
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
                if let Some((state, loaded)) = self.state {
                    state.run(monitor, every, stop(), Some(loaded)).await;
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
    fn a_token_is_rfc_6750_b64token_of_16_characters_never_blank() {
        assert!(is_bearer_token("s3cret-token-of-32-characters-xx"));
        assert!(is_bearer_token("c2VjcmV0LXRva2VuLWZvcg=="));
        for bad in [
            "                ",
            "short",
            "spaces in a long token",
            "tab\tinside-a-token-x",
            "================",
        ] {
            assert!(!is_bearer_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        assert_eq!(param("state=stuck&limit=5", "limit").as_deref(), Some("5"));
        assert_eq!(param("access_token=a%2Bb", "access_token").as_deref(), Some("a+b"));
        assert_eq!(param("", "state"), None);
    }
}
