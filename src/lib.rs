//! # cnfkit
//!
//! Provision Cisco IP phones over TFTP. This umbrella crate re-exports the cnfkit crates behind
//! features, so an application can depend on one crate and pick what it needs:
//!
//! | feature | crate | what it is |
//! |---|---|---|
//! | `fs` (default) | [`cnfkit-fs`](fs) | the one atomic file writer: temp file, fsync, `.old` by hard link, create-only |
//! | `tftp-wire` (default) | [`cnfkit-tftp-wire`](tftp_wire) | TFTP packets, options and netascii: bytes in, bytes out |
//! | `resolve` (default) | [`cnfkit-resolve`](resolve) | phone boot sequences, request names, path safety, fallback resolution |
//! | `config` (default) | [`cnfkit-config`](config) | cnf.xml and SIP .cnf: lossless documents, typed views, builders |
//! | `repack` (default) | [`cnfkit-repack`](repack) | signed `.sgn`, trust lists, encrypted `.enc.sgn`, OpenSSL profiles, repack |
//! | `firmware` (default) | [`cnfkit-firmware`](firmware) | a firmware library: Cisco packs imported safely, one folder per load |
//! | `tftp` (default) | [`cnfkit-tftp`](tftp) | sans-IO TFTP engine and tokio driver |
//! | `server` (default) | [`cnfkit-server`](server) | a provisioning server: the driver answering through the resolver |
//!
//! ```
//! # #[cfg(feature = "tftp-wire")] {
//! use cnfkit::tftp_wire::{ErrorCode, Packet};
//!
//! let packet = Packet::parse(b"\x00\x04\x00\x01").unwrap();
//! assert_eq!(packet, Packet::Ack { block: 1 });
//! assert_eq!(ErrorCode::FILE_NOT_FOUND.0, 1);
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "fs")]
#[doc(inline)]
pub use cnfkit_fs as fs;

#[cfg(feature = "tftp-wire")]
#[doc(inline)]
pub use cnfkit_tftp_wire as tftp_wire;

#[cfg(feature = "resolve")]
#[doc(inline)]
pub use cnfkit_resolve as resolve;

#[cfg(feature = "config")]
#[doc(inline)]
pub use cnfkit_config as config;

#[cfg(feature = "repack")]
#[doc(inline)]
pub use cnfkit_repack as repack;

#[cfg(feature = "firmware")]
#[doc(inline)]
pub use cnfkit_firmware as firmware;

#[cfg(feature = "tftp")]
#[doc(inline)]
pub use cnfkit_tftp as tftp;

#[cfg(feature = "server")]
#[doc(inline)]
pub use cnfkit_server as server;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
