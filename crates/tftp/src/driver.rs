//! The tokio driver: real sockets for the sans-IO engine.
//!
//! The server listens on one socket and answers every accepted request from a socket of its own
//! on an ephemeral port (RFC 1350 transfer IDs). The rules are the sans-IO [`Endpoint`]'s and
//! [`TransferIds`]' (a datagram from another address on a transfer's socket gets ERROR 5 and does
//! not disturb the transfer; a repeated request is answered by its running transfer; a request
//! over a limit is dropped, not refused, so a phone in a boot storm retransmits it a second
//! later instead of reading an ERROR as "file not found"); this module only moves datagrams.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cnfkit_tftp_wire::ErrorCode;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tracing::{Instrument, debug, info, info_span, warn};

use self::busy_poll::{BusyPoll, Poller};
use self::socket::TransferSocket;
use crate::{
    ClientOptions, DataSink, DataSource, Direction, DropReason, Endpoint, Event, Incoming, Limits,
    Outcome, Policy, Received, SlotId, Source, Summary, Transfer, TransferIds,
};

mod busy_poll;
mod descriptors;
mod single_port;
mod socket;

pub use descriptors::{
    OpenFileLimit, is_out_of_descriptors, open_file_limit, raise_open_file_limit,
};

/// How a [`Handler`] turns a request down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Answer with this ERROR. The message goes to the peer, so it must not contain server
    /// paths.
    Error(ErrorCode, String),
    /// Send nothing: the server cannot take the request now (out of file descriptors...). The
    /// client retransmits its request a moment later, where an ERROR would end its attempt
    /// (a phone reads any ERROR on its config as "not there" and falls back). The reason
    /// is counted in the server's periodic summary of requests turned away.
    Unanswered(&'static str),
}

impl From<(ErrorCode, String)> for Refusal {
    fn from((code, message): (ErrorCode, String)) -> Self {
        Self::Error(code, message)
    }
}

/// What a server does with requests.
pub trait Handler: Send + Sync + 'static {
    /// A read request: the bytes to send.
    ///
    /// # Errors
    /// How to refuse (`FILE_NOT_FOUND`, `ACCESS_VIOLATION`..., or no answer).
    fn open_read(
        &self,
        peer: SocketAddr,
        request: &Incoming,
    ) -> Result<Box<dyn DataSource>, Refusal>;

    /// A write request: where the bytes go. Refuse by default (WRQ off unless a handler opts in).
    ///
    /// # Errors
    /// How to refuse; by default `ACCESS_VIOLATION`.
    fn open_write(
        &self,
        peer: SocketAddr,
        request: &Incoming,
    ) -> Result<Box<dyn DataSink>, Refusal> {
        let _ = (peer, request);
        Err(Refusal::Error(ErrorCode::ACCESS_VIOLATION, "Writes are not allowed".to_owned()))
    }

    /// The transfer a request opened (to `peer`, from the port it asked from) has ended:
    /// how, with its bytes, duration and retransmits. By default nothing is done.
    fn transfer_ended(&self, peer: SocketAddr, summary: &Summary) {
        let _ = (peer, summary);
    }
}

/// A shared handler: one handler can serve TFTP and other transports at once.
impl<H: Handler> Handler for Arc<H> {
    fn open_read(
        &self,
        peer: SocketAddr,
        request: &Incoming,
    ) -> Result<Box<dyn DataSource>, Refusal> {
        (**self).open_read(peer, request)
    }

    fn open_write(
        &self,
        peer: SocketAddr,
        request: &Incoming,
    ) -> Result<Box<dyn DataSink>, Refusal> {
        (**self).open_write(peer, request)
    }

    fn transfer_ended(&self, peer: SocketAddr, summary: &Summary) {
        (**self).transfer_ended(peer, summary);
    }
}

