//! Firmware load names and the upgrade / downgrade decision.
//!
//! A phone compares the load its configuration names (`loadInformation`) with the load it runs;
//! when they differ it fetches `<load>.loads` and the images listed there, whether that is an
//! upgrade or a downgrade ([firmware upgrade and
//! downgrade](https://github.com/cnfkit/cnfkit/blob/main/docs/boot-sequence.md#firmware-upgrade-and-downgrade)).
//! This module reads the version out of the load names Cisco uses ([load
//! names](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#load-names)) so that
//! the direction, and the one known trap, can be told.

use core::cmp::Ordering;
use core::fmt;

/// A firmware load name, with the version read out of it when the name follows a known pattern.
///
/// ```
/// use cnfkit_resolve::LoadName;
///
/// let old = LoadName::new("SCCP42.8-5-1S");
/// let new = LoadName::new("SCCP42.9-4-2SR3-1S");
/// assert_eq!(old.family(), Some("SCCP42"));
/// assert!(old.version() < new.version());
/// assert_eq!(new.version().unwrap().to_string(), "9.4.2.3.1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoadName {
    name: String,
    family_len: Option<usize>,
    version: Option<LoadVersion>,
}

/// The numbers of a load's version, compared left to right (`9-4-2SR3-1S` is `9.4.2.3.1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoadVersion(pub Vec<u32>);

impl fmt::Display for LoadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

/// Every run of digits in `text`, as numbers (a run too long for `u32` saturates).
fn digit_runs(text: &str) -> Vec<u32> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
        .map(|run| run.parse().unwrap_or(u32::MAX))
        .collect()
}

impl LoadName {
    /// Reads a load name (the text of `loadInformation`, without `.loads`).
    ///
    /// Patterns: `FAMILY.VERSION` (`SCCP41.9-4-2SR1-1S`, `sip88xx.11-2-3MSR1-1`), 7940/7960
    /// SCCP `P003xxyyzzww` (`P00308010200` is 8.1.2.0), 7940/7960 SIP `P0S3-08-12-00`.
    #[must_use]
    pub fn new(name: &str) -> Self {
        let name = name.trim().trim_end_matches(".loads").to_owned();
        let (family_len, version) = if let Some((family, version)) = name.split_once('.') {
            (Some(family.len()), Some(LoadVersion(digit_runs(version))))
        } else if let Some(rest) = name.strip_prefix("P0S3-").or_else(|| name.strip_prefix("P0M3-"))
        {
            (Some(4), Some(LoadVersion(digit_runs(rest))))
        } else if let Some(digits) = name
            .strip_prefix("P003")
            .filter(|d| d.len() >= 6 && d.bytes().take(6).all(|b| b.is_ascii_digit()))
        {
            // P003 08 01 02 00: major, minor, maintenance, build, two digits each.
            let pairs = digits.as_bytes()[..digits.len() - digits.len() % 2]
                .chunks(2)
                .map_while(|p| core::str::from_utf8(p).ok()?.parse().ok())
                .collect();
            (Some(4), Some(LoadVersion(pairs)))
        } else {
            (None, None)
        };
        let version = version.filter(|v| !v.0.is_empty());
        Self { name, family_len, version }
    }

    /// The name as written (without a `.loads` suffix).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The family prefix (`SCCP42`, `sip88xx`, `P003`), when the name has one.
    #[must_use]
    pub fn family(&self) -> Option<&str> {
        self.family_len.map(|len| &self.name[..len])
    }

    /// The version, when the name follows a known pattern.
    #[must_use]
    pub fn version(&self) -> Option<&LoadVersion> {
        self.version.as_ref()
    }

    /// The manifest a phone asks for to install this load.
    #[must_use]
    pub fn manifest_name(&self) -> String {
        format!("{}.loads", self.name)
    }
}

impl fmt::Display for LoadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What a phone does about its firmware after reading its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FirmwareDecision {
    /// The configuration names no load (or an empty one): the phone keeps what it runs.
    NoLoadNamed,
    /// The named load is the one running.
    UpToDate,
    /// Installs a newer load.
    Upgrade {
        /// The load to install.
        to: LoadName,
    },
    /// Installs an older load (phones downgrade as readily as they upgrade).
    Downgrade {
        /// The load to install.
        to: LoadName,
    },
    /// Installs a different load whose order cannot be told from the names (another family, or
    /// a name that follows no known pattern).
    Change {
        /// The load to install.
        to: LoadName,
    },
    /// Would fail: the running load cannot verify the new one's signature.
    Blocked {
        /// The load the configuration names.
        to: LoadName,
        /// Why, and what to install first.
        reason: String,
    },
}

