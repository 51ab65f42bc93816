//! The provisioning server against hostile load, in-process on loopback: a slot-exhaustion
//! attack from many addresses that never acknowledge, and a shutdown in the middle of reads and
//! uploads.

mod support;
use support::wait_for_error;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnfkit_server::{ProvisioningHandler, Uploads, Writes, demo, raise_open_file_limit};
use cnfkit_tftp::Stats;
use cnfkit_tftp::driver::{self, Server, ServerConfig};
use cnfkit_tftp::{ClientOptions, Policy, SharedBuffer};
use tokio::sync::oneshot;

/// A read request for `name`, asking for `timeout=255` (granted only up to the server's 5 s
/// ceiling, RFC 2349 lets a server leave an option out of its answer).
fn rrq(name: &str) -> Vec<u8> {
    [b"\x00\x01", name.as_bytes(), b"\x00octet\x00timeout\x00255\x00"].concat()
}

fn vm_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

async fn start(
    handler: ProvisioningHandler<impl cnfkit_server::OpenFile>,
    config: ServerConfig,
    grace: Duration,
) -> (SocketAddr, Arc<Stats>, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, config).await.unwrap();
    let (addr, stats) = (server.local_addr().unwrap(), server.stats());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server.run(async move { drop(stopped.await) }, grace).await.unwrap();
    });
    (addr, stats, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_boots_within_2_s_while_2048_transfers_from_128_addresses_never_acknowledge() {
    let handler = ProvisioningHandler::new(demo::resolver("127.0.0.1").unwrap());
    slot_attack(handler, demo::LARGE_FILE, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_attack_on_a_tree_on_disk_holds_a_block_per_transfer_not_the_file() {
    let root = scratch("attack");
    std::fs::write(root.join("XMLDefault.cnf.xml"), b"<Default/>\n").unwrap();
    std::fs::write(root.join("firmware.sbn"), vec![0xa5; 4 << 20]).unwrap();
    let site = cnfkit_server::Site::load(cnfkit_server::SiteOptions::new(&root)).unwrap();
    slot_attack(ProvisioningHandler::new(site.resolver), "firmware.sbn", 11).await;
    std::fs::remove_dir_all(&root).unwrap();
}

/// 2048 read requests for `file` from 128 addresses of `127.<net>.x.y` that never acknowledge,
/// then a phone fetching `XMLDefault.cnf.xml`.
async fn slot_attack(
    handler: ProvisioningHandler<impl cnfkit_server::OpenFile>,
    file: &str,
    net: u8,
) {
    // 2048 client sockets here and 2048 transfer sockets (and files) in the server.
    raise_open_file_limit().unwrap();
    let config = ServerConfig::default();
    assert_eq!(config.limits.max_transfers, 2048);
    let (server, stats, stop, task) = start(handler, config, Duration::ZERO).await;

    // 128 addresses in four /24s (32 each: 512 transfers per network, the default budget), 16
    // requests each (the per-peer default), for the 1 MiB file; none is ever acknowledged.
    let mut attackers = Vec::new();
    for i in 0..128u8 {
        let ip = IpAddr::from([127, net, i / 32, 1 + i % 32]);
        for _ in 0..16 {
            let socket = UdpSocket::bind((ip, 0)).unwrap();
            socket.send_to(&rrq(file), server).unwrap();
            attackers.push(socket);
        }
    }
    // Every slot is taken once the server has read them all; a phone asking now is dropped
    // (it retransmits its request), and after the first second the stalled transfers lose
    // their slots to new requests.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let phone = IpAddr::from([127, net + 10, 0, 1]);
    let started = Instant::now();
    let sink = SharedBuffer::new();
    let got = tokio::time::timeout(
        Duration::from_secs(5),
        driver::get_from(
            Some(phone),
            server,
            b"XMLDefault.cnf.xml",
            ClientOptions::default(),
            Box::new(sink.clone()),
            Policy::default(),
            |_| {},
        ),
    )
    .await
    .expect("the phone's fetch ends")
    .expect("the phone gets its file");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the phone waited {took:?}");
    assert_eq!(got.bytes, sink.contents().len() as u64);
    assert!(sink.contents().windows(8).any(|w| w == b"<Default"), "the phone got XMLDefault");
    assert!(stats.evicted.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // Each stalled transfer holds one block, not a copy of the file (the two attack tests may
    // run at once in this process: the bound is for both).
    if let Some(rss) = vm_rss_mib() {
        eprintln!("{file}: phone served in {took:?}, RSS {rss} MiB with 2048 stalled transfers");
        assert!(rss < 256, "RSS {rss} MiB with 2048 stalled transfers");
    }
    drop(attackers);
    stop.send(()).unwrap();
    task.await.unwrap();
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_shutdown_unfinished_transfers_get_an_error_and_uploads_leave_no_temporary_file() {
    let root = scratch("shutdown");
    std::fs::write(root.join("firmware.sbn"), vec![0x5a; 512 * 1024]).unwrap();
    std::fs::write(root.join("XMLDefault.cnf.xml"), b"<Default/>\n").unwrap();
    let site = cnfkit_server::Site::load(cnfkit_server::SiteOptions::new(&root)).unwrap();
    let uploads = Uploads::new(site.directory.clone()).matching("upload-*.txt").unwrap();
    let handler = ProvisioningHandler::new(site.resolver).with_writes(Writes::On(uploads));
    let grace = Duration::from_millis(300);
    let (server, stats, stop, task) = start(handler, ServerConfig::default(), grace).await;

    // 40 reads that acknowledge their first block and then stall, and 10 uploads that send
    // their first block and then stall: 50 transfers in the middle when the stop comes.
    let mut clients = Vec::new();
    for i in 0..50u8 {
        let socket = UdpSocket::bind((IpAddr::from([127, 30, 0, 1 + i]), 0)).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 1024];
        if i < 40 {
            socket.send_to(b"\x00\x01firmware.sbn\x00octet\x00", server).unwrap();
            let (_, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(buf[..4], [0, 3, 0, 1], "DATA 1");
            socket.send_to(b"\x00\x04\x00\x01", from).unwrap();
        } else {
            let wrq = format!("\x00\x02upload-{i}.txt\x00octet\x00");
            socket.send_to(wrq.as_bytes(), server).unwrap();
            let (_, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(buf[..4], [0, 4, 0, 0], "ACK 0");
            let data = [&[0u8, 3, 0, 1][..], &[7u8; 512]].concat();
            socket.send_to(&data, from).unwrap();
            let (_, _) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(buf[..4], [0, 4, 0, 1], "ACK 1");
        }
        clients.push(socket);
    }
    let temps = || {
        std::fs::read_dir(&root)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter(|n| cnfkit_fs::is_temp_name(n))
            .count()
    };
    assert_eq!(temps(), 10, "each upload in progress has its temporary file");

    stop.send(()).unwrap();
    for (i, client) in clients.iter().enumerate() {
        let error = wait_for_error(client, Duration::from_secs(3));
        assert_eq!(error, Some((0, "Server shutting down".to_owned())), "client {i}");
    }
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("the server stops").unwrap();
    assert_eq!(temps(), 0, "an unfinished upload leaves nothing");
    assert!(!root.join("upload-40.txt").exists(), "nor is it installed");
    assert_eq!(stats.stopped.load(std::sync::atomic::Ordering::Relaxed), 50);
    std::fs::remove_dir_all(&root).unwrap();
}

/// Starts an upload of `name` from `socket`: the write request and its ACK 0. Returns the
/// transfer's address.
fn upload_start(socket: &UdpSocket, server: SocketAddr, name: &str) -> SocketAddr {
    let wrq = format!("\x00\x02{name}\x00octet\x00");
    socket.send_to(wrq.as_bytes(), server).unwrap();
    let mut buf = [0u8; 516];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(buf[..n.min(4)], [0, 4, 0, 0], "ACK 0 for {name}");
    from
}

/// Sends `content` as the first and last block (under 512 bytes) and returns the server's
/// answer: `Ok(())` for the final ACK, the ERROR code otherwise.
fn upload_finish(socket: &UdpSocket, to: SocketAddr, content: &[u8]) -> Result<(), u16> {
    socket.send_to(&[&[0u8, 3, 0, 1][..], content].concat(), to).unwrap();
    let mut buf = [0u8; 516];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    match buf[..n.min(4)] {
        [0, 4, 0, 1] => Ok(()),
        [0, 5, hi, lo] => Err(u16::from_be_bytes([hi, lo])),
        _ => panic!("unexpected answer {:?}", &buf[..n]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_uploads_of_one_name_one_lands_and_the_other_gets_error_6_never_a_final_ack() {
    let root = scratch("uploads");
    std::fs::write(root.join("XMLDefault.cnf.xml"), b"<Default/>\n").unwrap();
    let site = cnfkit_server::Site::load(cnfkit_server::SiteOptions::new(&root)).unwrap();
    let uploads = Uploads::new(site.directory.clone()).matching("prt-*").unwrap();
    let handler = ProvisioningHandler::new(site.resolver).with_writes(Writes::On(uploads));
    let (server, _, stop, task) = start(handler, ServerConfig::default(), Duration::ZERO).await;
    for round in 0..20 {
        let name = format!("prt-0000000000{round:02}.tar.gz");
        let (a, b) =
            (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
        for s in [&a, &b] {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        }
        // Both are accepted while the name is free; both send their whole file.
        let (to_a, to_b) = (upload_start(&a, server, &name), upload_start(&b, server, &name));
        let results = [
            upload_finish(&a, to_a, b"<device>A</device>"),
            upload_finish(&b, to_b, b"<device>B</device>"),
        ];
        let landed = std::fs::read(root.join(&name)).unwrap();
        match results {
            [Ok(()), Err(6)] => assert_eq!(landed, b"<device>A</device>", "round {round}"),
            [Err(6), Ok(())] => assert_eq!(landed, b"<device>B</device>", "round {round}"),
            other => panic!("round {round}: {other:?}: exactly one upload is acknowledged"),
        }
    }
    stop.send(()).unwrap();
    task.await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporary_file_of_an_upload_in_progress_can_be_neither_read_nor_written() {
    let root = scratch("temp-name");
    std::fs::write(root.join("XMLDefault.cnf.xml"), b"<Default/>\n").unwrap();
    let site = cnfkit_server::Site::load(cnfkit_server::SiteOptions::new(&root)).unwrap();
    // Overwrites on: the most a hostile writer could hope for.
    let uploads = Uploads::new(site.directory.clone()).matching("*.txt").unwrap().overwrite(true);
    let handler = ProvisioningHandler::new(site.resolver).with_writes(Writes::On(uploads));
    let (server, _, stop, task) = start(handler, ServerConfig::default(), Duration::ZERO).await;
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    victim.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let to = upload_start(&victim, server, "report.txt");
    let temp = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .find(|n| cnfkit_fs::is_temp_name(n))
        .expect("the upload has a temporary file");
    let attacker = UdpSocket::bind("127.0.0.2:0").unwrap();
    attacker.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for request in [
        format!("\x00\x01{temp}\x00octet\x00"),
        format!("\x00\x01{}\x00octet\x00", temp.to_uppercase()),
        format!("\x00\x02{temp}\x00octet\x00"),
    ] {
        attacker.send_to(request.as_bytes(), server).unwrap();
        let mut buf = [0u8; 516];
        let (n, _) = attacker.recv_from(&mut buf).unwrap();
        assert_eq!(buf[..2], [0, 5], "{request:?} is refused, got {:?}", &buf[..n]);
    }
    assert_eq!(upload_finish(&victim, to, b"<device/>"), Ok(()));
    assert_eq!(std::fs::read(root.join("report.txt")).unwrap(), b"<device/>");
    stop.send(()).unwrap();
    task.await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

/// The first answer to a raw write request: the transfer's address for ACK 0 or an OACK, the
/// ERROR code otherwise.
fn first_answer(socket: &UdpSocket, server: SocketAddr, request: &[u8]) -> Result<SocketAddr, u16> {
    socket.send_to(request, server).unwrap();
    let mut buf = [0u8; 516];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    match buf[..n.min(4)] {
        [0, 4, 0, 0] | [0, 6, ..] => Ok(from),
        [0, 5, hi, lo] => Err(u16::from_be_bytes([hi, lo])),
        _ => panic!("unexpected answer {:?}", &buf[..n]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_can_never_plant_a_name_the_server_answers_to_phones_even_under_a_catch_all_pattern()
 {
    let root = scratch("plant");
    std::fs::create_dir(root.join("prt")).unwrap();
    let inventory = root.join("phones.csv");
    std::fs::write(&inventory, "mac,model\n001122334455,CP-7942G\n").unwrap();
    let defaults = root.join("defaults.toml");
    std::fs::write(&defaults, "call_managers = [\"192.0.2.10\"]\n").unwrap();
    let mut options = cnfkit_server::SiteOptions::new(&root);
    options.inventory = Some(inventory);
    options.defaults = Some(defaults);
    let site = cnfkit_server::Site::load(options).unwrap();
    // The widest areas an admin could name: every name at the top, and a directory.
    let uploads = Uploads::new(site.directory.clone())
        .matching("*")
        .unwrap()
        .into_directory("prt")
        .unwrap()
        .overwrite(true);
    let handler = ProvisioningHandler::new(site.resolver).with_writes(Writes::On(uploads));
    let (server, _, stop, task) = start(handler, ServerConfig::default(), Duration::ZERO).await;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for name in [
        "SEP001122334455.cnf.xml", // an inventory phone's configuration, not on disk
        "sep001122334455.CNF.XML", // the same in another letter case
        "SEP001122334455.cnf.xml.sgn", // its signature
        "ITLFile.tlv",             // the trust list a phone without one takes
        "CTLSEP001122334455.tlv",
        "XMLDefault.cnf.xml", // the default, before any phone asked for it
        "XMLDefault.cnf.xml.sgn",
        "SIPDefault.cnf",
        "term42.default.loads",
        "cnu942.9-4-2-3.sbn",
        "prt/SEP001122334455.cnf.xml", // inside an upload directory too
        "Ringlist.xml",
    ] {
        let wrq = format!("\x00\x02{name}\x00octet\x00");
        assert_eq!(first_answer(&socket, server, wrq.as_bytes()), Err(2), "{name}");
        let lower = name.to_ascii_lowercase();
        let on_disk: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_ascii_lowercase())
            .collect();
        assert!(!on_disk.contains(&lower), "{name} was created");
    }
    // A problem report in the upload directory lands.
    let to = first_answer(&socket, server, b"\x00\x02prt/prt-001122334455.tar.gz\x00octet\x00")
        .expect("ACK 0");
    assert_eq!(upload_finish(&socket, to, b"report"), Ok(()));
    assert_eq!(std::fs::read(root.join("prt/prt-001122334455.tar.gz")).unwrap(), b"report");
    // Its name in another letter case would be a second file the server answers either
    // spelling with: refused.
    // (From another port: the finished upload's transfer still holds this one for a moment.)
    let other = b"\x00\x02prt/PRT-001122334455.TAR.GZ\x00octet\x00";
    let second = UdpSocket::bind("127.0.0.1:0").unwrap();
    second.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(first_answer(&second, server, other), Err(2));
    stop.send(()).unwrap();
    task.await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_cap_per_file_or_the_quota_get_error_3_and_leave_nothing() {
    let root = scratch("quota");
    std::fs::create_dir(root.join("logs")).unwrap();
    // 1500 bytes already in the area count against its 4000-byte quota.
    std::fs::write(root.join("logs/old.log"), vec![b'x'; 1500]).unwrap();
    let site = cnfkit_server::Site::load(cnfkit_server::SiteOptions::new(&root)).unwrap();
    let uploads = Uploads::new(site.directory.clone())
        .into_directory("logs")
        .unwrap()
        .max_file_bytes(2000)
        .quota_bytes(4000);
    assert_eq!(uploads.used_bytes(), 1500);
    let handler = ProvisioningHandler::new(site.resolver).with_writes(Writes::On(uploads));
    let (server, _, stop, task) = start(handler, ServerConfig::default(), Duration::ZERO).await;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    // Announced too large: refused before any data.
    let wrq = b"\x00\x02logs/big.log\x00octet\x00tsize\x003000\x00";
    assert_eq!(first_answer(&socket, server, wrq), Err(3));
    // Not announced, and larger than the cap: the block that passes it gets ERROR 3.
    let to = first_answer(&socket, server, b"\x00\x02logs/big.log\x00octet\x00").unwrap();
    let mut buf = [0u8; 516];
    let mut answers = Vec::new();
    for block in 1..=5u16 {
        let data = [&[0, 3][..], &block.to_be_bytes(), &[b'y'; 512]].concat();
        socket.send_to(&data, to).unwrap();
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        answers.push(buf[..n.min(4)].to_vec());
        if buf[1] == 5 {
            break;
        }
    }
    assert_eq!(answers.last().unwrap(), &[0, 5, 0, 3], "{answers:?}");
    assert!(!root.join("logs/big.log").exists());
    // The failed upload gave its bytes back. 1200 bytes fit the quota (1500 + 1200); 1400
    // more would pass it (2700 + 1400 > 4000).
    for (name, size, expect_ok) in [("logs/a.log", 1200, true), ("logs/b.log", 1400, false)] {
        let wrq = format!("\x00\x02{name}\x00octet\x00tsize\x00{size}\x00");
        let answer = first_answer(&socket, server, wrq.as_bytes());
        if expect_ok {
            let to = answer.unwrap_or_else(|code| panic!("{name}: ERROR {code}"));
            socket.send_to(&[&[0u8, 3, 0, 1][..], &[b'z'; 512]].concat(), to).unwrap();
            socket.recv_from(&mut buf).unwrap();
            socket.send_to(&[&[0u8, 3, 0, 2][..], &[b'z'; 512]].concat(), to).unwrap();
            socket.recv_from(&mut buf).unwrap();
            socket.send_to(&[&[0u8, 3, 0, 3][..], &[b'z'; 176]].concat(), to).unwrap();
            let (n, _) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(buf[..n], [0, 4, 0, 3], "{name}");
        } else {
            assert_eq!(answer, Err(3), "{name}");
        }
    }
    assert_eq!(std::fs::metadata(root.join("logs/a.log")).unwrap().len(), 1200);
    assert!(!root.join("logs/b.log").exists());
    stop.send(()).unwrap();
    task.await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}
