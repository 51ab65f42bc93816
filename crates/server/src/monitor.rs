//! What the admin listener shows: the [phone registry](crate::registry), the Prometheus
//! metrics and the live feed of requests and state changes.
//!
//! A [`Monitor`] is fed by the [`ProvisioningHandler`](crate::ProvisioningHandler) (every
//! request as it is answered, every TFTP transfer as it ends) and read by the
//! [`AdminServer`](crate::admin::AdminServer). Metrics carry no per-phone label: a site's
//! phones are in `/api/phones`, not in the time series.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cnfkit_resolve::{Mac, Transport};
use cnfkit_tftp::Stats as TftpStats;
use prometheus_client::collector::Collector;

use crate::store_stats::MirrorStats;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::ConfigSigner;
use crate::registry::{
    AnswerKind, FileClass, Millis, Phone, PhoneState, Registry, RegistryLimits, RequestEntry,
    RequestSeen, StateChange,
};

/// Events held for a slow live-feed client before it misses some.
const FEED_BACKLOG: usize = 4096;

/// The registry, the metrics and the live feed of one server.
pub struct Monitor {
    registry: Mutex<Registry>,
    metrics: Metrics,
    prometheus: prometheus_client::registry::Registry,
    feed: broadcast::Sender<Arc<str>>,
    tftp: Arc<OnceLock<Arc<TftpStats>>>,
    store: Arc<OnceLock<Arc<MirrorStats>>>,
    /// The registry's size by state, as of the last tick, for the scrape.
    states: Arc<Mutex<Vec<(&'static str, usize)>>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").field("phones", &self.lock().len()).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    answer: &'static str,
    class: &'static str,
    transport: &'static str,
}

#[derive(Clone)]
struct Metrics {
    requests: Family<RequestLabels, Counter>,
    bytes_sent: Counter,
    retransmits: Counter,
    transfers_active: Gauge,
    transfers_failed: Counter,
    boot_seconds: Histogram,
}

/// Figures read at each scrape from where they are kept: the driver's counts, the signer's,
/// and the registry's size by state.
struct Snapshot {
    tftp: Arc<OnceLock<Arc<TftpStats>>>,
    store: Arc<OnceLock<Arc<MirrorStats>>>,
    signer: Option<ConfigSigner>,
    states: Arc<Mutex<Vec<(&'static str, usize)>>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(stats) = self.tftp.get() {
            use std::sync::atomic::Ordering::Relaxed;
            let counters = [
                ("cnfkit_tftp_transfers_completed", "TFTP transfers completed", &stats.completed),
                (
                    "cnfkit_tftp_transfers_failed",
                    "TFTP transfers failed (timeouts, peer errors)",
                    &stats.failed,
                ),
                (
                    "cnfkit_tftp_requests_refused",
                    "TFTP requests answered with an ERROR",
                    &stats.refused,
                ),
                (
                    "cnfkit_tftp_requests_dropped",
                    "TFTP requests dropped (limits, repeats)",
                    &stats.dropped,
                ),
            ];
            for (name, help, value) in counters {
                let counter = ConstCounter::new(value.load(Relaxed));
                counter.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    counter.metric_type(),
                )?)?;
            }
            let turned_away = stats.turned_away();
            let family = encoder.encode_descriptor(
                "cnfkit_tftp_turned_away",
                "TFTP requests turned away, by reason",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            let mut family = family;
            for (reason, count) in turned_away {
                let counter = ConstCounter::new(count);
                counter.encode(family.encode_family(&ReasonLabel { reason })?)?;
            }
        }
        if let Some(stats) = self.store.get() {
            use std::sync::atomic::Ordering::Relaxed;
            let counters = [
                ("cnfkit_store_requests", "Requests to the object store", &stats.requests),
                (
                    "cnfkit_store_errors",
                    "Object-store requests failed after retries",
                    &stats.errors,
                ),
                (
                    "cnfkit_store_listings",
                    "Listings of the object store completed",
                    &stats.listings,
                ),
                ("cnfkit_store_objects_fetched", "Objects fetched into the mirror", &stats.fetched),
                (
                    "cnfkit_store_bytes_fetched",
                    "Bytes fetched into the mirror",
                    &stats.fetched_bytes,
                ),
                (
                    "cnfkit_store_objects_removed",
                    "Mirror files removed (object deleted)",
                    &stats.removed,
                ),
                (
                    "cnfkit_store_objects_published",
                    "Created files put to the store",
                    &stats.published,
                ),
                (
                    "cnfkit_store_publish_conflicts",
                    "Create-only puts refused (another writer was first)",
                    &stats.publish_conflicts,
                ),
            ];
            for (name, help, value) in counters {
                let counter = ConstCounter::new(value.load(Relaxed));
                counter.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    counter.metric_type(),
                )?)?;
            }
            let up = ConstGauge::new(i64::from(stats.reachable.load(Relaxed)));
            up.encode(encoder.encode_descriptor(
                "cnfkit_store_reachable",
                "1 when the last listing of the object store worked",
                None,
                up.metric_type(),
            )?)?;
        }
        if let Some(signer) = &self.signer {
            let stats = signer.stats();
            let made = ConstCounter::new(stats.made);
            made.encode(encoder.encode_descriptor(
                "cnfkit_signatures_made",
                "Configurations signed (RSA private operations)",
                None,
                made.metric_type(),
            )?)?;
            let hits = ConstCounter::new(stats.cache_hits);
            hits.encode(encoder.encode_descriptor(
                "cnfkit_signature_cache_hits",
                "Signed configurations served from the cache",
                None,
                hits.metric_type(),
            )?)?;
        }
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let total: usize = states.iter().map(|(_, n)| n).sum();
        let size = ConstGauge::new(i64::try_from(total).unwrap_or(i64::MAX));
        size.encode(encoder.encode_descriptor(
            "cnfkit_registry_phones",
            "Phones in the registry",
            None,
            size.metric_type(),
        )?)?;
        let mut family = encoder.encode_descriptor(
            "cnfkit_phones",
            "Phones in the registry, by state",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (state, count) in states {
            let gauge = ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX));
            gauge.encode(family.encode_family(&StateLabel { state })?)?;
        }
        Ok(())
    }
}

