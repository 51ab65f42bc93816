//! A TFTP server without IO: every transfer, and every rule between them.
//!
//! quinn-proto's `Endpoint` is the model. A driver hands in each datagram with the socket it
//! arrived on ([`Endpoint::handle`]) and the time when a deadline passes
//! ([`Endpoint::handle_timeout`]), sends what [`Endpoint::transmits`] holds from the socket each
//! names, and answers each [`EndpointEvent::Request`] with a source, a sink or a refusal, now or
//! later. Which transfer a datagram belongs to, what a stranger gets, who is admitted, who is
//! evicted, what a stopped transfer says and what is counted are decided here, once, so that
//! every driver (tokio, another runtime, a test on a virtual clock) follows the same rules.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnfkit_tftp_wire::{ErrorCode, Opcode, Packet};

use crate::{DataSink, DataSource, Event, Incoming, Policy, Refusal, Stats, Summary, Transfer};

/// How many transfers and undecided requests an [`Endpoint`] holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// All peers together.
    pub max_transfers: usize,
    /// From one peer address (any port).
    pub max_per_peer: usize,
    /// From one network: an IPv4 /24 or an IPv6 /64, so that an attacker with many addresses
    /// of one network (a /64 is one host's to use) cannot take every slot.
    pub max_per_network: usize,
    /// When every slot is taken, a new request takes the slot of the longest-waiting transfer
    /// whose peer has not answered once in this long (a forged source address, a client that
    /// is gone). A phone answers its first DATA or OACK within a round trip, so the default,
    /// one second (the first retransmission timeout), only ever evicts the dead.
    pub evict_unanswered_after: Duration,
    /// Requests waiting for the application's decision ([`crate::Open::Later`]), in all and
    /// from one address; a request past either is left unanswered.
    pub max_undecided: usize,
    /// See [`Limits::max_undecided`].
    pub max_undecided_per_peer: usize,
    /// A request the application has not decided on in this long is left unanswered and its
    /// slot freed (the client has given up or retransmitted by then).
    pub decide_within: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_transfers: 2048,
            max_per_peer: 16,
            max_per_network: 512,
            evict_unanswered_after: Duration::from_secs(1),
            max_undecided: 256,
            max_undecided_per_peer: 8,
            decide_within: Duration::from_secs(10),
        }
    }
}

/// The network an address counts against for [`Limits::max_per_network`]: its IPv4 /24 or
/// IPv6 /64 (an IPv4-mapped IPv6 address counts as the IPv4 address).
#[must_use]
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::from(segments)
        }
    }
}

/// Which sockets a server answers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Layout {
    /// Every transfer is answered from the listening port, and told apart by its peer's
    /// address and port (the default). What NAT, a Kubernetes Service or a UDP load balancer in
    /// front of the server needs: they forward what comes back to the port they sent to. Clients
    /// see nothing unusual (a transfer ID is whatever port answers).
    #[default]
    SharedPort,
    /// Each transfer from a port of its own, as RFC 1350 section 4 has it (transfer IDs), for
    /// peers that insist on a new port; strangers on that port get ERROR 5.
    PortPerTransfer,
}

/// A transfer (or a request awaiting its decision) of one [`Endpoint`]. A freed id is never
/// given again to a later transfer of that endpoint in any practical run (a generation count
/// guards each slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId {
    index: u32,
    generation: u32,
}

/// The socket a datagram arrived on, or is to leave from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Local {
    /// The listening port.
    Listening,
    /// The transfer's own port ([`Layout::PortPerTransfer`]); the driver opens it when the
    /// first datagram is to leave from it and closes it on [`EndpointEvent::Closed`].
    Transfer(TransferId),
    /// A new port, used once and closed ([`Layout::PortPerTransfer`]: an application's ERROR
    /// answers a request from a transfer ID of its own, as RFC 1350 has every request answered).
    Fresh,
}

/// A datagram to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// Its destination.
    pub to: SocketAddr,
    /// The socket it leaves from.
    pub from: Local,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// What the driver or the application must hear about.
