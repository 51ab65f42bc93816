//! Packets: parse a datagram into a borrowed view, encode a view into bytes.

use core::fmt;

use bytes::BufMut;
use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_till},
    number::complete::be_u16,
    sequence::terminated,
};

use crate::{Error, ErrorCode, Field, Options};

/// Largest request RFC 2347 allows: "The maximum size of a request packet is 512 octets."
pub const DEFAULT_MAX_REQUEST_LEN: usize = 512;

/// Opcodes (RFC 1350 section 5, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Opcode {
    /// Read request.
    Rrq = 1,
    /// Write request.
    Wrq = 2,
    /// Data block.
    Data = 3,
    /// Acknowledgement.
    Ack = 4,
    /// Error.
    Error = 5,
    /// Option acknowledgement (RFC 2347).
    Oack = 6,
}

impl Opcode {
    /// The opcode for a wire value, or `None` outside 1..=6.
    #[must_use]
    pub const fn from_u16(value: u16) -> Option<Self> {
        Some(match value {
            1 => Self::Rrq,
            2 => Self::Wrq,
            3 => Self::Data,
            4 => Self::Ack,
            5 => Self::Error,
            6 => Self::Oack,
            _ => return None,
        })
    }
}

/// Transfer modes (RFC 1350 section 5), compared ignoring ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `netascii`: text, translated to and from CR LF on the wire (see [`crate::netascii`]).
    Netascii,
    /// `octet`: raw bytes.
    Octet,
    /// `mail`: obsolete (RFC 1350 section 1 says it should not be used); recognised so that a
    /// server can refuse it by name.
    Mail,
}

impl Mode {
    /// The mode a wire string names, ignoring ASCII case, or `None` for an unknown mode.
    #[must_use]
    pub fn from_bytes(mode: &[u8]) -> Option<Self> {
        [Self::Netascii, Self::Octet, Self::Mail]
            .into_iter()
            .find(|m| m.as_str().as_bytes().eq_ignore_ascii_case(mode))
    }

    /// The lowercase wire string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Netascii => "netascii",
            Self::Octet => "octet",
            Self::Mail => "mail",
        }
    }
}

/// An RRQ or WRQ: filename, mode and options, all borrowed.
///
/// The filename is bytes: RFC 1350 says netascii, phones and PXE ROMs send whatever their
/// firmware holds, and a server decides what it accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The requested file name, without its NUL.
    pub filename: &'a [u8],
    /// The mode string as sent (any case); see [`Request::mode`].
    pub mode: &'a [u8],
    /// Option pairs (RFC 2347), possibly none.
    pub options: Options<'a>,
}

impl<'a> Request<'a> {
    /// A request without options.
    #[must_use]
    pub const fn new(filename: &'a [u8], mode: Mode) -> Self {
        Self { filename, mode: mode.as_str().as_bytes(), options: Options::EMPTY }
    }

    /// The same request with these options.
    #[must_use]
    pub const fn with_options(self, options: Options<'a>) -> Self {
        Self { options, ..self }
    }

    /// The transfer mode, or `None` when the mode string is not one RFC 1350 defines.
    #[must_use]
    pub fn transfer_mode(&self) -> Option<Mode> {
        Mode::from_bytes(self.mode)
    }

    /// Bytes of `datagram` (the request this was parsed from) that the request leaves out:
    /// what a [lenient](ParseConfig::lenient_requests) parse ignored after its last option.
    #[must_use]
    pub fn ignored_len(&self, datagram: &[u8]) -> usize {
        datagram.len().saturating_sub(2 + self.encoded_body_len())
    }

    fn encoded_body_len(&self) -> usize {
        self.filename.len() + 1 + self.mode.len() + 1 + self.options.encoded_len()
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("filename", &crate::Lossy(self.filename))
            .field("mode", &crate::Lossy(self.mode))
            .field("options", &self.options)
            .finish()
    }
}

