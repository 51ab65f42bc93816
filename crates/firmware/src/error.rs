//! The crate's one error type.

use std::path::PathBuf;

/// Why a pack cannot be imported, or the library cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written atomically into the library.
    #[error(transparent)]
    Write(#[from] cnfkit_fs::Error),
    /// The pack is none of the formats a firmware pack comes in, or is damaged.
    #[error("{}: {reason}", pack.display())]
    Unreadable {
        /// The pack.
        pack: PathBuf,
        /// Why.
        reason: String,
    },
    /// The pack holds an entry that would land outside the library or is not a plain file: a
    /// `..` component, an absolute path, a link, a device. Nothing of the pack is imported.
    #[error("{}: entry {entry:?} {why}: nothing imported", pack.display())]
    Unsafe {
        /// The pack.
        pack: PathBuf,
        /// The entry's name, as the pack spells it.
        entry: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `.cop.sgn` whose signed header cannot be read or does not verify.
    #[error("{}: signed header: {source}", pack.display())]
    Signature {
        /// The pack.
        pack: PathBuf,
        /// What cnfkit-repack said.
        #[source]
        source: cnfkit_repack::Error,
    },
    /// The pack's manifests do not match its images (an image missing or of another size than
    /// the manifest announces), or it has no manifest at all. Nothing is imported.
    #[error("{}: {}: nothing imported", pack.display(), problems.join("; "))]
    Incomplete {
        /// The pack.
        pack: PathBuf,
        /// Each problem.
        problems: Vec<String>,
    },
    /// A load of the pack is already in the library with other content.
    #[error(
        "load {load} is already in the library with other files ({}): remove that folder to import it again",
        dir.display()
    )]
    Conflict {
        /// The load.
        load: String,
        /// Its folder in the library.
        dir: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
