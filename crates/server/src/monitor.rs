//! The [phone registry](crate::registry) of a running server, and what is made from it: one
//! log line per phone boot once it settles ([`log_boots`]), the live feed of
//! requests and state changes, and (the `admin` feature) the Prometheus metrics.
//!
//! A [`Monitor`] is fed by the [`ProvisioningHandler`](crate::ProvisioningHandler) (every
//! request as it is answered, every TFTP transfer as it ends): it is the server's one boot
//! tracker. Metrics carry no per-phone label: a site's phones are in `/api/phones`, not in the
//! time series.

#[cfg(feature = "admin")]
mod metrics;

#[cfg(feature = "admin")]
use std::collections::HashMap;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use cnfkit_resolve::{Mac, Rollouts, Settled, Transport};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::ConfigSigner;
use crate::registry::{
    AnswerKind, ConfigSource, ConfigUsed, Millis, Phone, PhoneKey, PhoneState, Registry,
    RegistryLimits, RequestEntry, RequestSeen, StateChange,
};

/// Loads with series of their own in `cnfkit_phones_by_load` (the others share `other`).
#[cfg(feature = "admin")]
const MAX_LOAD_SERIES: usize = 32;

/// Events held for a slow live-feed client before it misses some.
const FEED_BACKLOG: usize = 4096;

/// Settled boots kept for [`log_boots`] to write; past this the oldest go.
const MAX_BOOT_LINES: usize = 16_384;

/// The registry, its boot lines, the live feed and the metrics of one server.
pub struct Monitor {
    registry: Mutex<Registry>,
    /// Boots that settled since [`Monitor::take_boot_lines`] was last called.
    settled: Mutex<VecDeque<BootLine>>,
    feed: broadcast::Sender<Arc<str>>,
    /// The staged rollouts the registry judges at each tick.
    rollouts: Mutex<Rollouts>,
    #[cfg(feature = "admin")]
    metrics: metrics::Metrics,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor").field("phones", &self.lock().len()).finish_non_exhaustive()
    }
}

/// One phone's boot once it settled, as the registry has it: what its log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootLine {
    /// The phone: its MAC, or its address until a request named one.
    pub key: PhoneKey,
    /// The address of its last request.
    pub address: IpAddr,
    /// How the boot ended.
    pub state: PhoneState,
    /// The configuration it used.
    pub config: Option<ConfigUsed>,
    /// The load it went for.
    pub load: Option<String>,
    /// The boot's requests the registry still keeps, oldest first.
    pub requests: Vec<RequestEntry>,
    /// The phone's requests no longer kept.
    pub earlier: u64,
    /// From the boot's first request to its last.
    pub boot: Duration,
}

impl BootLine {
    fn of(phone: &Phone, change: &StateChange) -> Self {
        let started = phone.boot_started();
        let (this_boot, before): (Vec<&RequestEntry>, Vec<&RequestEntry>) =
            phone.requests.iter().partition(|r| r.at >= started);
        Self {
            key: change.key,
            address: phone.address,
            state: change.state.clone(),
            config: phone.config.clone(),
            load: phone.load.clone(),
            requests: this_boot.into_iter().cloned().collect(),
            earlier: phone.dropped_requests + before.len() as u64,
            boot: change.boot,
        }
    }
}

impl fmt::Display for BootLine {
    /// `SEP001122334455 (10.0.0.5): fell-back, config XMLDefault.cnf.xml (default), load
    /// SCCP42.9-4-2SR3-1S; 4 requests in 22 ms: CTLSEP001122334455.tlv not-found (tftp), ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            PhoneKey::Mac(mac) => write!(f, "SEP{mac} ({}): {}", self.address, self.state)?,
            PhoneKey::Address(_) => write!(f, "{} (no MAC named): {}", self.address, self.state)?,
        }
        if let Some(config) = &self.config {
            let source = match config.source {
                ConfigSource::Own => "own",
                ConfigSource::Generated => "generated",
                ConfigSource::Default => "default",
            };
            write!(f, ", config {} ({source})", config.name)?;
        }
        if let Some(load) = &self.load {
            write!(f, ", load {load}")?;
        }
        write!(f, "; {} requests in {} ms", self.requests.len(), self.boot.as_millis())?;
        if self.earlier > 0 {
            write!(f, " ({} earlier not kept)", self.earlier)?;
        }
        for (i, request) in self.requests.iter().enumerate() {
            let sep = if i == 0 { ": " } else { ", " };
            write!(f, "{sep}{} {} ({})", request.name, request.answer, request.transport)?;
        }
        Ok(())
    }
}

