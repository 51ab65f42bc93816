//! The client side: one transfer on a socket of its own.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::{
    ClientOptions, DataSink, DataSource, Event, Outcome, Policy, Source, Summary, Transfer,
    TransferIds,
};

/// Progress of a client transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes so far.
    pub bytes: u64,
    /// The total, when the server announced it (`tsize`) or the source knows it.
    pub total: Option<u64>,
}

/// Fetches `filename` from `server` into `sink`, calling `progress` as bytes arrive. Returns as
/// soon as the last block is in; the final ACK's dally goes on in a background task.
///
/// # Errors
/// [`crate::Error::Io`] for socket errors, [`crate::Error::Transfer`] when the transfer fails
/// (with its summary: the server's ERROR, a timeout...).
pub async fn get(
    server: SocketAddr,
    filename: &[u8],
    options: ClientOptions,
    sink: Box<dyn DataSink>,
    policy: Policy,
    progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    get_from(None, server, filename, options, sink, policy, progress).await
}

/// [`get`] from a chosen local address (a simulator gives each phone its own 127.x.y.z, so
/// that the server's per-peer limits see distinct peers).
///
/// # Errors
/// As [`get`]; binding `local` can fail too.
pub async fn get_from(
    local: Option<IpAddr>,
    server: SocketAddr,
    filename: &[u8],
    options: ClientOptions,
    sink: Box<dyn DataSink>,
    policy: Policy,
    progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    let transfer = Transfer::get(filename, options, sink, policy, Instant::now());
    client(server, local, transfer, None, progress).await
}

/// Sends `source` to `server` as `filename`.
///
/// # Errors
/// As [`get`].
pub async fn put(
    server: SocketAddr,
    filename: &[u8],
    options: ClientOptions,
    source: Box<dyn DataSource>,
    policy: Policy,
    progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    let total = source.size();
    let transfer = Transfer::put(filename, options, source, policy, Instant::now());
    client(server, None, transfer, total, progress).await
}

async fn client(
    server: SocketAddr,
    local: Option<IpAddr>,
    transfer: Transfer,
    total: Option<u64>,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, crate::Error> {
    let local = SocketAddr::new(local.unwrap_or_else(|| unspecified(server)), 0);
    // Buffers for the largest window the client may be granted (best effort: the kernel caps
    // them at net.core.{r,w}mem_max).
    let size = (transfer.window_bytes_hint() * 2).clamp(64 << 10, 4 << 20);
    let socket = crate::sockets::new_socket(local, |s| {
        let _ = s.set_send_buffer_size(size);
        let _ = s.set_recv_buffer_size(size);
        Ok(())
    })?;
    let mut run = Run {
        socket: UdpSocket::from_std(socket.into())?,
        ids: TransferIds::client(server),
        transfer,
        size: None,
    };
    let summary = run.until(false, |t, size| {
        progress(Progress { bytes: t.bytes(), total: size.or(total) });
    });
    let summary = summary.await?;
    if !run.transfer.is_done() {
        // Finished but dallying, to re-ACK a repeated last DATA: the caller has its data.
        tokio::spawn(async move { run.until(true, |_, _| {}).await });
    }
    if summary.outcome == Outcome::Completed {
        Ok(summary)
    } else {
        Err(crate::Error::Transfer(summary))
    }
}

struct Run {
    socket: UdpSocket,
    ids: TransferIds,
    transfer: Transfer,
    size: Option<u64>,
}

impl Run {
    /// Moves datagrams until the transfer finishes (or, `to_the_end`, until it is done
    /// dallying too); its summary.
    async fn until(
        &mut self,
        to_the_end: bool,
        mut progress: impl FnMut(&Transfer, Option<u64>),
    ) -> std::io::Result<Summary> {
        let mut out = vec![0u8; self.transfer.max_datagram_len()];
        // The server's blocks may be as large as anything we asked for: room for the largest.
        let mut input = vec![0u8; 65536 + 4];
        let mut finished = None;
        // One timer: the engine moves its deadline later on every ACK; the timer is only moved
        // earlier, and an early wake is ignored by the engine and re-armed.
        let far = || Instant::now() + Duration::from_secs(86_400);
        let mut armed = far();
        let sleep = tokio::time::sleep_until(armed.into());
        tokio::pin!(sleep);
        loop {
            out.resize(self.transfer.max_datagram_len().max(out.len()), 0);
            while let Some(n) = self.transfer.poll_transmit(&mut out) {
                self.socket.send_to(&out[..n], self.ids.target()).await?;
            }
            while let Some(event) = self.transfer.poll_event() {
                match event {
                    Event::Size(size) => self.size = Some(size),
                    Event::Finished(summary) => finished = Some(summary),
                }
            }
            progress(&self.transfer, self.size);
            if self.transfer.is_done() || (!to_the_end && finished.is_some()) {
                return Ok(finished.unwrap_or_else(|| self.transfer.unfinished()));
            }
            if let Some(deadline) = self.transfer.poll_timeout().filter(|d| *d < armed) {
                armed = deadline;
                sleep.as_mut().reset(deadline.into());
            }
            let (n, from) = tokio::select! {
                received = self.socket.recv_from(&mut input) => match received {
                    Ok(received) => received,
                    // ICMP port unreachable from an earlier send surfaces here on some systems.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                    Err(e) => return Err(e),
                },
                () = &mut sleep => {
                    armed = far();
                    self.transfer.handle_timeout(Instant::now());
                    continue;
                }
            };
            match self.ids.check(from) {
                Source::Peer => self.transfer.handle(Instant::now(), &input[..n]),
                Source::Ignore => {}
                Source::Stranger(error) => {
                    let _ = self.socket.send_to(&error, from).await;
                }
            }
        }
    }
}

/// The wildcard address of `peer`'s family: where a client binds when told no local address.
fn unspecified(peer: SocketAddr) -> IpAddr {
    if peer.is_ipv4() { IpAddr::from([0, 0, 0, 0]) } else { IpAddr::from([0u16; 8]) }
}
