//! TFTP error codes (RFC 1350 appendix, RFC 2347).

use core::fmt;

/// The error code carried by an ERROR packet.
///
/// An open newtype rather than an enum: peers invent codes (and some send codes above 8), and a
/// codec that turned them into "unknown" would lose what the peer said. The associated constants
/// are the codes the RFCs define.
///
/// ```
/// use cnfkit_tftp_wire::ErrorCode;
///
/// assert_eq!(ErrorCode::FILE_NOT_FOUND.rfc_text(), Some("File not found"));
/// assert_eq!(ErrorCode(42).rfc_text(), None);
/// assert_eq!(ErrorCode::OPTION_NEGOTIATION.to_string(), "8 (Option negotiation failed)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// 0: not defined, see the error message (RFC 1350).
    pub const NOT_DEFINED: Self = Self(0);
    /// 1: file not found (RFC 1350).
    pub const FILE_NOT_FOUND: Self = Self(1);
    /// 2: access violation (RFC 1350).
    pub const ACCESS_VIOLATION: Self = Self(2);
    /// 3: disk full or allocation exceeded (RFC 1350).
    pub const DISK_FULL: Self = Self(3);
    /// 4: illegal TFTP operation (RFC 1350).
    pub const ILLEGAL_OPERATION: Self = Self(4);
    /// 5: unknown transfer ID (RFC 1350).
    pub const UNKNOWN_TRANSFER_ID: Self = Self(5);
    /// 6: file already exists (RFC 1350).
    pub const FILE_EXISTS: Self = Self(6);
    /// 7: no such user (RFC 1350).
    pub const NO_SUCH_USER: Self = Self(7);
    /// 8: the transfer should be terminated due to option negotiation (RFC 2347).
    pub const OPTION_NEGOTIATION: Self = Self(8);

    /// The text the RFCs give for this code, or `None` for a code they do not define.
    ///
    /// Suitable as the message of an ERROR packet when there is nothing more specific to say.
    #[must_use]
    pub const fn rfc_text(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "Not defined, see error message",
            1 => "File not found",
            2 => "Access violation",
            3 => "Disk full or allocation exceeded",
            4 => "Illegal TFTP operation",
            5 => "Unknown transfer ID",
            6 => "File already exists",
            7 => "No such user",
            8 => "Option negotiation failed",
            _ => return None,
        })
    }
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rfc_text() {
            Some(text) => write!(f, "{} ({text})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}