/// Writes the boots `monitor` settles at info level (target `cnfkit::boot`), one line each,
/// ticking it every `every` (a phone settles once quiet for the registry's `quiet`); runs until
/// the task is dropped. A site's boot storm is written in full; past a burst of 2000 lines, at
/// most 100 a second are, and one warning per 10 s counts the others (a flood from forged
/// addresses would write a line per address).
pub async fn log_boots(monitor: Arc<Monitor>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    let budget = Mutex::new(LineBudget::new(Instant::now()));
    loop {
        tick.tick().await;
        monitor.tick();
        let now = Instant::now();
        for line in monitor.take_boot_lines() {
            write_boot_line(&budget, now, &line);
        }
    }
}

/// How many boot lines are written at info level: a burst as large as a site's boot storm, then
/// a steady rate. A flood from forged addresses would otherwise write a line per address; the
/// lines over the budget are counted and reported in one line per interval.
#[derive(Debug)]
struct LineBudget {
    tokens: f64,
    last: Instant,
    suppressed: u64,
    reported: Instant,
}

impl LineBudget {
    /// Lines written at once before the rate applies.
    const BURST: f64 = 2000.0;
    /// Lines per second after the burst.
    const PER_SECOND: f64 = 100.0;
    /// How often the count of suppressed lines is written.
    const REPORT_EVERY: Duration = Duration::from_secs(10);

    fn new(now: Instant) -> Self {
        Self { tokens: Self::BURST, last: now, suppressed: 0, reported: now }
    }

