//! Single-port mode: every transfer runs in the receive loop, on the listening socket.
//!
//! With one socket there is nothing to gain from a task per transfer, and much to lose: each
//! datagram would cost a hand-over between tasks (and threads) on top of its system calls. So
//! the receive loop feeds each datagram straight to its transfer's sans-IO state, by the
//! peer's address and port, and the answers of a whole batch of datagrams go out together: on
//! Linux in one `sendmmsg` call, so a storm of lockstep transfers costs one system call, and
//! one preemption by the woken clients, per batch instead of per block. The loop runs on a
//! thread and current-thread runtime of its own (`Server::run_on_own_thread`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tracing::{debug, info};

use super::{Admission, Admitted, Handler, Server, Shared, ended_transfer, lock, unfinished};
use crate::{Endpoint, Event, Outcome, SlotId, Summary, Transfer};

/// Datagrams read before their answers are sent.
const BATCH: usize = 64;

/// A running transfer and what the loop knows of it.
struct Running {
    transfer: Transfer,
    /// Its slot, until the transfer has finished (it may still dally after that).
    slot: Option<SlotId>,
    /// Whether the endpoint has heard that the peer answered.
    told: bool,
    /// The deadline queued for it (a later one is queued only when this one fires).
    armed: Option<Instant>,
}

/// The datagrams of one batch, in one buffer.
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    datagrams: Vec<(SocketAddr, Range<usize>)>,
}

impl Outbox {
    /// Queues everything `transfer` has to send to `peer`.
    fn take_from(&mut self, peer: SocketAddr, transfer: &mut Transfer) {
        loop {
            let start = self.bytes.len();
            self.bytes.resize(start + transfer.max_datagram_len(), 0);
            match transfer.poll_transmit(&mut self.bytes[start..]) {
                Some(n) => {
                    self.bytes.truncate(start + n);
                    self.datagrams.push((peer, start..start + n));
                }
                None => {
                    self.bytes.truncate(start);
                    return;
                }
            }
        }
    }

    fn push(&mut self, peer: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.datagrams.push((peer, start..self.bytes.len()));
    }

    /// Sends what is queued, waiting for room in the send buffer when it is full.
    async fn flush(&mut self, socket: &UdpSocket) {
        let mut sent = 0;
        while sent < self.datagrams.len() {
            let pending = &self.datagrams[sent..];
            let result = socket
                .async_io(tokio::io::Interest::WRITABLE, || {
                    send_batch(socket, &self.bytes, pending)
                })
                .await;
            match result {
                Ok(n) => sent += n.max(1),
                // One datagram the kernel would not take (a peer address it cannot reach):
                // its transfer retransmits or times out, as after a loss.
                Err(e) => {
                    debug!(peer = %pending[0].0, error = %e, "datagram not sent");
                    sent += 1;
                }
            }
        }
        self.bytes.clear();
        self.datagrams.clear();
    }
}

/// Sends the first datagrams of `pending` in one system call; how many went.
#[cfg(target_os = "linux")]
fn send_batch(
    socket: &UdpSocket,
    bytes: &[u8],
    pending: &[(SocketAddr, Range<usize>)],
) -> std::io::Result<usize> {
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};
    use std::io::IoSlice;
    // The kernel takes at most UIO_MAXIOV (1024) messages a call.
    let pending = &pending[..pending.len().min(1024)];
    let addrs: Vec<SocketAddrAny> = pending.iter().map(|(peer, _)| (*peer).into()).collect();
    let slices: Vec<[IoSlice<'_>; 1]> =
        pending.iter().map(|(_, range)| [IoSlice::new(&bytes[range.clone()])]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
        pending.iter().map(|_| SendAncillaryBuffer::default()).collect();
    let mut messages: Vec<MMsgHdr<'_>> = addrs
        .iter()
        .zip(&slices)
        .zip(controls.iter_mut())
        .map(|((addr, slice), control)| MMsgHdr::new_with_addr(addr, slice, control))
        .collect();
    Ok(sendmmsg(socket, &mut messages, SendFlags::empty())?)
}

/// Sends the first datagram of `pending`.
#[cfg(not(target_os = "linux"))]
fn send_batch(
    socket: &UdpSocket,
    bytes: &[u8],
    pending: &[(SocketAddr, Range<usize>)],
) -> std::io::Result<usize> {
    let (peer, range) = &pending[0];
    socket.try_send_to(&bytes[range.clone()], *peer).map(|_| 1)
}

/// Every transfer of a single-port server, and the endpoint that admits them.
struct Transfers {
    /// Shared with the task driver's admission code ([`Server::admit`]); never contended here.
    endpoint: Shared,
    running: HashMap<SocketAddr, Running>,
    /// Deadlines by time; an entry whose transfer has gone or moved on is skipped.
    deadlines: BinaryHeap<Reverse<(Instant, SocketAddr)>>,
    outbox: Outbox,
}

impl Transfers {
    fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint: Arc::new(Mutex::new(endpoint)),
            running: HashMap::new(),
            deadlines: BinaryHeap::new(),
            outbox: Outbox::default(),
        }
    }

    /// When the loop must next wake for a timeout.
    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Transfers holding a slot (not just dallying).
    fn holding_slots(&self) -> usize {
        self.running.values().filter(|r| r.slot.is_some()).count()
    }
}

