//! The lossless document: the input bytes plus an index of spans over them.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::encoding::{self, Context, Encoding, EncodingSource, Reference};
use crate::error::{Error, Location};
use crate::path::{ElementPath, Predicate, Segment};

/// How to parse.
///
/// ```
/// use cnfkit_config::{CnfDocument, ParseOptions};
///
/// let broken = b"<device><a>1</b></device>";
/// assert!(CnfDocument::parse(broken).is_err());
/// let doc = CnfDocument::parse_with(broken, ParseOptions::lenient())?;
/// assert_eq!(doc.repairs().len(), 1);
/// assert_eq!(doc.as_bytes(), broken); // still byte for byte what was read
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Recover from mismatched, stray and missing end tags, unknown entities, bare `&`, text
    /// outside the root and invalid UTF-8 (read as ISO-8859-1), and report each repair in
    /// [`CnfDocument::repairs`]. Tag syntax errors (an unclosed `<`, a broken attribute) and
    /// DTDs stay errors.
    pub lenient: bool,
    /// The deepest element nesting accepted (real files nest 8 deep at most).
    pub max_depth: usize,
}

impl ParseOptions {
    /// The default nesting limit.
    pub const DEFAULT_MAX_DEPTH: usize = 64;

    /// Well-formedness errors are errors (the default).
    #[must_use]
    pub const fn strict() -> Self {
        Self { lenient: false, max_depth: Self::DEFAULT_MAX_DEPTH }
    }

    /// Recover and report, see [`ParseOptions::lenient`](#structfield.lenient).
    #[must_use]
    pub const fn lenient() -> Self {
        Self { lenient: true, max_depth: Self::DEFAULT_MAX_DEPTH }
    }

    /// The same options with another nesting limit.
    #[must_use]
    pub const fn with_max_depth(self, max_depth: usize) -> Self {
        Self { max_depth, ..self }
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self::strict()
    }
}

/// What lenient parsing repaired, in the tree it built (the bytes are left alone until
/// [`CnfDocument::apply_repairs`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum RepairKind {
    /// `</found>` taken as the end of the open `<expected>` (`<WlanProfile2>0</WlanProfile1>`).
    MismatchedEndTag {
        /// The element it closes.
        expected: String,
        /// The name written in the end tag.
        found: String,
    },
    /// An end tag that matches no open element, ignored.
    StrayEndTag {
        /// The name written.
        found: String,
    },
    /// An element closed without its end tag, where its parent ends or at the end of input.
    UnclosedElement {
        /// The element.
        name: String,
    },
    /// An unknown entity or invalid character reference, kept as text.
    UnknownEntity {
        /// The reference as written between `&` and `;`.
        name: String,
    },
    /// A `&` that starts no reference, kept as text.
    BareAmpersand,
    /// Non-whitespace text outside the root element, ignored.
    TextOutsideRoot,
    /// Invalid UTF-8: the whole document is read as ISO-8859-1.
    Latin1Fallback,
}

/// One repair made by lenient parsing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repair {
    /// What was repaired.
    pub kind: RepairKind,
    /// Where.
    pub at: Location,
    #[serde(skip)]
    fix: Option<(Range<usize>, Vec<u8>)>,
}

impl Repair {
    /// What was repaired, without its location (the [`Display`](fmt::Display) form is
    /// `line:column: message`).
    #[must_use]
    pub fn message(&self) -> String {
        match &self.kind {
            RepairKind::MismatchedEndTag { expected, found } => {
                format!("end tag </{found}> taken as </{expected}>")
            }
            RepairKind::StrayEndTag { found } => format!("stray end tag </{found}> ignored"),
            RepairKind::UnclosedElement { name } => {
                format!("<{name}> closed here without its end tag")
            }
            RepairKind::UnknownEntity { name } => format!("&{name}; kept as text"),
            RepairKind::BareAmpersand => "bare & kept as text".to_owned(),
            RepairKind::TextOutsideRoot => "text outside the root ignored".to_owned(),
            RepairKind::Latin1Fallback => "invalid UTF-8, document read as ISO-8859-1".to_owned(),
        }
    }
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message())
    }
}

// The index is a few flat arrays of 32-bit offsets and links, so that it stays about the
// size of the document itself even for a file of tiny elements (a tree of `usize` ranges and
// a `Vec` per element took almost three times the input).

/// The largest document the index addresses.
const MAX_DOCUMENT_BYTES: usize = u32::MAX as usize;

/// No element or node: the end of a list, the root's parent.
const NONE: u32 = u32::MAX;

/// An offset into the document, which [`MAX_DOCUMENT_BYTES`] keeps within 32 bits.
fn off(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(NONE)
}

/// A byte range of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(r: &Range<usize>) -> Self {
        Self { start: off(r.start), end: off(r.end) }
    }

    const fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone)]
struct Attr {
    name: Span,
    value: Span,
    quote: u8,
}

/// A CDATA section, comment or processing instruction inside an element, linked to the next
/// one in the same element. Text needs no entry: it is what lies between an element's child
/// elements and markup.
#[derive(Debug, Clone)]
struct Markup {
    span: Span,
    cdata: bool,
    next: u32,
}

impl Markup {
    /// The characters of a CDATA section, inside `<![CDATA[` and `]]>`.
    fn cdata_text(&self) -> Range<usize> {
        let r = self.span.range();
        let start = (r.start + 9).min(r.end);
        start..r.end.saturating_sub(3).max(start)
    }
}

#[derive(Debug, Clone)]
struct El {
    /// The start tag, from its `<` (the name starts right after it).
    start_tag: Span,
    name_end: u32,
    /// End of the element's content: the start of its end tag, of the tag that implicitly
    /// closed it, or `start_tag.end` when self-closing.
    content_end: u32,
    /// End of the whole element (after its end tag).
    end: u32,
    /// Its attributes: a range of [`CnfDocument::attrs`].
    attrs: Span,
    parent: u32,
    /// Its first child element, which links to the next through `next_sibling`.
    first_child: u32,
    next_sibling: u32,
    /// Its first CDATA section, comment or processing instruction in [`CnfDocument::markup`].
    first_markup: u32,
    self_closing: bool,
    /// Closed by an end tag of its own (or self-closing); `false` when lenient parsing closed
    /// it implicitly.
    closed: bool,
}

impl El {
    const fn name(&self) -> Range<usize> {
        self.start_tag.start as usize + 1..self.name_end as usize
    }

    const fn start_tag(&self) -> Range<usize> {
        self.start_tag.range()
    }
}

/// A cnf.xml document (`XMLDefault.cnf.xml`, `SEP<MAC>.cnf.xml`), kept byte for byte.
///
/// The bytes read are the source of truth: the parser indexes element, attribute and text
/// spans over them, typed views read through the index, and edits patch the bytes in place
/// (then re-index), so formatting, comments, unknown elements and attributes and their order
/// are left exactly as they were.
///
/// ```
/// use cnfkit_config::CnfDocument;
///
/// let src = b"<!-- lab -->\r\n<device  xsi:type=\"axl:XIPPhone\" ctiid=\"7\">\r\n\t<loadInformation>SCCP42.9-4-2SR3-1S</loadInformation>\r\n</device>";
/// let mut doc = CnfDocument::parse(src)?;
/// assert_eq!(doc.as_bytes(), src);
/// assert_eq!(doc.root().attribute("xsi:type").as_deref(), Some("axl:XIPPhone"));
///
/// doc.set_text("loadInformation", "SIP42.9-4-2SR3-1S & co")?;
/// let out = String::from_utf8(doc.to_bytes()).unwrap();
/// assert!(out.contains("\t<loadInformation>SIP42.9-4-2SR3-1S &amp; co</loadInformation>\r\n"));
/// assert!(out.starts_with("<!-- lab -->\r\n<device  xsi:type"));
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CnfDocument {
    src: Vec<u8>,
    encoding: Encoding,
    encoding_source: EncodingSource,
    options: ParseOptions,
    elements: Vec<El>,
    attrs: Vec<Attr>,
    markup: Vec<Markup>,
    root: usize,
    repairs: Vec<Repair>,
}

