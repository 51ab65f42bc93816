//! Server and client against each other in memory: byte-exact results under loss, duplication
//! and reordering, at the sizes where off-by-one errors live, across block-number rollover.

mod support;

use std::time::Duration;

use cnfkit_tftp::{ClientOptions, Outcome, Policy, Rollover, SharedBuffer, Transfer};
use cnfkit_tftp_wire::Mode;
use support::{Link, Pair, pseudo_random};

fn get(
    data: &[u8],
    options: ClientOptions,
    link: Link,
    seed: u64,
    policy: &Policy,
) -> (Vec<u8>, Pair) {
    let received = SharedBuffer::new();
    let client = Transfer::get(
        b"file.bin",
        options,
        Box::new(received.clone()),
        policy.clone(),
        std::time::Instant::now(),
    );
    let content = data.to_vec();
    let mut pair = Pair::new(client, link, seed, policy.clone(), move |incoming, now| {
        incoming.accept_read(Box::new(content.clone()), now)
    });
    pair.run(Duration::from_secs(3600));
    (received.contents(), pair)
}

fn put(
    data: &[u8],
    options: ClientOptions,
    link: Link,
    seed: u64,
    policy: &Policy,
) -> (Vec<u8>, Pair) {
    let stored = SharedBuffer::new();
    let client = Transfer::put(
        b"up.bin",
        options,
        Box::new(data.to_vec()),
        policy.clone(),
        std::time::Instant::now(),
    );
    let sink = stored.clone();
    let mut pair = Pair::new(client, link, seed, policy.clone(), move |incoming, now| {
        incoming.accept_write(Box::new(sink.clone()), now)
    });
    pair.run(Duration::from_secs(3600));
    (stored.contents(), pair)
}

fn completed(pair: &Pair) {
    let client = Pair::finished(&pair.client_events).expect("client finished");
    assert_eq!(client.outcome, Outcome::Completed, "client: {client:?}");
    let server = Pair::finished(&pair.server_events).expect("server finished");
    assert_eq!(server.outcome, Outcome::Completed, "server: {server:?}");
}

fn options(blksize: Option<u16>, windowsize: Option<u16>) -> ClientOptions {
    ClientOptions { blksize, windowsize, ..ClientOptions::default() }
}

#[test]
fn sizes_at_block_boundaries_arrive_byte_exact_rfc1350_section_6() {
    let policy = Policy::default();
    for blksize in [512u16, 1468] {
        let b = usize::from(blksize);
        for size in [0, 1, b - 1, b, b + 1, 3 * b, 3 * b + 7] {
            for windowsize in [None, Some(4)] {
                let data = pseudo_random(size, size as u64);
                let (got, pair) =
                    get(&data, options(Some(blksize), windowsize), Link::PERFECT, 1, &policy);
                assert_eq!(got, data, "get size {size} blksize {blksize} window {windowsize:?}");
                completed(&pair);
                let (stored, pair) =
                    put(&data, options(Some(blksize), windowsize), Link::PERFECT, 1, &policy);
                assert_eq!(stored, data, "put size {size} blksize {blksize} window {windowsize:?}");
                completed(&pair);
            }
        }
    }
}

#[test]
fn a_file_that_is_a_multiple_of_blksize_ends_with_an_empty_data() {
    let (got, pair) =
        get(&[7u8; 1024], ClientOptions::none(Mode::Octet), Link::PERFECT, 1, &Policy::default());
    assert_eq!(got.len(), 1024);
    assert_eq!(Pair::data_sent(&pair.server_sent, 3), 1, "DATA 3 is the empty terminator");
}

#[test]
fn lossy_duplicating_reordering_links_still_deliver_byte_exact() {
    // A long dally so the final ACK survives 30 % loss: the sender may need several tries.
    let policy = Policy { max_retries: 12, dally: Duration::from_secs(60), ..Policy::default() };
    let data = pseudo_random(40_000, 9);
    for loss in [0.0, 0.01, 0.10, 0.30] {
        for seed in 0..4 {
            for windowsize in [None, Some(8)] {
                let (got, pair) =
                    get(&data, options(Some(512), windowsize), Link::lossy(loss), seed, &policy);
                assert_eq!(got, data, "get loss {loss} seed {seed} window {windowsize:?}");
                completed(&pair);
                let (stored, pair) =
                    put(&data, options(Some(512), windowsize), Link::lossy(loss), seed, &policy);
                assert_eq!(stored, data, "put loss {loss} seed {seed} window {windowsize:?}");
                completed(&pair);
            }
        }
    }
}

