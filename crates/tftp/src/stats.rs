//! What an endpoint counts: shared, so that several endpoints (one per core) add into one set.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[cfg(feature = "tokio")]
use crate::Refusal;
use crate::{Outcome, Summary};
#[cfg(feature = "tokio")]
use std::net::SocketAddr;
#[cfg(feature = "tokio")]
use tracing::{debug, info, warn};

/// Counts kept by an [`Endpoint`](crate::Endpoint) (for logs, metrics and benchmarks).
#[derive(Debug, Default)]
pub struct Stats {
    /// Transfers that completed.
    pub completed: AtomicU64,
    /// Transfers that failed (timeouts, peer errors, local errors).
    pub failed: AtomicU64,
    /// Requests refused with an ERROR by the application (file not found...).
    pub refused: AtomicU64,
    /// Requests left unanswered: over a limit, repeated while their transfer runs, or by the
    /// application's choice.
    pub dropped: AtomicU64,
    /// Transfers whose peer never answered, stopped to give their slot to a new request.
    pub evicted: AtomicU64,
    /// Transfers stopped with an ERROR at shutdown, after the grace period.
    pub stopped: AtomicU64,
    /// Datagrams retransmitted after a timeout.
    pub retransmits: AtomicU64,
    /// Datagrams that arrived while a driver busy-polled.
    pub polled: AtomicU64,
    /// Times a driver read its listening socket and found datagrams (each read takes every
    /// datagram waiting, up to a batch).
    pub reads: AtomicU64,
    /// Datagrams those reads took: over [`reads`](Self::reads), how many datagrams a wake-up
    /// serves (see the tokio driver's `ServerConfig::batch_interval`).
    pub datagrams_read: AtomicU64,
    turned_away: Mutex<TurnedAway>,
}

#[derive(Debug, Default)]
struct TurnedAway {
    total: HashMap<&'static str, u64>,
    recent: HashMap<&'static str, u64>,
}

impl Stats {
    /// Requests turned away since the start, by reason ([`Refusal`](crate::Refusal)'s
    /// constants, or an application's own), sorted by reason.
    #[must_use]
    pub fn turned_away(&self) -> Vec<(&'static str, u64)> {
        sorted(&self.lock().total)
    }

    /// Requests turned away since the previous call, by reason: what a periodic log line
    /// reports, so that a flood writes one line per interval rather than one per datagram.
    pub fn take_recent(&self) -> Vec<(&'static str, u64)> {
        let recent = std::mem::take(&mut self.lock().recent);
        sorted(&recent)
    }

    pub(crate) fn count_turned_away(&self, reason: &'static str) {
        let mut counts = self.lock();
        *counts.total.entry(reason).or_insert(0) += 1;
        *counts.recent.entry(reason).or_insert(0) += 1;
    }

    pub(crate) fn count_ended(&self, summary: &Summary) {
        match summary.outcome {
            Outcome::Completed => self.completed.fetch_add(1, Relaxed),
            Outcome::Stopped => self.stopped.fetch_add(1, Relaxed),
            _ => self.failed.fetch_add(1, Relaxed),
        };
        self.retransmits.fetch_add(summary.retransmits, Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TurnedAway> {
        self.turned_away.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn sorted(counts: &HashMap<&'static str, u64>) -> Vec<(&'static str, u64)> {
    let mut list: Vec<_> = counts.iter().map(|(r, n)| (*r, *n)).collect();
    list.sort_unstable();
    list
}

/// Logs how a transfer ended: per transfer is debug detail when it completed (a provisioning
/// server logs per boot), info when it failed.
#[cfg(feature = "tokio")]
pub(crate) fn log_ended(peer: SocketAddr, summary: &Summary) {
    match summary.outcome {
        Outcome::Completed => debug!(%peer, %summary, "transfer"),
        Outcome::Stopped => debug!(%peer, %summary, "stopped: the server is shutting down"),
        _ => info!(%peer, %summary, "transfer failed"),
    }
}

#[cfg(feature = "tokio")]
impl Stats {
    /// A driver's read of its listening socket that took `datagrams`.
    pub(crate) fn count_read(&self, datagrams: u64) {
        if datagrams > 0 {
            self.reads.fetch_add(1, Relaxed);
            self.datagrams_read.fetch_add(datagrams, Relaxed);
        }
    }

    /// Logs one line for the requests turned away since the last call, if any: what an admin
    /// reads every 10 s during a flood.
    pub(crate) fn log_recent(&self) {
        let counts = self.take_recent();
        if counts.is_empty() {
            return;
        }
        let list = counts
            .iter()
            .map(|(r, n)| match (*r, crate::descriptors::open_file_limit()) {
                // What an admin raises (`LimitNOFILE=`, `ulimit -n`) when this shows up.
                (Refusal::OUT_OF_DESCRIPTORS, Some(limit)) => format!("{r} (limit {limit}) {n}"),
                _ => format!("{r} {n}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        warn!(seconds = 10, "requests turned away: {list}");
    }
}
