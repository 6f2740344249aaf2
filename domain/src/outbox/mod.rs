//! The transactional outbox: rows written with each state change, published by the
//! [`OutboxForwarder`].
//!
//! Guarantee: an event exists in the outbox exactly when its state change committed,
//! and every outbox row is published at least once, with the same message id every
//! time (a crash between publishing and marking the row publishes it again; consumers
//! deduplicate by message id).

mod forwarder;
mod record;

pub use forwarder::{ForwarderConfig, ForwarderHandle, OutboxForwarder};
pub use record::{OutboxRecord, OUTBOX_ID};
