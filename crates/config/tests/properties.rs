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
