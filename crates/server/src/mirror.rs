//! Serving a tree kept in an object store: S3 (AWS, MinIO, Ceph RGW, Garage, SeaweedFS) or,
//! through the same code, a local directory (`file:///srv/tftp`).
//!
//! The resolver stays pure and fast: it reads a **local mirror** of the store, an ordinary
//! [`FsDirectory`](cnfkit_resolve::FsDirectory) under `--cache-dir`, so a boot storm costs the store nothing. A background
//! thread keeps the mirror current:
//!
//! - The store is listed every refresh interval (10 s by default), and at once after a look-up
//!   misses (at most once a second, and once per name per interval: a storm of misses is not a
//!   storm of listings). A new or changed object is fetched, a deleted one removed; a phone sees
//!   either within one interval.
//! - An object counts as changed when its size, modification time or ETag differs from what was
//!   fetched. Some stores list no ETag (s3s-fs), so none is needed.
//! - Objects are streamed into the mirror through the one atomic writer (cnfkit-fs): a reader
//!   sees the old file or the whole new one. Small files are then served from memory by the
//!   directory's own cache, large ones (firmware) streamed from disk.
//! - The index of what was fetched is written atomically after every change. A replica started
//!   while the store is unreachable serves what its cache holds; the outage is logged once, and
//!   the mirror catches up when the store returns.
//! - Files the server creates (a rebuilt `XMLDefault.cnf.xml`, an upload) are served at once and
//!   published with a create-only put. When another replica created the object first, the
//!   store's copy wins and replaces the local one at the next listing. Not every store enforces
//!   create-only puts (Garage accepts a second one); then the last put wins, whole, and every
//!   replica converges on it: a rebuilt XMLDefault is the same bytes whoever writes it.
//!
//! Requests to the store are bounded: [`MirrorOptions::concurrency`] fetches at once, a timeout
//! per request and a few retries with backoff (object_store's), and counted in
//! [`MirrorStats`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cnfkit_resolve::{SafePath, TreeObserver};
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

pub use crate::store_stats::MirrorStats;
use tracing::{info, warn};

use crate::Error;
use crate::mirror_list::S3Lister;

/// The default interval between two listings of the store.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(10);

/// Objects larger than this are left out of the mirror (and named in a warning): a provisioning
/// tree holds configurations and firmware, not disk images.
pub const OBJECT_MAX: u64 = 4 << 30;

/// Objects listed at most; past it the listing is refused as a whole (a wrong prefix pointing at
/// a data lake must not fill the disk).
pub const OBJECTS_MAX: usize = 1_000_000;

/// Misses remembered for the once-per-name rule.
const MISSES_KEPT: usize = 4096;

/// Where the served files come from and how the mirror behaves.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// `s3://BUCKET/PREFIX/` (configured from the environment the way the AWS CLI is:
    /// `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint) or `file:///absolute/path`.
    pub source: String,
    /// The mirror's home: `files/` (the served tree) and `index.json`.
    pub cache_dir: PathBuf,
    /// Between two listings.
    pub refresh: Duration,
    /// Objects fetched at once.
    pub concurrency: usize,
    /// One request's timeout.
    pub request_timeout: Duration,
}

impl MirrorOptions {
    /// The defaults: a listing every 10 s, 8 fetches at once, 30 s per request.
    pub fn new(source: impl Into<String>, cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            source: source.into(),
            cache_dir: cache_dir.into(),
            refresh: DEFAULT_REFRESH,
            concurrency: 8,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What was fetched of one object: what its next listing is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fetched {
    size: u64,
    /// RFC 3339, as listed.
    modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
}

impl Fetched {
    fn of(meta: &object_store::ObjectMeta) -> Self {
        Self {
            size: meta.size,
            modified: meta.last_modified.to_rfc3339(),
            etag: meta.e_tag.clone(),
        }
    }

    /// Whether a listed object is another version than this one. An ETag counts only when
    /// both sides have one (a listing may carry none where a GET did).
    fn differs(&self, listed: &Self) -> bool {
        self.size != listed.size
            || self.modified != listed.modified
            || matches!((&self.etag, &listed.etag), (Some(a), Some(b)) if a != b)
    }
}

/// The mirror's persisted index: relative path -> the version held.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    source: String,
    objects: BTreeMap<String, Fetched>,
}

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Objects in the store (under the prefix, usable).
    pub objects: usize,
    /// Objects fetched (new or changed).
    pub fetched: usize,
    /// Files removed (their object was deleted).
    pub removed: usize,
    /// Objects that could not be fetched (tried again at the next refresh).
    pub failed: usize,
    /// Objects left out, with why (a name that is no safe path, too large).
    pub skipped: Vec<(String, &'static str)>,
}

/// A local mirror of an object store (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct Mirror {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    /// An S3 source's own lister (object_store's fails a page on one odd key).
    lister: Option<S3Lister>,
    prefix: StorePath,
    /// A `file://` source's directory: when it is gone (an unmounted share), the listing
    /// fails rather than reading as "every object deleted".
    local_root: Option<PathBuf>,
    options: MirrorOptions,
    files: PathBuf,
    index_path: PathBuf,
    index: Mutex<Index>,
    /// Created locally, not yet in the store: a listing leaves them alone.
    unpublished: Mutex<BTreeSet<String>>,
    misses: Mutex<Misses>,
    wake: tokio::sync::Notify,
    stop: AtomicBool,
    /// In an outage (logged when it starts and when it ends).
    outage: AtomicBool,
    stats: Arc<MirrorStats>,
    /// Objects skipped and already warned about (a warning once, not every listing).
    warned: Mutex<BTreeSet<String>>,
}

