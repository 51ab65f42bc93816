//! The repack workflow (issue: "decrypt, edit, re-encrypt with the same cipher and key,
//! re-sign"): what goes in comes out in the same envelope, with only the edit changed.

use cnfkit_repack::profile::{self, Compression, KeyDerivation, Password};
use cnfkit_repack::{
    Certificate, EncryptedConfig, Error, Format, PrivateKey, Repack, Secrets, SignedFile,
    TrustList, enc_tag,
};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn identity(name: &str) -> (PrivateKey, Certificate) {
    let pem = String::from_utf8(data(name)).unwrap();
    (PrivateKey::from_pem(&pem).unwrap(), Certificate::from_pem(&pem).unwrap())
}

#[test]
fn an_encrypted_config_is_repacked_with_the_same_key_a_fresh_iv_and_a_new_signature() {
    let original = data("SEP001122334455.cnf.xml.enc.sgn");
    let (phone_key, _) = identity("test-phone.pem");
    let (tkey, tcert) = identity("test-tftp.pem");
    let mut job =
        Repack::open(&original, Secrets { phone_key: Some(&phone_key), password: None }).unwrap();
    assert_eq!(job.format(), Format::Encrypted);
    job.set("deviceProtocol", "SCCP").unwrap();
    job.set_timestamp(1_800_000_000);
    let out = job.finish(Some((&tkey, &tcert))).unwrap();

    let before = EncryptedConfig::parse(&original).unwrap();
    let after = EncryptedConfig::parse(&out).unwrap();
    after.file().verify_with(&tcert).unwrap();
    assert_eq!(
        after.wrapped_key().unwrap(),
        before.wrapped_key().unwrap(),
        "same AES key, wrapped blob kept verbatim"
    );
    for t in [
        enc_tag::UNKNOWN_1,
        enc_tag::UNKNOWN_2,
        enc_tag::KEY_SIZE,
        enc_tag::KEY_ALGORITHM,
        enc_tag::HASH_ALGORITHM,
    ] {
        assert_eq!(after.file().find(t), before.file().find(t), "tag {t} copied");
    }
    assert_ne!(after.iv().unwrap(), before.iv().unwrap(), "fresh IV");
    assert_eq!(after.file().filename(), before.file().filename());
    assert_eq!(after.file().timestamp(), Some(1_800_000_000));
    let plain = after.decrypt(&phone_key).unwrap().plaintext;
    let expected =
        String::from_utf8(data("SEP001122334455.cnf.xml")).unwrap().replace(">SIP<", ">SCCP<");
    assert_eq!(String::from_utf8(plain.to_vec()).unwrap(), expected, "only the edit changed");
}

#[test]
fn an_encrypted_config_cannot_be_opened_without_the_phone_key() {
    let err =
        Repack::open(&data("SEP001122334455.cnf.xml.enc.sgn"), Secrets::default()).unwrap_err();
    assert!(err.to_string().contains("phone's private key"), "{err}");
}

#[test]
fn a_signed_config_keeps_its_digest_and_filename_and_changes_only_the_edited_text() {
    let original = data("SEP001122334455.cnf.xml.sha512.sgn");
    let (tkey, tcert) = identity("test-tftp.pem");
    let mut job = Repack::open(&original, Secrets::default()).unwrap();
    job.set("fullConfig", "false").unwrap();
    let out = job.finish(Some((&tkey, &tcert))).unwrap();
    let before = SignedFile::parse(&original).unwrap();
    let after = SignedFile::parse(&out).unwrap();
    after.verify_with(&tcert).unwrap();
    assert_eq!(after.digest_code(), before.digest_code());
    assert_eq!(after.filename(), before.filename());
    assert_eq!(after.header_length(), before.header_length());
    let expected =
        String::from_utf8(before.payload().to_vec()).unwrap().replace(">true<", ">false<");
    assert_eq!(after.payload(), expected.as_bytes());
}

#[test]
fn a_signed_file_needs_a_signer_to_be_finished() {
    let job = Repack::open(&data("SEP001122334455.cnf.xml.sgn"), Secrets::default()).unwrap();
    assert!(matches!(job.finish(None), Err(Error::WrongFormat(_))));
}

#[test]
fn signing_with_a_certificate_the_phone_does_not_trust_is_refused_with_the_reason() {
    let job = Repack::open(&data("SEP001122334455.cnf.xml.sgn"), Secrets::default()).unwrap();
    let (_, tftp) = identity("test-tftp.pem");
    let (_, sast) = identity("test-sast.pem");
    let (_, phone) = identity("test-phone.pem");
    let itl = TrustList::parse(&data("ITLFile.tlv")).unwrap();
    job.check_signer(&tftp, Some(&itl)).unwrap();
    job.check_signer(&tftp, None).unwrap();
    // §2.2 stale trust: the phone's ITL knows TEST-TFTP as config signer, not TEST-SAST.
    let err = job.check_signer(&sast, Some(&itl)).unwrap_err();
    assert!(matches!(err, Error::Untrusted(_)));
    assert!(err.to_string().contains("will reject"), "{err}");
    // Without a trust list: a different signer than the original is flagged.
    let err = job.check_signer(&phone, None).unwrap_err();
    assert!(err.to_string().contains("signed by CN=TEST-TFTP"), "{err}");
}

#[test]
fn a_profile_is_re_encrypted_with_the_same_password_and_key_derivation() {
    for (file, md) in
        [("tv1_md5.cfg", KeyDerivation::Md5), ("tv1_sha256.cfg", KeyDerivation::Sha256)]
    {
        let pw = Password::new("SecretPhrase1234");
        let mut job =
            Repack::open(&data(file), Secrets { phone_key: None, password: Some(&pw) }).unwrap();
        assert_eq!(job.format(), Format::Profile);
        job.set("Admin_Passwd", "n3w&secret").unwrap();
        let out = job.finish(None).unwrap();
        let p = profile::decrypt(&out, &pw).unwrap();
        assert_eq!(p.derivation, md, "{file}");
        assert_eq!(
            &p.plaintext[..],
            b"<flat-profile><Admin_Passwd>n3w&amp;secret</Admin_Passwd></flat-profile>\n"
        );
        assert_ne!(&out[8..16], &data(file)[8..16], "{file}: fresh salt");
    }
}

#[test]
fn a_gzip_profile_is_decrypted_but_not_edited_in_place() {
    let pw = Password::new("pw");
    let gz = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let file = profile::encrypt(&gz, &pw, KeyDerivation::Md5, None).unwrap();
    let p = profile::decrypt(&file, &pw).unwrap();
    assert_eq!(p.compression, Compression::Gzip);
    let mut job = Repack::open(&file, Secrets { phone_key: None, password: Some(&pw) }).unwrap();
    let err = job.set("a", "b").unwrap_err();
    assert!(err.to_string().contains("gzip"), "{err}");
}

#[test]
fn formats_are_told_from_bytes_and_trust_lists_are_not_configs() {
    assert!(matches!(
        Repack::open(&data("ITLFile.tlv"), Secrets::default()),
        Err(Error::WrongFormat(_))
    ));
    let mut plain = Repack::open(b"<device>\n  <a>1</a>\n</device>\n", Secrets::default()).unwrap();
    plain.set("a", "2").unwrap();
    assert_eq!(plain.finish(None).unwrap(), b"<device>\n  <a>2</a>\n</device>\n");
    let err = Repack::open(b"<device><a>1</b></device>", Secrets::default())
        .unwrap()
        .set("a", "2")
        .unwrap_err();
    assert!(matches!(err, Error::Edit(_)), "{err}");
}
