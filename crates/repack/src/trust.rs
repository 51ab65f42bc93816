//! Trust lists: `ITLFile.tlv`, `CTLFile.tlv` and their per-phone `ITLSEP<MAC>.tlv` /
//! `CTLSEP<MAC>.tlv` overrides.
//!
//! A signed header (version 1.2, plus the signer version, tag 28) followed by records:
//!
//! ```text
//! 01 0002 llll     record length, these 5 bytes included
//! 03 ....  subject\0     05 .... issuer\0     06 .... serial     04 0002 role
//! 07 ....  public key (PKCS#1 RSAPublicKey DER, or an EC point)
//! 08 ....  the certificate's signature     09 ....  certificate DER
//! ```
//!
//! The file is signed by a record with the SAST role whose serial is the header's. A phone
//! that holds a trust list accepts a new one only from a SAST it already knows, and
//! accepts signed configs only from a TFTP or CCM+TFTP record.

use std::fmt;

use crate::Error;
use crate::digest::HashAlgorithm;
use crate::keys::{Certificate, PrivateKey, PublicKey, same_dn, strip_leading_zeros};
use crate::signed::{HeaderKind, SignedFile, SignerInfo, tag};
use crate::tlv::{self, Tlv};

/// Record tags (they reuse small numbers with meanings other than the header's).
pub mod record_tag {
    /// Record length, u16, the length element itself included.
    pub const LENGTH: u8 = 1;
    /// DNS name, NUL-terminated.
    pub const DNS_NAME: u8 = 2;
    /// Subject, NUL-terminated.
    pub const SUBJECT: u8 = 3;
    /// Role, u16 (see [`super::Role`]).
    pub const ROLE: u8 = 4;
    /// Issuer, NUL-terminated.
    pub const ISSUER: u8 = 5;
    /// Serial number, big-endian.
    pub const SERIAL: u8 = 6;
    /// Public key.
    pub const PUBLIC_KEY: u8 = 7;
    /// The certificate's signature value.
    pub const SIGNATURE: u8 = 8;
    /// Certificate DER.
    pub const CERTIFICATE: u8 = 9;
    /// IP address.
    pub const IP_ADDRESS: u8 = 10;
    /// Certificate hash (instead of the certificate).
    pub const CERTIFICATE_HASH: u8 = 11;
    /// Hash algorithm of the certificate hash.
    pub const HASH_ALGORITHM: u8 = 12;
}

/// A record's role (function). Open: unknown codes are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Role(pub u16);

impl Role {
    /// System Administrator Security Token: signs trust lists.
    pub const SAST: Self = Self(0);
    /// A call manager.
    pub const CCM: Self = Self(1);
    /// A call manager that is also the TFTP server: signs configs.
    pub const CCM_TFTP: Self = Self(2);
    /// The TFTP server: signs configs.
    pub const TFTP: Self = Self(3);
    /// Certificate Authority Proxy Function.
    pub const CAPF: Self = Self(4);
    /// SRST gateway (older tools only).
    pub const SRST: Self = Self(5);
    /// An application (HTTPS) server.
    pub const APP_SERVER: Self = Self(7);
    /// Trust Verification Service.
    pub const TVS: Self = Self(21);

    /// The role's name, `None` for codes this crate does not know.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SAST => "SAST",
            Self::CCM => "CCM",
            Self::CCM_TFTP => "CCM+TFTP",
            Self::TFTP => "TFTP",
            Self::CAPF => "CAPF",
            Self::SRST => "SRST",
            Self::APP_SERVER => "APP-SERVER",
            Self::TVS => "TVS",
            _ => return None,
        })
    }

    /// Whether a phone accepts config signatures from this role.
    #[must_use]
    pub fn signs_configs(self) -> bool {
        self == Self::TFTP || self == Self::CCM_TFTP
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "role {}", self.0),
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    /// A role name (`TFTP`, `ccm+tftp`, any case) or its number.
    ///
    /// # Errors
    /// [`Error::UnknownRole`].
    fn from_str(s: &str) -> Result<Self, Error> {
        let up = s.to_ascii_uppercase();
        for r in [
            Self::SAST,
            Self::CCM,
            Self::CCM_TFTP,
            Self::TFTP,
            Self::CAPF,
            Self::SRST,
            Self::APP_SERVER,
            Self::TVS,
        ] {
            if r.name() == Some(up.as_str()) {
                return Ok(r);
            }
        }
        s.parse().map(Self).map_err(|_| Error::UnknownRole(s.to_owned()))
    }
}

