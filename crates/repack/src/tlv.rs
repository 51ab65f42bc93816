//! The TLV element tree shared by `.sgn`, `.tlv` and `.enc.sgn` headers.
//!
//! Every element is `tag: u8, length: u16 BE, value`, except tag 13 (padding), a lone byte.
//! Containers (tags 3, 7, 9, 16, 17, 21) hold child elements whose encodings fill their
//! value exactly. The tree keeps every element, unknown ones too, in file order, so that
//! encoding an untouched tree gives back the input byte for byte.

use crate::Error;

/// The padding tag: one byte, no length, no value.
pub const PADDING: u8 = 13;

/// Header tags whose value is a sequence of child elements.
const CONTAINERS: [u8; 6] = [3, 7, 9, 16, 17, 21];

/// One header element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    /// The tag byte.
    pub tag: u8,
    /// What follows the tag.
    pub body: Body,
}

/// The body of a [`Tlv`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Tag 13: no length, no value.
    Padding,
    /// A leaf value.
    Value(Vec<u8>),
    /// A container's children, in order.
    Children(Vec<Tlv>),
}

impl Tlv {
    /// A leaf element.
    #[must_use]
    pub fn value(tag: u8, value: impl Into<Vec<u8>>) -> Self {
        Self { tag, body: Body::Value(value.into()) }
    }

    /// A container element.
    #[must_use]
    pub fn container(tag: u8, children: Vec<Tlv>) -> Self {
        Self { tag, body: Body::Children(children) }
    }

    /// A padding byte.
    #[must_use]
    pub fn padding() -> Self {
        Self { tag: PADDING, body: Body::Padding }
    }

    /// Bytes this element occupies when encoded.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match &self.body {
            Body::Padding => 1,
            Body::Value(v) => 3 + v.len(),
            Body::Children(c) => 3 + c.iter().map(Tlv::encoded_len).sum::<usize>(),
        }
    }

    /// Appends the encoding to `out`.
    ///
    /// # Errors
    /// [`Error::BadTlv`] when a value or container is longer than a u16 length can say.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.tag);
        let len = match &self.body {
            Body::Padding => return Ok(()),
            _ => self.encoded_len() - 3,
        };
        let len16 = u16::try_from(len).map_err(|_| {
            Error::bad_tlv(self.tag, out.len() - 1, "value longer than 65535 bytes")
        })?;
        out.extend_from_slice(&len16.to_be_bytes());
        match &self.body {
            Body::Padding => {}
            Body::Value(v) => out.extend_from_slice(v),
            Body::Children(c) => {
                for child in c {
                    child.encode(out)?;
                }
            }
        }
        Ok(())
    }

    /// The value of a leaf, `None` for padding and containers.
    #[must_use]
    pub fn leaf(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// Depth-first search for the first element with `tag`.
pub(crate) fn find(elements: &[Tlv], tag: u8) -> Option<&Tlv> {
    for e in elements {
        if e.tag == tag {
            return Some(e);
        }
        if let Body::Children(c) = &e.body
            && let Some(found) = find(c, tag)
        {
            return Some(found);
        }
    }
    None
}

/// Depth-first search for the first element with `tag`, mutable.
pub(crate) fn find_mut(elements: &mut [Tlv], tag: u8) -> Option<&mut Tlv> {
    for e in elements {
        if e.tag == tag {
            return Some(e);
        }
        if let Body::Children(c) = &mut e.body
            && let Some(found) = find_mut(c, tag)
        {
            return Some(found);
        }
    }
    None
}

/// Reads the u16 length after the tag byte at `at`, `None` when the bytes end first.
fn read_len(data: &[u8], at: usize) -> Option<usize> {
    data.get(at + 1..at + 3).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
}

/// Parses header elements from `data[start..end]`; offsets in errors are absolute.
pub(crate) fn parse_elements(data: &[u8], start: usize, end: usize) -> Result<Vec<Tlv>, Error> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let tag = data[at];
        if tag == PADDING {
            out.push(Tlv::padding());
            at += 1;
            continue;
        }
        let len = read_len(&data[..end], at).ok_or_else(|| {
            Error::bad_tlv(tag, at, "length runs past the end of its header or container")
        })?;
        let value_end = at + 3 + len;
        if value_end > end {
            return Err(Error::bad_tlv(
                tag,
                at,
                "value runs past the end of its header or container",
            ));
        }
        let body = if CONTAINERS.contains(&tag) {
            Body::Children(parse_elements(data, at + 3, value_end)?)
        } else {
            Body::Value(data[at + 3..value_end].to_vec())
        };
        out.push(Tlv { tag, body });
        at = value_end;
    }
    Ok(out)
}

/// Parses a flat list of `tag, u16 length, value` elements (trust-list records have no
/// containers and no padding).
pub(crate) fn parse_flat(data: &[u8], base: usize) -> Result<Vec<(u8, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let tag = data[at];
        let len = read_len(data, at).ok_or_else(|| {
            Error::bad_tlv(tag, base + at, "length runs past the end of the record")
        })?;
        let end = at + 3 + len;
        if end > data.len() {
            return Err(Error::bad_tlv(tag, base + at, "value runs past the end of the record"));
        }
        out.push((tag, data[at + 3..end].to_vec()));
        at = end;
    }
    Ok(out)
}

/// Reads a NUL-terminated string value (the length includes the NUL); tolerates a
/// missing NUL and non-UTF-8 bytes.
pub(crate) fn c_string(value: &[u8]) -> String {
    let v = value.strip_suffix(&[0]).unwrap_or(value);
    String::from_utf8_lossy(v).into_owned()
}

/// Encodes a string as the format stores it: bytes plus a trailing NUL.
pub(crate) fn c_string_bytes(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}
