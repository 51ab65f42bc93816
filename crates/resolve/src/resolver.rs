//! Server side: what to answer for a requested name.
//!
//! The [`Resolver`] answers the way phones need: the exact file; else the same name in another
//! letter case (phones vary the MAC case, and so do the files admins copy in); else, for a
//! per-device configuration, one generated from the inventory; else, for a signed variant, the
//! plain file signed on the fly; else, for `XMLDefault.cnf.xml`, the default rebuilt from the
//! device defaults (and written back, so that the tree heals); else "not found", with the reason
//! and whether that miss is normal traffic.
//!
//! The rebuild of a missing `XMLDefault.cnf.xml` is cnfkit's own feature, documented here: a
//! CUCM TFTP service builds its configuration files from its database, and admins report renaming
//! the file to `.old` to make it rebuild, but no Cisco document confirms that behaviour. cnfkit does
//! it deliberately so a tree never lacks the file that every new phone needs.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::{FileKind, Mac, PathRefusal, Protection, Recognised, SafePath};

/// The file tree a resolver serves from. Paths are [`SafePath`] strings: relative,
/// `/`-separated, already checked.
pub trait Directory {
    /// Whether a regular file exists at exactly this path (and, for a real file system, does not
    /// lead outside the tree through a symlink).
    fn exists(&self, path: &str) -> bool;
    /// The file names in a directory (`""` is the root); empty when it does not exist.
    fn list(&self, dir: &str) -> Vec<String>;
    /// The name of the entry of `dir` equal to `name` ignoring ASCII case (an exact match
    /// preferred), or `None`. The default lists the directory; a directory with thousands of
    /// files (a SEP file per phone) should answer from an index, as [`FsDirectory`] does:
    /// every miss in a boot sequence asks this.
    ///
    /// [`FsDirectory`]: crate::FsDirectory
    fn find_ignore_case(&self, dir: &str, name: &str) -> Option<String> {
        let entries = self.list(dir);
        let exact = entries.iter().find(|e| *e == name);
        exact.or_else(|| entries.iter().find(|e| e.eq_ignore_ascii_case(name))).cloned()
    }
    /// The file at `path`, exactly or at a path differing only in ASCII letter case (component
    /// by component, an exact match preferred), with how it was found; `None` when neither is
    /// a regular file in the tree. Every request asks this first, so it is on the hot path of a
    /// boot storm, where most names a phone asks for are missing (trust lists, the SEP file of
    /// a phone that falls back). The default asks [`exists`](Self::exists), then
    /// [`find_ignore_case`](Self::find_ignore_case) per component; [`FsDirectory`] answers a
    /// name at the top of the tree from its index of the root.
    ///
    /// [`FsDirectory`]: crate::FsDirectory
    fn locate(&self, path: &str) -> Option<(String, Found)> {
        locate_by_lookups(self, path)
    }
    /// A whole file, for the small files a resolver generates from (templates, signing input).
    ///
    /// # Errors
    /// The IO error, when the file cannot be read.
    fn read(&self, path: &str) -> std::io::Result<Vec<u8>>;
    /// [`read`](Self::read), shared, with a token of the version read when the directory can
    /// tell one: two reads with the same token read the same bytes, whichever paths they read
    /// ([`FileVersion`]), so a signer that kept what
    /// it made of that version need not even hash them again. The default reads and gives no
    /// token; [`FsDirectory`] answers a small file from memory with its `stat` as the token.
    ///
    /// [`FsDirectory`]: crate::FsDirectory
    ///
    /// # Errors
    /// As [`read`](Self::read).
    fn read_versioned(&self, path: &str) -> std::io::Result<(Arc<[u8]>, Option<FileVersion>)> {
        Ok((self.read(path)?.into(), None))
    }
    /// Creates a file atomically, only if no file has that name: readers see no file or the
    /// whole new one, never a part, and an existing file is never replaced.
    ///
    /// # Errors
    /// `AlreadyExists` when the name is taken; any other IO error. Nothing is left behind.
    fn create_atomic(&self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
}

/// One version of a file, as its [`Directory`] tells them apart ([`Directory::read_versioned`]):
/// equal tokens mean equal content, across the whole directory (a signer keys its work by the
/// served name and this token, and two paths may end in the same name). [`FsDirectory`]'s
/// token holds the device and inode, so two files never share one.
///
/// [`FsDirectory`]: crate::FsDirectory
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileVersion(u128);

impl FileVersion {
    /// A token the directory chose (a digest of the file's `stat`, a generation counter).
    #[must_use]
    pub const fn new(token: u128) -> Self {
        Self(token)
    }
}

/// [`Directory::locate`] from [`Directory::exists`] and [`Directory::find_ignore_case`]: what a
/// directory that keeps no index of its own answers with.
pub(crate) fn locate_by_lookups<D: Directory + ?Sized>(
    dir: &D,
    path: &str,
) -> Option<(String, Found)> {
    if dir.exists(path) {
        return Some((path.to_owned(), Found::Exact));
    }
    let mut actual = String::new();
    for component in path.split('/') {
        let matched = dir.find_ignore_case(&actual, component)?;
        if !actual.is_empty() {
            actual.push('/');
        }
        actual.push_str(&matched);
    }
    dir.exists(&actual).then_some((actual, Found::CaseInsensitive))
}

/// Makes configuration files that are not on disk.
pub trait ConfigGenerator {
    /// A per-device configuration (`SEP<MAC>.cnf.xml` or `SIP<MAC>.cnf`) for a MAC the inventory
    /// knows, or `None`.
    fn device_config(&self, mac: Mac, kind: FileKind) -> Option<Vec<u8>>;
    /// `XMLDefault.cnf.xml` built from the device defaults, or `None` when there are none.
    fn default_config(&self) -> Option<Vec<u8>>;
    /// The MACs [`ConfigGenerator::device_config`] has a configuration for (what a server
    /// signs ahead of the phones' requests). None by default.
    fn device_macs(&self) -> Vec<Mac> {
        Vec::new()
    }
}

/// Makes files from other files of the tree when the tree lacks them: a ring list from the ring
/// tones present, an image list and its thumbnails from a folder of images. Asked only for a
/// name the tree does not have (in any letter case) and that no other rule answers, so it must
/// say `None` quickly for the names it does not make.
pub trait TreeDerived {
    /// The file at `path` (a [`SafePath`] string) made from `dir`, or `None`.
    fn derive(&self, path: &str, dir: &dyn Directory) -> Option<Vec<u8>>;
}

/// Signs a configuration for serving as `.sgn`.
pub trait Signer {
    /// The signed file for `payload`, served under `served_name` (the name goes into the
    /// signed header).
    ///
    /// # Errors
    /// Why signing failed: the resolver answers [`Answer::Failed`] with it, for the server's
    /// log.
    fn sign(&self, served_name: &str, payload: &[u8]) -> Result<Vec<u8>, SignError>;

