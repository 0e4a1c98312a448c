//! Server counters and their Prometheus text exposition (format 0.0.4), rendered by hand: a handful
//! of counters does not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    deposits: AtomicU64,
    duplicate_deposits: AtomicU64,
    fetched: AtomicU64,
    fetches: AtomicU64,
    acked: AtomicU64,
    expired: AtomicU64,
    claims: AtomicU64,
    fallback_claims: AtomicU64,
    refusals: Mutex<BTreeMap<String, u64>>,
    blob_puts: AtomicU64,
    blob_put_bytes: AtomicU64,
    blob_gets: AtomicU64,
    blob_get_bytes: AtomicU64,
    blob_expired: AtomicU64,
    blob_stored_bytes: AtomicU64,
    blob_refusals: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn deposited(&self, duplicate: bool) {
        if duplicate {
            self.duplicate_deposits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.deposits.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn fetched(&self, envelopes: usize) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.fetched.fetch_add(envelopes as u64, Ordering::Relaxed);
    }

    pub fn acked(&self, deleted: u64) {
        self.acked.fetch_add(deleted, Ordering::Relaxed);
    }

    pub fn expired(&self, purged: u64) {
        self.expired.fetch_add(purged, Ordering::Relaxed);
    }

    pub fn claimed(&self, fallback: bool) {
        self.claims.fetch_add(1, Ordering::Relaxed);
        if fallback {
            self.fallback_claims.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn refused(&self, code: &str) {
        let mut refusals = self
            .refusals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Codes come from a fixed set chosen by the server, so the label set stays small.
        *refusals.entry(code.to_owned()).or_insert(0) += 1;
    }

    /// The blob store holds `bytes` (at start).
    pub fn blob_bytes(&self, bytes: u64) {
        self.blob_stored_bytes.store(bytes, Ordering::Relaxed);
    }

    /// A new blob of `bytes` was stored.
    pub fn blob_stored(&self, bytes: u64) {
        self.blob_puts.fetch_add(1, Ordering::Relaxed);
        self.blob_put_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.blob_stored_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A blob of `bytes` was handed out.
    pub fn blob_served(&self, bytes: u64) {
        self.blob_gets.fetch_add(1, Ordering::Relaxed);
        self.blob_get_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `count` blobs of `bytes` together expired.
    pub fn blobs_expired(&self, count: u64, bytes: u64) {
        self.blob_expired.fetch_add(count, Ordering::Relaxed);
        let _ = self
            .blob_stored_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(bytes))
            });
    }

    /// A blob request was refused with `code` (a fixed set chosen by the server).
    pub fn blob_refused(&self, code: &str) {
        let mut refusals = self
            .blob_refusals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *refusals.entry(code.to_owned()).or_insert(0) += 1;
    }

    pub fn blob_refusals_of(&self, code: &str) -> u64 {
        self.blob_refusals
            .lock()
            .map(|refusals| refusals.get(code).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn expired_total(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    pub fn refusals_of(&self, code: &str) -> u64 {
        self.refusals
            .lock()
            .map(|refusals| refusals.get(code).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Prometheus text format; `depth` is read from the store at scrape time.
    pub fn render(&self, depth: Option<u64>) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        };
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        counter(
            "omega_mailbox_deposits_total",
            "Envelopes stored.",
            get(&self.deposits),
        );
        counter(
            "omega_mailbox_duplicate_deposits_total",
            "Deposits of an envelope already stored (idempotent retries).",
            get(&self.duplicate_deposits),
        );
        counter(
            "omega_mailbox_fetches_total",
            "Fetch requests served.",
            get(&self.fetches),
        );
        counter(
            "omega_mailbox_fetched_envelopes_total",
            "Envelopes handed out by fetches.",
            get(&self.fetched),
        );
        counter(
            "omega_mailbox_acks_total",
            "Envelopes deleted by acks.",
            get(&self.acked),
        );
        counter(
            "omega_mailbox_expired_total",
            "Envelopes purged after their time to live.",
            get(&self.expired),
        );
        counter(
            "omega_prekey_claims_total",
            "Prekey claims answered.",
            get(&self.claims),
        );
        counter(
            "omega_prekey_fallback_claims_total",
            "Prekey claims answered with the fallback key.",
            get(&self.fallback_claims),
        );
        counter(
            "omega_blob_puts_total",
            "New blobs (sealed file chunks) stored.",
            get(&self.blob_puts),
        );
        counter(
            "omega_blob_put_bytes_total",
            "Bytes of new blobs stored.",
            get(&self.blob_put_bytes),
        );
        counter(
            "omega_blob_gets_total",
            "Blobs handed out.",
            get(&self.blob_gets),
        );
        counter(
            "omega_blob_get_bytes_total",
            "Bytes of blobs handed out.",
            get(&self.blob_get_bytes),
        );
        counter(
            "omega_blob_expired_total",
            "Blobs purged after their time to live.",
            get(&self.blob_expired),
        );
        let _ = writeln!(
            out,
            "# HELP omega_blob_refusals_total Blob requests refused, by reason."
        );
        let _ = writeln!(out, "# TYPE omega_blob_refusals_total counter");
        if let Ok(refusals) = self.blob_refusals.lock() {
            for (code, value) in refusals.iter() {
                let _ = writeln!(
                    out,
                    "omega_blob_refusals_total{{reason=\"{code}\"}} {value}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP omega_blob_stored_bytes Bytes held by the blob store."
        );
        let _ = writeln!(out, "# TYPE omega_blob_stored_bytes gauge");
        let _ = writeln!(
            out,
            "omega_blob_stored_bytes {}",
            get(&self.blob_stored_bytes)
        );
        let _ = writeln!(
            out,
            "# HELP omega_mailbox_refusals_total Requests refused, by reason."
        );
        let _ = writeln!(out, "# TYPE omega_mailbox_refusals_total counter");
        if let Ok(refusals) = self.refusals.lock() {
            for (code, value) in refusals.iter() {
                let _ = writeln!(
                    out,
                    "omega_mailbox_refusals_total{{reason=\"{code}\"}} {value}"
                );
            }
        }
        if let Some(depth) = depth {
            let _ = writeln!(
                out,
                "# HELP omega_mailbox_depth Envelopes waiting in all mailboxes."
            );
            let _ = writeln!(out, "# TYPE omega_mailbox_depth gauge");
            let _ = writeln!(out, "omega_mailbox_depth {depth}");
        }
        out
    }
}
