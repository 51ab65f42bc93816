//! The registry kept across restarts (`cnf-server --state FILE`): an append-only JSON-lines
//! log, compacted when it is loaded.
//!
//! The first line is the registry's header, `{"cnfkit_registry":1}`; each other line is one
//! whole phone record as JSON, or `{"forget_mac":"…"}` / `{"forget_address":"…"}` for a record
//! that went; the last line for a key wins. Once a second, the records that changed are appended
//! in one write and synced to disk. A process killed in the middle of that write leaves at most
//! one torn last line, which the next load skips and counts. Loading rewrites the file with one
//! line per record through the workspace's atomic writer (a crash during compaction leaves the
//! old file whole), and so does an append log grown past four times its records.
//!
//! The file is the server's own, and a path an admin mistyped must not cost another file its
//! content: [`StateFile::prepare`] refuses a symbolic link (the file is opened with
//! `O_NOFOLLOW`), a file that is not a regular file, a read-only file, and a file whose first
//! line is neither the header nor a record of an earlier version; a new file is created with
//! mode 0600 (it lists the phones and their addresses). Lines longer than [`MAX_LINE`] are
//! skipped without being read whole. Loading, flushing and compacting hold the registry's lock
//! for a few hundred records at a time, never for a whole file: phones are answered meanwhile.

use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnfkit_resolve::Mac;
use rustix::fs::{Mode, OFlags};
use serde::Deserialize;
use tracing::warn;

use crate::Error;
use crate::monitor::Monitor;
use crate::registry::{Phone, PhoneKey};

/// The first line of a state file.
pub const HEADER: &str = r#"{"cnfkit_registry":1}"#;

/// The longest line read; a record is a few KiB at most.
pub const MAX_LINE: usize = 64 << 10;

/// Records handled per hold of the registry's lock.
const CHUNK: usize = 256;

/// What [`StateFile::load`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateLoaded {
    /// Records restored.
    pub phones: usize,
    /// Lines that were not a whole record (a write cut off by a crash, a line over
    /// [`MAX_LINE`]), skipped.
    pub torn_lines: usize,
}

/// A state file, checked ([`StateFile::prepare`]), then loaded and appended to.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// The append handle, once loaded.
    file: Option<File>,
    /// Lines appended since the last compaction, and records then.
    appended: usize,
    compacted: usize,
}

#[derive(Deserialize)]
struct Forget {
    forget_mac: Option<String>,
    forget_address: Option<IpAddr>,
}

