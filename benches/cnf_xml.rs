//! cnf.xml document model: parse, read every typed view, make one edit, write, on a generated
//! ~14 KiB `XMLDefault.cnf.xml` with 150 `loadInformationNNN` entries (the size of the big
//! real-world XMLDefault files). Run with `cargo bench --bench cnf_xml`.

use std::fmt::Write as _;
use std::hint::black_box;

use cnfkit_config::{CnfDocument, DeviceType};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A CUCM-style XMLDefault: a two-member call manager group, 150 loads (the known device types
/// first, then made-up numbers), comments between groups, URLs. Deterministic.
fn xmldefault() -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- cnfkit bench XMLDefault -->\n<Default>\n",
    );
    s.push_str("  <callManagerGroup>\n    <members>\n");
    for (prio, host) in [(0, "10.20.0.10"), (1, "10.20.0.11")] {
        write!(
            s,
            "      <member  priority=\"{prio}\">\n        <callManager>\n          <ports>\n            <ethernetPhonePort>2000</ethernetPhonePort>\n            <sipPort>5060</sipPort>\n            <securedSipPort>5061</securedSipPort>\n          </ports>\n          <processNodeName>{host}</processNodeName>\n        </callManager>\n      </member>\n"
        )
        .unwrap();
    }
    s.push_str("    </members>\n  </callManagerGroup>\n");
    let known = DeviceType::KNOWN;
    for i in 0..150 {
        if i % 25 == 0 {
            writeln!(s, "<!-- group {} -->", i / 25).unwrap();
        }
        let (n, model) = known
            .get(i)
            .map_or((40_000 + i, "Cisco Lab Device"), |(n, m)| (usize::try_from(*n).unwrap(), *m));
        let load = if i % 7 == 3 {
            String::new()
        } else {
            format!("SCCP{:02}.9-4-2SR4-{}S", i % 100, i % 9)
        };
        writeln!(s, "    <loadInformation{n}  model=\"{model}\">{load}</loadInformation{n}>")
            .unwrap();
    }
    for url in [
        "authenticationURL",
        "directoryURL",
        "idleURL",
        "informationURL",
        "messagesURL",
        "servicesURL",
    ] {
        writeln!(s, "  <{url}>http://10.20.0.20/cisco/{url}.php</{url}>").unwrap();
    }
    s.push_str("</Default>\n");
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let input = xmldefault();
    assert!(
        (13 * 1024..16 * 1024).contains(&input.len()),
        "bench document is {} bytes",
        input.len()
    );
    let mut group = c.benchmark_group("cnf_xml");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("parse", |b| b.iter(|| CnfDocument::parse(black_box(&input)).unwrap()));
    let doc = CnfDocument::parse(&input).unwrap();
    group.bench_function("views", |b| b.iter(|| black_box(&doc).summary()));
    group.bench_function("parse_views_edit_write", |b| {
        b.iter(|| {
            let mut doc = CnfDocument::parse(black_box(&input)).unwrap();
            let summary = doc.summary();
            assert_eq!(summary.firmware.entries.len(), 150);
            doc.set_load(DeviceType::CISCO_7942, "SCCP42.9-4-2SR4-3S").unwrap();
            doc.into_bytes()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
