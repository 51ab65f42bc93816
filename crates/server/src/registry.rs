//! Which phones booted: one record per phone, keyed by MAC, with every request it made, the
//! configuration and load it got, and a state an admin can act on (booted, fell back to the
//! default, fetching firmware, stuck and why, failed).
//!
//! Pure logic with the clock passed in: the server
//! [`records`](Registry::record) each request as it answers it, reports each TFTP transfer's
//! end ([`Registry::transfer_ended`]), and calls [`Registry::tick`] from a timer so that quiet
//! phones settle into a final state.
//!
//! Phones behind one address (a branch office behind NAT) are told apart by the MAC in the
//! names they ask for. A request that names no MAC (`XMLDefault.cnf.xml`, a `.loads` manifest,
//! a firmware image) is given to the phone of that address that is at that step of its boot:
//! the one that missed its own configuration asks for the default next, the one that got a
//! configuration asks for its manifest, and images go round the phones fetching firmware. When
//! the phones of an address move in step, as a storm's do, this attribution is exact in count;
//! which of two identical phones got which image is not knowable from the wire and does not
//! matter to the admin.
//!
//! Memory is bounded whatever the requests: at most [`RegistryLimits::max_phones`] records (the
//! least recently seen tenth is dropped when full), records unseen for
//! [`RegistryLimits::max_age`] dropped by [`Registry::tick`], and within a record every field:
//! names, models and loads are kept to their first [`MAX_TEXT`] bytes, a boot's configuration
//! misses to two names and a count, and the requests to the last
//! [`RegistryLimits::requests_per_phone`] within [`OWN_NAME_BYTES`] of names of their own (names
//! without a MAC are one copy for all phones). A record stays under 1.5 KiB under any request
//! pattern (tested).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cnfkit_resolve::{FileKind, LoadName, Mac, Recognised, Transport};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: the registry's clock, passed in.
pub type Millis = u64;

/// What the server answered to one request (cnfkit-resolve's [`Answer::kind`](cnfkit_resolve::Answer::kind)).
pub use cnfkit_resolve::AnswerKind;

/// The class of a requested file, for metrics (a label with few values, unlike the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileClass {
    /// `SEP<MAC>.cnf.xml[.sgn]`, `SIP<MAC>.cnf`.
    OwnConfig,
    /// `XMLDefault.cnf.xml`, `SIPDefault.cnf`, `SEDDefault.cnf`.
    DefaultConfig,
    /// CTL and ITL files.
    TrustList,
    /// `.loads` manifests and `OS79XX.TXT`.
    Manifest,
    /// Firmware images.
    Firmware,
    /// Anything else (ring lists, locales, dial plans).
    Other,
}

impl FileClass {
    /// The class of a file kind.
    #[must_use]
    pub const fn of(kind: FileKind) -> Self {
        match kind {
            FileKind::DeviceConfig(_) | FileKind::SipDeviceConfig => Self::OwnConfig,
            FileKind::XmlDefault(_) | FileKind::SipDefault | FileKind::SedDefault => {
                Self::DefaultConfig
            }
            FileKind::DeviceCtl | FileKind::DeviceItl | FileKind::ItlFile | FileKind::CtlFile => {
                Self::TrustList
            }
            FileKind::Os79xx | FileKind::TermDefaultLoads { .. } | FileKind::Loads => {
                Self::Manifest
            }
            FileKind::FirmwareImage => Self::Firmware,
            _ => Self::Other,
        }
    }

    /// The snake-case name, as in metric labels.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OwnConfig => "own_config",
            Self::DefaultConfig => "default_config",
            Self::TrustList => "trust_list",
            Self::Manifest => "manifest",
            Self::Firmware => "firmware",
            Self::Other => "other",
        }
    }
}

/// Which configuration a phone ended up with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigUsed {
    /// The name it asked for.
    pub name: String,
    /// Where it came from.
    pub source: ConfigSource,
}

/// Where a phone's configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigSource {
    /// Its own file in the tree.
    Own,
    /// Generated for it from the inventory.
    Generated,
    /// Its own file was missing: it fell back to the default configuration.
    Default,
}

/// Where a phone is in its boot, or why it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "kebab-case")]
pub enum PhoneState {
    /// Asking for files now.
    Booting,
    /// Got its own (or its generated) configuration, and the firmware it asked for.
    Booted,
    /// Got only the default configuration: its own file is missing.
    FellBack,
    /// Downloading firmware images now.
    FetchingFirmware,
    /// Cannot finish its boot; the reason names the file to fix.
    Stuck(String),
    /// Got no configuration, or a transfer it needed failed.
    Failed(String),
}

impl PhoneState {
    /// The kebab-case name (`fetching-firmware`).
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Booting => "booting",
            Self::Booted => "booted",
            Self::FellBack => "fell-back",
            Self::FetchingFirmware => "fetching-firmware",
            Self::Stuck(_) => "stuck",
            Self::Failed(_) => "failed",
        }
    }

    /// Whether the phone is still asking for files (its state may change with time alone).
    #[must_use]
    pub const fn is_active(&self) -> bool {
        matches!(self, Self::Booting | Self::FetchingFirmware)
    }
}

impl fmt::Display for PhoneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stuck(why) | Self::Failed(why) => write!(f, "{}: {why}", self.as_str()),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// What identifies a record: the phone's MAC, or its address until it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhoneKey {
    /// Seen in a file name or a User-Agent.
    Mac(Mac),
    /// Only the address is known so far.
    Address(IpAddr),
}

impl fmt::Display for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mac(mac) => write!(f, "{mac}"),
            Self::Address(ip) => write!(f, "{ip}"),
        }
    }
}

