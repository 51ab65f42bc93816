//! What a TFTP client may upload, where, and how much.
//!
//! A provisioning server's tree is what phones trust: an upload that lands under a name the
//! server answers as a configuration, a trust list, a signature, firmware or a default would
//! reach every phone that asks for it next (a phone with no trust list trusts the first
//! `ITLFile.tlv` it is given). So uploads go only into the areas the administrator names (a
//! directory inside the root, or file-name patterns such as `*.log`), never under a
//! provisioning name whether or not that file exists yet, up to a size per file and a quota for
//! all the areas together, and they are not published to an object store unless asked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cnfkit_fs::{Install, PendingFile};
use cnfkit_resolve::{Directory as _, FileKind, FsDirectory, Recognised, SafePath};
use cnfkit_tftp::DataSink;

use crate::{Error, FileSink};

/// Where uploads may land and how much they may hold ([`Writes::On`](crate::Writes::On)).
///
/// ```
/// use cnfkit_resolve::FsDirectory;
/// use cnfkit_server::Uploads;
///
/// let root = std::env::temp_dir().join(format!("cnfkit-uploads-doc-{}", std::process::id()));
/// std::fs::create_dir_all(root.join("prt"))?;
/// let uploads = Uploads::new(FsDirectory::new(&root)?)
///     .into_directory("prt")?
///     .matching("*.log")?
///     .max_file_bytes(4 << 20)
///     .quota_bytes(64 << 20);
/// assert!(uploads.check(b"prt/prt-001122334455.tar.gz", None).is_ok());
/// assert!(uploads.check(b"phone.log", Some(1000)).is_ok());
/// // Outside the areas, or a name the server answers to phones: refused, in any letter case.
/// assert!(uploads.check(b"notes.txt", None).is_err());
/// assert!(uploads.check(b"prt/SEP001122334455.cnf.xml", None).is_err());
/// assert!(uploads.check(b"prt/itlfile.TLV", None).is_err());
/// // Larger than a file may be: refused before any data is sent.
/// assert!(uploads.check(b"phone.log", Some(5 << 20)).is_err());
/// # std::fs::remove_dir_all(&root)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Uploads {
    root: FsDirectory,
    directories: Vec<String>,
    patterns: Vec<NamePattern>,
    overwrite: bool,
    max_file_bytes: u64,
    quota_bytes: u64,
    publish: bool,
    /// What the areas hold and what uploads in progress have written.
    usage: Arc<Usage>,
}

/// The areas' bytes: on disk (measured when an area is added and again at most a minute before
/// an upload starts, then kept as uploads land) and written by uploads in progress. Measuring
/// and installing take `install` in turn, so that an overwrite's freed bytes are those of the
/// file it actually replaces.
#[derive(Debug)]
struct Usage {
    disk: AtomicU64,
    pending: AtomicU64,
    install: Mutex<Instant>,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            disk: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            install: Mutex::new(Instant::now()),
        }
    }
}

impl Usage {
    fn total(&self) -> u64 {
        self.disk.load(Relaxed).saturating_add(self.pending.load(Relaxed))
    }
}

/// How long a measure of the areas is trusted (files an admin deletes are seen within it).
const MEASURE_EVERY: Duration = Duration::from_secs(60);

/// Why an upload is refused ([`Uploads::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadRefusal {
    /// The name could leave the tree, or its directory does not exist.
    BadPath,
    /// Not inside an upload directory and matching no upload pattern.
    OutsideAreas,
    /// A name the server answers to phones (configuration, trust list, signature, firmware,
    /// default): never taken from a client.
    ProvisioningName,
    /// The announced size is over the cap per file.
    TooLarge,
    /// The announced size would take the areas over their quota.
    OverQuota,
    /// The tree holds the name in another letter case: the server answers either spelling with
    /// that file, so an upload beside it would change what an old name serves.
    OtherSpelling,
}

