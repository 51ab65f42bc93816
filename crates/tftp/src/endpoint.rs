//! The server's rules outside a single transfer, without IO: what a datagram on the listening
//! port means, which requests get a transfer slot, and which datagrams on a transfer's port
//! come from its peer.
//!
//! quinn-proto's `Endpoint` is the model: a driver hands datagrams in and does what comes back,
//! so a second driver (another runtime, a single-port mode) follows the same rules without
//! copying them.

use cnfkit_tftp_wire::{ErrorCode, Packet};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

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
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_transfers: 2048, max_per_peer: 16, max_per_network: 512 }
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
    /// it, then [`Endpoint::release`] the slot when its transfer (or the refusal) is over.
    Request(Incoming),
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
/// use cnfkit_tftp::{DropReason, Endpoint, Limits, Policy, Received};
///
/// let limits = Limits { max_transfers: 8, max_per_peer: 1, ..Limits::default() };
/// let mut server = Endpoint::new(Policy::default(), limits);
/// let phone = "10.0.0.7:50000".parse().unwrap();
/// let rrq = b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00";
/// assert!(matches!(server.handle(phone, rrq), Received::Request(_)));
/// // The phone resends its request before the first DATA arrives: its transfer answers it.
/// assert!(matches!(server.handle(phone, rrq), Received::Drop(DropReason::Repeated)));
/// server.release(phone);
/// assert!(matches!(server.handle(phone, rrq), Received::Request(_)));
/// ```
#[derive(Debug)]
pub struct Endpoint {
    policy: Policy,
    limits: Limits,
    /// Peers with a slot.
    active: HashSet<SocketAddr>,
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
            active: HashSet::new(),
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

    /// Reads a datagram `peer` sent to the listening port.
    pub fn handle(&mut self, peer: SocketAddr, datagram: &[u8]) -> Received {
        let incoming = match Incoming::parse(datagram, &self.policy) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return Received::Drop(DropReason::NotARequest),
            Err(refusal) => {
                return Received::Refuse { datagram: refusal.datagram, reason: refusal.reason };
            }
        };
        if self.active.contains(&peer) {
            return Received::Drop(DropReason::Repeated);
        }
        if self.active.len() >= self.limits.max_transfers {
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
        self.active.insert(peer);
        Received::Request(incoming)
    }

    /// Frees `peer`'s slot: its transfer ended, or its request was refused.
    pub fn release(&mut self, peer: SocketAddr) {
        if self.active.remove(&peer) {
            decrement(&mut self.per_ip, peer.ip());
            decrement(&mut self.per_network, network_of(peer.ip()));
        }
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
