//! A phone that tries HTTP first, as CUCM-era 78xx/88xx phones do on 6970: over a server that
//! answers HTTP it boots over HTTP alone, and when the HTTP port refuses the connection it
//! falls back to TFTP for the rest of its boot.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cnfkit_resolve::{Mac, ModelTable, PhoneSetup, Protocol};
use cnfkit_server::http::{HttpConfig, HttpServer};
use cnfkit_server::{PhoneClient, ProvisioningHandler, boot_over_tftp, demo};
use cnfkit_tftp::driver::{Server, ServerConfig};

/// TFTP and HTTP over one handler with a boot log, in this runtime.
async fn start()
-> (SocketAddr, SocketAddr, Arc<ProvisioningHandler<cnfkit_resolve::MemoryDirectory>>) {
    let handler = ProvisioningHandler::new(demo::resolver("127.0.0.1").unwrap())
        .with_boot_log(Duration::from_secs(60), 100);
    let handler = Arc::new(handler);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let tftp = Server::bind(any, handler.clone(), ServerConfig::default()).await.unwrap();
    let http = HttpServer::bind(any, handler.clone(), HttpConfig::default()).await.unwrap();
    let addrs = (tftp.local_addr().unwrap(), http.local_addr().unwrap());
    tokio::spawn(tftp.run(std::future::pending(), Duration::ZERO));
    tokio::spawn(http.run(std::future::pending(), Duration::ZERO));
    (addrs.0, addrs.1, handler)
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
    let lines = handler.boot_log().unwrap().drain();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = lines[0].to_string();
    assert!(line.contains(&format!("own SEP{}.cnf.xml", demo::MAC_7942)), "{line}");
    assert!(line.contains(".sbn exact (http)"), "the firmware came over HTTP too: {line}");
    assert!(!line.contains("exact,") && !line.contains("exact\n"), "nothing over TFTP: {line}");
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
    let line = handler.boot_log().unwrap().drain()[0].to_string();
    assert!(!line.contains("(http)"), "every request went over TFTP: {line}");
    assert!(line.contains(&format!("own SEP{}.cnf.xml", demo::MAC_7942)), "{line}");
}