#[test]
fn a_perfect_link_needs_no_retransmission() {
    let data = pseudo_random(40_000, 9);
    for windowsize in [None, Some(8)] {
        let (_, pair) =
            get(&data, options(Some(512), windowsize), Link::PERFECT, 1, &Policy::default());
        let server = Pair::finished(&pair.server_events).unwrap();
        assert_eq!(server.retransmits, 0, "window {windowsize:?}");
        let (_, pair) =
            put(&data, options(Some(512), windowsize), Link::PERFECT, 1, &Policy::default());
        let client = Pair::finished(&pair.client_events).unwrap();
        assert_eq!(client.retransmits, 0, "window {windowsize:?}");
    }
}

#[test]
fn more_than_65535_blocks_roll_over_to_zero_by_default_and_to_one_when_configured() {
    // blksize 8: 70 000 blocks, past the 16-bit block number, in well under a second.
    let data = pseudo_random(70_000 * 8 + 3, 5);
    for rollover in [Rollover::ToZero, Rollover::ToOne] {
        let policy = Policy { rollover, ..Policy::default() };
        for windowsize in [None, Some(16)] {
            let (got, pair) = get(&data, options(Some(8), windowsize), Link::PERFECT, 2, &policy);
            assert_eq!(got, data, "{rollover:?} window {windowsize:?}");
            completed(&pair);
            let wrapped = if rollover == Rollover::ToZero { 0 } else { 1 };
            // Block 65536 goes out as `wrapped`: block `wrapped` appears twice (or 1 and 65536).
            let count = Pair::data_sent(&pair.server_sent, wrapped);
            assert!(count >= 1, "{rollover:?}: block number {wrapped} after 65535");
        }
        let (stored, pair) = put(&data, options(Some(8), Some(16)), Link::lossy(0.01), 3, &policy);
        assert_eq!(stored, data, "put {rollover:?}");
        completed(&pair);
    }
}

#[test]
fn netascii_get_translates_both_ways() {
    let text = b"line1\nline2\r\nbare\rcr\nend".repeat(100);
    let policy = Policy::default();
    let opts =
        ClientOptions { mode: Mode::Netascii, blksize: Some(512), ..ClientOptions::default() };
    let (got, pair) = get(&text, opts, Link::lossy(0.05), 4, &policy);
    assert_eq!(got, text);
    completed(&pair);
    let summary = Pair::finished(&pair.client_events).unwrap();
    assert_eq!(
        summary.options.tsize,
        Some(cnfkit_tftp_wire::netascii::encoded_len(&text)),
        "tsize is the translated size"
    );
    // A CR at the very end of a file, split from its NUL by the block boundary.
    let mut edge = vec![b'x'; 511];
    edge.push(b'\r');
    let (got, _) = get(&edge, opts, Link::PERFECT, 1, &policy);
    assert_eq!(got, edge);
    let (stored, pair) = put(&text, opts, Link::PERFECT, 1, &policy);
    // The client sends raw bytes in this test (sources are the caller's); the server decodes.
    let _ = pair;
    assert_eq!(stored, cnfkit_tftp_wire::netascii::decode_to_vec(&text));
}

/// A sink whose install fails the way a create-only upload fails when another writer took the
/// name first (or a disk fills at the final sync).
struct LosingSink(std::io::ErrorKind);

impl cnfkit_tftp::DataSink for LosingSink {
    fn write(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::from(self.0))
    }
}

#[test]
fn an_upload_that_cannot_be_installed_gets_an_error_never_the_final_ack() {
    for (kind, code) in [
        (std::io::ErrorKind::AlreadyExists, 6u8),
        (std::io::ErrorKind::StorageFull, 3),
        (std::io::ErrorKind::PermissionDenied, 0),
    ] {
        let policy = Policy::default();
        let data = pseudo_random(2000, 7);
        let client = Transfer::put(
            b"SEP001122334455.cnf.xml",
            options(None, None),
            Box::new(data),
            policy.clone(),
            std::time::Instant::now(),
        );
        let mut pair = Pair::new(client, Link::PERFECT, 1, policy, move |incoming, now| {
            incoming.accept_write(Box::new(LosingSink(kind)), now)
        });
        pair.run(Duration::from_secs(60));
        // 2000 bytes are blocks 1..=4; block 4 is the last one: no ACK 4, an ERROR instead.
        assert!(
            !pair.server_sent.iter().any(|d| d.as_slice() == b"\x00\x04\x00\x04"),
            "{kind:?}: the final ACK went out"
        );
        let error = pair.server_sent.last().expect("the server answered");
        assert_eq!(&error[..4], &[0, 5, 0, code], "{kind:?}: {error:?}");
        let client = Pair::finished(&pair.client_events).expect("client finished");
        assert!(matches!(client.outcome, Outcome::PeerError { .. }), "{kind:?}: {client:?}");
        let server = Pair::finished(&pair.server_events).expect("server finished");
        assert!(matches!(server.outcome, Outcome::Local(_)), "{kind:?}: {server:?}");
    }
}
