//! Boot scenarios of docs/boot-sequence.md (when a boot goes wrong), run in memory: a resolver
//! over a tree answers a simulated phone, and the report says what the phone did and why.

use cnfkit_resolve::{
    Answer, BootReport, BootSimulation, Directory, Fetch, FirmwareDecision, MemoryDirectory,
    ModelTable, PhoneSetup, Protocol, Resolver,
};

const XML_DEFAULT: &str = r#"<Default>
  <callManagerGroup>
    <members>
      <member priority="1"><callManager><processNodeName>10.0.0.2</processNodeName></callManager></member>
      <member priority="0"><callManager><processNodeName>10.0.0.1</processNodeName></callManager></member>
    </members>
  </callManagerGroup>
  <loadInformation434 model="Cisco 7942">SCCP42.9-4-2SR3-1S</loadInformation434>
  <loadInformation30018 model="Cisco 7961">SCCP41.9-4-2SR3-1S</loadInformation30018>
</Default>
"#;

fn tree() -> MemoryDirectory {
    let dir = MemoryDirectory::new();
    dir.insert("XMLDefault.cnf.xml", XML_DEFAULT.as_bytes().to_vec());
    dir.insert("SCCP42.9-4-2SR3-1S.loads", b"jar42.sbn\r\ncnu42.sbn\r\n".to_vec());
    dir.insert("jar42.sbn", vec![1; 100]);
    dir.insert("cnu42.sbn", vec![2; 100]);
    dir
}

fn boot(
    resolver: &Resolver<MemoryDirectory>,
    phone: PhoneSetup,
    running: Option<&str>,
) -> BootReport {
    let mut sim = BootSimulation::new(&ModelTable::builtin(), phone, running).unwrap();
    let mut guard = 0;
    while let Some(name) = sim.next_request() {
        guard += 1;
        assert!(guard < 100, "the simulation must end");
        let fetch = match resolver.resolve(name.as_bytes()) {
            Answer::File { path, .. } => Fetch::Found(resolver.directory().read(&path).unwrap()),
            Answer::Generated { bytes, .. } => Fetch::Found(bytes),
            _ => Fetch::NotFound,
        };
        sim.answer(fetch);
    }
    sim.report().clone()
}

fn phone(model: &str, protocol: Protocol) -> PhoneSetup {
    PhoneSetup::new("001122AABBCC".parse().unwrap(), model, protocol)
}

