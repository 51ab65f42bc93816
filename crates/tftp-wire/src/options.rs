//! Option extension (RFC 2347) pairs, raw and typed.
//!
//! The codec reports, the engine decides: [`Options`] keeps every pair in wire order exactly as
//! sent, and [`TypedOptions`] says for each option this crate knows whether it was present, and
//! whether its value is a number within the RFC's range. Clamping, omitting or refusing is the
//! policy of whoever answers the request.

use core::fmt;

/// Option pairs of a request or an OACK, in wire order, borrowed from the datagram.
///
/// Either a validated region of a parsed datagram (`name NUL value NUL ...`) or a slice of pairs
/// the caller built. Two `Options` are equal when they hold the same pairs in the same order,
/// whichever form they are in.
///
/// ```
/// use cnfkit_tftp_wire::Options;
///
/// let pairs: &[(&[u8], &[u8])] = &[(b"blksize", b"1468"), (b"tsize", b"0")];
/// let options = Options::from_pairs(pairs);
/// assert_eq!(options.len(), 2);
/// assert_eq!(options.get(b"BLKSIZE"), Some(&b"1468"[..]));
/// ```
#[derive(Clone, Copy)]
pub struct Options<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    /// `name NUL value NUL` repeated; validated by the parser (every field terminated, even count).
    Wire(&'a [u8]),
    Pairs(&'a [(&'a [u8], &'a [u8])]),
}

impl<'a> Options<'a> {
    /// No options.
    pub const EMPTY: Options<'static> = Options(Repr::Pairs(&[]));

    /// Options from caller-built pairs, for encoding.
    #[must_use]
    pub const fn from_pairs(pairs: &'a [(&'a [u8], &'a [u8])]) -> Self {
        Self(Repr::Pairs(pairs))
    }

    /// Options over a region the parser has validated.
    pub(crate) const fn from_wire(region: &'a [u8]) -> Self {
        Self(Repr::Wire(region))
    }

    /// The pairs in wire order.
    #[must_use]
    pub fn iter(&self) -> OptionPairs<'a> {
        OptionPairs(match self.0 {
            Repr::Wire(region) => PairsRepr::Wire(region),
            Repr::Pairs(pairs) => PairsRepr::Pairs(pairs.iter()),
        })
    }

    /// Number of pairs.
    #[must_use]
    pub fn len(&self) -> usize {
        match self.0 {
            Repr::Wire(region) => region.iter().filter(|&&b| b == 0).count() / 2,
            Repr::Pairs(pairs) => pairs.len(),
        }
    }

    /// Whether there is no pair.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self.0 {
            Repr::Wire(region) => region.is_empty(),
            Repr::Pairs(pairs) => pairs.is_empty(),
        }
    }

    /// The value of the first pair whose name matches `name` ignoring ASCII case.
    #[must_use]
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The typed view: known options with their checked values, unknown and duplicate counts.
    #[must_use]
    pub fn typed(&self) -> TypedOptions {
        TypedOptions::from_pairs(self.iter())
    }

    /// Bytes these options take on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match self.0 {
            Repr::Wire(region) => region.len(),
            Repr::Pairs(pairs) => pairs.iter().map(|(n, v)| n.len() + v.len() + 2).sum(),
        }
    }
}

impl PartialEq for Options<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Options<'_> {}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(n, v)| (crate::Lossy(n), crate::Lossy(v)))).finish()
    }
}

impl<'a> IntoIterator for Options<'a> {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = OptionPairs<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over `(name, value)` pairs in wire order, from [`Options::iter`].
#[derive(Debug, Clone)]
pub struct OptionPairs<'a>(PairsRepr<'a>);

#[derive(Debug, Clone)]
enum PairsRepr<'a> {
    Wire(&'a [u8]),
    Pairs(core::slice::Iter<'a, (&'a [u8], &'a [u8])>),
}

impl<'a> Iterator for OptionPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            PairsRepr::Pairs(iter) => iter.next().copied(),
            PairsRepr::Wire(region) => {
                let (name, rest) = split_nul(region)?;
                let (value, rest) = split_nul(rest)?;
                *region = rest;
                Some((name, value))
            }
        }
    }
}

/// Splits `bytes` at its first NUL: the field before it and the rest after it.
fn split_nul(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == 0)?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

/// The options this crate knows, with their RFCs and ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KnownOption {
    /// `blksize`, RFC 2348: data bytes per block, 8..=65464.
    Blksize,
    /// `timeout`, RFC 2349: retransmission timeout in seconds, 1..=255.
    Timeout,
    /// `tsize`, RFC 2349: transfer size in bytes (0 in an RRQ asks for it).
    Tsize,
    /// `windowsize`, RFC 7440: blocks per window, 1..=65535.
    Windowsize,
    /// `rollover` (tftp-hpa): the block number after 65535, 0 or 1.
    Rollover,
}

impl KnownOption {
    /// Every known option.
    pub const ALL: [Self; 5] =
        [Self::Blksize, Self::Timeout, Self::Tsize, Self::Windowsize, Self::Rollover];

