//! The listening port's rules and the transfer IDs, without sockets (the tokio driver only moves
//! the datagrams these decisions name).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cnfkit_tftp::{DropReason, Endpoint, Limits, Policy, Received, SlotId, Source, TransferIds};

const RRQ: &[u8] = b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The virtual clock's start: every request below arrives then unless a test moves on.
fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// The slot of an admitted request (panics on anything else).
fn admitted(received: Received) -> SlotId {
    match received {
        Received::Request { slot, .. } => slot,
        other => panic!("not admitted: {other:?}"),
    }
}

fn endpoint(max_transfers: usize, max_per_peer: usize) -> Endpoint {
    Endpoint::new(Policy::default(), Limits { max_transfers, max_per_peer, ..Limits::default() })
}

#[test]
fn a_retransmitted_request_is_answered_by_its_running_transfer_not_a_second_one() {
    let mut server = endpoint(8, 8);
    assert!(matches!(server.handle(t0(), addr("10.0.0.7:50000"), RRQ), Received::Request { .. }));
    for _ in 0..3 {
        let again = server.handle(t0(), addr("10.0.0.7:50000"), RRQ);
        assert!(matches!(again, Received::Drop(DropReason::Repeated)), "{again:?}");
    }
    // Another port of the same phone is another transfer ID: a new transfer.
    assert!(matches!(server.handle(t0(), addr("10.0.0.7:50001"), RRQ), Received::Request { .. }));
    assert_eq!(server.active(), 2);
}

#[test]
fn over_a_limit_requests_are_dropped_not_refused_so_phones_retry() {
    let mut server = endpoint(3, 2);
    let a0 = admitted(server.handle(t0(), addr("10.0.0.1:1000"), RRQ));
    let a1 = admitted(server.handle(t0(), addr("10.0.0.1:1001"), RRQ));
    let third = server.handle(t0(), addr("10.0.0.1:1002"), RRQ);
    assert!(matches!(third, Received::Drop(DropReason::PerPeerLimit)), "{third:?}");
    let b0 = admitted(server.handle(t0(), addr("10.0.0.2:1000"), RRQ));
    let full = server.handle(t0(), addr("10.0.0.3:1000"), RRQ);
    assert!(matches!(full, Received::Drop(DropReason::TransferLimit)), "{full:?}");
    // A slot freed is a slot for the next phone.
    server.release(a0);
    let c0 = admitted(server.handle(t0(), addr("10.0.0.3:1000"), RRQ));
    let full = server.handle(t0(), addr("10.0.0.1:1002"), RRQ);
    assert!(matches!(full, Received::Drop(DropReason::TransferLimit)), "{full:?}");
    server.release(a1);
    let a2 = admitted(server.handle(t0(), addr("10.0.0.1:1002"), RRQ));
    // Releasing twice, or a slot already released, changes nothing: the per-address count
    // does not drift, so 10.0.0.2 gets exactly its two slots back.
    server.release(b0);
    server.release(b0);
    server.release(a0);
    assert_eq!(server.active(), 2);
    server.release(c0);
    admitted(server.handle(t0(), addr("10.0.0.2:2000"), RRQ));
    admitted(server.handle(t0(), addr("10.0.0.2:2001"), RRQ));
    let full = server.handle(t0(), addr("10.0.0.2:2002"), RRQ);
    assert!(matches!(full, Received::Drop(DropReason::TransferLimit)), "{full:?}");
    server.release(a2);
    let over = server.handle(t0(), addr("10.0.0.2:2002"), RRQ);
    assert!(matches!(over, Received::Drop(DropReason::PerPeerLimit)), "{over:?}");
}

#[test]
fn the_per_address_count_follows_every_release() {
    let mut server = endpoint(100, 2);
    for round in 0..50 {
        let (a, b) = (
            addr(&format!("10.0.0.9:{}", 1000 + round)),
            addr(&format!("10.0.0.9:{}", 3000 + round)),
        );
        let a = admitted(server.handle(t0(), a, RRQ));
        let b = admitted(server.handle(t0(), b, RRQ));
        let c = addr("10.0.0.9:9999");
        assert!(matches!(server.handle(t0(), c, RRQ), Received::Drop(DropReason::PerPeerLimit)));
        server.release(a);
        server.release(b);
    }
    assert_eq!(server.active(), 0);
}

