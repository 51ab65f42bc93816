//! Provisioning over HTTP and HTTPS (TCP 6970 and 6971): the URL path is the TFTP file name,
//! and every request goes through the same [`ProvisioningHandler`] as TFTP (the same fallback,
//! generation, signing and path confinement), so that phones that try HTTP first get what TFTP
//! would have given them.
//!
//! HTTP itself is hyper's: HTTP/1.0 and 1.1, keep-alive, HEAD, `Content-Length`, single
//! `Range` requests (206, 416), `ETag` and `Last-Modified` with `If-None-Match` and
//! `If-Modified-Since` (304, only to a client that asked), files streamed from disk. Limits
//! bound connections in all and per address, the time to send a request head (slowloris), its
//! size (431) and the URL's length (414).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use cnfkit_resolve::{FileKind, Mac, Protection, Recognised, Transport};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tracing::{debug, info, warn};

use crate::{HttpAnswer, OpenFile, ProvisioningHandler, Served, ServedBody};

/// Limits of an HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Connections open at once, all clients together. When they are all taken, a new
    /// connection takes the slot of the one that has waited longest without sending a whole
    /// request head (a phone's connection sends its head at once); when every connection has,
    /// the new one is closed.
    pub max_connections: usize,
    /// Connections open at once from one address (a branch office behind NAT is one address);
    /// past it, as for [`max_connections`](Self::max_connections), within the address.
    pub max_per_address: usize,
    /// Connections open at once from one network, an IPv4 /24 or an IPv6 /64 (one host holds
    /// a whole /64); past it, the same, within the network.
    pub max_per_network: usize,
    /// Time a client has to send its first whole request head, counted from the accept (a TLS
    /// handshake included) and never renewed; and to start each next one on a kept-alive
    /// connection. Then the connection is closed (slowloris).
    pub header_timeout: Duration,
    /// Largest request head (request line and headers); larger gets 431. At least 8 KiB.
    pub max_header_bytes: usize,
    /// Longest request target; longer gets 414.
    pub max_url_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_per_address: 128,
            max_per_network: 512,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 << 10,
            max_url_bytes: 1024,
        }
    }
}

/// Why a URL path does not name a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlRefusal {
    /// Not an absolute path (`*`, an absolute URI's authority form...).
    NotAPath,
    /// An encoded separator or NUL (`%2f`, `%5c`, `%00`): a name that could mean one thing to
    /// this server and another to a proxy or a file system.
    EncodedSeparator,
    /// Percent-encoding inside percent-encoding (`%252e`): refused rather than guessed at.
    DoubleEncoded,
    /// An empty component (`//`).
    EmptyComponent,
    /// Not UTF-8 once decoded.
    NotUtf8,
}

/// The TFTP file name an HTTP request path stands for: percent-decoded once, without the
/// leading `/`. What is left is checked by the resolver as any TFTP name is (`..`, control
/// bytes, symlinks out of the root).
///
/// ```
/// use cnfkit_server::http::{UrlRefusal, tftp_name};
/// assert_eq!(tftp_name("/SEP001122334455.cnf.xml").unwrap(), "SEP001122334455.cnf.xml");
/// assert_eq!(tftp_name("/firmware/dsp%2042.sbn").unwrap(), "firmware/dsp 42.sbn");
/// assert_eq!(tftp_name("/..%2fetc/passwd"), Err(UrlRefusal::EncodedSeparator));
/// assert_eq!(tftp_name("/%252e%252e/x"), Err(UrlRefusal::DoubleEncoded));
/// assert_eq!(tftp_name("//etc/passwd"), Err(UrlRefusal::EmptyComponent));
/// ```
///
/// # Errors
/// A [`UrlRefusal`].
pub fn tftp_name(path: &str) -> Result<String, UrlRefusal> {
    let rest = path.strip_prefix('/').ok_or(UrlRefusal::NotAPath)?;
    let lower = rest.to_ascii_lowercase();
    if ["%2f", "%5c", "%00"].iter().any(|e| lower.contains(e)) {
        return Err(UrlRefusal::EncodedSeparator);
    }
    if rest.split('/').any(str::is_empty) && !rest.is_empty() {
        return Err(UrlRefusal::EmptyComponent);
    }
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| UrlRefusal::NotUtf8)?;
    let bytes = decoded.as_bytes();
    let encoded_again = bytes
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    if encoded_again {
        return Err(UrlRefusal::DoubleEncoded);
    }
    Ok(decoded.into_owned())
}