impl UploadRefusal {
    /// Why, for the log.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadPath => "the name leaves the tree or its directory does not exist",
            Self::OutsideAreas => "outside the upload directories and patterns",
            Self::ProvisioningName => "a name the server answers to phones",
            Self::TooLarge => "larger than the cap per upload",
            Self::OverQuota => "over the upload quota",
            Self::OtherSpelling => "the tree holds the name in another letter case",
        }
    }
}

impl std::fmt::Display for UploadRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked upload: where it goes ([`Uploads::check`]).
#[derive(Debug)]
pub struct UploadTarget {
    /// The path inside the tree, as checked.
    pub path: SafePath,
    /// Where it is written.
    full: PathBuf,
}

impl Uploads {
    /// Cap per upload when none is set: 16 MiB (a phone's problem report is a few hundred KiB).
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 << 20;
    /// Quota for all areas together when none is set: 256 MiB.
    pub const DEFAULT_QUOTA_BYTES: u64 = 256 << 20;

    /// Uploads into `root`, with no area yet: nothing is accepted until
    /// [`into_directory`](Self::into_directory) or [`matching`](Self::matching) names one.
    #[must_use]
    pub fn new(root: FsDirectory) -> Self {
        Self {
            root,
            directories: Vec::new(),
            patterns: Vec::new(),
            overwrite: false,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            quota_bytes: Self::DEFAULT_QUOTA_BYTES,
            publish: false,
            usage: Arc::default(),
        }
    }

    /// Accepts uploads anywhere under `dir`, a directory inside the root (not the root itself:
    /// name patterns do that), into subdirectories that exist.
    ///
    /// # Errors
    /// [`Error::Uploads`] when `dir` leaves the tree, is the root or is not a directory.
    pub fn into_directory(mut self, dir: &str) -> Result<Self, Error> {
        let refuse = |reason: &str| Error::Uploads { area: dir.to_owned(), reason: reason.into() };
        let path =
            SafePath::new(dir.as_bytes()).map_err(|_| refuse("not a path inside the root"))?;
        let full = self.root.confined(path.as_str()).ok_or_else(|| refuse("not in the root"))?;
        if full == self.root.root() {
            return Err(refuse("the root itself: name file patterns instead (--upload-name)"));
        }
        if !full.is_dir() {
            return Err(refuse("not a directory"));
        }
        self.directories.push(path.as_str().to_owned());
        self.remeasure();
        Ok(self)
    }

