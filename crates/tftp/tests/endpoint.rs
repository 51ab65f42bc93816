//! The listening port's rules and the transfer IDs, without sockets (the tokio driver only moves
//! the datagrams these decisions name).

use std::net::SocketAddr;

use cnfkit_tftp::{DropReason, Endpoint, Limits, Policy, Received, Source, TransferIds};

const RRQ: &[u8] = b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn endpoint(max_transfers: usize, max_per_peer: usize) -> Endpoint {
    Endpoint::new(Policy::default(), Limits { max_transfers, max_per_peer, ..Limits::default() })
}

#[test]
fn a_retransmitted_request_is_answered_by_its_running_transfer_not_a_second_one() {
    let mut server = endpoint(8, 8);
    assert!(matches!(server.handle(addr("10.0.0.7:50000"), RRQ), Received::Request(_)));
    for _ in 0..3 {
        let again = server.handle(addr("10.0.0.7:50000"), RRQ);
        assert!(matches!(again, Received::Drop(DropReason::Repeated)), "{again:?}");
    }
    // Another port of the same phone is another transfer ID: a new transfer.
    assert!(matches!(server.handle(addr("10.0.0.7:50001"), RRQ), Received::Request(_)));
    assert_eq!(server.active(), 2);
}

#[test]
fn over_a_limit_requests_are_dropped_not_refused_so_phones_retry() {
    let mut server = endpoint(3, 2);
    assert!(matches!(server.handle(addr("10.0.0.1:1000"), RRQ), Received::Request(_)));
    assert!(matches!(server.handle(addr("10.0.0.1:1001"), RRQ), Received::Request(_)));
    let third = server.handle(addr("10.0.0.1:1002"), RRQ);
    assert!(matches!(third, Received::Drop(DropReason::PerPeerLimit)), "{third:?}");
    assert!(matches!(server.handle(addr("10.0.0.2:1000"), RRQ), Received::Request(_)));
    let full = server.handle(addr("10.0.0.3:1000"), RRQ);
    assert!(matches!(full, Received::Drop(DropReason::TransferLimit)), "{full:?}");
    // A slot freed is a slot for the next phone.
    server.release(addr("10.0.0.1:1000"));
    assert!(matches!(server.handle(addr("10.0.0.3:1000"), RRQ), Received::Request(_)));
    let full = server.handle(addr("10.0.0.1:1002"), RRQ);
    assert!(matches!(full, Received::Drop(DropReason::TransferLimit)), "{full:?}");
    server.release(addr("10.0.0.1:1001"));
    assert!(matches!(server.handle(addr("10.0.0.1:1002"), RRQ), Received::Request(_)));
    // Releasing twice, or a peer that never had a slot, changes nothing: the per-address count
    // does not drift, so 10.0.0.2 gets exactly its two slots back.
    server.release(addr("10.0.0.2:1000"));
    server.release(addr("10.0.0.2:1000"));
    server.release(addr("10.9.9.9:1"));
    assert_eq!(server.active(), 2);
    server.release(addr("10.0.0.3:1000"));
    assert!(matches!(server.handle(addr("10.0.0.2:2000"), RRQ), Received::Request(_)));
    assert!(matches!(server.handle(addr("10.0.0.2:2001"), RRQ), Received::Request(_)));
    let full = server.handle(addr("10.0.0.2:2002"), RRQ);
    assert!(matches!(full, Received::Drop(DropReason::TransferLimit)), "{full:?}");
    server.release(addr("10.0.0.1:1002"));
    let over = server.handle(addr("10.0.0.2:2002"), RRQ);
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
        assert!(matches!(server.handle(a, RRQ), Received::Request(_)), "round {round}");
        assert!(matches!(server.handle(b, RRQ), Received::Request(_)), "round {round}");
        let c = addr("10.0.0.9:9999");
        assert!(matches!(server.handle(c, RRQ), Received::Drop(DropReason::PerPeerLimit)));
        server.release(a);
        server.release(b);
    }
    assert_eq!(server.active(), 0);
}

#[test]
fn a_malformed_request_gets_error_4_and_no_slot_rfc_1350_section_5() {
    let mut server = endpoint(8, 8);
    let received = server.handle(addr("10.0.0.7:50000"), b"\x00\x01no-terminator");
    let Received::Refuse { datagram, reason } = received else { panic!("{received:?}") };
    assert_eq!(&datagram[..4], b"\x00\x05\x00\x04");
    assert!(reason.starts_with("malformed request"), "{reason}");
    assert_eq!(server.active(), 0);
}

#[test]
fn stray_data_and_acks_on_the_listening_port_are_ignored() {
    let mut server = endpoint(8, 8);
    for stray in [&b"\x00\x04\x00\x01"[..], b"\x00\x03\x00\x01data", b"\x00\x05\x00\x00\x00"] {
        let received = server.handle(addr("10.0.0.7:50000"), stray);
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
    let limits = Limits { max_transfers: 100, max_per_peer: 16, max_per_network: 3 };
    let mut server = Endpoint::new(Policy::default(), limits);
    // Three hosts of 10.1.2.0/24, one request each: the network is full.
    for host in 1..=3 {
        let received = server.handle(addr(&format!("10.1.2.{host}:1000")), RRQ);
        assert!(matches!(received, Received::Request(_)), "{received:?}");
    }
    let fourth = server.handle(addr("10.1.2.200:1000"), RRQ);
    assert!(matches!(fourth, Received::Drop(DropReason::NetworkLimit)), "{fourth:?}");
    // The next /24 is another network.
    assert!(matches!(server.handle(addr("10.1.3.1:1000"), RRQ), Received::Request(_)));
    // An IPv4-mapped IPv6 source is the IPv4 host it stands for.
    let mapped = server.handle(addr("[::ffff:10.1.2.9]:1000"), RRQ);
    assert!(matches!(mapped, Received::Drop(DropReason::NetworkLimit)), "{mapped:?}");
    server.release(addr("10.1.2.1:1000"));
    assert!(matches!(server.handle(addr("10.1.2.200:1000"), RRQ), Received::Request(_)));
    // A /64 is one network however many addresses an attacker picks from it.
    for host in 1..=3 {
        let peer = addr(&format!("[2001:db8:1:2::{host:x}]:1000"));
        assert!(matches!(server.handle(peer, RRQ), Received::Request(_)));
    }
    let more = server.handle(addr("[2001:db8:1:2:ffff::1]:1000"), RRQ);
    assert!(matches!(more, Received::Drop(DropReason::NetworkLimit)), "{more:?}");
    assert!(matches!(server.handle(addr("[2001:db8:1:3::1]:1000"), RRQ), Received::Request(_)));
}

#[test]
fn networks_are_ipv4_slash_24_and_ipv6_slash_64() {
    use cnfkit_tftp::network_of;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(network_of(ip("192.0.2.77")), ip("192.0.2.0"));
    assert_eq!(network_of(ip("::ffff:192.0.2.77")), ip("192.0.2.0"));
    assert_eq!(network_of(ip("2001:db8:a:b:c:d:e:f")), ip("2001:db8:a:b::"));
}