#[derive(Debug)]
#[non_exhaustive]
pub enum EndpointEvent {
    /// A request has a slot: read it with [`Endpoint::request`], then decide, now or later,
    /// with [`Endpoint::accept_read`], [`Endpoint::accept_write`] or [`Endpoint::refuse`].
    Request {
        /// The request.
        id: TransferId,
        /// Who sent it.
        peer: SocketAddr,
    },
    /// A transfer has ended (the side that sent the final ACK may dally a while longer); its
    /// slot is free.
    Finished {
        /// The transfer.
        id: TransferId,
        /// Its peer.
        peer: SocketAddr,
        /// How it went.
        summary: Summary,
    },
    /// Nothing more will be sent from this transfer's own port: close it.
    Closed(TransferId),
    /// A request the endpoint turned away without asking the application (malformed, over a
    /// limit, left undecided, its slot evicted).
    TurnedAway {
        /// Who sent it.
        peer: SocketAddr,
        /// Why, and what it was told.
        refusal: Refusal,
    },
}

// One per slot of a reused table, never moved: boxing would only add an allocation per request.
#[allow(clippy::large_enum_variant)]
enum State {
    Vacant,
    Undecided(Incoming),
    Running(Transfer),
}

struct Entry {
    generation: u32,
    peer: SocketAddr,
    state: State,
    /// Whether it counts against the limits (undecided, or running and not finished).
    holds_slot: bool,
    /// Whether the peer answered once: the slot is no longer evictable.
    answered: bool,
    admitted: Instant,
    /// The deadline queued for it (a later one is queued only when this one fires).
    armed: Option<Instant>,
}

#[derive(Default)]
struct Counts {
    slots: usize,
    undecided: usize,
}

/// The datagrams queued for the driver, in one buffer.
///
/// The buffer keeps its length once grown and `used` says how much of it holds datagrams: a
/// datagram is encoded in place over old bytes, where growing and shrinking the vector
/// zero-filled a whole datagram's room (64 KiB at the largest block size) before each one.
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    used: usize,
    datagrams: Vec<(SocketAddr, Local, Range<usize>)>,
    /// An ERROR being encoded.
    scratch: Vec<u8>,
}

impl Outbox {
    /// `len` bytes of room after the datagrams held.
    fn room(&mut self, len: usize) -> &mut [u8] {
        let end = self.used + len;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        &mut self.bytes[self.used..end]
    }

    fn push(&mut self, to: SocketAddr, from: Local, len: usize) {
        self.datagrams.push((to, from, self.used..self.used + len));
        self.used += len;
    }

    fn take_from(&mut self, to: SocketAddr, from: Local, transfer: &mut Transfer) {
        loop {
            let room = self.room(transfer.max_datagram_len());
            let Some(n) = transfer.poll_transmit(room) else { return };
            self.push(to, from, n);
        }
    }

    fn push_error(&mut self, to: SocketAddr, from: Local, code: ErrorCode, message: &str) {
        let mut packet = std::mem::take(&mut self.scratch);
        packet.clear();
        // A message never holds a NUL here: it is the endpoint's or the application's text.
        let _ = Packet::Error { code, message: message.as_bytes() }.encode(&mut packet);
        self.room(packet.len()).copy_from_slice(&packet);
        self.push(to, from, packet.len());
        self.scratch = packet;
    }

    fn clear(&mut self) {
        self.used = 0;
        self.datagrams.clear();
    }
}

