//! Recognising what a phone asked for from the name it asked for.

use crate::Mac;

/// How a configuration file is protected, read from its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protection {
    /// The plain file (`.cnf.xml`).
    Plain,
    /// Signed (`.sgn`): asked for once the phone holds a trust list.
    Signed,
    /// Encrypted and signed (`.enc.sgn`): encrypted-configuration mode.
    EncryptedSigned,
}

/// What a requested file is, in the phone's boot sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// `SEP<MAC>.cnf.xml[.sgn|.enc.sgn]`: the phone's own XML configuration.
    DeviceConfig(Protection),
    /// `SIP<MAC>.cnf`: a 7940/7960 SIP phone's own configuration (flat text).
    SipDeviceConfig,
    /// `CTLSEP<MAC>.tlv`: the phone's own certificate trust list.
    DeviceCtl,
    /// `ITLSEP<MAC>.tlv`: the phone's own initial trust list.
    DeviceItl,
    /// `XMLDefault.cnf.xml[.sgn]`: the default configuration, used when the phone's own is missing.
    XmlDefault(Protection),
    /// `SIPDefault.cnf`: the 7940/7960 SIP default configuration.
    SipDefault,
    /// `SEDDefault.cnf`: asked for by 7902/7905/7912 after XMLDefault.
    SedDefault,
    /// `ITLFile.tlv`: the cluster's initial trust list.
    ItlFile,
    /// `CTLFile.tlv`: the cluster's certificate trust list.
    CtlFile,
    /// `OS79XX.TXT`: the 7940/7960 universal application loader's image pointer.
    Os79xx,
    /// `termNN.default.loads`: the manifest a factory-defaulted phone of family `NN` asks for.
    TermDefaultLoads {
        /// The two-digit model family (06, 11, 41, 42, 45, 61, 62, 65...).
        family: u8,
    },
    /// `<load>.loads`: a firmware manifest named by `loadInformation`.
    Loads,
    /// A firmware image (`.sbn`, `.sb2`, `.bin`, `.zz`, `.zz.sgn`).
    FirmwareImage,
    /// Anything else (locale jars, ring lists, dial plans, desktops...).
    Other,
}

impl FileKind {
    /// Whether a miss on this file is normal in a boot sequence (trust lists on a non-secure
    /// site): answer "File not found" and log it at debug, not as a problem.
    #[must_use]
    pub const fn miss_is_normal(self) -> bool {
        matches!(
            self,
            Self::DeviceCtl
                | Self::DeviceItl
                | Self::ItlFile
                | Self::CtlFile
                | Self::Os79xx
                | Self::SedDefault
                | Self::DeviceConfig(_)
                | Self::SipDeviceConfig
        )
    }
}

/// A recognised request: the kind of file, and the MAC when the name carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recognised {
    /// What the file is.
    pub kind: FileKind,
    /// The MAC in a per-device name.
    pub mac: Option<Mac>,
}

impl Recognised {
    /// Recognises a requested name.
    ///
    /// Tolerates a leading `/` and `\` separators (only the last component counts), matches the
    /// MAC in any case and the fixed names ignoring case (TFTP servers on Windows and dnsmasq's
    /// `--tftp-lowercase` make case unreliable).
    ///
    /// ```
    /// use cnfkit_resolve::{FileKind, Mac, Protection, Recognised};
    ///
    /// let r = Recognised::parse("/SEP001122aabbcc.cnf.xml.sgn");
    /// assert_eq!(r.kind, FileKind::DeviceConfig(Protection::Signed));
    /// assert_eq!(r.mac, Some("001122AABBCC".parse()?));
    /// assert_eq!(Recognised::parse("term42.default.loads").kind, FileKind::TermDefaultLoads { family: 42 });
    /// # Ok::<(), cnfkit_resolve::Error>(())
    /// ```
    #[must_use]
    pub fn parse(requested: &str) -> Self {
        let name = requested.rsplit(['/', '\\']).next().unwrap_or(requested);
        // Lowered on the stack: every miss of a boot storm comes through here.
        let mut buf = [0u8; 64];
        let owned;
        let lower: &str = match buf.get_mut(..name.len()) {
            Some(bytes) => {
                bytes.copy_from_slice(name.as_bytes());
                bytes.make_ascii_lowercase();
                // ASCII lowering keeps UTF-8 valid, so this is never the fallback.
                std::str::from_utf8(bytes).unwrap_or(name)
            }
            None => {
                owned = name.to_ascii_lowercase();
                &owned
            }
        };
        let fixed = |kind| Self { kind, mac: None };
        match lower {
            "xmldefault.cnf.xml" => return fixed(FileKind::XmlDefault(Protection::Plain)),
            "xmldefault.cnf.xml.sgn" => return fixed(FileKind::XmlDefault(Protection::Signed)),
            "sipdefault.cnf" => return fixed(FileKind::SipDefault),
            "seddefault.cnf" => return fixed(FileKind::SedDefault),
            "itlfile.tlv" => return fixed(FileKind::ItlFile),
            "ctlfile.tlv" => return fixed(FileKind::CtlFile),
            "os79xx.txt" => return fixed(FileKind::Os79xx),
            _ => {}
        }
        if let Some(recognised) = Self::per_device(name, lower) {
            return recognised;
        }
        if let Some(family) = lower
            .strip_prefix("term")
            .and_then(|rest| rest.strip_suffix(".default.loads"))
            .filter(|nn| nn.len() == 2)
            .and_then(|nn| nn.parse().ok())
        {
            return fixed(FileKind::TermDefaultLoads { family });
        }
        let image_suffixes = [".sbn", ".sb2", ".bin", ".zz", ".zz.sgn"];
        let kind = if lower.ends_with(".loads") {
            FileKind::Loads
        } else if image_suffixes.iter().any(|s| lower.ends_with(s)) {
            FileKind::FirmwareImage
        } else {
            FileKind::Other
        };
        fixed(kind)
    }

    /// `(CTL|ITL)?SEP<MAC>...` and `SIP<MAC>.cnf`.
    fn per_device(name: &str, lower: &str) -> Option<Self> {
        let (prefix_len, suffixes): (usize, &[(&str, FileKind)]) = if lower.starts_with("ctlsep") {
            (6, &[(".tlv", FileKind::DeviceCtl)])
        } else if lower.starts_with("itlsep") {
            (6, &[(".tlv", FileKind::DeviceItl)])
        } else if lower.starts_with("sep") {
            (
                3,
                &[
                    (".cnf.xml", FileKind::DeviceConfig(Protection::Plain)),
                    (".cnf.xml.sgn", FileKind::DeviceConfig(Protection::Signed)),
                    (".cnf.xml.enc.sgn", FileKind::DeviceConfig(Protection::EncryptedSigned)),
                ],
            )
        } else if lower.starts_with("sip") {
            (3, &[(".cnf", FileKind::SipDeviceConfig)])
        } else {
            return None;
        };
        let mac = Mac::from_hex(name.as_bytes().get(prefix_len..prefix_len + 12)?)?;
        let suffix = &lower[prefix_len + 12..];
        let kind = suffixes.iter().find(|(s, _)| *s == suffix)?.1;
        Some(Self { kind, mac: Some(mac) })
    }
}
