//! Boot sequences per model family and firmware decisions (docs/boot-sequence.md, request order
//! by model family; firmware upgrade and downgrade).

use cnfkit_resolve::{
    ConfigStyle, Error, FirmwareDecision, LoadName, Model, ModelFamily, ModelTable, OnMiss,
    PhoneSetup, Protocol, Purpose, SecurityMode, TrustLists, boot_requests, firmware_decision,
};

fn mac() -> cnfkit_resolve::Mac {
    "001122AABBCC".parse().unwrap()
}

fn names(phone: &PhoneSetup) -> Vec<String> {
    boot_requests(&ModelTable::builtin(), phone).unwrap().into_iter().map(|r| r.name).collect()
}

#[test]
fn a_7942_on_sip_without_trust_list_matches_the_waynemerricks_log_section_2_2() {
    let phone = PhoneSetup::new(mac(), "CP-7942G", Protocol::Sip);
    assert_eq!(
        names(&phone),
        [
            "CTLSEP001122AABBCC.tlv",
            "ITLSEP001122AABBCC.tlv",
            "ITLFile.tlv",
            "SEP001122AABBCC.cnf.xml",
            "XMLDefault.cnf.xml"
        ]
    );
}

#[test]
fn trust_list_misses_continue_own_config_miss_falls_back_default_miss_is_stuck() {
    let plan =
        boot_requests(&ModelTable::builtin(), &PhoneSetup::new(mac(), "7961", Protocol::Sccp))
            .unwrap();
    assert!(
        plan.iter()
            .filter(|r| r.purpose == Purpose::TrustList)
            .all(|r| r.on_miss == OnMiss::Continue)
    );
    let own = plan.iter().find(|r| r.purpose == Purpose::OwnConfig).unwrap();
    assert_eq!(own.on_miss, OnMiss::FallBack);
    let default = plan.last().unwrap();
    assert_eq!(default.name, "XMLDefault.cnf.xml");
    assert!(matches!(default.on_miss, OnMiss::Stuck(_)));
}

#[test]
fn a_phone_with_a_trust_list_asks_for_the_signed_config_section_1() {
    let mut phone = PhoneSetup::new(mac(), "7965", Protocol::Sccp);
    phone.has_trust_list = true;
    assert!(names(&phone).contains(&"SEP001122AABBCC.cnf.xml.sgn".to_owned()));
    phone.security = SecurityMode::Encrypted;
    let names = names(&phone);
    let enc = names.iter().position(|n| n.ends_with(".enc.sgn")).unwrap();
    assert_eq!(names[enc + 1], "SEP001122AABBCC.cnf.xml.sgn", "falls back to the signed file");
}

#[test]
fn a_7940_on_sip_goes_os79xx_sipdefault_sipmac_section_2_3() {
    let phone = PhoneSetup::new(mac(), "7940", Protocol::Sip);
    assert_eq!(names(&phone), ["OS79XX.TXT", "SIPDefault.cnf", "SIP001122AABBCC.cnf"]);
    let phone = PhoneSetup::new(mac(), "7960", Protocol::Sccp);
    assert_eq!(
        names(&phone),
        ["CTLSEP001122AABBCC.tlv", "SEP001122AABBCC.cnf.xml", "XMLDefault.cnf.xml"]
    );
}

#[test]
fn a_factory_reset_phone_first_asks_for_its_term_manifest_and_is_stuck_without_it() {
    let mut phone = PhoneSetup::new(mac(), "7942", Protocol::Sccp);
    phone.factory_reset = true;
    let plan = boot_requests(&ModelTable::builtin(), &phone).unwrap();
    assert_eq!(plan[0].name, "term42.default.loads");
    assert!(matches!(&plan[0].on_miss, OnMiss::Stuck(why) if why.contains("Upgrading")));
}

#[test]
fn the_7912_family_uses_lower_case_macs_when_told() {
    let mut phone = PhoneSetup::new(mac(), "7942", Protocol::Sccp);
    phone.lower_case_mac = true;
    assert!(names(&phone).contains(&"SEP001122aabbcc.cnf.xml".to_owned()));
}

#[test]
fn unknown_models_and_protocols_are_errors_that_say_what_to_do() {
    let err = boot_requests(&ModelTable::builtin(), &PhoneSetup::new(mac(), "9999", Protocol::Sip))
        .unwrap_err();
    assert!(matches!(err, Error::UnknownModel { .. }));
    assert!(err.to_string().contains("add its family"));
    let err =
        boot_requests(&ModelTable::builtin(), &PhoneSetup::new(mac(), "8845", Protocol::Sccp))
            .unwrap_err();
    assert!(matches!(err, Error::UnsupportedProtocol { .. }));
}