#[derive(Debug, Default)]
struct Misses {
    last_listing: Option<Instant>,
    names: HashMap<String, Instant>,
}

/// The delay before a listing asked for by a miss, once a second at most.
const MISS_LISTING_EVERY: Duration = Duration::from_secs(1);

impl Mirror {
    /// Opens the store named by `options.source` and the cache under `options.cache_dir`
    /// (created when missing), and loads the index a previous run left. Nothing is fetched
    /// yet: call [`first_sync`](Self::first_sync).
    ///
    /// # Errors
    /// [`Error::Source`] for a source URL that cannot be used; [`Error::Io`] for a cache
    /// directory that cannot be made.
    pub fn open(options: MirrorOptions) -> Result<Self, Error> {
        let (store, lister, prefix) = open_store(&options)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let files = options.cache_dir.join("files");
        std::fs::create_dir_all(&files).map_err(io(&files))?;
        let index_path = options.cache_dir.join("index.json");
        let mut index = match std::fs::read(&index_path) {
            Ok(bytes) => serde_json::from_slice::<Index>(&bytes).unwrap_or_else(|e| {
                warn!(index = %index_path.display(), error = %e,
                      "the mirror's index cannot be read: every object is fetched again");
                Index::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(Error::Io { path: index_path, source: e }),
        };
        if index.source != options.source {
            // Another store's files: served by nobody, so start over.
            if !index.objects.is_empty() {
                warn!(cache = %options.cache_dir.display(), was = %index.source,
                      "the cache held another source's files: they are fetched again");
            }
            index = Index { source: options.source.clone(), objects: BTreeMap::new() };
        }
        // Files of the index that are gone from disk (an admin cleaned up) are fetched again.
        index.objects.retain(|key, _| files.join(key).is_file());
        let _ = cnfkit_fs::remove_stale_temps_in_tree(&files, 16);
        Ok(Self {
            inner: Arc::new(Inner {
                local_root: options.source.strip_prefix("file://").map(PathBuf::from),
                store,
                lister,
                prefix,
                files,
                index_path,
                index: Mutex::new(index),
                unpublished: Mutex::default(),
                misses: Mutex::default(),
                wake: tokio::sync::Notify::new(),
                stop: AtomicBool::new(false),
                outage: AtomicBool::new(false),
                stats: Arc::default(),
                warned: Mutex::default(),
                options,
            }),
        })
    }

    /// The served tree (the mirror's `files/`).
    #[must_use]
    pub fn files(&self) -> &Path {
        &self.inner.files
    }

    /// Files the index holds.
    #[must_use]
    pub fn cached(&self) -> usize {
        lock(&self.inner.index).objects.len()
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> Arc<MirrorStats> {
        self.inner.stats.clone()
    }

    /// What the served directory tells the mirror (misses, created files).
    #[must_use]
    pub fn observer(&self) -> Arc<dyn TreeObserver> {
        Arc::new(Observer(self.inner.clone()))
    }

    /// [`open`](Self::open) and [`first_sync`](Self::first_sync): the mirror ready to serve,
    /// with the first listing's report when the store answered.
    ///
    /// # Errors
    /// As both; an unreachable store with nothing cached names the cache directory.
    pub fn start(options: MirrorOptions) -> Result<(Self, Option<SyncReport>), Error> {
        let cache_dir = options.cache_dir.clone();
        let mirror = Self::open(options)?;
        match mirror.first_sync() {
            Ok(first) => Ok((mirror, first.ok())),
            Err(e) => Err(Error::Source {
                source_url: mirror.inner.options.source.clone(),
                reason: format!(
                    "{}; {} holds no copy to serve",
                    match &e {
                        Error::Store { source, .. } => source.to_string(),
                        e => e.to_string(),
                    },
                    cache_dir.display()
                ),
            }),
        }
    }

    /// The first refresh, before serving. When the store cannot be reached, a cache from an
    /// earlier run is served (the error is returned for the start-up warning, and the outage
    /// is logged once); without one there is nothing to serve.
    ///
    /// # Errors
    /// [`Error::Store`] when the store cannot be listed and the cache is empty.
    pub fn first_sync(&self) -> Result<Result<SyncReport, Error>, Error> {
        match self.sync_blocking() {
            Ok(report) => Ok(Ok(report)),
            Err(e) if self.cached() > 0 => Ok(Err(e)),
            Err(e) => Err(e),
        }
    }

    /// One refresh, on a runtime of its own (for start-up and tests).
    ///
    /// # Errors
    /// [`Error::Store`] when the store cannot be listed; a file that cannot be fetched is
    /// counted and fetched at the next refresh.
    pub fn sync_blocking(&self) -> Result<SyncReport, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io { path: self.inner.files.clone(), source })?;
        runtime.block_on(self.inner.refresh())
    }

    /// Keeps the mirror current on a thread of its own (a runtime of its own: fetching
    /// firmware never competes with serving), until the returned guard is dropped.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn spawn(&self) -> std::io::Result<MirrorTask> {
        let inner = self.inner.clone();
        let thread =
            std::thread::Builder::new().name("cnfkit-mirror".to_owned()).spawn(move || {
                let runtime =
                    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            warn!(error = %e, "the mirror cannot run: the store is not followed");
                            return;
                        }
                    };
                runtime.block_on(inner.run());
            })?;
        Ok(MirrorTask { inner: self.inner.clone(), thread: Some(thread) })
    }
}

