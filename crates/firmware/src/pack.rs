//! Reading a firmware pack: a Cisco zip (`cmterm-7942_7962-sccp.9-4-2SR4-3.zip`), a tarball, or
//! a `.cop.sgn` package (a signed header, then a gzip-compressed tar). Every entry is checked
//! before a byte of it is written, and written flat (by its file name: phones ask for flat
//! names) into a staging folder that the library publishes or throws away whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use cnfkit_fs::Install;
use cnfkit_repack::{Certificate, SignedFile};

use crate::Error;

/// The largest file a pack may hold: a 78xx root file system is about 40 MiB.
pub const MAX_ENTRY_BYTES: u64 = 1 << 30;
/// The most a pack may unpack to, all files together (against zip bombs).
pub const MAX_PACK_BYTES: u64 = 4 << 30;
/// The most entries a pack may hold.
pub const MAX_ENTRIES: usize = 10_000;

/// The formats a firmware pack comes in, told by content, not by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackFormat {
    /// A zip archive (Cisco's `cmterm-*.zip`, for a TFTP server of one's own).
    Zip,
    /// A tar archive.
    Tar,
    /// A gzip-compressed tar archive.
    TarGz,
    /// A CUCM package (`.cop.sgn`, `.cop.sha512`): a Cisco signed header, then a tar,
    /// gzip-compressed.
    Cop,
}

impl std::fmt::Display for PackFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Zip => "zip",
            Self::Tar => "tar",
            Self::TarGz => "tar.gz",
            Self::Cop => "cop.sgn",
        })
    }
}

/// A file of a pack, written to the staging folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Staged {
    /// Its file name, as the pack spells it.
    pub name: String,
    /// Its size.
    pub size: u64,
}

/// What unpacking a pack gave.
#[derive(Debug)]
pub(crate) struct Unpacked {
    pub format: PackFormat,
    /// The signer a `.cop.sgn` names.
    pub signer: Option<String>,
    pub files: Vec<Staged>,
}

/// Unpacks `pack` into `staging` (an empty folder), flat. `trust`: the certificate a
/// `.cop.sgn` must verify against, when given.
pub(crate) fn unpack(
    pack: &Path,
    staging: &Path,
    trust: Option<&Certificate>,
) -> Result<Unpacked, Error> {
    let mut head = [0u8; 512];
    let read = File::open(pack)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .map_err(Error::io(pack))?;
    let head = &head[..read];
    let mut sink = Sink::new(pack, staging);
    let (format, signer) = if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        let file = File::open(pack).map_err(Error::io(pack))?;
        unzip(BufReader::new(file), &mut sink)?;
        (PackFormat::Zip, None)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        let file = File::open(pack).map_err(Error::io(pack))?;
        untar(flate2::read::GzDecoder::new(BufReader::new(file)), &mut sink)?;
        (PackFormat::TarGz, None)
    } else if head.starts_with(&[0x01, 0x00, 0x02]) {
        let data = std::fs::read(pack).map_err(Error::io(pack))?;
        let signed = SignedFile::parse(&data)
            .map_err(|source| Error::Signature { pack: pack.to_owned(), source })?;
        if let Some(cert) = trust {
            signed
                .verify_with(cert)
                .map_err(|source| Error::Signature { pack: pack.to_owned(), source })?;
        }
        let payload = signed.payload();
        if payload.starts_with(&[0x1f, 0x8b]) {
            untar(flate2::read::GzDecoder::new(payload), &mut sink)?;
        } else {
            untar(payload, &mut sink)?;
        }
        (PackFormat::Cop, Some(signed.signer().name))
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        let file = File::open(pack).map_err(Error::io(pack))?;
        untar(BufReader::new(file), &mut sink)?;
        (PackFormat::Tar, None)
    } else {
        return Err(Error::Unreadable {
            pack: pack.to_owned(),
            reason: "not a firmware pack: neither a zip, a tarball nor a signed .cop.sgn".into(),
        });
    };
    Ok(Unpacked { format, signer, files: sink.files })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Where the files of a pack go, with the checks every format shares.
struct Sink<'a> {
    pack: &'a Path,
    staging: &'a Path,
    files: Vec<Staged>,
    /// Names taken, lower-cased: two names differing in case would be one name to a phone.
    taken: HashMap<String, String>,
    total: u64,
}

