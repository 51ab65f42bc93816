use cnfkit_tftp_wire::{Error, Packet};

/// `packet`: parsing never panics; a packet that parses encodes back to the same bytes (the
/// codec only accepts canonical forms), and the encoding parses to an equal packet.
pub fn packet(data: &[u8]) {
    let Ok(packet) = Packet::parse(data) else { return };
    let mut encoded = Vec::with_capacity(data.len());
    let written = packet.encode(&mut encoded).expect("a parsed packet encodes");
    assert_eq!(written, packet.encoded_len(), "encode reports its length");
    assert_eq!(encoded, data, "encode(parse(x)) == x");
    assert_eq!(Packet::parse(&encoded).expect("re-parse"), packet);

    // The slice encoder agrees, and refuses a buffer one byte short without writing past it.
    let mut exact = vec![0u8; written];
    assert_eq!(packet.encode_to_slice(&mut exact), Ok(written));
    assert_eq!(exact, data);
    if written > 0 {
        let mut short = vec![0u8; written - 1];
        assert!(matches!(packet.encode_to_slice(&mut short), Err(Error::BufferTooSmall { .. })));
    }
}