/// A TFTP packet borrowing from the datagram it was parsed from (or from the caller's data, to
/// encode).
///
/// ```
/// use cnfkit_tftp_wire::{ErrorCode, Packet};
///
/// let packet = Packet::parse(b"\x00\x05\x00\x01File not found\x00")?;
/// assert_eq!(packet, Packet::Error { code: ErrorCode::FILE_NOT_FOUND, message: b"File not found" });
///
/// let mut buf = [0u8; 4];
/// let len = Packet::Ack { block: 7 }.encode_to_slice(&mut buf)?;
/// assert_eq!(&buf[..len], b"\x00\x04\x00\x07");
/// # Ok::<(), cnfkit_tftp_wire::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request (opcode 1).
    Rrq(Request<'a>),
    /// Write request (opcode 2).
    Wrq(Request<'a>),
    /// A data block (opcode 3); fewer than blksize bytes ends the transfer.
    Data {
        /// Block number, wrapping at 65535.
        block: u16,
        /// The payload.
        data: &'a [u8],
    },
    /// Acknowledgement of a block (opcode 4); block 0 acknowledges an OACK or a WRQ.
    Ack {
        /// Block number acknowledged.
        block: u16,
    },
    /// Error (opcode 5): ends the transfer, never acknowledged or retransmitted.
    Error {
        /// The code.
        code: ErrorCode,
        /// The message, without its NUL (netascii by the RFC, bytes in practice).
        message: &'a [u8],
    },
    /// Option acknowledgement (opcode 6, RFC 2347).
    Oack(Options<'a>),
}

/// Parsing limits and tolerance. The default is RFC 2347's and strict: requests at most 512
/// bytes, every field terminated, nothing after the last option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseConfig {
    /// Longest RRQ or WRQ accepted, in bytes.
    pub max_request_len: usize,
    /// Take the requests real clients send that a strict parser refuses, where what they mean
    /// is unambiguous (a server's choice; a client keeps this off):
    ///
    /// - the mode as the last bytes of the datagram without its NUL (`00 01 f 00 octet`);
    /// - after the mode, whatever follows the last whole `name NUL value NUL` pair whose name
    ///   is printable ASCII is ignored: padding NULs, a fixed-size request's leftover bytes (HP PA-RISC firmware sends 516
    ///   bytes, the rest of its buffer after `octet NUL`; busybox and dnsmasq took it in 2014
    ///   and 2025), an option cut short. The options before it stand.
    ///
    /// Still refused: a file name without its NUL (where would it end?), a request past
    /// `max_request_len`. [`Request::ignored_len`] tells what was left out.
    pub lenient_requests: bool,
}

impl Default for ParseConfig {
    fn default() -> Self {
        Self { max_request_len: DEFAULT_MAX_REQUEST_LEN, lenient_requests: false }
    }
}

impl ParseConfig {
    /// What a server takes: RFC 2347's limit, plus [`lenient_requests`](Self::lenient_requests)
    /// and the 516 bytes of a request sent from a DATA-sized buffer.
    pub const SERVER: Self = Self { max_request_len: 516, lenient_requests: true };
}

type NomResult<'a, T> = IResult<&'a [u8], T, ()>;

/// A NUL-terminated string field: the bytes before the NUL, and the rest after it.
fn nul_terminated(input: &[u8]) -> NomResult<'_, &[u8]> {
    terminated(take_till(|b| b == 0), tag(&b"\0"[..])).parse(input)
}

/// Reads one NUL-terminated field of `datagram` starting at `rest`, naming it on failure.
fn field<'a>(
    datagram: &'a [u8],
    rest: &'a [u8],
    which: Field,
) -> Result<(&'a [u8], &'a [u8]), Error> {
    nul_terminated(rest)
        .map(|(rest, value)| (value, rest))
        .map_err(|_| Error::MissingNul { field: which, offset: datagram.len() - rest.len() })
}

/// Checks that `region` is a sequence of `name NUL value NUL` pairs.
fn validate_options<'a>(datagram: &'a [u8], mut region: &'a [u8]) -> Result<(), Error> {
    while !region.is_empty() {
        let (_, rest) = field(datagram, region, Field::OptionName)?;
        let (_, rest) = field(datagram, rest, Field::OptionValue)?;
        region = rest;
    }
    Ok(())
}

