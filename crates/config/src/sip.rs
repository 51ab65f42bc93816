//! The legacy SIP text format of 7940/7960 SIP firmware: `SIPDefault.cnf` and `SIP<MAC>.cnf`.

use std::ops::Range;

use crate::error::Error;

/// One line of a SIP `.cnf` file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    Entry {
        key: Range<usize>,
        value: Range<usize>,
        quoted: bool,
    },
    /// Not `key: value`: kept as is, reported by [`SipCnf::unparsed_lines`].
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    /// The line without its end-of-line bytes.
    text: Range<usize>,
    kind: Kind,
}

/// A legacy SIP configuration file (`SIPDefault.cnf`, `SIP<MAC>.cnf`), kept byte for byte.
///
/// Syntax, as 7940/7960 SIP firmware reads it ([SIP .cnf
/// files](https://github.com/cnfkit/cnfkit/blob/main/docs/file-formats.md#sip-cnf-files)): one
/// `name: value` per line,
/// value quoted (`"..."`) or bare, `name=value` and `name:"value"` also seen; a `;` after the
/// value starts a comment, `#` and `;` start comment lines; LF or CRLF. Parsing never fails:
/// lines that are none of these are kept and listed by [`SipCnf::unparsed_lines`].
///
/// ```
/// use cnfkit_config::SipCnf;
///
/// let src = b"# lab phones\r\nimage_version: \"P0S3-8-12-00\"\r\nproxy1_port=5060 ; udp\r\n";
/// let mut cnf = SipCnf::parse(src);
/// assert_eq!(cnf.as_bytes(), src);
/// assert_eq!(cnf.get("proxy1_port").as_deref(), Some("5060"));
/// cnf.set("image_version", "P0S3-9-0-00")?;
/// cnf.set("proxy1_address", "pbx.lab")?;
/// assert_eq!(cnf.as_bytes(), &b"# lab phones\r\nimage_version: \"P0S3-9-0-00\"\r\nproxy1_port=5060 ; udp\r\nproxy1_address: \"pbx.lab\"\r\n"[..]);
/// # Ok::<(), cnfkit_config::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipCnf {
    src: Vec<u8>,
    lines: Vec<Line>,
}

impl SipCnf {
    /// Parses a file. Never fails; see [`SipCnf::unparsed_lines`].
    #[must_use]
    pub fn parse(src: &[u8]) -> Self {
        Self::from_vec(src.to_vec())
    }

    fn from_vec(src: Vec<u8>) -> Self {
        let mut lines = Vec::new();
        let mut start = 0;
        while start < src.len() {
            let nl = src[start..].iter().position(|&b| b == b'\n').map(|i| start + i);
            let next = nl.map_or(src.len(), |i| i + 1);
            let mut end = nl.unwrap_or(src.len());
            if end > start && src[end - 1] == b'\r' {
                end -= 1;
            }
            lines.push(Line { text: start..end, kind: classify(&src, start..end) });
            start = next;
        }
        Self { src, lines }
    }

