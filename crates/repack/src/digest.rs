//! Digest codes used in the headers, and the MD5 sums phones and admins compare.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

/// The header's hash-algorithm code (tag 8 for signatures, tag 26 for the encrypted
/// plaintext digest).
///
/// Codes: 1 SHA-1, 2 SHA-256, 3 SHA-512. Code 4 was SHA-512 in the first open-source tools
/// (certutils before April 2021) and is read as SHA-512; [`HashAlgorithm::from_code`] says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// Code 1: what 79xx-era phones and CUCM write by default.
    Sha1,
    /// Code 2.
    Sha256,
    /// Code 3 (and legacy 4).
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm for a header code, and whether the code is the legacy 4.
    #[must_use]
    pub fn from_code(code: u8) -> Option<(Self, bool)> {
        match code {
            1 => Some((Self::Sha1, false)),
            2 => Some((Self::Sha256, false)),
            3 => Some((Self::Sha512, false)),
            4 => Some((Self::Sha512, true)),
            _ => None,
        }
    }

    /// The code written for this algorithm.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Sha1 => 1,
            Self::Sha256 => 2,
            Self::Sha512 => 3,
        }
    }

    /// Lower-case name, as `openssl dgst` spells it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The digest of `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        self.digest_parts(&[data])
    }

    /// The digest of `parts` one after the other, without joining them first (a signed
    /// message is a small header and a payload that may be large).
    #[must_use]
    pub fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for part in parts {
                d.update(part);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }
}

impl std::str::FromStr for HashAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            _ => Err(format!("unknown digest {s:?} (sha1, sha256 or sha512)")),
        }
    }
}

/// MD5 of `data` as 32 lower-case hex digits, as `md5sum` and `openssl md5` print it.
///
/// MD5 is broken for security; it is here because phones and admins compare these sums
/// (`certHash`, file checksums), not to protect anything.
///
/// ```
/// assert_eq!(cnfkit_repack::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
/// ```
#[must_use]
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// Lower-case hex of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Now, in the Unix seconds signed headers carry (0 before 1970, `u32::MAX` after 2106).
#[must_use]
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}