#[test]
fn a_full_table_gives_the_slot_of_the_longest_unanswered_transfer_to_a_new_request() {
    // 4 slots, taken by requests from forged addresses that never answer.
    let limits = Limits { max_transfers: 4, ..Limits::default() };
    let mut server = Endpoint::new(Policy::default(), limits);
    let stalled: Vec<SlotId> = (0..4)
        .map(|i| {
            let at = t0() + Duration::from_millis(10 * i);
            admitted(server.handle(at, addr(&format!("10.66.0.{i}:4000")), RRQ))
        })
        .collect();
    // Within the first second nothing is evicted: a phone's first ACK takes a round trip.
    let early = t0() + Duration::from_millis(900);
    let phone = addr("10.0.0.7:50000");
    let dropped = server.handle(early, phone, RRQ);
    assert!(matches!(dropped, Received::Drop(DropReason::TransferLimit)), "{dropped:?}");
    assert_eq!(server.poll_evicted(), None);
    // After it, the oldest unanswered slot goes to the phone, and its transfer is to be stopped.
    let later = t0() + Duration::from_millis(1_005);
    let phone_slot = admitted(server.handle(later, phone, RRQ));
    assert_eq!(server.poll_evicted(), Some(stalled[0]));
    assert_eq!(server.poll_evicted(), None);
    assert_eq!(server.active(), 4);
    // The evicted transfer's own release later frees nothing (its slot is someone else's).
    server.release(stalled[0]);
    assert_eq!(server.active(), 4);
    // The phone answers: its slot is never evicted, however long the transfer takes; the next
    // victims are the other stalled ones, oldest first.
    server.answered(phone_slot);
    let much_later = t0() + Duration::from_secs(60);
    for (i, victim) in stalled[1..].iter().enumerate() {
        admitted(server.handle(much_later, addr(&format!("10.0.1.{i}:5000")), RRQ));
        assert_eq!(server.poll_evicted(), Some(*victim));
    }
    // Now every slot holds a young unanswered transfer or the phone's: full again.
    let full = server.handle(much_later, addr("10.0.2.1:5000"), RRQ);
    assert!(matches!(full, Received::Drop(DropReason::TransferLimit)), "{full:?}");
}

#[test]
fn a_peer_admitted_again_after_eviction_keeps_its_new_slot() {
    let limits = Limits { max_transfers: 1, ..Limits::default() };
    let mut server = Endpoint::new(Policy::default(), limits);
    let peer = addr("10.0.0.7:50000");
    let first = admitted(server.handle(t0(), peer, RRQ));
    let later = t0() + Duration::from_secs(2);
    // Another peer takes the slot, then the first one comes back with the same port.
    let other = admitted(server.handle(later, addr("10.0.0.8:1"), RRQ));
    assert_eq!(server.poll_evicted(), Some(first));
    server.release(other);
    let second = admitted(server.handle(later, peer, RRQ));
    assert_ne!(first, second);
    // The first transfer's task ends and releases its (old) slot: the new one stays.
    server.release(first);
    assert_eq!(server.active(), 1);
    server.release(second);
    assert_eq!(server.active(), 0);
}

#[test]
fn a_malformed_request_gets_error_4_and_no_slot_rfc_1350_section_5() {
    let mut server = endpoint(8, 8);
    let received = server.handle(t0(), addr("10.0.0.7:50000"), b"\x00\x01no-terminator");
    let Received::Refuse { datagram, reason } = received else { panic!("{received:?}") };
    assert_eq!(&datagram[..4], b"\x00\x05\x00\x04");
    assert!(reason.starts_with("malformed request"), "{reason}");
    assert_eq!(server.active(), 0);
}

#[test]
fn stray_data_and_acks_on_the_listening_port_are_ignored() {
    let mut server = endpoint(8, 8);
    for stray in [&b"\x00\x04\x00\x01"[..], b"\x00\x03\x00\x01data", b"\x00\x05\x00\x00\x00"] {
        let received = server.handle(t0(), addr("10.0.0.7:50000"), stray);
        assert!(matches!(received, Received::Drop(DropReason::NotARequest)), "{received:?}");
    }
}

