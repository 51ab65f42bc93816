//! Phone media made from what the tree holds, when it has none of its own: the ring lists
//! (`Ringlist.xml`, `DistinctiveRingList.xml` from the `.raw` ring tones at the top of the
//! tree, `Ringlist-wb.xml` from the `.rwb` ones) and, for each `Desktops/<W>x<H>x<D>/` folder
//! of background images, its `List.xml` and each image's thumbnail `TN-<name>.png`.
//!
//! A file the tree has, in any letter case, is always served instead.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use cnfkit_resolve::{Directory, FileVersion, TreeDerived};

/// Entries a ring list or an image list holds at most (Cisco's limit for both).
pub const MAX_LIST_ENTRIES: usize = 50;
/// Characters a ring's `DisplayName` and `FileName` may hold.
pub const MAX_RING_NAME: usize = 25;
/// The largest image a thumbnail is made from, in pixels per side.
pub const MAX_IMAGE_SIDE: u32 = 4096;
/// Thumbnails kept in memory.
const CACHED_THUMBNAILS: usize = 256;

/// A thumbnail made, with the version of the image it came from.
type Thumbnail = (FileVersion, Arc<[u8]>);

/// Makes the ring lists, image lists and thumbnails a tree lacks ([`TreeDerived`]).
#[derive(Debug, Default)]
pub struct PhoneMedia {
    /// Thumbnails made, by the image's lower-cased path.
    thumbnails: Mutex<HashMap<String, Thumbnail>>,
}

impl PhoneMedia {
    /// Media for a tree, with no thumbnail made yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl TreeDerived for PhoneMedia {
    fn derive(&self, path: &str, dir: &dyn Directory) -> Option<Vec<u8>> {
        let lower = path.to_ascii_lowercase();
        match lower.as_str() {
            "ringlist.xml" | "distinctiveringlist.xml" => ring_list(dir, ".raw"),
            "ringlist-wb.xml" => ring_list(dir, ".rwb"),
            _ => {
                let rest = lower.strip_prefix("desktops/")?;
                let (folder, file) = rest.split_once('/')?;
                if file.contains('/') {
                    return None;
                }
                // The folder as asked (lower-casing ASCII keeps every byte where it was).
                let start = "desktops/".len();
                let real = real_folder(dir, &path[start..start + folder.len()])?;
                if file == "list.xml" {
                    image_list(dir, &real)
                } else {
                    let image = file.strip_prefix("tn-")?;
                    self.thumbnail(dir, &real, &path[path.len() - image.len()..])
                }
            }
        }
    }
}

/// `Desktops/<folder>` as the tree spells it, found in any letter case.
fn real_folder(dir: &dyn Directory, folder: &str) -> Option<String> {
    let desktops = dir.find_ignore_case("", "Desktops")?;
    let folder = dir.find_ignore_case(&desktops, folder)?;
    Some(format!("{desktops}/{folder}"))
}

/// A ring list of the tones with `extension` at the top of the tree, by name; `None` when
/// there is none. A tone whose file name is longer than a phone takes is left out.
fn ring_list(dir: &dyn Directory, extension: &str) -> Option<Vec<u8>> {
    let mut tones: Vec<String> = dir
        .list("")
        .into_iter()
        .filter(|name| {
            name.len() > extension.len()
                && name.to_ascii_lowercase().ends_with(extension)
                && name.chars().count() <= MAX_RING_NAME
        })
        .collect();
    if tones.is_empty() {
        return None;
    }
    tones.sort_by_key(|name| name.to_ascii_lowercase());
    tones.truncate(MAX_LIST_ENTRIES);
    let mut xml = String::from("<CiscoIPPhoneRingList>\n");
    for tone in tones {
        let display: String =
            tone[..tone.len() - extension.len()].chars().take(MAX_RING_NAME).collect();
        let _ = write!(
            xml,
            "  <Ring>\n    <DisplayName>{}</DisplayName>\n    <FileName>{}</FileName>\n  </Ring>\n",
            escape(&display),
            escape(&tone)
        );
    }
    xml.push_str("</CiscoIPPhoneRingList>\n");
    Some(xml.into_bytes())
}