#[test]
fn the_model_table_is_extensible() {
    let mut table = ModelTable::builtin();
    table.insert(ModelFamily {
        name: "lab".into(),
        models: vec![Model {
            name: "9999".into(),
            device_types: vec![99_999],
            term_family: Some(99),
        }],
        sccp: false,
        sip: true,
        sip_style: ConfigStyle::Xml,
        trust_lists: TrustLists { ctl: false, itl: false },
    });
    let mut phone = PhoneSetup::new(mac(), "9999", Protocol::Sip);
    phone.factory_reset = true;
    let names: Vec<String> =
        boot_requests(&table, &phone).unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["term99.default.loads", "SEP001122AABBCC.cnf.xml", "XMLDefault.cnf.xml"]);
    assert_eq!(table.by_device_type(99_999).unwrap().1.name, "9999");
    assert_eq!(ModelTable::builtin().by_device_type(434).unwrap().1.name, "7942");
}

#[test]
fn load_names_of_every_family_section_4_3() {
    let v = |name: &str| LoadName::new(name).version().map(|v| v.0.clone());
    assert_eq!(v("SCCP41.9-4-2SR1-1S"), Some(vec![9, 4, 2, 1, 1]));
    assert_eq!(v("SIP42.9-4-2SR3-1S.loads"), Some(vec![9, 4, 2, 3, 1]));
    assert_eq!(v("sip88xx.11-2-3MSR1-1"), Some(vec![11, 2, 3, 1, 1]));
    assert_eq!(v("P00308010200"), Some(vec![8, 1, 2, 0]));
    assert_eq!(v("P0S3-08-12-00"), Some(vec![8, 12, 0]));
    assert_eq!(v("CP7921G-1.4.6.3"), Some(vec![4, 6, 3]), "family CP7921G-1");
    assert_eq!(v("weird"), None);
    assert_eq!(LoadName::new("SCCP42.9-4-2SR3-1S").manifest_name(), "SCCP42.9-4-2SR3-1S.loads");
}

#[test]
fn firmware_direction() {
    assert_eq!(firmware_decision(Some("SCCP42.9-4-2SR3-1S"), None), FirmwareDecision::NoLoadNamed);
    assert_eq!(
        firmware_decision(Some("SCCP42.9-4-2SR3-1S"), Some("  ")),
        FirmwareDecision::NoLoadNamed
    );
    assert_eq!(
        firmware_decision(Some("SCCP42.9-4-2SR3-1S"), Some("sccp42.9-4-2sr3-1s")),
        FirmwareDecision::UpToDate
    );
    assert!(matches!(
        firmware_decision(Some("SCCP42.9-2-1S"), Some("SCCP42.9-4-2SR3-1S")),
        FirmwareDecision::Upgrade { .. }
    ));
    assert!(matches!(
        firmware_decision(Some("SCCP42.9-4-2SR3-1S"), Some("SCCP42.9-2-1S")),
        FirmwareDecision::Downgrade { .. }
    ));
    assert!(
        matches!(
            firmware_decision(Some("SCCP42.9-4-2SR3-1S"), Some("SIP42.9-4-2SR3-1S")),
            FirmwareDecision::Change { .. }
        ),
        "a protocol switch is not ordered"
    );
    assert!(matches!(
        firmware_decision(None, Some("SIP42.9-4-2SR3-1S")),
        FirmwareDecision::Change { .. }
    ));
}

/// crimsonsilo 2010 / qsolved 2009: below 8.5(2), a load signed the 8.5(2)SR1 way fails
/// ("Auth Fail") until 8.5(2) itself is installed.
#[test]
fn skipping_the_8_5_2_signature_step_is_blocked_and_the_message_says_what_to_do() {
    let blocked = firmware_decision(Some("SCCP41.8-3-1S"), Some("SCCP41.9-4-2SR3-1S"));
    let FirmwareDecision::Blocked { reason, .. } = blocked else { panic!("{blocked:?}") };
    assert!(reason.contains("8.5(2)"), "{reason}");
    assert!(
        matches!(
            firmware_decision(Some("SCCP41.8-3-1S"), Some("SCCP41.8-5-2S")),
            FirmwareDecision::Upgrade { .. }
        ),
        "8.5(2) itself is the way through"
    );
    assert!(matches!(
        firmware_decision(Some("SCCP41.8-3-1S"), Some("SCCP41.8-5-2SR1S")),
        FirmwareDecision::Blocked { .. }
    ));
    assert!(matches!(
        firmware_decision(Some("SCCP41.8-5-2S"), Some("SCCP41.9-4-2SR3-1S")),
        FirmwareDecision::Upgrade { .. }
    ));
    assert!(
        matches!(
            firmware_decision(Some("sip88xx.10-3-1"), Some("sip88xx.12-8-1")),
            FirmwareDecision::Upgrade { .. }
        ),
        "88xx never had the step"
    );
}