/// A TFTP server's transfers and the rules between them, without IO.
///
/// ```
/// use std::time::Instant;
/// use cnfkit_tftp::{Endpoint, EndpointEvent, Layout, Limits, Local, Policy};
///
/// let mut server = Endpoint::new(Policy::default(), Limits::default(), Layout::SharedPort);
/// let (phone, now) = ("10.0.0.7:50000".parse().unwrap(), Instant::now());
/// server.handle(now, Local::Listening, phone, b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00");
/// let Some(EndpointEvent::Request { id, .. }) = server.poll_event() else { panic!() };
/// assert_eq!(server.request(id).unwrap().filename(), b"SEP001122334455.cnf.xml");
/// server.accept_read(id, Box::new(b"<device/>".to_vec()), now);
/// // DATA 1 leaves from the listening port (the default layout), to the phone.
/// let data = server.transmits().next().unwrap();
/// assert_eq!((data.to, data.from, data.bytes), (phone, Local::Listening, &b"\x00\x03\x00\x01<device/>"[..]));
/// server.sent(1);
/// server.handle(now, Local::Listening, phone, b"\x00\x04\x00\x01");
/// assert!(matches!(server.poll_event(), Some(EndpointEvent::Finished { .. })));
/// ```
pub struct Endpoint {
    policy: Policy,
    limits: Limits,
    layout: Layout,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Each peer's current transfer (holding a slot, or dallying).
    peers: HashMap<SocketAddr, TransferId>,
    per_ip: HashMap<IpAddr, Counts>,
    per_network: HashMap<IpAddr, usize>,
    slots: usize,
    undecided: usize,
    /// Slots whose peer had not answered when admitted, oldest first. Entries of slots since
    /// answered or freed stay until they reach the front: each admission costs one push and at
    /// most one pop.
    unanswered: VecDeque<TransferId>,
    deadlines: BinaryHeap<Reverse<(Instant, TransferId)>>,
    outbox: Outbox,
    /// Datagrams of the outbox already sent.
    sent: usize,
    events: VecDeque<EndpointEvent>,
    /// When transfers still running are stopped; `None` until shutdown.
    stop_at: Option<Instant>,
    stopped: bool,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("layout", &self.layout)
            .field("slots", &self.slots)
            .field("undecided", &self.undecided)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint with no transfer, counting into a [`Stats`] of its own.
    #[must_use]
    pub fn new(policy: Policy, limits: Limits, layout: Layout) -> Self {
        Self::with_stats(policy, limits, layout, Arc::default())
    }

    /// An endpoint counting into `stats` (shared by the endpoints of one server).
    #[must_use]
    pub fn with_stats(policy: Policy, limits: Limits, layout: Layout, stats: Arc<Stats>) -> Self {
        Self {
            policy,
            limits,
            layout,
            entries: Vec::new(),
            free: Vec::new(),
            peers: HashMap::new(),
            per_ip: HashMap::new(),
            per_network: HashMap::new(),
            slots: 0,
            undecided: 0,
            unanswered: VecDeque::new(),
            deadlines: BinaryHeap::new(),
            outbox: Outbox::default(),
            sent: 0,
            events: VecDeque::new(),
            stop_at: None,
            stopped: false,
            stats,
        }
    }

    /// The transfer rules requests are negotiated under.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Which ports it answers from.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Its counts.
    #[must_use]
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Transfers and undecided requests holding a slot.
    #[must_use]
    pub fn active(&self) -> usize {
        self.slots
    }

    /// A datagram from `peer` arrived on `local` at `now`.
    pub fn handle(&mut self, now: Instant, local: Local, peer: SocketAddr, datagram: &[u8]) {
        if let Local::Transfer(id) = local {
            // Only a transfer of `Layout::PortPerTransfer` has a port of its own to hear on.
            let Some(entry) = self.entry(id).filter(|_| self.layout == Layout::PortPerTransfer)
            else {
                return;
            };
            if entry.peer == peer {
                self.step(id, |t| t.handle(now, datagram));
            } else {
                // Another transfer ID on a transfer's own port: ERROR 5, and the transfer goes
                // on (RFC 1350 section 4).
                let (code, message) = (ErrorCode::UNKNOWN_TRANSFER_ID, "Unknown transfer ID");
                self.outbox.push_error(peer, local, code, message);
            }
            return;
        }
        let opcode =
            datagram.get(..2).and_then(|op| Opcode::from_u16(u16::from_be_bytes([op[0], op[1]])));
        if matches!(opcode, Some(Opcode::Rrq | Opcode::Wrq)) {
            self.on_request(now, peer, datagram);
        } else if self.layout == Layout::SharedPort
            && let Some(&id) = self.peers.get(&peer)
        {
            self.step(id, |t| t.handle(now, datagram));
        }
        // Otherwise a stranger's DATA, ACK or ERROR on the listening port (a late duplicate,
        // a forged source) is dropped unanswered: an answer could be reflected at a victim.
    }

