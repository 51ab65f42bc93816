//! Typed views on the project's own fixtures (tests/data), value by value, following the
//! element reference and the loadInformation forms of docs/file-formats.md.

use cnfkit_config::{
    CapfAuthMode, CnfDocument, DeviceSecurityMode, DeviceType, Encoding, EncodingSource, FeatureId,
    GroupLocation, LoadForm, RootKind, TransportLayerProtocol, WarningKind,
};

fn load(name: &str) -> (Vec<u8>, CnfDocument) {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc = CnfDocument::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(doc.as_bytes(), &bytes[..], "{name} round-trips");
    (bytes, doc)
}

#[test]
fn xmldefault_call_manager_group_sits_under_the_root_cnf_3_2() {
    let (_, doc) = load("XMLDefault-cucm.cnf.xml");
    assert_eq!(doc.root_kind(), RootKind::Default);
    let g = doc.call_manager_group().unwrap();
    assert_eq!(g.location, GroupLocation::Root);
    assert_eq!((g.name.as_deref(), g.tftp_default.as_deref()), (Some("Lab-CMG"), Some("true")));
    assert_eq!(g.members.len(), 2);
    let (a, b) = (&g.members[0], &g.members[1]);
    assert_eq!((a.priority, a.name.as_deref()), (Some(0), Some("cucm-pub")));
    assert_eq!(a.description.as_deref(), Some("cucm-pub (Publisher)"));
    assert_eq!(
        (a.ports.ethernet_phone_port, a.ports.sip_port, a.ports.secured_sip_port),
        (Some(2000), Some(5060), Some(5061))
    );
    assert_eq!(
        (a.ports.mgcp_listen, b.ports.mgcp_listen, b.ports.mgcp_keep_alive),
        (None, Some(2427), Some(2428))
    );
    assert_eq!(b.process_node_name.as_deref(), Some("cucm-sub1.lab.example"));
    assert_eq!(b.path, "callManagerGroup/members/member[2]");
    let tvs = doc.tvs();
    assert_eq!(
        (tvs.len(), tvs[0].port, tvs[0].address.as_deref()),
        (1, Some(2445), Some("10.20.0.10"))
    );
    assert_eq!(
        doc.urls(),
        [
            ("servicesURL".to_owned(), "http://10.20.0.20/cisco/services.xml".to_owned()),
            ("directoryURL".into(), String::new()),
            ("idleTimeout".into(), "0".into())
        ]
    );
}

#[test]
fn xmldefault_loads_by_number_and_by_model_cnf_4_1_and_4_2() {
    let (_, doc) = load("XMLDefault-cucm.cnf.xml");
    let fw = doc.firmware();
    assert_eq!(fw.entries.len(), 7);
    assert_eq!(fw.for_device_type(DeviceType::CISCO_7942).unwrap().load, "SCCP42.9-4-2SR4-3S");
    assert_eq!(fw.for_device_type(DeviceType(36224)).unwrap().load, "sip8845_65.14-2-1-0001-14");
    // 8945 is listed with an empty load: no load for it.
    assert_eq!(
        fw.entries.iter().find(|e| e.device_type == Some(DeviceType(585))).unwrap().load,
        ""
    );
    assert!(fw.for_device_type(DeviceType(585)).is_none());
    // By model: the model attribute first (30018 is mislabelled "Cisco 7962" and comes after 404).
    assert_eq!(fw.for_model("CP-7962G").unwrap().device_type, Some(DeviceType(404)));
    assert_eq!(fw.for_model("8841").unwrap().load, "sip88xx.14-2-1-0001-14");
    // 7961 has no model text that says so, but its known number 30018 has a load.
    assert_eq!(fw.for_model("Cisco 7961").unwrap().load, "SCCP41.9-4-2SR4-3S");
    // The plain form in an XMLDefault, with a model attribute.
    let plain = fw.plain().unwrap();
    assert_eq!(
        (plain.device_type, plain.model.as_deref(), plain.form),
        (None, Some("Cisco 7911"), LoadForm::Plain)
    );
    assert!(fw.for_model("7975").is_none());
}

#[test]
fn xmldefault_validation_flags_the_mislabelled_number_only() {
    let (_, doc) = load("XMLDefault-cucm.cnf.xml");
    let warnings = doc.validate();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].kind,
        WarningKind::ModelMismatch {
            device_type: DeviceType(30018),
            model: "Cisco 7962".into(),
            known_model: "Cisco 7961"
        }
    );
    assert_eq!(warnings[0].at.line, 50);
}