/// The states, in the order a dashboard lists them (the ones that need an admin first).
const STATES: [&str; 6] =
    ["stuck", "failed", "fetching-firmware", "booting", "fell-back", "booted"];

impl Monitor {
    /// A monitor with a registry bounded by `limits`; `signer`, when the server signs, adds
    /// its counts to the metrics.
    #[must_use]
    pub fn new(limits: RegistryLimits, signer: Option<ConfigSigner>) -> Arc<Self> {
        let metrics = Metrics {
            requests: Family::default(),
            bytes_sent: Counter::default(),
            retransmits: Counter::default(),
            transfers_active: Gauge::default(),
            transfers_failed: Counter::default(),
            boot_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
        };
        let mut prometheus = prometheus_client::registry::Registry::default();
        prometheus.register(
            "cnfkit_requests",
            "Requests answered, by answer kind, file class and transport",
            metrics.requests.clone(),
        );
        prometheus.register("cnfkit_bytes_sent", "Payload bytes sent", metrics.bytes_sent.clone());
        prometheus.register(
            "cnfkit_retransmits",
            "TFTP datagrams sent again after a timeout",
            metrics.retransmits.clone(),
        );
        prometheus.register(
            "cnfkit_transfers_active",
            "TFTP transfers running now",
            metrics.transfers_active.clone(),
        );
        prometheus.register(
            "cnfkit_transfers_failed",
            "TFTP transfers that did not complete",
            metrics.transfers_failed.clone(),
        );
        prometheus.register(
            "cnfkit_boot_duration_seconds",
            "From a phone's first request of a boot to its last, once it settled",
            metrics.boot_seconds.clone(),
        );
        let (tftp, store) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
        let states = Arc::new(Mutex::new(Vec::new()));
        prometheus.register_collector(Box::new(Snapshot {
            tftp: tftp.clone(),
            store: store.clone(),
            signer,
            states: states.clone(),
        }));
        let (feed, _) = broadcast::channel(FEED_BACKLOG);
        Arc::new(Self {
            registry: Mutex::new(Registry::new(limits)),
            metrics,
            prometheus,
            feed,
            tftp,
            store,
            states,
        })
    }

