//! Character encodings (UTF-8 and ISO-8859-1), escaping and unescaping.

use std::borrow::Cow;

use crate::error::{Error, Location};

/// The character encoding of a document.
///
/// Cisco phones read UTF-8 and ISO-8859-1 (`winCharSet` in `userLocale` is `utf-8` or
/// `iso-8859-1`); nothing else has been seen in the wild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Encoding {
    /// UTF-8 (also what US-ASCII declarations get).
    Utf8,
    /// ISO-8859-1 (Latin-1): one byte per character, U+0000..=U+00FF.
    Latin1,
}

impl Encoding {
    /// The name to write in an XML declaration.
    #[must_use]
    pub const fn xml_name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Latin1 => "ISO-8859-1",
        }
    }

    /// The encoding a declaration name stands for, or `None` if unsupported.
    ///
    /// ```
    /// use cnfkit_config::Encoding;
    /// assert_eq!(Encoding::from_label("iso-8859-1"), Some(Encoding::Latin1));
    /// assert_eq!(Encoding::from_label("UTF8"), Some(Encoding::Utf8));
    /// assert_eq!(Encoding::from_label("Shift_JIS"), None);
    /// ```
    #[must_use]
    pub fn from_label(label: &str) -> Option<Self> {
        let l = label.trim().to_ascii_lowercase();
        match l.as_str() {
            "utf-8" | "utf8" | "us-ascii" | "ascii" => Some(Self::Utf8),
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" => {
                Some(Self::Latin1)
            }
            _ => None,
        }
    }
}

/// How a document's encoding was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum EncodingSource {
    /// A UTF-8 byte order mark.
    ByteOrderMark,
    /// The `encoding` of the XML declaration.
    Declaration,
    /// No declaration or no `encoding` in it: UTF-8, as XML 1.0 §4.3.3 says.
    Default,
    /// Lenient mode only: the input was not valid UTF-8 and no encoding was declared, so it
    /// was read as ISO-8859-1 (which every byte sequence is).
    Fallback,
}

/// Decides the encoding from the byte order mark and the XML declaration.
pub(crate) fn detect(src: &[u8]) -> Result<(Encoding, EncodingSource), Error> {
    if src.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok((Encoding::Utf8, EncodingSource::ByteOrderMark));
    }
    if src.starts_with(&[0xFE, 0xFF]) || src.starts_with(&[0xFF, 0xFE]) {
        return Err(Error::UnsupportedEncoding {
            name: "UTF-16".into(),
            at: Location { line: 1, column: 1, offset: 0 },
        });
    }
    if let Some(rest) = src.strip_prefix(b"<?xml")
        && rest.first().is_some_and(u8::is_ascii_whitespace)
    {
        let end = rest.windows(2).position(|w| w == b"?>").unwrap_or(rest.len());
        let decl = &rest[..end];
        if let Some(i) = find(decl, b"encoding") {
            let after = &decl[i + 8..];
            let after = trim_start(after);
            if let Some(after) = after.strip_prefix(b"=") {
                let after = trim_start(after);
                if let Some(&q) = after.first()
                    && (q == b'"' || q == b'\'')
                    && let Some(len) = after[1..].iter().position(|&b| b == q)
                {
                    let label = String::from_utf8_lossy(&after[1..=len]).into_owned();
                    let offset = 5 + i;
                    return match Encoding::from_label(&label) {
                        Some(e) => Ok((e, EncodingSource::Declaration)),
                        None => Err(Error::UnsupportedEncoding {
                            name: label,
                            at: Location::of(src, offset, true),
                        }),
                    };
                }
            }
        }
    }
    Ok((Encoding::Utf8, EncodingSource::Default))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// Decodes raw bytes (no escapes handled) to text.
pub(crate) fn decode(raw: &[u8], enc: Encoding) -> Cow<'_, str> {
    match enc {
        Encoding::Utf8 => String::from_utf8_lossy(raw),
        Encoding::Latin1 => {
            if raw.is_ascii() {
                // ASCII is valid UTF-8.
                String::from_utf8_lossy(raw)
            } else {
                Cow::Owned(raw.iter().map(|&b| char::from(b)).collect())
            }
        }
    }
}

/// What a reference `&name;` stands for, if it is allowed: the five XML entities or a valid
/// character reference.
pub(crate) enum Reference {
    Char(char),
    UnknownEntity,
    BadCharRef,
}

