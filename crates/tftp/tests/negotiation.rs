//! Option negotiation, one test per row of the table in docs/tftp.md with the answer we chose,
//! plus the client's checks of an OACK (RFC 2347).

mod support;

use std::time::{Duration, Instant};

use cnfkit_tftp::{ClientOptions, Event, Incoming, Outcome, Policy, SharedBuffer, Transfer};
use cnfkit_tftp_wire::{ErrorCode, Mode, Packet};
use support::{Link, Pair};

fn rrq(mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut d = b"\x00\x01file\x00".to_vec();
    d.extend(mode.as_bytes());
    d.push(0);
    for (n, v) in options {
        d.extend(n.as_bytes());
        d.push(0);
        d.extend(v.as_bytes());
        d.push(0);
    }
    d
}

/// The server's first datagram for a read of `content` requested with `options`.
fn first_reply(mode: &str, options: &[(&str, &str)], content: &[u8], policy: &Policy) -> Vec<u8> {
    let incoming = Incoming::parse(&rrq(mode, options), policy).unwrap().unwrap();
    let mut transfer = incoming.accept_read(Box::new(content.to_vec()), Instant::now());
    let mut buf = vec![0u8; transfer.max_datagram_len()];
    let n = transfer.poll_transmit(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn oack(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut d = b"\x00\x06".to_vec();
    for (n, v) in pairs {
        d.extend(n.as_bytes());
        d.push(0);
        d.extend(v.as_bytes());
        d.push(0);
    }
    d
}

fn is_data_1(datagram: &[u8]) -> bool {
    matches!(Packet::parse(datagram), Ok(Packet::Data { block: 1, .. }))
}

const MIB: usize = 1 << 20;

#[test]
fn row_netascii_tsize_is_answered_with_the_translated_size() {
    // tftpd-hpa 5.2 answers ERROR 8 here, which breaks `curl -B`; we compute the size.
    let text = b"line1\nline2\r\nbare\rcr\nend";
    assert_eq!(
        first_reply("netascii", &[("tsize", "0")], text, &Policy::default()),
        oack(&[("tsize", "29")])
    );
}

#[test]
fn row_blksize_8_with_tsize_timeout_and_an_unknown_option() {
    let reply = first_reply(
        "octet",
        &[("blksize", "8"), ("tsize", "0"), ("timeout", "3"), ("foo", "bar")],
        &vec![0; MIB],
        &Policy::default(),
    );
    assert_eq!(
        reply,
        oack(&[("blksize", "8"), ("tsize", "1048576"), ("timeout", "3")]),
        "foo left out, no ERROR"
    );
}

#[test]
fn row_blksize_7_is_left_out_and_with_nothing_left_data_1_goes_out() {
    assert!(is_data_1(&first_reply("octet", &[("blksize", "7")], b"x", &Policy::default())));
}

#[test]
fn row_blksize_70000_is_clamped_to_the_largest_we_allow() {
    assert_eq!(
        first_reply("octet", &[("blksize", "70000")], b"x", &Policy::default()),
        oack(&[("blksize", "65464")])
    );
    let policy = Policy { max_blksize: 1468, ..Policy::default() };
    assert_eq!(
        first_reply("octet", &[("blksize", "70000")], b"x", &policy),
        oack(&[("blksize", "1468")])
    );
    assert_eq!(
        first_reply("octet", &[("blksize", "8192")], b"x", &policy),
        oack(&[("blksize", "1468")])
    );
}

#[test]
fn row_timeout_0_and_256_are_left_out_never_an_error() {
    assert!(is_data_1(&first_reply("octet", &[("timeout", "0")], b"x", &Policy::default())));
    assert!(is_data_1(&first_reply("octet", &[("timeout", "256")], b"x", &Policy::default())));
    let generous = Policy { max_negotiated_timeout: 255, ..Policy::default() };
    assert_eq!(
        first_reply("octet", &[("timeout", "255"), ("tsize", "0")], b"x", &generous),
        oack(&[("timeout", "255"), ("tsize", "1")])
    );
}

#[test]
fn a_timeout_over_the_ceiling_is_left_out_of_the_oack_rfc_2349_section_3() {
    // The server need not accept the option; one that held a silent client for 255 s per
    // retransmission would hand a cheap slot-exhaustion attack to anyone.
    assert_eq!(
        first_reply("octet", &[("timeout", "255"), ("tsize", "0")], b"x", &Policy::default()),
        oack(&[("tsize", "1")])
    );
    assert_eq!(
        first_reply("octet", &[("timeout", "5"), ("tsize", "0")], b"x", &Policy::default()),
        oack(&[("timeout", "5"), ("tsize", "1")])
    );
    assert!(is_data_1(&first_reply("octet", &[("timeout", "6")], b"x", &Policy::default())));
}

#[test]
fn row_windowsize_and_blksize_are_both_granted_rfc7440() {
    assert_eq!(
        first_reply(
            "octet",
            &[("windowsize", "16"), ("blksize", "1468")],
            b"x",
            &Policy::default()
        ),
        oack(&[("windowsize", "16"), ("blksize", "1468")])
    );
}

#[test]
fn windowsize_is_clamped_to_the_policy_and_to_the_window_byte_cap() {
    let policy = Policy { max_windowsize: 32, ..Policy::default() };
    assert_eq!(
        first_reply("octet", &[("windowsize", "64")], b"x", &policy),
        oack(&[("windowsize", "32")])
    );
    // 8192 x 16 = 128 KiB: the window that stalls atftpd on loopback. A 64 KiB cap makes it 8.
    let policy = Policy { max_window_bytes: 64 * 1024, ..Policy::default() };
    assert_eq!(
        first_reply("octet", &[("blksize", "8192"), ("windowsize", "16")], b"x", &policy),
        oack(&[("blksize", "8192"), ("windowsize", "8")])
    );
    assert!(is_data_1(&first_reply("octet", &[("windowsize", "0")], b"x", &Policy::default())));
    assert!(is_data_1(&first_reply("octet", &[("windowsize", "65536")], b"x", &Policy::default())));
}

#[test]
fn row_upper_case_mode_and_option_names_are_answered_in_lower_case() {
    assert_eq!(
        first_reply("OCTET", &[("BLKSIZE", "1024")], b"x", &Policy::default()),
        oack(&[("blksize", "1024")])
    );
}

#[test]
fn row_mail_and_unknown_modes_get_error_4() {
    for mode in ["mail", "bogus"] {
        let refusal = Incoming::parse(&rrq(mode, &[]), &Policy::default()).unwrap_err();
        let expected =
            cnfkit_tftp::Refusal::Error(ErrorCode::ILLEGAL_OPERATION, "Unknown mode".into());
        assert_eq!(refusal, expected);
    }
}

#[test]
fn duplicates_count_once_and_tsize_enable_is_ignored() {
    assert_eq!(
        first_reply(
            "octet",
            &[("blksize", "1024"), ("BLKSIZE", "512"), ("tsize", "enable")],
            b"x",
            &Policy::default()
        ),
        oack(&[("blksize", "1024")])
    );
}

#[test]
fn a_malformed_request_gets_error_4_and_stray_packets_are_ignored() {
    assert!(Incoming::parse(b"\x00\x01file", &Policy::default()).is_err());
    assert!(matches!(Incoming::parse(b"\x00\x04\x00\x01", &Policy::default()), Ok(None)));
    assert!(matches!(Incoming::parse(b"junk", &Policy::default()), Ok(None)));
}

/// The server takes what real clients send past RFC 1350 when its meaning is clear (the wire
/// crate's `ParseConfig::SERVER`): a request padded after its options still has its options
/// negotiated, a mode without its NUL still starts the transfer.
#[test]
fn a_padded_request_is_negotiated_and_a_mode_without_its_nul_is_served() {
    let mut padded = rrq("octet", &[("blksize", "1024")]);
    padded.extend([0u8; 12]);
    let incoming = Incoming::parse(&padded, &Policy::default()).unwrap().unwrap();
    let mut transfer = incoming.accept_read(Box::new(vec![7u8; 10]), Instant::now());
    let mut buf = vec![0u8; transfer.max_datagram_len()];
    let n = transfer.poll_transmit(&mut buf).unwrap();
    assert_eq!(buf[..n], oack(&[("blksize", "1024")]));
    let incoming = Incoming::parse(b"\x00\x01file\x00octet", &Policy::default()).unwrap().unwrap();
    assert_eq!((incoming.filename(), incoming.mode()), (&b"file"[..], Mode::Octet));
}

#[test]
fn write_tsize_is_echoed_and_refused_above_the_limit_rfc2349() {
    let wrq = b"\x00\x02up\x00octet\x00tsize\x00100\x00";
    let incoming = Incoming::parse(wrq, &Policy::default()).unwrap().unwrap();
    let mut t = incoming.accept_write(Box::new(Vec::new()), Instant::now());
    let mut buf = vec![0u8; 1024];
    let n = t.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..n], oack(&[("tsize", "100")]).as_slice());

    let policy = Policy { max_write_bytes: Some(99), ..Policy::default() };
    let incoming = Incoming::parse(wrq, &policy).unwrap().unwrap();
    let mut t = incoming.accept_write(Box::new(Vec::new()), Instant::now());
    let n = t.poll_transmit(&mut buf).unwrap();
    assert!(matches!(
        Packet::parse(&buf[..n]),
        Ok(Packet::Error { code: ErrorCode::DISK_FULL, .. })
    ));
}