/// One request a phone made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEntry {
    /// When it arrived.
    pub at: Millis,
    /// The name asked for (one copy shared by every phone for names without a MAC).
    pub name: Arc<str>,
    /// What it got.
    pub answer: AnswerKind,
    /// How it came.
    #[serde(with = "transport_text")]
    pub transport: Transport,
    /// Payload bytes sent (0 until a TFTP transfer ends).
    pub bytes: u64,
    /// How long the transfer took (saturating at about 49 days).
    pub duration_ms: u32,
    /// Datagrams the server sent again (saturating).
    pub retransmits: u32,
    /// `None` while the transfer runs (or when nothing was sent); then whether it completed.
    pub completed: Option<bool>,
}

/// Everything known about one phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// Its MAC, once a request named it.
    #[serde(with = "mac_text")]
    pub mac: Option<Mac>,
    /// The address of its last request.
    pub address: IpAddr,
    /// Its model, when a client said (a Multiplatform phone's User-Agent).
    pub model: Option<String>,
    /// The firmware family of the load it asked for (`SCCP42`, `sip88xx`).
    pub family: Option<String>,
    /// First request ever seen.
    pub first_seen: Millis,
    /// Last request.
    pub last_seen: Millis,
    /// How its last request came.
    #[serde(with = "transport_text")]
    pub transport: Transport,
    /// Boots seen (a boot starts with a trust list or configuration request after a
    /// configuration was served).
    pub boots: u32,
    /// The last requests, oldest first.
    pub requests: VecDeque<RequestEntry>,
    /// Requests no longer kept.
    pub dropped_requests: u64,
    /// The configuration of its current boot.
    pub config: Option<ConfigUsed>,
    /// The load it went for (its manifest's name without `.loads`).
    pub load: Option<String>,
    /// Its state.
    #[serde(flatten)]
    pub state: PhoneState,
    /// What the current boot found missing or failed, for the state.
    #[serde(default, skip_serializing_if = "BootFacts::is_empty")]
    facts: BootFacts,
    /// Bytes of the kept requests' names that are its own (not shared): kept as requests come
    /// and go, so that bounding them reads no name.
    #[serde(skip)]
    own_name_bytes: Derived<usize>,
    /// Whether the registry holds it among the phones whose state time may change, so that a
    /// request of a phone already there costs no look-up of that set.
    #[serde(skip)]
    in_active: Derived<bool>,
}

/// What the registry keeps beside a record for itself, derived from the record: not part of
/// what makes two records equal.
#[derive(Debug, Clone, Copy, Default)]
struct Derived<T>(T);

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Derived<T> {}

/// What went wrong in a phone's current boot, and how its boots repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct BootFacts {
    /// A manifest the phone asked for that the server does not have.
    missing_manifest: Option<Box<str>>,
    /// A firmware image the phone asked for that the server does not have.
    missing_image: Option<Box<str>>,
    /// The last transfer that failed, and why.
    failed_transfer: Option<Box<str>>,
    /// Own and default configuration names that were not found, comma separated: the first two
    /// distinct ones.
    config_misses: String,
    /// Configuration misses past those two.
    #[serde(default, skip_serializing_if = "is_zero")]
    more_config_misses: u32,
    /// Whether the phone's manifest was served (it fetches images next).
    manifest_served: bool,
    /// Fingerprint of this boot's requests (name and answer), to see a repeat.
    signature: u64,
    /// The previous boot's.
    previous_signature: u64,
    /// When this boot started.
    boot_started: Millis,
    /// Consecutive finished boots with the same requests and answers, each soon after the
    /// last, ending with the previous boot (0 before the second boot).
    run: u32,
}

impl BootFacts {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Notes a configuration name that was not found: the first two distinct names, then a
    /// count.
    fn missed_config(&mut self, name: &str) {
        // The list is comma separated: a comma in a name (a client's choice) would split it.
        let name = &name.replace(',', ";");
        let known = self.config_misses.split(", ").any(|n| n == name);
        if known {
            return;
        }
        if self.config_misses.is_empty() {
            self.config_misses.push_str(name);
        } else if !self.config_misses.contains(", ") {
            self.config_misses.push_str(", ");
            self.config_misses.push_str(name);
        } else {
            self.more_config_misses = self.more_config_misses.saturating_add(1);
        }
        self.config_misses.shrink_to_fit();
    }
}

/// The registry's bounds and timing.
#[derive(Debug, Clone)]
pub struct RegistryLimits {
    /// Records kept (default 100 000).
    pub max_phones: usize,
    /// Requests kept per phone (default 16), fewer when their names are long
    /// ([`OWN_NAME_BYTES`]).
    pub requests_per_phone: usize,
    /// A record unseen this long is dropped (default 30 days).
    pub max_age: Duration,
    /// A phone quiet this long has finished its boot (default 10 s).
    pub quiet: Duration,
    /// Boots with the same requests and answers, each within [`Self::repeat_window`] of the
    /// previous, before the phone is stuck repeating itself (default 3).
    pub repeats_stuck: u32,
    /// See [`Self::repeats_stuck`] (default 10 minutes).
    pub repeat_window: Duration,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        Self {
            max_phones: 100_000,
            requests_per_phone: 16,
            max_age: Duration::from_secs(30 * 24 * 3600),
            quiet: Duration::from_secs(10),
            repeats_stuck: 3,
            repeat_window: Duration::from_secs(600),
        }
    }
}

/// One request, as the server saw it.
#[derive(Debug, Clone, Copy)]
pub struct RequestSeen<'a> {
    /// The client's address and port.
    pub peer: SocketAddr,
    /// The name asked for.
    pub name: &'a str,
    /// What the name is ([`Recognised::parse`] of it, done once per request).
    pub recognised: Recognised,
    /// What it got.
    pub answer: AnswerKind,
    /// How it came.
    pub transport: Transport,
    /// A MAC the client gave outside the name (a Multiplatform phone's User-Agent).
    pub mac: Option<Mac>,
    /// A model the client gave (User-Agent).
    pub model: Option<&'a str>,
    /// Bytes sent, when known at once (HTTP); a TFTP transfer reports them when it ends.
    pub bytes: Option<u64>,
}