fn parse_request<'a>(
    datagram: &'a [u8],
    body: &'a [u8],
    lenient: bool,
) -> Result<Request<'a>, Error> {
    let (filename, rest) = field(datagram, body, Field::Filename)?;
    if !lenient {
        let (mode, rest) = field(datagram, rest, Field::Mode)?;
        validate_options(datagram, rest)?;
        return Ok(Request { filename, mode, options: Options::from_wire(rest) });
    }
    let Ok((mode, rest)) = field(datagram, rest, Field::Mode) else {
        // The mode runs to the end of the datagram: its NUL is missing, nothing else.
        return Ok(Request { filename, mode: rest, options: Options::EMPTY });
    };
    Ok(Request { filename, mode, options: Options::from_wire(whole_pairs(rest)) })
}

/// The longest prefix of `region` made of whole `name NUL value NUL` pairs whose name is an
/// option name (printable ASCII, RFC 2347): past it, padding or a buffer's leftovers.
fn whole_pairs(region: &[u8]) -> &[u8] {
    let mut end = 0;
    let mut rest = region;
    while let Ok((after_name, name)) = nul_terminated(rest) {
        let Ok((after_value, _)) = nul_terminated(after_name) else { break };
        if name.is_empty() || !name.iter().all(u8::is_ascii_graphic) {
            break;
        }
        end = region.len() - after_value.len();
        rest = after_value;
    }
    &region[..end]
}

