//! What a file is, as a report a person or a program can read: format, header fields, signer,
//! encryption parameters, trust-list records, payload summary, and notes on anything odd.

use std::fmt;

use serde::Serialize;

use crate::Error;
use crate::digest::{hex, md5_hex};
use crate::encrypted::EncryptedConfig;
use crate::repack::{Format, detect};
use crate::signed::SignedFile;
use crate::tlv::{Body, Tlv};
use crate::trust::TrustList;

/// The report on one file. Serialises to the JSON `cnf-repack inspect --json` prints; fields that
/// do not apply to the format are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// The format told from the bytes.
    pub format: String,
    /// Bytes in the file.
    pub size: usize,
    /// MD5 of the whole file (what a `.md5` or a TFTP server's checksum names).
    pub md5: String,
    /// The signed header (signed files, encrypted configs, trust lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderReport>,
    /// How an encrypted config is encrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionReport>,
    /// The payload (a signed file's, or a plain file itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadReport>,
    /// A trust list's records and its self-signature.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub trust_list: Option<TrustListReport>,
    /// An OpenSSL `Salted__` profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileReport>,
    /// Remarks: what to do next, or what is unusual.
    pub notes: Vec<String>,
}

/// The fields of a signed header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderReport {
    /// Header version (`1.0` signed, `1.2` trust list, `2.0` encrypted).
    pub version: String,
    /// What the header says the file is.
    pub kind: String,
    /// Bytes before the payload.
    pub header_length: usize,
    /// The signer's subject, as written.
    pub signer: String,
    /// The signer's issuer, as written.
    pub issuer: String,
    /// The signer's serial number, hex.
    pub serial: String,
    /// The digest's name, or why it is unknown.
    pub digest: String,
    /// The digest code as written.
    pub digest_code: Option<u8>,
    /// The key size the header announces (`None` for an index this crate does not know).
    pub modulus_bits: Option<u32>,
    /// Bytes of signature.
    pub signature_bytes: Option<usize>,
    /// The file name the header names (phones compare it with what they asked for).
    pub filename: Option<String>,
    /// Signing time, Unix seconds.
    pub timestamp: Option<u32>,
    /// Signing time, RFC 3339 UTC.
    pub timestamp_utc: Option<String>,
    /// The element tags, nested ones in braces (`01 02 03{04 05}`).
    pub elements: String,
    /// Bytes of payload.
    pub payload_bytes: usize,
}

/// How an encrypted config is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncryptionReport {
    /// Always AES-128-CBC.
    pub cipher: &'static str,
    /// The IV, hex.
    pub iv: Option<String>,
    /// Padding bytes after the plaintext.
    pub padding: Option<usize>,
    /// Bytes of the content key wrapped to the phone's certificate.
    pub wrapped_key_bytes: Option<usize>,
    /// The digest of the plaintext the header carries.
    pub plaintext_digest: Option<PlaintextDigest>,
}

/// A digest code and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaintextDigest {
    /// The digest code.
    pub code: u8,
    /// The value, hex.
    pub value: String,
}

/// A payload, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadReport {
    /// Its length.
    pub bytes: usize,
    /// Its MD5.
    pub md5: String,
    /// What it holds as cnf.xml.
    pub cnf_xml: CnfXmlReport,
}

/// A payload read as cnf.xml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CnfXmlReport {
    /// It parses.
    Parsed {
        /// The root element (`device`, `Default`).
        root: String,
        /// Its `loadInformation`, if any.
        load: Option<String>,
    },
    /// It does not: why.
    NotCnfXml(String),
}

/// A trust list's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustListReport {
    /// The signer version field.
    pub signer_version: Option<String>,
    /// The records.
    pub records: Vec<RecordReport>,
    /// Whether its own SAST record's signature holds, or why not.
    pub self_signature: String,
}

/// One trust-list record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordReport {
    /// Its role (SAST, TFTP, CCM+TFTP...).
    pub role: Option<String>,
    /// The certificate's subject.
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
    /// The serial number, hex.
    pub serial: String,
    /// The RSA key size.
    pub rsa_bits: Option<usize>,
    /// Whether the record carries the whole certificate.
    pub certificate: bool,
}

/// An OpenSSL `enc` profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileReport {
    /// Always AES-256-CBC.
    pub cipher: &'static str,
    /// The salt, hex.
    pub salt: String,
}