/// A borrowed element of a [`CnfDocument`].
#[derive(Clone, Copy)]
pub struct Element<'d> {
    doc: &'d CnfDocument,
    idx: usize,
}

impl fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element").field("path", &self.path()).finish()
    }
}

impl CnfDocument {
    /// Parses a document strictly (any not-well-formed input is an error with line and column).
    ///
    /// # Errors
    /// Any [`Error`] with a [`Location`]: syntax, mismatched or missing end tags, unknown
    /// entities, a DTD, nesting deeper than 64, bad encoding.
    pub fn parse(src: &[u8]) -> Result<Self, Error> {
        Self::parse_with(src, ParseOptions::strict())
    }

    /// Parses with the given options.
    ///
    /// # Errors
    /// As [`CnfDocument::parse`], minus what lenient mode repairs.
    pub fn parse_with(src: &[u8], options: ParseOptions) -> Result<Self, Error> {
        Self::parse_owned(src.to_vec(), options)
    }

    /// Parses, taking ownership of the bytes (no copy).
    ///
    /// # Errors
    /// As [`CnfDocument::parse_with`].
    pub fn parse_owned(src: Vec<u8>, options: ParseOptions) -> Result<Self, Error> {
        Parser::run(src, options).map_err(|(e, _)| e)
    }