    /// [`sign`](Self::sign) for a request from `requester` (`None`: the server's own, such as
    /// signing ahead of the phones), so that a signer can bound what one network may make it
    /// spend ([`SignError::over_budget`]). The default ignores the requester.
    ///
    /// # Errors
    /// As [`sign`](Self::sign).
    fn sign_for(
        &self,
        requester: Option<IpAddr>,
        served_name: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        let _ = requester;
        self.sign(served_name, payload)
    }

    /// [`sign_for`](Self::sign_for) a file the directory read as `version`: a signer that
    /// keeps what it signed may answer the same name and version without hashing the payload
    /// again. The default ignores the version.
    ///
    /// # Errors
    /// As [`sign`](Self::sign).
    fn sign_version(
        &self,
        requester: Option<IpAddr>,
        served_name: &str,
        version: Option<FileVersion>,
        payload: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        let _ = version;
        self.sign_for(requester, served_name, payload)
    }
}

/// A signer's error, kept whole (with its source chain) for the server's log.
#[derive(Clone)]
pub struct SignError(Arc<dyn std::error::Error + Send + Sync>, bool);

impl SignError {
    /// Wraps the signer's own error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error), false)
    }

    /// The signer will not sign now: the requester, or everyone, has spent the CPU it may on
    /// signatures. Not a failure of the key: a server leaves the request unanswered (the client
    /// asks again) instead of saying the file is missing.
    pub fn over_budget(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error), true)
    }

    /// Whether this is [`over_budget`](Self::over_budget).
    #[must_use]
    pub fn is_over_budget(&self) -> bool {
        self.1
    }
}

