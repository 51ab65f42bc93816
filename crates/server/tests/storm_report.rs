//! The storm picture (`phone-sim --report`): well-formed SVG with a bar per request, coloured by
//! its answer, for a real storm of simulated phones against the demo tree.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnfkit_resolve::{Mac, ModelTable, PhoneSetup, Protocol, RequestResult};
use cnfkit_server::storm_report::storm_svg;
use cnfkit_server::{PhoneClient, ProvisioningHandler, boot_over_tftp, demo};
use cnfkit_tftp::driver::{Server, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_is_drawn_as_one_bar_per_request_in_well_formed_svg() {
    let handler = Arc::new(ProvisioningHandler::new(demo::resolver("127.0.0.1").unwrap()));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, ServerConfig::default())
        .await
        .unwrap();
    let addr: SocketAddr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    let table = ModelTable::builtin();
    let started = Instant::now();
    let mut boots = Vec::new();
    for i in 0..12u8 {
        let mac = Mac([0x00, 0x11, 0x22, 0x77, 0x00, i]);
        let setup = PhoneSetup::new(mac, "7942", Protocol::Sccp);
        let client =
            PhoneClient { local: Some(IpAddr::from([127, 2, 0, i + 1])), ..PhoneClient::default() };
        let boot =
            boot_over_tftp(&table, addr, setup, Some("SCCP42.8-5-4S"), client).await.unwrap();
        assert_eq!(boot.timings.len(), boot.report.requests.len(), "a timing per request");
        boots.push((mac, boot));
    }
    let drawn: Vec<(Mac, &cnfkit_server::PhoneBoot)> = boots.iter().map(|(m, b)| (*m, b)).collect();
    let svg = storm_svg(&drawn, started);

    let mut reader = quick_xml::Reader::from_str(&svg);
    let (mut bars, mut misses) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.name().as_ref() == "rect" =>
            {
                let attr = |name: &str| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == name)
                        .map(|a| a.value.into_owned())
                };
                if attr("class").as_deref() == Some("request") {
                    bars += 1;
                    if attr("fill").as_deref() == Some("#c9a227") {
                        misses += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let requests: usize = boots.iter().map(|(_, b)| b.report.requests.len()).sum();
    let not_found = boots
        .iter()
        .flat_map(|(_, b)| &b.report.requests)
        .filter(|r| r.result == RequestResult::NotFound)
        .count();
    assert_eq!(bars, requests);
    assert_eq!(misses, not_found, "misses in the miss colour");
    assert!(svg.contains("12 phones in"), "the title counts the phones");
}
