//! Real TFTP clients against cnfkit's provisioning server, byte-compared: curl, tftp-hpa, atftp,
//! busybox and tftpy (the command lines of docs/tftp.md). Loopback only, every client
//! bounded in time. Locally a missing client skips with a message; under `CI=true` it fails.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use cnfkit::resolve::{FsDirectory, Resolver};
use cnfkit::server::{ProvisioningHandler, Uploads, Writes};
use cnfkit::tftp::driver::{Server, ServerConfig};
use cnfkit::tftp::{Layout, Stats};
use cnfkit_tftp_wire::{ErrorCode, Packet, netascii};
use support::{Scratch, pseudo_random, require, require_tftpy, run};

const LIMIT: Duration = Duration::from_secs(60);

struct Running {
    addr: SocketAddr,
    stats: std::sync::Arc<Stats>,
    _runtime: tokio::runtime::Runtime,
}

fn serve(root: &std::path::Path, writes: bool) -> Running {
    serve_with(root, writes, ServerConfig::default())
}

fn serve_with(root: &std::path::Path, writes: bool, config: ServerConfig) -> Running {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = FsDirectory::new(root).unwrap();
    let writes = if writes {
        Writes::On(Uploads::new(dir.clone()).matching("up-*").unwrap())
    } else {
        Writes::Off
    };
    let handler = ProvisioningHandler::new(Resolver::new(dir)).with_writes(writes);
    let server =
        runtime.block_on(Server::bind("127.0.0.1:0".parse().unwrap(), handler, config)).unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    runtime.spawn(server.run(std::future::pending(), Duration::ZERO));
    Running { addr, stats, _runtime: runtime }
}

fn text_file() -> Vec<u8> {
    b"<Default>\n  <loadInformation>SCCP42.9-4-2SR3-1S</loadInformation>\r\n  bare\rcr\n</Default>\n".repeat(300)
}

fn tree() -> (Scratch, Vec<u8>, Vec<u8>) {
    let scratch = Scratch::new("interop-clients");
    let binary = pseudo_random(1_500_000, 7);
    scratch.write("file.bin", &binary);
    scratch.write("XMLDefault.cnf.xml", &text_file());
    (scratch, binary, text_file())
}

