//! A [`Directory`] over a real directory tree.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::resolver::locate_by_lookups;
use crate::{Directory, FileVersion, Found};

/// Directories whose case-folded index is kept (the served tree rarely has more).
const INDEXED_DIRS: usize = 64;

/// One entry of a directory as its listing saw it.
#[derive(Debug)]
struct Entry {
    name: String,
    /// A regular file, not a symlink (the listing's file type: no `stat` of its own).
    regular: bool,
}

/// Lower-case name -> the entries on disk with that spelling, per directory.
type Names = Arc<HashMap<String, Vec<Entry>>>;

/// One directory's listing, kept while the directory's modification time stays the same.
#[derive(Debug)]
struct Listing {
    /// The directory's modification time when it was read.
    modified: SystemTime,
    /// When it was read.
    read: Instant,
    /// Whether the directory had been still for a while when it was read, so the listing
    /// holds every entry until the modification time moves.
    settled: bool,
    names: Names,
}

/// The listings, per canonical directory path.
type CaseIndex = HashMap<PathBuf, Listing>;

/// How long a listing taken right after a change is trusted.
const UNSETTLED_TTL: Duration = Duration::from_millis(500);

/// Files up to this size are kept in memory once read: XMLDefault, SEP files, `.loads`
/// manifests, trust lists, the files every phone of a site asks for in a boot storm.
pub const CACHED_FILE_MAX: u64 = 64 << 10;

/// How long the root's open handle is taken to be the directory its path names; then the path
/// is looked up again, so a root renamed away and replaced is followed within this time.
const ROOT_RECHECK: Duration = Duration::from_secs(1);

/// The root directory, open: a `stat` of it skips the walk of the root's path, which every
/// top-level request would otherwise pay (a twentieth of a boot storm's CPU).
#[derive(Debug)]
struct RootHandle {
    dir: File,
    /// Device and inode the path named when this handle was checked.
    identity: (u64, u64),
    checked: Instant,
}

/// Device and inode: which directory a path names.
#[cfg(unix)]
fn identity(meta: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_: &Metadata) -> Option<(u64, u64)> {
    None
}

/// Bytes of file contents kept in memory at most; past it the cache starts over.
const CACHED_BYTES_MAX: usize = 16 << 20;

/// What identifies one version of a file: a rewrite changes the length, modification or change
/// time, a rename over it (an atomic replace) the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    changed: (i64, i64),
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Stamp {
    /// The token of this version: its length, and a digest of the rest of the `stat`.
    fn version(self) -> FileVersion {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.modified.hash(&mut hasher);
        #[cfg(unix)]
        (self.changed, self.inode).hash(&mut hasher);
        FileVersion::new(u128::from(self.len) << 64 | u128::from(hasher.finish()))
    }

    fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec()),
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
        }
    }
}

/// Small files by canonical path, with the stamp they had when read, and the bytes held.
#[derive(Debug, Default)]
struct FileCache {
    files: HashMap<PathBuf, (Stamp, Arc<[u8]>)>,
    bytes: usize,
}

/// A file opened for serving (see [`FsDirectory::open_contents`]).
#[derive(Debug)]
pub enum Contents {
    /// A small file, from memory (shared: every phone gets the same bytes).
    Memory(Arc<[u8]>),
    /// A larger file, open for reading at offsets, with its length.
    File(File, u64),
}

/// A directory tree on disk, confined: every path is resolved (symlinks followed) and must stay
/// under the root, so a symlink that points out of the tree is treated as absent.
///
/// The check runs when a path is looked up and the canonical path is what gets opened; a tree
/// whose directories an attacker can rename while the server runs is out of scope (serve from a
/// tree only the admin writes to).
///
/// Case-insensitive lookups answer from an index of each directory, rebuilt when the
/// directory's modification time changes, so a miss costs a `stat` rather than a scan of
/// thousands of SEP files. A name at the top of the tree is looked up in the root's index
/// first: once the root has been still for two seconds, its listing says whether the name is
/// there, and a miss (most of a boot sequence: trust lists, the SEP file of a phone that falls
/// back) costs that one `stat` of the root alone.
///
/// Files up to [`CACHED_FILE_MAX`] bytes are served from memory by
/// [`open_contents`](Self::open_contents) while their size, times and inode stay the same
/// (one `lstat` per request checks them), so a boot storm reads XMLDefault from disk once.
#[derive(Debug, Clone)]
pub struct FsDirectory {
    root: PathBuf,
    /// The root, open, for the `stat` of each top-level look-up ([`Self::root_modified`]).
    root_handle: Arc<Mutex<Option<RootHandle>>>,
    index: Arc<Mutex<CaseIndex>>,
    files: Arc<Mutex<FileCache>>,
    observer: Option<Arc<dyn TreeObserver>>,
    /// Files outside the tree served by flat name ([`with_library`](Self::with_library)).
    library: Option<Arc<HashMap<String, PathBuf>>>,
}