impl fmt::Debug for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for SignError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Why the server could not answer with a file it has or could make.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Failure {
    /// The signer refused.
    Signing(SignError),
    /// A file in the tree could not be read.
    Read {
        /// Its path in the tree.
        path: String,
        /// The IO error.
        error: Arc<std::io::Error>,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signing(e) => write!(f, "signing failed: {e}"),
            Self::Read { path, error } => write!(f, "cannot read {path}: {error}"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Signing(e) => Some(e),
            Self::Read { error, .. } => Some(&**error),
        }
    }
}

/// Two failures are equal when they say the same (errors have no equality of their own).
impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Failure {}

/// How a file on disk was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// At exactly the requested path.
    Exact,
    /// At a path that differs only in letter case.
    CaseInsensitive,
}

/// How generated bytes were made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Made {
    /// A per-device configuration from the inventory.
    FromInventory,
    /// A signed variant of a plain configuration, signed now.
    SignedOnTheFly {
        /// How the plain configuration was obtained.
        source: Box<Answer>,
    },
    /// `XMLDefault.cnf.xml` rebuilt from the device defaults.
    RebuiltDefault {
        /// Whether the rebuilt file was written back into the tree.
        written_back: bool,
    },
    /// Made from other files of the tree ([`TreeDerived`]): a ring list, an image list, a
    /// thumbnail.
    Derived,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// Serve this file from the directory.
    File {
        /// Its path in the tree.
        path: String,
        /// How it was found.
        found: Found,
    },
    /// Serve these bytes.
    Generated {
        /// The file.
        bytes: Vec<u8>,
        /// How it was made.
        made: Made,
    },
    /// Answer "File not found".
    NotFound {
        /// What the phone asked for.
        kind: FileKind,
        /// Whether such a miss is normal traffic (log at debug) or worth a look.
        normal: bool,
        /// What it means for the phone.
        why: String,
    },
    /// Answer "Access violation": the name could leave the tree.
    Refused(PathRefusal),
    /// The file is there or could be made, but the server failed: not the phone's fault, and
    /// worth an error line in the log.
    Failed {
        /// What the phone asked for.
        kind: FileKind,
        /// What failed.
        failure: Failure,
    },
}

/// What a request was answered with, in the few kinds the phone registry and the metrics count
/// ([`Answer::kind`]; a file the server found but could not read counts as refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AnswerKind {
    /// The file, under the name asked for.
    Exact,
    /// The file, under the same name in another letter case.
    OtherCase,
    /// A per-device configuration generated from the inventory.
    Generated,
    /// `XMLDefault.cnf.xml` rebuilt from the device defaults.
    Default,
    /// Signed on the fly.
    Signed,
    /// File not found.
    NotFound,
    /// A name that could leave the tree, or a file that cannot be read.
    Refused,
    /// The server could not answer (a signing or read failure; the phone was told "not found").
    Failed,
}

impl AnswerKind {
    /// Every kind, in the order the metrics list them.
    pub const ALL: [Self; 8] = [
        Self::Exact,
        Self::OtherCase,
        Self::Generated,
        Self::Default,
        Self::Signed,
        Self::NotFound,
        Self::Refused,
        Self::Failed,
    ];

    /// The kebab-case name (`not-found`), as in JSON and metric labels.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::OtherCase => "other-case",
            Self::Generated => "generated",
            Self::Default => "default",
            Self::Signed => "signed",
            Self::NotFound => "not-found",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    /// Whether the phone got a file.
    #[must_use]
    pub const fn served(self) -> bool {
        !matches!(self, Self::NotFound | Self::Refused | Self::Failed)
    }
}

impl core::fmt::Display for AnswerKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Answer {
    /// What kind of answer this is, for counting.
    #[must_use]
    pub fn kind(&self) -> AnswerKind {
        match self {
            Self::File { found: Found::Exact, .. } => AnswerKind::Exact,
            Self::File { found: Found::CaseInsensitive, .. } => AnswerKind::OtherCase,
            Self::Generated { made: Made::FromInventory | Made::Derived, .. } => {
                AnswerKind::Generated
            }
            Self::Generated { made: Made::SignedOnTheFly { .. }, .. } => AnswerKind::Signed,
            Self::Generated { made: Made::RebuiltDefault { .. }, .. } => AnswerKind::Default,
            Self::NotFound { .. } => AnswerKind::NotFound,
            Self::Refused(_) => AnswerKind::Refused,
            Self::Failed { .. } => AnswerKind::Failed,
        }
    }

