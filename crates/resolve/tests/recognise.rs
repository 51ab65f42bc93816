//! File-name recognition (docs/boot-sequence.md: which file is which, MAC letter case).

use cnfkit_resolve::{FileKind, LoadsManifest, Mac, Protection, Recognised};

fn kind(name: &str) -> FileKind {
    Recognised::parse(name).kind
}

#[test]
fn per_device_names_carry_the_mac_in_any_case_section_2_4() {
    let mac: Mac = "001122AABBCC".parse().unwrap();
    for name in [
        "SEP001122AABBCC.cnf.xml",
        "SEP001122aabbcc.cnf.xml",
        "sep001122AaBbCc.CNF.XML",
        "/SEP001122AABBCC.cnf.xml",
    ] {
        let r = Recognised::parse(name);
        assert_eq!(r.kind, FileKind::DeviceConfig(Protection::Plain), "{name}");
        assert_eq!(r.mac, Some(mac), "{name}");
    }
    assert_eq!(kind("SEP001122AABBCC.cnf.xml.sgn"), FileKind::DeviceConfig(Protection::Signed));
    assert_eq!(
        kind("SEP001122AABBCC.cnf.xml.enc.sgn"),
        FileKind::DeviceConfig(Protection::EncryptedSigned)
    );
    assert_eq!(kind("CTLSEP001122AABBCC.tlv"), FileKind::DeviceCtl);
    assert_eq!(kind("ITLSEPB000B4BA0AEE.tlv"), FileKind::DeviceItl);
    assert_eq!(kind("SIP001122AABBCC.cnf"), FileKind::SipDeviceConfig);
}

#[test]
fn malformed_per_device_names_are_not_device_files() {
    assert_eq!(kind("SEP001122AABBC.cnf.xml"), FileKind::Other, "11 digits");
    assert_eq!(kind("SEP001122AABBCCD.cnf.xml"), FileKind::Other, "13 digits");
    assert_eq!(kind("SEP00112GAABBCC.cnf.xml"), FileKind::Other, "not hex");
    assert_eq!(kind("SEP001122AABBCC.xml"), FileKind::Other, "wrong suffix");
    assert_eq!(kind("SEP001122AABBCC.cnf"), FileKind::Other, "SEP with the SIP suffix");
    assert_eq!(Recognised::parse("SEP0011.cnf.xml").mac, None);
}

#[test]
fn fixed_names_section_1() {
    assert_eq!(kind("XMLDefault.cnf.xml"), FileKind::XmlDefault(Protection::Plain));
    assert_eq!(kind("xmldefault.cnf.xml.sgn"), FileKind::XmlDefault(Protection::Signed));
    assert_eq!(kind("SIPDefault.cnf"), FileKind::SipDefault);
    assert_eq!(kind("SEDDefault.cnf"), FileKind::SedDefault);
    assert_eq!(kind("ITLFile.tlv"), FileKind::ItlFile);
    assert_eq!(kind("CTLFile.tlv"), FileKind::CtlFile);
    assert_eq!(kind("OS79XX.TXT"), FileKind::Os79xx);
    assert_eq!(kind("term61.default.loads"), FileKind::TermDefaultLoads { family: 61 });
    assert_eq!(kind("term06.default.loads"), FileKind::TermDefaultLoads { family: 6 });
    assert_eq!(kind("term6.default.loads"), FileKind::Loads, "one digit is just a .loads");
    assert_eq!(kind("SCCP42.9-4-2SR3-1S.loads"), FileKind::Loads);
    assert_eq!(kind("jar41sccp.9-4-2ES26.sbn"), FileKind::FirmwareImage);
    assert_eq!(kind("P0030801SR02.sb2"), FileKind::FirmwareImage);
    assert_eq!(kind("English_United_States/mk-sip.jar"), FileKind::Other);
}

#[test]
fn trust_list_and_own_config_misses_are_normal_but_defaults_and_loads_are_not() {
    assert!(kind("CTLSEP001122AABBCC.tlv").miss_is_normal());
    assert!(kind("ITLFile.tlv").miss_is_normal());
    assert!(kind("SEP001122AABBCC.cnf.xml").miss_is_normal(), "the phone falls back to XMLDefault");
    assert!(!kind("XMLDefault.cnf.xml").miss_is_normal());
    assert!(!kind("term42.default.loads").miss_is_normal(), "a factory-reset phone loops on it");
    assert!(!kind("SCCP42.9-4-2SR3-1S.loads").miss_is_normal());
}

