//! Fan-out: push one encoded frame into the queues of many users' sessions.

use crate::conn_manager::ConnectionManager;
use crate::ids::UserId;
use crate::metrics as m;
use crate::outbound::{OutFrame, PushError};

/// What a fan-out did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FanoutReport {
    /// Frames queued (one per online session of each recipient).
    pub delivered: usize,
    /// Sessions that refused the frame: closing, or just cut off as slow consumers.
    pub refused: usize,
}

impl std::ops::AddAssign for FanoutReport {
    fn add_assign(&mut self, other: Self) {
        self.delivered += other.delivered;
        self.refused += other.refused;
    }
}

/// Queues `frame` for every session of every user in `recipients`. Never waits: a full
/// queue disconnects its session (slow consumer) and the others are unaffected.
///
/// The frame is encoded once and shared. Called in seq order per group (by the group's
/// owner), so every session's queue holds a group's messages in seq order.
pub fn push_to_users<'a>(
    connections: &ConnectionManager,
    recipients: impl IntoIterator<Item = &'a UserId>,
    frame: &OutFrame,
) -> FanoutReport {
    let mut report = FanoutReport::default();
    for user in recipients {
        connections.for_each_session(user, |session| {
            match session.outbound().push_quiet(frame.clone()) {
                Ok(()) => report.delivered += 1,
                Err(PushError::Overflow) | Err(PushError::Closed(_)) => report.refused += 1,
            }
        });
    }
    if report.delivered > 0 {
        metrics::counter!(m::DELIVERIES).increment(report.delivered as u64);
        metrics::gauge!(m::QUEUE_BYTES).increment((report.delivered * frame.len()) as f64);
    }
    report
}
