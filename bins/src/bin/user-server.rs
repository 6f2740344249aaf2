//! The user server: register, login, profiles (HTTP), profiles and token checks (gRPC).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bins::cli::run(bins::cli::Service::Users).await
}