/// The MAC a Multiplatform phone gives in its User-Agent:
/// `Cisco-CP-8841-3PCC/11.0 (00562b043615)`.
///
/// ```
/// use cnfkit_server::http::mac_from_user_agent;
/// let mac = mac_from_user_agent("Cisco-CP-8841-3PCC/11.0 (00562b043615)").unwrap();
/// assert_eq!(mac.to_string(), "00562B043615");
/// assert_eq!(mac_from_user_agent("curl/8.5.0"), None);
/// ```
#[must_use]
pub fn mac_from_user_agent(agent: &str) -> Option<Mac> {
    let open = agent.rfind('(')?;
    let inner = agent[open + 1..].split(')').next()?;
    inner.trim().parse().ok()
}

/// The model a Cisco phone's User-Agent names: its product token without the `Cisco-` prefix.
///
/// ```
/// use cnfkit_server::http::model_from_user_agent;
/// assert_eq!(model_from_user_agent("Cisco-CP-8841-3PCC/11.0 (00562b043615)"), Some("CP-8841-3PCC"));
/// assert_eq!(model_from_user_agent("curl/8.5.0"), None);
/// ```
#[must_use]
pub fn model_from_user_agent(agent: &str) -> Option<&str> {
    let product = agent.split(['/', ' ']).next()?;
    product.strip_prefix("Cisco-").filter(|m| !m.is_empty())
}

/// The response body type: bytes in memory, or a file streamed from disk.
pub type HttpBody = BoxBody<Bytes, std::io::Error>;

/// One HTTP or HTTPS listener over a [`ProvisioningHandler`].
pub struct HttpServer<D> {
    listener: TcpListener,
    handler: Arc<ProvisioningHandler<D>>,
    config: HttpConfig,
    tls: Option<Acceptor>,
}

/// What accepts a TLS connection; without the `https` feature there is none.
#[cfg(feature = "https")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "https"))]
type Acceptor = Infallible;

impl<D: OpenFile> HttpServer<D> {
    /// Listens on `addr` for plain HTTP.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(
        addr: SocketAddr,
        handler: Arc<ProvisioningHandler<D>>,
        config: HttpConfig,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, handler, config, tls: None })
    }

    /// Listens on `addr` for HTTPS with `tls` (see [`crate::tls::server_config`]).
    ///
    /// # Errors
    /// When the address cannot be bound.
    #[cfg(feature = "https")]
    pub async fn bind_tls(
        addr: SocketAddr,
        handler: Arc<ProvisioningHandler<D>>,
        config: HttpConfig,
        tls: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, handler, config, tls: Some(tls.into()) })
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// As the socket's.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets responses in progress
    /// finish for up to `grace` (kept-alive connections are closed after their current
    /// request) and closes the rest.
    ///
    /// # Errors
    /// When accepting fails for another reason than a client's (out of descriptors is
    /// waited out).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let slots = Arc::new(Mutex::new(Slots::default()));
        let mut connections = JoinSet::new();
        let transport = if self.tls.is_some() { Transport::Https } else { Transport::Http };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) if cnfkit_tftp::driver::is_out_of_descriptors(&e) => {
                            warn!(error = %e, limit = crate::open_file_limit(), "out of file descriptors: not accepting for 100 ms");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                        Err(e) if is_per_connection(&e) => continue,
                        Err(e) => return Err(e),
                    };
                    let accepted = tokio::time::Instant::now();
                    let Some(guard) = Slots::admit(&slots, peer.ip(), &self.config) else {
                        debug!(%peer, "connection over the limits, every slot sending: closed");
                        continue;
                    };
                    let ctx = Connection {
                        handler: self.handler.clone(),
                        config: self.config.clone(),
                        transport,
                        peer,
                        waiting: guard.waiting.clone(),
                    };
                    let tls = self.tls.clone();
                    let stopped = stopped.clone();
                    let id = guard.id;
                    let task = connections.spawn(async move {
                        let _guard = guard;
                        ctx.serve(stream, tls, stopped, accepted).await;
                    });
                    Slots::started(&slots, id, task);
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        let open = connections.len();
        let _ = stop.send(true);
        let closed = crate::drain::drain_then_abort(&mut connections, grace).await;
        info!(%transport, open, closed_at_deadline = closed, "stopped");
        Ok(())
    }
}

