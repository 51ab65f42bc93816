use cnfkit_repack::{ContentKey, EncryptedConfig};

/// `enc_sgn`: parsing an encrypted config never panics and is lossless; decrypting with any
/// key fails cleanly or succeeds; when the header has the fields re-encryption needs,
/// re-encrypting a plaintext and decrypting it gives the plaintext back.
pub fn enc_sgn(data: &[u8]) {
    let Ok(mut enc) = EncryptedConfig::parse(data) else { return };
    assert_eq!(
        enc.file().to_bytes().expect("a parsed file encodes"),
        data,
        "to_bytes(parse(x)) == x"
    );
    let _ = (enc.iv(), enc.padding(), enc.wrapped_key(), enc.plaintext_digest());
    let key = ContentKey::from_bytes([7; 16]);
    let _ = enc.decrypt_with(&key);
    let plaintext = &data[..data.len().min(100)];
    if enc.reencrypt(&key, plaintext, Some([9; 16])).is_ok() {
        match enc.decrypt_with(&key) {
            Ok(back) => assert_eq!(&back[..], plaintext, "decrypt(reencrypt(p)) == p"),
            // An unknown digest code is reported, not a panic.
            Err(cnfkit_repack::Error::UnsupportedDigest(_)) => {}
            Err(e) => panic!("re-encrypted file does not decrypt: {e}"),
        }
    }
}
