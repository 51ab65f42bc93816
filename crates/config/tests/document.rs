//! The lossless document model: what real files throw at it (docs/file-formats.md, quirks of
//! real files), entity and
//! nesting attacks, encodings, and edits that leave everything else alone.

use cnfkit_config::{CnfDocument, Encoding, EncodingSource, Error, ParseOptions, RepairKind};

fn round_trip(src: &[u8]) -> CnfDocument {
    let doc = CnfDocument::parse(src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc.as_bytes(), src);
    doc
}

#[test]
fn cnf_quirks_5_all_parse_and_round_trip() {
    // No declaration, comment before the root, CRLF, TAB between name and attribute, two
    // spaces before undeclared xsi: attributes, self-closing and empty elements, text with a
    // leading newline, trailing spaces after tags, no final newline.
    let src = b"<!-- generated -->\r\n<device  xsi:type=\"axl:XIPPhone\" ctiid=\"548\" uuid=\"{7fe8bd6e-0000}\">  \r\n\t<devicePool uuid=\"{1b1b}\">\r\n\t\t<callManagerGroup><members><member\tpriority=\"0\"><callManager><processNodeName>10.0.0.1</processNodeName></callManager></member></members></callManagerGroup>\r\n\t</devicePool>\r\n\t<versionStamp>\n  {85A0D977-3AC1}</versionStamp>\r\n\t<backupProxy/><x></x>\r\n</device>";
    let doc = round_trip(src);
    assert_eq!(doc.root().name(), "device");
    assert_eq!(doc.root().attribute("xsi:type").as_deref(), Some("axl:XIPPhone"));
    assert_eq!(doc.root().attributes().len(), 3);
    assert_eq!(doc.find("versionStamp").unwrap().text(), "{85A0D977-3AC1}");
    assert_eq!(doc.find("versionStamp").unwrap().raw_text(), "\n  {85A0D977-3AC1}");
    let member = doc.find("devicePool/callManagerGroup/members/member").unwrap();
    assert_eq!(member.attribute("priority").as_deref(), Some("0"));
    assert!(doc.find("backupProxy").unwrap().is_self_closing());
    assert_eq!(doc.encoding(), Encoding::Utf8);
    assert_eq!(doc.encoding_source(), EncodingSource::Default);
}

#[test]
fn declaration_without_encoding_is_utf8_by_default_xml_4_3_3() {
    let doc = round_trip(b"<?xml version=\"1.0\"?>\n<Default><a>\xc3\xa9</a></Default>\n");
    assert_eq!((doc.encoding(), doc.encoding_source()), (Encoding::Utf8, EncodingSource::Default));
    assert_eq!(doc.find("a").unwrap().text(), "é");
}

#[test]
fn iso_8859_1_declared_win_char_set_is_decoded_and_written_back_in_latin1() {
    let src = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<device><userLocale><name>Fran\xe7ais</name><winCharSet>iso-8859-1</winCharSet></userLocale></device>\n";
    let mut doc = round_trip(src);
    assert_eq!(
        (doc.encoding(), doc.encoding_source()),
        (Encoding::Latin1, EncodingSource::Declaration)
    );
    assert_eq!(doc.find("userLocale/name").unwrap().text(), "Français");
    doc.set_text("userLocale/name", "Español €").unwrap();
    let out = doc.as_bytes();
    let want: &[u8] = b"<name>Espa\xf1ol &#8364;</name>";
    assert!(out.windows(want.len()).any(|w| w == want));
    assert_eq!(doc.find("userLocale/name").unwrap().text(), "Español €");
}

#[test]
fn invalid_utf8_is_an_error_with_position_and_a_latin1_fallback_when_lenient() {
    let src = b"<device>\n  <name>Fran\xe7ais</name>\n</device>";
    let err = CnfDocument::parse(src).unwrap_err();
    assert!(matches!(err, Error::InvalidUtf8 { at } if (at.line, at.column) == (2, 13)), "{err}");
    let doc = CnfDocument::parse_with(src, ParseOptions::lenient()).unwrap();
    assert_eq!(doc.encoding_source(), EncodingSource::Fallback);
    assert_eq!(doc.find("name").unwrap().text(), "Français");
    assert_eq!(doc.repairs()[0].kind, RepairKind::Latin1Fallback);
}

