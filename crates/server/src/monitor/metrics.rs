//! The Prometheus side of a [`Monitor`](super::Monitor) (the `admin` feature): counters the
//! handler's requests and transfers feed, and figures read at each scrape.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use cnfkit_resolve::Transport;
use cnfkit_tftp::Stats as TftpStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::ConfigSigner;
use crate::registry::{FileClass, RequestSeen};
use crate::store_stats::MirrorStats;

/// The counters, the gauges, and what a scrape reads.
pub(super) struct Metrics {
    counts: Counts,
    prometheus: prometheus_client::registry::Registry,
    tftp: Arc<OnceLock<Arc<TftpStats>>>,
    store: Arc<OnceLock<Arc<MirrorStats>>>,
    /// The registry's figures, taken at each scrape.
    figures: Arc<Mutex<RegistryFigures>>,
}

/// What a scrape reads of the registry.
#[derive(Debug, Default, Clone)]
pub(super) struct RegistryFigures {
    /// Phones by state.
    pub states: Vec<(&'static str, usize)>,
    /// Phones by the load they went for at their last boot, and state.
    pub by_load: Vec<(String, &'static str, usize)>,
    /// The staged rollouts.
    pub rollouts: Vec<cnfkit_resolve::RolloutStatus>,
}

impl Metrics {
    pub(super) fn new(signer: Option<ConfigSigner>) -> Self {
        let metrics = Counts {
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
        let figures = Arc::new(Mutex::new(RegistryFigures::default()));
        prometheus.register_collector(Box::new(Snapshot {
            tftp: tftp.clone(),
            store: store.clone(),
            signer,
            figures: figures.clone(),
        }));
        Self { counts: metrics, prometheus, tftp, store, figures }
    }

    pub(super) fn request(&self, seen: &RequestSeen<'_>) {
        let class = FileClass::of(seen.recognised.kind);
        let labels = RequestLabels {
            answer: seen.answer.as_str(),
            class: class.as_str(),
            transport: transport_label(seen.transport),
        };
        self.counts.requests.get_or_create(&labels).inc();
        let running =
            seen.transport == Transport::Tftp && seen.answer.served() && seen.bytes.is_none();
        if running {
            self.counts.transfers_active.inc();
        }
        if let Some(bytes) = seen.bytes {
            self.counts.bytes_sent.inc_by(bytes);
        }
    }

    pub(super) fn transfer_ended(&self, summary: &cnfkit_tftp::Summary, completed: bool) {
        self.counts.transfers_active.dec();
        self.counts.bytes_sent.inc_by(summary.bytes);
        self.counts.retransmits.inc_by(summary.retransmits);
        if !completed {
            self.counts.transfers_failed.inc();
        }
    }

    pub(super) fn settled(&self, boot: Duration) {
        self.counts.boot_seconds.observe(boot.as_secs_f64());
    }

    pub(super) fn attach_tftp(&self, stats: Arc<TftpStats>) {
        let _ = self.tftp.set(stats);
    }

    pub(super) fn attach_store(&self, stats: Arc<MirrorStats>) {
        let _ = self.store.set(stats);
    }

    /// The text exposition, with the registry's figures as given.
    pub(super) fn text(&self, figures: RegistryFigures) -> String {
        *self.figures.lock().unwrap_or_else(PoisonError::into_inner) = figures;
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.prometheus);
        text
    }
}

pub(super) fn transport_label(transport: Transport) -> &'static str {
    match transport {
        Transport::Http => "http",
        Transport::Https => "https",
        _ => "tftp",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    answer: &'static str,
    class: &'static str,
    transport: &'static str,
}

#[derive(Clone)]
struct Counts {
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
    figures: Arc<Mutex<RegistryFigures>>,
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
            encode_counters(&mut encoder, &counters)?;
            let turned_away = stats.turned_away();
            let mut family = encoder.encode_descriptor(
                "cnfkit_tftp_turned_away",
                "TFTP requests turned away, by reason",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
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
            encode_counters(&mut encoder, &counters)?;
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
        let figures = self.figures.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let states = figures.states;
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
        let mut family = encoder.encode_descriptor(
            "cnfkit_phones_by_load",
            "Phones in the registry, by the load they went for at their last boot and state",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (load, state, count) in figures.by_load {
            let gauge = ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX));
            gauge.encode(family.encode_family(&LoadStateLabel { load, state })?)?;
        }
        if !figures.rollouts.is_empty() {
            let mut family = encoder.encode_descriptor(
                "cnfkit_rollout_phones",
                "Phones moved to a rollout's new load, by how their boot ended",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for status in &figures.rollouts {
                for (outcome, count) in [("booted", status.booted), ("failed", status.failed)] {
                    let gauge = ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX));
                    let label = RolloutLabel {
                        model: status.model.clone(),
                        to: status.rollout.to.clone(),
                        outcome,
                    };
                    gauge.encode(family.encode_family(&label)?)?;
                }
            }
            let mut family = encoder.encode_descriptor(
                "cnfkit_rollout_halted",
                "1 when a rollout halted because too many moved phones failed",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for status in figures.rollouts {
                let gauge = ConstGauge::new(i64::from(status.halted));
                gauge.encode(family.encode_family(&ModelLabel { model: status.model })?)?;
            }
        }
        Ok(())
    }
}

/// Counters read from atomics, each under its name and help text.
fn encode_counters(
    encoder: &mut DescriptorEncoder<'_>,
    counters: &[(&str, &str, &std::sync::atomic::AtomicU64)],
) -> Result<(), std::fmt::Error> {
    for (name, help, value) in counters {
        let counter = ConstCounter::new(value.load(std::sync::atomic::Ordering::Relaxed));
        counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
    }
    Ok(())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoadStateLabel {
    load: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RolloutLabel {
    model: String,
    to: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}
