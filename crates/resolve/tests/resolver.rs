//! The server's answers (issue: cnfkit-resolve, server side).

use std::path::PathBuf;
use std::sync::Arc;

use cnfkit_resolve::{
    Answer, CACHED_FILE_MAX, ConfigGenerator, Contents, Directory, Failure, FileKind, Found,
    FsDirectory, Mac, Made, MemoryDirectory, PathRefusal, Protection, Resolver, SignError, Signer,
};

struct Inventory;

impl ConfigGenerator for Inventory {
    fn device_config(&self, mac: Mac, kind: FileKind) -> Option<Vec<u8>> {
        (mac.to_string() == "001122AABBCC")
            .then(|| format!("<device>{kind:?}</device>").into_bytes())
    }
    fn default_config(&self) -> Option<Vec<u8>> {
        Some(b"<Default>rebuilt</Default>".to_vec())
    }
}

struct PrefixSigner;

impl Signer for PrefixSigner {
    fn sign(&self, served_name: &str, payload: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok([format!("SIGNED {served_name}\n").as_bytes(), payload].concat())
    }
}

/// A signer whose key has gone bad: every signature fails.
struct BrokenSigner;

impl Signer for BrokenSigner {
    fn sign(&self, _: &str, _: &[u8]) -> Result<Vec<u8>, SignError> {
        Err(SignError::new(std::io::Error::other("the key is on a card that was removed")))
    }
}

#[test]
fn a_signer_error_is_a_failure_with_its_cause_not_a_miss() {
    let dir = MemoryDirectory::new();
    dir.insert("SEP001122AABBCC.cnf.xml", b"<device/>".to_vec());
    let resolver = Resolver::new(dir).with_signer(BrokenSigner);
    let answer = resolver.resolve(b"SEP001122AABBCC.cnf.xml.sgn");
    let Answer::Failed { kind, failure } = &answer else { panic!("{answer:?}") };
    assert_eq!(*kind, FileKind::DeviceConfig(Protection::Signed));
    assert!(matches!(failure, Failure::Signing(_)), "{failure:?}");
    assert_eq!(failure.to_string(), "signing failed: the key is on a card that was removed");
    let cause = std::error::Error::source(failure).and_then(std::error::Error::source);
    assert_eq!(
        cause.map(ToString::to_string).as_deref(),
        Some("the key is on a card that was removed")
    );
    assert_eq!(answer.label(), "failed");
    // A name with no plain file behind it is still an ordinary miss.
    assert!(matches!(resolver.resolve(b"SEP0011223344FF.cnf.xml.sgn"), Answer::NotFound { .. }));
}

