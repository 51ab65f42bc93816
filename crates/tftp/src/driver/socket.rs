//! A transfer's socket, in or out of tokio's reactor.

use std::net::SocketAddr;

use tokio::net::UdpSocket;

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
    /// Only while switching; a failed switch leaves it here and the transfer ends with the
    /// error.
    Gone,
}

impl TransferSocket {
    pub(crate) fn new(socket: UdpSocket) -> Self {
        Self(Mode::Registered(socket))
    }

    /// Waits for the next datagram.
    pub(crate) async fn recv_from(
        &mut self,
        input: &mut [u8],
    ) -> std::io::Result<(usize, SocketAddr)> {
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
        if let Mode::Polled(socket) = &self.0 {
            match socket.send_to(datagram, target) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                result => return result.map(|_| ()),
            }
        }
        self.registered()?.send_to(datagram, target).await.map(|_| ())
    }
}

fn gone() -> std::io::Error {
    std::io::Error::other("transfer socket lost while leaving or joining the reactor")
}
