//! The fan-out micro protocol of `../shared/peers/gorilla-hub` (and of im-core's relay
//! server in `im-core/benches/loopback_fanout`): `GET /ws?user=U&group=G`, and every
//! text frame a client sends goes, unchanged, to every connection of its group, the
//! sender included. No accounts, no persistence, no seqs: a frame carries its sender,
//! the sender's counter and the send time, so each receiver checks every sender's
//! frames for loss, duplicates and order, and times each delivery.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{connect_websocket, now_us, rand_fraction, Stats};
use crate::schedule::Schedule;

/// A connected micro-protocol client.
pub(crate) struct MicroClient {
    index: usize,
    sink: Arc<tokio::sync::Mutex<crate::client::Sink>>,
    stats: Arc<Stats>,
    /// Send-to-delivery latency of what this client received, in microseconds.
    pub(crate) latency: Arc<Mutex<Histogram<u64>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for MicroClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl MicroClient {
    /// Connects user `index` to group `group` of a run with `users` users.
    pub(crate) async fn connect(
        base: &str,
        index: usize,
        group: usize,
        users: usize,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        let url = format!(
            "{}/ws?user=u{index}&group=g{group}",
            base.replacen("http", "ws", 1)
        );
        let (ws, _) = connect_websocket(&url).await?;
        let (sink, mut stream) = ws.split();
        let latency = Arc::new(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?));
        let (lat, st) = (Arc::clone(&latency), Arc::clone(&stats));
        let reader = tokio::spawn(async move {
            // The last counter seen from each sender of the run.
            let mut last = vec![0u64; users];
            while let Some(frame) = stream.next().await {
                let Ok(Message::Text(text)) = frame else {
                    if frame.is_err() {
                        break;
                    }
                    continue;
                };
                let Some((sender, counter, sent)) = parse(text.as_str()) else {
                    continue;
                };
                let Some(seen) = last.get_mut(sender) else {
                    continue;
                };
                if counter <= *seen {
                    st.duplicates.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if counter != *seen + 1 {
                    st.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                *seen = counter;
                st.delivered.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut h) = lat.lock() {
                    let _ = h.record(now_us().saturating_sub(sent).max(1));
                }
            }
            st.disconnects.fetch_add(1, Ordering::Relaxed);
        });
        Ok(Self {
            index,
            sink: Arc::new(tokio::sync::Mutex::new(sink)),
            stats,
            latency,
            reader,
        })
    }

    /// Sends `per_second` frames a second for `duration` (in a task); each frame owes
    /// `members` deliveries.
    pub(crate) fn start_sending(
        &self,
        per_second: f64,
        duration: Duration,
        members: u64,
    ) -> tokio::task::JoinHandle<()> {
        let (sink, stats, index) = (Arc::clone(&self.sink), Arc::clone(&self.stats), self.index);
        tokio::spawn(async move {
            let Some(mut schedule) = Schedule::new(per_second, duration, rand_fraction()) else {
                return;
            };
            let mut counter = 0u64;
            while schedule.next().await {
                counter += 1;
                let frame = format!("{index}|{counter}|{}", now_us());
                if sink
                    .lock()
                    .await
                    .send(Message::Text(frame.into()))
                    .await
                    .is_err()
                {
                    return;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
                // Nothing confirms a micro-protocol send: it is owed once written.
                stats.confirmed.fetch_add(1, Ordering::Relaxed);
                stats.owed.fetch_add(members, Ordering::Relaxed);
            }
        })
    }
}

/// `sender|counter|sent_us`.
fn parse(frame: &str) -> Option<(usize, u64, u64)> {
    let mut parts = frame.split('|');
    let sender = parts.next()?.parse().ok()?;
    let counter = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((sender, counter, sent))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn frames_round_trip_and_junk_is_skipped() {
        assert_eq!(parse("3|17|123456"), Some((3, 17, 123_456)));
        assert_eq!(parse("3|17"), None);
        assert_eq!(parse("x|1|2"), None);
        assert_eq!(parse(""), None);
    }
}
