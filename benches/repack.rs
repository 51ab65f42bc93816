//! The repack hot paths: AES-128-CBC (encrypted configs) and AES-256-CBC (profiles) in MB/s,
//! MD5 in MB/s, RSA-2048 signing and key unwrapping, and a whole repack of a 16 KiB config
//! (open: verify and decrypt; one edit; re-encrypt with the same key; sign; MD5 of the result).
//!
//! `cargo bench --bench repack`; `python3 benches/crypto-vs-openssl.py` runs it next to
//! `openssl speed` and prints the ratios.

use std::fmt::Write as _;
use std::hint::black_box;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use cnfkit_repack::profile::{self, KeyDerivation, Password};
use cnfkit_repack::{
    Certificate, ContentKey, EncryptedConfig, HashAlgorithm, HeaderKind, PrivateKey, Repack,
    Secrets, SignedFile, md5_hex,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MIB: usize = 1 << 20;

fn identity(name: &str) -> (PrivateKey, Certificate) {
    let path = format!("{}/crates/repack/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(path).expect("test key");
    (PrivateKey::from_pem(&pem).expect("key"), Certificate::from_pem(&pem).expect("cert"))
}

/// A ~16 KiB SEP config: call manager group, vendorConfig, line settings, 90 speed dials.
fn sep_config() -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device xsi:type=\"axl:XIPPhone\" ctiid=\"94\">\n",
    );
    s.push_str("  <fullConfig>true</fullConfig>\n  <deviceProtocol>SIP</deviceProtocol>\n  <loadInformation>SIP88xx.14-1-1-0001-136</loadInformation>\n");
    s.push_str("  <devicePool>\n    <callManagerGroup>\n      <members>\n");
    for (p, host) in [(0, "10.20.0.10"), (1, "10.20.0.11")] {
        writeln!(s, "        <member priority=\"{p}\"><callManager><ports><sipPort>5060</sipPort></ports><processNodeName>{host}</processNodeName></callManager></member>").unwrap();
    }
    s.push_str("      </members>\n    </callManagerGroup>\n  </devicePool>\n  <vendorConfig>\n");
    for i in 0..60 {
        writeln!(s, "    <setting{i}>value number {i} with some text</setting{i}>").unwrap();
    }
    s.push_str("  </vendorConfig>\n  <sipProfile>\n    <sipLines>\n");
    for i in 0..90 {
        writeln!(s, "      <line button=\"{i}\"><featureID>21</featureID><speedDialNumber>+4930123456{i:02}</speedDialNumber><label>Speed dial number {i}</label></line>").unwrap();
    }
    s.push_str("    </sipLines>\n  </sipProfile>\n</device>\n");
    s.into_bytes()
}

fn ciphers(c: &mut Criterion) {
    let mut data = vec![0x5au8; MIB];
    let mut group = c.benchmark_group("cipher");
    group.throughput(Throughput::Bytes(MIB as u64));
    // The primitives cnfkit-repack runs, without the crate's copies and digests around them.
    let (k16, k32, iv) = ([1u8; 16], [2u8; 32], [3u8; 16]);
    group.bench_function("aes128cbc_encrypt", |b| {
        b.iter(|| {
            cbc::Encryptor::<aes::Aes128>::new(&k16.into(), &iv.into())
                .encrypt_padded::<NoPadding>(black_box(&mut data), MIB)
                .map(<[u8]>::len)
        });
    });
    group.bench_function("aes128cbc_decrypt", |b| {
        b.iter(|| {
            cbc::Decryptor::<aes::Aes128>::new(&k16.into(), &iv.into())
                .decrypt_padded::<NoPadding>(black_box(&mut data))
                .map(<[u8]>::len)
        });
    });
    group.bench_function("aes256cbc_encrypt", |b| {
        b.iter(|| {
            cbc::Encryptor::<aes::Aes256>::new(&k32.into(), &iv.into())
                .encrypt_padded::<NoPadding>(black_box(&mut data), MIB)
                .map(<[u8]>::len)
        });
    });
    group.bench_function("aes256cbc_decrypt", |b| {
        b.iter(|| {
            cbc::Decryptor::<aes::Aes256>::new(&k32.into(), &iv.into())
                .decrypt_padded::<NoPadding>(black_box(&mut data))
                .map(<[u8]>::len)
        });
    });
    group.bench_function("md5", |b| b.iter(|| md5_hex(black_box(&data))));
    group.finish();

    // The same work through the crate's API: copies, padding, plaintext digest or shape check.
    let text: Vec<u8> =
        b"<vendorConfig><x>1</x></vendorConfig>\n".iter().copied().cycle().take(MIB).collect();
    let (_, phone) = identity("test-phone.pem");
    let (mut enc, key) =
        EncryptedConfig::encrypt(&text, &phone, "SEP.cnf.xml.enc.sgn", 0, HashAlgorithm::Sha1)
            .unwrap();
    let pw = Password::new("SecretPhrase1234");
    let profile_file = profile::encrypt(&text, &pw, KeyDerivation::Md5, None).unwrap();
    let mut group = c.benchmark_group("api");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.bench_function("enc_sgn_reencrypt_sha1", |b| {
        b.iter(|| enc.reencrypt(&key, black_box(&text), None).unwrap());
    });
    group.bench_function("enc_sgn_decrypt_sha1", |b| {
        b.iter(|| enc.decrypt_with(&key).unwrap().len());
    });
    group.bench_function("profile_encrypt", |b| {
        b.iter(|| profile::encrypt(black_box(&text), &pw, KeyDerivation::Md5, None).unwrap());
    });
    group.bench_function("profile_decrypt", |b| {
        b.iter(|| profile::decrypt(black_box(&profile_file), &pw).unwrap().plaintext.len());
    });
    group.finish();
    let _ = ContentKey::from_bytes([0; 16]);
}

