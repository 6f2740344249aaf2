//! The im-core side of the comparison: gorilla-hub's micro protocol on im-core.
//!
//! `GET /ws?user=U&group=G` opens a connection (im-core's `connection::accept`); every
//! text frame it sends is relayed unchanged (the received buffer itself, no copy) to
//! every connection of the group, the sender included, through im-core's fan-out
//! (`InMemoryMembership` -> `ConnectionManager` -> bounded `Outbound` queues -> coalescing
//! writers). No auth, no persistence, like the peer. `GET /stats` answers with the same
//! counters as gorilla-hub; `dropped` counts pushes refused by a closed or overflowing queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use im_core::connection::{self, ConnectionConfig, FrameHandler, Rejection, TextFrame};
use im_core::membership::InMemoryMembership;
use im_core::{fanout, CloseReason, ConnectionManager, GroupId, Outbound, SessionHandle, UserId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Hub {
    connections: ConnectionManager,
    groups: InMemoryMembership,
    frames_in: AtomicU64,
    deliveries: AtomicU64,
    dropped: AtomicU64,
}

struct Relay {
    hub: Arc<Hub>,
    group: GroupId,
    handle: SessionHandle,
}

impl FrameHandler for Relay {
    async fn on_text(&self, text: TextFrame) {
        let hub = &self.hub;
        hub.frames_in.fetch_add(1, Ordering::Relaxed);
        let members = hub.groups.members_now(&self.group);
        let report =
            fanout::push_to_users(&hub.connections, members.iter(), &text.into_out_frame());
        hub.deliveries
            .fetch_add(report.delivered as u64, Ordering::Relaxed);
        if report.refused > 0 {
            hub.dropped
                .fetch_add(report.refused as u64, Ordering::Relaxed);
        }
    }

    fn on_close(&self, _reason: &CloseReason) {
        let hub = &self.hub;
        hub.connections.unregister(&self.handle);
        if !hub.connections.is_online(self.handle.user()) {
            hub.groups.remove(&self.group, self.handle.user());
        }
    }
}

/// Serves the micro protocol on `addr` until the process is killed.
pub async fn serve(addr: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let hub = Arc::new(Hub::default());
    let config = ConnectionConfig::default();
    eprintln!("im-core relay listening on {addr}");
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of file descriptors or similar: let connections close first.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true); // as Go does by default
        let (hub, config) = (hub.clone(), config.clone());
        tokio::spawn(async move {
            if is_stats_request(&tcp).await {
                let _ = answer_stats(tcp, &hub).await;
                return;
            }
            let checked = connection::accept(tcp, &config, |request| {
                match (request.query_param("user"), request.query_param("group")) {
                    (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => {
                        Ok((UserId::from(u), GroupId::from(g)))
                    }
                    _ => Err(Rejection::new(
                        400,
                        "user and group query parameters are required",
                    )),
                }
            })
            .await;
            let Ok(((user, group), conn)) = checked else {
                return;
            };
            let outbound = Arc::new(Outbound::new(config.outbound_limit_bytes));
            let handle = hub.connections.register(user.clone(), outbound.clone());
            hub.groups.add(group.clone(), user);
            let relay = Relay { hub, group, handle };
            conn.run(&outbound, &relay).await;
        });
    }
}

/// Whether the request line (peeked, not consumed) is `GET /stats`.
pub async fn is_stats_request(tcp: &TcpStream) -> bool {
    let mut buf = [0u8; 16];
    for _ in 0..100 {
        match tcp.peek(&mut buf).await {
            Ok(n) if n >= 10 => return buf.starts_with(b"GET /stats"),
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::task::yield_now().await,
        }
    }
    false
}

async fn answer_stats(tcp: TcpStream, hub: &Hub) -> std::io::Result<()> {
    let body = serde_json::json!({
        "connections": hub.connections.connection_count(),
        "frames_in": hub.frames_in.load(Ordering::Relaxed),
        "deliveries": hub.deliveries.load(Ordering::Relaxed),
        "dropped": hub.dropped.load(Ordering::Relaxed),
    });
    respond_json(tcp, &body.to_string()).await
}

/// Reads an HTTP request head and answers `200` with the JSON `body`.
pub async fn respond_json(mut tcp: TcpStream, body: &str) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await?;
        if n == 0 || request.len() > 16 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.shutdown().await
}
