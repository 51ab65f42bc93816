//! Encrypted configs: `SEP<MAC>.cnf.xml.enc.sgn` (header version 2.0).
//!
//! AES-128-CBC with a fresh key and IV; the plaintext is padded with `\r` bytes (1..=16,
//! not PKCS#7) and the pad count stored in tag 20; the AES key is wrapped with RSA PKCS#1
//! v1.5 under the phone's certificate (tag 25); a digest of the unpadded plaintext sits in
//! tags 26/27. The file is signed like any `.sgn`, over the ciphertext.
//!
//! ```text
//! 10 { 11 { 12 0001 00, 13 0010 iv, 14 0002 pad }, 15 { 16 0001 00, 17 0002 bits, 18 0001 01, 19 wrapped key } }
//! 1a 0001 digest code     1b llll digest of the plaintext
//! ```
//!
//! CBC is unauthenticated: a phone relies on the outer signature. Tags 18 and 22 have no
//! known meaning; re-encryption copies them, like the wrapped key, verbatim.

use std::fmt;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use zeroize::Zeroizing;

use crate::Error;
use crate::digest::HashAlgorithm;
use crate::keys::{Certificate, PrivateKey, PublicKey};
use crate::signed::{HeaderKind, SignedFile};
use crate::tlv::Tlv;

/// Encryption header tags.
pub mod enc_tag {
    /// Container: IV info and key info.
    pub const ENCRYPTION_INFO: u8 = 16;
    /// Container: unknown byte, IV, padding count.
    pub const IV_INFO: u8 = 17;
    /// Unknown, 0 in every file seen; copied verbatim.
    pub const UNKNOWN_1: u8 = 18;
    /// The 16-byte IV.
    pub const IV: u8 = 19;
    /// Number of `\r` bytes appended to the plaintext, u16.
    pub const PADDING: u8 = 20;
    /// Container: unknown byte, key size, key algorithm, wrapped key.
    pub const KEY_INFO: u8 = 21;
    /// Unknown, 0 in every file seen; copied verbatim.
    pub const UNKNOWN_2: u8 = 22;
    /// Bit length of the wrapped key blob (the phone's RSA modulus), u16.
    pub const KEY_SIZE: u8 = 23;
    /// Key algorithm, 1 (AES-128).
    pub const KEY_ALGORITHM: u8 = 24;
    /// The AES key, RSA PKCS#1 v1.5-encrypted to the phone.
    pub const WRAPPED_KEY: u8 = 25;
    /// Digest code of the plaintext digest (1 SHA-1, 3 SHA-512).
    pub const HASH_ALGORITHM: u8 = 26;
    /// Digest of the unpadded plaintext.
    pub const HASH: u8 = 27;
}

/// The AES-128 content key of an encrypted config. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct ContentKey(Zeroizing<[u8; 16]>);

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

impl ContentKey {
    /// A fresh random key.
    ///
    /// # Errors
    /// [`Error::Random`].
    pub fn random() -> Result<Self, Error> {
        let mut k = Zeroizing::new([0u8; 16]);
        getrandom::fill(k.as_mut()).map_err(|_| Error::Random)?;
        Ok(Self(k))
    }

    /// A key from its bytes (tests and known-answer vectors).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

/// What [`EncryptedConfig::decrypt`] recovers.
pub struct Decrypted {
    /// The configuration XML, padding removed. Zeroized on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The content key, to re-encrypt with the same key.
    pub key: ContentKey,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decrypted({} bytes)", self.plaintext.len())
    }
}

/// A parsed encrypted config.
///
/// ```
/// use cnfkit_repack::{EncryptedConfig, PrivateKey};
/// let bytes = std::fs::read("tests/data/SEP001122334455.cnf.xml.enc.sgn")?;
/// let phone_key = PrivateKey::from_pem(&std::fs::read_to_string("tests/data/test-phone.pem")?)?;
/// let enc = EncryptedConfig::parse(&bytes)?;
/// let clear = enc.decrypt(&phone_key)?;
/// assert!(clear.plaintext.starts_with(b"<?xml"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedConfig {
    file: SignedFile,
}

