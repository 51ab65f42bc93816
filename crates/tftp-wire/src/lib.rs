//! # cnfkit-tftp-wire
//!
//! A zero-copy TFTP packet codec: RFC 1350 packets, RFC 2347 option extension and OACK, the
//! `blksize` (RFC 2348), `timeout` and `tsize` (RFC 2349) and `windowsize` (RFC 7440) options,
//! and streaming netascii translation.
//!
//! Bytes in, bytes out, nothing else: no sockets, no clock, no allocation on the parse path.
//! [`Packet::parse`] borrows every field from the datagram; [`Packet::encode`] writes into any
//! [`bytes::BufMut`] and [`Packet::encode_to_slice`] into a caller's `&mut [u8]`. The codec is
//! strict about structure and neutral about policy: it reports every option and whether its value
//! is valid ([`TypedOptions`]), and leaves clamping, omitting or refusing to the engine.
//!
//! ```
//! use cnfkit_tftp_wire::{Mode, Options, Packet, Request};
//!
//! // The read request curl sends by default.
//! let datagram = b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00tsize\x000\x00blksize\x00512\x00timeout\x006\x00";
//! let Packet::Rrq(request) = Packet::parse(datagram)? else { unreachable!() };
//! assert_eq!(request.filename, b"SEP001122334455.cnf.xml");
//! assert_eq!(request.transfer_mode(), Some(Mode::Octet));
//! let typed = request.options.typed();
//! assert_eq!((typed.blksize, typed.tsize, typed.timeout), (Some(Ok(512)), Some(Ok(0)), Some(Ok(6))));
//!
//! // Build the same request and check it encodes to the same bytes.
//! let pairs: &[(&[u8], &[u8])] = &[(b"tsize", b"0"), (b"blksize", b"512"), (b"timeout", b"6")];
//! let built = Request::new(b"SEP001122334455.cnf.xml", Mode::Octet).with_options(Options::from_pairs(pairs));
//! let mut buf = Vec::new();
//! Packet::Rrq(built).encode(&mut buf)?;
//! assert_eq!(buf, datagram);
//! # Ok::<(), cnfkit_tftp_wire::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
mod error_code;
pub mod netascii;
mod options;
mod packet;

pub use error::{Error, Field};
pub use error_code::ErrorCode;
pub use options::{BadValue, KnownOption, OptionPairs, OptionValue, Options, TypedOptions};
pub use packet::{DEFAULT_MAX_REQUEST_LEN, Mode, Opcode, Packet, ParseConfig, Request};

/// Debug-prints bytes as a string, escaping what is not printable ASCII.
struct Lossy<'a>(&'a [u8]);

impl core::fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                core::fmt::Display::fmt(&c.escape_debug(), f)?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

/// The README's examples run as doctests, so the published README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
