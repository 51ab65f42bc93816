//! A phone that tries HTTP first, as CUCM-era 78xx/88xx phones do on 6970: over a server that
//! answers HTTP it boots over HTTP alone, and when the HTTP port refuses the connection it
//! falls back to TFTP for the rest of its boot.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cnfkit_resolve::{Mac, ModelTable, PhoneSetup, Protocol};
use cnfkit_server::http::{HttpConfig, HttpServer};
use cnfkit_server::registry::RegistryLimits;
use cnfkit_server::{Monitor, PhoneClient, ProvisioningHandler, boot_over_tftp, demo};
use cnfkit_tftp::driver::{Server, ServerConfig};

/// TFTP and HTTP over one handler with a registry (its boot lines), in this runtime.
async fn start()
-> (SocketAddr, SocketAddr, Arc<ProvisioningHandler<cnfkit_resolve::MemoryDirectory>>) {
    let handler = ProvisioningHandler::new(demo::resolver("127.0.0.1").unwrap())
        .with_monitor(Monitor::new(RegistryLimits::default(), None));
    let handler = Arc::new(handler);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let tftp = Server::bind(any, handler.clone(), ServerConfig::default()).await.unwrap();
    let http = HttpServer::bind(any, handler.clone(), HttpConfig::default()).await.unwrap();
    let addrs = (tftp.local_addr().unwrap(), http.local_addr().unwrap());
    tokio::spawn(tftp.run(std::future::pending(), Duration::ZERO));
    tokio::spawn(http.run(std::future::pending(), Duration::ZERO));
    (addrs.0, addrs.1, handler)
}

/// The boot lines once the phone's last transfer has ended on the server's side too (its
/// final ACK may arrive after the client has its last block), 2 s at most.
async fn settled(handler: &ProvisioningHandler<cnfkit_resolve::MemoryDirectory>) -> Vec<String> {
    let monitor = handler.monitor().unwrap();
    for _ in 0..40 {
        let lines = monitor.settle_all();
        if !lines.is_empty() {
            return lines.iter().map(ToString::to_string).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Vec::new()
}

fn phone() -> PhoneSetup {
    PhoneSetup::new(Mac::parse(demo::MAC_7942).unwrap(), "7942", Protocol::Sccp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_tries_http_first_boots_over_http_alone() {
    let (tftp, http, handler) = start().await;
    let client = PhoneClient { http_port: Some(http.port()), ..PhoneClient::default() };
    let boot = boot_over_tftp(&ModelTable::builtin(), tftp, phone(), Some("SCCP42.8-5-4S"), client)
        .await
        .unwrap();
    assert!(boot.report.ok() && !boot.failed(), "{:?}", boot.report);
    assert_eq!(boot.report.load.as_deref(), Some(demo::LOAD_7942));
    let lines = settled(&handler).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.contains(&format!("config SEP{}.cnf.xml (own)", demo::MAC_7942)), "{line}");
    assert!(line.contains(".sbn exact (http)"), "the firmware came over HTTP too: {line}");
    assert!(!line.contains("(tftp)"), "nothing over TFTP: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_http_connection_sends_the_phone_to_tftp_for_its_whole_boot() {
    let (tftp, _, handler) = start().await;
    // A port nobody listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = PhoneClient { http_port: Some(closed), ..PhoneClient::default() };
    let boot = boot_over_tftp(&ModelTable::builtin(), tftp, phone(), Some("SCCP42.8-5-4S"), client)
        .await
        .unwrap();
    assert!(boot.report.ok() && !boot.failed(), "{:?}", boot.report);
    let lines = settled(&handler).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(!line.contains("(http)"), "every request went over TFTP: {line}");
    assert!(line.contains(&format!("config SEP{}.cnf.xml (own)", demo::MAC_7942)), "{line}");
}

/// An HTTP listener with `config` over the demo tree.
async fn http_with(config: HttpConfig) -> SocketAddr {
    let handler = Arc::new(ProvisioningHandler::new(demo::resolver("127.0.0.1").unwrap()));
    let http = HttpServer::bind("127.0.0.1:0".parse().unwrap(), handler, config).await.unwrap();
    let addr = http.local_addr().unwrap();
    tokio::spawn(http.run(std::future::pending(), Duration::ZERO));
    addr
}

/// A phone's GET of XMLDefault.cnf.xml from `local`: the status, or the error.
fn phone_get(server: SocketAddr, local: [u8; 4]) -> Result<u16, String> {
    use std::io::{Read, Write};
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| e.to_string())?;
    socket.bind(&SocketAddr::from((local, 0)).into()).map_err(|e| e.to_string())?;
    socket.connect(&server.into()).map_err(|e| e.to_string())?;
    let mut stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET /XMLDefault.cnf.xml HTTP/1.1\r\nHost: tftp\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    text.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no status: {text:?}"))
}

/// Idle connections from `local` that never send a request head.
fn idle_from(server: SocketAddr, local: [u8; 4], n: usize) -> Vec<std::net::TcpStream> {
    (0..n)
        .map(|_| {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.bind(&SocketAddr::from((local, 0)).into()).unwrap();
            socket.connect(&server.into()).unwrap();
            socket.into()
        })
        .collect()
}

/// The red team's crowd: 40 addresses holding idle connections (reconnecting as they are
/// closed) took every slot, and phones were accepted then closed, so they never fell back to
/// TFTP. Now a connection that has sent no request head gives its slot to a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_boot_while_a_crowd_of_idle_connections_holds_every_slot() {
    let config = HttpConfig { max_connections: 64, ..HttpConfig::default() };
    let server = http_with(config).await;
    let statuses = tokio::task::spawn_blocking(move || {
        // 40 addresses in 40 networks, 4 idle connections each: 160 for 64 slots.
        let crowd: Vec<_> = (0..40u8).flat_map(|i| idle_from(server, [127, 50, i, 1], 4)).collect();
        std::thread::sleep(Duration::from_millis(200));
        let statuses: Vec<_> = (0..20u8).map(|i| phone_get(server, [127, 51, 0, 1 + i])).collect();
        drop(crowd);
        statuses
    })
    .await
    .unwrap();
    assert!(statuses.iter().all(|s| *s == Ok(200)), "{statuses:?}");
}

/// Per network as TFTP counts them (an IPv4 /24): one host's many addresses share a budget,
/// and a phone of that network still gets in past the idle ones; another network's
/// connections, which have sent their heads, are never the ones evicted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_per_network_groups_a_24_and_evicts_within_it() {
    let config = HttpConfig { max_per_network: 8, ..HttpConfig::default() };
    let server = http_with(config).await;
    let statuses = tokio::task::spawn_blocking(move || {
        // Eight addresses of one /24, two idle connections each: 16 for its 8 slots.
        let crowd: Vec<_> = (1..=8u8).flat_map(|i| idle_from(server, [127, 52, 0, i], 2)).collect();
        std::thread::sleep(Duration::from_millis(200));
        let statuses = [phone_get(server, [127, 52, 0, 200]), phone_get(server, [127, 53, 0, 1])];
        drop(crowd);
        statuses
    })
    .await
    .unwrap();
    assert_eq!(statuses, [Ok(200), Ok(200)]);
}
