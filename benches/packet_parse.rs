//! Packet parsing: cnfkit-tftp-wire against the `tftpd` crate's `Packet::deserialize`, same
//! inputs, side by side. Run with `cargo bench --bench packet_parse`; the ratio table prints at
//! the end.

use std::hint::black_box;

use cnfkit_tftp_wire::Packet;
use criterion::{Criterion, Throughput};

#[path = "support/ratios.rs"]
mod ratios;

fn data(len: usize) -> Vec<u8> {
    let mut datagram = vec![0, 3, 0, 1];
    datagram.extend((0..len).map(|i| u8::try_from(i % 251).unwrap_or(0)));
    datagram
}

/// (group name, datagram): the packets a server and a client handle most.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("data_512", data(512)),
        ("data_1468", data(1468)),
        ("data_8192", data(8192)),
        ("ack", b"\x00\x04\x12\x34".to_vec()),
        ("error", b"\x00\x05\x00\x01File not found\x00".to_vec()),
        ("oack", b"\x00\x06tsize\x0014336\x00blksize\x001468\x00windowsize\x0016\x00".to_vec()),
        (
            "rrq_curl",
            b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00tsize\x000\x00blksize\x00512\x00timeout\x006\x00"
                .to_vec(),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    for (name, datagram) in inputs() {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(datagram.len() as u64));
        group.bench_function("cnfkit", |b| {
            b.iter(|| black_box(Packet::parse(black_box(&datagram)).is_ok()));
        });
        if name == "rrq_curl" || name == "oack" {
            // tftpd turns options into typed values; measure our typed view too.
            group.bench_function("cnfkit_typed", |b| {
                b.iter(|| {
                    let typed = match Packet::parse(black_box(&datagram)) {
                        Ok(Packet::Rrq(r)) => r.options.typed(),
                        Ok(Packet::Oack(o)) => o.typed(),
                        _ => unreachable!(),
                    };
                    black_box(typed)
                });
            });
        }
        group.bench_function("tftpd", |b| {
            b.iter(|| black_box(tftpd::Packet::deserialize(black_box(&datagram)).is_ok()));
        });
        group.finish();
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    let names: Vec<&str> = inputs().iter().map(|(n, _)| *n).collect();
    ratios::print_table("parse: cnfkit-tftp-wire vs tftpd 1.0", &names, "cnfkit", "tftpd");
    ratios::print_table(
        "parse + typed options vs tftpd 1.0",
        &["rrq_curl", "oack"],
        "cnfkit_typed",
        "tftpd",
    );
}
