//! What an application decides about a request: the bytes to send, where received bytes go, or
//! a refusal; now, or after awaiting something.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use cnfkit_tftp_wire::ErrorCode;

use crate::{DataSink, DataSource, Incoming, Summary};

/// Why a request gets no transfer: the one refusal type of the crate, whether the application
/// or the [`Endpoint`](crate::Endpoint) decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Answer with this ERROR. The message goes to the peer, so it must not contain server
    /// paths.
    Error(ErrorCode, String),
    /// Send nothing, for this reason (one of the constants below, or the application's own).
    /// The client retransmits its request a moment later, where an ERROR would end its attempt
    /// (a phone reads any ERROR on its config as "not there" and falls back).
    Unanswered(&'static str),
}

impl Refusal {
    /// A request that does not parse (answered with ERROR 4 from the listening port).
    pub const MALFORMED: &'static str = "malformed requests";
    /// [`Limits::max_transfers`](crate::Limits::max_transfers) transfers are running. Dropped,
    /// not refused: a phone in a boot storm retransmits a second later, where an ERROR would
    /// read as "file not found".
    pub const TRANSFER_LIMIT: &'static str = "transfer limit";
    /// [`Limits::max_per_peer`](crate::Limits::max_per_peer) transfers run for this address.
    pub const PER_PEER_LIMIT: &'static str = "per-peer limit";
    /// [`Limits::max_per_network`](crate::Limits::max_per_network) transfers run for this
    /// address's /24 or /64.
    pub const NETWORK_LIMIT: &'static str = "per-network limit";
    /// [`Limits::max_undecided`](crate::Limits::max_undecided) requests, in all or from this
    /// address, wait for the application's decision.
    pub const UNDECIDED_LIMIT: &'static str = "undecided-request limit";
    /// The application did not decide within
    /// [`Limits::decide_within`](crate::Limits::decide_within).
    pub const UNDECIDED: &'static str = "requests left undecided";
    /// A transfer whose peer never answered, stopped to give its slot to a new request
    /// ([`Limits::evict_unanswered_after`](crate::Limits::evict_unanswered_after)).
    pub const EVICTED: &'static str = "unanswered transfers evicted";
    /// The server is shutting down.
    pub const SHUTTING_DOWN: &'static str = "server shutting down";
    /// The process is out of file descriptors (for a transfer's socket, or the handler's file).
    pub const OUT_OF_DESCRIPTORS: &'static str = "out of file descriptors";

    /// The ERROR refusing a request the application cannot find.
    #[must_use]
    pub fn not_found() -> Self {
        Self::Error(ErrorCode::FILE_NOT_FOUND, "File not found".to_owned())
    }

    /// Why, in a few words, for logs and counts.
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            Self::Error(_, message) => message,
            Self::Unanswered(reason) => reason,
        }
    }
}

impl From<(ErrorCode, String)> for Refusal {
    fn from((code, message): (ErrorCode, String)) -> Self {
        Self::Error(code, message)
    }
}

/// A future deciding a request.
pub type Deciding<T> = Pin<Box<dyn Future<Output = Result<T, Refusal>> + Send + 'static>>;

/// A [`Handler`]'s answer to a request: decided at once, or once a future resolves (a database
/// lookup, an HTTP back end, a signature). Only a request that waits pays for the future's
/// allocation.
pub enum Open<T> {
    /// Decided.
    Ready(Result<T, Refusal>),
    /// Decided when this resolves. It runs on the runtime the server was started from; the
    /// endpoint holds the request's slot meanwhile and absorbs the client's retransmissions.
    Later(Deciding<T>),
}

impl<T> Open<T> {
    /// Decided when `future` resolves.
    pub fn later(future: impl Future<Output = Result<T, Refusal>> + Send + 'static) -> Self {
        Self::Later(Box::pin(future))
    }
}

impl<T> From<Result<T, Refusal>> for Open<T> {
    fn from(decided: Result<T, Refusal>) -> Self {
        Self::Ready(decided)
    }
}

impl<T> std::fmt::Debug for Open<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ready(Ok(_)) => "Open::Ready(Ok(..))",
            Self::Ready(Err(_)) => "Open::Ready(Err(..))",
            Self::Later(_) => "Open::Later(..)",
        })
    }
}

/// What a server does with requests. Every method is called on the server's loop, so each
/// must return at once: one that must wait returns [`Open::Later`].
pub trait Handler: Send + Sync + 'static {
    /// A read request: the bytes to send.
    fn open_read(&self, peer: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSource>>;

    /// A write request: where the bytes go. Refused by default (writes are off unless a
    /// handler opts in).
    fn open_write(&self, peer: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSink>> {
        let _ = (peer, request);
        Open::Ready(Err(Refusal::Error(
            ErrorCode::ACCESS_VIOLATION,
            "Writes are not allowed".to_owned(),
        )))
    }

    /// The transfer a request opened (to `peer`, from the port it asked from) has ended:
    /// how, with its bytes, duration and retransmits. By default nothing is done.
    fn transfer_ended(&self, peer: SocketAddr, summary: &Summary) {
        let _ = (peer, summary);
    }

    /// The endpoint turned a request from `peer` away without asking the handler (malformed,
    /// over a limit, left undecided, evicted). By default nothing is done.
    fn turned_away(&self, peer: SocketAddr, refusal: &Refusal) {
        let _ = (peer, refusal);
    }
}

/// A shared handler: one handler can serve TFTP and other transports at once.
impl<H: Handler> Handler for Arc<H> {
    fn open_read(&self, peer: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSource>> {
        (**self).open_read(peer, request)
    }

    fn open_write(&self, peer: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSink>> {
        (**self).open_write(peer, request)
    }

    fn transfer_ended(&self, peer: SocketAddr, summary: &Summary) {
        (**self).transfer_ended(peer, summary);
    }

    fn turned_away(&self, peer: SocketAddr, refusal: &Refusal) {
        (**self).turned_away(peer, refusal);
    }
}