/// Server limits.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Transfer rules (block sizes, windows, timeouts, retries).
    pub policy: Policy,
    /// Transfers at once, all peers together and from one peer address.
    pub limits: Limits,
    /// Socket buffer ceiling: transfer buffers are sized to a window (`blksize x windowsize`)
    /// up to this; the listening socket's receive buffer is this size, for request bursts.
    pub max_socket_buffer: usize,
    /// Busy-poll budget: while a transfer is the only one running and its peer answered the
    /// previous block within this time, the server polls the socket for up to this long
    /// instead of sleeping until the next datagram. `None` (the default): never.
    ///
    /// On loopback or a fast LAN this removes the server's wake-up from every lockstep round
    /// trip (measured in [BENCHMARKS.md](https://github.com/cnfkit/cnfkit/blob/main/BENCHMARKS.md));
    /// it keeps a core busy while the
    /// transfer runs. Phones on a real network answer in milliseconds, beyond any sensible
    /// budget, and a boot storm runs many transfers at once, so neither ever polls. Polls that
    /// come back empty pause polling for exponentially more waits.
    ///
    /// A budget over a millisecond is taken as a millisecond (100 µs covers loopback; a
    /// longer spin only delays retransmissions and shutdown). A polling transfer holds its
    /// worker thread for up to about a millisecond plus the budget before it yields, so a new
    /// request may wait that long to be read, and a client running in the same runtime as the
    /// server is slowed down. Ignored (with a warning) on a current-thread runtime, where
    /// polling would hold up every other task.
    pub busy_poll: Option<Duration>,
    /// Single-port mode: every transfer is answered from the listening port, and the
    /// datagrams its peer sends there are handed to it by the peer's address and port
    /// (`false`, the default: each transfer from a port of its own, as RFC 1350 has it).
    ///
    /// This is what NAT, a Kubernetes Service or a UDP load balancer in front of the server
    /// needs: they forward what comes back to the port they sent to, and drop a reply from any
    /// other port. Clients see nothing unusual (a transfer ID is whatever port answers). Two
    /// clients behind one address are told apart by their ports.
    ///
    /// Every transfer then runs in one loop, on a thread and a current-thread runtime of its
    /// own: each batch of datagrams read from the socket is fed to the transfers, and their
    /// answers leave together (one `sendmmsg` call on Linux). That costs about half the CPU of
    /// the default mode in a boot storm, but TFTP then uses one core at most. Busy-polling is
    /// off in this mode.
    pub single_port: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            limits: Limits::default(),
            max_socket_buffer: 4 << 20,
            busy_poll: None,
            single_port: false,
        }
    }
}

/// Counts the driver keeps (for logs and benchmarks).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Transfers that completed.
    pub completed: std::sync::atomic::AtomicU64,
    /// Transfers that failed (timeouts, peer errors, local errors).
    pub failed: std::sync::atomic::AtomicU64,
    /// Requests refused by the handler (file not found...).
    pub refused: std::sync::atomic::AtomicU64,
    /// Requests dropped over a concurrency limit, or repeated while their transfer runs.
    pub dropped: std::sync::atomic::AtomicU64,
    /// Transfers whose peer never answered, stopped to give their slot to a new request
    /// ([`Limits::evict_unanswered_after`]).
    pub evicted: std::sync::atomic::AtomicU64,
    /// Transfers stopped with an ERROR at shutdown, after the grace period.
    pub stopped: std::sync::atomic::AtomicU64,
    /// Datagrams retransmitted after a timeout.
    pub retransmits: std::sync::atomic::AtomicU64,
    /// Datagrams that arrived while the server busy-polled ([`ServerConfig::busy_poll`]).
    pub polled: std::sync::atomic::AtomicU64,
    /// Requests turned away, by reason, since the start ([`ServerStats::turned_away`]).
    turned_away: Mutex<HashMap<&'static str, u64>>,
}

impl ServerStats {
    /// Requests turned away since the start, by reason (`out of file descriptors`, `over the
    /// per-address limit`, `malformed requests`...), sorted by reason: what the summary line
    /// every 10 s reports, added up.
    #[must_use]
    pub fn turned_away(&self) -> Vec<(&'static str, u64)> {
        let counts = self.turned_away.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut list: Vec<_> = counts.iter().map(|(r, n)| (*r, *n)).collect();
        list.sort_unstable();
        list
    }
}

/// A TFTP server on tokio.
pub struct Server<H> {
    socket: Arc<UdpSocket>,
    /// The address transfer sockets bind to (the listening IP, port 0), taken once.
    transfer_local: SocketAddr,
    handler: Arc<H>,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    busy_poll: Option<Arc<BusyPoll>>,
}

/// The endpoint's slots, released by each transfer's task when it ends.
type Shared = Arc<Mutex<Endpoint>>;

