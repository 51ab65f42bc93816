//! RSA keys and X.509 certificates read from PEM or DER, behind our own types.
//!
//! Private keys are zeroized when dropped (the `rsa` crate's key type does this) and never
//! printed: their `Debug` says only the size.

use std::fmt;

use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use x509_cert::der::{Decode as _, Encode as _};

use crate::Error;
use crate::digest::{HashAlgorithm, hex};

/// An RSA private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
///
/// With the `openssl` feature, signatures are made by the system's OpenSSL (the same bytes,
/// PKCS#1 v1.5 is deterministic, about ten times sooner than the pure-Rust `rsa` crate).
pub struct PrivateKey {
    inner: rsa::PrivateKey,
    #[cfg(feature = "openssl")]
    fast: openssl::pkey::PKey<openssl::pkey::Private>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({} bits)", self.bits())
    }
}

impl PrivateKey {
    /// Reads a PEM file (PKCS#1 or PKCS#8).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, and as [`PrivateKey::from_pem`].
    pub fn from_pem_file(path: &std::path::Path) -> Result<Self, Error> {
        Self::from_pem(&read_pem(path, "private key")?)
    }

    /// Reads the first private key block of a PEM file (a file holding a key and a
    /// certificate, as certutils writes them, is fine).
    ///
    /// # Errors
    /// [`Error::BadKey`] when there is no private key block, [`Error::Decode`] when it cannot be
    /// decoded;
    /// encrypted PKCS#8 keys are refused with a hint.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        for block in pem_blocks(pem) {
            let inner = match block.label {
                "RSA PRIVATE KEY" => rsa::PrivateKey::from_pkcs1_pem(block.text)
                    .map_err(|e| bad("private key", e))?,
                "PRIVATE KEY" => rsa::PrivateKey::from_pkcs8_pem(block.text)
                    .map_err(|e| bad("private key", e))?,
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::BadKey {
                        what: "private key",
                        reason:
                            "it is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)"
                                .into(),
                    });
                }
                _ => continue,
            };
            return Self::from_inner(inner);
        }
        Err(Error::BadKey { what: "private key", reason: "no PRIVATE KEY block in the PEM".into() })
    }

    /// Reads a DER private key, PKCS#8 or PKCS#1.
    ///
    /// # Errors
    /// [`Error::BadKey`] or [`Error::Decode`].
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        rsa::PrivateKey::from_pkcs8_der(der)
            .or_else(|_| rsa::PrivateKey::from_pkcs1_der(der))
            .map_err(|e| bad("private key", e))
            .and_then(Self::from_inner)
    }

    #[cfg(not(feature = "openssl"))]
    #[allow(clippy::unnecessary_wraps)] // fallible with the `openssl` feature
    fn from_inner(inner: rsa::PrivateKey) -> Result<Self, Error> {
        Ok(Self { inner })
    }

    /// The same key for OpenSSL, through its PKCS#1 DER (a zeroized buffer).
    #[cfg(feature = "openssl")]
    fn from_inner(inner: rsa::PrivateKey) -> Result<Self, Error> {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let der = inner.to_pkcs1_der().map_err(|e| bad("private key", e))?;
        let fast = openssl::rsa::Rsa::private_key_from_der(der.as_bytes())
            .and_then(openssl::pkey::PKey::from_rsa)
            .map_err(|e| bad("private key", e))?;
        Ok(Self { inner, fast })
    }

    /// Modulus size in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.public().bits()
    }

    /// The matching public key.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        PublicKey { inner: self.inner.to_public_key() }
    }

    /// RSA PKCS#1 v1.5 signature of `message` hashed with `algorithm` (deterministic).
    ///
    /// # Errors
    /// [`Error::Rsa`] when the key is too small for the digest.
    pub fn sign(&self, algorithm: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.sign_digest(algorithm, &algorithm.digest(message))
    }

    /// RSA PKCS#1 v1.5 signature of a message whose `algorithm` digest is `digest`.
    ///
    /// # Errors
    /// [`Error::Rsa`] when the key is too small for the digest or the digest has the wrong
    /// length.
    pub fn sign_digest(&self, algorithm: HashAlgorithm, digest: &[u8]) -> Result<Vec<u8>, Error> {
        #[cfg(feature = "openssl")]
        return self.sign_digest_openssl(algorithm, digest);
        #[cfg(not(feature = "openssl"))]
        self.sign_digest_rsa(algorithm, digest)
    }

    /// [`PrivateKey::sign_digest`] by OpenSSL: the digest goes in as it is, OpenSSL adds the
    /// `DigestInfo` of `algorithm` and the PKCS#1 v1.5 padding.
    #[cfg(feature = "openssl")]
    fn sign_digest_openssl(
        &self,
        algorithm: HashAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, Error> {
        use openssl::md::Md;
        let md = match algorithm {
            HashAlgorithm::Sha1 => Md::sha1(),
            HashAlgorithm::Sha256 => Md::sha256(),
            HashAlgorithm::Sha512 => Md::sha512(),
        };
        let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
            let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&self.fast)?;
            ctx.sign_init()?;
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1)?;
            ctx.set_signature_md(md)?;
            let mut signature = Vec::new();
            ctx.sign_to_vec(digest, &mut signature)?;
            Ok(signature)
        };
        sign().map_err(|e| Error::Rsa(Box::new(e)))
    }

    /// [`PrivateKey::sign_digest`] by the pure-Rust `rsa` crate.
    #[cfg_attr(feature = "openssl", allow(dead_code))] // compared with OpenSSL in the tests
    fn sign_digest_rsa(&self, algorithm: HashAlgorithm, digest: &[u8]) -> Result<Vec<u8>, Error> {
        let r = match algorithm {
            HashAlgorithm::Sha1 => self.inner.pkcs1v15_sign_prehash::<sha1::Sha1>(digest),
            HashAlgorithm::Sha256 => self.inner.pkcs1v15_sign_prehash::<sha2::Sha256>(digest),
            HashAlgorithm::Sha512 => self.inner.pkcs1v15_sign_prehash::<sha2::Sha512>(digest),
        };
        r.map_err(|e| Error::Rsa(Box::new(e)))
    }

    /// RSA PKCS#1 v1.5 decryption (key unwrapping). The `rsa` crate uses implicit
    /// rejection: a wrong key yields a synthetic message rather than an error, so callers
    /// must check the result (we check the plaintext digest).
    pub(crate) fn decrypt(&self, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        self.inner
            .pkcs1v15_decrypt(ciphertext)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| Error::KeyUnwrap(Box::new(e)))
    }

    /// Whether `public` is this key's public half.
    #[must_use]
    pub fn matches(&self, public: &PublicKey) -> bool {
        self.public() == *public
    }
}

