//! The synthetic samples in tests/data (made with throwaway keys, verified by certutils and
//! openssl; see tests/data/SOURCES.md) as a specification: every file parses, verifies,
//! writes back byte for byte, and is rebuilt byte for byte from its parts and its key.

use cnfkit_repack::profile::{self, KeyDerivation, Password};
use cnfkit_repack::{
    Certificate, ContentKey, EncryptedConfig, Error, HashAlgorithm, HeaderKind, PrivateKey, Role,
    SignedFile, TrustList, companion_stub, hex, md5_hex,
};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn identity(name: &str) -> (PrivateKey, Certificate) {
    let pem = String::from_utf8(data(name)).unwrap();
    (PrivateKey::from_pem(&pem).unwrap(), Certificate::from_pem(&pem).unwrap())
}

const SIGNED_AT: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z, the samples' TIMESTAMP

#[test]
fn signed_sample_fields_match_the_annotated_layout_of_crypto_formats_1_6() {
    let bytes = data("SEP001122334455.cnf.xml.sgn");
    let f = SignedFile::parse(&bytes).unwrap();
    assert_eq!(f.kind(), HeaderKind::Signed);
    assert_eq!(f.header_length(), 404);
    assert_eq!(f.header_length() % 4, 0);
    let signer = f.signer();
    assert_eq!(signer.name, "CN=TEST-TFTP,O=TEST,OU=TEST");
    assert_eq!(signer.issuer, "CN=TEST-TFTP,O=TEST,OU=TEST");
    assert_eq!(hex(&signer.serial), "1234567890abcdef");
    assert_eq!(f.hash_algorithm().unwrap(), HashAlgorithm::Sha1);
    assert_eq!(f.modulus_index(), Some(2));
    assert_eq!(f.signature().unwrap().len(), 256);
    assert_eq!(f.filename().as_deref(), Some("SEP001122334455.cnf.xml.sgn"));
    assert_eq!(f.timestamp(), Some(SIGNED_AT));
    assert_eq!(f.payload(), data("SEP001122334455.cnf.xml"));
    // The signed message is the file without the 3 + 256 bytes of the signature element.
    let msg = f.signed_message().unwrap();
    assert_eq!(msg.len(), bytes.len() - 259);
    assert_eq!(msg[..0x68], bytes[..0x68]);
    assert_eq!(msg[0x68..], bytes[0x68 + 259..]);
}

#[test]
fn every_signed_sample_round_trips_verifies_and_re_signs_to_the_same_bytes() {
    let (key, cert) = identity("test-tftp.pem");
    for (name, alg) in [
        ("SEP001122334455.cnf.xml.sgn", HashAlgorithm::Sha1),
        ("SEP001122334455.cnf.xml.sha512.sgn", HashAlgorithm::Sha512),
    ] {
        let bytes = data(name);
        let mut f = SignedFile::parse(&bytes).unwrap();
        assert_eq!(f.to_bytes().unwrap(), bytes, "{name}: untouched file writes back identical");
        assert_eq!(f.hash_algorithm().unwrap(), alg);
        f.verify_with(&cert).unwrap();
        f.sign(&key, &cert).unwrap();
        assert_eq!(f.to_bytes().unwrap(), bytes, "{name}: PKCS#1 v1.5 is deterministic");
    }
}

#[test]
fn a_signed_file_built_from_payload_name_time_and_key_equals_the_sample() {
    let (key, cert) = identity("test-tftp.pem");
    for (name, alg) in [
        ("SEP001122334455.cnf.xml.sgn", HashAlgorithm::Sha1),
        ("SEP001122334455.cnf.xml.sha512.sgn", HashAlgorithm::Sha512),
    ] {
        let mut f = SignedFile::new(
            HeaderKind::Signed,
            "SEP001122334455.cnf.xml.sgn",
            SIGNED_AT,
            alg,
            data("SEP001122334455.cnf.xml"),
        );
        f.sign(&key, &cert).unwrap();
        assert_eq!(f.to_bytes().unwrap(), data(name), "{name}");
    }
}

