//! Why a session ends, with its WebSocket close code and metric label.

use std::fmt;

/// Why a session was (or is being) closed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the connection or it dropped.
    ClientClosed,
    /// No `auth` within the auth deadline.
    AuthTimeout,
    /// The token was refused.
    AuthFailed,
    /// Nothing received within the read deadline (no pong): the peer is gone.
    HeartbeatTimeout,
    /// The outbound queue exceeded its byte limit.
    SlowConsumer,
    /// A write did not complete within the write timeout.
    WriteTimeout,
    /// A frame exceeded the maximum size.
    FrameTooLarge,
    /// The peer broke the WebSocket protocol.
    ProtocolViolation,
    /// An I/O error on the socket.
    Io,
    /// The application kicked the session (the text says why).
    Kicked(String),
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// A stable label (metrics, close frames, logs).
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::AuthTimeout => "auth_timeout",
            CloseReason::AuthFailed => "auth_failed",
            CloseReason::HeartbeatTimeout => "heartbeat_timeout",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::FrameTooLarge => "frame_too_large",
            CloseReason::ProtocolViolation => "protocol_violation",
            CloseReason::Io => "io_error",
            CloseReason::Kicked(_) => "kicked",
            CloseReason::Shutdown => "shutdown",
        }
    }

    /// The WebSocket close code sent with this reason.
    pub fn close_code(&self) -> u16 {
        match self {
            CloseReason::ClientClosed => 1000,
            CloseReason::Shutdown => 1001,
            CloseReason::ProtocolViolation => 1002,
            CloseReason::FrameTooLarge => 1009,
            CloseReason::Io => 1011,
            CloseReason::AuthFailed => 4001,
            CloseReason::AuthTimeout => 4002,
            CloseReason::SlowConsumer => 4008,
            CloseReason::HeartbeatTimeout => 4009,
            CloseReason::Kicked(_) => 4010,
            CloseReason::WriteTimeout => 4011,
        }
    }

    /// The text carried in the close frame.
    pub fn close_text(&self) -> String {
        match self {
            CloseReason::Kicked(why) => format!("kicked: {why}"),
            other => other.as_str().to_owned(),
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.close_text())
    }
}
