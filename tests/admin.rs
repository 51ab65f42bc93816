//! The admin listener end to end: a storm of 50 simulated phones from one address (a branch
//! office behind NAT) against a server whose tree lacks one image of a manifest; the phone
//! API, the Prometheus metrics, the live feed and the dashboard in a real headless Chromium
//! driven through the DevTools protocol.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnfkit::config::{CallManagerSpec, MacCase, PhoneRecord, build_device};
use cnfkit::resolve::{
    DeviceDefaults, Mac, MemoryDirectory, ModelTable, PhoneSetup, Protocol, Resolver,
};
use cnfkit::server::admin::{AdminError, AdminServer};
use cnfkit::server::monitor::Monitor;
use cnfkit::server::registry::RegistryLimits;
use cnfkit::server::{PhoneBoot, PhoneClient, ProvisioningHandler, boot_over_tftp};
use cnfkit::tftp::driver::{Server, ServerConfig};

const LOAD: &str = "SCCP42.9-4-2SR3-1S";
const OWN_LOAD: &str = "SCCP42.9-4-2SR4-3S";
const MISSING: &str = "dsp42.9-4-2SR3-1S.sbn";
const PHONES: u32 = 50;

fn mac(i: u32) -> Mac {
    Mac([0x00, 0x11, 0x22, 0x55, 0x00, u8::try_from(i).unwrap()])
}

/// The tree: an XMLDefault naming LOAD, whose manifest lists an image the tree lacks; every
/// fifth phone has its own file naming OWN_LOAD, whose images are all there.
fn tree() -> MemoryDirectory {
    let tree = MemoryDirectory::new();
    let defaults = DeviceDefaults {
        call_managers: vec!["127.0.0.1".into()],
        loads: [("7942".to_owned(), LOAD.to_owned())].into_iter().collect(),
        ..DeviceDefaults::default()
    };
    tree.insert("XMLDefault.cnf.xml", defaults.xml_default().unwrap());
    tree.insert(&format!("{LOAD}.loads"), format!("apps42.sbn\r\n{MISSING}\r\n").into_bytes());
    tree.insert(&format!("{OWN_LOAD}.loads"), b"jar42.sbn\r\n".to_vec());
    tree.insert("apps42.sbn", vec![1; 40_000]);
    tree.insert("jar42.sbn", vec![2; 30_000]);
    for i in (0..PHONES).step_by(5) {
        let record = PhoneRecord {
            mac: mac(i),
            model: "7942".into(),
            load: Some(OWN_LOAD.into()),
            call_managers: vec![CallManagerSpec::new("127.0.0.1")],
            ..PhoneRecord::default()
        };
        let (name, xml) = build_device(&record, MacCase::Upper).unwrap();
        tree.insert(&name, xml.into_bytes());
    }
    tree
}

struct Running {
    tftp: SocketAddr,
    admin: SocketAddr,
}

async fn start(token_file: Option<&std::path::Path>) -> Running {
    let monitor = Monitor::new(
        RegistryLimits { quiet: Duration::from_millis(300), ..RegistryLimits::default() },
        None,
    );
    let handler =
        Arc::new(ProvisioningHandler::new(Resolver::new(tree())).with_monitor(monitor.clone()));
    tokio::spawn(monitor.clone().run(Duration::from_millis(100)));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, ServerConfig::default())
        .await
        .unwrap();
    monitor.attach_tftp(server.stats());
    let tftp = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    let admin =
        AdminServer::bind("127.0.0.1:0".parse().unwrap(), monitor, token_file).await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    tokio::spawn(admin.run(std::future::pending()));
    Running { tftp, admin: admin_addr }
}

