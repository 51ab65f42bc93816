//! The tokio driver on loopback: real sockets, bounded in time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cnfkit_tftp::driver::{self, Server, ServerConfig};
use cnfkit_tftp::{
    ClientOptions, DataSink, DataSource, Error, Handler, Incoming, Layout, Open, Outcome, Policy,
    Refusal, SharedBuffer, Stats,
};
use cnfkit_tftp_wire::{ErrorCode, Packet};

struct Files {
    stored: SharedBuffer,
}

impl Handler for Files {
    fn open_read(&self, _peer: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSource>> {
        Open::Ready(match request.filename() {
            b"big.bin" => Ok(Box::new(expected_big())),
            b"small.txt" => Ok(Box::new(b"hello\n".to_vec())),
            b"medium.bin" => Ok(Box::new(expected_medium())),
            _ => Err(Refusal::not_found()),
        })
    }

    fn open_write(&self, _peer: SocketAddr, _request: &Incoming) -> Open<Box<dyn DataSink>> {
        Open::Ready(Ok(Box::new(self.stored.clone())))
    }
}

async fn start() -> (SocketAddr, SharedBuffer, tokio::sync::oneshot::Sender<()>, Arc<Stats>) {
    start_with(ServerConfig::default()).await
}

async fn start_with(
    config: ServerConfig,
) -> (SocketAddr, SharedBuffer, tokio::sync::oneshot::Sender<()>, Arc<Stats>) {
    let (addr, stored, stop, stats, _run) = start_running(config).await;
    (addr, stored, stop, stats)
}

/// A server stopped by the returned sender (grace 1 s), and its run.
async fn start_running(
    config: ServerConfig,
) -> (
    SocketAddr,
    SharedBuffer,
    tokio::sync::oneshot::Sender<()>,
    Arc<Stats>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let stored = SharedBuffer::new();
    let server =
        Server::bind("127.0.0.1:0".parse().unwrap(), Files { stored: stored.clone() }, config)
            .await
            .unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(server.run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    (addr, stored, stop, stats, run)
}

/// Fetches big.bin in lockstep in a task of its own.
fn spawn_get_big(
    addr: SocketAddr,
) -> (SharedBuffer, tokio::task::JoinHandle<Result<cnfkit_tftp::Summary, Error>>) {
    let got = SharedBuffer::new();
    let sink = Box::new(got.clone());
    let transfer = tokio::spawn(driver::get(
        addr,
        b"big.bin",
        ClientOptions::none(cnfkit_tftp_wire::Mode::Octet),
        sink,
        Policy::default(),
        |_| {},
    ));
    (got, transfer)
}

fn expected_big() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i % 251) as u8).collect()
}

/// 20 blocks of 512 bytes and a last one of 100.
fn expected_medium() -> Vec<u8> {
    (0..10_340u32).map(|i| (i % 253) as u8).collect()
}

/// Fetches medium.bin in lockstep with 512-byte blocks (no options); its bytes.
async fn get_medium(addr: SocketAddr) -> Vec<u8> {
    let got = SharedBuffer::new();
    let options = ClientOptions::none(cnfkit_tftp_wire::Mode::Octet);
    tokio::time::timeout(
        Duration::from_secs(20),
        driver::get(addr, b"medium.bin", options, Box::new(got.clone()), Policy::default(), |_| {}),
    )
    .await
    .expect("bounded")
    .expect("get");
    got.contents()
}

fn batching_every(interval: Duration) -> ServerConfig {
    ServerConfig { batch_interval: Some(interval), busy_poll: None, ..ServerConfig::default() }
}

