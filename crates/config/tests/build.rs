//! Builders: output is well-formed (xmllint agrees), stable (golden files), and parses back to
//! the views it was built from.

use std::path::PathBuf;
use std::process::Command;

use cnfkit_config::{
    CallManagerSpec, CnfDocument, DefaultBuilder, DeviceSecurityMode, DeviceType, Error, FeatureId,
    GroupLocation, LineRecord, LoadForm, Mac, MacCase, PhoneRecord, Protocol, RootKind,
    TransportLayerProtocol, build_device,
};

fn xmldefault() -> DefaultBuilder {
    DefaultBuilder::new()
        .group_name("Lab")
        .call_manager(CallManagerSpec {
            name: Some("pbx-a".into()),
            ..CallManagerSpec::new("10.20.0.10")
        })
        .call_manager(CallManagerSpec::new("pbx-b.lab.example"))
        .tvs("10.20.0.10", 2445)
        .auto_registration("AUTO-REG", true)
        .load(DeviceType::CISCO_7962, "SCCP42.9-4-2SR4-3S")
        .load(DeviceType::CISCO_7942, "SCCP42.9-4-2SR4-3S")
        .load(DeviceType(99999), "custom-load")
        .load(DeviceType::CISCO_8841, "sip88xx.14-2-1-0001-14")
        .url("servicesURL", "http://10.20.0.20/services.xml?a=1&b=2")
}

fn sip_record() -> PhoneRecord {
    PhoneRecord {
        mac: "00-22-44-66-88-aa".parse().unwrap(),
        model: "CP-7962G".into(),
        protocol: Protocol::Sip,
        lines: vec![
            LineRecord {
                number: "1001".into(),
                label: Some("Réception".into()),
                password: Some("pw<&>".into()),
                ..Default::default()
            },
            LineRecord {
                number: "1002".into(),
                proxy: Some("pbx.lab.example".into()),
                port: Some(5070),
                ..Default::default()
            },
        ],
        call_managers: vec![CallManagerSpec::new("pbx.lab.example")],
        load: Some("SIP42.9-4-2SR3-1S".into()),
        user_locale: Some(("French_France".into(), "fr_FR".into())),
        network_locale: Some("France".into()),
        time_zone: Some(("Romance Standard/Daylight Time".into(), "D/M/Y".into())),
        ntp: vec!["pool.ntp.org".into()],
        vendor_config: vec![("webAccess".into(), "0".into()), ("sshAccess".into(), "1".into())],
        phone_label: Some("Accueil".into()),
        ..Default::default()
    }
}

fn sccp_record() -> PhoneRecord {
    PhoneRecord {
        mac: "SEP00112233AABB".parse().unwrap(),
        model: "7942".into(),
        protocol: Protocol::Sccp,
        call_managers: vec![CallManagerSpec::new("10.20.0.10"), CallManagerSpec::new("10.20.0.11")],
        load: Some("SCCP42.9-4-2SR4-3S".into()),
        security_mode: Some(DeviceSecurityMode::AUTHENTICATED),
        ..Default::default()
    }
}

