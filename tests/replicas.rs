//! Replicas serving one S3 bucket (`cnf-server --source s3://...`), against a real S3 server
//! (`s3s-fs`, installed by `peers/install.sh`) on loopback: the same bytes from every replica,
//! changes served within one refresh, a store outage that costs nothing a replica holds (even
//! across a restart), and two replicas rebuilding `XMLDefault.cnf.xml` at once leaving one
//! object.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cnfkit::tftp::driver;
use cnfkit::tftp::{ClientOptions, Policy, SharedBuffer};
use support::{KillOnDrop, Scratch, free_udp_port, pseudo_random, require};

const BUCKET: &str = "phones";
const PREFIX: &str = "site1";
const KEY: &str = "cnfkit-test";
const SECRET: &str = "cnfkit-test-secret";

/// `s3s-fs` serving `dir` (each subdirectory a bucket) on a free loopback port.
struct S3Server {
    dir: PathBuf,
    port: u16,
    process: Option<KillOnDrop>,
}

impl S3Server {
    fn start(dir: &Path) -> Option<Self> {
        if !require("s3s-fs") {
            return None;
        }
        std::fs::create_dir_all(dir.join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Self { dir: dir.to_owned(), port, process: None };
        server.restart();
        Some(server)
    }

    fn restart(&mut self) {
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.process = Some(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        self.process = None;
    }

    /// Puts an object as the store holds it: the bucket is a directory (written under a
    /// temporary name and renamed, so a listing never sees half of it).
    fn put(&self, key: &str, bytes: &[u8]) {
        let path = self.dir.join(BUCKET).join(PREFIX).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let temp = self.dir.join(format!("incoming-{}", key.replace('/', "_")));
        std::fs::write(&temp, bytes).unwrap();
        std::fs::rename(&temp, &path).unwrap();
    }

    fn delete(&self, key: &str) {
        std::fs::remove_file(self.dir.join(BUCKET).join(PREFIX).join(key)).unwrap();
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(BUCKET).join(PREFIX).join(key)).ok()
    }
}

/// A `cnf-server --source s3://phones/site1/` with its cache, TFTP address and log file.
struct Replica {
    addr: SocketAddr,
    refresh: u64,
    extra: Vec<&'static str>,
    cache: PathBuf,
    log: PathBuf,
    process: Option<KillOnDrop>,
}

fn cnf_server() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    Command::new(dir.join("examples").join(format!("cnf-server{}", std::env::consts::EXE_SUFFIX)))
}

impl Replica {
    fn start(store: &S3Server, scratch: &Path, name: &str) -> Self {
        Self::start_with_refresh(store, scratch, name, 1)
    }

    fn start_with_refresh(store: &S3Server, scratch: &Path, name: &str, refresh: u64) -> Self {
        Self::start_with(store, scratch, name, refresh, Vec::new())
    }

    fn start_with(
        store: &S3Server,
        scratch: &Path,
        name: &str,
        refresh: u64,
        extra: Vec<&'static str>,
    ) -> Self {
        let mut replica = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], free_udp_port())),
            refresh,
            extra,
            cache: scratch.join(format!("{name}-cache")),
            log: scratch.join(format!("{name}.log")),
            process: None,
        };
        replica.restart(store);
        replica
    }

    fn restart(&mut self, store: &S3Server) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let starts_before = self.log().matches("cnf-server: serving s3://").count();
        let child = cnf_server()
            .args(["--source", &format!("s3://{BUCKET}/{PREFIX}/"), "--cache-dir"])
            .arg(&self.cache)
            .args(["--refresh", &self.refresh.to_string(), "--bind", &self.addr.to_string()])
            .args(&self.extra)
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", store.port))
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cnf-server is built");
        self.process = Some(KillOnDrop(child));
        // Serving starts after the first listing (or, with the store down, from the cache).
        let deadline = Instant::now() + Duration::from_secs(40);
        while self.log().matches("cnf-server: serving s3://").count() == starts_before {
            assert!(
                Instant::now() < deadline,
                "replica {} did not start: {}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        self.process = None;
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn get(addr: SocketAddr, name: &str) -> Result<Vec<u8>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = SharedBuffer::new();
    let sink = Box::new(got.clone());
    let options = ClientOptions { blksize: Some(1468), ..ClientOptions::default() };
    runtime
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                driver::get(addr, name.as_bytes(), options, sink, Policy::default(), |_| {}),
            )
            .await
        })
        .map_err(|_| "over 20 s".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(got.contents())
}

