//! The boot tracker on a storm's path: the requests of a 5000-phone boot storm (the sequence
//! `benches/boot-storm.py` makes phone-sim send) recorded by a server's `Monitor`, each served
//! TFTP transfer's end reported, then every boot settled. Run with `cargo bench --bench registry`;
//! the figure to watch is the time per request.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use cnfkit::resolve::Transport;
use cnfkit::server::Monitor;
use cnfkit::server::registry::{AnswerKind, RegistryLimits, RequestSeen};
use cnfkit::tftp::{Negotiated, Outcome, Summary};
use criterion::{Criterion, Throughput};

const PHONES: u32 = 5000;

/// Each phone from its own address (phone-sim's 127.1.x.y), asking from a new port each time.
fn peer(phone: u32, request: u16) -> SocketAddr {
    let [_, _, hi, lo] = phone.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 1, hi, lo)), 40_000 + request)
}

/// The names and answers of one phone's boot: three trust lists missed, its own configuration
/// (every other phone has one), else the default.
fn boot(phone: u32) -> Vec<(String, AnswerKind)> {
    let mac = format!("0011223{phone:05X}");
    let mut names = vec![
        (format!("CTLSEP{mac}.tlv"), AnswerKind::NotFound),
        (format!("ITLSEP{mac}.tlv"), AnswerKind::NotFound),
        ("ITLFile.tlv".to_owned(), AnswerKind::NotFound),
    ];
    if phone.is_multiple_of(2) {
        names.push((format!("SEP{mac}.cnf.xml"), AnswerKind::Exact));
    } else {
        names.push((format!("SEP{mac}.cnf.xml"), AnswerKind::NotFound));
        names.push(("XMLDefault.cnf.xml".to_owned(), AnswerKind::Exact));
    }
    names
}

fn summary(bytes: u64) -> Summary {
    let options =
        Negotiated { blksize: 1468, windowsize: 1, timeout: None, tsize: Some(bytes), oack: true };
    Summary {
        outcome: Outcome::Completed,
        bytes,
        duration: Duration::from_millis(3),
        retransmits: 0,
        options,
    }
}

fn storm(c: &mut Criterion) {
    let boots: Vec<Vec<(String, AnswerKind)>> = (0..PHONES).map(boot).collect();
    let requests: usize = boots.iter().map(Vec::len).sum();
    let ended = summary(14_271);
    let mut group = c.benchmark_group("registry");
    group.throughput(Throughput::Elements(requests as u64));
    group.sample_size(20);
    group.bench_function("boot_storm_5000", |b| {
        b.iter(|| {
            let monitor = Monitor::new(RegistryLimits::default(), None);
            for (phone, names) in (0u32..).zip(&boots) {
                for (port, (name, answer)) in (0u16..).zip(names) {
                    let peer = peer(phone, port);
                    monitor.request(&RequestSeen::new(peer, name, *answer, Transport::Tftp));
                    if answer.served() {
                        monitor.transfer_ended(peer, &ended);
                    }
                }
            }
            black_box(monitor.settle_all().len())
        });
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    storm(&mut criterion);
    criterion.final_summary();
}