impl<H: Handler> Server<H> {
    /// Runs the single-port loop on a thread and runtime of its own: a socket registered with
    /// a multi-threaded runtime wakes an idle worker for every datagram that arrives, even while
    /// the loop is busy reading the ones before it (measured: a context switch per block in a
    /// firmware storm). On a current-thread runtime the reactor is only asked when the loop
    /// has nothing left to do.
    pub(super) async fn run_on_own_thread(
        self,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> std::io::Result<()> {
        let Self { socket, handler, config, stats, busy_poll, transfer_local } = self;
        let socket = Arc::try_unwrap(socket)
            .map_err(|_| std::io::Error::other("the listening socket is shared"))?
            .into_std()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (done, finished) = tokio::sync::oneshot::channel();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let span = tracing::Span::current();
        std::thread::Builder::new().name("tftp-single-port".into()).spawn(move || {
            let _dispatch = tracing::dispatcher::set_default(&dispatch);
            let _span = span.enter();
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|runtime| {
                    runtime.block_on(async move {
                        let socket = Arc::new(UdpSocket::from_std(socket)?);
                        let server =
                            Self { socket, handler, config, stats, busy_poll, transfer_local };
                        // Dropped without a word (the caller's future was dropped): stop now.
                        let shutdown =
                            async { if stopped.await.is_ok() { grace } else { Duration::ZERO } };
                        server.run_single_port(shutdown).await
                    })
                });
            let _ = done.send(result);
        })?;
        tokio::pin!(finished);
        let finished = tokio::select! {
            () = shutdown => {
                let _ = stop.send(());
                finished.await
            }
            result = &mut finished => result,
        };
        finished.unwrap_or_else(|_| Err(std::io::Error::other("the single-port thread panicked")))
    }