/// The tsize probe (async-tftp issue 18): RRQ `tsize 0`, OACK, then the client says ERROR 8.
/// The server must end cleanly, not retransmit the OACK.
#[test]
fn a_client_error_after_the_oack_ends_the_transfer_cleanly() {
    let now = Instant::now();
    let incoming =
        Incoming::parse(&rrq("octet", &[("tsize", "0")]), &Policy::default()).unwrap().unwrap();
    let mut server = incoming.accept_read(Box::new(vec![0u8; 100]), now);
    let mut buf = vec![0u8; 1024];
    server.poll_transmit(&mut buf).unwrap();
    server.handle(now, b"\x00\x05\x00\x08\x00");
    assert!(server.poll_transmit(&mut buf).is_none(), "no answer to an ERROR");
    let Some(Event::Finished(summary)) = server.poll_event() else { panic!() };
    assert!(matches!(
        summary.outcome,
        Outcome::PeerError { code: ErrorCode::OPTION_NEGOTIATION, .. }
    ));
    assert!(server.is_done());
    server.handle_timeout(now + Duration::from_secs(60));
    assert!(server.poll_transmit(&mut buf).is_none(), "and nothing later either");
}

fn client_with_oack(options: ClientOptions, reply: &[u8]) -> (Transfer, Vec<Vec<u8>>) {
    let now = Instant::now();
    let mut client =
        Transfer::get(b"f", options, Box::new(SharedBuffer::new()), Policy::default(), now);
    let mut buf = vec![0u8; 2048];
    client.poll_transmit(&mut buf).unwrap();
    client.handle(now, reply);
    let sent =
        std::iter::from_fn(|| client.poll_transmit(&mut buf).map(|n| buf[..n].to_vec())).collect();
    (client, sent)
}

