//! Signing configurations on the fly: the provisioning server answers `X.sgn` from `X`
//! when only the plain file exists (or is generated), as a CUCM TFTP service does for
//! phones that hold a trust list.

use std::path::Path;

use cnfkit_repack::{Certificate, Error, HashAlgorithm, HeaderKind, PrivateKey, SignedFile};
use cnfkit_resolve::SignError;

/// A [`Signer`](cnfkit_resolve::Signer) that signs with a TFTP-role key: the signed header
/// names the certificate, the served name and the current time.
///
/// ```
/// use cnfkit_resolve::Signer as _;
/// let pem = std::fs::read_to_string("../repack/tests/data/test-tftp.pem")?;
/// let signer = cnfkit_server::ConfigSigner::from_pem(&pem, &pem, cnfkit_repack::HashAlgorithm::Sha1)?;
/// let signed = signer.sign("SEP001122334455.cnf.xml.sgn", b"<device/>")?;
/// let file = cnfkit_repack::SignedFile::parse(&signed)?;
/// file.verify_with(signer.certificate())?;
/// assert_eq!(file.payload(), b"<device/>");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ConfigSigner {
    key: PrivateKey,
    cert: Certificate,
    digest: HashAlgorithm,
}

impl ConfigSigner {
    /// A signer from a private key and its certificate.
    ///
    /// # Errors
    /// [`Error::WrongFormat`] when the key is not the certificate's;
    /// [`Error::UnsupportedKeySize`] when the header cannot describe the key size.
    pub fn new(key: PrivateKey, cert: Certificate, digest: HashAlgorithm) -> Result<Self, Error> {
        // Sign once now, so a bad key is a startup error rather than a miss per request.
        let mut probe = SignedFile::new(HeaderKind::Signed, "probe.sgn", 0, digest, Vec::new());
        probe.sign(&key, &cert)?;
        Ok(Self { key, cert, digest })
    }

    /// A signer from PEM text (the key and the certificate may be the same text).
    ///
    /// # Errors
    /// [`Error::BadKey`], and as [`ConfigSigner::new`].
    pub fn from_pem(key_pem: &str, cert_pem: &str, digest: HashAlgorithm) -> Result<Self, Error> {
        Self::new(PrivateKey::from_pem(key_pem)?, Certificate::from_pem(cert_pem)?, digest)
    }

    /// A signer from PEM files.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, and as [`ConfigSigner::from_pem`].
    pub fn from_pem_files(key: &Path, cert: &Path, digest: HashAlgorithm) -> Result<Self, Error> {
        Self::new(PrivateKey::from_pem_file(key)?, Certificate::from_pem_file(cert)?, digest)
    }

    /// The signing certificate (phones need it in their trust list with the TFTP or
    /// CCM+TFTP role).
    #[must_use]
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }
}

impl cnfkit_resolve::Signer for ConfigSigner {
    fn sign(&self, served_name: &str, payload: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut file = SignedFile::new(
            HeaderKind::Signed,
            served_name,
            cnfkit_repack::unix_now(),
            self.digest,
            payload.to_vec(),
        );
        file.sign(&self.key, &self.cert).map_err(SignError::new)?;
        file.to_bytes().map_err(SignError::new)
    }
}
