//! Sync: a page of "messages after seq N", bounded by count and bytes.

use serde::{Deserialize, Serialize};

use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::ids::{GroupId, Seq};
use crate::message::StoredMessage;
use crate::store::MessageStore;

/// Rough per-message overhead of the JSON envelope, for the byte bound.
const ENVELOPE_BYTES: usize = 160;

/// One page of a group's messages after a seq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPage {
    /// The group.
    pub group_id: GroupId,
    /// Messages in seq order, contiguous from `after_seq + 1`.
    pub messages: Vec<StoredMessage>,
    /// The group's latest seq when read.
    pub latest_seq: Seq,
    /// More messages follow the last one returned.
    pub has_more: bool,
}

/// Where a member stands in one group: the answer to `latest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPosition {
    /// The group.
    pub group_id: GroupId,
    /// The group's latest seq (0 when it has no message).
    pub latest_seq: Seq,
    /// The member's read position (0 when never set).
    pub read_seq: Seq,
    /// Messages after the read position: `latest_seq - read_seq`.
    pub unread: u64,
}

/// Reads one page: at most the limit (clamped to the configured maximum) and about
/// `sync_max_bytes` of bodies (always at least one message when there is one).
pub(crate) async fn read_page(
    store: &dyn MessageStore,
    config: &EngineConfig,
    group: &GroupId,
    after_seq: Seq,
    limit: Option<u32>,
) -> Result<SyncPage, EngineError> {
    let limit = match limit {
        Some(0) => {
            return Err(EngineError::InvalidField {
                field: "limit",
                reason: "must be at least 1".to_owned(),
            })
        }
        Some(n) => n.min(config.sync_max_limit),
        None => config.sync_default_limit,
    } as usize;
    // Read the latest seq first: a message stored in between shows up as has_more.
    let latest_seq = store.latest_seq(group).await?;
    let mut messages = store.messages_after(group, after_seq, limit + 1).await?;
    let mut has_more = messages.len() > limit;
    messages.truncate(limit);
    let mut bytes = 0;
    let mut keep = messages.len();
    for (i, m) in messages.iter().enumerate() {
        bytes += m.body.len() + ENVELOPE_BYTES;
        if bytes > config.sync_max_bytes && i > 0 {
            keep = i;
            break;
        }
    }
    if keep < messages.len() {
        messages.truncate(keep);
        has_more = true;
    }
    let last = messages.last().map_or(after_seq, |m| m.seq);
    has_more |= last < latest_seq;
    // A message stored after `latest_seq` was read may be in the page.
    let latest_seq = latest_seq.max(messages.last().map_or(0, |m| m.seq));
    Ok(SyncPage {
        group_id: group.clone(),
        messages,
        latest_seq,
        has_more,
    })
}