impl<'a> Sink<'a> {
    fn new(pack: &'a Path, staging: &'a Path) -> Self {
        Self { pack, staging, files: Vec::new(), taken: HashMap::new(), total: 0 }
    }

    fn unsafe_entry(&self, entry: &str, why: &'static str) -> Error {
        Error::Unsafe { pack: self.pack.to_owned(), entry: entry.to_owned(), why }
    }

    fn unreadable(&self, reason: String) -> Error {
        Error::Unreadable { pack: self.pack.to_owned(), reason }
    }

    /// The flat name `entry` is written under, or `None` for a folder entry; an error for a
    /// name that would leave the library.
    fn flat_name(&self, entry: &str) -> Result<Option<String>, Error> {
        if entry.contains('\0') {
            return Err(self.unsafe_entry(entry, "holds a NUL byte"));
        }
        let bytes = entry.as_bytes();
        let absolute = entry.starts_with(['/', '\\'])
            || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic());
        if absolute {
            return Err(self.unsafe_entry(entry, "is an absolute path"));
        }
        let parts: Vec<&str> = entry.split(['/', '\\']).collect();
        if parts.contains(&"..") {
            return Err(self.unsafe_entry(entry, "climbs out with `..`"));
        }
        Ok(parts
            .last()
            .filter(|name| !name.is_empty() && **name != ".")
            .map(|name| (*name).to_owned()))
    }

    /// Writes one file of the pack, reading at most [`MAX_ENTRY_BYTES`] of it.
    fn write(&mut self, entry: &str, content: &mut dyn Read) -> Result<(), Error> {
        let Some(name) = self.flat_name(entry)? else { return Ok(()) };
        if self.files.len() >= MAX_ENTRIES {
            return Err(self.unreadable(format!("more than {MAX_ENTRIES} files")));
        }
        if let Some(first) = self.taken.insert(name.to_ascii_lowercase(), entry.to_owned()) {
            return Err(self.unreadable(format!(
                "two entries would be served as {name} ({first:?} and {entry:?})"
            )));
        }
        let path = self.staging.join(&name);
        let mut size = 0;
        let budget = MAX_ENTRY_BYTES.min(MAX_PACK_BYTES - self.total);
        cnfkit_fs::write_with(&path, Install::CreateOnly, |out| {
            size = std::io::copy(&mut content.take(budget + 1), out)?;
            Ok(())
        })?;
        if size > budget {
            let _ = std::fs::remove_file(&path);
            return Err(self.unreadable(format!(
                "{entry:?} unpacks to more than {budget} bytes (a file is at most {MAX_ENTRY_BYTES}, a pack {MAX_PACK_BYTES})"
            )));
        }
        self.total += size;
        self.files.push(Staged { name, size });
        Ok(())
    }
}

fn unzip(reader: impl Read + Seek, sink: &mut Sink<'_>) -> Result<(), Error> {
    let mut archive =
        zip::ZipArchive::new(reader).map_err(|e| sink.unreadable(format!("zip: {e}")))?;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(|e| sink.unreadable(format!("zip: {e}")))?;
        let entry = file.name().to_owned();
        if file.is_dir() {
            sink.flat_name(&entry)?;
            continue;
        }
        if file.is_symlink() {
            return Err(sink.unsafe_entry(&entry, "is a symbolic link"));
        }
        // Unix file types other than a regular file: devices, pipes, sockets.
        if let Some(mode) = file.unix_mode()
            && !matches!(mode & 0o170_000, 0 | 0o100_000)
        {
            return Err(sink.unsafe_entry(&entry, "is not a regular file"));
        }
        if file.enclosed_name().is_none() {
            return Err(sink.unsafe_entry(&entry, "would be written outside the library"));
        }
        sink.write(&entry, &mut file)?;
    }
    Ok(())
}

fn untar(reader: impl Read, sink: &mut Sink<'_>) -> Result<(), Error> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| sink.unreadable(format!("tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| sink.unreadable(format!("tar: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                sink.write(&name, &mut entry)?;
            }
            tar::EntryType::Directory => {
                sink.flat_name(&name)?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(sink.unsafe_entry(&name, "is a link"));
            }
            // Extended headers (the tar crate applies what they say to the entries).
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            _ => return Err(sink.unsafe_entry(&name, "is not a regular file")),
        }
    }
    Ok(())
}

/// Where a staging folder lives: inside the library, so that publishing it is a rename.
pub(crate) fn staging_dir(library: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    library.join(format!(".import-{}-{nanos}", std::process::id()))
}