/// `ServerConfig::batch_interval`: with `BATCHING_TRANSFERS` or more transfers on a loop, the
/// loop reads its socket at most once per `batch_wait` (here 10 µs per transfer: 640 µs for
/// 64), so one read takes what many lockstep clients sent meanwhile, and every byte still
/// arrives: 31-35 datagrams a read here, against 3-14 unpaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_the_loop_reads_in_batches_and_every_transfer_stays_byte_exact() {
    const CLIENTS: u64 = 64;
    let limits = cnfkit_tftp::Limits { max_per_peer: 64, ..cnfkit_tftp::Limits::default() };
    let config = ServerConfig { limits, ..batching_every(Duration::from_millis(10)) };
    assert_eq!(config.batch_wait(64), Some(Duration::from_micros(640)));
    let (addr, _, _stop, stats) = start_with(config).await;
    let clients: Vec<_> = (0..CLIENTS).map(|_| tokio::spawn(get_medium(addr))).collect();
    for client in clients {
        assert!(client.await.unwrap() == expected_medium(), "bytes differ");
    }
    until_counted(&stats.completed, CLIENTS).await;
    let reads = stats.reads.load(std::sync::atomic::Ordering::Relaxed);
    let datagrams = stats.datagrams_read.load(std::sync::atomic::Ordering::Relaxed);
    // A request and 21 ACKs per client, and any a client sent again.
    assert!(datagrams >= CLIENTS * 22, "{datagrams}");
    assert!(datagrams >= 8 * reads, "{datagrams} datagrams in {reads} reads");
}

/// Fewer transfers than `BATCHING_TRANSFERS` are never held back: a lone lockstep transfer of
/// 21 blocks with a 50 ms batch interval takes far less than 21 intervals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_transfer_is_not_held_back_by_the_batch_interval() {
    let (addr, _, _stop, stats) = start_with(batching_every(Duration::from_millis(50))).await;
    let started = std::time::Instant::now();
    assert!(get_medium(addr).await == expected_medium(), "bytes differ");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "{took:?}: paced like a storm");
    until_counted(&stats.completed, 1).await;
}

#[tokio::test]
async fn get_and_put_over_loopback_lockstep_and_windowed() {
    let (addr, stored, _stop, stats) = start().await;
    for options in [
        ClientOptions::none(cnfkit_tftp_wire::Mode::Octet),
        ClientOptions::default(),
        ClientOptions { blksize: Some(8192), windowsize: Some(16), ..ClientOptions::default() },
        ClientOptions { blksize: Some(65464), windowsize: Some(4), ..ClientOptions::default() },
    ] {
        let got = SharedBuffer::new();
        let mut last = None;
        let summary = tokio::time::timeout(
            Duration::from_secs(30),
            driver::get(addr, b"big.bin", options, Box::new(got.clone()), Policy::default(), |p| {
                last = Some(p);
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("bounded: {options:?}, got {} bytes", got.contents().len()))
        .expect("get");
        assert_eq!(got.contents(), expected_big(), "{options:?}");
        assert_eq!(summary.bytes, 3_000_000);
        if options.tsize {
            assert_eq!(last.unwrap().total, Some(3_000_000));
        }
    }
    put_up_bin(addr, &stored, b"uploaded bytes".repeat(1000)).await;
    assert!(stats.completed.load(std::sync::atomic::Ordering::Relaxed) >= 5);
}

/// Uploads `data` as `up.bin` with the default options; the server's sink holds it whole.
async fn put_up_bin(addr: SocketAddr, stored: &SharedBuffer, data: Vec<u8>) {
    let upload = Box::new(data.clone());
    driver::put(addr, b"up.bin", ClientOptions::default(), upload, Policy::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(stored.contents(), data);
}

async fn get_big(addr: SocketAddr, options: ClientOptions) {
    let got = SharedBuffer::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        driver::get(addr, b"big.bin", options, Box::new(got.clone()), Policy::default(), |_| {}),
    )
    .await
    .unwrap_or_else(|_| panic!("bounded: {options:?}, got {} bytes", got.contents().len()))
    .expect("get");
    assert!(got.contents() == expected_big(), "{options:?}: bytes differ");
}

/// A client on a thread and runtime of its own, as a real client is in another process.
async fn get_big_from_elsewhere(addr: SocketAddr, options: ClientOptions) {
    let client = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(get_big(addr, options));
    });
    tokio::task::spawn_blocking(move || client.join())
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("{options:?}: the client failed"));
}

fn busy_polling() -> ServerConfig {
    ServerConfig { busy_poll: Some(Duration::from_millis(1)), ..ServerConfig::default() }
}

/// Waits (bounded) until a server counter reaches `value`: a client is done when it sent its
/// last ACK, the server when that ACK arrived, a moment later.
async fn until_counted(counter: &std::sync::atomic::AtomicU64, value: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while counter.load(std::sync::atomic::Ordering::Relaxed) < value
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), value);
}