/// Reports what `bytes` are.
///
/// ```
/// let bytes = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn")?;
/// let report = cnfkit_repack::inspect(&bytes)?;
/// let header = report.header.as_ref().unwrap();
/// assert_eq!(header.filename.as_deref(), Some("SEP001122334455.cnf.xml.sgn"));
/// assert_eq!(header.digest, "sha1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The parse error of a damaged signed header, trust list or encrypted config (a plain file of
/// any content is reported, never refused).
pub fn inspect(bytes: &[u8]) -> Result<Inspection, Error> {
    let format = detect(bytes);
    let mut report = Inspection {
        format: format.to_string(),
        size: bytes.len(),
        md5: md5_hex(bytes),
        header: None,
        encryption: None,
        payload: None,
        trust_list: None,
        profile: None,
        notes: Vec::new(),
    };
    match format {
        Format::Signed | Format::Encrypted | Format::SignedOther(..) => {
            let file = SignedFile::parse(bytes)?;
            report.header = Some(header_report(&file, &mut report.notes));
            if format == Format::Encrypted {
                report.encryption = Some(encryption_report(&EncryptedConfig::from_signed(file)?));
            } else {
                report.payload = Some(payload_report(file.payload()));
            }
        }
        Format::TrustList => {
            let list = TrustList::parse(bytes)?;
            report.header = Some(header_report(list.header(), &mut report.notes));
            report.trust_list = Some(trust_list_report(&list));
        }
        Format::Profile => {
            report.profile = Some(ProfileReport {
                cipher: "AES-256-CBC",
                salt: hex(bytes.get(8..16).unwrap_or_default()),
            });
            report.notes.push("the contents need the profile's password".into());
        }
        Format::Gzip => report.notes.push("gzip data: gunzip to read it".into()),
        _ => report.payload = Some(payload_report(bytes)),
    }
    Ok(report)
}

fn header_report(file: &SignedFile, notes: &mut Vec<String>) -> HeaderReport {
    let (major, minor) = file.version();
    let signer = file.signer();
    if file.digest_code() == Some(4) {
        notes.push("digest code 4 read as SHA-512 (old certutils numbering); phones use 3".into());
    }
    HeaderReport {
        version: format!("{major}.{minor}"),
        kind: format!("{:?}", file.kind()),
        header_length: file.header_length(),
        signer: signer.name,
        issuer: signer.issuer,
        serial: hex(&signer.serial),
        digest: file.hash_algorithm().map_or_else(|e| e.to_string(), |a| a.name().to_owned()),
        digest_code: file.digest_code(),
        modulus_bits: file.modulus_index().filter(|&m| m <= 3).map(|m| 512u32 << m),
        signature_bytes: file.signature().map(<[u8]>::len),
        filename: file.filename(),
        timestamp: file.timestamp(),
        timestamp_utc: file.timestamp().and_then(rfc3339_utc),
        elements: element_outline(file.elements()),
        payload_bytes: file.payload().len(),
    }
}

fn encryption_report(enc: &EncryptedConfig) -> EncryptionReport {
    EncryptionReport {
        cipher: "AES-128-CBC",
        iv: enc.iv().map(|iv| hex(&iv)).ok(),
        padding: enc.padding().ok(),
        wrapped_key_bytes: enc.wrapped_key().map(<[u8]>::len).ok(),
        plaintext_digest: enc
            .plaintext_digest()
            .map(|(code, value)| PlaintextDigest { code, value: hex(value) }),
    }
}

fn trust_list_report(list: &TrustList) -> TrustListReport {
    TrustListReport {
        signer_version: list.signer_version().map(|(a, b)| format!("{a}.{b}")),
        records: list
            .records()
            .iter()
            .map(|r| RecordReport {
                role: r.role().map(|x| x.to_string()),
                subject: r.subject(),
                issuer: r.issuer(),
                serial: hex(r.serial()),
                rsa_bits: r.public_key().map(|k| k.bits()),
                certificate: r.certificate().is_some(),
            })
            .collect(),
        self_signature: match list.verify() {
            Ok(()) => "valid (SAST record)".to_owned(),
            Err(e) => e.to_string(),
        },
    }
}

fn payload_report(payload: &[u8]) -> PayloadReport {
    let cnf_xml = if payload.len() > crate::MAX_CONFIG_BYTES {
        CnfXmlReport::NotCnfXml(format!(
            "not read as cnf.xml: larger than {} MiB",
            crate::MAX_CONFIG_BYTES >> 20
        ))
    } else {
        match cnfkit_config::CnfDocument::parse(payload) {
            Ok(doc) => CnfXmlReport::Parsed {
                root: doc.root().name().into_owned(),
                load: doc.find("loadInformation").map(|e| e.text()),
            },
            Err(e) => CnfXmlReport::NotCnfXml(format!("not cnf.xml: {e}")),
        }
    };
    PayloadReport { bytes: payload.len(), md5: md5_hex(payload), cnf_xml }
}

