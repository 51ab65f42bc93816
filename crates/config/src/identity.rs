//! Who a phone is: its MAC (the key of every per-device file) and the call-control protocol of
//! its firmware. One definition for the whole workspace.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A phone's Ethernet MAC address, as in `SEP<MAC>.cnf.xml`.
///
/// Phones vary the case of the hex digits (most upper, the 7902/7905/7912 family lower, an 8945
/// reports itself as `SEPe0d173e11d95`), so parsing accepts any case and [`Display`] writes the
/// upper-case form Cisco tools write.
///
/// ```
/// use cnfkit_config::{Mac, MacCase};
/// let mac: Mac = "00:1b:54:ca:fe:01".parse()?;
/// assert_eq!(mac.to_string(), "001B54CAFE01");
/// assert_eq!(mac.sep_file_name(MacCase::Upper), "SEP001B54CAFE01.cnf.xml");
/// // The 7902/7905/7912 family asks for lower case.
/// assert_eq!(mac.sep_file_name(MacCase::Lower), "SEP001b54cafe01.cnf.xml");
/// assert_eq!(Mac::from_hex(b"001B54cAfE01"), Some(mac));
/// assert_eq!(Mac::parse("SEP001B54CAFE01")?, mac);
/// assert!(Mac::parse("00:1b:54").is_err());
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
///
/// [`Display`]: fmt::Display
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

/// Hex digit case for MAC addresses in file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MacCase {
    /// `SEP001B54CAFE01` (the common case).
    #[default]
    Upper,
    /// `SEP001b54cafe01` (7902/7905/7912).
    Lower,
}

impl Mac {
    /// Parses 12 hex digits in any case, optionally separated by `:`, `-` or `.`
    /// (`00:11:22:aa:bb:cc`, `00-11-22-AA-BB-CC`, `0011.22aa.bbcc`), with an optional `SEP`
    /// prefix (as CUCM names devices); surrounding white space is ignored.
    ///
    /// # Errors
    /// [`Error::InvalidMac`].
    pub fn parse(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        let body = t.strip_prefix("SEP").or_else(|| t.strip_prefix("sep")).unwrap_or(t);
        let digits: Vec<u8> = body.bytes().filter(|b| !matches!(b, b':' | b'-' | b'.')).collect();
        Self::from_hex(&digits).ok_or_else(|| Error::InvalidMac { value: text.to_owned() })
    }

    /// Exactly 12 hex digits, any case, nothing else (the MAC inside a requested file name).
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

    /// The 12 hex digits in the given case.
    #[must_use]
    pub fn hex(&self, case: MacCase) -> String {
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(12), |mut out, b| {
            let _ = match case {
                MacCase::Upper => write!(out, "{b:02X}"),
                MacCase::Lower => write!(out, "{b:02x}"),
            };
            out
        })
    }

    /// The 12 lower-case hex digits (the 7902/7905/7912 file-name convention).
    #[must_use]
    pub fn to_lower_hex(&self) -> String {
        self.hex(MacCase::Lower)
    }

    /// `SEP<MAC>.cnf.xml`.
    #[must_use]
    pub fn sep_file_name(&self, case: MacCase) -> String {
        format!("SEP{}.cnf.xml", self.hex(case))
    }

    /// `SIP<MAC>.cnf` (7940/7960 SIP firmware).
    #[must_use]
    pub fn sip_file_name(&self, case: MacCase) -> String {
        format!("SIP{}.cnf", self.hex(case))
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

    /// As [`Mac::parse`].
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

/// The call-control protocol of a phone's firmware.
///
/// ```
/// use cnfkit_config::Protocol;
/// assert_eq!("sip".parse::<Protocol>()?, Protocol::Sip);
/// assert_eq!(Protocol::Sccp.to_string(), "SCCP");
/// assert!("h323".parse::<Protocol>().is_err());
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// SCCP (Skinny).
    #[default]
    Sccp,
    /// SIP.
    Sip,
}

impl Protocol {
    /// `SCCP` or `SIP`, as configuration files and inventories write it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sccp => "SCCP",
            Self::Sip => "SIP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = Error;

    /// `SCCP` or `SIP`, any case.
    fn from_str(text: &str) -> Result<Self, Error> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("sccp") => Ok(Self::Sccp),
            t if t.eq_ignore_ascii_case("sip") => Ok(Self::Sip),
            _ => Err(Error::InvalidValue {
                field: "protocol",
                value: text.to_owned(),
                reason: "SCCP or SIP",
            }),
        }
    }
}
