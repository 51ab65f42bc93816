//! Numeric codes of cnf.xml files as open newtypes: a value the table does not know survives.

use std::fmt;

macro_rules! open_code {
    ($(#[$doc:meta])* $name:ident($inner:ty) { $($(#[$cdoc:meta])* $konst:ident = $val:expr, $label:expr;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub struct $name(pub $inner);

        impl $name {
            $($(#[$cdoc])* pub const $konst: Self = Self($val);)*

            /// The documented meaning, or `None` for a value this crate does not know.
            #[must_use]
            pub const fn label(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($label),)*
                    _ => None,
                }
            }

            pub(crate) fn parse(text: &str) -> Option<Self> {
                text.trim().parse().ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.label() {
                    Some(l) => write!(f, "{} ({l})", self.0),
                    None => write!(f, "{}", self.0),
                }
            }
        }
    };
}

open_code! {
    /// `deviceSecurityMode` (usecallmanagernz sepmac-cnf-xml).
    ///
    /// ```
    /// use cnfkit_config::DeviceSecurityMode;
    /// assert_eq!(DeviceSecurityMode::ENCRYPTED.to_string(), "3 (encrypted)");
    /// assert_eq!(DeviceSecurityMode(9).label(), None);
    /// ```
    DeviceSecurityMode(u8) {
        /// 1: no signing, no encryption.
        INSECURE = 1, "insecure";
        /// 2: signed signalling (TLS), plain media.
        AUTHENTICATED = 2, "authenticated";
        /// 3: TLS and SRTP.
        ENCRYPTED = 3, "encrypted";
    }
}

open_code! {
    /// `transportLayerProtocol` of SIP phones. Files also carry `4`, which no source
    /// documents: it stays `TransportLayerProtocol(4)`.
    TransportLayerProtocol(u8) {
        /// 1: TCP.
        TCP = 1, "TCP";
        /// 2: UDP.
        UDP = 2, "UDP";
        /// 3: TLS.
        TLS = 3, "TLS";
    }
}

open_code! {
    /// `capfAuthMode`: how the phone authenticates to CAPF to get a certificate. Templates
    /// also carry `0`, which no source explains: it stays `CapfAuthMode(0)`.
    CapfAuthMode(u8) {
        /// 1: authentication string.
        PASSWORD = 1, "authentication string";
        /// 2: null string.
        NULL_STRING = 2, "null string";
        /// 3: existing LSC, else MIC.
        LSC_THEN_MIC = 3, "existing LSC, else MIC";
        /// 4: MIC.
        MIC = 4, "MIC";
    }
}

open_code! {
    /// `featureID` of a SIP line button (usecallmanagernz: 9 = line, 2 = speed dial). Real
    /// files also put `21` on buttons with a `speedDialNumber`; the source's list stops before
    /// saying what 21 is, so it has no name here and stays `FeatureId(21)`.
    FeatureId(u16) {
        /// 2: a speed dial.
        SPEED_DIAL = 2, "speed dial";
        /// 9: a line (directory number).
        LINE = 9, "line";
    }
}

/// A CUCM device type number, as in `loadInformation434` (434 = Cisco 7942).
///
/// The phone keys on the number, not on the free-text `model` attribute. [`DeviceType::KNOWN`]
/// is the table of numbers seen in real files ([device type
/// numbers](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#device-type-numbers)).
///
/// ```
/// use cnfkit_config::DeviceType;
/// assert_eq!(DeviceType(434).model(), Some("Cisco 7942"));
/// assert_eq!(DeviceType::from_model("CP-7942G"), Some(DeviceType(434)));
/// assert_eq!(DeviceType::from_model("SCCP: Cisco IP Phone 7911"), Some(DeviceType(307)));
/// assert_eq!(DeviceType::from_model("Cisco 7961G-GE"), Some(DeviceType(308)));
/// assert_eq!(DeviceType(1234).model(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct DeviceType(pub u32);

impl DeviceType {
    /// 7942.
    pub const CISCO_7942: Self = Self(434);
    /// 7962.
    pub const CISCO_7962: Self = Self(404);
    /// 7941.
    pub const CISCO_7941: Self = Self(115);
    /// 7961.
    pub const CISCO_7961: Self = Self(30018);
    /// 7911.
    pub const CISCO_7911: Self = Self(307);
    /// 7940.
    pub const CISCO_7940: Self = Self(8);
    /// 7960.
    pub const CISCO_7960: Self = Self(7);
    /// 8841.
    pub const CISCO_8841: Self = Self(683);
    /// 7914 key expansion module.
    pub const CISCO_7914: Self = Self(124);

    /// Device type numbers seen in real files, with the model they stand for (mostly from
    /// chan-sccp's XMLDefault.cnf.xml; see [device type
    /// numbers](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#device-type-numbers)).
    /// Two numbers each are listed for the 7915
    /// and 7916 expansion modules; the sources do not say which variant each one is.
    pub const KNOWN: &'static [(u32, &'static str)] = &[
        (6, "Cisco 7910"),
        (7, "Cisco 7960"),
        (8, "Cisco 7940"),
        (9, "Cisco 7935"),
        (12, "Cisco ATA 186"),
        (115, "Cisco 7941"),
        (119, "Cisco 7971"),
        (124, "Cisco 7914"),
        (227, "Cisco 7915"),
        (228, "Cisco 7915"),
        (229, "Cisco 7916"),
        (230, "Cisco 7916"),
        (302, "Cisco 7985"),
        (307, "Cisco 7911"),
        (308, "Cisco 7961G-GE"),
        (309, "Cisco 7941G-GE"),
        (348, "Cisco 7931"),
        (365, "Cisco 7921"),
        (369, "Cisco 7906"),
        (404, "Cisco 7962"),
        (412, "Cisco 3951"),
        (431, "Cisco 7937"),
        (434, "Cisco 7942"),
        (435, "Cisco 7945"),
        (436, "Cisco 7965"),
        (437, "Cisco 7975"),
        (484, "Cisco 7925"),
        (493, "Cisco 9971"),
        (495, "Cisco 6921"),
        (496, "Cisco 6941"),
        (497, "Cisco 6961"),
        (537, "Cisco 9951"),
        (540, "Cisco 8961"),
        (547, "Cisco 6901"),
        (548, "Cisco 6911"),
        (564, "Cisco 6945"),
        (577, "Cisco 7926"),
        (585, "Cisco 8945"),
        (586, "Cisco 8941"),
        (592, "Cisco 3905"),
        (621, "Cisco 7821"),
        (622, "Cisco 7841"),
        (623, "Cisco 7861"),
        (659, "Cisco 8831"),
        (683, "Cisco 8841"),
        (684, "Cisco 8851"),
        (685, "Cisco 8861"),
        (20000, "Cisco 7905"),
        (30002, "Cisco 7920"),
        (30006, "Cisco 7970"),
        (30007, "Cisco 7912"),
        (30008, "Cisco 7902"),
        (30016, "Cisco IP Communicator"),
        (30018, "Cisco 7961"),
        (30019, "Cisco 7936"),
        (36213, "Cisco 7811"),
        (36217, "Cisco 8811"),
        (36224, "Cisco 8845"),
        (36225, "Cisco 8865"),
        (36247, "Cisco 7832"),
        (36258, "Cisco 8832"),
    ];

    /// The model this number stands for, if known.
    #[must_use]
    pub fn model(self) -> Option<&'static str> {
        Self::KNOWN.iter().find(|(n, _)| *n == self.0).map(|(_, m)| *m)
    }

    /// The device type a load key names, as admins write them (`[loads]` in device defaults,
    /// `cnf-edit new default --load KEY=LOAD`): a model the table knows (`7942`, `CP-7962G`)
    /// first, else a number (`434`). No device type number has four digits, so `7961` is the
    /// model, not device type 7961.
    ///
    /// ```
    /// use cnfkit_config::DeviceType;
    /// assert_eq!(DeviceType::from_key("7942"), Some(DeviceType(434)));
    /// assert_eq!(DeviceType::from_key(" 434 "), Some(DeviceType(434)));
    /// assert_eq!(DeviceType::from_key("no such phone"), None);
    /// ```
    #[must_use]
    pub fn from_key(key: &str) -> Option<Self> {
        Self::from_model(key).or_else(|| key.trim().parse().ok().map(Self))
    }

    /// The device type of a model text, if the table knows it: tolerant of prefixes
    /// (`SCCP:`, `Cisco`, `IP Phone`, `CP-`) and a trailing `G` (`CP-7942G`). Where two numbers
    /// share a model, the first in the table wins.
    #[must_use]
    pub fn from_model(model: &str) -> Option<Self> {
        let key = model_key(model)?;
        Self::KNOWN
            .iter()
            .find(|(_, m)| model_key(m).as_deref() == Some(&key))
            .map(|(n, _)| Self(*n))
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.model() {
            Some(m) => write!(f, "{} ({m})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A comparable key for a model text: the model token (`7942`, `7961G-GE`, `ATA186`,
/// `IPCOMMUNICATOR`), upper case. `None` when nothing is left.
pub(crate) fn model_key(model: &str) -> Option<String> {
    let upper = model.to_ascii_uppercase();
    let mut s = upper.as_str().trim();
    for prefix in ["SCCP:", "SIP:"] {
        if let Some(r) = s.strip_prefix(prefix) {
            s = r.trim();
        }
    }
    let mut words: Vec<&str> = s.split_whitespace().collect();
    words.retain(|w| !matches!(*w, "CISCO" | "IP" | "PHONE" | "UNIFIED"));
    // Only the first token that has a digit matters for phones ("7914 14-Button Line Expansion
    // Module" -> 7914); keep word-only names whole (IP Communicator).
    let token = match words.iter().position(|w| w.chars().any(|c| c.is_ascii_digit())) {
        Some(i) if words.get(i + 1).is_some_and(|n| n.contains("BUTTON")) => {
            format!("{}{}", words[i], words[i + 1])
        }
        Some(i) if words[..i].contains(&"ATA") => format!("ATA{}", words[i]),
        Some(i) => words[i].to_owned(),
        None if words.is_empty() => return None,
        None => words.concat(),
    };
    let token = token.strip_prefix("CP-").unwrap_or(&token).to_owned();
    let token = match token.strip_suffix('G') {
        Some(t) if t.chars().last().is_some_and(|c| c.is_ascii_digit()) => t.to_owned(),
        _ => token,
    };
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_keys_ignore_vendor_prefixes_cnf_4_1() {
        for (a, b) in [
            ("CISCO 7942", "Cisco 7942"),
            ("SCCP: Cisco 7942", "CP-7942G"),
            ("IP Phone 7940", "Cisco 7940"),
            ("CISCO ATA 186", "Cisco ATA 186"),
        ] {
            assert_eq!(model_key(a), model_key(b), "{a} vs {b}");
        }
        assert_ne!(model_key("Cisco 7961G-GE"), model_key("Cisco 7961"));
        assert_ne!(model_key("Cisco 7915 12-Button"), model_key("Cisco 7915 24-Button"));
        assert_eq!(model_key(""), None);
    }

    #[test]
    fn every_known_model_maps_back_to_a_number_with_that_model() {
        for (n, m) in DeviceType::KNOWN {
            let back = DeviceType::from_model(m).unwrap_or_else(|| panic!("{m}"));
            assert_eq!(back.model(), Some(*m), "{n}");
        }
    }
}
