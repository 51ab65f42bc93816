use std::time::{Duration, Instant};

use cnfkit_tftp::{ClientOptions, Incoming, Policy, SharedBuffer, Transfer};
use cnfkit_tftp_wire::{Mode, Packet};

/// `engine`: an arbitrary sequence of datagrams and clock jumps driven into a server and a
/// client session. Neither panics; every datagram either emits parses with cnfkit-tftp-wire and
/// fits the negotiated block size; a duplicate ACK never makes the server send DATA (RFC 1123
/// 4.2.3.1); left alone, each side gives up within the policy's retries.
///
/// Input: byte 0 picks the client's options and the file size, then a list of operations:
/// `0 len bytes` (datagram to the server), `1 len bytes` (to the client), `2 n` (clock +n x 100
/// ms), `3` (deliver everything each side has sent to the other).
pub fn engine(data: &[u8]) {
    let Some((&setup, mut ops)) = data.split_first() else { return };
    let policy = Policy { max_retries: 3, ..Policy::default() };
    let options = ClientOptions {
        mode: if setup & 1 == 0 { Mode::Octet } else { Mode::Netascii },
        blksize: (setup & 2 != 0).then_some(8 + u16::from(setup >> 4) * 64),
        windowsize: (setup & 4 != 0).then_some(u16::from(setup >> 5) + 1),
        timeout: None,
        tsize: setup & 8 != 0,
    };
    let file: Vec<u8> =
        (0..usize::from(setup) * 37).map(|i| [b'a', b'\n', b'\r', b'x'][i % 4]).collect();
    let mut now = Instant::now();
    let mut client =
        Transfer::get(b"f", options, Box::new(SharedBuffer::new()), policy.clone(), now);
    let mut buf = vec![0u8; 70_000];
    let mut to_server = drain(&mut client, &mut buf);
    let Ok(Some(incoming)) = Incoming::parse(&to_server.remove(0), &policy) else {
        panic!("our own request parses")
    };
    let mut server = incoming.accept_read(Box::new(file), now);
    let mut to_client = drain(&mut server, &mut buf);
    let mut last_ack_to_server: Option<Vec<u8>> = None;

    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        match op % 4 {
            0 | 1 => {
                let Some((&len, rest)) = ops.split_first() else { break };
                let len = usize::from(len).min(rest.len());
                let (datagram, rest) = rest.split_at(len);
                ops = rest;
                if op % 4 == 0 {
                    feed_server(
                        &mut server,
                        now,
                        datagram,
                        &mut last_ack_to_server,
                        &mut buf,
                        &mut to_client,
                    );
                } else {
                    client.handle(now, datagram);
                    to_server.extend(drain(&mut client, &mut buf));
                }
            }
            2 => {
                let Some((&n, rest)) = ops.split_first() else { break };
                ops = rest;
                now += Duration::from_millis(100 * u64::from(n));
                client.handle_timeout(now);
                server.handle_timeout(now);
                last_ack_to_server = None;
                to_server.extend(drain(&mut client, &mut buf));
                to_client.extend(drain(&mut server, &mut buf));
            }
            _ => {
                for d in std::mem::take(&mut to_server) {
                    feed_server(
                        &mut server,
                        now,
                        &d,
                        &mut last_ack_to_server,
                        &mut buf,
                        &mut to_client,
                    );
                }
                for d in std::mem::take(&mut to_client) {
                    client.handle(now, &d);
                }
                to_server.extend(drain(&mut client, &mut buf));
            }
        }
    }
    // Left alone, both sides end within their retries (dally included).
    for side in [&mut client, &mut server] {
        let mut rounds = 0;
        while let Some(deadline) = side.poll_timeout() {
            rounds += 1;
            assert!(rounds <= 3 + 2, "still running after {rounds} timeouts with no input");
            now = now.max(deadline);
            side.handle_timeout(now);
            drain(side, &mut buf);
        }
    }
}

fn feed_server(
    server: &mut Transfer,
    now: Instant,
    datagram: &[u8],
    last_ack: &mut Option<Vec<u8>>,
    buf: &mut [u8],
    out: &mut Vec<Vec<u8>>,
) {
    let duplicate_ack = matches!(Packet::parse(datagram), Ok(Packet::Ack { .. }))
        && last_ack.as_deref() == Some(datagram);
    server.handle(now, datagram);
    let sent = drain(server, buf);
    if duplicate_ack {
        assert!(
            !sent.iter().any(|d| matches!(Packet::parse(d), Ok(Packet::Data { .. }))),
            "DATA sent on a duplicate ACK"
        );
    }
    if matches!(Packet::parse(datagram), Ok(Packet::Ack { .. })) {
        *last_ack = Some(datagram.to_vec());
    }
    out.extend(sent);
}

/// Everything a side has to send, each checked: it parses, and DATA fits the block size.
fn drain(side: &mut Transfer, buf: &mut [u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(n) = side.poll_transmit(buf) {
        let datagram = &buf[..n];
        assert!(n <= side.max_datagram_len(), "datagram of {n} bytes over max_datagram_len");
        match Packet::parse(datagram) {
            Ok(Packet::Data { data, .. }) => {
                let limit = usize::from(side.options().blksize);
                assert!(data.len() <= limit, "DATA of {} bytes, blksize {limit}", data.len());
            }
            Ok(_) => {}
            Err(e) => panic!("emitted an unparseable datagram: {e}"),
        }
        out.push(datagram.to_vec());
    }
    while side.poll_event().is_some() {}
    out
}
