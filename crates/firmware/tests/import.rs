//! Importing Cisco firmware packs into a library, as admins get them: a flat zip for a TFTP
//! server of one's own, a tarball, a signed `.cop.sgn`. Hostile packs are refused whole.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cnfkit_firmware::{Error, Library, PackFormat};
use cnfkit_repack::{Certificate, HashAlgorithm, HeaderKind, PrivateKey, SignedFile};

const TFTP_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../repack/tests/data/test-tftp.pem");
const SAST_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../repack/tests/data/test-sast.pem");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-fw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The files of a 7942/7962 SCCP pack, as `cmterm-7942_7962-sccp.9-4-2SR4-3.zip` lays them out
/// (flat; both term files name the 42 images), with small images.
fn sccp42_pack() -> Vec<(String, Vec<u8>)> {
    let images = ["jar42sccp.9-4-2ES26.sbn", "cnu42.9-4-2ES26.sbn", "apps42.9-4-2ES26.sbn"];
    let list: String = images.iter().map(|i| format!("{i}\r\n")).collect();
    let manifest = format!("# RELEASE load version 9-4-2SR4-3\r\n\r\n{list}");
    let mut files = vec![
        ("SCCP42.9-4-2SR4-3S.loads".to_owned(), manifest.clone().into_bytes()),
        ("term42.default.loads".to_owned(), manifest.clone().into_bytes()),
        ("term62.default.loads".to_owned(), manifest.into_bytes()),
        ("README.txt".to_owned(), b"install notes".to_vec()),
    ];
    for (i, image) in images.iter().enumerate() {
        files.push(((*image).to_owned(), vec![u8::try_from(i).unwrap(); 1000 + i]));
    }
    files
}

fn zip_of(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, content) in files {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap();
}