/// How a path into the library starts: a colon, which no requested name may hold
/// ([`SafePath`](crate::SafePath) refuses it), so a phone can never name one directly.
pub const LIBRARY_PREFIX: &str = ":library/";

/// Learns what happens in an [`FsDirectory`] that matters to whatever keeps the tree filled
/// (a mirror of an object store): a name looked up and not found, a file the server created.
/// Called on the serving path, so both must return at once.
pub trait TreeObserver: Send + Sync + std::fmt::Debug {
    /// A case-insensitive look-up of `name` in `dir` found nothing.
    fn missed(&self, dir: &str, name: &str) {
        let _ = (dir, name);
    }
    /// [`Directory::create_atomic`] created `path`.
    fn created(&self, path: &str) {
        let _ = path;
    }
}

impl FsDirectory {
    /// Serves the tree under `root`.
    ///
    /// # Errors
    /// When `root` does not exist or cannot be resolved.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self {
            root: root.as_ref().canonicalize()?,
            root_handle: Arc::default(),
            index: Arc::default(),
            files: Arc::default(),
            observer: None,
            library: None,
        })
    }

    /// Also serves `files` (lower-cased flat name to a file anywhere, such as a firmware
    /// library's images) when the top of the tree has no file of that name in any letter case:
    /// the tree's own files take precedence. Such a file is located at
    /// [`LIBRARY_PREFIX`]` + name`.
    #[must_use]
    pub fn with_library(mut self, files: HashMap<String, PathBuf>) -> Self {
        self.library = Some(Arc::new(files));
        self
    }

    /// A top-level `name` the library has, located under [`LIBRARY_PREFIX`].
    fn in_library(&self, name: &str) -> Option<(String, Found)> {
        let path = self.library.as_ref()?.get(&name.to_ascii_lowercase())?;
        let file = path.file_name()?.to_str()?;
        let found = if file == name { Found::Exact } else { Found::CaseInsensitive };
        Some((format!("{LIBRARY_PREFIX}{file}"), found))
    }

    /// The observer given to [`with_observer`](Self::with_observer).
    #[must_use]
    pub fn observer(&self) -> Option<&Arc<dyn TreeObserver>> {
        self.observer.as_ref()
    }

    /// Tells `observer` of misses and created files.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn TreeObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The canonical root.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The canonical path of `path` (relative, `/`-separated), if it exists inside the root.
    #[must_use]
    pub fn confined(&self, path: &str) -> Option<PathBuf> {
        self.confined_with_metadata(path).map(|(path, _)| path)
    }

    /// [`confined`](Self::confined), with the file's metadata when the check already read it.
    fn confined_with_metadata(&self, path: &str) -> Option<(PathBuf, Option<Metadata>)> {
        if let Some(name) = path.strip_prefix(LIBRARY_PREFIX) {
            let file = self.library.as_ref()?.get(&name.to_ascii_lowercase())?;
            return Some((file.clone(), None));
        }
        // Fast path for the common case, a file directly under the (canonical) root: when it
        // is not a symlink it cannot lead out, and one lstat replaces realpath's walk.
        if is_plain_name(path) {
            let full = self.root.join(path);
            match std::fs::symlink_metadata(&full) {
                Ok(meta) if !meta.file_type().is_symlink() => return Some((full, Some(meta))),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        let canonical = self.root.join(path).canonicalize().ok()?;
        canonical.starts_with(&self.root).then_some((canonical, None))
    }

    /// Opens a regular file for streaming, with its length.
    ///
    /// # Errors
    /// `NotFound` when the path is absent, leaves the tree, or is not a regular file.
    pub fn open(&self, path: &str) -> std::io::Result<(File, u64)> {
        let canonical = self.confined(path).ok_or_else(not_found)?;
        open_regular(&canonical).map(|(file, meta)| (file, meta.len()))
    }

    /// Opens a regular file for serving: a small one from memory when it has not changed
    /// since it was last read, a larger one from disk.
    ///
    /// # Errors
    /// `NotFound` when the path is absent, leaves the tree, or is not a regular file; the
    /// error of reading it otherwise.
    ///
    /// # Examples
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use cnfkit_resolve::{Contents, FsDirectory};
    ///
    /// let root = std::env::temp_dir().join(format!("cnfkit-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&root)?;
    /// std::fs::write(root.join("XMLDefault.cnf.xml"), b"<Default/>")?;
    /// let tree = FsDirectory::new(&root)?;
    /// let Contents::Memory(first) = tree.open_contents("XMLDefault.cnf.xml")? else { panic!() };
    /// let Contents::Memory(again) = tree.open_contents("XMLDefault.cnf.xml")? else { panic!() };
    /// assert!(std::sync::Arc::ptr_eq(&first, &again), "read from disk once");
    /// # std::fs::remove_dir_all(&root)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_contents(&self, path: &str) -> std::io::Result<Contents> {
        self.open_contents_modified(path).map(|(contents, _)| contents)
    }

    /// [`open_contents`](Self::open_contents), with the file's modification time as the same
    /// look-up read it (an HTTP `Last-Modified` costs no further `stat`).
    ///
    /// # Errors
    /// As [`open_contents`](Self::open_contents).
    pub fn open_contents_modified(
        &self,
        path: &str,
    ) -> std::io::Result<(Contents, Option<SystemTime>)> {
        self.open_contents_stamped(path).map(|(contents, modified, _)| (contents, modified))
    }

    /// [`open_contents_modified`](Self::open_contents_modified), with the stamp the bytes in
    /// memory were checked against (none for a file read from disk).
    fn open_contents_stamped(
        &self,
        path: &str,
    ) -> std::io::Result<(Contents, Option<SystemTime>, Option<Stamp>)> {
        let (canonical, meta) = self.confined_with_metadata(path).ok_or_else(not_found)?;
        let meta = match meta {
            Some(meta) => meta,
            None => std::fs::metadata(&canonical)?,
        };
        if !meta.is_file() {
            return Err(not_found());
        }
        if meta.len() > CACHED_FILE_MAX {
            let (file, opened) = open_regular(&canonical)?;
            return Ok((Contents::File(file, opened.len()), opened.modified().ok(), None));
        }
        let stamp = Stamp::of(&meta);
        {
            let cache = self.files.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, bytes)) = cache.files.get(&canonical).filter(|(s, _)| *s == stamp) {
                return Ok((Contents::Memory(bytes.clone()), stamp.modified, Some(stamp)));
            }
        }
        let (mut file, opened) = open_regular(&canonical)?;
        let len = opened.len();
        if len > CACHED_FILE_MAX {
            return Ok((Contents::File(file, len), opened.modified().ok(), None));
        }
        let modified = opened.modified().ok();
        let opened = Stamp::of(&opened);
        // As many bytes as the open file's `stat` says, in one `read`: `read_to_end` would
        // `stat` it again, seek, and read once more to find the end.
        let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
        file.read_exact(&mut bytes)?;
        let bytes: Arc<[u8]> = bytes.into();
        // Kept only when what was read is the version that was checked: the same stamp
        // before and after opening, and as many bytes as it says.
        let whole = opened == stamp && bytes.len() as u64 == stamp.len;
        if whole {
            let mut cache = self.files.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.bytes + bytes.len() > CACHED_BYTES_MAX {
                cache.files.clear();
                cache.bytes = 0;
            }
            if let Some((_, old)) = cache.files.insert(canonical, (stamp, bytes.clone())) {
                cache.bytes -= old.len();
            }
            cache.bytes += bytes.len();
        }
        Ok((Contents::Memory(bytes), modified, whole.then_some(stamp)))
    }
}