#[test]
fn utf16_and_unknown_encodings_are_refused() {
    assert!(matches!(
        CnfDocument::parse(b"\xff\xfe<\x00a\x00/\x00>\x00"),
        Err(Error::UnsupportedEncoding { .. })
    ));
    let err = CnfDocument::parse(b"<?xml version=\"1.0\" encoding=\"koi8-r\"?><a/>").unwrap_err();
    assert_eq!(err.location().map(|l| l.line), Some(1));
}

#[test]
fn mismatched_end_tag_reports_line_and_column_of_the_end_tag() {
    let err = CnfDocument::parse(b"<device>\n\t<a>0</b>\n</device>").unwrap_err();
    assert_eq!(err.to_string(), "mismatched end tag </b> at 2:6: <a> is open");
}

#[test]
fn unclosed_and_stray_end_tags_are_errors_and_lenient_repairs() {
    let src = b"<device>\n<TVS><members>x</members><TVS>\n</device>\n</extra>";
    let err = CnfDocument::parse(src).unwrap_err();
    assert!(
        matches!(err, Error::MismatchedEndTag { ref expected, .. } if expected == "TVS"),
        "{err}"
    );
    let mut doc = CnfDocument::parse_with(src, ParseOptions::lenient()).unwrap();
    let kinds: Vec<_> = doc.repairs().iter().map(|r| r.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            RepairKind::UnclosedElement { name: "TVS".into() },
            RepairKind::UnclosedElement { name: "TVS".into() },
            RepairKind::StrayEndTag { found: "extra".into() },
        ]
    );
    assert!(doc.repairs()[2].to_string().starts_with("4:1: stray end tag"));
    assert_eq!(doc.apply_repairs().unwrap(), 3);
    assert_eq!(
        doc.as_bytes(),
        b"<device>\n<TVS><members>x</members><TVS>\n</TVS></TVS></device>\n"
    );
}

#[test]
fn doctype_is_refused_so_no_entity_is_ever_expanded_billion_laughs_and_xxe() {
    let laughs = b"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><device>&lol2;</device>";
    assert!(matches!(CnfDocument::parse(laughs), Err(Error::Doctype { .. })));
    assert!(matches!(
        CnfDocument::parse_with(laughs, ParseOptions::lenient()),
        Err(Error::Doctype { .. })
    ));
    let xxe = b"<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><device>&x;</device>";
    assert!(matches!(CnfDocument::parse(xxe), Err(Error::Doctype { .. })));
}

#[test]
fn only_the_five_xml_entities_and_char_refs_are_read() {
    let doc =
        round_trip(b"<d><a>&lt;&amp;&gt;&quot;&apos;&#65;&#x42;</a><b v=\"&amp;&#x43;\"/></d>");
    assert_eq!(doc.find("a").unwrap().text(), "<&>\"'AB");
    assert_eq!(doc.find("b").unwrap().attribute("v").as_deref(), Some("&C"));
    assert!(matches!(CnfDocument::parse(b"<d>&nbsp;</d>"), Err(Error::UnknownEntity { .. })));
    assert!(matches!(CnfDocument::parse(b"<d a=\"&x;\"/>"), Err(Error::UnknownEntity { .. })));
    assert!(matches!(CnfDocument::parse(b"<d>&#0;</d>"), Err(Error::InvalidCharRef { .. })));
    assert!(matches!(CnfDocument::parse(b"<d>&#x110000;</d>"), Err(Error::InvalidCharRef { .. })));
    let lenient = CnfDocument::parse_with(b"<d>&nbsp; & x</d>", ParseOptions::lenient()).unwrap();
    assert_eq!(lenient.find("").unwrap().text(), "&nbsp; & x");
    assert_eq!(lenient.repairs().len(), 2);
}