impl<'a> RequestSeen<'a> {
    /// A request for `name` from `peer`, with no MAC or model from elsewhere and its bytes
    /// reported when its transfer ends.
    #[must_use]
    pub fn new(peer: SocketAddr, name: &'a str, answer: AnswerKind, transport: Transport) -> Self {
        Self {
            peer,
            name,
            recognised: Recognised::parse(name),
            answer,
            transport,
            mac: None,
            model: None,
            bytes: None,
        }
    }
}

/// What changed with one call, for a live feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The phone.
    pub key: PhoneKey,
    /// Its new state.
    pub state: PhoneState,
    /// From its boot's first request to its last.
    pub boot: Duration,
}

/// Per address: the phones seen there and which of them waits for which MAC-less file.
#[derive(Debug, Default)]
struct AddressPhones {
    /// Records last seen at this address.
    phones: usize,
    /// The phone whose request came last.
    last: Option<PhoneKey>,
    /// Who waits for what; none once the address's phones are quiet, so that a phone alone at
    /// its address costs a few words here.
    waiting: Option<Box<Waiting>>,
}

/// Which phones of an address wait for which MAC-less file.
#[derive(Debug, Default)]
struct Waiting {
    /// Phones that asked for their own CTL/ITL and will ask for the cluster's.
    awaiting_trust: VecDeque<(PhoneKey, u32)>,
    /// Phones that missed their own configuration (they ask for the default next).
    awaiting_default: VecDeque<(PhoneKey, u32)>,
    /// Phones that got a configuration (they ask for their manifest next).
    awaiting_manifest: VecDeque<(PhoneKey, u32)>,
    /// Phones whose manifest was served (they ask for images), in turn.
    fetching: VecDeque<(PhoneKey, u32)>,
}

/// Manifests remembered ([`Registry::learn_manifest`]); a site has a few dozen loads.
const MAX_MANIFESTS: usize = 1024;

/// Names without a MAC kept once for all phones; a site has a few hundred.
const MAX_SHARED_NAMES: usize = 4096;

/// What a record keeps of a text a client chose (a name, a model, a load): its first bytes,
/// cut at a character boundary. Real names are shorter (`SEP001122334455.cnf.xml.enc.sgn`:
/// 31 bytes; a load with its family: under 40).
pub const MAX_TEXT: usize = 48;

/// Bytes of request names a record holds of its own (names with its MAC; names without one are
/// shared by all phones): past this the oldest requests go, whatever the count allows.
pub const OWN_NAME_BYTES: usize = 160;

/// `text` cut to at most [`MAX_TEXT`] bytes, at a character boundary.
fn cut(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Waiting lists are bounded like this per address; the oldest entry goes first.
const MAX_WAITING: usize = 4096;

fn push_bounded(queue: &mut VecDeque<(PhoneKey, u32)>, entry: (PhoneKey, u32)) {
    if queue.len() >= MAX_WAITING {
        queue.pop_front();
    }
    queue.push_back(entry);
}

/// The phones a server has seen.
///
/// ```
/// use std::net::SocketAddr;
/// use cnfkit_resolve::Transport;
/// use cnfkit_server::registry::{AnswerKind, PhoneState, Registry, RegistryLimits, RequestSeen};
///
/// let mut registry = Registry::new(RegistryLimits::default());
/// let peer: SocketAddr = "10.0.0.5:50000".parse()?;
/// let mut ask = |at, name, answer| {
///     // Over HTTP the bytes are known at once; a TFTP transfer reports its end later.
///     let seen = RequestSeen { bytes: Some(1200), ..RequestSeen::new(peer, name, answer, Transport::Http) };
///     registry.record(at, &seen);
/// };
/// ask(0, "SEP001122334455.cnf.xml", AnswerKind::NotFound);
/// ask(5, "XMLDefault.cnf.xml", AnswerKind::Exact);
/// registry.tick(60_000);
/// let phone = registry.phone_by_mac("001122334455".parse()?).unwrap();
/// assert_eq!(phone.state, PhoneState::FellBack);
/// assert_eq!(phone.requests.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Registry {
    limits: RegistryLimits,
    /// Boxed: the table is sized in powers of two, so its empty slots should be small.
    phones: HashMap<PhoneKey, Box<Phone>>,
    addresses: HashMap<IpAddr, AddressPhones>,
    /// Phones whose state may change with time alone.
    active: HashSet<PhoneKey>,
    /// Running TFTP transfers: the phone and the request they answer.
    transfers: HashMap<SocketAddr, (PhoneKey, Millis)>,
    /// The images each load's manifest lists, as served.
    manifests: HashMap<Box<str>, HashSet<Box<str>>>,
    /// The loads each configuration names, as served.
    configs: HashMap<Box<str>, Vec<Box<str>>>,
    /// Names without a MAC (`XMLDefault.cnf.xml`, manifests, images), kept once for all.
    names: HashSet<Arc<str>>,
    /// Records changed, and records gone, since the last [`Registry::take_changes`]; kept
    /// only once [`Registry::track_changes`] asked for them (a state file does).
    changed: HashSet<PhoneKey>,
    forgotten: HashSet<PhoneKey>,
    tracking: bool,
}

