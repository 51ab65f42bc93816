//! The boot stories of docs/boot-sequence.md, end to end over loopback: a tree on disk served
//! by cnfkit's provisioning server (the `cnf-server` handler, in process), phones booted by the
//! `phone-sim` boot loop (`cnfkit::server::boot_over_tftp`). Then the same trees served by
//! tftpd-hpa and atftpd give the same per-phone outcome (locally a missing peer skips with a
//! message; under `CI=true` it fails).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cnfkit::resolve::{
    BootReport, DeviceDefaults, FirmwareDecision, FsDirectory, Inventory, InventoryGenerator, Mac,
    ModelTable, PhoneSetup, Protocol, Resolver,
};
use cnfkit::server::ProvisioningHandler;
use cnfkit::server::{PhoneBoot, PhoneClient, boot_over_tftp};
use cnfkit::tftp::driver::{Server, ServerConfig};
use support::{Peer, Scratch};

const MAC: Mac = Mac([0x00, 0x11, 0x22, 0xAA, 0xBB, 0xCC]);

const XML_DEFAULT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Default>
  <callManagerGroup>
    <members>
      <member priority="1"><callManager><processNodeName>10.0.0.2</processNodeName></callManager></member>
      <member priority="0"><callManager><processNodeName>10.0.0.1</processNodeName></callManager></member>
    </members>
  </callManagerGroup>
  <loadInformation434 model="Cisco 7942">SCCP42.9-4-2SR3-1S</loadInformation434>
</Default>
"#;

/// XMLDefault, the load's manifest and its two images: what a site needs for a 7942 to boot
/// from nothing and take load SCCP42.9-4-2SR3-1S.
fn site(name: &str) -> Scratch {
    let tree = Scratch::new(name);
    tree.write("XMLDefault.cnf.xml", XML_DEFAULT.as_bytes());
    tree.write("SCCP42.9-4-2SR3-1S.loads", b"jar42.sbn\r\ncnu42.sbn\r\n");
    tree.write("jar42.sbn", &support::pseudo_random(40_000, 1));
    tree.write("cnu42.sbn", &support::pseudo_random(3_000, 2));
    tree
}

fn phone(model: &str, protocol: Protocol) -> PhoneSetup {
    PhoneSetup::new(MAC, model, protocol)
}