#[test]
fn sccp_sep_file_views_cnf_3_2() {
    let (_, doc) = load("SEP00112233AABB-sccp.cnf.xml");
    assert_eq!(
        (doc.root_kind(), doc.device_protocol().as_deref()),
        (RootKind::Device, Some("SCCP"))
    );
    assert_eq!(doc.root().attribute("ctiid").as_deref(), Some("1042"));
    let g = doc.call_manager_group().unwrap();
    assert_eq!(g.location, GroupLocation::DevicePool);
    let names: Vec<_> =
        g.members.iter().map(|m| (m.priority, m.process_node_name.clone().unwrap())).collect();
    assert_eq!(names, [(Some(0), "10.20.0.10".to_owned()), (Some(1), "10.20.0.11".to_owned())]);

    let pool = doc.device_pool().unwrap();
    assert_eq!(
        (pool.name.as_deref(), pool.connection_monitor_duration),
        (Some("Lab-DP"), Some(120))
    );
    assert_eq!(pool.uuid.as_deref(), Some("{1b1b9eb6-7803-11d3-bdf0-00108302ead1}"));
    let dt = pool.date_time.unwrap();
    assert_eq!(dt.date_template.as_deref(), Some("D.M.YA"));
    assert_eq!(dt.time_zone.as_deref(), Some("W. Europe Standard/Daylight Time"));
    assert_eq!(dt.olson_time_zone.as_deref(), Some("Europe/Berlin"));
    let ntps: Vec<_> = dt.ntps.iter().map(|n| n.name.clone().unwrap()).collect();
    assert_eq!(ntps, ["ntp1.lab.example", "10.20.0.1"]);
    let srst = pool.srst.unwrap();
    assert_eq!(srst.srst_option.as_deref(), Some("Enable"));
    assert_eq!(srst.addresses.len(), 1, "empty and self-closing ipAddr2/3 are not addresses");
    assert_eq!(
        (srst.addresses[0].address.as_str(), srst.addresses[0].port),
        ("10.30.0.1", Some(2000))
    );
    assert_eq!(srst.sip_addresses[0].port, Some(5060));

    let fw = doc.firmware();
    assert_eq!(fw.plain().unwrap().load, "SCCP42.9-4-2SR4-3S");
    let kem = &fw.entries[1];
    assert_eq!(
        (kem.form, kem.device_type, kem.load.as_str()),
        (LoadForm::AddOnModule { idx: Some(1) }, Some(DeviceType::CISCO_7914), "S00105000400")
    );
    assert_eq!(kem.path, "addOnModules/addOnModule/loadInformation");

    let vc = doc.vendor_config();
    assert_eq!(vc.len(), 9);
    assert_eq!(vc[4], ("webAccess".into(), "0".into()));
    assert_eq!(vc[6], ("daysDisplayNotActive".into(), "1,7".into()));
    assert_eq!(vc[8], ("loadServer".into(), String::new()));

    assert_eq!(doc.version_stamp().as_deref(), Some("{7A1B2C3D-0000-4000-8000-00000000CAFE}"));
    let sec = doc.security();
    assert_eq!(sec.device_security_mode, Some(DeviceSecurityMode::AUTHENTICATED));
    assert_eq!(sec.capf_auth_mode, Some(CapfAuthMode::PASSWORD));
    assert_eq!(
        (sec.capf_ports, sec.cert_hash.as_deref(), sec.encr_config.as_deref()),
        (vec![3804], Some("6c3f4e7a"), Some("false"))
    );
    let ul = doc.user_locale().unwrap();
    assert_eq!(
        (ul.name.as_deref(), ul.lang_code.as_deref(), ul.win_char_set.as_deref()),
        (Some("German_Germany"), Some("de_DE"), Some("utf-8"))
    );
    let nl = doc.network_locale().unwrap();
    assert_eq!((nl.name.as_deref(), nl.uid.as_deref()), (Some("Germany"), Some("49")));
    assert!(doc.sip_profile().is_none());
    assert!(doc.validate().is_empty(), "{:?}", doc.validate());
}