#[test]
fn a_signature_from_another_key_or_over_changed_bytes_is_rejected() {
    let (_, tftp) = identity("test-tftp.pem");
    let (_, sast) = identity("test-sast.pem");
    let bytes = data("SEP001122334455.cnf.xml.sgn");
    let f = SignedFile::parse(&bytes).unwrap();
    assert!(matches!(f.verify_with(&sast), Err(Error::BadSignature { .. })));
    for at in [7, 0x10, 0x18b, bytes.len() - 1] {
        let mut tampered = bytes.clone();
        tampered[at] ^= 1;
        let verdict = SignedFile::parse(&tampered).and_then(|t| t.verify_with(&tftp));
        assert!(verdict.is_err(), "flipping byte {at} must not verify");
    }
}

#[test]
fn re_signing_with_a_new_filename_or_a_bigger_key_relays_the_header_to_a_multiple_of_4() {
    let (key, cert) = identity("test-tftp.pem");
    let mut f = SignedFile::parse(&data("SEP001122334455.cnf.xml.sgn")).unwrap();
    f.set_filename("SEPAABBCCDDEEFF.cnf.xml.sgn.x");
    f.sign(&key, &cert).unwrap();
    let out = f.to_bytes().unwrap();
    let again = SignedFile::parse(&out).unwrap();
    assert_eq!(again.header_length() % 4, 0);
    assert_eq!(&out[again.header_length()..], data("SEP001122334455.cnf.xml").as_slice());
    again.verify_with(&cert).unwrap();
}

#[test]
fn malformed_headers_are_errors_with_the_tag_and_offset() {
    let bytes = data("SEP001122334455.cnf.xml.sgn");
    // Truncated inside the header.
    let err = SignedFile::parse(&bytes[..200]).unwrap_err();
    assert!(matches!(err, Error::Truncated { what: "header", .. }), "{err}");
    // The signer-info container claims one byte more than its children fill.
    let mut bad = bytes.clone();
    bad[0x0c] += 1;
    let err = SignedFile::parse(&bad).unwrap_err();
    assert!(err.to_string().contains("offset"), "{err}");
    // Not a signed file at all.
    assert!(matches!(SignedFile::parse(b"<device/>"), Err(Error::WrongFormat(_))));
}

#[test]
fn digest_code_4_is_read_as_sha512_and_unknown_codes_are_errors() {
    assert_eq!(HashAlgorithm::from_code(4), Some((HashAlgorithm::Sha512, true)));
    assert_eq!(HashAlgorithm::from_code(3), Some((HashAlgorithm::Sha512, false)));
    let mut bytes = data("SEP001122334455.cnf.xml.sgn");
    bytes[0x5c] = 9; // HASH_ALGORITHM value (07 000f 08 0001 xx at 0x56)
    let f = SignedFile::parse(&bytes).unwrap();
    assert_eq!(f.digest_code(), Some(9));
    assert!(matches!(f.hash_algorithm(), Err(Error::UnsupportedDigest(9))));
}

#[test]
fn itl_sample_parses_to_its_two_records_and_verifies_against_its_sast() {
    let bytes = data("ITLFile.tlv");
    let itl = TrustList::parse(&bytes).unwrap();
    assert_eq!(itl.signer_version(), Some((1, 0)));
    assert_eq!(itl.header().filename().as_deref(), Some("ITLFile.tlv"));
    let r = itl.records();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].role(), r[0].subject().as_str()),
        (Some(Role::SAST), "CN=TEST-SAST,O=TEST,OU=TEST")
    );
    assert_eq!(
        (r[1].role(), r[1].subject().as_str()),
        (Some(Role::CCM_TFTP), "CN=TEST-TFTP,O=TEST,OU=TEST")
    );
    itl.verify().unwrap();
    assert_eq!(itl.to_bytes().unwrap(), bytes);
    let (_, tftp) = identity("test-tftp.pem");
    let (_, sast) = identity("test-sast.pem");
    assert!(itl.trusts_config_signer(&tftp));
    assert!(!itl.trusts_config_signer(&sast), "SAST signs trust lists, not configs");
    assert!(itl.trusts_list_signer(&sast));
}

#[test]
fn itl_rebuilt_from_certificates_and_signed_by_sast_equals_the_sample() {
    let (sast_key, sast) = identity("test-sast.pem");
    let (_, tftp) = identity("test-tftp.pem");
    let mut itl = TrustList::new(
        "ITLFile.tlv",
        SIGNED_AT,
        HashAlgorithm::Sha1,
        &[(Role::SAST, &sast), (Role::CCM_TFTP, &tftp)],
    );
    itl.sign(&sast_key, &sast).unwrap();
    assert_eq!(itl.to_bytes().unwrap(), data("ITLFile.tlv"));
}

