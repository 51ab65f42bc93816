//! An object-store mirror's counts, kept apart from the mirror (the `s3` feature) so that the
//! admin listener's metrics name them whether or not the store is compiled in.

use std::sync::atomic::{AtomicBool, AtomicU64};

/// Counters of the mirror's work, for the metrics and the tests.
#[derive(Debug, Default)]
pub struct MirrorStats {
    /// Requests made to the store (list pages count as one each listing, gets, heads, puts).
    pub requests: AtomicU64,
    /// Requests that failed (after object_store's retries).
    pub errors: AtomicU64,
    /// Listings completed.
    pub listings: AtomicU64,
    /// Objects fetched into the mirror.
    pub fetched: AtomicU64,
    /// Bytes fetched.
    pub fetched_bytes: AtomicU64,
    /// Files removed because their object was deleted.
    pub removed: AtomicU64,
    /// Files the server created and put to the store.
    pub published: AtomicU64,
    /// Creates the store refused because another writer created the object first.
    pub publish_conflicts: AtomicU64,
    /// Whether the last listing reached the store.
    pub reachable: AtomicBool,
}