#[test]
fn sip_sep_file_in_iso_8859_1_views_cnf_3_2() {
    let (_, doc) = load("SEP0022446688AA-sip.cnf.xml");
    assert_eq!(
        (doc.encoding(), doc.encoding_source()),
        (Encoding::Latin1, EncodingSource::Declaration)
    );
    assert_eq!(doc.transport_layer_protocol(), Some(TransportLayerProtocol::UDP));
    assert_eq!(doc.security().device_security_mode, Some(DeviceSecurityMode::INSECURE));
    let p = doc.sip_profile().unwrap();
    assert_eq!(
        (p.phone_label.as_deref(), p.register_with_proxy.as_deref()),
        (Some("Accueil"), Some("true"))
    );
    assert_eq!(
        (p.preferred_codec.as_deref(), p.dial_template.as_deref()),
        (Some("g711alaw"), Some("dialplan.xml"))
    );
    let l1 = &p.lines[0];
    assert_eq!(
        (l1.button, l1.line_index, l1.feature_id),
        (Some(1), Some(1), Some(FeatureId::LINE))
    );
    assert_eq!(l1.feature_label.as_deref(), Some("Réception 1001"));
    assert_eq!(l1.display_name.as_deref(), Some("Réception"));
    assert_eq!(l1.auth_password.as_deref(), Some("s3cret&more"));
    assert_eq!((l1.proxy.as_deref(), l1.port), (Some("USECALLMANAGER"), Some(5060)));
    let l2 = &p.lines[1];
    assert_eq!(
        (l2.feature_id, l2.speed_dial_number.as_deref()),
        (Some(FeatureId(21)), Some("1002"))
    );
    let fw = doc.firmware();
    assert_eq!(fw.entries[1].form, LoadForm::Inactive);
    assert_eq!(fw.entries[1].load, "SIP42.9-3-1SR4-1S");
    assert!(doc.validate().is_empty(), "{:?}", doc.validate());
}

#[test]
fn typed_edits_go_through_the_document_and_keep_latin1() {
    let (bytes, mut doc) = load("SEP0022446688AA-sip.cnf.xml");
    doc.set_text("sipProfile/sipLines/line[1]/displayName", "Hôtel €").unwrap();
    doc.set_vendor_config("webAccess", "1").unwrap();
    doc.set_load(DeviceType(434), "SIP42.9-4-2SR4-3S").unwrap();
    let p = doc.sip_profile().unwrap();
    assert_eq!(p.lines[0].display_name.as_deref(), Some("Hôtel €"));
    assert_eq!(doc.vendor_config(), [("webAccess".to_owned(), "1".to_owned())]);
    assert_eq!(doc.firmware().for_device_type(DeviceType(434)).unwrap().load, "SIP42.9-4-2SR4-3S");
    // Everything before the first edit is untouched, byte for byte.
    let first = bytes.windows(13).position(|w| w == b"<displayName>").unwrap();
    assert_eq!(&doc.as_bytes()[..first], &bytes[..first]);
    assert!(doc.as_bytes().windows(13).any(|w| w == b"H\xf4tel &#8364;"));
}

#[test]
fn validation_finds_what_a_template_leaves_behind_cnf_5() {
    let (_, doc) = load("SEP-template-warnings.cnf.xml");
    let mut kinds: Vec<String> = doc
        .validate()
        .iter()
        .map(|w| format!("{:?}", w.kind).split([' ', '{']).next().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "DuplicateDeviceType",
            "FieldTooLong",
            "FieldTooLong",
            "LoadElementCase",
            "ModelMismatch",
            "NoCallManager",
            "Placeholder",
            "Placeholder"
        ]
    );
    let text: Vec<String> = doc.validate().iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("name is 69 characters, limit 50")), "{text:?}");
    assert!(text.iter().any(|t| t.starts_with("7:3: <loadinformation36213>")), "{text:?}");
}

#[test]
fn summary_serialises_to_json() {
    let (_, doc) = load("SEP00112233AABB-sccp.cnf.xml");
    let json = serde_json::to_value(doc.summary()).unwrap();
    assert_eq!(json["root_kind"], "Device");
    assert_eq!(json["call_manager_group"]["members"][1]["process_node_name"], "10.20.0.11");
    assert_eq!(json["security"]["device_security_mode"], 2);
}

#[test]
fn a_defaults_file_gets_its_catch_all_load_after_the_numbered_ones_which_stay_as_they_are() {
    let src = b"<Default>\n  <loadInformation434 model=\"Cisco 7942\">SCCP42.9-4-2SR4-3S</loadInformation434>\n  <loadInformation8 model=\"Cisco 7940\">P0030801SR02</loadInformation8>\n  <vendorConfig/>\n</Default>\n";
    let mut doc = CnfDocument::parse(src).unwrap();
    doc.set_own_load("SIP42.9-4-2SR4-3S").unwrap();
    let out = String::from_utf8(doc.to_bytes()).unwrap();
    let (numbered, own) =
        (out.find("<loadInformation8 ").unwrap(), out.find("<loadInformation>").unwrap());
    assert!(own > numbered && own < out.find("<vendorConfig").unwrap(), "{out}");
    assert_eq!(doc.firmware().for_device_type(DeviceType(434)).unwrap().load, "SCCP42.9-4-2SR4-3S");
    // Setting it again changes the text, not the number of elements.
    doc.set_own_load("SIP42.9-4-2SR5-1S").unwrap();
    let out = String::from_utf8(doc.to_bytes()).unwrap();
    assert_eq!(out.matches("<loadInformation>").count(), 1);
    assert!(out.contains("<loadInformation>SIP42.9-4-2SR5-1S</loadInformation>"), "{out}");
}
