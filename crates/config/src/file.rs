//! A configuration file of either kind, told apart from its name and bytes, and the edits a user
//! writes on a command line.

use std::fmt;
use std::str::FromStr;

use crate::doc::{CnfDocument, ParseOptions};
use crate::error::Error;
use crate::sip::SipCnf;

/// A phone configuration file: cnf.xml or the legacy SIP `.cnf` text format.
///
/// ```
/// use cnfkit_config::{Assignment, ConfigFile, ParseOptions};
///
/// let mut file = ConfigFile::parse("SEP001122334455.cnf.xml", b"<device></device>".to_vec(), ParseOptions::strict())?;
/// file.apply(&"loadInformation=SCCP42.9-4-2SR3-1S".parse::<Assignment>()?)?;
/// assert!(String::from_utf8(file.into_bytes()).unwrap().contains("SCCP42.9-4-2SR3-1S"));
///
/// let sip = ConfigFile::parse("SIP001122334455.cnf", b"line1_name: 1001\n".to_vec(), ParseOptions::strict())?;
/// assert!(matches!(sip, ConfigFile::Sip(_)));
///
/// // A signed file is refused, not appended to.
/// let signed = [&[0x00, 0x01, 0x00][..], b"<device/>"].concat();
/// assert!(ConfigFile::parse("SEP001122334455.cnf.xml.sgn", signed, ParseOptions::strict()).is_err());
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone)]
pub enum ConfigFile {
    /// `XMLDefault.cnf.xml`, `SEP<MAC>.cnf.xml`.
    Xml(CnfDocument),
    /// `SIPDefault.cnf`, `SIP<MAC>.cnf`.
    Sip(SipCnf),
}

impl ConfigFile {
    /// Reads the file at `path` (see [`ConfigFile::parse`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, and as [`ConfigFile::parse`].
    pub fn open(path: &std::path::Path, options: ParseOptions) -> Result<Self, Error> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Io { path: path.to_owned(), source: e.into() })?;
        Self::parse(&path.display().to_string(), bytes, options)
    }

    /// Reads `bytes`, named `name` (a file name or path): cnf.xml when the name ends in `.xml`,
    /// SIP `.cnf` when it ends in `.cnf` or the text does not start with `<`, cnf.xml otherwise.
    ///
    /// # Errors
    /// [`Error::NotText`] for a NUL byte (a signed, encrypted or binary file), and in strict mode
    /// for any other control byte [`binary_byte`] names; the cnf.xml parser's error with line and
    /// column (a UTF-16 file gets its "unsupported encoding" error).
    pub fn parse(name: &str, bytes: Vec<u8>, options: ParseOptions) -> Result<Self, Error> {
        let lower = name.to_ascii_lowercase();
        // A UTF-16 file starts with its byte order mark: the XML parser says what it is (an
        // encoding it does not take) better than a "binary" verdict would.
        let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
        if !utf16 && let Some((offset, byte)) = binary_byte(&bytes, options.lenient) {
            return Err(Error::NotText { name: name.to_owned(), byte, offset });
        }
        if utf16 || lower.ends_with(".xml") {
            return CnfDocument::parse_owned(bytes, options).map(Self::Xml);
        }
        let first = bytes
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace() && !matches!(*b, 0xEF | 0xBB | 0xBF));
        if lower.ends_with(".cnf") || first.is_some_and(|b| b != b'<') {
            return Ok(Self::Sip(SipCnf::parse(&bytes)));
        }
        CnfDocument::parse_owned(bytes, options).map(Self::Xml)
    }

    /// Applies one edit: an element's text (created when missing), an attribute, or a SIP key.
    ///
    /// # Errors
    /// The document's refusal; [`Error::InvalidValue`] for an attribute edit on a SIP file.
    pub fn apply(&mut self, assignment: &Assignment) -> Result<(), Error> {
        match self {
            Self::Xml(doc) => assignment.apply_to(doc),
            Self::Sip(cnf) => match &assignment.attribute {
                Some(_) => Err(Error::InvalidValue {
                    field: "assignment",
                    value: assignment.to_string(),
                    reason: "a SIP .cnf file has no attributes",
                }),
                None => cnf.set(&assignment.path, &assignment.value),
            },
        }
    }

    /// The file's bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Self::Xml(doc) => doc.into_bytes(),
            Self::Sip(cnf) => cnf.to_bytes(),
        }
    }
}

/// One edit as users write it: `PATH=VALUE` (an element's text, created when missing) or
/// `PATH@ATTR=VALUE` (an attribute). The value may contain `=`.
///
/// ```
/// use cnfkit_config::Assignment;
/// let a: Assignment = "loadInformation434@model=Cisco 7942".parse()?;
/// assert_eq!((a.path.as_str(), a.attribute.as_deref(), a.value.as_str()),
///            ("loadInformation434", Some("model"), "Cisco 7942"));
/// let b: Assignment = "vendorConfig/webAccess=0".parse()?;
/// assert_eq!(b.attribute, None);
/// assert!("no-equals-sign".parse::<Assignment>().is_err());
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The element path (`vendorConfig/webAccess`) or SIP key.
    pub path: String,
    /// The attribute, for `PATH@ATTR=VALUE`.
    pub attribute: Option<String>,
    /// The new value.
    pub value: String,
}

impl Assignment {
    /// An edit of `target` (`PATH` or `PATH@ATTR`) to `value`.
    #[must_use]
    pub fn new(target: &str, value: &str) -> Self {
        let (path, attribute) = match target.rsplit_once('@') {
            Some((path, attr)) => (path, Some(attr.to_owned())),
            None => (target, None),
        };
        Self { path: path.to_owned(), attribute, value: value.to_owned() }
    }

    /// Applies the edit to a cnf.xml document.
    ///
    /// # Errors
    /// The document's refusal (a bad path, a value XML cannot carry).
    pub fn apply_to(&self, doc: &mut CnfDocument) -> Result<(), Error> {
        match &self.attribute {
            Some(attr) => doc.set_attribute(&self.path, attr, &self.value),
            None => doc.set_or_create(&self.path, &self.value),
        }
    }
}

impl FromStr for Assignment {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text.split_once('=') {
            Some((target, value)) if !target.is_empty() => Ok(Self::new(target, value)),
            _ => Err(Error::InvalidValue {
                field: "assignment",
                value: text.to_owned(),
                reason: "expected PATH=VALUE or PATH@ATTR=VALUE",
            }),
        }
    }
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(attr) = &self.attribute {
            write!(f, "@{attr}")?;
        }
        write!(f, "={}", self.value)
    }
}

/// The first byte that makes `bytes` binary rather than a text configuration: NUL always (every
/// signed, encrypted or firmware file has them); in strict mode also any other C0 control
/// byte but tab, line ends, form feed and the DOS end-of-file mark 0x1A.
#[must_use]
pub fn binary_byte(bytes: &[u8], lenient: bool) -> Option<(usize, u8)> {
    bytes.iter().copied().enumerate().find(|&(_, b)| {
        b == 0 || (!lenient && b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1a))
    })
}
