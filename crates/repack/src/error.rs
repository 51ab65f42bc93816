//! The crate's one error type.

use std::io;

/// Everything that can go wrong reading, verifying, decrypting, building or writing a file.
///
/// Messages say what is wrong and where (tag and byte offset for a bad TLV), and never
/// contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes end before a TLV element is complete.
    #[error("truncated {what} at offset {offset}: need {needed} more bytes")]
    Truncated {
        /// What was being read (`"tag 12 value"`, `"record length"`, ...).
        what: &'static str,
        /// Byte offset in the file where the element starts.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A TLV element is malformed (wrong length for its tag, a child overrunning its
    /// container, header length inconsistent with the elements).
    #[error("bad tag {tag} at offset {offset}: {reason}")]
    BadTlv {
        /// The element's tag.
        tag: u8,
        /// Byte offset of the element's tag byte.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file is not in the format the operation needs (for example a `.tlv` given to
    /// `decrypt`), or its header version is not one this crate knows.
    #[error("{0}")]
    WrongFormat(String),
    /// A signed header of a version this crate does not know: signing it again could drop what
    /// it does not understand.
    #[error("unknown signed header version {major}.{minor}")]
    UnknownHeaderVersion {
        /// The major version.
        major: u8,
        /// The minor version.
        minor: u8,
    },
    /// A header field the operation needs is absent.
    #[error("missing tag {tag} ({name}) in the header")]
    MissingField {
        /// The tag number.
        tag: u8,
        /// Its name in the format description.
        name: &'static str,
    },
    /// The header names a digest this crate cannot compute.
    #[error("unsupported digest code {0} (known: 1 SHA-1, 2 SHA-256, 3 SHA-512)")]
    UnsupportedDigest(u8),
    /// The RSA key size has no modulus index in the header format (512, 1024, 2048, 4096 bits).
    #[error("unsupported RSA key size {0} bits (the header can describe 512, 1024, 2048 or 4096)")]
    UnsupportedKeySize(usize),
    /// The signature does not verify with the given key.
    #[error("signature does not verify with {signer}")]
    BadSignature {
        /// The certificate or key that was tried.
        signer: String,
    },
    /// No certificate in the trust list can verify this file.
    #[error("{0}")]
    Untrusted(String),
    /// PEM or DER input could not be read as a key or certificate.
    #[error("cannot read {what}: {reason}")]
    BadKey {
        /// `"private key"`, `"certificate"`, ...
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// Decryption produced something that is not the plaintext: wrong key or password, or
    /// a damaged file. CBC has no integrity, so this is detected from the padding and the
    /// plaintext digest or shape.
    #[error("{0}")]
    Decrypt(String),
    /// A key or certificate decoder refused its input (PKCS#1, PKCS#8, X.509 DER).
    #[error("cannot read {what}: {source}")]
    Decode {
        /// `"private key"`, `"public key"`, `"certificate"`.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The AES key of an encrypted config could not be unwrapped with the phone's key (a
    /// ciphertext of the wrong size for the key, typically).
    #[error("cannot unwrap the AES key: {0}")]
    KeyUnwrap(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An RSA operation failed for a reason other than a bad signature.
    #[error("rsa: {0}")]
    Rsa(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An edit could not be applied to the configuration (or the plaintext is not cnf.xml).
    #[error("cannot edit the configuration: {0}")]
    Edit(#[source] cnfkit_config::Error),
    /// Opening the file needs a secret the caller did not give.
    #[error("{0}")]
    MissingSecret(Secret),
    /// A gzip-compressed profile cannot be edited as text.
    #[error("the profile is gzip-compressed: decrypt it, gunzip, edit, gzip, encrypt")]
    CompressedProfile,
    /// A file that is not whole ([`check_whole`](crate::check_whole)): cut short, altered after
    /// it was signed, or a payload that is not well-formed XML.
    #[error("the file is damaged (cut short or altered): {0}")]
    Damaged(#[source] Box<Error>),
    /// A trust-list role that is neither a known name nor a number.
    #[error(
        "unknown role {0:?} (SAST, CCM, CCM+TFTP, TFTP, CAPF, SRST, APP-SERVER, TVS or a number)"
    )]
    UnknownRole(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// A file could not be read or written. The path is the one the caller gave; the
    /// original file is untouched when this is returned from a write.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path the caller asked for.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn bad_tlv(tag: u8, offset: usize, reason: &'static str) -> Self {
        Self::BadTlv { tag, offset, reason }
    }
}

/// A secret [`Error::MissingSecret`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Secret {
    /// The phone's private key, for an encrypted config (`.enc.sgn`).
    PhoneKey,
    /// The password of an encrypted profile.
    Password,
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PhoneKey => "an encrypted config needs the phone's private key",
            Self::Password => "an encrypted profile needs its password",
        })
    }
}
