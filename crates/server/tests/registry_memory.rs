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

/// The bound this test pins, per phone: the figure measured (BENCHMARKS.md) with some room.
const MAX_BYTES_PER_PHONE: usize = 1536;

#[test]
fn a_registry_of_100_000_booted_phones_holds_under_1_5_kib_each() {
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
