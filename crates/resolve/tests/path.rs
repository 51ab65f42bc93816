//! Path safety: a requested name never names a file outside the served tree (docs/security.md,
//! paths stay inside the root; the traversal bugs of atftpd's `/../` substring check and tftpy's prefix
//! check are the cautionary tales).

use cnfkit_resolve::{Error, PathRefusal, SafePath};
use proptest::prelude::*;

fn refusal(name: &[u8]) -> Option<PathRefusal> {
    match SafePath::new(name) {
        Err(Error::PathRefused { reason }) => Some(reason),
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => None,
    }
}

/// 48 hostile names, each refused, with the reason we expect.
#[test]
fn hostile_names_are_all_refused() {
    use PathRefusal::*;
    let long = vec![b'a'; 513];
    let cases: &[(&[u8], PathRefusal)] = &[
        (b"..", ParentComponent),
        (b"../", ParentComponent),
        (b"../etc/passwd", ParentComponent),
        (b"../../../../../../etc/shadow", ParentComponent),
        (b"/../etc/passwd", ParentComponent),
        (b"//../etc/passwd", ParentComponent),
        (b"a/../../etc/passwd", ParentComponent),
        (b"a/b/../../..", ParentComponent),
        (b"a/./../..", ParentComponent),
        (b"..\\..\\etc\\passwd", ParentComponent),
        (b"\\..\\windows\\win.ini", ParentComponent),
        (b"a\\..\\..\\b", ParentComponent),
        (b"a/..\\b", ParentComponent),
        (b"..\\", ParentComponent),
        (b"...", ParentComponent),
        (b"..../etc", ParentComponent),
        (b"a/.../b", ParentComponent),
        (b"SEP001122334455.cnf.xml/..", ParentComponent),
        (b"./../x", ParentComponent),
        (b"%2e%2e/../x", ParentComponent),
        (b"file\0.txt", Nul),
        (b"\0", Nul),
        (b"XMLDefault.cnf.xml\0../../etc/passwd", Nul),
        (b"a\nb", ControlByte),
        (b"a\rb", ControlByte),
        (b"\x1b[31mred", ControlByte),
        (b"tab\there", ControlByte),
        (b"del\x7f", ControlByte),
        (b"\x01", ControlByte),
        (b"C:\\Windows\\win.ini", Colon),
        (b"c:/boot.ini", Colon),
        (b"C:", Colon),
        (b"file.txt::$DATA", Colon),
        (b"\\\\?\\C:\\x", Colon),
        (b"tftp://host/x", Colon),
        (b"caf\xe9", NotUtf8),
        (b"\xff\xfe", NotUtf8),
        (b"\xc0\xae\xc0\xae/etc/passwd", NotUtf8), // overlong UTF-8 for ".."
        (b"", Empty),
        (b"/", Empty),
        (b"///", Empty),
        (b"\\", Empty),
        (b".", Empty),
        (b"./", Empty),
        (b"/./.", Empty),
        (b"\\.\\", Empty),
        (&long, TooLong),
        (b"a/../", ParentComponent),
    ];
    assert!(cases.len() >= 40);
    for (name, reason) in cases {
        assert_eq!(refusal(name), Some(*reason), "{}", String::from_utf8_lossy(name));
    }
}

#[test]
fn phone_names_with_leading_slashes_and_backslashes_are_normalised() {
    let ok = |name: &[u8]| SafePath::new(name).unwrap().as_str().to_owned();
    assert_eq!(ok(b"SEP001122334455.cnf.xml"), "SEP001122334455.cnf.xml");
    assert_eq!(ok(b"/mk-sip.jar"), "mk-sip.jar", "7942 locale jar (waynemerricks log)");
    assert_eq!(ok(b"Desktops\\320x196x4\\List.xml"), "Desktops/320x196x4/List.xml");
    assert_eq!(ok(b"English_United_States//./g3-tones.xml"), "English_United_States/g3-tones.xml");
    assert_eq!(ok(b"..file"), "..file", "a name that starts with dots is an ordinary name");
    assert_eq!(ok(b"a..b/c.."), "a..b/c..");
    assert_eq!(ok("Español/tones.xml".as_bytes()), "Español/tones.xml");
    assert_eq!(SafePath::new(b"/a/b/c.sbn").unwrap().file_name(), "c.sbn");
}

proptest! {
    /// Whatever the bytes, an accepted path is relative, has no `.`/`..`/empty component, and no
    /// byte that a file system could read as a separator or terminator beyond `/`.
    #[test]
    fn accepted_paths_stay_inside_the_tree(name in proptest::collection::vec(prop_oneof![
        Just(b'.'), Just(b'/'), Just(b'\\'), Just(b':'), Just(0u8), Just(b'a'), any::<u8>()
    ], 0..40)) {
        if let Ok(path) = SafePath::new(&name) {
            let s = path.as_str();
            prop_assert!(!s.starts_with('/'));
            prop_assert!(!s.contains('\\') && !s.contains(':') && !s.contains('\0'));
            for component in path.components() {
                prop_assert!(!component.is_empty());
                prop_assert!(!component.bytes().all(|b| b == b'.'), "{:?}", s);
            }
            // Idempotent: a normalised path normalises to itself.
            prop_assert_eq!(SafePath::new(s.as_bytes()).unwrap(), path.clone());
            let joined = std::path::Path::new("/srv/tftp").join(s);
            prop_assert!(joined.starts_with("/srv/tftp"));
        }
    }
}