fn tar_gz_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, content.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_cisco_zip_becomes_one_folder_per_load_with_its_term_files_and_images() {
    let dir = scratch("zip");
    let pack = dir.join("cmterm-7942_7962-sccp.9-4-2SR4-3.zip");
    zip_of(&pack, &sccp42_pack());
    let library = Library::open(dir.join("lib")).unwrap();
    let imported = library.import(&pack, None).unwrap();
    assert_eq!(imported.format, PackFormat::Zip);
    assert_eq!(imported.loads, ["SCCP42.9-4-2SR4-3S"]);
    assert_eq!(imported.left_out, ["README.txt"]);
    assert_eq!(
        tree(library.dir()),
        [
            "SCCP42.9-4-2SR4-3S/SCCP42.9-4-2SR4-3S.loads",
            "SCCP42.9-4-2SR4-3S/apps42.9-4-2ES26.sbn",
            "SCCP42.9-4-2SR4-3S/cnu42.9-4-2ES26.sbn",
            "SCCP42.9-4-2SR4-3S/jar42sccp.9-4-2ES26.sbn",
            "SCCP42.9-4-2SR4-3S/term42.default.loads",
            "SCCP42.9-4-2SR4-3S/term62.default.loads",
        ]
    );
    let loads = library.loads().unwrap();
    assert_eq!(loads[0].terms, ["term42", "term62"]);
    assert_eq!(loads[0].images[0], ("jar42sccp.9-4-2ES26.sbn".to_owned(), 1000));
    assert!(loads[0].problems.is_empty(), "{:?}", loads[0].problems);
    // Importing the same pack again changes nothing.
    let again = library.import(&pack, None).unwrap();
    assert_eq!((again.loads.len(), again.already.len()), (0, 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_signed_cop_is_read_through_its_header_and_verified_when_a_certificate_is_given() {
    let dir = scratch("cop");
    let name = "cmterm-7942_7962-sccp.9-4-2SR4-3.cop";
    let mut signed = SignedFile::new(
        HeaderKind::Signed,
        name,
        0,
        HashAlgorithm::Sha1,
        tar_gz_of(&sccp42_pack()),
    );
    let key = PrivateKey::from_pem_file(Path::new(TFTP_PEM)).unwrap();
    let cert = Certificate::from_pem_file(Path::new(TFTP_PEM)).unwrap();
    signed.sign(&key, &cert).unwrap();
    let pack = dir.join(format!("{name}.sgn"));
    std::fs::write(&pack, signed.to_bytes().unwrap()).unwrap();

    let library = Library::open(dir.join("lib")).unwrap();
    let other = Certificate::from_pem_file(Path::new(SAST_PEM)).unwrap();
    let refused = library.import(&pack, Some(&other)).unwrap_err();
    assert!(matches!(refused, Error::Signature { .. }), "{refused}");
    assert!(tree(library.dir()).is_empty(), "nothing written");

    let imported = library.import(&pack, Some(&cert)).unwrap();
    assert_eq!(imported.format, PackFormat::Cop);
    assert_eq!(imported.loads, ["SCCP42.9-4-2SR4-3S"]);
    assert!(imported.signer.unwrap().contains("TEST"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Zip-slip and tar-slip: an entry that names a path outside the folder it is unpacked in.
#[test]
fn an_entry_escaping_the_library_refuses_the_whole_pack_with_nothing_written() {
    let dir = scratch("escape");
    let library = Library::open(dir.join("lib")).unwrap();
    for (label, evil) in [
        ("dot-dot", "../../outside.sbn"),
        ("absolute", "/tmp/cnfkit-fw-absolute.sbn"),
        ("backslash", "..\\outside.sbn"),
    ] {
        let mut files = sccp42_pack();
        files.push((evil.to_owned(), b"planted".to_vec()));
        let zip = dir.join(format!("{label}.zip"));
        zip_of(&zip, &files);
        let refused = library.import(&zip, None).unwrap_err();
        assert!(matches!(refused, Error::Unsafe { .. }), "{label}: {refused}");
        assert!(refused.to_string().contains("nothing imported"), "{refused}");
    }
    // A tarball holding a symbolic link (a later entry would write through it).
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder.append_link(&mut header, "jar42sccp.9-4-2ES26.sbn", "/etc/passwd").unwrap();
    let tar = dir.join("link.tar");
    std::fs::write(&tar, builder.into_inner().unwrap()).unwrap();
    let refused = library.import(&tar, None).unwrap_err();
    assert!(matches!(refused, Error::Unsafe { why: "is a link", .. }), "{refused}");

    assert!(tree(library.dir()).is_empty(), "nothing in the library");
    assert!(
        !dir.join("outside.sbn").exists() && !Path::new("/tmp/cnfkit-fw-absolute.sbn").exists()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pack_whose_manifest_does_not_match_its_images_is_refused() {
    let dir = scratch("incomplete");
    let library = Library::open(dir.join("lib")).unwrap();
    let mut files = sccp42_pack();
    files.retain(|(name, _)| name != "cnu42.9-4-2ES26.sbn");
    let zip = dir.join("missing.zip");
    zip_of(&zip, &files);
    let refused = library.import(&zip, None).unwrap_err().to_string();
    assert!(refused.contains("lists cnu42.9-4-2ES26.sbn, which is missing"), "{refused}");

    // A 78xx manifest announces sizes: an image cut short is refused.
    let manifest = "[PLATFORM_1]\nkern=kern78xx.14-2-1.sbn size=2000\n";
    let files = vec![
        ("sip78xx.14-2-1-0001-14.loads".to_owned(), manifest.as_bytes().to_vec()),
        ("kern78xx.14-2-1.sbn".to_owned(), vec![0; 1999]),
    ];
    let zip = dir.join("short.zip");
    zip_of(&zip, &files);
    let refused = library.import(&zip, None).unwrap_err().to_string();
    assert!(refused.contains("kern78xx.14-2-1.sbn is 1999 bytes"), "{refused}");

    // A manifest whose load name would be a hidden folder (or the library itself): refused,
    // never imported as a load the library then does not list (found by fuzzing).
    for hidden in [".9-4-2SR4-3S.loads", ".loads"] {
        let mut files = sccp42_pack();
        files[0].0 = hidden.to_owned();
        let zip = dir.join("hidden.zip");
        zip_of(&zip, &files);
        let refused = library.import(&zip, None).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("{hidden}: a load's name must not be empty")),
            "{refused}"
        );
    }

    // Files but no manifest: not a firmware pack.
    let zip = dir.join("nothing.zip");
    zip_of(&zip, &[("notes.txt".to_owned(), b"x".to_vec())]);
    assert!(library.import(&zip, None).unwrap_err().to_string().contains("no load manifest"));
    // Not an archive at all.
    std::fs::write(dir.join("junk.zip"), b"this is no zip").unwrap();
    assert!(matches!(library.import(&dir.join("junk.zip"), None), Err(Error::Unreadable { .. })));
    assert!(tree(library.dir()).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn names_are_found_in_any_case_and_two_loads_holding_different_files_under_one_name_are_set_apart()
{
    let dir = scratch("index");
    let library = Library::open(dir.join("lib")).unwrap();
    let old = dir.join("old.zip");
    zip_of(&old, &sccp42_pack());
    library.import(&old, None).unwrap();
    // A newer load of the same models: its own images, but term42/term62 under the same names.
    let newer: Vec<(String, Vec<u8>)> = sccp42_pack()
        .into_iter()
        .map(|(name, content)| {
            let name = name.replace("SR4-3", "SR5-1").replace("ES26", "ES29");
            let content = String::from_utf8(content)
                .map(|text| text.replace("ES26", "ES29").into_bytes())
                .unwrap_or_else(std::string::FromUtf8Error::into_bytes);
            (name, content)
        })
        .collect();
    let newer_zip = dir.join("newer.zip");
    zip_of(&newer_zip, &newer);
    library.import(&newer_zip, None).unwrap();
    let index = library.index().unwrap();
    assert!(index.find("JAR42SCCP.9-4-2ES26.SBN").is_some(), "a 7921-style upper-case request");
    assert!(index.find("jar42sccp.9-4-2ES29.sbn").is_some());
    assert_eq!(index.find("term42.default.loads"), None, "never one of the two at random");
    assert_eq!(
        index.conflicts()["term42.default.loads"],
        ["SCCP42.9-4-2SR4-3S", "SCCP42.9-4-2SR5-1S"]
    );
    // A load folder changed by hand is reported by list, not hidden.
    std::fs::write(library.dir().join("SCCP42.9-4-2SR4-3S/cnu42.9-4-2ES26.sbn"), b"").unwrap();
    std::fs::remove_file(library.dir().join("SCCP42.9-4-2SR4-3S/apps42.9-4-2ES26.sbn")).unwrap();
    let loads = library.loads().unwrap();
    assert_eq!(loads[0].problems, ["apps42.9-4-2ES26.sbn is missing"]);
    // Importing the old pack again now conflicts with the changed folder.
    assert!(matches!(library.import(&old, None), Err(Error::Conflict { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}