impl FsDirectory {
    /// The names in the canonical directory `dir`, from the index while the directory's
    /// modification time says it has not changed (read again otherwise), and whether the
    /// listing is settled (see [`Listing::settled`]). `None` when `dir` cannot be read.
    fn listing(&self, dir: &Path) -> Option<(Names, bool)> {
        // Read before the `stat`, so that "still since" below holds for the whole listing.
        let checked = SystemTime::now();
        let modified = if dir == self.root {
            self.root_modified().ok()?
        } else {
            std::fs::metadata(dir).and_then(|m| m.modified()).ok()?
        };
        {
            let index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(listing) = index.get(dir).filter(|l| {
                l.modified == modified && (l.settled || l.read.elapsed() < UNSETTLED_TTL)
            }) {
                return Some((listing.names.clone(), listing.settled));
            }
        }
        let mut names: HashMap<String, Vec<Entry>> = HashMap::new();
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            // A write in progress is never a match for anything.
            if let Ok(name) = entry.file_name().into_string()
                && !cnfkit_fs::is_temp_name(&name)
            {
                let regular = entry.file_type().is_ok_and(|t| t.is_file());
                names.entry(name.to_ascii_lowercase()).or_default().push(Entry { name, regular });
            }
        }
        let names = Arc::new(names);
        // File systems with coarse times (2 s on FAT, 1 s on ext3) give a change made in the
        // same tick as the last one the same modification time, so a listing read in that tick
        // may miss it for good. When the time was already 2 s old at the `stat`, every later
        // change gets a later time and the listing is kept until the time moves; otherwise it
        // is trusted for UNSETTLED_TTL only, and never to say a name is absent.
        let settled = checked.duration_since(modified).is_ok_and(|d| d.as_secs() >= 2);
        let listing = Listing { modified, read: Instant::now(), settled, names: names.clone() };
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        if index.len() >= INDEXED_DIRS {
            index.clear();
        }
        index.insert(dir.to_owned(), listing);
        Some((names, settled))
    }

    /// The root's modification time: from its open handle while that was checked within
    /// [`ROOT_RECHECK`], else from its path (and the handle opened again if the path now names
    /// another directory).
    fn root_modified(&self) -> std::io::Result<SystemTime> {
        let mut handle = self.root_handle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = handle.as_ref().filter(|h| h.checked.elapsed() < ROOT_RECHECK) {
            return open.dir.metadata()?.modified();
        }
        let meta = std::fs::metadata(&self.root)?;
        match (handle.as_mut(), identity(&meta)) {
            (Some(open), Some(now)) if open.identity == now => open.checked = Instant::now(),
            (_, Some(identity)) => {
                *handle = File::open(&self.root).ok().map(|dir| RootHandle {
                    dir,
                    identity,
                    checked: Instant::now(),
                });
            }
            (_, None) => {}
        }
        meta.modified()
    }

    fn missed(&self, dir: &str, name: &str) {
        if let Some(observer) = &self.observer {
            observer.missed(dir, name);
        }
    }
}

