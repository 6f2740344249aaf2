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
    /// Watched processes that were gone by the end of the run.
    pub gone: Vec<String>,
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
            gone: config
                .watch
                .iter()
                .filter(|w| !window.cpu.iter().any(|(name, _)| *name == w.name))
                .map(|w| w.name.clone())
                .collect(),
            cpu_seconds: window.cpu,
        }
    }

    /// What went wrong in the run, one line each; empty when every send was confirmed
    /// and delivered once, in order, to every member, with no connection lost.
    pub fn problems(&self) -> Vec<String> {
        let refused: u64 = self.refused.values().sum();
        let unconfirmed = self.sent.saturating_sub(self.confirmed + refused);
        let mut problems = Vec::new();
        let mut count = |n: u64, what: &str| {
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        };
        count(
            self.lost,
            "deliveries lost (owed by a confirmed send, never received)",
        );
        count(self.out_of_order, "deliveries out of order");
        count(self.duplicates, "deliveries duplicated");
        count(self.disconnects, "connections closed during the run");
        count(unconfirmed, "sends never confirmed");
        if refused > 0 {
            problems.push(format!("{refused} sends refused: {:?}", self.refused));
        }
        for name in &self.gone {
            problems.push(format!("the watched process {name} was gone by the end"));
        }
        problems
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
            "cpu_s": self
                .cpu_seconds
                .iter()
                .map(|(name, s)| (name.clone(), (s * 1000.0).round() / 1000.0))
                .collect::<BTreeMap<_, _>>(),
            "gone": self.gone,
            "problems": self.problems(),
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
        for problem in self.problems() {
            write!(f, "\nPROBLEM: {problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Report;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn clean() -> Report {
        Report {
            users: 2,
            groups: 1,
            offered_rate: 2.0,
            sent: 10,
            confirmed: 10,
            refused: BTreeMap::new(),
            expected: 20,
            delivered: 20,
            lost: 0,
            duplicates: 0,
            out_of_order: 0,
            disconnects: 0,
            send_time: Duration::from_secs(5),
            throughput: 2.0,
            deliveries_per_second: 4.0,
            latency_ms: [1.0; 5],
            window_seconds: 5.0,
            cpu_seconds: Vec::new(),
            gone: Vec::new(),
        }
    }

    #[test]
    fn a_clean_run_has_no_problems_and_each_kind_of_trouble_is_one() {
        assert_eq!(clean().problems(), Vec::<String>::new());
        let troubles: Vec<(&str, Report)> = vec![
            ("lost", Report { lost: 1, ..clean() }),
            (
                "out of order",
                Report {
                    out_of_order: 1,
                    ..clean()
                },
            ),
            (
                "duplicated",
                Report {
                    duplicates: 1,
                    ..clean()
                },
            ),
            (
                "connections closed",
                Report {
                    disconnects: 3,
                    ..clean()
                },
            ),
            (
                "never confirmed",
                Report {
                    confirmed: 7,
                    ..clean()
                },
            ),
            (
                "refused",
                Report {
                    confirmed: 7,
                    refused: BTreeMap::from([("rate_limited".to_owned(), 3)]),
                    ..clean()
                },
            ),
            (
                "gone",
                Report {
                    gone: vec!["im-1".into()],
                    ..clean()
                },
            ),
        ];
        for (what, report) in troubles {
            let problems = report.problems();
            assert_eq!(problems.len(), 1, "{what}: {problems:?}");
            assert!(problems[0].contains(what), "{what}: {problems:?}");
            assert!(report.to_string().contains("PROBLEM"), "{what}");
        }
    }
}
