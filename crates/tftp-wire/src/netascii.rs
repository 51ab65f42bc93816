//! netascii (RFC 1350 section 1, the Telnet NVT convention): streaming translation.
//!
//! On the wire a line ends with CR LF and a bare CR is sent as CR NUL. The sender maps the local
//! newline (LF) to CR LF and CR to CR NUL; the receiver maps back. Translation is streaming: a
//! pair may straddle two DATA blocks and a CR may be the last byte of a block, so both
//! translators keep the one byte of state this needs, and their output does not depend on how the
//! input is cut into chunks.
//!
//! ```
//! use cnfkit_tftp_wire::netascii;
//!
//! let file = b"line1\nline2\r\nbare\rcr\nend";
//! let wire = netascii::encode_to_vec(file);
//! // What tftpd-hpa and atftpd send for this file, see
//! // https://github.com/cnfkit/cnfkit/blob/main/docs/tftp.md#netascii
//! assert_eq!(wire, b"line1\r\nline2\r\0\r\nbare\r\0cr\r\nend");
//! assert_eq!(netascii::encoded_len(file), wire.len() as u64);
//! assert_eq!(netascii::decode_to_vec(&wire), file);
//! ```

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const NUL: u8 = 0;

/// Bytes `input` takes once encoded: one more for every CR and every LF. This is the `tsize` of
/// a file sent in netascii mode.
#[must_use]
pub fn encoded_len(input: &[u8]) -> u64 {
    let specials = input.iter().filter(|&&b| b == CR || b == LF).count();
    (input.len() + specials) as u64
}

/// Streaming local-to-netascii translator: LF becomes CR LF, CR becomes CR NUL.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    /// Second byte of a pair whose first byte filled the previous output.
    pending: Option<u8>,
}

impl Encoder {
    /// A fresh encoder.
    #[must_use]
    pub const fn new() -> Self {
        Self { pending: None }
    }

    /// Translates as much of `input` as fits into `output`; returns `(consumed, written)`.
    ///
    /// A pair cut by the end of `output` is completed at the start of the next call, so feeding
    /// the rest of the input (or an empty input) with a fresh output continues the stream.
    pub fn encode(&mut self, input: &[u8], output: &mut [u8]) -> (usize, usize) {
        let mut read = 0;
        let mut written = 0;
        if let Some(byte) = self.pending {
            let Some(slot) = output.first_mut() else { return (0, 0) };
            *slot = byte;
            written = 1;
            self.pending = None;
        }
        while read < input.len() && written < output.len() {
            // Copy the run of ordinary bytes in one go: that is most of any text file.
            let room = output.len() - written;
            let run_end = input[read..]
                .iter()
                .take(room)
                .position(|&b| b == CR || b == LF)
                .map_or(read + room.min(input.len() - read), |p| read + p);
            let run = run_end - read;
            output[written..written + run].copy_from_slice(&input[read..run_end]);
            read = run_end;
            written += run;
            if read == input.len() || written == output.len() {
                break;
            }
            let second = if input[read] == LF { LF } else { NUL };
            output[written] = CR;
            written += 1;
            read += 1;
            match output.get_mut(written) {
                Some(slot) => {
                    *slot = second;
                    written += 1;
                }
                None => self.pending = Some(second),
            }
        }
        (read, written)
    }

    /// Whether a byte is still waiting for room in the output.
    #[must_use]
    pub const fn has_pending(&self) -> bool {
        self.pending.is_some()
    }
}

/// Streaming netascii-to-local translator: CR LF becomes LF, CR NUL becomes CR.
///
/// A CR followed by any other byte is not valid netascii; it is kept as CR followed by that byte
/// (lenient, like tftp-hpa's client) rather than failing a transfer over one stray byte.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    /// The previous chunk ended with a CR whose meaning depends on the next byte.
    saw_cr: bool,
}

impl Decoder {
    /// A fresh decoder.
    #[must_use]
    pub const fn new() -> Self {
        Self { saw_cr: false }
    }

    /// Translates as much of `input` as fits into `output`; returns `(consumed, written)`.
    pub fn decode(&mut self, input: &[u8], output: &mut [u8]) -> (usize, usize) {
        let mut read = 0;
        let mut written = 0;
        while written < output.len() {
            if self.saw_cr {
                let Some(&next) = input.get(read) else { break };
                self.saw_cr = false;
                match next {
                    LF => {
                        output[written] = LF;
                        read += 1;
                    }
                    NUL => {
                        output[written] = CR;
                        read += 1;
                    }
                    // A stray CR: keep it, and look at `next` again as an ordinary byte.
                    _ => output[written] = CR,
                }
                written += 1;
                continue;
            }
            if read == input.len() {
                break;
            }
            let room = output.len() - written;
            let run = input[read..].iter().take(room).position(|&b| b == CR);
            let run_len = run.unwrap_or_else(|| room.min(input.len() - read));
            output[written..written + run_len].copy_from_slice(&input[read..read + run_len]);
            read += run_len;
            written += run_len;
            if run.is_some() {
                self.saw_cr = true;
                read += 1;
            }
        }
        (read, written)
    }

    /// Ends the stream: a CR left dangling by the last chunk is returned as a literal CR (the
    /// sender cut a pair; keeping the byte loses nothing).
    pub fn finish(&mut self) -> Option<u8> {
        core::mem::take(&mut self.saw_cr).then_some(CR)
    }
}

/// Encodes a whole buffer.
#[cfg(feature = "alloc")]
#[must_use]
pub fn encode_to_vec(input: &[u8]) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec![0; usize::try_from(encoded_len(input)).unwrap_or(usize::MAX)];
    let (_, written) = Encoder::new().encode(input, &mut out);
    out.truncate(written);
    out
}

/// Decodes a whole buffer.
#[cfg(feature = "alloc")]
#[must_use]
pub fn decode_to_vec(input: &[u8]) -> alloc::vec::Vec<u8> {
    // Decoding never grows the data, except by the CR that `finish` may return.
    let mut out = alloc::vec![0; input.len()];
    let mut decoder = Decoder::new();
    let (_, written) = decoder.decode(input, &mut out);
    out.truncate(written);
    out.extend(decoder.finish());
    out
}
