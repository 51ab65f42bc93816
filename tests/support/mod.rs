//! Shared helpers for the interop tests: find peer programs, run them bounded in time, make
//! scratch trees, start reference servers with `peers/serve.sh`.
//!
//! Rule for missing peers: locally a test skips with a message naming the program and the
//! install script; under `CI=true` a missing peer fails the test, so CI never passes by skipping.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether we run under CI, where a missing peer is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `program` can be run; when not, skip (print why) or, under CI, panic.
pub fn require(program: &str) -> bool {
    let found = if program.contains('/') {
        Path::new(program).exists()
    } else {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !found {
        assert!(
            !under_ci(),
            "peer program {program} is missing under CI=true: run peers/install.sh"
        );
        eprintln!("SKIP: peer program {program} not installed (run `sudo bash peers/install.sh`)");
    }
    found
}

/// Whether the Python module `tftpy` can be imported (same skip rule as [`require`]).
pub fn require_tftpy() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import tftpy"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(!under_ci(), "python3 module tftpy is missing under CI=true: run peers/install.sh");
        eprintln!("SKIP: python3 module tftpy not installed (run `sudo bash peers/install.sh`)");
    }
    found
}

/// Runs a command with a deadline, killing it when the deadline passes.
pub fn run(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "{command:?} still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A fresh scratch directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(
            format!("cnfkit-{name}-{}-{:?}", std::process::id(), std::thread::current().id())
                .replace(['(', ')'], ""),
        );
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a world-readable file (tftpd-hpa drops to `nobody`).
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, bytes).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        path
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A UDP port free on 127.0.0.1 right now (bound then released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The repository root (the umbrella crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A reference server started by `peers/serve.sh`, killed on drop.
pub struct Peer {
    pub name: &'static str,
    pub port: u16,
    pid: u32,
}

impl Peer {
    /// Starts `name` (`tftpd-hpa`, `atftpd`, `tftpy`) serving `root` on 127.0.0.1, or `None`
    /// (after the skip/fail rule) when it is not installed.
    pub fn start(name: &'static str, root: &Path) -> Option<Self> {
        let program = match name {
            "tftpd-hpa" => "/usr/sbin/in.tftpd",
            "atftpd" => "/opt/tftp-peers/atftpd/usr/sbin/atftpd",
            "tftpy" => return require_tftpy().then(|| Self::spawn(name, root)).flatten(),
            other => panic!("unknown peer {other}"),
        };
        if !require(program) {
            return None;
        }
        Self::spawn(name, root)
    }

    fn spawn(name: &'static str, root: &Path) -> Option<Self> {
        let port = free_udp_port();
        let output = run(
            Command::new("bash")
                .arg(repo_root().join("peers/serve.sh"))
                .arg(name)
                .arg(root)
                .arg(port.to_string()),
            Duration::from_secs(10),
        );
        assert!(
            output.status.success(),
            "serve.sh {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let pid = String::from_utf8_lossy(&output.stdout).trim().parse().expect("pid");
        Some(Self { name, port, pid })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// Starts a child process that is killed when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Names no server may answer with a file outside its root, sent by the TFTP and the HTTP
/// hostile-request tests alike: traversal in every separator and spelling, absolute and drive
/// paths, symlinks out of the tree (`passwd-link`, `etc-link`: the test tree makes them),
/// control bytes, NUL, invalid and overlong UTF-8, and a name longer than any limit.
pub fn hostile_names() -> Vec<Vec<u8>> {
    let long = "a/".repeat(300);
    let mut names: Vec<Vec<u8>> = [
        "../etc/passwd",
        "../../../../../../etc/shadow",
        "/../etc/passwd",
        "..\\..\\etc\\passwd",
        "a/../../etc/passwd",
        "....//....//etc/passwd",
        "..",
        "../",
        "./../x",
        "\\..\\windows\\win.ini",
        "a\\..\\..\\b",
        "/etc/passwd",
        "C:\\Windows\\win.ini",
        "c:/boot.ini",
        "file.txt::$DATA",
        "passwd-link",
        "etc-link/passwd",
        "ETC-LINK/passwd",
        "../cnfkit-secret.txt",
        "%2e%2e/%2e%2e/etc/passwd",
        "...",
        "a/.../b",
        "nonexistent.cnf.xml",
        "SEP001122334455.cnf.xml",
        "CTLSEP001122334455.tlv",
        "/",
        "//",
        ".",
        "\\",
        "a\nb",
        "a\rb",
        "tab\there",
        "\x1b[31mred",
        "del\x7f",
        &long,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.extend([
        b"x\0y".to_vec(),
        b"\xff\xfe".to_vec(),
        b"caf\xe9".to_vec(),
        b"\xc0\xae\xc0\xae/etc/passwd".to_vec(),
        vec![0x01],
    ]);
    names
}
