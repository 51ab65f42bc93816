use cnfkit_repack::profile::{self, Compression, KeyDerivation, Password};

/// `profile`: decrypting arbitrary bytes never panics; for a plaintext taken from the input,
/// encrypting with either key derivation and decrypting gives it back (when it is text or
/// gzip, the only plaintexts decryption accepts).
pub fn profile(data: &[u8]) {
    let password = Password::new(b"fuzz".to_vec());
    let _ = profile::decrypt(data, &password);
    let (&selector, plaintext) = data.split_first().unwrap_or((&0, &[]));
    let md = if selector & 1 == 0 { KeyDerivation::Md5 } else { KeyDerivation::Sha256 };
    let file = profile::encrypt(plaintext, &password, md, Some([selector; 8])).expect("encrypt");
    assert_eq!(file.len(), 16 + (plaintext.len() / 16 + 1) * 16, "Salted__ + salt + PKCS#7 blocks");
    let text = std::str::from_utf8(plaintext)
        .is_ok_and(|s| s.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n')));
    let gzip = plaintext.starts_with(&[0x1f, 0x8b]);
    match profile::decrypt(&file, &password) {
        Ok(p) => {
            assert_eq!(&p.plaintext[..], plaintext, "decrypt(encrypt(p)) == p");
            assert_eq!(p.compression == Compression::Gzip, gzip);
            // MD5 is tried first; a SHA-256 file only decrypts under MD5 by a 1-in-2^100 fluke.
            assert_eq!(p.derivation, md);
        }
        Err(e) => assert!(!text && !gzip, "a text or gzip plaintext must decrypt: {e}"),
    }
}
