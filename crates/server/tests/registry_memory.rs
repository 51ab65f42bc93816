//! Memory of the phone registry: 100 000 phones, each after a whole boot (trust lists, its own
//! file missed, the default, a manifest, two images), counted by a global allocator that tracks
//! the bytes allocated.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cnfkit_resolve::{Mac, Transport};
use cnfkit_server::registry::{AnswerKind, Registry, RegistryLimits, RequestSeen};

struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const PHONES: u32 = 100_000;

/// The allocator's count is global: the tests measure one at a time.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The bound this test pins, per phone: the figure measured (BENCHMARKS.md) with some room.
const MAX_BYTES_PER_PHONE: usize = 1536;

#[test]
fn a_registry_of_100_000_booted_phones_holds_under_1_5_kib_each() {
    let _alone = MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = LIVE.load(Ordering::Relaxed);
    let mut registry = Registry::new(RegistryLimits::default());
    for i in 0..PHONES {
        let [_, b, c, d] = i.to_be_bytes();
        let mac = Mac([0x00, 0x11, 0x22, b, c, d]);
        let peer = SocketAddr::from(([10, b, c, d], 50000));
        let boot = [
            (format!("CTLSEP{mac}.tlv"), AnswerKind::NotFound),
            (format!("ITLSEP{mac}.tlv"), AnswerKind::NotFound),
            ("ITLFile.tlv".to_owned(), AnswerKind::NotFound),
            (format!("SEP{mac}.cnf.xml"), AnswerKind::NotFound),
            ("XMLDefault.cnf.xml".to_owned(), AnswerKind::Exact),
            ("SCCP42.9-4-2SR3-1S.loads".to_owned(), AnswerKind::Exact),
            ("apps42.9-4-2SR3-1S.sbn".to_owned(), AnswerKind::Exact),
            ("cnu42.9-4-2SR3-1S.sbn".to_owned(), AnswerKind::Exact),
        ];
        let at = u64::from(i) * 10;
        for (step, (name, answer)) in (0..).zip(&boot) {
            registry.record(at + step, &RequestSeen::new(peer, name, *answer, Transport::Tftp));
            if answer.served() {
                registry.transfer_ended(at + step, peer, 4096, Duration::from_millis(3), 0, true);
            }
        }
    }
    registry.tick(u64::from(PHONES) * 10 + 60_000);
    let held = LIVE.load(Ordering::Relaxed) - before;
    let per_phone = held / PHONES as usize;
    println!("registry of {PHONES} phones: {} MiB, {per_phone} bytes per phone", held >> 20);
    assert_eq!(registry.len(), PHONES as usize);
    assert!(per_phone <= MAX_BYTES_PER_PHONE, "{per_phone} bytes per phone");
}

/// The same bound under the request patterns a hostile host on the phone network can send
/// (issue: one host grew the registry to 820 MB with 500-byte names and 16 KB User-Agents).
/// 2 000 MAC-named records, each asked for 40 times under distinct 500-byte names that carry
/// its MAC, with a 16 KB "model", a 500-byte load, a missing 500-byte image and a failed
/// transfer; and 2 000 address records, each asking for 40 distinct 500-byte names.
#[test]
fn no_request_pattern_takes_a_record_over_1_5_kib() {
    const RECORDS: u32 = 2_000;
    let _alone = MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = LIVE.load(Ordering::Relaxed);
    let mut registry = Registry::new(RegistryLimits::default());
    let model = "M".repeat(16 << 10);
    let filler = "a".repeat(470);
    for i in 0..RECORDS {
        let [_, b, c, d] = i.to_be_bytes();
        let mac = Mac([0x00, 0x11, 0x22, b, c, d]);
        let phone = SocketAddr::from(([10, b, c, d], 50000));
        let host = SocketAddr::from(([11, b, c, d], 50000));
        let at = u64::from(i) * 1000;
        for n in 0..40u64 {
            let own = format!("{filler}{n:04}/SEP{mac}.cnf.xml");
            let seen = RequestSeen {
                model: Some(&model),
                ..RequestSeen::new(phone, &own, AnswerKind::NotFound, Transport::Http)
            };
            registry.record(at + n, &seen);
            let stray = format!("{filler}{i:08}{n:04}.txt");
            registry.record(
                at + n,
                &RequestSeen::new(host, &stray, AnswerKind::NotFound, Transport::Tftp),
            );
        }
        let long = |suffix: &str| format!("{}{suffix}", "L".repeat(500));
        for (name, answer) in [
            ("XMLDefault.cnf.xml".to_owned(), AnswerKind::Exact),
            (long(".loads"), AnswerKind::Exact),
            (long(".sbn"), AnswerKind::Exact),
            (long("2.sbn"), AnswerKind::NotFound),
        ] {
            registry.record(at + 300, &RequestSeen::new(phone, &name, answer, Transport::Tftp));
        }
        registry.transfer_ended(at + 301, phone, 1, Duration::from_millis(1), 0, false);
    }
    registry.tick(u64::from(RECORDS) * 1000 + 60_000);
    let held = LIVE.load(Ordering::Relaxed) - before;
    let per_record = held / registry.len();
    println!(
        "hostile: {} records, {} MiB, {per_record} bytes per record",
        registry.len(),
        held >> 20
    );
    assert_eq!(registry.len(), 2 * RECORDS as usize);
    assert!(per_record <= MAX_BYTES_PER_PHONE, "{per_record} bytes per record");
    let phone = registry.phone_by_mac(Mac([0x00, 0x11, 0x22, 0, 0, 1])).unwrap();
    assert!(phone.model.as_ref().is_some_and(|m| m.len() <= 48), "the model is cut short");
    assert!(phone.requests.iter().all(|r| r.name.len() <= 48), "names are cut short");
    let json = serde_json::to_string(phone).unwrap();
    assert!(json.len() < 4096, "one record's JSON: {} bytes", json.len());
}