    /// Accepts uploads whose path matches `pattern`: `*` and `?` in the file name (ignoring
    /// letter case), after an optional literal directory (`logs/*.txt`). A name the server
    /// answers to phones is refused whatever the pattern says.
    ///
    /// # Errors
    /// [`Error::Uploads`] for an empty pattern, one that leaves the tree, or a wildcard in its
    /// directory part.
    pub fn matching(mut self, pattern: &str) -> Result<Self, Error> {
        let refuse =
            |reason: &str| Error::Uploads { area: pattern.to_owned(), reason: reason.into() };
        let (dir, name) = match pattern.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", pattern),
        };
        if name.is_empty() {
            return Err(refuse("no file name"));
        }
        if dir.contains(['*', '?']) {
            return Err(refuse("wildcards are for the file name, not its directory"));
        }
        if !dir.is_empty() {
            let safe = SafePath::new(dir.as_bytes()).map_err(|_| refuse("leaves the root"))?;
            if safe.as_str() != dir {
                return Err(refuse("write the directory as a plain relative path"));
            }
        }
        // The name itself must be a plain component (no `..`, no control bytes).
        let probe = name.replace(['*', '?'], "x");
        if SafePath::new(probe.as_bytes()).map_or(true, |p| p.as_str() != probe) {
            return Err(refuse("not a plain file name"));
        }
        self.patterns.push(NamePattern { dir: dir.to_owned(), name: name.to_ascii_lowercase() });
        self.remeasure();
        Ok(self)
    }

    /// Every directory of `dirs` ([`into_directory`](Self::into_directory)) and pattern of
    /// `patterns` ([`matching`](Self::matching)) at once, at least one of them.
    ///
    /// # Errors
    /// As those two; [`Error::Uploads`] when both lists are empty (uploads would go nowhere).
    pub fn with_areas(mut self, dirs: &[String], patterns: &[String]) -> Result<Self, Error> {
        if dirs.is_empty() && patterns.is_empty() {
            let reason = "none named: uploads need a directory or a file-name pattern".into();
            return Err(Error::Uploads { area: String::new(), reason });
        }
        for dir in dirs {
            self = self.into_directory(dir)?;
        }
        for pattern in patterns {
            self = self.matching(pattern)?;
        }
        Ok(self)
    }

    /// Whether an upload may replace a file of the areas (default: no, ERROR 6).
    #[must_use]
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// The cap per upload ([`DEFAULT_MAX_FILE_BYTES`](Self::DEFAULT_MAX_FILE_BYTES)).
    #[must_use]
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// The quota for all areas together ([`DEFAULT_QUOTA_BYTES`](Self::DEFAULT_QUOTA_BYTES)),
    /// files already there included.
    #[must_use]
    pub fn quota_bytes(mut self, bytes: u64) -> Self {
        self.quota_bytes = bytes;
        self
    }

    /// Whether a landed upload is handed to the tree's observer (a mirror publishes it to the
    /// object store, and every replica serves it). Off by default.
    #[must_use]
    pub fn publish(mut self, yes: bool) -> Self {
        self.publish = yes;
        self
    }

    /// Whether any area is named.
    #[must_use]
    pub fn has_areas(&self) -> bool {
        !(self.directories.is_empty() && self.patterns.is_empty())
    }

    /// Bytes the areas hold now (files there at start, plus uploads since).
    #[must_use]
    pub fn used_bytes(&self) -> u64 {
        self.usage.total()
    }

    /// The tree.
    #[must_use]
    pub fn root(&self) -> &FsDirectory {
        &self.root
    }

    /// Checks an upload of `name` announcing `announced` bytes (its `tsize`, if any).
    ///
    /// # Errors
    /// The [`UploadRefusal`].
    pub fn check(
        &self,
        name: &[u8],
        announced: Option<u64>,
    ) -> Result<UploadTarget, UploadRefusal> {
        let path = SafePath::new(name).map_err(|_| UploadRefusal::BadPath)?;
        if is_provisioning_name(path.as_str()) {
            return Err(UploadRefusal::ProvisioningName);
        }
        if !self.in_areas(path.as_str()) {
            return Err(UploadRefusal::OutsideAreas);
        }
        let (parent, file) = match path.as_str().rsplit_once('/') {
            Some((parent, file)) => {
                (self.root.confined(parent).ok_or(UploadRefusal::BadPath)?, file.to_owned())
            }
            None => (self.root.root().to_owned(), path.as_str().to_owned()),
        };
        if !parent.is_dir() {
            return Err(UploadRefusal::BadPath);
        }
        let dir = path.as_str().rsplit_once('/').map_or("", |(dir, _)| dir);
        if self.root.find_ignore_case(dir, &file).is_some_and(|held| held != file) {
            return Err(UploadRefusal::OtherSpelling);
        }
        self.measure_if_stale();
        if let Some(size) = announced {
            if size > self.max_file_bytes {
                return Err(UploadRefusal::TooLarge);
            }
            if self.used_bytes().saturating_add(size) > self.quota_bytes {
                return Err(UploadRefusal::OverQuota);
            }
        }
        Ok(UploadTarget { full: parent.join(file), path })
    }

    /// Opens the sink an accepted upload is written to: atomic, create-only unless
    /// [`overwrite`](Self::overwrite), counted against the cap and the quota as it arrives
    /// (a block past either fails the transfer with ERROR 3, and nothing is installed).
    ///
    /// # Errors
    /// [`cnfkit_fs::Error::Exists`] when the name is taken and overwrites are off; any other
    /// error of the atomic writer.
    pub fn open(&self, target: UploadTarget) -> Result<Box<dyn DataSink>, cnfkit_fs::Error> {
        let install = if self.overwrite { Install::Replace } else { Install::CreateOnly };
        let pending = PendingFile::create(&target.full, install)?;
        let mut sink = FileSink::new(pending);
        if self.publish
            && let Some(observer) = self.root.observer().cloned()
        {
            let path = target.path;
            sink = sink.on_installed(move || observer.created(path.as_str()));
        }
        Ok(Box::new(QuotaSink {
            inner: sink,
            usage: self.usage.clone(),
            target: target.full,
            written: 0,
            max_file: self.max_file_bytes,
            quota: self.quota_bytes,
            settled: false,
        }))
    }

    fn in_areas(&self, path: &str) -> bool {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.directories.iter().any(|area| {
            path.len() > area.len()
                && path.starts_with(area.as_str())
                && path.as_bytes()[area.len()] == b'/'
        }) || self.patterns.iter().any(|p| p.dir == dir && glob_match(&p.name, name))
    }

    /// Measures again when the last measure is over a minute old.
    fn measure_if_stale(&self) {
        self.measure_if_older(MEASURE_EVERY);
    }

    /// Measures what the areas hold now (at start: the quota counts files already there).
    fn remeasure(&mut self) {
        self.measure_if_older(Duration::ZERO);
    }

    /// Measures the areas when the last measure is at least `age` old.
    fn measure_if_older(&self, age: Duration) {
        let mut measured = lock(&self.usage.install);
        if measured.elapsed() >= age {
            self.usage.disk.store(self.area_bytes(), Relaxed);
            *measured = Instant::now();
        }
    }

    /// The bytes of the regular files in the areas.
    fn area_bytes(&self) -> u64 {
        let mut seen = HashSet::new();
        let mut total = 0;
        for dir in &self.directories {
            if let Some(full) = self.root.confined(dir) {
                total += tree_bytes(&full, &mut seen, 0);
            }
        }
        for pattern in &self.patterns {
            let Some(dir) = self.root.confined(&pattern.dir) else { continue };
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let (Some(name), Ok(meta)) = (name.to_str(), entry.metadata()) else { continue };
                if meta.is_file() && glob_match(&pattern.name, name) && seen.insert(entry.path()) {
                    total += meta.len();
                }
            }
        }
        total
    }
}