#[test]
fn the_client_refuses_an_unrequested_or_enlarged_option_with_error_8_rfc2347() {
    let asked = ClientOptions {
        blksize: Some(1024),
        windowsize: None,
        timeout: None,
        tsize: true,
        mode: Mode::Octet,
    };
    for reply in [
        oack(&[("windowsize", "4")]),      // not requested
        oack(&[("foo_blksize_bar", "1")]), // unknown
        oack(&[("blksize", "2048")]),      // larger than asked
        oack(&[("blksize", "7")]),         // out of range
    ] {
        let (mut client, sent) = client_with_oack(asked, &reply);
        assert_eq!(sent.len(), 1);
        assert!(matches!(
            Packet::parse(&sent[0]),
            Ok(Packet::Error { code: ErrorCode::OPTION_NEGOTIATION, .. })
        ));
        let Some(Event::Finished(summary)) = client.poll_event() else { panic!() };
        assert!(matches!(summary.outcome, Outcome::OptionRefused(_)));
    }
    let (mut client, sent) = client_with_oack(asked, &oack(&[("blksize", "512"), ("tsize", "77")]));
    assert_eq!(sent, [b"\x00\x04\x00\x00".to_vec()], "a smaller blksize is fine: ACK 0");
    assert_eq!(client.options().blksize, 512);
    assert_eq!(client.poll_event(), Some(Event::Size(77)));
}

#[test]
fn a_server_that_ignores_options_gets_rfc1350_defaults() {
    let asked =
        ClientOptions { blksize: Some(1468), windowsize: Some(8), ..ClientOptions::default() };
    let (client, sent) = client_with_oack(asked, b"\x00\x03\x00\x01short");
    assert_eq!(sent, [b"\x00\x04\x00\x01".to_vec()]);
    assert_eq!((client.options().blksize, client.options().windowsize), (512, 1));
}

