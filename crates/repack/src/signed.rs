//! Cisco signed files: `*.sgn`, `*.sha512`, and the header shared with trust lists and
//! encrypted configs.
//!
//! ```text
//! 01 0002 maj min              VERSION (1.0 signed file, 1.2 trust list, 2.0 encrypted config)
//! 02 0002 hhhh                 HEADER_LENGTH: payload starts here; a multiple of 4
//! 03 .. { 04 name, 06 issuer, 05 serial }              SIGNER_INFO
//! 07 000f { 08 0001 digest, 09 0008 { 0a 0001 00, 0b 0001 modulus } }
//! 0c llll signature            RSA PKCS#1 v1.5 over the file without this element
//! 0e llll filename\0           the served name
//! 0f 0004 time                 Unix seconds
//! 0d ...                       padding bytes
//! payload
//! ```

use crate::Error;
use crate::digest::HashAlgorithm;
use crate::keys::{Certificate, PrivateKey, PublicKey, same_dn};
use crate::tlv::{self, Body, PADDING, Tlv};

/// Header tags, named as in the format description.
pub mod tag {
    /// File format version, two bytes.
    pub const VERSION: u8 = 1;
    /// Header length in bytes from offset 0.
    pub const HEADER_LENGTH: u8 = 2;
    /// Container: signer name, issuer, serial.
    pub const SIGNER_INFO: u8 = 3;
    /// Signer subject, NUL-terminated.
    pub const SIGNER_NAME: u8 = 4;
    /// Signer certificate serial, big-endian.
    pub const SERIAL_NUMBER: u8 = 5;
    /// Signer issuer, NUL-terminated.
    pub const ISSUER_NAME: u8 = 6;
    /// Container: digest and signature algorithm.
    pub const SIGNATURE_INFO: u8 = 7;
    /// Digest code (1 SHA-1, 2 SHA-256, 3 SHA-512).
    pub const HASH_ALGORITHM: u8 = 8;
    /// Container: signature algorithm and modulus.
    pub const SIGNATURE_ALGORITHM_INFO: u8 = 9;
    /// Signature algorithm, 0 = RSA.
    pub const SIGNATURE_ALGORITHM: u8 = 10;
    /// Modulus index: 0 = 512, 1 = 1024, 2 = 2048, 3 = 4096 bits.
    pub const SIGNATURE_MODULUS: u8 = 11;
    /// The signature bytes.
    pub const SIGNATURE: u8 = 12;
    /// The file name, NUL-terminated.
    pub const FILENAME: u8 = 14;
    /// Unix time, u32.
    pub const TIMESTAMP: u8 = 15;
    /// Trust lists: signer version (1.0 or 1.1).
    pub const SIGNER_VERSION: u8 = 28;
}

/// What a header's version says the file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderKind {
    /// 1.0: a signed file (`.sgn`, `.sha512`), payload in clear.
    Signed,
    /// 1.2: a trust list (`ITLFile.tlv`, `CTLFile.tlv`), records as payload.
    TrustList,
    /// 2.0: an encrypted config (`.enc.sgn`), ciphertext as payload.
    Encrypted,
    /// Any other version; parsed and kept, but no operation knows it.
    Other(u8, u8),
}

impl HeaderKind {
    /// The version bytes.
    #[must_use]
    pub fn version(self) -> (u8, u8) {
        match self {
            Self::Signed => (1, 0),
            Self::TrustList => (1, 2),
            Self::Encrypted => (2, 0),
            Self::Other(a, b) => (a, b),
        }
    }

    fn from_version(v: (u8, u8)) -> Self {
        match v {
            (1, 0) => Self::Signed,
            (1, 2) => Self::TrustList,
            (2, 0) => Self::Encrypted,
            (a, b) => Self::Other(a, b),
        }
    }
}

/// Who signed a file, as the header says (the phone matches issuer and serial against its
/// trust list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignerInfo {
    /// Subject, as written (certutils: `CN=..,O=..`; CUCM uses other separators).
    pub name: String,
    /// Issuer, as written.
    pub issuer: String,
    /// Serial number bytes, as written.
    pub serial: Vec<u8>,
}

