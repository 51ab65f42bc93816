//! Format detection and the repack workflow: open what is served, get at the plaintext,
//! edit it, and put it back in the same envelope (same cipher and key, same digest and
//! file name), signed again.

use std::fmt;

use cnfkit_config::Assignment;
use zeroize::Zeroizing;

use crate::Error;
use crate::encrypted::{ContentKey, EncryptedConfig};
use crate::error::Secret;
use crate::keys::{Certificate, PrivateKey};
use crate::profile::{self, Compression, KeyDerivation, Password};
use crate::signed::{HeaderKind, SignedFile, SignerInfo};
use crate::trust::TrustList;

/// What a file is, from its bytes (never from its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Signed file, header 1.0 (`.sgn`, `.sha512`).
    Signed,
    /// Trust list, header 1.2.
    TrustList,
    /// Encrypted config, header 2.0.
    Encrypted,
    /// A signed header of another version.
    SignedOther(u8, u8),
    /// OpenSSL `Salted__` profile.
    Profile,
    /// gzip data.
    Gzip,
    /// Anything else (XML, SIP `.cnf`, text, binaries).
    Plain,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signed => f.write_str("signed file (header 1.0)"),
            Self::TrustList => f.write_str("trust list (header 1.2)"),
            Self::Encrypted => f.write_str("encrypted config (header 2.0)"),
            Self::SignedOther(a, b) => write!(f, "signed header version {a}.{b}"),
            Self::Profile => f.write_str("OpenSSL salted profile (AES-256-CBC)"),
            Self::Gzip => f.write_str("gzip"),
            Self::Plain => f.write_str("plain file"),
        }
    }
}

/// Tells the format from the first bytes.
///
/// ```
/// use cnfkit_repack::{detect, Format};
/// assert_eq!(detect(b"<device/>"), Format::Plain);
/// assert_eq!(detect(b"Salted__12345678................"), Format::Profile);
/// assert_eq!(detect(&[1, 0, 2, 1, 2, 2, 0, 2, 0, 12]), Format::TrustList);
/// ```
#[must_use]
pub fn detect(data: &[u8]) -> Format {
    if data.len() >= 10 && data[..3] == [1, 0, 2] && data[5..8] == [2, 0, 2] {
        return match (data[3], data[4]) {
            (1, 0) => Format::Signed,
            (1, 2) => Format::TrustList,
            (2, 0) => Format::Encrypted,
            (a, b) => Format::SignedOther(a, b),
        };
    }
    if profile::is_profile(data) {
        return Format::Profile;
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    Format::Plain
}

/// The secrets a repack may need: the phone's private key for `.enc.sgn`, the password for
/// profiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct Secrets<'a> {
    /// The phone's private key (encrypted configs).
    pub phone_key: Option<&'a PrivateKey>,
    /// The profile password.
    pub password: Option<&'a Password>,
}

enum Envelope {
    Plain,
    Signed(SignedFile),
    Encrypted { file: EncryptedConfig, key: ContentKey },
    Profile { derivation: KeyDerivation, password: Password, compression: Compression },
}

/// An opened file on its way to being repacked.
///
/// ```
/// use cnfkit_repack::{Certificate, PrivateKey, Repack, Secrets};
/// let pem = std::fs::read_to_string("tests/data/test-tftp.pem")?;
/// let (key, cert) = (PrivateKey::from_pem(&pem)?, Certificate::from_pem(&pem)?);
/// let signed = std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn")?;
///
/// let mut job = Repack::open(&signed, Secrets::default())?;
/// job.set("deviceProtocol", "SCCP")?;
/// job.set("loadInformation", "SCCP42.9-4-2SR4-3S")?;
/// let out = job.finish(Some((&key, &cert)))?;
///
/// let file = cnfkit_repack::SignedFile::parse(&out)?;
/// file.verify_with(&cert)?;
/// assert!(std::str::from_utf8(file.payload())?.contains("<deviceProtocol>SCCP</deviceProtocol>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Repack {
    envelope: Envelope,
    plaintext: Zeroizing<Vec<u8>>,
    timestamp: Option<u32>,
}

