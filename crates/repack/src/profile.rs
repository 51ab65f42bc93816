//! OpenSSL `enc` profiles, as Cisco multiplatform (SPA, MPP 78xx/88xx-3PCC) phones read
//! them: `Salted__`, an 8-byte salt, then AES-256-CBC with PKCS#7 padding; key and IV from
//! `EVP_BytesToKey` (one iteration) with MD5 (OpenSSL before 1.1.0, what Cisco tested and
//! what we write by default) or SHA-256 (OpenSSL 1.1.0 and later, `openssl enc` without
//! `-md`). A profile may be gzip-compressed before encryption.
//!
//! There is no integrity check in this format: a wrong password is detected from the
//! padding and from the plaintext's shape (text or gzip), never with certainty.

use std::fmt;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use md5::Md5;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Error;

/// The 8-byte magic that starts every salted `openssl enc` file.
pub const MAGIC: &[u8; 8] = b"Salted__";

/// The digest `EVP_BytesToKey` uses to turn the password into key and IV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyDerivation {
    /// `openssl enc -md md5`: OpenSSL 1.0 and earlier; what phones expect.
    Md5,
    /// `openssl enc -md sha256`: OpenSSL 1.1.0 and later by default.
    Sha256,
}

impl KeyDerivation {
    /// The `-md` name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha256 => "sha256",
        }
    }
}

impl std::str::FromStr for KeyDerivation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "md5" => Ok(Self::Md5),
            "sha256" | "sha-256" => Ok(Self::Sha256),
            _ => Err(format!("unknown digest {s:?} (md5 or sha256)")),
        }
    }
}

/// A profile password. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// Wraps the password bytes.
    #[must_use]
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The first line of a file (without its line end): how a password is kept out of the
    /// process list. The file's bytes are zeroized after reading.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let text = Zeroizing::new(
            std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?,
        );
        let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
        Ok(Self::new(line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// What the plaintext of a profile is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Text (XML or the flat `Name: value` form).
    None,
    /// gzip (`1f 8b`): the phone inflates it after decrypting. We keep it compressed;
    /// edit it after `gunzip`.
    Gzip,
}

/// A decrypted profile.
pub struct DecryptedProfile {
    /// The plaintext (compressed if [`DecryptedProfile::compression`] says so). Zeroized on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The salt from the header.
    pub salt: [u8; 8],
    /// The digest that gave a plausible plaintext.
    pub derivation: KeyDerivation,
    /// Whether the plaintext is gzip.
    pub compression: Compression,
}

impl fmt::Debug for DecryptedProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptedProfile")
            .field("len", &self.plaintext.len())
            .field("derivation", &self.derivation)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// `EVP_BytesToKey(AES-256-CBC, md, salt, password, count = 1)`: 32 key bytes, 16 IV bytes.
///
/// ```
/// use cnfkit_repack::profile::{KeyDerivation, Password, derive_key_iv};
/// // `openssl enc -aes-256-cbc -md md5 -S 0102030405060708 -k SecretPhrase1234 -P`
/// let (key, iv) = derive_key_iv(KeyDerivation::Md5, &Password::new("SecretPhrase1234"), &[1, 2, 3, 4, 5, 6, 7, 8]);
/// assert_eq!(cnfkit_repack::hex(&iv[..]), "04ca41f7b4e382da569224b0c61b445a");
/// assert_eq!(cnfkit_repack::hex(&key[..4]), "75618538");
/// ```
#[must_use]
pub fn derive_key_iv(
    md: KeyDerivation,
    password: &Password,
    salt: &[u8; 8],
) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 16]>) {
    fn run<D: Digest>(password: &[u8], salt: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64));
        let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
        while out.len() < 48 {
            let mut h = D::new();
            h.update(&prev[..]);
            h.update(password);
            h.update(salt);
            *prev = h.finalize().to_vec();
            out.extend_from_slice(&prev);
        }
        out
    }
    let material = match md {
        KeyDerivation::Md5 => run::<Md5>(&password.0, salt),
        KeyDerivation::Sha256 => run::<Sha256>(&password.0, salt),
    };
    let mut key = Zeroizing::new([0u8; 32]);
    let mut iv = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&material[..32]);
    iv.copy_from_slice(&material[32..48]);
    (key, iv)
}

/// Whether `data` starts like an OpenSSL salted file.
#[must_use]
pub fn is_profile(data: &[u8]) -> bool {
    data.len() >= 16 && data.starts_with(MAGIC)
}

