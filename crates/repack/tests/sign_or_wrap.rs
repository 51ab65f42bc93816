//! `sign_or_wrap`: what `cnf-sign sign` does to each kind of input, as a library call.

use cnfkit_repack::{
    Certificate, HashAlgorithm, PrivateKey, SignedFile, Signing, inspect, sign_or_wrap,
};

fn tftp() -> (PrivateKey, Certificate) {
    let pem = std::fs::read_to_string("tests/data/test-tftp.pem").unwrap();
    (PrivateKey::from_pem(&pem).unwrap(), Certificate::from_pem(&pem).unwrap())
}

#[test]
fn a_plain_file_gets_a_new_sha1_header_with_the_served_name() {
    let (key, cert) = tftp();
    let plain = std::fs::read("tests/data/SEP001122334455.cnf.xml").unwrap();
    let signing =
        Signing { key: &key, cert: &cert, digest: None, filename: None, now: 1_767_225_600 };
    let signed = sign_or_wrap(&plain, "SEP001122334455.cnf.xml.sgn", &signing).unwrap();
    let file = SignedFile::parse(&signed).unwrap();
    assert_eq!(file.payload(), plain.as_slice());
    assert_eq!(file.filename().as_deref(), Some("SEP001122334455.cnf.xml.sgn"));
    assert_eq!(file.hash_algorithm().unwrap(), HashAlgorithm::Sha1);
    assert_eq!(file.timestamp(), Some(1_767_225_600));
    file.verify_with(&cert).unwrap();
}

#[test]
fn a_signed_file_is_signed_again_keeping_its_name_unless_told_and_its_payload() {
    let (key, cert) = tftp();
    let original = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn").unwrap();
    let before = SignedFile::parse(&original).unwrap();
    let signing = Signing {
        key: &key,
        cert: &cert,
        digest: Some(HashAlgorithm::Sha512),
        filename: None,
        now: 42,
    };
    let again =
        SignedFile::parse(&sign_or_wrap(&original, "ignored.sgn", &signing).unwrap()).unwrap();
    assert_eq!(again.filename(), before.filename(), "a signed file keeps its served name");
    assert_eq!(again.payload(), before.payload());
    assert_eq!(again.hash_algorithm().unwrap(), HashAlgorithm::Sha512);
    assert_eq!(again.timestamp(), Some(42));
    again.verify_with(&cert).unwrap();
    let renamed = Signing { filename: Some("SEPAABBCCDDEEFF.cnf.xml.sgn"), ..signing };
    let renamed = SignedFile::parse(&sign_or_wrap(&original, "x", &renamed).unwrap()).unwrap();
    assert_eq!(renamed.filename().as_deref(), Some("SEPAABBCCDDEEFF.cnf.xml.sgn"));
}

#[test]
fn a_truncated_signed_file_is_an_error_not_a_new_wrapper() {
    let (key, cert) = tftp();
    let original = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn").unwrap();
    let truncated = &original[..original.len() / 3];
    let signing = Signing { key: &key, cert: &cert, digest: None, filename: None, now: 0 };
    assert!(sign_or_wrap(truncated, "x.sgn", &signing).is_err());
    assert!(inspect(truncated).is_err());
}
