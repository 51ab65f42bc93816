//! Signed configurations at storm scale: the signer keeps what it signed (one RSA operation
//! per payload and name, not per request) and a background pass signs every signable file
//! before its phone asks, again after a change.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnfkit_repack::{HashAlgorithm, SignedFile};
use cnfkit_resolve::{Answer, Made};
use cnfkit_server::{ConfigSigner, Presigner, ProvisioningHandler, Site, SiteOptions};

const TFTP_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../repack/tests/data/test-tftp.pem");

fn signer() -> ConfigSigner {
    let pem = std::fs::read_to_string(TFTP_PEM).unwrap();
    ConfigSigner::from_pem(&pem, &pem, HashAlgorithm::Sha256).unwrap()
}

fn tree(name: &str, phones: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-presign-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..phones {
        let body = format!("<device><loadInformation>SIP78xx.14-{i}</loadInformation></device>\n");
        std::fs::write(dir.join(format!("SEP0011223344{i:02X}.cnf.xml")), body).unwrap();
    }
    std::fs::write(dir.join("XMLDefault.cnf.xml"), b"<Default/>\n").unwrap();
    // A file the tree holds signed already is served as it is, never signed again.
    std::fs::write(dir.join("SEP001122334499.cnf.xml"), b"<device/>\n").unwrap();
    std::fs::write(dir.join("SEP001122334499.cnf.xml.sgn"), b"signed by CUCM").unwrap();
    dir
}

fn signed_payload(answer: &Answer) -> Vec<u8> {
    let Answer::Generated { bytes, made: Made::SignedOnTheFly { .. } } = answer else {
        panic!("not signed on the fly: {answer:?}")
    };
    let file = SignedFile::parse(bytes).unwrap();
    file.verify_with(signer().certificate()).unwrap();
    file.payload().to_vec()
}

#[test]
fn a_payload_is_signed_once_per_name_and_again_when_it_changes() {
    let root = tree("cache", 2);
    let signer = signer();
    let site = Site::load(SiteOptions { signer: Some(signer.clone()), ..SiteOptions::new(&root) })
        .unwrap();
    let name = b"SEP001122334400.cnf.xml.sgn";
    let first = site.resolver.resolve(name);
    let again = site.resolver.resolve(name);
    assert_eq!(format!("{first:?}"), format!("{again:?}"), "the same bytes, header time included");
    assert_eq!((signer.stats().made, signer.stats().cache_hits), (1, 1));

    std::fs::write(root.join("SEP001122334400.cnf.xml"), b"<device><changed/></device>\n").unwrap();
    assert_eq!(signed_payload(&site.resolver.resolve(name)), b"<device><changed/></device>\n");
    assert_eq!(signer.stats().made, 2);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn every_signable_file_is_signed_before_its_phone_asks_and_a_change_within_one_interval() {
    let root = tree("ahead", 12);
    let signer = signer();
    let site = Site::load(SiteOptions { signer: Some(signer.clone()), ..SiteOptions::new(&root) })
        .unwrap();
    let mut names = site.resolver.signable_names();
    names.sort();
    assert_eq!(names.len(), 13, "{names:?}");
    assert!(names.contains(&"XMLDefault.cnf.xml.sgn".to_owned()));
    assert!(!names.iter().any(|n| n.starts_with("SEP001122334499")), "{names:?}");

    let handler = Arc::new(ProvisioningHandler::new(site.resolver));
    let every = Duration::from_millis(300);
    let presigner = Presigner::spawn(handler.clone(), every).unwrap().expect("the site signs");
    let wait_for = |made: u64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while signer.stats().made < made {
            assert!(Instant::now() < deadline, "{:?}", signer.stats());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(13);

    // The phones' requests are all answered from what was signed ahead.
    for name in &names {
        signed_payload(&handler.resolver().resolve(name.as_bytes()));
    }
    assert_eq!(signer.stats().made, 13);

    std::fs::write(root.join("SEP001122334405.cnf.xml"), b"<device><new/></device>\n").unwrap();
    let changed = Instant::now();
    wait_for(14);
    assert!(changed.elapsed() < every * 3, "signed again after {:?}", changed.elapsed());
    let answer = handler.resolver().resolve(b"SEP001122334405.cnf.xml.sgn");
    assert_eq!(signed_payload(&answer), b"<device><new/></device>\n");
    assert_eq!(signer.stats().made, 14);
    drop(presigner);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_resolver_without_a_signer_starts_no_presigner() {
    let root = tree("none", 1);
    let site = Site::load(SiteOptions::new(&root)).unwrap();
    assert!(site.resolver.signable_names().is_empty());
    let handler = Arc::new(ProvisioningHandler::new(site.resolver));
    assert!(Presigner::spawn(handler, Duration::from_secs(1)).unwrap().is_none());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn pre_signing_leaves_the_rebuild_of_a_missing_xml_default_to_the_first_phone() {
    let root = tree("old", 1);
    std::fs::remove_file(root.join("XMLDefault.cnf.xml")).unwrap();
    let old = cnfkit_resolve::DeviceDefaults::with_call_manager("10.1.2.3").xml_default().unwrap();
    std::fs::write(root.join("XMLDefault.cnf.xml.old"), old).unwrap();
    let site =
        Site::load(SiteOptions { signer: Some(signer()), ..SiteOptions::new(&root) }).unwrap();
    let names = site.resolver.signable_names();
    assert!(!names.iter().any(|n| n.starts_with("XMLDefault")), "{names:?}");
    let pass = cnfkit_server::presign(&site.resolver, 2, || false);
    assert_eq!((pass.names, pass.failed), (1, 0));
    assert!(!root.join("XMLDefault.cnf.xml").exists(), "written back before any phone asked");
    // The first phone to ask gets it rebuilt and signed.
    signed_payload(&site.resolver.resolve(b"XMLDefault.cnf.xml.sgn"));
    assert!(root.join("XMLDefault.cnf.xml").exists());
    std::fs::remove_dir_all(&root).unwrap();
}
