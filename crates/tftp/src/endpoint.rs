//! The server's rules outside a single transfer, without IO: what a datagram on the listening
//! port means, which requests get a transfer slot, and which datagrams on a transfer's port
//! come from its peer.
//!
//! quinn-proto's `Endpoint` is the model: a driver hands datagrams in and does what comes back,
//! so a second driver (another runtime, a single-port mode) follows the same rules without
//! copying them.

use cnfkit_tftp_wire::{ErrorCode, Packet};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::{Incoming, Policy};

/// How many transfers an [`Endpoint`] runs at once.
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_transfers: 2048,
            max_per_peer: 16,
            max_per_network: 512,
            evict_unanswered_after: Duration::from_secs(1),
        }
    }
}

/// One admitted transfer's slot: its peer, and which admission of that peer it is (a peer
/// evicted and admitted again has a new slot, which the old transfer's release cannot free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotId {
    peer: SocketAddr,
    admission: u64,
}

impl SlotId {
    /// The peer the slot is for.
    #[must_use]
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

#[derive(Debug, Clone, Copy)]
struct SlotState {
    admission: u64,
    admitted: Instant,
    answered: bool,
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

/// Why a datagram on the listening port was dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a request (a stray DATA, ACK or ERROR).
    NotARequest,
    /// The same peer (address and port) already has a transfer: a retransmitted request, which
    /// that transfer is answering (RFC 1350: the request is the only packet resent blindly).
    Repeated,
    /// [`Limits::max_transfers`] transfers are running. Dropped, not refused: a phone in a boot
    /// storm retransmits a second later, where an ERROR would read as "file not found".
    TransferLimit,
    /// [`Limits::max_per_peer`] transfers run for this address.
    PerPeerLimit,
    /// [`Limits::max_per_network`] transfers run for this address's /24 or /64.
    NetworkLimit,
}

impl DropReason {
    /// A short reason for logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotARequest => "not a request",
            Self::Repeated => "repeated request",
            Self::TransferLimit => "transfer limit",
            Self::PerPeerLimit => "per-peer limit",
            Self::NetworkLimit => "per-network limit",
        }
    }
}

/// What to do with a datagram that arrived on the listening port.
#[derive(Debug)]
#[non_exhaustive]
pub enum Received {
    /// A request with a slot reserved for its peer: accept it (with a source or sink) or refuse
    /// it, then [`Endpoint::release`] the slot when its transfer (or the refusal) is over. Tell
    /// the endpoint when the peer first answers ([`Endpoint::answered`]); until then the slot
    /// may be evicted ([`Endpoint::poll_evicted`]).
    Request {
        /// The request.
        incoming: Incoming,
        /// Its slot.
        slot: SlotId,
    },
    /// Send this ERROR back (a malformed request, an unsupported mode); no slot is taken.
    Refuse {
        /// The encoded ERROR packet.
        datagram: Vec<u8>,
        /// Why, for the log.
        reason: String,
    },
    /// Do nothing.
    Drop(DropReason),
}

/// The listening port's side of a TFTP server: request parsing, duplicate suppression and
/// admission under [`Limits`].
///
/// ```
/// use std::time::Instant;
/// use cnfkit_tftp::{DropReason, Endpoint, Limits, Policy, Received};
///
/// let limits = Limits { max_transfers: 8, max_per_peer: 1, ..Limits::default() };
/// let mut server = Endpoint::new(Policy::default(), limits);
/// let (phone, now) = ("10.0.0.7:50000".parse().unwrap(), Instant::now());
/// let rrq = b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00";
/// let Received::Request { slot, .. } = server.handle(now, phone, rrq) else { panic!() };
/// // The phone resends its request before the first DATA arrives: its transfer answers it.
/// assert!(matches!(server.handle(now, phone, rrq), Received::Drop(DropReason::Repeated)));
/// server.release(slot);
/// assert!(matches!(server.handle(now, phone, rrq), Received::Request { .. }));
/// ```
#[derive(Debug)]
pub struct Endpoint {
    policy: Policy,
    limits: Limits,
    /// Peers with a slot.
    active: HashMap<SocketAddr, SlotState>,
    /// Slots whose peer had not answered when admitted, oldest first. Entries of slots since
    /// answered or released stay until they reach the front (checked against `active` then):
    /// each admission costs one push and at most one pop.
    unanswered: VecDeque<SlotId>,
    /// Slots taken away, for the driver to stop their transfers.
    evicted: VecDeque<SlotId>,
    admissions: u64,
    /// Slots per address, so the per-peer check does not scan every transfer.
    per_ip: HashMap<IpAddr, usize>,
    /// Slots per /24 or /64.
    per_network: HashMap<IpAddr, usize>,
}

impl Endpoint {
    /// An endpoint with no transfer running.
    #[must_use]
    pub fn new(policy: Policy, limits: Limits) -> Self {
        Self {
            policy,
            limits,
            active: HashMap::new(),
            unanswered: VecDeque::new(),
            evicted: VecDeque::new(),
            admissions: 0,
            per_ip: HashMap::new(),
            per_network: HashMap::new(),
        }
    }

