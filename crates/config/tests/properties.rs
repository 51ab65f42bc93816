//! Properties: parsing never panics and is lossless; edits escape whatever they are given.

use cnfkit_config::{CnfDocument, ParseOptions, SipCnf};
use proptest::prelude::*;

fn xmlish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"<a>".to_vec()),
        Just(b"</a>".to_vec()),
        Just(b"<b x=\"1\">".to_vec()),
        Just(b"</b>".to_vec()),
        Just(b"<c/>".to_vec()),
        Just(b"<!-- c -->".to_vec()),
        Just(b"&amp;".to_vec()),
        Just(b"&bogus;".to_vec()),
        Just(b"\r\n\t".to_vec()),
        "[a-z0-9 &<>]{0,6}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(token, 0..24).prop_map(|v| {
        let mut out = b"<device>".to_vec();
        out.extend(v.concat());
        out.extend_from_slice(b"</device>");
        out
    })
}

proptest! {
    #[test]
    fn sip_cnf_is_lossless_on_any_bytes(src in prop::collection::vec(any::<u8>(), 0..256)) {
        let cnf = SipCnf::parse(&src);
        prop_assert_eq!(cnf.as_bytes(), &src[..]);
    }

    #[test]
    fn parse_is_lossless_or_errs_with_a_location(src in xmlish()) {
        for opts in [ParseOptions::strict(), ParseOptions::lenient()] {
            match CnfDocument::parse_with(&src, opts) {
                Ok(doc) => prop_assert_eq!(doc.as_bytes(), &src[..]),
                Err(e) => prop_assert!(e.location().is_some() || matches!(e, cnfkit_config::Error::NoRoot), "{}", e),
            }
        }
    }

    #[test]
    fn any_text_set_reads_back_after_a_reparse(
        value in "\\PC{0,40}".prop_filter("XML 1.0 characters", |s| !s.contains(['\u{FFFE}', '\u{FFFF}']))
    ) {
        let mut doc = CnfDocument::parse(b"<device><a>old</a><b/></device>").unwrap();
        doc.set_text("a", &value).unwrap();
        doc.set_attribute("b", "v", &value).unwrap();
        let again = CnfDocument::parse(doc.as_bytes()).unwrap();
        prop_assert_eq!(again.find("a").unwrap().raw_text(), value.clone());
        prop_assert_eq!(again.find("b").unwrap().attribute("v"), Some(value));
    }
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,20}".prop_filter("XML 1.0 characters", |s| !s.contains(['\u{FFFE}', '\u{FFFF}']))
}

proptest! {
    #[test]
    fn built_sip_device_files_parse_back_to_their_record(
        host in "[a-z0-9.-]{1,50}",
        number in "[0-9]{1,12}",
        label in "\\PC{0,30}".prop_filter("XML 1.0 characters", |s| !s.contains(['\u{FFFE}', '\u{FFFF}'])),
        password in text(),
        vendor_value in text(),
        load in text(),
    ) {
        use cnfkit_config::{build_device, CallManagerSpec, LineRecord, MacCase, PhoneRecord, Protocol};
        let record = PhoneRecord {
            mac: "0011223344AA".parse().unwrap(),
            model: "7942".into(),
            protocol: Protocol::Sip,
            lines: vec![LineRecord { number: number.clone(), label: Some(label.clone()), password: Some(password.clone()), ..Default::default() }],
            call_managers: vec![CallManagerSpec::new(host.clone())],
            load: Some(load.clone()),
            vendor_config: vec![("pcPort".into(), vendor_value.clone())],
            ..Default::default()
        };
        let (_, built) = build_device(&record, MacCase::Upper).unwrap();
        let doc = CnfDocument::parse(built.as_bytes()).unwrap();
        let trim = |s: &str| s.trim_matches([' ', '\t', '\r', '\n']).to_owned();
        let line = &doc.sip_profile().unwrap().lines[0];
        prop_assert_eq!(line.name.clone(), Some(number));
        prop_assert_eq!(line.feature_label.clone(), Some(trim(&label)));
        prop_assert_eq!(line.auth_password.clone(), Some(trim(&password)));
        prop_assert_eq!(doc.vendor_config(), vec![("pcPort".to_owned(), trim(&vendor_value))]);
        prop_assert_eq!(doc.firmware().plain().unwrap().load.clone(), trim(&load));
        prop_assert_eq!(doc.call_manager_group().unwrap().members[0].process_node_name.clone(), Some(host));
    }
}