/// An accept error that concerns one connection only (it was reset before it was accepted).
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    )
}

/// The open connections, by age, with their counts per address and per network.
#[derive(Default)]
struct Slots {
    next_id: u64,
    /// By id, which grows with each accept: the first waiting one is the oldest.
    open: BTreeMap<u64, Slot>,
    per_address: HashMap<IpAddr, usize>,
    per_network: HashMap<IpAddr, usize>,
}

struct Slot {
    ip: IpAddr,
    /// Whether no whole request head has come yet.
    waiting: Arc<AtomicBool>,
    /// Its task, once spawned: aborted when it loses its slot.
    task: Option<AbortHandle>,
}

/// A connection's hold on its slot; released when the connection ends.
struct SlotGuard {
    slots: Arc<Mutex<Slots>>,
    id: u64,
    waiting: Arc<AtomicBool>,
}

impl Slots {
    /// A slot for a connection from `ip`: a free one, or the slot of the connection that has
    /// waited longest for its first request head in the scope that is full (the address, its
    /// network, then all); `None` when every connection of that scope has sent one.
    fn admit(slots: &Arc<Mutex<Self>>, ip: IpAddr, config: &HttpConfig) -> Option<SlotGuard> {
        let mut s = slots.lock().unwrap_or_else(PoisonError::into_inner);
        let network = cnfkit_tftp::network_of(ip);
        let full_address = s.per_address.get(&ip).copied().unwrap_or(0) >= config.max_per_address;
        let full_network =
            s.per_network.get(&network).copied().unwrap_or(0) >= config.max_per_network;
        let full = s.open.len() >= config.max_connections;
        for (scope_full, in_scope) in [
            (full_address, &(|other: IpAddr| other == ip) as &dyn Fn(IpAddr) -> bool),
            (full_network, &|other| cnfkit_tftp::network_of(other) == network),
            (full, &|_| true),
        ] {
            if !scope_full {
                continue;
            }
            let oldest = s
                .open
                .iter()
                .find(|(_, slot)| slot.waiting.load(Relaxed) && in_scope(slot.ip))
                .map(|(id, _)| *id)?;
            if let Some(slot) = s.release(oldest)
                && let Some(task) = slot.task
            {
                task.abort();
            }
            // One eviction frees a slot in every scope that holds the evicted connection: the
            // smaller scopes were checked first, so the larger ones are checked again below.
            if s.per_address.get(&ip).copied().unwrap_or(0) < config.max_per_address
                && s.per_network.get(&network).copied().unwrap_or(0) < config.max_per_network
                && s.open.len() < config.max_connections
            {
                break;
            }
        }
        if s.per_address.get(&ip).copied().unwrap_or(0) >= config.max_per_address
            || s.per_network.get(&network).copied().unwrap_or(0) >= config.max_per_network
            || s.open.len() >= config.max_connections
        {
            return None;
        }
        let id = s.next_id;
        s.next_id += 1;
        let waiting = Arc::new(AtomicBool::new(true));
        s.open.insert(id, Slot { ip, waiting: waiting.clone(), task: None });
        *s.per_address.entry(ip).or_insert(0) += 1;
        *s.per_network.entry(network).or_insert(0) += 1;
        Some(SlotGuard { slots: slots.clone(), id, waiting })
    }

    /// Records the task of slot `id`, so that it can be evicted.
    fn started(slots: &Mutex<Self>, id: u64, task: AbortHandle) {
        let mut s = slots.lock().unwrap_or_else(PoisonError::into_inner);
        match s.open.get_mut(&id) {
            Some(slot) => slot.task = Some(task),
            // Ended already (or evicted before it was recorded).
            None => task.abort(),
        }
    }

    /// Frees slot `id` (the connection ended, or is evicted); its record, if still held.
    fn release(&mut self, id: u64) -> Option<Slot> {
        let slot = self.open.remove(&id)?;
        for (map, key) in [
            (&mut self.per_address, slot.ip),
            (&mut self.per_network, cnfkit_tftp::network_of(slot.ip)),
        ] {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        Some(slot)
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).release(self.id);
    }
}

/// One client connection.
struct Connection<D> {
    handler: Arc<ProvisioningHandler<D>>,
    config: HttpConfig,
    transport: Transport,
    peer: SocketAddr,
    /// Cleared by its first whole request head.
    waiting: Arc<AtomicBool>,
}