    /// The file's bytes: the input, byte for byte, until something is set.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.src
    }

    /// A copy of the bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.src.clone()
    }

    fn decode(&self, r: &Range<usize>) -> String {
        let raw = &self.src[r.clone()];
        match std::str::from_utf8(raw) {
            Ok(s) => s.to_owned(),
            Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
        }
    }

    /// Every `name: value` entry in file order (a key may repeat; the last one wins on the
    /// phone).
    #[must_use]
    pub fn entries(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            .filter_map(|l| match &l.kind {
                Kind::Entry { key, value, .. } => Some((self.decode(key), self.decode(value))),
                _ => None,
            })
            .collect()
    }

    fn last_entry(&self, key: &str) -> Option<&Line> {
        self.lines.iter().rev().find(
            |l| matches!(&l.kind, Kind::Entry { key: k, .. } if self.src[k.clone()].eq_ignore_ascii_case(key.as_bytes())),
        )
    }

    /// The value of `key` (ASCII case-insensitive; the last occurrence), without quotes.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<String> {
        match &self.last_entry(key)?.kind {
            Kind::Entry { value, .. } => Some(self.decode(value)),
            _ => None,
        }
    }

    /// 1-based numbers of the lines that are neither entries, comments nor blank, with their
    /// text.
    #[must_use]
    pub fn unparsed_lines(&self) -> Vec<(usize, String)> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == Kind::Other)
            .map(|(i, l)| (i + 1, self.decode(&l.text)))
            .collect()
    }

    fn eol(&self) -> &'static [u8] {
        match self.lines.first() {
            Some(l) if self.src.get(l.text.end) == Some(&b'\r') => b"\r\n",
            _ => b"\n",
        }
    }

    /// Sets `key` to `value`: the value of its last occurrence is replaced (quoted if it was
    /// quoted or now needs quotes), or a `key: "value"` line is appended with the file's line
    /// ending.
    ///
    /// # Errors
    /// [`Error::SipInvalid`] for a key that is not `[A-Za-z0-9_]+`, a value with `"` or a line
    /// break.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::SipInvalid {
                field: "key",
                value: key.into(),
                reason: "use letters, digits and _",
            });
        }
        if value.contains(['"', '\n', '\r']) {
            return Err(Error::SipInvalid {
                field: "value",
                value: value.into(),
                reason: "no quote or line break",
            });
        }
        let (range, bytes) = match self.last_entry(key).map(|l| l.kind.clone()) {
            Some(Kind::Entry { value: v, quoted, .. }) => {
                let needs = value.is_empty() || value.contains([' ', '\t', ';', '#']);
                if quoted || !needs {
                    (v, value.as_bytes().to_vec())
                } else {
                    (v, format!("\"{value}\"").into_bytes())
                }
            }
            _ => {
                let at = self.src.len();
                let mut line = Vec::new();
                if at > 0 && self.src[at - 1] != b'\n' {
                    line.extend_from_slice(self.eol());
                }
                line.extend_from_slice(format!("{key}: \"{value}\"").as_bytes());
                line.extend_from_slice(self.eol());
                (at..at, line)
            }
        };
        let mut out = self.src[..range.start].to_vec();
        out.extend_from_slice(&bytes);
        out.extend_from_slice(&self.src[range.end..]);
        *self = Self::from_vec(out);
        Ok(())
    }

    /// Removes every line that sets `key`. Returns how many.
    pub fn remove(&mut self, key: &str) -> usize {
        let mut out = Vec::with_capacity(self.src.len());
        let mut at = 0;
        let mut n = 0;
        for l in &self.lines {
            if let Kind::Entry { key: k, .. } = &l.kind
                && self.src[k.clone()].eq_ignore_ascii_case(key.as_bytes())
            {
                out.extend_from_slice(&self.src[at..l.text.start]);
                let mut end = l.text.end;
                if self.src.get(end) == Some(&b'\r') {
                    end += 1;
                }
                if self.src.get(end) == Some(&b'\n') {
                    end += 1;
                }
                at = end;
                n += 1;
            }
        }
        out.extend_from_slice(&self.src[at..]);
        if n > 0 {
            *self = Self::from_vec(out);
        }
        n
    }

    /// The common keys, typed.
    #[must_use]
    pub fn settings(&self) -> SipSettings {
        SipSettings::from_lookup(|k| self.get(k))
    }
}

fn classify(src: &[u8], r: Range<usize>) -> Kind {
    let line = &src[r.clone()];
    let lead = line.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let rest = &line[lead..];
    match rest.first() {
        None => return Kind::Blank,
        Some(b'#' | b';') => return Kind::Comment,
        _ => {}
    }
    let Some(sep) = rest.iter().position(|&b| b == b':' || b == b'=') else { return Kind::Other };
    let key_raw = &rest[..sep];
    let klen = key_raw.len() - key_raw.iter().rev().take_while(|b| b.is_ascii_whitespace()).count();
    let key = &key_raw[..klen];
    if key.is_empty() || !key.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return Kind::Other;
    }
    let key = r.start + lead..r.start + lead + klen;
    let mut i = r.start + lead + sep + 1;
    while i < r.end && matches!(src[i], b' ' | b'\t') {
        i += 1;
    }
    if i < r.end && src[i] == b'"' {
        return match src[i + 1..r.end].iter().position(|&b| b == b'"') {
            Some(len) => Kind::Entry { key, value: i + 1..i + 1 + len, quoted: true },
            None => Kind::Other,
        };
    }
    let end = src[i..r.end].iter().position(|&b| b == b';').map_or(r.end, |j| i + j);
    let mut vend = end;
    while vend > i && src[vend - 1].is_ascii_whitespace() {
        vend -= 1;
    }
    Kind::Entry { key, value: i..vend, quoted: false }
}

/// A SIP device file over a SIP default file: what a 7940/7960 ends up using (the device file
/// overrides the default file, which overrides flash).
///
/// ```
/// use cnfkit_config::{SipCnf, SipLayers};
/// let default = SipCnf::parse(b"image_version: \"P0S3-8-12-00\"\nproxy1_address: \"pbx\"\n");
/// let device = SipCnf::parse(b"line1_name: \"1001\"\nproxy1_address: \"pbx2\"\n");
/// let merged = SipLayers::new(&default, &device);
/// assert_eq!(merged.get("proxy1_address").as_deref(), Some("pbx2"));
/// assert_eq!(merged.get("image_version").as_deref(), Some("P0S3-8-12-00"));
/// assert_eq!(merged.settings().lines[0].name.as_deref(), Some("1001"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SipLayers<'a> {
    default: &'a SipCnf,
    device: &'a SipCnf,
}

/// Which file a layered value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SipLayer {
    /// `SIPDefault.cnf`.
    Default,
    /// `SIP<MAC>.cnf`.
    Device,
}

