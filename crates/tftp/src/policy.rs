//! The server's and client's limits and defaults.

use std::time::Duration;

/// The block number that follows 65535 (RFC 1350 leaves it undefined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rollover {
    /// 65535 -> 0: tftp-hpa, dnsmasq, atftp, curl, U-Boot ([block-number
    /// rollover](https://github.com/cnfkit/cnfkit/blob/main/docs/tftp.md#block-number-rollover)).
    #[default]
    ToZero,
    /// 65535 -> 1: some embedded stacks.
    ToOne,
}

impl Rollover {
    /// The wire block number of the block at `index` (1-based; 0 is the OACK's ACK).
    #[must_use]
    pub fn wire(self, index: u64) -> u16 {
        let wire = match self {
            Self::ToZero => index % 0x1_0000,
            Self::ToOne if index <= 0xffff => index,
            Self::ToOne => (index - 0x1_0000) % 0xffff + 1,
        };
        u16::try_from(wire).unwrap_or_default()
    }
}

/// Limits and defaults for transfers.
///
/// The defaults suit a provisioning server on a LAN: blocks up to 65464 bytes, windows up to 64
/// blocks and 64 KiB, a 1 s initial timeout doubling to 8 s, 5 retries (tftp-hpa: 1 s doubling,
/// 6 tries).
///
/// Why 64 KiB of window: the peer's receive buffer is what a window must fit in, and a client's
/// is usually the system default (212992 bytes on Linux, counted with per-datagram overhead).
/// A larger window overruns it and every window loses its tail: atftpd stalls for minutes at
/// 8192 x 16 on loopback for this reason ([windows and socket
/// buffers](https://github.com/cnfkit/cnfkit/blob/main/docs/tftp.md#windows-and-socket-buffers)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Largest `blksize` granted; larger requests are clamped down to it (RFC 2348).
    pub max_blksize: u16,
    /// Largest `windowsize` granted; larger requests are clamped down (RFC 7440).
    pub max_windowsize: u16,
    /// Cap on `blksize x windowsize`: a window that overruns the socket buffers stalls the
    /// transfer (atftpd at 8192 x 16 on loopback; see [windows and socket
    /// buffers](https://github.com/cnfkit/cnfkit/blob/main/docs/tftp.md#windows-and-socket-buffers)).
    pub max_window_bytes: u32,
    /// Timeout before the first retransmission when the peer negotiated none.
    pub initial_timeout: Duration,
    /// Ceiling of the exponential backoff.
    pub max_timeout: Duration,
    /// Largest `timeout` (seconds) granted to a client (RFC 2349); a larger one is left out of
    /// the OACK, as the RFC allows, and the server keeps its own timing. A client asking for
    /// 255 s would otherwise hold a transfer slot for minutes after it went silent.
    pub max_negotiated_timeout: u8,
    /// Retransmissions of the same datagram before the transfer fails.
    pub max_retries: u32,
    /// The block number after 65535.
    pub rollover: Rollover,
    /// How long the side that sent the final ACK stays to re-ACK a repeated last DATA
    /// (RFC 1350 section 6).
    pub dally: Duration,
    /// Largest file served in netascii mode: it is translated whole, in memory, so that `tsize`
    /// is exact and retransmissions replay the same bytes.
    pub max_netascii_bytes: u64,
    /// Largest file accepted by a write (`None`: no limit); larger answers ERROR 3.
    pub max_write_bytes: Option<u64>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_blksize: 65464,
            max_windowsize: 64,
            max_window_bytes: 64 << 10,
            initial_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(8),
            max_retries: 5,
            rollover: Rollover::ToZero,
            dally: Duration::from_secs(5),
            max_netascii_bytes: 8 << 20,
            max_write_bytes: None,
            max_negotiated_timeout: 5,
        }
    }
}
