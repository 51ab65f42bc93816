//! `openssl` is the referee (docs/file-formats.md): what we sign, encrypt, wrap and hash is checked by
//! the OpenSSL command line, and what OpenSSL encrypts we decrypt. Skips with a message
//! when `openssl` is missing, except under `CI=true`, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use cnfkit_repack::profile::{self, KeyDerivation, Password};
use cnfkit_repack::{
    Certificate, EncryptedConfig, HashAlgorithm, HeaderKind, PrivateKey, SignedFile, md5_hex,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn identity(name: &str) -> (PrivateKey, Certificate) {
    let pem = std::fs::read_to_string(data(name)).unwrap();
    (PrivateKey::from_pem(&pem).unwrap(), Certificate::from_pem(&pem).unwrap())
}

fn openssl_present() -> bool {
    if Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "openssl is missing under CI=true: run peers/install.sh"
    );
    eprintln!("SKIP: openssl not found (install it, or run peers/install.sh)");
    false
}

/// A fresh directory of its own.
fn scratch(name: &str) -> Scratch {
    let d =
        std::env::temp_dir().join(format!("cnfkit-repack-openssl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// A scratch path, its directory removed when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn openssl_dgst_verifies_our_signatures_over_the_signed_message() {
    if !openssl_present() {
        return;
    }
    let dir = scratch("dgst");
    let (key, cert) = identity("test-tftp.pem");
    for alg in [HashAlgorithm::Sha1, HashAlgorithm::Sha512] {
        let payload =
            format!("<device><note>signed with {}</note></device>\n", alg.name()).into_bytes();
        let mut f = SignedFile::new(
            HeaderKind::Signed,
            "SEPAABBCCDDEEFF.cnf.xml.sgn",
            1_800_000_000,
            alg,
            payload,
        );
        f.sign(&key, &cert).unwrap();
        let msg = dir.join(format!("{}.msg", alg.name()));
        let sig = dir.join(format!("{}.sig", alg.name()));
        std::fs::write(&msg, f.signed_message().unwrap()).unwrap();
        std::fs::write(&sig, f.signature().unwrap()).unwrap();
        let out = openssl(&[
            "dgst",
            &format!("-{}", alg.name()),
            "-verify",
            data("test-tftp.pubkey.pem").to_str().unwrap(),
            "-signature",
            sig.to_str().unwrap(),
            msg.to_str().unwrap(),
        ]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
    }
}

#[test]
fn openssl_enc_decrypts_our_profiles_and_we_decrypt_its_own() {
    if !openssl_present() {
        return;
    }
    let dir = scratch("enc");
    let plain = b"<flat-profile>\n  <Proxy_1_>sip.example.net</Proxy_1_>\n</flat-profile>\n";
    let pw = "Secret Phrase 1234";
    for md in [KeyDerivation::Md5, KeyDerivation::Sha256] {
        // Ours -> openssl.
        let ours = dir.join(format!("ours-{}.cfg", md.name()));
        std::fs::write(&ours, profile::encrypt(plain, &Password::new(pw), md, None).unwrap())
            .unwrap();
        let out = openssl(&[
            "enc",
            "-d",
            "-aes-256-cbc",
            "-md",
            md.name(),
            "-pass",
            &format!("pass:{pw}"),
            "-in",
            ours.to_str().unwrap(),
        ]);
        assert_eq!(out.stdout, plain);
        // openssl (random salt, writes Salted__) -> ours.
        let src = dir.join("plain.xml");
        std::fs::write(&src, plain).unwrap();
        let theirs = dir.join(format!("theirs-{}.cfg", md.name()));
        openssl(&[
            "enc",
            "-e",
            "-aes-256-cbc",
            "-md",
            md.name(),
            "-pass",
            &format!("pass:{pw}"),
            "-in",
            src.to_str().unwrap(),
            "-out",
            theirs.to_str().unwrap(),
        ]);
        let p = profile::decrypt(&std::fs::read(&theirs).unwrap(), &Password::new(pw)).unwrap();
        assert_eq!(&p.plaintext[..], plain);
        assert_eq!(p.derivation, md);
    }
}

#[test]
fn openssl_unwraps_our_aes_key_and_decrypts_our_encrypted_config() {
    if !openssl_present() {
        return;
    }
    let dir = scratch("pkeyutl");
    let (_, phone) = identity("test-phone.pem");
    let plain =
        b"<device><fullConfig>true</fullConfig><sshPassword>hunter2</sshPassword></device>\n";
    let (enc, _) = EncryptedConfig::encrypt(
        plain,
        &phone,
        "SEP001122334455.cnf.xml.enc.sgn",
        1_800_000_000,
        HashAlgorithm::Sha1,
    )
    .unwrap();
    let wrapped = dir.join("key.bin");
    std::fs::write(&wrapped, enc.wrapped_key().unwrap()).unwrap();
    let out = openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        data("test-phone.pem").to_str().unwrap(),
        "-pkeyopt",
        "rsa_padding_mode:pkcs1",
        "-in",
        wrapped.to_str().unwrap(),
    ]);
    assert_eq!(out.stdout.len(), 16, "the wrapped key is an AES-128 key");
    let ct = dir.join("ct.bin");
    std::fs::write(&ct, enc.file().payload()).unwrap();
    let out = openssl(&[
        "enc",
        "-d",
        "-aes-128-cbc",
        "-nopad",
        "-K",
        &cnfkit_repack::hex(&out.stdout),
        "-iv",
        &cnfkit_repack::hex(&enc.iv().unwrap()),
        "-in",
        ct.to_str().unwrap(),
    ]);
    let pad = enc.padding().unwrap();
    assert_eq!(&out.stdout[..out.stdout.len() - pad], plain);
    assert!(
        out.stdout[out.stdout.len() - pad..].iter().all(|&b| b == b'\r'),
        "padding is CR bytes, not PKCS#7"
    );
}

#[test]
fn openssl_md5_agrees_with_our_sums_and_cert_hash() {
    if !openssl_present() {
        return;
    }
    let dir = scratch("md5");
    let file = data("SEP001122334455.cnf.xml.enc.sgn");
    let out = openssl(&["md5", "-r", file.to_str().unwrap()]);
    let theirs = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned();
    assert_eq!(md5_hex(&std::fs::read(&file).unwrap()), theirs);
    let der = dir.join("phone.der");
    openssl(&[
        "x509",
        "-in",
        data("test-phone.pem").to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    let out = openssl(&["md5", "-r", der.to_str().unwrap()]);
    let (_, phone) = identity("test-phone.pem");
    assert_eq!(
        phone.md5_hex(),
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap()
    );
}
