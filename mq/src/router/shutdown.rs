//! Starting and stopping a router from outside.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::health::{FetchFailure, Health};

/// Waits until a router runs, and asks it to stop. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RouterHandle {
    shutdown: CancellationToken,
    running: watch::Receiver<bool>,
    health: Health,
}

impl RouterHandle {
    pub(super) fn new(
        shutdown: CancellationToken,
        running: watch::Receiver<bool>,
        health: Health,
    ) -> Self {
        Self {
            shutdown,
            running,
            health,
        }
    }

    /// Asks the router to shut down gracefully. `Router::run` returns once it has.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// True once every handler is subscribed, until the router stops.
    pub fn is_running(&self) -> bool {
        *self.running.borrow()
    }

    /// Waits until every handler is subscribed (returns at once if the router stopped
    /// or was dropped).
    pub async fn running(&self) {
        let mut rx = self.running.clone();
        let _ = rx.wait_for(|running| *running).await;
    }

    /// The handlers whose subscriptions are failing to fetch right now (a broker that is
    /// down or unreachable), with the last error. Empty when all is well. The router
    /// keeps retrying them; a subscription that *ended* instead stops the router with
    /// [`crate::Error::HandlerStopped`].
    pub fn failing_handlers(&self) -> Vec<FetchFailure> {
        self.health.snapshot()
    }

    /// Waits until shutdown has been asked for.
    pub async fn stopping(&self) {
        self.shutdown.cancelled().await;
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub(super) fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => tracing::info!("SIGINT: shutting down"),
            () = term => tracing::info!("SIGTERM: shutting down"),
            () = token.cancelled() => return,
        }
        token.cancel();
    });
}
