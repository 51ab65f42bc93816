use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cnfkit_tftp::{
    Endpoint, EndpointEvent, Layout, Limits, Local, Policy, Refusal, SharedBuffer, TransferId,
};
use cnfkit_tftp_wire::Packet;

/// `endpoint`: hostile datagrams from a handful of peers, clock jumps and the application's
/// decisions driven into one server `Endpoint`. It never panics; it never holds more slots than
/// its limits; every datagram it sends parses and fits the largest block; in the shared-port
/// layout everything leaves from the listening port, and with a port per transfer only ERRORs
/// do; after a shutdown and a minute, nothing holds a slot.
///
/// Input: byte 0 picks the limits and the layout, then a list of operations: `0 peer len bytes`
/// (a datagram to the listening port), `1 peer k len bytes` (to the port of the k-th request
/// seen), `2 n` (clock +n x 100 ms), `3 k how` (decide the k-th request: read, write, refuse,
/// leave unanswered), `4` (shutdown with a 1 s grace period).
pub fn endpoint(data: &[u8]) {
    let Some((&setup, mut ops)) = data.split_first() else { return };
    let limits = Limits {
        max_transfers: usize::from(setup & 7) + 1,
        max_per_peer: usize::from((setup >> 3) & 3) + 1,
        max_undecided: 4,
        max_undecided_per_peer: 2,
        ..Limits::default()
    };
    let layout = if setup & 0x80 == 0 { Layout::SharedPort } else { Layout::PortPerTransfer };
    let policy = Policy { max_retries: 2, max_blksize: 1468, ..Policy::default() };
    let mut server = Endpoint::new(policy, limits, layout);
    let mut now = Instant::now();
    let mut requests: Vec<TransferId> = Vec::new();
    let peer = |b: u8| SocketAddr::from(([10, 0, b >> 4 & 3, b & 3], 1000 + u16::from(b >> 6)));
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        match op % 5 {
            0 | 1 => {
                let Some((&from, rest)) = ops.split_first() else { break };
                let (local, rest) = if op % 5 == 0 {
                    (Local::Listening, rest)
                } else {
                    let Some((&k, rest)) = rest.split_first() else { break };
                    let Some(id) = requests.get(usize::from(k) % requests.len().max(1)) else {
                        break;
                    };
                    (Local::Transfer(*id), rest)
                };
                let Some((&len, rest)) = rest.split_first() else { break };
                let (datagram, rest) = rest.split_at(usize::from(len).min(rest.len()));
                ops = rest;
                server.handle(now, local, peer(from), datagram);
            }
            2 => {
                let Some((&n, rest)) = ops.split_first() else { break };
                ops = rest;
                now += Duration::from_millis(100 * u64::from(n));
                server.handle_timeout(now);
            }
            3 => {
                let [k, how, rest @ ..] = ops else { break };
                ops = rest;
                let Some(&id) = requests.get(usize::from(*k) % requests.len().max(1)) else {
                    continue;
                };
                match how % 4 {
                    0 => server.accept_read(id, Box::new(vec![7u8; usize::from(*how) * 40]), now),
                    1 => server.accept_write(id, Box::new(SharedBuffer::new()), now),
                    2 => server.refuse(id, Refusal::not_found()),
                    _ => server.refuse(id, Refusal::Unanswered("fuzz")),
                }
            }
            _ => server.shutdown(now, Duration::from_secs(1)),
        }
        while let Some(event) = server.poll_event() {
            if let EndpointEvent::Request { id, .. } = event {
                requests.push(id);
            }
        }
        check(&mut server, limits, layout);
    }
    server.shutdown(now, Duration::from_secs(1));
    for _ in 0..600 {
        now += Duration::from_millis(100);
        server.handle_timeout(now);
        check(&mut server, limits, layout);
    }
    assert!(server.is_drained(), "a minute after shutdown, nothing holds a slot");
}

fn check(server: &mut Endpoint, limits: Limits, layout: Layout) {
    assert!(server.active() <= limits.max_transfers, "over the transfer limit");
    let mut sent = 0;
    for transmit in server.transmits() {
        sent += 1;
        assert!(transmit.bytes.len() <= 1468 + 4, "a datagram over the largest block");
        let packet = Packet::parse(transmit.bytes).expect("every datagram sent parses");
        match layout {
            Layout::SharedPort => assert_eq!(transmit.from, Local::Listening),
            _ if transmit.from == Local::Listening => {
                assert!(
                    matches!(packet, Packet::Error { .. }),
                    "only ERRORs leave the listening port"
                );
            }
            _ => {}
        }
    }
    server.sent(sent);
}