    /// The transfer rules requests are negotiated under.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Transfers holding a slot.
    #[must_use]
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// Reads a datagram `peer` sent to the listening port at `now`.
    pub fn handle(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) -> Received {
        let incoming = match Incoming::parse(datagram, &self.policy) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return Received::Drop(DropReason::NotARequest),
            Err(refusal) => {
                return Received::Refuse { datagram: refusal.datagram, reason: refusal.reason };
            }
        };
        if self.active.contains_key(&peer) {
            return Received::Drop(DropReason::Repeated);
        }
        if self.active.len() >= self.limits.max_transfers && !self.evict_stalest(now) {
            return Received::Drop(DropReason::TransferLimit);
        }
        if self.per_ip.get(&peer.ip()).copied().unwrap_or(0) >= self.limits.max_per_peer {
            return Received::Drop(DropReason::PerPeerLimit);
        }
        let network = network_of(peer.ip());
        if self.per_network.get(&network).copied().unwrap_or(0) >= self.limits.max_per_network {
            return Received::Drop(DropReason::NetworkLimit);
        }
        *self.per_ip.entry(peer.ip()).or_insert(0) += 1;
        *self.per_network.entry(network).or_insert(0) += 1;
        self.admissions += 1;
        let slot = SlotId { peer, admission: self.admissions };
        self.active
            .insert(peer, SlotState { admission: slot.admission, admitted: now, answered: false });
        self.unanswered.push_back(slot);
        if self.unanswered.len() > 2 * self.active.len() + 64 {
            // Entries of answered and ended transfers pile up while the table is never full:
            // drop them, at a cost spread over as many admissions as there were entries.
            let active = &self.active;
            self.unanswered.retain(|s| {
                active.get(&s.peer).is_some_and(|st| st.admission == s.admission && !st.answered)
            });
        }
        Received::Request { incoming, slot }
    }

    /// Records that `slot`'s peer has answered: its slot is no longer evictable.
    pub fn answered(&mut self, slot: SlotId) {
        if let Some(state) =
            self.active.get_mut(&slot.peer).filter(|s| s.admission == slot.admission)
        {
            state.answered = true;
        }
    }

    /// A slot taken from its transfer to admit a new request: the driver stops that transfer
    /// (without telling its peer, which never answered) and need not release the slot.
    pub fn poll_evicted(&mut self) -> Option<SlotId> {
        self.evicted.pop_front()
    }

    /// Frees a slot: its transfer ended, or its request was refused. A slot already evicted or
    /// released is left alone.
    pub fn release(&mut self, slot: SlotId) {
        if self.active.get(&slot.peer).is_some_and(|s| s.admission == slot.admission) {
            self.remove(slot.peer);
        }
    }

    fn remove(&mut self, peer: SocketAddr) {
        self.active.remove(&peer);
        decrement(&mut self.per_ip, peer.ip());
        decrement(&mut self.per_network, network_of(peer.ip()));
    }

    /// Evicts the longest-waiting unanswered slot admitted at least
    /// [`Limits::evict_unanswered_after`] before `now`; whether there was one.
    fn evict_stalest(&mut self, now: Instant) -> bool {
        while let Some(&slot) = self.unanswered.front() {
            let Some(state) = self.active.get(&slot.peer).filter(|s| s.admission == slot.admission)
            else {
                self.unanswered.pop_front();
                continue;
            };
            if state.answered {
                self.unanswered.pop_front();
                continue;
            }
            if now.saturating_duration_since(state.admitted) < self.limits.evict_unanswered_after {
                // The oldest unanswered transfer is still young: so are all the others.
                return false;
            }
            self.unanswered.pop_front();
            self.remove(slot.peer);
            self.evicted.push_back(slot);
            return true;
        }
        false
    }
}

/// One slot fewer for `key`; a count that reaches zero is removed (the maps stay the size of
/// what is running).
fn decrement(counts: &mut HashMap<IpAddr, usize>, key: IpAddr) {
    if let Some(n) = counts.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
        }
    }
}

/// The transfer IDs of one transfer (RFC 1350 section 4): whom to send to, and whether a
/// datagram on the transfer's port comes from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferIds {
    target: SocketAddr,
    peer: Option<SocketAddr>,
}

/// What a datagram on a transfer's port is, by its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The peer: hand it to the transfer.
    Peer,
    /// Another host before the peer is known (a client waiting for its server): ignore it.
    Ignore,
    /// Another transfer ID: send it this ERROR 5, and the transfer goes on.
    Stranger(Vec<u8>),
}

impl TransferIds {
    /// A server's transfer: the peer is known from the request.
    #[must_use]
    pub fn server(peer: SocketAddr) -> Self {
        Self { target: peer, peer: Some(peer) }
    }

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

    /// Checks the source of a datagram, fixing the peer on a client's first answer.
    pub fn check(&mut self, from: SocketAddr) -> Source {
        match self.peer {
            Some(peer) if peer == from => Source::Peer,
            Some(_) => Source::Stranger(unknown_transfer_id()),
            None if from.ip() != self.target.ip() => Source::Ignore,
            None => {
                self.peer = Some(from);
                self.target = from;
                Source::Peer
            }
        }
    }
}

fn unknown_transfer_id() -> Vec<u8> {
    let mut err = Vec::with_capacity(24);
    let _ = Packet::Error { code: ErrorCode::UNKNOWN_TRANSFER_ID, message: b"Unknown transfer ID" }
        .encode(&mut err);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unanswered_queue_stays_the_size_of_what_runs_when_the_table_never_fills() {
        let mut server = Endpoint::new(Policy::default(), Limits::default());
        let now = Instant::now();
        let rrq = b"\x00\x01f\x00octet\x00";
        let mut running = VecDeque::new();
        for i in 0..100_000u32 {
            let [_, b, c, d] = i.to_be_bytes();
            let peer = SocketAddr::from(([10, b, c, d], 1000));
            let Received::Request { slot, .. } = server.handle(now, peer, rrq) else { panic!() };
            if i % 2 == 0 {
                server.answered(slot);
            }
            // Ten transfers run at any time; the others have ended.
            running.push_back(slot);
            if running.len() > 10 {
                server.release(running.pop_front().unwrap());
            }
            assert!(server.unanswered.len() <= 2 * (server.active.len() + 1) + 64, "at {i}");
        }
        assert_eq!(server.active(), 10);
    }
}