#[test]
fn mac_text_forms() {
    let mac: Mac = "00:11:22:aa:bb:cc".parse().unwrap();
    assert_eq!(mac.to_string(), "001122AABBCC");
    assert_eq!("0011.22aa.bbcc".parse::<Mac>().unwrap(), mac);
    assert_eq!("SEP001122AABBCC".parse::<Mac>().unwrap(), mac);
    assert!("00:11:22:aa:bb".parse::<Mac>().is_err());
    assert!("zz1122aabbcc".parse::<Mac>().is_err());
}

/// A signed header as `.loads` files carry it: tag 1 (version 1.0), tag 2 (header length), then
/// opaque TLVs up to the header length.
fn signed(text: &[u8]) -> Vec<u8> {
    let header_len: u16 = 24;
    let mut bytes = vec![0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x00, 0x02];
    bytes.extend(header_len.to_be_bytes());
    bytes.resize(usize::from(header_len), 0x0d);
    bytes.extend_from_slice(text);
    bytes
}

#[test]
fn loads_text_form_after_a_signed_header_section_4_4() {
    let manifest = LoadsManifest::parse(&signed(
        b"# 7941 SCCP\r\njar41sccp.9-4-2ES26.sbn\r\ncnu41.9-4-2ES26.sbn\r\napps41.9-4-2ES26.sbn \r\n\r\ndsp41.9-4-2ES26.sbn\r\ncvm41sccp.9-4-2ES26.sbn\r\n",
    ))
    .unwrap();
    assert_eq!(manifest.header_len, 24);
    let names: Vec<&str> = manifest.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "jar41sccp.9-4-2ES26.sbn",
            "cnu41.9-4-2ES26.sbn",
            "apps41.9-4-2ES26.sbn",
            "dsp41.9-4-2ES26.sbn",
            "cvm41sccp.9-4-2ES26.sbn"
        ]
    );
}

#[test]
fn loads_ini_form_of_78xx_88xx_section_4_4() {
    let manifest = LoadsManifest::parse(
        b"[CISCO-ID]\nversion=sip78xx.11-0-1-11\nhwcompat=0x00000003\n[PLATFORM_1]\nsboot=sboot78xx.11-0-1-11.sbn size=370348\nkern=kern78xx.11-0-1-11.sbn size=2887680\nrootfs=rootfs78xx.11-0-1-11.sbn\n",
    )
    .unwrap();
    assert_eq!(manifest.header_len, 0);
    assert_eq!(manifest.images.len(), 3);
    assert_eq!(manifest.images[0].name, "sboot78xx.11-0-1-11.sbn");
    assert_eq!(manifest.images[0].size, Some(370_348));
    assert_eq!(manifest.images[2].size, None);
    assert_eq!(manifest.images[1].section.as_deref(), Some("PLATFORM_1"));
    assert_eq!(manifest.metadata[0], ("version".to_owned(), "sip78xx.11-0-1-11".to_owned()));
    let missing: Vec<_> =
        manifest.missing_images(|name| name.starts_with("sboot")).map(|i| &i.name).collect();
    assert_eq!(missing, ["kern78xx.11-0-1-11.sbn", "rootfs78xx.11-0-1-11.sbn"]);
}

/// A 78xx manifest as Cisco ships it: not the signed header of the 79xx files but a binary one
/// of its own (CD 34 12 AB, then the text's offset, little-endian: 0x150 in sip78xx.11-0-1-11).
#[test]
fn loads_ini_form_after_the_binary_header_of_78xx_manifests() {
    let text =
        b"# (C) 2013 Cisco Systems\n[PLATFORM_1]\nkern=kern78xx.11-0-1-11.sbn size=3089488\n";
    let mut bytes = vec![0xcd, 0x34, 0x12, 0xab, 0x50, 0x01, 0x00, 0x00];
    bytes.extend(u32::try_from(text.len()).unwrap().to_le_bytes());
    bytes.resize(0x150, 0);
    bytes.extend_from_slice(text);
    let manifest = LoadsManifest::parse(&bytes).unwrap();
    assert_eq!(manifest.header_len, 0x150);
    assert_eq!(manifest.images[0].name, "kern78xx.11-0-1-11.sbn");
    assert_eq!(manifest.images[0].size, Some(3_089_488));
    bytes.truncate(0x100);
    assert!(LoadsManifest::parse(&bytes).is_err(), "a header longer than the file");
}

#[test]
fn a_truncated_signed_header_is_an_error_not_a_panic() {
    let mut bytes = signed(b"x.sbn\n");
    bytes.truncate(12);
    assert!(LoadsManifest::parse(&bytes).is_err());
}
