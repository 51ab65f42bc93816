//! # cnfkit-config
//!
//! Cisco IP phone configuration files: `XMLDefault.cnf.xml`, `SEP<MAC>.cnf.xml` and the legacy
//! SIP text files `SIPDefault.cnf` / `SIP<MAC>.cnf`, read, checked, edited and generated without
//! losing a byte.
//!
//! - [`CnfDocument`] parses what phones and generators really write (no declaration, comments
//!   before the root, CRLF, tabs and double spaces inside tags, undeclared `xsi:` prefixes) over
//!   quick-xml's plain reader, and keeps the input bytes as the source of truth:
//!   [`CnfDocument::as_bytes`] is the input until something is edited, and edits
//!   ([`CnfDocument::set_text`], [`CnfDocument::set_attribute`],
//!   [`CnfDocument::append_element`], [`CnfDocument::remove_element`]...) patch the bytes in
//!   place. Not-well-formed input is an [`Error`] with a [`Location`] (`line:column`);
//!   [`ParseOptions::lenient`] recovers and lists each [`Repair`]. No DTD, no entity beyond the
//!   five XML ones, bounded nesting. UTF-8 and ISO-8859-1 ([`Encoding`]).
//! - Typed views read through the document: [`CnfDocument::call_manager_group`] (wherever it
//!   sits), [`CnfDocument::firmware`] (every `loadInformation` form, lookup by [`DeviceType`] or
//!   model), [`CnfDocument::device_pool`], [`CnfDocument::vendor_config`],
//!   [`CnfDocument::security`], [`CnfDocument::sip_profile`], all at once in
//!   [`CnfDocument::summary`]; [`CnfDocument::validate`] lists [`Warning`]s a user can act on.
//! - Builders: [`DefaultBuilder`] for `XMLDefault.cnf.xml`, [`build_device`] for
//!   `SEP<MAC>.cnf.xml` (SCCP or SIP) from a [`PhoneRecord`].
//! - [`SipCnf`] for the legacy SIP text format, with [`SipLayers`] (device file over default).
//!
//! ```
//! use cnfkit_config::{CnfDocument, DeviceType, WarningKind};
//!
//! let src = b"<!-- lab -->\r\n<Default>\r\n  <callManagerGroup><members><member  priority=\"0\"><callManager>\r\n    <ports><ethernetPhonePort>2000</ethernetPhonePort></ports>\r\n    <processNodeName>10.0.0.1</processNodeName>\r\n  </callManager></member></members></callManagerGroup>\r\n  <loadInformation434  model=\"Cisco 7942\">SCCP42.9-4-2SR1-1S</loadInformation434>\r\n</Default>";
//! let mut doc = CnfDocument::parse(src)?;
//! assert_eq!(doc.as_bytes(), src);
//! assert_eq!(doc.firmware().for_model("CP-7942G").unwrap().load, "SCCP42.9-4-2SR1-1S");
//!
//! doc.set_text("callManagerGroup/members/member/callManager/processNodeName", "pbx.lab")?;
//! doc.set_load(DeviceType::CISCO_7942, "SCCP42.9-4-2SR4-3S")?;
//! let group = doc.call_manager_group().unwrap();
//! assert_eq!(group.members[0].process_node_name.as_deref(), Some("pbx.lab"));
//! assert!(doc.validate().is_empty());
//! // Everything not edited is still there, byte for byte.
//! assert!(doc.as_bytes().starts_with(b"<!-- lab -->\r\n<Default>\r\n  <callManagerGroup>"));
//! # Ok::<(), cnfkit_config::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod build;
mod codes;
mod doc;
mod encoding;
mod error;
mod family;
mod file;
mod identity;
mod path;
mod sip;
mod validate;
mod views;

pub use build::{CallManagerSpec, DefaultBuilder, LineRecord, PhoneRecord, build_device};
pub use codes::{CapfAuthMode, DeviceSecurityMode, DeviceType, FeatureId, TransportLayerProtocol};
pub use doc::{CnfDocument, Element, ParseOptions, Repair, RepairKind};
pub use encoding::{Encoding, EncodingSource};
pub use error::{Error, IoError, Location};
pub use family::{ConfigStyle, Model, ModelFamily, ModelTable, TrustLists};
pub use file::{Assignment, ConfigFile, binary_byte};
pub use identity::{Mac, MacCase, Protocol};
pub use path::ElementPath;
pub use sip::{SipCnf, SipCnfLine, SipCnfProxy, SipLayer, SipLayers, SipSettings};
pub use validate::{Warning, WarningKind};
pub use views::{
    CallManager, CallManagerGroup, DateTimeSetting, DevicePool, Firmware, GroupLocation, LoadEntry,
    LoadForm, NetworkLocale, Ntp, Ports, RootKind, Security, SipLine, SipProfile, SrstAddress,
    SrstInfo, Summary, TvsMember, UserLocale,
};

/// The README's examples run as doctests, so the published README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
