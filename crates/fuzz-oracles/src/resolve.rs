use cnfkit_resolve::{
    DeviceDefaults, Inventory, LoadName, LoadsManifest, Recognised, SafePath, firmware_decision,
};

/// `resolve_names`: the path sanitizer keeps any bytes inside the tree (docs/security.md, paths
/// stay inside the root), and the name recogniser, load-name reader, manifest parser and firmware decision
/// never panic on arbitrary input; neither do the inventory CSV and device defaults TOML readers,
/// and every inventory error names a line that exists.
pub fn resolve_names(data: &[u8]) {
    if let Ok(path) = SafePath::new(data) {
        let text = path.as_str();
        assert!(!text.is_empty() && !text.starts_with('/'));
        assert!(!text.contains(['\\', ':', '\0']));
        for component in path.components() {
            assert!(!component.is_empty() && !component.bytes().all(|b| b == b'.'), "{text:?}");
            assert!(!component.bytes().any(|b| b < 0x20 || b == 0x7f));
        }
        assert_eq!(SafePath::new(text.as_bytes()).as_ref(), Ok(&path), "idempotent");
        let joined = std::path::Path::new("/srv/tftp").join(text);
        assert!(joined.starts_with("/srv/tftp"));
    }
    let text = String::from_utf8_lossy(data);
    let recognised = Recognised::parse(&text);
    if let Some(mac) = recognised.mac {
        assert!(text.to_ascii_uppercase().contains(&mac.to_string()));
    }
    let _ = LoadsManifest::parse(data);
    let (a, b) =
        text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    let _ = LoadName::new(a).version();
    let _ = firmware_decision(Some(a), Some(b));
    match Inventory::parse_csv(&text) {
        Ok(inventory) => assert!(inventory.len() <= text.lines().count()),
        Err(cnfkit_resolve::Error::BadInventory { problems }) => {
            assert!(!problems.is_empty());
            let lines = text.lines().count().max(1);
            assert!(problems.iter().all(|p| p.line >= 1 && p.line <= lines), "{problems:?}");
        }
        Err(other) => panic!("unexpected inventory error {other}"),
    }
    if let Ok(defaults) = DeviceDefaults::parse_toml(&text) {
        let _ = defaults.xml_default();
    }
}
