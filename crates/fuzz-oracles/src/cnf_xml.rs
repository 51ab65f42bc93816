use cnfkit_config::{CnfDocument, Error, ParseOptions, RepairKind};

/// A value that needs every kind of escaping, in both encodings.
const VALUE: &str = "a&b<c>d\"e'f\tg\u{e9}\u{20ac}";

/// `cnf_xml`: parsing never panics, strict or lenient; a parsed document writes back the input
/// byte for byte; every view and the validator read it without panicking; element paths
/// resolve back to their element; an edit (text, attribute, created element) gives bytes that
/// parse again with the value read back; lenient repairs, once applied, parse strictly.
pub fn cnf_xml(data: &[u8]) {
    for options in [ParseOptions::strict(), ParseOptions::lenient()] {
        let doc = match CnfDocument::parse_with(data, options) {
            Ok(doc) => doc,
            Err(e) => {
                assert!(
                    e.location().is_some() || matches!(e, Error::NoRoot),
                    "parse error without a location: {e}"
                );
                let _ = e.to_string();
                continue;
            }
        };
        assert_eq!(doc.as_bytes(), data, "to_bytes(parse(x)) == x");
        let summary = doc.summary();
        for entry in &summary.firmware.entries {
            let e = doc
                .find(&entry.path)
                .unwrap_or_else(|| panic!("load path {:?} does not resolve", entry.path));
            assert_eq!(e.text(), entry.load, "load at {:?}", entry.path);
        }
        for w in doc.validate() {
            assert!(w.path.is_empty() || doc.find(&w.path).is_some(), "warning path {:?}", w.path);
            let _ = w.to_string();
        }
        let fast: Vec<String> =
            doc.root().child_paths().into_iter().take(64).map(|(_, p)| p).collect();
        for r in doc.repairs() {
            let _ = r.to_string();
        }
        let elements: Vec<String> = doc.root().children().take(64).map(|e| e.path()).collect();
        assert_eq!(fast, elements, "child_paths agrees with path");
        for path in &elements {
            assert!(doc.find(path).is_some(), "path {path:?} does not resolve");
        }

        // Edit the first leaf below the root, then an attribute of the root, then create an
        // element; each result must parse with the same options and read the value back.
        let mut edited = doc.clone();
        let leaf =
            elements.iter().find(|p| doc.find(p).is_some_and(|e| !e.has_children())).cloned();
        if let Some(path) = leaf {
            edited.set_text(&path, VALUE).expect("set_text on a leaf");
            let again = CnfDocument::parse_with(edited.as_bytes(), options)
                .expect("re-parse after set_text");
            // Whitespace around the old text is kept by design; the value itself reads back.
            assert_eq!(again.find(&path).map(|e| e.text()).as_deref(), Some(VALUE));
        }
        edited.set_attribute("", "cnfkitFuzz", VALUE).expect("set_attribute on the root");
        let again = CnfDocument::parse_with(edited.as_bytes(), options)
            .expect("re-parse after set_attribute");
        assert_eq!(again.root().attribute("cnfkitFuzz").as_deref(), Some(VALUE));
        match edited.set_or_create("cnfkitFuzz/leaf", VALUE) {
            Ok(()) => {
                let again = CnfDocument::parse_with(edited.as_bytes(), options)
                    .expect("re-parse after create");
                assert_eq!(
                    again.find("cnfkitFuzz/leaf").map(|e| e.raw_text()).as_deref(),
                    Some(VALUE)
                );
            }
            Err(Error::InvalidPath { .. } | Error::NotALeaf { .. }) => {}
            Err(e) => panic!("set_or_create failed: {e}"),
        }

        if options.lenient {
            let fixable = doc.repairs().iter().all(|r| {
                !matches!(r.kind, RepairKind::TextOutsideRoot | RepairKind::Latin1Fallback)
            });
            let mut repaired = doc.clone();
            repaired.apply_repairs().expect("apply_repairs");
            if fixable {
                CnfDocument::parse(repaired.as_bytes()).expect("repaired document parses strictly");
            }
        }
    }
}