/// What changed in the registry since the last look ([`Registry::take_changes`]): what a
/// state file appends.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Records added or changed.
    pub changed: Vec<PhoneKey>,
    /// Records gone (dropped for room or age, or merged into a MAC's record).
    pub forgotten: Vec<PhoneKey>,
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new(limits: RegistryLimits) -> Self {
        Self {
            limits,
            phones: HashMap::new(),
            addresses: HashMap::new(),
            active: HashSet::new(),
            transfers: HashMap::new(),
            manifests: HashMap::new(),
            configs: HashMap::new(),
            names: HashSet::new(),
            changed: HashSet::new(),
            forgotten: HashSet::new(),
            tracking: false,
        }
    }

    /// Records a request answered at `now`; returns the phone's key and its state when that
    /// changed.
    pub fn record(
        &mut self,
        now: Millis,
        seen: &RequestSeen<'_>,
    ) -> (PhoneKey, Option<StateChange>) {
        let ip = seen.peer.ip();
        let recognised = seen.recognised;
        let named = recognised.mac.or(seen.mac);
        let key = match named {
            Some(mac) => self.adopt(mac, ip, now),
            None => self.attribute(ip, seen.name, recognised.kind),
        };
        self.make_room(key);
        let name = match recognised.mac {
            None => self.shared_name(cut(seen.name)),
            Some(_) => Arc::from(cut(seen.name)),
        };
        // A name is the record's own unless it is the one shared copy (the same allocation: a
        // name cut short may read like a shared one); the set only grows, so a name keeps its
        // side from push to pop.
        let own = !is_shared_copy(&self.names, &name);
        let limits = self.limits.clone();
        if !self.phones.contains_key(&key) {
            self.addresses.entry(ip).or_default().phones += 1;
        }
        let phone = self.phones.entry(key).or_insert_with(|| Box::new(Phone::new(key, ip, now)));
        if phone.address != ip {
            if let Some(old) = self.addresses.get_mut(&phone.address) {
                old.phones = old.phones.saturating_sub(1);
            }
            phone.address = ip;
            self.addresses.entry(ip).or_default().phones += 1;
        }
        if let Some(model) = seen.model.map(cut)
            && phone.model.as_deref() != Some(model)
        {
            phone.model = Some(model.to_owned());
        }
        let names = &self.names;
        let boot = phone
            .note(now, seen, recognised.kind, &limits, (name, own), &|n| is_shared_copy(names, n));
        let here = self.addresses.entry(ip).or_default();
        here.last = Some(key);
        let waiting = here.waiting.get_or_insert_with(Box::default);
        let stage = (key, boot);
        match recognised.kind {
            FileKind::DeviceCtl | FileKind::DeviceItl => {
                // A phone waits for the cluster's trust list once, whichever of its own it
                // asked for last.
                waiting.awaiting_trust.retain(|(k, _)| *k != key);
                push_bounded(&mut waiting.awaiting_trust, stage);
            }
            FileKind::DeviceConfig(_) | FileKind::SipDeviceConfig if !seen.answer.served() => {
                push_bounded(&mut waiting.awaiting_default, stage);
            }
            _ => {}
        }
        if seen.answer.served() {
            match recognised.kind {
                FileKind::DeviceConfig(_)
                | FileKind::SipDeviceConfig
                | FileKind::XmlDefault(_)
                | FileKind::SipDefault => push_bounded(&mut waiting.awaiting_manifest, stage),
                FileKind::Loads | FileKind::TermDefaultLoads { .. } => {
                    push_bounded(&mut waiting.fetching, stage);
                }
                _ => {}
            }
        }
        if seen.transport == Transport::Tftp && seen.answer.served() && seen.bytes.is_none() {
            self.transfers.insert(seen.peer, (key, now));
        }
        let change = self.settle(key, now);
        self.touch(key);
        (key, change)
    }

    /// Reports the end of the TFTP transfer to `peer` (its payload bytes, duration,
    /// retransmits and whether it completed); returns the phone's key and new state.
    pub fn transfer_ended(
        &mut self,
        now: Millis,
        peer: SocketAddr,
        bytes: u64,
        duration: Duration,
        retransmits: u64,
        completed: bool,
    ) -> Option<(PhoneKey, Option<StateChange>)> {
        let (key, at) = self.transfers.remove(&peer)?;
        let phone = self.phones.get_mut(&key)?;
        if let Some(entry) =
            phone.requests.iter_mut().rev().find(|r| r.at == at && r.completed.is_none())
        {
            entry.bytes = bytes;
            entry.duration_ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
            entry.retransmits = u32::try_from(retransmits).unwrap_or(u32::MAX);
            entry.completed = Some(completed);
            if !completed {
                phone.facts.failed_transfer = Some(
                    format!("the transfer of {} stopped after {bytes} bytes", entry.name).into(),
                );
            }
        }
        let change = self.settle(key, now);
        self.touch(key);
        Some((key, change))
    }

    /// Settles the phones that have gone quiet and drops records older than the age limit;
    /// returns the state changes.
    pub fn tick(&mut self, now: Millis) -> Vec<StateChange> {
        let quiet = duration_ms(self.limits.quiet);
        let settled: Vec<PhoneKey> = self
            .active
            .iter()
            .filter(|k| self.phones.get(k).is_none_or(|p| now.saturating_sub(p.last_seen) >= quiet))
            .copied()
            .collect();
        let mut changes: Vec<StateChange> =
            settled.into_iter().filter_map(|key| self.settle(key, now)).collect();
        changes.sort_by_key(|c| c.key);
        for change in &changes {
            self.touch(change.key);
        }
        let max_age = duration_ms(self.limits.max_age);
        let old: Vec<PhoneKey> = self
            .phones
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.last_seen) > max_age)
            .map(|(k, _)| *k)
            .collect();
        for key in old {
            self.remove(key);
        }
        changes
    }

    /// Its bounds and timing.
    #[must_use]
    pub fn limits(&self) -> &RegistryLimits {
        &self.limits
    }

    /// The record of the phone with `mac`.
    #[must_use]
    pub fn phone_by_mac(&self, mac: Mac) -> Option<&Phone> {
        self.phones.get(&PhoneKey::Mac(mac)).map(|p| &**p)
    }

    /// The record under `key`.
    #[must_use]
    pub fn phone(&self, key: PhoneKey) -> Option<&Phone> {
        self.phones.get(&key).map(|p| &**p)
    }

    /// Every record, in no particular order.
    pub fn phones(&self) -> impl Iterator<Item = &Phone> {
        self.phones.values().map(|p| &**p)
    }

    /// Records held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.phones.len()
    }

    /// Whether no phone was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.phones.is_empty()
    }

    /// Counts of records by state name (`booted`, `stuck`...).
    #[must_use]
    pub fn states(&self) -> HashMap<&'static str, usize> {
        let mut counts = HashMap::new();
        for phone in self.phones.values() {
            *counts.entry(phone.state.as_str()).or_insert(0) += 1;
        }
        counts
    }

    /// Puts back records saved earlier (newer ones replace those held under the same key).
    pub fn restore(&mut self, phones: impl IntoIterator<Item = Phone>) {
        for mut phone in phones {
            let key = phone.key();
            // A transfer that was running when the records were saved never reported its end.
            for entry in &mut phone.requests {
                if entry.completed.is_none()
                    && entry.answer.served()
                    && entry.transport == Transport::Tftp
                {
                    entry.completed = Some(false);
                }
            }
            if let Some(old) = self.phones.get(&key) {
                if old.last_seen > phone.last_seen {
                    continue;
                }
                self.remove(key);
            }
            // Names without a MAC share one copy again, and the record's own bytes are counted
            // by the rule `note` keeps them by.
            let mut own = 0;
            for entry in &mut phone.requests {
                if Recognised::parse(&entry.name).mac.is_none() {
                    entry.name = self.shared_name(&entry.name);
                }
                if !is_shared_copy(&self.names, &entry.name) {
                    own += entry.name.len();
                }
            }
            phone.own_name_bytes = Derived(own);
            self.make_room(key);
            self.addresses.entry(phone.address).or_default().phones += 1;
            phone.in_active = Derived(phone.state.is_active());
            if phone.state.is_active() {
                self.active.insert(key);
            }
            self.phones.insert(key, Box::new(phone));
        }
    }

    /// The MAC-named record for a request from `ip`, taking over the address's anonymous
    /// record (the requests it made before it named itself).
    fn adopt(&mut self, mac: Mac, ip: IpAddr, now: Millis) -> PhoneKey {
        let key = PhoneKey::Mac(mac);
        let anonymous = PhoneKey::Address(ip);
        let quiet = duration_ms(self.limits.quiet);
        let recent =
            self.phones.get(&anonymous).is_some_and(|p| now.saturating_sub(p.last_seen) < quiet);
        if !recent || self.phones.contains_key(&key) {
            return key;
        }
        if let Some(mut phone) = self.phones.remove(&anonymous) {
            self.active.remove(&anonymous);
            self.forgot(anonymous);
            phone.mac = Some(mac);
            if let Some(here) = self.addresses.get_mut(&ip) {
                if let Some(w) = here.waiting.as_deref_mut() {
                    for queue in [
                        &mut w.awaiting_trust,
                        &mut w.awaiting_default,
                        &mut w.awaiting_manifest,
                        &mut w.fetching,
                    ] {
                        for entry in queue.iter_mut().filter(|e| e.0 == anonymous) {
                            entry.0 = key;
                        }
                    }
                }
                if here.last == Some(anonymous) {
                    here.last = Some(key);
                }
            }
            self.active.insert(key);
            phone.in_active = Derived(true);
            self.phones.insert(key, phone);
        }
        key
    }

    /// Tells the registry which images the manifest of `load` lists (the server read it as it
    /// served it), so that a MAC-less image request from an address shared by phones on
    /// different loads goes to a phone whose manifest lists it.
    pub fn learn_manifest(&mut self, load: &str, images: impl IntoIterator<Item = String>) {
        if self.manifests.len() >= MAX_MANIFESTS && !self.manifests.contains_key(load) {
            self.manifests.clear();
        }
        self.manifests
            .insert(load.into(), images.into_iter().map(String::into_boxed_str).collect());
    }

    /// Tells the registry which loads a configuration names (its `loadInformation` elements,
    /// [`loads_named`]), so that a MAC-less manifest request from an address shared by phones
    /// with different configurations goes to a phone whose configuration names that load.
    pub fn learn_config(&mut self, name: &str, loads: Vec<String>) {
        if self.configs.len() >= MAX_MANIFESTS && !self.configs.contains_key(name) {
            self.configs.clear();
        }
        self.configs.insert(name.into(), loads.into_iter().map(String::into_boxed_str).collect());
    }

    /// Whether more than one phone was seen at `ip` (whose MAC-less requests need telling
    /// apart: see [`learn_config`](Self::learn_config)).
    #[must_use]
    pub fn shares_address(&self, ip: IpAddr) -> bool {
        self.addresses.get(&ip).is_some_and(|a| a.phones > 1)
    }

    /// The phone at `ip` that a request naming no MAC belongs to.
    fn attribute(&mut self, ip: IpAddr, name: &str, kind: FileKind) -> PhoneKey {
        let anonymous = PhoneKey::Address(ip);
        let Some(here) = self.addresses.get_mut(&ip) else { return anonymous };
        let last = here.last;
        let Some(w) = here.waiting.as_deref_mut() else {
            return last.filter(|k| self.phones.contains_key(k)).unwrap_or(anonymous);
        };
        let phones = &self.phones;
        let next = |queue: &mut VecDeque<(PhoneKey, u32)>, fits: &dyn Fn(&Phone) -> bool| {
            while let Some((key, boot)) = queue.pop_front() {
                if phones.get(&key).is_some_and(|p| p.boots == boot && fits(p)) {
                    return Some(key);
                }
            }
            None
        };
        let found = match kind {
            FileKind::ItlFile | FileKind::CtlFile => next(&mut w.awaiting_trust, &|_| true),
            FileKind::XmlDefault(_) | FileKind::SipDefault | FileKind::SedDefault => {
                next(&mut w.awaiting_default, &|p| p.config.is_none())
            }
            FileKind::Loads => {
                let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
                let load = file.strip_suffix(".loads").unwrap_or(file);
                let configs = &self.configs;
                // Some(true): its configuration names the load; None: its configuration was
                // served before the address was shared, so not read.
                let names_it = |p: &Phone| {
                    let loads = configs.get(p.config.as_ref()?.name.as_str())?;
                    Some(loads.iter().any(|l| &**l == load))
                };
                let queue = &mut w.awaiting_manifest;
                let waiting = |key: &PhoneKey, boot: u32| {
                    phones.get(key).filter(|p| p.boots == boot && p.load.is_none())
                };
                // The first phone whose configuration is known to name the load, else one whose
                // configuration is unknown; the others keep their place.
                let position = queue
                    .iter()
                    .position(|(k, b)| waiting(k, *b).is_some_and(|p| names_it(p) == Some(true)))
                    .or_else(|| {
                        queue.iter().position(|(k, b)| {
                            waiting(k, *b).is_some_and(|p| names_it(p).is_none())
                        })
                    });
                position
                    .and_then(|i| queue.remove(i))
                    .map(|(key, _)| key)
                    .or_else(|| next(queue, &|p| p.load.is_none()))
            }
            FileKind::TermDefaultLoads { .. } => {
                next(&mut w.awaiting_manifest, &|p| p.load.is_none())
            }
            FileKind::FirmwareImage => {
                // Phones take turns; one still fetching stays in the queue. The first whose
                // manifest lists the image and that has not had it in this boot gets it.
                let manifests = &self.manifests;
                // When no phone fits (a manifest went to a twin that has not asked for its
                // own yet), one whose manifest lists the image, then any fetching phone.
                let mut first_valid = None;
                let mut first_listed = None;
                let mut chosen = None;
                for _ in 0..w.fetching.len() {
                    let Some((key, boot)) = w.fetching.pop_front() else { break };
                    let Some(p) = phones.get(&key).filter(|p| {
                        p.boots == boot
                            && p.facts.manifest_served
                            && p.facts.missing_image.is_none()
                    }) else {
                        continue;
                    };
                    w.fetching.push_back((key, boot));
                    first_valid.get_or_insert(key);
                    let listed = p
                        .load
                        .as_deref()
                        .and_then(|l| manifests.get(l))
                        .is_none_or(|images| images.contains(name));
                    let had =
                        p.requests.iter().any(|r| r.at >= p.facts.boot_started && &*r.name == name);
                    if listed && !had {
                        // Now at the back of the queue: the next image is someone else's.
                        chosen = Some(key);
                        break;
                    }
                    if listed {
                        first_listed.get_or_insert(key);
                    }
                }
                chosen.or(first_listed).or(first_valid)
            }
            _ => None,
        };
        found.or(last).filter(|k| self.phones.contains_key(k)).unwrap_or(anonymous)
    }

    /// Recomputes a phone's state; the change, if any.
    fn settle(&mut self, key: PhoneKey, now: Millis) -> Option<StateChange> {
        let limits = &self.limits;
        let phone = self.phones.get_mut(&key)?;
        let state = phone.derive_state(now, limits);
        // Until it has been quiet, time alone may change its state.
        if phone.is_recent(now, limits) {
            if !phone.in_active.0 {
                self.active.insert(key);
                phone.in_active = Derived(true);
            }
        } else {
            self.active.remove(&key);
            phone.in_active = Derived(false);
            // A phone alone at its address waits for nothing more: free the waiting lists.
            if let Some(here) = self.addresses.get_mut(&phone.address).filter(|a| a.phones == 1) {
                here.waiting = None;
            }
        }
        if state == phone.state {
            return None;
        }
        phone.state = state.clone();
        let boot = Duration::from_millis(phone.last_seen.saturating_sub(phone.facts.boot_started));
        Some(StateChange { key, state, boot })
    }

    /// Makes room for `key` when the registry is full: the least recently seen tenth goes, so
    /// that a flood of new addresses costs one scan per tenth of the table.
    fn make_room(&mut self, key: PhoneKey) {
        if self.phones.len() < self.limits.max_phones.max(1) || self.phones.contains_key(&key) {
            return;
        }
        let mut by_age: Vec<(Millis, PhoneKey)> =
            self.phones.iter().map(|(k, p)| (p.last_seen, *k)).collect();
        let drop = (self.limits.max_phones / 10).clamp(1, by_age.len());
        by_age.select_nth_unstable(drop - 1);
        for (_, old) in by_age.into_iter().take(drop) {
            self.remove(old);
        }
    }

    /// The one copy of a name phones share; a flood of distinct names (a scan) is not kept.
    fn shared_name(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        if self.names.len() < MAX_SHARED_NAMES {
            self.names.insert(shared.clone());
        }
        shared
    }

    /// Marks a record as changed, for the next [`take_changes`](Self::take_changes).
    fn touch(&mut self, key: PhoneKey) {
        if self.tracking {
            self.forgotten.remove(&key);
            self.changed.insert(key);
        }
    }

    /// Marks a record as gone, for the next [`take_changes`](Self::take_changes).
    fn forgot(&mut self, key: PhoneKey) {
        if self.tracking {
            self.changed.remove(&key);
            self.forgotten.insert(key);
        }
    }

    /// Keeps what changes from now on, for [`take_changes`](Self::take_changes) (off by
    /// default: a registry nobody saves keeps no list of changes).
    pub fn track_changes(&mut self) {
        self.tracking = true;
    }

    /// What changed since the last call: the keys of records to save again, and of records
    /// gone. A restored record is not a change.
    pub fn take_changes(&mut self) -> Changes {
        let mut changes = Changes {
            changed: self.changed.drain().filter(|k| self.phones.contains_key(k)).collect(),
            forgotten: self.forgotten.drain().filter(|k| !self.phones.contains_key(k)).collect(),
        };
        changes.changed.sort_unstable();
        changes.forgotten.sort_unstable();
        changes
    }

    /// Drops the record under `key` (an admin's "forget this phone", or a state file's
    /// record of a removal).
    pub fn forget(&mut self, key: PhoneKey) {
        self.remove(key);
    }

    fn remove(&mut self, key: PhoneKey) {
        let Some(phone) = self.phones.remove(&key) else { return };
        self.forgot(key);
        self.active.remove(&key);
        if let Some(here) = self.addresses.get_mut(&phone.address) {
            here.phones = here.phones.saturating_sub(1);
            if here.phones == 0 {
                self.addresses.remove(&phone.address);
            }
        }
    }
}

