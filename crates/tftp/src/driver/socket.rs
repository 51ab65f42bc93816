//! A transfer's socket, in or out of tokio's reactor, or its share of the listening socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Single-port mode: the inbox of each running transfer, by its peer's address and port. The
/// server's receive loop hands each transfer datagram to the inbox of the peer it came from.
pub(crate) type Routes = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>;

/// Datagrams a transfer's inbox holds before the receive loop drops more (a window of 64
/// blocks; the peer retransmits what was dropped).
pub(crate) const INBOX_DATAGRAMS: usize = 64;

/// A transfer's share of the listening socket: it sends from the listening port and reads
/// what the receive loop routes to it. Its route goes when it is dropped.
#[derive(Debug)]
pub(crate) struct SharedPort {
    socket: Arc<UdpSocket>,
    inbox: mpsc::Receiver<Vec<u8>>,
    peer: SocketAddr,
    routes: Routes,
    /// This transfer's own sender, to tell its route from a newer transfer's of the same peer.
    own: mpsc::Sender<Vec<u8>>,
}

impl SharedPort {
    /// Routes what `peer` sends to the listening port to a new transfer.
    pub(crate) fn new(socket: Arc<UdpSocket>, peer: SocketAddr, routes: &Routes) -> Self {
        let (own, inbox) = mpsc::channel(INBOX_DATAGRAMS);
        lock(routes).insert(peer, own.clone());
        Self { socket, inbox, peer, routes: Arc::clone(routes), own }
    }
}

impl Drop for SharedPort {
    fn drop(&mut self) {
        let mut routes = lock(&self.routes);
        // A transfer that dallies after its slot was released may outlive a newer transfer
        // from the same port: only its own route goes.
        if routes.get(&self.peer).is_some_and(|tx| tx.same_channel(&self.own)) {
            routes.remove(&self.peer);
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Copies a routed datagram into `input`: one longer than the buffer is cut to its length, so
/// that it still reads as too long (the buffer is one byte over the longest valid datagram).
fn take(datagram: &[u8], input: &mut [u8]) -> usize {
    let n = datagram.len().min(input.len());
    input[..n].copy_from_slice(&datagram[..n]);
    n
}

/// A transfer's socket: registered with tokio's reactor while the transfer waits the ordinary
/// way, taken out of it while a busy-poller polls. A registered socket wakes a parked worker
/// thread for every datagram, even when no task awaits it: measured with `perf stat` on a
/// lockstep transfer, one context switch per block, on the core the client needs.
#[derive(Debug)]
pub(crate) struct TransferSocket(Mode);

#[derive(Debug)]
enum Mode {
    Registered(UdpSocket),
    Polled(std::net::UdpSocket),
    /// Single-port mode (never polled).
    Shared(SharedPort),
    /// Only while switching; a failed switch leaves it here and the transfer ends with the
    /// error.
    Gone,
}

impl TransferSocket {
    pub(crate) fn new(socket: UdpSocket) -> Self {
        Self(Mode::Registered(socket))
    }

    pub(crate) fn shared(port: SharedPort) -> Self {
        Self(Mode::Shared(port))
    }

    /// Waits for the next datagram.
    pub(crate) async fn recv_from(
        &mut self,
        input: &mut [u8],
    ) -> std::io::Result<(usize, SocketAddr)> {
        if let Mode::Shared(port) = &mut self.0 {
            return match port.inbox.recv().await {
                Some(datagram) => Ok((take(&datagram, input), port.peer)),
                None => Err(std::io::Error::other("the server stopped routing datagrams")),
            };
        }
        self.registered()?.recv_from(input).await
    }

    /// The socket, registered with the reactor (registering it if it was out).
    pub(crate) fn registered(&mut self) -> std::io::Result<&UdpSocket> {
        if matches!(self.0, Mode::Polled(_))
            && let Mode::Polled(socket) = std::mem::replace(&mut self.0, Mode::Gone)
        {
            self.0 = Mode::Registered(UdpSocket::from_std(socket)?);
        }
        match &self.0 {
            Mode::Registered(socket) => Ok(socket),
            _ => Err(gone()),
        }
    }

    /// The socket, out of the reactor (deregistering it if it was in). Still non-blocking.
    pub(crate) fn polled(&mut self) -> std::io::Result<&std::net::UdpSocket> {
        if matches!(self.0, Mode::Registered(_))
            && let Mode::Registered(socket) = std::mem::replace(&mut self.0, Mode::Gone)
        {
            self.0 = Mode::Polled(socket.into_std()?);
        }
        match &self.0 {
            Mode::Polled(socket) => Ok(socket),
            _ => Err(gone()),
        }
    }

    /// A datagram already queued, without waiting, `None` if there is none. Asks the kernel
    /// whichever way the socket is held: a socket just put back into the reactor has no
    /// readiness yet, and tokio would answer "would block" without asking.
    pub(crate) fn try_recv_from(
        &mut self,
        input: &mut [u8],
    ) -> std::io::Result<Option<(usize, SocketAddr)>> {
        let received = match &mut self.0 {
            Mode::Registered(socket) => socket.try_recv_from(input),
            Mode::Polled(socket) => socket.recv_from(input),
            Mode::Shared(port) => {
                return match port.inbox.try_recv() {
                    Ok(datagram) => Ok(Some((take(&datagram, input), port.peer))),
                    Err(mpsc::error::TryRecvError::Empty) => Ok(None),
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        Err(std::io::Error::other("the server stopped routing datagrams"))
                    }
                };
            }
            Mode::Gone => return Err(gone()),
        };
        match received {
            Ok(received) => Ok(Some(received)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends one datagram: at once when out of the reactor and the send buffer has room,
    /// otherwise through the reactor.
    pub(crate) async fn send_to(
        &mut self,
        datagram: &[u8],
        target: SocketAddr,
    ) -> std::io::Result<()> {
        match &self.0 {
            Mode::Polled(socket) => match socket.send_to(datagram, target) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                result => return result.map(|_| ()),
            },
            Mode::Shared(port) => return port.socket.send_to(datagram, target).await.map(|_| ()),
            _ => {}
        }
        self.registered()?.send_to(datagram, target).await.map(|_| ())
    }
}

fn gone() -> std::io::Error {
    std::io::Error::other("transfer socket lost while leaving or joining the reactor")
}
