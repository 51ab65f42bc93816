//! Option negotiation (RFC 2347): strict parsing, lenient answers.
//!
//! The server's rules, each pinned by a test of the negotiation table in docs/tftp.md:
//! - unknown options are left out of the OACK, never an error;
//! - `blksize` and `windowsize` above the policy are clamped down; `blksize` above 65464 is read
//!   as "the largest you have"; below 8, or not a number, it is left out;
//! - `timeout` outside 1..=255 is left out (RFC 2349: the server accepts it exactly or not at all);
//! - `tsize` in a read request is answered with the size (netascii: the translated size); in a
//!   write request it is echoed, or refused with ERROR 3 above the policy's limit;
//! - duplicates: the first occurrence counts;
//! - names go back lowercase; nothing the client did not ask for is ever added;
//! - when nothing is left, no OACK at all: plain DATA 1 (read) or ACK 0 (write).

use std::time::Duration;

use cnfkit_tftp_wire::{BadValue, Options};

use crate::Policy;

/// What a transfer runs with after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Data bytes per block (512 without the option).
    pub blksize: u16,
    /// Blocks per window (1 without the option: RFC 1350 lockstep).
    pub windowsize: u16,
    /// The timeout agreed with the peer, if any (else the policy's initial timeout applies).
    pub timeout: Option<Duration>,
    /// The transfer size announced in the OACK, if any.
    pub tsize: Option<u64>,
    /// Whether an OACK is sent (some option survived).
    pub oack: bool,
}

impl Default for Negotiated {
    fn default() -> Self {
        Self { blksize: 512, windowsize: 1, timeout: None, tsize: None, oack: false }
    }
}

/// The OACK's pairs, owned (values are formatted numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OackPairs(pub(crate) Vec<(&'static str, String)>);

/// What the server answers to a request's options.
pub(crate) enum Answer {
    Accept(Negotiated, OackPairs),
    /// A write larger than the policy allows: ERROR 3.
    TooLarge,
}

/// Negotiates a request's options. `size` is the size of what a read will send (already
/// translated for netascii), `None` for a write or when unknown.
pub(crate) fn negotiate(
    options: &Options<'_>,
    is_write: bool,
    size: Option<u64>,
    policy: &Policy,
) -> Answer {
    let typed = options.typed();
    let mut negotiated = Negotiated::default();
    let mut pairs = Vec::new();
    // Answer in the order the client asked, lowercase names.
    // The options answered so far: a duplicate is answered once. A list, not an array indexed
    // by the option: `KnownOption` is non-exhaustive, and an option added to the codec later
    // must not panic the engine.
    let mut seen: Vec<cnfkit_tftp_wire::KnownOption> = Vec::with_capacity(5);
    for (name, _) in options.iter() {
        let Some(known) = cnfkit_tftp_wire::KnownOption::from_name(name) else { continue };
        if seen.contains(&known) {
            continue;
        }
        seen.push(known);
        match known {
            cnfkit_tftp_wire::KnownOption::Blksize => {
                let granted = match typed.blksize {
                    Some(Ok(v)) => Some(v.min(policy.max_blksize)),
                    Some(Err(BadValue::OutOfRange { value })) if value > 65464 => {
                        Some(policy.max_blksize)
                    }
                    Some(Err(BadValue::TooLarge)) => Some(policy.max_blksize),
                    _ => None,
                };
                if let Some(blksize) = granted.filter(|&b| b >= 8) {
                    negotiated.blksize = blksize;
                    pairs.push(("blksize", blksize.to_string()));
                }
            }
            cnfkit_tftp_wire::KnownOption::Timeout => {
                if let Some(Ok(seconds)) = typed.timeout
                    && seconds <= policy.max_negotiated_timeout
                {
                    negotiated.timeout = Some(Duration::from_secs(u64::from(seconds)));
                    pairs.push(("timeout", seconds.to_string()));
                }
            }
            cnfkit_tftp_wire::KnownOption::Tsize => match (typed.tsize, is_write) {
                (Some(Ok(announced)), true) => {
                    if policy.max_write_bytes.is_some_and(|max| announced > max) {
                        return Answer::TooLarge;
                    }
                    negotiated.tsize = Some(announced);
                    pairs.push(("tsize", announced.to_string()));
                }
                // RFC 2349: a read request carries 0; any number asks for the size.
                (Some(Ok(_)), false) => {
                    if let Some(size) = size {
                        negotiated.tsize = Some(size);
                        pairs.push(("tsize", size.to_string()));
                    }
                }
                _ => {}
            },
            cnfkit_tftp_wire::KnownOption::Windowsize => {
                let granted = match typed.windowsize {
                    Some(Ok(v)) => Some(v.min(policy.max_windowsize)),
                    _ => None,
                };
                if let Some(windowsize) = granted.filter(|&w| w >= 1) {
                    negotiated.windowsize = windowsize;
                    pairs.push(("windowsize", windowsize.to_string()));
                }
            }
            // tftp-hpa's rollover option is not granted: the policy decides the block number
            // after 65535, and a client that needs another can still read it from the blocks.
            _ => {}
        }
    }
    // Cap the window in bytes; say so in the OACK, which only ever lowers what was asked.
    let cap = (policy.max_window_bytes / u32::from(negotiated.blksize)).max(1);
    if u32::from(negotiated.windowsize) > cap {
        negotiated.windowsize = u16::try_from(cap).unwrap_or(u16::MAX);
        if let Some(pair) = pairs.iter_mut().find(|(n, _)| *n == "windowsize") {
            pair.1 = negotiated.windowsize.to_string();
        }
    }
    negotiated.oack = !pairs.is_empty();
    Answer::Accept(negotiated, OackPairs(pairs))
}