impl Phone {
    fn new(key: PhoneKey, address: IpAddr, now: Millis) -> Self {
        Self {
            mac: match key {
                PhoneKey::Mac(mac) => Some(mac),
                PhoneKey::Address(_) => None,
            },
            address,
            model: None,
            family: None,
            first_seen: now,
            last_seen: now,
            transport: Transport::Tftp,
            boots: 0,
            requests: VecDeque::new(),
            dropped_requests: 0,
            config: None,
            load: None,
            state: PhoneState::Booting,
            facts: BootFacts { boot_started: now, ..BootFacts::default() },
            own_name_bytes: Derived(0),
            in_active: Derived(false),
        }
    }

    /// The key it is held under.
    #[must_use]
    pub fn key(&self) -> PhoneKey {
        self.mac.map_or(PhoneKey::Address(self.address), PhoneKey::Mac)
    }

    /// When its current boot started.
    #[must_use]
    pub fn boot_started(&self) -> Millis {
        self.facts.boot_started
    }

    /// The stuck or failed reason, if any.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match &self.state {
            PhoneState::Stuck(why) | PhoneState::Failed(why) => Some(why),
            _ => None,
        }
    }

    /// Adds a request; returns the boot number it belongs to.
    fn note(
        &mut self,
        now: Millis,
        seen: &RequestSeen<'_>,
        kind: FileKind,
        limits: &RegistryLimits,
        (name, own): (Arc<str>, bool),
        shared: &dyn Fn(&Arc<str>) -> bool,
    ) -> u32 {
        let starts_boot = matches!(
            kind,
            FileKind::DeviceCtl
                | FileKind::DeviceItl
                | FileKind::DeviceConfig(_)
                | FileKind::SipDeviceConfig
                | FileKind::XmlDefault(_)
                | FileKind::SipDefault
        ) && self.config.is_some();
        if starts_boot || self.requests.is_empty() && self.boots == 0 {
            self.new_boot(now, limits);
        }
        self.last_seen = now;
        self.transport = seen.transport;
        let facts = &mut self.facts;
        facts.signature = fingerprint(facts.signature, seen.name, seen.answer);
        let served = seen.answer.served();
        let asked = cut(seen.name);
        match kind {
            FileKind::DeviceConfig(_) | FileKind::SipDeviceConfig if served => {
                let source = if seen.answer == AnswerKind::Generated {
                    ConfigSource::Generated
                } else {
                    ConfigSource::Own
                };
                self.config = Some(ConfigUsed { name: asked.to_owned(), source });
            }
            FileKind::XmlDefault(_) | FileKind::SipDefault if served && self.config.is_none() => {
                self.config =
                    Some(ConfigUsed { name: asked.to_owned(), source: ConfigSource::Default });
            }
            FileKind::DeviceConfig(_)
            | FileKind::SipDeviceConfig
            | FileKind::XmlDefault(_)
            | FileKind::SipDefault => facts.missed_config(asked),
            FileKind::Loads | FileKind::TermDefaultLoads { .. } => {
                let file = cut(seen.name.rsplit(['/', '\\']).next().unwrap_or(seen.name));
                let load = LoadName::new(file);
                if let Some(family) = load.family().filter(|f| self.family.as_deref() != Some(*f)) {
                    self.family = Some(family.to_owned());
                }
                self.load = Some(load.as_str().to_owned());
                if served {
                    facts.manifest_served = true;
                } else {
                    facts.missing_manifest = Some(file.into());
                }
            }
            FileKind::FirmwareImage if !served && facts.missing_image.is_none() => {
                facts.missing_image = Some(asked.into());
            }
            _ => {}
        }
        let new_own = if own { name.len() } else { 0 };
        while !self.requests.is_empty()
            && (self.requests.len() >= limits.requests_per_phone.max(1)
                || self.own_name_bytes.0 + new_own > OWN_NAME_BYTES)
        {
            if let Some(gone) = self.requests.pop_front()
                && !shared(&gone.name)
            {
                self.own_name_bytes.0 = self.own_name_bytes.0.saturating_sub(gone.name.len());
            }
            self.dropped_requests += 1;
        }
        self.own_name_bytes.0 += new_own;
        let immediate = seen.bytes.is_some() || !served;
        self.requests.push_back(RequestEntry {
            at: now,
            name,
            answer: seen.answer,
            transport: seen.transport,
            bytes: seen.bytes.unwrap_or(0),
            duration_ms: 0,
            retransmits: 0,
            completed: if immediate && served { Some(true) } else { None },
        });
        self.boots
    }

    fn new_boot(&mut self, now: Millis, limits: &RegistryLimits) {
        let previous = std::mem::take(&mut self.facts);
        let soon = now.saturating_sub(previous.boot_started) <= duration_ms(limits.repeat_window);
        let run = if self.boots == 0 {
            0
        } else if soon && previous.run > 0 && previous.signature == previous.previous_signature {
            previous.run + 1
        } else {
            1
        };
        self.facts = BootFacts {
            previous_signature: previous.signature,
            boot_started: now,
            run,
            ..BootFacts::default()
        };
        self.boots += 1;
        self.config = None;
    }

    /// Boots in a row with the same requests and answers, this one included once it has
    /// gone quiet.
    fn repeats(&self, quiet: bool) -> u32 {
        let facts = &self.facts;
        match (quiet, facts.run > 0 && facts.signature == facts.previous_signature) {
            (true, true) => facts.run + 1,
            // Done, and not the same as before: the run is over.
            (true, false) => 0,
            (false, _) => facts.run,
        }
    }

    /// Whether it asked for something within the quiet time, or a transfer of its runs.
    fn is_recent(&self, now: Millis, limits: &RegistryLimits) -> bool {
        now.saturating_sub(self.last_seen) < duration_ms(limits.quiet)
            || self.requests.back().is_some_and(|r| r.completed.is_none() && r.answer.served())
    }

    /// The state its facts come to at `now`.
    fn derive_state(&self, now: Millis, limits: &RegistryLimits) -> PhoneState {
        let facts = &self.facts;
        if let Some(image) = &facts.missing_image {
            let load = self.load.as_deref().unwrap_or("its load");
            return PhoneState::Stuck(format!(
                "firmware image {image} (listed in {load}.loads) is not on the server"
            ));
        }
        if let Some(manifest) = &facts.missing_manifest {
            return PhoneState::Stuck(format!(
                "load manifest {manifest} is not on the server (its configuration names the load)"
            ));
        }
        let active = self.is_recent(now, limits);
        let repeats = self.repeats(!active);
        if repeats >= limits.repeats_stuck {
            let last = self.requests.back().map_or("", |r| &*r.name);
            return PhoneState::Stuck(format!(
                "repeating its boot: the same requests and answers {repeats} times in a row, each ending with {last}"
            ));
        }
        if active {
            let images = self
                .requests
                .back()
                .is_some_and(|r| Recognised::parse(&r.name).kind == FileKind::FirmwareImage);
            return if images && facts.manifest_served {
                PhoneState::FetchingFirmware
            } else {
                PhoneState::Booting
            };
        }
        if let Some(failed) = &facts.failed_transfer {
            return PhoneState::Failed(failed.to_string());
        }
        match self.config.as_ref().map(|c| c.source) {
            Some(ConfigSource::Own | ConfigSource::Generated) => PhoneState::Booted,
            Some(ConfigSource::Default) => PhoneState::FellBack,
            None if facts.config_misses.is_empty() => {
                PhoneState::Failed("asked for no configuration".to_owned())
            }
            None if facts.more_config_misses > 0 => PhoneState::Failed(format!(
                "no configuration: {} and {} more not found",
                facts.config_misses, facts.more_config_misses
            )),
            None => {
                PhoneState::Failed(format!("no configuration: {} not found", facts.config_misses))
            }
        }
    }
}

