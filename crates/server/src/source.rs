//! Where served bytes come from: the directory trait a transport streams files through, and a
//! read-ahead file source for firmware images.

use std::fs::File;
use std::sync::Arc;
use std::time::SystemTime;

use cnfkit_resolve::{Contents, Directory, FsDirectory, MemoryDirectory};

use cnfkit_fs::PendingFile;
use cnfkit_tftp::{DataSink, DataSource};

/// A directory the server can stream files from.
pub trait OpenFile: Directory + Send + Sync + 'static {
    /// Opens a file found by the resolver, for a TFTP transfer.
    ///
    /// # Errors
    /// When it cannot be opened (it vanished, or is unreadable).
    fn open_source(&self, path: &str) -> std::io::Result<Box<dyn DataSource>>;

    /// Opens a file found by the resolver, for an HTTP response: its bytes or an open file,
    /// with its length and modification time.
    ///
    /// # Errors
    /// As [`open_source`](Self::open_source).
    fn open_served(&self, path: &str) -> std::io::Result<Served>;
}

/// A file opened for an HTTP response.
#[derive(Debug)]
pub struct Served {
    /// Its content.
    pub body: ServedBody,
    /// Its length in bytes.
    pub len: u64,
    /// When it last changed, when the directory knows (`Last-Modified`, validators).
    pub modified: Option<SystemTime>,
}

/// Where a [`Served`] file's bytes are.
#[derive(Debug)]
pub enum ServedBody {
    /// In memory, shared.
    Memory(Arc<[u8]>),
    /// On disk, open; streamed, never read whole.
    File(File),
}

impl OpenFile for FsDirectory {
    fn open_source(&self, path: &str) -> std::io::Result<Box<dyn DataSource>> {
        Ok(match self.open_contents(path)? {
            Contents::Memory(bytes) => Box::new(bytes),
            Contents::File(file, len) => Box::new(OpenedFile::new(file, len)),
        })
    }

    fn open_served(&self, path: &str) -> std::io::Result<Served> {
        let (contents, modified) = self.open_contents_modified(path)?;
        Ok(match contents {
            Contents::Memory(bytes) => {
                Served { len: bytes.len() as u64, body: ServedBody::Memory(bytes), modified }
            }
            Contents::File(file, len) => Served { body: ServedBody::File(file), len, modified },
        })
    }
}

/// A file streamed from disk (a firmware image), its length taken once when it was opened.
///
/// Small blocks are served from a read-ahead buffer: one `pread` per [`READ_AHEAD`] bytes
/// instead of one per block (a 512-byte phone fetching a 2 MiB image made 4096 calls).
struct OpenedFile {
    file: File,
    len: u64,
    ahead: Vec<u8>,
    ahead_at: u64,
}

/// Bytes read at once for small blocks; blocks larger than a quarter of it are read directly.
const READ_AHEAD: usize = 32 << 10;

impl OpenedFile {
    fn new(file: File, len: u64) -> Self {
        Self { file, len, ahead: Vec::new(), ahead_at: 0 }
    }
}

impl DataSource for OpenedFile {
    fn size(&self) -> Option<u64> {
        Some(self.len)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.len() > READ_AHEAD / 4 {
            return DataSource::read_at(&mut self.file, offset, buf);
        }
        let held = offset
            .checked_sub(self.ahead_at)
            .and_then(|skip| usize::try_from(skip).ok())
            .filter(|&skip| skip + buf.len() <= self.ahead.len() || offset >= self.len);
        let skip = match held {
            Some(skip) => skip,
            None => {
                // A miss: the next stretch (or a retransmission behind it) is read afresh.
                self.ahead.resize(READ_AHEAD, 0);
                let n = DataSource::read_at(&mut self.file, offset, &mut self.ahead)?;
                self.ahead.truncate(n);
                self.ahead_at = offset;
                0
            }
        };
        let n = buf.len().min(self.ahead.len().saturating_sub(skip));
        if n > 0 {
            buf[..n].copy_from_slice(&self.ahead[skip..skip + n]);
        }
        Ok(n)
    }
}

impl OpenFile for MemoryDirectory {
    fn open_source(&self, path: &str) -> std::io::Result<Box<dyn DataSource>> {
        // Shared, not copied: every transfer of the demo's 1 MiB file holds the same bytes.
        let bytes = self
            .get_shared(path)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        Ok(Box::new(bytes))
    }

    fn open_served(&self, path: &str) -> std::io::Result<Served> {
        let bytes = self
            .get_shared(path)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        Ok(Served { len: bytes.len() as u64, body: ServedBody::Memory(bytes), modified: None })
    }
}

/// A received file written through the one atomic writer: nothing is visible under the
/// target name until the transfer completes, and a failed transfer leaves nothing behind.
pub struct FileSink {
    pending: Option<PendingFile>,
    installed: Option<Box<dyn FnOnce() + Send>>,
}

impl FileSink {
    /// Receives into `pending`, installed (as its [`Install`](cnfkit_fs::Install) says) when the
    /// transfer completes.
    #[must_use]
    pub fn new(pending: PendingFile) -> Self {
        Self { pending: Some(pending), installed: None }
    }

    /// Calls `installed` once the file is in place (a mirror publishes it).
    #[must_use]
    pub fn on_installed(mut self, installed: impl FnOnce() + Send + 'static) -> Self {
        self.installed = Some(Box::new(installed));
        self
    }
}

impl DataSink for FileSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let pending = self.pending.as_mut().ok_or_else(|| std::io::Error::other("closed"))?;
        std::io::Write::write_all(pending, data)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let pending = self.pending.take().ok_or_else(|| std::io::Error::other("closed"))?;
        pending.commit()?;
        if let Some(installed) = self.installed.take() {
            installed();
        }
        Ok(())
    }

    fn abort(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read-ahead buffer returns what a direct `pread` returns for every access pattern
    /// the engine makes: in order, a retransmission behind the buffer, a jump ahead, reads that
    /// straddle the buffer's end, the last partial block and reads past the end.
    #[test]
    fn read_ahead_matches_direct_reads() {
        let path = std::env::temp_dir().join(format!("cnfkit-read-ahead-{}", std::process::id()));
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let len = bytes.len() as u64;
        let mut ahead = OpenedFile::new(File::open(&path).unwrap(), len);
        let mut direct = File::open(&path).unwrap();
        let mut accesses: Vec<(u64, usize)> = (0..200).map(|i| (i * 512, 512)).collect();
        accesses.extend([(0, 512), (32_000, 1468), (99_990, 512), (100_000, 512), (250_000, 8)]);
        accesses.extend((0..70).map(|i| (i * 1468, 1468)));
        accesses.push((4096, READ_AHEAD)); // larger than a quarter: read directly
        for (offset, size) in accesses {
            let (mut got, mut want) = (vec![0u8; size], vec![0u8; size]);
            let n = ahead.read_at(offset, &mut got).unwrap();
            let m = DataSource::read_at(&mut direct, offset, &mut want).unwrap();
            assert_eq!((n, &got[..n]), (m, &want[..m]), "at {offset} for {size}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}