    /// A short label for logs: `exact`, `case-insensitive`, `inventory`, `signed`, `rebuilt`,
    /// `derived`, `not-found`, `refused`, `failed`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::File { found: Found::Exact, .. } => "exact",
            Self::File { found: Found::CaseInsensitive, .. } => "case-insensitive",
            Self::Generated { made: Made::FromInventory, .. } => "inventory",
            Self::Generated { made: Made::SignedOnTheFly { .. }, .. } => "signed",
            Self::Generated { made: Made::RebuiltDefault { .. }, .. } => "rebuilt",
            Self::Generated { made: Made::Derived, .. } => "derived",
            Self::NotFound { .. } => "not-found",
            Self::Refused(_) => "refused",
            Self::Failed { .. } => "failed",
        }
    }
}

/// Answers requested names from a [`Directory`], with optional generation and signing.
///
/// ```
/// use cnfkit_resolve::{Answer, MemoryDirectory, Resolver};
///
/// let dir = MemoryDirectory::new();
/// dir.insert("sep001122aabbcc.cnf.xml", b"<device/>".to_vec());
/// let resolver = Resolver::new(dir);
///
/// // The phone asks in upper case; the admin copied the file in lower case.
/// let answer = resolver.resolve(b"SEP001122AABBCC.cnf.xml");
/// assert_eq!(answer.label(), "case-insensitive");
/// assert_eq!(answer.kind(), cnfkit_resolve::AnswerKind::OtherCase);
/// assert!(matches!(resolver.resolve(b"CTLSEP001122AABBCC.tlv"), Answer::NotFound { normal: true, .. }));
/// assert!(matches!(resolver.resolve(b"../etc/passwd"), Answer::Refused(_)));
/// ```
pub struct Resolver<D> {
    dir: D,
    generator: Option<Box<dyn ConfigGenerator + Send + Sync>>,
    signer: Option<Box<dyn Signer + Send + Sync>>,
    derived: Option<Box<dyn TreeDerived + Send + Sync>>,
    write_back_default: bool,
}

impl<D: Directory> Resolver<D> {
    /// A resolver over a directory, with no generator and no signer.
    pub fn new(dir: D) -> Self {
        Self { dir, generator: None, signer: None, derived: None, write_back_default: true }
    }

    /// Makes files the tree lacks from its other files ([`TreeDerived`]).
    #[must_use]
    pub fn with_derived(mut self, derived: impl TreeDerived + Send + Sync + 'static) -> Self {
        self.derived = Some(Box::new(derived));
        self
    }

    /// Generates per-device configurations and the default from this generator.
    #[must_use]
    pub fn with_generator(
        mut self,
        generator: impl ConfigGenerator + Send + Sync + 'static,
    ) -> Self {
        self.generator = Some(Box::new(generator));
        self
    }

    /// Serves `.sgn` variants signed on the fly when only the plain file exists.
    #[must_use]
    pub fn with_signer(mut self, signer: impl Signer + Send + Sync + 'static) -> Self {
        self.signer = Some(Box::new(signer));
        self
    }

    /// Whether a rebuilt `XMLDefault.cnf.xml` is written back into the tree (default: yes).
    #[must_use]
    pub fn write_back_default(mut self, yes: bool) -> Self {
        self.write_back_default = yes;
        self
    }

    /// The directory.
    pub fn directory(&self) -> &D {
        &self.dir
    }

    /// Whether `.sgn` variants are signed on the fly ([`Resolver::with_signer`]).
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// The `.sgn` names this resolver signs on the fly: every `*.cnf.xml` at the top of the
    /// tree and every generated `SEP<MAC>.cnf.xml`, each with `.sgn` appended, unless the tree
    /// holds that signed file itself. Empty without a signer. A missing `XMLDefault.cnf.xml` is
    /// not among them: resolving it would rebuild it and write it back, which is left to the
    /// first phone that asks.
    ///
    /// A server resolves these ahead of the phones (pre-signing): a signer that keeps what
    /// it signed then answers the storm from memory.
    pub fn signable_names(&self) -> Vec<String> {
        if self.signer.is_none() {
            return Vec::new();
        }
        let mut plain: Vec<String> = self
            .dir
            .list("")
            .into_iter()
            .filter(|name| name.to_ascii_lowercase().ends_with(".cnf.xml"))
            .collect();
        if let Some(generator) = &self.generator {
            plain.extend(generator.device_macs().iter().map(|mac| format!("SEP{mac}.cnf.xml")));
        }
        let mut seen = std::collections::HashSet::new();
        plain
            .into_iter()
            .filter(|name| seen.insert(name.to_ascii_lowercase()))
            .map(|name| format!("{name}.sgn"))
            .filter(|signed| self.on_disk_name(signed).is_none())
            .collect()
    }

