//! The legacy SIP text format (docs/file-formats.md, SIP .cnf files): `name: value` lines,
//! quoted or bare values,
//! `name=value`, `#` and `;` comments, CRLF; lossless; device file over default file.

use cnfkit_config::{SipCnf, SipLayer, SipLayers};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn sip_default_reads_quoted_bare_equals_and_commented_values_5_1() {
    let bytes = data("SIPDefault.cnf");
    let cnf = SipCnf::parse(&bytes);
    assert_eq!(cnf.as_bytes(), &bytes[..]);
    assert_eq!(cnf.get("image_version").as_deref(), Some("P0S3-8-12-00"));
    assert_eq!(
        cnf.get("proxy1_port").as_deref(),
        Some("5060"),
        "proxy1_port:\"5060\" without a space"
    );
    assert_eq!(
        cnf.get("proxy2_address").as_deref(),
        Some("pbx2.lab.example"),
        "bare value before a ; comment"
    );
    assert_eq!(cnf.get("proxy2_port").as_deref(), Some("5060"), "name=value");
    assert_eq!(cnf.get("time_zone").as_deref(), Some("CET"));
    assert_eq!(cnf.get("outbound_proxy").as_deref(), Some(""));
    assert_eq!(
        cnf.get("IMAGE_VERSION").as_deref(),
        Some("P0S3-8-12-00"),
        "keys are case-insensitive"
    );
    assert_eq!(
        cnf.get("voip_control_port").as_deref(),
        Some("5060"),
        "last line without a final CRLF"
    );
    assert!(cnf.unparsed_lines().is_empty());
    let s = cnf.settings();
    assert_eq!(s.proxies.len(), 2);
    assert_eq!(
        (s.proxies[1].address.as_deref(), s.proxies[1].port),
        (Some("pbx2.lab.example"), Some(5060))
    );
    assert_eq!((s.proxy_register, s.sntp_server.as_deref()), (Some(true), Some("10.20.0.1")));
    assert_eq!(s.messages_uri.as_deref(), Some("*97"));
    assert!(s.lines.is_empty());
}

#[test]
fn device_file_overrides_default_file_5_1() {
    let default = SipCnf::parse(&data("SIPDefault.cnf"));
    let device = SipCnf::parse(&data("SIP00112233AABB.cnf"));
    let layers = SipLayers::new(&default, &device);
    assert_eq!(
        layers.get_with_source("proxy1_address"),
        Some(("pbx-b.lab.example".into(), SipLayer::Device))
    );
    assert_eq!(
        layers.get_with_source("image_version"),
        Some(("P0S3-8-12-00".into(), SipLayer::Default))
    );
    let s = layers.settings();
    assert_eq!(s.lines.len(), 1);
    let l = &s.lines[0];
    assert_eq!(
        (l.name.as_deref(), l.display_name.as_deref(), l.password.as_deref()),
        (Some("1001"), Some("Front desk"), Some("desk-pw"))
    );
    assert_eq!(
        s.proxies[0].port,
        Some(5060),
        "port from the default file, address from the device file"
    );
    let entries = layers.entries();
    assert_eq!(entries.first().map(|e| e.0.as_str()), Some("image_version"));
    assert_eq!(entries.iter().filter(|e| e.0 == "proxy1_address").count(), 1);
    assert!(entries.iter().any(|e| e.0 == "line1_name" && e.2 == SipLayer::Device));
}

#[test]
fn edits_keep_line_endings_comments_and_quoting_style() {
    let bytes = data("SIPDefault.cnf");
    let mut cnf = SipCnf::parse(&bytes);
    cnf.set("proxy1_port", "5070").unwrap();
    cnf.set("proxy2_port", "5071").unwrap();
    cnf.set("time_zone", "Central European").unwrap();
    cnf.set("phone_label", "Lobby").unwrap();
    let text = String::from_utf8(cnf.to_bytes()).unwrap();
    let original = String::from_utf8(bytes).unwrap();
    let expected = original
        .replace("proxy1_port:\"5060\"", "proxy1_port:\"5070\"")
        .replace("proxy2_port=5060", "proxy2_port=5071")
        .replace("time_zone: CET", "time_zone: \"Central European\"")
        + "\r\nphone_label: \"Lobby\"\r\n";
    assert_eq!(text, expected);
    assert_eq!(cnf.remove("phone_label"), 1);
    assert_eq!(cnf.get("phone_label"), None);
    assert!(cnf.set("bad key", "x").is_err());
    assert!(cnf.set("k", "a\"b").is_err());
}

#[test]
fn unparseable_lines_are_kept_and_reported() {
    let src =
        b"image_version: \"P0S3\"\nthis line has no separator\n: no key\nquote: \"unterminated\n";
    let cnf = SipCnf::parse(src);
    assert_eq!(cnf.as_bytes(), src);
    let bad: Vec<usize> = cnf.unparsed_lines().iter().map(|(n, _)| *n).collect();
    assert_eq!(bad, [2, 3, 4]);
    assert_eq!(cnf.entries().len(), 1);
}
