//! One line per phone boot, for a server's log: the requests a phone made and what each got,
//! the configuration it ended up with (its own or the fallback), and the load it went for.
//!
//! Pure logic, clock passed in: the server [`records`](BootLog::record) every request with the
//! answer it gave and, from a timer, collects the boots that have gone quiet
//! ([`BootLog::expired`]). Memory is bounded: at most `max_peers` boots are tracked (the
//! oldest is closed early when a new one starts) and at most [`MAX_REQUESTS`] requests are
//! kept per boot.
//!
//! A boot is keyed by the phone's MAC once a request names it, so that phones behind one
//! address (a branch office behind NAT) get a line each. A request naming no MAC goes to the
//! boot of the MAC last named from its address (the requests a phone makes before it names
//! itself open a boot for the address, which the MAC then takes over); the server's phone
//! registry tells such requests apart more closely.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::{FileKind, Mac, Recognised};

/// Requests kept per boot; later ones are counted, not kept.
pub const MAX_REQUESTS: usize = 32;

/// How a request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// TFTP (UDP 69).
    #[default]
    Tftp,
    /// HTTP (TCP 6970 on CUCM-era phones, or a Multiplatform phone's profile rule).
    Http,
    /// HTTPS (TCP 6971).
    Https,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tftp => "tftp",
            Self::Http => "http",
            Self::Https => "https",
        })
    }
}

/// Tracks boots per phone.
#[derive(Debug)]
pub struct BootLog {
    boots: HashMap<BootKey, Boot>,
    /// The MAC last named from each address, for the requests that name none.
    last_mac: HashMap<IpAddr, Mac>,
    quiet: Duration,
    max_peers: usize,
}

/// What a boot is tracked under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum BootKey {
    Mac(Mac),
    Address(IpAddr),
}

#[derive(Debug, Clone)]
struct Boot {
    first: Instant,
    last: Instant,
    line: BootLine,
}

/// What one phone did in one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootLine {
    /// The phone's address.
    pub peer: IpAddr,
    /// Its MAC, from the first per-device name it asked for.
    pub mac: Option<Mac>,
    /// The requests, in order, with the answer each got (`exact`, `not-found`, `signed`...)
    /// and how it came.
    pub requests: Vec<(String, &'static str, Transport)>,
    /// Requests past [`MAX_REQUESTS`], not kept.
    pub more_requests: usize,
    /// The configuration served: its name, and whether it was the phone's own.
    pub config: Option<(String, bool)>,
    /// The load manifest the phone asked for (`SCCP42.9-4-2SR4-3S` from its `.loads`).
    pub load: Option<String>,
    /// From the first to the last request.
    pub duration: Duration,
}

impl BootLog {
    /// A log that closes a boot after `quiet` without requests from its peer, tracking at most
    /// `max_peers` at once.
    #[must_use]
    pub fn new(quiet: Duration, max_peers: usize) -> Self {
        Self { boots: HashMap::new(), last_mac: HashMap::new(), quiet, max_peers: max_peers.max(1) }
    }

    /// Records that `peer` asked for `name` and got `answer` (an [`Answer`](crate::Answer)
    /// label). Returns the boots closed early to make room: when `max_peers` are open, the
    /// tenth that has been quiet longest is closed at once, so that a flood of new addresses
    /// costs one scan per tenth of the table, not one per request.
    pub fn record(
        &mut self,
        now: Instant,
        peer: IpAddr,
        name: &str,
        answer: &'static str,
    ) -> Vec<BootLine> {
        self.record_via(now, peer, name, answer, Transport::Tftp, None)
    }

