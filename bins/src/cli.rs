//! What a server binary does: parse `--config PATH`, set up logging, load settings,
//! start, print where it listens, and run until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Settings;
use crate::server::{serve, services};

/// Which server a binary runs.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    /// The user server.
    Users,
    /// The activity server.
    Activities,
}

/// Runs `service` with the process's arguments and environment.
pub async fn run(service: Service) -> anyhow::Result<()> {
    init_tracing();
    let config = config_path(std::env::args().skip(1))?;
    let settings = Settings::load(config.as_deref()).context("loading settings")?;
    let server = match service {
        Service::Users => services::start_user_server(settings).await,
        Service::Activities => services::start_activity_server(settings).await,
    }
    .context("starting")?;
    println!(
        "{service:?} server: HTTP on http://{}  gRPC on {}",
        server.http, server.grpc
    );
    serve::cancel_on_signal(server.shutdown_token());
    server.wait().await.map_err(anyhow::Error::msg)
}

/// `--config PATH` (or `--config=PATH`), the only argument.
fn config_path(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<PathBuf>> {
    let mut path = None;
    while let Some(arg) = args.next() {
        if arg == "--config" {
            path = Some(PathBuf::from(args.next().context("--config needs a path")?));
        } else if let Some(p) = arg.strip_prefix("--config=") {
            path = Some(PathBuf::from(p));
        } else if arg == "--help" || arg == "-h" {
            println!("usage: [--config FILE]   (settings: see docs/operations.md)");
            std::process::exit(0);
        } else {
            anyhow::bail!("unknown argument {arg:?} (usage: [--config FILE])");
        }
    }
    Ok(path)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