/// The mirror's thread; dropping it stops the thread (after the refresh in progress).
#[derive(Debug)]
pub struct MirrorTask {
    inner: Arc<Inner>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MirrorTask {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a source URL opens: the store, an S3 source's own lister, and the prefix.
type OpenedStore = (Arc<dyn ObjectStore>, Option<S3Lister>, StorePath);

/// The store, an S3 source's lister, and the prefix of a source URL.
fn open_store(options: &MirrorOptions) -> Result<OpenedStore, Error> {
    let refused = |reason: String| Error::Source { source_url: options.source.clone(), reason };
    if let Some(rest) = options.source.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(refused("no bucket: write s3://BUCKET/PREFIX/".to_owned()));
        }
        let mut client = object_store::ClientOptions::new()
            .with_timeout(options.request_timeout)
            .with_connect_timeout(Duration::from_secs(5));
        // Client options given here replace those `from_env` read: keep the one that matters.
        if let Ok(allow) = std::env::var("AWS_ALLOW_HTTP") {
            client = client.with_config(object_store::ClientConfigKey::AllowHttp, allow);
        }
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            ..object_store::RetryConfig::default()
        };
        install_crypto_provider();
        let builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_client_options(client)
            .with_retry(retry);
        let store = Arc::new(builder.clone().build().map_err(|e| refused(e.to_string()))?);
        let lister = S3Lister::new(
            &builder,
            store.clone(),
            bucket,
            options.request_timeout,
            &options.source,
        )?;
        let prefix = StorePath::parse(prefix).map_err(|e| refused(e.to_string()))?;
        Ok((store, Some(lister), prefix))
    } else if let Some(path) = options.source.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(refused("a file:// source needs an absolute path".to_owned()));
        }
        // Rooted at `/` with the directory as the prefix, rather than rooted at the directory:
        // that would need it to exist now, and a replica must start from its cache while a
        // share is unmounted.
        let prefix =
            StorePath::parse(path.trim_start_matches('/')).map_err(|e| refused(e.to_string()))?;
        Ok((Arc::new(object_store::local::LocalFileSystem::new()), None, prefix))
    } else {
        Err(refused("the source is s3://BUCKET/PREFIX/ or file:///PATH".to_owned()))
    }
}

