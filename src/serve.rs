//! A provisioning server: the TFTP driver answering through the resolver.
//!
//! [`ProvisioningHandler`] is the glue `cnf-server` runs: every read request goes through a
//! [`Resolver`] (exact file, other letter case, per-device config from the inventory, signed on
//! the fly, XMLDefault rebuilt, or "File not found"), and writes, when enabled, land atomically
//! inside the root. Errors sent to phones never contain server paths.

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cnfkit_resolve::{
    Answer, BootLog, Contents, DeviceDefaults, Directory, FsDirectory, Inventory,
    InventoryGenerator, MemoryDirectory, Resolver, SafePath,
};
use cnfkit_tftp::driver::Handler;
use cnfkit_tftp::{DataSink, DataSource, Incoming};
use cnfkit_tftp_wire::ErrorCode;
use tracing::{debug, info};

/// A directory the server can stream files from.
pub trait OpenFile: Directory + Send + Sync + 'static {
    /// Opens a file found by the resolver.
    ///
    /// # Errors
    /// When it cannot be opened (it vanished, or is unreadable).
    fn open_source(&self, path: &str) -> std::io::Result<Box<dyn DataSource>>;
}

impl OpenFile for FsDirectory {
    fn open_source(&self, path: &str) -> std::io::Result<Box<dyn DataSource>> {
        Ok(match self.open_contents(path)? {
            Contents::Memory(bytes) => Box::new(bytes),
            Contents::File(file, len) => Box::new(OpenedFile::new(file, len)),
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
        let bytes =
            self.get(path).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        Ok(Box::new(Arc::<[u8]>::from(bytes)))
    }
}

/// Whether and how write requests are taken.
#[derive(Debug, Clone)]
pub enum Writes {
    /// WRQ refused with "Access violation" (the default: a TFTP server faces hostile input).
    Off,
    /// Writes land under `root`, through a temporary file renamed on success.
    On {
        /// The tree (a path inside it is checked like a read's).
        root: FsDirectory,
        /// Whether an existing file may be replaced (otherwise ERROR 6).
        overwrite: bool,
    },
}

/// The [`Handler`] of a provisioning server.
pub struct ProvisioningHandler<D> {
    resolver: Resolver<D>,
    writes: Writes,
    boot_log: Option<Arc<Mutex<BootLog>>>,
}

impl<D: OpenFile> ProvisioningHandler<D> {
    /// Serves through `resolver`; writes off; no boot log.
    pub fn new(resolver: Resolver<D>) -> Self {
        Self { resolver, writes: Writes::Off, boot_log: None }
    }

    /// Keeps one [`BootLog`] line per phone boot: requests are recorded as they are answered,
    /// and [`log_boots`] writes each boot at info level once its phone has been quiet for
    /// `quiet`. At most `max_peers` boots are tracked at once.
    #[must_use]
    pub fn with_boot_log(mut self, quiet: Duration, max_peers: usize) -> Self {
        self.boot_log = Some(Arc::new(Mutex::new(BootLog::new(quiet, max_peers))));
        self
    }

    /// The boot log, to hand to [`log_boots`].
    pub fn boot_log(&self) -> Option<Arc<Mutex<BootLog>>> {
        self.boot_log.clone()
    }

    /// Takes write requests as `writes` says.
    #[must_use]
    pub fn with_writes(mut self, writes: Writes) -> Self {
        self.writes = writes;
        self
    }

    /// The resolver.
    pub fn resolver(&self) -> &Resolver<D> {
        &self.resolver
    }
}

impl<D: OpenFile> Handler for ProvisioningHandler<D> {
    fn open_read(
        &self,
        peer: SocketAddr,
        request: &Incoming,
    ) -> Result<Box<dyn DataSource>, (ErrorCode, String)> {
        let answer = self.resolver.resolve(request.filename());
        let name = String::from_utf8_lossy(request.filename());
        if let Some(log) = &self.boot_log {
            let closed = log.lock().unwrap_or_else(PoisonError::into_inner).record(
                Instant::now(),
                peer.ip(),
                &name,
                answer.label(),
            );
            if let Some(line) = closed {
                info!(target: "cnfkit::boot", "{line}");
            }
        }
        match answer {
            Answer::File { path, found } => {
                debug!(%peer, file = %name, ?found, "serving from the tree");
                self.resolver
                    .directory()
                    .open_source(&path)
                    .map_err(|_| (ErrorCode::FILE_NOT_FOUND, "File not found".to_owned()))
            }
            Answer::Generated { bytes, made } => {
                debug!(%peer, file = %name, ?made, bytes = bytes.len(), "serving a generated file");
                Ok(Box::new(bytes))
            }
            Answer::NotFound { normal, why, .. } => {
                // Misses are in the boot line; one by one they are debug detail.
                debug!(%peer, file = %name, %why, normal, "not found");
                Err((ErrorCode::FILE_NOT_FOUND, "File not found".to_owned()))
            }
            Answer::Refused(reason) => {
                info!(%peer, file = %name, %reason, "refused");
                Err((ErrorCode::ACCESS_VIOLATION, "Access violation".to_owned()))
            }
            _ => Err((ErrorCode::FILE_NOT_FOUND, "File not found".to_owned())),
        }
    }

    fn open_write(
        &self,
        peer: SocketAddr,
        request: &Incoming,
    ) -> Result<Box<dyn DataSink>, (ErrorCode, String)> {
        let Writes::On { root, overwrite } = &self.writes else {
            return Err((ErrorCode::ACCESS_VIOLATION, "Writes are not allowed".to_owned()));
        };
        let denied = || (ErrorCode::ACCESS_VIOLATION, "Access violation".to_owned());
        let path = SafePath::new(request.filename()).map_err(|_| denied())?;
        let (parent, name) = match path.as_str().rsplit_once('/') {
            Some((parent, name)) => (root.confined(parent).ok_or_else(denied)?, name.to_owned()),
            None => (root.root().to_owned(), path.as_str().to_owned()),
        };
        if !parent.is_dir() {
            return Err(denied());
        }
        let target = parent.join(&name);
        if target.symlink_metadata().is_ok() && !overwrite {
            return Err((ErrorCode::FILE_EXISTS, "File already exists".to_owned()));
        }
        let sink = AtomicFile::create(parent, &name, *overwrite).map_err(|_| denied())?;
        info!(%peer, file = %path, "receiving a write");
        Ok(Box::new(sink))
    }
}

/// Writes the boots of `log` at info level (target `cnfkit::boot`) as their phones go quiet,
/// checking every `every`; runs until the task is dropped.
pub async fn log_boots(log: Arc<Mutex<BootLog>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let lines = log.lock().unwrap_or_else(PoisonError::into_inner).expired(Instant::now());
        for line in lines {
            info!(target: "cnfkit::boot", "{line}");
        }
    }
}

/// Writes to a temporary file beside the target, renamed over it on success: a reader never
/// sees half a file, and a failed transfer leaves nothing behind.
struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    overwrite: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicFile {
    fn create(dir: PathBuf, name: &str, overwrite: bool) -> std::io::Result<Self> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}.{n}.part", std::process::id()));
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        Ok(Self { file: Some(file), temp, target: dir.join(name), overwrite })
    }
}

