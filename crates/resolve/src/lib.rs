//! # cnfkit-resolve
//!
//! The logic of a Cisco IP phone's boot over TFTP, as data and pure functions (no IO):
//!
//! - [`Recognised::parse`]: what a requested name is (`SEP<MAC>.cnf.xml.sgn`, `CTLSEP<MAC>.tlv`,
//!   `XMLDefault.cnf.xml`, `termNN.default.loads`, an image...), with the MAC in any case;
//! - [`SafePath`]: a requested name normalised to a path that cannot leave the served tree;
//! - [`LoadsManifest`]: the images a firmware manifest needs, signed header skipped;
//! - [`boot_requests`]: the ordered requests a phone of a given model, protocol and security
//!   makes, and what a miss on each means, from a [`ModelTable`] a user can extend;
//! - [`firmware_decision`]: upgrade, downgrade, or blocked (the 8.5(2) signature step);
//! - [`BootSimulation`]: a phone's boot, request by request (sans-IO), to the configuration it
//!   uses, its call managers, its firmware action, or why it is stuck;
//! - [`Resolver`]: the server's answer to a requested name over a [`Directory`] (exact, other
//!   letter case, generated from an inventory, signed on the fly, default rebuilt, not found).
//!
//! The only IO is the optional `fs` feature's `FsDirectory`, a confined directory tree.
//!
//! ```
//! use cnfkit_resolve::{FileKind, Recognised, SafePath};
//!
//! // A 7942 asks for a locale jar with a leading slash; the server must find it in the root.
//! let path = SafePath::new(b"/mk-sip.jar")?;
//! assert_eq!(path.as_str(), "mk-sip.jar");
//! assert_eq!(Recognised::parse(path.as_str()).kind, FileKind::Other);
//!
//! // A miss on a trust list is normal traffic, not an incident.
//! assert!(Recognised::parse("CTLSEP001122AABBCC.tlv").kind.miss_is_normal());
//! # Ok::<(), cnfkit_resolve::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod boot;
mod firmware;
#[cfg(feature = "fs")]
mod fs;
mod inventory;
mod loads;
mod name;
mod path;
mod resolver;
mod rollout;
mod simulate;
mod transport;

pub use boot::{OnMiss, PhoneSetup, PlannedRequest, Purpose, SecurityMode, boot_requests};
/// The workspace's one `Mac`, `Protocol` and model table live in cnfkit-config.
pub use cnfkit_config::{ConfigStyle, Mac, Model, ModelFamily, ModelTable, Protocol, TrustLists};
pub use firmware::{FirmwareDecision, LoadName, LoadVersion, firmware_decision};
#[cfg(feature = "fs")]
pub use fs::{CACHED_FILE_MAX, Contents, FsDirectory, LIBRARY_PREFIX, TreeObserver};
pub use inventory::{DeviceDefaults, Inventory, InventoryGenerator, RowProblem};
pub use loads::{LoadsManifest, ManifestImage};
pub use name::{FileKind, Protection, Recognised};
pub use path::{MAX_PATH_LEN, PathRefusal, SafePath};
pub use resolver::{
    Answer, AnswerKind, ConfigGenerator, Directory, Failure, FileVersion, Found, Made,
    MemoryDirectory, Resolver, SignError, Signer, TreeDerived,
};
pub use rollout::{Rollout, RolloutStatus, Rollouts, Settled};
pub use simulate::{BootReport, BootSimulation, ConfigUsed, Fetch, RequestRecord, RequestResult};
pub use transport::Transport;

/// What went wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A MAC, protocol or configuration value cnfkit-config refused.
    #[error(transparent)]
    Config(#[from] cnfkit_config::Error),
    /// A requested name that could leave the served tree, or is not a file name at all.
    #[error("requested name refused: {reason}")]
    PathRefused {
        /// Why.
        reason: PathRefusal,
    },
    /// A model no family in the table has.
    #[error("unknown phone model {model:?}: add its family to the model table")]
    UnknownModel {
        /// The model asked about.
        model: String,
    },
    /// A model whose family has no firmware for the requested protocol.
    #[error("phone model {model:?} has no firmware for that protocol")]
    UnsupportedProtocol {
        /// The model asked about.
        model: String,
    },
    /// An inventory file with bad rows: every problem, with its line.
    #[error("bad inventory: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BadInventory {
        /// The problems, in file order.
        problems: Vec<RowProblem>,
    },
    /// A device defaults file that cannot be used.
    #[error("bad device defaults: {0}")]
    BadDefaults(#[source] DefaultsProblem),
    /// A firmware manifest that cannot be read.
    #[error("bad .loads manifest: {0}")]
    BadManifest(#[source] ManifestProblem),
}

/// What is wrong with device defaults ([`Error::BadDefaults`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefaultsProblem {
    /// The TOML does not parse or does not have the expected shape (the message has the line
    /// and column).
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// A `loads` key that is neither a device type number nor a known model.
    #[error("loads key {0:?} is neither a device type number nor a known model")]
    UnknownLoadKey(String),
    /// The configuration builder refused a value (a host over 50 characters...).
    #[error(transparent)]
    Build(cnfkit_config::Error),
    /// No call manager: phones given the default configuration would have nothing to register to.
    #[error("no call manager (callManagerGroup/members)")]
    NoCallManager,
}

/// What is wrong with a `.loads` manifest ([`Error::BadManifest`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestProblem {
    /// The signed header claims more bytes than the file has.
    #[error("signed header says {header} bytes, file has {file}")]
    HeaderTooLong {
        /// The header length the header claims.
        header: usize,
        /// The file's length.
        file: usize,
    },
    /// The text after the header is not UTF-8.
    #[error("text is not UTF-8 at byte {0}")]
    NotUtf8(usize),
}

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