fn bytes(resolver: &Resolver<MemoryDirectory>, name: &str) -> Vec<u8> {
    match resolver.resolve(name.as_bytes()) {
        Answer::File { path, .. } => resolver.directory().read(&path).unwrap(),
        Answer::Generated { bytes, .. } => bytes,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn exact_then_case_insensitive_per_component_cisco_cnf_2_4() {
    let dir = MemoryDirectory::new();
    dir.insert("SEP001122AABBCC.cnf.xml", b"exact".to_vec());
    dir.insert("sep00112233445a.cnf.xml", b"lower".to_vec());
    dir.insert("English_United_States/mk-sip.jar", b"jar".to_vec());
    let resolver = Resolver::new(dir);
    assert_eq!(
        resolver.resolve(b"SEP001122AABBCC.cnf.xml"),
        Answer::File { path: "SEP001122AABBCC.cnf.xml".into(), found: Found::Exact }
    );
    assert_eq!(
        resolver.resolve(b"SEP00112233445A.cnf.xml"),
        Answer::File { path: "sep00112233445a.cnf.xml".into(), found: Found::CaseInsensitive }
    );
    assert_eq!(
        resolver.resolve(b"/english_united_states\\MK-SIP.JAR"),
        Answer::File {
            path: "English_United_States/mk-sip.jar".into(),
            found: Found::CaseInsensitive
        }
    );
}

#[test]
fn misses_say_what_they_mean_and_which_are_normal() {
    let resolver = Resolver::new(MemoryDirectory::new());
    let Answer::NotFound { normal, why, .. } = resolver.resolve(b"ITLSEP001122AABBCC.tlv") else {
        panic!()
    };
    assert!(normal && why.contains("trust list"));
    let Answer::NotFound { normal, why, .. } = resolver.resolve(b"SEP001122AABBCC.cnf.xml") else {
        panic!()
    };
    assert!(normal && why.contains("XMLDefault"));
    let Answer::NotFound { normal, why, .. } = resolver.resolve(b"term42.default.loads") else {
        panic!()
    };
    assert!(!normal && why.contains("Upgrading"));
    assert!(matches!(
        resolver.resolve(b"XMLDefault.cnf.xml"),
        Answer::NotFound { normal: false, .. }
    ));
}

#[test]
fn hostile_names_are_refused_before_touching_the_directory() {
    let resolver = Resolver::new(MemoryDirectory::new());
    assert_eq!(
        resolver.resolve(b"../../etc/passwd"),
        Answer::Refused(PathRefusal::ParentComponent)
    );
    assert_eq!(resolver.resolve(b"a\0b"), Answer::Refused(PathRefusal::Nul));
}

#[test]
fn known_devices_get_a_generated_config_unknown_ones_fall_back() {
    let resolver = Resolver::new(MemoryDirectory::new()).with_generator(Inventory);
    let answer = resolver.resolve(b"SEP001122aabbcc.cnf.xml");
    assert!(matches!(answer, Answer::Generated { made: Made::FromInventory, .. }));
    assert!(matches!(resolver.resolve(b"SEP0011223344FF.cnf.xml"), Answer::NotFound { .. }));
}

#[test]
fn a_file_on_disk_wins_over_the_inventory() {
    let dir = MemoryDirectory::new();
    dir.insert("SEP001122AABBCC.cnf.xml", b"admin's own".to_vec());
    let resolver = Resolver::new(dir).with_generator(Inventory);
    assert_eq!(bytes(&resolver, "SEP001122AABBCC.cnf.xml"), b"admin's own");
}

#[test]
fn signed_variants_are_signed_on_the_fly_from_the_plain_file_or_the_inventory() {
    let dir = MemoryDirectory::new();
    dir.insert("SEP0011223344FF.cnf.xml", b"<device/>".to_vec());
    let resolver = Resolver::new(dir).with_generator(Inventory).with_signer(PrefixSigner);
    assert_eq!(
        bytes(&resolver, "SEP0011223344FF.cnf.xml.sgn"),
        b"SIGNED SEP0011223344FF.cnf.xml.sgn\n<device/>"
    );
    let answer = resolver.resolve(b"SEP001122AABBCC.cnf.xml.sgn");
    let Answer::Generated { made: Made::SignedOnTheFly { source }, .. } = answer else { panic!() };
    assert_eq!(source.label(), "inventory");
    assert!(matches!(resolver.resolve(b"SEP0011223344EE.cnf.xml.sgn"), Answer::NotFound { .. }));
    // The suffix in any letter case, as the name recogniser reads it; the signed header names
    // the file as the tree spells it, so every spelling is one signature.
    for spelling in ["SEP0011223344FF.cnf.xml.Sgn", "sep0011223344ff.CNF.xml.sgn"] {
        assert_eq!(bytes(&resolver, spelling), b"SIGNED SEP0011223344FF.cnf.xml.sgn\n<device/>");
    }
    // A generated configuration is signed under the name a phone's boot gives it.
    assert_eq!(
        bytes(&resolver, "sep001122aabbcc.cnf.xml.SGN"),
        b"SIGNED SEP001122AABBCC.cnf.xml.sgn\n<device>DeviceConfig(Plain)</device>"
    );
}

#[test]
fn without_a_signer_a_signed_request_misses_so_the_phone_falls_back() {
    let dir = MemoryDirectory::new();
    dir.insert("SEP0011223344FF.cnf.xml", b"<device/>".to_vec());
    let resolver = Resolver::new(dir);
    assert!(matches!(resolver.resolve(b"SEP0011223344FF.cnf.xml.sgn"), Answer::NotFound { .. }));
}

/// cnfkit's own documented feature: XMLDefault.cnf.xml is always served, rebuilt from the device
/// defaults when missing, and written back so the tree heals.
#[test]
fn a_missing_xmldefault_is_rebuilt_and_written_back() {
    let dir = MemoryDirectory::new();
    dir.insert("XMLDefault.cnf.xml.old", b"<Default>old</Default>".to_vec());
    let resolver = Resolver::new(dir).with_generator(Inventory);
    let answer = resolver.resolve(b"XMLDefault.cnf.xml");
    assert!(matches!(
        answer,
        Answer::Generated { made: Made::RebuiltDefault { written_back: true }, .. }
    ));
    assert_eq!(
        resolver.directory().get("XMLDefault.cnf.xml").unwrap(),
        b"<Default>rebuilt</Default>"
    );
    assert_eq!(
        resolver.resolve(b"XMLDefault.cnf.xml").label(),
        "exact",
        "served from disk next time"
    );

    let resolver =
        Resolver::new(MemoryDirectory::new()).with_generator(Inventory).write_back_default(false);
    assert!(matches!(
        resolver.resolve(b"XMLDefault.cnf.xml"),
        Answer::Generated { made: Made::RebuiltDefault { written_back: false }, .. }
    ));
    assert!(resolver.directory().get("XMLDefault.cnf.xml").is_none());
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("cnfkit-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn fs_directory_confines_symlinks_to_the_root() {
    let scratch = Scratch::new("symlinks");
    let root = scratch.0.join("tftp");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(scratch.0.join("secret.txt"), b"outside").unwrap();
    std::fs::write(root.join("sub/inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink(scratch.0.join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(&scratch.0, root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("sub/inside.txt"), root.join("alias.txt")).unwrap();
    let dir = FsDirectory::new(&root).unwrap();
    assert!(!dir.exists("escape.txt"), "a symlink out of the root is absent");
    assert!(!dir.exists("escape-dir/secret.txt"));
    assert!(dir.open("escape.txt").is_err());
    assert!(dir.exists("alias.txt"), "a symlink that stays inside is followed");
    assert!(!dir.exists("sub"), "directories are not files");
    let resolver = Resolver::new(dir);
    assert!(matches!(resolver.resolve(b"escape.txt"), Answer::NotFound { .. }));
    assert!(matches!(resolver.resolve(b"ESCAPE-DIR/secret.txt"), Answer::NotFound { .. }));
    assert_eq!(resolver.resolve(b"SUB/INSIDE.TXT").label(), "case-insensitive");
}

#[test]
fn fs_directory_rebuilds_xmldefault_after_it_was_renamed_to_old() {
    let scratch = Scratch::new("rebuild");
    std::fs::write(scratch.0.join("XMLDefault.cnf.xml.old"), b"old").unwrap();
    let resolver = Resolver::new(FsDirectory::new(&scratch.0).unwrap()).with_generator(Inventory);
    assert!(matches!(
        resolver.resolve(b"XMLDefault.cnf.xml"),
        Answer::Generated { made: Made::RebuiltDefault { written_back: true }, .. }
    ));
    assert_eq!(
        std::fs::read(scratch.0.join("XMLDefault.cnf.xml")).unwrap(),
        b"<Default>rebuilt</Default>"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind: {leftovers:?}");
}

#[test]
fn a_failed_write_back_still_serves_the_rebuilt_default_and_leaves_no_temp_file() {
    let scratch = Scratch::new("write-fails");
    // A non-empty directory where the file should be: the rename over it fails (as root, too,
    // unlike permission bits).
    std::fs::create_dir_all(scratch.0.join("XMLDefault.cnf.xml/keep")).unwrap();
    let resolver = Resolver::new(FsDirectory::new(&scratch.0).unwrap()).with_generator(Inventory);
    assert!(matches!(
        resolver.resolve(b"XMLDefault.cnf.xml"),
        Answer::Generated { made: Made::RebuiltDefault { written_back: false }, .. }
    ));
    assert!(scratch.0.join("XMLDefault.cnf.xml/keep").is_dir(), "what was there is untouched");
    let names: Vec<_> =
        std::fs::read_dir(&scratch.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["XMLDefault.cnf.xml"], "no temporary file left behind");
    assert!(resolver.directory().create_atomic("missing-dir/x", b"x").is_err());
    assert!(!scratch.0.join("missing-dir").exists());
}

#[test]
fn fs_directory_case_index_sees_files_added_and_removed_after_a_lookup() {
    let scratch = Scratch::new("case-index");
    std::fs::write(scratch.0.join("sep001122aabbcc.cnf.xml"), b"<device/>").unwrap();
    let dir = FsDirectory::new(&scratch.0).unwrap();
    assert_eq!(
        dir.find_ignore_case("", "SEP001122AABBCC.cnf.xml").as_deref(),
        Some("sep001122aabbcc.cnf.xml")
    );
    assert_eq!(dir.find_ignore_case("", "SEP0011223344FF.cnf.xml"), None);
    // A phone's file copied in while the server runs: the directory changed, the index follows.
    std::fs::write(scratch.0.join("Sep0011223344ff.cnf.xml"), b"<device/>").unwrap();
    assert_eq!(
        dir.find_ignore_case("", "SEP0011223344FF.cnf.xml").as_deref(),
        Some("Sep0011223344ff.cnf.xml")
    );
    std::fs::remove_file(scratch.0.join("sep001122aabbcc.cnf.xml")).unwrap();
    assert_eq!(dir.find_ignore_case("", "SEP001122AABBCC.cnf.xml"), None);
    // Two spellings on disk: the exact one wins.
    std::fs::write(scratch.0.join("SEP0011223344FF.cnf.xml"), b"<device/>").unwrap();
    assert_eq!(
        dir.find_ignore_case("", "SEP0011223344FF.cnf.xml").as_deref(),
        Some("SEP0011223344FF.cnf.xml")
    );
}

/// Sets a directory's modification time `ago` in the past, as if it had been still since.
fn still_since(dir: &std::path::Path, ago: std::time::Duration) {
    let when = std::time::SystemTime::now() - ago;
    std::fs::File::open(dir).unwrap().set_modified(when).unwrap();
}

#[test]
fn fs_directory_answers_top_level_names_from_a_settled_listing_and_follows_every_change() {
    use std::time::Duration;
    let scratch = Scratch::new("settled-listing");
    let root = scratch.0.join("tftp");
    std::fs::create_dir_all(root.join("SEPDIR.cnf.xml")).unwrap();
    std::fs::write(scratch.0.join("secret.txt"), b"outside").unwrap();
    std::fs::write(root.join("SEP001122AABBCC.cnf.xml"), b"<device/>").unwrap();
    std::os::unix::fs::symlink(root.join("SEP001122AABBCC.cnf.xml"), root.join("alias.cnf.xml"))
        .unwrap();
    std::os::unix::fs::symlink(scratch.0.join("secret.txt"), root.join("escape.cnf.xml")).unwrap();
    still_since(&root, Duration::from_secs(60));
    let resolver = Resolver::new(FsDirectory::new(&root).unwrap());
    let label = |name: &str| resolver.resolve(name.as_bytes()).label();
    assert_eq!(label("SEP001122AABBCC.cnf.xml"), "exact");
    assert_eq!(label("sep001122aabbcc.CNF.XML"), "case-insensitive");
    assert_eq!(label("CTLSEP001122AABBCC.tlv"), "not-found");
    assert_eq!(label("SEPDIR.cnf.xml"), "not-found", "a directory is not a file");
    assert_eq!(label("alias.cnf.xml"), "exact", "a symlink inside the tree is followed");
    assert_eq!(label("escape.cnf.xml"), "not-found", "a symlink out of the tree is absent");

    // The listing is what answers: a file that appeared without the root's modification time
    // moving (a coarse clock, the same tick) is not seen yet...
    let stamp = std::fs::metadata(&root).unwrap().modified().unwrap();
    std::fs::write(root.join("SEP0011223344FF.cnf.xml"), b"<device/>").unwrap();
    std::fs::File::open(&root).unwrap().set_modified(stamp).unwrap();
    assert_eq!(label("SEP0011223344FF.cnf.xml"), "not-found");
    // ...and is as soon as the time moves, as every creation, removal or rename makes it.
    still_since(&root, Duration::from_secs(50));
    assert_eq!(label("SEP0011223344FF.cnf.xml"), "exact");
    // A file replaced by a symlink out of the tree (a rename over it) is absent at once.
    std::os::unix::fs::symlink(scratch.0.join("secret.txt"), root.join("swap")).unwrap();
    std::fs::rename(root.join("swap"), root.join("SEP0011223344FF.cnf.xml")).unwrap();
    still_since(&root, Duration::from_secs(40));
    assert_eq!(label("SEP0011223344FF.cnf.xml"), "not-found");
    std::fs::remove_file(root.join("SEP001122AABBCC.cnf.xml")).unwrap();
    assert_eq!(label("SEP001122AABBCC.cnf.xml"), "not-found", "removed, right after the change");
    still_since(&root, Duration::from_secs(30));
    assert_eq!(label("SEP001122AABBCC.cnf.xml"), "not-found");
}

#[test]
fn fs_directory_follows_a_root_renamed_away_and_replaced_within_a_second() {
    use std::time::{Duration, Instant};
    let scratch = Scratch::new("root-replaced");
    let root = scratch.0.join("tftp");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("SEP001122AABBCC.cnf.xml"), b"<device/>").unwrap();
    still_since(&root, Duration::from_secs(60));
    let resolver = Resolver::new(FsDirectory::new(&root).unwrap());
    let label = |name: &str| resolver.resolve(name.as_bytes()).label();
    assert_eq!(label("SEP001122AABBCC.cnf.xml"), "exact");
    assert_eq!(label("SEP0011223344FF.cnf.xml"), "not-found");
    // An admin swaps in a new tree: the old one renamed away, a new one at the same path,
    // settled (its time well in the past) with a file the old one lacked.
    let replaced = Instant::now();
    std::fs::rename(&root, scratch.0.join("tftp.old")).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("SEP0011223344FF.cnf.xml"), b"<device/>").unwrap();
    still_since(&root, Duration::from_secs(60));
    // The root's open handle is checked against the path at least once a second.
    let deadline = replaced + Duration::from_millis(1500);
    while label("SEP0011223344FF.cnf.xml") != "exact" {
        assert!(Instant::now() < deadline, "the new root is not seen after 1.5 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(label("SEP001122AABBCC.cnf.xml"), "not-found", "the old tree's file is gone");
}

fn memory(contents: Contents) -> Arc<[u8]> {
    match contents {
        Contents::Memory(bytes) => bytes,
        Contents::File(..) => panic!("expected a small file from memory"),
    }
}

#[test]
fn fs_directory_serves_a_small_file_from_memory_until_it_changes() {
    let scratch = Scratch::new("file-cache");
    let path = scratch.0.join("XMLDefault.cnf.xml");
    std::fs::write(&path, b"<Default>one</Default>").unwrap();
    let tree = FsDirectory::new(&scratch.0).unwrap();

    let first = memory(tree.open_contents("XMLDefault.cnf.xml").unwrap());
    let again = memory(tree.open_contents("XMLDefault.cnf.xml").unwrap());
    assert!(Arc::ptr_eq(&first, &again), "a boot storm reads it from disk once");

    // Rewritten in place with the same length: the modification and change times move.
    std::fs::write(&path, b"<Default>two</Default>").unwrap();
    assert_eq!(
        &*memory(tree.open_contents("XMLDefault.cnf.xml").unwrap()),
        b"<Default>two</Default>"
    );

    // Replaced atomically (a new inode renamed over it), as cnf-repack and the rebuild write.
    let temp = scratch.0.join(".XMLDefault.tmp");
    std::fs::write(&temp, b"<Default>three</Default>").unwrap();
    std::fs::rename(&temp, &path).unwrap();
    assert_eq!(
        &*memory(tree.open_contents("XMLDefault.cnf.xml").unwrap()),
        b"<Default>three</Default>"
    );
    assert_eq!(tree.read("XMLDefault.cnf.xml").unwrap(), b"<Default>three</Default>");
    // Each version has a token of its own, the same for as long as it is unchanged: what a
    // signer keys its work on instead of hashing the bytes again.
    let (three, token) = tree.read_versioned("XMLDefault.cnf.xml").unwrap();
    assert_eq!(&*three, b"<Default>three</Default>");
    assert_eq!(tree.read_versioned("XMLDefault.cnf.xml").unwrap().1, token);
    assert!(token.is_some(), "a small file from memory has a version");
    std::fs::write(&path, b"<Default>four!</Default>").unwrap();
    let (four, changed) = tree.read_versioned("XMLDefault.cnf.xml").unwrap();
    assert_eq!((&*four, changed == token), (&b"<Default>four!</Default>"[..], false));

    std::fs::remove_file(&path).unwrap();
    let gone = tree.open_contents("XMLDefault.cnf.xml").unwrap_err();
    assert_eq!(
        gone.kind(),
        std::io::ErrorKind::NotFound,
        "a deleted file is not served from memory"
    );
}

#[test]
fn fs_directory_streams_large_files_and_refuses_what_is_not_a_file() {
    let scratch = Scratch::new("file-cache-large");
    let image = vec![7u8; usize::try_from(CACHED_FILE_MAX).unwrap() + 1];
    std::fs::write(scratch.0.join("jar42sccp.sbn"), &image).unwrap();
    std::fs::create_dir(scratch.0.join("dir")).unwrap();
    let tree = FsDirectory::new(&scratch.0).unwrap();
    match tree.open_contents("jar42sccp.sbn").unwrap() {
        Contents::File(_, len) => assert_eq!(len, CACHED_FILE_MAX + 1),
        Contents::Memory(_) => panic!("images are streamed from disk, not held in memory"),
    }
    for name in ["dir", "missing.cnf.xml", "../etc/passwd", "/etc/passwd"] {
        let err = tree.open_contents(name).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{name}");
    }
}

#[cfg(unix)]
#[test]
fn fs_directory_never_caches_a_symlink_that_leads_out() {
    let scratch = Scratch::new("file-cache-symlink");
    let root = scratch.0.join("tftp");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(scratch.0.join("secret"), b"outside").unwrap();
    std::os::unix::fs::symlink(scratch.0.join("secret"), root.join("SEP001122334455.cnf.xml"))
        .unwrap();
    let tree = FsDirectory::new(&root).unwrap();
    assert!(tree.open_contents("SEP001122334455.cnf.xml").is_err());
    assert!(tree.read("SEP001122334455.cnf.xml").is_err());
}

#[test]
fn an_upload_in_progress_is_never_served_in_any_letter_case() {
    let root = std::env::temp_dir().join(format!("cnfkit-resolve-temp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let pending = cnfkit_fs::PendingFile::create(
        &root.join("SEP001122AABBCC.cnf.xml"),
        cnfkit_fs::Install::CreateOnly,
    )
    .unwrap();
    let temp = pending.temp_path().file_name().unwrap().to_str().unwrap().to_owned();
    let resolver = Resolver::new(FsDirectory::new(&root).unwrap());
    for asked in [temp.clone(), temp.to_ascii_uppercase(), format!("/{temp}")] {
        assert_eq!(
            resolver.resolve(asked.as_bytes()),
            Answer::Refused(PathRefusal::TempFile),
            "{asked}"
        );
    }
    // Nor does a case-insensitive lookup of the real name ever land on it.
    assert!(resolver.directory().find_ignore_case("", &temp[1..]).is_none());
    drop(pending);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_memory_tree_shares_one_copy_of_a_file_with_every_reader() {
    let dir = MemoryDirectory::new();
    dir.insert("demo-1MiB.bin", vec![7; 1 << 20]);
    let (a, b) =
        (dir.get_shared("demo-1MiB.bin").unwrap(), dir.get_shared("demo-1MiB.bin").unwrap());
    assert!(Arc::ptr_eq(&a, &b), "a second transfer must not copy the file");
    assert!(dir.exists("demo-1MiB.bin"));
    assert_eq!(dir.read("demo-1MiB.bin").unwrap().len(), 1 << 20);
}

/// What real phones ask for that a name-exact server misses; each pinned by the phone that
/// sends it.
mod what_old_phones_ask_for {
    use cnfkit_resolve::{Answer, Found, MemoryDirectory, Resolver};

    fn tree() -> Resolver<MemoryDirectory> {
        let tree = MemoryDirectory::new();
        for name in [
            "mk-sip.jar",
            "P00308010200.loads",
            "jar11sip.8-2-2ES4.sbn",
            "English_United_States/mk-sip.jar",
        ] {
            tree.insert(name, name.as_bytes().to_vec());
        }
        Resolver::new(tree)
    }

    fn found(answer: Answer) -> (String, Found) {
        match answer {
            Answer::File { path, found } => (path, found),
            other => panic!("not a file: {other:?}"),
        }
    }

    /// A 7942 on SIP firmware asks for its locale jar as `/mk-sip.jar` (an empty locale name
    /// before the slash).
    #[test]
    fn a_7942_sip_asking_for_slash_mk_sip_jar_gets_the_jar() {
        assert_eq!(found(tree().resolve(b"/mk-sip.jar")), ("mk-sip.jar".into(), Found::Exact));
    }

    /// A 7940/7960 that read a load name from a file written on Windows asks for it with a
    /// trailing space (Cisco bug CSCdv19260): the name without it is served.
    #[test]
    fn a_7960_asking_for_a_load_with_a_trailing_space_gets_the_load() {
        let (path, _) = found(tree().resolve(b"P00308010200.loads "));
        assert_eq!(path, "P00308010200.loads");
        assert!(matches!(tree().resolve(b"P00308010200.loads\t"), Answer::Refused(_)));
        assert!(matches!(tree().resolve(b"   "), Answer::NotFound { .. }), "only spaces: no name");
    }

    /// A 7911 asks for its images as its manifest spells them (`Jar11sip.8-2-2ES4.sbn`) while
    /// the pack's file is `jar11sip...`; a tftpd-hpa answers "File not found".
    #[test]
    fn a_7911_asking_for_jar11sip_in_its_manifests_case_gets_the_image() {
        let (path, found_how) = found(tree().resolve(b"Jar11sip.8-2-2ES4.sbn"));
        assert_eq!((path.as_str(), found_how), ("jar11sip.8-2-2ES4.sbn", Found::CaseInsensitive));
    }

    /// Windows TFTP clients (and PXE loaders) separate folders with backslashes; a locale
    /// folder is found either way, and a backslash cannot climb out.
    #[test]
    fn backslash_separators_find_a_locale_folder_and_never_climb_out() {
        let (path, _) = found(tree().resolve(b"English_United_States\\mk-sip.jar"));
        assert_eq!(path, "English_United_States/mk-sip.jar");
        assert!(matches!(tree().resolve(b"..\\..\\etc\\passwd"), Answer::Refused(_)));
    }
}