/// The HTTPS client of the S3 store uses rustls with the ring provider (as the HTTPS
/// listener does): no second crypto library.
fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

impl Inner {
    async fn run(self: Arc<Self>) {
        loop {
            let _ = tokio::time::timeout(self.options.refresh, self.wake.notified()).await;
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let _ = self.refresh().await;
        }
    }

    /// Publishes what the server created, then lists and fetches.
    async fn refresh(&self) -> Result<SyncReport, Error> {
        self.publish().await;
        let result = self.sync().await;
        self.stats.reachable.store(result.is_ok(), Ordering::SeqCst);
        // Once per outage, not per refresh (nor per request: object_store's retries log at
        // info, which the server's default filter leaves out).
        let was_out = self.outage.swap(result.is_err(), Ordering::SeqCst);
        match &result {
            Err(e) if !was_out => {
                let cached = lock(&self.index).objects.len();
                warn!(source = %self.options.source, error = %e, cached,
                      "the object store is unreachable: serving the cached copy until it returns");
            }
            Ok(report) if was_out => {
                info!(source = %self.options.source, fetched = report.fetched, removed = report.removed,
                      "the object store is reachable again: caught up");
            }
            _ => {}
        }
        result
    }

    fn store_error(&self, e: object_store::Error) -> Error {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        Error::Store { source_url: self.options.source.clone(), source: Box::new(e) }
    }

    /// Every object under the prefix: its key below the prefix and its metadata, or (`Err`) a
    /// key object_store cannot represent, as the store spells it.
    async fn list(
        &self,
        prefix: Option<&StorePath>,
    ) -> Result<Vec<Result<(String, object_store::ObjectMeta), String>>, Error> {
        let mut found = Vec::new();
        if let Some(lister) = &self.lister {
            let below = match prefix {
                Some(prefix) => format!("{}/", prefix.as_ref()),
                None => String::new(),
            };
            for listed in lister.list(&below).await.inspect_err(|_| {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
            })? {
                let Some(relative) = listed.key.strip_prefix(&below) else { continue };
                // `dir/`: a folder's marker (an S3 console makes one per folder), never a file.
                if relative.is_empty() || relative.ends_with('/') {
                    continue;
                }
                // A key object_store normalises into another (`/a`) is not one the mirror can
                // hold under its own name.
                match listed.meta {
                    Some(meta) if meta.location.as_ref() == listed.key => {
                        if let Some(key) = self.key_of(&meta.location) {
                            found.push(Ok((key, meta)));
                        }
                    }
                    _ => found.push(Err(relative.to_owned())),
                }
            }
            return Ok(found);
        }
        let mut listing = self.store.list(prefix);
        loop {
            match listing.try_next().await {
                Ok(Some(meta)) => {
                    if let Some(key) = self.key_of(&meta.location) {
                        found.push(Ok((key, meta)));
                    }
                }
                Ok(None) => return Ok(found),
                // A file object_store cannot name (a `file://` source): that one is left out.
                Err(object_store::Error::InvalidPath { source }) => match unparsable_key(&source) {
                    Some(key) => found.push(Err(key)),
                    None => {
                        return Err(self.store_error(object_store::Error::InvalidPath { source }));
                    }
                },
                Err(e) => return Err(self.store_error(e)),
            }
        }
    }

    fn key_of(&self, location: &StorePath) -> Option<String> {
        let parts: Vec<_> = location.prefix_match(&self.prefix)?.collect();
        let key = parts.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join("/");
        (!key.is_empty()).then_some(key)
    }

    fn location_of(&self, key: &str) -> StorePath {
        key.split('/').fold(self.prefix.clone(), StorePath::join)
    }