/// One trust-list record: its elements in file order (unknown ones kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    fields: Vec<(u8, Vec<u8>)>,
}

impl Record {
    /// A record for `cert` with `role`, fields in the order certutils and CUCM write them.
    #[must_use]
    pub fn for_certificate(cert: &Certificate, role: Role) -> Self {
        Self {
            fields: vec![
                (record_tag::LENGTH, vec![0, 0]),
                (record_tag::SUBJECT, tlv::c_string_bytes(cert.subject())),
                (record_tag::ISSUER, tlv::c_string_bytes(cert.issuer())),
                (record_tag::SERIAL, cert.serial().to_vec()),
                (record_tag::ROLE, role.0.to_be_bytes().to_vec()),
                (record_tag::PUBLIC_KEY, cert.public_key_bits().to_vec()),
                (record_tag::SIGNATURE, cert.signature_value().to_vec()),
                (record_tag::CERTIFICATE, cert.der().to_vec()),
            ],
        }
    }

    /// The elements, in order.
    #[must_use]
    pub fn fields(&self) -> &[(u8, Vec<u8>)] {
        &self.fields
    }

    fn get(&self, tag: u8) -> Option<&[u8]> {
        self.fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_slice())
    }

    /// The role, `None` when the record has no role element.
    #[must_use]
    pub fn role(&self) -> Option<Role> {
        match self.get(record_tag::ROLE)? {
            [a, b] => Some(Role(u16::from_be_bytes([*a, *b]))),
            [a] => Some(Role(u16::from(*a))),
            _ => None,
        }
    }

    /// Subject as written.
    #[must_use]
    pub fn subject(&self) -> String {
        self.get(record_tag::SUBJECT).map(tlv::c_string).unwrap_or_default()
    }

    /// Issuer as written.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.get(record_tag::ISSUER).map(tlv::c_string).unwrap_or_default()
    }

    /// Serial bytes as written.
    #[must_use]
    pub fn serial(&self) -> &[u8] {
        self.get(record_tag::SERIAL).unwrap_or_default()
    }

    /// The certificate, when the record carries one that decodes.
    #[must_use]
    pub fn certificate(&self) -> Option<Certificate> {
        Certificate::from_der(self.get(record_tag::CERTIFICATE)?).ok()
    }

    /// The RSA public key: from the certificate, else from the public-key element.
    #[must_use]
    pub fn public_key(&self) -> Option<PublicKey> {
        if let Some(k) = self.certificate().and_then(|c| c.public_key().cloned()) {
            return Some(k);
        }
        PublicKey::from_pkcs1_der(self.get(record_tag::PUBLIC_KEY)?).ok()
    }

    /// Whether this record is the signer a header names: same serial (leading zeros
    /// aside) and same issuer (compared without spaces, `;` and `,` alike: CUCM and
    /// certutils separate DN parts differently). Serials alone are not unique across
    /// issuers.
    #[must_use]
    pub fn names(&self, signer: &SignerInfo) -> bool {
        strip_leading_zeros(self.serial()) == strip_leading_zeros(&signer.serial)
            && same_dn(&self.issuer(), &signer.issuer)
    }

    /// Whether this record is `cert` (same serial and same public key).
    #[must_use]
    pub fn is(&self, cert: &Certificate) -> bool {
        cert.has_serial(self.serial())
            && self.get(record_tag::PUBLIC_KEY) == Some(cert.public_key_bits())
    }

    fn encode(&self, out: &mut Vec<u8>, offset: usize) -> Result<(), Error> {
        let total: usize = self.fields.iter().map(|(_, v)| 3 + v.len()).sum();
        let total16 = u16::try_from(total).map_err(|_| {
            Error::bad_tlv(record_tag::LENGTH, offset, "record longer than 65535 bytes")
        })?;
        for (i, (t, v)) in self.fields.iter().enumerate() {
            out.push(*t);
            if i == 0 && *t == record_tag::LENGTH {
                out.extend_from_slice(&2u16.to_be_bytes());
                out.extend_from_slice(&total16.to_be_bytes());
                continue;
            }
            let len = u16::try_from(v.len())
                .map_err(|_| Error::bad_tlv(*t, offset, "value longer than 65535 bytes"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(v);
        }
        Ok(())
    }
}

/// A parsed trust list.
///
/// ```
/// let bytes = std::fs::read("tests/data/ITLFile.tlv")?;
/// let itl = cnfkit_repack::TrustList::parse(&bytes)?;
/// let roles: Vec<String> = itl.records().iter().map(|r| r.role().unwrap().to_string()).collect();
/// assert_eq!(roles, ["SAST", "CCM+TFTP"]);
/// itl.verify()?; // signed by its own SAST record
/// assert_eq!(itl.to_bytes()?, bytes);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustList {
    file: SignedFile,
    records: Vec<Record>,
}

