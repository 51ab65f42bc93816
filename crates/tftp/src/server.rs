//! The server's side of a request: parse, negotiate, accept or refuse.

use std::time::Instant;

use cnfkit_tftp_wire::{ErrorCode, Mode, Packet, ParseConfig, netascii};

use crate::negotiate::{Answer, negotiate};
use crate::{DataSink, DataSource, Policy, Refusal, Transfer};

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// RRQ: the server sends.
    Read,
    /// WRQ: the server receives.
    Write,
}

/// A request the application decides on: accept with a source or sink, or refuse.
///
/// ```
/// use std::time::Instant;
/// use cnfkit_tftp::{Incoming, Policy};
///
/// let now = Instant::now();
/// let rrq = b"\x00\x01XMLDefault.cnf.xml\x00octet\x00blksize\x001468\x00tsize\x000\x00";
/// let incoming = Incoming::parse(rrq, &Policy::default()).unwrap().unwrap();
/// assert_eq!(incoming.filename(), b"XMLDefault.cnf.xml");
/// let mut transfer = incoming.accept_read(Box::new(b"<Default/>".to_vec()), now);
/// let mut buf = vec![0u8; transfer.max_datagram_len()];
/// let n = transfer.poll_transmit(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"\x00\x06blksize\x001468\x00tsize\x0010\x00");
/// ```
#[derive(Debug, Clone)]
pub struct Incoming {
    direction: Direction,
    filename: Vec<u8>,
    mode: Mode,
    /// The request, owned (at most 516 bytes), to read its options from.
    datagram: Vec<u8>,
    policy: Policy,
}

impl Incoming {
    /// Reads a datagram that arrived on the server's listening port.
    ///
    /// `Ok(None)` when it is not a request (a stray DATA or ACK: ignore it); `Err` with the ERROR
    /// to send for a request the server cannot take at all (malformed, an unknown or `mail` mode).
    ///
    /// # Errors
    /// A [`Refusal::Error`] with ERROR 4 (illegal operation) to send back.
    pub fn parse(datagram: &[u8], policy: &Policy) -> Result<Option<Self>, Refusal> {
        // Lenient: the requests real clients send past what RFC 1350 allows, where what they
        // mean is clear (ParseConfig::lenient_requests).
        let packet = match Packet::parse_with(datagram, &ParseConfig::SERVER) {
            Ok(packet) => packet,
            Err(_) if datagram.get(..2).is_some_and(|op| op == [0, 1] || op == [0, 2]) => {
                let message = "Malformed request".to_owned();
                return Err(Refusal::Error(ErrorCode::ILLEGAL_OPERATION, message));
            }
            Err(_) => return Ok(None),
        };
        let (direction, request) = match packet {
            Packet::Rrq(r) => (Direction::Read, r),
            Packet::Wrq(r) => (Direction::Write, r),
            _ => return Ok(None),
        };
        let mode = match request.transfer_mode() {
            Some(mode @ (Mode::Octet | Mode::Netascii)) => mode,
            _ => {
                let message = "Unknown mode".to_owned();
                return Err(Refusal::Error(ErrorCode::ILLEGAL_OPERATION, message));
            }
        };
        Ok(Some(Self {
            direction,
            filename: request.filename.to_vec(),
            mode,
            datagram: datagram.to_vec(),
            policy: policy.clone(),
        }))
    }

    /// Read or write.
    #[must_use]
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The requested file name, as sent (bytes; check it before using it as a path).
    #[must_use]
    pub fn filename(&self) -> &[u8] {
        &self.filename
    }

    /// The transfer mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The size a write request announces in its RFC 2349 `tsize` option, when it does (a
    /// read request's `tsize` is a question, not a size: `None`). A handler checks it against
    /// its quota before any data is sent.
    #[must_use]
    pub fn announced_size(&self) -> Option<u64> {
        if self.direction != Direction::Write {
            return None;
        }
        match self.options().typed().tsize {
            Some(Ok(size)) => Some(size),
            _ => None,
        }
    }

    fn options(&self) -> cnfkit_tftp_wire::Options<'_> {
        match Packet::parse_with(&self.datagram, &ParseConfig::SERVER) {
            Ok(Packet::Rrq(r) | Packet::Wrq(r)) => r.options,
            _ => cnfkit_tftp_wire::Options::EMPTY,
        }
    }

    /// Accepts a read: negotiates with the source's size and starts sending (OACK or DATA 1).
    ///
    /// In netascii mode the source is translated whole, in memory, up to the policy's
    /// `max_netascii_bytes` (larger: ERROR 3), so `tsize` is the exact translated size.
    #[must_use]
    pub fn accept_read(&self, mut source: Box<dyn DataSource>, now: Instant) -> Transfer {
        if self.mode == Mode::Netascii {
            match translate(source.as_mut(), self.policy.max_netascii_bytes) {
                Ok(encoded) => source = Box::new(encoded),
                Err(message) => {
                    return Transfer::error_only(
                        ErrorCode::DISK_FULL,
                        message,
                        self.policy.clone(),
                        now,
                    );
                }
            }
        }
        match negotiate(&self.options(), false, source.size(), &self.policy) {
            Answer::Accept(opts, oack) => {
                Transfer::server_read(source, opts, oack, self.policy.clone(), now)
            }
            Answer::TooLarge => Transfer::error_only(
                ErrorCode::DISK_FULL,
                "File too large",
                self.policy.clone(),
                now,
            ),
        }
    }

    /// Accepts a write into `sink`: OACK or ACK 0, then DATA 1.
    #[must_use]
    pub fn accept_write(&self, sink: Box<dyn DataSink>, now: Instant) -> Transfer {
        match negotiate(&self.options(), true, None, &self.policy) {
            Answer::Accept(opts, oack) => Transfer::server_write(
                sink,
                opts,
                oack,
                self.mode == Mode::Netascii,
                self.policy.clone(),
                now,
            ),
            Answer::TooLarge => Transfer::error_only(
                ErrorCode::DISK_FULL,
                "Disk full or allocation exceeded",
                self.policy.clone(),
                now,
            ),
        }
    }
}

/// Reads a whole source and translates it to netascii.
fn translate(source: &mut dyn DataSource, limit: u64) -> Result<Vec<u8>, &'static str> {
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = source.read_at(raw.len() as u64, &mut chunk).map_err(|_| "Read error")?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() as u64 > limit {
            return Err("File too large for netascii");
        }
    }
    Ok(netascii::encode_to_vec(&raw))
}
