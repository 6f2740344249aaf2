//! The JSON frame protocol (see `docs/protocol.md`): client frames, server frames, error codes.

mod body;
mod client;
mod decode;
mod error_code;
mod server;

pub use body::{InvalidBody, MessageBody};
pub use client::ClientFrame;
pub use decode::DecodeError;
pub use error_code::ErrorCode;
pub use server::ServerFrame;