fn is_png(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".png")
}

fn is_thumbnail(name: &str) -> bool {
    name.get(..3).is_some_and(|prefix| prefix.eq_ignore_ascii_case("tn-"))
}

/// `List.xml` of a `Desktops` folder: each image (PNG, not a thumbnail), by name, with its
/// thumbnail, as `TFTP:` URLs (the only kind the phones take). `None` when it has no image.
fn image_list(dir: &dyn Directory, folder: &str) -> Option<Vec<u8>> {
    let mut images: Vec<String> =
        dir.list(folder).into_iter().filter(|n| is_png(n) && !is_thumbnail(n)).collect();
    if images.is_empty() {
        return None;
    }
    images.sort_by_key(|name| name.to_ascii_lowercase());
    images.truncate(MAX_LIST_ENTRIES);
    let mut xml = String::from("<CiscoIPPhoneImageList>\n");
    for image in images {
        let _ = writeln!(
            xml,
            "  <ImageItem Image=\"TFTP:{folder}/TN-{image}\" URL=\"TFTP:{folder}/{image}\"/>",
            folder = escape(folder),
            image = escape(&image)
        );
    }
    xml.push_str("</CiscoIPPhoneImageList>\n");
    Some(xml.into_bytes())
}

/// The thumbnail size Cisco documents for a `Desktops` folder (`320x212x16`), else a quarter
/// of the image's size in each direction.
#[must_use]
pub fn thumbnail_size(folder: &str) -> Option<(u32, u32)> {
    let known = match folder.to_ascii_lowercase().as_str() {
        // 7941/7961/7942/7962 (4-bit grey).
        "320x196x4" => Some((80, 49)),
        // 7945/7965, 7970/7971, 7975.
        "320x212x16" | "320x212x12" | "320x216x16" => Some((80, 53)),
        // 8941/8945/8961/9951/9971.
        "640x480x24" => Some((123, 111)),
        // 8841/8845/8851/8861/8865, and their key expansion modules.
        "800x480x24" | "272x480x24" | "320x480x24" => Some((139, 109)),
        // 8821.
        "240x320x24" => Some((117, 117)),
        _ => None,
    };
    known.or_else(|| {
        let mut parts = folder.split(['x', 'X']);
        let width: u32 = parts.next()?.parse().ok()?;
        let height: u32 = parts.next()?.parse().ok()?;
        Some(((width / 4).max(1), (height / 4).max(1)))
    })
}

impl PhoneMedia {
    /// `TN-<image>` of `folder`: the image scaled to the folder's thumbnail size, as PNG.
    fn thumbnail(&self, dir: &dyn Directory, folder: &str, image: &str) -> Option<Vec<u8>> {
        if !is_png(image) {
            return None;
        }
        let name = folder.rsplit('/').next()?;
        let (width, height) = thumbnail_size(name)?;
        let source = dir.find_ignore_case(folder, image)?;
        let path = format!("{folder}/{source}");
        let (bytes, version) = dir.read_versioned(&path).ok()?;
        let key = path.to_ascii_lowercase();
        if let Some(version) = version {
            let cache = self.thumbnails.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((made_from, thumbnail)) = cache.get(&key)
                && *made_from == version
            {
                return Some(thumbnail.to_vec());
            }
        }
        let thumbnail = scale_png(&bytes, width, height)?;
        if let Some(version) = version {
            let mut cache = self.thumbnails.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= CACHED_THUMBNAILS {
                cache.clear();
            }
            cache.insert(key, (version, thumbnail.clone().into()));
        }
        Some(thumbnail)
    }
}

/// `png` scaled to `width` x `height`, as PNG; `None` for an image that does not decode or is
/// larger than [`MAX_IMAGE_SIDE`] on a side.
fn scale_png(png: &[u8], width: u32, height: u32) -> Option<Vec<u8>> {
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(128 << 20);
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let thumbnail = image.resize_exact(width, height, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    thumbnail.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

/// Text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