impl<D: OpenFile> Connection<D> {
    async fn serve(
        self,
        stream: TcpStream,
        tls: Option<Acceptor>,
        stopped: watch::Receiver<bool>,
        accepted: tokio::time::Instant,
    ) {
        let _ = stream.set_nodelay(true);
        let peer = self.peer;
        let header_timeout = self.config.header_timeout;
        // The first head is due this long after the accept, the handshake included, whatever
        // the client sends meanwhile.
        let first_head =
            FirstHead { waiting: self.waiting.clone(), due: accepted + header_timeout };
        let max_header = self.config.max_header_bytes.max(8192);
        let this = Arc::new(self);
        let service = hyper::service::service_fn(move |request| {
            let this = this.clone();
            this.waiting.store(false, Relaxed);
            async move { Ok::<_, Infallible>(this.respond(&request)) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(max_header)
            .keep_alive(true);
        match tls {
            None => {
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                drive(connection, stopped, peer, first_head).await;
            }
            #[cfg(not(feature = "https"))]
            Some(never) => match never {},
            #[cfg(feature = "https")]
            Some(acceptor) => {
                let handshake = tokio::time::timeout_at(first_head.due, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(stream)) => {
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        drive(connection, stopped, peer, first_head).await;
                    }
                    Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
    }

    /// The response to one request.
    fn respond(&self, request: &Request<Incoming>) -> Response<HttpBody> {
        let head = request.method() == Method::HEAD;
        if request.method() != Method::GET && !head {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let target = request.uri().path_and_query().map_or("", |p| p.as_str());
        if target.len() > self.config.max_url_bytes {
            return plain(StatusCode::URI_TOO_LONG, "URI Too Long\n");
        }
        let Ok(name) = tftp_name(request.uri().path()) else {
            info!(peer = %self.peer, path = %request.uri().path(), "refused");
            return plain(StatusCode::FORBIDDEN, "Forbidden\n");
        };
        if name.is_empty() {
            return plain(StatusCode::NOT_FOUND, "Not Found\n");
        }
        let name = self.on_this_listener(name);
        let mac = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(mac_from_user_agent);
        let agent = request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        let model = agent.and_then(model_from_user_agent);
        let answer =
            self.handler.answer_http(self.peer, name.as_bytes(), self.transport, mac, model);
        let response = match answer {
            HttpAnswer::File(served) => file_response(served, request.headers(), &name),
            HttpAnswer::Generated(bytes) => {
                let etag = etag_of_bytes(&bytes);
                let len = bytes.len() as u64;
                let body = Content::Bytes(Bytes::from(bytes));
                content_response(body, len, None, etag, request.headers(), &name)
            }
            HttpAnswer::Forbidden => plain(StatusCode::FORBIDDEN, "Forbidden\n"),
            HttpAnswer::Unavailable => {
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n");
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            _ => plain(StatusCode::NOT_FOUND, "Not Found\n"),
        };
        if head { without_body(response) } else { response }
    }

    /// On the HTTPS listener a phone asking for its signed config gets the plain one: on that
    /// path the TLS session authenticates the server, and phones expect the unsigned file.
    fn on_this_listener(&self, name: String) -> String {
        if self.transport != Transport::Https {
            return name;
        }
        match Recognised::parse(&name).kind {
            FileKind::DeviceConfig(Protection::Signed) => {
                cnfkit_repack::unsigned_name(&name).map_or(name.clone(), str::to_owned)
            }
            _ => name,
        }
    }
}

/// When a connection's first request head is due.
struct FirstHead {
    waiting: Arc<AtomicBool>,
    due: tokio::time::Instant,
}

/// Serves one connection until it ends, closing it gracefully once `stopped` says so, and at
/// once when its first request head is not there in time.
async fn drive<C>(
    connection: C,
    mut stopped: watch::Receiver<bool>,
    peer: SocketAddr,
    first_head: FirstHead,
) where
    C: Future<Output = Result<(), hyper::Error>> + GracefulConnection,
{
    tokio::pin!(connection);
    let late = async {
        tokio::time::sleep_until(first_head.due).await;
        if !first_head.waiting.load(Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = late => {
            debug!(%peer, "no request head in time: closed");
            return;
        }
        () = async { let _ = stopped.wait_for(|stop| *stop).await; } => {
            connection.as_mut().shutdown_gracefully();
            connection.as_mut().await
        }
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "connection ended");
    }
}

/// hyper's connection types, which each have their own `graceful_shutdown`.
trait GracefulConnection {
    fn shutdown_gracefully(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for hyper::server::conn::http1::Connection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shutdown_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// A short text response.
fn plain(status: StatusCode, text: &'static str) -> Response<HttpBody> {
    let mut response = Response::new(full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    response
}

/// The response's head with no body (HEAD), `Content-Length` kept.
fn without_body(response: Response<HttpBody>) -> Response<HttpBody> {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Empty::new().map_err(|never| match never {}).boxed())
}

fn full(bytes: Bytes) -> HttpBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// What a `200`/`206` response carries.
enum Content {
    Bytes(Bytes),
    File(std::fs::File),
}

fn file_response(served: Served, headers: &HeaderMap, name: &str) -> Response<HttpBody> {
    let etag = match (&served.body, served.modified) {
        // As nginx does: modification time and length, which change when the file does.
        (_, Some(modified)) => {
            let nanos = modified.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            format!("\"{:x}-{:x}\"", nanos.as_micros(), served.len)
        }
        (ServedBody::Memory(bytes), None) => etag_of_bytes(bytes),
        (ServedBody::File(_), None) => format!("\"{:x}\"", served.len),
    };
    let content = match served.body {
        ServedBody::Memory(bytes) => Content::Bytes(Bytes::from_owner(bytes)),
        ServedBody::File(file) => Content::File(file),
    };
    content_response(content, served.len, served.modified, etag, headers, name)
}

/// A strong validator from the content itself (for bytes that have no modification time).
fn etag_of_bytes(bytes: &[u8]) -> String {
    format!("\"{}\"", cnfkit_repack::md5_hex(bytes))
}

fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".xml") {
        "text/xml"
    } else if [".cnf", ".txt", ".cfg", ".loads"].iter().any(|s| lower.ends_with(s)) {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

fn content_response(
    content: Content,
    len: u64,
    modified: Option<SystemTime>,
    etag: String,
    request: &HeaderMap,
    name: &str,
) -> Response<HttpBody> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(modified) = modified
        && let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(modified))
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if not_modified(request, &etag, modified) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.headers_mut() = headers;
        return response;
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    let range =
        request.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|v| byte_range(v, len));
    let (start, end) = match range {
        Some(RangeAnswer::Satisfiable(start, end)) => {
            status = StatusCode::PARTIAL_CONTENT;
            let value = format!("bytes {start}-{}/{len}", end - 1);
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(header::CONTENT_RANGE, value);
            }
            (start, end)
        }
        Some(RangeAnswer::Unsatisfiable) => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            *response.headers_mut() = headers;
            return response;
        }
        // No Range, or one this server does not take (several ranges, another unit): the
        // whole file, as RFC 9110 section 14.2 allows.
        Some(RangeAnswer::Ignored) | None => (0, len),
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    let body = match content {
        Content::Bytes(bytes) => {
            let (start, end) =
                (usize::try_from(start).unwrap_or(0), usize::try_from(end).unwrap_or(0));
            full(bytes.slice(start..end))
        }
        Content::File(file) => FileBody::new(file, start, end - start).boxed(),
    };
    *response.body_mut() = body;
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Whether a conditional request's validators match (RFC 9110 section 13.1): `If-None-Match`
/// when given, else `If-Modified-Since`. Clients that send neither never get a 304.
fn not_modified(request: &HeaderMap, etag: &str, modified: Option<SystemTime>) -> bool {
    if let Some(tags) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        let weakless = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return tags.split(',').any(|t| t.trim() == "*" || weakless(t) == etag);
    }
    let since = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (since, modified) {
        // HTTP dates have whole seconds.
        (Some(since), Some(modified)) => {
            let secs =
                |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            secs(modified) <= secs(since)
        }
        _ => false,
    }
}

/// What a `Range` header comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeAnswer {
    /// Bytes `start..end` (end exclusive).
    Satisfiable(u64, u64),
    /// A range that starts past the end: 416.
    Unsatisfiable,
    /// Not one this server takes: serve the whole.
    Ignored,
}

/// Reads a single byte range (`bytes=0-99`, `bytes=500-`, `bytes=-200`) against a length.
fn byte_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return RangeAnswer::Ignored };
    if spec.contains(',') {
        return RangeAnswer::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeAnswer::Ignored };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // The last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(n) if len > 0 => RangeAnswer::Satisfiable(len.saturating_sub(n), len),
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Ignored,
        },
        (false, _) => {
            let Some(start) = parse(first) else { return RangeAnswer::Ignored };
            let end = if last.is_empty() {
                len
            } else {
                match parse(last) {
                    Some(last) if last >= start => last.saturating_add(1).min(len),
                    _ => return RangeAnswer::Ignored,
                }
            };
            if start >= len {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Satisfiable(start, end)
            }
        }
        (true, true) => RangeAnswer::Ignored,
    }
}

