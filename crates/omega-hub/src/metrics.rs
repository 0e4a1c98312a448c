//! Prometheus metrics of the hub, rendered as the text exposition format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Counters and a latency histogram; lock-free.
#[derive(Default)]
pub struct Metrics {
    /// Responses by status class 1xx..5xx (index 0..=4).
    pub responses: [AtomicU64; 5],
    pub rate_limited: AtomicU64,
    pub auth_refused: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    /// Inbound messages dropped by the privacy settings.
    pub inbound_dropped: AtomicU64,
    /// Inbound messages of hidden people purged on arrival.
    pub inbound_purged: AtomicU64,
    /// Inbound events of a type no parser knows (stored raw).
    pub inbound_unknown: AtomicU64,
    /// Webhook bodies refused as malformed.
    pub webhooks_malformed: AtomicU64,
    /// Replies the source accepted.
    pub outbound_sent: AtomicU64,
    /// Reply attempts that will be retried.
    pub outbound_retried: AtomicU64,
    /// Replies given up on.
    pub outbound_failed: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Records one response.
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text; `gauges` are extra `(name, help, value)` lines.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        out.push_str("# HELP omega_hub_http_responses_total HTTP responses by status class.\n");
        out.push_str("# TYPE omega_hub_http_responses_total counter\n");
        for (index, counter) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "omega_hub_http_responses_total{{class=\"{}xx\"}} {}",
                index + 1,
                load(counter)
            );
        }
        for (name, help, counter) in [
            (
                "omega_hub_rate_limited_total",
                "Requests refused with 429.",
                &self.rate_limited,
            ),
            (
                "omega_hub_auth_refused_total",
                "Requests refused for a bad or revoked credential.",
                &self.auth_refused,
            ),
            (
                "omega_hub_logins_total",
                "Successful logins.",
                &self.logins_ok,
            ),
            (
                "omega_hub_login_failures_total",
                "Failed logins.",
                &self.logins_failed,
            ),
            (
                "omega_hub_inbound_dropped_total",
                "Inbound messages dropped by privacy settings.",
                &self.inbound_dropped,
            ),
            (
                "omega_hub_inbound_purged_total",
                "Inbound messages of hidden contacts purged on arrival.",
                &self.inbound_purged,
            ),
            (
                "omega_hub_inbound_unknown_total",
                "Inbound events of unknown types, stored raw.",
                &self.inbound_unknown,
            ),
            (
                "omega_hub_webhooks_malformed_total",
                "Webhook bodies refused as malformed.",
                &self.webhooks_malformed,
            ),
            (
                "omega_hub_outbound_sent_total",
                "Replies accepted by their source.",
                &self.outbound_sent,
            ),
            (
                "omega_hub_outbound_retried_total",
                "Reply attempts scheduled for a retry.",
                &self.outbound_retried,
            ),
            (
                "omega_hub_outbound_failed_total",
                "Replies given up on.",
                &self.outbound_failed,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                load(counter)
            );
        }
        out.push_str("# HELP omega_hub_http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE omega_hub_http_request_duration_seconds histogram\n");
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "omega_hub_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                load(bucket)
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "omega_hub_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "omega_hub_http_request_duration_seconds_sum {}",
            load(&self.latency_sum_us) as f64 / 1e6
        );
        let _ = writeln!(out, "omega_hub_http_request_duration_seconds_count {count}");
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_every_response() {
        let metrics = Metrics::default();
        metrics.observe(200, 0.0005);
        metrics.observe(404, 0.03);
        metrics.observe(500, 10.0);
        let text = metrics.render(&[("omega_hub_audit_entries", "Entries.", 7)]);
        assert!(text.contains("omega_hub_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("omega_hub_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("le=\"0.001\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("omega_hub_audit_entries 7"));
    }
}
