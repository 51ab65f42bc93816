//! The tokio driver: real sockets and time for the sans-IO [`Endpoint`].
//!
//! It only moves bytes and time. Each loop runs on a thread and a current-thread runtime of its
//! own, reads a batch of datagrams, hands each to its endpoint, asks the [`Handler`] about new
//! requests, and sends what the endpoint queued in one system call (`sendmmsg` on Linux). With
//! several loops, each has a socket bound to the same port with `SO_REUSEPORT`, and the kernel
//! picks the socket by the client's address, so an address stays on one loop. Every rule
//! (routing, strangers, admission, eviction, shutdown) is the endpoint's.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use crate::{
    DataSink, DataSource, Direction, Endpoint, EndpointEvent, Handler, Layout, Limits, Local, Open,
    Policy, Refusal, Stats, TransferId,
};

mod client;

use crate::sockets::{listening_socket, new_socket, send_batch, steer_by_address, transfer_socket};

pub use crate::descriptors::{
    OpenFileLimit, is_out_of_descriptors, open_file_limit, raise_open_file_limit,
};
pub use client::{Progress, get, get_from, put};

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Transfer rules (block sizes, windows, timeouts, retries).
    pub policy: Policy,
    /// Transfers at once, all peers together, per address and per network. With several
    /// loops, `max_transfers`, `max_per_network` and `max_undecided` are shared out between
    /// them; `max_per_peer` and `max_undecided_per_peer` hold per loop.
    pub limits: Limits,
    /// Which ports answer: the listening one (default) or one per transfer.
    pub layout: Layout,
    /// Loops serving the port, each on a thread of its own (`0`, the default: one per two
    /// cores, at most 4: the kernel's side of UDP, which runs on the cores too, is most of a
    /// storm's CPU; on 2 cores one loop spent 0.65x the CPU of two, measured in BENCHMARKS.md).
    pub loops: usize,
    /// Socket buffer ceiling: the listening sockets' buffers are this size, for request bursts
    /// and batched answers; a transfer's own port gets up to this.
    pub max_socket_buffer: usize,
    /// Busy-poll budget ([`Layout::SharedPort`], at most 1 ms): while one transfer runs on a
    /// loop, the loop polls its socket for the peer's answer this long before it sleeps, which
    /// takes its wake-up out of each lockstep round trip on loopback or a fast LAN (2.5x the
    /// throughput, BENCHMARKS.md). Each empty poll doubles the waits skipped before the next
    /// (up to 64), so slow peers and storms are seldom polled for. Default 50 µs; `None`: never.
    pub busy_poll: Option<Duration>,
    /// Reading in batches under load (at most 10 ms): while [`BATCHING_TRANSFERS`] or more
    /// transfers run on a loop, it reads its socket at most once per this interval, or per
    /// [`BATCH_WAIT_PER_TRANSFER`] for each transfer when that is shorter
    /// ([`batch_wait`](Self::batch_wait)). What arrived meanwhile is then read, answered and
    /// sent together: a wake-up serves a dozen datagrams, not three or four (0.7x the CPU of a
    /// 5000-phone boot storm, BENCHMARKS.md), for that much more latency under load. Default
    /// 1 ms; `None`: read as soon as a datagram arrives.
    pub batch_interval: Option<Duration>,
}

/// Transfers on a loop from which [`ServerConfig::batch_interval`] applies.
pub const BATCHING_TRANSFERS: usize = 16;

/// How much of the batch interval each running transfer is worth: the loop waits at most this
/// long per transfer it runs, so its lockstep transfers together still move at least one block
/// per 10 µs (147 MB/s at blksize 1468, more than a gigabit link carries).
pub const BATCH_WAIT_PER_TRANSFER: Duration = Duration::from_micros(10);

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            limits: Limits::default(),
            layout: Layout::SharedPort,
            loops: 0,
            max_socket_buffer: 4 << 20,
            busy_poll: Some(Duration::from_micros(50)),
            batch_interval: Some(Duration::from_millis(1)),
        }
    }
}