/// A file streamed in 256 KiB reads, never held whole. The reads run on the connection's
/// task, as the TFTP loop's do: a served file is almost always in the page cache, where a read
/// takes microseconds, and a hop to tokio's blocking pool per chunk cost more than the read
/// (HTTP firmware at 0.37-0.50x nginx with 64 KiB hops, BENCHMARKS.md).
struct FileBody {
    file: std::fs::File,
    offset: u64,
    remaining: u64,
}

const CHUNK: usize = 256 << 10;

impl FileBody {
    fn new(file: std::fs::File, start: u64, len: u64) -> Self {
        Self { file, offset: start, remaining: len }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let mut buf = BytesMut::zeroed(want);
        let mut filled = 0;
        while filled < want {
            match std::os::unix::fs::FileExt::read_at(&this.file, &mut buf[filled..], this.offset) {
                Ok(0) => {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file got shorter while it was sent",
                    ))));
                }
                Ok(n) => {
                    filled += n;
                    this.offset += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        this.remaining -= want as u64;
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges_rfc_9110_section_14_1_2() {
        assert_eq!(byte_range("bytes=0-99", 1000), RangeAnswer::Satisfiable(0, 100));
        assert_eq!(byte_range("bytes=900-", 1000), RangeAnswer::Satisfiable(900, 1000));
        assert_eq!(byte_range("bytes=-200", 1000), RangeAnswer::Satisfiable(800, 1000));
        assert_eq!(byte_range("bytes=-2000", 1000), RangeAnswer::Satisfiable(0, 1000));
        assert_eq!(byte_range("bytes=990-5000", 1000), RangeAnswer::Satisfiable(990, 1000));
        assert_eq!(byte_range("bytes=1000-", 1000), RangeAnswer::Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 1000), RangeAnswer::Unsatisfiable);
        assert_eq!(byte_range("bytes=0-1,5-6", 1000), RangeAnswer::Ignored);
        assert_eq!(byte_range("bytes=5-1", 1000), RangeAnswer::Ignored);
        assert_eq!(byte_range("items=0-1", 1000), RangeAnswer::Ignored);
        assert_eq!(byte_range("bytes=x-1", 1000), RangeAnswer::Ignored);
    }

    #[test]
    fn a_304_goes_only_to_a_client_that_sent_a_validator() {
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let etag = "\"abc\"";
        let mut headers = HeaderMap::new();
        assert!(!not_modified(&headers, etag, Some(modified)), "an MPP phone sends none");
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"abc\""));
        assert!(not_modified(&headers, etag, Some(modified)));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&httpdate::fmt_http_date(modified)).unwrap(),
        );
        assert!(!not_modified(&headers, etag, Some(modified)), "If-None-Match wins");
        headers.remove(header::IF_NONE_MATCH);
        assert!(not_modified(&headers, etag, Some(modified)));
        assert!(!not_modified(&headers, etag, Some(modified + Duration::from_secs(1))));
    }

    #[test]
    fn encoded_separators_nul_double_encoding_and_empty_components_are_refused() {
        for (path, refusal) in [
            ("/a%2Fb", UrlRefusal::EncodedSeparator),
            ("/a%5cb", UrlRefusal::EncodedSeparator),
            ("/SEP%00.cnf.xml", UrlRefusal::EncodedSeparator),
            ("/%25%32%65%25%32%65/x", UrlRefusal::DoubleEncoded),
            ("/a//b", UrlRefusal::EmptyComponent),
            ("/a/", UrlRefusal::EmptyComponent),
            ("/%ff", UrlRefusal::NotUtf8),
            ("*", UrlRefusal::NotAPath),
        ] {
            assert_eq!(tftp_name(path), Err(refusal), "{path}");
        }
        // `..` decodes to `..`: the resolver refuses it as it refuses it over TFTP.
        assert_eq!(tftp_name("/%2e%2e/etc/passwd").unwrap(), "../etc/passwd");
        assert_eq!(tftp_name("/").unwrap(), "");
    }
}
