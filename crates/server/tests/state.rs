//! The registry's state file: an append-only JSON-lines log, compacted when opened. A torn
//! last line (a process killed in the middle of a write) is skipped and counted, never fatal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cnfkit_resolve::{Mac, Transport};
use cnfkit_server::monitor::Monitor;
use cnfkit_server::registry::{AnswerKind, RegistryLimits, RequestSeen};
use cnfkit_server::state::{HEADER, StateFile, StateLoaded};

/// `phones.jsonl` in a fresh directory of its own.
fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("cnfkit-state-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir.join("phones.jsonl"))
}

/// A scratch path, its directory removed when the test ends.
struct Scratch(PathBuf);

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
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn mac(i: u8) -> Mac {
    Mac([0x00, 0x11, 0x22, 0x66, 0x00, i])
}

/// A monitor saving to `path`, whose phones `0..n` then each got their own configuration
/// over HTTP.
fn monitor_with(path: &Path, n: u8) -> (std::sync::Arc<Monitor>, StateFile) {
    let monitor = Monitor::new(RegistryLimits::default(), None);
    let (file, _) = StateFile::open(path, &monitor).unwrap();
    for i in 0..n {
        let peer = SocketAddr::from(([10, 0, 0, i], 5000));
        let name = format!("SEP{}.cnf.xml", mac(i));
        let seen = RequestSeen {
            bytes: Some(100),
            ..RequestSeen::new(peer, &name, AnswerKind::Exact, Transport::Http)
        };
        monitor.request(&seen);
    }
    (monitor, file)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn records_appended_once_a_second_come_back_after_a_restart() {
    let path = scratch("roundtrip");
    let (monitor_3, mut file) = monitor_with(&path, 3);
    assert_eq!(lines(&path), [HEADER], "a new file: the header, nothing saved yet");
    file.flush(&monitor_3).unwrap();
    assert_eq!(lines(&path).len(), 4);
    file.flush(&monitor_3).unwrap();
    assert_eq!(lines(&path).len(), 4, "nothing changed, nothing appended");

    let restored = Monitor::new(RegistryLimits::default(), None);
    let (_, loaded) = StateFile::open(&path, &restored).unwrap();
    assert_eq!(loaded, StateLoaded { phones: 3, torn_lines: 0 });
    for i in 0..3 {
        assert_eq!(restored.lock().phone_by_mac(mac(i)), monitor_3.lock().phone_by_mac(mac(i)));
    }
}

#[test]
fn a_torn_last_line_is_skipped_and_counted_and_compaction_leaves_whole_lines() {
    let path = scratch("torn");
    let (monitor, mut file) = monitor_with(&path, 2);
    file.flush(&monitor).unwrap();
    // A write cut off by kill -9: half of a record, no newline.
    let whole = lines(&path)[1].clone();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&whole.as_bytes()[..whole.len() / 2]);
    std::fs::write(&path, bytes).unwrap();

    let restored = Monitor::new(RegistryLimits::default(), None);
    let (_, loaded) = StateFile::open(&path, &restored).unwrap();
    assert_eq!(loaded, StateLoaded { phones: 2, torn_lines: 1 });
    let after = lines(&path);
    assert_eq!(after.len(), 3, "compacted: the header and one line per record");
    assert!(after.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}

#[test]
fn a_forgotten_record_stays_forgotten_and_the_last_line_of_a_key_wins() {
    let path = scratch("forget");
    let (monitor, mut file) = monitor_with(&path, 2);
    file.flush(&monitor).unwrap();
    // Phone 0 asks again (its record changes), phone 1 is forgotten.
    let peer = SocketAddr::from(([10, 0, 0, 9], 5000));
    let name = format!("SEP{}.cnf.xml", mac(0));
    monitor.request(&RequestSeen {
        bytes: Some(100),
        ..RequestSeen::new(peer, &name, AnswerKind::Exact, Transport::Http)
    });
    monitor.lock().forget(cnfkit_server::registry::PhoneKey::Mac(mac(1)));
    file.flush(&monitor).unwrap();
    assert_eq!(lines(&path).len(), 5, "two records, then a change and a removal appended");

    let restored = Monitor::new(RegistryLimits::default(), None);
    let (_, loaded) = StateFile::open(&path, &restored).unwrap();
    assert_eq!(loaded.phones, 1);
    let restored = restored.lock();
    let phone = restored.phone_by_mac(mac(0)).unwrap();
    assert_eq!(phone.address.to_string(), "10.0.0.9", "the later line");
    assert_eq!(phone.requests.len(), 2);
    assert!(restored.phone_by_mac(mac(1)).is_none());
}

#[test]
fn a_state_file_that_cannot_be_read_is_an_error_naming_it() {
    let path = scratch("unreadable");
    std::fs::create_dir_all(&path).unwrap(); // a directory where the file should be
    let error = StateFile::prepare(&path).unwrap_err();
    assert!(error.to_string().contains("phones.jsonl"), "{error}");
}

#[cfg(unix)]
#[test]
fn a_state_path_that_is_a_link_or_read_only_or_someone_elses_file_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let path = scratch("refused");
    let dir = path.parent().unwrap().to_owned();
    // A link to a file the server must never rewrite.
    let victim = dir.join("victim.conf");
    std::fs::write(&victim, "precious = yes\n").unwrap();
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let error = StateFile::prepare(&path).unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
    // Even a link to a real state file: the path is what the admin must give.
    std::fs::remove_file(&path).unwrap();
    // Someone else's file at the path.
    std::fs::copy(&victim, &path).unwrap();
    let error = StateFile::prepare(&path).unwrap_err();
    assert!(error.to_string().contains("not a cnfkit registry"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious = yes\n");
    // ...even one that starts with a blank line.
    std::fs::write(&path, "\n[notes]\nprecious = yes\n").unwrap();
    let error = StateFile::prepare(&path).unwrap_err();
    assert!(error.to_string().contains("not a cnfkit registry"), "{error}");
    // A read-only state file is the admin's way of saying "do not touch".
    std::fs::write(&path, format!("{HEADER}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let error = StateFile::prepare(&path).unwrap_err();
    assert!(error.to_string().contains("read-only"), "{error}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious = yes\n");
}

#[cfg(unix)]
#[test]
fn a_new_state_file_is_private_and_a_file_of_an_earlier_version_is_taken() {
    use std::os::unix::fs::PermissionsExt;
    let path = scratch("private");
    let (monitor, mut file) = monitor_with(&path, 2);
    file.flush(&monitor).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "it lists every phone and its address");
    // Earlier versions wrote records with no header line: still ours.
    let records: Vec<String> = lines(&path).into_iter().skip(1).collect();
    std::fs::write(&path, records.join("\n") + "\n").unwrap();
    let restored = Monitor::new(RegistryLimits::default(), None);
    let (_, loaded) = StateFile::open(&path, &restored).unwrap();
    assert_eq!(loaded.phones, 2);
    assert_eq!(lines(&path)[0], HEADER, "rewritten with the header");
}

#[test]
fn a_blank_line_in_the_middle_ends_nothing() {
    let path = scratch("blank-line");
    let (monitor, mut file) = monitor_with(&path, 3);
    file.flush(&monitor).unwrap();
    let mut text = lines(&path);
    text.insert(2, String::new());
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    let restored = Monitor::new(RegistryLimits::default(), None);
    let (_, loaded) = StateFile::open(&path, &restored).unwrap();
    assert_eq!(loaded, StateLoaded { phones: 3, torn_lines: 0 });
}

#[test]
fn a_line_longer_than_any_record_is_skipped_as_torn() {
    let path = scratch("long-line");
    let (monitor, mut file) = monitor_with(&path, 1);
    file.flush(&monitor).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::iter::repeat_n(b'{', 8 << 20));
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
    let restored = Monitor::new(RegistryLimits::default(), None);
    let (_, loaded) = StateFile::open(&path, &restored).unwrap();
    assert_eq!(loaded, StateLoaded { phones: 1, torn_lines: 1 });
}

/// A state file of `n` phones, written through a registry and compacted.
fn big_state(path: &Path, n: u32) {
    let monitor = Monitor::new(RegistryLimits::default(), None);
    let (mut file, _) = StateFile::open(path, &monitor).unwrap();
    for i in 0..n {
        let [_, b, c, d] = i.to_be_bytes();
        let peer = SocketAddr::from(([10, b, c, d], 5000));
        let name = format!("SEP{}.cnf.xml", Mac([0, 0x11, 0x22, b, c, d]));
        monitor.request(&RequestSeen {
            bytes: Some(100),
            ..RequestSeen::new(peer, &name, AnswerKind::Exact, Transport::Http)
        });
    }
    file.flush(&monitor).unwrap();
}

/// The load and the compaction of a large file lock the registry a few hundred records at a
/// time: the request path (which locks it per request) never waits for the whole file.
#[test]
fn loading_and_compacting_a_large_file_never_holds_the_registry_for_long() {
    let path = scratch("chunks");
    big_state(&path, 20_000);
    let monitor = Monitor::new(RegistryLimits::default(), None);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (longest, took) = std::thread::scope(|s| {
        let loader = s.spawn(|| {
            let started = std::time::Instant::now();
            StateFile::open(&path, &monitor).unwrap();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            started.elapsed()
        });
        let mut longest = std::time::Duration::ZERO;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let asked = std::time::Instant::now();
            drop(monitor.lock());
            longest = longest.max(asked.elapsed());
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        (longest, loader.join().unwrap())
    });
    assert_eq!(monitor.lock().len(), 20_000);
    eprintln!(
        "load and compaction of 20 000 records: {took:?}; longest wait for the lock {longest:?}"
    );
    assert!(longest * 8 < took, "waited {longest:?} of {took:?}");
}

/// Phones are answered while the file loads: the admin's start only checks the file, and a
/// phone seen during the load keeps its newer record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_starts_before_its_state_file_is_loaded_and_keeps_what_phones_did_meanwhile() {
    let path = scratch("later");
    big_state(&path, 5_000);
    let setup = cnfkit_server::admin::AdminSetup {
        state: Some(path.to_path_buf()),
        ..cnfkit_server::admin::AdminSetup::default()
    };
    let mut admin = setup.start().await.unwrap().unwrap();
    let restored = admin.restored.take().unwrap();
    let monitor = admin.monitor.clone();
    assert_eq!(monitor.lock().len(), 0, "nothing loaded before it runs");
    // A phone of the file asks again before the load: its new record is the one kept.
    let peer = SocketAddr::from(([10, 9, 9, 9], 5000));
    let name = format!("SEP{}.cnf.xml", Mac([0, 0x11, 0x22, 0, 0, 7]));
    monitor.request(&RequestSeen {
        bytes: Some(100),
        ..RequestSeen::new(peer, &name, AnswerKind::Exact, Transport::Http)
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = std::sync::Mutex::new(Some(stopped));
    let running = tokio::spawn(admin.run(move || {
        let stopped = stopped.lock().unwrap().take();
        async move {
            if let Some(stopped) = stopped {
                let _ = stopped.await;
            } else {
                std::future::pending::<()>().await;
            }
        }
    }));
    let loaded =
        tokio::time::timeout(std::time::Duration::from_secs(30), restored).await.unwrap().unwrap();
    assert_eq!(loaded.phones, 5_000);
    let phone = monitor.lock().phone_by_mac(Mac([0, 0x11, 0x22, 0, 0, 7])).cloned().unwrap();
    assert_eq!(phone.address.to_string(), "10.9.9.9", "the phone's newer record");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