    async fn sync(&self) -> Result<SyncReport, Error> {
        if let Some(root) = self.local_root.as_ref().filter(|root| !root.is_dir()) {
            let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
            return Err(Error::Io { path: root.clone(), source: gone });
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut listed = BTreeMap::new();
        let mut report = SyncReport::default();
        for item in self.list(prefix).await? {
            let (key, meta) = match item {
                Ok(found) => found,
                Err(key) => {
                    let why = "a key with an empty segment, a control character, . or ..";
                    if lock(&self.warned).insert(key.clone()) {
                        warn!(object = %key.escape_debug(), why, "left out of the mirror");
                    }
                    report.skipped.push((key, why));
                    continue;
                }
            };
            let last = key.rsplit('/').next().unwrap_or(&key);
            let why = if !SafePath::new(key.as_bytes()).is_ok_and(|p| p.as_str() == key)
                || cnfkit_fs::is_temp_name(last)
            {
                Some("not a name the server serves")
            } else if meta.size > OBJECT_MAX {
                Some("larger than 4 GiB")
            } else {
                None
            };
            if let Some(why) = why {
                if lock(&self.warned).insert(key.clone()) {
                    warn!(object = %key, why, "left out of the mirror");
                }
                report.skipped.push((key, why));
                continue;
            }
            listed.insert(key, meta);
            if listed.len() > OBJECTS_MAX {
                return Err(Error::Source {
                    source_url: self.options.source.clone(),
                    reason: format!("more than {OBJECTS_MAX} objects under the prefix"),
                });
            }
        }
        drop_directory_markers(&mut listed, |meta| meta.size);
        self.stats.listings.fetch_add(1, Ordering::Relaxed);
        report.objects = listed.len();
        let unpublished = lock(&self.unpublished).clone();
        let (wanted, gone): (Vec<_>, Vec<String>) = {
            let index = lock(&self.index);
            let wanted = listed
                .iter()
                .filter(|(key, meta)| {
                    !unpublished.contains(*key)
                        && index
                            .objects
                            .get(*key)
                            .is_none_or(|held| held.differs(&Fetched::of(meta)))
                })
                .map(|(key, meta)| (key.clone(), meta.clone()))
                .collect();
            let gone = index
                .objects
                .keys()
                .filter(|key| !listed.contains_key(*key) && !unpublished.contains(*key))
                .cloned()
                .collect();
            (wanted, gone)
        };
        let fetches = futures_util::stream::iter(wanted)
            .map(|(key, meta)| async move {
                let result = self.fetch(&key, &meta).await;
                (key, meta, result)
            })
            .buffer_unordered(self.options.concurrency.max(1));
        let fetched: Vec<_> = fetches.collect().await;
        let mut index = lock(&self.index);
        for (key, meta, result) in fetched {
            match result {
                Ok(etag) => {
                    let mut held = Fetched::of(&meta);
                    held.etag = held.etag.or(etag);
                    index.objects.insert(key, held);
                    report.fetched += 1;
                }
                Err(e) => {
                    warn!(object = %key, error = %e, "cannot fetch: tried again at the next refresh");
                    report.failed += 1;
                }
            }
        }
        for key in gone {
            match std::fs::remove_file(self.files.join(&key)) {
                Ok(()) => report.removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.removed += 1,
                Err(e) => {
                    warn!(file = %key, error = %e, "cannot remove a deleted object's file");
                    continue;
                }
            }
            index.objects.remove(&key);
        }
        self.stats.fetched.fetch_add(report.fetched as u64, Ordering::Relaxed);
        self.stats.removed.fetch_add(report.removed as u64, Ordering::Relaxed);
        if report.fetched > 0 || report.removed > 0 {
            self.save(&index)?;
        }
        Ok(report)
    }

    /// Streams one object into the mirror, atomically; its ETag as the GET gave it.
    async fn fetch(
        &self,
        key: &str,
        meta: &object_store::ObjectMeta,
    ) -> Result<Option<String>, Error> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let got = self.store.get(&meta.location).await.map_err(|e| self.store_error(e))?;
        let etag = got.meta.e_tag.clone();
        let target = self.files.join(key);
        let io = |source| Error::Io { path: target.clone(), source };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut pending = cnfkit_fs::PendingFile::create(&target, cnfkit_fs::Install::Replace)
            .map_err(Error::from)?;
        let mut stream = got.into_stream();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.store_error(e))?;
            written += chunk.len() as u64;
            if written > OBJECT_MAX {
                return Err(io(std::io::Error::other("the object grew past 4 GiB")));
            }
            std::io::Write::write_all(&mut pending, &chunk).map_err(io)?;
        }
        pending.commit()?;
        self.stats.fetched_bytes.fetch_add(written, Ordering::Relaxed);
        Ok(etag)
    }

    fn save(&self, index: &Index) -> Result<(), Error> {
        let bytes = serde_json::to_vec(index).map_err(|e| Error::Io {
            path: self.index_path.clone(),
            source: std::io::Error::other(e),
        })?;
        cnfkit_fs::write(&self.index_path, &bytes, cnfkit_fs::Install::Replace)?;
        Ok(())
    }

    /// Puts what the server created to the store, create-only.
    async fn publish(&self) {
        let keys: Vec<String> = lock(&self.unpublished).iter().cloned().collect();
        for key in keys {
            let bytes = match std::fs::read(self.files.join(&key)) {
                Ok(bytes) => bytes,
                Err(_) => {
                    lock(&self.unpublished).remove(&key);
                    continue;
                }
            };
            let location = self.location_of(&key);
            let mode = if lock(&self.index).objects.contains_key(&key) {
                PutMode::Overwrite
            } else {
                PutMode::Create
            };
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let put = self
                .store
                .put_opts(&location, bytes.into(), PutOptions { mode, ..PutOptions::default() })
                .await;
            match put {
                Ok(_) => {
                    self.stats.published.fetch_add(1, Ordering::Relaxed);
                    // What the next listing will say of it, so that it is not fetched back.
                    self.stats.requests.fetch_add(1, Ordering::Relaxed);
                    if let Ok(meta) = self.store.head(&location).await {
                        let mut index = lock(&self.index);
                        index.objects.insert(key.clone(), Fetched::of(&meta));
                        let _ = self.save(&index);
                    }
                    info!(object = %key, "published to the object store");
                    lock(&self.unpublished).remove(&key);
                }
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => {
                    self.stats.publish_conflicts.fetch_add(1, Ordering::Relaxed);
                    info!(object = %key,
                          "another writer created it first: the store's copy is served from the next listing");
                    lock(&self.unpublished).remove(&key);
                }
                Err(e) => {
                    let e = self.store_error(e);
                    warn!(object = %key, error = %e, "cannot publish: tried again at the next refresh");
                }
            }
        }
    }
}