/// An RSA public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: rsa::PublicKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bits)", self.bits())
    }
}

impl PublicKey {
    /// Reads a PKCS#1 `RSAPublicKey` DER (what trust-list records store in tag 7).
    ///
    /// # Errors
    /// [`Error::BadKey`] or [`Error::Decode`].
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        rsa::PublicKey::from_pkcs1_der(der)
            .map(|inner| Self { inner })
            .map_err(|e| bad("public key", e))
    }

    /// Reads a `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` PEM block.
    ///
    /// # Errors
    /// [`Error::BadKey`] or [`Error::Decode`].
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        for block in pem_blocks(pem) {
            let inner = match block.label {
                "PUBLIC KEY" => rsa::PublicKey::from_public_key_pem(block.text)
                    .map_err(|e| bad("public key", e)),
                "RSA PUBLIC KEY" => {
                    rsa::PublicKey::from_pkcs1_pem(block.text).map_err(|e| bad("public key", e))
                }
                _ => continue,
            };
            return inner.map(|inner| Self { inner });
        }
        Err(Error::BadKey { what: "public key", reason: "no PUBLIC KEY block in the PEM".into() })
    }

    /// Modulus size in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        use rsa::traits::PublicKeyParts as _;
        self.inner.n().bit_width() as usize
    }

    /// Verifies an RSA PKCS#1 v1.5 signature over `message`.
    #[must_use]
    pub fn verify(&self, algorithm: HashAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verify_digest(algorithm, &algorithm.digest(message), signature)
    }

    /// Whether `signature` is this key's PKCS#1 v1.5 signature of a message whose
    /// `algorithm` digest is `digest`.
    #[must_use]
    pub fn verify_digest(&self, algorithm: HashAlgorithm, digest: &[u8], signature: &[u8]) -> bool {
        let inner = &self.inner;
        match algorithm {
            HashAlgorithm::Sha1 => inner.pkcs1v15_verify_prehash::<sha1::Sha1>(digest, signature),
            HashAlgorithm::Sha256 => {
                inner.pkcs1v15_verify_prehash::<sha2::Sha256>(digest, signature)
            }
            HashAlgorithm::Sha512 => {
                inner.pkcs1v15_verify_prehash::<sha2::Sha512>(digest, signature)
            }
        }
        .is_ok()
    }

    /// RSA PKCS#1 v1.5 encryption (key wrapping), random padding from the OS.
    pub(crate) fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        self.inner.pkcs1v15_encrypt(plaintext).map_err(|e| Error::Rsa(Box::new(e)))
    }
}

