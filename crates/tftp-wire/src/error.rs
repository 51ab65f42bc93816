//! The crate's one error type.

/// Which NUL-terminated field of a packet a [`Error::MissingNul`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The filename of an RRQ or WRQ.
    Filename,
    /// The transfer mode of an RRQ or WRQ.
    Mode,
    /// An option name (RFC 2347).
    OptionName,
    /// An option value (RFC 2347).
    OptionValue,
    /// The message of an ERROR packet.
    ErrorMessage,
}

impl Field {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Filename => "filename",
            Self::Mode => "mode",
            Self::OptionName => "option name",
            Self::OptionValue => "option value",
            Self::ErrorMessage => "error message",
        }
    }
}

impl core::fmt::Display for Field {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong while parsing or encoding a packet.
///
/// Parse errors carry the byte offset in the datagram where the problem was found, so a log line
/// or a fuzz report points at the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram ends before the fixed part of its packet (opcode, block or error code).
    #[error("packet truncated: {len} bytes, at least {needed} needed")]
    Truncated {
        /// Bytes the fixed header needs.
        needed: usize,
        /// Bytes the datagram has.
        len: usize,
    },
    /// The opcode is not one of 1..=6.
    #[error("unknown opcode {opcode} at offset 0")]
    UnknownOpcode {
        /// The opcode found.
        opcode: u16,
    },
    /// A string field runs to the end of the datagram without its NUL terminator.
    #[error("{field} has no NUL terminator (field starts at offset {offset})")]
    MissingNul {
        /// The field.
        field: Field,
        /// Where the field starts.
        offset: usize,
    },
    /// An ACK that is not exactly 4 bytes (RFC 1350 section 5).
    #[error("ack is {len} bytes, must be exactly 4")]
    AckLength {
        /// Length of the datagram.
        len: usize,
    },
    /// Bytes follow the last field of the packet.
    #[error("{count} unexpected bytes after the last field at offset {offset}")]
    TrailingBytes {
        /// Where the unexpected bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// A request longer than the configured limit (512 bytes by default, RFC 2347).
    #[error("request is {len} bytes, limit is {limit}")]
    RequestTooLong {
        /// Length of the datagram.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// An OACK with no option at all (RFC 2347 sends plain DATA or ACK instead).
    #[error("oack carries no option at offset 2")]
    EmptyOack,
    /// The output buffer cannot hold the encoded packet.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A string field to encode contains a NUL byte, which would end it early on the wire.
    #[error("{field} to encode contains a NUL byte at index {index}")]
    NulInField {
        /// The field.
        field: Field,
        /// Index of the NUL inside the field.
        index: usize,
    },
}

impl Error {
    /// The byte offset in the datagram where a parse error was found, or `None` for encode
    /// errors.
    #[must_use]
    pub const fn offset(&self) -> Option<usize> {
        match *self {
            Self::Truncated { len, .. } => Some(len),
            Self::UnknownOpcode { .. } => Some(0),
            Self::MissingNul { offset, .. } | Self::TrailingBytes { offset, .. } => Some(offset),
            Self::AckLength { len } => Some(if len > 4 { 4 } else { len }),
            Self::RequestTooLong { limit, .. } => Some(limit),
            Self::EmptyOack => Some(2),
            Self::BufferTooSmall { .. } | Self::NulInField { .. } => None,
        }
    }
}