    /// The lowercase wire name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Blksize => "blksize",
            Self::Timeout => "timeout",
            Self::Tsize => "tsize",
            Self::Windowsize => "windowsize",
            Self::Rollover => "rollover",
        }
    }

    /// The option an on-the-wire name denotes, ignoring ASCII case (RFC 2347).
    #[must_use]
    pub fn from_name(name: &[u8]) -> Option<Self> {
        // Dispatch on length first: every request carries a few options, and this runs for each.
        let candidate = match name.len() {
            5 => Self::Tsize,
            7 if name[0].eq_ignore_ascii_case(&b'b') => Self::Blksize,
            7 => Self::Timeout,
            8 => Self::Rollover,
            10 => Self::Windowsize,
            _ => return None,
        };
        candidate.name().as_bytes().eq_ignore_ascii_case(name).then_some(candidate)
    }

    /// The inclusive range of values the defining RFC allows.
    #[must_use]
    pub const fn range(self) -> (u64, u64) {
        match self {
            Self::Blksize => (8, 65464),
            Self::Timeout => (1, 255),
            Self::Tsize => (0, u64::MAX),
            Self::Windowsize => (1, 65535),
            Self::Rollover => (0, 1),
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for KnownOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an option value was not accepted by the typed view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BadValue {
    /// Not a plain decimal number (empty, a sign, spaces, letters: `tsize enable`).
    NotANumber,
    /// A number outside the option's range.
    OutOfRange {
        /// The number sent.
        value: u64,
    },
    /// A number too large for 64 bits: out of range for every option.
    TooLarge,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber => f.write_str("not a decimal number"),
            Self::OutOfRange { value } => write!(f, "{value} out of range"),
            Self::TooLarge => f.write_str("number too large"),
        }
    }
}

/// The value of a known option: the number when it is in range, or why it is not.
pub type OptionValue<T> = Result<T, BadValue>;

/// What a request's options mean, checked against the RFC ranges.
///
/// For each known option: `None` when absent, `Some(Ok(v))` when present and valid,
/// `Some(Err(_))` when present but not a number or out of range. When a name appears more than
/// once, the first occurrence is reported here and the repeats are counted in `duplicates`
/// (RFC 2347: "an option may be specified only once"). Unknown names are counted, and stay
/// available through [`Options::iter`].
///
/// ```
/// use cnfkit_tftp_wire::{BadValue, Options};
///
/// let pairs: &[(&[u8], &[u8])] =
///     &[(b"blksize", b"70000"), (b"TSIZE", b"0"), (b"x-vendor", b"1"), (b"tsize", b"5")];
/// let typed = Options::from_pairs(pairs).typed();
/// assert_eq!(typed.blksize, Some(Err(BadValue::OutOfRange { value: 70000 })));
/// assert_eq!(typed.tsize, Some(Ok(0)));
/// assert_eq!((typed.unknown, typed.duplicates), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypedOptions {
    /// `blksize` (RFC 2348), 8..=65464.
    pub blksize: Option<OptionValue<u16>>,
    /// `timeout` (RFC 2349), 1..=255 seconds.
    pub timeout: Option<OptionValue<u8>>,
    /// `tsize` (RFC 2349).
    pub tsize: Option<OptionValue<u64>>,
    /// `windowsize` (RFC 7440), 1..=65535.
    pub windowsize: Option<OptionValue<u16>>,
    /// `rollover` (tftp-hpa), 0 or 1.
    pub rollover: Option<OptionValue<u8>>,
    /// Pairs whose name is not a known option.
    pub unknown: usize,
    /// Pairs whose name (ignoring case) repeats an earlier pair's.
    pub duplicates: usize,
}

impl TypedOptions {
    /// Checks pairs in wire order.
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Self {
        let mut typed = Self::default();
        let mut seen = 0u8;
        for (index, (name, value)) in pairs.clone().enumerate() {
            let Some(known) = KnownOption::from_name(name) else {
                typed.unknown += 1;
                // Unknown names repeat rarely; a quadratic look-back over at most 128 pairs
                // (a 512-byte request) keeps this allocation-free.
                if pairs.clone().take(index).any(|(earlier, _)| earlier.eq_ignore_ascii_case(name))
                {
                    typed.duplicates += 1;
                }
                continue;
            };
            if seen & known.bit() != 0 {
                typed.duplicates += 1;
                continue;
            }
            seen |= known.bit();
            let checked = check_value(known, value);
            match known {
                KnownOption::Blksize => typed.blksize = Some(checked.map(narrow)),
                KnownOption::Timeout => typed.timeout = Some(checked.map(narrow)),
                KnownOption::Tsize => typed.tsize = Some(checked),
                KnownOption::Windowsize => typed.windowsize = Some(checked.map(narrow)),
                KnownOption::Rollover => typed.rollover = Some(checked.map(narrow)),
            }
        }
        typed
    }
}

/// Narrows a value already checked against a range that fits the target type.
fn narrow<T: TryFrom<u64> + Default>(value: u64) -> T {
    T::try_from(value).unwrap_or_default()
}

/// Parses a plain decimal number (ASCII digits only) and checks it against `option`'s range.
fn check_value(option: KnownOption, value: &[u8]) -> OptionValue<u64> {
    let number = parse_decimal(value)?;
    let (min, max) = option.range();
    if (min..=max).contains(&number) {
        Ok(number)
    } else {
        Err(BadValue::OutOfRange { value: number })
    }
}

/// Parses ASCII digits as a `u64`.
pub(crate) fn parse_decimal(value: &[u8]) -> Result<u64, BadValue> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(BadValue::NotANumber);
    }
    value.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(d - b'0')))
            .ok_or(BadValue::TooLarge)
    })
}