/// `ServerConfig::busy_poll`: a lone transfer whose peer answers fast is polled for (the
/// counter shows datagrams taken that way), and lockstep, windowed and two concurrent
/// transfers (the switch in and out of polling as the count changes) stay byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_polling_server_serves_lone_windowed_and_concurrent_transfers_byte_exact() {
    let (addr, _, _stop, stats) = start_with(busy_polling()).await;
    get_big_from_elsewhere(addr, ClientOptions::default()).await;
    let polled = stats.polled.load(std::sync::atomic::Ordering::Relaxed);
    assert!(polled > 0, "a lone loopback transfer answers within 1 ms: polled for");
    get_big_from_elsewhere(
        addr,
        ClientOptions { windowsize: Some(16), ..ClientOptions::default() },
    )
    .await;
    let small_blocks = ClientOptions { blksize: Some(512), ..ClientOptions::default() };
    tokio::join!(
        get_big_from_elsewhere(addr, small_blocks),
        get_big_from_elsewhere(addr, ClientOptions::default())
    );
    until_counted(&stats.completed, 4).await;
    assert_eq!(stats.failed.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// A client in the runtime that started the polling server: the server's loops poll on threads
/// of their own, so the client is neither stuck nor given wrong bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sharing_the_polling_servers_runtime_still_gets_every_byte() {
    let (addr, _, _stop, stats) = start_with(busy_polling()).await;
    get_big(addr, ClientOptions::default()).await;
    until_counted(&stats.completed, 1).await;
}

#[tokio::test]
async fn file_not_found_is_a_transfer_error_with_the_servers_code() {
    let (addr, _, _stop, _) = start().await;
    let err = driver::get(
        addr,
        b"SEP001122334455.cnf.xml",
        ClientOptions::default(),
        Box::new(SharedBuffer::new()),
        Policy::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    let Error::Transfer(summary) = err else { panic!("{err}") };
    assert!(matches!(summary.outcome, Outcome::PeerError { code: ErrorCode::FILE_NOT_FOUND, .. }));
}

fn port_per_transfer() -> ServerConfig {
    ServerConfig { layout: Layout::PortPerTransfer, ..ServerConfig::default() }
}

/// RFC 1350 section 4, in `Layout::PortPerTransfer`: every request is answered from a TID of
/// its own, a refusal too (a client that locks onto the first answer's port must not lock onto
/// the listening port).
#[tokio::test]
async fn port_per_transfer_sends_every_refusal_from_a_port_other_than_the_listening_one() {
    let (addr, _, _stop, stats) = start_with(port_per_transfer()).await;
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..3 {
        client.send_to(b"\x00\x01ITLFile.tlv\x00octet\x00", addr).await.unwrap();
        let mut buf = [0u8; 512];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(
            matches!(
                Packet::parse(&buf[..n]),
                Ok(Packet::Error { code: ErrorCode::FILE_NOT_FOUND, .. })
            ),
            "{:?}",
            &buf[..n]
        );
        assert_eq!(from.ip(), addr.ip());
        assert_ne!(from.port(), addr.port(), "not from the listening port");
    }
    assert_eq!(stats.refused.load(std::sync::atomic::Ordering::Relaxed), 3);
}

/// RFC 1350 section 4, in `Layout::PortPerTransfer`: a datagram from the wrong TID gets
/// ERROR 5, and the transfer goes on; the whole file then arrives byte-exact.
#[tokio::test]
async fn port_per_transfer_answers_a_stranger_with_error_5_and_the_transfer_continues() {
    let (addr, _, _stop, _) = start_with(port_per_transfer()).await;
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\x00\x01big.bin\x00octet\x00", addr).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let (n, tid) = client.recv_from(&mut buf).await.unwrap();
    assert!(matches!(Packet::parse(&buf[..n]), Ok(Packet::Data { block: 1, .. })));
    assert_ne!(tid, addr, "answered from a new port");

    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger.send_to(b"\x00\x04\x00\x01", tid).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), stranger.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        Packet::parse(&buf[..n]),
        Ok(Packet::Error { code: ErrorCode::UNKNOWN_TRANSFER_ID, .. })
    ));

    client.send_to(b"\x00\x04\x00\x01", tid).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(Packet::parse(&buf[..n]), Ok(Packet::Data { block: 2, .. })),
        "the real client goes on"
    );
    get_big(addr, ClientOptions::default()).await;
    get_big(addr, ClientOptions { windowsize: Some(8), ..ClientOptions::default() }).await;
}