impl EncryptedConfig {
    /// Parses an encrypted config.
    ///
    /// # Errors
    /// [`Error::WrongFormat`] when the header is not version 2.0 with encryption info.
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        Self::from_signed(SignedFile::parse(data)?)
    }

    /// Wraps a parsed header of version 2.0.
    ///
    /// # Errors
    /// [`Error::WrongFormat`].
    pub fn from_signed(file: SignedFile) -> Result<Self, Error> {
        if file.kind() != HeaderKind::Encrypted || file.find(enc_tag::ENCRYPTION_INFO).is_none() {
            let (a, b) = file.version();
            return Err(Error::WrongFormat(format!(
                "not an encrypted config: header version {a}.{b}{}",
                if file.kind() == HeaderKind::Encrypted {
                    " without encryption info (tag 16)"
                } else {
                    ", an encrypted config has 2.0"
                }
            )));
        }
        Ok(Self { file })
    }

    /// Encrypts `plaintext` for the phone holding `phone_cert`'s key: a fresh AES key and
    /// IV, the key wrapped to the certificate. The result is unsigned: sign it with
    /// [`EncryptedConfig::file_mut`] and [`SignedFile::sign`].
    ///
    /// # Errors
    /// [`Error::BadKey`] when the certificate has no RSA key; [`Error::Rsa`]; [`Error::Random`].
    pub fn encrypt(
        plaintext: &[u8],
        phone_cert: &Certificate,
        filename: &str,
        timestamp: u32,
        digest: HashAlgorithm,
    ) -> Result<(Self, ContentKey), Error> {
        let phone = phone_cert.public_key().ok_or_else(|| Error::BadKey {
            what: "phone certificate",
            reason: format!("{} has no RSA key to wrap the AES key with", phone_cert.subject()),
        })?;
        let key = ContentKey::random()?;
        let wrapped = phone.encrypt(key.0.as_ref())?;
        let key_bits =
            u16::try_from(phone.bits()).map_err(|_| Error::UnsupportedKeySize(phone.bits()))?;
        let mut file =
            SignedFile::new(HeaderKind::Encrypted, filename, timestamp, digest, Vec::new());
        file.elements_mut().extend([
            Tlv::container(
                enc_tag::ENCRYPTION_INFO,
                vec![
                    Tlv::container(
                        enc_tag::IV_INFO,
                        vec![
                            Tlv::value(enc_tag::UNKNOWN_1, [0]),
                            Tlv::value(enc_tag::IV, [0; 16]),
                            Tlv::value(enc_tag::PADDING, [0, 0]),
                        ],
                    ),
                    Tlv::container(
                        enc_tag::KEY_INFO,
                        vec![
                            Tlv::value(enc_tag::UNKNOWN_2, [0]),
                            Tlv::value(enc_tag::KEY_SIZE, key_bits.to_be_bytes()),
                            Tlv::value(enc_tag::KEY_ALGORITHM, [1]),
                            Tlv::value(enc_tag::WRAPPED_KEY, wrapped),
                        ],
                    ),
                ],
            ),
            Tlv::value(enc_tag::HASH_ALGORITHM, [digest.code()]),
            Tlv::value(enc_tag::HASH, Vec::new()),
        ]);
        let mut enc = Self { file };
        enc.reencrypt(&key, plaintext, None)?;
        Ok((enc, key))
    }

    /// The signed header and ciphertext.
    #[must_use]
    pub fn file(&self) -> &SignedFile {
        &self.file
    }

    /// The signed header, to sign after (re-)encryption.
    pub fn file_mut(&mut self) -> &mut SignedFile {
        &mut self.file
    }

    /// Takes the signed file out.
    #[must_use]
    pub fn into_file(self) -> SignedFile {
        self.file
    }

    /// The IV.
    ///
    /// # Errors
    /// [`Error::MissingField`] when tag 19 is absent or not 16 bytes.
    pub fn iv(&self) -> Result<[u8; 16], Error> {
        self.file
            .leaf(enc_tag::IV)
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
            .ok_or(Error::MissingField { tag: enc_tag::IV, name: "ENCRYPTION_IV (16 bytes)" })
    }

    /// Number of `\r` padding bytes (tag 20).
    ///
    /// # Errors
    /// [`Error::MissingField`].
    pub fn padding(&self) -> Result<usize, Error> {
        match self.file.require(enc_tag::PADDING, "ENCRYPTION_PADDING")? {
            [a, b] => Ok(usize::from(u16::from_be_bytes([*a, *b]))),
            [a] => Ok(usize::from(*a)),
            _ => {
                Err(Error::MissingField { tag: enc_tag::PADDING, name: "ENCRYPTION_PADDING (u16)" })
            }
        }
    }

    /// The wrapped AES key (tag 25).
    ///
    /// # Errors
    /// [`Error::MissingField`].
    pub fn wrapped_key(&self) -> Result<&[u8], Error> {
        self.file.require(enc_tag::WRAPPED_KEY, "ENCRYPTION_KEY")
    }

    /// The plaintext digest algorithm and value (tags 26, 27), when present.
    #[must_use]
    pub fn plaintext_digest(&self) -> Option<(u8, &[u8])> {
        let code = match self.file.leaf(enc_tag::HASH_ALGORITHM)? {
            [c] => *c,
            _ => return None,
        };
        Some((code, self.file.leaf(enc_tag::HASH)?))
    }

    /// Unwraps the AES key with the phone's private key and decrypts. The plaintext digest
    /// is checked, which is how a wrong key is told from a right one (the RSA unwrap uses
    /// implicit rejection and does not fail by itself).
    ///
    /// # Errors
    /// [`Error::Decrypt`] naming the reason (wrong phone key, damaged ciphertext);
    /// [`Error::KeyUnwrap`] when the wrapped key does not fit the phone key at all.
    pub fn decrypt(&self, phone_key: &PrivateKey) -> Result<Decrypted, Error> {
        let unwrapped = phone_key.decrypt(self.wrapped_key()?)?;
        let key = <[u8; 16]>::try_from(unwrapped.as_slice()).map_err(|_| {
            Error::Decrypt("wrong phone key: the unwrapped AES key is not 16 bytes".into())
        })?;
        let key = ContentKey::from_bytes(key);
        let plaintext = self.decrypt_with(&key)?;
        Ok(Decrypted { plaintext, key })
    }

    /// Decrypts with a known content key.
    ///
    /// # Errors
    /// [`Error::Decrypt`].
    pub fn decrypt_with(&self, key: &ContentKey) -> Result<Zeroizing<Vec<u8>>, Error> {
        let iv = self.iv()?;
        let pad = self.padding()?;
        let ct = self.file.payload();
        if ct.is_empty() || !ct.len().is_multiple_of(16) {
            return Err(Error::Decrypt(format!(
                "ciphertext length {} is not a positive multiple of 16",
                ct.len()
            )));
        }
        if !(1..=16).contains(&pad) {
            return Err(Error::Decrypt(format!("padding count {pad} is outside 1..=16")));
        }
        let mut buf = Zeroizing::new(ct.to_vec());
        cbc::Decryptor::<aes::Aes128>::new((&*key.0).into(), (&iv).into())
            .decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| Error::Decrypt("ciphertext is not whole blocks".into()))?;
        let body_len = buf.len() - pad;
        let wrong_key = || {
            Error::Decrypt(
                "wrong phone key or damaged file: the plaintext digest does not match".into(),
            )
        };
        match self.plaintext_digest() {
            Some((code, want)) => {
                let (alg, _) =
                    HashAlgorithm::from_code(code).ok_or(Error::UnsupportedDigest(code))?;
                if alg.digest(&buf[..body_len]) != want {
                    return Err(wrong_key());
                }
            }
            None if buf[body_len..].iter().any(|&b| b != b'\r') => return Err(wrong_key()),
            None => {}
        }
        buf.truncate(body_len);
        Ok(buf)
    }

    /// Encrypts `plaintext` with `key` (the same key as before, so the wrapped key and
    /// the other key-info elements stay byte for byte) under a fresh IV, or `iv` when
    /// given; updates the padding count and the plaintext digest. The signature is stale
    /// until the file is signed again.
    ///
    /// # Errors
    /// [`Error::Random`], [`Error::MissingField`] when the header lacks the IV, padding or
    /// digest elements.
    pub fn reencrypt(
        &mut self,
        key: &ContentKey,
        plaintext: &[u8],
        iv: Option<[u8; 16]>,
    ) -> Result<(), Error> {
        let iv = match iv {
            Some(iv) => iv,
            None => {
                let mut iv = [0u8; 16];
                getrandom::fill(&mut iv).map_err(|_| Error::Random)?;
                iv
            }
        };
        let pad = 16 - plaintext.len() % 16;
        let mut buf = Zeroizing::new(Vec::with_capacity(plaintext.len() + pad));
        buf.extend_from_slice(plaintext);
        buf.resize(plaintext.len() + pad, b'\r');
        let len = buf.len();
        cbc::Encryptor::<aes::Aes128>::new((&*key.0).into(), (&iv).into())
            .encrypt_padded::<NoPadding>(&mut buf, len)
            .map_err(|_| Error::Decrypt("internal: padded plaintext is not whole blocks".into()))?;
        let digest_code = self.plaintext_digest().map_or(HashAlgorithm::Sha1.code(), |(c, _)| c);
        let (alg, _) =
            HashAlgorithm::from_code(digest_code).ok_or(Error::UnsupportedDigest(digest_code))?;
        let digest = alg.digest(plaintext);
        let pad16 = u16::try_from(pad).unwrap_or(16);
        for (t, v, name) in [
            (enc_tag::IV, iv.to_vec(), "ENCRYPTION_IV"),
            (enc_tag::PADDING, pad16.to_be_bytes().to_vec(), "ENCRYPTION_PADDING"),
            (enc_tag::HASH, digest, "ENCRYPTION_HASH"),
        ] {
            if !self.file.set_leaf(t, v) {
                return Err(Error::MissingField { tag: t, name });
            }
        }
        self.file.set_payload(std::mem::take(&mut *buf));
        Ok(())
    }
}

