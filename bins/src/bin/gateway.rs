//! The gateway: one base URL in front of the user, activity and IM servers.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bins::cli::run(bins::cli::Service::Gateway).await
}
