//! The oracles behind cnfkit's fuzz targets.
//!
//! Each function takes the fuzzer's bytes and panics when a property fails. The cargo-fuzz
//! targets in `fuzz/` are one-line wrappers around these functions, and `tests/corpus.rs` replays
//! every committed seed and regression input through them under plain `cargo test` on stable, so
//! CI exercises the properties without the fuzzer.
#![forbid(unsafe_code)]

mod cnf_xml;
mod config_file;
mod enc_sgn;
mod endpoint;
mod engine;
mod firmware_pack;
mod netascii;
mod options;
mod packet;
mod profile;
mod resolve;
mod sgn;
mod sip_cnf;
mod tlv;

pub use cnf_xml::cnf_xml;
pub use config_file::config_file;
pub use enc_sgn::enc_sgn;
pub use endpoint::endpoint;
pub use engine::engine;
pub use firmware_pack::firmware_pack;
pub use netascii::netascii;
pub use options::options;
pub use packet::packet;
pub use profile::profile;
pub use resolve::resolve_names;
pub use sgn::sgn;
pub use sip_cnf::sip_cnf;
pub use tlv::tlv;
