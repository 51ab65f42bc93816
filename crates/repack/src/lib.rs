//! Cisco IP phone file envelopes, and repacking a config inside them.
//!
//! - [`SignedFile`]: `*.sgn` and `*.sha512` (header 1.0), and the header shared by the
//!   other two; parse, verify, sign, strip. Parsing keeps every element, so an untouched
//!   file writes back byte for byte.
//! - [`TrustList`]: `ITLFile.tlv`, `CTLFile.tlv`, `ITLSEP<MAC>.tlv` (header 1.2): records
//!   with roles, verification against the SAST record, building.
//! - [`EncryptedConfig`]: `SEP<MAC>.cnf.xml.enc.sgn` (header 2.0): AES-128-CBC with `\r`
//!   padding, the key wrapped to the phone's certificate; and [`companion_stub`], the
//!   signed `SEP<MAC>.cnf.xml.sgn` that points the phone at it.
//! - [`profile`]: OpenSSL `Salted__` AES-256-CBC profiles of multiplatform phones.
//! - [`Repack`]: open any of them, edit the config through `cnfkit-config`, and put it
//!   back with the same cipher and key, signed again. The crate does no IO of its own: write
//!   the result with `cnfkit-fs`, which never leaves a half-written file and keeps the
//!   previous one as `.old`.
//!
//! The byte layouts follow the community tools that drive real phones (certutils) and are
//! checked against `openssl` in the tests. SHA-1, MD5, RSA PKCS#1 v1.5 and unauthenticated
//! CBC are what the phones speak; they are here for interoperability, not recommended for
//! anything new.
//!
//! ```
//! use cnfkit_repack::{Certificate, SignedFile, TrustList};
//! let itl = TrustList::parse(&std::fs::read("tests/data/ITLFile.tlv")?)?;
//! let config = SignedFile::parse(&std::fs::read("tests/data/SEP001122334455.cnf.xml.sgn")?)?;
//! // What a phone holding this ITL does with the config: find the TFTP signer, verify.
//! let signer = itl.verify_file(&config)?;
//! assert_eq!(signer.subject(), "CN=TEST-TFTP,O=TEST,OU=TEST");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod digest;
mod encrypted;
mod error;
mod inspect;
mod keys;
pub mod profile;
mod repack;
mod signed;
pub mod tlv;
mod trust;

pub use digest::{HashAlgorithm, hex, md5_hex, unix_now};

/// The largest payload read as cnf.xml. Phone configurations are kilobytes; a larger payload
/// (firmware, an archive) is not parsed, so that a 200 MB input costs its own size in memory
/// a few times over, not a document tree several times larger.
pub const MAX_CONFIG_BYTES: usize = 16 << 20;
pub use encrypted::{
    ContentKey, Decrypted, EncryptedConfig, SealedConfig, companion_stub, enc_tag,
    key_matches_certificate,
};
pub use error::{Error, Secret};
pub use inspect::{
    CnfXmlReport, EncryptionReport, HeaderReport, Inspection, PayloadReport, PlaintextDigest,
    ProfileReport, RecordReport, TrustListReport, inspect,
};
pub use keys::{Certificate, PrivateKey, PublicKey};
pub use repack::{Format, Repack, Secrets, detect, is_config_kind};
pub use signed::{
    HeaderKind, SignedFile, SignerInfo, Signing, check_whole, sign_or_wrap, signed_name, tag,
    unsigned_name,
};
pub use trust::{Record, Role, TrustList, Verified, Verifier, record_tag, verify};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