/// The signed, unencrypted `SEP<MAC>.cnf.xml.sgn` a phone reads before the `.enc.sgn`:
/// `fullConfig` false, the elements the phone needs before decrypting (`loadInformation`,
/// `ipAddressMode`, `capfAuthMode`, `capfList`) copied from the full config, `certHash` =
/// MD5 of the phone certificate, `encrConfig` true. Returns the unsigned XML payload.
///
/// # Errors
/// [`Error::Edit`] when the full config does not parse.
pub fn companion_stub(full_config: &[u8], phone_cert: &Certificate) -> Result<Vec<u8>, Error> {
    let doc = cnfkit_config::CnfDocument::parse(full_config).map_err(Error::Edit)?;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<device>\n  <fullConfig>false</fullConfig>\n",
    );
    for name in ["ipAddressMode", "loadInformation", "capfAuthMode", "capfList"] {
        if let Some(e) = doc.find(name) {
            xml.push_str("  ");
            xml.push_str(&String::from_utf8_lossy(e.raw()));
            xml.push('\n');
        }
    }
    xml.push_str("  <certHash>");
    xml.push_str(&phone_cert.md5_hex());
    xml.push_str("</certHash>\n  <encrConfig>true</encrConfig>\n</device>\n");
    Ok(xml.into_bytes())
}