impl DataSink for AtomicFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.as_mut().ok_or_else(|| std::io::Error::other("closed"))?.write_all(data)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let file = self.file.take().ok_or_else(|| std::io::Error::other("closed"))?;
        file.sync_all()?;
        drop(file);
        if !self.overwrite && self.target.symlink_metadata().is_ok() {
            let _ = std::fs::remove_file(&self.temp);
            return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
        }
        std::fs::rename(&self.temp, &self.target)
    }

    fn abort(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(&self.temp);
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.abort();
        }
    }
}

/// The demo load the embedded tree offers 7942 phones.
pub const DEMO_LOAD: &str = "SCCP42.9-4-2SR3-1S";

/// An in-memory tree that lets `cnf-server` and `phone-sim` work on a fresh machine: a generated
/// `XMLDefault.cnf.xml` whose call manager is `call_manager`, a SEP file on "disk" and one
/// generated from an inventory, a `.loads` manifest with small images, and a 1 MiB file.
///
/// # Panics
/// Never for a `call_manager` of 50 characters or fewer (the builders' limit).
#[must_use]
pub fn demo_resolver(call_manager: &str) -> Resolver<MemoryDirectory> {
    let defaults = DeviceDefaults {
        call_managers: vec![call_manager.to_owned()],
        loads: [
            ("7942".to_owned(), DEMO_LOAD.to_owned()),
            ("8845".to_owned(), "sip8845_65.14-2-1-0001-14".to_owned()),
        ]
        .into_iter()
        .collect(),
        ..DeviceDefaults::default()
    };
    let inventory = Inventory::parse_csv(
        "mac,model,protocol,lines,label\n0011223344AA,8845,SIP,1001:Reception,Reception\n",
    )
    .expect("the demo inventory is valid");
    let tree = MemoryDirectory::new();
    tree.insert("XMLDefault.cnf.xml", defaults.xml_default().expect("the demo defaults are valid"));
    let generator = InventoryGenerator { inventory, defaults };
    let sep = {
        let mut record = cnfkit_config::PhoneRecord {
            mac: "001122334455".into(),
            model: "7942".into(),
            load: Some(DEMO_LOAD.into()),
            ..cnfkit_config::PhoneRecord::default()
        };
        record.call_managers = vec![cnfkit_config::CallManagerSpec::new(call_manager)];
        cnfkit_config::build_device(&record, cnfkit_config::MacCase::Upper)
            .expect("the demo record is valid")
            .1
            .into_bytes()
    };
    tree.insert("SEP001122334455.cnf.xml", sep);
    let images = [
        "jar42sccp.9-4-2SR3-1S.sbn",
        "apps42.9-4-2SR3-1S.sbn",
        "cnu42.9-4-2SR3-1S.sbn",
        "dsp42.9-4-2SR3-1S.sbn",
    ];
    let manifest: String = images.iter().map(|i| format!("{i}\r\n")).collect();
    tree.insert(&format!("{DEMO_LOAD}.loads"), manifest.into_bytes());
    tree.insert(
        "term42.default.loads",
        images.iter().map(|i| format!("{i}\r\n")).collect::<String>().into_bytes(),
    );
    for (n, image) in images.iter().enumerate() {
        tree.insert(image, demo_bytes(64 * 1024, n as u64 + 1));
    }
    tree.insert("demo-1MiB.bin", demo_bytes(1 << 20, 42));
    Resolver::new(tree).with_generator(generator).write_back_default(false)
}

/// Deterministic filler bytes.
fn demo_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
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
