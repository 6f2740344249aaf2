//! A started server: its addresses, and how to stop it and wait for it.

use std::net::SocketAddr;

use axum::Router;
use im_core::Engine;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::platform::{Platform, StartError};
use super::serve;
use crate::http::{finish, HttpLimits};

/// What a server runs beside its listeners: the message handlers and the real-time
/// engine, both stopped gracefully with the server.
#[derive(Debug, Default)]
pub struct Background {
    /// Event and message handlers.
    pub router: Option<mq::Router>,
    /// The WebSocket engine: its sessions are closed with reason `shutdown`.
    pub engine: Option<Engine>,
}

/// A server that is serving HTTP and gRPC.
#[derive(Debug)]
pub struct Running {
    /// Where HTTP is served.
    pub http: SocketAddr,
    /// Where gRPC is served.
    pub grpc: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), String>>,
    platform: Platform,
}

impl Running {
    /// Binds both listeners and serves `routes` (with the shared routes and layers) and
    /// `grpc` (with the health service) on them.
    pub async fn serve(
        platform: Platform,
        routes: Router,
        grpc: tonic::service::Routes,
    ) -> Result<Self, StartError> {
        Self::serve_with(platform, routes, grpc, Background::default()).await
    }

    /// As [`serve`](Self::serve), also running `background`: the router's handlers are
    /// subscribed before this returns.
    pub async fn serve_with(
        platform: Platform,
        routes: Router,
        grpc: tonic::service::Routes,
        background: Background,
    ) -> Result<Self, StartError> {
        let settings = &platform.settings;
        let limits = HttpLimits {
            body_limit: settings.http.body_limit,
            request_timeout: settings.request_timeout(),
        };
        let (http_listener, http) =
            serve::bind(settings.http.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: settings.http.listen,
                    source,
                })?;
        let (grpc_listener, grpc_addr) =
            serve::bind(settings.grpc.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: settings.grpc.listen,
                    source,
                })?;
        let shutdown = platform.shutdown.clone();
        let mut tasks = JoinSet::new();
        if let Some(router) = background.router {
            let handle = router.handle();
            tasks.spawn(async move { router.run().await.map_err(|e| format!("handlers: {e}")) });
            handle.running().await;
            let (stop, engine) = (shutdown.clone(), background.engine);
            tasks.spawn(async move {
                stop.cancelled().await;
                if let Some(engine) = engine {
                    let told = engine.shutdown();
                    tracing::info!(sessions = told, "closing WebSocket sessions");
                }
                handle.shutdown();
                Ok(())
            });
        }
        let app = finish(routes, limits);
        let header_timeout = std::time::Duration::from_millis(settings.http.header_read_timeout_ms);
        let stop = shutdown.clone();
        tasks.spawn(async move {
            serve::http_with(http_listener, app, stop, header_timeout)
                .await
                .map_err(|e| format!("HTTP server: {e}"))
        });
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let grpc = grpc.add_service(health);
        let stop = shutdown.clone();
        tasks.spawn(async move {
            serve::grpc(grpc_listener, grpc, stop)
                .await
                .map_err(|e| format!("gRPC server: {e}"))
        });
        tracing::info!(%http, grpc = %grpc_addr, "serving");
        Ok(Self {
            http,
            grpc: grpc_addr,
            shutdown,
            tasks,
            platform,
        })
    }

    /// Asks the server to stop.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// A token cancelled when the server stops (cancel it to stop the server).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server stopped (after [`shutdown`](Self::shutdown), a signal, or a
    /// listener failing), then stops the platform.
    pub async fn wait(mut self) -> Result<(), String> {
        let mut result = Ok(());
        while let Some(done) = self.tasks.join_next().await {
            // One part ending stops the others.
            self.shutdown.cancel();
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(format!("server task: {e}")),
            }
        }
        self.platform.stop().await;
        result
    }
}
