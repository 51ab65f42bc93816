//! Issue 7: "one log line per phone boot at info level: MAC, the requests and answers, the
//! config used (own or fallback), the load it was told to run". A boot closes when its phone
//! goes quiet; memory stays bounded however many phones boot.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cnfkit_resolve::{BootLog, MAX_REQUESTS};

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

#[test]
fn a_new_phone_falling_back_to_xmldefault_and_upgrading_is_one_line() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut log = BootLog::new(Duration::from_secs(2), 100);
    for (at, name, answer) in [
        (0, "CTLSEP001122334455.tlv", "not-found"),
        (5, "ITLSEP001122334455.tlv", "not-found"),
        (10, "ITLFile.tlv", "not-found"),
        (15, "SEP001122334455.cnf.xml", "not-found"),
        (20, "XMLDefault.cnf.xml", "exact"),
        (40, "SCCP42.9-4-2SR4-3S.loads", "exact"),
        (60, "jar42sccp.9-4-2ES4.sbn", "exact"),
    ] {
        assert!(log.record(ms(at), ip(5), name, answer).is_empty());
    }
    assert!(log.expired(ms(1000)).is_empty(), "still booting");
    let lines = log.expired(ms(2060));
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0].to_string(),
        "SEP001122334455 (10.0.0.5): fallback XMLDefault.cnf.xml, load SCCP42.9-4-2SR4-3S; 7 requests in 60 ms: \
         CTLSEP001122334455.tlv not-found, ITLSEP001122334455.tlv not-found, ITLFile.tlv not-found, \
         SEP001122334455.cnf.xml not-found, XMLDefault.cnf.xml exact, SCCP42.9-4-2SR4-3S.loads exact, \
         jar42sccp.9-4-2ES4.sbn exact"
    );
    assert_eq!(log.open(), 0);
}

#[test]
fn a_phone_with_its_own_signed_config_is_reported_as_own() {
    let t0 = Instant::now();
    let mut log = BootLog::new(Duration::from_secs(1), 100);
    log.record(t0, ip(6), "ITLFile.tlv", "exact");
    log.record(t0, ip(6), "SEP00112233AABB.cnf.xml.sgn", "signed");
    let line = &log.drain()[0];
    assert_eq!(line.config, Some(("SEP00112233AABB.cnf.xml.sgn".to_owned(), true)));
    assert!(line.to_string().contains("no load requested"));
}

#[test]
fn a_phone_that_got_no_config_says_so() {
    let t0 = Instant::now();
    let mut log = BootLog::new(Duration::from_secs(1), 100);
    log.record(t0, ip(7), "SEP001122334455.cnf.xml", "not-found");
    log.record(t0, ip(7), "XMLDefault.cnf.xml", "not-found");
    assert!(log.drain()[0].to_string().contains("NO CONFIG served"));
}

#[test]
fn phones_are_told_apart_by_address_and_the_oldest_is_closed_early_at_the_limit() {
    let t0 = Instant::now();
    let mut log = BootLog::new(Duration::from_secs(60), 2);
    log.record(t0, ip(1), "SEP000000000001.cnf.xml", "exact");
    log.record(t0 + Duration::from_millis(1), ip(2), "SEP000000000002.cnf.xml", "exact");
    let evicted =
        log.record(t0 + Duration::from_millis(2), ip(3), "SEP000000000003.cnf.xml", "exact");
    let peers: Vec<_> = evicted.iter().map(|l| l.peer).collect();
    assert_eq!(peers, [ip(1)], "the quietest boot closes to make room");
    assert_eq!(log.open(), 2);
}

#[test]
fn at_the_limit_the_quietest_tenth_closes_at_once_oldest_first() {
    let t0 = Instant::now();
    let mut log = BootLog::new(Duration::from_secs(60), 100);
    let peer = |i: u8| IpAddr::from([10, 0, 0, i]);
    for i in 0..100u8 {
        assert!(log.record(t0 + Duration::from_millis(i.into()), peer(i), "x", "exact").is_empty());
    }
    let closed = log.record(t0 + Duration::from_secs(1), peer(100), "x", "exact");
    let peers: Vec<_> = closed.iter().map(|l| l.peer).collect();
    assert_eq!(peers, (0..10).map(peer).collect::<Vec<_>>());
    assert_eq!(log.open(), 91);
}

#[test]
fn a_boot_keeps_a_bounded_number_of_requests() {
    let t0 = Instant::now();
    let mut log = BootLog::new(Duration::from_secs(1), 10);
    for i in 0..MAX_REQUESTS + 10 {
        log.record(t0, ip(9), &format!("file{i}.bin"), "exact");
    }
    let line = &log.drain()[0];
    assert_eq!(line.requests.len(), MAX_REQUESTS);
    assert_eq!(line.more_requests, 10);
    assert!(line.to_string().ends_with(", and 10 more"));
}

#[test]
fn phones_behind_one_address_are_a_line_each_keyed_by_mac() {
    // A branch office behind NAT: three phones from one address, their boots interleaved.
    let t0 = Instant::now();
    let mut log = BootLog::new(Duration::from_secs(1), 100);
    let nat = ip(1);
    log.record(t0, nat, "CTLFile.tlv", "not-found");
    for mac in ["000000000001", "000000000002", "000000000003"] {
        log.record(t0, nat, &format!("SEP{mac}.cnf.xml"), "not-found");
        log.record(t0, nat, "XMLDefault.cnf.xml", "exact");
    }
    let lines = log.drain();
    let macs: Vec<String> = lines.iter().map(|l| l.mac.unwrap().to_string()).collect();
    assert_eq!(macs, ["000000000001", "000000000002", "000000000003"]);
    assert!(lines.iter().all(|l| l.config == Some(("XMLDefault.cnf.xml".to_owned(), false))));
    // The request made before the first phone named itself is that phone's.
    assert_eq!(lines[0].requests.len(), 3);
    assert_eq!(lines[0].requests[0].0, "CTLFile.tlv");
}