impl TrustList {
    /// Parses a trust list.
    ///
    /// # Errors
    /// [`Error::WrongFormat`] for another header version; [`Error::BadTlv`] with the
    /// offset for a record whose length disagrees with its elements.
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        let file = SignedFile::parse(data)?;
        if file.kind() != HeaderKind::TrustList {
            let (a, b) = file.version();
            return Err(Error::WrongFormat(format!(
                "not a trust list: header version {a}.{b}, a trust list has 1.2"
            )));
        }
        let base = file.header_length();
        let records = parse_records(file.payload(), base)?;
        Ok(Self { file, records })
    }

    /// A new, unsigned trust list holding `entries`; sign it with [`TrustList::sign`].
    /// `filename` is what the file tag says (`ITLFile.tlv` or `CTLFile.tlv`, also for the
    /// per-phone `ITLSEP<MAC>.tlv` overrides).
    #[must_use]
    pub fn new(
        filename: &str,
        timestamp: u32,
        digest: HashAlgorithm,
        entries: &[(Role, &Certificate)],
    ) -> Self {
        let mut file =
            SignedFile::new(HeaderKind::TrustList, filename, timestamp, digest, Vec::new());
        file.elements_mut().insert(2, Tlv::value(tag::SIGNER_VERSION, [1, 0]));
        Self {
            file,
            records: entries
                .iter()
                .map(|(role, cert)| Record::for_certificate(cert, *role))
                .collect(),
        }
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &SignedFile {
        &self.file
    }

    /// The records, in file order.
    #[must_use]
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The records, to add or remove entries (sign again afterwards).
    pub fn records_mut(&mut self) -> &mut Vec<Record> {
        &mut self.records
    }

    /// Signer version (tag 28), `(1, 0)` or `(1, 1)`.
    #[must_use]
    pub fn signer_version(&self) -> Option<(u8, u8)> {
        match self.file.leaf(tag::SIGNER_VERSION) {
            Some([a, b]) => Some((*a, *b)),
            _ => None,
        }
    }

    /// Encodes the trust list.
    ///
    /// # Errors
    /// [`Error::BadTlv`] when a record or the header outgrew its u16 length.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut file = self.file.clone();
        file.set_payload(self.encode_records()?);
        file.to_bytes()
    }

    fn encode_records(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for r in &self.records {
            let at = out.len();
            r.encode(&mut out, at)?;
        }
        Ok(out)
    }

    /// The record that signed this list: role SAST, serial equal to the header's.
    #[must_use]
    pub fn signer_record(&self) -> Option<&Record> {
        let signer = self.file.signer();
        self.records.iter().find(|r| r.role() == Some(Role::SAST) && r.names(&signer))
    }

    /// Verifies the list against its own SAST record (what a phone with no trust list does
    /// on first contact).
    ///
    /// # Errors
    /// [`Error::Untrusted`] when no SAST record has the header's serial;
    /// [`Error::BadSignature`].
    pub fn verify(&self) -> Result<(), Error> {
        let signer = self.signer_record().ok_or_else(|| {
            Error::Untrusted(format!(
                "no SAST record with the header's serial {}",
                crate::hex(&self.file.signer().serial)
            ))
        })?;
        let key = signer
            .public_key()
            .ok_or_else(|| Error::Untrusted("the SAST record has no RSA key".into()))?;
        self.file.verify(&key).map_err(|e| match e {
            Error::BadSignature { .. } => {
                Error::BadSignature { signer: format!("SAST record {}", signer.subject()) }
            }
            e => e,
        })
    }

    /// Verifies a signed file (config, another trust list) against this list the way a
    /// phone holding it does: configs need a TFTP or CCM+TFTP record, trust lists a SAST
    /// record; the record is found by the header's serial.
    ///
    /// # Errors
    /// [`Error::Untrusted`] when no record of an accepted role has the signer's serial;
    /// [`Error::BadSignature`].
    pub fn verify_file(&self, file: &SignedFile) -> Result<&Record, Error> {
        let accepted = |r: Role| match file.kind() {
            HeaderKind::TrustList => r == Role::SAST,
            _ => r.signs_configs(),
        };
        let want = file.signer();
        let record = self
            .records
            .iter()
            .find(|r| r.role().is_some_and(accepted) && r.names(&want))
            .ok_or_else(|| {
                Error::Untrusted(format!(
                    "the trust list has no {} record with serial {} (signer {}); a phone holding it rejects this file",
                    if file.kind() == HeaderKind::TrustList { "SAST" } else { "TFTP or CCM+TFTP" },
                    crate::hex(&want.serial),
                    want.name
                ))
            })?;
        let key = record.public_key().ok_or_else(|| {
            Error::Untrusted(format!("record {} has no RSA key", record.subject()))
        })?;
        file.verify(&key).map_err(|e| match e {
            Error::BadSignature { .. } => Error::BadSignature {
                signer: format!("{} record {}", record.role().unwrap_or(Role(0)), record.subject()),
            },
            e => e,
        })?;
        Ok(record)
    }

    /// Whether a phone holding this list accepts configs signed by `cert`.
    #[must_use]
    pub fn trusts_config_signer(&self, cert: &Certificate) -> bool {
        self.records.iter().any(|r| r.role().is_some_and(Role::signs_configs) && r.is(cert))
    }

    /// Whether a phone holding this list accepts a new trust list signed by `cert`.
    #[must_use]
    pub fn trusts_list_signer(&self, cert: &Certificate) -> bool {
        self.records.iter().any(|r| r.role() == Some(Role::SAST) && r.is(cert))
    }

    /// Signs the list with a SAST key (the records are encoded into the payload first).
    ///
    /// # Errors
    /// As [`SignedFile::sign`].
    pub fn sign(&mut self, key: &PrivateKey, cert: &Certificate) -> Result<(), Error> {
        let payload = self.encode_records()?;
        self.file.set_payload(payload);
        self.file.sign(key, cert)
    }
}

