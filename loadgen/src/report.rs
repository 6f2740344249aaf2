//! What a run measured, and the progress bar while it runs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::Stats;
use crate::{Config, Window};

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Users (connections) and groups.
    pub users: usize,
    /// Groups.
    pub groups: usize,
    /// Offered rate, messages per second.
    pub offered_rate: f64,
    /// Sends written.
    pub sent: u64,
    /// Sends confirmed (`send_ok`).
    pub confirmed: u64,
    /// Sends refused, by error code.
    pub refused: BTreeMap<String, u64>,
    /// Deliveries the confirmed messages owed (each to every member of its group).
    pub expected: u64,
    /// Deliveries received.
    pub delivered: u64,
    /// Owed and never received.
    pub lost: u64,
    /// Received again.
    pub duplicates: u64,
    /// Received after a gap in a group's seqs.
    pub out_of_order: u64,
    /// Connections that closed during the run.
    pub disconnects: u64,
    /// How long the senders sent.
    pub send_time: Duration,
    /// Confirmed messages per second of send time.
    pub throughput: f64,
    /// Deliveries per second of send time.
    pub deliveries_per_second: f64,
    /// Send-to-delivery latency percentiles, in milliseconds: p50, p90, p99, p99.9, max.
    pub latency_ms: [f64; 5],
    /// Wall-clock seconds from the first send until the last delivery was in (or the
    /// wait for it gave up).
    pub window_seconds: f64,
    /// CPU seconds each watched process used over that window (`loadgen` is this one).
    pub cpu_seconds: Vec<(String, f64)>,
}

pub(crate) fn progress(config: &Config) -> Option<ProgressBar> {
    if !config.progress {
        return None;
    }
    let bar = ProgressBar::new(config.duration.as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {elapsed}/{duration} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

pub(crate) fn tick(bar: &Option<ProgressBar>, stats: &Stats, started: Instant) {
    if let Some(bar) = bar {
        bar.set_position(started.elapsed().as_millis() as u64);
        bar.set_message(format!(
            "sent {} delivered {}",
            stats.sent.load(Ordering::Relaxed),
            stats.delivered()
        ));
    }
}

impl Report {
    /// The figures of a run of `users` in `groups`, from the clients' `latencies`.
    pub(crate) fn collect(
        config: &Config,
        (users, groups): (usize, usize),
        stats: &Stats,
        latencies: &[&Mutex<Histogram<u64>>],
        window: Window,
    ) -> Self {
        let send_time = window.sent_for;
        let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
            .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()));
        for latency in latencies {
            if let Ok(h) = latency.lock() {
                let _ = all.add(&*h);
            }
        }
        let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
        let confirmed = stats.confirmed.load(Ordering::Relaxed);
        let delivered = stats.delivered();
        let expected = stats.expected();
        let secs = send_time.as_secs_f64().max(1e-9);
        Self {
            users,
            groups,
            offered_rate: config.rate,
            sent: stats.sent.load(Ordering::Relaxed),
            confirmed,
            refused: stats
                .refused
                .lock()
                .map(|r| r.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default(),
            expected,
            delivered,
            lost: expected.saturating_sub(delivered),
            duplicates: stats.duplicates.load(Ordering::Relaxed),
            out_of_order: stats.out_of_order.load(Ordering::Relaxed),
            disconnects: stats.disconnects.load(Ordering::Relaxed),
            send_time,
            throughput: confirmed as f64 / secs,
            deliveries_per_second: delivered as f64 / secs,
            latency_ms: [
                ms(0.5),
                ms(0.9),
                ms(0.99),
                ms(0.999),
                all.max() as f64 / 1000.0,
            ],
            window_seconds: window.seconds,
            cpu_seconds: window.cpu,
        }
    }
}

impl Report {
    /// The figures as one JSON object (for scripts: `loadgen --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let [p50, p90, p99, p999, max] = self.latency_ms;
        serde_json::json!({
            "users": self.users,
            "groups": self.groups,
            "offered_rate": self.offered_rate,
            "sent": self.sent,
            "confirmed": self.confirmed,
            "refused": self.refused,
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "disconnects": self.disconnects,
            "send_time_s": self.send_time.as_secs_f64(),
            "throughput": self.throughput,
            "deliveries_per_second": self.deliveries_per_second,
            "latency_ms": {"p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max},
            "window_s": self.window_seconds,
            "cpu_s": self.cpu_seconds.iter().cloned().collect::<BTreeMap<_, _>>(),
        })
    }
}

fn unreachable_histogram() -> Histogram<u64> {
    // Histogram::new(3) only fails for sigfig > 5; kept total for clippy's sake.
    Histogram::new_with_max(1 << 40, 2).unwrap_or_else(|_| std::process::abort())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p50, p90, p99, p999, max] = self.latency_ms;
        writeln!(
            f,
            "users {}, groups {}, offered {:.0} msg/s for {:.1} s",
            self.users,
            self.groups,
            self.offered_rate,
            self.send_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "sent {}, confirmed {}, refused {:?}",
            self.sent, self.confirmed, self.refused
        )?;
        writeln!(
            f,
            "throughput {:.0} msg/s, deliveries {:.0}/s ({} of {} owed)",
            self.throughput, self.deliveries_per_second, self.delivered, self.expected
        )?;
        writeln!(f, "latency send -> delivery: p50 {p50:.1} ms, p90 {p90:.1} ms, p99 {p99:.1} ms, p99.9 {p999:.1} ms, max {max:.1} ms")?;
        write!(
            f,
            "lost {}, duplicates {}, out of order {}, disconnects {}",
            self.lost, self.duplicates, self.out_of_order, self.disconnects
        )?;
        if !self.cpu_seconds.is_empty() {
            write!(f, "\nCPU seconds over {:.1} s:", self.window_seconds)?;
            for (name, seconds) in &self.cpu_seconds {
                write!(f, " {name} {seconds:.2}")?;
            }
        }
        Ok(())
    }
}
