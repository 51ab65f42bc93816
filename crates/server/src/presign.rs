//! Signing ahead of the phones: a storm of phones that each ask for their own
//! `SEP<MAC>.cnf.xml.sgn` would otherwise wait behind one RSA private operation per phone.
//! A background thread resolves every name the resolver signs on the fly
//! ([`Resolver::signable_names`]) at start and then at an interval, so the signer's cache
//! ([`ConfigSigner`](crate::ConfigSigner)) holds each file before its phone asks, and a changed
//! file is signed again within one interval. The thread runs at the lowest CPU priority: a
//! phone's own request, which signs at once on a miss, is never queued behind it.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cnfkit_resolve::{Answer, Directory, Resolver};
use tracing::{debug, info, warn};

use crate::{OpenFile, ProvisioningHandler};

/// What one pre-signing pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresignPass {
    /// Names resolved (signed, or found signed in the cache).
    pub names: usize,
    /// Names whose signing failed (the reason is in the log).
    pub failed: usize,
    /// How long the pass took.
    pub elapsed: Duration,
}

/// Resolves every name `resolver` signs on the fly, once, on `threads` threads: what
/// [`Presigner`] does at each interval, for a caller that runs it itself. `stop` is asked
/// between names.
pub fn presign<D: Directory + Sync>(
    resolver: &Resolver<D>,
    threads: usize,
    stop: impl Fn() -> bool + Sync,
) -> PresignPass {
    let started = Instant::now();
    let names = resolver.signable_names();
    let next = AtomicUsize::new(0);
    let (done, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let work = || {
        lower_own_priority();
        while !stop() {
            let Some(name) = names.get(next.fetch_add(1, Relaxed)) else { break };
            done.fetch_add(1, Relaxed);
            if let Answer::Failed { failure, .. } = resolver.resolve(name.as_bytes()) {
                failed.fetch_add(1, Relaxed);
                warn!(file = %name, error = %failure, "pre-signing failed");
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.max(1) {
            s.spawn(work);
        }
        work();
    });
    PresignPass {
        names: done.into_inner(),
        failed: failed.into_inner(),
        elapsed: started.elapsed(),
    }
}

/// The pre-signing thread; stopped when dropped.
#[derive(Debug)]
pub struct Presigner {
    stopped: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Presigner {
    /// Starts pre-signing for `handler`'s resolver: a pass at once, then one every `every`.
    /// `None` when the resolver signs nothing on the fly.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn spawn<D: OpenFile>(
        handler: Arc<ProvisioningHandler<D>>,
        every: Duration,
    ) -> std::io::Result<Option<Self>> {
        if !handler.resolver().signs() {
            return Ok(None);
        }
        let stopped = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stopped);
        let thread =
            std::thread::Builder::new().name("cnfkit-presign".into()).spawn(move || {
                let is_stopped = || *flag.0.lock().unwrap_or_else(PoisonError::into_inner);
                // Every core, at the lowest priority: done soonest while the server is idle,
                // and out of the phones' way when it is not.
                let threads = std::thread::available_parallelism().map_or(1, usize::from);
                let mut first = true;
                loop {
                    let pass = presign(&handler.resolver(), threads, is_stopped);
                    if first {
                        info!(
                            configs = pass.names,
                            failed = pass.failed,
                            seconds = pass.elapsed.as_secs_f32(),
                            "pre-signed"
                        );
                        first = false;
                    } else {
                        debug!(
                            configs = pass.names,
                            seconds = pass.elapsed.as_secs_f32(),
                            "pre-signing pass"
                        );
                    }
                    let guard = flag.0.lock().unwrap_or_else(PoisonError::into_inner);
                    let (guard, _) = flag
                        .1
                        .wait_timeout_while(guard, every, |stopped| !*stopped)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *guard {
                        return;
                    }
                }
            })?;
        Ok(Some(Self { stopped, thread: Some(thread) }))
    }
}

impl Drop for Presigner {
    fn drop(&mut self) {
        *self.stopped.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.stopped.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Nice 19 for the calling thread (idempotent) (Linux keeps a nice value per thread): on a busy machine
/// the phones' requests get the CPU first.
fn lower_own_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, 19) {
        debug!(error = %e, "pre-signing at normal priority");
    }
}
