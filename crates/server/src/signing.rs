//! Signing configurations on the fly: the provisioning server answers `X.sgn` from `X`
//! when only the plain file exists (or is generated), as a CUCM TFTP service does for
//! phones that hold a trust list.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cnfkit_repack::{Certificate, Error, HashAlgorithm, HeaderKind, PrivateKey, SignedFile};
use cnfkit_resolve::{FileVersion, SignError};
use cnfkit_tftp::network_of;

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
    budget: Mutex<Budget>,
    made: AtomicU64,
    hits: AtomicU64,
    over_budget: AtomicU64,
}

/// How much time a [`ConfigSigner`] spends on signatures that requests ask for
/// ([`ConfigSigner::with_budget`]): token buckets of signing time, one for everyone and one per
/// network (an IPv4 /24, an IPv6 /64, as the TFTP limits group addresses). A signature from the
/// cache costs nothing; signing ahead of the phones is not charged. Past a budget a request is
/// not signed: the server leaves it unanswered over TFTP (the phone asks again a second later)
/// and answers 503 over HTTP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigningBudget {
    /// Signing time all requesters together may spend per second, sustained (1.0: one core).
    pub overall_per_second: f64,
    /// Signing time all requesters together may spend at once.
    pub overall_burst: Duration,
    /// Signing time one network may spend per second, sustained.
    pub network_per_second: f64,
    /// Signing time one network may spend at once: a network of phones booting together signs
    /// this much before the rate applies.
    pub network_burst: Duration,
}

impl Default for SigningBudget {
    /// Half a core for everyone (a burst of 4 s), a tenth of a core per network (a burst of 1 s:
    /// about 250 RSA-4096 signatures, a /24 of phones booting cold).
    fn default() -> Self {
        Self {
            overall_per_second: 0.5,
            overall_burst: Duration::from_secs(4),
            network_per_second: 0.1,
            network_burst: Duration::from_secs(1),
        }
    }
}

/// The buckets of a [`SigningBudget`], in seconds of signing time.
#[derive(Debug)]
struct Budget {
    limits: SigningBudget,
    overall: Bucket,
    networks: HashMap<IpAddr, Bucket>,
    /// Seconds a signature is expected to take (reserved before it is made).
    estimate: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    seconds: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, per_second: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.seconds = (self.seconds + elapsed * per_second).min(burst);
        self.at = now;
        self.seconds
    }
}

impl Budget {
    /// Networks tracked at once; past it, networks whose bucket is full again are forgotten,
    /// and while the table is still full, new networks share one bucket.
    const MAX_NETWORKS: usize = 4096;
    /// The bucket networks share while the table is full.
    const OVERFLOW: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

    fn new(limits: SigningBudget, now: Instant) -> Self {
        let overall = Bucket { seconds: limits.overall_burst.as_secs_f64(), at: now };
        Self { limits, overall, networks: HashMap::new(), estimate: 0.005 }
    }

    /// Whether `network` may sign now; if so, the time a signature takes is reserved from its
    /// bucket and everyone's (so that requests signing at once cannot all pass before any is
    /// charged), to be settled with [`settle`](Self::settle). Returns the bucket charged.
    fn reserve(&mut self, network: IpAddr, now: Instant) -> Option<IpAddr> {
        let l = self.limits;
        let burst = l.network_burst.as_secs_f64();
        if self.overall.refill(now, l.overall_per_second, l.overall_burst.as_secs_f64()) <= 0.0 {
            return None;
        }
        let mut key = network;
        if !self.networks.contains_key(&key) && self.networks.len() >= Self::MAX_NETWORKS {
            self.networks.retain(|_, b| b.refill(now, l.network_per_second, burst) < burst);
            if self.networks.len() >= Self::MAX_NETWORKS {
                key = Self::OVERFLOW;
            }
        }
        let bucket = self.networks.entry(key).or_insert(Bucket { seconds: burst, at: now });
        if bucket.refill(now, l.network_per_second, burst) <= 0.0 {
            return None;
        }
        bucket.seconds -= self.estimate;
        self.overall.seconds -= self.estimate;
        Some(key)
    }

    /// Replaces the reservation made for `key` by the time the signature took.
    fn settle(&mut self, key: IpAddr, spent: Duration) {
        let spent = spent.as_secs_f64();
        let correction = spent - self.estimate;
        self.overall.seconds -= correction;
        if let Some(bucket) = self.networks.get_mut(&key) {
            bucket.seconds -= correction;
        }
        // The next reservation: what signatures take now, smoothed.
        self.estimate = 0.8 * self.estimate + 0.2 * spent;
    }
}

