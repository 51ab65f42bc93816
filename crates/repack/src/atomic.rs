//! Writing a file so that nothing is ever lost or half-written.
//!
//! 1. The new content goes to a temporary file in the target's directory (same
//!    filesystem, so the final rename is atomic), which is flushed and fsynced.
//! 2. The current file, if any, is hard-linked to `<name>.old.tmp` and that renamed over
//!    `<name>.old` (a copy when hard links are not possible): the backup appears whole.
//! 3. The temporary file is renamed over the target, and the directory fsynced.
//!
//! A failure at any step (disk full, read-only directory, a writer error, the process
//! killed) leaves the target as it was: either the old content or, after step 3, the new.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Error;

/// What [`write_replacing`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaced {
    /// Where the previous content was kept, when there was a previous file.
    pub backup: Option<PathBuf>,
}

/// Points in the write where a test can simulate a crash (the process stopping dead, no
/// clean-up).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// After the temporary file was written and synced.
    TempWritten,
    /// After the backup was made.
    BackupMade,
    /// After the rename.
    Renamed,
}

/// Replaces `path` with `content`, keeping the previous file as `<name>.old`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("cnfkit-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let file = dir.join("SEP001122334455.cnf.xml");
/// std::fs::write(&file, "old")?;
/// let done = cnfkit_repack::write_replacing(&file, b"new")?;
/// assert_eq!(std::fs::read(&file)?, b"new");
/// assert_eq!(std::fs::read(done.backup.unwrap())?, b"old");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`] naming `path`; the target is untouched and no temporary file is left.
pub fn write_replacing(path: &Path, content: &[u8]) -> Result<Replaced, Error> {
    write_with(path, true, |w| w.write_all(content), None)
}

/// Writes `path` atomically without keeping a backup (for new outputs such as `-o FILE`).
///
/// # Errors
/// As [`write_replacing`].
pub fn write_new(path: &Path, content: &[u8]) -> Result<(), Error> {
    write_with(path, false, |w| w.write_all(content), None).map(|_| ())
}

/// The machinery, with the content produced by `fill` (a test injects a failing writer
/// here) and an optional simulated crash point.
#[doc(hidden)]
pub fn write_with(
    path: &Path,
    keep_backup: bool,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    crash_at: Option<Step>,
) -> Result<Replaced, Error> {
    let err = |e| Error::io(path, e);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
    let temp = dir.join(temp_name(name));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        fill(&mut f)?;
        f.flush()?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(err(e));
    }
    if crash_at == Some(Step::TempWritten) {
        return Err(err(io::Error::other("simulated crash")));
    }
    let mut backup = None;
    if keep_backup && fs::symlink_metadata(path).is_ok() {
        let mut old_name = name.to_os_string();
        old_name.push(".old");
        let old = dir.join(&old_name);
        if let Err(e) = make_backup(path, &old) {
            let _ = fs::remove_file(&temp);
            return Err(err(e));
        }
        backup = Some(old);
    }
    if crash_at == Some(Step::BackupMade) {
        return Err(err(io::Error::other("simulated crash")));
    }
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(err(e));
    }
    if crash_at == Some(Step::Renamed) {
        return Err(err(io::Error::other("simulated crash")));
    }
    // Make the rename durable; a directory that cannot be opened for sync (some
    // platforms) is not an error: the data itself is already synced.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Replaced { backup })
}

fn make_backup(current: &Path, old: &Path) -> io::Result<()> {
    let mut staging = old.as_os_str().to_os_string();
    staging.push(".tmp");
    let staging = PathBuf::from(staging);
    let _ = fs::remove_file(&staging);
    if fs::hard_link(current, &staging).is_err() {
        fs::copy(current, &staging)?;
        File::open(&staging)?.sync_all()?;
    }
    fs::rename(&staging, old).inspect_err(|_| {
        let _ = fs::remove_file(&staging);
    })
}

fn temp_name(name: &std::ffi::OsStr) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