fn parse_records(data: &[u8], base: usize) -> Result<Vec<Record>, Error> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < data.len() {
        if data.len() - at < 5 || data[at] != record_tag::LENGTH || data[at + 1..at + 3] != [0, 2] {
            return Err(Error::bad_tlv(
                data[at],
                base + at,
                "a record must start with its length element (01 00 02)",
            ));
        }
        let total = usize::from(u16::from_be_bytes([data[at + 3], data[at + 4]]));
        if total < 5 || at + total > data.len() {
            return Err(Error::bad_tlv(
                record_tag::LENGTH,
                base + at,
                "record length runs past the end of the file",
            ));
        }
        let fields = tlv::parse_flat(&data[at..at + total], base + at)?;
        records.push(Record { fields });
        at += total;
    }
    Ok(records)
}

impl TrustList {
    /// The file name a trust list's header carries, from the name it is written under:
    /// `CTLFile.tlv` for a CTL (any name starting with `CTL`), else `ITLFile.tlv` (also for a
    /// per-device `ITLSEP<MAC>.tlv`, whose header names the shared file).
    ///
    /// ```
    /// use cnfkit_repack::TrustList;
    /// assert_eq!(TrustList::header_filename_for("ctlfile.tlv"), "CTLFile.tlv");
    /// assert_eq!(TrustList::header_filename_for("ITLSEP001122334455.tlv"), "ITLFile.tlv");
    /// ```
    #[must_use]
    pub fn header_filename_for(output_name: &str) -> &'static str {
        if output_name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("CTL")) {
            "CTLFile.tlv"
        } else {
            "ITLFile.tlv"
        }
    }
}

