use cnfkit_config::SipCnf;

/// `sip_cnf`: parsing never panics and is lossless; typed settings read without panicking; a
/// set value reads back after re-parsing, and a removed key is gone.
pub fn sip_cnf(data: &[u8]) {
    let cnf = SipCnf::parse(data);
    assert_eq!(cnf.as_bytes(), data, "to_bytes(parse(x)) == x");
    let _ = cnf.settings();
    let _ = cnf.unparsed_lines();
    let entries = cnf.entries();

    let mut edited = cnf.clone();
    edited.set("cnfkit_fuzz", "v a;l#ue").expect("set a new key");
    if let Some((key, _)) = entries.first() {
        edited.set(key, "x y").expect("set an existing key");
    }
    let again = SipCnf::parse(edited.as_bytes());
    assert_eq!(again.get("cnfkit_fuzz").as_deref(), Some("v a;l#ue"));
    if let Some((key, _)) = entries.first() {
        assert_eq!(again.get(key).as_deref(), Some("x y"), "key {key:?}");
        let mut removed = again.clone();
        assert!(removed.remove(key) >= 1);
        assert_eq!(removed.get(key), None);
    }
}
