//! A lean WebSocket client for the load generator: a hand-written upgrade request and
//! frame codec over a plain `TcpStream`, so that the generator spends as little CPU as
//! possible per frame (it shares the two cores with the server it measures). The same
//! client drives both servers.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// An open connection: the read half for one reader task, the write half shared by the
/// sender and the reader's pong replies.
pub struct Conn {
    pub read: OwnedReadHalf,
    pub write: Arc<Mutex<OwnedWriteHalf>>,
    /// Bytes read past the upgrade response (the first frames, if any).
    pub pending: Vec<u8>,
}

/// Opens `ws://addr/ws?user=..&group=..`.
pub async fn connect(addr: &str, user: &str, group: &str) -> io::Result<Conn> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let request = format!(
        "GET /ws?user={user}&group={group} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    let end = loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during upgrade",
            ));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > 8192 {
            return Err(io::Error::other("upgrade response too long"));
        }
    };
    if !head.starts_with(b"HTTP/1.1 101") {
        let line = String::from_utf8_lossy(&head[..head.len().min(80)]).into_owned();
        return Err(io::Error::other(format!("upgrade refused: {line}")));
    }
    let pending = head[end..].to_vec();
    let (read, write) = tcp.into_split();
    Ok(Conn {
        read,
        write: Arc::new(Mutex::new(write)),
        pending,
    })
}

/// Sends `auth` with `token` (im-core's JSON protocol) and waits for `auth_ok`.
pub async fn authenticate(mut conn: Conn, token: &str) -> io::Result<Conn> {
    let mut frame = Vec::new();
    encode(
        &mut frame,
        0x1,
        format!(r#"{{"type":"auth","token":"{token}"}}"#).as_bytes(),
    );
    conn.write.lock().await.write_all(&frame).await?;
    let mut buf = std::mem::take(&mut conn.pending);
    loop {
        if let Some(f) = parse(&buf) {
            if f.opcode == 0x1 && buf[f.start..f.end].starts_with(br#"{"type":"auth_ok""#) {
                conn.pending = buf[f.end..].to_vec();
                return Ok(conn);
            }
            return Err(io::Error::other("auth refused"));
        }
        let mut chunk = [0u8; 512];
        let n = conn.read.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during auth",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Appends a masked client frame with `opcode` and `payload` to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
}

/// One parsed server frame: opcode and payload range in the buffer.
pub struct Frame {
    pub opcode: u8,
    pub start: usize,
    pub end: usize,
}

/// Parses the frame at the start of `buf`, if it is complete.
pub fn parse(buf: &[u8]) -> Option<Frame> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut header) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    if masked {
        header += 4; // servers do not mask; tolerated, not unmasked (payloads unused)
    }
    let end = header + len;
    (buf.len() >= end).then_some(Frame {
        opcode,
        start: header,
        end,
    })
}
