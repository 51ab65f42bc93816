//! The object-store mirror on a `file://` source (the same code path as S3, no server needed):
//! what a listing fetches, removes and leaves out, the index it keeps, and what a restart
//! finds. The S3 side, with a real server, is in the umbrella crate's `tests/replicas.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use cnfkit_server::mirror::{Mirror, MirrorOptions};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-mirror-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("store")).unwrap();
    dir
}

fn put(store: &Path, key: &str, bytes: &[u8]) {
    let path = store.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn open(dir: &Path) -> Mirror {
    let source = format!("file://{}", dir.join("store").display());
    Mirror::open(MirrorOptions::new(source, dir.join("cache"))).unwrap()
}

#[test]
fn a_listing_fetches_new_and_changed_objects_and_removes_deleted_ones() {
    let dir = scratch("sync");
    let store = dir.join("store");
    put(&store, "XMLDefault.cnf.xml", b"<Default/>\n");
    put(&store, "SEP001122334455.cnf.xml", b"<device/>\n");
    put(&store, "firmware/sip78xx.sbn", &vec![7u8; 200_000]);
    let mirror = open(&dir);
    let first = mirror.sync_blocking().unwrap();
    assert_eq!((first.objects, first.fetched, first.removed), (3, 3, 0));
    assert_eq!(
        std::fs::read(mirror.files().join("firmware/sip78xx.sbn")).unwrap(),
        vec![7u8; 200_000]
    );

    // Nothing changed: nothing fetched.
    let again = mirror.sync_blocking().unwrap();
    assert_eq!((again.objects, again.fetched, again.removed), (3, 0, 0));

    // Changed (another size), new, deleted.
    put(&store, "XMLDefault.cnf.xml", b"<Default><changed/></Default>\n");
    put(&store, "SEP00AABBCCDDEE.cnf.xml", b"<device>new</device>\n");
    std::fs::remove_file(store.join("SEP001122334455.cnf.xml")).unwrap();
    let next = mirror.sync_blocking().unwrap();
    assert_eq!((next.objects, next.fetched, next.removed), (3, 2, 1));
    assert_eq!(
        std::fs::read(mirror.files().join("XMLDefault.cnf.xml")).unwrap(),
        b"<Default><changed/></Default>\n"
    );
    assert!(!mirror.files().join("SEP001122334455.cnf.xml").exists());
    let stats = mirror.stats();
    assert_eq!(stats.fetched.load(Ordering::Relaxed), 5);
    assert_eq!(stats.removed.load(Ordering::Relaxed), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_restart_keeps_what_was_fetched_and_fetches_nothing_unchanged() {
    let dir = scratch("restart");
    put(&dir.join("store"), "XMLDefault.cnf.xml", b"<Default/>\n");
    put(&dir.join("store"), "SEP001122334455.cnf.xml", b"<device/>\n");
    assert_eq!(open(&dir).sync_blocking().unwrap().fetched, 2);
    let restarted = open(&dir);
    assert_eq!(restarted.cached(), 2, "the index was kept");
    assert_eq!(restarted.sync_blocking().unwrap().fetched, 0);

    // A file removed from the cache by hand is fetched again; a torn index starts over.
    std::fs::remove_file(restarted.files().join("XMLDefault.cnf.xml")).unwrap();
    assert_eq!(open(&dir).sync_blocking().unwrap().fetched, 1);
    std::fs::write(dir.join("cache/index.json"), b"{\"source\": \"file:///x\", \"obj").unwrap();
    let torn = open(&dir);
    assert_eq!(torn.cached(), 0);
    assert_eq!(torn.sync_blocking().unwrap().fetched, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_store_that_cannot_be_listed_is_an_error_and_the_cache_is_served_when_there_is_one() {
    let dir = scratch("outage");
    put(&dir.join("store"), "XMLDefault.cnf.xml", b"<Default/>\n");
    open(&dir).sync_blocking().unwrap();
    // The store goes away: the first refresh fails, and the cached file is still there.
    std::fs::remove_dir_all(dir.join("store")).unwrap();
    let source = format!("file://{}", dir.join("store").display());
    let (mirror, first) = Mirror::start(MirrorOptions::new(&source, dir.join("cache")))
        .unwrap_or_else(|e| panic!("a cached copy is served: {e}"));
    assert!(first.is_none(), "the listing failed");
    assert!(!mirror.stats().reachable.load(Ordering::Relaxed));
    assert_eq!(std::fs::read(mirror.files().join("XMLDefault.cnf.xml")).unwrap(), b"<Default/>\n");
    // A failed listing is not "every object deleted".
    assert!(mirror.sync_blocking().is_err());
    assert!(mirror.files().join("XMLDefault.cnf.xml").is_file());
    // With no cache at all, nothing to serve is an error naming the cache directory.
    let empty = dir.join("empty-cache");
    let err = Mirror::start(MirrorOptions::new(&source, &empty)).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("empty-cache holds no copy to serve"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn names_a_server_would_refuse_are_left_out_of_the_mirror() {
    let dir = scratch("hostile");
    let store = dir.join("store");
    put(&store, "XMLDefault.cnf.xml", b"<Default/>\n");
    put(&store, ".XMLDefault.cnf.xml.cnfkit-12-0.tmp", b"half a write");
    put(&store, "dir/with\\backslash", b"x");
    let mirror = open(&dir);
    let report = mirror.sync_blocking().unwrap();
    assert_eq!(report.fetched, 1, "{report:?}");
    assert_eq!(report.skipped.len(), 2, "{report:?}");
    let files: Vec<_> =
        std::fs::read_dir(mirror.files()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["XMLDefault.cnf.xml"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn source_urls_of_another_kind_are_refused_with_what_to_write() {
    let dir = scratch("urls");
    for (source, says) in [
        ("http://bucket/x", "s3://BUCKET/PREFIX/"),
        ("s3:///prefix", "no bucket"),
        ("file://relative/path", "absolute"),
    ] {
        let err = Mirror::open(MirrorOptions::new(source, dir.join("cache"))).unwrap_err();
        assert!(err.to_string().contains(says), "{source}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