    /// The document's bytes: the input, byte for byte, until something is edited.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.src
    }

    /// A copy of the document's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.src.clone()
    }

    /// The bytes, consuming the document.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.src
    }

    /// The encoding the document was read in.
    #[must_use]
    pub const fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// How the encoding was decided.
    #[must_use]
    pub const fn encoding_source(&self) -> EncodingSource {
        self.encoding_source
    }

    /// The options the document was parsed with (edits re-index with the same).
    #[must_use]
    pub const fn options(&self) -> ParseOptions {
        self.options
    }

    /// What lenient parsing repaired (always empty in strict mode).
    #[must_use]
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    /// The root element.
    #[must_use]
    pub const fn root(&self) -> Element<'_> {
        Element { doc: self, idx: self.root }
    }

    /// The element at `path` (see [`ElementPath`]), if any.
    ///
    /// ```
    /// let doc = cnfkit_config::CnfDocument::parse(
    ///     br#"<device><m priority="0"><n>a</n></m><m priority="1"><n>b</n></m></device>"#)?;
    /// assert_eq!(doc.find("m[2]/n").map(|e| e.text()).as_deref(), Some("b"));
    /// assert_eq!(doc.find("m[@priority='0']/n").map(|e| e.text()).as_deref(), Some("a"));
    /// assert_eq!(doc.find("/device/m/n").map(|e| e.path()).as_deref(), Some("m[1]/n"));
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    #[must_use]
    pub fn find(&self, path: &str) -> Option<Element<'_>> {
        let path = ElementPath::parse(path).ok()?;
        self.resolve(&path).ok()
    }

    fn resolve(&self, path: &ElementPath) -> Result<Element<'_>, Error> {
        let mut cur = self.root();
        let mut segments = path.segments.as_slice();
        if path.absolute {
            let Some((first, rest)) = segments.split_first() else {
                return Ok(cur);
            };
            if !cur.matches(first) {
                return Err(Error::PathNotFound { path: path.text.clone() });
            }
            segments = rest;
        }
        for seg in segments {
            cur = cur
                .find_child(seg)
                .ok_or_else(|| Error::PathNotFound { path: path.text.clone() })?;
        }
        Ok(cur)
    }

    fn resolve_str(&self, path: &str) -> Result<Element<'_>, Error> {
        self.resolve(&ElementPath::parse(path)?)
    }

    pub(crate) fn loc(&self, offset: usize) -> Location {
        Location::of(&self.src, offset, self.encoding == Encoding::Utf8)
    }

    fn esc(&self, value: &str, ctx: Context, field: &str) -> Result<Vec<u8>, Error> {
        encoding::escape(value, ctx, self.encoding, field)
    }

    /// Applies byte patches (non-overlapping ranges; equal starts keep their order) and
    /// re-indexes. On failure the document is left unchanged.
    ///
    /// The bytes are patched in place and the old index is dropped before the new one is
    /// built, so an edit of a large document never holds it, or its index, twice. What each
    /// patch replaced is kept to put the bytes back when the result does not parse.
    fn patch(&mut self, mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Result<(), Error> {
        edits.sort_by_key(|(r, _)| r.start);
        let len = self.src.len();
        let in_bounds = edits.iter().all(|(r, _)| r.start <= r.end && r.end <= len)
            && edits.windows(2).all(|w| w[0].0.end <= w[1].0.start);
        if !in_bounds {
            return Err(Error::InvalidPath {
                path: String::new(),
                reason: "overlapping edits (a bug: please report it)",
            });
        }
        let encoding_before = encoding::detect(&self.src).ok();
        let mut src = std::mem::take(&mut self.src);
        self.drop_index();
        src.reserve_exact(edits.iter().map(|(r, b)| b.len().saturating_sub(r.len())).sum());
        // From the last patch to the first, so the ranges still to apply keep their offsets.
        let mut undo = Vec::with_capacity(edits.len());
        for (r, bytes) in edits.into_iter().rev() {
            let replaced: Vec<u8> = src.splice(r.clone(), bytes.iter().copied()).collect();
            undo.push((r.start..r.start + bytes.len(), replaced));
        }
        // Removing what came first (a stray end tag, say) must not make the bytes behind it
        // read as a byte order mark or an XML declaration, which would change how the whole
        // document decodes: a space keeps them where they were, behind something.
        let spaced = encoding::detect(&src).ok() != encoding_before;
        if spaced {
            src.insert(0, b' ');
        }
        match Parser::run(src, self.options) {
            Ok(doc) => {
                *self = doc;
                Ok(())
            }
            Err((e, mut src)) => {
                if spaced {
                    src.remove(0);
                }
                // Undone in the opposite order, each range as it was when it was patched.
                for (r, replaced) in undo.into_iter().rev() {
                    src.splice(r, replaced);
                }
                // The original bytes parsed with these options before, and parsing is a
                // function of the bytes and options alone.
                match Parser::run(src, self.options) {
                    Ok(doc) => *self = doc,
                    Err((_, src)) => self.src = src,
                }
                Err(e)
            }
        }
    }

    fn drop_index(&mut self) {
        self.elements = Vec::new();
        self.attrs = Vec::new();
        self.markup = Vec::new();
    }

    /// Sets the text of the leaf element at `path`, escaping it (`&`, `<`, `>`; characters the
    /// document's encoding cannot hold become character references). A self-closing
    /// `<x/>` becomes `<x>value</x>`. Whitespace around the old text (a value on its own
    /// indented line) is kept.
    ///
    /// # Errors
    /// [`Error::PathNotFound`], [`Error::InvalidPath`], [`Error::NotALeaf`] when the element has
    /// child elements, [`Error::InvalidChar`].
    pub fn set_text(&mut self, path: &str, value: &str) -> Result<(), Error> {
        let el = self.resolve_str(path)?;
        let edit = el.text_edit(value, path)?;
        self.patch(vec![edit])
    }

    /// Sets the text at `path`, creating the missing elements of the path (appended to their
    /// parents, indented like their siblings). Predicates `[@name='v']` on created segments
    /// become attributes; `[1]` is allowed on a created segment, other indexes are not.
    ///
    /// ```
    /// let mut doc = cnfkit_config::CnfDocument::parse(b"<device>\n  <a>1</a>\n</device>\n")?;
    /// doc.set_or_create("vendorConfig/pcPort", "1")?;
    /// assert_eq!(doc.as_bytes(), &b"<device>\n  <a>1</a>\n  <vendorConfig>\n    <pcPort>1</pcPort>\n  </vendorConfig>\n</device>\n"[..]);
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`CnfDocument::set_text`], plus [`Error::InvalidName`].
    pub fn set_or_create(&mut self, path: &str, value: &str) -> Result<(), Error> {
        let parsed = ElementPath::parse(path)?;
        let mut cur = self.root();
        let mut segments = parsed.segments.as_slice();
        if parsed.absolute
            && let Some((first, rest)) = segments.split_first()
        {
            if !cur.matches(first) {
                return Err(Error::PathNotFound { path: path.to_owned() });
            }
            segments = rest;
        }
        let mut i = 0;
        while i < segments.len() {
            match cur.find_child(&segments[i]) {
                Some(c) => cur = c,
                None => break,
            }
            i += 1;
        }
        if i == segments.len() {
            let edit = cur.text_edit(value, path)?;
            return self.patch(vec![edit]);
        }
        let missing = &segments[i..];
        for seg in missing {
            match seg.predicate {
                Predicate::Index(n) if n != 1 => {
                    return Err(Error::PathNotFound { path: path.to_owned() });
                }
                _ => {}
            }
            if !encoding::is_xml_name(&seg.name) {
                return Err(Error::InvalidName { name: seg.name.clone() });
            }
        }
        let edit = cur.append_edit(|nl, indent, unit| {
            let mut frag = Vec::new();
            for (depth, seg) in missing.iter().enumerate() {
                if depth > 0 {
                    frag.extend_from_slice(nl);
                    frag.extend_from_slice(indent);
                    for _ in 0..depth {
                        frag.extend_from_slice(unit);
                    }
                }
                frag.push(b'<');
                frag.extend_from_slice(seg.name.as_bytes());
                if let Predicate::Attribute(name, v) = &seg.predicate {
                    if !encoding::is_xml_name(name) {
                        return Err(Error::InvalidName { name: name.clone() });
                    }
                    frag.push(b' ');
                    frag.extend_from_slice(name.as_bytes());
                    frag.extend_from_slice(b"=\"");
                    frag.extend(self.esc(v, Context::Attribute(b'"'), path)?);
                    frag.push(b'"');
                }
                frag.push(b'>');
            }
            frag.extend(self.esc(value, Context::Text, path)?);
            for (depth, seg) in missing.iter().enumerate().rev() {
                if depth + 1 < missing.len() {
                    frag.extend_from_slice(nl);
                    frag.extend_from_slice(indent);
                    for _ in 0..depth {
                        frag.extend_from_slice(unit);
                    }
                }
                frag.extend_from_slice(b"</");
                frag.extend_from_slice(seg.name.as_bytes());
                frag.push(b'>');
            }
            Ok(frag)
        })?;
        self.patch(edit)
    }

    /// Sets (or adds, after the last attribute) an attribute of the element at `path`. An
    /// existing attribute keeps its quote character.
    ///
    /// # Errors
    /// [`Error::PathNotFound`], [`Error::InvalidPath`], [`Error::InvalidName`],
    /// [`Error::InvalidChar`].
    pub fn set_attribute(&mut self, path: &str, name: &str, value: &str) -> Result<(), Error> {
        if !encoding::is_xml_name(name) {
            return Err(Error::InvalidName { name: name.to_owned() });
        }
        let el = self.resolve_str(path)?;
        let attrs = el.attrs();
        let edit = if let Some(a) = attrs.iter().find(|a| el.bytes(a.name) == name.as_bytes()) {
            (a.value.range(), self.esc(value, Context::Attribute(a.quote), name)?)
        } else {
            let at = attrs.last().map_or(el.data().name().end, |a| a.value.range().end + 1);
            let mut ins = format!(" {name}=\"").into_bytes();
            ins.extend(self.esc(value, Context::Attribute(b'"'), name)?);
            ins.push(b'"');
            (at..at, ins)
        };
        self.patch(vec![edit])
    }

    /// Removes an attribute (and the whitespace before it). Returns whether it was there.
    ///
    /// # Errors
    /// [`Error::PathNotFound`], [`Error::InvalidPath`].
    pub fn remove_attribute(&mut self, path: &str, name: &str) -> Result<bool, Error> {
        let el = self.resolve_str(path)?;
        let Some(a) = el.attrs().iter().find(|a| el.bytes(a.name) == name.as_bytes()) else {
            return Ok(false);
        };
        let name_end = el.data().name().end;
        let mut start = a.name.range().start;
        while start > name_end && self.src[start - 1].is_ascii_whitespace() {
            start -= 1;
        }
        self.patch(vec![(start..a.value.range().end + 1, Vec::new())])?;
        Ok(true)
    }

    /// Appends `<name>text</name>` as the last child of the element at `parent`, on its own
    /// line, indented like its siblings.
    ///
    /// # Errors
    /// [`Error::PathNotFound`], [`Error::InvalidPath`], [`Error::InvalidName`],
    /// [`Error::InvalidChar`].
    pub fn append_element(&mut self, parent: &str, name: &str, text: &str) -> Result<(), Error> {
        if !encoding::is_xml_name(name) {
            return Err(Error::InvalidName { name: name.to_owned() });
        }
        let body = self.leaf_bytes(name, text)?;
        let el = self.resolve_str(parent)?;
        let edit = el.append_edit(|_, _, _| Ok(body.clone()))?;
        self.patch(edit)
    }

    /// Inserts `<name>text</name>` right after the element at `sibling`, on its own line with
    /// the same indentation.
    ///
    /// # Errors
    /// As [`CnfDocument::append_element`]; the root has no sibling.
    pub fn insert_element_after(
        &mut self,
        sibling: &str,
        name: &str,
        text: &str,
    ) -> Result<(), Error> {
        if !encoding::is_xml_name(name) {
            return Err(Error::InvalidName { name: name.to_owned() });
        }
        let body = self.leaf_bytes(name, text)?;
        let el = self.resolve_str(sibling)?;
        if el.idx == self.root {
            return Err(Error::InvalidPath {
                path: sibling.to_owned(),
                reason: "the root has no sibling",
            });
        }
        let data = el.data();
        if !data.closed {
            return Err(implicit(&el));
        }
        let tag = data.start_tag().start;
        let (indent, nl) = (self.indent_of(tag), self.newline_near(tag));
        let mut ins = nl.to_vec();
        ins.extend_from_slice(indent);
        ins.extend(body);
        let end = data.end as usize;
        self.patch(vec![(end..end, ins)])
    }

    fn leaf_bytes(&self, name: &str, text: &str) -> Result<Vec<u8>, Error> {
        let mut body = format!("<{name}>").into_bytes();
        body.extend(self.esc(text, Context::Text, name)?);
        body.extend_from_slice(format!("</{name}>").as_bytes());
        Ok(body)
    }

    /// Removes the element at `path` with everything inside it; when it is alone on its line,
    /// the line goes too. Returns nothing; the root cannot be removed.
    ///
    /// # Errors
    /// [`Error::PathNotFound`], [`Error::InvalidPath`] (also for the root).
    pub fn remove_element(&mut self, path: &str) -> Result<(), Error> {
        let el = self.resolve_str(path)?;
        if el.idx == self.root {
            return Err(Error::InvalidPath {
                path: path.to_owned(),
                reason: "cannot remove the root",
            });
        }
        let data = el.data();
        let (mut start, mut end) = (data.start_tag().start, data.end as usize);
        let line_start = self.src[..start].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let before_ws = self.src[line_start..start].iter().all(|b| matches!(b, b' ' | b'\t'));
        let rest = &self.src[end..];
        let eol = rest.iter().position(|&b| b == b'\n');
        if before_ws
            && let Some(eol) = eol
            && rest[..eol].iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
        {
            start = line_start;
            end += eol + 1;
        }
        self.patch(vec![(start..end, Vec::new())])
    }

    /// Rewrites what lenient parsing repaired so the bytes become well-formed: mismatched end
    /// tags get the right name, missing end tags are inserted, stray end tags removed, bare
    /// `&` and unknown entities escaped. Returns how many patches were made; the document
    /// then parses strictly.
    ///
    /// ```
    /// use cnfkit_config::{CnfDocument, ParseOptions};
    /// let mut doc = CnfDocument::parse_with(b"<device><a>0</b></device>", ParseOptions::lenient())?;
    /// assert_eq!(doc.apply_repairs()?, 1);
    /// assert_eq!(doc.as_bytes(), b"<device><a>0</a></device>");
    /// assert!(doc.repairs().is_empty());
    /// # Ok::<(), cnfkit_config::Error>(())
    /// ```
    ///
    /// # Errors
    /// Only if the patched document fails to parse (a bug: please report it).
    pub fn apply_repairs(&mut self) -> Result<usize, Error> {
        let edits: Vec<_> = self.repairs.iter().filter_map(|r| r.fix.clone()).collect();
        let n = edits.len();
        if n > 0 {
            self.patch(edits)?;
        }
        Ok(n)
    }

    fn indent_of(&self, offset: usize) -> &[u8] {
        let line_start = self.src[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let ws = &self.src[line_start..offset];
        if ws.iter().all(|b| matches!(b, b' ' | b'\t')) { ws } else { b"" }
    }

    fn newline_near(&self, offset: usize) -> &'static [u8] {
        let after = self.src[offset..].iter().position(|&b| b == b'\n').map(|i| offset + i);
        let before = self.src[..offset].iter().rposition(|&b| b == b'\n');
        match after.or(before) {
            Some(i) if i > 0 && self.src[i - 1] == b'\r' => b"\r\n",
            _ => b"\n",
        }
    }

    /// One indentation step: the indentation of the root's first child element, or two spaces.
    fn indent_unit(&self) -> Vec<u8> {
        self.root()
            .children()
            .next()
            .map(|c| self.indent_of(c.data().start_tag().start).to_vec())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| b"  ".to_vec())
    }
}