fn lock(endpoint: &Shared) -> std::sync::MutexGuard<'_, Endpoint> {
    endpoint.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A transfer's slot in the endpoint, released when dropped.
struct Slot {
    endpoint: Shared,
    id: SlotId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.endpoint).release(self.id);
    }
}

/// What the accept loop keeps besides the endpoint: how to stop each transfer, and what was
/// turned away since the last summary line.
struct Admission {
    tasks: JoinSet<SlotId>,
    /// Running transfers by slot, to stop one whose slot is evicted.
    handles: HashMap<SlotId, AbortHandle>,
    /// Tells every transfer to stop (shutdown after the grace period).
    stop: watch::Sender<bool>,
    turned_away: TurnedAway,
}

/// The reason a request is turned away when the process is out of file descriptors (for a
/// socket, or for the handler's file: [`Refusal::Unanswered`]); its summary line names the
/// limit.
pub const OUT_OF_DESCRIPTORS: &str = "out of file descriptors";

/// Requests turned away, by reason, counted between two summary lines: a flood writes one
/// line per interval, not one per datagram (each is at debug level).
struct TurnedAway {
    counts: HashMap<&'static str, u64>,
    stats: Arc<ServerStats>,
}

impl TurnedAway {
    /// How often a summary line is written, when anything was turned away.
    const INTERVAL: Duration = Duration::from_secs(10);

    fn count(&mut self, reason: &'static str) {
        *self.counts.entry(reason).or_insert(0) += 1;
        let mut totals =
            self.stats.turned_away.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *totals.entry(reason).or_insert(0) += 1;
    }

