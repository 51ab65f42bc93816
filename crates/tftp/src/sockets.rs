//! How the driver's sockets are made: buffers sized for bursts, the loops' shared port
//! (`SO_REUSEPORT`), and the program that keeps each client address on one loop; and how a
//! batch of datagrams is sent in one system call.

use std::net::SocketAddr;

/// A listening socket, its receive buffer sized for a burst of requests: the kernel counts
/// each datagram at ~1 KiB of buffer, so the 208 KiB default holds ~200 requests of a site's
/// phones booting at once. Best effort: the kernel caps it at net.core.rmem_max.
pub(crate) fn listening_socket(
    addr: SocketAddr,
    reuse_port: bool,
    buffer: usize,
) -> std::io::Result<std::net::UdpSocket> {
    let socket = new_socket(addr, |s| {
        let _ = s.set_recv_buffer_size(buffer);
        let _ = s.set_send_buffer_size(buffer);
        #[cfg(unix)]
        if reuse_port {
            s.set_reuse_port(true)?;
        }
        Ok(())
    })?;
    Ok(socket.into())
}

/// Has the kernel pick a loop's socket by the client's address alone (a classic BPF program
/// for the `SO_REUSEPORT` group returning `address % loops`), rather than by address and port:
/// a phone asks for each file from a new port, and its requests, the per-address limits and
/// the order its boot is recorded in must stay on one loop.
#[cfg(target_os = "linux")]
pub(crate) fn steer_by_address(socket: &std::net::UdpSocket, loops: usize) -> std::io::Result<()> {
    use nix::libc::{sock_filter, sock_fprog};
    // The program sees the UDP payload; the IP header is at the negative offset SKF_NET_OFF.
    const NET: u32 = 0xfff0_0000;
    let op = |code: u16, jt: u8, jf: u8, k: u32| sock_filter { code, jt, jf, k };
    let program = [
        op(0x30, 0, 0, NET),      // ldb [net + 0]: version and header length
        op(0x74, 0, 0, 4),        // rsh #4
        op(0x15, 0, 2, 4),        // jeq #4 (IPv4), else skip to the IPv6 load
        op(0x20, 0, 0, NET + 12), // ld [net + 12]: the IPv4 source
        op(0x05, 0, 0, 1),        // ja past the IPv6 load
        op(0x20, 0, 0, NET + 20), // ld [net + 20]: the IPv6 source's last 32 bits
        op(0x94, 0, 0, u32::try_from(loops).unwrap_or(1)), // mod #loops
        op(0x16, 0, 0, 0),        // ret a: the socket's index in the group
    ];
    let fprog = sock_fprog { len: 8, filter: program.as_ptr().cast_mut() };
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::AttachReusePortCbpf, &fprog)
        .map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn steer_by_address(_: &std::net::UdpSocket, _: usize) -> std::io::Result<()> {
    Err(std::io::Error::other("no SO_ATTACH_REUSEPORT_CBPF on this system"))
}

/// A transfer's own port ([`Layout::PortPerTransfer`](crate::Layout::PortPerTransfer)) on
/// `local`'s address, its buffers up to 256 KiB.
pub(crate) fn transfer_socket(
    local: SocketAddr,
    max_buffer: usize,
) -> std::io::Result<tokio::net::UdpSocket> {
    let buffer = max_buffer.min(256 << 10);
    let socket = new_socket(local, |s| {
        let _ = s.set_send_buffer_size(buffer);
        s.set_recv_buffer_size(buffer)
    })?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// A non-blocking UDP socket bound to `local` (port 0: a new transfer ID).
pub(crate) fn new_socket(
    local: SocketAddr,
    setup: impl FnOnce(&socket2::Socket) -> std::io::Result<()>,
) -> std::io::Result<socket2::Socket> {
    let domain = if local.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    setup(&socket)?;
    socket.bind(&local.into())?;
    Ok(socket)
}

/// Sends the datagrams of `run` in one system call; how many went.
#[cfg(target_os = "linux")]
pub(crate) fn send_batch<'a>(
    socket: &tokio::net::UdpSocket,
    run: impl Iterator<Item = crate::Transmit<'a>>,
) -> std::io::Result<usize> {
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};
    use std::io::IoSlice;
    // The kernel takes at most UIO_MAXIOV (1024) messages a call.
    let run: Vec<_> = run.take(1024).collect();
    let addrs: Vec<SocketAddrAny> = run.iter().map(|t| t.to.into()).collect();
    let slices: Vec<[IoSlice<'_>; 1]> = run.iter().map(|t| [IoSlice::new(t.bytes)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
        run.iter().map(|_| SendAncillaryBuffer::default()).collect();
    let mut messages: Vec<MMsgHdr<'_>> = addrs
        .iter()
        .zip(&slices)
        .zip(controls.iter_mut())
        .map(|((addr, slice), control)| MMsgHdr::new_with_addr(addr, slice, control))
        .collect();
    Ok(sendmmsg(socket, &mut messages, SendFlags::empty())?)
}

/// Sends the first datagram of `run`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn send_batch<'a>(
    socket: &tokio::net::UdpSocket,
    mut run: impl Iterator<Item = crate::Transmit<'a>>,
) -> std::io::Result<usize> {
    let first = run.next().ok_or_else(|| std::io::Error::other("nothing to send"))?;
    socket.try_send_to(first.bytes, first.to).map(|_| 1)
}