/// An X.509 certificate, with the fields the Cisco formats copy out of it.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    serial: Vec<u8>,
    public_key_bits: Vec<u8>,
    public_key: Option<PublicKey>,
    signature: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &hex(&self.serial))
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Reads the first certificate of a PEM file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, and as [`Certificate::from_pem`].
    pub fn from_pem_file(path: &std::path::Path) -> Result<Self, Error> {
        Self::from_pem(&read_pem(path, "certificate")?)
    }

    /// Reads the first `CERTIFICATE` block of a PEM file.
    ///
    /// # Errors
    /// [`Error::BadKey`] or [`Error::Decode`].
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        Self::all_from_pem(pem)?.into_iter().next().ok_or_else(|| Error::BadKey {
            what: "certificate",
            reason: "no CERTIFICATE block in the PEM".into(),
        })
    }

    /// Reads every `CERTIFICATE` block of a PEM file, in order.
    ///
    /// # Errors
    /// [`Error::Decode`] when a block cannot be decoded.
    pub fn all_from_pem(pem: &str) -> Result<Vec<Self>, Error> {
        pem_blocks(pem)
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| {
                let c: x509_cert::Certificate = x509_cert::der::DecodePem::from_pem(b.text)
                    .map_err(|e| bad("certificate", e))?;
                Self::from_parsed(&c)
            })
            .collect()
    }

    /// Reads a DER certificate (what trust-list records store in tag 9).
    ///
    /// # Errors
    /// [`Error::BadKey`] or [`Error::Decode`].
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let c = x509_cert::Certificate::from_der(der).map_err(|e| bad("certificate", e))?;
        Self::from_parsed(&c)
    }

    fn from_parsed(c: &x509_cert::Certificate) -> Result<Self, Error> {
        let tbs = c.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        let spki_der = spki.to_der().map_err(|e| bad("certificate", e))?;
        Ok(Self {
            der: c.to_der().map_err(|e| bad("certificate", e))?,
            subject: dn_string(tbs.subject()),
            issuer: dn_string(tbs.issuer()),
            serial: strip_leading_zeros(tbs.serial_number().as_bytes()).to_vec(),
            public_key_bits: spki.subject_public_key.raw_bytes().to_vec(),
            public_key: rsa::PublicKey::from_public_key_der(&spki_der)
                .ok()
                .map(|inner| PublicKey { inner }),
            signature: c.signature().raw_bytes().to_vec(),
        })
    }

    /// The DER encoding.
    #[must_use]
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Subject as the Cisco headers write it: `CN=..,O=..,OU=..` in certificate order.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Issuer, formatted like [`Certificate::subject`].
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Serial number, big-endian, without leading zero bytes.
    #[must_use]
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The RSA public key; `None` for other key types (EC certificates may sit in trust
    /// lists but cannot sign our files).
    #[must_use]
    pub fn public_key(&self) -> Option<&PublicKey> {
        self.public_key.as_ref()
    }

    /// The subjectPublicKey bits: PKCS#1 `RSAPublicKey` DER for RSA, the X9.62 point for EC
    /// (trust-list record tag 7).
    #[must_use]
    pub fn public_key_bits(&self) -> &[u8] {
        &self.public_key_bits
    }

    /// The certificate's own signature value (trust-list record tag 8).
    #[must_use]
    pub fn signature_value(&self) -> &[u8] {
        &self.signature
    }

    /// `certHash` of the encrypted-config stub: lower-case hex MD5 of the DER.
    #[must_use]
    pub fn md5_hex(&self) -> String {
        crate::md5_hex(&self.der)
    }

    /// Whether a header naming `signer` names this certificate: same serial and same
    /// issuer (how a phone finds the signer in its trust list; serials are only unique per
    /// issuer).
    #[must_use]
    pub fn is_named_by(&self, signer: &crate::SignerInfo) -> bool {
        self.has_serial(&signer.serial) && same_dn(&signer.issuer, &self.issuer)
    }

    /// Whether `serial` (as a header stores it, leading zeros or not) is this certificate's.
    #[must_use]
    pub fn has_serial(&self, serial: &[u8]) -> bool {
        strip_leading_zeros(serial) == self.serial.as_slice()
    }
}