fn check(what: &str, output: &std::process::Output, got: &[u8], want: &[u8]) {
    assert!(
        output.status.success(),
        "{what}: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(got == want, "{what}: {} bytes received, {} expected", got.len(), want.len());
}

#[test]
fn curl_default_blksize_no_options_and_netascii() {
    if !require("curl") {
        return;
    }
    let (scratch, binary, text) = tree();
    let server = serve(scratch.path(), false);
    let out = scratch.path().join("out");
    let url = |name: &str| format!("tftp://{}/{name}", server.addr);
    for (what, extra) in [
        ("curl default (tsize, blksize 512, timeout 6)", vec![]),
        ("curl --tftp-blksize 1468", vec!["--tftp-blksize", "1468"]),
        ("curl --tftp-no-options", vec!["--tftp-no-options"]),
    ] {
        let output = run(
            Command::new("curl").args(["-sS", "-o"]).arg(&out).args(&extra).arg(url("file.bin")),
            LIMIT,
        );
        check(what, &output, &std::fs::read(&out).unwrap_or_default(), &binary);
    }
    // curl does not decode netascii (docs/tftp.md, netascii): it writes the wire bytes.
    let output = run(
        Command::new("curl").args(["-sS", "-B", "-o"]).arg(&out).arg(url("XMLDefault.cnf.xml")),
        LIMIT,
    );
    check(
        "curl -B (netascii, with tsize)",
        &output,
        &std::fs::read(&out).unwrap_or_default(),
        &netascii::encode_to_vec(&text),
    );
}

#[test]
fn tftp_hpa_binary_and_its_default_netascii() {
    if !require("tftp") {
        return;
    }
    let (scratch, binary, text) = tree();
    let server = serve(scratch.path(), false);
    let out = scratch.path().join("out");
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let output = run(
        Command::new("tftp")
            .args(["-m", "binary", &host, &port, "-c", "get", "file.bin"])
            .arg(&out),
        LIMIT,
    );
    check("tftp-hpa -m binary", &output, &std::fs::read(&out).unwrap_or_default(), &binary);
    let output = run(
        Command::new("tftp").args([&host, &port, "-c", "get", "XMLDefault.cnf.xml"]).arg(&out),
        LIMIT,
    );
    check("tftp-hpa default netascii", &output, &std::fs::read(&out).unwrap_or_default(), &text);
}

#[test]
fn atftp_blksize_windowsize_tsize() {
    if !require("atftp") {
        return;
    }
    let (scratch, binary, _) = tree();
    let server = serve(scratch.path(), false);
    let out = scratch.path().join("out");
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let output = run(
        Command::new("atftp")
            .args([
                "--option",
                "blksize 1468",
                "--option",
                "windowsize 8",
                "--option",
                "tsize 0",
                "-g",
                "-r",
                "file.bin",
                "-l",
            ])
            .arg(&out)
            .args([&host, &port]),
        LIMIT,
    );
    check(
        "atftp blksize 1468 windowsize 8 tsize",
        &output,
        &std::fs::read(&out).unwrap_or_default(),
        &binary,
    );
}

/// The opt-in busy-poll (`ServerConfig::busy_poll`) changes how the server waits for an ACK,
/// never what it sends: lockstep and windowed clients get every byte from a polling server, and
/// the polls did answer some ACKs (a budget of a millisecond is far above a loopback round trip).
#[test]
fn real_clients_get_every_byte_from_a_busy_polling_server() {
    if !require("curl") || !require("atftp") || !require("busybox") {
        return;
    }
    let (scratch, binary, _) = tree();
    let config =
        ServerConfig { busy_poll: Some(Duration::from_millis(1)), ..ServerConfig::default() };
    let server = serve_with(scratch.path(), false, config);
    let out = scratch.path().join("out");
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let url = format!("tftp://{}/file.bin", server.addr);
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--tftp-blksize", "1468", "-o"]).arg(&out).arg(&url);
    let mut atftp = Command::new("atftp");
    atftp
        .args(["--option", "blksize 1468", "--option", "windowsize 16", "-g", "-r", "file.bin"])
        .arg("-l")
        .arg(&out)
        .args([&host, &port]);
    let mut busybox = Command::new("busybox");
    busybox
        .args(["tftp", "-b", "512", "-g", "-r", "file.bin", "-l"])
        .arg(&out)
        .args([&host, &port]);
    for (what, command) in [
        ("curl --tftp-blksize 1468 (lockstep)", &mut curl),
        ("atftp blksize 1468 windowsize 16", &mut atftp),
        ("busybox tftp -b 512 (lockstep)", &mut busybox),
    ] {
        let _ = std::fs::remove_file(&out);
        let output = run(command, LIMIT);
        check(what, &output, &std::fs::read(&out).unwrap_or_default(), &binary);
    }
    assert!(
        server.stats.polled.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no ACK was polled for"
    );
}

#[test]
fn busybox_blksize_1468() {
    if !require("busybox") {
        return;
    }
    let (scratch, binary, _) = tree();
    let server = serve(scratch.path(), false);
    let out = scratch.path().join("out");
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let output = run(
        Command::new("busybox")
            .args(["tftp", "-b", "1468", "-g", "-r", "file.bin", "-l"])
            .arg(&out)
            .args([&host, &port]),
        LIMIT,
    );
    check("busybox tftp -b 1468", &output, &std::fs::read(&out).unwrap_or_default(), &binary);
}

#[test]
fn tftpy_blksize_1468_tsize() {
    if !require_tftpy() {
        return;
    }
    let (scratch, binary, _) = tree();
    let server = serve(scratch.path(), false);
    let out = scratch.path().join("out");
    let script = format!(
        "import logging,tftpy; logging.disable(logging.CRITICAL); tftpy.TftpClient('{}', {}, options={{'blksize': 1468, 'tsize': 0}}).download('file.bin', '{}', timeout=5)",
        server.addr.ip(),
        server.addr.port(),
        out.display()
    );
    let output = run(Command::new("python3").args(["-c", &script]), LIMIT);
    check("tftpy blksize 1468 tsize", &output, &std::fs::read(&out).unwrap_or_default(), &binary);
}

#[test]
fn uploads_with_curl_and_atftp_land_whole_and_never_overwrite() {
    if !require("curl") || !require("atftp") {
        return;
    }
    let (scratch, binary, _) = tree();
    let server = serve(scratch.path(), true);
    let upload = scratch.write("upload.src", &binary);
    let output = run(
        Command::new("curl")
            .args(["-sS", "-T"])
            .arg(&upload)
            .arg(format!("tftp://{}/up-curl.log", server.addr)),
        LIMIT,
    );
    assert!(output.status.success(), "curl -T: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read(scratch.path().join("up-curl.log")).unwrap(), binary);
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let output = run(
        Command::new("atftp").args(["-p", "-l"]).arg(&upload).args([
            "-r",
            "up-atftp.log",
            &host,
            &port,
        ]),
        LIMIT,
    );
    assert!(output.status.success(), "atftp -p: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read(scratch.path().join("up-atftp.log")).unwrap(), binary);
    // An existing file is not replaced (ERROR 6), and no partial file is left anywhere.
    let output = run(
        Command::new("curl")
            .args(["-sS", "-T"])
            .arg(&upload)
            .arg(format!("tftp://{}/up-curl.log", server.addr)),
        LIMIT,
    );
    assert!(!output.status.success());
    assert_eq!(std::fs::read(scratch.path().join("up-curl.log")).unwrap(), binary);
    // A name the server answers to phones is never taken, even when the upload pattern
    // matches it.
    for planted in ["up-SEP001122334455.cnf.xml", "up-ITLFile.tlv"] {
        let output = run(
            Command::new("curl")
                .args(["-sS", "-T"])
                .arg(&upload)
                .arg(format!("tftp://{}/{planted}", server.addr)),
            LIMIT,
        );
        assert!(!output.status.success(), "{planted} was taken");
        assert!(!scratch.path().join(planted).exists(), "{planted}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Hostile names, sent raw: each is refused with ERROR 1 or 2, and no reply carries a server path.
#[test]
fn hostile_requests_are_refused_without_leaking_server_paths() {
    let (scratch, _, _) = tree();
    std::fs::write(scratch.path().join("../cnfkit-secret.txt"), b"secret").ok();
    std::os::unix::fs::symlink("/etc/passwd", scratch.path().join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("/etc", scratch.path().join("etc-link")).unwrap();
    let server = serve(scratch.path(), false);
    let names = support::hostile_names();
    assert!(names.len() >= 40, "{} names", names.len());
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let root = scratch.path().to_string_lossy().into_owned();
    for name in &names {
        let mut rrq = b"\x00\x01".to_vec();
        rrq.extend(name);
        rrq.extend(b"\x00octet\x00");
        socket.send_to(&rrq, server.addr).unwrap();
        let mut buf = [0u8; 1024];
        let (n, _) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("{}: no answer: {e}", String::from_utf8_lossy(name)));
        let reply = &buf[..n];
        let shown = String::from_utf8_lossy(name);
        match Packet::parse(reply) {
            Ok(Packet::Error { code, message }) => {
                assert!(
                    [
                        ErrorCode::FILE_NOT_FOUND,
                        ErrorCode::ACCESS_VIOLATION,
                        ErrorCode::ILLEGAL_OPERATION
                    ]
                    .contains(&code),
                    "{shown}: code {code}"
                );
                let message = String::from_utf8_lossy(message);
                assert!(
                    !message.contains(&root)
                        && !message.contains("/tmp")
                        && !message.contains("/etc"),
                    "{shown}: {message}"
                );
            }
            other => panic!("{shown}: expected an ERROR, got {other:?}"),
        }
    }
    std::fs::remove_file(scratch.path().join("../cnfkit-secret.txt")).ok();
}

/// `Layout::PortPerTransfer` (`cnf-server --port-per-transfer`): every transfer answers from a
/// port of its own, as RFC 1350 has it (the other tests here run the default, every answer
/// from the listening port); lockstep and windowed, every byte arrives.
#[test]
fn real_clients_get_every_byte_from_a_port_per_transfer_server() {
    if !require("curl") || !require("atftp") || !require("busybox") || !require_tftpy() {
        return;
    }
    let (scratch, binary, _) = tree();
    let config = ServerConfig { layout: Layout::PortPerTransfer, ..ServerConfig::default() };
    let server = serve_with(scratch.path(), false, config);
    let out = scratch.path().join("out");
    let (host, port) = (server.addr.ip().to_string(), server.addr.port().to_string());
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--tftp-blksize", "1468", "-o"])
        .arg(&out)
        .arg(format!("tftp://{}/file.bin", server.addr));
    let mut atftp = Command::new("atftp");
    atftp
        .args(["--option", "blksize 1468", "--option", "windowsize 8", "-g", "-r", "file.bin"])
        .arg("-l")
        .arg(&out)
        .args([&host, &port]);
    let mut busybox = Command::new("busybox");
    busybox
        .args(["tftp", "-b", "1468", "-g", "-r", "file.bin", "-l"])
        .arg(&out)
        .args([&host, &port]);
    let script = format!(
        "import logging,tftpy; logging.disable(logging.CRITICAL); tftpy.TftpClient('{host}', {port}, options={{'blksize': 1468, 'tsize': 0}}).download('file.bin', '{}', timeout=5)",
        out.display()
    );
    let mut tftpy = Command::new("python3");
    tftpy.args(["-c", &script]);
    for (what, command) in [
        ("curl --tftp-blksize 1468 (lockstep)", &mut curl),
        ("atftp blksize 1468 windowsize 8", &mut atftp),
        ("busybox tftp -b 1468", &mut busybox),
        ("tftpy blksize 1468 tsize", &mut tftpy),
    ] {
        let _ = std::fs::remove_file(&out);
        let output = run(command, LIMIT);
        check(what, &output, &std::fs::read(&out).unwrap_or_default(), &binary);
    }
}

/// nginx's UDP stream module, which the test loads.
const NGINX_STREAM: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// A UDP load balancer in front of the server, as a Kubernetes Service, NAT or a cloud UDP
/// balancer is: nginx's stream proxy forwards to the client only what comes back from the port
/// it sent to. Through it, the default layout (every answer from the listening port) serves
/// every byte, and a server answering from a port per transfer (RFC 1350) serves nothing.
#[test]
fn through_a_udp_load_balancer_only_the_shared_port_layout_works() {
    if !require("curl") || !require("nginx") {
        return;
    }
    if !std::path::Path::new(NGINX_STREAM).exists() {
        assert!(
            !support::under_ci(),
            "{NGINX_STREAM} is missing under CI=true: run peers/install.sh"
        );
        eprintln!("skipped: {NGINX_STREAM} is missing (Debian: libnginx-mod-stream)");
        return;
    }
    let (scratch, binary, _) = tree();
    for single_port in [true, false] {
        let layout = if single_port { Layout::SharedPort } else { Layout::PortPerTransfer };
        let config = ServerConfig { layout, ..ServerConfig::default() };
        let server = serve_with(scratch.path(), false, config);
        let balancer = SocketAddr::from(([127, 0, 0, 1], support::free_udp_port()));
        let dir = scratch.path().join(format!("nginx-{single_port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "load_module {NGINX_STREAM};\ndaemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nstream {{\n  server {{\n    listen {balancer} udp;\n    proxy_pass {};\n    proxy_timeout 5s;\n  }}\n}}\n",
                server.addr,
                d = dir.display()
            ),
        )
        .unwrap();
        let mut nginx = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx");
        let started = std::time::Instant::now();
        while !dir.join("nginx.pid").exists() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let out = dir.join("out");
        let output = run(
            Command::new("curl")
                .args(["-sS", "--max-time", "8", "--tftp-blksize", "1468", "-o"])
                .arg(&out)
                .arg(format!("tftp://{balancer}/file.bin")),
            LIMIT,
        );
        let _ = nginx.kill();
        let _ = nginx.wait();
        let got = std::fs::read(&out).unwrap_or_default();
        if single_port {
            check("curl through nginx, shared-port server", &output, &got, &binary);
        } else {
            assert!(
                !output.status.success() && got.len() < binary.len(),
                "a port per transfer passed a UDP load balancer: {} bytes",
                got.len()
            );
        }
    }
}