#[test]
fn nesting_is_bounded() {
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert!(matches!(CnfDocument::parse(deep.as_bytes()), Err(Error::TooDeep { limit: 64, .. })));
    assert!(
        CnfDocument::parse_with(deep.as_bytes(), ParseOptions::strict().with_max_depth(100))
            .is_ok()
    );
}

#[test]
fn structure_errors_outside_the_root() {
    assert!(matches!(CnfDocument::parse(b"<!-- only a comment -->"), Err(Error::NoRoot)));
    assert!(matches!(CnfDocument::parse(b"<a/><b/>"), Err(Error::MultipleRoots { .. })));
    assert!(matches!(CnfDocument::parse(b"junk<a/>"), Err(Error::TextOutsideRoot { .. })));
    assert!(matches!(
        CnfDocument::parse(b"<a x=\"1\" x=\"2\"/>"),
        Err(Error::DuplicateAttribute { .. })
    ));
    assert!(matches!(CnfDocument::parse(b"<a x=1/>"), Err(Error::MalformedAttribute { .. })));
    assert!(matches!(
        CnfDocument::parse(b"<a x=\"1\"y=\"2\"/>"),
        Err(Error::MalformedAttribute { .. })
    ));
    assert!(matches!(CnfDocument::parse(b"<a><!-- x -- y --></a>"), Err(Error::Syntax { .. })));
    assert!(matches!(CnfDocument::parse(b"<a><b"), Err(Error::Syntax { .. })));
}

#[test]
fn set_text_escapes_and_touches_nothing_else() {
    let src = "<Default>\r\n  <servicesURL></servicesURL>  \r\n  <!-- keep -->\r\n  <idleURL>old</idleURL>\r\n</Default>";
    let mut doc = round_trip(src.as_bytes());
    doc.set_text("servicesURL", "http://h/menu.php?a=1&b=<2>").unwrap();
    doc.set_text("idleURL", "").unwrap();
    let expected = src
        .replace(
            "<servicesURL></servicesURL>",
            "<servicesURL>http://h/menu.php?a=1&amp;b=&lt;2&gt;</servicesURL>",
        )
        .replace(">old<", "><");
    assert_eq!(String::from_utf8(doc.to_bytes()).unwrap(), expected);
    assert_eq!(doc.find("servicesURL").unwrap().text(), "http://h/menu.php?a=1&b=<2>");
}

#[test]
fn set_text_keeps_whitespace_around_a_value_on_its_own_line_and_opens_self_closing() {
    let mut doc = round_trip(
        b"<device><versionStamp>\n  {OLD}\n</versionStamp><ipAddr2/><e a='1' /></device>",
    );
    doc.set_text("versionStamp", "{NEW}").unwrap();
    doc.set_text("ipAddr2", "10.0.0.9").unwrap();
    doc.set_text("e", "v").unwrap();
    assert_eq!(
        doc.as_bytes(),
        b"<device><versionStamp>\n  {NEW}\n</versionStamp><ipAddr2>10.0.0.9</ipAddr2><e a='1' >v</e></device>"
    );
    assert!(matches!(doc.set_text("", "x"), Err(Error::NotALeaf { .. })));
    assert!(matches!(doc.set_text("nope", "x"), Err(Error::PathNotFound { .. })));
    assert!(matches!(doc.set_text("ipAddr2", "\u{1}"), Err(Error::InvalidChar { code: 1, .. })));
}

#[test]
fn attributes_are_set_in_place_keeping_quotes_or_appended() {
    let mut doc = round_trip(b"<device  ctiid='1'><member\tpriority=\"0\"/></device>");
    doc.set_attribute("", "ctiid", "it's").unwrap();
    doc.set_attribute("member", "priority", "1").unwrap();
    doc.set_attribute("member", "uuid", "{a\"b}").unwrap();
    assert_eq!(
        doc.as_bytes(),
        &b"<device  ctiid='it&apos;s'><member\tpriority=\"1\" uuid=\"{a&quot;b}\"/></device>"[..]
    );
    assert!(doc.remove_attribute("member", "uuid").unwrap());
    assert!(!doc.remove_attribute("member", "uuid").unwrap());
    assert_eq!(doc.as_bytes(), b"<device  ctiid='it&apos;s'><member\tpriority=\"1\"/></device>");
    assert!(matches!(doc.set_attribute("", "bad name", "x"), Err(Error::InvalidName { .. })));
}