/// A name directly under the root: one component, neither `.` nor `..`.
fn is_plain_name(path: &str) -> bool {
    !path.is_empty() && path != "." && path != ".." && !path.contains(['/', '\\'])
}

fn not_found() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::NotFound)
}

/// Opens `path` if it is a regular file, with the open file's metadata.
fn open_regular(path: &Path) -> std::io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_found());
    }
    Ok((file, meta))
}

impl Directory for FsDirectory {
    fn exists(&self, path: &str) -> bool {
        self.confined_with_metadata(path)
            .is_some_and(|(path, meta)| meta.map_or_else(|| path.is_file(), |m| m.is_file()))
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let Some(dir) = (if dir.is_empty() { Some(self.root.clone()) } else { self.confined(dir) })
        else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
    }

    /// A name at the top of the tree is answered from the root's listing when that listing is
    /// settled: one `stat` of the root checks it, where a miss would otherwise cost an `lstat`
    /// of the name and then that `stat`. Deeper paths, symlinks and listings taken right after
    /// a change go the long way.
    fn locate(&self, path: &str) -> Option<(String, Found)> {
        if is_plain_name(path)
            && let Some((names, true)) = self.listing(&self.root)
        {
            match names.get(&path.to_ascii_lowercase()) {
                None => {
                    let found = self.in_library(path);
                    if found.is_none() {
                        self.missed("", path);
                    }
                    return found;
                }
                // A regular file (not a symlink) directly under the canonical root cannot
                // lead out, and any change of that entry moves the root's modification time.
                Some(entries) if entries.iter().any(|e| e.regular && e.name == path) => {
                    return Some((path.to_owned(), Found::Exact));
                }
                Some(_) => {}
            }
        }
        locate_by_lookups(self, path)
            .or_else(|| is_plain_name(path).then(|| self.in_library(path)).flatten())
    }

    fn find_ignore_case(&self, dir: &str, name: &str) -> Option<String> {
        let dir_name = dir;
        let dir = if dir.is_empty() { Some(self.root.clone()) } else { self.confined(dir) }?;
        let (names, _) = self.listing(&dir)?;
        let Some(entries) = names.get(&name.to_ascii_lowercase()) else {
            self.missed(dir_name, name);
            return None;
        };
        let exact = entries.iter().find(|e| e.name == name);
        exact.or_else(|| entries.first()).map(|e| e.name.clone())
    }

    fn read_versioned(&self, path: &str) -> std::io::Result<(Arc<[u8]>, Option<FileVersion>)> {
        match self.open_contents_stamped(path)? {
            (Contents::Memory(bytes), _, stamp) => Ok((bytes, stamp.map(Stamp::version))),
            (Contents::File(mut file, len), ..) => {
                let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                file.read_to_end(&mut bytes)?;
                Ok((bytes.into(), None))
            }
        }
    }

    fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
        match self.open_contents(path)? {
            Contents::Memory(bytes) => Ok(bytes.to_vec()),
            Contents::File(mut file, len) => {
                let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                file.read_to_end(&mut bytes)?;
                Ok(bytes)
            }
        }
    }

    /// Creates the file through the one atomic writer, only if the name is free: a file an
    /// admin (or another server) puts there meanwhile is never overwritten.
    fn create_atomic(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let target = self.root.join(path);
        let parent = target
            .parent()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let parent = parent.canonicalize()?;
        if !parent.starts_with(&self.root) {
            return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        }
        let name = target
            .file_name()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        cnfkit_fs::write(&parent.join(name), bytes, cnfkit_fs::Install::CreateOnly)?;
        if let Some(observer) = &self.observer {
            observer.created(path);
        }
        Ok(())
    }
}