impl<'a> Packet<'a> {
    /// Parses a datagram with the default limits ([`ParseConfig::default`]).
    ///
    /// Strict: every string field must end with its NUL, nothing may follow the last field, an
    /// ACK is exactly 4 bytes, an OACK has at least one option, a request is at most 512 bytes.
    /// Never panics and never allocates.
    ///
    /// # Errors
    /// An [`Error`] naming the problem and its byte offset.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, Error> {
        Self::parse_with(datagram, &ParseConfig::default())
    }

    /// Parses a datagram with explicit limits.
    ///
    /// # Errors
    /// As [`Packet::parse`].
    pub fn parse_with(datagram: &'a [u8], config: &ParseConfig) -> Result<Self, Error> {
        // The fixed headers are read with slice patterns: DATA and ACK are the hot path of every
        // transfer, and a pattern compiles to a length check and two loads.
        let &[op_hi, op_lo, ref body @ ..] = datagram else {
            return Err(Error::Truncated { needed: 2, len: datagram.len() });
        };
        let opcode = u16::from_be_bytes([op_hi, op_lo]);
        let opcode = Opcode::from_u16(opcode).ok_or(Error::UnknownOpcode { opcode })?;
        let truncated = || Error::Truncated { needed: 4, len: datagram.len() };
        match opcode {
            Opcode::Data => {
                let &[hi, lo, ref data @ ..] = body else { return Err(truncated()) };
                Ok(Self::Data { block: u16::from_be_bytes([hi, lo]), data })
            }
            Opcode::Ack => {
                let &[hi, lo] = body else { return Err(Error::AckLength { len: datagram.len() }) };
                Ok(Self::Ack { block: u16::from_be_bytes([hi, lo]) })
            }
            Opcode::Rrq | Opcode::Wrq => {
                if datagram.len() > config.max_request_len {
                    return Err(Error::RequestTooLong {
                        len: datagram.len(),
                        limit: config.max_request_len,
                    });
                }
                let request = parse_request(datagram, body, config.lenient_requests)?;
                Ok(if opcode == Opcode::Rrq { Self::Rrq(request) } else { Self::Wrq(request) })
            }
            Opcode::Error => {
                let (rest, code) = be_u16::<_, ()>(body).map_err(|_| truncated())?;
                let (message, rest) = field(datagram, rest, Field::ErrorMessage)?;
                if !rest.is_empty() {
                    return Err(Error::TrailingBytes {
                        offset: datagram.len() - rest.len(),
                        count: rest.len(),
                    });
                }
                Ok(Self::Error { code: ErrorCode(code), message })
            }
            Opcode::Oack => {
                if body.is_empty() {
                    return Err(Error::EmptyOack);
                }
                validate_options(datagram, body)?;
                Ok(Self::Oack(Options::from_wire(body)))
            }
        }
    }

    /// The packet's opcode.
    #[must_use]
    pub const fn opcode(&self) -> Opcode {
        match self {
            Self::Rrq(_) => Opcode::Rrq,
            Self::Wrq(_) => Opcode::Wrq,
            Self::Data { .. } => Opcode::Data,
            Self::Ack { .. } => Opcode::Ack,
            Self::Error { .. } => Opcode::Error,
            Self::Oack(_) => Opcode::Oack,
        }
    }

    /// An ERROR packet with the RFC text for `code` as its message (empty for codes the RFCs do
    /// not define).
    #[must_use]
    pub fn error(code: ErrorCode) -> Packet<'static> {
        Packet::Error { code, message: code.rfc_text().unwrap_or("").as_bytes() }
    }

    /// Bytes the encoded packet takes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        2 + match self {
            Self::Rrq(request) | Self::Wrq(request) => request.encoded_body_len(),
            Self::Data { data, .. } => 2 + data.len(),
            Self::Ack { .. } => 2,
            Self::Error { message, .. } => 2 + message.len() + 1,
            Self::Oack(options) => options.encoded_len(),
        }
    }

    /// Checks that no string field holds a NUL, which would cut it short on the wire.
    fn check_fields(&self) -> Result<(), Error> {
        let check = |bytes: &[u8], field: Field| match bytes.iter().position(|&b| b == 0) {
            Some(index) => Err(Error::NulInField { field, index }),
            None => Ok(()),
        };
        let check_options = |options: &Options<'_>| {
            options.iter().try_for_each(|(name, value)| {
                check(name, Field::OptionName)?;
                check(value, Field::OptionValue)
            })
        };
        match self {
            Self::Rrq(request) | Self::Wrq(request) => {
                check(request.filename, Field::Filename)?;
                check(request.mode, Field::Mode)?;
                check_options(&request.options)
            }
            Self::Error { message, .. } => check(message, Field::ErrorMessage),
            Self::Oack(options) => check_options(options),
            Self::Data { .. } | Self::Ack { .. } => Ok(()),
        }
    }

    /// Encodes into a buffer that grows or has room (`BytesMut`, `Vec<u8>`, `&mut [u8]`),
    /// returning the number of bytes written.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] when `buf` has less room than [`Packet::encoded_len`] (nothing
    /// is written), [`Error::NulInField`] when a string field holds a NUL.
    pub fn encode<B: BufMut>(&self, buf: &mut B) -> Result<usize, Error> {
        self.check_fields()?;
        let needed = self.encoded_len();
        if buf.remaining_mut() < needed {
            return Err(Error::BufferTooSmall { needed, available: buf.remaining_mut() });
        }
        buf.put_u16(self.opcode() as u16);
        let put_options = |buf: &mut B, options: &Options<'_>| {
            for (name, value) in options.iter() {
                buf.put_slice(name);
                buf.put_u8(0);
                buf.put_slice(value);
                buf.put_u8(0);
            }
        };
        match self {
            Self::Rrq(request) | Self::Wrq(request) => {
                buf.put_slice(request.filename);
                buf.put_u8(0);
                buf.put_slice(request.mode);
                buf.put_u8(0);
                put_options(buf, &request.options);
            }
            Self::Data { block, data } => {
                buf.put_u16(*block);
                buf.put_slice(data);
            }
            Self::Ack { block } => buf.put_u16(*block),
            Self::Error { code, message } => {
                buf.put_u16(code.0);
                buf.put_slice(message);
                buf.put_u8(0);
            }
            Self::Oack(options) => put_options(buf, options),
        }
        Ok(needed)
    }

    /// Encodes into the start of `out`, returning the number of bytes written.
    ///
    /// # Errors
    /// As [`Packet::encode`].
    pub fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut cursor = out;
        self.encode(&mut cursor)
    }
}

impl fmt::Debug for Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rrq(request) => f.debug_tuple("Rrq").field(request).finish(),
            Self::Wrq(request) => f.debug_tuple("Wrq").field(request).finish(),
            Self::Data { block, data } => {
                f.debug_struct("Data").field("block", block).field("len", &data.len()).finish()
            }
            Self::Ack { block } => f.debug_struct("Ack").field("block", block).finish(),
            Self::Error { code, message } => f
                .debug_struct("Error")
                .field("code", code)
                .field("message", &crate::Lossy(message))
                .finish(),
            Self::Oack(options) => f.debug_tuple("Oack").field(options).finish(),
        }
    }
}
