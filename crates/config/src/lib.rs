//! # cnfkit-config
//!
//! Cisco IP phone configuration files.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod doc;
mod encoding;
mod error;
mod path;
mod sip;

pub use doc::{CnfDocument, Element, ParseOptions, Repair, RepairKind};
pub use encoding::{Encoding, EncodingSource};
pub use error::{Error, Location};
pub use path::ElementPath;
pub use sip::{SipCnf, SipCnfLine, SipCnfProxy, SipLayer, SipLayers, SipSettings};
