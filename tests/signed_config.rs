//! Issue 7 story "signed-config phone gets `.sgn`", end to end over loopback: a phone that
//! holds a trust list asks for `SEP<MAC>.cnf.xml.sgn`; the tree has only the plain file; the
//! server signs it on the fly with its TFTP key; the phone's ITL verifies the signature and the
//! phone uses its own config.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cnfkit::repack::{HashAlgorithm, SignedFile, TrustList};
use cnfkit::resolve::{FsDirectory, Mac, ModelTable, PhoneSetup, Protocol, Resolver};
use cnfkit::server::ConfigSigner;
use cnfkit::server::ProvisioningHandler;
use cnfkit::server::{PhoneClient, boot_over_tftp};
use cnfkit::tftp::driver::{Server, ServerConfig};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/repack/tests/data").join(name)
}

const SEP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device>\n  <devicePool>\n    <callManagerGroup>\n      <members>\n        <member priority=\"0\">\n          <callManager>\n            <processNodeName>10.1.1.1</processNodeName>\n          </callManager>\n        </member>\n      </members>\n    </callManagerGroup>\n  </devicePool>\n  <loadInformation>SCCP42.9-4-2SR4-3S</loadInformation>\n</device>\n";

fn tree(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("cnfkit-signed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(data("ITLFile.tlv"), root.join("ITLFile.tlv")).unwrap();
    std::fs::write(root.join("SEP001122334455.cnf.xml"), SEP).unwrap();
    root
}

async fn boot(
    server: SocketAddr,
    setup: PhoneSetup,
) -> (cnfkit::resolve::BootReport, Vec<(String, Vec<u8>)>) {
    let client = PhoneClient { keep_files: true, ..PhoneClient::default() };
    let boot =
        boot_over_tftp(&ModelTable::builtin(), server, setup, Some("SCCP42.9-4-2SR4-3S"), client)
            .await
            .unwrap();
    (boot.report, boot.files)
}

#[test]
fn a_phone_with_a_trust_list_gets_its_config_signed_on_the_fly_by_a_key_its_itl_trusts() {
    let root = tree("itl");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let signer = ConfigSigner::from_pem_files(
        &data("test-tftp.pem"),
        &data("test-tftp.pem"),
        HashAlgorithm::Sha1,
    )
    .unwrap();
    let resolver = Resolver::new(FsDirectory::new(&root).unwrap()).with_signer(signer);
    let server = runtime
        .block_on(Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            ProvisioningHandler::new(resolver),
            ServerConfig::default(),
        ))
        .unwrap();
    let addr = server.local_addr().unwrap();
    runtime.spawn(server.run(std::future::pending(), Duration::ZERO));

    let mut setup =
        PhoneSetup::new(Mac([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]), "7942", Protocol::Sccp);
    setup.has_trust_list = true;
    let (report, fetched) = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), boot(addr, setup))
            .await
            .expect("boot within 30 s")
    });
    let config = report.config.as_ref().expect("a config was used");
    assert_eq!(
        (config.name.as_str(), config.own),
        ("SEP001122334455.cnf.xml.sgn", true),
        "{report:?}"
    );
    assert_eq!(report.call_managers, ["10.1.1.1"]);
    assert!(report.stuck.is_none(), "{report:?}");

    // What the phone does before using it: verify against the ITL it holds.
    let itl = TrustList::parse(&std::fs::read(data("ITLFile.tlv")).unwrap()).unwrap();
    let (_, bytes) =
        fetched.iter().find(|(n, _)| n == "SEP001122334455.cnf.xml.sgn").expect("fetched the .sgn");
    let signed = SignedFile::parse(bytes).unwrap();
    itl.verify_file(&signed).expect("the phone's ITL accepts the signature");
    assert_eq!(
        signed.filename().as_deref(),
        Some("SEP001122334455.cnf.xml.sgn"),
        "filename tag = the served name"
    );
    assert_eq!(signed.payload(), SEP.as_bytes());
    // Nothing was written into the tree: signing happens per request.
    assert!(!root.join("SEP001122334455.cnf.xml.sgn").exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn without_a_signing_key_the_sgn_request_misses_and_the_phone_falls_back() {
    let root = tree("nokey");
    std::fs::write(
        root.join("XMLDefault.cnf.xml"),
        "<Default><loadInformation>x</loadInformation></Default>\n",
    )
    .unwrap();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let resolver = Resolver::new(FsDirectory::new(&root).unwrap());
    let server = runtime
        .block_on(Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            ProvisioningHandler::new(resolver),
            ServerConfig::default(),
        ))
        .unwrap();
    let addr = server.local_addr().unwrap();
    runtime.spawn(server.run(std::future::pending(), Duration::ZERO));
    let mut setup =
        PhoneSetup::new(Mac([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]), "7942", Protocol::Sccp);
    setup.has_trust_list = true;
    let (report, _) = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), boot(addr, setup))
            .await
            .expect("boot within 30 s")
    });
    let config = report.config.as_ref().expect("a config was used");
    assert_eq!((config.name.as_str(), config.own), ("XMLDefault.cnf.xml", false), "{report:?}");
    let _ = std::fs::remove_dir_all(&root);
}