/// Whether a client must never create `path`, in any letter case and whether or not it exists:
/// a name the server answers to phones as a configuration (`SEP<MAC>.cnf.xml`, `*.cnf`,
/// `*.xml`), a trust list (`*.tlv`), a signature (`*.sgn`), firmware (`*.loads`, images, jars,
/// packages) or a default (`XMLDefault.cnf.xml`, `SIPDefault.cnf`, `OS79XX.TXT`...).
#[must_use]
pub fn is_provisioning_name(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path).to_ascii_lowercase();
    if Recognised::parse(&name).kind != FileKind::Other {
        return true;
    }
    const SUFFIXES: &[&str] = &[
        // configurations, trust lists, signatures
        ".sgn", ".tlv", ".cnf", ".xml", ".cfg", ".enc", ".sha512",
        // firmware and its packages
        ".loads", ".sbn", ".sb2", ".bin", ".zz", ".jar", ".cop",
        // ring tones, backgrounds and lists phones fetch by name
        ".raw", ".rwb", ".pcm", ".png", ".bmp", ".dat", // certificates
        ".pem", ".der", ".crt", ".cer",
    ];
    SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

/// A file-name pattern of an upload area, lower case.
#[derive(Debug, Clone)]
struct NamePattern {
    dir: String,
    name: String,
}

/// `*` (any run) and `?` (one byte) against `name`, ignoring ASCII case; `pattern` is lower case.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == n[j].to_ascii_lowercase()) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

/// Bytes of the regular files under `dir`, links not followed, each counted once.
fn tree_bytes(dir: &Path, seen: &mut HashSet<PathBuf>, depth: usize) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() && depth < 64 {
            total += tree_bytes(&entry.path(), seen, depth + 1);
        } else if kind.is_file()
            && let Ok(meta) = entry.metadata()
            && seen.insert(entry.path())
        {
            total += meta.len();
        }
    }
    total
}