/// Distinguished names compared the way they are written by different tools: spaces
/// ignored, `;` and `,` alike.
pub(crate) fn same_dn(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars().filter(|c| !c.is_whitespace()).map(|c| if c == ';' { ',' } else { c })
    }
    norm(a).eq(norm(b))
}

pub(crate) fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// RFC 4514 attributes joined with `,` in certificate order (what certutils writes).
fn dn_string(name: &x509_cert::name::Name) -> String {
    name.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

fn bad(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Decode { what, source: Box::new(e) }
}

struct PemBlock<'a> {
    label: &'a str,
    text: &'a str,
}

/// Splits a PEM file into its `-----BEGIN X----- ... -----END X-----` blocks.
fn pem_blocks(pem: &str) -> impl Iterator<Item = PemBlock<'_>> {
    let mut rest = pem;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find("-----BEGIN ")?;
            let after = &rest[start + 11..];
            let label_end = after.find("-----")?;
            let label = &after[..label_end];
            let end_marker = format!("-----END {label}-----");
            let Some(end) = rest[start..].find(&end_marker) else {
                rest = &rest[start + 11..];
                continue;
            };
            let stop = start + end + end_marker.len();
            let text = &rest[start..stop];
            rest = &rest[stop..];
            return Some(PemBlock { label, text });
        }
    })
}

/// Reads a PEM file as text, naming the file in the error.
fn read_pem(path: &std::path::Path, what: &'static str) -> Result<String, Error> {
    let bytes =
        std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    String::from_utf8(bytes).map_err(|_| Error::BadKey {
        what,
        reason: format!("{} is not a PEM text file", path.display()),
    })
}

#[cfg(all(test, feature = "openssl"))]
mod openssl_tests {
    use super::*;

    #[test]
    fn openssl_makes_the_signatures_the_rsa_crate_makes_sha1_included() {
        let pem = include_str!("../tests/data/test-tftp.pem");
        let key = PrivateKey::from_pem(pem).unwrap();
        for algorithm in [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
            let digest = algorithm.digest(b"<device/>");
            let fast = key.sign_digest(algorithm, &digest).unwrap();
            assert_eq!(fast, key.sign_digest_rsa(algorithm, &digest).unwrap(), "{algorithm:?}");
            assert!(key.public().verify(algorithm, b"<device/>", &fast));
        }
        // A digest of the wrong length is an error, not a signature of something else.
        assert!(key.sign_digest(HashAlgorithm::Sha256, &[0; 20]).is_err());
    }
}