    fn log(&mut self) {
        if self.counts.is_empty() {
            return;
        }
        let mut counts: Vec<_> = self.counts.drain().collect();
        counts.sort_unstable();
        let list = counts
            .iter()
            .map(|(r, n)| match (*r, open_file_limit()) {
                // What an admin raises (`LimitNOFILE=`, `ulimit -n`) when this shows up.
                (OUT_OF_DESCRIPTORS, Some(limit)) => format!("{r} (limit {limit}) {n}"),
                _ => format!("{r} {n}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        warn!(seconds = Self::INTERVAL.as_secs(), "requests turned away: {list}");
    }
}

impl<H: Handler> Server<H> {
    /// Binds the listening socket.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: SocketAddr, handler: H, config: ServerConfig) -> std::io::Result<Self> {
        let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
        let socket =
            socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        // When a site's phones boot at once their requests arrive in one burst; the kernel
        // counts each datagram at ~1 KiB of buffer, so the 208 KiB default holds ~200 requests
        // and drops the rest, which then wait out the phones' retransmission timeout. Best
        // effort: the kernel caps it at net.core.rmem_max.
        let _ = socket.set_recv_buffer_size(config.max_socket_buffer);
        if config.single_port {
            // Every transfer sends through this socket, a batch at a time.
            let _ = socket.set_send_buffer_size(config.max_socket_buffer);
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let socket = UdpSocket::from_std(socket.into())?;
        let transfer_local = SocketAddr::new(socket.local_addr()?.ip(), 0);
        let stats = Arc::<ServerStats>::default();
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        let budget =
            busy_poll::effective_budget(config.busy_poll, flavor).filter(|_| !config.single_port);
        if config.busy_poll.is_some() && config.single_port {
            warn!("busy-poll does not work in single-port mode: off");
        } else if config.busy_poll.is_some() && budget.is_none() {
            warn!(
                "busy-poll needs a multi-threaded runtime (it would hold up every other task): off"
            );
        }
        Ok(Self {
            socket: Arc::new(socket),
            transfer_local,
            handler: Arc::new(handler),
            busy_poll: budget.map(|budget| BusyPoll::new(budget, stats.clone())),
            config,
            stats,
        })
    }

    /// The address it listens on (with the port chosen when bound to port 0).
    ///
    /// # Errors
    /// As the socket's.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The server's counters.
    #[must_use]
    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets running transfers finish
    /// for up to `grace` before aborting them.
    ///
    /// # Errors
    /// When the listening socket fails.
    /// When `shutdown` resolves the server stops reading requests, lets running transfers
    /// finish for up to `grace`, then stops the rest: each peer is sent ERROR 0 "Server
    /// shutting down" and an upload in progress is discarded (its temporary file removed). One
    /// info line gives the counts.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> std::io::Result<()> {
        if self.config.single_port {
            return self.run_on_own_thread(shutdown, grace).await;
        }
        let endpoint = Endpoint::new(self.config.policy.clone(), self.config.limits);
        let active: Shared = Arc::new(Mutex::new(endpoint));
        let mut admission = Admission::new(self.stats.clone());
        let mut buf = vec![0u8; 65536];
        let mut summary = tokio::time::interval(TurnedAway::INTERVAL);
        summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                received = self.socket.recv_from(&mut buf) => {
                    let (n, peer) = match received {
                        Ok(r) => r,
                        // ICMP port unreachable from an earlier send shows up here on some OSes.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                        Err(e) => return Err(e),
                    };
                    self.on_request(&buf[..n], peer, &active, &mut admission).await;
                }
                Some(ended) = admission.tasks.join_next(), if !admission.tasks.is_empty() => {
                    admission.ended(ended);
                }
                _ = summary.tick() => admission.turned_away.log(),
            }
        }
        admission.turned_away.log();
        let running = admission.tasks.len();
        info!(running, grace_ms = grace.as_millis(), "shutting down: no new transfers");
        let finished = admission.drain_for(grace).await;
        let stopped = admission.tasks.len();
        if stopped > 0 {
            let _ = admission.stop.send(true);
            // Each stopped transfer sends its ERROR and ends at once; the wait is for the
            // runtime to get to them.
            admission.drain_for(Duration::from_secs(1)).await;
            self.stats.stopped.fetch_add(stopped as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let aborted = admission.tasks.len();
        admission.tasks.abort_all();
        while admission.tasks.join_next().await.is_some() {}
        info!(finished, stopped, aborted, "stopped");
        Ok(())
    }

    /// Admits a request to the endpoint and asks the handler for its source or sink; what is
    /// left to do is the transport's. Also returns the slot the endpoint took from a transfer
    /// whose peer never answered, for the caller to stop that transfer.
    fn admit(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        active: &Shared,
        admission: &mut Admission,
    ) -> (Admitted, Option<SlotId>) {
        use std::sync::atomic::Ordering::Relaxed;
        let (received, evicted) = {
            let mut endpoint = lock(active);
            let received = endpoint.handle(Instant::now(), peer, datagram);
            (received, endpoint.poll_evicted())
        };
        if let Some(slot) = evicted {
            self.stats.evicted.fetch_add(1, Relaxed);
            admission.turned_away.count("unanswered transfers evicted");
            debug!(peer = %slot.peer(), "unanswered transfer evicted");
        }
        let (incoming, slot) = match received {
            Received::Request { incoming, slot } => (incoming, slot),
            Received::Refuse { datagram, reason } => {
                debug!(%peer, %reason, "request refused");
                admission.turned_away.count("malformed requests");
                return (Admitted::Refused { datagram, slot: None, from_listening: true }, evicted);
            }
            Received::Drop(DropReason::NotARequest) => return (Admitted::Nothing, evicted),
            Received::Drop(why) => {
                self.stats.dropped.fetch_add(1, Relaxed);
                if why != DropReason::Repeated {
                    admission.turned_away.count(why.as_str());
                }
                debug!(%peer, why = why.as_str(), "request dropped");
                return (Admitted::Nothing, evicted);
            }
        };
        let opened = match incoming.direction() {
            Direction::Read => self
                .handler
                .open_read(peer, &incoming)
                .map(|s| incoming.accept_read(s, Instant::now())),
            Direction::Write => self
                .handler
                .open_write(peer, &incoming)
                .map(|s| incoming.accept_write(s, Instant::now())),
        };
        let admitted = match opened {
            Ok(transfer) => Admitted::Transfer { transfer, slot, incoming },
            Err(Refusal::Unanswered(reason)) => {
                debug!(%peer, file = %String::from_utf8_lossy(incoming.filename()), reason, "left unanswered");
                admission.turned_away.count(reason);
                self.stats.dropped.fetch_add(1, Relaxed);
                lock(active).release(slot);
                Admitted::Nothing
            }
            Err(Refusal::Error(code, message)) => {
                self.stats.refused.fetch_add(1, Relaxed);
                let file = String::from_utf8_lossy(incoming.filename());
                if code == ErrorCode::FILE_NOT_FOUND {
                    // Phones miss trust lists and their own file all the time.
                    debug!(%peer, %file, "file not found");
                } else {
                    info!(%peer, %file, %code, "refused");
                }
                // The ERROR goes from a TID of its own, as RFC 1350 answers every request
                // (from the listening port in single-port mode).
                let datagram = incoming.refuse(code, &message);
                Admitted::Refused { datagram, slot: Some(slot), from_listening: false }
            }
        };
        (admitted, evicted)
    }

    async fn on_request(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        active: &Shared,
        admission: &mut Admission,
    ) {
        let (admitted, evicted) = self.admit(datagram, peer, active, admission);
        if let Some(slot) = evicted
            && let Some(handle) = admission.handles.remove(&slot)
        {
            // At most one per admission. The peer never answered: nothing to tell it.
            handle.abort();
        }
        let (transfer, slot, incoming) = match admitted {
            Admitted::Transfer { transfer, slot, incoming } => (transfer, slot, incoming),
            Admitted::Refused { datagram, slot, from_listening } => {
                let sent = if from_listening {
                    self.socket.send_to(&datagram, peer).await.map(|_| ())
                } else {
                    send_once(self.transfer_local, peer, &datagram)
                };
                if let Err(e) = sent {
                    debug!(%peer, error = %e, "refusal not sent");
                }
                if let Some(slot) = slot {
                    lock(active).release(slot);
                }
                return;
            }
            Admitted::Nothing => return,
        };
        let name = String::from_utf8_lossy(incoming.filename()).into_owned();
        let span = info_span!("transfer", %peer, file = %name, dir = ?incoming.direction());
        let socket =
            match transfer_socket(self.transfer_local, &transfer, self.config.max_socket_buffer) {
                Ok(socket) => socket,
                Err(e) => {
                    if is_out_of_descriptors(&e) {
                        admission.turned_away.count(OUT_OF_DESCRIPTORS);
                        debug!(parent: &span, error = %e, "no socket for the transfer");
                    } else {
                        warn!(parent: &span, error = %e, "no socket for the transfer");
                    }
                    lock(active).release(slot);
                    return;
                }
            };
        let stats = self.stats.clone();
        let handler = self.handler.clone();
        let active = Arc::clone(active);
        let poller = self.busy_poll.as_ref().map(BusyPoll::enter);
        let stop = admission.stop.subscribe();
        let handle = admission.tasks.spawn(
            async move {
                // Released however the task ends: a panicking source or sink must not keep the
                // peer's slot (and its address's count) for good.
                let guard = Slot { endpoint: active, id: slot };
                let summary = drive(socket, &guard, transfer, poller, stop).await;
                if let Ok(summary) = &summary {
                    handler.transfer_ended(peer, summary);
                }
                ended_transfer(&stats, &summary);
                slot
            }
            .instrument(span),
        );
        admission.handles.insert(slot, handle);
    }
}

/// What became of a request ([`Server::admit`]).
// Returned once per request and unpacked at once, never stored: boxing the transfer would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
enum Admitted {
    /// A transfer to run, in its slot.
    Transfer { transfer: Transfer, slot: SlotId, incoming: Incoming },
    /// Send this ERROR, then release the slot if there is one. A malformed request is answered
    /// from the listening port; a handler's refusal from a port of its own (RFC 1350), except
    /// in single-port mode.
    Refused { datagram: Vec<u8>, slot: Option<SlotId>, from_listening: bool },
    /// Nothing to send.
    Nothing,
}

/// The summary of a transfer that is done without having reported how it ended.
fn unfinished(transfer: &Transfer) -> Summary {
    Summary {
        outcome: Outcome::Local("ended without a result".into()),
        bytes: transfer.bytes(),
        duration: Duration::ZERO,
        retransmits: 0,
        options: transfer.options(),
    }
}

/// Counts and logs how a server-side transfer ended.
fn ended_transfer(stats: &ServerStats, summary: &std::io::Result<Summary>) {
    use std::sync::atomic::Ordering::Relaxed;
    match summary {
        Ok(s) if s.outcome == Outcome::Completed => {
            stats.completed.fetch_add(1, Relaxed);
            stats.retransmits.fetch_add(s.retransmits, Relaxed);
            // Per transfer is debug detail: a provisioning server logs per boot.
            debug!(
                bytes = s.bytes,
                ms = u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX),
                retransmits = s.retransmits,
                blksize = s.options.blksize,
                windowsize = s.options.windowsize,
                "completed"
            );
        }
        Ok(s) if s.outcome == Outcome::Stopped => {
            debug!(bytes = s.bytes, "stopped: the server is shutting down");
        }
        Ok(s) => {
            stats.failed.fetch_add(1, Relaxed);
            stats.retransmits.fetch_add(s.retransmits, Relaxed);
            info!(outcome = ?s.outcome, bytes = s.bytes, "failed");
        }
        Err(e) => {
            stats.failed.fetch_add(1, Relaxed);
            warn!(error = %e, "socket error");
        }
    }
}

impl Admission {
    fn new(stats: Arc<ServerStats>) -> Self {
        Self {
            tasks: JoinSet::new(),
            handles: HashMap::new(),
            stop: watch::channel(false).0,
            turned_away: TurnedAway { counts: HashMap::new(), stats },
        }
    }