struct Running {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

/// cnfkit's provisioning server over `root`, with device defaults when given (then a missing
/// XMLDefault is rebuilt and written back).
fn serve(root: &Path, defaults: Option<DeviceDefaults>) -> Running {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut resolver = Resolver::new(FsDirectory::new(root).unwrap());
    if let Some(defaults) = defaults {
        resolver = resolver.with_generator(InventoryGenerator::new(Inventory::default(), defaults));
    }
    let handler = ProvisioningHandler::new(resolver);
    let server = runtime
        .block_on(Server::bind("127.0.0.1:0".parse().unwrap(), handler, ServerConfig::default()))
        .unwrap();
    let addr = server.local_addr().unwrap();
    runtime.spawn(server.run(std::future::pending(), Duration::ZERO));
    Running { addr, runtime }
}

fn boot_on(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    setup: PhoneSetup,
    running: Option<&str>,
) -> PhoneBoot {
    let table = ModelTable::builtin();
    runtime.block_on(async {
        let boot = boot_over_tftp(&table, addr, setup, running, PhoneClient::default());
        tokio::time::timeout(Duration::from_secs(60), boot)
            .await
            .expect("boot within 60 s")
            .unwrap()
    })
}

fn boot(server: &Running, setup: PhoneSetup, running: Option<&str>) -> BootReport {
    boot_on(&server.runtime, server.addr, setup, running).report
}

fn requested(report: &BootReport) -> Vec<&str> {
    report.requests.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn new_phone_with_no_sep_file_falls_back_to_xmldefault_and_upgrades() {
    let tree = site("story-new");
    let server = serve(tree.path(), None);
    let report = boot(&server, phone("7942", Protocol::Sccp), Some("SCCP42.8-5-4S"));
    assert!(report.ok(), "{report:?}");
    let config = report.config.as_ref().unwrap();
    assert_eq!((config.name.as_str(), config.own), ("XMLDefault.cnf.xml", false));
    assert_eq!(report.call_managers, ["10.0.0.1", "10.0.0.2"]);
    assert!(matches!(report.firmware, FirmwareDecision::Upgrade { .. }), "{:?}", report.firmware);
    assert_eq!(requested(&report)[5..], ["SCCP42.9-4-2SR3-1S.loads", "jar42.sbn", "cnu42.sbn"]);
    assert_eq!(report.requests[6].bytes, 40_000, "the image came whole");
}

#[test]
fn factory_reset_phone_asks_for_its_term_manifest_first() {
    let tree = site("story-reset");
    tree.write("term42.default.loads", b"jar42.sbn\r\n");
    let server = serve(tree.path(), None);
    let mut setup = phone("7942", Protocol::Sccp);
    setup.factory_reset = true;
    let report = boot(&server, setup, None);
    assert!(report.ok(), "{report:?}");
    assert_eq!(requested(&report)[..2], ["term42.default.loads", "jar42.sbn"]);
}

#[test]
fn a_missing_image_leaves_the_phone_stuck_and_the_report_names_it() {
    let tree = site("story-missing-image");
    std::fs::remove_file(tree.path().join("cnu42.sbn")).unwrap();
    let server = serve(tree.path(), None);
    let report = boot(&server, phone("7942", Protocol::Sccp), Some("SCCP42.8-5-4S"));
    let why = report.stuck.as_deref().expect("stuck");
    assert!(why.contains("cnu42.sbn"), "{why}");
}

#[test]
fn xmldefault_renamed_to_old_is_rebuilt_from_the_defaults_served_and_written_back() {
    let tree = site("story-renamed");
    std::fs::rename(
        tree.path().join("XMLDefault.cnf.xml"),
        tree.path().join("XMLDefault.cnf.xml.old"),
    )
    .unwrap();
    let mut defaults = DeviceDefaults::with_call_manager("10.9.9.9");
    defaults.loads.insert("434".into(), "SCCP42.9-4-2SR3-1S".into());
    let server = serve(tree.path(), Some(defaults));
    let report = boot(&server, phone("7942", Protocol::Sccp), Some("SCCP42.8-5-4S"));
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.config.as_ref().unwrap().name, "XMLDefault.cnf.xml");
    assert_eq!(report.call_managers, ["10.9.9.9"], "the rebuilt file, not the .old one");
    let rebuilt =
        std::fs::read_to_string(tree.path().join("XMLDefault.cnf.xml")).expect("written back");
    assert!(rebuilt.contains("10.9.9.9") && rebuilt.contains("SCCP42.9-4-2SR3-1S"));
    assert!(
        tree.path().join("XMLDefault.cnf.xml.old").exists(),
        "the admin's .old file is left alone"
    );
}

#[test]
fn a_lower_case_mac_on_disk_is_the_phones_own_file() {
    let tree = site("story-lower-mac");
    tree.write(
        "sep001122aabbcc.cnf.xml",
        br#"<device><devicePool><callManagerGroup><members><member priority="0"><callManager>
        <processNodeName>lower.example</processNodeName></callManager></member></members></callManagerGroup>
        </devicePool><loadInformation>SCCP42.9-4-2SR3-1S</loadInformation></device>"#,
    );
    let server = serve(tree.path(), None);
    let report = boot(&server, phone("7942", Protocol::Sccp), Some("SCCP42.9-4-2SR3-1S"));
    let config = report.config.as_ref().unwrap();
    assert!(config.own, "{report:?}");
    assert_eq!(report.call_managers, ["lower.example"]);
    assert_eq!(report.firmware, FirmwareDecision::UpToDate);
}

fn sip_site(name: &str) -> Scratch {
    let tree = Scratch::new(name);
    tree.write(
        "SIPDefault.cnf",
        b"image_version: P0S3-08-12-00\r\nproxy1_address: \"10.0.0.9\"\r\n",
    );
    tree.write("SIP001122AABBCC.cnf", b"line1_name: 100\r\nproxy1_address: 10.0.0.5\r\n");
    tree.write("P0S3-08-12-00.loads", b"P0S3-08-12-00.sb2\r\n");
    tree.write("P0S3-08-12-00.sb2", &support::pseudo_random(5_000, 3));
    tree
}

#[test]
fn a_7940_on_sip_goes_os79xx_then_sipdefault_then_its_sip_mac_file() {
    let tree = sip_site("story-7940-sip");
    let server = serve(tree.path(), None);
    let report = boot(&server, phone("7940", Protocol::Sip), Some("P0S3-08-11-00"));
    assert!(report.ok(), "{report:?}");
    assert_eq!(requested(&report)[..3], ["OS79XX.TXT", "SIPDefault.cnf", "SIP001122AABBCC.cnf"]);
    assert_eq!(report.call_managers, ["10.0.0.5"], "the device file overrides SIPDefault");
    assert!(matches!(report.firmware, FirmwareDecision::Upgrade { .. }));
}

/// What must be equal between servers: the files asked for and whether each was there, the
/// config used, call managers, firmware decision, stuck or not.
fn outcome(report: &BootReport) -> String {
    let requests: Vec<String> =
        report.requests.iter().map(|r| format!("{} {}", r.name, r.result)).collect();
    format!(
        "{requests:?} config={:?} cms={:?} load={:?} firmware={:?} stuck={}",
        report.config.as_ref().map(|c| (&c.name, c.own)),
        report.call_managers,
        report.load,
        report.firmware,
        report.stuck.is_some()
    )
}

#[test]
fn tftpd_hpa_and_atftpd_serving_the_same_trees_give_the_same_per_phone_outcome() {
    let stories: Vec<(Scratch, PhoneSetup, Option<&str>)> = vec![
        (site("peers-new"), phone("7942", Protocol::Sccp), Some("SCCP42.8-5-4S")),
        (
            {
                let t = site("peers-missing");
                std::fs::remove_file(t.path().join("cnu42.sbn")).unwrap();
                t
            },
            phone("7942", Protocol::Sccp),
            Some("SCCP42.8-5-4S"),
        ),
        (sip_site("peers-sip"), phone("7940", Protocol::Sip), Some("P0S3-08-11-00")),
    ];
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut compared = 0;
    for (tree, setup, running) in &stories {
        let ours = serve(tree.path(), None);
        let reference = outcome(&boot(&ours, setup.clone(), *running));
        for name in ["tftpd-hpa", "atftpd"] {
            let Some(peer) = Peer::start(name, tree.path()) else { continue };
            let addr: SocketAddr = format!("127.0.0.1:{}", peer.port).parse().unwrap();
            let theirs = outcome(&boot_on(&runtime, addr, setup.clone(), *running).report);
            assert_eq!(theirs, reference, "{name} vs cnfkit on {}", tree.path().display());
            compared += 1;
        }
    }
    if compared == 0 {
        eprintln!("SKIP: neither tftpd-hpa nor atftpd is installed (sudo bash peers/install.sh)");
    }
}