/// An upload's sink, counted against the cap per file and the areas' quota as blocks arrive.
struct QuotaSink {
    inner: FileSink,
    usage: Arc<Usage>,
    target: PathBuf,
    written: u64,
    max_file: u64,
    quota: u64,
    settled: bool,
}

impl DataSink for QuotaSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let n = data.len() as u64;
        if self.written + n > self.max_file {
            return Err(std::io::Error::other("upload larger than the cap per file"));
        }
        let before = self.usage.pending.fetch_add(n, Relaxed);
        if self.usage.disk.load(Relaxed).saturating_add(before + n) > self.quota {
            release(&self.usage.pending, n);
            return Err(std::io::Error::other("upload quota exceeded"));
        }
        self.written += n;
        self.inner.write(data)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        // The file an overwrite replaces is measured as it is replaced, not when the upload
        // began: two overwrites of one name free its bytes once.
        let _installing = lock(&self.usage.install);
        let replaced = std::fs::symlink_metadata(&self.target)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map_or(0, |meta| meta.len());
        self.inner.finish()?;
        self.settled = true;
        release(&self.usage.pending, self.written);
        let _ = self.usage.disk.fetch_update(Relaxed, Relaxed, |disk| {
            Some(disk.saturating_add(self.written).saturating_sub(replaced))
        });
        Ok(())
    }

    fn abort(&mut self) {
        self.inner.abort();
        self.release_written();
    }
}

impl QuotaSink {
    fn release_written(&mut self) {
        if !self.settled {
            self.settled = true;
            release(&self.usage.pending, self.written);
        }
    }
}

impl Drop for QuotaSink {
    fn drop(&mut self) {
        // A transfer dropped without finish or abort (the server stopped) installed nothing.
        self.release_written();
    }
}

fn release(counter: &AtomicU64, bytes: u64) {
    let _ = counter.fetch_update(Relaxed, Relaxed, |u| Some(u.saturating_sub(bytes)));
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_the_file_name_with_stars_and_question_marks_ignoring_case() {
        assert!(glob_match("*.log", "phone.LOG"));
        assert!(glob_match("prt-*.tar.gz", "prt-001122334455-20261206.tar.gz"));
        assert!(glob_match("a?c", "abc") && !glob_match("a?c", "ac"));
        assert!(glob_match("*", "anything") && glob_match("**x*", "yyx"));
        assert!(!glob_match("*.log", "phone.log.sgn"));
    }

    #[test]
    fn every_name_a_phone_is_served_from_is_a_provisioning_name_in_any_case() {
        for name in [
            "SEP001122334455.cnf.xml",
            "sep001122334455.CNF.XML.SGN",
            "SEP001122334455.cnf.xml.enc.sgn",
            "SIP001122334455.cnf",
            "ITLFile.tlv",
            "ctlsep001122334455.tlv",
            "XMLDefault.cnf.xml",
            "xmldefault.cnf.xml.sgn",
            "SIPDefault.cnf",
            "OS79XX.TXT",
            "term42.default.loads",
            "SIP42.9-4-2SR4-3S.loads",
            "cnu942.9-4-2-3.sbn",
            "dsp9971.bin",
            "Ringlist.xml",
            "Desktops/320x212x16/List.xml",
            "English_United_States/mk-sip.jar",
            "new.cnf.xml",
            "x.cop.sgn",
            "ringer1.raw",
            "Ringer1.rwb",
            "Desktops/320x212x16/Background.PNG",
            "RINGLIST.DAT",
            "SPA525G.cfg",
        ] {
            assert!(is_provisioning_name(name), "{name}");
        }
        for name in ["prt-001122334455.tar.gz", "phone.log", "report.txt", "crash.dmp"] {
            assert!(!is_provisioning_name(name), "{name}");
        }
    }
}
