//! `cnf-server check` finds what a phone would hit before a phone does; SIGHUP reloads the
//! inventory and defaults without dropping a transfer, and a reload that fails changes nothing.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cnfkit_tftp::{ClientOptions, Policy};

const TFTP_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../repack/tests/data/test-tftp.pem");
const SAST_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../repack/tests/data/test-sast.pem");
const SIGNED: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../repack/tests/data/SEP001122334455.cnf.xml.sgn");

fn cnf_server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cnf-server"))
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnf-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn config_naming(load: &str) -> String {
    format!("<device>\n  <loadInformation>{load}</loadInformation>\n</device>\n")
}

/// A tree a phone boots from without a problem: XMLDefault names a load whose manifest lists
/// two images, both there at the sizes announced.
fn sound_tree(name: &str) -> PathBuf {
    let root = fresh_dir(name);
    std::fs::write(root.join("XMLDefault.cnf.xml"), config_naming("SIP78xx.14-2-1-0001-14"))
        .unwrap();
    std::fs::write(
        root.join("SIP78xx.14-2-1-0001-14.loads"),
        "[PLATFORM_1]\nkern=kern78xx.14-2-1.sbn size=1000\nrootfs=rootfs78xx.14-2-1.sbn size=2000\n",
    )
    .unwrap();
    std::fs::write(root.join("kern78xx.14-2-1.sbn"), vec![1u8; 1000]).unwrap();
    std::fs::write(root.join("rootfs78xx.14-2-1.sbn"), vec![2u8; 2000]).unwrap();
    root
}