/// Waits until every replica answers `name` with `want` (`None`: not found), and returns how
/// long that took.
fn until_served(
    replicas: &[&Replica],
    name: &str,
    want: Option<&[u8]>,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    for replica in replicas {
        loop {
            let got = get(replica.addr, name);
            let done = match want {
                Some(want) => got.as_deref().is_ok_and(|got| got == want),
                None => got
                    .as_ref()
                    .is_err_and(|e| e.contains("not found") || e.contains("File not found")),
            };
            if done {
                break;
            }
            assert!(
                started.elapsed() < limit,
                "{}: {name} not as wanted after {limit:?} (got {:?})\n{}",
                replica.addr,
                got.map(|b| b.len()),
                replica.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    started.elapsed()
}

fn outage_lines(log: &str) -> usize {
    log.lines().filter(|l| l.contains("the object store is unreachable")).count()
}

#[test]
fn two_replicas_of_one_bucket_serve_the_same_bytes_follow_changes_and_ride_out_a_store_outage() {
    let scratch = Scratch::new("replicas");
    let Some(mut store) = S3Server::start(&scratch.path().join("store")) else { return };
    let firmware = pseudo_random(3 << 20, 7);
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "XMLDefault.cnf.xml",
            b"<Default>\n  <loadInformation>SIP78xx.14-2-1-0001-14</loadInformation>\n</Default>\n"
                .to_vec(),
        ),
        (
            "SEP001122334455.cnf.xml",
            b"<device>\n  <loadInformation>SIP78xx.14-2-1-0001-14</loadInformation>\n</device>\n"
                .to_vec(),
        ),
        (
            "SIP78xx.14-2-1-0001-14.loads",
            b"SIP78xx.14-2-1-0001-14\nsip78xx.14-2-1-0001-14.sbn\n".to_vec(),
        ),
        ("sip78xx.14-2-1-0001-14.sbn", firmware.clone()),
        ("sub/dir/ringer.raw", pseudo_random(10_000, 3)),
    ];
    for (key, bytes) in &files {
        store.put(key, bytes);
    }
    let mut a = Replica::start(&store, scratch.path(), "a");
    let mut b = Replica::start(&store, scratch.path(), "b");

    // The same bytes from both, byte for byte, every file (the firmware streamed from the cache).
    for (key, bytes) in &files {
        assert_eq!(get(a.addr, key).as_deref(), Ok(&bytes[..]), "replica a, {key}");
        assert_eq!(get(b.addr, key).as_deref(), Ok(&bytes[..]), "replica b, {key}");
    }

    // A new object and a changed one are served by both within one refresh (1 s), give or
    // take a listing and a fetch.
    store.put("SEP00AABBCCDDEE.cnf.xml", b"<device>new phone</device>\n");
    store.put("XMLDefault.cnf.xml", b"<Default>changed</Default>\n");
    let took = until_served(
        &[&a, &b],
        "SEP00AABBCCDDEE.cnf.xml",
        Some(b"<device>new phone</device>\n"),
        Duration::from_secs(5),
    );
    until_served(
        &[&a, &b],
        "XMLDefault.cnf.xml",
        Some(b"<Default>changed</Default>\n"),
        Duration::from_secs(5),
    );
    assert!(took < Duration::from_millis(2500), "a new object took {took:?} with --refresh 1");

    // A deleted object disappears from both.
    store.delete("SEP001122334455.cnf.xml");
    until_served(&[&a, &b], "SEP001122334455.cnf.xml", None, Duration::from_secs(5));

    // The store dies: both keep serving everything they hold, and say so once.
    store.kill();
    std::thread::sleep(Duration::from_secs(3)); // several refreshes fail meanwhile
    for replica in [&a, &b] {
        assert_eq!(get(replica.addr, "sip78xx.14-2-1-0001-14.sbn").as_deref(), Ok(&firmware[..]));
        assert_eq!(
            get(replica.addr, "SEP00AABBCCDDEE.cnf.xml").as_deref(),
            Ok(&b"<device>new phone</device>\n"[..])
        );
        assert_eq!(outage_lines(&replica.log()), 1, "{}", replica.log());
    }

    // A replica restarted while the store is still down serves from its cache.
    b.stop();
    b.restart(&store);
    for (key, bytes) in &files[2..] {
        assert_eq!(get(b.addr, key).as_deref(), Ok(&bytes[..]), "restarted replica b, {key}");
    }
    assert_eq!(
        get(b.addr, "XMLDefault.cnf.xml").as_deref(),
        Ok(&b"<Default>changed</Default>\n"[..])
    );

    // The store returns: new objects appear again on both, and each says it caught up.
    store.restart();
    store.put("SEP0000000000AB.cnf.xml", b"<device>after the outage</device>\n");
    until_served(
        &[&a, &b],
        "SEP0000000000AB.cnf.xml",
        Some(b"<device>after the outage</device>\n"),
        Duration::from_secs(20),
    );
    for replica in [&a, &b] {
        assert!(replica.log().contains("reachable again"), "{}", replica.log());
    }
    a.stop();
    b.stop();
}

/// A renamed default: each replica rebuilds XMLDefault.cnf.xml from its call managers and loads.
const OLD_DEFAULT: &[u8] = b"<Default>\n  <callManagerGroup><members><member priority=\"0\"><callManager>\
    <processNodeName>10.0.0.5</processNodeName></callManager></member></members>\
    </callManagerGroup>\n  <loadInformation434 model=\"Cisco 7942\">SCCP42.9-4-2SR3-1S</loadInformation434>\n</Default>\n";

#[test]
fn two_replicas_rebuilding_xmldefault_at_once_leave_one_object_and_serve_its_bytes() {
    let scratch = Scratch::new("replicas-rebuild");
    let Some(store) = S3Server::start(&scratch.path().join("store")) else { return };
    // Only the renamed default: each replica rebuilds XMLDefault.cnf.xml from its call managers.
    store.put("XMLDefault.cnf.xml.old", OLD_DEFAULT);
    let a = Replica::start(&store, scratch.path(), "a");
    let b = Replica::start(&store, scratch.path(), "b");
    let (from_a, from_b) = std::thread::scope(|s| {
        let from_a = s.spawn(|| get(a.addr, "XMLDefault.cnf.xml"));
        let from_b = s.spawn(|| get(b.addr, "XMLDefault.cnf.xml"));
        (from_a.join().unwrap().unwrap(), from_b.join().unwrap().unwrap())
    });
    assert_eq!(from_a, from_b, "both rebuilt the same file");
    // Published within a refresh or two: one object, the bytes both served.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.object("XMLDefault.cnf.xml").is_none() {
        assert!(Instant::now() < deadline, "not published\n{}\n{}", a.log(), b.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(store.object("XMLDefault.cnf.xml").unwrap(), from_a);
    let objects: Vec<_> = std::fs::read_dir(store.dir.join(BUCKET).join(PREFIX))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        objects.iter().filter(|n| n.starts_with("XMLDefault.cnf.xml")).count(),
        2,
        "{objects:?}"
    );
    // Each replica either published or was told another writer created it first. s3s-fs
    // refuses a second create-only put that comes after the first, but two at the same
    // moment may both succeed (its check and its write are two steps): harmless here, since
    // both wrote the same bytes.
    std::thread::sleep(Duration::from_secs(2));
    let (log_a, log_b) = (a.log(), b.log());
    let told = |log: &str| {
        log.contains("published to the object store")
            || log.contains("another writer created it first")
    };
    assert!(told(&log_a) && told(&log_b), "{log_a}\n{log_b}");
    assert!(!log_a.contains("cannot publish") && !log_b.contains("cannot publish"));
}

#[test]
fn a_rebuilt_default_never_overwrites_one_an_admin_put_meanwhile_and_the_stores_copy_wins() {
    let scratch = Scratch::new("replicas-create-only");
    let Some(store) = S3Server::start(&scratch.path().join("store")) else { return };
    store.put("XMLDefault.cnf.xml.old", OLD_DEFAULT);
    // A long refresh: the replica learns of the admin's object only by publishing against it.
    let a = Replica::start_with_refresh(&store, scratch.path(), "a", 30);
    let admins = b"<Default>the admin's</Default>\n";
    store.put("XMLDefault.cnf.xml", admins);
    let rebuilt = get(a.addr, "XMLDefault.cnf.xml").unwrap();
    assert_ne!(rebuilt, admins, "the replica's own rebuild is served at once");
    // The create-only put is refused; the store keeps the admin's file, and the listing that
    // follows brings it to the replica.
    until_served(&[&a], "XMLDefault.cnf.xml", Some(admins), Duration::from_secs(5));
    assert_eq!(store.object("XMLDefault.cnf.xml").unwrap(), admins);
    assert!(a.log().contains("another writer created it first"), "{}", a.log());
}

/// Uploads `bytes` as `name` to `replica` over TFTP.
fn upload_to(replica: &Replica, name: &str, bytes: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let source: std::sync::Arc<[u8]> = bytes.into();
    let put = driver::put(
        replica.addr,
        name.as_bytes(),
        ClientOptions::default(),
        Box::new(source),
        Policy::default(),
        |_| {},
    );
    runtime.block_on(put).unwrap_or_else(|e| panic!("upload: {e}\n{}", replica.log()));
}

/// Uploads of phone logs, published to the store.
const UPLOADS_PUBLISHED: [&str; 4] =
    ["--allow-write", "--upload-name", "phone-log-*", "--publish-uploads"];

#[test]
fn an_upload_to_one_replica_goes_to_the_store_and_the_other_replica_serves_it() {
    let scratch = Scratch::new("replicas-upload");
    let Some(store) = S3Server::start(&scratch.path().join("store")) else { return };
    store.put("XMLDefault.cnf.xml", b"<Default/>\n");
    let a = Replica::start_with(&store, scratch.path(), "a", 1, UPLOADS_PUBLISHED.to_vec());
    let b = Replica::start(&store, scratch.path(), "b");
    let upload = pseudo_random(100_000, 11);
    upload_to(&a, "phone-log-001122334455.txt", &upload);
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.object("phone-log-001122334455.txt").is_none() {
        assert!(Instant::now() < deadline, "not published\n{}", a.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(store.object("phone-log-001122334455.txt").unwrap(), upload);
    until_served(&[&a, &b], "phone-log-001122334455.txt", Some(&upload), Duration::from_secs(5));
}

#[test]
fn an_upload_stays_on_its_replica_unless_publishing_is_configured() {
    let scratch = Scratch::new("replicas-upload-local");
    let Some(store) = S3Server::start(&scratch.path().join("store")) else { return };
    store.put("XMLDefault.cnf.xml", b"<Default/>\n");
    let a = Replica::start_with(
        &store,
        scratch.path(),
        "a",
        1,
        vec!["--allow-write", "--upload-name", "phone-log-*"],
    );
    let upload = pseudo_random(10_000, 12);
    upload_to(&a, "phone-log-local.txt", &upload);
    // The replica serves it; three listings later (refresh 1 s) the store still lacks it, and
    // the replica has not removed it either.
    until_served(&[&a], "phone-log-local.txt", Some(&upload), Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(store.object("phone-log-local.txt"), None, "published without --publish-uploads");
    until_served(&[&a], "phone-log-local.txt", Some(&upload), Duration::from_secs(1));
}

/// A key object_store cannot parse (here a control character) fails the S3 listing page that
/// holds it: the replica leaves that one object out, with a warning naming it, and mirrors the
/// rest, at a cold start and while it runs.
#[test]
fn an_object_whose_key_cannot_be_mirrored_is_left_out_and_the_rest_followed() {
    let scratch = Scratch::new("replicas-odd-key");
    let Some(store) = S3Server::start(&scratch.path().join("store")) else { return };
    store.put("XMLDefault.cnf.xml", b"<Default/>\n");
    store.put("bad\u{1}name.txt", b"odd");
    store.put("zz-after.txt", b"listed after the odd key");
    let a = Replica::start(&store, scratch.path(), "a");
    until_served(&[&a], "XMLDefault.cnf.xml", Some(b"<Default/>\n"), Duration::from_secs(5));
    until_served(&[&a], "zz-after.txt", Some(b"listed after the odd key"), Duration::from_secs(5));
    // A new object while it runs is followed too.
    store.put("zz-later.txt", b"later");
    until_served(&[&a], "zz-later.txt", Some(b"later"), Duration::from_secs(10));
    let log = a.log();
    assert_eq!(log.matches("left out of the mirror").count(), 1, "one warning: {log}");
    assert!(log.contains(r"bad\u{1}name.txt"), "{log}");
}
