//! # cnfkit-server
//!
//! A provisioning server for Cisco IP phones, built from the cnfkit crates: cnfkit-tftp's
//! driver moves the datagrams, and every request goes through one cnfkit-resolve
//! [`Resolver`](cnfkit_resolve::Resolver): the exact file, the same name in another letter case,
//! a per-device configuration generated from an inventory, a `.sgn` signed on the fly, a
//! rebuilt `XMLDefault.cnf.xml`, or "File not found" with the reason in the log.
//!
//! - [`ProvisioningHandler`]: the driver's handler (reads through the resolver, writes when
//!   enabled), with the phone registry of a [`Monitor`] (one log line per boot: [`log_boots`]).
//! - [`Site`]: a tree on disk with its inventory, device defaults and signer, loaded from files.
//! - [`ConfigSigner`]: signs configurations with a TFTP-role key, each payload once; the
//!   [`Presigner`] signs every signable file ahead of the phones.
//! - [`boot_over_tftp`]: a simulated phone booting against any TFTP server.
//! - [`demo`]: the embedded demo tree.
//! - [`stop_signal`] and [`raise_open_file_limit`]: what a server process does at start and
//!   at the end.
//!
//! ```no_run
//! use cnfkit_server::{ProvisioningHandler, Site, SiteOptions};
//! use cnfkit_tftp::driver::{Server, ServerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let site = Site::load(SiteOptions::new("/srv/tftp"))?;
//! let handler = ProvisioningHandler::new(site.resolver);
//! let server = Server::bind("0.0.0.0:69".parse()?, handler, ServerConfig::default()).await?;
//! server.run(std::future::pending::<()>(), std::time::Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! The default feature, `cli`, builds the `cnf-server` binary and turns on every listener. A
//! library user who wants only the handler takes `default-features = false` and adds what they
//! serve: `http` (HTTP on 6970, hyper), `https` (rustls), `s3` (replicas of an object store),
//! `admin` (dashboard, JSON API, Prometheus metrics, state file), `report` (the boot-storm page).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "cli")]
pub mod cli;
mod config_file;
pub mod demo;
#[cfg(feature = "http")]
mod drain;
mod error;
mod handler;
#[cfg(feature = "http")]
pub mod http;
pub mod media;
#[cfg(feature = "s3")]
pub mod mirror;
#[cfg(feature = "s3")]
mod mirror_list;
pub mod monitor;
mod phone;
pub mod plan;
mod presign;
mod privileges;
pub mod registry;
mod shutdown;
mod signing;
mod site;
mod source;
#[cfg(feature = "admin")]
pub mod state;
mod store_stats;
#[cfg(feature = "report")]
pub mod storm_report;
#[cfg(feature = "https")]
pub mod tls;
mod uploads;

pub use cnfkit_tftp::driver::{OpenFileLimit, open_file_limit, raise_open_file_limit};
pub use config_file::{FileArg, FlagKind, config_file_args};
pub use error::Error;
pub use handler::{HttpAnswer, ProvisioningHandler, Writes};
pub use monitor::{BootLine, Monitor, log_boots};
pub use phone::{PhoneBoot, PhoneClient, RequestTiming, StormSummary, boot_over_tftp, fetch_once};
pub use presign::{PresignPass, Presigner, presign};
pub use privileges::{RunsAs, runs_as_root};
pub use shutdown::{StopSignal, stop_on_signals, stop_signal};
pub use signing::{ConfigSigner, SignerStats, SigningBudget};
pub use site::{DefaultsNote, DefaultsSource, Site, SiteNote, SiteOptions, SiteWarning};
pub use source::{FileSink, OpenFile, Served, ServedBody};
pub use store_stats::MirrorStats;
pub use uploads::{UploadRefusal, UploadTarget, Uploads, is_provisioning_name};

/// The README's examples run as doctests, so the published README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