impl StateFile {
    /// Checks `path` without reading it whole: absent (it will be created, mode 0600), or a
    /// regular file, not a symbolic link, writable, whose first line is the registry's header
    /// (or a record, as earlier versions wrote no header).
    ///
    /// # Errors
    /// [`Error::State`] naming the file and what is wrong with it; [`Error::Io`].
    pub fn prepare(path: &Path) -> Result<Self, Error> {
        let refuse = |reason: &str| Error::State { path: path.to_owned(), reason: reason.into() };
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path: path.to_owned(), source }),
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(refuse("a symbolic link: give the file itself"));
            }
            Ok(meta) if !meta.is_file() => return Err(refuse("not a regular file")),
            Ok(meta) if meta.permissions().readonly() => {
                return Err(refuse("read-only: the server rewrites it"));
            }
            Ok(meta) => {
                let mut first = Vec::new();
                let file = open_no_follow(path, OFlags::RDONLY, Mode::empty())?;
                let mut reader = BufReader::new(file);
                let torn = read_line_bounded(&mut reader, &mut first)
                    .map_err(|source| Error::Io { path: path.to_owned(), source })?
                    .unwrap_or(false);
                // Only a file with nothing in it is taken without the header: a first line
                // that is blank is someone else's file (the registry never writes one).
                let first = first.trim_ascii_end();
                let ours = meta.len() == 0 || first == HEADER.as_bytes();
                let earlier_version = !torn && parse_line(first).is_some();
                if !(ours || earlier_version) {
                    return Err(refuse(
                        "not a cnfkit registry (its first line is not the registry's header): \
                         refusing to overwrite it",
                    ));
                }
            }
        }
        Ok(Self { path: path.to_owned(), file: None, appended: 0, compacted: 0 })
    }

    /// [`prepare`](Self::prepare) and [`load`](Self::load) at once.
    ///
    /// # Errors
    /// As both.
    pub fn open(path: &Path, monitor: &Monitor) -> Result<(Self, StateLoaded), Error> {
        let mut file = Self::prepare(path)?;
        let loaded = file.load(monitor)?;
        Ok((file, loaded))
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The records a state file holds (the last of each phone), oldest seen first, and how many
    /// torn lines were skipped; nothing is written (what `cnf-fw plan` reads of a running
    /// server's file). A missing file holds none.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read (a symbolic link is refused).
    pub fn read(path: &Path) -> Result<(Vec<Phone>, usize), Error> {
        let io = |source| Error::Io { path: path.to_owned(), source };
        let file = match open_no_follow(path, OFlags::RDONLY, Mode::empty()) {
            Ok(file) => file,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), 0));
            }
            Err(e) => return Err(e),
        };
        let mut records: std::collections::HashMap<PhoneKey, Option<Phone>> =
            std::collections::HashMap::new();
        let mut torn_lines = 0;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let Some(torn) = read_line_bounded(&mut reader, &mut line).map_err(io)? else {
                break;
            };
            let text = line.trim_ascii();
            if text.is_empty() || text == HEADER.as_bytes() {
                continue;
            }
            match parse_line(text).filter(|_| !torn) {
                Some((key, phone)) => {
                    records.insert(key, phone);
                }
                None => torn_lines += 1,
            }
        }
        let mut phones: Vec<Phone> = records.into_values().flatten().collect();
        phones.sort_by_key(|p| p.last_seen);
        Ok((phones, torn_lines))
    }

    /// Restores the file's records into `monitor`'s registry (a record the registry holds
    /// already, newer, is kept: a phone that booted during the load), rewrites the file
    /// compacted, and opens it for appending. The file is read with no lock held; the registry
    /// is locked for 256 records at a time.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read or opened, [`Error::Write`] when it cannot
    /// be rewritten.
    pub fn load(&mut self, monitor: &Monitor) -> Result<StateLoaded, Error> {
        let mut loaded = StateLoaded::default();
        monitor.lock().track_changes();
        let (phones, torn) = Self::read(&self.path)?;
        loaded.torn_lines = torn;
        // The registry's room goes to the most recently seen.
        let mut phones = phones.into_iter().peekable();
        while phones.peek().is_some() {
            monitor.lock().restore(phones.by_ref().take(CHUNK));
        }
        loaded.phones = monitor.lock().len();
        self.compact(monitor)?;
        Ok(loaded)
    }

    /// Appends the records that changed since the last flush, in one write, synced; compacts
    /// the file when the appended lines outnumber four times the records. Does nothing before
    /// [`load`](Self::load).
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Write`], naming the file.
    pub fn flush(&mut self, monitor: &Monitor) -> Result<(), Error> {
        let Some(file) = &mut self.file else { return Ok(()) };
        let (changes, records) = {
            let mut registry = monitor.lock();
            (registry.take_changes(), registry.len())
        };
        let count = changes.forgotten.len() + changes.changed.len();
        if count == 0 {
            return Ok(());
        }
        if self.appended + count > 4 * self.compacted.max(records) + 1024 {
            return self.compact(monitor);
        }
        let mut lines = String::new();
        for key in &changes.forgotten {
            lines.push_str(&match key {
                PhoneKey::Mac(mac) => format!("{{\"forget_mac\":\"{mac}\"}}\n"),
                PhoneKey::Address(ip) => format!("{{\"forget_address\":\"{ip}\"}}\n"),
            });
        }
        for keys in changes.changed.chunks(CHUNK) {
            let registry = monitor.lock();
            for key in keys {
                if let Some(json) = registry.phone(*key).and_then(|p| serde_json::to_string(p).ok())
                {
                    lines.push_str(&json);
                    lines.push('\n');
                }
            }
        }
        let io = |source| Error::Io { path: self.path.clone(), source };
        file.write_all(lines.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.appended += count;
        Ok(())
    }

    /// Rewrites the file with the header and one line per record, atomically (mode 0600),
    /// locking the registry for 256 records at a time; then reopens it for appending.
    /// What changes while it runs is appended by the next flush.
    fn compact(&mut self, monitor: &Monitor) -> Result<(), Error> {
        let keys: Vec<PhoneKey> = {
            let mut registry = monitor.lock();
            let _ = registry.take_changes();
            registry.phones().map(Phone::key).collect()
        };
        let mut pending =
            cnfkit_fs::PendingFile::create(&self.path, cnfkit_fs::Install::Replace)?.mode(0o600);
        let io = |source| Error::Io { path: self.path.clone(), source };
        {
            let mut out = std::io::BufWriter::new(&mut pending);
            out.write_all(HEADER.as_bytes()).and_then(|()| out.write_all(b"\n")).map_err(io)?;
            let mut buffer = Vec::new();
            for chunk in keys.chunks(CHUNK) {
                buffer.clear();
                {
                    let registry = monitor.lock();
                    for phone in chunk.iter().filter_map(|key| registry.phone(*key)) {
                        serde_json::to_writer(&mut buffer, phone)
                            .map_err(std::io::Error::from)
                            .map_err(io)?;
                        buffer.push(b'\n');
                    }
                }
                out.write_all(&buffer).map_err(io)?;
            }
            out.flush().map_err(io)?;
        }
        pending.commit()?;
        let flags = OFlags::WRONLY | OFlags::APPEND;
        self.file = Some(open_no_follow(&self.path, flags, Mode::empty())?);
        self.appended = 0;
        self.compacted = keys.len();
        Ok(())
    }

    /// Loads (off the async threads), then flushes every `every` until `stop` resolves, then
    /// once more; write errors are logged (once per kind of error in a row) and retried at the
    /// next interval. `loaded` hears what the load found; a load that fails is logged, and the
    /// registry is then not saved.
    pub async fn run(
        mut self,
        monitor: Arc<Monitor>,
        every: Duration,
        stop: impl Future<Output = ()>,
        loaded: Option<tokio::sync::oneshot::Sender<StateLoaded>>,
    ) {
        let started = Instant::now();
        let result;
        (self, result) = self.off_thread(&monitor, Self::load).await;
        match result {
            Ok(found) => {
                tracing::info!(
                    file = %self.path.display(),
                    phones = found.phones,
                    torn_lines = found.torn_lines,
                    ms = started.elapsed().as_millis(),
                    "phone registry restored"
                );
                if let Some(loaded) = loaded {
                    let _ = loaded.send(found);
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot restore the phone registry: it is not saved");
                return;
            }
        }
        let mut tick = tokio::time::interval(every);
        let mut failing = false;
        tokio::pin!(stop);
        loop {
            let stopping = tokio::select! {
                () = &mut stop => true,
                _ = tick.tick() => false,
            };
            let result;
            (self, result) = self.off_thread(&monitor, Self::flush).await;
            match result {
                Ok(()) => failing = false,
                Err(error) if !failing => {
                    warn!(%error, "cannot save the phone registry; retrying every interval");
                    failing = true;
                }
                Err(_) => {}
            }
            if stopping {
                return;
            }
        }
    }
}

impl StateFile {
    /// Runs `work` (a load or a flush: file IO) on a blocking thread, off the async ones.
    async fn off_thread<T: Send + 'static>(
        mut self,
        monitor: &Arc<Monitor>,
        work: fn(&mut Self, &Monitor) -> T,
    ) -> (Self, T) {
        let monitor = monitor.clone();
        tokio::task::spawn_blocking(move || {
            let result = work(&mut self, &monitor);
            (self, result)
        })
        .await
        .expect("the state file's work does not panic")
    }
}

/// Opens `path` without following a symbolic link in its last component (`O_NOFOLLOW`).
fn open_no_follow(path: &Path, flags: OFlags, mode: Mode) -> Result<File, Error> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, mode)
        .map(File::from)
        .map_err(|e| Error::Io { path: path.to_owned(), source: e.into() })
}

/// Reads one line (without its `\n`) into `line`, keeping at most [`MAX_LINE`] bytes of it;
/// returns whether the line was longer (the rest is read and dropped, never held), or `None`
/// at the end of the file (an empty line is `Some`).
fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let mut torn = false;
    let mut any = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(any.then_some(torn));
        }
        any = true;
        let (chunk, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        if chunk.len() > room {
            torn = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(buffer.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(torn));
        }
    }
}

/// One line: a record and its key, a removal (`None`), or `None` for a torn line.
fn parse_line(line: &[u8]) -> Option<(PhoneKey, Option<Phone>)> {
    if let Ok(forget) = serde_json::from_slice::<Forget>(line) {
        match (forget.forget_mac, forget.forget_address) {
            (Some(mac), _) => return Some((PhoneKey::Mac(Mac::parse(&mac).ok()?), None)),
            (None, Some(ip)) => return Some((PhoneKey::Address(ip), None)),
            (None, None) => {}
        }
    }
    let phone: Phone = serde_json::from_slice(line).ok()?;
    Some((phone.key(), Some(phone)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_longer_than_the_cap_is_cut_and_marked_never_held_whole() {
        let mut text = vec![b'x'; MAX_LINE * 3];
        text.extend(b"\nshort\n");
        // A blank line is a line, not the end.
        let mut blank = BufReader::new(&b"\n\nlast"[..]);
        let mut line = Vec::new();
        assert_eq!(read_line_bounded(&mut blank, &mut line).unwrap(), Some(false));
        assert_eq!(read_line_bounded(&mut blank, &mut line).unwrap(), Some(false));
        assert_eq!(read_line_bounded(&mut blank, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"last");
        let mut reader = BufReader::with_capacity(4096, &text[..]);
        let mut line = Vec::new();
        assert_eq!(read_line_bounded(&mut reader, &mut line).unwrap(), Some(true));
        assert_eq!(line.len(), MAX_LINE);
        line.clear();
        assert_eq!(read_line_bounded(&mut reader, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"short");
        line.clear();
        assert_eq!(read_line_bounded(&mut reader, &mut line).unwrap(), None, "the end");
    }
}
