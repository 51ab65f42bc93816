use cnfkit_repack::TrustList;

/// `tlv`: parsing a trust list never panics; a parsed list writes back byte for byte;
/// record accessors and self-verification never panic.
pub fn tlv(data: &[u8]) {
    let Ok(list) = TrustList::parse(data) else { return };
    assert_eq!(list.to_bytes().expect("a parsed list encodes"), data, "to_bytes(parse(x)) == x");
    for r in list.records() {
        let _ = (r.role(), r.subject(), r.issuer(), r.serial(), r.public_key(), r.certificate());
    }
    let _ = (list.signer_version(), list.signer_record(), list.verify());
}