    /// Whether a line may be written now; counts it when not.
    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * Self::PER_SECOND).min(Self::BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// The count of lines suppressed since the last report, once per interval.
    fn report(&mut self, now: Instant) -> Option<u64> {
        if self.suppressed == 0 || now.saturating_duration_since(self.reported) < Self::REPORT_EVERY
        {
            return None;
        }
        self.reported = now;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Writes `line` at info level (target `cnfkit::boot`) if the budget allows.
fn write_boot_line(budget: &Mutex<LineBudget>, now: Instant, line: &impl fmt::Display) {
    let mut budget = budget.lock().unwrap_or_else(PoisonError::into_inner);
    if budget.allow(now) {
        info!(target: "cnfkit::boot", "{line}");
    }
    if let Some(suppressed) = budget.report(now) {
        warn!(target: "cnfkit::boot", suppressed, "boot lines over the rate limit (a flood of forged addresses?) not written");
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
        #[cfg(not(feature = "admin"))]
        let _ = signer;
        let (feed, _) = broadcast::channel(FEED_BACKLOG);
        Arc::new(Self {
            registry: Mutex::new(Registry::new(limits)),
            settled: Mutex::new(VecDeque::new()),
            feed,
            rollouts: Mutex::new(Rollouts::default()),
            #[cfg(feature = "admin")]
            metrics: metrics::Metrics::new(signer),
        })
    }

    /// Adds the TFTP driver's counts (refusals and drops by reason) to the metrics.
    #[cfg(feature = "admin")]
    pub fn attach_tftp(&self, stats: Arc<cnfkit_tftp::Stats>) {
        self.metrics.attach_tftp(stats);
    }

    /// Adds an object-store mirror's counts (requests, errors, fetches, reachability).
    #[cfg(feature = "admin")]
    pub fn attach_store(&self, stats: Arc<crate::MirrorStats>) {
        self.metrics.attach_store(stats);
    }

    /// Locks the registry (to read it, or to [`restore`](Registry::restore) saved records).
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a request as it is answered.
    pub fn request(&self, seen: &RequestSeen<'_>) {
        #[cfg(feature = "admin")]
        self.metrics.request(seen);
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
        #[cfg(feature = "admin")]
        self.metrics.transfer_ended(summary, completed);
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
    pub fn shares_address(&self, ip: IpAddr) -> bool {
        self.lock().shares_address(ip)
    }

    /// Settles quiet phones and ages out old ones; call it every second or so
    /// ([`Monitor::run`] does).
    pub fn tick(&self) {
        let now = now_ms();
        let changes = self.lock().tick(now);
        for change in &changes {
            self.changed(change);
        }
        self.judge_rollouts();
    }

    /// Judges the staged rollouts of `rollouts` from now on (the site's, again at each reload):
    /// at each tick, the phones that went for a rollout's new load are counted by how their boot
    /// ended, and a rollout whose moved phones fail past its threshold halts.
    pub fn attach_rollouts(&self, rollouts: Rollouts) {
        *lock(&self.rollouts) = rollouts;
        self.judge_rollouts();
    }

    /// Where the staged rollouts stand.
    #[must_use]
    pub fn rollouts(&self) -> Vec<cnfkit_resolve::RolloutStatus> {
        lock(&self.rollouts).status()
    }

    fn judge_rollouts(&self) {
        let rollouts = lock(&self.rollouts).clone();
        if rollouts.is_empty() {
            return;
        }
        let halted = {
            let registry = self.lock();
            rollouts.judge(registry.phones().filter_map(|phone| {
                let settled = match phone.state {
                    PhoneState::Booted | PhoneState::FellBack => Settled::Booted,
                    PhoneState::Stuck(_) | PhoneState::Failed(_) => Settled::Failed,
                    _ => Settled::Active,
                };
                Some((phone.mac?, phone.load.as_deref()?, settled))
            }))
        };
        for status in halted {
            warn!(
                model = %status.model, to = %status.rollout.to, from = %status.rollout.from,
                booted = status.booted, failed = status.failed,
                "rollout halted: too many moved phones ended stuck or failed; phones not moved keep {}",
                status.rollout.from
            );
            if self.feed.receiver_count() > 0 {
                let event = RolloutEvent {
                    model: &status.model,
                    to: &status.rollout.to,
                    booted: status.booted,
                    failed: status.failed,
                };
                self.publish("rollout-halted", &event);
            }
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
    #[cfg(feature = "admin")]
    #[must_use]
    pub fn metrics_text(&self) -> String {
        let figures = {
            let registry = self.lock();
            let counts = registry.states();
            // A load name is a client's text: the most common loads get series of their own,
            // the rest share `other`, so that hostile names cannot grow the exposition. One
            // pass over the registry counts by load and state; the loads are ranked from that.
            let mut counted: HashMap<(&str, &'static str), usize> = HashMap::new();
            for phone in registry.phones() {
                if let Some(load) = phone.load.as_deref() {
                    *counted.entry((load, phone.state.as_str())).or_default() += 1;
                }
            }
            let mut per_load: HashMap<&str, usize> = HashMap::new();
            for ((load, _), n) in &counted {
                *per_load.entry(load).or_default() += n;
            }
            let mut common: Vec<(&str, usize)> = per_load.into_iter().collect();
            common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            common.truncate(MAX_LOAD_SERIES);
            let mut by_load: std::collections::BTreeMap<(String, &'static str), usize> =
                std::collections::BTreeMap::new();
            for ((load, state), n) in counted {
                let known = common.iter().any(|(l, _)| *l == load);
                let label = if known { load } else { "other" };
                *by_load.entry((label.to_owned(), state)).or_default() += n;
            }
            metrics::RegistryFigures {
                states: STATES.iter().map(|s| (*s, counts.get(s).copied().unwrap_or(0))).collect(),
                by_load: by_load.into_iter().map(|((load, state), n)| (load, state, n)).collect(),
                rollouts: lock(&self.rollouts).status(),
            }
        };
        self.metrics.text(figures)
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

    /// The boots that settled since the last call, oldest first.
    pub fn take_boot_lines(&self) -> Vec<BootLine> {
        lock(&self.settled).drain(..).collect()
    }

    /// Settles every phone still booting now, as if it had gone quiet (at shutdown, or to look
    /// at the boots in a test), and returns every boot line not taken yet.
    pub fn settle_all(&self) -> Vec<BootLine> {
        let quiet = self.lock().limits().quiet;
        let later = now_ms().saturating_add(u64::try_from(quiet.as_millis()).unwrap_or(u64::MAX));
        let changes = self.lock().tick(later);
        for change in &changes {
            self.changed(change);
        }
        self.take_boot_lines()
    }

    fn changed(&self, change: &StateChange) {
        if !change.state.is_active() {
            #[cfg(feature = "admin")]
            self.metrics.settled(change.boot);
            let line = self.lock().phone(change.key).map(|phone| BootLine::of(phone, change));
            if let Some(line) = line {
                let mut settled = lock(&self.settled);
                if settled.len() >= MAX_BOOT_LINES {
                    settled.pop_front();
                }
                settled.push_back(line);
            }
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
    address: IpAddr,
    name: &'a str,
    answer: AnswerKind,
    transport: &'static str,
    at: Millis,
}

#[derive(Serialize)]
struct RolloutEvent<'a> {
    model: &'a str,
    to: &'a str,
    booted: usize,
    failed: usize,
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
    address: IpAddr,
    model: Option<&'a str>,
    family: Option<&'a str>,
    #[serde(flatten)]
    state: &'a PhoneState,
    load: Option<&'a str>,
    config: Option<&'a str>,
    config_source: Option<ConfigSource>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_lines_are_written_in_a_burst_then_at_a_steady_rate_and_the_rest_counted() {
        let t0 = Instant::now();
        let mut budget = LineBudget::new(t0);
        let written = (0..5000).filter(|_| budget.allow(t0)).count();
        assert_eq!(written, 2000, "a 2000-phone storm is logged whole");
        // One second later, 100 more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..500).filter(|_| budget.allow(t1)).count(), 100);
        assert_eq!(budget.report(t1), None, "reported once per interval");
        let t10 = t0 + Duration::from_secs(10);
        assert_eq!(budget.report(t10), Some(3000 + 400));
        assert_eq!(budget.report(t10 + Duration::from_secs(20)), None, "nothing new");
    }
}
