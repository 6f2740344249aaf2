//! What a connection does with the frames it receives.

use std::future::Future;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::close::CloseReason;
use crate::outbound::OutFrame;

/// A text frame received from the peer. Cheap to clone; the text is not copied.
#[derive(Clone, Debug)]
pub struct TextFrame(pub(crate) Utf8Bytes);

impl TextFrame {
    /// The frame's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The same text as an outbound frame, without copying it (to relay it unchanged).
    pub fn into_out_frame(self) -> OutFrame {
        OutFrame(self.0)
    }
}

/// The application side of a [`Connection`](crate::connection::Connection).
///
/// Frames are handled one at a time, in the order received: the next frame is not read
/// until the future of the previous one has finished (which back-pressures a client that
/// sends faster than it is served). While a handler future is pending the connection keeps
/// writing its outbound queue and keeps its heartbeat, so a slow request never stalls
/// delivery to that client. Replies go through the connection's
/// [`Outbound`](crate::Outbound) queue; closing that queue closes the connection.
pub trait FrameHandler: Sync {
    /// Handles one text frame.
    fn on_text(&self, text: TextFrame) -> impl Future<Output = ()> + Send;

    /// A binary frame of `len` bytes arrived (its content is dropped). Ignored by default.
    fn on_binary(&self, len: usize) {
        let _ = len;
    }

    /// The connection is closing for `reason`; called once, before the goodbye (last
    /// queued frames and the close frame) is written. Unregister the connection here so
    /// nobody pushes to it any more.
    fn on_close(&self, reason: &CloseReason) {
        let _ = reason;
    }
}