fn golden(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden").join(name);
    if std::env::var_os("CNFKIT_BLESS").is_some() {
        std::fs::write(&path, bytes).unwrap();
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (CNFKIT_BLESS=1 writes it)", path.display()));
    assert_eq!(String::from_utf8_lossy(bytes), String::from_utf8_lossy(&want), "{name} changed");
}

/// `xmllint --noout` on the bytes; `false` (with a message) when xmllint is not installed,
/// which fails under CI=true.
fn xmllint_ok(name: &str, bytes: &[u8]) -> bool {
    let path = std::env::temp_dir().join(format!("cnfkit-config-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let run = Command::new("xmllint").arg("--noout").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    match run {
        Ok(out) => {
            assert!(
                out.status.success(),
                "xmllint rejects {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but xmllint cannot run: {e}"
            );
            eprintln!("skipping xmllint check of {name}: {e} (apt-get install libxml2-utils)");
            false
        }
    }
}

#[test]
fn xmldefault_builder_output_passes_xmllint_and_parses_back_to_its_views() {
    let doc = xmldefault().build().unwrap();
    xmllint_ok("XMLDefault.cnf.xml", doc.as_bytes());
    golden("XMLDefault.cnf.xml", doc.as_bytes());
    assert_eq!(doc.root_kind(), RootKind::Default);
    let g = doc.call_manager_group().unwrap();
    assert_eq!(
        (g.location, g.name.as_deref(), g.tftp_default.as_deref()),
        (GroupLocation::Root, Some("Lab"), Some("true"))
    );
    let hosts: Vec<_> =
        g.members.iter().map(|m| (m.priority, m.process_node_name.clone().unwrap())).collect();
    assert_eq!(
        hosts,
        [(Some(0), "10.20.0.10".to_owned()), (Some(1), "pbx-b.lab.example".to_owned())]
    );
    assert_eq!(g.members[0].ports.sip_port, Some(5060));
    let fw = doc.firmware();
    // Sorted by number, whatever the call order; unknown numbers get no model attribute.
    let numbers: Vec<_> = fw.entries.iter().map(|e| e.device_type.unwrap().0).collect();
    assert_eq!(numbers, [404, 434, 683, 99999]);
    assert_eq!(fw.entries[3].model, None);
    assert_eq!(fw.for_model("Cisco 8841").unwrap().load, "sip88xx.14-2-1-0001-14");
    assert_eq!(doc.tvs()[0].port, Some(2445));
    assert_eq!(doc.urls()[0].1, "http://10.20.0.20/services.xml?a=1&b=2");
    assert!(doc.validate().is_empty(), "{:?}", doc.validate());
    // Stable: same input, same bytes.
    assert_eq!(xmldefault().build().unwrap().as_bytes(), doc.as_bytes());
}

#[test]
fn sip_device_builder_output_passes_xmllint_and_parses_back_to_the_record() {
    let (name, doc) = build_device(&sip_record(), MacCase::Upper).unwrap();
    assert_eq!(name, "SEP0022446688AA.cnf.xml");
    xmllint_ok(&name, doc.as_bytes());
    golden("SEP0022446688AA-sip.cnf.xml", doc.as_bytes());
    // Parse the bytes afresh, as a phone's TFTP server would serve them.
    let doc = CnfDocument::parse(doc.as_bytes()).unwrap();
    assert_eq!(
        (doc.root_kind(), doc.device_protocol().as_deref()),
        (RootKind::Device, Some("SIP"))
    );
    let g = doc.call_manager_group().unwrap();
    assert_eq!(g.location, GroupLocation::DevicePool);
    assert_eq!(
        (g.members[0].ports.sip_port, g.members[0].ports.secured_sip_port),
        (Some(5060), Some(5061))
    );
    let p = doc.sip_profile().unwrap();
    assert_eq!(p.phone_label.as_deref(), Some("Accueil"));
    assert_eq!(p.lines.len(), 2);
    let (l1, l2) = (&p.lines[0], &p.lines[1]);
    assert_eq!(
        (l1.button, l1.feature_id, l1.feature_label.as_deref()),
        (Some(1), Some(FeatureId::LINE), Some("Réception"))
    );
    assert_eq!(
        (l1.proxy.as_deref(), l1.auth_password.as_deref()),
        (Some("USECALLMANAGER"), Some("pw<&>"))
    );
    assert_eq!(
        (l2.proxy.as_deref(), l2.port, l2.auth_name.as_deref()),
        (Some("pbx.lab.example"), Some(5070), Some("1002"))
    );
    assert_eq!(doc.firmware().plain().unwrap().load, "SIP42.9-4-2SR3-1S");
    assert_eq!(doc.firmware().plain().unwrap().form, LoadForm::Plain);
    assert_eq!(
        doc.vendor_config(),
        [("webAccess".to_owned(), "0".to_owned()), ("sshAccess".into(), "1".into())]
    );
    let ul = doc.user_locale().unwrap();
    assert_eq!(
        (ul.name.as_deref(), ul.lang_code.as_deref()),
        (Some("French_France"), Some("fr_FR"))
    );
    assert_eq!(doc.network_locale().unwrap().name.as_deref(), Some("France"));
    let dt = doc.device_pool().unwrap().date_time.unwrap();
    assert_eq!(
        (dt.time_zone.as_deref(), dt.ntps[0].name.as_deref()),
        (Some("Romance Standard/Daylight Time"), Some("pool.ntp.org"))
    );
    assert_eq!(doc.transport_layer_protocol(), Some(TransportLayerProtocol::UDP));
    assert_eq!(doc.security().device_security_mode, Some(DeviceSecurityMode::INSECURE));
    assert!(doc.validate().is_empty(), "{:?}", doc.validate());
}

#[test]
fn sccp_device_builder_has_no_sip_profile_and_normalises_the_mac() {
    let (name, doc) = build_device(&sccp_record(), MacCase::Upper).unwrap();
    assert_eq!(name, "SEP00112233AABB.cnf.xml");
    xmllint_ok(&name, doc.as_bytes());
    golden("SEP00112233AABB-sccp.cnf.xml", doc.as_bytes());
    assert_eq!(doc.device_protocol().as_deref(), Some("SCCP"));
    assert!(doc.sip_profile().is_none());
    assert!(doc.transport_layer_protocol().is_none());
    let g = doc.call_manager_group().unwrap();
    assert_eq!(
        (g.members[1].ports.ethernet_phone_port, g.members[1].ports.sip_port),
        (Some(2000), None)
    );
    assert_eq!(doc.security().device_security_mode, Some(DeviceSecurityMode::AUTHENTICATED));
    assert!(doc.validate().is_empty());
    let (lower, _) = build_device(
        &PhoneRecord { mac: "00:11:22:33:AA:BB".parse().unwrap(), ..sccp_record() },
        MacCase::Lower,
    )
    .unwrap();
    assert_eq!(lower, "SEP00112233aabb.cnf.xml");
}

#[test]
fn builders_refuse_what_a_phone_cannot_use() {
    assert!(matches!("00:11:22".parse::<Mac>(), Err(Error::InvalidMac { .. })));
    let no_cm = PhoneRecord { call_managers: vec![], ..sccp_record() };
    assert!(matches!(build_device(&no_cm, MacCase::Upper), Err(Error::InvalidValue { .. })));
    let long =
        PhoneRecord { call_managers: vec![CallManagerSpec::new("h".repeat(51))], ..sccp_record() };
    assert!(matches!(
        build_device(&long, MacCase::Upper),
        Err(Error::InvalidValue { field: "processNodeName", .. })
    ));
    let bad_key =
        PhoneRecord { vendor_config: vec![("no spaces".into(), "1".into())], ..sccp_record() };
    assert!(matches!(build_device(&bad_key, MacCase::Upper), Err(Error::InvalidName { .. })));
    let ctl = PhoneRecord { vendor_config: vec![("x".into(), "\u{7}".into())], ..sccp_record() };
    assert!(matches!(build_device(&ctl, MacCase::Upper), Err(Error::InvalidChar { code: 7, .. })));
    assert!(DefaultBuilder::new().build().is_err());
}
