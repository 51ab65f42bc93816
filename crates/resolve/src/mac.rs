//! MAC addresses as they appear in phone file names.

use core::fmt;
use core::str::FromStr;

use crate::Error;

/// A phone's Ethernet MAC address, the key of every per-device file (`SEP<MAC>.cnf.xml`).
///
/// Phones vary the case of the hex digits (most upper, the 7902/7905/7912 family lower, an 8945
/// reports itself as `SEPe0d173e11d95`), so parsing accepts any case and [`Display`] writes the
/// upper-case form Cisco tools write.
///
/// ```
/// use cnfkit_resolve::Mac;
///
/// let mac: Mac = "00:11:22:aa:bb:cc".parse()?;
/// assert_eq!(mac.to_string(), "001122AABBCC");
/// assert_eq!(mac.to_lower_hex(), "001122aabbcc");
/// assert_eq!(Mac::from_hex(b"001122AaBbCc"), Some(mac));
/// # Ok::<(), cnfkit_resolve::Error>(())
/// ```
///
/// [`Display`]: fmt::Display
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Exactly 12 hex digits, any case, nothing else.
    #[must_use]
    pub fn from_hex(digits: &[u8]) -> Option<Self> {
        if digits.len() != 12 {
            return None;
        }
        let mut mac = [0u8; 6];
        for (byte, pair) in mac.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
        }
        Some(Self(mac))
    }

    /// The 12 lower-case hex digits (the 7902/7905/7912 file-name convention).
    #[must_use]
    pub fn to_lower_hex(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

const fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

impl FromStr for Mac {
    type Err = Error;

    /// Accepts `001122AABBCC`, `00:11:22:aa:bb:cc`, `00-11-22-AA-BB-CC` and `0011.22aa.bbcc`,
    /// and a `SEP` prefix (`SEP001122AABBCC`, as CUCM names devices).
    fn from_str(text: &str) -> Result<Self, Error> {
        let body = text.strip_prefix("SEP").or_else(|| text.strip_prefix("sep")).unwrap_or(text);
        let digits: Vec<u8> = body.bytes().filter(|b| !matches!(b, b':' | b'-' | b'.')).collect();
        Self::from_hex(&digits).ok_or_else(|| Error::BadMac { text: text.to_owned() })
    }
}