impl ServerConfig {
    /// How long a loop running `active` transfers waits between two reads of its socket.
    ///
    /// ```
    /// use cnfkit_tftp::driver::ServerConfig;
    /// use std::time::Duration;
    ///
    /// let config = ServerConfig::default();
    /// assert_eq!(config.batch_wait(15), None, "a lone fast transfer is never held back");
    /// assert_eq!(config.batch_wait(16), Some(Duration::from_micros(160)));
    /// assert_eq!(config.batch_wait(5000), Some(Duration::from_millis(1)));
    /// ```
    #[must_use]
    pub fn batch_wait(&self, active: usize) -> Option<Duration> {
        let per_transfer = BATCH_WAIT_PER_TRANSFER * u32::try_from(active).unwrap_or(u32::MAX);
        let interval = self.batch_interval?.min(Duration::from_millis(10)).min(per_transfer);
        (active >= BATCHING_TRANSFERS).then_some(interval)
    }
}

/// A TFTP server on tokio.
pub struct Server<H> {
    sockets: Vec<std::net::UdpSocket>,
    local: SocketAddr,
    handler: Arc<H>,
    config: ServerConfig,
    stats: Arc<Stats>,
}

impl<H: Handler> Server<H> {
    /// Binds the listening socket (one per loop).
    ///
    /// # Errors
    /// When the address cannot be bound.
    #[allow(clippy::unused_async)] // Kept async: binding may await in another runtime.
    pub async fn bind(addr: SocketAddr, handler: H, config: ServerConfig) -> std::io::Result<Self> {
        let loops = match config.loops {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get() / 2).clamp(1, 4),
            n => n,
        };
        let first = listening_socket(addr, loops > 1, config.max_socket_buffer)?;
        let local = first.local_addr()?;
        if loops > 1
            && let Err(e) = steer_by_address(&first, loops)
        {
            warn!(error = %e, "cannot keep each address on one loop: limits per address are per loop");
        }
        let mut sockets = vec![first];
        for _ in 1..loops {
            sockets.push(listening_socket(local, true, config.max_socket_buffer)?);
        }
        let stats = Arc::default();
        Ok(Self { sockets, local, handler: Arc::new(handler), config, stats })
    }

    /// The address it listens on (with the port chosen when bound to port 0).
    ///
    /// # Errors
    /// Never; kept for the socket's signature.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The server's counters.
    #[must_use]
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Serves until `shutdown` resolves, then stops taking requests, lets running transfers
    /// finish for up to `grace`, and stops the rest: each peer is sent ERROR 0 "Server
    /// shutting down" and an upload in progress is discarded. One info line gives the counts.
    /// Futures of [`Open::Later`] run on the runtime that calls this.
    ///
    /// # Errors
    /// When a listening socket fails (the other loops are stopped too).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> std::io::Result<()> {
        let Self { sockets, local, handler, config, stats } = self;
        let (stop, _) = watch::channel(None::<Duration>);
        let (done, mut ended) = mpsc::unbounded_channel();
        let loops = sockets.len();
        let share = |n: usize| n.div_ceil(loops).max(1);
        let limits = Limits {
            max_transfers: share(config.limits.max_transfers),
            max_per_network: share(config.limits.max_per_network),
            max_undecided: share(config.limits.max_undecided),
            ..config.limits
        };
        for (i, socket) in sockets.into_iter().enumerate() {
            let endpoint =
                Endpoint::with_stats(config.policy.clone(), limits, config.layout, stats.clone());
            let serving = Loop {
                endpoint,
                handler: handler.clone(),
                app: tokio::runtime::Handle::current(),
                decided: mpsc::unbounded_channel(),
                ports: HashMap::new(),
                arrived: mpsc::unbounded_channel(),
                local: SocketAddr::new(local.ip(), 0),
                skip_polls: (0, 0),
                config: config.clone(),
                last_read: Instant::now(),
            };
            let (stop, done) = (stop.subscribe(), done.clone());
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            let span = tracing::Span::current();
            std::thread::Builder::new().name(format!("tftp-{i}")).spawn(move || {
                let _dispatch = tracing::dispatcher::set_default(&dispatch);
                let _span = span.enter();
                // A handler, source or sink that panics takes its loop down: the server then
                // stops with an error (a service manager restarts it), never serves on silently
                // with a dead loop.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .and_then(|runtime| runtime.block_on(serving.run(socket, stop)))
                }));
                let _ = done.send(result.unwrap_or_else(|_| {
                    Err(std::io::Error::other("a TFTP loop panicked: the server stops"))
                }));
            })?;
        }
        drop(done);
        tokio::pin!(shutdown);
        let mut result = tokio::select! {
            () = &mut shutdown => Ok(()),
            Some(early) = ended.recv() => early.and(Err(std::io::Error::other("a loop ended"))),
        };
        let _ = stop.send(Some(grace));
        while let Some(ended) = ended.recv().await {
            result = result.and(ended);
        }
        result
    }
}

