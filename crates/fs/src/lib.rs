//! # cnfkit-fs
//!
//! The one way cnfkit replaces or creates a file. Whatever writes (a repack, an edited
//! configuration, a rebuilt `XMLDefault.cnf.xml`, a TFTP upload, a downloaded file), the same
//! guarantees hold:
//!
//! - The content goes to a temporary file in the target's directory (same file system, so the
//!   final rename is atomic), created with `O_EXCL` under a name no other writer uses, and
//!   readable by its owner only while it is written.
//! - The file is fsynced before it is installed, and the directory after.
//! - At every instant the target name holds either the whole old content or the whole new one.
//! - With [`Install::KeepOld`], the previous file becomes `<name>.old` by hard link (or, where the
//!   file system has none, a synced copy under a temporary name renamed into place): a kill or a
//!   full disk never leaves a partial backup, nor destroys the one there was.
//! - With [`Install::CreateOnly`], the file is installed by `link(2)`, which fails when the name
//!   exists: of two writers of one name, exactly one wins and the other gets
//!   [`Error::Exists`].
//! - Temporary files are named `.<name>.cnfkit-<pid>-<n>.tmp`: [`is_temp_name`] recognises them
//!   (a server never serves one), and [`remove_stale_temps`] removes those a killed process left.
//!
//! ```
//! use cnfkit_fs::{Install, write};
//!
//! let dir = std::env::temp_dir().join(format!("cnfkit-fs-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let file = dir.join("SEP001122334455.cnf.xml");
//! std::fs::write(&file, "old")?;
//!
//! let written = write(&file, b"new", Install::KeepOld)?;
//! assert_eq!(std::fs::read(&file)?, b"new");
//! assert_eq!(std::fs::read(written.backup.unwrap())?, b"old");
//!
//! // Create-only: the name exists, so nothing is installed.
//! let err = write(&file, b"other", Install::CreateOnly).unwrap_err();
//! assert!(matches!(err, cnfkit_fs::Error::Exists { .. }));
//! assert_eq!(std::fs::read(&file)?, b"new");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What went wrong, always naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading, writing, syncing or renaming failed; the target is as it was.
    #[error("{}: {source}", path.display())]
    Io {
        /// The target (or, for a clean-up, the directory).
        path: PathBuf,
        /// The cause (`StorageFull` for a full disk).
        #[source]
        source: io::Error,
    },
    /// [`Install::CreateOnly`] and the name exists (another writer got there first).
    #[error("{}: already exists", path.display())]
    Exists {
        /// The target.
        path: PathBuf,
    },
}

impl Error {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}

/// For callers that speak `std::io` (a TFTP sink, a directory trait): the IO error itself, and
/// `AlreadyExists` for [`Error::Exists`].
impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Io { source, .. } => source,
            Error::Exists { .. } => io::Error::from(io::ErrorKind::AlreadyExists),
        }
    }
}

/// How the new file takes the target's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    /// Replace whatever is there (or create it).
    Replace,
    /// Replace, keeping the previous file as `<name>.old`.
    KeepOld,
    /// Create only: fail with [`Error::Exists`] when the name exists, at the moment of install.
    CreateOnly,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Where the previous content was kept ([`Install::KeepOld`] over an existing file).
    pub backup: Option<PathBuf>,
}

/// Writes `content` to `path` atomically.
///
/// # Errors
/// [`Error::Io`] naming `path`, [`Error::Exists`] for [`Install::CreateOnly`]; in every case the
/// target is untouched and no temporary file is left.
pub fn write(path: &Path, content: &[u8], install: Install) -> Result<Written, Error> {
    write_with(path, install, |w| w.write_all(content))
}

