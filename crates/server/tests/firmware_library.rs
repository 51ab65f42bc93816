//! A firmware library served by flat name (`cnf-server --firmware DIR`): a Cisco pack imported
//! with cnfkit-firmware upgrades a 200-phone storm, the tree's own files win, and any letter
//! case finds an image (7921 phones ask in upper case).

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cnfkit_firmware::Library;
use cnfkit_resolve::{DeviceDefaults, FirmwareDecision, Mac, ModelTable, PhoneSetup, Protocol};
use cnfkit_server::{
    PhoneClient, ProvisioningHandler, Site, SiteOptions, StormSummary, boot_over_tftp,
};
use cnfkit_tftp::driver::{Server, ServerConfig};

const LOAD: &str = "SCCP42.9-4-2SR4-3S";
const IMAGES: [&str; 4] = [
    "jar42sccp.9-4-2ES26.sbn",
    "apps42.9-4-2ES26.sbn",
    "cnu42.9-4-2ES26.sbn",
    "dsp42.9-4-2ES26.sbn",
];

fn image_bytes(i: usize) -> Vec<u8> {
    (0..256 * 1024).map(|n| u8::try_from((n * 31 + i * 7) % 251).unwrap()).collect()
}

/// A tree whose default configuration names [`LOAD`] for 7942s, with no firmware of its own,
/// and a library holding that load, imported from a Cisco-style zip.
fn tree_and_library(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("cnfkit-fwlib-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (root, library) = (dir.join("tftp"), dir.join("firmware"));
    std::fs::create_dir_all(&root).unwrap();
    let defaults = DeviceDefaults {
        call_managers: vec!["127.0.0.1".to_owned()],
        loads: [("7942".to_owned(), LOAD.to_owned())].into_iter().collect(),
        ..DeviceDefaults::default()
    };
    std::fs::write(root.join("XMLDefault.cnf.xml"), defaults.xml_default().unwrap()).unwrap();
    let pack = dir.join("cmterm-7942_7962-sccp.9-4-2SR4-3.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&pack).unwrap());
    let manifest: String = IMAGES.iter().map(|i| format!("{i}\r\n")).collect();
    let mut files = vec![
        (format!("{LOAD}.loads"), manifest.clone().into_bytes()),
        ("term42.default.loads".to_owned(), manifest.into_bytes()),
    ];
    files.extend(IMAGES.iter().enumerate().map(|(i, name)| ((*name).to_owned(), image_bytes(i))));
    for (name, content) in files {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(&content).unwrap();
    }
    zip.finish().unwrap();
    Library::open(&library).unwrap().import(&pack, None).unwrap();
    (root, library)
}

async fn serve(root: &Path, library: &Path) -> SocketAddr {
    let site =
        Site::load(SiteOptions { firmware: Some(library.to_owned()), ..SiteOptions::new(root) })
            .unwrap();
    assert!(site.warnings.is_empty(), "{:?}", site.warnings);
    let handler = Arc::new(ProvisioningHandler::new(site.resolver));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_pack_upgrades_a_200_phone_storm_with_none_stuck_or_failed() {
    let (root, library) = tree_and_library("storm");
    let addr = serve(&root, &library).await;
    let table = Arc::new(ModelTable::builtin());
    let gate = Arc::new(tokio::sync::Semaphore::new(50));
    let mut phones = Vec::new();
    for i in 0..200u32 {
        let [_, _, hi, lo] = i.to_be_bytes();
        let local: IpAddr = [127, 3, hi, lo].into();
        let setup = PhoneSetup::new(Mac([0x00, 0x11, 0x22, 0x55, hi, lo]), "7942", Protocol::Sccp);
        let client =
            PhoneClient { local: Some(local), keep_files: i == 0, ..PhoneClient::default() };
        let (table, gate) = (table.clone(), gate.clone());
        phones.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            boot_over_tftp(&table, addr, setup, Some("SCCP42.8-5-4S"), client).await
        }));
    }
    let mut boots = Vec::new();
    for phone in phones {
        let boot = tokio::time::timeout(Duration::from_secs(90), phone).await.unwrap().unwrap();
        boots.push(boot.unwrap());
    }
    let summary = StormSummary::of(&boots, 0);
    assert_eq!((summary.ok, summary.failed, summary.stuck), (200, 0, 0), "{summary:?}");
    for boot in &boots {
        assert_eq!(boot.report.load.as_deref(), Some(LOAD));
        assert!(
            matches!(boot.report.firmware, FirmwareDecision::Upgrade { .. }),
            "{:?}",
            boot.report.firmware
        );
    }
    // Every image arrived whole, from the library.
    for (i, image) in IMAGES.iter().enumerate() {
        let got = boots[0].files.iter().find(|(name, _)| name == image).expect(image);
        assert_eq!(got.1, image_bytes(i), "{image}");
    }
    let _ = std::fs::remove_dir_all(root.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trees_own_file_wins_and_any_letter_case_finds_a_library_image() {
    let (root, library) = tree_and_library("precedence");
    std::fs::write(root.join("cnu42.9-4-2ES26.sbn"), b"the tree's own").unwrap();
    let addr = serve(&root, &library).await;
    let fetch = |name: &'static str| async move {
        let sink = cnfkit_tftp::SharedBuffer::new();
        cnfkit_tftp::driver::get(
            addr,
            name.as_bytes(),
            cnfkit_tftp::ClientOptions::default(),
            Box::new(sink.clone()),
            cnfkit_tftp::Policy::default(),
            |_| {},
        )
        .await
        .map(|_| sink.contents())
    };
    assert_eq!(fetch("cnu42.9-4-2ES26.sbn").await.unwrap(), b"the tree's own");
    assert_eq!(fetch("JAR42SCCP.9-4-2ES26.SBN").await.unwrap(), image_bytes(0));
    assert!(fetch("nothing-here.sbn").await.is_err());
    let _ = std::fs::remove_dir_all(root.parent().unwrap());
}