/// Datagrams read before their answers are sent.
const BATCH: usize = 256;

/// A decision that was awaited.
enum Decided {
    Read(Result<Box<dyn DataSource>, Refusal>),
    Write(Result<Box<dyn DataSink>, Refusal>),
}

/// A transfer's own port ([`Layout::PortPerTransfer`]) and the task reading it.
struct Port {
    socket: Arc<UdpSocket>,
    reader: AbortHandle,
}

type Arrived = (TransferId, SocketAddr, Vec<u8>);
type Channel<T> = (mpsc::UnboundedSender<T>, mpsc::UnboundedReceiver<T>);

/// One loop: an endpoint and the sockets it speaks through.
struct Loop<H> {
    endpoint: Endpoint,
    handler: Arc<H>,
    /// Where awaited decisions run, and how they come back.
    app: tokio::runtime::Handle,
    decided: Channel<(TransferId, Decided)>,
    /// Transfer ports ([`Layout::PortPerTransfer`]), and what their readers pass on.
    ports: HashMap<TransferId, Port>,
    arrived: Channel<Arrived>,
    /// The listening IP, port 0: where transfer ports bind.
    local: SocketAddr,
    /// Waits left without polling, and how many the next empty poll skips.
    skip_polls: (u32, u32),
    config: ServerConfig,
    /// When the listening socket was last read.
    last_read: Instant,
}

