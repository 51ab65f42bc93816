//! Where transferred bytes come from and go to: the caller's, never the engine's.

use std::io;

/// Bytes to send (a read transfer on a server, a put on a client).
///
/// The engine reads block by block at increasing offsets, and again from an earlier offset when a
/// window is retransmitted, so a source must be readable at any offset it has already served.
pub trait DataSource: Send {
    /// The size in bytes when known (answers `tsize`).
    fn size(&self) -> Option<u64>;

    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the data.
    ///
    /// # Errors
    /// The IO error; the transfer then fails with an ERROR to the peer.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// Bytes received (a write transfer on a server, a get on a client), in order.
pub trait DataSink: Send {
    /// Appends received bytes.
    ///
    /// # Errors
    /// The IO error; the transfer then fails with ERROR 3 (disk full) to the peer.
    fn write(&mut self, data: &[u8]) -> io::Result<()>;

    /// The transfer completed: make the data durable and visible (rename a temporary file...).
    ///
    /// # Errors
    /// The IO error; the transfer then counts as failed.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The transfer failed: discard what was written (remove a temporary file...).
    fn abort(&mut self) {}
}

/// A shared, immutable buffer (a file cached in memory, a generated configuration).
impl DataSource for std::sync::Arc<[u8]> {
    fn size(&self) -> Option<u64> {
        Some(self.len() as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        read_slice(self, offset, buf)
    }
}

impl DataSource for Vec<u8> {
    fn size(&self) -> Option<u64> {
        Some(self.len() as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        read_slice(self, offset, buf)
    }
}

impl DataSource for &'static [u8] {
    fn size(&self) -> Option<u64> {
        Some(self.len() as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        read_slice(self, offset, buf)
    }
}

fn read_slice(data: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
    let n = buf.len().min(data.len() - start);
    buf[..n].copy_from_slice(&data[start..start + n]);
    Ok(n)
}

#[cfg(unix)]
impl DataSource for std::fs::File {
    fn size(&self) -> Option<u64> {
        self.metadata().ok().map(|m| m.len())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match std::os::unix::fs::FileExt::read_at(
                self,
                &mut buf[filled..],
                offset + filled as u64,
            ) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

/// Collects received bytes in memory.
impl DataSink for Vec<u8> {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
}

/// A sink that shares its buffer, so the caller can read it after the transfer.
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// An empty buffer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the bytes received so far.
    #[must_use]
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl DataSink for SharedBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(data);
        Ok(())
    }
}
