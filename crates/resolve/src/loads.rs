//! Firmware manifests: `<load>.loads` and `termNN.default.loads`.
//!
//! A manifest is a signed header (the Cisco TLV header of `.sgn` files, version 1.0) followed by
//! text. 79x1/79x2/79x5/69xx/7940 manifests list one image per line (CRLF, `#` comments, trailing
//! spaces, `KEY=VALUE` metadata such as `LA_VERSION=PAS30831`); 78xx/88xx manifests are INI-like,
//! with `[PLATFORM_n]` sections of `part=image.sbn size=N` lines ([.loads
//! manifests](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#loads-manifests)).

use crate::{Error, ManifestProblem};

/// One image a manifest needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManifestImage {
    /// The image file name, as the phone will request it.
    pub name: String,
    /// The size the manifest announces, when it does (INI form).
    pub size: Option<u64>,
    /// The INI section it was listed in (`PLATFORM_1`...), `None` in the text form.
    pub section: Option<String>,
}

/// A parsed `.loads` manifest.
///
/// ```
/// use cnfkit_resolve::LoadsManifest;
///
/// let text = b"# SCCP 7941\r\njar41sccp.9-4-2ES26.sbn\r\ncnu41.9-4-2ES26.sbn  \r\nLA_VERSION=9-4-2\r\n";
/// let manifest = LoadsManifest::parse(text)?;
/// let names: Vec<&str> = manifest.images.iter().map(|i| i.name.as_str()).collect();
/// assert_eq!(names, ["jar41sccp.9-4-2ES26.sbn", "cnu41.9-4-2ES26.sbn"]);
/// assert_eq!(manifest.metadata, [("LA_VERSION".to_owned(), "9-4-2".to_owned())]);
/// # Ok::<(), cnfkit_resolve::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadsManifest {
    /// Length of the signed header skipped before the text (0 when unsigned).
    pub header_len: usize,
    /// The images, in the order the phone fetches them.
    pub images: Vec<ManifestImage>,
    /// `KEY=VALUE` lines that name no image, in order.
    pub metadata: Vec<(String, String)>,
}

/// Tag 1 (version, 2 bytes) then tag 2 (header length, u16 big-endian): how every Cisco signed
/// header starts (docs/file-formats.md, header tags).
pub(crate) fn signed_header_len(bytes: &[u8]) -> Result<usize, Error> {
    match bytes {
        [0x01, 0x00, 0x02, _, _, 0x02, 0x00, 0x02, hi, lo, ..] => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            if len > bytes.len() {
                return Err(Error::BadManifest(ManifestProblem::HeaderTooLong {
                    header: len,
                    file: bytes.len(),
                }));
            }
            Ok(len)
        }
        // 78xx/88xx manifests: a binary header of their own, starting with CD 34 12 AB, whose
        // second little-endian word is where the text starts (0x150 in the files seen).
        [0xcd, 0x34, 0x12, 0xab, a, b, c, d, ..] => {
            let len = usize::try_from(u32::from_le_bytes([*a, *b, *c, *d])).unwrap_or(usize::MAX);
            if len > bytes.len() {
                return Err(Error::BadManifest(ManifestProblem::HeaderTooLong {
                    header: len,
                    file: bytes.len(),
                }));
            }
            Ok(len)
        }
        _ => Ok(0),
    }
}

fn looks_like_image(token: &str) -> bool {
    let lower = token.to_ascii_lowercase();
    [".sbn", ".sb2", ".bin", ".zz", ".sgn", ".loads", ".img", ".tar", ".jar"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

impl LoadsManifest {
    /// Parses a manifest, signed or not.
    ///
    /// # Errors
    /// [`Error::BadManifest`] when the signed header is inconsistent or the text is not UTF-8.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let header_len = signed_header_len(bytes)?;
        let text = core::str::from_utf8(&bytes[header_len..]).map_err(|e| {
            Error::BadManifest(ManifestProblem::NotUtf8(header_len + e.valid_up_to()))
        })?;
        let mut manifest = Self { header_len, ..Self::default() };
        let mut section: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = Some(name.trim().to_owned());
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                // Text form: one image per line.
                manifest.images.push(ManifestImage {
                    name: line.to_owned(),
                    size: None,
                    section: section.clone(),
                });
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            // INI form: `kern=kern78xx.11-0-1-11.sbn size=1234` or `size=` on its own.
            let mut tokens = value.split_whitespace();
            match tokens.next() {
                Some(first) if looks_like_image(first) => {
                    let size =
                        tokens.find_map(|t| t.strip_prefix("size=")).and_then(|s| s.parse().ok());
                    manifest.images.push(ManifestImage {
                        name: first.to_owned(),
                        size,
                        section: section.clone(),
                    });
                }
                _ => manifest.metadata.push((key.to_owned(), value.to_owned())),
            }
        }
        Ok(manifest)
    }

    /// Image names the tree does not have, given a lookup that says whether a name exists.
    pub fn missing_images<'a>(
        &'a self,
        exists: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a ManifestImage> + 'a {
        self.images.iter().filter(move |image| !exists(&image.name))
    }
}
