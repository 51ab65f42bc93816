//! `Packet::parse`, the typed option view and the streaming netascii translators never allocate:
//! a counting global allocator proves it.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cnfkit_tftp_wire::{Packet, netascii};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; only counts, per thread.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_sees_an_allocation() {
    // Guards the guard: if counting were broken, the tests below would pass vacuously.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 16]))) >= 1);
}

#[test]
fn parsing_every_packet_kind_and_its_options_allocates_nothing() {
    let datagrams: [&[u8]; 8] = [
        b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00tsize\x000\x00blksize\x00512\x00timeout\x006\x00",
        b"\x00\x02up.bin\x00octet\x00tsize\x001\x00windowsize\x0016\x00",
        b"\x00\x03\x00\x01payload",
        b"\x00\x04\x00\x01",
        b"\x00\x05\x00\x01File not found\x00",
        b"\x00\x06blksize\x001468\x00foo\x00x\x00FOO\x00y\x00",
        b"\x00\x01no-nul",
        b"\x00\x09",
    ];
    let count = allocations_during(|| {
        for datagram in datagrams {
            let parsed = Packet::parse(std::hint::black_box(datagram));
            if let Ok(Packet::Rrq(r) | Packet::Wrq(r)) = parsed {
                std::hint::black_box(r.options.typed());
                std::hint::black_box(r.options.iter().count());
            }
            if let Ok(Packet::Oack(o)) = parsed {
                std::hint::black_box(o.typed());
            }
            let _ = std::hint::black_box(parsed.map(|p| p.encoded_len()));
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn encoding_into_a_slice_and_streaming_netascii_allocate_nothing() {
    let mut buf = [0u8; 600];
    let text = b"line1\nline2\r\nbare\rcr\nend".repeat(8);
    let count = allocations_during(|| {
        let p = Packet::parse(b"\x00\x06blksize\x001468\x00").unwrap();
        p.encode_to_slice(&mut buf).unwrap();
        let (_, n) = netascii::Encoder::new().encode(&text, &mut buf);
        let mut out = [0u8; 600];
        let _ = netascii::Decoder::new().decode(&buf[..n], &mut out);
        std::hint::black_box(netascii::encoded_len(&text));
    });
    assert_eq!(count, 0);
}
