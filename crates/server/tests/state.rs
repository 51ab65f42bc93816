//! The registry's state file: an append-only JSON-lines log, compacted when opened. A torn
//! last line (a process killed in the middle of a write) is skipped and counted, never fatal.

use std::net::SocketAddr;
use std::path::PathBuf;

use cnfkit_resolve::{Mac, Transport};
use cnfkit_server::monitor::Monitor;
use cnfkit_server::registry::{AnswerKind, Registry, RegistryLimits, RequestSeen};
use cnfkit_server::state::{StateFile, StateLoaded};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-state-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("phones.jsonl")
}

fn mac(i: u8) -> Mac {
    Mac([0x00, 0x11, 0x22, 0x66, 0x00, i])
}

/// A monitor saving to `path`, whose phones `0..n` then each got their own configuration
/// over HTTP.
fn monitor_with(path: &std::path::Path, n: u8) -> (std::sync::Arc<Monitor>, StateFile) {
    let monitor = Monitor::new(RegistryLimits::default(), None);
    let (file, _) = StateFile::open(path, &mut monitor.lock()).unwrap();
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

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn records_appended_once_a_second_come_back_after_a_restart() {
    let path = scratch("roundtrip");
    let (monitor_3, mut file) = monitor_with(&path, 3);
    assert_eq!(lines(&path).len(), 0, "a new file, nothing saved yet");
    file.flush(&monitor_3).unwrap();
    assert_eq!(lines(&path).len(), 3);
    file.flush(&monitor_3).unwrap();
    assert_eq!(lines(&path).len(), 3, "nothing changed, nothing appended");

    let mut restored = Registry::new(RegistryLimits::default());
    let (_, loaded) = StateFile::open(&path, &mut restored).unwrap();
    assert_eq!(loaded, StateLoaded { phones: 3, torn_lines: 0 });
    for i in 0..3 {
        assert_eq!(restored.phone_by_mac(mac(i)), monitor_3.lock().phone_by_mac(mac(i)));
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

    let mut restored = Registry::new(RegistryLimits::default());
    let (_, loaded) = StateFile::open(&path, &mut restored).unwrap();
    assert_eq!(loaded, StateLoaded { phones: 2, torn_lines: 1 });
    let after = lines(&path);
    assert_eq!(after.len(), 2, "compacted: one line per record");
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
    assert_eq!(lines(&path).len(), 4, "two records, then a change and a removal appended");

    let mut restored = Registry::new(RegistryLimits::default());
    let (_, loaded) = StateFile::open(&path, &mut restored).unwrap();
    assert_eq!(loaded.phones, 1);
    let phone = restored.phone_by_mac(mac(0)).unwrap();
    assert_eq!(phone.address.to_string(), "10.0.0.9", "the later line");
    assert_eq!(phone.requests.len(), 2);
    assert!(restored.phone_by_mac(mac(1)).is_none());
}

#[test]
fn a_state_file_that_cannot_be_read_is_an_error_naming_it() {
    let path = scratch("unreadable");
    std::fs::create_dir_all(&path).unwrap(); // a directory where the file should be
    let error = StateFile::open(&path, &mut Registry::new(RegistryLimits::default())).unwrap_err();
    assert!(error.to_string().contains("phones.jsonl"), "{error}");
}
