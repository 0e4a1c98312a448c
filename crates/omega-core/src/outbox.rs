//! The outbox scheduler: a sans-IO state machine deciding which queued envelope to transmit next.
//!
//! It knows outbox rows only by `seq` (their durable id in the store) and the recipient device they go
//! to. Per device it keeps FIFO order with one envelope in flight, so a conversation arrives in the
//! order it was written; a failure backs that device off exponentially, while other devices proceed.
//! A device that becomes reachable (a connection opened) is retried at once.
//!
//! Drive it like this: after every input, call [`Outbox::poll_transmit`] until it returns `None`
//! and start those transmissions; sleep until [`Outbox::poll_timeout`]; report each transmission's
//! end with [`Outbox::handle_delivered`], [`Outbox::handle_failed`] or [`Outbox::handle_dropped`].
//! Time is always passed in, never read.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A recipient device: its Curve25519 identity key.
pub type DeviceKey = [u8; 32];

/// Backoff settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Delay after the first failure.
    pub base_backoff: Duration,
    /// Longest delay between two attempts.
    pub max_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// An envelope to transmit now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub seq: i64,
    pub device: DeviceKey,
}

#[derive(Debug, Default)]
struct DeviceQueue {
    pending: BTreeSet<i64>,
    in_flight: Option<i64>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// The scheduler. See the module docs for how to drive it.
#[derive(Debug, Default)]
pub struct Outbox {
    config: Config,
    queues: HashMap<DeviceKey, DeviceQueue>,
}

impl Outbox {
    pub fn new(config: Config) -> Self {
        Outbox {
            config,
            queues: HashMap::new(),
        }
    }

    /// Adds a durable outbox row. Inserting a row that is already known changes nothing.
    pub fn insert(&mut self, device: DeviceKey, seq: i64) {
        let queue = self.queues.entry(device).or_default();
        if queue.in_flight != Some(seq) {
            queue.pending.insert(seq);
        }
    }

