//! The all-in-one server: every service in one process, on embedded defaults (a SQLite
//! file and the in-memory broker) unless configured otherwise.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bins::cli::run(bins::cli::Service::AllInOne).await
}