impl<'d> Element<'d> {
    fn data(&self) -> &'d El {
        &self.doc.elements[self.idx]
    }

    fn bytes(&self, r: Span) -> &'d [u8] {
        &self.doc.src[r.range()]
    }

    fn name_bytes(&self) -> &'d [u8] {
        &self.doc.src[self.data().name()]
    }

    fn attrs(&self) -> &'d [Attr] {
        &self.doc.attrs[self.data().attrs.range()]
    }

    /// The element's CDATA sections, comments and processing instructions, in order.
    fn markup(&self) -> impl Iterator<Item = &'d Markup> + 'd {
        let markup = &self.doc.markup;
        let mut next = self.data().first_markup;
        std::iter::from_fn(move || {
            let m = markup.get(next as usize)?;
            next = m.next;
            Some(m)
        })
    }

    /// What interrupts the element's text, in document order: each child element and each
    /// piece of markup, as its byte range and, for a CDATA section, the characters it holds.
    fn breaks(&self) -> impl Iterator<Item = (Range<usize>, Option<Range<usize>>)> + 'd {
        let mut children = self.children().peekable();
        let mut markup = self.markup().peekable();
        std::iter::from_fn(move || {
            let child_at = children.peek().map(|c| c.data().start_tag.start);
            let markup_at = markup.peek().map(|m| m.span.start);
            match (child_at, markup_at) {
                (None, None) => None,
                (Some(c), m) if m.is_none_or(|m| c < m) => {
                    let d = children.next()?.data();
                    Some((d.start_tag().start..d.end as usize, None))
                }
                _ => {
                    let m = markup.next()?;
                    Some((m.span.range(), m.cdata.then(|| m.cdata_text())))
                }
            }
        })
    }

    /// The element name as written (`Default`, `default`, `loadInformation434`).
    #[must_use]
    pub fn name(&self) -> Cow<'d, str> {
        encoding::decode(self.name_bytes(), self.doc.encoding)
    }

    /// Whether the element is named exactly `name`.
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        let raw = self.name_bytes();
        if self.doc.encoding == Encoding::Utf8 || raw.is_ascii() {
            raw == name.as_bytes()
        } else {
            encoding::decode(raw, self.doc.encoding) == name
        }
    }

    /// The value of an attribute (unescaped), by its name as written (`xsi:type`).
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.attrs()
            .iter()
            .find(|a| self.bytes(a.name) == name.as_bytes())
            .map(|a| encoding::unescape(self.bytes(a.value), self.doc.encoding))
    }

    /// All attributes in document order, values unescaped.
    #[must_use]
    pub fn attributes(&self) -> Vec<(String, String)> {
        self.attrs()
            .iter()
            .map(|a| {
                (
                    encoding::decode(self.bytes(a.name), self.doc.encoding).into_owned(),
                    encoding::unescape(self.bytes(a.value), self.doc.encoding),
                )
            })
            .collect()
    }

    /// The element's own character data (text and CDATA children, unescaped, comments
    /// skipped), untrimmed.
    #[must_use]
    pub fn raw_text(&self) -> String {
        let d = self.data();
        let (src, enc) = (&self.doc.src, self.doc.encoding);
        let mut out = String::new();
        let mut at = d.start_tag.end as usize;
        for (span, cdata) in self.breaks() {
            out.push_str(&encoding::unescape(&src[at..span.start.max(at)], enc));
            if let Some(chars) = cdata {
                out.push_str(&encoding::decode(&src[chars], enc));
            }
            at = span.end;
        }
        out.push_str(&encoding::unescape(&src[at..(d.content_end as usize).max(at)], enc));
        out
    }

    /// The element's text with leading and trailing whitespace removed
    /// (`<versionStamp>\n  {85A0...}</versionStamp>` reads as `{85A0...}`).
    #[must_use]
    pub fn text(&self) -> String {
        let t = self.raw_text();
        let trimmed = t.trim_matches(is_xml_space);
        if trimmed.len() == t.len() { t } else { trimmed.to_owned() }
    }

    /// Child elements in document order.
    pub fn children(&self) -> impl Iterator<Item = Element<'d>> + 'd {
        let (doc, elements) = (self.doc, &self.doc.elements);
        let mut next = self.data().first_child;
        std::iter::from_fn(move || {
            let idx = next as usize;
            next = elements.get(idx)?.next_sibling;
            Some(Element { doc, idx })
        })
    }

    /// Child elements named `name`.
    pub fn children_named<'n>(&self, name: &'n str) -> impl Iterator<Item = Element<'d>> + 'n
    where
        'd: 'n,
    {
        self.children().filter(move |c| c.is(name))
    }

    /// The first child element named `name`.
    #[must_use]
    pub fn child(&self, name: &str) -> Option<Element<'d>> {
        self.children().find(|c| c.is(name))
    }

    /// The trimmed text of the first child named `name`.
    #[must_use]
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text())
    }

    /// The element at a relative `path` below this one.
    #[must_use]
    pub fn find(&self, path: &str) -> Option<Element<'d>> {
        let path = ElementPath::parse(path).ok()?;
        let mut cur = *self;
        for seg in &path.segments {
            cur = cur.find_child(seg)?;
        }
        Some(cur)
    }

    /// Whether the element has child elements.
    #[must_use]
    pub fn has_children(&self) -> bool {
        self.children().next().is_some()
    }

    /// Whether it was written `<x/>`.
    #[must_use]
    pub fn is_self_closing(&self) -> bool {
        self.data().self_closing
    }

    /// The parent element (`None` for the root).
    #[must_use]
    pub fn parent(&self) -> Option<Element<'d>> {
        let parent = self.data().parent;
        (parent != NONE).then_some(Element { doc: self.doc, idx: parent as usize })
    }

    /// Where the start tag is.
    #[must_use]
    pub fn location(&self) -> Location {
        self.doc.loc(self.data().start_tag().start)
    }

    /// The element's bytes as written, from its start tag to its end tag.
    #[must_use]
    pub fn raw(&self) -> &'d [u8] {
        let d = self.data();
        &self.doc.src[d.start_tag().start..d.end as usize]
    }

    /// A path that [`CnfDocument::find`] resolves back to this element: relative to the root,
    /// with a 1-based `[n]` where siblings share the name.
    #[must_use]
    pub fn path(&self) -> String {
        let mut parts = Vec::new();
        let mut cur = *self;
        while let Some(p) = cur.parent() {
            let (n, total) = cur.sibling_position(&p);
            let name = cur.name();
            parts.push(if total > 1 { format!("{name}[{n}]") } else { name.into_owned() });
            cur = p;
        }
        parts.reverse();
        parts.join("/")
    }

    /// 1-based position among the parent's children of the same name, and how many there
    /// are: one pass over the siblings, comparing name bytes.
    fn sibling_position(&self, parent: &Element<'d>) -> (usize, usize) {
        let own = self.name_bytes();
        let (mut n, mut total) = (0, 0);
        for c in parent.children() {
            if c.name_bytes() == own {
                total += 1;
                if c.idx <= self.idx {
                    n += 1;
                }
            }
        }
        (n.max(1), total)
    }

    /// The paths of all child elements, in order: like calling [`Element::path`] on each, in
    /// one pass over the children instead of one per child.
    #[must_use]
    pub fn child_paths(&self) -> Vec<(Element<'d>, String)> {
        self.child_paths_named(|_| true)
    }

    /// [`Element::child_paths`] of the children whose name `keep` accepts: a name kept or not
    /// as a whole keeps every sibling of that name, so the `[n]` come out the same, and a
    /// large document pays only for the few children asked for.
    pub(crate) fn child_paths_named(
        &self,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Vec<(Element<'d>, String)> {
        let prefix =
            if self.parent().is_some() { format!("{}/", self.path()) } else { String::new() };
        let mut counts: std::collections::HashMap<&[u8], (usize, usize)> =
            std::collections::HashMap::new();
        let children: Vec<Element<'d>> = self.children().filter(|c| keep(&c.name())).collect();
        for c in &children {
            counts.entry(c.name_bytes()).or_default().0 += 1;
        }
        children
            .into_iter()
            .map(|c| {
                let entry = counts.get_mut(c.name_bytes()).map_or((1, 1), |e| {
                    e.1 += 1;
                    (e.1, e.0)
                });
                let name = c.name();
                let path = if entry.1 > 1 {
                    format!("{prefix}{name}[{}]", entry.0)
                } else {
                    format!("{prefix}{name}")
                };
                (c, path)
            })
            .collect()
    }

    fn matches(&self, seg: &Segment) -> bool {
        self.is(&seg.name)
    }

    fn find_child(&self, seg: &Segment) -> Option<Element<'d>> {
        let mut same = self.children_named(&seg.name);
        match &seg.predicate {
            Predicate::None => same.next(),
            Predicate::Index(n) => same.nth(n - 1),
            Predicate::Attribute(a, v) => {
                same.find(|c| c.attribute(a).as_deref() == Some(v.as_str()))
            }
        }
    }

    fn text_edit(&self, value: &str, path: &str) -> Result<(Range<usize>, Vec<u8>), Error> {
        if self.has_children() {
            return Err(Error::NotALeaf { path: path.to_owned() });
        }
        let d = self.data();
        let escaped = self.doc.esc(value, Context::Text, path)?;
        let tag = d.start_tag();
        if d.self_closing {
            // `<x attrs/>` -> `<x attrs>value</x>`
            let bytes = &self.doc.src[tag.clone()];
            let slash = bytes.iter().rposition(|&b| b == b'/').unwrap_or(bytes.len() - 2);
            let mut rep = b">".to_vec();
            rep.extend(escaped);
            rep.extend_from_slice(b"</");
            rep.extend_from_slice(self.name_bytes());
            rep.push(b'>');
            return Ok((tag.start + slash..tag.end, rep));
        }
        let content = tag.end..d.content_end as usize;
        let only_text = self.markup().next().is_none();
        let raw = &self.doc.src[content.clone()];
        let lead = raw.iter().take_while(|&&b| is_xml_space(char::from(b))).count();
        if only_text && lead < raw.len() {
            let trail = raw.iter().rev().take_while(|&&b| is_xml_space(char::from(b))).count();
            return Ok((content.start + lead..content.end - trail, escaped));
        }
        Ok((content, escaped))
    }

    /// The patch that appends a child built by `make(newline, indent_of_child_line, unit)`.
    #[allow(clippy::type_complexity)]
    fn append_edit(
        &self,
        make: impl FnOnce(&[u8], &[u8], &[u8]) -> Result<Vec<u8>, Error>,
    ) -> Result<Vec<(Range<usize>, Vec<u8>)>, Error> {
        let doc = self.doc;
        let d = self.data();
        let tag = d.start_tag();
        let nl = doc.newline_near(tag.start);
        let unit = doc.indent_unit();
        if let Some(last) = self.children().last() {
            let ld = last.data();
            if !ld.closed {
                return Err(implicit(&last));
            }
            let indent = doc.indent_of(ld.start_tag().start).to_vec();
            let mut ins = nl.to_vec();
            ins.extend_from_slice(&indent);
            ins.extend(make(nl, &indent, &unit)?);
            let end = ld.end as usize;
            return Ok(vec![(end..end, ins)]);
        }
        let own = doc.indent_of(tag.start).to_vec();
        let mut child_indent = own.clone();
        child_indent.extend_from_slice(&unit);
        let mut body = nl.to_vec();
        body.extend_from_slice(&child_indent);
        body.extend(make(nl, &child_indent, &unit)?);
        body.extend_from_slice(nl);
        body.extend_from_slice(&own);
        if d.self_closing {
            let bytes = &doc.src[tag.clone()];
            let slash = bytes.iter().rposition(|&b| b == b'/').unwrap_or(bytes.len() - 2);
            let mut rep = b">".to_vec();
            rep.extend(body);
            rep.extend_from_slice(b"</");
            rep.extend_from_slice(self.name_bytes());
            rep.push(b'>');
            return Ok(vec![(tag.start + slash..tag.end, rep)]);
        }
        let content = tag.end..d.content_end as usize;
        if !doc.src[content.clone()].iter().all(u8::is_ascii_whitespace) {
            return Err(Error::InvalidPath {
                path: self.path(),
                reason: "element holds text; cannot add a child element to it",
            });
        }
        Ok(vec![(content, body)])
    }
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// XML 1.0 `S`: space, tab, CR, LF (not form feed, not U+00A0).
const fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn implicit(e: &Element<'_>) -> Error {
    Error::InvalidPath {
        path: e.path(),
        reason: "element has no end tag (lenient repair): apply_repairs before inserting after it",
    }
}