    /// Adds the TFTP driver's counts (refusals and drops by reason) to the metrics.
    pub fn attach_tftp(&self, stats: Arc<TftpStats>) {
        let _ = self.tftp.set(stats);
    }

    /// Adds an object-store mirror's counts (requests, errors, fetches, reachability).
    pub fn attach_store(&self, stats: Arc<MirrorStats>) {
        let _ = self.store.set(stats);
    }

    /// Locks the registry (to read it, or to [`restore`](Registry::restore) saved records).
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a request as it is answered.
    pub fn request(&self, seen: &RequestSeen<'_>) {
        let class = FileClass::of(seen.recognised.kind);
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                answer: seen.answer.as_str(),
                class: class.as_str(),
                transport: transport_label(seen.transport),
            })
            .inc();
        let running =
            seen.transport == Transport::Tftp && seen.answer.served() && seen.bytes.is_none();
        if running {
            self.metrics.transfers_active.inc();
        }
        if let Some(bytes) = seen.bytes {
            self.metrics.bytes_sent.inc_by(bytes);
        }
        let now = now_ms();
        let (key, change) = self.lock().record(now, seen);
        if self.feed.receiver_count() > 0 {
            let event = RequestEvent {
                phone: key.to_string(),
                address: seen.peer.ip(),
                name: seen.name,
                answer: seen.answer,
                transport: transport_label(seen.transport),
                at: now,
            };
            self.publish("request", &event);
        }
        if let Some(change) = change {
            self.changed(&change);
        }
    }

    /// Records the end of the TFTP transfer to `peer`.
    pub fn transfer_ended(&self, peer: SocketAddr, summary: &cnfkit_tftp::Summary) {
        let completed = summary.outcome == cnfkit_tftp::Outcome::Completed;
        let ended = self.lock().transfer_ended(
            now_ms(),
            peer,
            summary.bytes,
            summary.duration,
            summary.retransmits,
            completed,
        );
        // Uploads and untracked transfers leave the gauge alone.
        let Some((_, change)) = ended else { return };
        self.metrics.transfers_active.dec();
        self.metrics.bytes_sent.inc_by(summary.bytes);
        self.metrics.retransmits.inc_by(summary.retransmits);
        if !completed {
            self.metrics.transfers_failed.inc();
        }
        if let Some(change) = change {
            self.changed(&change);
        }
    }

    /// Tells the registry which images a served manifest lists ([`Registry::learn_manifest`]).
    pub fn learn_manifest(&self, load: &str, images: Vec<String>) {
        self.lock().learn_manifest(load, images);
    }

    /// Tells the registry which loads a served configuration names ([`Registry::learn_config`]).
    pub fn learn_config(&self, name: &str, loads: Vec<String>) {
        self.lock().learn_config(name, loads);
    }

    /// Whether several phones share `ip` ([`Registry::shares_address`]).
    #[must_use]
    pub fn shares_address(&self, ip: std::net::IpAddr) -> bool {
        self.lock().shares_address(ip)
    }

    /// Settles quiet phones and ages out old ones; call it every second or so
    /// ([`Monitor::run`] does).
    pub fn tick(&self) {
        let now = now_ms();
        let changes = self.lock().tick(now);
        self.tick_states();
        for change in &changes {
            self.changed(change);
        }
    }

    /// Ticks every `every` until the task is dropped.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.tick();
        }
    }

    /// The metrics in the Prometheus text format (version 0.0.4).
    #[must_use]
    pub fn metrics_text(&self) -> String {
        self.tick_states();
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.prometheus);
        text
    }

    /// Subscribes to the live feed: each item is one server-sent event (`event:` and `data:`
    /// lines and the blank line that ends it).
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.feed.subscribe()
    }

    /// Every phone's summary, the ones that need an admin first (stuck, failed), then by
    /// last seen, newest first; at most `limit`, and only those in `state` when given.
    #[must_use]
    pub fn phones_json(&self, state: Option<&str>, limit: usize) -> String {
        self.phones_page(state, 0, limit).0
    }

    /// One page of [`phones_json`](Self::phones_json): the `limit` summaries after the first
    /// `offset`, and how many phones match in all.
    #[must_use]
    pub fn phones_page(&self, state: Option<&str>, offset: usize, limit: usize) -> (String, usize) {
        let registry = self.lock();
        let mut phones: Vec<&Phone> =
            registry.phones().filter(|p| state.is_none_or(|s| p.state.as_str() == s)).collect();
        let total = phones.len();
        phones.sort_by_key(|p| (rank(&p.state), std::cmp::Reverse(p.last_seen), p.key()));
        let summaries: Vec<PhoneSummary<'_>> =
            phones.into_iter().skip(offset).take(limit).map(PhoneSummary::of).collect();
        (serde_json::to_string(&summaries).unwrap_or_else(|_| "[]".to_owned()), total)
    }

    /// One phone's whole record (its request timeline included), by MAC.
    #[must_use]
    pub fn phone_json(&self, mac: Mac) -> Option<String> {
        let registry = self.lock();
        registry.phone_by_mac(mac).and_then(|p| serde_json::to_string(p).ok())
    }

    fn tick_states(&self) {
        let counts = self.lock().states();
        *self.states.lock().unwrap_or_else(PoisonError::into_inner) =
            STATES.iter().map(|s| (*s, counts.get(s).copied().unwrap_or(0))).collect();
    }

    fn changed(&self, change: &StateChange) {
        if !change.state.is_active() {
            self.metrics.boot_seconds.observe(change.boot.as_secs_f64());
        }
        if self.feed.receiver_count() > 0 {
            let event = StateEvent { phone: change.key.to_string(), state: &change.state };
            self.publish("state", &event);
        }
    }

    fn publish(&self, kind: &str, event: &impl Serialize) {
        if let Ok(json) = serde_json::to_string(event) {
            let _ = self.feed.send(format!("event: {kind}\ndata: {json}\n\n").into());
        }
    }
}

