//! netascii translation throughput on 1 MiB of mixed text (config files, manifests, logs).

use std::hint::black_box;

use cnfkit_tftp_wire::netascii::{self, Decoder, Encoder};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// 1 MiB of text shaped like cnf.xml and SIP .cnf files: LF lines, some CRLF, a few bare CRs.
fn mixed_text() -> Vec<u8> {
    let lines: [&[u8]; 4] = [
        b"<loadInformation30018 model=\"IP Phone 7961\">SCCP41.9-4-2SR3-1S</loadInformation30018>\n",
        b"proxy1_address: \"10.1.1.1\"\r\n",
        b"    <processNodeName>cucm-pub.example.net</processNodeName>\n",
        b"odd\rline\n",
    ];
    lines.iter().cycle().flat_map(|l| l.iter().copied()).take(1 << 20).collect()
}

fn bench(c: &mut Criterion) {
    let text = mixed_text();
    let wire = netascii::encode_to_vec(&text);
    let mut group = c.benchmark_group("netascii");
    group.throughput(Throughput::Bytes(text.len() as u64));
    // Block-sized output, as the engine fills DATA packets.
    group.bench_function("encode_1MiB_in_1468_byte_blocks", |b| {
        let mut block = vec![0u8; 1468];
        b.iter(|| {
            let mut encoder = Encoder::new();
            let mut rest = &text[..];
            let mut total = 0;
            while !rest.is_empty() || encoder.has_pending() {
                let (read, written) = encoder.encode(rest, &mut block);
                rest = &rest[read..];
                total += written;
            }
            black_box(total)
        });
    });
    group.bench_function("decode_1MiB_from_1468_byte_blocks", |b| {
        let mut out = vec![0u8; 1468];
        b.iter(|| {
            let mut decoder = Decoder::new();
            let mut total = 0;
            for chunk in wire.chunks(1468) {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let (read, written) = decoder.decode(rest, &mut out);
                    rest = &rest[read..];
                    total += written;
                }
            }
            black_box(total)
        });
    });
    group
        .bench_function("encoded_len_1MiB", |b| b.iter(|| netascii::encoded_len(black_box(&text))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
