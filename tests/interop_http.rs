//! Provisioning over HTTP and HTTPS against real clients: curl, python's `http.client` and
//! busybox `wget`. Every body is compared byte for byte with the file on disk; Range, HEAD,
//! conditional requests, keep-alive, the hostile names of the TFTP tests, many clients at once
//! and idle half-open connections beside a real request.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnfkit::server::http::{HttpConfig, HttpServer};
use cnfkit::server::registry::{PhoneKey, RegistryLimits};
use cnfkit::server::{Monitor, ProvisioningHandler, Site, SiteOptions, tls};
use support::{Scratch, pseudo_random, require, run};

/// A tree on disk served over HTTP and HTTPS in this process.
struct Served {
    http: SocketAddr,
    https: SocketAddr,
    scratch: Scratch,
    keys: Scratch,
    handler: Arc<ProvisioningHandler<cnfkit::resolve::FsDirectory>>,
    _runtime: tokio::runtime::Runtime,
}

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("XMLDefault.cnf.xml", b"<Default>\n  <callManagerGroup/>\n</Default>\n".to_vec()),
        (
            "SEP001122334455.cnf.xml",
            b"<device><loadInformation>SIP78xx.14-2-1</loadInformation></device>\n".to_vec(),
        ),
        ("empty.bin", Vec::new()),
        ("one.bin", vec![7]),
        ("firmware/sip78xx.14-2-1.loads", pseudo_random(65_537, 3)),
        ("firmware.sbn", pseudo_random(3_000_000, 5)),
    ]
}

