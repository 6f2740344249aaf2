//! Heartbeat bookkeeping: when to ping (with jitter) and when the peer counts as dead.

use std::time::Duration;

use tokio::time::Instant;

use super::ConnectionConfig;

/// What the timer found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Tick {
    /// Nothing received within the read deadline.
    Dead,
    /// Time to send a ping.
    Ping,
    /// Neither yet.
    Wait,
}

#[derive(Debug)]
pub(super) struct Heartbeat {
    last_seen: Instant,
    next_ping: Instant,
    idle_timeout: Duration,
    config: PingSchedule,
}

#[derive(Debug)]
struct PingSchedule {
    interval: Duration,
    jitter: f64,
}

impl Heartbeat {
    pub(super) fn new(config: &ConnectionConfig) -> Self {
        let now = Instant::now();
        let mut beat = Self {
            last_seen: now,
            next_ping: now,
            idle_timeout: config.idle_timeout,
            config: PingSchedule {
                interval: config.ping_interval,
                jitter: config.ping_jitter,
            },
        };
        beat.next_ping = now + beat.jittered();
        beat
    }

    fn jittered(&self) -> Duration {
        let jitter = self.config.jitter.clamp(0.0, 0.9);
        self.config
            .interval
            .mul_f64(1.0 + rand::random_range(-jitter..=jitter))
    }

    /// Something arrived from the peer.
    pub(super) fn seen(&mut self) {
        self.last_seen = Instant::now();
    }

    /// The earlier of the next ping and the read deadline.
    pub(super) fn next_deadline(&self) -> Instant {
        self.next_ping.min(self.last_seen + self.idle_timeout)
    }

    /// Called when the timer fires.
    pub(super) fn tick(&mut self) -> Tick {
        let now = Instant::now();
        if now >= self.last_seen + self.idle_timeout {
            return Tick::Dead;
        }
        if now >= self.next_ping {
            self.next_ping = now + self.jittered();
            return Tick::Ping;
        }
        Tick::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pings_then_declares_dead() {
        let config = ConnectionConfig {
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(25),
            ..ConnectionConfig::default()
        };
        let mut beat = Heartbeat::new(&config);
        let mut pings = 0;
        loop {
            tokio::time::sleep_until(beat.next_deadline()).await;
            match beat.tick() {
                Tick::Ping => pings += 1,
                Tick::Dead => break,
                Tick::Wait => {}
            }
        }
        assert!((2..=3).contains(&pings), "pings = {pings}");
    }
}
