//! The crate's one error type and the source locations it carries.

use std::fmt;

/// A place in a document: 1-based line and column (columns count characters, a tab is one),
/// plus the 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// 0-based byte offset into the document.
    pub offset: usize,
}

impl Location {
    /// The location of byte `offset` in `src`. Columns count UTF-8 characters when `utf8` is
    /// set and bytes otherwise (ISO-8859-1 has one byte per character).
    #[must_use]
    pub fn of(src: &[u8], offset: usize, utf8: bool) -> Self {
        let offset = offset.min(src.len());
        let before = &src[..offset];
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let tail = &before[line_start..];
        let column = if utf8 {
            tail.iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1
        } else {
            tail.len() + 1
        };
        Self { line, column, offset }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What went wrong while parsing, editing or building a configuration file.
///
/// Parse errors say where (`line:column`); edit errors name the path or value they are about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The XML tokenizer rejected the input (unclosed markup, bad tag syntax, `--` in a comment...).
    #[error("not well-formed XML at {at}: {message}")]
    Syntax {
        /// What the tokenizer reported.
        message: String,
        /// Where.
        at: Location,
    },
    /// An end tag that does not close the element that is open.
    #[error("mismatched end tag </{found}> at {at}: <{expected}> is open")]
    MismatchedEndTag {
        /// The element that is open.
        expected: String,
        /// The name in the end tag.
        found: String,
        /// Where the end tag starts.
        at: Location,
    },
    /// An end tag with no element open.
    #[error("end tag </{found}> at {at} closes nothing")]
    UnexpectedEndTag {
        /// The name in the end tag.
        found: String,
        /// Where the end tag starts.
        at: Location,
    },
    /// The document ends while an element is still open.
    #[error("element <{name}> opened at {at} is never closed")]
    UnclosedElement {
        /// The open element.
        name: String,
        /// Where its start tag is.
        at: Location,
    },
    /// An entity reference other than the five XML ones (`&amp;` `&lt;` `&gt;` `&quot;`
    /// `&apos;`) and character references. No entity is ever expanded from a DTD.
    #[error(
        "unknown entity &{name}; at {at} (only the five XML entities and character references are allowed)"
    )]
    UnknownEntity {
        /// The entity name.
        name: String,
        /// Where.
        at: Location,
    },
    /// A character reference that is not a valid XML character (`&#0;`, `&#xD800;`, too large).
    #[error("invalid character reference &{value}; at {at}")]
    InvalidCharRef {
        /// The reference as written, without `&` and `;`.
        value: String,
        /// Where.
        at: Location,
    },
    /// A `<!DOCTYPE ...>`: refused, so that no DTD, internal entity or external entity is ever
    /// read (billion laughs, XXE).
    #[error("document type declaration at {at} refused: DTDs and entities are not supported")]
    Doctype {
        /// Where.
        at: Location,
    },
    /// Elements nested deeper than [`ParseOptions::max_depth`](crate::ParseOptions::max_depth).
    #[error("element nesting deeper than {limit} at {at}")]
    TooDeep {
        /// The limit in force.
        limit: usize,
        /// Where the element that goes too deep starts.
        at: Location,
    },
    /// A document with no element at all.
    #[error("no root element")]
    NoRoot,
    /// A second top-level element.
    #[error("second root element <{name}> at {at}")]
    MultipleRoots {
        /// Its name.
        name: String,
        /// Where.
        at: Location,
    },
    /// Non-whitespace text before or after the root element.
    #[error("text outside the root element at {at}")]
    TextOutsideRoot {
        /// Where.
        at: Location,
    },
    /// An attribute that cannot be read (missing `=` or quotes, `<` in a value, no space before it).
    #[error("malformed attribute in <{element}> at {at}: {reason}")]
    MalformedAttribute {
        /// The element.
        element: String,
        /// What is wrong.
        reason: &'static str,
        /// Where.
        at: Location,
    },
    /// The same attribute twice in one start tag.
    #[error("duplicate attribute {name} in <{element}> at {at}")]
    DuplicateAttribute {
        /// The attribute.
        name: String,
        /// The element.
        element: String,
        /// Where the second one is.
        at: Location,
    },
    /// Bytes that are not UTF-8 in a document that is UTF-8 (declared or by default).
    #[error("invalid UTF-8 at {at} (declare encoding=\"ISO-8859-1\" or parse leniently)")]
    InvalidUtf8 {
        /// Where the first bad byte is.
        at: Location,
    },
    /// An encoding other than UTF-8 and ISO-8859-1.
    #[error("unsupported encoding {name:?} at {at}: only UTF-8 and ISO-8859-1 are supported")]
    UnsupportedEncoding {
        /// The name from the declaration or byte order mark.
        name: String,
        /// Where.
        at: Location,
    },
    /// An element path that cannot be read (`a/b[0]`, empty segment, bad predicate).
    #[error("invalid element path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No element at this path.
    #[error("no element at path {path:?}")]
    PathNotFound {
        /// The path.
        path: String,
    },
    /// Setting the text of an element that has child elements.
    #[error("element at path {path:?} has child elements; set the text of a leaf")]
    NotALeaf {
        /// The path.
        path: String,
    },
    /// A name that is not an XML name (element or attribute to insert).
    #[error("{name:?} is not a valid XML name")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A value with a character that XML 1.0 cannot carry (NUL, most C0 controls).
    #[error("value for {field} contains U+{code:04X}, which XML 1.0 cannot carry")]
    InvalidChar {
        /// The character's code point.
        code: u32,
        /// What the value was for.
        field: String,
    },
    /// A MAC address that is not 12 hex digits (separators `:`, `-`, `.` allowed).
    #[error("invalid MAC address {value:?}: expected 12 hex digits")]
    InvalidMac {
        /// The value given.
        value: String,
    },
    /// An argument a builder or setter cannot use.
    #[error("invalid {field}: {value:?} ({reason})")]
    InvalidValue {
        /// Which argument.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: IoError,
    },
    /// Input that is not a text configuration at all (NUL or other control bytes): a signed,
    /// encrypted or binary file, which only an envelope-aware tool (cnfkit-repack) may edit.
    #[error(
        "{name}: not a text configuration (control byte 0x{byte:02x} at offset {offset}); a signed or encrypted file is opened with cnfkit-repack"
    )]
    NotText {
        /// The file name given.
        name: String,
        /// The first control byte that gave it away.
        byte: u8,
        /// Its offset in the file.
        offset: usize,
    },
    /// A document larger than the index can address (4 GiB; phone configurations are
    /// kilobytes).
    #[error("document of {len} bytes is larger than the {limit}-byte limit")]
    TooLarge {
        /// The document's size.
        len: usize,
        /// The largest size that parses.
        limit: usize,
    },
    /// A key that a legacy SIP `.cnf` file does not have.
    #[error("no key {key:?} in the SIP .cnf file")]
    SipKeyNotFound {
        /// The key.
        key: String,
    },
    /// A SIP `.cnf` key or value that cannot be written on one line.
    #[error("invalid SIP .cnf {field} {value:?}: {reason}")]
    SipInvalid {
        /// `key` or `value`.
        field: &'static str,
        /// The text given.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

impl Error {
    /// Where in the document a parse error is, or `None` for edit and build errors.
    #[must_use]
    pub const fn location(&self) -> Option<Location> {
        match self {
            Self::Syntax { at, .. }
            | Self::MismatchedEndTag { at, .. }
            | Self::UnexpectedEndTag { at, .. }
            | Self::UnclosedElement { at, .. }
            | Self::UnknownEntity { at, .. }
            | Self::InvalidCharRef { at, .. }
            | Self::Doctype { at }
            | Self::TooDeep { at, .. }
            | Self::MultipleRoots { at, .. }
            | Self::TextOutsideRoot { at }
            | Self::MalformedAttribute { at, .. }
            | Self::DuplicateAttribute { at, .. }
            | Self::InvalidUtf8 { at }
            | Self::UnsupportedEncoding { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// An IO error kept whole for [`Error::Io`], shared so the error stays `Clone`; two compare equal
/// when they are of the same kind and say the same.
#[derive(Debug, Clone)]
pub struct IoError(std::sync::Arc<std::io::Error>);

impl IoError {
    /// The IO error.
    #[must_use]
    pub fn get(&self) -> &std::io::Error {
        &self.0
    }
}

impl From<std::io::Error> for IoError {
    fn from(error: std::io::Error) -> Self {
        Self(std::sync::Arc::new(error))
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for IoError {}
