//! Staged firmware rollouts: a model's new load for a share of its phones, chosen by MAC, the
//! others kept on the old one, halted by itself when too many of the moved phones end stuck or
//! failed. A cnfkit feature (no Cisco server does this), for the phones an inventory
//! configures.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cnfkit_config::DeviceType;
use serde::Deserialize;

use crate::Mac;

/// One staged rollout, as the defaults file writes it:
///
/// ```toml
/// [rollouts."7942"]
/// from = "SCCP42.9-4-2SR3-1S"   # what the other phones keep
/// to = "SCCP42.9-4-2SR4-3S"     # the new load
/// percent = 20                  # of the model's phones, chosen by MAC
/// halt-percent = 10             # halt when more than this share of the moved phones fail
/// halt-min = 5                  # once at least this many moved phones have settled
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rollout {
    /// The load the phones not chosen keep (and all of them after a halt, but those already
    /// moved).
    pub from: String,
    /// The new load.
    pub to: String,
    /// The share of the model's phones that get the new load, in percent (0 to 100), chosen
    /// by MAC: the same phones across restarts.
    pub percent: u8,
    /// The rollout halts when more than this share of the moved phones, in percent, end stuck
    /// or failed (default 10).
    #[serde(default = "default_halt_percent")]
    pub halt_percent: u8,
    /// ... once at least this many moved phones have settled (default 5).
    #[serde(default = "default_halt_min")]
    pub halt_min: usize,
}

fn default_halt_percent() -> u8 {
    10
}

fn default_halt_min() -> usize {
    5
}

/// How a moved phone's boot ended, as a registry tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// It booted (on its own or generated configuration, or the default).
    Booted,
    /// It ended stuck or failed.
    Failed,
    /// Still booting: not counted yet.
    Active,
}

/// Where one rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStatus {
    /// The model key of the defaults (`7942`, or a device type number).
    pub model: String,
    /// The rollout.
    pub rollout: Rollout,
    /// Moved phones that booted on the new load.
    pub booted: usize,
    /// Moved phones that ended stuck or failed.
    pub failed: usize,
    /// Whether it has halted.
    pub halted: bool,
}

#[derive(Debug)]
struct Staged {
    model: String,
    device_type: Option<DeviceType>,
    rollout: Rollout,
    halted: AtomicBool,
    /// Phones that booted on the new load: they keep it after a halt.
    moved: Mutex<HashSet<Mac>>,
    counts: Mutex<(usize, usize)>,
}

/// The rollouts of a defaults file with where each stands, shared by the configuration
/// generator (which load a phone gets) and the registry (which judges the moved phones).
#[derive(Debug, Clone, Default)]
pub struct Rollouts(Arc<Vec<Staged>>);

impl Rollouts {
    /// The rollouts of `rollouts` (by model key), none halted.
    #[must_use]
    pub fn new(rollouts: &BTreeMap<String, Rollout>) -> Self {
        Self(Arc::new(
            rollouts
                .iter()
                .map(|(model, rollout)| Staged {
                    model: model.clone(),
                    device_type: DeviceType::from_key(model),
                    rollout: rollout.clone(),
                    halted: AtomicBool::new(false),
                    moved: Mutex::new(HashSet::new()),
                    counts: Mutex::new((0, 0)),
                })
                .collect(),
        ))
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn for_model(&self, model: &str) -> Option<&Staged> {
        let device_type = DeviceType::from_model(model);
        self.0.iter().find(|s| {
            s.model.eq_ignore_ascii_case(model)
                || (device_type.is_some() && s.device_type == device_type)
        })
    }

    /// The load a phone of `model` with `mac` gets, when a rollout covers its model: the new
    /// load for the chosen share (until a halt; after it, only for the phones that booted on
    /// it), the old one for the others.
    #[must_use]
    pub fn load_for(&self, model: &str, mac: Mac) -> Option<&str> {
        let staged = self.for_model(model)?;
        let moves = if staged.halted.load(Ordering::Relaxed) {
            lock(&staged.moved).contains(&mac)
        } else {
            chosen(&staged.rollout, mac)
        };
        Some(if moves { &staged.rollout.to } else { &staged.rollout.from })
    }

    /// Counts, for each rollout, the phones that went for its new load (`phones`: each known
    /// phone's MAC, the load it went for at its last boot, and how that boot ended), and halts
    /// a rollout whose moved phones fail past its threshold. The rollouts that halted now.
    pub fn judge<'a>(
        &self,
        phones: impl Iterator<Item = (Mac, &'a str, Settled)>,
    ) -> Vec<RolloutStatus> {
        let mut counts: Vec<(usize, usize, HashSet<Mac>)> =
            self.0.iter().map(|_| (0, 0, HashSet::new())).collect();
        for (mac, load, settled) in phones {
            for (staged, count) in self.0.iter().zip(counts.iter_mut()) {
                if !load.eq_ignore_ascii_case(&staged.rollout.to) {
                    continue;
                }
                match settled {
                    Settled::Booted => {
                        count.0 += 1;
                        count.2.insert(mac);
                    }
                    Settled::Failed => count.1 += 1,
                    Settled::Active => {}
                }
            }
        }
        let mut halted_now = Vec::new();
        for (staged, (booted, failed, moved)) in self.0.iter().zip(counts) {
            *lock(&staged.counts) = (booted, failed);
            *lock(&staged.moved) = moved;
            let rollout = &staged.rollout;
            let settled = booted + failed;
            let over = settled >= rollout.halt_min
                && failed * 100 > usize::from(rollout.halt_percent) * settled;
            if over && !staged.halted.swap(true, Ordering::Relaxed) {
                halted_now.push(status(staged));
            }
        }
        halted_now
    }

    /// Where every rollout stands.
    #[must_use]
    pub fn status(&self) -> Vec<RolloutStatus> {
        self.0.iter().map(status).collect()
    }
}

fn status(staged: &Staged) -> RolloutStatus {
    let (booted, failed) = *lock(&staged.counts);
    RolloutStatus {
        model: staged.model.clone(),
        rollout: staged.rollout.clone(),
        booted,
        failed,
        halted: staged.halted.load(Ordering::Relaxed),
    }
}

/// Whether `mac` is in the rollout's share: FNV-1a of the MAC and the new load, so that each
/// rollout picks its own phones and a phone's lot never changes.
fn chosen(rollout: &Rollout, mac: Mac) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in mac.0.iter().chain(rollout.to.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % 100 < u64::from(rollout.percent)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
