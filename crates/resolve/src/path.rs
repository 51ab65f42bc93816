//! Turning a requested file name into a path that cannot leave the served tree.

use core::fmt;

use crate::Error;

/// Longest requested name accepted, in bytes (RFC 2347 caps a whole request at 512).
pub const MAX_PATH_LEN: usize = 512;

/// Why a requested name was refused.
///
/// Deliberately vague towards the phone: the TFTP ERROR message says "Access violation" and
/// nothing about the server's directories; this reason is for the server's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathRefusal {
    /// Nothing left once leading slashes are removed.
    Empty,
    /// A `..` component (in any spelling the separators allow).
    ParentComponent,
    /// A NUL byte.
    Nul,
    /// A control byte (below 0x20, or 0x7f).
    ControlByte,
    /// A Windows drive or stream prefix (`C:`, `C:\`, `file:stream`): meaningless on the tree.
    Colon,
    /// Not UTF-8.
    NotUtf8,
    /// Longer than [`MAX_PATH_LEN`].
    TooLong,
    /// A temporary file of a write in progress (`.<name>.cnfkit-<pid>-<n>.tmp`): never served,
    /// never written to, so a half-written upload cannot be read or hijacked.
    TempFile,
}

impl fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty file name",
            Self::ParentComponent => "parent directory component",
            Self::Nul => "NUL byte in file name",
            Self::ControlByte => "control byte in file name",
            Self::Colon => "colon in file name",
            Self::NotUtf8 => "file name is not UTF-8",
            Self::TooLong => "file name too long",
            Self::TempFile => "temporary file of a write in progress",
        })
    }
}

/// A requested name normalised to a relative path inside the served tree.
///
/// Leading `/` and `\` are dropped (a 7942 asks for `/mk-sip.jar`), backslashes are separators
/// (dnsmasq does the same for Windows-built trees), empty and `.` components disappear, and
/// anything that could name a file outside the tree is refused: `..`, NUL, control bytes, drive
/// letters. Symlinks are the file system's business; see the driver that opens the path.
///
/// ```
/// use cnfkit_resolve::{Error, PathRefusal, SafePath};
///
/// assert_eq!(SafePath::new(b"/Desktops\\320x196x4//List.xml")?.as_str(), "Desktops/320x196x4/List.xml");
/// let refused = |name: &[u8]| match SafePath::new(name) {
///     Err(Error::PathRefused { reason }) => Some(reason),
///     _ => None,
/// };
/// assert_eq!(refused(b"../etc/passwd"), Some(PathRefusal::ParentComponent));
/// assert_eq!(refused(b"a/..\\..\\b"), Some(PathRefusal::ParentComponent));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafePath(String);

impl SafePath {
    /// Normalises and checks a requested name.
    ///
    /// # Errors
    /// [`Error::PathRefused`] with the [`PathRefusal`] that applies first, scanning the whole
    /// name for forbidden bytes before looking at its components.
    pub fn new(requested: &[u8]) -> Result<Self, Error> {
        Self::check(requested).map_err(|reason| Error::PathRefused { reason })
    }

    fn check(requested: &[u8]) -> Result<Self, PathRefusal> {
        if requested.len() > MAX_PATH_LEN {
            return Err(PathRefusal::TooLong);
        }
        if requested.contains(&0) {
            return Err(PathRefusal::Nul);
        }
        if requested.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(PathRefusal::ControlByte);
        }
        let text = core::str::from_utf8(requested).map_err(|_| PathRefusal::NotUtf8)?;
        if text.contains(':') {
            return Err(PathRefusal::Colon);
        }
        let mut normal = String::with_capacity(text.len());
        for component in text.split(['/', '\\']) {
            match component {
                "" | "." => {}
                ".." => return Err(PathRefusal::ParentComponent),
                // `...` and friends are ordinary names on Unix but mean "up" on some old
                // Windows stacks; nobody names a phone file that way.
                dots if dots.bytes().all(|b| b == b'.') => {
                    return Err(PathRefusal::ParentComponent);
                }
                // In any letter case: lookups ignore case, so `.X.CNFKIT-1-0.TMP` finds the file.
                // A temporary name starts with a dot: other names are not lowered to check.
                name if name.starts_with('.')
                    && cnfkit_fs::is_temp_name(&name.to_ascii_lowercase()) =>
                {
                    return Err(PathRefusal::TempFile);
                }
                name => {
                    if !normal.is_empty() {
                        normal.push('/');
                    }
                    normal.push_str(name);
                }
            }
        }
        if normal.is_empty() {
            return Err(PathRefusal::Empty);
        }
        Ok(Self(normal))
    }

    /// This path without `suffix` (matched ignoring ASCII case), when what is left is still a
    /// safe path: `SEP001122334455.cnf.xml` from `SEP001122334455.cnf.xml.sgn`, with no second
    /// check of the whole name.
    ///
    /// ```
    /// use cnfkit_resolve::SafePath;
    ///
    /// let signed = SafePath::new(b"Desktops/SEP001122334455.cnf.xml.SGN")?;
    /// let plain = signed.strip_suffix_ignore_case(".sgn").unwrap();
    /// assert_eq!(plain.as_str(), "Desktops/SEP001122334455.cnf.xml");
    /// // What is left must be a name: not empty, not dots (a parent), not a temporary file.
    /// for name in [&b".sgn"[..], b"a/..sgn", b"...sgn", b".x.cnfkit-1-0.tmp.sgn", b"x.cnf"] {
    ///     assert_eq!(SafePath::new(name)?.strip_suffix_ignore_case(".sgn"), None);
    /// }
    /// # Ok::<(), cnfkit_resolve::Error>(())
    /// ```
    #[must_use]
    pub fn strip_suffix_ignore_case(&self, suffix: &str) -> Option<Self> {
        let cut = self.0.len().checked_sub(suffix.len())?;
        if !self.0.is_char_boundary(cut) || !self.0[cut..].eq_ignore_ascii_case(suffix) {
            return None;
        }
        let rest = &self.0[..cut];
        let last = rest.rsplit('/').next().unwrap_or(rest);
        // Empty and all dots (`..`) are the cases `bytes().all` covers together.
        let refused = last.bytes().all(|b| b == b'.')
            || (last.starts_with('.') && cnfkit_fs::is_temp_name(&last.to_ascii_lowercase()));
        (!refused).then(|| Self(rest.to_owned()))
    }

    /// The normalised path, `/`-separated, never starting with `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component: the file name proper.
    #[must_use]
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SafePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