#[tokio::test]
async fn writes_are_refused_unless_the_handler_opts_in() {
    struct ReadOnly;
    impl Handler for ReadOnly {
        fn open_read(&self, _: SocketAddr, _: &Incoming) -> Open<Box<dyn DataSource>> {
            Open::Ready(Err(Refusal::not_found()))
        }
    }
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ReadOnly, ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    let err = driver::put(
        addr,
        b"x",
        ClientOptions::default(),
        Box::new(vec![1u8; 10]),
        Policy::default(),
        |_| {},
    )
    .await
    .unwrap_err();
    let Error::Transfer(summary) = err else { panic!() };
    assert!(matches!(
        summary.outcome,
        Outcome::PeerError { code: ErrorCode::ACCESS_VIOLATION, .. }
    ));
}

#[tokio::test]
async fn shutdown_lets_running_transfers_finish() {
    let (addr, _, stop, _) = start().await;
    let (got, transfer) = spawn_get_big(addr);
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), transfer).await.unwrap().unwrap().unwrap();
    assert_eq!(got.contents().len(), 3_000_000);
    // No new transfer after shutdown.
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        driver::get(
            addr,
            b"small.txt",
            ClientOptions::default(),
            Box::new(SharedBuffer::new()),
            Policy { max_retries: 1, ..Policy::default() },
            |_| {},
        ),
    )
    .await
    .unwrap();
    assert!(err.is_err());
}

/// Over the per-peer limit a request is dropped, not refused: the client's retransmission gets
/// served once a slot frees, so both transfers complete and the drop is counted.
#[tokio::test]
async fn requests_over_the_per_peer_limit_are_dropped_and_retried_by_the_client() {
    let config = ServerConfig {
        limits: cnfkit_tftp::Limits { max_per_peer: 1, ..cnfkit_tftp::Limits::default() },
        ..ServerConfig::default()
    };
    let server =
        Server::bind("127.0.0.1:0".parse().unwrap(), Files { stored: SharedBuffer::new() }, config)
            .await
            .unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    let (got_a, a) = spawn_get_big(addr);
    let (got_b, b) = spawn_get_big(addr);
    let (a, b) =
        tokio::time::timeout(Duration::from_secs(60), async { (a.await, b.await) }).await.unwrap();
    a.unwrap().unwrap();
    b.unwrap().unwrap();
    assert_eq!((got_a.contents().len(), got_b.contents().len()), (3_000_000, 3_000_000));
    assert!(
        stats.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the second request waited its turn"
    );
}

async fn recv(socket: &tokio::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    buf.truncate(n);
    (buf, from)
}