    fn on_request(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        if self.stop_at.is_some() {
            return self.turn_away(peer, Refusal::SHUTTING_DOWN);
        }
        let incoming = match Incoming::parse(datagram, &self.policy) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return,
            Err(refusal) => {
                if let Refusal::Error(code, message) = &refusal {
                    self.outbox.push_error(peer, Local::Listening, *code, message);
                }
                self.stats.count_turned_away(Refusal::MALFORMED);
                self.events.push_back(EndpointEvent::TurnedAway { peer, refusal });
                return;
            }
        };
        if let Some(&id) = self.peers.get(&peer) {
            if self.entry(id).is_some_and(|e| e.holds_slot) {
                // A retransmitted request, which its transfer is answering (RFC 1350: the request
                // is the only packet resent blindly), or still waiting for its decision.
                self.stats.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            // Its previous transfer only dallies: the new request replaces it.
            self.remove(id);
        }
        if let Some(limit) = self.over_limit(now, peer.ip()) {
            return self.turn_away(peer, limit);
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.entries.push(Entry {
                generation: 0,
                peer,
                state: State::Vacant,
                holds_slot: false,
                answered: false,
                admitted: now,
                armed: None,
            });
            u32::try_from(self.entries.len() - 1).unwrap_or(u32::MAX)
        });
        let entry = &mut self.entries[index as usize];
        entry.generation = entry.generation.wrapping_add(1);
        let id = TransferId { index, generation: entry.generation };
        let deadline = now + self.limits.decide_within;
        *entry = Entry {
            generation: id.generation,
            peer,
            state: State::Undecided(incoming),
            holds_slot: true,
            answered: false,
            admitted: now,
            armed: Some(deadline),
        };
        self.deadlines.push(Reverse((deadline, id)));
        self.peers.insert(peer, id);
        let counts = self.per_ip.entry(peer.ip()).or_default();
        counts.slots += 1;
        counts.undecided += 1;
        *self.per_network.entry(network_of(peer.ip())).or_insert(0) += 1;
        self.slots += 1;
        self.undecided += 1;
        self.unanswered.push_back(id);
        if self.unanswered.len() > 2 * self.slots + 64 {
            // Entries of answered and ended transfers pile up while the table is never full:
            // drop them, at a cost spread over as many admissions as there were entries.
            let entries = &self.entries;
            self.unanswered.retain(|id| evictable(entries, *id).is_some());
        }
        self.events.push_back(EndpointEvent::Request { id, peer });
    }

    /// The limit a new request from `ip` is over, if any (after evicting a dead transfer to
    /// make room when the table is full).
    fn over_limit(&mut self, now: Instant, ip: IpAddr) -> Option<&'static str> {
        if self.slots >= self.limits.max_transfers && !self.evict_stalest(now) {
            return Some(Refusal::TRANSFER_LIMIT);
        }
        let counts = self.per_ip.get(&ip);
        if counts.is_some_and(|c| c.slots >= self.limits.max_per_peer) {
            return Some(Refusal::PER_PEER_LIMIT);
        }
        if self.per_network.get(&network_of(ip)).is_some_and(|n| *n >= self.limits.max_per_network)
        {
            return Some(Refusal::NETWORK_LIMIT);
        }
        if self.undecided >= self.limits.max_undecided
            || counts.is_some_and(|c| c.undecided >= self.limits.max_undecided_per_peer)
        {
            return Some(Refusal::UNDECIDED_LIMIT);
        }
        None
    }

    fn turn_away(&mut self, peer: SocketAddr, reason: &'static str) {
        self.stats.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats.count_turned_away(reason);
        let refusal = Refusal::Unanswered(reason);
        self.events.push_back(EndpointEvent::TurnedAway { peer, refusal });
    }

    /// Evicts the longest-waiting unanswered slot admitted at least
    /// [`Limits::evict_unanswered_after`] before `now`; whether there was one.
    fn evict_stalest(&mut self, now: Instant) -> bool {
        while let Some(&id) = self.unanswered.front() {
            let Some(admitted) = evictable(&self.entries, id) else {
                self.unanswered.pop_front();
                continue;
            };
            if now.saturating_duration_since(admitted) < self.limits.evict_unanswered_after {
                // The oldest unanswered transfer is still young: so are all the others.
                return false;
            }
            self.unanswered.pop_front();
            let peer = self.entries[id.index as usize].peer;
            // Its peer never answered: nothing to tell it.
            self.remove(id);
            self.stats.evicted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.turn_away(peer, Refusal::EVICTED);
            return true;
        }
        false
    }

    /// The request `id` waits for a decision on; `None` once decided (or gone).
    #[must_use]
    pub fn request(&self, id: TransferId) -> Option<&Incoming> {
        match &self.entry(id)?.state {
            State::Undecided(incoming) => Some(incoming),
            _ => None,
        }
    }

    /// Accepts read request `id` with the bytes of `source`: its first DATA or OACK is queued.
    /// A request already decided, evicted or left undecided too long is not touched.
    pub fn accept_read(&mut self, id: TransferId, source: Box<dyn DataSource>, now: Instant) {
        self.accept(id, |incoming| incoming.accept_read(source, now));
    }

    /// Accepts write request `id` into `sink`: its ACK 0 or OACK is queued. A request already
    /// decided or gone is not touched, and `sink` is aborted.
    pub fn accept_write(&mut self, id: TransferId, mut sink: Box<dyn DataSink>, now: Instant) {
        if self.request(id).is_none() {
            return sink.abort();
        }
        self.accept(id, |incoming| incoming.accept_write(sink, now));
    }

    fn accept(&mut self, id: TransferId, start: impl FnOnce(&Incoming) -> Transfer) {
        let Some(entry) = self.entry_mut(id) else { return };
        let State::Undecided(incoming) = &entry.state else { return };
        let transfer = start(incoming);
        entry.state = State::Running(transfer);
        entry.armed = None;
        let ip = entry.peer.ip();
        self.decided(ip);
        self.step(id, |_| {});
    }

    /// Refuses request `id`: its ERROR is queued (from the listening port, or a port of its own
    /// in [`Layout::PortPerTransfer`]), or nothing is sent, and its slot is freed.
    pub fn refuse(&mut self, id: TransferId, refusal: Refusal) {
        let Some(entry) = self.entry(id).filter(|e| matches!(e.state, State::Undecided(_))) else {
            return;
        };
        let peer = entry.peer;
        self.remove(id);
        match refusal {
            Refusal::Error(code, message) => {
                self.stats.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let from = match self.layout {
                    Layout::SharedPort => Local::Listening,
                    Layout::PortPerTransfer => Local::Fresh,
                };
                self.outbox.push_error(peer, from, code, &message);
            }
            Refusal::Unanswered(reason) => {
                self.stats.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.stats.count_turned_away(reason);
            }
        }
    }

    fn decided(&mut self, ip: IpAddr) {
        self.undecided -= 1;
        if let Some(counts) = self.per_ip.get_mut(&ip) {
            counts.undecided -= 1;
        }
    }

    /// Runs `input` on transfer `id`, then queues what it sends, reports its end and arms its
    /// timer.
    fn step(&mut self, id: TransferId, input: impl FnOnce(&mut Transfer)) {
        let layout = self.layout;
        let Some(entry) =
            self.entries.get_mut(id.index as usize).filter(|e| e.generation == id.generation)
        else {
            return;
        };
        let State::Running(transfer) = &mut entry.state else { return };
        input(transfer);
        let from = match layout {
            Layout::SharedPort => Local::Listening,
            Layout::PortPerTransfer => Local::Transfer(id),
        };
        self.outbox.take_from(entry.peer, from, transfer);
        if !entry.answered && transfer.peer_answered() {
            entry.answered = true;
        }
        let mut finished = None;
        while let Some(event) = transfer.poll_event() {
            if let Event::Finished(summary) = event {
                finished = Some(summary);
            }
        }
        let done = transfer.is_done();
        if finished.is_none() && done && entry.holds_slot {
            finished = Some(transfer.unfinished());
        }
        let deadline = transfer.poll_timeout();
        if !done
            && let Some(deadline) = deadline
            && entry.armed.is_none_or(|armed| deadline < armed)
        {
            entry.armed = Some(deadline);
            self.deadlines.push(Reverse((deadline, id)));
        }
        let peer = entry.peer;
        if let Some(summary) = finished
            && entry.holds_slot
        {
            self.free_slot(id);
            self.stats.count_ended(&summary);
            self.events.push_back(EndpointEvent::Finished { id, peer, summary });
        }
        if done {
            self.remove(id);
        }
    }

    /// Frees `id`'s slot, if it holds one.
    fn free_slot(&mut self, id: TransferId) {
        let entry = &mut self.entries[id.index as usize];
        if !std::mem::replace(&mut entry.holds_slot, false) {
            return;
        }
        let ip = entry.peer.ip();
        if matches!(entry.state, State::Undecided(_)) {
            self.decided(ip);
        }
        self.slots -= 1;
        if let Some(counts) = self.per_ip.get_mut(&ip) {
            counts.slots -= 1;
            if counts.slots == 0 {
                self.per_ip.remove(&ip);
            }
        }
        let network = network_of(ip);
        if let Some(n) = self.per_network.get_mut(&network) {
            *n -= 1;
            if *n == 0 {
                self.per_network.remove(&network);
            }
        }
    }

    /// Forgets `id` altogether (its slot freed without a word to its peer).
    fn remove(&mut self, id: TransferId) {
        if self.entry(id).is_none() {
            return;
        }
        self.free_slot(id);
        let entry = &mut self.entries[id.index as usize];
        let was_running = matches!(entry.state, State::Running(_));
        entry.state = State::Vacant;
        entry.armed = None;
        let peer = entry.peer;
        if self.peers.get(&peer) == Some(&id) {
            self.peers.remove(&peer);
        }
        self.free.push(id.index);
        if was_running && self.layout == Layout::PortPerTransfer {
            self.events.push_back(EndpointEvent::Closed(id));
        }
    }

    fn entry(&self, id: TransferId) -> Option<&Entry> {
        self.entries
            .get(id.index as usize)
            .filter(|e| e.generation == id.generation && !matches!(e.state, State::Vacant))
    }

    fn entry_mut(&mut self, id: TransferId) -> Option<&mut Entry> {
        self.entries
            .get_mut(id.index as usize)
            .filter(|e| e.generation == id.generation && !matches!(e.state, State::Vacant))
    }

    /// When [`Endpoint::handle_timeout`] must next be called (it may come early: nothing
    /// happens then).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.deadlines.peek().map(|Reverse((at, _))| *at);
        match self.stop_at.filter(|_| !self.stopped) {
            Some(stop) => Some(next.map_or(stop, |next| next.min(stop))),
            None => next,
        }
    }

    /// Fires every deadline that has passed: retransmissions, transfers that time out,
    /// requests left undecided, the end of the shutdown grace period.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(stop) = self.stop_at
            && !self.stopped
            && now >= stop
        {
            self.stopped = true;
            let holding: Vec<TransferId> = self
                .peers
                .values()
                .copied()
                .filter(|id| self.entry(*id).is_some_and(|e| e.holds_slot))
                .collect();
            for id in holding {
                self.step(id, |t| t.stop("Server shutting down"));
            }
        }
        while let Some(Reverse((at, id))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(entry) = self.entry_mut(id).filter(|e| e.armed == Some(at)) else {
                // A transfer gone, or a deadline since replaced.
                continue;
            };
            entry.armed = None;
            if matches!(entry.state, State::Undecided(_)) {
                let peer = entry.peer;
                self.remove(id);
                self.turn_away(peer, Refusal::UNDECIDED);
            } else {
                // The engine moves its deadline later on every ACK; an early wake is re-armed.
                self.step(id, |t| t.handle_timeout(now));
            }
        }
    }

    /// Stops taking requests (those still undecided are left unanswered), lets running
    /// transfers finish until `now + grace`, then stops the rest: each peer is sent ERROR 0
    /// "Server shutting down" and an upload in progress is aborted.
    pub fn shutdown(&mut self, now: Instant, grace: Duration) {
        if self.stop_at.is_some() {
            return;
        }
        self.stop_at = Some(now + grace);
        let undecided: Vec<TransferId> =
            self.peers.values().copied().filter(|id| self.request(*id).is_some()).collect();
        for id in undecided {
            let peer = self.entries[id.index as usize].peer;
            self.remove(id);
            self.turn_away(peer, Refusal::SHUTTING_DOWN);
        }
        self.handle_timeout(now);
    }

    /// Whether a shutdown has begun and no transfer holds a slot any more (transfers that only
    /// dally are abandoned: their peer has everything).
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.stop_at.is_some() && self.slots == 0
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    /// The datagrams to send, oldest first. Tell the endpoint how many have left (or could not
    /// be sent: a lost datagram is retransmitted like any other) with [`Endpoint::sent`].
    #[must_use]
    pub fn transmits(&self) -> impl ExactSizeIterator<Item = Transmit<'_>> + '_ {
        self.outbox.datagrams[self.sent..].iter().map(|(to, from, range)| Transmit {
            to: *to,
            from: *from,
            bytes: &self.outbox.bytes[range.clone()],
        })
    }

    /// The first `n` of [`Endpoint::transmits`] are done with.
    pub fn sent(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.outbox.datagrams.len());
        if self.sent == self.outbox.datagrams.len() {
            self.outbox.clear();
            self.sent = 0;
        }
    }
}