    /// [`record`](Self::record) for a request that came over `transport`, with the MAC the
    /// client gave elsewhere than in the name (a Multiplatform phone's User-Agent), used when
    /// the name carries none.
    pub fn record_via(
        &mut self,
        now: Instant,
        peer: IpAddr,
        name: &str,
        answer: &'static str,
        transport: Transport,
        mac: Option<Mac>,
    ) -> Vec<BootLine> {
        let recognised = Recognised::parse(name);
        let key = match recognised.mac.or(mac) {
            Some(mac) => {
                let key = BootKey::Mac(mac);
                // The requests it made before it named itself are its own.
                if !self.boots.contains_key(&key)
                    && let Some(mut early) = self.boots.remove(&BootKey::Address(peer))
                {
                    early.line.mac = Some(mac);
                    self.boots.insert(key, early);
                }
                self.last_mac.insert(peer, mac);
                key
            }
            None => match self.last_mac.get(&peer) {
                Some(mac) if self.boots.contains_key(&BootKey::Mac(*mac)) => BootKey::Mac(*mac),
                _ => BootKey::Address(peer),
            },
        };
        let mut evicted = Vec::new();
        if !self.boots.contains_key(&key) && self.boots.len() >= self.max_peers {
            let mut by_age: Vec<(Instant, BootKey)> =
                self.boots.iter().map(|(k, b)| (b.last, *k)).collect();
            let close = (self.max_peers / 10).clamp(1, by_age.len());
            by_age.select_nth_unstable(close - 1);
            by_age.truncate(close);
            by_age.sort_unstable();
            evicted = by_age.into_iter().filter_map(|(_, k)| self.close(k)).collect();
        }
        let boot = self.boots.entry(key).or_insert_with(|| Boot {
            first: now,
            last: now,
            line: BootLine {
                peer,
                mac: match key {
                    BootKey::Mac(mac) => Some(mac),
                    BootKey::Address(_) => None,
                },
                requests: Vec::new(),
                more_requests: 0,
                config: None,
                load: None,
                duration: Duration::ZERO,
            },
        });
        boot.last = now;
        let line = &mut boot.line;
        let served = answer != "not-found" && answer != "refused";
        if served {
            match recognised.kind {
                FileKind::DeviceConfig(_) | FileKind::SipDeviceConfig => {
                    line.config = Some((name.to_owned(), true));
                }
                FileKind::XmlDefault(_) | FileKind::SipDefault if line.config.is_none() => {
                    line.config = Some((name.to_owned(), false));
                }
                _ => {}
            }
        }
        if matches!(recognised.kind, FileKind::Loads | FileKind::TermDefaultLoads { .. }) {
            let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
            line.load = Some(file.strip_suffix(".loads").unwrap_or(file).to_owned());
        }
        if line.requests.len() < MAX_REQUESTS {
            line.requests.push((name.to_owned(), answer, transport));
        } else {
            line.more_requests += 1;
        }
        evicted
    }

    /// Closes and returns the boots whose peer has been quiet for the configured time.
    pub fn expired(&mut self, now: Instant) -> Vec<BootLine> {
        let quiet = self.quiet;
        let done: Vec<BootKey> = self
            .boots
            .iter()
            .filter(|(_, b)| now.saturating_duration_since(b.last) >= quiet)
            .map(|(k, _)| *k)
            .collect();
        let mut lines: Vec<BootLine> = done.into_iter().filter_map(|k| self.close(k)).collect();
        lines.sort_by_key(|l| (l.peer, l.mac));
        lines
    }

    /// Closes the boot under `key`, forgetting its address's last MAC if it was this one.
    fn close(&mut self, key: BootKey) -> Option<BootLine> {
        let boot = self.boots.remove(&key)?;
        if let BootKey::Mac(mac) = key
            && self.last_mac.get(&boot.line.peer) == Some(&mac)
        {
            self.last_mac.remove(&boot.line.peer);
        }
        Some(boot.finish())
    }

    /// Closes every open boot (at shutdown).
    pub fn drain(&mut self) -> Vec<BootLine> {
        self.last_mac.clear();
        let mut lines: Vec<BootLine> = self.boots.drain().map(|(_, b)| b.finish()).collect();
        lines.sort_by_key(|l| (l.peer, l.mac));
        lines
    }

    /// Boots open now.
    #[must_use]
    pub fn open(&self) -> usize {
        self.boots.len()
    }
}

impl Boot {
    fn finish(mut self) -> BootLine {
        self.line.duration = self.last.saturating_duration_since(self.first);
        self.line
    }
}

impl fmt::Display for BootLine {
    /// `SEP001122334455 (10.0.0.5): own SEP001122334455.cnf.xml, load SCCP42.9-4-2SR4-3S; 6 requests
    /// in 120 ms: CTLSEP001122334455.tlv not-found, ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mac {
            Some(mac) => write!(f, "SEP{mac} ({})", self.peer)?,
            None => write!(f, "{}", self.peer)?,
        }
        match &self.config {
            Some((name, true)) => write!(f, ": own {name}")?,
            Some((name, false)) => write!(f, ": fallback {name}")?,
            None => f.write_str(": NO CONFIG served")?,
        }
        match &self.load {
            Some(load) => write!(f, ", load {load}")?,
            None => f.write_str(", no load requested")?,
        }
        let total = self.requests.len() + self.more_requests;
        write!(f, "; {total} requests in {} ms:", self.duration.as_millis())?;
        for (i, (name, answer, transport)) in self.requests.iter().enumerate() {
            write!(f, "{} {name} {answer}", if i == 0 { "" } else { "," })?;
            if *transport != Transport::Tftp {
                write!(f, " ({transport})")?;
            }
        }
        if self.more_requests > 0 {
            write!(f, ", and {} more", self.more_requests)?;
        }
        Ok(())
    }
}