/// The default layout (`Layout::SharedPort`), as a client behind NAT sees it: the OACK, every
/// DATA and a refusal come from the listening port, and two clients on one address, told apart
/// only by their ports, each get their own file block by block, interleaved, never the other's.
#[tokio::test]
async fn the_default_answers_from_the_listening_port_and_tells_two_ports_of_one_address_apart() {
    let (addr, stored, _stop, stats) = start().await;
    let a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.send_to(b"\x00\x01big.bin\x00octet\x00blksize\x001024\x00", addr).await.unwrap();
    b.send_to(b"\x00\x01small.txt\x00octet\x00", addr).await.unwrap();
    // `a` negotiated: an OACK first, from the listening port (RFC 2347 section 4).
    let (oack, from) = recv(&a).await;
    assert_eq!(from, addr);
    assert_eq!(&oack[..2], &[0, 6]);
    // `b` asked for no option: DATA 1 at once, from the listening port too.
    let (data, from) = recv(&b).await;
    assert_eq!((from, &data[..]), (addr, &b"\x00\x03\x00\x01hello\n"[..]));
    // A refusal too.
    let c = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(b"\x00\x01ITLFile.tlv\x00octet\x00", addr).await.unwrap();
    let (error, from) = recv(&c).await;
    assert_eq!((from, &error[..4]), (addr, &[0, 5, 0, 1][..]));

    // Interleaved: a's blocks while b finishes, each ACK sent to the listening port.
    a.send_to(&[0, 4, 0, 0], addr).await.unwrap();
    b.send_to(&[0, 4, 0, 1], addr).await.unwrap();
    let big = expected_big();
    let mut got = Vec::new();
    for block in 1..=5u16 {
        let (data, from) = recv(&a).await;
        assert_eq!(from, addr);
        let [hi, lo] = block.to_be_bytes();
        assert_eq!(&data[..4], &[0, 3, hi, lo]);
        got.extend_from_slice(&data[4..]);
        a.send_to(&[0, 4, hi, lo], addr).await.unwrap();
    }
    assert_eq!(got, big[..5 * 1024]);
    // b's transfer is over: nothing more comes to it.
    let mut buf = [0u8; 64];
    let quiet = tokio::time::timeout(Duration::from_millis(300), b.recv_from(&mut buf)).await;
    assert!(quiet.is_err(), "b received {quiet:?}");

    // A datagram of a transfer that does not exist gets no answer (nothing to reflect).
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger.send_to(&[0, 4, 0, 1], addr).await.unwrap();
    let quiet =
        tokio::time::timeout(Duration::from_millis(300), stranger.recv_from(&mut buf)).await;
    assert!(quiet.is_err(), "a stranger's ACK was answered");

    // The rest through the driver's own client, and an upload, all on the one port.
    a.send_to(b"\x00\x05\x00\x00done\x00", addr).await.unwrap();
    get_big(
        addr,
        ClientOptions { blksize: Some(1468), windowsize: Some(8), ..ClientOptions::default() },
    )
    .await;
    put_up_bin(addr, &stored, b"uploaded through one port".repeat(200)).await;
    assert!(stats.completed.load(std::sync::atomic::Ordering::Relaxed) >= 3);
}

