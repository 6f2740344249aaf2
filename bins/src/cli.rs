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
    /// The IM server.
    Im,
    /// The gateway in front of the separate servers.
    Gateway,
    /// Everything in one process.
    AllInOne,
}

impl Service {
    /// How the binary calls itself.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "user-server",
            Self::Activities => "activity-server",
            Self::Im => "im-server",
            Self::Gateway => "gateway",
            Self::AllInOne => "social-im (all-in-one)",
        }
    }
}

/// Runs `service` with the process's arguments and environment.
pub async fn run(service: Service) -> anyhow::Result<()> {
    init_tracing();
    let config = config_path(std::env::args().skip(1))?;
    let settings = Settings::load(config.as_deref()).context("loading settings")?;
    if let Service::Gateway = service {
        return run_gateway(settings).await;
    }
    let database = crate::server::platform::redact(&settings.database.url);
    let broker = match &settings.broker {
        crate::config::BrokerSettings::Memory => "in-memory".to_owned(),
        crate::config::BrokerSettings::Redis { url, .. } => crate::server::platform::redact(url),
        crate::config::BrokerSettings::Kafka { brokers, .. } => format!("kafka {brokers}"),
    };
    let server = match service {
        Service::Users => services::start_user_server(settings).await,
        Service::Activities => services::start_activity_server(settings).await,
        Service::Im => services::start_im_server(settings).await,
        Service::Gateway => unreachable!("handled above"),
        Service::AllInOne => services::start_all_in_one(settings).await,
    }
    .context("starting")?;
    println!(
        "{}: HTTP on http://{}  gRPC on {}  (database {database}, broker {broker}; \
         GET /healthz, /metrics; API under /api/v1; WebSocket /ws)",
        service.name(),
        server.http,
        server.grpc
    );
    serve::cancel_on_signal(server.shutdown_token());
    server.wait().await.map_err(anyhow::Error::msg)
}

/// The gateway: no database, no broker; HTTP only.
async fn run_gateway(settings: Settings) -> anyhow::Result<()> {
    let routes = crate::gateway::routes(&settings.gateway);
    let limits = crate::http::HttpLimits {
        body_limit: settings.http.body_limit,
        request_timeout: settings.request_timeout(),
    };
    let (listener, addr) = serve::bind(settings.http.listen)
        .await
        .with_context(|| format!("listening on {}", settings.http.listen))?;
    let g = &settings.gateway;
    println!(
        "gateway: HTTP on http://{addr}  (users {}, activities {}, im {}; GET /healthz, /metrics)",
        g.users,
        g.activities,
        g.im.join(" ")
    );
    let stop = tokio_util::sync::CancellationToken::new();
    serve::cancel_on_signal(stop.clone());
    let header_timeout = std::time::Duration::from_millis(settings.http.header_read_timeout_ms);
    serve::http_with(
        listener,
        crate::http::finish(routes, limits),
        stop,
        header_timeout,
    )
    .await
    .context("serving")
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
    // Logs go to stderr, so stdout carries only the line saying where the server listens.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
