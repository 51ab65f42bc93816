//! # cnfkit-config
//!
//! Cisco IP phone configuration files.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod build;
mod codes;
mod doc;
mod encoding;
mod error;
mod path;
mod sip;
mod validate;
mod views;

pub use build::{
    CallManagerSpec, DefaultBuilder, LineRecord, Mac, MacCase, PhoneRecord, Protocol, build_device,
};
pub use codes::{CapfAuthMode, DeviceSecurityMode, DeviceType, FeatureId, TransportLayerProtocol};
pub use doc::{CnfDocument, Element, ParseOptions, Repair, RepairKind};
pub use encoding::{Encoding, EncodingSource};
pub use error::{Error, Location};
pub use path::ElementPath;
pub use sip::{SipCnf, SipCnfLine, SipCnfProxy, SipLayer, SipLayers, SipSettings};
pub use validate::{Warning, WarningKind};
pub use views::{
    CallManager, CallManagerGroup, DateTimeSetting, DevicePool, Firmware, GroupLocation, LoadEntry,
    LoadForm, NetworkLocale, Ntp, Ports, RootKind, Security, SipLine, SipProfile, SrstAddress,
    SrstInfo, Summary, TvsMember, UserLocale,
};