#[test]
fn a_phone_holding_the_itl_accepts_configs_signed_by_its_tftp_record_only() {
    let itl = TrustList::parse(&data("ITLFile.tlv")).unwrap();
    let config = SignedFile::parse(&data("SEP001122334455.cnf.xml.sgn")).unwrap();
    assert_eq!(itl.verify_file(&config).unwrap().role(), Some(Role::CCM_TFTP));
    // The same config signed by the SAST key: SAST is not a config signer.
    let (sast_key, sast) = identity("test-sast.pem");
    let mut by_sast = config.clone();
    by_sast.sign(&sast_key, &sast).unwrap();
    assert!(matches!(itl.verify_file(&by_sast), Err(Error::Untrusted(_))));
}

#[test]
fn encrypted_sample_decrypts_with_the_phone_key_to_the_plaintext_sample() {
    let bytes = data("SEP001122334455.cnf.xml.enc.sgn");
    let enc = EncryptedConfig::parse(&bytes).unwrap();
    assert_eq!(enc.file().to_bytes().unwrap(), bytes);
    let (_, tftp) = identity("test-tftp.pem");
    enc.file().verify_with(&tftp).unwrap();
    assert_eq!(
        enc.iv().unwrap(),
        [
            0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80, 0x70, 0x60, 0x50, 0x40, 0x30, 0x20,
            0x10, 0x00
        ]
    );
    assert_eq!(enc.padding().unwrap(), 6);
    let (code, digest) = enc.plaintext_digest().unwrap();
    assert_eq!((code, hex(digest).as_str()), (1, "a37f317d63bc0de9e6bd22d63905045d00c1dd6d"));
    let (phone_key, _) = identity("test-phone.pem");
    let clear = enc.decrypt(&phone_key).unwrap();
    assert_eq!(&clear.plaintext[..], data("SEP001122334455.cnf.xml").as_slice());
}

#[test]
fn encrypted_sample_re_encrypted_with_its_key_and_iv_and_re_signed_equals_itself() {
    let bytes = data("SEP001122334455.cnf.xml.enc.sgn");
    let mut enc = EncryptedConfig::parse(&bytes).unwrap();
    let key = ContentKey::from_bytes(std::array::from_fn(|i| u8::try_from(i).unwrap()));
    let iv = enc.iv().unwrap();
    enc.reencrypt(&key, &data("SEP001122334455.cnf.xml"), Some(iv)).unwrap();
    let (tkey, tcert) = identity("test-tftp.pem");
    enc.file_mut().sign(&tkey, &tcert).unwrap();
    assert_eq!(enc.file().to_bytes().unwrap(), bytes);
}

#[test]
fn the_wrong_private_key_is_reported_not_turned_into_garbage() {
    let enc = EncryptedConfig::parse(&data("SEP001122334455.cnf.xml.enc.sgn")).unwrap();
    let (wrong, _) = identity("test-tftp.pem");
    let err = enc.decrypt(&wrong).unwrap_err();
    assert!(matches!(err, Error::Decrypt(_)), "{err}");
    assert!(err.to_string().contains("wrong phone key"), "{err}");
}

#[test]
fn a_new_encrypted_config_round_trips_for_a_phone_certificate() {
    let (phone_key, phone) = identity("test-phone.pem");
    let (tkey, tcert) = identity("test-tftp.pem");
    for len in [0usize, 1, 15, 16, 17, 4000] {
        let plain: Vec<u8> = (0..len).map(|i| b'a' + u8::try_from(i % 26).unwrap()).collect();
        let (mut enc, _) = EncryptedConfig::encrypt(
            &plain,
            &phone,
            "SEP001122334455.cnf.xml.enc.sgn",
            SIGNED_AT,
            HashAlgorithm::Sha1,
        )
        .unwrap();
        enc.file_mut().sign(&tkey, &tcert).unwrap();
        let parsed = EncryptedConfig::parse(&enc.file().to_bytes().unwrap()).unwrap();
        parsed.file().verify_with(&tcert).unwrap();
        assert_eq!(
            parsed.padding().unwrap(),
            16 - len % 16,
            "`\\r` padding is 1..=16, a whole block when aligned"
        );
        assert_eq!(&parsed.decrypt(&phone_key).unwrap().plaintext[..], plain.as_slice());
    }
}

