//! cnfkit's TFTP client against real servers (tftpd-hpa, atftpd, tftpy, dnsmasq), byte-compared,
//! lockstep and windowed. Loopback only, bounded in time.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use cnfkit::tftp::driver;
use cnfkit::tftp::{ClientOptions, Policy, SharedBuffer};
use cnfkit_tftp_wire::Mode;
use support::{Peer, Scratch, pseudo_random, require};

fn fetch(addr: SocketAddr, name: &str, options: ClientOptions) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = SharedBuffer::new();
    let sink = Box::new(got.clone());
    runtime
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(60),
                driver::get(addr, name.as_bytes(), options, sink, Policy::default(), |_| {}),
            )
            .await
        })
        .unwrap_or_else(|_| panic!("{addr} {name} {options:?}: over 60 s"))
        .unwrap_or_else(|e| panic!("{addr} {name} {options:?}: {e}"));
    got.contents()
}

fn grid() -> [ClientOptions; 5] {
    [
        ClientOptions::none(Mode::Octet),
        ClientOptions::default(),
        ClientOptions { blksize: Some(8192), ..ClientOptions::default() },
        ClientOptions { blksize: Some(1468), windowsize: Some(8), ..ClientOptions::default() },
        ClientOptions { mode: Mode::Netascii, ..ClientOptions::none(Mode::Netascii) },
    ]
}

fn against(name: &'static str) {
    let scratch = Scratch::new(&format!("interop-{name}"));
    let binary = pseudo_random(1_000_000, 3);
    scratch.write("file.bin", &binary);
    let text = b"line1\nline2\r\nbare\rcr\nend\n".repeat(200);
    scratch.write("text.txt", &text);
    let Some(peer) = Peer::start(name, scratch.path()) else { return };
    let addr: SocketAddr = ([127, 0, 0, 1], peer.port).into();
    for options in grid() {
        if options.mode == Mode::Netascii {
            // tftpy sends netascii files untranslated (docs/tftp.md, netascii): only RFC servers.
            if name == "tftpy" {
                continue;
            }
            assert_eq!(fetch(addr, "text.txt", options), text, "{name} netascii");
        } else {
            assert_eq!(fetch(addr, "file.bin", options), binary, "{name} {options:?}");
        }
    }
}

#[test]
fn our_client_against_tftpd_hpa() {
    against("tftpd-hpa");
}

#[test]
fn our_client_against_atftpd() {
    against("atftpd");
}

#[test]
fn our_client_against_tftpy() {
    against("tftpy");
}

/// dnsmasq's TFTP port is always 69, so it runs on its own loopback address (needs root).
#[test]
fn our_client_against_dnsmasq() {
    if !require("dnsmasq") {
        return;
    }
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !is_root {
        eprintln!("SKIP: dnsmasq needs root to bind port 69");
        return;
    }
    let scratch = Scratch::new("interop-dnsmasq");
    let binary = pseudo_random(500_000, 4);
    scratch.write("file.bin", &binary);
    let output = support::run(
        std::process::Command::new("bash")
            .arg(support::repo_root().join("peers/serve.sh"))
            .args(["dnsmasq"])
            .arg(scratch.path())
            .arg("127.0.0.77"),
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "dnsmasq: {}", String::from_utf8_lossy(&output.stderr));
    let pid = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let _guard = KillPid(pid);
    let addr: SocketAddr = ([127, 0, 0, 77], 69).into();
    for options in [ClientOptions::none(Mode::Octet), ClientOptions::default()] {
        assert_eq!(fetch(addr, "file.bin", options), binary, "dnsmasq {options:?}");
    }
}

struct KillPid(String);

impl Drop for KillPid {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.0).status();
    }
}
