//! The server crate's one error type.

use std::path::PathBuf;

/// What went wrong setting up or running a provisioning server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file the setup names could not be read, or the tree could not be opened.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An inventory, device defaults, a model or a boot plan was refused.
    #[error(transparent)]
    Resolve(#[from] cnfkit_resolve::Error),
    /// A configuration could not be built or read.
    #[error(transparent)]
    Config(#[from] cnfkit_config::Error),
    /// The signing key or certificate was refused.
    #[error("signing: {0}")]
    Signing(#[from] cnfkit_repack::Error),
    /// A TLS certificate or key that cannot be used (none in the file, a key that does not go
    /// with the certificate).
    #[error("{}: {reason}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What rustls or the PEM reader said.
        reason: String,
    },
    /// The admin listener cannot start.
    #[cfg(feature = "admin")]
    #[error(transparent)]
    Admin(Box<crate::admin::AdminError>),
    /// The firmware library cannot be read.
    #[error("firmware library: {0}")]
    Firmware(#[from] cnfkit_firmware::Error),
    /// A file could not be written (atomically, through cnfkit-fs).
    #[error(transparent)]
    Write(#[from] cnfkit_fs::Error),
    /// An object-store source that cannot be used (a URL of another kind, no bucket, a
    /// configuration object_store refuses).
    #[error("{source_url}: {reason}")]
    Source {
        /// The source as given.
        source_url: String,
        /// Why.
        reason: String,
    },
    /// A request to the object store failed (after its retries).
    #[cfg(feature = "s3")]
    #[error("{source_url}: {source}")]
    Store {
        /// The source as given.
        source_url: String,
        /// What object_store said.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A setting of the `cnf-server` program that cannot be used, or a listener that cannot
    /// start: the message names the flag or the address, and what to do.
    #[error("{0}")]
    Cli(String),
    /// A state file the server will not use (`StateFile::prepare` of the `admin` feature):
    /// a symbolic link, a read-only file, a file that is not the registry's.
    #[error("{}: {reason}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The process cannot run as the unprivileged user it was told to
    /// ([`RunsAs`](crate::RunsAs)).
    #[error("--user {user}: {reason}")]
    Privileges {
        /// The user as given.
        user: String,
        /// Why.
        reason: String,
    },
    /// A configuration file that cannot be used ([`config_file_args`](crate::config_file_args)):
    /// its line and key, and why.
    #[error("{}, line {line}{}: {reason}", path.display(), key.as_ref().map(|k| format!(", `{k}`")).unwrap_or_default())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The key, when the problem is one key's.
        key: Option<String>,
        /// Why.
        reason: String,
    },
    /// An upload area that cannot be used ([`Uploads`](crate::Uploads)).
    #[error("{}{reason}", area_label(area))]
    Uploads {
        /// The directory or pattern as given.
        area: String,
        /// Why.
        reason: String,
    },
    /// A file named in the setup could not be used (which file, and why).
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        #[source]
        source: Box<Error>,
    },
}

/// How [`Error::Uploads`] names its area: the one given, or none at all.
fn area_label(area: &str) -> String {
    if area.is_empty() { "upload areas: ".to_owned() } else { format!("upload area {area:?}: ") }
}

impl Error {
    /// Wraps an error about the content of `path`, so the message names the file.
    pub(crate) fn in_file(path: &std::path::Path, source: impl Into<Self>) -> Self {
        Self::InFile { path: path.to_owned(), source: Box::new(source.into()) }
    }
}
