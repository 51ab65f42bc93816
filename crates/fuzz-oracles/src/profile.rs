use cnfkit_repack::profile::{self, KeyDerivation, Password};

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
    let plausible = profile::plaintext_kind(plaintext);
    match profile::decrypt(&file, &password) {
        Ok(p) if p.derivation == md => {
            assert_eq!(&p.plaintext[..], plaintext, "decrypt(encrypt(p)) == p");
            assert_eq!(Some(p.compression), plausible);
        }
        Ok(p) => {
            // MD5 is tried first, and the format has no MAC: a SHA-256 file can also decrypt
            // under MD5 to valid padding and plausible text (about 1 in 10^9 for the
            // shortest files). That must still be a true decryption: re-encrypting its
            // result under MD5 with the same salt gives the file back.
            let again = profile::encrypt(&p.plaintext, &password, p.derivation, Some(p.salt))
                .expect("encrypt");
            assert_eq!(again, file, "an MD5 reading of a SHA-256 file is a true decryption");
        }
        Err(e) => assert!(plausible.is_none(), "a text or gzip plaintext must decrypt: {e}"),
    }
}
