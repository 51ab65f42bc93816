//! `ConfigFile`: which parser a file goes to, and what counts as binary.

use cnfkit_config::{ConfigFile, Error, ParseOptions};

fn parse(name: &str, bytes: &[u8]) -> Result<ConfigFile, Error> {
    ConfigFile::parse(name, bytes.to_vec(), ParseOptions::strict())
}

#[test]
fn a_utf16_file_is_told_apart_by_the_xml_parser_not_called_binary() {
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("<device/>".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let err = parse("SEP001122334455.cnf.xml", &utf16).unwrap_err();
    assert!(!matches!(err, Error::NotText { .. }), "{err}");
}

#[test]
fn a_dos_end_of_file_mark_or_a_form_feed_is_text() {
    let sip = parse("SIPDefault.cnf", b"image_version: P0S3-8-12-00\r\n\x1a").unwrap();
    assert!(matches!(sip, ConfigFile::Sip(_)));
    assert_eq!(sip.into_bytes(), b"image_version: P0S3-8-12-00\r\n\x1a");
}

#[test]
fn a_stray_control_byte_is_refused_strictly_and_left_to_the_lenient_parser() {
    let bytes = b"<device><a>\x0bx</a></device>";
    assert!(matches!(parse("SEP001122334455.cnf.xml", bytes), Err(Error::NotText { .. })));
    let lenient =
        ConfigFile::parse("SEP001122334455.cnf.xml", bytes.to_vec(), ParseOptions::lenient());
    assert!(!matches!(lenient, Err(Error::NotText { .. })), "{lenient:?}");
    // A NUL is binary in either mode.
    let nul =
        ConfigFile::parse("x.cnf.xml", b"<device>\0</device>".to_vec(), ParseOptions::lenient());
    assert!(matches!(nul, Err(Error::NotText { .. })));
}

#[test]
fn a_name_ending_in_xml_is_always_read_as_xml() {
    // Not SIP `key: value` lines just because the first byte is not `<`.
    let err = parse("SEP001122334455.cnf.xml", b"garbage: yes\n").unwrap_err();
    assert!(!matches!(err, Error::NotText { .. }), "{err}");
    assert!(matches!(parse("SIP001122334455.cnf", b"garbage: yes\n"), Ok(ConfigFile::Sip(_))));
}
