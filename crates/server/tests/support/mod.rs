//! What the server's integration tests share.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// Reads datagrams until an ERROR arrives (its code and message) or `limit` passes.
pub(crate) fn wait_for_error(socket: &UdpSocket, limit: Duration) -> Option<(u16, String)> {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        socket.set_read_timeout(Some(deadline - Instant::now())).unwrap();
        let Ok((n, _)) = socket.recv_from(&mut buf) else { return None };
        if n >= 4 && buf[..2] == [0, 5] {
            let message = String::from_utf8_lossy(&buf[4..n]).trim_end_matches('\0').to_owned();
            return Some((u16::from_be_bytes([buf[2], buf[3]]), message));
        }
    }
    None
}