fn requested(report: &BootReport) -> Vec<&str> {
    report.requests.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn new_phone_without_sep_file_falls_back_to_xmldefault_and_upgrades() {
    let report = boot(&Resolver::new(tree()), phone("7942", Protocol::Sccp), Some("SCCP42.8-5-4S"));
    assert!(report.ok(), "{report:?}");
    let config = report.config.as_ref().unwrap();
    assert_eq!((config.name.as_str(), config.own), ("XMLDefault.cnf.xml", false));
    assert_eq!(report.call_managers, ["10.0.0.1", "10.0.0.2"], "priority order");
    assert_eq!(report.load.as_deref(), Some("SCCP42.9-4-2SR3-1S"), "picked by device type 434");
    assert!(matches!(report.firmware, FirmwareDecision::Upgrade { .. }));
    assert_eq!(
        requested(&report),
        [
            "CTLSEP001122AABBCC.tlv",
            "ITLSEP001122AABBCC.tlv",
            "ITLFile.tlv",
            "SEP001122AABBCC.cnf.xml",
            "XMLDefault.cnf.xml",
            "SCCP42.9-4-2SR3-1S.loads",
            "jar42.sbn",
            "cnu42.sbn"
        ]
    );
}

#[test]
fn a_phone_with_its_own_file_uses_it_and_downgrades_when_told() {
    let dir = tree();
    dir.insert(
        "SEP001122AABBCC.cnf.xml",
        br#"<device><devicePool><callManagerGroup><members><member priority="0"><callManager>
        <processNodeName>pbx.example</processNodeName></callManager></member></members></callManagerGroup>
        </devicePool><loadInformation>SCCP42.9-4-2SR3-1S</loadInformation></device>"#
            .to_vec(),
    );
    let report =
        boot(&Resolver::new(dir), phone("7942", Protocol::Sccp), Some("SCCP42.9-4-2SR4-3S"));
    assert!(report.ok(), "{report:?}");
    assert!(report.config.as_ref().unwrap().own);
    assert_eq!(report.call_managers, ["pbx.example"]);
    assert!(matches!(report.firmware, FirmwareDecision::Downgrade { .. }));
    assert!(!requested(&report).contains(&"XMLDefault.cnf.xml"), "no fallback once found");
}

#[test]
fn up_to_date_phone_fetches_no_firmware() {
    let report =
        boot(&Resolver::new(tree()), phone("7942", Protocol::Sccp), Some("SCCP42.9-4-2SR3-1S"));
    assert_eq!(report.firmware, FirmwareDecision::UpToDate);
    assert!(!requested(&report).iter().any(|n| n.ends_with(".loads") || n.ends_with(".sbn")));
}

#[test]
fn factory_reset_phone_takes_its_term_manifest_first() {
    let dir = tree();
    dir.insert("term42.default.loads", b"jar42.sbn\r\n".to_vec());
    let mut setup = phone("7942", Protocol::Sccp);
    setup.factory_reset = true;
    let report = boot(&Resolver::new(dir), setup, None);
    assert!(report.ok(), "{report:?}");
    assert_eq!(&requested(&report)[..2], ["term42.default.loads", "jar42.sbn"]);
    assert_eq!(report.config.as_ref().unwrap().name, "XMLDefault.cnf.xml");
}

#[test]
fn factory_reset_phone_without_term_manifest_is_stuck_upgrading() {
    let mut setup = phone("7942", Protocol::Sccp);
    setup.factory_reset = true;
    let report = boot(&Resolver::new(tree()), setup, None);
    assert!(report.stuck.as_deref().unwrap().contains("term42.default.loads"));
}

#[test]
fn a_missing_image_leaves_the_phone_stuck_and_names_the_image() {
    let dir = tree();
    dir.remove("cnu42.sbn");
    let report = boot(&Resolver::new(dir), phone("7942", Protocol::Sccp), Some("SCCP42.8-5-4S"));
    assert!(report.stuck.as_deref().unwrap().contains("cnu42.sbn"), "{report:?}");
}

#[test]
fn a_config_naming_a_load_that_is_not_there_is_reported() {
    let dir = tree();
    dir.remove("SCCP42.9-4-2SR3-1S.loads");
    let report = boot(&Resolver::new(dir), phone("7942", Protocol::Sccp), Some("SCCP42.8-5-4S"));
    let why = report.stuck.unwrap();
    assert!(why.contains("SCCP42.9-4-2SR3-1S.loads") && why.contains("not on the server"), "{why}");
}

#[test]
fn skipping_8_5_2_is_blocked_before_any_image_is_fetched() {
    let report = boot(&Resolver::new(tree()), phone("7961", Protocol::Sccp), Some("SCCP41.8-3-1S"));
    assert!(report.stuck.as_deref().unwrap().contains("8.5(2)"));
    assert!(!requested(&report).iter().any(|n| n.ends_with(".loads")));
}

#[test]
fn an_empty_sep_file_names_no_call_manager_section_6() {
    let dir = tree();
    dir.insert("SEP001122AABBCC.cnf.xml", b"<device></device>".to_vec());
    let report = boot(&Resolver::new(dir), phone("7942", Protocol::Sccp), None);
    assert!(report.stuck.unwrap().contains("Protocol Application Invalid"));
}

#[test]
fn no_xmldefault_and_no_sep_file_is_stuck() {
    let dir = tree();
    dir.remove("XMLDefault.cnf.xml");
    let report = boot(&Resolver::new(dir), phone("7942", Protocol::Sccp), None);
    assert!(report.config.is_none());
    assert!(report.stuck.is_some());
}

#[test]
fn a_7940_on_sip_layers_sip_mac_over_sipdefault() {
    let dir = MemoryDirectory::new();
    dir.insert(
        "SIPDefault.cnf",
        b"image_version: P0S3-08-12-00\r\nproxy1_address: \"10.0.0.9\"\r\n".to_vec(),
    );
    dir.insert("SIP001122AABBCC.cnf", b"line1_name: 100\r\nproxy1_address: 10.0.0.5\r\n".to_vec());
    dir.insert("P0S3-08-12-00.loads", b"P0S3-08-12-00.sb2\r\n".to_vec());
    dir.insert("P0S3-08-12-00.sb2", vec![0; 10]);
    let report = boot(&Resolver::new(dir), phone("7940", Protocol::Sip), Some("P0S3-08-11-00"));
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.call_managers, ["10.0.0.5"], "the device file wins");
    assert_eq!(report.load.as_deref(), Some("P0S3-08-12-00"));
    assert!(matches!(report.firmware, FirmwareDecision::Upgrade { .. }));
    assert_eq!(&requested(&report)[..3], ["OS79XX.TXT", "SIPDefault.cnf", "SIP001122AABBCC.cnf"]);
}

#[test]
fn case_insensitive_mac_on_disk_is_found_section_2_4() {
    let dir = tree();
    dir.insert(
        "sep001122aabbcc.cnf.xml",
        br#"<device><devicePool><callManagerGroup><members><member priority="0"><callManager>
        <processNodeName>lower</processNodeName></callManager></member></members></callManagerGroup>
        </devicePool></device>"#
            .to_vec(),
    );
    let report = boot(&Resolver::new(dir), phone("7942", Protocol::Sccp), None);
    assert_eq!(report.call_managers, ["lower"]);
}

#[test]
fn a_phone_with_a_trust_list_reads_its_signed_config_past_the_signed_header() {
    let dir = tree();
    // docs/file-formats.md, signed files: version 1.0, header length 12 (the two elements and two padding
    // bytes), then the plain file.
    let mut sgn = vec![0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x00, 0x02, 0x00, 12, 0x0d, 0x0d];
    sgn.extend_from_slice(XML_DEFAULT.replace("Default>", "device>").as_bytes());
    dir.insert("SEP001122AABBCC.cnf.xml.sgn", sgn.clone());
    let mut setup = phone("7942", Protocol::Sccp);
    setup.has_trust_list = true;
    let resolver = Resolver::new(dir);
    let report = boot(&resolver, setup.clone(), None);
    let config = report.config.as_ref().unwrap();
    assert_eq!((config.name.as_str(), config.own), ("SEP001122AABBCC.cnf.xml.sgn", true));
    assert_eq!(report.call_managers, ["10.0.0.1", "10.0.0.2"]);
    // A header that claims more bytes than the file has: the phone rejects the file.
    sgn[9] = 0xff;
    resolver.directory().insert("SEP001122AABBCC.cnf.xml.sgn", sgn[..40].to_vec());
    let report = boot(&resolver, setup, None);
    assert!(report.stuck.as_deref().is_some_and(|s| s.contains("signed header")), "{report:?}");
}
