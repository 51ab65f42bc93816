//! A site loaded from a tree: where its device defaults come from, and `XMLDefault.cnf.xml`
//! always available (rebuilt from the `.old` an admin left, when no defaults file is given).

use std::path::PathBuf;

use cnfkit_config::{CnfDocument, DeviceType};
use cnfkit_resolve::{Answer, DeviceDefaults, Made};
use cnfkit_server::{DefaultsSource, Site, SiteOptions, SiteWarning};

fn tree(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-site-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn old_default() -> Vec<u8> {
    let mut defaults = DeviceDefaults::with_call_manager("10.1.2.3");
    defaults.call_managers.push("10.1.2.4".into());
    defaults.loads.insert("7942".into(), "SCCP42.9-4-2SR3-1S".into());
    defaults.xml_default().unwrap()
}

#[test]
fn a_missing_xml_default_is_rebuilt_from_the_old_one_an_admin_left() {
    let root = tree("old");
    std::fs::write(root.join("XMLDefault.cnf.xml.old"), old_default()).unwrap();
    let site = Site::load(SiteOptions::new(&root)).unwrap();
    assert_eq!(site.defaults, DefaultsSource::OldDefault);
    assert!(!site.has_xml_default);

    let answer = site.resolver.resolve(b"XMLDefault.cnf.xml");
    let Answer::Generated { bytes, made: Made::RebuiltDefault { written_back } } = answer else {
        panic!("{answer:?}")
    };
    assert!(written_back);
    let doc = CnfDocument::parse(&bytes).unwrap();
    let hosts: Vec<_> = doc
        .call_manager_group()
        .unwrap()
        .members
        .into_iter()
        .filter_map(|m| m.process_node_name)
        .collect();
    assert_eq!(hosts, ["10.1.2.3", "10.1.2.4"]);
    let load = doc.firmware().for_device_type(DeviceType::CISCO_7942).map(|e| e.load.clone());
    assert_eq!(load.as_deref(), Some("SCCP42.9-4-2SR3-1S"));
    // Written back whole: the tree heals, and the .old is left as the admin made it.
    assert_eq!(std::fs::read(root.join("XMLDefault.cnf.xml")).unwrap(), bytes);
    assert_eq!(std::fs::read(root.join("XMLDefault.cnf.xml.old")).unwrap(), old_default());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_defaults_file_wins_over_the_old_default() {
    let root = tree("file");
    std::fs::write(root.join("XMLDefault.cnf.xml.old"), old_default()).unwrap();
    let defaults = root.join("defaults.toml");
    std::fs::write(&defaults, "call_managers = [\"10.9.9.9\"]\n").unwrap();
    let site =
        Site::load(SiteOptions { defaults: Some(defaults.clone()), ..SiteOptions::new(&root) })
            .unwrap();
    assert_eq!(site.defaults, DefaultsSource::File(defaults));
    let Answer::Generated { bytes, .. } = site.resolver.resolve(b"XMLDefault.cnf.xml") else {
        panic!()
    };
    assert!(String::from_utf8(bytes).unwrap().contains("10.9.9.9"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn with_neither_new_phones_cannot_boot_and_the_miss_says_so() {
    let root = tree("none");
    let site = Site::load(SiteOptions::new(&root)).unwrap();
    assert_eq!(site.defaults, DefaultsSource::None);
    let Answer::NotFound { why, normal, .. } = site.resolver.resolve(b"XMLDefault.cnf.xml") else {
        panic!()
    };
    assert!(!normal);
    assert!(why.contains("new phones cannot boot"), "{why}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_unreadable_old_default_is_a_warning_not_a_stop() {
    let root = tree("bad-old");
    std::fs::write(root.join("XMLDefault.cnf.xml.old"), b"<Default><unclosed></Default>").unwrap();
    let site = Site::load(SiteOptions::new(&root)).unwrap();
    assert_eq!(site.defaults, DefaultsSource::None);
    assert_eq!(site.warnings.len(), 1, "{:?}", site.warnings);
    let text = site.warnings[0].to_string();
    assert!(text.starts_with("XMLDefault.cnf.xml.old cannot stand in for defaults: "), "{text}");
    assert!(matches!(site.warnings[0], SiteWarning::OldDefaultUnusable(_)));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_bad_inventory_is_an_error_naming_the_file() {
    let root = tree("inventory");
    let inventory = root.join("phones.csv");
    std::fs::write(&inventory, "mac,model\nnot-a-mac,7942\n").unwrap();
    let err = Site::load(SiteOptions { inventory: Some(inventory), ..SiteOptions::new(&root) })
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("phones.csv"), "{text}");
    assert!(std::error::Error::source(&err).is_some());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_old_default_beside_the_current_one_is_only_a_backup() {
    let root = tree("both");
    std::fs::write(root.join("XMLDefault.cnf.xml.old"), old_default()).unwrap();
    std::fs::write(root.join("XMLDefault.cnf.xml"), b"<Default><current/></Default>").unwrap();
    let site = Site::load(SiteOptions::new(&root)).unwrap();
    assert_eq!(site.defaults, DefaultsSource::None);
    assert!(site.has_xml_default);
    let Answer::File { .. } = site.resolver.resolve(b"XMLDefault.cnf.xml") else { panic!() };
    std::fs::remove_dir_all(&root).unwrap();
}
