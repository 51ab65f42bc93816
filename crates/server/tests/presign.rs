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

#[test]
fn every_letter_case_of_one_file_is_one_signature_under_the_name_the_tree_spells() {
    let root = tree("spellings", 1);
    let signer = signer();
    let site = Site::load(SiteOptions { signer: Some(signer.clone()), ..SiteOptions::new(&root) })
        .unwrap();
    let handler = ProvisioningHandler::new(site.resolver);
    let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
    // 200 spellings of one file, as one spoofable request each would ask.
    let plain = "SEP001122334400.cnf.xml.sgn";
    for i in 0..200u32 {
        let spelling: String = plain
            .chars()
            .enumerate()
            .map(|(j, c)| if i >> (j % 24) & 1 == 1 { c.to_ascii_lowercase() } else { c })
            .collect();
        let answer = handler.answer_http(
            peer,
            spelling.as_bytes(),
            cnfkit_resolve::Transport::Http,
            None,
            None,
        );
        let cnfkit_server::HttpAnswer::Generated(bytes) = answer else {
            panic!("{spelling}: {answer:?}")
        };
        let file = SignedFile::parse(&bytes).unwrap();
        assert_eq!(
            file.filename().as_deref(),
            Some(plain),
            "{spelling}: the tree's spelling is signed"
        );
    }
    assert_eq!(signer.stats().made, 1, "one signature for every spelling");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_network_past_its_signing_budget_is_not_signed_for_while_others_and_pre_signing_are() {
    let root = tree("budget", 8);
    // One signature's worth of time per network, no refill; plenty for everyone.
    let budget = cnfkit_server::SigningBudget {
        network_burst: Duration::from_nanos(1),
        network_per_second: 0.0,
        ..cnfkit_server::SigningBudget::default()
    };
    let signer = signer().with_budget(budget);
    let site = Site::load(SiteOptions { signer: Some(signer.clone()), ..SiteOptions::new(&root) })
        .unwrap();
    let handler = ProvisioningHandler::new(site.resolver);
    let http = |ip: [u8; 4], name: &str| {
        handler.answer_http(
            (ip, 5000).into(),
            name.as_bytes(),
            cnfkit_resolve::Transport::Http,
            None,
            None,
        )
    };
    use cnfkit_server::HttpAnswer;
    assert!(matches!(
        http([127, 1, 1, 1], "SEP001122334400.cnf.xml.sgn"),
        HttpAnswer::Generated(_)
    ));
    // The same network (another address of its /24) has spent its budget: 503, not 404.
    assert!(matches!(http([127, 1, 1, 2], "SEP001122334401.cnf.xml.sgn"), HttpAnswer::Unavailable));
    // ...but what is signed already costs nothing.
    assert!(matches!(
        http([127, 1, 1, 2], "SEP001122334400.cnf.xml.sgn"),
        HttpAnswer::Generated(_)
    ));
    // Another network has its own budget.
    assert!(matches!(
        http([127, 1, 2, 1], "SEP001122334401.cnf.xml.sgn"),
        HttpAnswer::Generated(_)
    ));
    // The server's own pre-signing is not charged to anyone.
    let pass = cnfkit_server::presign(&handler.resolver(), 1, || false);
    assert_eq!(pass.failed, 0);
    assert!(matches!(
        http([127, 1, 1, 3], "SEP001122334405.cnf.xml.sgn"),
        HttpAnswer::Generated(_)
    ));
    assert_eq!(signer.stats().over_budget, 1);
    std::fs::remove_dir_all(&root).unwrap();
}

/// The signer answers an unchanged file by its version without hashing it again; a file
/// rewritten under the same name, even at the same size, is a new version and is signed anew.
#[test]
fn a_file_rewritten_at_the_same_size_is_signed_again_never_served_stale() {
    let root = tree("same-size", 1);
    let signer = signer();
    let site = Site::load(SiteOptions { signer: Some(signer.clone()), ..SiteOptions::new(&root) })
        .unwrap();
    let resolver = site.resolver;
    let name = b"SEP001122334400.cnf.xml.sgn";
    let first = signed_payload(&resolver.resolve(name));
    for _ in 0..5 {
        assert_eq!(signed_payload(&resolver.resolve(name)), first);
    }
    assert_eq!((signer.stats().made, signer.stats().cache_hits), (1, 5));
    // Same length, other bytes, written atomically (a new inode), as an editor or cnf-edit does.
    let changed: Vec<u8> = first.iter().map(|b| if *b == b'0' { b'9' } else { *b }).collect();
    assert_eq!(changed.len(), first.len());
    assert_ne!(changed, first);
    cnfkit_fs::write(&root.join("SEP001122334400.cnf.xml"), &changed, cnfkit_fs::Install::Replace)
        .unwrap();
    assert_eq!(signed_payload(&resolver.resolve(name)), changed);
    assert_eq!(signer.stats().made, 2);
    std::fs::remove_dir_all(&root).unwrap();
}