#[test]
fn elements_are_inserted_with_sibling_indentation_and_removed_with_their_line() {
    let src = "<device>\r\n\t<vendorConfig>\r\n\t\t<pcPort>0</pcPort> <!-- note -->\r\n\t\t<garp>0</garp>\r\n\t</vendorConfig>\r\n\t<empty/>\r\n</device>\r\n";
    let mut doc = round_trip(src.as_bytes());
    doc.append_element("vendorConfig", "webAccess", "1").unwrap();
    doc.insert_element_after("vendorConfig/pcPort", "sshAccess", "0").unwrap();
    doc.append_element("empty", "child", "x").unwrap();
    doc.remove_element("vendorConfig/garp").unwrap();
    let out = String::from_utf8(doc.to_bytes()).unwrap();
    assert_eq!(
        out,
        "<device>\r\n\t<vendorConfig>\r\n\t\t<pcPort>0</pcPort>\r\n\t\t<sshAccess>0</sshAccess> <!-- note -->\r\n\t\t<webAccess>1</webAccess>\r\n\t</vendorConfig>\r\n\t<empty>\r\n\t\t<child>x</child>\r\n\t</empty>\r\n</device>\r\n"
    );
    assert!(matches!(doc.remove_element(""), Err(Error::InvalidPath { .. })));
}

#[test]
fn set_or_create_builds_missing_elements_with_attribute_predicates() {
    let mut doc = round_trip(b"<device>\n  <devicePool>\n  </devicePool>\n</device>\n");
    doc.set_or_create(
        "devicePool/callManagerGroup/members/member[@priority='0']/callManager/processNodeName",
        "10.1.1.1",
    )
    .unwrap();
    let again = CnfDocument::parse(doc.as_bytes()).unwrap();
    assert_eq!(
        again.find("devicePool/callManagerGroup/members/member[@priority=\"0\"]/callManager/processNodeName").unwrap().text(),
        "10.1.1.1"
    );
    assert!(
        String::from_utf8_lossy(doc.as_bytes())
            .contains("\n      <members>\n        <member priority=\"0\">\n")
    );
    // An existing path is just set.
    doc.set_or_create(
        "devicePool/callManagerGroup/members/member/callManager/processNodeName",
        "h",
    )
    .unwrap();
    assert_eq!(
        doc.find("devicePool/callManagerGroup/members/member/callManager/processNodeName")
            .unwrap()
            .text(),
        "h"
    );
    assert!(doc.set_or_create("a[2]", "x").is_err());
}

#[test]
fn element_paths_round_trip_through_find() {
    let doc = round_trip(b"<d><l>1</l><l>2</l><m><n/></m></d>");
    for e in doc.root().children() {
        assert_eq!(doc.find(&e.path()).unwrap().raw(), e.raw());
    }
    assert_eq!(doc.find("l[2]").unwrap().path(), "l[2]");
    assert_eq!(doc.find("m/n").unwrap().path(), "m/n");
    assert!(doc.find("l[3]").is_none());
    assert!(doc.find("/x/l").is_none());
}

#[test]
fn a_utf8_byte_order_mark_is_kept_and_edits_work_after_it() {
    let src =
        b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?><Default><a>\xc3\xa9</a></Default>";
    let mut doc = round_trip(src);
    assert_eq!(doc.encoding_source(), EncodingSource::ByteOrderMark);
    assert_eq!(doc.find("a").unwrap().text(), "é");
    doc.set_text("a", "x&y").unwrap();
    assert_eq!(
        doc.as_bytes(),
        b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?><Default><a>x&amp;y</a></Default>"
    );
}