    /// The single-port receive loop; see [`ServerConfig::single_port`](super::ServerConfig).
    async fn run_single_port(
        &self,
        shutdown: impl Future<Output = Duration>,
    ) -> std::io::Result<()> {
        let endpoint = Endpoint::new(self.config.policy.clone(), self.config.limits);
        let mut transfers = Transfers::new(endpoint);
        let admission = &mut Admission::new(self.stats.clone());
        let mut buf = vec![0u8; 65536];
        let mut summary = tokio::time::interval(super::TurnedAway::INTERVAL);
        summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let far = || Instant::now() + Duration::from_secs(86_400);
        let mut stop_at: Option<Instant> = None;
        let (mut running_at_shutdown, mut stopped) = (0, 0);
        loop {
            let wake = transfers.next_deadline().unwrap_or_else(far);
            let wake = stop_at.map_or(wake, |stop| wake.min(stop));
            tokio::select! {
                grace = &mut shutdown, if stop_at.is_none() => {
                    admission.turned_away.log();
                    let running = transfers.holding_slots();
                    info!(running, grace_ms = grace.as_millis(), "shutting down: no new transfers");
                    stop_at = Some(Instant::now() + grace);
                    running_at_shutdown = running;
                }
                ready = self.socket.readable() => {
                    ready?;
                    for _ in 0..BATCH {
                        let (n, peer) = match self.socket.try_recv_from(&mut buf) {
                            Ok(received) => received,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            // ICMP port unreachable from an earlier send, on some systems.
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                            Err(e) => return Err(e),
                        };
                        let now = Instant::now();
                        self.on_datagram(&mut transfers, now, &buf[..n], peer, admission, stop_at.is_some());
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    self.on_timeouts(&mut transfers, Instant::now());
                }
                _ = summary.tick() => admission.turned_away.log(),
            }
            transfers.outbox.flush(&self.socket).await;
            if let Some(stop) = stop_at {
                if transfers.holding_slots() == 0 {
                    break;
                }
                if Instant::now() >= stop {
                    stopped = self.stop_all(&mut transfers).await;
                    break;
                }
            }
        }
        let finished = running_at_shutdown.saturating_sub(stopped);
        info!(finished, stopped, aborted = 0, "stopped");
        Ok(())
    }

    /// A datagram from `peer`: to its transfer, or a request to the endpoint.
    fn on_datagram(
        &self,
        transfers: &mut Transfers,
        now: Instant,
        datagram: &[u8],
        peer: SocketAddr,
        admission: &mut Admission,
        stopping: bool,
    ) {
        if matches!(datagram, [0, 3..=6, ..]) {
            // A stranger's DATA, ACK or ERROR (a late duplicate, a forged source) is dropped
            // unanswered: an answer could be reflected at a victim.
            if transfers.running.contains_key(&peer) {
                self.step(transfers, peer, |t| t.handle(now, datagram));
            }
            return;
        }
        if stopping {
            return;
        }
        let (admitted, evicted) = self.admit(datagram, peer, &transfers.endpoint, admission);
        if let Some(slot) = evicted
            && transfers.running.get(&slot.peer()).is_some_and(|r| r.slot == Some(slot))
        {
            // Its peer never answered: nothing to tell it.
            transfers.running.remove(&slot.peer());
        }
        match admitted {
            Admitted::Transfer { transfer, slot, .. } => {
                transfers
                    .running
                    .insert(peer, Running { transfer, slot: Some(slot), told: false, armed: None });
                self.step(transfers, peer, |_| {});
            }
            Admitted::Refused { datagram, slot, .. } => {
                transfers.outbox.push(peer, &datagram);
                if let Some(slot) = slot {
                    lock(&transfers.endpoint).release(slot);
                }
            }
            Admitted::Nothing => {}
        }
    }

    /// Runs `input` on `peer`'s transfer, then queues what it sends, reports its end and arms
    /// its timer.
    fn step(&self, transfers: &mut Transfers, peer: SocketAddr, input: impl FnOnce(&mut Transfer)) {
        let Some(running) = transfers.running.get_mut(&peer) else { return };
        input(&mut running.transfer);
        transfers.outbox.take_from(peer, &mut running.transfer);
        if let Some(slot) = running.slot
            && !running.told
            && running.transfer.peer_answered()
        {
            running.told = true;
            lock(&transfers.endpoint).answered(slot);
        }
        while let Some(event) = running.transfer.poll_event() {
            if let Event::Finished(summary) = event
                && let Some(slot) = running.slot.take()
            {
                lock(&transfers.endpoint).release(slot);
                self.ended(peer, summary);
            }
        }
        if running.transfer.is_done() {
            if let Some(slot) = running.slot.take() {
                // Done without a result: counted as failed, as the task driver does.
                lock(&transfers.endpoint).release(slot);
                self.ended(peer, unfinished(&running.transfer));
            }
            transfers.running.remove(&peer);
            return;
        }
        if let Some(deadline) = running.transfer.poll_timeout()
            && running.armed.is_none_or(|armed| deadline < armed)
        {
            running.armed = Some(deadline);
            transfers.deadlines.push(Reverse((deadline, peer)));
        }
    }

    /// Tells the handler how `peer`'s transfer ended, and counts it. A transfer that did not
    /// complete is logged with its peer (the task driver's transfers log inside a span naming
    /// it; a span per transfer would cost this loop more than the transfer's own work).
    fn ended(&self, peer: SocketAddr, summary: Summary) {
        self.handler.transfer_ended(peer, &summary);
        let _span = (summary.outcome != Outcome::Completed)
            .then(|| tracing::info_span!("transfer", %peer).entered());
        ended_transfer(&self.stats, &Ok(summary));
    }

    /// After the grace period: every transfer still holding a slot is sent ERROR 0 and ends.
    /// How many were stopped.
    async fn stop_all(&self, transfers: &mut Transfers) -> usize {
        let holding: Vec<SocketAddr> =
            transfers.running.iter().filter(|(_, r)| r.slot.is_some()).map(|(p, _)| *p).collect();
        self.stats.stopped.fetch_add(holding.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for peer in &holding {
            self.step(transfers, *peer, |t| t.stop("Server shutting down"));
        }
        transfers.outbox.flush(&self.socket).await;
        holding.len()
    }

    /// Fires every deadline that has passed.
    fn on_timeouts(&self, transfers: &mut Transfers, now: Instant) {
        while let Some(Reverse((at, peer))) = transfers.deadlines.peek().copied() {
            if at > now {
                break;
            }
            transfers.deadlines.pop();
            let Some(running) = transfers.running.get_mut(&peer) else { continue };
            if running.armed != Some(at) {
                // A newer transfer of the same peer, or a deadline already replaced.
                continue;
            }
            running.armed = None;
            // The engine moves its deadline later on every ACK; an early wake-up is re-armed.
            self.step(transfers, peer, |t| t.handle_timeout(now));
        }
    }
}