fn rank(state: &PhoneState) -> usize {
    STATES.iter().position(|s| *s == state.as_str()).unwrap_or(STATES.len())
}

fn transport_label(transport: Transport) -> &'static str {
    match transport {
        Transport::Http => "http",
        Transport::Https => "https",
        _ => "tftp",
    }
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Serialize)]
struct RequestEvent<'a> {
    phone: String,
    address: std::net::IpAddr,
    name: &'a str,
    answer: AnswerKind,
    transport: &'static str,
    at: Millis,
}

#[derive(Serialize)]
struct StateEvent<'a> {
    phone: String,
    #[serde(flatten)]
    state: &'a PhoneState,
}

/// A row of the phone table.
#[derive(Serialize)]
struct PhoneSummary<'a> {
    mac: Option<String>,
    address: std::net::IpAddr,
    model: Option<&'a str>,
    family: Option<&'a str>,
    #[serde(flatten)]
    state: &'a PhoneState,
    load: Option<&'a str>,
    config: Option<&'a str>,
    config_source: Option<crate::registry::ConfigSource>,
    first_seen: Millis,
    last_seen: Millis,
    boots: u32,
    requests: u64,
    last_request: Option<&'a RequestEntry>,
}

impl<'a> PhoneSummary<'a> {
    fn of(p: &'a Phone) -> Self {
        Self {
            mac: p.mac.map(|m| m.to_string()),
            address: p.address,
            model: p.model.as_deref(),
            family: p.family.as_deref(),
            state: &p.state,
            load: p.load.as_deref(),
            config: p.config.as_ref().map(|c| c.name.as_str()),
            config_source: p.config.as_ref().map(|c| c.source),
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            boots: p.boots,
            requests: p.requests.len() as u64 + p.dropped_requests,
            last_request: p.requests.back(),
        }
    }
}