/// Writes `path` atomically with the content `fill` produces (streamed, never held whole).
///
/// # Errors
/// As [`write`](fn@write); an error from `fill` is an [`Error::Io`] too.
pub fn write_with(
    path: &Path,
    install: Install,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<Written, Error> {
    let mut pending = PendingFile::create(path, install)?;
    fill(&mut pending).map_err(|e| Error::io(path, e))?;
    pending.commit()
}

/// A new file being written under a temporary name, installed by [`PendingFile::commit`].
/// Dropped without a commit, it is removed.
#[derive(Debug)]
pub struct PendingFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    install: Install,
    mode: Option<u32>,
}

impl PendingFile {
    /// Starts writing `target`. For [`Install::CreateOnly`] an existing target is refused at
    /// once (and again, race-free, at the commit).
    ///
    /// # Errors
    /// [`Error::Io`] when the directory does not take a new file; [`Error::Exists`].
    pub fn create(target: &Path, install: Install) -> Result<Self, Error> {
        let existing = fs::symlink_metadata(target).ok();
        if install == Install::CreateOnly && existing.is_some() {
            return Err(Error::Exists { path: target.to_owned() });
        }
        // A symlink is followed, so the file it names is replaced (and backed up) and the link
        // stays a link.
        let resolved = match existing {
            Some(meta) if meta.file_type().is_symlink() => {
                fs::canonicalize(target).map_err(|e| Error::io(target, e))?
            }
            _ => target.to_owned(),
        };
        let name = resolved.file_name().ok_or_else(|| {
            Error::io(target, io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
        })?;
        let dir = parent_dir(&resolved);
        let (file, temp) = create_temp(&dir, name).map_err(|e| Error::io(target, e))?;
        Ok(Self { file: Some(file), temp, target: resolved, install, mode: None })
    }

    /// The installed file's permission bits (Unix): by default those of the file it replaces,
    /// else 0644. Give 0600 for a file holding secrets (a decrypted configuration).
    #[must_use]
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The temporary file's path (recognised by [`is_temp_name`]).
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The name the file will take.
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the file and installs it under the target name, then removes what earlier writers
    /// of the same name left when they were killed mid-write (their temporary files, recognised
    /// by name and by nobody holding their lock), so that a tool run again cleans up after
    /// itself.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Exists`]; the target is then as it was and the temporary file is
    /// removed.
    pub fn commit(mut self) -> Result<Written, Error> {
        let result = self.install_file();
        if result.is_err() {
            let _ = fs::remove_file(&self.temp);
        }
        // Installed or removed: nothing left for Drop.
        self.file = None;
        result
    }

    /// Removes the temporary file; the target is untouched.
    pub fn abort(mut self) {
        self.discard();
    }

    fn discard(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }

    fn install_file(&mut self) -> Result<Written, Error> {
        let target = self.target.clone();
        let err = |e| Error::io(&target, e);
        let file = self.file.as_mut().ok_or_else(|| err(io::Error::other("already committed")))?;
        file.flush().map_err(err)?;
        set_final_owner_and_mode(file, &target, self.mode).map_err(err)?;
        file.sync_all().map_err(err)?;
        let dir = parent_dir(&target);
        let mut backup = None;
        match self.install {
            Install::Replace => fs::rename(&self.temp, &target).map_err(err)?,
            Install::KeepOld => {
                if fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
                    let mut old = target.as_os_str().to_owned();
                    old.push(".old");
                    let old = PathBuf::from(old);
                    make_backup(&dir, &target, &old).map_err(err)?;
                    backup = Some(old);
                }
                fs::rename(&self.temp, &target).map_err(err)?;
            }
            Install::CreateOnly => match fs::hard_link(&self.temp, &target) {
                Ok(()) => {
                    let _ = fs::remove_file(&self.temp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::Exists { path: target });
                }
                Err(e) => return Err(err(e)),
            },
        }
        sync_dir(&dir);
        if let Some(name) = target.file_name() {
            remove_stale_temps_of(&dir, name);
        }
        // A run killed while it made the backup left the backup's temporary file.
        if let Some(name) = backup.as_deref().and_then(Path::file_name) {
            remove_stale_temps_of(&dir, name);
        }
        Ok(Written { backup })
    }
}