    /// Forgets the stop handle of a transfer that ended.
    fn ended(&mut self, ended: Result<SlotId, tokio::task::JoinError>) {
        match ended {
            Ok(slot) => {
                self.handles.remove(&slot);
            }
            // Evicted (its handle is gone already) or panicked (its slot was released by the
            // guard): drop the handles of whatever has finished.
            Err(_) => self.handles.retain(|_, h| !h.is_finished()),
        }
    }

    /// Waits up to `limit` for the running transfers to end; how many did.
    async fn drain_for(&mut self, limit: Duration) -> usize {
        let mut ended = 0;
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        while !self.tasks.is_empty() {
            tokio::select! {
                () = &mut deadline => break,
                Some(_) = self.tasks.join_next() => ended += 1,
            }
        }
        ended
    }
}

fn unspecified(peer: SocketAddr) -> IpAddr {
    if peer.is_ipv4() { IpAddr::from([0, 0, 0, 0]) } else { IpAddr::from([0u16; 8]) }
}

/// A socket for one transfer, its buffers sized to one window (capped).
fn transfer_socket(
    local: SocketAddr,
    transfer: &Transfer,
    cap: usize,
) -> std::io::Result<TransferSocket> {
    let socket = new_socket(local)?;
    let size = (transfer.window_bytes_hint() * 2).clamp(64 * 1024, cap.max(64 * 1024));
    // Best effort: the kernel caps it at net.core.{w,r}mem_max.
    let _ = socket.set_send_buffer_size(size);
    let _ = socket.set_recv_buffer_size(size);
    UdpSocket::from_std(socket.into()).map(TransferSocket::new)
}

/// Sends one datagram from a fresh ephemeral port and closes it. Phones miss most of what
/// they ask for (trust lists, their own file), so this is the commonest answer in a boot
/// storm: a plain socket never registered with the reactor saves two epoll_ctl calls and a
/// reactor slot per miss.
fn send_once(local: SocketAddr, peer: SocketAddr, datagram: &[u8]) -> std::io::Result<()> {
    new_socket(local)?.send_to(datagram, &peer.into()).map(|_| ())
}

/// A non-blocking UDP socket bound to `local` (port 0: a new transfer ID).
fn new_socket(local: SocketAddr) -> std::io::Result<socket2::Socket> {
    let domain = if local.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    Ok(socket)
}

/// What is left of a transfer that finished but must dally: run it in the background.
type Rest = Option<(TransferSocket, TransferIds, Transfer)>;

/// The event loop: send what the engine has, then wait for a datagram or its deadline, until
/// the `Finished` event (or, dally included, the end).
///
/// `ids` say where datagrams go and which source is the peer ([`TransferIds`]: a wrong
/// transfer ID gets ERROR 5, RFC 1350 section 4).
async fn event_loop(
    mut socket: TransferSocket,
    mut ids: TransferIds,
    mut transfer: Transfer,
    input_len: usize,
    mut poller: Option<Poller>,
    mut stop: Option<watch::Receiver<bool>>,
    mut on_progress: impl FnMut(&Transfer, Option<u64>),
) -> std::io::Result<(Summary, Rest)> {
    let mut out = vec![0u8; transfer.max_datagram_len()];
    let mut input = vec![0u8; input_len];
    let mut finished: Option<Summary> = None;
    let mut size = None;
    // One timer for the whole transfer. The engine moves its deadline later on every ACK; the
    // timer is only moved earlier, and when it fires early the engine ignores it and it is
    // re-armed: a timer operation per timeout period instead of per block.
    let far = || Instant::now() + Duration::from_secs(86_400);
    let mut armed = far();
    // When the last datagram went out: the peer's answer time, for the busy-poller.
    let mut sent_at = Instant::now();
    let sleep = tokio::time::sleep_until(armed.into());
    tokio::pin!(sleep);
    loop {
        if out.len() < transfer.max_datagram_len() {
            out.resize(transfer.max_datagram_len(), 0);
        }
        let mut sent = false;
        while let Some(n) = transfer.poll_transmit(&mut out) {
            socket.send_to(&out[..n], ids.target()).await?;
            sent = true;
        }
        if sent {
            sent_at = Instant::now();
        }
        while let Some(event) = transfer.poll_event() {
            match event {
                Event::Size(s) => size = Some(s),
                Event::Finished(summary) => finished = Some(summary),
            }
        }
        on_progress(&transfer, size);
        if transfer.is_done() {
            let summary = finished.unwrap_or_else(|| unfinished(&transfer));
            return Ok((summary, None));
        }
        if let Some(summary) = &finished {
            // Finished but dallying: hand the rest back to run in the background.
            return Ok((summary.clone(), Some((socket, ids, transfer))));
        }
        if let Some(deadline) = transfer.poll_timeout().filter(|d| *d < armed) {
            armed = deadline;
            sleep.as_mut().reset(deadline.into());
        }
        // Poll only for the answer to what just went out: after a datagram that sent nothing
        // (mid-window DATA of an upload, a duplicate, a stranger's), the time since the last
        // send says nothing about the peer, and the budget would be spent already.
        let answering = poller.as_mut().filter(|_| sent);
        let received = match receive_now(&mut socket, &mut input, answering, sent_at).await {
            Ok(received) => received,
            // ICMP port unreachable from an earlier send surfaces here on some systems.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
            Err(e) => return Err(e),
        };
        let received = match received {
            Some(received) => received,
            None => tokio::select! {
                received = socket.recv_from(&mut input) => match received {
                    Ok(received) => received,
                    // ICMP port unreachable from an earlier send surfaces here on some systems.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                    Err(e) => return Err(e),
                },
                () = &mut sleep => {
                    armed = far();
                    transfer.handle_timeout(Instant::now());
                    continue;
                }
                () = stopped(&mut stop) => {
                    stop = None;
                    transfer.stop("Server shutting down");
                    continue;
                }
            },
        };
        let (n, from) = received;
        match ids.check(from) {
            Source::Peer => {}
            Source::Ignore => continue,
            Source::Stranger(error) => {
                let _ = socket.send_to(&error, from).await;
                continue;
            }
        }
        let now = Instant::now();
        if let Some(poller) = poller.as_mut().filter(|_| sent) {
            poller.answered_after(now.saturating_duration_since(sent_at));
        }
        transfer.handle(now, &input[..n]);
    }
}

/// Resolves once `stop` says so; never without one (a client's transfer, or a server's once
/// it has been stopped).
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(stop) => {
            if stop.wait_for(|stop| *stop).await.is_err() {
                // The server is gone without stopping us: nothing will.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// A datagram that is already queued (the next ACK usually is by now) or, with a busy-poller,
/// that arrives while it polls; `None` when the event loop must wait for one.
async fn receive_now(
    socket: &mut TransferSocket,
    input: &mut [u8],
    poller: Option<&mut Poller>,
    sent_at: Instant,
) -> std::io::Result<Option<(usize, SocketAddr)>> {
    if let Some(poller) = poller
        && poller.should_poll()
        && let Some(received) = poller.poll(socket.polled()?, input, sent_at).await?
    {
        return Ok(Some(received));
    }
    socket.try_recv_from(input)
}

/// Runs the rest of a dallying transfer in the background.
fn dally_in_background(rest: Rest) {
    if let Some((socket, ids, transfer)) = rest {
        tokio::spawn(async move {
            let input_len = transfer.max_datagram_len() + 1;
            let _ = event_loop(socket, ids, transfer, input_len, None, None, |_, _| {}).await;
        });
    }
}

/// The event loop of a server-side transfer, whose peer is known from the request.
///
/// Its receive buffer holds the peer's largest valid datagram (DATA of the negotiated size for
/// a write, an ACK or ERROR for a read) plus one byte, so that an oversized datagram reads as
/// too long instead of being cut to a valid size. A phone on 512-byte blocks gets a 517-byte
/// buffer, not 64 KiB zeroed per request.
///
/// The endpoint hears when the peer first answers, so that the slot stops being evictable.
async fn server_loop(
    socket: TransferSocket,
    slot: &Slot,
    transfer: Transfer,
    poller: Option<Poller>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<(Summary, Rest)> {
    let input_len = transfer.max_datagram_len() + 1;
    let ids = TransferIds::server(slot.id.peer());
    let mut told = false;
    let on_progress = |t: &Transfer, _| {
        if !told && t.peer_answered() {
            told = true;
            lock(&slot.endpoint).answered(slot.id);
        }
    };
    event_loop(socket, ids, transfer, input_len, poller, Some(stop), on_progress).await
}

/// Runs a server-side transfer to its end.
async fn drive(
    socket: TransferSocket,
    slot: &Slot,
    transfer: Transfer,
    poller: Option<Poller>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<Summary> {
    let (summary, rest) = server_loop(socket, slot, transfer, poller, stop).await?;
    dally_in_background(rest);
    Ok(summary)
}

/// Progress of a client transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes so far.
    pub bytes: u64,
    /// The total, when the server announced it (`tsize`) or the source knows it.
    pub total: Option<u64>,
}

async fn client(
    server: SocketAddr,
    local: Option<IpAddr>,
    transfer: Transfer,
    total: Option<u64>,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    let local = SocketAddr::new(local.unwrap_or_else(|| unspecified(server)), 0);
    // Buffers for the largest window the client may be granted.
    let socket = transfer_socket(local, &transfer, 4 << 20)?;
    // The server's blocks may be as large as anything we asked for: room for the largest.
    let ids = TransferIds::client(server);
    let (summary, rest) = event_loop(socket, ids, transfer, 65536 + 4, None, None, |t, size| {
        progress(Progress { bytes: t.bytes(), total: size.or(total) });
    })
    .await?;
    dally_in_background(rest);
    if summary.outcome == Outcome::Completed {
        Ok(summary)
    } else {
        Err(crate::Error::Transfer(summary))
    }
}

/// Fetches `filename` from `server` into `sink`, calling `progress` as bytes arrive. Returns as
/// soon as the last block is in; the final ACK's dally goes on in a background task.
///
/// # Errors
/// [`crate::Error::Io`] for socket errors, [`crate::Error::Transfer`] when the transfer fails
/// (with its summary: the server's ERROR, a timeout...).
pub async fn get(
    server: SocketAddr,
    filename: &[u8],
    options: ClientOptions,
    sink: Box<dyn DataSink>,
    policy: Policy,
    progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    get_from(None, server, filename, options, sink, policy, progress).await
}

/// [`get`] from a chosen local address (a simulator gives each phone its own 127.x.y.z, so
/// that the server's per-peer limits see distinct peers).
///
/// # Errors
/// As [`get`]; binding `local` can fail too.
pub async fn get_from(
    local: Option<IpAddr>,
    server: SocketAddr,
    filename: &[u8],
    options: ClientOptions,
    sink: Box<dyn DataSink>,
    policy: Policy,
    progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    let transfer = Transfer::get(filename, options, sink, policy, Instant::now());
    client(server, local, transfer, None, progress).await
}

/// Sends `source` to `server` as `filename`.
///
/// # Errors
/// As [`get`].
pub async fn put(
    server: SocketAddr,
    filename: &[u8],
    options: ClientOptions,
    source: Box<dyn DataSource>,
    policy: Policy,
    progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    let total = source.size();
    let transfer = Transfer::put(filename, options, source, policy, Instant::now());
    client(server, None, transfer, total, progress).await
}