impl<'a> SipLayers<'a> {
    /// Layers `device` over `default`.
    #[must_use]
    pub const fn new(default: &'a SipCnf, device: &'a SipCnf) -> Self {
        Self { default, device }
    }

    /// The effective value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<String> {
        self.device.get(key).or_else(|| self.default.get(key))
    }

    /// The effective value of `key` and the file it comes from.
    #[must_use]
    pub fn get_with_source(&self, key: &str) -> Option<(String, SipLayer)> {
        self.device
            .get(key)
            .map(|v| (v, SipLayer::Device))
            .or_else(|| self.default.get(key).map(|v| (v, SipLayer::Default)))
    }

    /// Every effective entry: the default file's keys in its order, then keys only the device
    /// file has; keys compared ASCII case-insensitively.
    #[must_use]
    pub fn entries(&self) -> Vec<(String, String, SipLayer)> {
        let mut out: Vec<(String, String, SipLayer)> = Vec::new();
        for (k, _) in self.default.entries().into_iter().chain(self.device.entries()) {
            if out.iter().any(|(o, _, _)| o.eq_ignore_ascii_case(&k)) {
                continue;
            }
            if let Some((v, src)) = self.get_with_source(&k) {
                out.push((k, v, src));
            }
        }
        out
    }

    /// The common keys, typed, after layering.
    #[must_use]
    pub fn settings(&self) -> SipSettings {
        SipSettings::from_lookup(|k| self.get(k))
    }
}

/// A proxy of a SIP `.cnf` file (`proxyN_address`, `proxyN_port`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SipCnfProxy {
    /// N, 1..=6.
    pub index: u8,
    /// `proxyN_address`.
    pub address: Option<String>,
    /// `proxyN_port`.
    pub port: Option<u16>,
}

/// A line of a SIP `.cnf` file (`lineN_name` and friends).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SipCnfLine {
    /// N, 1..=6.
    pub index: u8,
    /// `lineN_name` (the user part to register).
    pub name: Option<String>,
    /// `lineN_shortname`.
    pub short_name: Option<String>,
    /// `lineN_displayname`.
    pub display_name: Option<String>,
    /// `lineN_authname`.
    pub auth_name: Option<String>,
    /// `lineN_password`.
    pub password: Option<String>,
}

/// The common keys of a SIP `.cnf` file, typed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct SipSettings {
    /// `image_version`: the firmware the phone should run (`P0S3-8-12-00`).
    pub image_version: Option<String>,
    /// `proxy1..6`, those with an address or a port.
    pub proxies: Vec<SipCnfProxy>,
    /// `line1..6`, those with any field set.
    pub lines: Vec<SipCnfLine>,
    /// `outbound_proxy`.
    pub outbound_proxy: Option<String>,
    /// `proxy_register` (`1` registers).
    pub proxy_register: Option<bool>,
    /// `sntp_server`.
    pub sntp_server: Option<String>,
    /// `sntp_mode`.
    pub sntp_mode: Option<String>,
    /// `time_zone`.
    pub time_zone: Option<String>,
    /// `dial_template`.
    pub dial_template: Option<String>,
    /// `phone_label`.
    pub phone_label: Option<String>,
    /// `tftp_cfg_dir`.
    pub tftp_cfg_dir: Option<String>,
    /// `messages_uri`.
    pub messages_uri: Option<String>,
    /// `voip_control_port`.
    pub voip_control_port: Option<u16>,
}

impl SipSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let port = |k: &str| get(k).and_then(|v| v.trim().parse().ok());
        let proxies = (1..=6u8)
            .map(|i| SipCnfProxy {
                index: i,
                address: get(&format!("proxy{i}_address")).filter(|v| !v.is_empty()),
                port: port(&format!("proxy{i}_port")),
            })
            .filter(|p| p.address.is_some() || p.port.is_some())
            .collect();
        let lines = (1..=6u8)
            .map(|i| SipCnfLine {
                index: i,
                name: get(&format!("line{i}_name")),
                short_name: get(&format!("line{i}_shortname")),
                display_name: get(&format!("line{i}_displayname")),
                auth_name: get(&format!("line{i}_authname")),
                password: get(&format!("line{i}_password")),
            })
            .filter(|l| {
                l.name.is_some()
                    || l.short_name.is_some()
                    || l.display_name.is_some()
                    || l.auth_name.is_some()
                    || l.password.is_some()
            })
            .collect();
        Self {
            image_version: get("image_version"),
            proxies,
            lines,
            outbound_proxy: get("outbound_proxy"),
            proxy_register: get("proxy_register").map(|v| v.trim() == "1"),
            sntp_server: get("sntp_server"),
            sntp_mode: get("sntp_mode"),
            time_zone: get("time_zone"),
            dial_template: get("dial_template"),
            phone_label: get("phone_label"),
            tftp_cfg_dir: get("tftp_cfg_dir"),
            messages_uri: get("messages_uri"),
            voip_control_port: port("voip_control_port"),
        }
    }
}