/// When `id` was admitted, if it holds a slot whose peer has never answered.
fn evictable(entries: &[Entry], id: TransferId) -> Option<Instant> {
    entries
        .get(id.index as usize)
        .filter(|e| e.generation == id.generation && e.holds_slot && !e.answered)
        .map(|e| e.admitted)
}

/// The transfer IDs of a client's transfer (RFC 1350 section 4): whom to send to, and whether a
/// datagram comes from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferIds {
    target: SocketAddr,
    peer: Option<SocketAddr>,
}

/// What a datagram on a client transfer's port is, by its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The server: hand it to the transfer.
    Peer,
    /// Another host before the server has answered: ignore it.
    Ignore,
    /// Another transfer ID: send it this ERROR 5, and the transfer goes on.
    Stranger(Vec<u8>),
}

impl TransferIds {
    /// A client's transfer: the request goes to the server's well-known port, and the first
    /// answer from the server's address fixes the server's transfer ID.
    #[must_use]
    pub fn client(server: SocketAddr) -> Self {
        Self { target: server, peer: None }
    }

    /// Where datagrams go.
    #[must_use]
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Checks the source of a datagram, fixing the server's transfer ID on its first answer.
    pub fn check(&mut self, from: SocketAddr) -> Source {
        match self.peer {
            Some(peer) if peer == from => Source::Peer,
            Some(_) => {
                let mut error = Vec::with_capacity(24);
                let message = b"Unknown transfer ID";
                let _ = Packet::Error { code: ErrorCode::UNKNOWN_TRANSFER_ID, message }
                    .encode(&mut error);
                Source::Stranger(error)
            }
            None if from.ip() != self.target.ip() => Source::Ignore,
            None => {
                self.peer = Some(from);
                self.target = from;
                Source::Peer
            }
        }
    }
}