impl<H: Handler> Loop<H> {
    async fn run(
        mut self,
        socket: std::net::UdpSocket,
        mut stop: watch::Receiver<Option<Duration>>,
    ) -> std::io::Result<()> {
        let socket = UdpSocket::from_std(socket)?;
        let mut buf = vec![0u8; 65536];
        let mut summary = tokio::time::interval(Duration::from_secs(10));
        summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stats = self.endpoint.stats().clone();
        let (mut stopping, mut running, mut stopped_before) = (false, 0, 0);
        let far = || Instant::now() + Duration::from_secs(86_400);
        loop {
            self.pace();
            let wake = self.endpoint.poll_timeout().unwrap_or_else(far);
            tokio::select! {
                changed = stop.changed(), if !stopping => {
                    // A dropped sender (the caller's future was dropped) stops at once.
                    let grace = changed.ok().and_then(|()| *stop.borrow()).unwrap_or_default();
                    (stopping, running) = (true, self.endpoint.active());
                    stopped_before = stats.stopped.load(Relaxed);
                    info!(running, grace_ms = grace.as_millis(), "shutting down: no new transfers");
                    self.endpoint.shutdown(Instant::now(), grace);
                }
                ready = socket.readable() => {
                    ready?;
                    self.last_read = Instant::now();
                    // A batch is read before its answers leave together; each request is
                    // decided as it comes, so that "undecided" means awaited.
                    let mut read = 0;
                    for _ in 0..BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, peer)) => self.handle(Local::Listening, peer, &buf[..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            // ICMP port unreachable from an earlier send, on some systems.
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                            Err(e) => return Err(e),
                        }
                        read += 1;
                    }
                    stats.count_read(read);
                }
                Some((id, peer, datagram)) = self.arrived.1.recv() => {
                    self.handle(Local::Transfer(id), peer, &datagram);
                }
                Some((id, answer)) = self.decided.1.recv() => self.decide(id, answer),
                () = tokio::time::sleep_until(wake.into()) => self.endpoint.handle_timeout(Instant::now()),
                _ = summary.tick() => stats.log_recent(),
            }
            self.answer_events();
            self.flush(&socket).await;
            while self.poll_once(&socket, &mut buf) {
                self.flush(&socket).await;
            }
            if stopping && self.endpoint.is_drained() {
                break;
            }
        }
        stats.log_recent();
        let stopped = stats.stopped.load(Relaxed).saturating_sub(stopped_before);
        info!(finished = (running as u64).saturating_sub(stopped), stopped, "stopped");
        Ok(())
    }

    /// Under load, sleeps out the rest of [`ServerConfig::batch_wait`] since the last read (the
    /// runtime runs nothing else but this loop's own transfer ports' readers).
    fn pace(&self) {
        let Some(interval) = self.config.batch_wait(self.endpoint.active()) else { return };
        let since = self.last_read.elapsed();
        if since < interval {
            std::thread::sleep(interval - since);
        }
    }

    fn handle(&mut self, local: Local, peer: SocketAddr, datagram: &[u8]) {
        self.endpoint.handle(Instant::now(), local, peer, datagram);
        self.answer_events();
    }

    /// Answers the endpoint's events: asks the handler about requests, tells it of ends.
    fn answer_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                EndpointEvent::Request { id, peer } => {
                    let Some(request) = self.endpoint.request(id) else { continue };
                    let answer = match request.direction() {
                        Direction::Read => {
                            self.answer(id, self.handler.open_read(peer, request), Decided::Read)
                        }
                        Direction::Write => {
                            self.answer(id, self.handler.open_write(peer, request), Decided::Write)
                        }
                    };
                    if let Some(answer) = answer {
                        self.decide(id, answer);
                    }
                }
                EndpointEvent::Finished { peer, summary, .. } => {
                    self.handler.transfer_ended(peer, &summary);
                    crate::stats::log_ended(peer, &summary);
                }
                EndpointEvent::Closed(id) => {
                    if let Some(port) = self.ports.remove(&id) {
                        port.reader.abort();
                    }
                }
                EndpointEvent::TurnedAway { peer, refusal } => {
                    debug!(%peer, reason = refusal.reason(), "request turned away");
                    self.handler.turned_away(peer, &refusal);
                }
            }
        }
    }

    /// A decision made now, or `None` while it runs on the application's runtime.
    fn answer<T: Send + 'static>(
        &self,
        id: TransferId,
        open: Open<T>,
        wrap: fn(Result<T, Refusal>) -> Decided,
    ) -> Option<Decided> {
        match open {
            Open::Ready(ready) => Some(wrap(ready)),
            Open::Later(later) => {
                let decided = self.decided.0.clone();
                self.app.spawn(async move { decided.send((id, wrap(later.await))) });
                None
            }
        }
    }

    fn decide(&mut self, id: TransferId, answer: Decided) {
        match answer {
            Decided::Read(Ok(source)) if self.open_port(id) => {
                self.endpoint.accept_read(id, source, Instant::now());
            }
            Decided::Write(Ok(sink)) if self.open_port(id) => {
                self.endpoint.accept_write(id, sink, Instant::now());
            }
            Decided::Write(Ok(mut sink)) => sink.abort(),
            Decided::Read(Ok(_)) => {}
            Decided::Read(Err(refusal)) | Decided::Write(Err(refusal)) => {
                self.endpoint.refuse(id, refusal);
            }
        }
    }

    /// Opens request `id`'s own port when the layout wants one; whether the request can go on
    /// (if not, it has been left unanswered).
    fn open_port(&mut self, id: TransferId) -> bool {
        if self.endpoint.request(id).is_none() || self.endpoint.layout() != Layout::PortPerTransfer
        {
            return true;
        }
        let socket = match transfer_socket(self.local, self.config.max_socket_buffer) {
            Ok(socket) => Arc::new(socket),
            Err(e) => {
                let reason = if is_out_of_descriptors(&e) {
                    Refusal::OUT_OF_DESCRIPTORS
                } else {
                    warn!(error = %e, "no socket for a transfer");
                    "no socket for a transfer"
                };
                self.endpoint.refuse(id, Refusal::Unanswered(reason));
                return false;
            }
        };
        let (reading, arrived) = (socket.clone(), self.arrived.0.clone());
        let largest = usize::from(self.endpoint.policy().max_blksize) + 5;
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; largest];
            loop {
                match reading.recv_from(&mut buf).await {
                    Ok((n, from)) if arrived.send((id, from, buf[..n].to_vec())).is_ok() => {}
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                    _ => return,
                }
            }
        });
        self.ports.insert(id, Port { socket, reader: reader.abort_handle() });
        true
    }

    /// Sends what the endpoint queued: runs from the listening port in batches.
    async fn flush(&mut self, socket: &UdpSocket) {
        loop {
            let Some(first) = self.endpoint.transmits().next() else { return };
            let to = first.to;
            let sent = match first.from {
                Local::Listening => {
                    let endpoint = &self.endpoint;
                    let run = || endpoint.transmits().take_while(|t| t.from == Local::Listening);
                    socket
                        .async_io(tokio::io::Interest::WRITABLE, || send_batch(socket, run()))
                        .await
                }
                Local::Transfer(id) => match self.ports.get(&id) {
                    Some(port) => port.socket.send_to(first.bytes, to).await.map(|_| 1),
                    None => Ok(1),
                },
                Local::Fresh => new_socket(self.local, |_| Ok(()))
                    .and_then(|s| s.send_to(first.bytes, &to.into()))
                    .map(|_| 1),
            };
            // A datagram the kernel would not take (a peer it cannot reach): its transfer
            // retransmits or times out, as after a loss.
            let sent = sent.unwrap_or_else(|e| {
                debug!(peer = %to, error = %e, "datagram not sent");
                1
            });
            self.endpoint.sent(sent.max(1));
        }
    }

    /// With a busy-poll budget and one transfer running: a datagram that arrives within the
    /// budget is handled at once (whether one was).
    fn poll_once(&mut self, socket: &UdpSocket, buf: &mut [u8]) -> bool {
        let Some(budget) = self.config.busy_poll.map(|b| b.min(Duration::from_millis(1))) else {
            return false;
        };
        if self.endpoint.active() != 1 || self.endpoint.layout() != Layout::SharedPort {
            return false;
        }
        if self.skip_polls.0 > 0 {
            self.skip_polls.0 -= 1;
            return false;
        }
        let start = Instant::now();
        while start.elapsed() < budget {
            // Asked of the kernel directly: tokio answers from its own readiness record,
            // which only the reactor updates, and the reactor waits until the loop yields.
            if let Ok((n, _, peer)) =
                rustix::net::recvfrom(socket, &mut *buf, rustix::net::RecvFlags::DONTWAIT)
                && let Some(peer) = peer.and_then(|p| SocketAddr::try_from(p).ok())
            {
                self.endpoint.stats().polled.fetch_add(1, Relaxed);
                self.handle(Local::Listening, peer, &buf[..n]);
                self.skip_polls.1 = 0;
                return true;
            }
            std::hint::spin_loop();
        }
        // Nothing came: skip exponentially more waits before polling again.
        self.skip_polls.1 = (self.skip_polls.1 * 2).clamp(1, 64);
        self.skip_polls.0 = self.skip_polls.1;
        false
    }
}