#[test]
fn a_server_transfer_answers_a_wrong_transfer_id_with_error_5_rfc_1350_section_4() {
    let mut ids = TransferIds::server(addr("10.0.0.7:50000"));
    assert_eq!(ids.check(addr("10.0.0.7:50000")), Source::Peer);
    let Source::Stranger(error) = ids.check(addr("10.0.0.7:50001")) else { panic!() };
    assert_eq!(error, b"\x00\x05\x00\x05Unknown transfer ID\x00");
    assert!(matches!(ids.check(addr("10.0.0.8:50000")), Source::Stranger(_)));
    assert_eq!(ids.target(), addr("10.0.0.7:50000"), "the peer stays the peer");
}

#[test]
fn a_client_takes_the_servers_transfer_id_from_its_first_answer_rfc_1350_section_4() {
    let mut ids = TransferIds::client(addr("10.0.0.1:69"));
    assert_eq!(ids.target(), addr("10.0.0.1:69"));
    // Another host before the server answered: not ours to answer.
    assert_eq!(ids.check(addr("10.6.6.6:4000")), Source::Ignore);
    assert_eq!(ids.check(addr("10.0.0.1:40123")), Source::Peer);
    assert_eq!(ids.target(), addr("10.0.0.1:40123"));
    // From then on the server's other ports are strangers.
    assert!(matches!(ids.check(addr("10.0.0.1:69")), Source::Stranger(_)));
}

#[test]
fn many_addresses_of_one_network_share_one_budget_ipv4_24_and_ipv6_64() {
    let limits =
        Limits { max_transfers: 100, max_per_peer: 16, max_per_network: 3, ..Limits::default() };
    let mut server = Endpoint::new(Policy::default(), limits);
    // Three hosts of 10.1.2.0/24, one request each: the network is full.
    let first = admitted(server.handle(t0(), addr("10.1.2.1:1000"), RRQ));
    for host in 2..=3 {
        let received = server.handle(t0(), addr(&format!("10.1.2.{host}:1000")), RRQ);
        assert!(matches!(received, Received::Request { .. }), "{received:?}");
    }
    let fourth = server.handle(t0(), addr("10.1.2.200:1000"), RRQ);
    assert!(matches!(fourth, Received::Drop(DropReason::NetworkLimit)), "{fourth:?}");
    // The next /24 is another network.
    assert!(matches!(server.handle(t0(), addr("10.1.3.1:1000"), RRQ), Received::Request { .. }));
    // An IPv4-mapped IPv6 source is the IPv4 host it stands for.
    let mapped = server.handle(t0(), addr("[::ffff:10.1.2.9]:1000"), RRQ);
    assert!(matches!(mapped, Received::Drop(DropReason::NetworkLimit)), "{mapped:?}");
    server.release(first);
    assert!(matches!(server.handle(t0(), addr("10.1.2.200:1000"), RRQ), Received::Request { .. }));
    // A /64 is one network however many addresses an attacker picks from it.
    for host in 1..=3 {
        let peer = addr(&format!("[2001:db8:1:2::{host:x}]:1000"));
        assert!(matches!(server.handle(t0(), peer, RRQ), Received::Request { .. }));
    }
    let more = server.handle(t0(), addr("[2001:db8:1:2:ffff::1]:1000"), RRQ);
    assert!(matches!(more, Received::Drop(DropReason::NetworkLimit)), "{more:?}");
    assert!(matches!(
        server.handle(t0(), addr("[2001:db8:1:3::1]:1000"), RRQ),
        Received::Request { .. }
    ));
}

#[test]
fn networks_are_ipv4_slash_24_and_ipv6_slash_64() {
    use cnfkit_tftp::network_of;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(network_of(ip("192.0.2.77")), ip("192.0.2.0"));
    assert_eq!(network_of(ip("::ffff:192.0.2.77")), ip("192.0.2.0"));
    assert_eq!(network_of(ip("2001:db8:a:b:c:d:e:f")), ip("2001:db8:a:b::"));
}