/// Boots the 50 phones, all from 127.0.0.1, 10 at a time.
async fn storm(tftp: SocketAddr) -> Vec<PhoneBoot> {
    let table = Arc::new(ModelTable::builtin());
    let gate = Arc::new(tokio::sync::Semaphore::new(10));
    let mut phones = Vec::new();
    for i in 0..PHONES {
        let (table, gate) = (table.clone(), gate.clone());
        phones.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            let setup = PhoneSetup::new(mac(i), "7942", Protocol::Sccp);
            let client =
                PhoneClient { local: Some(IpAddr::from([127, 0, 0, 1])), ..PhoneClient::default() };
            boot_over_tftp(&table, tftp, setup, Some("SCCP42.8-5-4S"), client).await.unwrap()
        }));
    }
    let mut boots = Vec::new();
    for phone in phones {
        boots.push(tokio::time::timeout(Duration::from_secs(60), phone).await.unwrap().unwrap());
    }
    boots
}

/// A GET over HTTP/1.1 (`Connection: close`); the status and the body.
fn get(addr: SocketAddr, target: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The Host a browser sends, unless the caller gives its own.
    let host = if headers.to_ascii_lowercase().contains("host:") {
        String::new()
    } else {
        format!("Host: {addr}\r\n")
    };
    write!(stream, "GET {target} HTTP/1.1\r\n{host}Connection: close\r\n{headers}\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// Waits until the registry has settled every phone (none booting or fetching).
fn settled_phones(admin: SocketAddr) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(admin, "/api/phones", "");
        assert_eq!(status, 200);
        let phones: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        let busy =
            phones.iter().any(|p| p["state"] == "booting" || p["state"] == "fetching-firmware");
        if !busy && phones.len() >= PHONES as usize || Instant::now() > deadline {
            return phones;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A sample: metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Samples of a Prometheus text exposition (version 0.0.4), checked line by line: every
/// sample's family has HELP and TYPE lines, names and labels are well formed, values parse.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "{line}");
        let family =
            ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        assert!(typed.contains(name) || typed.contains(family), "no TYPE for {line}");
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (
                    k.to_owned(),
                    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap().to_owned(),
                )
            })
            .collect();
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

fn sum(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name && label.is_none_or(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_phones_behind_one_address_are_listed_by_mac_with_the_missing_image_named() {
    let running = start(None).await;
    let boots = storm(running.tftp).await;
    let stuck_in_sim = boots.iter().filter(|b| b.report.stuck.is_some()).count();
    assert_eq!(boots[0].report.stuck, None, "{:?}", boots[0].report);
    assert_eq!(stuck_in_sim, 40, "the phones on the default's load miss {MISSING}");
    let admin = running.admin;
    let phones = tokio::task::spawn_blocking(move || settled_phones(admin)).await.unwrap();
    assert_eq!(phones.len(), 50, "one record per MAC, none for the shared address");
    for i in 0..PHONES {
        let m = mac(i).to_string();
        let p =
            phones.iter().find(|p| p["mac"] == m.as_str()).unwrap_or_else(|| panic!("{m} listed"));
        assert_eq!(p["address"], "127.0.0.1");
        if i % 5 == 0 {
            assert_eq!(p["state"], "booted", "{p}");
            assert_eq!(p["load"], OWN_LOAD, "{p}");
        } else {
            assert_eq!(p["state"], "stuck", "{p}");
            assert!(p["reason"].as_str().unwrap().contains(MISSING), "{p}");
            assert_eq!(p["config_source"], "default", "{p}");
        }
    }
    assert!(phones[..40].iter().all(|p| p["state"] == "stuck"), "stuck phones first");

    // One phone's timeline.
    let (status, body) =
        tokio::task::spawn_blocking(move || get(admin, &format!("/api/phones/{}", mac(1)), ""))
            .await
            .unwrap();
    assert_eq!(status, 200);
    let record: serde_json::Value = serde_json::from_str(&body).unwrap();
    // The requests that name the phone are its own, in order. Which of two phones in the same
    // step asked first for a file that names none is not on the wire: those are counted
    // across the storm (the metrics below), not per phone.
    let own = mac(1).to_string();
    let names: Vec<&str> = record["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .filter(|n| n.contains(own.as_str()))
        .collect();
    let in_sim: Vec<&str> = boots[1]
        .report
        .requests
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| n.contains(own.as_str()))
        .collect();
    assert_eq!(names, in_sim, "the server's timeline holds the phone's own requests");
    assert_eq!(names.len(), 3, "CTLSEP, ITLSEP and SEP: {names:?}");

    // The metrics count what the phones did.
    let (status, text) =
        tokio::task::spawn_blocking(move || get(admin, "/metrics", "")).await.unwrap();
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    let requests: usize = boots.iter().map(|b| b.report.requests.len()).sum();
    let misses = boots
        .iter()
        .flat_map(|b| &b.report.requests)
        .filter(|r| r.result == cnfkit::resolve::RequestResult::NotFound)
        .count();
    let bytes: u64 = boots.iter().map(|b| b.bytes).sum();
    assert_eq!(sum(&samples, "cnfkit_requests_total", None), requests as f64, "{text}");
    assert_eq!(
        sum(&samples, "cnfkit_requests_total", Some(("answer", "not-found"))),
        misses as f64
    );
    assert_eq!(sum(&samples, "cnfkit_bytes_sent_total", None), bytes as f64);
    assert_eq!(sum(&samples, "cnfkit_transfers_active", None), 0.0);
    assert_eq!(sum(&samples, "cnfkit_phones", Some(("state", "stuck"))), 40.0);
    assert_eq!(sum(&samples, "cnfkit_registry_phones", None), 50.0);
    assert_eq!(sum(&samples, "cnfkit_boot_duration_seconds_count", None), 50.0);
    assert!(!text.contains(&mac(1).to_string()), "no per-MAC labels");

    // The live feed: an event within 1 s of a request.
    let tftp = running.tftp;
    let feed = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(admin).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(stream, "GET /api/events HTTP/1.1\r\nHost: {admin}\r\n\r\n").unwrap();
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        // Headers, then the ": connected" comment: from here on events are delivered.
        while !line.starts_with(": connected") {
            line.clear();
            lines.read_line(&mut line).unwrap();
        }
        let asked = Instant::now();
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.send_to(b"\x00\x01SEP001122550099.cnf.xml\x00octet\x00", tftp).unwrap();
        loop {
            line.clear();
            lines.read_line(&mut line).unwrap();
            if line.starts_with("data: ") && line.contains("SEP001122550099.cnf.xml") {
                return asked.elapsed();
            }
        }
    });
    let latency = feed.join().unwrap();
    assert!(latency < Duration::from_secs(1), "{latency:?}");

    // The 50 phones and the feed's probe (failed: no configuration).
    dashboard_in_a_browser(admin, 51, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_wants_its_token() {
    let dir = std::env::temp_dir().join(format!("cnfkit-admin-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "s3cret-token-of-32-characters-xx\n").unwrap();
    let monitor = Monitor::new(RegistryLimits::default(), None);
    // Beyond loopback (a TEST-NET address: refused before anything is bound).
    let refused = AdminServer::bind("192.0.2.1:8080".parse().unwrap(), monitor.clone(), None).await;
    assert!(matches!(refused, Err(AdminError::TokenRequired { .. })));
    std::fs::write(dir.join("short"), "short\n").unwrap();
    let short = AdminServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        monitor.clone(),
        Some(&dir.join("short")),
    )
    .await;
    assert!(matches!(short, Err(AdminError::BadToken { .. })));
    // A token of spaces, or with a space inside, is no token (RFC 6750 b64token).
    for (name, text) in
        [("blank", "                    \n"), ("spaced", "s3cret token of 32 characters xx\n")]
    {
        std::fs::write(dir.join(name), text).unwrap();
        let bad = AdminServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            monitor.clone(),
            Some(&dir.join(name)),
        )
        .await;
        assert!(matches!(bad, Err(AdminError::BadToken { .. })), "{name}");
    }

    let running = start(Some(&file)).await;
    let admin = running.admin;
    let answers = tokio::task::spawn_blocking(move || {
        [
            get(admin, "/api/phones", "").0,
            get(admin, "/metrics", "Authorization: Bearer wrong-token-of-32-characters-xx\r\n").0,
            get(admin, "/api/phones", "Authorization: Bearer s3cret-token-of-32-characters-xx\r\n")
                .0,
            get(admin, "/metrics?access_token=s3cret-token-of-32-characters-xx", "").0,
            // RFC 7235: the scheme in any letter case.
            get(admin, "/metrics", "Authorization: bearer s3cret-token-of-32-characters-xx\r\n").0,
            get(admin, "/metrics", "Authorization: BEARER  s3cret-token-of-32-characters-xx\r\n").0,
        ]
    })
    .await
    .unwrap();
    assert_eq!(answers, [401, 401, 200, 200, 200, 200]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens the dashboard in headless Chromium and reads the rendered table: `rows` phones, the
/// `stuck` stuck ones first. With `CNFKIT_DASHBOARD_PNG=path` it also saves a screenshot.
fn dashboard_in_a_browser(admin: SocketAddr, rows: usize, stuck: usize) {
    if !support::require("chromium") {
        return;
    }
    // Removed after the browser is stopped (dropped last).
    let profile = support::Scratch::new("chromium");
    let mut browser = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stderr = browser.stderr.take().unwrap();
    let _browser = KillOnDrop(browser);
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
    let mut stderr = BufReader::new(stderr);
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "chromium ended before it listened");
        if let Some(at) = line.find("ws://") {
            break line[at..].trim().to_owned();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let mut cdp = Cdp::connect(&url);
    let target = cdp.call(
        None,
        "Target.createTarget",
        serde_json::json!({ "url": format!("http://{admin}/") }),
    );
    let target_id = target["targetId"].as_str().unwrap().to_owned();
    let attached = cdp.call(
        None,
        "Target.attachToTarget",
        serde_json::json!({ "targetId": target_id, "flatten": true }),
    );
    let session = attached["sessionId"].as_str().unwrap().to_owned();
    // The page fills its table from /api/phones after it loads: wait for the rows.
    let script = "document.body && document.body.dataset.loaded ? [...document.querySelectorAll('tr.phone')].map(r => r.dataset.state + ' ' + r.dataset.mac) : null";
    let deadline = Instant::now() + Duration::from_secs(20);
    let rendered: Vec<String> = loop {
        let result = cdp.call(
            Some(&session),
            "Runtime.evaluate",
            serde_json::json!({ "expression": script, "returnByValue": true }),
        );
        if let Some(list) = result["result"]["value"].as_array().filter(|l| l.len() >= rows) {
            break list.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        }
        assert!(Instant::now() < deadline, "the dashboard did not list the phones: {result}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rendered.len(), rows, "{rendered:?}");
    assert!(rendered[..stuck].iter().all(|r| r.starts_with("stuck ")), "{rendered:?}");
    assert!(rendered[stuck..].iter().all(|r| !r.starts_with("stuck ")), "{rendered:?}");
    if let Ok(path) = std::env::var("CNFKIT_DASHBOARD_PNG") {
        // A phone's timeline open beside the table.
        let click = format!("document.querySelector('tr.phone[data-mac=\"{}\"]').click()", mac(1));
        cdp.call(Some(&session), "Runtime.evaluate", serde_json::json!({ "expression": click }));
        std::thread::sleep(Duration::from_millis(500));
        let shot = cdp.call(
            Some(&session),
            "Page.captureScreenshot",
            serde_json::json!({ "format": "png" }),
        );
        std::fs::write(&path, base64_decode(shot["data"].as_str().unwrap())).unwrap();
    }
    let _ = std::fs::remove_dir_all(&profile);
}

/// The browser, stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A DevTools protocol client: one WebSocket, commands answered by id.
struct Cdp {
    socket: tungstenite::WebSocket<TcpStream>,
    next: u64,
}

impl Cdp {
    fn connect(url: &str) -> Self {
        let address = url.trim_start_matches("ws://").split('/').next().unwrap();
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (socket, _) = tungstenite::client(url, stream).expect("the DevTools WebSocket");
        Self { socket, next: 1 }
    }

    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        let id = self.next;
        self.next += 1;
        let mut message = serde_json::json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = session.into();
        }
        self.socket.send(tungstenite::Message::text(message.to_string())).unwrap();
        loop {
            let reply = self.socket.read().expect("a DevTools message");
            let Ok(text) = reply.to_text() else { continue };
            let reply: serde_json::Value = serde_json::from_str(text).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let n =
                chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
            let bytes = n.to_be_bytes();
            bytes[1..chunk.len()].to_vec()
        })
        .collect()
}

/// DNS rebinding: a page on `evil.example` whose name now resolves to the admin's address
/// makes the visitor's browser send `Host: evil.example`; the listener answers only its
/// addresses, `localhost` on loopback, and the names it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_answers_only_its_own_host_names() {
    let monitor = Monitor::new(RegistryLimits::default(), None);
    let admin = AdminServer::bind("127.0.0.1:0".parse().unwrap(), monitor, None)
        .await
        .unwrap()
        .with_hosts(vec!["Admin.Example".into()]);
    let addr = admin.local_addr().unwrap();
    tokio::spawn(admin.run(std::future::pending()));
    let port = addr.port();
    let answers = tokio::task::spawn_blocking(move || {
        [
            format!("Host: evil.example:{port}\r\n"),
            "Host: evil.example\r\n".to_owned(),
            format!("Host: 127.0.0.1:{port}\r\n"),
            format!("Host: localhost:{port}\r\n"),
            format!("Host: admin.example:{port}\r\n"),
            format!("Host: [::1]:{port}\r\n"),
        ]
        .map(|host| get(addr, "/api/phones", &host).0)
    })
    .await
    .unwrap();
    assert_eq!(answers, [421, 421, 200, 200, 200, 200]);
}

/// The admin's 64 connections: idle unauthenticated sockets hold at most a quarter of them,
/// the oldest giving way to a new connection, so every authenticated scrape gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_unauthenticated_connections_cannot_starve_authenticated_scrapes() {
    let dir = std::env::temp_dir().join(format!("cnfkit-admin-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "s3cret-token-of-32-characters-xx\n").unwrap();
    let running = start(Some(&file)).await;
    let admin = running.admin;
    let ok = tokio::task::spawn_blocking(move || {
        // 100 sockets that connect and never speak (the old listener held 64 of them).
        let idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(admin).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let auth = "Authorization: Bearer s3cret-token-of-32-characters-xx\r\n";
        let ok = (0..30).filter(|_| get(admin, "/metrics", auth).0 == 200).count();
        drop(idle);
        ok
    })
    .await
    .unwrap();
    assert_eq!(ok, 30, "authenticated scrapes served");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_list_pages_with_its_total() {
    let running = start(None).await;
    let tftp = running.tftp;
    storm(tftp).await;
    let admin = running.admin;
    let (first, second, total) = tokio::task::spawn_blocking(move || {
        let page = |target: &str| {
            let mut stream = TcpStream::connect(admin).unwrap();
            write!(stream, "GET {target} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            let total = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("x-total-count: ").map(str::to_owned)
                })
                .unwrap();
            (serde_json::from_str::<Vec<serde_json::Value>>(body).unwrap(), total)
        };
        let (first, total) = page("/api/phones?limit=20");
        let (second, _) = page("/api/phones?limit=20&offset=20");
        (first, second, total)
    })
    .await
    .unwrap();
    assert_eq!(total, PHONES.to_string());
    assert_eq!((first.len(), second.len()), (20, 20));
    assert!(first.iter().all(|p| !second.contains(p)), "pages do not overlap");
}