/// The loads a configuration names, read by cnfkit-config: every `loadInformation` element
/// (`<loadInformation>`, `<loadInformation434 model="Cisco 7942">` in a default that serves
/// many models, an add-on module's), each once, in order; an inactive load is not one a phone
/// asks for. A configuration that does not parse names none. The server calls it on
/// configurations it serves, only for addresses shared by several phones.
#[must_use]
pub fn loads_named(config: &[u8]) -> Vec<String> {
    let Ok(doc) = cnfkit_config::CnfDocument::parse(config) else { return Vec::new() };
    let mut loads: Vec<String> = Vec::new();
    for entry in doc.firmware().entries {
        let load = entry.load.trim();
        if entry.form != cnfkit_config::LoadForm::Inactive
            && !load.is_empty()
            && !loads.iter().any(|l| l == load)
        {
            loads.push(load.to_owned());
        }
    }
    loads
}

/// FNV-1a over the request and its answer, chained.
/// Whether `name` is the one copy of a name kept for all phones.
fn is_shared_copy(names: &HashSet<Arc<str>>, name: &Arc<str>) -> bool {
    names.get(&**name).is_some_and(|shared| Arc::ptr_eq(shared, name))
}

fn fingerprint(seed: u64, name: &str, answer: AnswerKind) -> u64 {
    let mut hash = if seed == 0 { 0xcbf2_9ce4_8422_2325 } else { seed };
    for byte in name.bytes().chain(answer.as_str().bytes()).chain([0]) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn duration_ms(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `Option<Mac>` as 12 upper-case hex digits, or null.
mod mac_text {
    use cnfkit_resolve::Mac;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(mac: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
        match mac {
            Some(mac) => s.collect_str(mac),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mac>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| Mac::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// [`Transport`] as `tftp`, `http` or `https`.
mod transport_text {
    use cnfkit_resolve::Transport;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &Transport, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Transport, D::Error> {
        match String::deserialize(d)?.as_str() {
            "tftp" => Ok(Transport::Tftp),
            "http" => Ok(Transport::Http),
            "https" => Ok(Transport::Https),
            other => Err(serde::de::Error::custom(format!("unknown transport {other:?}"))),
        }
    }
}