/// A parsed signed file: the header's element tree and the payload.
///
/// Parsing keeps every element (unknown ones too), so [`SignedFile::to_bytes`] of an
/// untouched file is the input, byte for byte.
///
/// ```
/// let bytes = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn")?;
/// let file = cnfkit_repack::SignedFile::parse(&bytes)?;
/// assert_eq!(file.filename().as_deref(), Some("SEP001122334455.cnf.xml.sgn"));
/// assert!(file.payload().starts_with(b"<?xml"));
/// assert_eq!(file.to_bytes()?, bytes);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedFile {
    header: Vec<Tlv>,
    payload: Vec<u8>,
}

impl SignedFile {
    /// Parses a file that starts with a Cisco signed header (any version).
    ///
    /// # Errors
    /// [`Error::WrongFormat`] when the file does not start with the version and header
    /// length elements; [`Error::BadTlv`] / [`Error::Truncated`] with tag and offset for a
    /// malformed element.
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        if data.len() < 10 || data[0] != tag::VERSION || data[1..3] != [0, 2] {
            return Err(Error::WrongFormat(
                "not a Cisco signed file: it does not start with a version element (01 00 02)"
                    .into(),
            ));
        }
        if data[5] != tag::HEADER_LENGTH || data[6..8] != [0, 2] {
            return Err(Error::bad_tlv(
                data[5],
                5,
                "expected the header length element (02 00 02)",
            ));
        }
        let header_len = usize::from(u16::from_be_bytes([data[8], data[9]]));
        if header_len > data.len() {
            return Err(Error::Truncated {
                what: "header",
                offset: 0,
                needed: header_len - data.len(),
            });
        }
        if header_len < 10 {
            return Err(Error::bad_tlv(
                tag::HEADER_LENGTH,
                5,
                "header length smaller than its first two elements",
            ));
        }
        let header = tlv::parse_elements(data, 0, header_len)?;
        Ok(Self { header, payload: data[header_len..].to_vec() })
    }

    /// An unsigned file of `kind` with the standard element order; [`SignedFile::sign`]
    /// fills in the signer and the signature.
    #[must_use]
    pub fn new(
        kind: HeaderKind,
        filename: &str,
        timestamp: u32,
        digest: HashAlgorithm,
        payload: Vec<u8>,
    ) -> Self {
        let (major, minor) = kind.version();
        let header = vec![
            Tlv::value(tag::VERSION, [major, minor]),
            Tlv::value(tag::HEADER_LENGTH, [0, 0]),
            Tlv::container(
                tag::SIGNER_INFO,
                vec![
                    Tlv::value(tag::SIGNER_NAME, [0]),
                    Tlv::value(tag::ISSUER_NAME, [0]),
                    Tlv::value(tag::SERIAL_NUMBER, Vec::new()),
                ],
            ),
            Tlv::container(
                tag::SIGNATURE_INFO,
                vec![
                    Tlv::value(tag::HASH_ALGORITHM, [digest.code()]),
                    Tlv::container(
                        tag::SIGNATURE_ALGORITHM_INFO,
                        vec![
                            Tlv::value(tag::SIGNATURE_ALGORITHM, [0]),
                            Tlv::value(tag::SIGNATURE_MODULUS, [2]),
                        ],
                    ),
                ],
            ),
            Tlv::value(tag::SIGNATURE, Vec::new()),
            Tlv::value(tag::FILENAME, tlv::c_string_bytes(filename)),
            Tlv::value(tag::TIMESTAMP, timestamp.to_be_bytes()),
        ];
        Self { header, payload }
    }

    /// Encodes the file.
    ///
    /// # Errors
    /// [`Error::BadTlv`] when an element grew past 65535 bytes, or the header past 65535.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.header_encoded_len() + self.payload.len());
        for e in &self.header {
            e.encode(&mut out)?;
        }
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// What is signed: the encoded file without the signature element (its tag, length and
    /// value), everything else included (header length, padding, filename, payload).
    ///
    /// # Errors
    /// As [`SignedFile::to_bytes`].
    pub fn signed_message(&self) -> Result<Vec<u8>, Error> {
        let mut out = self.signed_header()?;
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// The header part of [`SignedFile::signed_message`].
    fn signed_header(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.header_encoded_len());
        let skip = self.signature_index();
        for (i, e) in self.header.iter().enumerate() {
            if Some(i) != skip {
                e.encode(&mut out)?;
            }
        }
        Ok(out)
    }

    /// The `algorithm` digest of [`SignedFile::signed_message`], hashed in place: a large
    /// payload is not copied to be signed or verified.
    fn signed_digest(&self, algorithm: HashAlgorithm) -> Result<Vec<u8>, Error> {
        Ok(algorithm.digest_parts(&[&self.signed_header()?, &self.payload]))
    }

    fn header_encoded_len(&self) -> usize {
        self.header.iter().map(Tlv::encoded_len).sum()
    }

    /// The header elements, in file order.
    #[must_use]
    pub fn elements(&self) -> &[Tlv] {
        &self.header
    }

    /// The header elements, for edits this type has no setter for. Call
    /// [`SignedFile::sign`] afterwards: it fixes the header length and padding.
    pub fn elements_mut(&mut self) -> &mut Vec<Tlv> {
        &mut self.header
    }

    /// The first element with `tag`, searching containers too.
    #[must_use]
    pub fn find(&self, tag: u8) -> Option<&Tlv> {
        tlv::find(&self.header, tag)
    }

    pub(crate) fn leaf(&self, tag: u8) -> Option<&[u8]> {
        self.find(tag).and_then(Tlv::leaf)
    }

    pub(crate) fn require(&self, tag: u8, name: &'static str) -> Result<&[u8], Error> {
        self.leaf(tag).ok_or(Error::MissingField { tag, name })
    }

    pub(crate) fn set_leaf(&mut self, tag: u8, value: Vec<u8>) -> bool {
        match tlv::find_mut(&mut self.header, tag) {
            Some(e) => {
                e.body = Body::Value(value);
                true
            }
            None => false,
        }
    }

    /// Header version bytes.
    #[must_use]
    pub fn version(&self) -> (u8, u8) {
        match self.leaf(tag::VERSION) {
            Some([a, b]) => (*a, *b),
            _ => (0, 0),
        }
    }

    /// What the version says the file is.
    #[must_use]
    pub fn kind(&self) -> HeaderKind {
        HeaderKind::from_version(self.version())
    }

    /// The header length element's value: where the payload starts.
    #[must_use]
    pub fn header_length(&self) -> usize {
        match self.leaf(tag::HEADER_LENGTH) {
            Some([a, b]) => usize::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        }
    }

    /// The signer as the header names it.
    #[must_use]
    pub fn signer(&self) -> SignerInfo {
        SignerInfo {
            name: self.leaf(tag::SIGNER_NAME).map(tlv::c_string).unwrap_or_default(),
            issuer: self.leaf(tag::ISSUER_NAME).map(tlv::c_string).unwrap_or_default(),
            serial: self.leaf(tag::SERIAL_NUMBER).map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }

    /// The raw digest code (tag 8).
    #[must_use]
    pub fn digest_code(&self) -> Option<u8> {
        match self.leaf(tag::HASH_ALGORITHM) {
            Some([c]) => Some(*c),
            _ => None,
        }
    }

    /// The signature digest.
    ///
    /// # Errors
    /// [`Error::MissingField`] or [`Error::UnsupportedDigest`].
    pub fn hash_algorithm(&self) -> Result<HashAlgorithm, Error> {
        let code = self
            .digest_code()
            .ok_or(Error::MissingField { tag: tag::HASH_ALGORITHM, name: "HASH_ALGORITHM" })?;
        HashAlgorithm::from_code(code).map(|(a, _)| a).ok_or(Error::UnsupportedDigest(code))
    }

    /// Sets the signature digest (takes effect at the next [`SignedFile::sign`]).
    pub fn set_hash_algorithm(&mut self, algorithm: HashAlgorithm) {
        if !self.set_leaf(tag::HASH_ALGORITHM, vec![algorithm.code()]) {
            self.header.push(Tlv::value(tag::HASH_ALGORITHM, [algorithm.code()]));
        }
    }

    /// Modulus index (tag 11): 0 = 512, 1 = 1024, 2 = 2048, 3 = 4096 bits.
    #[must_use]
    pub fn modulus_index(&self) -> Option<u8> {
        match self.leaf(tag::SIGNATURE_MODULUS) {
            Some([m]) => Some(*m),
            _ => None,
        }
    }

    /// The signature bytes: the first top-level signature element (a header has one; any
    /// other element with tag 12 is kept as data and signed like the rest).
    #[must_use]
    pub fn signature(&self) -> Option<&[u8]> {
        self.signature_index().and_then(|i| self.header[i].leaf())
    }

    fn signature_index(&self) -> Option<usize> {
        self.header.iter().position(|e| e.tag == tag::SIGNATURE && matches!(e.body, Body::Value(_)))
    }

    fn set_signature(&mut self, value: Vec<u8>) {
        match self.signature_index() {
            Some(i) => self.header[i].body = Body::Value(value),
            None => {
                let at = self
                    .header
                    .iter()
                    .position(|e| e.tag == tag::SIGNATURE_INFO)
                    .map_or(self.header.len(), |i| i + 1);
                self.header.insert(at, Tlv::value(tag::SIGNATURE, value));
            }
        }
    }

    /// The file name element, without its NUL.
    #[must_use]
    pub fn filename(&self) -> Option<String> {
        self.leaf(tag::FILENAME).map(tlv::c_string)
    }

    /// Sets the file name element (the name the file is served as, `.sgn` included).
    pub fn set_filename(&mut self, name: &str) {
        if !self.set_leaf(tag::FILENAME, tlv::c_string_bytes(name)) {
            self.header.push(Tlv::value(tag::FILENAME, tlv::c_string_bytes(name)));
        }
    }

    /// Unix time the file was signed.
    #[must_use]
    pub fn timestamp(&self) -> Option<u32> {
        match self.leaf(tag::TIMESTAMP) {
            Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        }
    }

    /// Sets the timestamp element.
    pub fn set_timestamp(&mut self, unix_seconds: u32) {
        if !self.set_leaf(tag::TIMESTAMP, unix_seconds.to_be_bytes().to_vec()) {
            self.header.push(Tlv::value(tag::TIMESTAMP, unix_seconds.to_be_bytes()));
        }
    }

    /// The payload: the original file for `.sgn`, records for trust lists, ciphertext for
    /// encrypted configs.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Replaces the payload (the signature is stale until [`SignedFile::sign`]).
    pub fn set_payload(&mut self, payload: Vec<u8>) {
        self.payload = payload;
    }

    /// Takes the payload out, leaving the file without one until [`SignedFile::set_payload`]
    /// (an edit works on the payload without the file holding a second copy).
    pub fn take_payload(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.payload)
    }

    /// Takes the payload out (what `stripsgn` does).
    #[must_use]
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// Checks the signature with `key`.
    ///
    /// # Errors
    /// [`Error::BadSignature`], [`Error::MissingField`], [`Error::UnsupportedDigest`].
    pub fn verify(&self, key: &PublicKey) -> Result<(), Error> {
        let sig = self
            .signature()
            .ok_or(Error::MissingField { tag: tag::SIGNATURE, name: "SIGNATURE" })?;
        let alg = self.hash_algorithm()?;
        if key.verify_digest(alg, &self.signed_digest(alg)?, sig) {
            Ok(())
        } else {
            Err(Error::BadSignature { signer: format!("the {}-bit key given", key.bits()) })
        }
    }

    /// Checks the signature with a certificate's key, and that the header names that
    /// certificate (serial) as the signer, as a phone does.
    ///
    /// # Errors
    /// [`Error::BadSignature`] naming the certificate; [`Error::Untrusted`] when the
    /// signature verifies but the header names another serial.
    pub fn verify_with(&self, cert: &Certificate) -> Result<(), Error> {
        let key = cert.public_key().ok_or_else(|| Error::BadKey {
            what: "certificate",
            reason: format!("{} has no RSA key", cert.subject()),
        })?;
        self.verify(key).map_err(|e| match e {
            Error::BadSignature { .. } => Error::BadSignature {
                signer: format!("{} (serial {})", cert.subject(), crate::hex(cert.serial())),
            },
            e => e,
        })?;
        let signer = self.signer();
        if !cert.is_named_by(&signer) {
            return Err(Error::Untrusted(format!(
                "the signature verifies, but the header names {} serial {} and the certificate is {} serial {}; a phone looks the signer up by issuer and serial and will not find it",
                signer.issuer,
                crate::hex(&signer.serial),
                cert.issuer(),
                crate::hex(cert.serial())
            )));
        }
        Ok(())
    }

    /// Signs the file with `key` as `cert`: the signer info becomes the certificate's
    /// subject, issuer and serial, the modulus index the key's size; the digest code,
    /// file name and timestamp stay as they are. The header length and padding are fixed
    /// up when the header changed size. RSA PKCS#1 v1.5 is deterministic: signing an
    /// unchanged file with its original key gives back the same bytes.
    ///
    /// # Errors
    /// [`Error::UnsupportedKeySize`], [`Error::UnsupportedDigest`], [`Error::Rsa`], or
    /// [`Error::WrongFormat`] when `cert` is not `key`'s certificate.
    pub fn sign(&mut self, key: &PrivateKey, cert: &Certificate) -> Result<(), Error> {
        if !cert.public_key().is_some_and(|p| key.matches(p)) {
            return Err(Error::WrongFormat(format!(
                "the private key does not belong to the certificate {}",
                cert.subject()
            )));
        }
        let bits = key.bits();
        let modulus_index = match bits {
            512 => 0,
            1024 => 1,
            2048 => 2,
            4096 => 3,
            other => return Err(Error::UnsupportedKeySize(other)),
        };
        let alg = self.hash_algorithm()?;
        self.set_signer(cert);
        if !self.set_leaf(tag::SIGNATURE_MODULUS, vec![modulus_index]) {
            return Err(Error::MissingField {
                tag: tag::SIGNATURE_MODULUS,
                name: "SIGNATURE_MODULUS",
            });
        }
        self.set_signature(vec![0; bits / 8]);
        self.fix_layout()?;
        let sig = key.sign_digest(alg, &self.signed_digest(alg)?)?;
        self.set_signature(sig);
        Ok(())
    }

    fn set_signer(&mut self, cert: &Certificate) {
        let name = tlv::c_string_bytes(cert.subject());
        let issuer = tlv::c_string_bytes(cert.issuer());
        let current = self.signer();
        // Keep the header's own bytes when it already names this certificate (another
        // tool's DN spelling, a serial with a leading zero): re-signing must not churn it.
        if cert.has_serial(&current.serial)
            && same_dn(&current.name, cert.subject())
            && same_dn(&current.issuer, cert.issuer())
        {
            return;
        }
        let children = vec![
            Tlv::value(tag::SIGNER_NAME, name),
            Tlv::value(tag::ISSUER_NAME, issuer),
            Tlv::value(tag::SERIAL_NUMBER, cert.serial().to_vec()),
        ];
        match tlv::find_mut(&mut self.header, tag::SIGNER_INFO) {
            Some(e) => e.body = Body::Children(children),
            None => self
                .header
                .insert(2.min(self.header.len()), Tlv::container(tag::SIGNER_INFO, children)),
        }
    }

    /// Makes the header length element right and the header a multiple of 4 bytes,
    /// changing nothing when both already hold.
    fn fix_layout(&mut self) -> Result<(), Error> {
        let total = self.header_encoded_len();
        let declared = self.header_length();
        if total == declared && total.is_multiple_of(4) {
            return Ok(());
        }
        self.header.retain(|e| e.tag != PADDING);
        let unpadded = self.header_encoded_len();
        let pad = (4 - unpadded % 4) % 4;
        self.header.extend(std::iter::repeat_with(Tlv::padding).take(pad));
        let len = u16::try_from(unpadded + pad)
            .map_err(|_| Error::bad_tlv(tag::HEADER_LENGTH, 5, "header longer than 65535 bytes"))?;
        self.set_leaf(tag::HEADER_LENGTH, len.to_be_bytes().to_vec());
        Ok(())
    }
}

