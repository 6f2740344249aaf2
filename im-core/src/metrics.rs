//! Metric names recorded through the `metrics` facade (install any recorder, e.g. Prometheus).

/// Gauge: open, authenticated sessions.
pub const CONNECTIONS: &str = "im_connections";
/// Counter: frames received from clients.
pub const FRAMES_IN: &str = "im_frames_in_total";
/// Counter: frames written to clients.
pub const FRAMES_OUT: &str = "im_frames_out_total";
/// Gauge: bytes queued in all outbound queues.
pub const QUEUE_BYTES: &str = "im_outbound_queue_bytes";
/// Counter: sessions closed, labelled `reason` (see `CloseReason::as_str`).
pub const DISCONNECTS: &str = "im_disconnects_total";
/// Counter: message deliveries pushed into session queues by fan-out.
pub const DELIVERIES: &str = "im_fanout_deliveries_total";
/// Counter: messages stored by the sequencer.
pub const MESSAGES_STORED: &str = "im_messages_stored_total";
/// Counter: error frames sent, labelled `code`.
pub const ERRORS: &str = "im_error_frames_total";