    /// The file the tree holds under `name` (exactly or in another case).
    fn on_disk_name(&self, name: &str) -> Option<Answer> {
        self.on_disk(&SafePath::new(name.as_bytes()).ok()?)
    }

    /// Answers a requested name (the bytes of an RRQ's filename).
    pub fn resolve(&self, requested: &[u8]) -> Answer {
        self.resolve_for(requested, None)
    }

    /// [`resolve`](Self::resolve) for a request from `requester`, which the signer is told of
    /// ([`Signer::sign_for`]).
    pub fn resolve_for(&self, requested: &[u8], requester: Option<IpAddr>) -> Answer {
        let answer = match SafePath::new(requested) {
            Ok(path) => self.resolve_path(&path, requester),
            Err(crate::Error::PathRefused { reason }) => return Answer::Refused(reason),
            Err(_) => return Answer::Refused(PathRefusal::Empty),
        };
        // 7940/7960 phones reading a name from a file written on Windows ask for it with a
        // trailing space (`P00308010200 `, Cisco bug CSCdv19260): no file is named so, and the
        // name without the spaces is the one meant.
        let trimmed = requested.trim_ascii_end();
        if matches!(answer, Answer::NotFound { .. })
            && trimmed.len() < requested.len()
            && requested[trimmed.len()..].iter().all(|&b| b == b' ')
            && let Ok(path) = SafePath::new(trimmed)
        {
            return self.resolve_path(&path, requester);
        }
        answer
    }

    /// [`resolve_for`](Self::resolve_for) a path already checked.
    fn resolve_path(&self, path: &SafePath, requester: Option<IpAddr>) -> Answer {
        if let Some(found) = self.on_disk(path) {
            return found;
        }
        let recognised = Recognised::parse(path.as_str());
        match recognised.kind {
            FileKind::DeviceConfig(Protection::Plain) | FileKind::SipDeviceConfig => {
                if let Some(bytes) = self.generated_for_device(recognised) {
                    return Answer::Generated { bytes, made: Made::FromInventory };
                }
            }
            FileKind::DeviceConfig(Protection::Signed)
            | FileKind::XmlDefault(Protection::Signed) => {
                if let Some(answer) = self.signed_on_the_fly(path, recognised.kind, requester) {
                    return answer;
                }
            }
            FileKind::XmlDefault(Protection::Plain) => {
                if let Some(answer) = self.rebuilt_default(path) {
                    return answer;
                }
            }
            FileKind::Other => {
                if let Some(bytes) =
                    self.derived.as_ref().and_then(|d| d.derive(path.as_str(), &self.dir))
                {
                    return Answer::Generated { bytes, made: Made::Derived };
                }
            }
            _ => {}
        }
        not_found(recognised.kind)
    }

    /// The exact path, or one differing only in case (component by component).
    fn on_disk(&self, path: &SafePath) -> Option<Answer> {
        let (path, found) = self.dir.locate(path.as_str())?;
        Some(Answer::File { path, found })
    }

    fn generated_for_device(&self, recognised: Recognised) -> Option<Vec<u8>> {
        self.generator.as_ref()?.device_config(recognised.mac?, recognised.kind)
    }