#[test]
fn a_second_byte_order_mark_is_text_outside_the_root_and_offsets_stay_true() {
    // Fuzz regression `double-bom-declaration`: the tokenizer used to skip the second mark
    // silently, so every later offset was three bytes off and edits landed inside names.
    let src = b"\xef\xbb\xbf\xef\xbb\xbf<Default><a>\xc3\xa9</a></Default>";
    let err = CnfDocument::parse(src).unwrap_err();
    assert!(matches!(err, Error::TextOutsideRoot { .. }), "{err}");
    let mut doc = CnfDocument::parse_with(src, ParseOptions::lenient()).unwrap();
    assert_eq!(doc.as_bytes(), src);
    assert_eq!(doc.repairs().len(), 1, "{:?}", doc.repairs());
    assert_eq!(doc.repairs()[0].at.offset, 3);
    doc.set_text("a", "\u{20ac}").unwrap();
    assert_eq!(doc.as_bytes(), "\u{feff}\u{feff}<Default><a>\u{20ac}</a></Default>".as_bytes());
}

#[test]
fn whitespace_between_a_byte_order_mark_and_the_root_is_not_text() {
    round_trip(b"\xef\xbb\xbf \r\n<Default/>");
}

#[test]
fn names_must_be_xml_names() {
    for bad in [
        &b"<2a/>"[..],
        b"<a\x01b/>",
        b"<device><e\x11/></device>",
        b"<a b\x01=\"1\"/>",
        b"<a .x=\"1\"/>",
    ] {
        let err = CnfDocument::parse_with(bad, ParseOptions::lenient()).unwrap_err();
        assert!(matches!(err, Error::Syntax { .. }), "{err}");
    }
    round_trip(b"<device xsi:type=\"t\"><a-b.c_d>1</a-b.c_d><_x/><Fran\xc3\xa7ais/></device>");
}

#[test]
fn child_paths_agree_with_path_for_every_child() {
    let doc = round_trip(b"<d><l>1</l><m/><l>2</l><n><l/><l/></n></d>");
    for e in [doc.root(), doc.find("n").unwrap()] {
        let paths: Vec<String> = e.child_paths().into_iter().map(|(_, p)| p).collect();
        let each: Vec<String> = e.children().map(|c| c.path()).collect();
        assert_eq!(paths, each);
    }
    assert_eq!(doc.find("n/l[2]").unwrap().path(), "n/l[2]");
}

#[test]
fn text_is_what_lies_between_child_elements_and_markup_cdata_included_xml_2_4_and_2_7() {
    let src = b"<device><a>x&amp;<!-- note -->y<![CDATA[<z> & ]]><b>q</b>w<?pi data?>v</a><c><![CDATA[]]></c></device>";
    let doc = round_trip(src);
    let a = doc.find("a").unwrap();
    assert_eq!(a.raw_text(), "x&y<z> & wv");
    assert_eq!(doc.find("a/b").unwrap().text(), "q");
    assert_eq!(doc.find("c").unwrap().raw_text(), "");
    assert_eq!(doc.root().raw_text(), "");
    // An element with markup inside is set whole: the comment and CDATA go with the old text.
    let mut doc = round_trip(b"<device><c>1<!-- was 0 --></c><d> <![CDATA[2]]> </d></device>");
    doc.set_text("c", "3").unwrap();
    doc.set_text("d", "4").unwrap();
    assert_eq!(doc.as_bytes(), b"<device><c>3</c><d>4</d></device>");
}

#[test]
fn a_failed_edit_leaves_the_document_byte_for_byte_and_still_editable() {
    let src = b"<device>\n  <a>1</a>\n  <b x=\"1\"/>\n</device>\n";
    let mut doc = round_trip(src);
    assert!(matches!(doc.set_text("", "x"), Err(Error::NotALeaf { .. })));
    assert!(doc.set_or_create("a/1bad", "x").is_err());
    assert_eq!(doc.as_bytes(), src);
    doc.set_text("b", "2").unwrap();
    assert_eq!(doc.find("b").unwrap().text(), "2");
    assert_eq!(doc.find("b").unwrap().attribute("x").as_deref(), Some("1"));
}
