//! Parsing: what the codec accepts, what it refuses, and where it says the problem is.

use cnfkit_tftp_wire::{
    BadValue, DEFAULT_MAX_REQUEST_LEN, Error, ErrorCode, Field, Mode, Opcode, Options, Packet,
    ParseConfig, Request,
};

fn request(packet: Packet<'_>) -> Request<'_> {
    match packet {
        Packet::Rrq(r) | Packet::Wrq(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn rrq_without_options_rfc1350_section_5() {
    let packet = Packet::parse(b"\x00\x01XMLDefault.cnf.xml\x00octet\x00").unwrap();
    let r = request(packet);
    assert_eq!(packet.opcode(), Opcode::Rrq);
    assert_eq!(r.filename, b"XMLDefault.cnf.xml");
    assert_eq!(r.transfer_mode(), Some(Mode::Octet));
    assert!(r.options.is_empty());
}

#[test]
fn wrq_with_options_rfc2347() {
    let packet = Packet::parse(b"\x00\x02up.bin\x00octet\x00tsize\x00123\x00").unwrap();
    assert!(matches!(packet, Packet::Wrq(_)));
    assert_eq!(request(packet).options.typed().tsize, Some(Ok(123)));
}

#[test]
fn mode_compares_case_insensitively_rfc1350_section_5() {
    let r = request(Packet::parse(b"\x00\x01f\x00NetASCII\x00").unwrap());
    assert_eq!(r.mode, b"NetASCII", "the mode is kept as sent");
    assert_eq!(r.transfer_mode(), Some(Mode::Netascii));
    let r = request(Packet::parse(b"\x00\x01f\x00MAIL\x00").unwrap());
    assert_eq!(r.transfer_mode(), Some(Mode::Mail));
    let r = request(Packet::parse(b"\x00\x01f\x00binary\x00").unwrap());
    assert_eq!(r.transfer_mode(), None, "an unknown mode parses; the server refuses it");
}

#[test]
fn filenames_are_bytes_not_utf8() {
    let r = request(Packet::parse(b"\x00\x01caf\xe9\xff.bin\x00octet\x00").unwrap());
    assert_eq!(r.filename, b"caf\xe9\xff.bin");
}

#[test]
fn empty_filename_parses_and_is_left_to_the_server() {
    let r = request(Packet::parse(b"\x00\x01\x00octet\x00").unwrap());
    assert_eq!(r.filename, b"");
}

#[test]
fn data_borrows_its_payload() {
    let datagram = b"\x00\x03\x12\x34hello";
    let Packet::Data { block, data } = Packet::parse(datagram).unwrap() else { panic!() };
    assert_eq!(block, 0x1234);
    assert_eq!(data, b"hello");
    assert!(core::ptr::eq(data.as_ptr(), datagram[4..].as_ptr()), "zero-copy");
}

#[test]
fn empty_data_ends_a_transfer_that_is_a_multiple_of_blksize_rfc1350_section_6() {
    assert_eq!(Packet::parse(b"\x00\x03\x00\x09").unwrap(), Packet::Data { block: 9, data: b"" });
}

#[test]
fn error_and_oack_parse() {
    assert_eq!(
        Packet::parse(b"\x00\x05\x00\x08\x00").unwrap(),
        Packet::Error { code: ErrorCode::OPTION_NEGOTIATION, message: b"" }
    );
    let Packet::Oack(options) = Packet::parse(b"\x00\x06blksize\x001468\x00").unwrap() else {
        panic!()
    };
    assert_eq!(options.typed().blksize, Some(Ok(1468)));
}

#[test]
fn truncated_headers_are_refused_with_their_length() {
    assert_eq!(Packet::parse(b""), Err(Error::Truncated { needed: 2, len: 0 }));
    assert_eq!(Packet::parse(b"\x00"), Err(Error::Truncated { needed: 2, len: 1 }));
    assert_eq!(Packet::parse(b"\x00\x03\x00"), Err(Error::Truncated { needed: 4, len: 3 }));
    // ERROR of 2..=4 bytes: docs/tftp.md, hostile input.
    assert_eq!(Packet::parse(b"\x00\x05"), Err(Error::Truncated { needed: 4, len: 2 }));
    assert_eq!(Packet::parse(b"\x00\x05\x00"), Err(Error::Truncated { needed: 4, len: 3 }));
    assert_eq!(
        Packet::parse(b"\x00\x05\x00\x01"),
        Err(Error::MissingNul { field: Field::ErrorMessage, offset: 4 })
    );
}

#[test]
fn unknown_opcodes_are_refused_at_offset_0() {
    for opcode in [0u16, 7, 0x0100, 0xffff] {
        let [hi, lo] = opcode.to_be_bytes();
        let datagram = [hi, lo, 0, 0];
        let err = Packet::parse(&datagram).unwrap_err();
        assert_eq!(err, Error::UnknownOpcode { opcode });
        assert_eq!(err.offset(), Some(0));
    }
}

#[test]
fn ack_must_be_exactly_4_bytes_rfc1350_section_5() {
    assert_eq!(Packet::parse(b"\x00\x04\x00\x01").unwrap(), Packet::Ack { block: 1 });
    let long = Packet::parse(b"\x00\x04\x00\x01\x00").unwrap_err();
    assert_eq!(long, Error::AckLength { len: 5 });
    assert_eq!(long.offset(), Some(4));
    assert_eq!(Packet::parse(b"\x00\x04\x00"), Err(Error::AckLength { len: 3 }));
}

#[test]
fn missing_nul_names_the_field_and_where_it_starts() {
    assert_eq!(
        Packet::parse(b"\x00\x01file"),
        Err(Error::MissingNul { field: Field::Filename, offset: 2 })
    );
    assert_eq!(
        Packet::parse(b"\x00\x01file\x00octet"),
        Err(Error::MissingNul { field: Field::Mode, offset: 7 })
    );
    assert_eq!(
        Packet::parse(b"\x00\x01f\x00octet\x00blksize"),
        Err(Error::MissingNul { field: Field::OptionName, offset: 10 })
    );
    assert_eq!(
        Packet::parse(b"\x00\x01f\x00octet\x00blksize\x00"),
        Err(Error::MissingNul { field: Field::OptionValue, offset: 18 })
    );
    assert_eq!(
        Packet::parse(b"\x00\x06tsize\x0042"),
        Err(Error::MissingNul { field: Field::OptionValue, offset: 8 })
    );
}

#[test]
fn bytes_after_an_error_message_are_refused() {
    assert_eq!(
        Packet::parse(b"\x00\x05\x00\x01nope\x00xx"),
        Err(Error::TrailingBytes { offset: 9, count: 2 })
    );
}

#[test]
fn trailing_nul_padding_after_a_request_is_an_unterminated_option() {
    // "name NUL" with no value: some stacks pad requests with NULs; the codec reports it and the
    // engine may choose to retry leniently.
    assert_eq!(
        Packet::parse(b"\x00\x01f\x00octet\x00\x00"),
        Err(Error::MissingNul { field: Field::OptionValue, offset: 11 })
    );
}

#[test]
fn requests_over_512_bytes_are_refused_rfc2347() {
    let mut datagram = b"\x00\x01".to_vec();
    datagram.extend(std::iter::repeat_n(b'a', DEFAULT_MAX_REQUEST_LEN - 2 - 7));
    datagram.extend(b"\x00octet\x00");
    assert_eq!(datagram.len(), DEFAULT_MAX_REQUEST_LEN);
    assert!(Packet::parse(&datagram).is_ok(), "exactly 512 bytes is allowed");

    datagram.insert(2, b'a');
    let err = Packet::parse(&datagram).unwrap_err();
    assert_eq!(err, Error::RequestTooLong { len: 513, limit: 512 });
    assert_eq!(err.offset(), Some(512));

    let relaxed = ParseConfig { max_request_len: 1024, ..ParseConfig::default() };
    assert!(Packet::parse_with(&datagram, &relaxed).is_ok(), "the limit is configurable");
}

#[test]
fn the_size_limit_applies_to_requests_only() {
    let mut datagram = b"\x00\x03\x00\x01".to_vec();
    datagram.resize(65468, 0xaa);
    let Packet::Data { data, .. } = Packet::parse(&datagram).unwrap() else { panic!() };
    assert_eq!(data.len(), 65464);
}

#[test]
fn empty_oack_is_refused_rfc2347() {
    let err = Packet::parse(b"\x00\x06").unwrap_err();
    assert_eq!(err, Error::EmptyOack);
    assert_eq!(err.offset(), Some(2));
}

#[test]
fn option_pairs_keep_wire_order_and_case() {
    let r = request(
        Packet::parse(b"\x00\x01f\x00octet\x00TSize\x000\x00blksize\x001468\x00x-v\x00\x00")
            .unwrap(),
    );
    let pairs: Vec<(&[u8], &[u8])> = r.options.iter().collect();
    assert_eq!(pairs, [(&b"TSize"[..], &b"0"[..]), (b"blksize", b"1468"), (b"x-v", b"")]);
    assert_eq!(r.options.len(), 3);
    assert_eq!(r.options.get(b"tsize"), Some(&b"0"[..]));
}

#[test]
fn wire_and_built_options_compare_by_content() {
    let Packet::Oack(wire) = Packet::parse(b"\x00\x06tsize\x0042\x00").unwrap() else { panic!() };
    let pairs: &[(&[u8], &[u8])] = &[(b"tsize", b"42")];
    assert_eq!(wire, Options::from_pairs(pairs));
    let other: &[(&[u8], &[u8])] = &[(b"tsize", b"43")];
    assert_ne!(wire, Options::from_pairs(other));
}

/// docs/tftp.md, hostile input: the hostile option values a server meets.
#[test]
fn typed_view_reports_each_hostile_value_without_judging_it() {
    let typed = |pairs: &[(&[u8], &[u8])]| Options::from_pairs(pairs).typed();
    assert_eq!(typed(&[(b"blksize", b"7")]).blksize, Some(Err(BadValue::OutOfRange { value: 7 })));
    assert_eq!(typed(&[(b"blksize", b"8")]).blksize, Some(Ok(8)));
    assert_eq!(typed(&[(b"blksize", b"65464")]).blksize, Some(Ok(65464)));
    assert_eq!(
        typed(&[(b"blksize", b"70000")]).blksize,
        Some(Err(BadValue::OutOfRange { value: 70000 }))
    );
    assert_eq!(typed(&[(b"timeout", b"0")]).timeout, Some(Err(BadValue::OutOfRange { value: 0 })));
    assert_eq!(
        typed(&[(b"timeout", b"256")]).timeout,
        Some(Err(BadValue::OutOfRange { value: 256 }))
    );
    assert_eq!(typed(&[(b"tsize", b"enable")]).tsize, Some(Err(BadValue::NotANumber)));
    assert_eq!(
        typed(&[(b"windowsize", b"0")]).windowsize,
        Some(Err(BadValue::OutOfRange { value: 0 }))
    );
    assert_eq!(
        typed(&[(b"windowsize", b"65536")]).windowsize,
        Some(Err(BadValue::OutOfRange { value: 65536 }))
    );
    assert_eq!(typed(&[(b"rollover", b"1")]).rollover, Some(Ok(1)));
    assert_eq!(
        typed(&[(b"rollover", b"2")]).rollover,
        Some(Err(BadValue::OutOfRange { value: 2 }))
    );
    for bad in [&b""[..], b" 512", b"+512", b"-1", b"0x200", b"512 "] {
        assert_eq!(typed(&[(b"blksize", bad)]).blksize, Some(Err(BadValue::NotANumber)));
    }
    assert_eq!(
        typed(&[(b"tsize", b"99999999999999999999999")]).tsize,
        Some(Err(BadValue::TooLarge)),
        "a number past u64 is out of range, never wrapped"
    );
    assert_eq!(typed(&[(b"tsize", b"18446744073709551615")]).tsize, Some(Ok(u64::MAX)));
}

#[test]
fn option_names_compare_case_insensitively_and_duplicates_are_counted_rfc2347() {
    let pairs: &[(&[u8], &[u8])] = &[
        (b"BLKSIZE", b"1468"),
        (b"blksize", b"512"),
        (b"foo", b"1"),
        (b"FOO", b"2"),
        (b"bar", b"3"),
    ];
    let typed = Options::from_pairs(pairs).typed();
    assert_eq!(typed.blksize, Some(Ok(1468)), "the first occurrence is reported");
    assert_eq!(typed.duplicates, 2);
    assert_eq!(typed.unknown, 3);
}

/// What real clients send past RFC 1350 and 2347, taken by a server's lenient parse
/// (`ParseConfig::SERVER`) and still refused by the strict default.
mod lenient_requests {
    use cnfkit_tftp_wire::{Packet, ParseConfig};

    fn server(datagram: &[u8]) -> Packet<'_> {
        Packet::parse_with(datagram, &ParseConfig::SERVER).expect("a server takes it")
    }

    /// HP PA-RISC boot firmware sends every RRQ as 516 bytes: the rest of its buffer follows
    /// `octet NUL`, stale stack bytes ending in a non-zero byte (busybox tftpd took it in 2014,
    /// commit 67e01fe; dnsmasq in 2025, commit 9df1bd0).
    #[test]
    fn a_pa_risc_fixed_size_request_with_its_buffer_after_the_mode() {
        let mut datagram =
            b"\x00\x01vmlinux\x00octet\x00\x12\x74\x10\x3c\x00\x00\x00\x00\x00\x01\xa9\x24"
                .to_vec();
        datagram.resize(514, 0x00);
        datagram.extend_from_slice(b"\x1e\xe8");
        assert_eq!(datagram.len(), 516);
        assert!(Packet::parse(&datagram).is_err(), "strict: too long and not pairs");
        let Packet::Rrq(request) = server(&datagram) else { panic!() };
        assert_eq!(request.filename, b"vmlinux");
        assert_eq!(request.mode, b"octet");
        assert!(request.options.is_empty());
        assert_eq!(request.ignored_len(&datagram), 516 - 2 - 8 - 6);
    }

    /// A request whose datagram ends with the mode, its NUL missing (busybox accepts it; the
    /// strict parse names the missing NUL).
    #[test]
    fn a_mode_that_ends_the_datagram_without_its_nul() {
        let datagram = b"\x00\x01SEP001122334455.cnf.xml\x00octet";
        assert!(Packet::parse(datagram).is_err());
        let Packet::Rrq(request) = server(datagram) else { panic!() };
        assert_eq!(
            (request.filename, request.mode),
            (&b"SEP001122334455.cnf.xml"[..], &b"octet"[..])
        );
        assert_eq!(request.ignored_len(datagram), 0);
    }

    /// Padding NULs after the options (a capture in nDPI's test data pads a request with zero
    /// bytes), and an option cut short by the end of the datagram: the whole pairs before them
    /// stand, the rest is ignored.
    #[test]
    fn padding_and_an_option_cut_short_leave_the_whole_pairs_before_them() {
        let padded =
            b"\x00\x01term42.default.loads\x00octet\x00blksize\x001468\x00\x00\x00\x00\x00";
        let Packet::Rrq(request) = server(padded) else { panic!() };
        assert_eq!(request.options.get(b"blksize"), Some(&b"1468"[..]));
        assert_eq!(request.options.len(), 1);
        let cut = b"\x00\x01term42.default.loads\x00octet\x00blksize\x001468\x00tsize\x000";
        let Packet::Rrq(request) = server(cut) else { panic!() };
        assert_eq!(request.options.len(), 1, "tsize, cut short, is dropped");
        assert_eq!(request.ignored_len(cut), b"tsize\x000".len());
    }

    /// Where a lenient parse would have to guess, it does not: a file name without its NUL
    /// (where would it end?), or a request longer than even a DATA-sized buffer.
    #[test]
    fn a_file_name_without_its_nul_and_an_oversized_request_are_still_refused() {
        assert!(
            Packet::parse_with(b"\x00\x01SEP001122334455.cnf.xml", &ParseConfig::SERVER).is_err()
        );
        let mut long = b"\x00\x01f\x00octet\x00".to_vec();
        long.resize(517, b'x');
        assert!(Packet::parse_with(&long, &ParseConfig::SERVER).is_err());
    }

    /// A well-formed request reads the same either way.
    #[test]
    fn a_well_formed_request_parses_the_same_strict_or_lenient() {
        let datagram = b"\x00\x01XMLDefault.cnf.xml\x00octet\x00blksize\x001468\x00tsize\x000\x00";
        assert_eq!(Packet::parse(datagram).unwrap(), server(datagram));
    }
}