#[test]
fn companion_stub_points_the_phone_at_the_encrypted_file() {
    let (_, phone) = identity("test-phone.pem");
    let full = b"<device><loadInformation>SIP88xx.14-2-1-0001-14</loadInformation><ipAddressMode>0</ipAddressMode><secret>x</secret></device>";
    let stub = String::from_utf8(companion_stub(full, &phone).unwrap()).unwrap();
    assert!(stub.contains("<fullConfig>false</fullConfig>"));
    assert!(stub.contains("<loadInformation>SIP88xx.14-2-1-0001-14</loadInformation>"));
    assert!(stub.contains(&format!("<certHash>{}</certHash>", md5_hex(phone.der()))));
    assert!(stub.contains("<encrConfig>true</encrConfig>"));
    assert!(!stub.contains("secret"), "nothing but the pointer elements leaks into the clear stub");
    cnfkit_config::CnfDocument::parse(stub.as_bytes()).unwrap();
}

/// (file, derivation, password, salt hex, plaintext)
const PROFILE_VECTORS: [(&str, KeyDerivation, &str, &str, &[u8]); 6] = [
    (
        "tv1_md5.cfg",
        KeyDerivation::Md5,
        "SecretPhrase1234",
        "0102030405060708",
        b"<flat-profile><Admin_Passwd>secret</Admin_Passwd></flat-profile>\n",
    ),
    (
        "tv1_sha256.cfg",
        KeyDerivation::Sha256,
        "SecretPhrase1234",
        "0102030405060708",
        b"<flat-profile><Admin_Passwd>secret</Admin_Passwd></flat-profile>\n",
    ),
    ("tv2_md5.cfg", KeyDerivation::Md5, "key", "0000000000000000", b""),
    ("tv2_sha256.cfg", KeyDerivation::Sha256, "key", "0000000000000000", b""),
    ("tv3_md5.cfg", KeyDerivation::Md5, "Cisco$MAC", "a1b2c3d4e5f60718", b"0123456789abcdef"),
    ("tv3_sha256.cfg", KeyDerivation::Sha256, "Cisco$MAC", "a1b2c3d4e5f60718", b"0123456789abcdef"),
];

#[test]
fn the_six_profile_vectors_decrypt_with_the_right_derivation_and_re_encrypt_exactly() {
    for (file, md, pw, salt_hex, plain) in PROFILE_VECTORS {
        let bytes = data(file);
        let pw = Password::new(pw);
        let p = profile::decrypt(&bytes, &pw).unwrap();
        assert_eq!(p.derivation, md, "{file}");
        assert_eq!(&p.plaintext[..], plain, "{file}");
        assert_eq!(hex(&p.salt), salt_hex, "{file}");
        assert_eq!(profile::encrypt(plain, &pw, md, Some(p.salt)).unwrap(), bytes, "{file}");
    }
}

#[test]
fn a_wrong_profile_password_says_so() {
    let err =
        profile::decrypt(&data("tv1_md5.cfg"), &Password::new("SecretPhrase1235")).unwrap_err();
    assert!(err.to_string().contains("wrong password or digest"), "{err}");
    assert!(matches!(profile::decrypt(b"<xml/>", &Password::new("x")), Err(Error::WrongFormat(_))));
    let mut cut = data("tv1_md5.cfg");
    cut.truncate(cut.len() - 3);
    assert!(matches!(
        profile::decrypt(&cut, &Password::new("SecretPhrase1234")),
        Err(Error::WrongFormat(_))
    ));
}

#[test]
fn md5_and_cert_hash_match_known_values() {
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    let (_, phone) = identity("test-phone.pem");
    assert_eq!(phone.md5_hex(), md5_hex(phone.der()));
    assert_eq!(phone.md5_hex().len(), 32);
}

#[test]
fn keys_are_read_from_pkcs1_pkcs8_and_spki_pem_and_never_printed() {
    let (key, cert) = identity("test-tftp.pem");
    assert_eq!(key.bits(), 2048);
    assert_eq!(format!("{key:?}"), "PrivateKey(2048 bits)");
    let spki = cnfkit_repack::PublicKey::from_pem(
        &String::from_utf8(data("test-tftp.pubkey.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(Some(&spki), cert.public_key());
    assert!(key.matches(&spki));
    assert!(matches!(
        PrivateKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n"
        ),
        Err(Error::BadKey { .. })
    ));
    assert!(matches!(Certificate::from_pem("nothing here"), Err(Error::BadKey { .. })));
}
