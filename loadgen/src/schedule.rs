//! When one sender sends: every `1 / per_second` seconds, its first send at a random
//! point of the first period (so that many senders spread out), and never after the
//! end of the window. A sender whose first send would fall after the end sends nothing.

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

/// The longest period used (a day): longer ones send at most once in any run anyway.
const LONGEST_PERIOD_S: f64 = 86_400.0;
/// The shortest period (a microsecond): a faster sender is bounded by its socket.
const SHORTEST_PERIOD_S: f64 = 1e-6;

/// One sender's send times.
pub(crate) struct Schedule {
    tick: Interval,
    end: Instant,
}

impl Schedule {
    /// Sends at `per_second` from now for `window`, the first one `phase` (in [0, 1))
    /// of a period in; `None` when this sender has nothing to send in the window.
    pub(crate) fn new(per_second: f64, window: Duration, phase: f64) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let now = Instant::now();
        let period_s = (1.0 / per_second).clamp(SHORTEST_PERIOD_S, LONGEST_PERIOD_S);
        let first_s = phase.clamp(0.0, 1.0) * period_s;
        if first_s >= window.as_secs_f64() {
            return None;
        }
        let first = now + Duration::from_secs_f64(first_s);
        let mut tick = tokio::time::interval_at(first, Duration::from_secs_f64(period_s));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Some(Self {
            tick,
            end: now + window,
        })
    }

    /// Waits for the next send time; `false` once the window is over.
    pub(crate) async fn next(&mut self) -> bool {
        match tokio::time::timeout_at(self.end, self.tick.tick()).await {
            Ok(at) => at < self.end,
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;
    use std::time::Duration;

    async fn sends(per_second: f64, window_ms: u64, phase: f64) -> u32 {
        let Some(mut schedule) = Schedule::new(per_second, Duration::from_millis(window_ms), phase)
        else {
            return 0;
        };
        let mut n = 0;
        while schedule.next().await {
            n += 1;
        }
        n
    }

    #[tokio::test(start_paused = true)]
    async fn sends_per_second_times_the_window_and_stops_at_its_end() {
        assert_eq!(sends(10.0, 3_000, 0.0).await, 30);
        assert_eq!(sends(10.0, 3_000, 0.5).await, 30);
        assert_eq!(sends(20.0, 1_000, 0.99).await, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_send_after_the_window_means_none() {
        let started = tokio::time::Instant::now();
        assert_eq!(sends(0.01, 1_000, 0.5).await, 0);
        assert_eq!(sends(1.0, 1_000, 0.0).await, 1);
        assert!(started.elapsed() <= Duration::from_millis(1_000));
    }

    #[tokio::test(start_paused = true)]
    async fn impossible_rates_send_nothing_and_extreme_ones_do_not_panic() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(sends(rate, 1_000, 0.0).await, 0, "{rate}");
        }
        assert_eq!(sends(1e-300, 1_000, 0.0).await, 1);
        assert!(sends(1e12, 1, 0.0).await >= 1);
    }
}
