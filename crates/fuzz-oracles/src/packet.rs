use cnfkit_tftp_wire::{Error, Packet};

/// `packet`: parsing never panics; a packet that parses encodes back to the same bytes (the
/// codec only accepts canonical forms), and the encoding parses to an equal packet.
pub fn packet(data: &[u8]) {
    lenient(data);
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

/// A server's lenient parse agrees with the strict one wherever that one succeeds (the same
/// packet, or for a request the same name and mode with the strict options' first pairs: it
/// stops at padding the strict codec reads as empty pairs), and what it takes re-encodes to a well-formed request of the same meaning, shorter than the datagram by
/// exactly what it says it ignored (one byte more for a mode whose NUL it supplied).
fn lenient(data: &[u8]) {
    let server = cnfkit_tftp_wire::ParseConfig::SERVER;
    let Ok(taken) = Packet::parse_with(data, &server) else { return };
    match (Packet::parse(data), taken) {
        (
            Ok(Packet::Rrq(strict) | Packet::Wrq(strict)),
            Packet::Rrq(lenient) | Packet::Wrq(lenient),
        ) => {
            assert_eq!((lenient.filename, lenient.mode), (strict.filename, strict.mode));
            let kept: Vec<_> = lenient.options.iter().collect();
            let first: Vec<_> = strict.options.iter().take(kept.len()).collect();
            assert_eq!(kept, first, "the lenient options are the strict ones' first pairs");
        }
        (Ok(strict), taken) => assert_eq!(taken, strict, "lenient and strict differ"),
        (Err(_), _) => {}
    }
    let (Packet::Rrq(request) | Packet::Wrq(request)) = taken else { return };
    let mut encoded = Vec::new();
    taken.encode(&mut encoded).expect("a taken request encodes");
    let again = Packet::parse_with(
        &encoded,
        &cnfkit_tftp_wire::ParseConfig {
            max_request_len: usize::MAX,
            ..cnfkit_tftp_wire::ParseConfig::default()
        },
    )
    .expect("strict re-parse of a taken request");
    assert_eq!(again, taken);
    let ignored = request.ignored_len(data);
    assert!(encoded.len() + ignored == data.len() || encoded.len() == data.len() + 1);
}