/// Removes the stale temporary files of `name` in `dir` (see [`remove_stale_temps`]).
fn remove_stale_temps_of(dir: &Path, name: &OsStr) {
    let prefix = temp_name_prefix(name);
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        if file_name.starts_with(&prefix)
            && is_temp_name(file_name)
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            remove_if_stale(&entry.path());
        }
    }
}

impl Write for PendingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().ok_or_else(|| io::Error::other("already committed"))?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), File::flush)
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        self.discard();
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Marks every temporary name: `.<name>.cnfkit-<pid>-<n>.tmp`.
const TEMP_TAG: &str = ".cnfkit-";
const TEMP_SUFFIX: &str = ".tmp";
/// Bytes of the target's name kept in a temporary name (so it stays under `NAME_MAX`).
const NAME_KEPT: usize = 120;

fn temp_name(name: &OsStr, n: u64) -> OsString {
    format!("{}{}-{n}{TEMP_SUFFIX}", temp_name_prefix(name), std::process::id()).into()
}

/// What every temporary name of `name` starts with: `.<name>.cnfkit-`.
fn temp_name_prefix(name: &OsStr) -> String {
    let name = name.to_string_lossy();
    let mut cut = name.len().min(NAME_KEPT);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}{TEMP_TAG}", &name[..cut])
}

/// Creates a new temporary file beside `name` in `dir`, with `O_EXCL` and mode 0600.
fn create_temp(dir: &Path, name: &OsStr) -> io::Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    // A name left by an earlier process with the same pid is skipped, never reused.
    for _ in 0..64 {
        let temp = dir.join(temp_name(name, COUNTER.fetch_add(1, Ordering::Relaxed)));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&temp) {
            Ok(file) => match file.try_lock() {
                // Held until the file is closed (installed, abandoned, or the process killed):
                // how `remove_stale_temps` tells a live write from a dead one. Between the
                // open and the lock the file looked dead to a sweeper, which removes a file
                // while it holds its lock: the file is ours only if the name still leads to
                // it once locked. Otherwise it is left to the sweeper and a new name tried.
                Ok(()) if same_file(&file, &temp) => return Ok((file, temp)),
                Ok(()) | Err(fs::TryLockError::WouldBlock) => {
                    last = Some(io::Error::other("temporary file removed by a sweep"));
                }
                // No locks on this file system: sweeps go by age instead.
                Err(fs::TryLockError::Error(_)) => return Ok((file, temp)),
            },
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// The installed file gets the owner, group and permissions of the file it replaces (a root
/// editing a `tftp:tftp` 0640 file must leave one the TFTP server can still read), else 0644, or
/// `mode` when given: the temporary file's 0600 is for while it is incomplete.
fn set_final_owner_and_mode(file: &File, target: &Path, mode: Option<u32>) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let replaced = fs::metadata(target).ok();
        if let Some(meta) = &replaced {
            // Only root may give a file away; for anyone else the owner is already theirs.
            let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
        }
        let bits = mode.or(replaced.map(|m| m.mode() & 0o7777)).unwrap_or(0o644);
        file.set_permissions(fs::Permissions::from_mode(bits))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, target, mode);
        Ok(())
    }
}

/// `old` becomes a second name of `current` (or a whole synced copy), atomically: the backup
/// is made under a temporary name and renamed into place, so it is never seen partial.
fn make_backup(dir: &Path, current: &Path, old: &Path) -> io::Result<()> {
    // The staged link holds no lock, so a sweep of the whole directory (a server starting)
    // may take it for a dead writer's file and remove it: then stage again.
    let mut attempts = 0;
    loop {
        match stage_backup(dir, current, old) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 8 => attempts += 1,
            done => return done,
        }
    }
}