/// The name a signed copy of `name` is served under: `X.sgn`.
#[must_use]
pub fn signed_name(name: &str) -> String {
    format!("{name}.sgn")
}

/// The plain file a signed file's name stands for: `X` for `X.sgn` or `X.sha512` (any case),
/// else `None`.
///
/// ```
/// use cnfkit_repack::{signed_name, unsigned_name};
/// assert_eq!(signed_name("SEP001122334455.cnf.xml"), "SEP001122334455.cnf.xml.sgn");
/// assert_eq!(unsigned_name("SEP001122334455.cnf.xml.SGN"), Some("SEP001122334455.cnf.xml"));
/// assert_eq!(unsigned_name("term42.default.loads"), None);
/// ```
#[must_use]
pub fn unsigned_name(name: &str) -> Option<&str> {
    [".sgn", ".sha512"].iter().find_map(|suffix| {
        let cut = name.len().checked_sub(suffix.len())?;
        (name.is_char_boundary(cut) && name[cut..].eq_ignore_ascii_case(suffix))
            .then(|| &name[..cut])
    })
}

/// Checks that `bytes` are whole before they are signed (again): a signature the header says
/// `cert` made must still verify (a file cut short or altered no longer does), a trust list's
/// own signature must hold, and a payload that looks like XML must parse (up to
/// [`MAX_CONFIG_BYTES`](crate::MAX_CONFIG_BYTES)). Signing a damaged
/// file would vouch for the damage, and phones would install it.
///
/// ```
/// use cnfkit_repack::{Certificate, check_whole};
/// let cert = Certificate::from_pem(&std::fs::read_to_string("tests/data/test-tftp.pem")?)?;
/// let signed = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn")?;
/// assert!(check_whole(&signed, &cert).is_ok());
/// assert!(check_whole(&signed[..signed.len() - 40], &cert).is_err(), "cut short");
/// assert!(check_whole(b"<device><loadInformation>", &cert).is_err(), "not well-formed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Damaged`] with what failed; the parse errors of a damaged header.
pub fn check_whole(bytes: &[u8], cert: &Certificate) -> Result<(), Error> {
    let damaged = |e: Error| Error::Damaged(Box::new(e));
    let xml_parses = |payload: &[u8]| {
        let looks_like_xml = payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
        if looks_like_xml && payload.len() <= crate::MAX_CONFIG_BYTES {
            cnfkit_config::CnfDocument::parse(payload).map_err(|e| damaged(Error::Edit(e)))?;
        }
        Ok(())
    };
    match crate::detect(bytes) {
        crate::Format::TrustList => crate::TrustList::parse(bytes)?.verify().map_err(damaged),
        format @ (crate::Format::Signed | crate::Format::Encrypted) => {
            let file = SignedFile::parse(bytes)?;
            if cert.is_named_by(&file.signer()) {
                file.verify_with(cert).map_err(damaged)?;
            }
            // An encrypted payload is ciphertext: its signature is all there is to check.
            if format == crate::Format::Signed { xml_parses(file.payload()) } else { Ok(()) }
        }
        _ => xml_parses(bytes),
    }
}