fn element_outline(elements: &[Tlv]) -> String {
    elements
        .iter()
        .map(|e| match &e.body {
            Body::Children(c) => format!("{:02x}{{{}}}", e.tag, element_outline(c)),
            _ => format!("{:02x}", e.tag),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The report as `KEY VALUE` lines, one field per line, keys the JSON paths (`header.signer`,
/// `records[0].role`), absent fields left out; what `cnf-repack inspect` prints.
///
/// ```
/// let bytes = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn")?;
/// let text = cnfkit_repack::inspect(&bytes)?.to_string();
/// assert!(text.lines().any(|l| l.starts_with("header.digest ") && l.ends_with(" sha1")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Lines(f);
        out.field("format", &self.format)?;
        out.field("size", self.size)?;
        out.field("md5", &self.md5)?;
        if let Some(h) = &self.header {
            out.field("header.version", &h.version)?;
            out.field("header.kind", &h.kind)?;
            out.field("header.header_length", h.header_length)?;
            out.field("header.signer", &h.signer)?;
            out.field("header.issuer", &h.issuer)?;
            out.field("header.serial", &h.serial)?;
            out.field("header.digest", &h.digest)?;
            out.optional("header.digest_code", h.digest_code)?;
            out.optional("header.modulus_bits", h.modulus_bits)?;
            out.optional("header.signature_bytes", h.signature_bytes)?;
            out.optional("header.filename", h.filename.as_ref())?;
            out.optional("header.timestamp", h.timestamp)?;
            out.optional("header.timestamp_utc", h.timestamp_utc.as_ref())?;
            out.field("header.elements", &h.elements)?;
            out.field("header.payload_bytes", h.payload_bytes)?;
        }
        if let Some(e) = &self.encryption {
            out.field("encryption.cipher", e.cipher)?;
            out.optional("encryption.iv", e.iv.as_ref())?;
            out.optional("encryption.padding", e.padding)?;
            out.optional("encryption.wrapped_key_bytes", e.wrapped_key_bytes)?;
            if let Some(d) = &e.plaintext_digest {
                out.field("encryption.plaintext_digest.code", d.code)?;
                out.field("encryption.plaintext_digest.value", &d.value)?;
            }
        }
        if let Some(p) = &self.payload {
            out.field("payload.bytes", p.bytes)?;
            out.field("payload.md5", &p.md5)?;
            match &p.cnf_xml {
                CnfXmlReport::Parsed { root, load } => {
                    out.field("payload.cnf_xml.root", root)?;
                    out.optional("payload.cnf_xml.load", load.as_ref())?;
                }
                CnfXmlReport::NotCnfXml(why) => out.field("payload.cnf_xml", why)?,
            }
        }
        if let Some(t) = &self.trust_list {
            out.optional("signer_version", t.signer_version.as_ref())?;
            for (i, r) in t.records.iter().enumerate() {
                out.optional(&format!("records[{i}].role"), r.role.as_ref())?;
                out.field(&format!("records[{i}].subject"), &r.subject)?;
                out.field(&format!("records[{i}].issuer"), &r.issuer)?;
                out.field(&format!("records[{i}].serial"), &r.serial)?;
                out.optional(&format!("records[{i}].rsa_bits"), r.rsa_bits)?;
                out.field(&format!("records[{i}].certificate"), r.certificate)?;
            }
            out.field("self_signature", &t.self_signature)?;
        }
        if let Some(p) = &self.profile {
            out.field("profile.cipher", p.cipher)?;
            out.field("profile.salt", &p.salt)?;
        }
        for note in &self.notes {
            out.field("notes", note)?;
        }
        Ok(())
    }
}

/// `KEY VALUE` lines with the keys in one column.
struct Lines<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Lines<'_, '_> {
    fn field(&mut self, key: &str, value: impl fmt::Display) -> fmt::Result {
        writeln!(self.0, "{key:<28} {value}")
    }

    fn optional(&mut self, key: &str, value: Option<impl fmt::Display>) -> fmt::Result {
        value.map_or(Ok(()), |v| self.field(key, v))
    }
}

/// RFC 3339 UTC (`2026-12-02T13:23:52Z`) for Unix seconds.
pub(crate) fn rfc3339_utc(t: u32) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(i64::from(t))
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_times_are_rfc_3339_utc() {
        assert_eq!(rfc3339_utc(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339_utc(1_767_225_600).as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(rfc3339_utc(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
    }

    #[test]
    fn the_text_report_names_every_trust_list_record_and_leaves_absent_fields_out() {
        let bytes = include_bytes!("../tests/data/ITLFile.tlv");
        let report = inspect(bytes).unwrap();
        let text = report.to_string();
        let records = report.trust_list.as_ref().unwrap().records.len();
        assert!(records > 0);
        assert_eq!(text.lines().filter(|l| l.contains("].subject ")).count(), records);
        assert!(text.lines().any(|l| l == format!("{:<28} valid (SAST record)", "self_signature")));
        assert!(!text.contains("payload."), "a trust list has no payload report:\n{text}");
        assert!(text.lines().all(|l| l.len() > 29 && l.as_bytes()[28] == b' '), "{text}");
    }
}
