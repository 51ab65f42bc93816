//! The registry kept across restarts (`cnf-server --state FILE`): an append-only JSON-lines
//! log, compacted when it is opened.
//!
//! Each line is one whole phone record as JSON, or `{"forget_mac":"…"}` /
//! `{"forget_address":"…"}` for a record that went; the last line for a key wins. Once a
//! second, the records that changed are appended in one write and synced to disk. A process
//! killed in the middle of that write leaves at most one torn last line, which the next open
//! skips and counts. Opening rewrites the file with one line per record through the
//! workspace's atomic writer (a crash during compaction leaves the old file whole), and so
//! does an append log grown past four times its records.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cnfkit_resolve::Mac;
use serde::Deserialize;
use tracing::warn;

use crate::Error;
use crate::monitor::Monitor;
use crate::registry::{Phone, PhoneKey, Registry};

/// What [`StateFile::open`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateLoaded {
    /// Records restored.
    pub phones: usize,
    /// Lines that were not a whole record (a write cut off by a crash), skipped.
    pub torn_lines: usize,
}

/// An open state file, appended to by [`StateFile::flush`].
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    file: File,
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
    /// Restores the records of `path` (when it exists) into `registry`, rewrites the file
    /// compacted, and opens it for appending.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read or opened, [`Error::Write`] when it cannot
    /// be rewritten.
    pub fn open(path: &Path, registry: &mut Registry) -> Result<(Self, StateLoaded), Error> {
        let io = |source| Error::Io { path: path.to_owned(), source };
        let mut loaded = StateLoaded::default();
        registry.track_changes();
        match File::open(path) {
            Ok(file) => {
                let mut records: std::collections::HashMap<PhoneKey, Option<Phone>> =
                    std::collections::HashMap::new();
                for line in BufReader::new(file).split(b'\n') {
                    let line = line.map_err(io)?;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match parse_line(&line) {
                        Some((key, phone)) => {
                            records.insert(key, phone);
                        }
                        None => loaded.torn_lines += 1,
                    }
                }
                let mut phones: Vec<Phone> = records.into_values().flatten().collect();
                // The registry's room goes to the most recently seen.
                phones.sort_by_key(|p| p.last_seen);
                registry.restore(phones);
                loaded.phones = registry.len();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        // What the restore dropped for room is simply not written back.
        let _ = registry.take_changes();
        compact(path, registry)?;
        let file = OpenOptions::new().append(true).open(path).map_err(io)?;
        let compacted = registry.len();
        Ok((Self { path: path.to_owned(), file, appended: 0, compacted }, loaded))
    }

    /// Appends the records that changed since the last flush, in one write, synced; compacts
    /// the file when the appended lines outnumber four times the records.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Write`], naming the file.
    pub fn flush(&mut self, monitor: &Monitor) -> Result<(), Error> {
        let (lines, count, records) = {
            let mut registry = monitor.lock();
            let changes = registry.take_changes();
            let mut lines = String::new();
            for key in &changes.forgotten {
                lines.push_str(&match key {
                    PhoneKey::Mac(mac) => format!("{{\"forget_mac\":\"{mac}\"}}\n"),
                    PhoneKey::Address(ip) => format!("{{\"forget_address\":\"{ip}\"}}\n"),
                });
            }
            for key in &changes.changed {
                if let Some(json) = registry.phone(*key).and_then(|p| serde_json::to_string(p).ok())
                {
                    lines.push_str(&json);
                    lines.push('\n');
                }
            }
            (lines, changes.forgotten.len() + changes.changed.len(), registry.len())
        };
        if count == 0 {
            return Ok(());
        }
        let io = |source| Error::Io { path: self.path.clone(), source };
        if self.appended + count > 4 * self.compacted.max(records) + 1024 {
            compact(&self.path, &monitor.lock())?;
            self.file = OpenOptions::new().append(true).open(&self.path).map_err(io)?;
            self.appended = 0;
            self.compacted = records;
            return Ok(());
        }
        self.file.write_all(lines.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.appended += count;
        Ok(())
    }

    /// Flushes every `every` until `stop` resolves, then once more; write errors are logged
    /// (once per kind of error in a row) and retried at the next interval.
    pub async fn run(
        mut self,
        monitor: Arc<Monitor>,
        every: Duration,
        stop: impl Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(every);
        let mut failing = false;
        tokio::pin!(stop);
        loop {
            let stopping = tokio::select! {
                () = &mut stop => true,
                _ = tick.tick() => false,
            };
            let monitor_for_io = monitor.clone();
            let (state, result) = tokio::task::spawn_blocking(move || {
                let result = self.flush(&monitor_for_io);
                (self, result)
            })
            .await
            .expect("the state flush does not panic");
            self = state;
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

/// Rewrites `path` with one line per record, atomically.
fn compact(path: &Path, registry: &Registry) -> Result<(), Error> {
    cnfkit_fs::write_with(path, cnfkit_fs::Install::Replace, |out| {
        let mut out = std::io::BufWriter::new(out);
        for phone in registry.phones() {
            serde_json::to_writer(&mut out, phone)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    })?;
    Ok(())
}
