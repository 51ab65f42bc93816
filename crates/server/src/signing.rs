//! Signing configurations on the fly: the provisioning server answers `X.sgn` from `X`
//! when only the plain file exists (or is generated), as a CUCM TFTP service does for
//! phones that hold a trust list.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

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
#[derive(Clone)]
pub struct ConfigSigner {
    inner: Arc<Inner>,
}

struct Inner {
    key: PrivateKey,
    cert: Certificate,
    digest: HashAlgorithm,
    cache: Mutex<SignatureCache>,
    made: AtomicU64,
    hits: AtomicU64,
}

impl fmt::Debug for ConfigSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSigner")
            .field("cert", &self.inner.cert.subject())
            .field("digest", &self.inner.digest)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a [`ConfigSigner`] has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignerStats {
    /// Signatures made (RSA private operations).
    pub made: u64,
    /// Requests answered from the cache of signed files.
    pub cache_hits: u64,
    /// Signed files held in the cache now.
    pub cached: usize,
}

/// Signed files by what was signed: the served name (it is in the header) and the SHA-256 of
/// the payload. The key and digest algorithm are the signer's own. Oldest out first, bounded
/// in entries and bytes.
#[derive(Default)]
struct SignatureCache {
    files: HashMap<(String, Vec<u8>), Arc<[u8]>>,
    order: VecDeque<(String, Vec<u8>)>,
    bytes: usize,
}

impl SignatureCache {
    /// About 16 KiB configurations for a site of 16 000 phones.
    const MAX_FILES: usize = 16_384;
    const MAX_BYTES: usize = 256 << 20;

    fn get(&self, key: &(String, Vec<u8>)) -> Option<Arc<[u8]>> {
        self.files.get(key).cloned()
    }

    fn insert(&mut self, key: (String, Vec<u8>), signed: Arc<[u8]>) {
        if signed.len() > Self::MAX_BYTES / 16 {
            return; // a large file is signed per request rather than evicting the rest
        }
        self.bytes += signed.len();
        if let Some(old) = self.files.insert(key.clone(), signed) {
            self.bytes -= old.len();
        } else {
            self.order.push_back(key);
        }
        while self.files.len() > Self::MAX_FILES || self.bytes > Self::MAX_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(old) = self.files.remove(&oldest) {
                self.bytes -= old.len();
            }
        }
    }
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
        let inner = Inner {
            key,
            cert,
            digest,
            cache: Mutex::default(),
            made: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        };
        Ok(Self { inner: Arc::new(inner) })
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
        &self.inner.cert
    }

    /// The certificate's subject and serial, for a start-up line.
    #[must_use]
    pub fn identity(&self) -> String {
        let cert = self.certificate();
        format!("{} (serial {})", cert.subject(), cnfkit_repack::hex(cert.serial()))
    }

    /// Signatures made and answered from the cache so far (clones share them).
    #[must_use]
    pub fn stats(&self) -> SignerStats {
        SignerStats {
            made: self.inner.made.load(Relaxed),
            cache_hits: self.inner.hits.load(Relaxed),
            cached: lock(&self.inner.cache).files.len(),
        }
    }
}

fn lock(cache: &Mutex<SignatureCache>) -> std::sync::MutexGuard<'_, SignatureCache> {
    cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl cnfkit_resolve::Signer for ConfigSigner {
    /// Signs once per payload and name: an unchanged configuration is answered with the file
    /// signed the first time (its header keeps that time), a changed one is signed anew.
    fn sign(&self, served_name: &str, payload: &[u8]) -> Result<Vec<u8>, SignError> {
        let inner = &self.inner;
        let key = (served_name.to_owned(), HashAlgorithm::Sha256.digest(payload));
        if let Some(signed) = lock(&inner.cache).get(&key) {
            inner.hits.fetch_add(1, Relaxed);
            return Ok(signed.to_vec());
        }
        let mut file = SignedFile::new(
            HeaderKind::Signed,
            served_name,
            cnfkit_repack::unix_now(),
            inner.digest,
            payload.to_vec(),
        );
        file.sign(&inner.key, &inner.cert).map_err(SignError::new)?;
        let signed = file.to_bytes().map_err(SignError::new)?;
        inner.made.fetch_add(1, Relaxed);
        lock(&inner.cache).insert(key, Arc::from(signed.as_slice()));
        Ok(signed)
    }
}
