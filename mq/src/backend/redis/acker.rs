//! Settling Redis deliveries: pipelined `XACK`s, and lane rewinds on rejection.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::delivery::{AckToken, Acknowledger};

/// State of one lane shared by a subscription and its deliveries.
#[derive(Default)]
pub(super) struct LaneShared {
    /// Bumped when the lane is rewound or given up: older deliveries are stale.
    pub(super) epoch: AtomicU64,
    /// Set by a rejection; the subscription rereads its pending entries.
    pub(super) rewound: AtomicBool,
    pub(super) resume_at: Mutex<Option<Instant>>,
    /// Deliveries handed out and not settled yet.
    pub(super) outstanding: AtomicI64,
}

/// A stream entry id packed into an [`AckToken`]: `position` holds the milliseconds;
/// `tag` holds the lane epoch (high 32 bits) and the sequence (low 32 bits).
pub(super) fn token(lane: u32, id: &str, epoch: u64) -> Option<AckToken> {
    let (ms, seq) = id.split_once('-')?;
    let ms: u64 = ms.parse().ok()?;
    let seq: u32 = seq.parse().ok()?;
    Some(AckToken {
        lane,
        position: ms,
        tag: (epoch << 32) | u64::from(seq),
    })
}

/// The stream entry id of a token.
pub(super) fn entry_id(token: AckToken) -> String {
    format!("{}-{}", token.position, token.tag & 0xffff_ffff)
}

fn epoch_of(token: AckToken) -> u64 {
    token.tag >> 32
}

/// Commands to the acknowledgement flusher.
pub(super) enum AckCommand {
    Ack {
        lane: u32,
        id: String,
    },
    Flush(oneshot::Sender<()>),
    /// Flush what is queued, then stop.
    Close,
}

pub(super) struct RedisAcker {
    pub(super) lanes: Arc<[LaneShared]>,
    pub(super) acks: mpsc::UnboundedSender<AckCommand>,
    pub(super) redelivery_delay: std::time::Duration,
}

impl RedisAcker {
    fn lane(&self, token: AckToken) -> Option<&LaneShared> {
        self.lanes.get(token.lane as usize)
    }
}

impl Acknowledger for RedisAcker {
    fn ack(&self, token: AckToken) {
        let Some(lane) = self.lane(token) else { return };
        lane.outstanding.fetch_sub(1, Ordering::AcqRel);
        if lane.epoch.load(Ordering::Acquire) & 0xffff_ffff != epoch_of(token) {
            return;
        }
        // If the flusher is gone the subscription is closed; the entry stays pending
        // and is delivered again, which at-least-once allows.
        let _ = self.acks.send(AckCommand::Ack {
            lane: token.lane,
            id: entry_id(token),
        });
    }

    fn nack(&self, token: AckToken) {
        let Some(lane) = self.lane(token) else { return };
        lane.outstanding.fetch_sub(1, Ordering::AcqRel);
        let current = lane.epoch.load(Ordering::Acquire);
        if current & 0xffff_ffff != epoch_of(token) {
            return;
        }
        if lane
            .epoch
            .compare_exchange(current, current + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if let Ok(mut at) = lane.resume_at.lock() {
                *at = Some(Instant::now() + self.redelivery_delay);
            }
            lane.rewound.store(true, Ordering::Release);
        }
    }

    fn is_stale(&self, token: AckToken) -> bool {
        self.lane(token)
            .is_none_or(|l| l.epoch.load(Ordering::Acquire) & 0xffff_ffff != epoch_of(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_ids() {
        let t = token(3, "1700000000000-42", 7).unwrap();
        assert_eq!(t.lane, 3);
        assert_eq!(entry_id(t), "1700000000000-42");
        assert_eq!(epoch_of(t), 7);
        assert!(token(0, "garbage", 0).is_none());
    }
}