fn serve(config: HttpConfig) -> Served {
    let scratch = Scratch::new("http");
    for (name, bytes) in files() {
        scratch.write(name, &bytes);
    }
    std::os::unix::fs::symlink("/etc/passwd", scratch.path().join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("/etc", scratch.path().join("etc-link")).unwrap();
    let keys = Scratch::new("http-keys");
    let (cert, key) = self_signed(keys.path(), "rsa:2048");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let site = Site::load(SiteOptions::new(scratch.path())).unwrap();
    let handler = Arc::new(
        ProvisioningHandler::new(site.resolver)
            .with_monitor(Monitor::new(RegistryLimits::default(), None)),
    );
    let tls_config = tls::server_config(&cert, &key).unwrap();
    let (http, https) = runtime.block_on(async {
        let any = "127.0.0.1:0".parse().unwrap();
        let http = HttpServer::bind(any, handler.clone(), config.clone()).await.unwrap();
        let https = HttpServer::bind_tls(any, handler.clone(), config, tls_config).await.unwrap();
        let addrs = (http.local_addr().unwrap(), https.local_addr().unwrap());
        tokio::spawn(http.run(std::future::pending(), Duration::ZERO));
        tokio::spawn(https.run(std::future::pending(), Duration::ZERO));
        addrs
    });
    Served { http, https, scratch, keys, handler, _runtime: runtime }
}

/// A self-signed certificate and its key in `dir` (not the served tree), made by openssl
/// (`rsa:2048` or `ec`).
fn self_signed(dir: &Path, kind: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join(format!("{kind}-cert.pem")), dir.join(format!("{kind}-key.pem")));
    let mut command = Command::new("openssl");
    command.args(["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]);
    if kind == "ec" {
        command.args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    } else {
        command.args(["-newkey", kind]);
    }
    let out = run(command.arg("-keyout").arg(&key).arg("-out").arg(&cert), Duration::from_secs(30));
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// Runs curl; what it writes to standard output stays small (a status code, headers), since
/// `run` reads the pipe only at the end: bodies go through [`fetch`].
fn curl(args: &[&str]) -> std::process::Output {
    run(Command::new("curl").args(["-sS", "--max-time", "20"]).args(args), Duration::from_secs(30))
}

/// Runs curl with `args` writing the body to a file, and returns its status and the body.
fn fetch(args: &[&str]) -> (std::process::Output, Vec<u8>) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!("cnfkit-http-body-{}-{n}", std::process::id()));
    let out = curl(&[args, &["-o", file.to_str().unwrap()]].concat());
    let body = std::fs::read(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    (out, body)
}

#[test]
fn curl_gets_every_file_byte_for_byte_over_http_and_https() {
    if !require("curl") || !require("openssl") {
        return;
    }
    let served = serve(HttpConfig::default());
    for (name, bytes) in files() {
        for base in [format!("http://{}", served.http), format!("https://{}", served.https)] {
            let (out, body) = fetch(&["-k", "--fail", &format!("{base}/{name}")]);
            assert!(
                out.status.success(),
                "{base}/{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(body == bytes, "{base}/{name}: {} bytes, {} expected", body.len(), bytes.len());
        }
    }
    // HTTP/1.0 too (no keep-alive, no Host needed).
    let (out, body) =
        fetch(&["--http1.0", "--fail", &format!("http://{}/XMLDefault.cnf.xml", served.http)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(body, files()[0].1);
    // Another letter case is the same file, as over TFTP.
    let out = curl(&["--fail", &format!("http://{}/xmldefault.CNF.XML", served.http)]);
    assert_eq!(out.stdout, files()[0].1);
}

#[test]
fn head_range_and_conditional_requests_rfc_9110() {
    if !require("curl") || !require("openssl") {
        return;
    }
    let served = serve(HttpConfig::default());
    let url = format!("http://{}/firmware.sbn", served.http);
    let firmware = &files()[5].1;
    let head = curl(&["-I", &url]);
    let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: 3000000"), "{head}");
    assert!(head.contains("accept-ranges: bytes"), "{head}");
    assert!(head.contains("last-modified: "), "{head}");
    let etag =
        head.lines().find_map(|l| l.strip_prefix("etag: ")).expect("an ETag").trim().to_owned();
    let xml = curl(&["-I", &format!("http://{}/XMLDefault.cnf.xml", served.http)]);
    assert!(
        String::from_utf8_lossy(&xml.stdout)
            .to_ascii_lowercase()
            .contains("content-type: text/xml")
    );

    let part = curl(&["-r", "1000-1999", "-D", "-", "-o", "/dev/null", &url]);
    assert!(String::from_utf8_lossy(&part.stdout).contains("206"), "{part:?}");
    let (_, part) = fetch(&["-r", "1000-1999", &url]);
    assert_eq!(part, firmware[1000..2000]);
    let (_, tail) = fetch(&["-r", "-10", &url]);
    assert_eq!(tail, firmware[firmware.len() - 10..]);
    let beyond = curl(&["-r", "5000000-", "-w", "%{http_code}", "-o", "/dev/null", &url]);
    assert_eq!(beyond.stdout, b"416");

    // 304 only for a client that sent a validator.
    let with_tag = curl(&[
        "-H",
        &format!("If-None-Match: {etag}"),
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        &url,
    ]);
    assert_eq!(with_tag.stdout, b"304");
    let plain = curl(&["-w", "%{http_code}", "-o", "/dev/null", &url]);
    assert_eq!(plain.stdout, b"200");
    // curl -z sends If-Modified-Since with the file's own time.
    let since = curl(&[
        "-z",
        &served.scratch.path().join("firmware.sbn").display().to_string(),
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        &url,
    ]);
    assert_eq!(since.stdout, b"304");

    let post = curl(&["-X", "POST", "-w", "%{http_code}", "-o", "/dev/null", &url]);
    assert_eq!(post.stdout, b"405");
    let missing = curl(&[
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        &format!("http://{}/SEPFFFFFFFFFFFF.cnf.xml", served.http),
    ]);
    assert_eq!(missing.stdout, b"404");
}

#[test]
fn python_http_client_keeps_one_connection_for_many_requests() {
    if !require("python3") || !require("openssl") {
        return;
    }
    let served = serve(HttpConfig::default());
    let script = format!(
        r#"
import http.client, hashlib, sys
conn = http.client.HTTPConnection("127.0.0.1", {port}, timeout=10)
first = None
for name in ["XMLDefault.cnf.xml", "firmware.sbn", "one.bin", "empty.bin", "firmware/sip78xx.14-2-1.loads"] * 3:
    conn.request("GET", "/" + name)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (name, r.status)
    assert int(r.getheader("Content-Length")) == len(body)
    print(name, hashlib.md5(body).hexdigest())
    first = first or conn.sock
    assert conn.sock is first, "the connection was not kept alive"
conn.request("HEAD", "/firmware.sbn")
r = conn.getresponse()
assert r.read() == b"" and r.getheader("Content-Length") == "3000000"
conn.request("GET", "/firmware.sbn", headers={{"Range": "bytes=2999990-"}})
r = conn.getresponse()
assert r.status == 206 and len(r.read()) == 10
assert conn.sock is first
"#,
        port = served.http.port()
    );
    let out = run(Command::new("python3").args(["-c", &script]), Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for (name, bytes) in files().into_iter().filter(|(n, _)| !n.starts_with("SEP")) {
        let want = format!("{name} {}", cnfkit::repack::md5_hex(&bytes));
        assert!(text.lines().any(|l| l == want), "{want} not in\n{text}");
    }
}

#[test]
fn busybox_wget_fetches_over_http() {
    if !require("busybox") {
        return;
    }
    let served = serve(HttpConfig::default());
    let out_file = served.scratch.path().join("wget.out");
    let out = run(
        Command::new("busybox")
            .args(["wget", "-q", "-O"])
            .arg(&out_file)
            .arg(format!("http://{}/firmware.sbn", served.http)),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&out_file).unwrap() == files()[5].1);
}

/// Every byte outside the unreserved set percent-encoded.
fn encoded(name: &[u8]) -> String {
    name.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One raw request; the status code and the whole response.
fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A connection the server closes at once (over a limit) may fail the write: no answer.
    let sent = write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    if sent.is_ok() {
        let _ = stream.read_to_end(&mut response);
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

#[test]
fn hostile_paths_are_refused_as_over_tftp_without_a_server_path_in_any_answer() {
    let served = serve(HttpConfig::default());
    let root = served.scratch.path().display().to_string();
    // The TFTP list asks for two ordinary files too; this tree has one of them.
    let served_names: Vec<&str> = files().iter().map(|(n, _)| *n).collect();
    let mut targets: Vec<String> = support::hostile_names()
        .iter()
        .filter(|n| !served_names.iter().any(|s| s.as_bytes() == n.as_slice()))
        .map(|n| format!("/{}", encoded(n)))
        .collect();
    targets.extend(
        [
            "/../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/..%2fetc%2fpasswd",
            "/..%5c..%5cetc%5cpasswd",
            "/%252e%252e/etc/passwd",
            "/SEP001122334455.cnf.xml%00.txt",
            "//etc/passwd",
            "/etc-link/passwd",
            "/passwd-link",
            "/firmware/../../etc/passwd",
        ]
        .map(str::to_owned),
    );
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for target in &targets {
        let (code, response) = raw_get(served.http, target);
        assert!(matches!(code, 400 | 403 | 404 | 414), "{target}: {code}\n{response}");
        assert!(!response.contains(&root), "{target}: the answer names the root");
        let first = passwd.lines().next().unwrap_or("root:x:0:0");
        assert!(!response.contains(first), "{target}: /etc/passwd leaked");
    }
    // Too long a URL is 414, too large a head 431.
    let (code, _) = raw_get(served.http, &format!("/{}", "a".repeat(2000)));
    assert_eq!(code, 414);
    let mut stream = TcpStream::connect(served.http).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        stream,
        "GET /XMLDefault.cnf.xml HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40_000)
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    assert!(
        String::from_utf8_lossy(&response).starts_with("HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&response)
    );
}

#[test]
fn three_hundred_clients_at_once_all_get_the_whole_file() {
    if !require("curl") {
        return;
    }
    // All from 127.0.0.1 here, where phones each have an address: the per-address limit
    // (128 by default, for a branch office behind NAT) is raised for this test.
    let served = serve(HttpConfig { max_per_address: 512, ..HttpConfig::default() });
    let url = format!("http://{}/firmware/sip78xx.14-2-1.loads", served.http);
    let dir = served.scratch.path().join("parallel");
    std::fs::create_dir(&dir).unwrap();
    let mut command = Command::new("curl");
    command.args([
        "-sS",
        "--fail",
        "--parallel",
        "--parallel-max",
        "300",
        "--parallel-immediate",
        "--max-time",
        "60",
    ]);
    for i in 0..300 {
        command.arg("-o").arg(dir.join(format!("{i}.out"))).arg(&url);
    }
    let out = run(&mut command, Duration::from_secs(90));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = &files()[4].1;
    for i in 0..300 {
        assert!(std::fs::read(dir.join(format!("{i}.out"))).unwrap() == *want, "client {i}");
    }
}

#[test]
fn two_hundred_idle_half_open_connections_do_not_delay_a_phone_and_are_closed() {
    let config = HttpConfig { header_timeout: Duration::from_secs(2), ..HttpConfig::default() };
    let served = serve(config);
    // 200 connections from 200 addresses that send half a request head and then nothing.
    let idle: Vec<TcpStream> = (1..=200u8)
        .map(|i| {
            let local = SocketAddr::from(([127, 50, 0, i], 0));
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.bind(&local.into()).unwrap();
            socket.connect(&served.http.into()).unwrap();
            let mut stream: TcpStream = socket.into();
            stream.write_all(b"GET /XMLDefault.cnf.xml HTTP/1.1\r\nHost: x\r\n").unwrap();
            stream
        })
        .collect();
    let started = Instant::now();
    let (code, response) = raw_get(served.http, "/XMLDefault.cnf.xml");
    assert_eq!(code, 200, "{response}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a phone waited {:?}",
        started.elapsed()
    );
    // After the header timeout every idle connection is closed by the server.
    std::thread::sleep(Duration::from_secs(3));
    for (i, mut stream) in idle.into_iter().enumerate() {
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "connection {i} still open: {text:?}");
    }
}

#[test]
fn https_answers_a_signed_config_request_with_the_plain_config_and_takes_ec_keys() {
    if !require("curl") || !require("openssl") {
        return;
    }
    let served = serve(HttpConfig::default());
    let plain = &files()[1].1;
    let out =
        curl(&["-k", "--fail", &format!("https://{}/SEP001122334455.cnf.xml.sgn", served.https)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(&out.stdout, plain, "the plain config on 6971");
    let over_http = curl(&[
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        &format!("http://{}/SEP001122334455.cnf.xml.sgn", served.http),
    ]);
    assert_eq!(
        over_http.stdout, b"404",
        "no signer here: over plain HTTP a .sgn is what TFTP gives"
    );
    // An EC key works as well as RSA.
    let (cert, key) = self_signed(served.keys.path(), "ec");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let addr = runtime.block_on(async {
        let server = HttpServer::bind_tls(
            "127.0.0.1:0".parse().unwrap(),
            served.handler.clone(),
            HttpConfig::default(),
            tls::server_config(&cert, &key).unwrap(),
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
        addr
    });
    let runner = std::thread::spawn(move || {
        runtime.block_on(async { tokio::time::sleep(Duration::from_secs(10)).await });
    });
    let out = curl(&["-k", "--fail", &format!("https://{addr}/XMLDefault.cnf.xml")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, files()[0].1);
    drop(runner);
}

#[test]
fn http_requests_join_the_boot_log_with_the_mac_from_a_multiplatform_user_agent() {
    if !require("curl") {
        return;
    }
    let served = serve(HttpConfig::default());
    let agent = "Cisco-CP-8841-3PCC/11.0 (00562b043615)";
    let out = curl(&[
        "-A",
        agent,
        "-o",
        "/dev/null",
        &format!("http://{}/XMLDefault.cnf.xml", served.http),
    ]);
    assert!(out.status.success());
    let lines = served.handler.monitor().unwrap().settle_all();
    let line = lines
        .iter()
        .find(|l| matches!(l.key, PhoneKey::Mac(_)))
        .expect("a boot with a MAC")
        .to_string();
    assert!(line.starts_with("SEP00562B043615 (127.0.0.1)"), "{line}");
    assert!(line.contains("XMLDefault.cnf.xml exact (http)"), "{line}");
}

#[test]
fn connections_over_the_per_address_limit_are_closed_once_each_has_sent_a_request() {
    let served = serve(HttpConfig { max_per_address: 4, ..HttpConfig::default() });
    // Four kept-alive connections that each got an answer: none is waiting for its first head,
    // so none gives its slot away.
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = TcpStream::connect(served.http).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(stream, "HEAD /XMLDefault.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // A fifth from the same address is closed without an answer.
    let (code, response) = raw_get(served.http, "/XMLDefault.cnf.xml");
    assert_eq!(code, 0, "{response}");
    // Another address is not affected.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from(([127, 60, 0, 1], 0)).into()).unwrap();
    socket.connect(&served.http.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET /XMLDefault.cnf.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));
    drop(held);
}

/// The first request head is due `header_timeout` after the accept, the TLS handshake included:
/// a client that takes most of that time to shake hands does not get a second allowance for its
/// head (it used to: one for the handshake, then one for the head).
#[test]
fn the_first_head_is_due_from_the_accept_tls_handshake_included() {
    if !require("python3") || !require("openssl") {
        return;
    }
    let served =
        serve(HttpConfig { header_timeout: Duration::from_millis(1500), ..HttpConfig::default() });
    let script = format!(
        r#"
import socket, ssl, time
raw = socket.create_connection(("127.0.0.1", {port}))
start = time.monotonic()
time.sleep(0.9)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
tls = context.wrap_socket(raw)
tls.sendall(b"GET /XMLDefault.cnf.xml HTTP/1.1\r\nHost: x\r\n")
tls.settimeout(10)
try:
    while tls.recv(1024):
        pass
except (ssl.SSLError, OSError):
    pass
print(round(time.monotonic() - start, 2))
"#,
        port = served.https.port()
    );
    let out = run(Command::new("python3").args(["-c", &script]), Duration::from_secs(30));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let closed_after: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!((1.4..2.2).contains(&closed_after), "closed {closed_after} s after the accept");
}
