//! Phone media made from what a tree holds (`PhoneMedia`): ring lists from the ring tones,
//! `Desktops/<W>x<H>x<D>/List.xml` from the images, and thumbnails at the size Cisco documents
//! for the folder; a tree's own file always wins, and locale folders are found in any case.

use std::path::PathBuf;

use cnfkit_resolve::{Answer, Made};
use cnfkit_server::{Site, SiteOptions};

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([u8::try_from(x % 256).unwrap(), u8::try_from(y % 256).unwrap(), 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn tree(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("cnfkit-media-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("Desktops/320x212x16")).unwrap();
    std::fs::create_dir_all(root.join("Desktops/800x480x24")).unwrap();
    std::fs::create_dir_all(root.join("English_United_States/fonts")).unwrap();
    for tone in ["Piano1.raw", "Chirp1.raw", "Sunrise.rwb", "AVeryLongRingToneNameIndeed.raw"] {
        std::fs::write(root.join(tone), vec![0xff; 240 * 10]).unwrap();
    }
    std::fs::write(root.join("Desktops/320x212x16/Fountain.png"), png(320, 212)).unwrap();
    std::fs::write(root.join("Desktops/320x212x16/Lake & Hills.png"), png(320, 212)).unwrap();
    std::fs::write(root.join("Desktops/800x480x24/Fountain.png"), png(800, 480)).unwrap();
    std::fs::write(root.join("English_United_States/fonts/7960-font.xml"), b"<font/>").unwrap();
    root
}

fn made(answer: Answer) -> String {
    match answer {
        Answer::Generated { bytes, made: Made::Derived } => String::from_utf8(bytes).unwrap(),
        other => panic!("not derived: {other:?}"),
    }
}

#[test]
fn ring_lists_are_made_from_the_tones_in_any_spelling_phones_ask() {
    let root = tree("rings");
    let resolver = Site::load(SiteOptions::new(&root)).unwrap().resolver;
    let list = made(resolver.resolve(b"Ringlist.xml"));
    assert_eq!(
        list,
        "<CiscoIPPhoneRingList>\n  <Ring>\n    <DisplayName>Chirp1</DisplayName>\n    <FileName>Chirp1.raw</FileName>\n  </Ring>\n  <Ring>\n    <DisplayName>Piano1</DisplayName>\n    <FileName>Piano1.raw</FileName>\n  </Ring>\n</CiscoIPPhoneRingList>\n",
        "a name longer than 25 characters is left out"
    );
    for spelling in ["RingList.xml", "RINGLIST.XML", "ringlist.xml", "DistinctiveRingList.xml"] {
        assert_eq!(made(resolver.resolve(spelling.as_bytes())), list, "{spelling}");
    }
    assert!(
        made(resolver.resolve(b"Ringlist-wb.xml")).contains("<FileName>Sunrise.rwb</FileName>")
    );
    // The tree's own list wins.
    std::fs::write(root.join("RingList.xml"), b"<CiscoIPPhoneRingList/>").unwrap();
    let resolver = Site::load(SiteOptions::new(&root)).unwrap().resolver;
    assert!(matches!(resolver.resolve(b"Ringlist.xml"), Answer::File { .. }));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn list_xml_names_each_image_and_its_thumbnail_made_at_the_documented_size() {
    let root = tree("desktops");
    let resolver = Site::load(SiteOptions::new(&root)).unwrap().resolver;
    let list = made(resolver.resolve(b"Desktops/320x212x16/List.xml"));
    assert_eq!(
        list,
        "<CiscoIPPhoneImageList>\n  <ImageItem Image=\"TFTP:Desktops/320x212x16/TN-Fountain.png\" URL=\"TFTP:Desktops/320x212x16/Fountain.png\"/>\n  <ImageItem Image=\"TFTP:Desktops/320x212x16/TN-Lake &amp; Hills.png\" URL=\"TFTP:Desktops/320x212x16/Lake &amp; Hills.png\"/>\n</CiscoIPPhoneImageList>\n"
    );
    for (path, size) in [
        (&b"desktops/320X212X16/TN-Fountain.png"[..], (80, 53)),
        (b"Desktops/800x480x24/TN-Fountain.png", (139, 109)),
    ] {
        let Answer::Generated { bytes, made: Made::Derived } = resolver.resolve(path) else {
            panic!("no thumbnail for {}", String::from_utf8_lossy(path));
        };
        let thumbnail = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
            .expect("a valid PNG");
        assert_eq!((thumbnail.width(), thumbnail.height()), size);
    }
    // No image, no list; no source, no thumbnail; a list of another folder is not made up.
    assert!(matches!(resolver.resolve(b"Desktops/640x480x24/List.xml"), Answer::NotFound { .. }));
    assert!(matches!(
        resolver.resolve(b"Desktops/320x212x16/TN-Nothing.png"),
        Answer::NotFound { .. }
    ));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_damaged_image_gets_no_thumbnail_and_locale_folders_are_found_in_any_case_at_any_depth() {
    let root = tree("locale");
    std::fs::write(root.join("Desktops/320x212x16/Broken.png"), b"\x89PNG\r\n\x1a\nnot really")
        .unwrap();
    let resolver = Site::load(SiteOptions::new(&root)).unwrap().resolver;
    assert!(matches!(
        resolver.resolve(b"Desktops/320x212x16/TN-Broken.png"),
        Answer::NotFound { .. }
    ));
    let Answer::File { path, .. } = resolver.resolve(b"english_united_states/FONTS/7960-FONT.XML")
    else {
        panic!("the locale file is found")
    };
    assert_eq!(path, "English_United_States/fonts/7960-font.xml");
    std::fs::remove_dir_all(&root).unwrap();
}