/// A request over its signing budget.
#[derive(Debug, thiserror::Error)]
#[error("signing budget spent (network {network})")]
struct OverBudget {
    network: IpAddr,
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
    /// Requests not signed because their network, or everyone, had spent the budget.
    pub over_budget: u64,
}

/// Signed files by what was signed: the served name (it is in the header) and the SHA-256 of
/// the payload. The key and digest algorithm are the signer's own. Oldest out first, bounded
/// in entries and bytes.
#[derive(Default)]
struct SignatureCache {
    files: HashMap<(String, Vec<u8>), Arc<[u8]>>,
    order: VecDeque<(String, Vec<u8>)>,
    bytes: usize,
    /// The last version of each served name's file that was signed, and the signed file (the
    /// same bytes as in `files`): an unchanged file is answered without hashing it again.
    versions: HashMap<String, (FileVersion, Arc<[u8]>)>,
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
                self.versions.remove(&oldest.0);
            }
        }
    }

    /// The signed file of `name` as it was at `version`, when that is the version signed last.
    fn by_version(&self, name: &str, version: FileVersion) -> Option<Arc<[u8]>> {
        self.versions.get(name).filter(|(v, _)| *v == version).map(|(_, signed)| signed.clone())
    }

    /// Remembers that `name` at `version` is signed as `signed` (held in `files` too).
    fn remember(&mut self, name: &str, version: FileVersion, signed: Arc<[u8]>) {
        if signed.len() > Self::MAX_BYTES / 16 {
            return; // not kept in `files` either
        }
        if self.versions.len() >= Self::MAX_FILES && !self.versions.contains_key(name) {
            self.versions.clear();
        }
        self.versions.insert(name.to_owned(), (version, signed));
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
            budget: Mutex::new(Budget::new(SigningBudget::default(), Instant::now())),
            made: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            over_budget: AtomicU64::new(0),
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

    /// Bounds the signing time requests may cost ([`SigningBudget::default`] otherwise).
    #[must_use]
    pub fn with_budget(self, budget: SigningBudget) -> Self {
        *lock(&self.inner.budget) = Budget::new(budget, Instant::now());
        self
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
            over_budget: self.inner.over_budget.load(Relaxed),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl cnfkit_resolve::Signer for ConfigSigner {
    /// Signs once per payload and name: an unchanged configuration is answered with the file
    /// signed the first time (its header keeps that time), a changed one is signed anew.
    fn sign(&self, served_name: &str, payload: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_for(None, served_name, payload)
    }

    /// As [`sign`](cnfkit_resolve::Signer::sign), within the [`SigningBudget`] of `requester`'s network when the
    /// signature is not in the cache.
    fn sign_for(
        &self,
        requester: Option<IpAddr>,
        served_name: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        self.sign_version(requester, served_name, None, payload)
    }

    /// As [`sign_for`](cnfkit_resolve::Signer::sign_for); an unchanged `version` of the file signed before is
    /// answered from the cache without hashing the payload again.
    fn sign_version(
        &self,
        requester: Option<IpAddr>,
        served_name: &str,
        version: Option<FileVersion>,
        payload: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        let inner = &self.inner;
        if let Some(version) = version
            && let Some(signed) = lock(&inner.cache).by_version(served_name, version)
        {
            inner.hits.fetch_add(1, Relaxed);
            return Ok(signed.to_vec());
        }
        let key = (served_name.to_owned(), HashAlgorithm::Sha256.digest(payload));
        {
            let mut cache = lock(&inner.cache);
            if let Some(signed) = cache.get(&key) {
                inner.hits.fetch_add(1, Relaxed);
                if let Some(version) = version {
                    cache.remember(served_name, version, signed.clone());
                }
                return Ok(signed.to_vec());
            }
        }
        let started = Instant::now();
        let charged = match requester.map(network_of) {
            Some(network) => match lock(&inner.budget).reserve(network, started) {
                Some(key) => Some(key),
                None => {
                    inner.over_budget.fetch_add(1, Relaxed);
                    return Err(SignError::over_budget(OverBudget { network }));
                }
            },
            None => None,
        };
        let mut file = SignedFile::new(
            HeaderKind::Signed,
            served_name,
            cnfkit_repack::unix_now(),
            inner.digest,
            payload.to_vec(),
        );
        let made = file.sign(&inner.key, &inner.cert).map_err(SignError::new);
        if let Some(key) = charged {
            lock(&inner.budget).settle(key, started.elapsed());
        }
        made?;
        let signed = file.to_bytes().map_err(SignError::new)?;
        inner.made.fetch_add(1, Relaxed);
        let shared: Arc<[u8]> = Arc::from(signed.as_slice());
        let mut cache = lock(&inner.cache);
        cache.insert(key, shared.clone());
        if let Some(version) = version {
            cache.remember(served_name, version, shared);
        }
        Ok(signed)
    }
}