fn stage_backup(dir: &Path, current: &Path, old: &Path) -> io::Result<()> {
    let staging_name = old.file_name().unwrap_or_else(|| OsStr::new("backup"));
    let (file, staging) = create_temp(dir, staging_name)?;
    let staged = (|| {
        // A hard link needs the name free; the reserved file is replaced by the link.
        drop(file);
        fs::remove_file(&staging)?;
        if fs::hard_link(current, &staging).is_err() {
            // No hard links on this file system: a synced copy under the temporary name.
            let mut from = File::open(current)?;
            let mut to = OpenOptions::new().write(true).create_new(true).open(&staging)?;
            to.set_permissions(from.metadata()?.permissions())?;
            io::copy(&mut from, &mut to)?;
            to.sync_all()?;
        }
        fs::rename(&staging, old)
    })();
    // After an error the staging name is ours to remove; after a success too, in one case:
    // when `old` already is a link to the same file (a concurrent writer backed up the same
    // version a moment before), rename(2) does nothing and leaves both names (POSIX).
    let _ = fs::remove_file(&staging);
    staged
}

/// Makes a rename durable. A directory that cannot be opened for sync (some platforms) is not an
/// error: the data itself is already synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The process id in a temporary name made by this crate, or `None` for any other name.
///
/// ```
/// assert_eq!(cnfkit_fs::temp_owner(".SEP001122334455.cnf.xml.cnfkit-4242-7.tmp"), Some(4242));
/// assert_eq!(cnfkit_fs::temp_owner("SEP001122334455.cnf.xml"), None);
/// assert_eq!(cnfkit_fs::temp_owner(".x.cnfkit-12-a.tmp"), None);
/// ```
#[must_use]
pub fn temp_owner(name: &str) -> Option<u32> {
    let body = name.strip_suffix(TEMP_SUFFIX)?;
    let (prefix, ids) = body.rsplit_once(TEMP_TAG)?;
    let (pid, n) = ids.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (prefix.starts_with('.') && prefix.len() > 1 && digits(pid) && digits(n))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether `name` (a file name, not a path) is one of this crate's temporary names.
#[must_use]
pub fn is_temp_name(name: &str) -> bool {
    temp_owner(name).is_some()
}

/// Removes the temporary files in `dir` whose writer is gone (a process killed mid-write), and
/// returns their paths. A writer holds an exclusive lock on its temporary file until it closes
/// it, so a file nobody holds a lock on is stale, whatever process id its name carries (a
/// restarted server in a container may have the same one). Where the file system has no locks,
/// a file that has not changed for an hour is taken as stale.
///
/// # Errors
/// [`Error::Io`] naming `dir` when it cannot be listed; a file that cannot be removed is skipped.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_temp_name) || !entry.file_type().is_ok_and(|t| t.is_file())
        {
            continue;
        }
        let path = entry.path();
        if remove_if_stale(&path) {
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Removes stale temporary files (as [`remove_stale_temps`]) in `root` and the directories
/// below it, `depth` levels down at most, never following a symlink.
#[must_use]
pub fn remove_stale_temps_in_tree(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut removed = remove_stale_temps(root).unwrap_or_default();
    if depth > 0 {
        for entry in fs::read_dir(root).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                removed.extend(remove_stale_temps_in_tree(&entry.path(), depth - 1));
            }
        }
    }
    removed
}

/// Removes `path` when it is stale, and says whether it did. The lock is held while the name
/// is removed, so a writer that has just created the file and not yet locked it either gets
/// the lock first (and the file is not stale) or finds its name gone once it has the lock.
fn remove_if_stale(path: &Path) -> bool {
    let Ok(file) = File::open(path) else { return false };
    let stale = match file.try_lock() {
        Ok(()) => same_file(&file, path),
        Err(fs::TryLockError::WouldBlock) => false,
        Err(fs::TryLockError::Error(_)) => {
            let age =
                file.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            age.is_some_and(|age| age >= std::time::Duration::from_secs(3600))
        }
    };
    stale && fs::remove_file(path).is_ok()
}

/// Whether `path` still names the open `file` (and not nothing, or a newer file).
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (file.metadata(), fs::symlink_metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// The README's examples run as doctests, so the published README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
