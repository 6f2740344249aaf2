//! The IM server: groups, messages and notifications (HTTP), chat over WebSocket (`/ws`), groups for other services (gRPC).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bins::cli::run(bins::cli::Service::Im).await
}
