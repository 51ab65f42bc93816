//! `cnf-server` as a user meets it: bad input is exit 2 with a message that says what to do,
//! before any socket is bound; SIGTERM stops it gracefully; running out of descriptors is
//! summarised with the limit.

mod support;
use support::wait_for_error;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The installed program: this crate's `cnf-server` binary.
fn cnf_server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cnf-server"))
}

#[test]
fn an_inventory_without_defaults_on_a_wildcard_address_is_refused() {
    let root = std::env::temp_dir().join(format!("cnf-server-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let inventory = root.join("phones.csv");
    std::fs::write(&inventory, "mac,model\n001122334455,7942\n").unwrap();
    let out = cnf_server()
        .arg("--root")
        .arg(&root)
        .arg("--inventory")
        .arg(&inventory)
        .args(["--bind", "0.0.0.0:0"])
        .output()
        .expect("cnf-server is built");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("give --defaults with call_managers"), "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_root_that_does_not_exist_is_exit_2_naming_it() {
    let out = cnf_server()
        .args(["--root", "/nonexistent/tftpboot", "--bind", "127.0.0.1:0"])
        .output()
        .expect("cnf-server is built");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/tftpboot"), "{stderr}");
}

/// A tree of `XMLDefault.cnf.xml` and a 256 KiB `firmware.sbn`, and a free port to serve it on.
fn firmware_tree(name: &str) -> (std::path::PathBuf, SocketAddr) {
    let root = std::env::temp_dir().join(format!("cnf-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("XMLDefault.cnf.xml"), b"<Default/>\n").unwrap();
    std::fs::write(root.join("firmware.sbn"), vec![0x5a; 256 * 1024]).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    (root, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Asks for a missing file until the server answers (10 s at most).
fn wait_until_it_answers(server_addr: SocketAddr) {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let ready = (0..100).any(|_| {
        let _ = probe.send_to(b"\x00\x01nothing-here\x00octet\x00", server_addr);
        probe.recv_from(&mut [0u8; 64]).is_ok()
    });
    assert!(ready, "cnf-server did not start");
}

#[cfg(unix)]
#[test]
fn sigterm_tells_unfinished_transfers_removes_unfinished_uploads_and_exits_0() {
    let (root, server_addr) = firmware_tree("term");
    let mut child = cnf_server()
        .arg("--root")
        .arg(&root)
        .args(["--bind", &server_addr.to_string(), "--allow-write", "--upload-name", "new-*"])
        .args(["--shutdown-grace", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cnf-server is built");
    // Ready once it answers.
    wait_until_it_answers(server_addr);

    // Four reads that acknowledge their first block and stall, and one upload in progress.
    let mut clients = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..4 {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        socket.send_to(b"\x00\x01firmware.sbn\x00octet\x00", server_addr).unwrap();
        let (_, from) = socket.recv_from(&mut buf).unwrap();
        socket.send_to(b"\x00\x04\x00\x01", from).unwrap();
        clients.push(socket);
    }
    let upload = UdpSocket::bind("127.0.0.1:0").unwrap();
    upload.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    upload.send_to(b"\x00\x02new-upload.txt\x00octet\x00", server_addr).unwrap();
    let (_, from) = upload.recv_from(&mut buf).unwrap();
    assert_eq!(buf[..4], [0, 4, 0, 0]);
    upload.send_to(&[&[0u8, 3, 0, 1][..], &[b' '; 512]].concat(), from).unwrap();
    upload.recv_from(&mut buf).unwrap();
    clients.push(upload);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    for (i, client) in clients.iter().enumerate() {
        let error = wait_for_error(client, Duration::from_secs(4));
        assert_eq!(error, Some((0, "Server shutting down".to_owned())), "client {i}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "cnf-server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let log =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("stopped") && log.contains("stopped=5"), "{log}");
    let left: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "XMLDefault.cnf.xml" && n != "firmware.sbn")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// Runs `cnf-server` with a soft and hard descriptor limit of `limit` (the server cannot raise
/// it), logging to a pipe.
#[cfg(unix)]
fn cnf_server_with_descriptor_limit(limit: u32, args: &[&str]) -> std::process::Child {
    let server = cnf_server().get_program().to_owned();
    Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(server)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash and cnf-server")
}

#[cfg(unix)]
#[test]
fn out_of_descriptors_is_a_summary_line_naming_the_limit_not_a_line_per_request() {
    use std::io::{BufRead, BufReader};

    let (root, server_addr) = firmware_tree("fds");
    let root_arg = root.to_str().unwrap();
    let mut child = cnf_server_with_descriptor_limit(
        48,
        &["--root", root_arg, "--bind", &server_addr.to_string(), "--shutdown-grace", "0"],
    );
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_until_it_answers(server_addr);

    // 80 reads from 80 addresses that never acknowledge: each transfer holds a socket (and
    // the file) until it times out, so descriptors run out long before any transfer limit.
    let attackers: Vec<UdpSocket> = (0..80u8)
        .map(|i| {
            let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 3, 10 + i], 0))).unwrap();
            socket.send_to(b"\x00\x01firmware.sbn\x00octet\x00", server_addr).unwrap();
            socket
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut log = Vec::new();
    let summary = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("turned away") => break Some(line),
            Ok(line) => log.push(line),
            Err(_) => break None,
        }
    };
    let summary = summary.unwrap_or_else(|| panic!("no summary line in 15 s: {log:#?}"));
    assert!(summary.contains("out of file descriptors (limit 48)"), "{summary}");
    let per_request = log.iter().filter(|l| l.contains("descriptor")).count();
    assert_eq!(per_request, 0, "one line per request: {log:#?}");
    drop(attackers);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    std::fs::remove_dir_all(&root).unwrap();
}

/// Asks for `SEP<MAC>.cnf.xml` (a miss: the tree has none) for each MAC, once.
fn ask_for_own_files(server_addr: SocketAddr, macs: std::ops::Range<u32>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in macs {
        let request = format!("\x00\x01SEP0011227700{i:02X}.cnf.xml\x00octet\x00");
        socket.send_to(request.as_bytes(), server_addr).unwrap();
    }
}

/// The admin API's phone list.
fn phones_listed(admin: SocketAddr) -> Vec<serde_json::Value> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET /api/phones HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap()
}

#[cfg(unix)]
#[test]
fn the_registry_survives_kill_dash_9_in_the_middle_of_its_writes() {
    let (root, server_addr) = firmware_tree("state");
    let state = root.with_extension("phones.jsonl");
    let _ = std::fs::remove_file(&state);
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let start = || {
        cnf_server()
            .arg("--root")
            .arg(&root)
            .args(["--bind", &server_addr.to_string(), "--admin", &admin.to_string(), "--state"])
            .arg(&state)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cnf-server is built")
    };
    let mut child = start();
    wait_until_it_answers(server_addr);
    ask_for_own_files(server_addr, 0..20);
    // Saved within a second; then SIGKILL while more phones keep the writer busy.
    std::thread::sleep(Duration::from_millis(1500));
    for round in 0..8 {
        ask_for_own_files(server_addr, 20 + round * 10..30 + round * 10);
        std::thread::sleep(Duration::from_millis(120));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Whatever the kill cut, a write cut in half is what the next start must survive.
    let saved = std::fs::read_to_string(&state).unwrap();
    let last = saved.lines().last().unwrap().to_owned();
    std::fs::write(&state, format!("{saved}{}", &last[..last.len() / 2])).unwrap();

    let mut child = start();
    wait_until_it_answers(server_addr);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let restored = std::iter::from_fn(|| {
        let mut line = String::new();
        (std::io::BufRead::read_line(&mut stdout, &mut line).ok()? > 0).then_some(line)
    })
    .find(|l| l.contains("phones restored"))
    .expect("a line saying what was restored");
    assert!(restored.contains("(1 torn lines skipped)"), "{restored}");
    let phones = phones_listed(admin);
    for i in 0..20 {
        let mac = format!("0011227700{i:02X}");
        let phone = phones.iter().find(|p| p["mac"] == mac.as_str());
        let phone = phone.unwrap_or_else(|| panic!("{mac} restored: {phones:?}"));
        let last = &phone["last_request"];
        assert_eq!(last["name"], format!("SEP{mac}.cnf.xml").as_str(), "{phone}");
        assert_eq!(last["answer"], "not-found", "{phone}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&state);
    std::fs::remove_dir_all(&root).unwrap();
}

/// The workspace's `phone-sim` example (`cargo test --workspace` builds it).
fn phone_sim() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join("examples").join(format!("phone-sim{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is not built: cargo build --examples", path.display());
    Command::new(path)
}

#[test]
fn phone_sim_draws_its_storm_and_refuses_a_report_in_a_missing_directory_before_booting() {
    let out = phone_sim()
        .args(["--phones", "3", "--report", "/nonexistent-dir/storm.svg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));

    let (root, server_addr) = firmware_tree("report");
    let mut server = cnf_server()
        .args(["--bind", &server_addr.to_string(), "--admin", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cnf-server is built");
    wait_until_it_answers(server_addr);
    let report = root.join("storm.html");
    let out = phone_sim()
        .args([
            "--server",
            &server_addr.to_string(),
            "--phones",
            "8",
            "--running-load",
            "SCCP42.8-5-4S",
        ])
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg"),
        "an HTML page by its name"
    );
    assert!(html.contains("8 phones in"));
    // Each demo boot: trust lists, own file, XMLDefault, the manifest, four images.
    assert!(html.matches("class=\"request\"").count() >= 8 * 5);
    std::fs::remove_dir_all(&root).unwrap();
}

#[cfg(unix)]
#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let (root, server_addr) = firmware_tree("json-logs");
    let child = cnf_server()
        .arg("--root")
        .arg(&root)
        .args(["--bind", &server_addr.to_string(), "--log-format", "json", "--shutdown-grace", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cnf-server is built");
    wait_until_it_answers(server_addr);
    // A name that could leave the tree is refused, and logged at info level at once.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"\x00\x01../etc/passwd\x00octet\x00", server_addr).unwrap();
    assert!(wait_for_error(&socket, Duration::from_secs(2)).is_some());
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO" && l["fields"]["message"] == "refused"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// Least privilege: started as root with `--user nobody`, the server binds its ports and then
/// runs as nobody (real, effective and saved ids, and its groups), and still serves. Needs
/// root, as binding port 69 does; skipped otherwise.
#[cfg(unix)]
#[test]
fn with_user_it_binds_then_runs_as_that_user_and_keeps_serving() {
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_owned));
    if euid.as_deref().and_then(|l| l.split_whitespace().nth(2)) != Some("0") {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI runs as root");
        eprintln!("skipped: --user needs root");
        return;
    }
    let (root, server_addr) = firmware_tree("user");
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut child = cnf_server()
        .arg("--root")
        .arg(&root)
        .args(["--bind", &server_addr.to_string(), "--http", &http.to_string()])
        .args(["--user", "nobody"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cnf-server is built");
    wait_until_it_answers(server_addr);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let ids = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap().to_owned();
        line.split_whitespace().skip(1).map(str::to_owned).collect::<Vec<_>>()
    };
    let nobody = ids("Uid:")[0].clone();
    assert_ne!(nobody, "0", "{status}");
    assert!(ids("Uid:").iter().all(|u| *u == nobody), "real, effective, saved, fs: {status}");
    assert!(ids("Gid:").iter().all(|g| g != "0"), "{status}");
    assert!(ids("Groups:").iter().all(|g| g != "0"), "{status}");
    // Still serving, as nobody: the tree is world-readable.
    assert_eq!(first_block_of_xml_default(server_addr), b"\x00\x03\x00\x01<Default/>\n");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_unknown_user_is_exit_2_before_anything_is_bound() {
    let out = cnf_server()
        .args(["--bind", "127.0.0.1:0", "--http", "127.0.0.1:0", "--user", "no-such-user-here"])
        .output()
        .expect("cnf-server is built");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--user no-such-user-here: no such user"), "{stderr}");
    assert!(!stdout.contains("serving"), "nothing started: {stdout}");
}

/// `--config FILE`: TOML whose keys are the long flags. The file's settings apply, a flag on
/// the command line wins over the file, and a bad key or value is exit 2 naming its line.
#[test]
fn a_config_file_sets_flags_the_command_line_wins_and_a_bad_line_is_named() {
    let (root, server_addr) = firmware_tree("config");
    let unused = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let file = root.with_extension("toml");
    std::fs::write(
        &file,
        format!(
            "# a comment\nroot = {:?}\nbind = \"{unused}\"\nhttp = \"{http}\"\nmax-transfers = 64\nport-per-transfer = false\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    let mut child = cnf_server()
        .arg("--config")
        .arg(&file)
        .args(["--bind", &server_addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cnf-server is built");
    // Serves the file's root, on the command line's address.
    wait_until_it_answers(server_addr);
    assert_eq!(first_block_of_xml_default(server_addr), b"\x00\x03\x00\x01<Default/>\n");
    child.kill().unwrap();
    child.wait().unwrap();

    for (line, expected) in [
        ("bnid = \"0.0.0.0:69\"", "line 2, `bnid`: no such key"),
        ("allow-write = \"yes\"", "line 2, `allow-write`: takes true or false"),
        ("max-transfers = \"lots\"", "line 2, `max-transfers`: invalid value"),
    ] {
        std::fs::write(&file, format!("root = {:?}\n{line}\n", root.display().to_string()))
            .unwrap();
        let out = cnf_server().arg("--config").arg(&file).output().expect("cnf-server is built");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{line}: {stderr}");
        assert!(stderr.contains(expected), "{line}: {stderr}");
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    }
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

/// docs/server.toml documents every key: each long flag of `--help` is there, commented out.
#[test]
fn the_commented_config_file_in_docs_has_every_flag() {
    let help = cnf_server().arg("--help").output().expect("cnf-server is built");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let documented = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join("server.toml"),
    )
    .unwrap();
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| l.split([' ', '<']).next().unwrap())
        .filter(|f| !matches!(*f, "config" | "help" | "version"))
        .collect();
    assert!(flags.len() > 30, "{help}");
    for flag in flags {
        assert!(documented.contains(&format!("\n# {flag} = ")), "docs/server.toml lacks `{flag}`");
    }
}

/// The server's first answer to a request for `XMLDefault.cnf.xml` (DATA 1 for a small file).
fn first_block_of_xml_default(server_addr: SocketAddr) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    socket.send_to(b"\x00\x01XMLDefault.cnf.xml\x00octet\x00", server_addr).unwrap();
    let mut buf = [0u8; 600];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    buf[..n].to_vec()
}