#[test]
fn check_of_a_sound_tree_is_exit_0() {
    let root = sound_tree("sound");
    let out = cnf_server()
        .arg("check")
        .arg("--root")
        .arg(&root)
        .args(["--bind", &free_udp().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("no problems found"), "{stdout}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn check_finds_every_planted_problem_with_its_file_and_who_it_hurts() {
    let root = sound_tree("broken");
    // A load named by a phone's own config with no manifest and no image.
    std::fs::write(root.join("SEP001122334455.cnf.xml"), config_naming("SCCP42.9-4-2SR4-3S"))
        .unwrap();
    // An image of the default's load cut short, another gone.
    std::fs::write(root.join("kern78xx.14-2-1.sbn"), vec![1u8; 999]).unwrap();
    std::fs::remove_file(root.join("rootfs78xx.14-2-1.sbn")).unwrap();
    // A config that does not parse.
    std::fs::write(root.join("SEPAABBCCDDEEFF.cnf.xml"), "<device><loadInformation>").unwrap();
    // A signed config made with another key than the server's.
    std::fs::copy(SIGNED, root.join("SEP001122334455.cnf.xml.sgn")).unwrap();
    // An inventory phone whose model's load (from the defaults) is missing.
    let inventory = root.join("phones.csv");
    std::fs::write(&inventory, "mac,model\n0a0b0c0d0e0f,8845\n").unwrap();
    let defaults = root.join("defaults.toml");
    std::fs::write(
        &defaults,
        "call_managers = [\"10.0.0.1\"]\n[loads]\n\"8845\" = \"sip88xx.14-2-1-0001-14\"\n",
    )
    .unwrap();
    // A port in use.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = cnf_server()
        .arg("check")
        .arg("--root")
        .arg(&root)
        .arg("--inventory")
        .arg(&inventory)
        .arg("--defaults")
        .arg(&defaults)
        .args(["--bind", &taken.local_addr().unwrap().to_string()])
        .args(["--sign-key", SAST_PEM, "--sign-cert", SAST_PEM])
        .args(["--https", "127.0.0.1:0", "--tls-cert", TFTP_PEM, "--tls-key", SAST_PEM])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let expected: [&[&str]; 8] = [
        &["SCCP42.9-4-2SR4-3S.loads: missing", "phone SEP001122334455"],
        &["kern78xx.14-2-1.sbn: 999 bytes", "announces 1000", "every phone without"],
        &["rootfs78xx.14-2-1.sbn: missing: listed by SIP78xx.14-2-1-0001-14.loads"],
        &["SEPAABBCCDDEEFF.cnf.xml: does not parse", "phone SEPAABBCCDDEEFF"],
        &["SEP001122334455.cnf.xml.sgn: does not verify against the signing certificate"],
        &["sip88xx.14-2-1-0001-14.loads: missing", "phone SEP0A0B0C0D0E0F"],
        &["test-sast.pem: this key does not go with the certificate", "HTTPS"],
        &[&format!("{}: cannot listen", taken.local_addr().unwrap()), "another server has it"],
    ];
    for parts in expected {
        assert!(
            stdout.lines().any(|line| parts.iter().all(|part| line.contains(part))),
            "no line with {parts:?} in:\n{stdout}"
        );
    }
    assert!(stdout.contains("8 problems found"), "{stdout}");
    // The defaults rebuild a missing default configuration; a check looks at it, never saves it.
    std::fs::remove_file(root.join("XMLDefault.cnf.xml")).unwrap();
    let out = cnf_server()
        .arg("check")
        .arg("--root")
        .arg(&root)
        .arg("--defaults")
        .arg(&defaults)
        .args(["--bind", &free_udp().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!root.join("XMLDefault.cnf.xml").exists(), "check wrote into the tree");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn check_with_bad_input_is_exit_2() {
    let out = cnf_server().args(["check", "--root", "/nonexistent/tftpboot"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cnf_server().args(["check", "--max-blksize", "4"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The demo tree is ours: there is nothing of the admin's to check.
    let out = cnf_server().arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root or --source"));
}

/// A running server whose standard output lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(config: &Path) -> Self {
        let mut child = cnf_server()
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tell, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tell = tell.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tell.send(line);
                }
            });
        }
        Self { child, lines }
    }

    /// Waits (10 s at most) for a line containing `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no line with {text:?} from cnf-server");
    }

    fn hangup(&self) {
        let sent = Command::new("kill").arg("-HUP").arg(self.child.id().to_string()).status();
        assert!(sent.unwrap().success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fetches `name` (blksize 1468), the bytes or the failure.
fn fetch(
    runtime: &tokio::runtime::Runtime,
    server: SocketAddr,
    name: &str,
) -> Result<Vec<u8>, String> {
    let sink = cnfkit_tftp::SharedBuffer::default();
    let got = runtime.block_on(cnfkit_tftp::driver::get(
        server,
        name.as_bytes(),
        ClientOptions::default(),
        Box::new(sink.clone()),
        Policy::default(),
        |_| {},
    ));
    got.map(|_| sink.contents()).map_err(|e| e.to_string())
}

#[test]
fn sighup_reloads_the_inventory_while_a_40_mib_transfer_runs_through_it() {
    let root = sound_tree("reload");
    std::fs::write(root.join("firmware.bin"), vec![0x5a; 40 << 20]).unwrap();
    let inventory = root.join("phones.csv");
    std::fs::write(&inventory, "mac,model\n001122334455,7942\n").unwrap();
    let defaults = root.join("defaults.toml");
    std::fs::write(&defaults, "call_managers = [\"10.0.0.1\"]\n").unwrap();
    let server = free_udp();
    let config = root.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "root = {:?}\nbind = \"{server}\"\ninventory = {:?}\ndefaults = {:?}\n",
            root.display().to_string(),
            inventory.display().to_string(),
            defaults.display().to_string()
        ),
    )
    .unwrap();
    let running = Running::start(&config);
    running.wait_for("serving");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    assert!(fetch(&runtime, server, "SEP001122334455.cnf.xml").is_ok());
    assert!(
        fetch(&runtime, server, "SEPAABBCCDDEEFF.cnf.xml").is_err(),
        "not in the inventory yet"
    );

    // The large transfer starts, the inventory grows, SIGHUP comes while it runs.
    let large = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        fetch(&runtime, server, "firmware.bin")
    });
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&inventory, "mac,model\n001122334455,7942\naabbccddeeff,7962\n").unwrap();
    running.hangup();
    running.wait_for("SIGHUP: reloaded");
    let added = fetch(&runtime, server, "SEPAABBCCDDEEFF.cnf.xml").expect("the phone added");
    assert!(String::from_utf8_lossy(&added).contains("10.0.0.1"));
    assert!(!large.is_finished(), "the reload came after the large transfer ended: make it larger");
    let large = large.join().unwrap().expect("the transfer running across the reload completes");
    assert_eq!(large.len(), 40 << 20);
    assert!(large.iter().all(|&b| b == 0x5a));

    // A reload that fails (a bad row) keeps serving what was loaded, and says why.
    std::fs::write(&inventory, "mac,model\nnot-a-mac,7962\n").unwrap();
    running.hangup();
    let failed = running.wait_for("reload failed");
    assert!(failed.contains("phones.csv"), "{failed}");
    assert!(fetch(&runtime, server, "SEPAABBCCDDEEFF.cnf.xml").is_ok(), "still served");
    drop(running);
    std::fs::remove_dir_all(&root).unwrap();
}