struct Parser<'s> {
    src: &'s [u8],
    options: ParseOptions,
    utf8: bool,
    elements: Vec<El>,
    attrs: Vec<Attr>,
    markup: Vec<Markup>,
    /// The open elements, innermost last.
    stack: Vec<usize>,
    /// For each open element, its last child element and last markup so far.
    tails: Vec<(u32, u32)>,
    root: Option<usize>,
    repairs: Vec<Repair>,
    text: Option<Range<usize>>,
}

impl Parser<'_> {
    /// Parses `src`, giving it back with the error when it does not parse.
    fn run(src: Vec<u8>, options: ParseOptions) -> Result<CnfDocument, (Error, Vec<u8>)> {
        if src.len() > MAX_DOCUMENT_BYTES {
            let len = src.len();
            return Err((Error::TooLarge { len, limit: MAX_DOCUMENT_BYTES }, src));
        }
        let (mut encoding, mut encoding_source) = match encoding::detect(&src) {
            Ok(found) => found,
            Err(e) => return Err((e, src)),
        };
        let mut repairs = Vec::new();
        if encoding == Encoding::Utf8
            && let Err(e) = std::str::from_utf8(&src)
        {
            let at = Location::of(&src, e.valid_up_to(), true);
            if !options.lenient {
                return Err((Error::InvalidUtf8 { at }, src));
            }
            encoding = Encoding::Latin1;
            encoding_source = EncodingSource::Fallback;
            repairs.push(Repair { kind: RepairKind::Latin1Fallback, at, fix: None });
        }
        let mut p = Parser {
            src: &src,
            options,
            utf8: encoding == Encoding::Utf8,
            // Most elements have a start and an end tag: reserving for half the `<` is about
            // exact, where growing by doubling would hold the old and new arrays at once.
            elements: Vec::with_capacity(src.iter().filter(|&&b| b == b'<').count() / 2 + 1),
            attrs: Vec::new(),
            markup: Vec::new(),
            stack: Vec::new(),
            tails: Vec::new(),
            root: None,
            repairs,
            text: None,
        };
        let parsed = p.tokens().and_then(|()| p.root.ok_or(Error::NoRoot));
        let (elements, mut attrs, mut markup, repairs) = (p.elements, p.attrs, p.markup, p.repairs);
        attrs.shrink_to_fit();
        markup.shrink_to_fit();
        match parsed {
            Ok(root) => Ok(CnfDocument {
                src,
                encoding,
                encoding_source,
                options,
                elements,
                attrs,
                markup,
                root,
                repairs,
            }),
            Err(e) => Err((e, src)),
        }
    }

    fn loc(&self, offset: usize) -> Location {
        Location::of(self.src, offset, self.utf8)
    }

    fn name_str(&self, r: &Range<usize>) -> String {
        let enc = if self.utf8 { Encoding::Utf8 } else { Encoding::Latin1 };
        encoding::decode(&self.src[r.clone()], enc).into_owned()
    }

    /// `</name>` with the element's name bytes as written (any encoding).
    fn end_tag_bytes(&self, idx: usize) -> Vec<u8> {
        let mut fix = b"</".to_vec();
        fix.extend_from_slice(&self.src[self.elements[idx].name()]);
        fix.push(b'>');
        fix
    }

    fn repair(&mut self, kind: RepairKind, offset: usize, fix: Option<(Range<usize>, Vec<u8>)>) {
        let at = self.loc(offset);
        self.repairs.push(Repair { kind, at, fix });
    }

    fn tokens(&mut self) -> Result<(), Error> {
        // quick-xml reads UTF-8 only. ISO-8859-1 markup is ASCII, so tokenize a copy in which
        // every non-ASCII byte is an ASCII letter: every offset stays the same, and names and
        // values are read from the real bytes.
        // A byte order mark is not given to the tokenizer either: quick-xml skips one at the
        // start of its input without counting it in its positions, so a file that starts with
        // two (fuzz regression `double-bom-declaration`) would shift every later offset. The
        // mark becomes three spaces; `flush_text` knows those bytes are the mark.
        let latin1_bytes = !self.utf8 && !self.src.is_ascii();
        let mut shadow: Cow<'_, [u8]> = if latin1_bytes {
            Cow::Owned(self.src.iter().map(|&b| if b.is_ascii() { b } else { b'a' }).collect())
        } else {
            Cow::Borrowed(self.src)
        };
        if self.src.starts_with(BOM) {
            shadow.to_mut()[..BOM.len()].copy_from_slice(b"   ");
        }
        let mut reader = Reader::from_reader(&shadow[..]);
        {
            let cfg = reader.config_mut();
            cfg.check_end_names = false;
            cfg.allow_unmatched_ends = true;
            cfg.expand_empty_elements = false;
            cfg.trim_text(false);
            cfg.check_comments = true;
            cfg.allow_dangling_amp = self.options.lenient;
        }
        loop {
            let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    let at = usize::try_from(reader.error_position()).unwrap_or(0);
                    return Err(Error::Syntax { message: e.to_string(), at: self.loc(at) });
                }
            };
            let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let start = start.min(end);
            match event {
                Event::Text(_) => {
                    if self.options.lenient {
                        for off in (start..end).filter(|&i| self.src[i] == b'&') {
                            let fix = Some((off..off + 1, b"&amp;".to_vec()));
                            self.repair(RepairKind::BareAmpersand, off, fix);
                        }
                    }
                    self.push_text(start..end);
                }
                Event::GeneralRef(_) => {
                    let r = &self.src[(start + 1).min(end)..end.saturating_sub(1).max(start)];
                    match encoding::resolve_reference(r) {
                        Reference::Char(_) => {}
                        other => {
                            let name = String::from_utf8_lossy(r).into_owned();
                            if !self.options.lenient {
                                let at = self.loc(start);
                                return Err(match other {
                                    Reference::BadCharRef => {
                                        Error::InvalidCharRef { value: name, at }
                                    }
                                    _ => Error::UnknownEntity { name, at },
                                });
                            }
                            self.repair(
                                RepairKind::UnknownEntity { name },
                                start,
                                Some((start..start + 1, b"&amp;".to_vec())),
                            );
                        }
                    }
                    self.push_text(start..end);
                }
                Event::Start(_) | Event::Empty(_) => {
                    self.flush_text()?;
                    let empty = matches!(event, Event::Empty(_));
                    self.open(start..end, empty)?;
                }
                Event::End(_) => {
                    self.flush_text()?;
                    let inner = &self.src[(start + 2).min(end)..end.saturating_sub(1).max(start)];
                    let len = inner.len()
                        - inner.iter().rev().take_while(|b| b.is_ascii_whitespace()).count();
                    self.close(start..end, &inner[..len])?;
                }
                Event::CData(_) => {
                    self.flush_text()?;
                    if !self.stack.is_empty() {
                        self.push_markup(Span::of(&(start..end)), true);
                    } else if !self.options.lenient {
                        return Err(Error::TextOutsideRoot { at: self.loc(start) });
                    } else {
                        self.repair(RepairKind::TextOutsideRoot, start, None);
                    }
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {
                    self.flush_text()?;
                    if !self.stack.is_empty() {
                        self.push_markup(Span::of(&(start..end)), false);
                    }
                }
                Event::DocType(_) => return Err(Error::Doctype { at: self.loc(start) }),
                Event::Eof => {
                    self.flush_text()?;
                    return self.finish();
                }
            }
        }
    }

    /// Links element `idx` after the last child of the innermost open element.
    fn push_child(&mut self, idx: usize) {
        let (Some(&parent), Some(tail)) = (self.stack.last(), self.tails.last_mut()) else {
            return;
        };
        match tail.0 {
            NONE => self.elements[parent].first_child = off(idx),
            last => self.elements[last as usize].next_sibling = off(idx),
        }
        tail.0 = off(idx);
    }

    /// Adds markup to the innermost open element.
    fn push_markup(&mut self, span: Span, cdata: bool) {
        let (Some(&parent), Some(tail)) = (self.stack.last(), self.tails.last_mut()) else {
            return;
        };
        let idx = off(self.markup.len());
        self.markup.push(Markup { span, cdata, next: NONE });
        match tail.1 {
            NONE => self.elements[parent].first_markup = idx,
            last => self.markup[last as usize].next = idx,
        }
        tail.1 = idx;
    }

    fn push_open(&mut self, idx: usize) {
        self.stack.push(idx);
        self.tails.push((NONE, NONE));
    }

    fn pop_open(&mut self) -> Option<usize> {
        self.tails.pop();
        self.stack.pop()
    }

    fn push_text(&mut self, r: Range<usize>) {
        self.text = Some(match self.text.take() {
            Some(prev) => prev.start..r.end,
            None => r,
        });
    }

    fn flush_text(&mut self) -> Result<(), Error> {
        let Some(r) = self.text.take() else { return Ok(()) };
        if self.stack.is_empty() {
            // A UTF-8 byte order mark at the very start is not text.
            let from = if r.start == 0 && self.src.starts_with(BOM) { BOM.len() } else { r.start };
            let Some(i) =
                self.src[from.min(r.end)..r.end].iter().position(|b| !b.is_ascii_whitespace())
            else {
                return Ok(());
            };
            let off = from + i;
            if !self.options.lenient {
                return Err(Error::TextOutsideRoot { at: self.loc(off) });
            }
            self.repair(RepairKind::TextOutsideRoot, off, None);
        }
        Ok(())
    }

    fn open(&mut self, span: Range<usize>, empty: bool) -> Result<(), Error> {
        // The tag starts at its `<` (a byte order mark may precede the first event).
        let lt = span.start + self.src[span.clone()].iter().position(|&b| b == b'<').unwrap_or(0);
        let tag = lt..span.end;
        if self.stack.len() >= self.options.max_depth {
            return Err(Error::TooDeep { limit: self.options.max_depth, at: self.loc(lt) });
        }
        if self.stack.is_empty() && self.root.is_some() {
            let name_end = self.scan_name(lt + 1, tag.end);
            return Err(Error::MultipleRoots {
                name: self.name_str(&(lt + 1..name_end)),
                at: self.loc(lt),
            });
        }
        let inner_end = if empty { tag.end - 2 } else { tag.end - 1 };
        let name_end = self.scan_name(lt + 1, inner_end);
        let name = lt + 1..name_end;
        self.check_name(&name, "element")?;
        let mut pending = Vec::new();
        // Straight into the document's one list of attributes (no allocation per element).
        let mut attrs = std::mem::take(&mut self.attrs);
        let first = attrs.len();
        let parsed = self.attributes(&name, name_end, inner_end, &mut attrs, &mut pending);
        let attr_span = Span { start: off(first), end: off(attrs.len()) };
        self.attrs = attrs;
        parsed?;
        self.repairs.extend(pending);
        let idx = self.elements.len();
        let parent = self.stack.last().copied();
        self.elements.push(El {
            start_tag: Span::of(&tag),
            name_end: off(name_end),
            content_end: off(tag.end),
            end: off(tag.end),
            attrs: attr_span,
            parent: parent.map_or(NONE, off),
            first_child: NONE,
            next_sibling: NONE,
            first_markup: NONE,
            self_closing: empty,
            closed: empty,
        });
        match parent {
            Some(_) => self.push_child(idx),
            None => self.root = Some(idx),
        }
        if !empty {
            self.push_open(idx);
        }
        Ok(())
    }

    /// XML 1.0 names, as far as ASCII goes: no punctuation but `_ - . :`, no control
    /// characters, not starting with a digit, `-` or `.`. Other bytes (non-ASCII) are allowed.
    fn check_name(&self, r: &Range<usize>, what: &str) -> Result<(), Error> {
        let name = &self.src[r.clone()];
        let bad_byte = |b: u8| {
            b.is_ascii() && !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        };
        let ok = match name.first() {
            None => false,
            Some(&f) => {
                !(f.is_ascii_digit() || f == b'-' || f == b'.' || name.iter().any(|&b| bad_byte(b)))
            }
        };
        if ok {
            return Ok(());
        }
        let at = self.loc(r.start);
        Err(Error::Syntax {
            message: format!("invalid {what} name {:?}", String::from_utf8_lossy(name)),
            at,
        })
    }

    fn scan_name(&self, from: usize, to: usize) -> usize {
        from + self.src[from..to]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
            .unwrap_or(to - from)
    }

    fn attributes(
        &self,
        name: &Range<usize>,
        mut i: usize,
        end: usize,
        all: &mut Vec<Attr>,
        pending: &mut Vec<Repair>,
    ) -> Result<(), Error> {
        let src = self.src;
        let first = all.len();
        let bad = |reason: &'static str, at: usize| Error::MalformedAttribute {
            element: self.name_str(name),
            reason,
            at: self.loc(at),
        };
        loop {
            let ws = src[i..end].iter().take_while(|b| b.is_ascii_whitespace()).count();
            i += ws;
            if i >= end {
                return Ok(());
            }
            if ws == 0 {
                return Err(bad("no whitespace before the attribute", i));
            }
            let n_start = i;
            while i < end && !src[i].is_ascii_whitespace() && src[i] != b'=' {
                i += 1;
            }
            let n = n_start..i;
            self.check_name(&n, "attribute")?;
            while i < end && src[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= end || src[i] != b'=' {
                return Err(bad("attribute without =\"value\"", n_start));
            }
            i += 1;
            while i < end && src[i].is_ascii_whitespace() {
                i += 1;
            }
            let q = if i < end { src[i] } else { 0 };
            if q != b'"' && q != b'\'' {
                return Err(bad("attribute value without quotes", i.min(end)));
            }
            let v_start = i + 1;
            let Some(len) = src[v_start..end].iter().position(|&b| b == q) else {
                return Err(bad("unterminated attribute value", i));
            };
            let v = v_start..v_start + len;
            if let Some(lt) = src[v.clone()].iter().position(|&b| b == b'<') {
                return Err(bad("'<' in an attribute value", v_start + lt));
            }
            self.check_refs(&v, pending)?;
            if all[first..].iter().any(|a| src[a.name.range()] == src[n.clone()]) {
                return Err(Error::DuplicateAttribute {
                    name: self.name_str(&n),
                    element: self.name_str(name),
                    at: self.loc(n.start),
                });
            }
            all.push(Attr { name: Span::of(&n), value: Span::of(&v), quote: q });
            i = v.end + 1;
        }
    }

    /// References in an attribute value: the same rules as in text. Lenient mode keeps them.
    fn check_refs(&self, v: &Range<usize>, pending: &mut Vec<Repair>) -> Result<(), Error> {
        let raw = &self.src[v.clone()];
        let mut i = 0;
        while let Some(j) = raw[i..].iter().position(|&b| b == b'&') {
            let at = i + j;
            let off = v.start + at;
            let semi = raw[at..].iter().take(34).position(|&b| b == b';');
            let name = semi.map(|semi| &raw[at + 1..at + semi]);
            let problem = match name.map(encoding::resolve_reference) {
                Some(Reference::Char(_)) => None,
                None => Some(RepairKind::BareAmpersand),
                Some(_) => Some(RepairKind::UnknownEntity {
                    name: String::from_utf8_lossy(name.unwrap_or_default()).into_owned(),
                }),
            };
            if let Some(kind) = problem {
                let loc = self.loc(off);
                if !self.options.lenient {
                    return Err(match (kind, name.map(encoding::resolve_reference)) {
                        (RepairKind::UnknownEntity { name }, Some(Reference::BadCharRef)) => {
                            Error::InvalidCharRef { value: name, at: loc }
                        }
                        (RepairKind::UnknownEntity { name }, _) => {
                            Error::UnknownEntity { name, at: loc }
                        }
                        _ => Error::Syntax {
                            message: "bare '&' in an attribute value".into(),
                            at: loc,
                        },
                    });
                }
                pending.push(Repair {
                    kind,
                    at: loc,
                    fix: Some((off..off + 1, b"&amp;".to_vec())),
                });
                i = at + 1;
            } else {
                i = at + semi.unwrap_or(0) + 1;
            }
        }
        Ok(())
    }

    fn close(&mut self, span: Range<usize>, found: &[u8]) -> Result<(), Error> {
        let name_start = span.start + 2;
        let found_str =
            encoding::decode(found, if self.utf8 { Encoding::Utf8 } else { Encoding::Latin1 })
                .into_owned();
        let Some(&top) = self.stack.last() else {
            if !self.options.lenient {
                return Err(Error::UnexpectedEndTag { found: found_str, at: self.loc(span.start) });
            }
            self.repair(
                RepairKind::StrayEndTag { found: found_str },
                span.start,
                Some((span, Vec::new())),
            );
            return Ok(());
        };
        if self.src[self.elements[top].name()] == *found {
            self.pop_open();
            self.end_element(top, span.start, span.end);
            return Ok(());
        }
        let expected = self.name_str(&self.elements[top].name());
        if !self.options.lenient {
            return Err(Error::MismatchedEndTag {
                expected,
                found: found_str,
                at: self.loc(span.start),
            });
        }
        if let Some(depth) =
            self.stack.iter().rposition(|&e| self.src[self.elements[e].name()] == *found)
        {
            // An ancestor's end tag: the elements above it were left open.
            while self.stack.len() > depth + 1 {
                let open = self.pop_open().unwrap_or(top);
                let name = self.name_str(&self.elements[open].name());
                let fix = self.end_tag_bytes(open);
                self.end_element(open, span.start, span.start);
                self.repair(
                    RepairKind::UnclosedElement { name },
                    span.start,
                    Some((span.start..span.start, fix)),
                );
            }
            let anc = self.pop_open().unwrap_or(top);
            self.end_element(anc, span.start, span.end);
        } else {
            // A misspelt end tag of the open element (`<WlanProfile2>0</WlanProfile1>`).
            self.pop_open();
            self.end_element(top, span.start, span.end);
            let name_range = name_start..name_start + found.len();
            let expected_raw = self.src[self.elements[top].name()].to_vec();
            self.repair(
                RepairKind::MismatchedEndTag { expected: expected.clone(), found: found_str },
                span.start,
                Some((name_range, expected_raw)),
            );
        }
        Ok(())
    }

    fn end_element(&mut self, idx: usize, content_end: usize, end: usize) {
        let el = &mut self.elements[idx];
        el.content_end = off(content_end);
        el.end = off(end);
        el.closed = end > content_end;
    }

    fn finish(&mut self) -> Result<(), Error> {
        let end = self.src.len();
        if let Some(&innermost) = self.stack.last() {
            if !self.options.lenient {
                let name = self.name_str(&self.elements[innermost].name());
                return Err(Error::UnclosedElement {
                    name,
                    at: self.loc(self.elements[innermost].start_tag().start),
                });
            }
            while let Some(open) = self.pop_open() {
                let name = self.name_str(&self.elements[open].name());
                let fix = self.end_tag_bytes(open);
                self.end_element(open, end, end);
                self.repair(RepairKind::UnclosedElement { name }, end, Some((end..end, fix)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_that_does_not_parse_is_undone_byte_for_byte() {
        let src = b"<device>\n  <a>1</a>\n  <b>2</b>\n</device>\n";
        let mut doc = CnfDocument::parse(src).unwrap();
        // Three patches, the first and last changing lengths, the middle one breaking the
        // document: every range is put back as it was.
        let edits =
            vec![(11..12, b"aaa".to_vec()), (13..14, b"<<".to_vec()), (23..23, b"x".to_vec())];
        assert!(matches!(doc.patch(edits), Err(Error::Syntax { .. })));
        assert_eq!(doc.as_bytes(), src);
        assert_eq!(doc.find("b").unwrap().text(), "2");
        doc.set_text("a", "3").unwrap();
        assert_eq!(doc.as_bytes(), b"<device>\n  <a>3</a>\n  <b>2</b>\n</device>\n");
    }

    #[test]
    fn overlapping_patches_are_refused_not_applied() {
        let mut doc = CnfDocument::parse(b"<device><a>1</a></device>").unwrap();
        let edits = vec![(8..16, Vec::new()), (11..12, b"2".to_vec())];
        assert!(matches!(doc.patch(edits), Err(Error::InvalidPath { .. })));
        assert_eq!(doc.as_bytes(), b"<device><a>1</a></device>");
    }

    #[test]
    fn the_index_is_small_per_element() {
        // What keeps a large document's index about its own size (see the memory test).
        assert!(size_of::<El>() <= 48);
        assert!(size_of::<Attr>() <= 20);
    }
}