#[derive(Debug)]
struct Observer(Arc<Inner>);

impl TreeObserver for Observer {
    fn missed(&self, dir: &str, name: &str) {
        let inner = &self.0;
        let key = if dir.is_empty() {
            name.to_ascii_lowercase()
        } else {
            format!("{dir}/{name}").to_ascii_lowercase()
        };
        let now = Instant::now();
        let mut misses = lock(&inner.misses);
        let refresh = inner.options.refresh;
        if misses.names.get(&key).is_some_and(|at| now.duration_since(*at) < refresh) {
            return;
        }
        if misses.names.len() >= MISSES_KEPT {
            misses.names.clear();
        }
        misses.names.insert(key, now);
        if misses.last_listing.is_some_and(|at| now.duration_since(at) < MISS_LISTING_EVERY) {
            return;
        }
        misses.last_listing = Some(now);
        drop(misses);
        inner.wake.notify_one();
    }

    fn created(&self, path: &str) {
        lock(&self.0.unpublished).insert(path.to_owned());
        self.0.wake.notify_one();
    }
}
/// The key a listing could not parse, from object_store's error.
fn unparsable_key(error: &object_store::path::Error) -> Option<String> {
    match error {
        object_store::path::Error::EmptySegment { path }
        | object_store::path::Error::BadSegment { path, .. } => Some(path.clone()),
        _ => None,
    }
}

/// Drops S3 "directory markers": the empty object `dir/` that consoles create for a folder,
/// which object_store lists as `dir`, beside the objects under `dir/`. Mirrored as a file it
/// would stand where the folder must be, and fail at every listing.
fn drop_directory_markers<M>(listed: &mut BTreeMap<String, M>, size: impl Fn(&M) -> u64) {
    let markers: Vec<String> = listed
        .iter()
        .filter(|(key, meta)| {
            size(meta) == 0
                && listed
                    .range::<str, _>((
                        std::ops::Bound::Excluded(key.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .take_while(|(other, _)| other.starts_with(key.as_str()))
                    .any(|(other, _)| other.as_bytes().get(key.len()) == Some(&b'/'))
        })
        .map(|(key, _)| key.clone())
        .collect();
    for key in markers {
        listed.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_object_named_like_a_folder_of_other_objects_is_a_directory_marker() {
        let mut listed: BTreeMap<String, u64> = [
            ("Desktops", 0),
            ("Desktops-old.txt", 3),
            ("Desktops/320x212x16/List.xml", 120),
            ("Desktops/320x212x16", 0),
            ("empty.txt", 0),
            ("ring", 0),
            ("ring0.raw", 10),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        drop_directory_markers(&mut listed, |size| *size);
        let kept: Vec<&str> = listed.keys().map(String::as_str).collect();
        assert_eq!(
            kept,
            ["Desktops-old.txt", "Desktops/320x212x16/List.xml", "empty.txt", "ring", "ring0.raw"]
        );
    }
}
