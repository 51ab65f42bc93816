//! `cnf-fw plan`: on a tree built here, every model and every known phone gets the load it will
//! be told to run, whether that is an upgrade, a downgrade or nothing, and what is missing.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cnfkit_firmware::Library;
use cnfkit_resolve::{FirmwareDecision, Transport};
use cnfkit_server::Monitor;
use cnfkit_server::plan::{PlanOptions, plan};
use cnfkit_server::registry::{AnswerKind, RegistryLimits, RequestSeen};
use cnfkit_server::state::StateFile;

const NEW: &str = "SCCP42.9-4-2SR4-3S";

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-plan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tftp")).unwrap();
    dir
}

/// A library holding [`NEW`], imported from a pack.
fn library(dir: &Path) -> PathBuf {
    let pack = dir.join("pack.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&pack).unwrap());
    for (name, content) in [
        (format!("{NEW}.loads"), b"jar42sccp.9-4-2ES26.sbn\r\n".to_vec()),
        ("jar42sccp.9-4-2ES26.sbn".to_owned(), vec![1; 100]),
    ] {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(&content).unwrap();
    }
    zip.finish().unwrap();
    let library = dir.join("firmware");
    Library::open(&library).unwrap().import(&pack, None).unwrap();
    library
}

/// A state file in which each phone's last boot went for `load`.
fn state(dir: &Path, phones: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("registry.jsonl");
    let monitor = Monitor::new(RegistryLimits::default(), None);
    let mut file = StateFile::prepare(&path).unwrap();
    file.load(&monitor).unwrap();
    for (i, (mac, load)) in phones.iter().enumerate() {
        let peer = SocketAddr::from(([10, 0, 0, u8::try_from(i + 1).unwrap()], 50_000));
        for (name, answer) in [
            (format!("SEP{mac}.cnf.xml"), AnswerKind::Exact),
            (format!("{load}.loads"), AnswerKind::Exact),
        ] {
            monitor.request(&RequestSeen::new(peer, &name, answer, Transport::Tftp));
        }
    }
    file.flush(&monitor).unwrap();
    path
}

#[test]
fn plan_names_upgrades_downgrades_and_missing_pieces_of_models_and_phones() {
    let dir = scratch();
    let root = dir.join("tftp");
    // The default gives 7942s the new load (in the library) and 8845s one nobody has.
    std::fs::write(
        root.join("XMLDefault.cnf.xml"),
        format!(
            "<Default>\n  <loadInformation434 model=\"Cisco 7942\">{NEW}</loadInformation434>\n  \
             <loadInformation36224 model=\"Cisco 8845\">sip8845_65.14-2-1-0001-14</loadInformation36224>\n</Default>\n"
        ),
    )
    .unwrap();
    // A 7942 pinned to an older load by its own file; two more 7942 with no file of their own.
    let own =
        |load: &str| format!("<device>\n  <loadInformation>{load}</loadInformation>\n</device>\n");
    std::fs::write(root.join("SEP001122334455.cnf.xml"), own("SCCP42.9-3-1SR1-1S")).unwrap();
    let inventory = dir.join("phones.csv");
    std::fs::write(
        &inventory,
        "mac,model\n001122334466,7942\n001122334477,7942\n0011223344AA,8845\n",
    )
    .unwrap();
    let options = PlanOptions {
        root: root.clone(),
        firmware: Some(library(&dir)),
        inventory: Some(inventory),
        state: Some(state(
            &dir,
            &[
                ("001122334455", "SCCP42.9-4-2SR3-1S"),
                ("001122334466", "SCCP42.8-5-4S"),
                ("001122334477", NEW),
            ],
        )),
        ..PlanOptions::default()
    };
    let plan = plan(&options).unwrap();

    let model = |name: &str| plan.models.iter().find(|m| m.model == name).unwrap();
    assert_eq!(model("Cisco 7942").load, NEW);
    assert!(model("Cisco 7942").missing.is_empty());
    assert_eq!(model("Cisco 8845").missing, ["sip8845_65.14-2-1-0001-14.loads"]);

    let phone = |mac: &str| plan.phones.iter().find(|p| p.mac.to_string() == mac).unwrap();
    let pinned = phone("001122334455");
    assert_eq!(pinned.config, "SEP001122334455.cnf.xml");
    assert!(matches!(pinned.decision, FirmwareDecision::Downgrade { .. }), "{pinned}");
    assert_eq!(pinned.missing, ["SCCP42.9-3-1SR1-1S.loads"], "{pinned}");
    let behind = phone("001122334466");
    assert_eq!(
        (behind.config.as_str(), behind.target.as_deref()),
        ("XMLDefault.cnf.xml", Some(NEW))
    );
    assert!(matches!(behind.decision, FirmwareDecision::Upgrade { .. }), "{behind}");
    assert!(behind.missing.is_empty(), "{behind}");
    assert_eq!(phone("001122334477").decision, FirmwareDecision::UpToDate);
    let new_phone = phone("0011223344AA");
    assert_eq!(new_phone.running, None);
    assert!(matches!(new_phone.decision, FirmwareDecision::Change { .. }));
    assert_eq!(new_phone.missing, ["sip8845_65.14-2-1-0001-14.loads"]);
    assert!(plan.has_missing());
    assert!(
        behind.to_string().contains("SCCP42.8-5-4S -> SCCP42.9-4-2SR4-3S: upgrade"),
        "{behind}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
