//! The activity server: activities and sign-ups (HTTP), activities for other services (gRPC).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bins::cli::run(bins::cli::Service::Activities).await
}