    /// `X.sgn` when only `X` exists (or can be generated) and a signer is configured.
    ///
    /// The signed header names the file as the tree spells it (or, for a generated file, as a
    /// phone's boot names it), whatever letter case was asked for: one file is one signature
    /// however many spellings reach it, and a signer that keeps what it signed answers every
    /// spelling from one entry.
    fn signed_on_the_fly(
        &self,
        path: &SafePath,
        kind: FileKind,
        requester: Option<IpAddr>,
    ) -> Option<Answer> {
        let signer = self.signer.as_ref()?;
        // `.sgn` in any case, as the name recogniser reads it.
        let plain = path.strip_suffix_ignore_case(".sgn")?;
        let plain_name = plain.as_str();
        let source = self.resolve_path(&plain, requester);
        let (payload, version, served): (Arc<[u8]>, _, _) = match &source {
            Answer::File { path, .. } => match self.dir.read_versioned(path) {
                Ok((bytes, version)) => (bytes, version, format!("{}.sgn", file_name(path))),
                Err(error) => {
                    let failure = Failure::Read { path: path.clone(), error: Arc::new(error) };
                    return Some(Answer::Failed { kind, failure });
                }
            },
            Answer::Generated { bytes, .. } => {
                let recognised = Recognised::parse(plain_name);
                let served = match (recognised.kind, recognised.mac) {
                    (FileKind::DeviceConfig(_), Some(mac)) => format!("SEP{mac}.cnf.xml.sgn"),
                    (FileKind::XmlDefault(_), _) => "XMLDefault.cnf.xml.sgn".to_owned(),
                    _ => path.file_name().to_owned(),
                };
                (bytes.as_slice().into(), None, served)
            }
            Answer::Failed { failure, .. } => {
                return Some(Answer::Failed { kind, failure: failure.clone() });
            }
            Answer::NotFound { .. } | Answer::Refused(_) => return None,
        };
        Some(match signer.sign_version(requester, &served, version, &payload) {
            Ok(bytes) => {
                Answer::Generated { bytes, made: Made::SignedOnTheFly { source: Box::new(source) } }
            }
            Err(e) => Answer::Failed { kind, failure: Failure::Signing(e) },
        })
    }

    fn rebuilt_default(&self, path: &SafePath) -> Option<Answer> {
        let bytes = self.generator.as_ref()?.default_config()?;
        let written_back =
            self.write_back_default && self.dir.create_atomic(path.as_str(), &bytes).is_ok();
        Some(Answer::Generated { bytes, made: Made::RebuiltDefault { written_back } })
    }
}

/// The last component of a tree path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn not_found(kind: FileKind) -> Answer {
    let why = match kind {
        FileKind::DeviceCtl | FileKind::DeviceItl | FileKind::ItlFile | FileKind::CtlFile => {
            "no trust list: normal on a non-secure site, the phone goes on".to_owned()
        }
        FileKind::DeviceConfig(_) => {
            "no per-device configuration: the phone falls back to XMLDefault.cnf.xml".to_owned()
        }
        FileKind::SipDeviceConfig => {
            "no SIP<MAC>.cnf: a 7940/7960 on SIP runs on SIPDefault.cnf alone and will not register"
                .to_owned()
        }
        FileKind::XmlDefault(_) => {
            "no XMLDefault.cnf.xml and no device defaults to build it: new phones cannot boot"
                .to_owned()
        }
        FileKind::TermDefaultLoads { family } => format!(
            "no term{family:02}.default.loads: a factory-reset phone of that family loops on \"Upgrading\""
        ),
        FileKind::Loads => "firmware manifest missing: the phone cannot change its load".to_owned(),
        FileKind::FirmwareImage => {
            "firmware image missing: the upgrade fails and is retried".to_owned()
        }
        _ => "not in the tree".to_owned(),
    };
    Answer::NotFound { kind, normal: kind.miss_is_normal(), why }
}

/// A [`Directory`] in memory: the demo tree, tests, generated trees. Files are shared, not
/// copied, by whoever serves them ([`MemoryDirectory::get_shared`]).
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    files: RwLock<BTreeMap<String, Arc<[u8]>>>,
}

impl MemoryDirectory {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn files(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<[u8]>>> {
        self.files.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds or replaces a file (`path` relative, `/`-separated).
    pub fn insert(&self, path: &str, bytes: Vec<u8>) {
        self.files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_owned(), bytes.into());
    }

    /// Removes a file, returning its bytes.
    pub fn remove(&self, path: &str) -> Option<Vec<u8>> {
        let removed =
            self.files.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(path);
        removed.map(|bytes| bytes.to_vec())
    }

    /// A copy of a file's bytes.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.get_shared(path).map(|bytes| bytes.to_vec())
    }

    /// A file's bytes, shared: a thousand phones fetching one image hold one copy of it.
    #[must_use]
    pub fn get_shared(&self, path: &str) -> Option<Arc<[u8]>> {
        self.files().get(path).cloned()
    }
}

impl Directory for MemoryDirectory {
    fn exists(&self, path: &str) -> bool {
        self.files().contains_key(path)
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let files = self.files();
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let mut names: Vec<String> = files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        names.dedup();
        names
    }

    fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.get(path).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    fn create_atomic(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let mut files = self.files.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match files.entry(path.to_owned()) {
            std::collections::btree_map::Entry::Occupied(_) => {
                Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
            }
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(bytes.into());
                Ok(())
            }
        }
    }
}