fn repack(c: &mut Criterion) {
    let (tftp_key, tftp) = identity("test-tftp.pem");
    let (phone_key, phone) = identity("test-phone.pem");
    let config = sep_config();
    assert!((15 * 1024..18 * 1024).contains(&config.len()), "config is {} bytes", config.len());
    let (mut enc, _) = EncryptedConfig::encrypt(
        &config,
        &phone,
        "SEP001122334455.cnf.xml.enc.sgn",
        0,
        HashAlgorithm::Sha1,
    )
    .unwrap();
    enc.file_mut().sign(&tftp_key, &tftp).unwrap();
    let served_enc = enc.file().to_bytes().unwrap();
    let mut signed = SignedFile::new(
        HeaderKind::Signed,
        "SEP001122334455.cnf.xml.sgn",
        0,
        HashAlgorithm::Sha1,
        config.clone(),
    );
    signed.sign(&tftp_key, &tftp).unwrap();
    let served_sgn = signed.to_bytes().unwrap();
    let message = signed.signed_message().unwrap();

    let mut group = c.benchmark_group("rsa2048");
    group.bench_function("sign_sha1_16KiB", |b| {
        b.iter(|| tftp_key.sign(HashAlgorithm::Sha1, black_box(&message)).unwrap());
    });
    group.bench_function("verify_sha1_16KiB", |b| {
        b.iter(|| signed.verify_with(black_box(&tftp)).unwrap());
    });
    group.bench_function("unwrap_aes_key", |b| {
        b.iter(|| {
            EncryptedConfig::parse(black_box(&served_enc))
                .unwrap()
                .decrypt(&phone_key)
                .unwrap()
                .plaintext
                .len()
        });
    });
    group.finish();

    // The key size newer loads are signed with, and SHA-1 next to SHA-512.
    let (big_key, _) = identity("test-tftp-4096.pem");
    let mut group = c.benchmark_group("rsa4096");
    group.bench_function("sign_sha512_16KiB", |b| {
        b.iter(|| big_key.sign(HashAlgorithm::Sha512, black_box(&message)).unwrap());
    });
    group.bench_function("sign_sha1_16KiB", |b| {
        b.iter(|| big_key.sign(HashAlgorithm::Sha1, black_box(&message)).unwrap());
    });
    group.finish();

    let mut group = c.benchmark_group("repack");
    group.throughput(Throughput::Bytes(config.len() as u64));
    group.bench_function("enc_sgn_16KiB", |b| {
        b.iter(|| {
            let parsed = SignedFile::parse(black_box(&served_enc)).unwrap();
            parsed.verify_with(&tftp).unwrap();
            let mut job =
                Repack::open(&served_enc, Secrets { phone_key: Some(&phone_key), password: None })
                    .unwrap();
            job.set("loadInformation", "SIP88xx.14-2-1-0001-14").unwrap();
            job.set_timestamp(1);
            let out = job.finish(Some((&tftp_key, &tftp))).unwrap();
            md5_hex(&out)
        });
    });
    group.bench_function("sgn_16KiB", |b| {
        b.iter(|| {
            let parsed = SignedFile::parse(black_box(&served_sgn)).unwrap();
            parsed.verify_with(&tftp).unwrap();
            let mut job = Repack::open(&served_sgn, Secrets::default()).unwrap();
            job.set("loadInformation", "SIP88xx.14-2-1-0001-14").unwrap();
            job.set_timestamp(1);
            let out = job.finish(Some((&tftp_key, &tftp))).unwrap();
            md5_hex(&out)
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = ciphers, repack
}
criterion_main!(benches);
