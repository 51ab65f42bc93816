//! Memory of the document index: an edit of a large document holds at most about three times
//! its size at any moment, counted by a global allocator that tracks the bytes allocated.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cnfkit_config::{CnfDocument, ParseOptions};

struct PeakAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block allocated before the old one is freed: what a copying
        // realloc holds at its peak.
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PeakAllocator = PeakAllocator;

/// A configuration as dense in elements as the densest real one (about 40 bytes per
/// element): line buttons of short leaves with an attribute each.
fn dense_config(lines: usize) -> Vec<u8> {
    let mut out = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device>\n  <lines>\n".to_vec();
    for n in 0..lines {
        out.extend_from_slice(
            format!(
                "    <line button=\"{n}\">\n      <featureID>9</featureID>\n      <name>{n}</name>\n      <displayName>Line {n}</displayName>\n      <autoAnswer><autoAnswerEnabled>2</autoAnswerEnabled></autoAnswer>\n    </line>\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        b"  </lines>\n  <loadInformation>SIP78xx.14-1-1</loadInformation>\n</device>\n",
    );
    out
}

#[test]
fn an_edit_of_a_large_document_holds_at_most_three_times_its_size() {
    let before = LIVE.load(Ordering::Relaxed);
    let mut src = dense_config(100_000);
    src.shrink_to_fit();
    let len = src.len();
    let elements = src.iter().filter(|&&b| b == b'<').count() / 2;
    assert!(len / elements <= 40, "{} bytes per element", len / elements);
    // From here on: the document as read (1x) and whatever parsing and editing add.
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);

    let mut doc = CnfDocument::parse_owned(src, ParseOptions::strict()).unwrap();
    let parsed = LIVE.load(Ordering::Relaxed) - before;
    doc.set_text("loadInformation", "SIP78xx.14-2-1").unwrap();
    doc.set_attribute("lines/line[2]", "button", "two").unwrap();
    doc.remove_element("lines/line[3]").unwrap();
    let bytes = doc.into_bytes();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(bytes.ends_with(b"<loadInformation>SIP78xx.14-2-1</loadInformation>\n</device>\n"));
    assert!(bytes.len() < len);

    let ratio = |n: usize| n as f64 / len as f64;
    println!(
        "{len} bytes, {elements} elements: parsed document {:.2}x, peak while editing {:.2}x",
        ratio(parsed),
        ratio(peak)
    );
    assert!(ratio(peak) <= 3.0, "peak {:.2}x the document", ratio(peak));
}
