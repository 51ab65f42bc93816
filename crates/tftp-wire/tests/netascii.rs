//! netascii (RFC 1350 section 1): LF <-> CR LF, CR <-> CR NUL, chunk-boundary independent.

use cnfkit_tftp_wire::netascii::{self, Decoder, Encoder};
use proptest::prelude::*;

/// The wire bytes tftpd-hpa, atftpd and fbtftp send (docs/tftp.md, netascii).
#[test]
fn encodes_like_tftpd_hpa_and_atftpd() {
    let file = b"line1\nline2\r\nbare\rcr\nend";
    assert_eq!(netascii::encode_to_vec(file), b"line1\r\nline2\r\0\r\nbare\r\0cr\r\nend");
    assert_eq!(netascii::encoded_len(file), 29);
}

#[test]
fn a_cr_at_the_end_of_a_block_waits_for_the_next() {
    let mut decoder = Decoder::new();
    let mut out = [0u8; 8];
    // The sender's "a\r\0b" split after the CR, as a block boundary can split it.
    assert_eq!(decoder.decode(b"a\r", &mut out), (2, 1));
    assert_eq!(&out[..1], b"a");
    assert_eq!(decoder.decode(b"\0b", &mut out), (2, 2));
    assert_eq!(&out[..2], b"\rb");
    assert_eq!(decoder.finish(), None);
}

#[test]
fn a_pair_cut_by_a_full_output_completes_on_the_next_call() {
    let mut encoder = Encoder::new();
    let mut out = [0u8; 2];
    assert_eq!(encoder.encode(b"a\nb", &mut out), (2, 2));
    assert_eq!(&out, b"a\r");
    assert!(encoder.has_pending());
    assert_eq!(encoder.encode(b"b", &mut out), (1, 2));
    assert_eq!(&out, b"\nb");
    assert!(!encoder.has_pending());
}

#[test]
fn a_stray_cr_is_kept_and_a_dangling_cr_is_returned_by_finish() {
    assert_eq!(netascii::decode_to_vec(b"a\rb"), b"a\rb");
    assert_eq!(netascii::decode_to_vec(b"a\r\r\n"), b"a\r\n");
    assert_eq!(netascii::decode_to_vec(b"end\r"), b"end\r");
}

#[test]
fn an_empty_output_makes_no_progress_and_loses_nothing() {
    let mut encoder = Encoder::new();
    assert_eq!(encoder.encode(b"\n", &mut []), (0, 0));
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(b"\r\n", &mut []), (0, 0));
}

fn chunked_encode(input: &[u8], in_chunk: usize, out_chunk: usize) -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut wire = Vec::new();
    let mut rest = input;
    loop {
        let mut out = vec![0u8; out_chunk];
        let (read, written) = encoder.encode(&rest[..in_chunk.min(rest.len())], &mut out);
        rest = &rest[read..];
        wire.extend_from_slice(&out[..written]);
        if rest.is_empty() && !encoder.has_pending() {
            return wire;
        }
    }
}

fn chunked_decode(input: &[u8], in_chunk: usize, out_chunk: usize) -> Vec<u8> {
    let mut decoder = Decoder::new();
    let mut file = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let mut out = vec![0u8; out_chunk];
        let (read, written) = decoder.decode(&rest[..in_chunk.min(rest.len())], &mut out);
        rest = &rest[read..];
        file.extend_from_slice(&out[..written]);
    }
    file.extend(decoder.finish());
    file
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..400)
}

proptest! {
    #[test]
    fn decode_inverts_encode_for_any_chunking(file in text(), a in 1usize..20, b in 1usize..20, c in 1usize..20, d in 1usize..20) {
        let wire = chunked_encode(&file, a, b);
        prop_assert_eq!(&wire, &netascii::encode_to_vec(&file));
        prop_assert_eq!(wire.len() as u64, netascii::encoded_len(&file));
        prop_assert_eq!(chunked_decode(&wire, c, d), file);
    }

    #[test]
    fn decoding_any_bytes_is_chunking_independent(bytes in text(), c in 1usize..20, d in 1usize..20) {
        prop_assert_eq!(chunked_decode(&bytes, c, d), netascii::decode_to_vec(&bytes));
    }
}
