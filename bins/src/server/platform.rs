//! What every service process shares: the database (migrated), the broker, the outbox
//! forwarder publishing the events the services write, and the token issuer.

use std::sync::Arc;
use std::time::Duration;

use domain::auth::TokenIssuer;
use domain::outbox::ForwarderHandle;
use domain::OutboxForwarder;
use domain::Store;
use tokio_util::sync::CancellationToken;

use super::broker::Broker;
use super::secret;
use crate::config::Settings;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[source] domain::DomainError),
    /// The broker could not be reached.
    #[error("broker: {0}")]
    Broker(#[from] mq::Error),
    /// The JWT secret could not be read or made.
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    /// The token issuer refused the settings.
    #[error("auth: {0}")]
    Auth(#[source] domain::DomainError),
    /// The presence store (Redis) could not be reached.
    #[error(transparent)]
    Presence(#[from] crate::im::presence::PresenceError),
    /// A listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The shared parts of a service process.
#[derive(Debug)]
pub struct Platform {
    /// The settings it was built from.
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// The broker.
    pub broker: Broker,
    /// Issues and verifies login tokens.
    pub tokens: TokenIssuer,
    /// Cancelled to stop everything.
    pub shutdown: CancellationToken,
    forwarder: ForwarderHandle,
}

impl Platform {
    /// Opens the database (running migrations), connects the broker and starts the
    /// outbox forwarder.
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        settings.validate()?;
        let broker = Broker::connect(&settings.broker).await?;
        Self::start_with(settings, broker).await
    }

    /// As [`start`](Self::start), on a broker the caller made (several services in
    /// one process share one in-memory broker this way).
    pub async fn start_with(settings: Settings, broker: Broker) -> Result<Self, StartError> {
        settings.validate()?;
        let store = Store::connect(&settings.database.url)
            .await
            .map_err(StartError::Database)?;
        let secret = secret::load_or_create(&settings.auth)?;
        let tokens = TokenIssuer::new(
            secret.as_bytes(),
            &settings.auth.issuer,
            Duration::from_secs(settings.auth.token_ttl_secs),
        )
        .map_err(StartError::Auth)?;
        let shutdown = CancellationToken::new();
        let forwarder = OutboxForwarder::new(store.clone(), Arc::clone(&broker.publisher)).spawn();
        tracing::info!(database = %redact(&settings.database.url), broker = broker.kind, "platform started");
        Ok(Self {
            settings,
            store,
            broker,
            tokens,
            shutdown,
            forwarder,
        })
    }

    /// Stops the forwarder (after its current batch) and closes the broker.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.forwarder.stop().await;
        if let Err(err) = self.broker.publisher.close().await {
            tracing::warn!(error = %err, "closing the broker");
        }
    }
}

/// The URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
