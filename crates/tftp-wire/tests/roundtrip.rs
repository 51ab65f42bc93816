//! Round trips: for every packet the codec accepts, `encode(parse(x)) == x`, and every packet
//! built from valid parts parses back to itself.

use cnfkit_tftp_wire::{Error, ErrorCode, Field, Options, Packet, Request};
use proptest::prelude::*;

/// A NUL-free string field, as filenames, modes, option names and values are on the wire.
fn field(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..max)
}

fn pairs(max: usize) -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::collection::vec((field(12), field(12)), 0..max)
}

fn borrow(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<(&[u8], &[u8])> {
    pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect()
}

/// Encodes, checks the length, parses back, compares, and re-encodes to the same bytes.
fn assert_round_trip(packet: &Packet<'_>) {
    let mut bytes = Vec::new();
    let written = packet.encode(&mut bytes).expect("encode");
    assert_eq!(written, bytes.len());
    assert_eq!(written, packet.encoded_len());
    let parsed = Packet::parse(&bytes).expect("parse what we encoded");
    assert_eq!(&parsed, packet);
    let mut again = vec![0u8; written];
    assert_eq!(parsed.encode_to_slice(&mut again), Ok(written));
    assert_eq!(again, bytes);
}

proptest! {
    #[test]
    fn rrq_and_wrq_round_trip(filename in field(200), mode in field(10), options in pairs(12), write: bool) {
        let options = borrow(&options);
        let request = Request { filename: &filename, mode: &mode, options: Options::from_pairs(&options) };
        let packet = if write { Packet::Wrq(request) } else { Packet::Rrq(request) };
        prop_assume!(packet.encoded_len() <= 512);
        assert_round_trip(&packet);
    }

    #[test]
    fn data_round_trips(block: u16, data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        assert_round_trip(&Packet::Data { block, data: &data });
    }

    #[test]
    fn ack_round_trips(block: u16) {
        assert_round_trip(&Packet::Ack { block });
    }

    #[test]
    fn error_round_trips(code: u16, message in field(100)) {
        assert_round_trip(&Packet::Error { code: ErrorCode(code), message: &message });
    }

    #[test]
    fn oack_round_trips(options in pairs(12)) {
        prop_assume!(!options.is_empty());
        let options = borrow(&options);
        assert_round_trip(&Packet::Oack(Options::from_pairs(&options)));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_accepted_ones_are_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(packet) = Packet::parse(&bytes) {
            let mut out = Vec::new();
            packet.encode(&mut out).unwrap();
            prop_assert_eq!(out, bytes);
        }
    }
}

#[test]
fn encode_refuses_a_short_buffer_and_writes_nothing() {
    let mut buf = [0xeeu8; 5];
    assert_eq!(
        Packet::Data { block: 1, data: b"abcd" }.encode_to_slice(&mut buf),
        Err(Error::BufferTooSmall { needed: 8, available: 5 })
    );
    assert_eq!(buf, [0xee; 5]);
}

#[test]
fn encode_refuses_a_nul_inside_a_string_field() {
    let request = Request { filename: b"a\0b", mode: b"octet", options: Options::EMPTY };
    assert_eq!(
        Packet::Rrq(request).encode(&mut Vec::new()),
        Err(Error::NulInField { field: Field::Filename, index: 1 })
    );
    let pairs: &[(&[u8], &[u8])] = &[(b"tsize", b"1\0")];
    assert_eq!(
        Packet::Oack(Options::from_pairs(pairs)).encode(&mut Vec::new()),
        Err(Error::NulInField { field: Field::OptionValue, index: 1 })
    );
}

#[test]
fn error_helper_uses_the_rfc_text() {
    let mut buf = Vec::new();
    Packet::error(ErrorCode::FILE_NOT_FOUND).encode(&mut buf).unwrap();
    assert_eq!(buf, b"\x00\x05\x00\x01File not found\x00");
}

#[test]
fn encode_appends_to_a_bytes_mut() {
    let mut buf = bytes::BytesMut::new();
    Packet::Ack { block: 1 }.encode(&mut buf).unwrap();
    Packet::Ack { block: 2 }.encode(&mut buf).unwrap();
    assert_eq!(&buf[..], b"\x00\x04\x00\x01\x00\x04\x00\x02");
}
