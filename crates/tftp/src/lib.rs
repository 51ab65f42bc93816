//! # cnfkit-tftp
//!
//! A sans-IO TFTP engine: server and client transfers as state machines that take datagrams
//! and the time in, and give datagrams, deadlines and events out (the quinn-proto / str0m shape).
//! RFC 1350 transfers, RFC 2347 option negotiation, `blksize` (RFC 2348), `timeout` and `tsize`
//! (RFC 2349), windows (RFC 7440); retransmission on timeout only (RFC 1123 4.2.3.1), exponential
//! backoff, bounded retries, dally after the final ACK, block-number rollover.
//!
//! The engine never reads the clock, opens a socket or a file: tests drive a server and a
//! client against each other in memory on a virtual clock, and the optional `tokio` driver runs
//! them on real sockets.
//!
//! ```
//! use std::time::Instant;
//! use cnfkit_tftp::{ClientOptions, Event, Incoming, Outcome, Policy, SharedBuffer, Transfer};
//!
//! let now = Instant::now();
//! let policy = Policy::default();
//! let received = SharedBuffer::new();
//! let mut client = Transfer::get(b"XMLDefault.cnf.xml", ClientOptions::default(), Box::new(received.clone()), policy.clone(), now);
//! let mut buf = vec![0u8; 65536];
//!
//! // The client's RRQ reaches the server, which accepts it with the file's bytes.
//! let n = client.poll_transmit(&mut buf).unwrap();
//! let incoming = Incoming::parse(&buf[..n], &policy).unwrap().unwrap();
//! let mut server = incoming.accept_read(Box::new(b"<Default/>".to_vec()), now);
//!
//! // Shuttle datagrams until both are done (no loss here; see the tests for a lossy link).
//! while !(client.is_done() && server.is_done()) {
//!     while let Some(n) = server.poll_transmit(&mut buf) { client.handle(now, &buf[..n]); }
//!     while let Some(n) = client.poll_transmit(&mut buf) { server.handle(now, &buf[..n]); }
//!     if let Some(t) = client.poll_timeout() { client.handle_timeout(t); }
//! }
//! assert_eq!(received.contents(), b"<Default/>");
//! let finished = std::iter::from_fn(|| client.poll_event()).find_map(|e| match e {
//!     Event::Finished(summary) => Some(summary),
//!     _ => None,
//! });
//! assert_eq!(finished.unwrap().outcome, Outcome::Completed);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "tokio")]
mod descriptors;
#[cfg(feature = "tokio")]
pub mod driver;
mod endpoint;
mod handler;
mod io;
mod negotiate;
mod policy;
mod server;
#[cfg(feature = "tokio")]
mod sockets;
mod stats;
mod transfer;

pub use endpoint::{
    Endpoint, EndpointEvent, Layout, Limits, Local, Source, TransferId, TransferIds, Transmit,
    network_of,
};
pub use handler::{Deciding, Handler, Open, Refusal};
pub use io::{DataSink, DataSource, SharedBuffer};
pub use negotiate::Negotiated;
pub use policy::{Policy, Rollover};
pub use server::{Direction, Incoming};
pub use stats::Stats;
pub use transfer::{ClientOptions, Event, Outcome, Summary, Transfer};

// The codec types this crate's API speaks in, so a user needs no second dependency.
pub use cnfkit_tftp_wire::{ErrorCode, Mode};

/// What went wrong in the driver (the sans-IO engine reports through [`Event`]s instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The transfer ended without completing.
    #[error("transfer failed: {}", .0.outcome)]
    Transfer(Summary),
}

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