/// How [`sign_or_wrap`] signs.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// The private key.
    pub key: &'a PrivateKey,
    /// Its certificate (named in the header).
    pub cert: &'a Certificate,
    /// The digest: `None` keeps a signed file's, and is SHA-1 for a new header.
    pub digest: Option<HashAlgorithm>,
    /// The file name for the header: `None` keeps a signed file's.
    pub filename: Option<&'a str>,
    /// The signing time (Unix seconds).
    pub now: u32,
}

/// Signs `bytes`: a signed file, trust list or encrypted config is signed again (its elements
/// kept; time, and name and digest when given, updated); anything else gets a new signed header
/// named `new_name` unless [`Signing::filename`] says otherwise.
///
/// # Errors
/// [`Error::UnknownHeaderVersion`] for a header version this crate does not know (signing it
/// again could drop what it does not understand); the parse errors of a damaged signed file; and as
/// [`SignedFile::sign`].
pub fn sign_or_wrap(bytes: &[u8], new_name: &str, signing: &Signing<'_>) -> Result<Vec<u8>, Error> {
    let mut file = match crate::detect(bytes) {
        crate::Format::Signed | crate::Format::Encrypted | crate::Format::TrustList => {
            SignedFile::parse(bytes)?
        }
        crate::Format::SignedOther(major, minor) => {
            return Err(Error::UnknownHeaderVersion { major, minor });
        }
        _ => SignedFile::new(
            HeaderKind::Signed,
            new_name,
            signing.now,
            signing.digest.unwrap_or(HashAlgorithm::Sha1),
            bytes.to_vec(),
        ),
    };
    if let Some(digest) = signing.digest {
        file.set_hash_algorithm(digest);
    }
    if let Some(name) = signing.filename {
        file.set_filename(name);
    }
    file.set_timestamp(signing.now);
    file.sign(signing.key, signing.cert)?;
    file.to_bytes()
}
