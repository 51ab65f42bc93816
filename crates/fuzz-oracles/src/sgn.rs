use cnfkit_repack::{SignedFile, detect};

/// `sgn`: parsing a signed header never panics; a parsed file writes back byte for byte;
/// the signed message is the file minus the signature element; accessors never panic.
pub fn sgn(data: &[u8]) {
    let _ = detect(data);
    let Ok(file) = SignedFile::parse(data) else { return };
    assert_eq!(file.to_bytes().expect("a parsed file encodes"), data, "to_bytes(parse(x)) == x");
    let message = file.signed_message().expect("signed message");
    let cut = file.signature().map_or(0, |s| s.len() + 3);
    assert_eq!(
        message.len() + cut,
        data.len(),
        "the signed message omits only the signature element"
    );
    assert_eq!(file.payload(), &data[file.header_length()..]);
    let _ = (
        file.signer(),
        file.hash_algorithm(),
        file.modulus_index(),
        file.filename(),
        file.timestamp(),
        file.kind(),
    );
}