/// Shutdown: after the signal a transfer that finishes within the grace period completes, a
/// peer that stalled gets ERROR 0 "Server shutting down" from the listening port once the grace
/// period is over, a new request gets no answer, and the server's run ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_transfers_finish_then_stops_stalled_ones_with_error_0() {
    let (addr, _, stop, stats, run) = start_running(ServerConfig::default()).await;
    // The stalled peer takes DATA 1 and never acknowledges it.
    let stalled = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stalled.send_to(b"\x00\x01big.bin\x00octet\x00", addr).await.unwrap();
    let (data, from) = recv(&stalled).await;
    assert_eq!((from, &data[..4]), (addr, &[0, 3, 0, 1][..]));
    let (got, transfer) = spawn_get_big(addr);
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), transfer).await.unwrap().unwrap().unwrap();
    assert_eq!(got.contents(), expected_big());
    // A request after the signal is not taken.
    let late = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    late.send_to(b"\x00\x01small.txt\x00octet\x00", addr).await.unwrap();
    // The stalled peer hears DATA 1 again (retransmitted) until the grace period ends.
    let error = loop {
        let (datagram, from) = recv(&stalled).await;
        assert_eq!(from, addr);
        match Packet::parse(&datagram).unwrap() {
            Packet::Data { block, .. } => assert_eq!(block, 1),
            Packet::Error { code, message } => break (code, message.to_vec()),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(error, (ErrorCode::NOT_DEFINED, b"Server shutting down".to_vec()));
    tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap().unwrap();
    assert_eq!(stats.stopped.load(std::sync::atomic::Ordering::Relaxed), 1);
    let mut buf = [0u8; 64];
    assert!(late.try_recv_from(&mut buf).is_err(), "the late request was answered");
}

/// A handler that may wait (`Open::Later`): a request whose open takes 2 s delays only itself.
/// 200 phones, each from an address of its own, fetch their file meanwhile and all finish
/// before it; the slow request's retransmissions are absorbed, and it is served once decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_open_delays_only_its_own_request_while_200_phones_boot() {
    struct Slow;
    impl Handler for Slow {
        fn open_read(&self, _: SocketAddr, request: &Incoming) -> Open<Box<dyn DataSource>> {
            if request.filename() == b"slow.xml" {
                return Open::later(async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok(Box::new(b"<slow/>".to_vec()) as Box<dyn DataSource>)
                });
            }
            Open::Ready(Ok(Box::new(vec![7u8; 4000])))
        }
    }
    let server =
        Server::bind("127.0.0.1:0".parse().unwrap(), Slow, ServerConfig::default()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    let started = std::time::Instant::now();
    let slow_got = SharedBuffer::new();
    let slow = tokio::spawn(driver::get(
        addr,
        b"slow.xml",
        ClientOptions::default(),
        Box::new(slow_got.clone()),
        Policy::default(),
        |_| {},
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut phones = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let [.., high, low] = (i + 257).to_be_bytes();
        let local = std::net::IpAddr::from([127, 0, high, low]);
        phones.spawn(async move {
            let got = SharedBuffer::new();
            let name = format!("SEP{i:012X}.cnf.xml");
            let sink = Box::new(got.clone());
            let options = ClientOptions::default();
            driver::get_from(
                Some(local),
                addr,
                name.as_bytes(),
                options,
                sink,
                Policy::default(),
                |_| {},
            )
            .await
            .expect("served");
            assert_eq!(got.contents(), vec![7u8; 4000]);
        });
    }
    while let Some(phone) = phones.join_next().await {
        phone.unwrap();
    }
    let fast = started.elapsed();
    assert!(fast < Duration::from_millis(1800), "200 phones took {fast:?}");
    assert!(!slow.is_finished(), "the slow request is still being decided");
    tokio::time::timeout(Duration::from_secs(10), slow).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(slow_got.contents(), b"<slow/>");
    assert!(stats.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 1, "its RRQ was resent");
}

/// With several loops on one port, the kernel hands every datagram of one address to the same
/// loop, whatever its port (a phone asks for each file from a new port): the per-address limit
/// holds for the whole server, and one phone's requests are seen in order. Eight ports of one
/// address ask at once against a limit of one transfer per address: exactly one is answered.
#[tokio::test]
async fn several_loops_keep_each_address_on_one_loop_so_per_address_limits_hold() {
    let config = ServerConfig {
        loops: 4,
        limits: cnfkit_tftp::Limits { max_per_peer: 1, ..cnfkit_tftp::Limits::default() },
        ..ServerConfig::default()
    };
    let (addr, _, _stop, stats) = start_with(config).await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"\x00\x01big.bin\x00octet\x00", addr).await.unwrap();
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut buf = [0u8; 1024];
    let answered = clients.iter().filter(|c| c.try_recv_from(&mut buf).is_ok()).count();
    assert_eq!(answered, 1);
    assert_eq!(stats.turned_away(), [(Refusal::PER_PEER_LIMIT, 7)]);
}

/// A client that asks for several files from one port, one after the other without waiting,
/// gets an answer to each (a refused request frees its port at once).
#[tokio::test]
async fn requests_in_a_burst_from_one_port_each_get_an_answer() {
    let (addr, _, _stop, stats) = start().await;
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..5 {
        client.send_to(format!("\x00\x01missing-{i}\x00octet\x00").as_bytes(), addr).await.unwrap();
    }
    for _ in 0..5 {
        let (error, _) = recv(&client).await;
        assert_eq!(&error[..4], &[0, 5, 0, 1]);
    }
    assert_eq!(stats.refused.load(std::sync::atomic::Ordering::Relaxed), 5);
}

/// A handler that panics takes its loop down; the server's run then ends with an error at
/// once (a service manager restarts it) instead of serving on with a dead loop.
#[tokio::test]
async fn a_panicking_handler_ends_the_run_with_an_error() {
    struct Panics;
    impl Handler for Panics {
        fn open_read(&self, _: SocketAddr, _: &Incoming) -> Open<Box<dyn DataSource>> {
            panic!("a bug in the application");
        }
    }
    let config = ServerConfig { loops: 1, ..ServerConfig::default() };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), Panics, config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let run = tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"\x00\x01x\x00octet\x00", addr).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), run).await.expect("the run ends");
    let error = ended.unwrap().unwrap_err();
    assert!(error.to_string().contains("panicked"), "{error}");
}