    /// The next envelope to transmit, if any device is ready at `now`. Call until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let (device, queue) = self.queues.iter_mut().find(|(_, queue)| {
            queue.in_flight.is_none()
                && !queue.pending.is_empty()
                && queue.retry_at.is_none_or(|at| at <= now)
        })?;
        let seq = queue.pending.pop_first()?;
        queue.in_flight = Some(seq);
        Some(Transmit {
            seq,
            device: *device,
        })
    }

    /// When the next backed-off device becomes ready; `None` when nothing waits on time.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queues
            .values()
            .filter(|queue| queue.in_flight.is_none() && !queue.pending.is_empty())
            .filter_map(|queue| queue.retry_at)
            .min()
    }

    /// The transmission succeeded (the recipient acknowledged): the row is done.
    pub fn handle_delivered(&mut self, device: DeviceKey, seq: i64) {
        if let Some(queue) = self.queues.get_mut(&device) {
            if queue.in_flight == Some(seq) {
                queue.in_flight = None;
            }
            queue.pending.remove(&seq);
            queue.failures = 0;
            queue.retry_at = None;
            self.forget_if_idle(device);
        }
    }

    /// The row can never be delivered (refused by the recipient, or gone): drop it without backoff.
    pub fn handle_dropped(&mut self, device: DeviceKey, seq: i64) {
        if let Some(queue) = self.queues.get_mut(&device) {
            if queue.in_flight == Some(seq) {
                queue.in_flight = None;
            }
            queue.pending.remove(&seq);
            self.forget_if_idle(device);
        }
    }

    /// The transmission failed (unreachable, timeout): the row goes back to the head of its queue
    /// and the device backs off.
    pub fn handle_failed(&mut self, device: DeviceKey, seq: i64, now: Instant) {
        let Some(queue) = self.queues.get_mut(&device) else {
            return;
        };
        if queue.in_flight == Some(seq) {
            queue.in_flight = None;
        }
        queue.pending.insert(seq);
        queue.failures = queue.failures.saturating_add(1);
        let exponent = queue.failures.saturating_sub(1).min(16);
        let delay = self
            .config
            .base_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.config.max_backoff);
        queue.retry_at = Some(now + delay);
    }

    /// The device became reachable (a connection to it opened): retry it now.
    pub fn handle_reachable(&mut self, device: DeviceKey) {
        if let Some(queue) = self.queues.get_mut(&device) {
            queue.retry_at = None;
            queue.failures = 0;
        }
    }

    /// Number of rows not yet delivered, in flight included.
    pub fn len(&self) -> usize {
        self.queues
            .values()
            .map(|queue| queue.pending.len() + usize::from(queue.in_flight.is_some()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn forget_if_idle(&mut self, device: DeviceKey) {
        if self
            .queues
            .get(&device)
            .is_some_and(|queue| queue.pending.is_empty() && queue.in_flight.is_none())
        {
            self.queues.remove(&device);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOB: DeviceKey = [2; 32];
    const CAROL: DeviceKey = [3; 32];

    fn outbox() -> Outbox {
        Outbox::new(Config {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
        })
    }

    #[test]
    fn one_envelope_in_flight_per_device_in_fifo_order() {
        let now = Instant::now();
        let mut outbox = outbox();
        for seq in [3, 1, 2] {
            outbox.insert(BOB, seq);
        }
        assert_eq!(
            outbox.poll_transmit(now),
            Some(Transmit {
                seq: 1,
                device: BOB
            })
        );
        assert_eq!(
            outbox.poll_transmit(now),
            None,
            "second envelope waits for the first"
        );
        outbox.handle_delivered(BOB, 1);
        assert_eq!(outbox.poll_transmit(now).map(|t| t.seq), Some(2));
        outbox.handle_delivered(BOB, 2);
        assert_eq!(outbox.poll_transmit(now).map(|t| t.seq), Some(3));
        outbox.handle_delivered(BOB, 3);
        assert!(outbox.is_empty());
    }

    #[test]
    fn failure_backs_off_exponentially_and_keeps_order() {
        let start = Instant::now();
        let mut outbox = outbox();
        outbox.insert(BOB, 1);
        outbox.insert(BOB, 2);
        let mut now = start;
        for expected_delay in [1, 2, 4, 8, 8] {
            let transmit = outbox.poll_transmit(now).expect("ready");
            assert_eq!(
                transmit.seq, 1,
                "the failed head is retried before the next one"
            );
            outbox.handle_failed(BOB, 1, now);
            assert_eq!(outbox.poll_transmit(now), None);
            let timeout = outbox.poll_timeout().expect("a retry is scheduled");
            assert_eq!(timeout - now, Duration::from_secs(expected_delay));
            now = timeout;
        }
        assert_eq!(outbox.len(), 2);
    }

    #[test]
    fn a_backed_off_device_does_not_block_others() {
        let now = Instant::now();
        let mut outbox = outbox();
        outbox.insert(BOB, 1);
        outbox.insert(CAROL, 2);
        let first = outbox.poll_transmit(now).unwrap();
        let second = outbox.poll_transmit(now).unwrap();
        assert_ne!(first.device, second.device);
        outbox.handle_failed(first.device, first.seq, now);
        outbox.handle_delivered(second.device, second.seq);
        assert_eq!(outbox.poll_transmit(now), None);
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn reachable_device_is_retried_immediately() {
        let now = Instant::now();
        let mut outbox = outbox();
        outbox.insert(BOB, 1);
        let transmit = outbox.poll_transmit(now).unwrap();
        outbox.handle_failed(BOB, transmit.seq, now);
        assert_eq!(outbox.poll_transmit(now), None);
        outbox.handle_reachable(BOB);
        assert_eq!(outbox.poll_transmit(now).map(|t| t.seq), Some(1));
    }

    #[test]
    fn dropped_row_is_forgotten_without_backoff() {
        let now = Instant::now();
        let mut outbox = outbox();
        outbox.insert(BOB, 1);
        outbox.insert(BOB, 2);
        let transmit = outbox.poll_transmit(now).unwrap();
        outbox.handle_dropped(BOB, transmit.seq);
        assert_eq!(outbox.poll_transmit(now).map(|t| t.seq), Some(2));
    }

    #[test]
    fn inserting_a_known_row_twice_transmits_it_once() {
        let now = Instant::now();
        let mut outbox = outbox();
        outbox.insert(BOB, 1);
        let transmit = outbox.poll_transmit(now).unwrap();
        outbox.insert(BOB, 1);
        outbox.handle_delivered(BOB, transmit.seq);
        assert_eq!(outbox.poll_transmit(now), None);
        assert!(outbox.is_empty());
    }
}