/// Decrypts a profile, trying MD5 then SHA-256 key derivation and accepting a result only
/// when the padding is valid and the plaintext looks like a profile (gzip, or text without
/// control characters other than tab, CR, LF).
///
/// # Errors
/// [`Error::WrongFormat`] without the `Salted__` header or with a length that is not whole
/// blocks; [`Error::Decrypt`] ("wrong password or digest") when neither derivation yields
/// a plausible plaintext.
///
/// ```
/// use cnfkit_repack::profile::{decrypt, KeyDerivation, Password};
/// let file = std::fs::read("tests/data/tv1_sha256.cfg")?;
/// let p = decrypt(&file, &Password::new("SecretPhrase1234"))?;
/// assert_eq!(p.derivation, KeyDerivation::Sha256);
/// assert!(p.plaintext.starts_with(b"<flat-profile>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decrypt(data: &[u8], password: &Password) -> Result<DecryptedProfile, Error> {
    if !is_profile(data) {
        return Err(Error::WrongFormat(
            "not an OpenSSL salted profile: no \"Salted__\" header".into(),
        ));
    }
    let ct = &data[16..];
    if ct.is_empty() || !ct.len().is_multiple_of(16) {
        return Err(Error::WrongFormat(format!(
            "profile ciphertext is {} bytes, not a positive multiple of 16: the file is truncated or not AES",
            ct.len()
        )));
    }
    let mut salt = [0u8; 8];
    salt.copy_from_slice(&data[8..16]);
    for md in [KeyDerivation::Md5, KeyDerivation::Sha256] {
        let (key, iv) = derive_key_iv(md, password, &salt);
        let mut buf = Zeroizing::new(ct.to_vec());
        let Ok(plain) = cbc::Decryptor::<aes::Aes256>::new((&*key).into(), (&*iv).into())
            .decrypt_padded::<Pkcs7>(&mut buf)
        else {
            continue;
        };
        let len = plain.len();
        if let Some(compression) = plaintext_kind(&buf[..len]) {
            buf.truncate(len);
            return Ok(DecryptedProfile { plaintext: buf, salt, derivation: md, compression });
        }
    }
    Err(Error::Decrypt(
        "wrong password or digest: neither MD5 nor SHA-256 key derivation gives a valid profile"
            .into(),
    ))
}

/// Encrypts a profile like `openssl enc -e -aes-256-cbc -md <md> -k <password>`, with
/// `salt` or a fresh random one. The output always carries the `Salted__` header (OpenSSL
/// 3 omits it when `-S` is given; phones need it).
///
/// # Errors
/// [`Error::Random`].
pub fn encrypt(
    plaintext: &[u8],
    password: &Password,
    md: KeyDerivation,
    salt: Option<[u8; 8]>,
) -> Result<Vec<u8>, Error> {
    let salt = match salt {
        Some(s) => s,
        None => {
            let mut s = [0u8; 8];
            getrandom::fill(&mut s).map_err(|_| Error::Random)?;
            s
        }
    };
    let (key, iv) = derive_key_iv(md, password, &salt);
    // PKCS#7 always adds 1..=16 bytes; encrypt in place after the 16-byte header.
    let len = plaintext.len();
    let mut out = vec![0u8; 16 + len + 16 - len % 16];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&salt);
    out[16..16 + len].copy_from_slice(plaintext);
    cbc::Encryptor::<aes::Aes256>::new((&*key).into(), (&*iv).into())
        .encrypt_padded::<Pkcs7>(&mut out[16..], len)
        .map_err(|_| Error::Decrypt("internal: PKCS#7 buffer too small".into()))?;
    Ok(out)
}

/// What a decrypted plaintext is, `None` when it is neither a gzip stream nor text (then the
/// password or key derivation was wrong).
///
/// gzip: at least a header and trailer (18 bytes), magic `1f 8b`, method 8 (deflate), no
/// reserved flag bits; text: see below. The `profile` fuzz target found wrong keys passing a
/// bare `1f 8b` check; each further header rule divides that chance.
#[must_use]
pub fn plaintext_kind(b: &[u8]) -> Option<Compression> {
    if b.len() >= 18 && b[..3] == [0x1f, 0x8b, 8] && b[3] & 0xe0 == 0 {
        return Some(Compression::Gzip);
    }
    looks_like_text(b).then_some(Compression::None)
}

/// UTF-8 text with no control characters other than tab, CR and LF. Random bytes from a
/// wrong key pass this with negligible probability (a byte is printable ASCII 37 % of the
/// time, and high bytes must form valid UTF-8 sequences); accepting any high byte, as a
/// Latin-1 check would, lets 1 wrong key in ~10^4 through on short files, which the `profile`
/// fuzz target found.
fn looks_like_text(b: &[u8]) -> bool {
    std::str::from_utf8(b)
        .is_ok_and(|s| s.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n')))
}