pub(crate) fn resolve_reference(name: &[u8]) -> Reference {
    match name {
        b"amp" => Reference::Char('&'),
        b"lt" => Reference::Char('<'),
        b"gt" => Reference::Char('>'),
        b"quot" => Reference::Char('"'),
        b"apos" => Reference::Char('\''),
        [b'#', b'x', hex @ ..] => char_ref(hex, 16),
        [b'#', dec @ ..] => char_ref(dec, 10),
        _ => Reference::UnknownEntity,
    }
}

fn char_ref(digits: &[u8], radix: u32) -> Reference {
    if digits.is_empty() || digits.len() > 8 {
        return Reference::BadCharRef;
    }
    let Ok(s) = std::str::from_utf8(digits) else { return Reference::BadCharRef };
    match u32::from_str_radix(s, radix).ok().and_then(char::from_u32) {
        Some(c) if is_xml_char(c) => Reference::Char(c),
        _ => Reference::BadCharRef,
    }
}

/// XML 1.0 `Char` production.
pub(crate) const fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Decodes escaped character data (`&amp;` and friends, character references). References the
/// parser let through in lenient mode (unknown entities) are kept as written.
pub(crate) fn unescape(raw: &[u8], enc: Encoding) -> String {
    let text = decode(raw, enc);
    if !text.contains('&') {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find(';') {
            Some(j) if j <= 32 => match resolve_reference(&after.as_bytes()[..j]) {
                Reference::Char(c) => {
                    out.push(c);
                    rest = &after[j + 1..];
                }
                _ => {
                    out.push('&');
                    rest = after;
                }
            },
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where an escaped value goes: element text, or an attribute value between `quote`s.
#[derive(Clone, Copy)]
pub(crate) enum Context {
    Text,
    Attribute(u8),
}

/// Escapes a value and encodes it in `enc`. Characters ISO-8859-1 cannot hold become
/// character references. Fails on characters XML 1.0 cannot carry.
pub(crate) fn escape(
    value: &str,
    ctx: Context,
    enc: Encoding,
    field: &str,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(value.len());
    for c in value.chars() {
        if !is_xml_char(c) {
            return Err(Error::InvalidChar { code: u32::from(c), field: field.to_owned() });
        }
        match (c, ctx) {
            ('&', _) => out.extend_from_slice(b"&amp;"),
            ('<', _) => out.extend_from_slice(b"&lt;"),
            ('>', _) => out.extend_from_slice(b"&gt;"),
            ('\r', _) => out.extend_from_slice(b"&#13;"),
            ('"', Context::Attribute(b'"')) => out.extend_from_slice(b"&quot;"),
            ('\'', Context::Attribute(b'\'')) => out.extend_from_slice(b"&apos;"),
            ('\t', Context::Attribute(_)) => out.extend_from_slice(b"&#9;"),
            ('\n', Context::Attribute(_)) => out.extend_from_slice(b"&#10;"),
            _ => match enc {
                Encoding::Utf8 => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Encoding::Latin1 => match u8::try_from(u32::from(c)) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes()),
                },
            },
        }
    }
    Ok(out)
}

/// Is `name` an XML name as far as this crate writes them: starts with a letter or `_`, then
/// letters, digits, `-`, `.`, `_`, `:` (non-ASCII letters allowed).
pub(crate) fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_encoding_is_read_with_either_quote_and_spacing() {
        let d = |s: &str| detect(s.as_bytes()).map(|(e, _)| e);
        assert_eq!(d("<?xml version='1.0' encoding = 'iso-8859-1'?><a/>"), Ok(Encoding::Latin1));
        assert_eq!(d("<?xml version=\"1.0\"?><a/>"), Ok(Encoding::Utf8));
        assert!(matches!(
            d("<?xml version=\"1.0\" encoding=\"EBCDIC\"?>"),
            Err(Error::UnsupportedEncoding { .. })
        ));
    }

    #[test]
    fn latin1_escape_turns_characters_above_ff_into_references() {
        let out = escape("é€<", Context::Text, Encoding::Latin1, "t").unwrap();
        assert_eq!(out, b"\xe9&#8364;&lt;");
        assert_eq!(unescape(&out, Encoding::Latin1), "é€<");
    }

    #[test]
    fn attribute_escape_protects_its_own_quote_and_whitespace() {
        let out = escape("a\"b'\tc", Context::Attribute(b'"'), Encoding::Utf8, "a").unwrap();
        assert_eq!(out, b"a&quot;b'&#9;c");
        assert!(escape("\u{0}", Context::Text, Encoding::Utf8, "x").is_err());
    }
}
