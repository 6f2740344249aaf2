//! The background task that sends acknowledgements: everything queued since the last
//! round trip goes out in one pipeline of `XACK`s (one per stream).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::acker::AckCommand;

pub(super) async fn run(
    mut conn: ConnectionManager,
    streams: Arc<[String]>,
    group: String,
    mut rx: mpsc::UnboundedReceiver<AckCommand>,
) {
    let mut commands = Vec::with_capacity(1024);
    let mut pending: Vec<Vec<String>> = vec![Vec::new(); streams.len()];
    let mut waiters = Vec::new();
    let mut open = true;
    let mut failures = 0u32;
    while open || pending.iter().any(|ids| !ids.is_empty()) {
        if open && rx.recv_many(&mut commands, 8192).await == 0 {
            open = false;
        }
        for command in commands.drain(..) {
            match command {
                AckCommand::Ack { lane, id } => {
                    if let Some(ids) = pending.get_mut(lane as usize) {
                        ids.push(id);
                    }
                }
                AckCommand::Flush(tx) => waiters.push(tx),
                AckCommand::Close => open = false,
            }
        }
        if pending.iter().any(|ids| !ids.is_empty()) {
            let mut pipe = redis::pipe();
            for (lane, ids) in pending.iter().enumerate() {
                if !ids.is_empty() {
                    pipe.cmd("XACK")
                        .arg(&streams[lane])
                        .arg(&group)
                        .arg(ids)
                        .ignore();
                }
            }
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => {
                    pending.iter_mut().for_each(Vec::clear);
                    failures = 0;
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(error = %err, failures, "acknowledging failed; retrying");
                    if !open && failures >= 5 {
                        // Closing and the server is gone: the entries stay pending and
                        // are delivered again after a takeover.
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(10))))
                        .await;
                    continue;
                }
            }
        }
        for tx in waiters.drain(..) {
            let _ = tx.send(());
        }
    }
    for tx in waiters.drain(..) {
        let _ = tx.send(());
    }
}