/// What vouches for a signed file in [`verify`].
#[derive(Debug, Clone, Copy)]
pub enum Verifier<'a> {
    /// The signer's certificate.
    Certificate(&'a Certificate),
    /// A phone's trust list: the file is checked as a phone holding it checks it.
    TrustList(&'a TrustList),
    /// The file's own SAST record (trust lists only: what a phone with no trust list accepts on
    /// first contact).
    OwnSast,
}

/// Who signed a file that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signer's subject.
    pub subject: String,
    /// Its serial number.
    pub serial: Vec<u8>,
    /// Its role, when a trust-list record vouched.
    pub role: Option<Role>,
}

/// `valid signature by CCM+TFTP record CN=... (serial 0a1b)`, the role left out when no
/// trust-list record vouched.
impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let serial = crate::digest::hex(&self.serial);
        match self.role {
            Some(role) => {
                write!(f, "valid signature by {role} record {} (serial {serial})", self.subject)
            }
            None => write!(f, "valid signature by {} (serial {serial})", self.subject),
        }
    }
}

/// Verifies a signed file, trust list or encrypted config.
///
/// ```
/// use cnfkit_repack::{TrustList, Verifier, verify};
/// let itl = TrustList::parse(&std::fs::read("tests/data/ITLFile.tlv")?)?;
/// let config = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn")?;
/// let signer = verify(&config, Verifier::TrustList(&itl))?;
/// assert_eq!(signer.role.map(|r| r.to_string()).as_deref(), Some("CCM+TFTP"));
/// assert!(signer.to_string().starts_with("valid signature by CCM+TFTP record "));
/// assert!(verify(&config, Verifier::OwnSast).is_err(), "a config does not vouch for itself");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::BadSignature`], [`Error::Untrusted`]; [`Error::WrongFormat`] for
/// [`Verifier::OwnSast`] on a file that is not a trust list; the parse errors of a damaged file.
pub fn verify(bytes: &[u8], by: Verifier<'_>) -> Result<Verified, Error> {
    let file = SignedFile::parse(bytes)?;
    match by {
        Verifier::Certificate(cert) => {
            file.verify_with(cert)?;
            Ok(Verified { subject: cert.subject().to_owned(), serial: cert.serial().to_vec(), role: None })
        }
        Verifier::TrustList(list) => {
            let record = list.verify_file(&file)?;
            Ok(Verified {
                subject: record.subject(),
                serial: record.serial().to_vec(),
                role: record.role(),
            })
        }
        Verifier::OwnSast if file.kind() == HeaderKind::TrustList => {
            let list = TrustList::parse(bytes)?;
            list.verify()?;
            let sast = list.signer_record().ok_or_else(|| Error::Untrusted("no SAST record".into()))?;
            Ok(Verified {
                subject: sast.subject(),
                serial: sast.serial().to_vec(),
                role: Some(Role::SAST),
            })
        }
        Verifier::OwnSast => Err(Error::WrongFormat(
            "only a trust list vouches for itself: verify against the signer's certificate or a trust list"
                .into(),
        )),
    }
}
