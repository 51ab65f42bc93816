//! The tokio driver on loopback: real sockets, bounded in time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cnfkit_tftp::driver::{self, Handler, Server, ServerConfig};
use cnfkit_tftp::{
    ClientOptions, DataSink, DataSource, Error, Incoming, Outcome, Policy, SharedBuffer,
};
use cnfkit_tftp_wire::{ErrorCode, Packet};

struct Files {
    stored: SharedBuffer,
}

impl Handler for Files {
    fn open_read(
        &self,
        _peer: SocketAddr,
        request: &Incoming,
    ) -> Result<Box<dyn DataSource>, (ErrorCode, String)> {
        match request.filename() {
            b"big.bin" => {
                Ok(Box::new((0..3_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>()))
            }
            b"small.txt" => Ok(Box::new(b"hello\n".to_vec())),
            _ => Err((ErrorCode::FILE_NOT_FOUND, "File not found".into())),
        }
    }

    fn open_write(
        &self,
        _peer: SocketAddr,
        _request: &Incoming,
    ) -> Result<Box<dyn DataSink>, (ErrorCode, String)> {
        Ok(Box::new(self.stored.clone()))
    }
}

async fn start()
-> (SocketAddr, SharedBuffer, tokio::sync::oneshot::Sender<()>, Arc<driver::ServerStats>) {
    let stored = SharedBuffer::new();
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        Files { stored: stored.clone() },
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    (addr, stored, stop, stats)
}

fn expected_big() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i % 251) as u8).collect()
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
    let data = b"uploaded bytes".repeat(1000);
    driver::put(
        addr,
        b"up.bin",
        ClientOptions::default(),
        Box::new(data.clone()),
        Policy::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(stored.contents(), data);
    assert!(stats.completed.load(std::sync::atomic::Ordering::Relaxed) >= 5);
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

/// RFC 1350 section 4: every request is answered from a TID of its own, a refusal too (a
/// client that locks onto the first answer's port must not lock onto the listening port).
#[tokio::test]
async fn every_refusal_comes_from_a_port_other_than_the_listening_one() {
    let (addr, _, _stop, stats) = start().await;
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

/// RFC 1350 section 4: a datagram from the wrong TID gets ERROR 5, and the transfer goes on.
#[tokio::test]
async fn a_stranger_on_the_transfer_port_gets_error_5_and_the_transfer_continues() {
    let (addr, _, _stop, _) = start().await;
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
}

#[tokio::test]
async fn writes_are_refused_unless_the_handler_opts_in() {
    struct ReadOnly;
    impl Handler for ReadOnly {
        fn open_read(
            &self,
            _: SocketAddr,
            _: &Incoming,
        ) -> Result<Box<dyn DataSource>, (ErrorCode, String)> {
            Err((ErrorCode::FILE_NOT_FOUND, "File not found".into()))
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
    let got = SharedBuffer::new();
    let transfer = tokio::spawn({
        let got = got.clone();
        async move {
            driver::get(
                addr,
                b"big.bin",
                ClientOptions::none(cnfkit_tftp_wire::Mode::Octet),
                Box::new(got),
                Policy::default(),
                |_| {},
            )
            .await
        }
    });
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
    let config = ServerConfig { max_per_peer: 1, ..ServerConfig::default() };
    let server =
        Server::bind("127.0.0.1:0".parse().unwrap(), Files { stored: SharedBuffer::new() }, config)
            .await
            .unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    let fetch = || {
        let got = SharedBuffer::new();
        let sink = Box::new(got.clone());
        async move {
            driver::get(
                addr,
                b"big.bin",
                ClientOptions::none(cnfkit_tftp_wire::Mode::Octet),
                sink,
                Policy::default(),
                |_| {},
            )
            .await
            .map(|_| got.contents().len())
        }
    };
    let (a, b) =
        tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(fetch(), fetch()) })
            .await
            .unwrap();
    assert_eq!((a.unwrap(), b.unwrap()), (3_000_000, 3_000_000));
    assert!(
        stats.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the second request waited its turn"
    );
}