impl fmt::Debug for Repack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repack")
            .field("format", &self.format())
            .field("len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

impl Repack {
    /// Opens `data`, decrypting it when it is encrypted.
    ///
    /// # Errors
    /// [`Error::WrongFormat`] for trust lists (not configs), [`Error::UnknownHeaderVersion`];
    /// [`Error::MissingSecret`] when a needed secret is missing, [`Error::Decrypt`] when it is
    /// wrong; parse errors.
    pub fn open(data: &[u8], secrets: Secrets<'_>) -> Result<Self, Error> {
        let (envelope, plaintext) = match detect(data) {
            Format::Plain => (Envelope::Plain, Zeroizing::new(data.to_vec())),
            Format::Gzip => {
                return Err(Error::WrongFormat(
                    "gzip data: decompress it first (gunzip), edit, then encrypt it as a profile"
                        .into(),
                ));
            }
            Format::Signed => {
                let mut file = SignedFile::parse(data)?;
                let plain = Zeroizing::new(file.take_payload());
                (Envelope::Signed(file), plain)
            }
            Format::Encrypted => {
                let key = secrets.phone_key.ok_or(Error::MissingSecret(Secret::PhoneKey))?;
                let file = EncryptedConfig::parse(data)?;
                let clear = file.decrypt(key)?;
                (Envelope::Encrypted { file, key: clear.key }, clear.plaintext)
            }
            Format::Profile => {
                let password = secrets.password.ok_or(Error::MissingSecret(Secret::Password))?;
                let p = profile::decrypt(data, password)?;
                (
                    Envelope::Profile {
                        derivation: p.derivation,
                        password: password.clone(),
                        compression: p.compression,
                    },
                    p.plaintext,
                )
            }
            Format::TrustList => {
                return Err(Error::WrongFormat(
                    "a trust list is not a config: build a new one instead".into(),
                ));
            }
            Format::SignedOther(a, b) => {
                return Err(Error::UnknownHeaderVersion { major: a, minor: b });
            }
        };
        Ok(Self { envelope, plaintext, timestamp: None })
    }

    /// What was opened.
    #[must_use]
    pub fn format(&self) -> Format {
        match &self.envelope {
            Envelope::Plain => Format::Plain,
            Envelope::Signed(_) => Format::Signed,
            Envelope::Encrypted { .. } => Format::Encrypted,
            Envelope::Profile { .. } => Format::Profile,
        }
    }

    /// The plaintext (the config XML, or a profile's text or gzip bytes).
    #[must_use]
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// Replaces the plaintext (after an editor session, say).
    pub fn set_plaintext(&mut self, plaintext: Vec<u8>) {
        self.plaintext = Zeroizing::new(plaintext);
    }

    /// Sets a field of the config through cnfkit-config: `path` is an element path
    /// (`loadInformation`, `vendorConfig/webAccess`, `devicePool/callManagerGroup/members/member[1]/callManager/name`),
    /// created when missing; `path@attr` sets an attribute. Everything else in the document
    /// stays byte for byte.
    ///
    /// # Errors
    /// [`Error::Edit`] when the plaintext is not a cnf.xml document or the path is invalid;
    /// [`Error::CompressedProfile`] for a gzip profile.
    pub fn set(&mut self, path: &str, value: &str) -> Result<(), Error> {
        self.apply(&Assignment::new(path, value))
    }

    /// Applies an edit as users write it (`PATH=VALUE`, `PATH@ATTR=VALUE`), as
    /// [`set`](Self::set) does.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn apply(&mut self, assignment: &Assignment) -> Result<(), Error> {
        if let Envelope::Profile { compression: Compression::Gzip, .. } = self.envelope {
            return Err(Error::CompressedProfile);
        }
        let mut doc = cnfkit_config::CnfDocument::parse(&self.plaintext).map_err(Error::Edit)?;
        assignment.apply_to(&mut doc).map_err(Error::Edit)?;
        self.plaintext = Zeroizing::new(doc.into_bytes());
        Ok(())
    }

    /// The signer named by the original header, for signed and encrypted files.
    #[must_use]
    pub fn original_signer(&self) -> Option<SignerInfo> {
        match &self.envelope {
            Envelope::Signed(f) => Some(f.signer()),
            Envelope::Encrypted { file, .. } => Some(file.file().signer()),
            _ => None,
        }
    }

    /// Whether a phone will accept the result signed by `cert`. With the phone's trust
    /// list, the certificate must be in it with the TFTP or CCM+TFTP role. Without one, the
    /// certificate must be the original signer (same issuer and serial): a phone that trusted the
    /// original signer knows no other.
    ///
    /// # Errors
    /// [`Error::Untrusted`] explaining why the phone would reject the file and what to do.
    pub fn check_signer(
        &self,
        cert: &Certificate,
        trust_list: Option<&TrustList>,
    ) -> Result<(), Error> {
        if let Some(tl) = trust_list {
            if tl.trusts_config_signer(cert) {
                return Ok(());
            }
            return Err(Error::Untrusted(format!(
                "the phone's trust list has no TFTP or CCM+TFTP record for {} (serial {}): the phone will reject the file. Sign with a certificate the list holds, or first install a trust list that holds yours, signed by a SAST certificate the phone already trusts",
                cert.subject(),
                crate::hex(cert.serial())
            )));
        }
        match self.original_signer() {
            Some(orig) if !cert.is_named_by(&orig) => Err(Error::Untrusted(format!(
                "the file was signed by {} (serial {}), you sign with {} (serial {}): a phone whose trust list holds only the original signer rejects the result (checking against the phone's trust list tells for sure)",
                orig.name,
                crate::hex(&orig.serial),
                cert.subject(),
                crate::hex(cert.serial())
            ))),
            _ => Ok(()),
        }
    }

    /// Uses `unix_seconds` as the new signing time instead of now.
    pub fn set_timestamp(&mut self, unix_seconds: u32) {
        self.timestamp = Some(unix_seconds);
    }

    /// Puts the plaintext back in its envelope: re-encrypted with the same AES key (a
    /// fresh IV) or the same password and key derivation (a fresh salt), and signed again
    /// with `signer`, keeping the digest code and the file name.
    ///
    /// # Errors
    /// [`Error::WrongFormat`] when a signed or encrypted file is finished without a signer;
    /// signing and encryption errors.
    pub fn finish(self, signer: Option<(&PrivateKey, &Certificate)>) -> Result<Vec<u8>, Error> {
        let timestamp = self.timestamp.unwrap_or_else(now);
        let need_signer = || {
            Error::WrongFormat(
                "the file is signed: give the signing key and certificate to sign it again".into(),
            )
        };
        match self.envelope {
            Envelope::Plain => {
                let mut plaintext = self.plaintext;
                Ok(std::mem::take(&mut *plaintext))
            }
            Envelope::Signed(mut file) => {
                let (key, cert) = signer.ok_or_else(need_signer)?;
                // A signed file's payload is clear text in the file: moved, not copied.
                let mut plaintext = self.plaintext;
                file.set_payload(std::mem::take(&mut *plaintext));
                file.set_timestamp(timestamp);
                file.sign(key, cert)?;
                file.to_bytes()
            }
            Envelope::Encrypted { mut file, key } => {
                let (skey, cert) = signer.ok_or_else(need_signer)?;
                file.reencrypt(&key, &self.plaintext, None)?;
                let f = file.file_mut();
                f.set_timestamp(timestamp);
                f.sign(skey, cert)?;
                file.file().to_bytes()
            }
            Envelope::Profile { derivation, password, .. } => {
                profile::encrypt(&self.plaintext, &password, derivation, None)
            }
        }
    }
}

/// Whether `kind` holds a config (signed or encrypted) rather than a trust list.
#[must_use]
pub fn is_config_kind(kind: HeaderKind) -> bool {
    matches!(kind, HeaderKind::Signed | HeaderKind::Encrypted)
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}