/// Whether `key` can unwrap keys wrapped to `cert` (same public key).
#[must_use]
pub fn key_matches_certificate(key: &PrivateKey, cert: &Certificate) -> bool {
    cert.public_key().is_some_and(|p: &PublicKey| key.matches(p))
}

/// An encrypted config and the signed stub that points the phone at it, ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedConfig {
    /// `SEP<MAC>.cnf.xml.enc.sgn`.
    pub encrypted_name: String,
    /// Its bytes, signed.
    pub encrypted: Vec<u8>,
    /// `SEP<MAC>.cnf.xml.sgn`: the stub the phone reads first.
    pub stub_name: String,
    /// Its bytes, signed.
    pub stub: Vec<u8>,
}

impl EncryptedConfig {
    /// Encrypts the plain config `name` (`SEP<MAC>.cnf.xml`) for the phone holding
    /// `phone_cert`'s key and makes its companion stub ([`companion_stub`]), both signed with
    /// `key` and `cert` at `now`: everything a server needs to serve an encrypted config.
    ///
    /// ```
    /// use cnfkit_repack::{Certificate, EncryptedConfig, HashAlgorithm, PrivateKey};
    /// let data = std::path::Path::new("tests/data");
    /// let plain = std::fs::read(data.join("SEP001122334455.cnf.xml"))?;
    /// let phone = Certificate::from_pem(&std::fs::read_to_string(data.join("test-phone.pem"))?)?;
    /// let pem = std::fs::read_to_string(data.join("test-tftp.pem"))?;
    /// let (key, cert) = (PrivateKey::from_pem(&pem)?, Certificate::from_pem(&pem)?);
    /// let sealed = EncryptedConfig::seal_for_phone(
    ///     &plain, "SEP001122334455.cnf.xml", &phone, 0, HashAlgorithm::Sha1, &key, &cert)?;
    /// assert_eq!(sealed.encrypted_name, "SEP001122334455.cnf.xml.enc.sgn");
    /// assert_eq!(sealed.stub_name, "SEP001122334455.cnf.xml.sgn");
    /// let phone_key = PrivateKey::from_pem(&std::fs::read_to_string(data.join("test-phone.pem"))?)?;
    /// let back = EncryptedConfig::parse(&sealed.encrypted)?.decrypt(&phone_key)?;
    /// assert_eq!(&back.plaintext[..], &plain[..]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`EncryptedConfig::encrypt`], [`companion_stub`] and [`SignedFile::sign`].
    #[allow(clippy::too_many_arguments)]
    pub fn seal_for_phone(
        plaintext: &[u8],
        name: &str,
        phone_cert: &Certificate,
        now: u32,
        digest: HashAlgorithm,
        key: &PrivateKey,
        cert: &Certificate,
    ) -> Result<SealedConfig, Error> {
        let encrypted_name = format!("{name}.enc.sgn");
        let stub_name = format!("{name}.sgn");
        let (mut enc, _) = Self::encrypt(plaintext, phone_cert, &encrypted_name, now, digest)?;
        enc.file_mut().sign(key, cert)?;
        let stub_payload = companion_stub(plaintext, phone_cert)?;
        let mut stub = SignedFile::new(HeaderKind::Signed, &stub_name, now, digest, stub_payload);
        stub.sign(key, cert)?;
        Ok(SealedConfig {
            encrypted_name,
            encrypted: enc.file().to_bytes()?,
            stub_name,
            stub: stub.to_bytes()?,
        })
    }
}
