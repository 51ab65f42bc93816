//! Element paths: `devicePool/callManagerGroup/members/member[2]/callManager/processNodeName`.

use crate::error::Error;

/// An element path, a small subset of XPath.
///
/// Segments are element names separated by `/`, relative to the root element; a leading `/`
/// makes the first segment name the root itself (`/device/devicePool`). A segment may carry one
/// predicate: `[n]`, the n-th element of that name (1-based, as in XPath), or `[@attr='value']`
/// (either quote), the first one with that attribute value.
///
/// ```
/// use cnfkit_config::ElementPath;
/// let p = ElementPath::parse("devicePool/callManagerGroup/members/member[@priority=\"1\"]/callManager")?;
/// assert_eq!(p.len(), 5);
/// assert!(ElementPath::parse("a/[1]").is_err());
/// assert!(ElementPath::parse("a[0]").is_err());
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementPath {
    pub(crate) text: String,
    pub(crate) absolute: bool,
    pub(crate) segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) name: String,
    pub(crate) predicate: Predicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Predicate {
    None,
    Index(usize),
    Attribute(String, String),
}

impl ElementPath {
    /// Parses a path.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for an empty segment, an index of 0, or a malformed predicate.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidPath { path: text.to_owned(), reason };
        let (absolute, body) = match text.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut segments = Vec::new();
        if !body.is_empty() {
            for part in split_segments(body) {
                let (name, predicate) = match part.find('[') {
                    None => (part, Predicate::None),
                    Some(i) => {
                        let pred =
                            part[i + 1..].strip_suffix(']').ok_or_else(|| bad("unclosed ["))?;
                        (&part[..i], parse_predicate(pred).ok_or_else(|| bad("bad predicate"))?)
                    }
                };
                if name.is_empty() || name.contains(['[', ']', '@', '=', '"', '\'', '<', '>', '&'])
                {
                    return Err(bad("empty or invalid element name"));
                }
                segments.push(Segment { name: name.to_owned(), predicate });
            }
        }
        Ok(Self { text: text.to_owned(), absolute, segments })
    }

    /// The number of segments.
    #[must_use]
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether the path has no segment (it names the root).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The path as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Splits on `/` outside of `[...]` (attribute values may contain `/`).
fn split_segments(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in body.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[start..]);
    out
}

fn parse_predicate(p: &str) -> Option<Predicate> {
    if let Some(attr) = p.strip_prefix('@') {
        let (name, value) = attr.split_once('=')?;
        let value = value.trim();
        let q = value.chars().next()?;
        if q != '"' && q != '\'' {
            return None;
        }
        let inner = value.strip_prefix(q)?.strip_suffix(q)?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        return Some(Predicate::Attribute(name.to_owned(), inner.to_owned()));
    }
    let n: usize = p.trim().parse().ok()?;
    (n >= 1).then_some(Predicate::Index(n))
}