/// RFC 1123 4.2.3.1: never resend DATA on a duplicate ACK (Sorcerer's Apprentice Syndrome).
/// atftpd 0.8.0 sends DATA 2 four times for ACK 1 + 3 duplicates; we send it once.
#[test]
fn a_duplicate_ack_storm_sends_no_extra_data_rfc1123_4_2_3_1() {
    let now = Instant::now();
    let incoming = Incoming::parse(&rrq("octet", &[]), &Policy::default()).unwrap().unwrap();
    let mut server = incoming.accept_read(Box::new(vec![1u8; 512 * 4]), now);
    let mut buf = vec![0u8; 1024];
    let mut sent = Vec::new();
    let mut drain = |server: &mut Transfer, sent: &mut Vec<Vec<u8>>| {
        while let Some(n) = server.poll_transmit(&mut buf) {
            sent.push(buf[..n].to_vec());
        }
    };
    drain(&mut server, &mut sent);
    for _ in 0..4 {
        server.handle(now, b"\x00\x04\x00\x01");
        drain(&mut server, &mut sent);
    }
    assert_eq!(Pair::data_sent(&sent, 2), 1);
    for _ in 0..100 {
        server.handle(now, b"\x00\x04\x00\x01");
        server.handle(now, b"\x00\x04\x00\x00");
    }
    drain(&mut server, &mut sent);
    assert_eq!(sent.len(), 2, "DATA 1 and DATA 2 only");
}

#[test]
fn a_silent_peer_gets_bounded_retries_with_exponential_backoff() {
    let policy = Policy { max_retries: 4, ..Policy::default() };
    let start = Instant::now();
    let incoming = Incoming::parse(&rrq("octet", &[]), &policy).unwrap().unwrap();
    let mut server = incoming.accept_read(Box::new(vec![1u8; 100]), start);
    let mut buf = vec![0u8; 1024];
    let mut sends = Vec::new();
    let mut now = start;
    while !server.is_done() {
        while server.poll_transmit(&mut buf).is_some() {
            sends.push(now - start);
        }
        let Some(deadline) = server.poll_timeout() else { break };
        now = deadline;
        server.handle_timeout(now);
    }
    let secs: Vec<u64> = sends.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [0, 1, 3, 7, 15], "1 s doubling, 4 retries");
    let Some(Event::Finished(summary)) = server.poll_event() else { panic!() };
    assert_eq!((summary.outcome, summary.retransmits), (Outcome::TimedOut, 4));
}

#[test]
fn the_final_ack_is_repeated_while_dallying_rfc1350_section_6() {
    let now = Instant::now();
    let wrq = b"\x00\x02up\x00octet\x00";
    let incoming = Incoming::parse(wrq, &Policy::default()).unwrap().unwrap();
    let mut server = incoming.accept_write(Box::new(Vec::new()), now);
    let mut buf = vec![0u8; 1024];
    assert_eq!(server.poll_transmit(&mut buf), Some(4), "ACK 0");
    server.handle(now, b"\x00\x03\x00\x01last");
    assert_eq!(
        server.poll_transmit(&mut buf).map(|n| buf[..n].to_vec()),
        Some(b"\x00\x04\x00\x01".to_vec())
    );
    assert!(!server.is_done(), "dallying");
    server.handle(now, b"\x00\x03\x00\x01last");
    assert_eq!(
        server.poll_transmit(&mut buf).map(|n| buf[..n].to_vec()),
        Some(b"\x00\x04\x00\x01".to_vec())
    );
    server.handle_timeout(server.poll_timeout().unwrap());
    assert!(server.is_done());
}

#[test]
fn client_put_and_get_over_a_lossless_pair_use_the_requested_window() {
    let data = vec![3u8; 10_000];
    let received = SharedBuffer::new();
    let client = Transfer::get(
        b"f",
        ClientOptions { blksize: Some(1000), windowsize: Some(4), ..ClientOptions::default() },
        Box::new(received.clone()),
        Policy::default(),
        Instant::now(),
    );
    let content = data.clone();
    let mut pair = Pair::new(client, Link::PERFECT, 1, Policy::default(), move |i, now| {
        i.accept_read(Box::new(content.clone()), now)
    });
    pair.run(Duration::from_secs(60));
    assert_eq!(received.contents(), data);
    let acks = pair
        .client_sent
        .iter()
        .filter(|d| matches!(Packet::parse(d), Ok(Packet::Ack { .. })))
        .count();
    assert_eq!(acks, 1 + 3, "ACK 0, then one ACK per window of 4 (blocks 4, 8, 11)");
}