/// A short phrase for reports: `up to date`, `upgrade to SCCP42.9-4-2SR3-1S`, `blocked (...)`.
impl fmt::Display for FirmwareDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoLoadNamed => f.write_str("no load named"),
            Self::UpToDate => f.write_str("up to date"),
            Self::Upgrade { to } => write!(f, "upgrade to {to}"),
            Self::Downgrade { to } => write!(f, "downgrade to {to}"),
            Self::Change { to } => write!(f, "change to {to}"),
            Self::Blocked { to, .. } => write!(f, "blocked ({to})"),
        }
    }
}

/// 8.5(2): the first 79x1/79x2/79x5 load that can verify loads signed the 8.5(2)SR1 way.
const SIGNATURE_STEP: [u32; 3] = [8, 5, 2];

/// Model families (the two digits of `SCCP41`, `SIP42`...) that went through the 8.5(2) step.
const SIGNATURE_STEP_FAMILIES: [&str; 10] =
    ["11", "41", "42", "45", "61", "62", "65", "70", "71", "75"];

/// Whether going from `from` to `to` skips 8.5(2): below it now, past it (8.5(2)SR1 or later)
/// next.
fn crosses_signature_step(from: &LoadVersion, target: &LoadName, to: &LoadVersion) -> bool {
    let in_family = target
        .family()
        .is_some_and(|family| SIGNATURE_STEP_FAMILIES.iter().any(|n| family.ends_with(n)));
    let below = from.0.as_slice() < &SIGNATURE_STEP[..];
    let to_main = to.0.get(..3).unwrap_or(&to.0);
    let past = to_main > &SIGNATURE_STEP[..]
        || (to_main == &SIGNATURE_STEP[..] && target.as_str().to_ascii_uppercase().contains("SR"));
    in_family && below && past
}

/// Decides what a phone running `running` does when its configuration names `target`.
///
/// The one gate modelled is the documented signature-format change: a 79x1/79x2/79x5 phone below
/// 8.5(2) fails ("Auth Fail", then an upgrade loop) on a load after 8.5(2), and must take 8.5(2)
/// first ([firmware upgrade and
/// downgrade](https://github.com/cnfkit/cnfkit/blob/main/docs/boot-sequence.md#firmware-upgrade-and-downgrade)).
///
/// ```
/// use cnfkit_resolve::{FirmwareDecision, firmware_decision};
///
/// let decision = firmware_decision(Some("SCCP41.8-3-1S"), Some("SCCP41.9-4-2SR3-1S"));
/// assert!(matches!(decision, FirmwareDecision::Blocked { .. }));
/// let decision = firmware_decision(Some("SCCP41.9-4-2SR3-1S"), Some("SCCP41.9-2-1S"));
/// assert!(matches!(decision, FirmwareDecision::Downgrade { .. }));
/// ```
#[must_use]
pub fn firmware_decision(running: Option<&str>, target: Option<&str>) -> FirmwareDecision {
    let Some(target) = target.map(str::trim).filter(|t| !t.is_empty()).map(LoadName::new) else {
        return FirmwareDecision::NoLoadNamed;
    };
    let Some(running) = running.map(LoadName::new) else {
        return FirmwareDecision::Change { to: target };
    };
    if running.as_str().eq_ignore_ascii_case(target.as_str()) {
        return FirmwareDecision::UpToDate;
    }
    let same_family = match (running.family(), target.family()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let (Some(from), Some(to)) = (running.version(), target.version()) else {
        return FirmwareDecision::Change { to: target };
    };
    if !same_family {
        // SCCP41 to SIP41 is a protocol switch, not an upgrade: the numbers do not compare.
        return FirmwareDecision::Change { to: target };
    }
    if crosses_signature_step(from, &target, to) {
        return FirmwareDecision::Blocked {
            reason: format!(
                "{running} predates 8.5(2) and cannot verify {target}, signed the 8.5(2)SR1 way: \
                 name an 8.5(2) load first, then {target}"
            ),
            to: target,
        };
    }
    match from.cmp(to) {
        Ordering::Less => FirmwareDecision::Upgrade { to: target },
        Ordering::Greater => FirmwareDecision::Downgrade { to: target },
        Ordering::Equal => FirmwareDecision::Change { to: target },
    }
}
